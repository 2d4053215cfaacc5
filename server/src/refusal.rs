//! Turning a connection away so that it hears why. [`Refused`] is the reason (its text is the
//! `-ERR` line the peer reads); [`Refusals`] is the one mechanism every backend refuses
//! through.
//!
//! A refusal writes the error line, shuts the socket down for writing (a FIN follows the line)
//! and reads away what the peer has sent. Closing a socket whose input was never read sends a
//! reset instead of a FIN, and a reset can destroy the error in the peer's receive queue
//! before the peer has read it; so the socket is then handed to the `refusals` thread, which
//! keeps it (discarding whatever else arrives) until the peer closes or [`LINGER`] passes, and
//! only then closes it. The thread sleeps in a `polling::Poller`: nothing here ever blocks an
//! accept loop. At most [`MAX_LINGERING`] sockets wait at once (they hold descriptors, counted
//! in [`crate::descriptors::RESERVED`]); past that, a refused socket is closed at once.
//!
//! Refusals are counted, and logged through a [`ThrottledLog`] per reason, whose summary
//! lines the same thread writes when they fall due.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

use crate::system::Spare;
use crate::throttled_log::ThrottledLog;

/// How long a refused socket is kept open for its peer to read the error and close.
pub const LINGER: Duration = Duration::from_secs(1);
/// Most refused sockets kept open at once.
pub const MAX_LINGERING: usize = 64;
/// Reads one look at a refused socket may do (input is discarded; more is read next time).
const READS_PER_LOOK: usize = 16;

/// Why a connection was not given a session, or was turned away while it waited for one.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// `max_clients` connections are being served already.
    #[error("ERR max number of clients reached")]
    MaxClients,
    /// The process is out of file descriptors (`accept` failed with EMFILE, or no eventfd
    /// could be made for the connection). To the client this is the client limit, as in Redis.
    #[error("ERR max number of clients reached")]
    NoDescriptors,
    /// `pool` backend: every worker is taken and `--pool-backlog` connections already wait.
    #[error(
        "ERR server busy: all {workers} pool workers are taken and the pool backlog ({backlog}) \
         is full"
    )]
    PoolBacklogFull { workers: usize, backlog: usize },
    /// `pool` backend: the connection waited `--pool-wait-timeout` and no worker came free.
    #[error(
        "ERR server busy: all {workers} pool workers are taken; none came free within {waited:?}"
    )]
    PoolWaitTimeout { workers: usize, waited: Duration },
    /// Protected mode: a connection from outside loopback while the default user has no
    /// password (Redis's text, reworded for this server).
    #[error("{}", crate::errors::DENIED)]
    ProtectedMode,
}

/// The warnings refusals (and a process out of descriptors) log, each throttled.
pub(crate) struct Logs {
    pub(crate) max_clients: ThrottledLog,
    pub(crate) no_descriptors: ThrottledLog,
    pub(crate) pool_busy: ThrottledLog,
    pub(crate) protected_mode: ThrottledLog,
    /// `accept` out of descriptors with no spare to refuse with.
    pub(crate) accept_paused: ThrottledLog,
}

impl Logs {
    fn all(&self) -> [&ThrottledLog; 5] {
        [
            &self.max_clients,
            &self.no_descriptors,
            &self.pool_busy,
            &self.protected_mode,
            &self.accept_paused,
        ]
    }
}

/// How every backend turns connections away (see the module).
pub(crate) struct Refusals {
    refuser: Arc<Refuser>,
    /// The `refusals` thread, once started.
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What turns connections away: the throttled logs, the spare descriptor and the lingering
/// sockets; shared by the threads that refuse and the `refusals` thread.
struct Refuser {
    logs: Logs,
    /// The descriptor kept for refusing connections when the process has none left; a
    /// refused socket that lent it gives it back when closed.
    spare: Spare,
    /// How long a refused socket is kept: [`LINGER`] (longer in tests).
    keep: Duration,
    /// Set when the `refusals` thread starts; until then (and after it stops) refused sockets
    /// are closed at once.
    linger: OnceLock<Linger>,
}

struct Linger {
    poller: Poller,
    handoff: Mutex<Handoff>,
    /// Sockets handed over and not closed yet (at most [`MAX_LINGERING`]).
    held: AtomicUsize,
}

#[derive(Default)]
struct Handoff {
    /// Refused sockets for the thread to watch.
    arriving: Vec<TcpStream>,
    /// Set by [`Refusals::stop`]: the thread closes everything and exits.
    stopped: bool,
}

impl Linger {
    fn lock(&self) -> MutexGuard<'_, Handoff> {
        self.handoff.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `stream` to the thread, or gives it back if the thread has no room or is gone.
    fn hold(&self, stream: TcpStream) -> Result<(), TcpStream> {
        if self.held.fetch_update(SeqCst, SeqCst, |n| (n < MAX_LINGERING).then_some(n + 1)).is_err()
        {
            return Err(stream);
        }
        let mut handoff = self.lock();
        if handoff.stopped {
            drop(handoff);
            self.held.fetch_sub(1, SeqCst);
            return Err(stream);
        }
        let first = handoff.arriving.is_empty();
        handoff.arriving.push(stream);
        drop(handoff);
        // A non-empty list has notified the thread already.
        if first {
            self.notify();
        }
        Ok(())
    }

