//! The connection runtime: what the event-driven backends run around their mechanism.
//!
//! A backend says how it waits for readiness and how it moves bytes; the runtime says what a
//! connection does when it gets a turn, in one order for every backend:
//! shutdown, mail, timeout, read, flush (see [`turn`]), and keeps the parts of the loop that
//! are not a mechanism:
//! - [`state::State`], a connection's scheduling word: one thread at a time runs a
//!   connection, and a wake-up that arrives while it runs is never lost;
//! - [`timers::Timers`], the connections' deadlines in time order, fed by
//!   [`Driver::poll_deadline`] (no periodic pass over every connection);
//! - [`prepare`], the part of that order before any I/O, for the backends whose reads and
//!   writes are not [`turn`]'s (`uring`, `thread`, `pool`);
//! - [`table::Table`], the connections by key, reusing freed keys;
//! - [`steal::Queues`], work-stealing ready queues for threads that share one poller, and
//!   the protocol by which an idle thread sleeps without missing work;
//! - [`conn::Conn`], a connection as the multi-threaded backends share it, with the one turn
//!   they run ([`conn::Conn::run`]); it is its mailbox's waker too.
//!
//! None of it makes a system call but through the socket helpers [`turn`] is given.

pub(crate) mod conn;
pub(crate) mod state;
pub(crate) mod steal;
pub(crate) mod table;
pub(crate) mod timers;

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::sock::{flush, read_into, Input};
use crate::driver::Driver;
use crate::mailbox::WakeFd;

/// What interrupts a thread's wait on its poller or ring: an eventfd the poller watches.
pub(crate) trait Interrupt: Send + Sync {
    fn interrupt(&self);
}

impl Interrupt for WakeFd {
    fn interrupt(&self) {
        self.signal();
    }
}

/// Reads one turn may do before the connection goes to the back of its queue, so a client that
/// never stops sending cannot keep a thread to itself.
pub(crate) const READ_BUDGET: usize = 16;

/// What a connection's socket is known to be ready for, kept between turns.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Readiness {
    /// Input may be waiting: set by a readiness report, cleared by a read that found less
    /// than a whole buffer (the socket then holds nothing: what arrives later is reported
    /// anew, even under edge triggering, as every arrival raises a report).
    pub(crate) readable: bool,
    /// The peer closed its side: input is read until its end is seen, a short read does not
    /// clear `readable` (the end arrived with the last bytes, and raises no report of its own).
    pub(crate) hangup: bool,
    /// The socket takes writes: cleared by a write that would block, set by a report.
    pub(crate) writable: bool,
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness { readable: false, hangup: false, writable: true }
    }
}

/// What a connection does after its turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait for readiness, mail or a deadline.
    Park,
    /// The read budget is spent and input may be left: run again after the others.
    Again,
    /// Close it.
    Close,
}

/// What happened since the connection's last turn.
#[derive(Clone, Copy, Debug)]
pub(crate) struct News {
    /// Its mailbox woke it.
    pub(crate) mail: bool,
    /// Shutdown began.
    pub(crate) stopping: bool,
    pub(crate) now: Instant,
}

/// How long a loop may wait at `now`: not at all while connections are ready, else until the
/// first of `moments` (the shutdown deadline, the end of an accept back-off, the first
/// deadline of a connection), or for ever if there is none.
pub(crate) fn wait_time(
    ready: bool,
    moments: [Option<Instant>; 3],
    now: Instant,
) -> Option<Duration> {
    if ready {
        return Some(Duration::ZERO);
    }
    moments.into_iter().flatten().min().map(|at| at.saturating_duration_since(now))
}

/// Returns true if and only if a runtime whose shutdown began (`deadline` set) is done at
/// `now`: no connection left (`open`), or the deadline passed (then the rest are abandoned,
/// with a warning).
pub(crate) fn stopped(deadline: Option<Instant>, open: usize, now: Instant) -> bool {
    let Some(deadline) = deadline else { return false };
    if open == 0 {
        return true;
    }
    if now >= deadline {
        tracing::warn!(left = open, "shutdown timeout: abandoning connections");
        return true;
    }
    false
}

/// The driver's rules before any I/O, in the one order of every backend: shutdown, mail,
/// timeout. A backend that cannot use [`turn`] (`uring` completes its reads before the turn;
/// the blocking backends wait in `poll`) calls this first, then reads and writes.
pub(crate) fn prepare(driver: &mut Driver, news: News) {
    if news.stopping {
        driver.handle_shutdown();
    }
    if news.mail {
        driver.handle_mail();
    }
    if driver.poll_deadline().is_some_and(|at| news.now >= at) {
        driver.handle_timeout(news.now);
    }
}

/// One turn of a connection, the driver's rules applied in one order: shutdown, mail,
/// timeout, then read (at most [`READ_BUDGET`] buffers, flushing after each so replies go
/// out while requests arrive) and flush.
pub(crate) fn turn(
    driver: &mut Driver,
    stream: &mut TcpStream,
    input: &mut [u8],
    ready: &mut Readiness,
    news: News,
) -> Next {
    let result = advance(driver, stream, input, ready, news);
    result.unwrap_or_else(|e| {
        tracing::debug!(conn = driver.id(), "connection error: {e}");
        Next::Close
    })
}

fn advance(
    driver: &mut Driver,
    stream: &mut TcpStream,
    input: &mut [u8],
    ready: &mut Readiness,
    news: News,
) -> io::Result<Next> {
    prepare(driver, news);
    let mut reads = 0;
    loop {
        if ready.readable && driver.wants().read {
            reads += 1;
            ready.readable = match read_into(stream, input, driver)? {
                Input::Fed(n) => n == input.len() || ready.hangup,
                Input::Empty | Input::Closed => false,
            };
        }
        if ready.writable {
            ready.writable = !flush(stream, driver)?;
        }
        if driver.is_done() {
            return Ok(Next::Close);
        }
        if !(ready.readable && driver.wants().read) {
            return Ok(Next::Park);
        }
        if reads >= READ_BUDGET {
            return Ok(Next::Again);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_waits_for_its_first_moment_and_not_at_all_with_work() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(wait_time(true, [Some(t0 + s), None, None], t0), Some(Duration::ZERO));
        assert_eq!(wait_time(false, [None, None, None], t0), None, "nothing to wait for");
        assert_eq!(wait_time(false, [Some(t0 + 3 * s), None, Some(t0 + 2 * s)], t0), Some(2 * s));
        assert_eq!(wait_time(false, [Some(t0), None, None], t0 + s), Some(Duration::ZERO), "past");
    }

    #[test]
    fn shutdown_ends_when_the_last_connection_closes_or_at_its_deadline() {
        let t0 = Instant::now();
        let deadline = Some(t0 + Duration::from_secs(5));
        assert!(!stopped(None, 0, t0), "no shutdown began");
        assert!(!stopped(deadline, 3, t0), "draining");
        assert!(stopped(deadline, 0, t0), "every connection closed");
        assert!(stopped(deadline, 3, t0 + Duration::from_secs(5)), "abandoned at the deadline");
    }
}