    fn notify(&self) {
        if let Err(e) = self.poller.notify() {
            tracing::warn!("cannot wake the refusals thread: {e}");
        }
    }
}

impl Refusals {
    pub(crate) fn new() -> Refusals {
        Refusals::keeping(LINGER)
    }

    /// Refusals that keep a socket at most `keep`.
    fn keeping(keep: Duration) -> Refusals {
        let logs = Logs {
            max_clients: ThrottledLog::new("connections refused at max clients"),
            no_descriptors: ThrottledLog::new("connections refused: out of file descriptors"),
            pool_busy: ThrottledLog::new("connections refused: pool busy"),
            protected_mode: ThrottledLog::new("connections refused: protected mode"),
            accept_paused: ThrottledLog::new("accepts paused: out of file descriptors"),
        };
        Refusals {
            refuser: Arc::new(Refuser { logs, keep, spare: Spare::new(), linger: OnceLock::new() }),
            thread: Mutex::new(None),
        }
    }

    /// Starts the `refusals` thread (before the backend accepts, so that its descriptors exist
    /// before the process could run out of them).
    pub(crate) fn start(&self) -> io::Result<()> {
        let linger =
            Linger { poller: Poller::new()?, handoff: Mutex::default(), held: AtomicUsize::new(0) };
        if self.refuser.linger.set(linger).is_err() {
            return Ok(()); // started already
        }
        let refuser = self.refuser.clone();
        match std::thread::Builder::new().name("refusals".into()).spawn(move || refuser.run()) {
            Ok(thread) => {
                *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
                Ok(())
            }
            Err(e) => {
                self.stop(); // nobody would close what it was handed
                Err(e)
            }
        }
    }

    /// Closes the sockets still lingering and ends the thread; later refusals close at once.
    pub(crate) fn stop(&self) {
        let Some(linger) = self.refuser.linger.get() else { return };
        linger.lock().stopped = true;
        linger.notify();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::warn!("the refusals thread panicked");
            }
        }
    }

    /// The descriptor kept for refusing connections when the process has none left.
    pub(crate) fn spare(&self) -> &Spare {
        &self.refuser.spare
    }

    /// The throttled warnings of refusals.
    pub(crate) fn logs(&self) -> &Logs {
        &self.refuser.logs
    }

    /// Logs `message` through `log` (one of [`Refusals::logs`]), throttled.
    pub(crate) fn warn(&self, log: &ThrottledLog, message: impl FnOnce() -> String) {
        if log.warn(message) {
            // A summary is now due: the thread must wake for it.
            if let Some(linger) = self.refuser.linger.get() {
                linger.notify();
            }
        }
    }

    /// Sends `why` to the peer and closes the connection without destroying the reply (see
    /// the module). Never blocks. Counting and logging are the caller's.
    pub(crate) fn send(&self, mut stream: TcpStream, why: &Refused) {
        let _ = stream.set_nonblocking(true);
        // A fresh socket's send buffer takes the short line whole.
        let _ = stream.write_all(format!("-{why}\r\n").as_bytes());
        if stream.shutdown(Shutdown::Write).is_err() || look(&mut stream) == Look::Gone {
            self.refuser.spare.close(stream); // the peer is gone: nothing to protect
            return;
        }
        let stream = match self.refuser.linger.get() {
            Some(linger) => match linger.hold(stream) {
                Ok(()) => return,
                Err(stream) => stream,
            },
            None => stream,
        };
        // No room to linger: closed now, its input read as far as it had arrived.
        self.refuser.spare.close(stream);
    }
}

impl Drop for Refusals {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a look at a refused socket found.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    /// Still open: its input so far was read and discarded.
    Open,
    /// The peer closed (or reset) the connection.
    Gone,
}

/// Reads and discards what `stream` has to read, a bounded amount at a time.
fn look(stream: &mut TcpStream) -> Look {
    let mut scratch = [0u8; 4096];
    for _ in 0..READS_PER_LOOK {
        match stream.read(&mut scratch) {
            Ok(0) => return Look::Gone,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Look::Open,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Look::Gone,
        }
    }
    Look::Open
}

/// A socket the thread keeps open, by poller key (its index in the thread's slab).
struct Held {
    stream: TcpStream,
    until: Instant,
}

impl Refuser {
    /// The `refusals` thread: watches the refused sockets it was handed until each peer
    /// closes or [`LINGER`] passes, and writes the throttled logs' summaries when due.
    fn run(&self) {
        let linger = self.linger.get().expect("set before the thread starts");
        let mut held: Vec<Option<Held>> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        let mut events = Events::new();
        loop {
            let wake_at = (held.iter().flatten().map(|h| h.until))
                .chain(self.logs.all().iter().filter_map(|log| log.summary_due()))
                .min();
            events.clear();
            let timeout = wake_at.map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = linger.poller.wait(&mut events, timeout) {
                tracing::error!("refusals thread: {e}");
                linger.lock().stopped = true;
            }
            let now = Instant::now();
            let (arriving, stopped) = {
                let mut handoff = linger.lock();
                (std::mem::take(&mut handoff.arriving), handoff.stopped)
            };
            for stream in arriving {
                let key = free.pop().unwrap_or_else(|| {
                    held.push(None);
                    held.len() - 1
                });
                // SAFETY: the stream is deleted from the poller before it is dropped: it is
                // only dropped through `close`, which deletes it first.
                match unsafe { linger.poller.add(&stream, Event::readable(key)) } {
                    Ok(()) => held[key] = Some(Held { stream, until: now + self.keep }),
                    Err(e) => {
                        tracing::debug!("cannot watch a refused connection: {e}");
                        free.push(key);
                        linger.held.fetch_sub(1, SeqCst);
                    }
                }
            }
            for event in events.iter() {
                let Some(Some(h)) = held.get_mut(event.key) else { continue };
                let open = look(&mut h.stream) == Look::Open
                    && linger.poller.modify(&h.stream, Event::readable(event.key)).is_ok();
                if !open {
                    self.close(&mut held, &mut free, event.key);
                }
            }
            for key in 0..held.len() {
                if stopped || held[key].as_ref().is_some_and(|h| now >= h.until) {
                    self.close(&mut held, &mut free, key);
                }
            }
            for log in self.logs.all() {
                log.summarize(now);
            }
            if stopped {
                return;
            }
        }
    }

    /// Stops watching the socket at `key` (if any) and closes it (into the spare if that is
    /// lent out).
    fn close(&self, held: &mut [Option<Held>], free: &mut Vec<usize>, key: usize) {
        let linger = self.linger.get().expect("set before the thread starts");
        if let Some(h) = held[key].take() {
            let _ = linger.poller.delete(&h.stream);
            self.spare.close(h.stream);
            free.push(key);
            linger.held.fetch_sub(1, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected pair: (the client's end, the server's end).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    /// Long enough that no pause of a slow machine makes a socket outstay it.
    const PATIENT: Duration = Duration::from_secs(600);

    #[test]
    fn a_refused_peer_that_keeps_sending_still_reads_the_error_and_a_clean_end() {
        let refusals = Refusals::keeping(PATIENT);
        refusals.start().unwrap();
        let (mut client, server) = pair();
        client.write_all(b"PING\r\n").unwrap(); // unread when the server refuses
        refusals.send(server, &Refused::MaxClients);
        client.write_all(&[b'x'; 64 * 1024]).unwrap(); // and more after
        let mut reply = String::new();
        client.read_to_string(&mut reply).expect("a FIN, not a reset");
        assert_eq!(reply, "-ERR max number of clients reached\r\n");
        drop(client);
        refusals.stop();
    }

    #[test]
    fn without_the_thread_a_refusal_still_sends_the_error() {
        let refusals = Refusals::new();
        let (mut client, server) = pair();
        refusals.send(server, &Refused::NoDescriptors);
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "-ERR max number of clients reached\r\n");
    }

    #[test]
    fn stop_closes_what_lingers() {
        let refusals = Refusals::keeping(PATIENT);
        refusals.start().unwrap();
        let (mut client, server) = pair();
        refusals.send(server, &Refused::MaxClients);
        // The client never closes; stopping closes the server's end anyway.
        refusals.stop();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "-ERR max number of clients reached\r\n");
        let linger = refusals.refuser.linger.get().unwrap();
        assert_eq!(linger.held.load(SeqCst), 0);
    }
}
