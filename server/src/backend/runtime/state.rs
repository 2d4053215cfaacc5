//! A connection's scheduling state in one atomic word: what happened to it since its last
//! turn (readable, writable, mail, a deadline) and where it is (queued, running), so that
//! exactly one thread runs a connection at a time and nothing that happens meanwhile is lost.
//!
//! The protocol, for any number of threads:
//! - whoever notices something ([`State::wake`]) sets its bit and `QUEUED`; if the connection
//!   was neither queued nor running, that caller (and only it) must put it on a ready queue;
//! - the thread that takes it from a queue calls [`State::start`], which moves it from queued
//!   to running and hands over the bits set so far;
//! - when its turn ends, [`State::finish`] parks it, unless a wake-up arrived during the turn
//!   (`QUEUED` is set again) or the runner asks to go again: then it stays queued and the
//!   runner must put it back on a ready queue.
//!
//! So a wake-up either finds the connection idle and queues it, or finds it queued or running
//! and leaves its bit for the turn that is sure to follow.

use std::sync::atomic::{AtomicU8, Ordering::AcqRel, Ordering::Acquire};

/// The socket became readable (or the peer closed, or it failed).
pub(crate) const READABLE: u8 = 1;
/// The peer closed its side (or the socket failed): input must be read until its end.
pub(crate) const HANGUP: u8 = 1 << 6;
/// The socket became writable.
pub(crate) const WRITABLE: u8 = 1 << 1;
/// The mailbox woke the connection.
pub(crate) const MAIL: u8 = 1 << 2;
/// A deadline of the connection's came (or the runtime wants it to look at the time).
pub(crate) const TIMER: u8 = 1 << 3;
/// On a ready queue, or to go on one when its turn ends.
const QUEUED: u8 = 1 << 4;
/// A thread is running its turn.
const RUNNING: u8 = 1 << 5;
/// The bits that say what happened.
const EVENTS: u8 = READABLE | HANGUP | WRITABLE | MAIL | TIMER;

/// One connection's state word.
#[derive(Debug, Default)]
pub(crate) struct State(AtomicU8);

impl State {
    /// A connection that is queued already (its first turn is due: the caller queues it).
    pub(crate) fn queued() -> State {
        State(AtomicU8::new(QUEUED))
    }

    /// Records `events`. Returns true if and only if the caller must now put the connection
    /// on a ready queue (it was neither queued nor running).
    pub(crate) fn wake(&self, events: u8) -> bool {
        let before = self.0.fetch_or(events & EVENTS | QUEUED, AcqRel);
        before & (QUEUED | RUNNING) == 0
    }

    /// Begins a turn of a connection taken from a ready queue: returns the events recorded
    /// since the last turn began (cleared), or `None` if the connection is closed.
    pub(crate) fn start(&self) -> Option<u8> {
        let before = self
            .0
            .fetch_update(AcqRel, Acquire, |s| {
                (s & RUNNING == 0).then_some(s & !(QUEUED | EVENTS) | RUNNING)
            })
            .ok()?;
        Some(before & EVENTS)
    }

    /// Ends a turn. With `again` (the turn's budget ran out with work left), or when a
    /// wake-up arrived during the turn, the connection stays queued and the call returns true:
    /// the caller must put it back on a ready queue. Otherwise it parks until a wake-up.
    pub(crate) fn finish(&self, again: bool) -> bool {
        let before = self
            .0
            .fetch_update(AcqRel, Acquire, |s| {
                let queued = again || s & QUEUED != 0;
                Some(s & !RUNNING | if queued { QUEUED } else { 0 })
            })
            .unwrap_or_else(|s| s);
        again || before & QUEUED != 0
    }

    /// Ends the last turn of a closed connection: it stays "running" for ever, so no wake-up
    /// queues it again.
    pub(crate) fn close(&self) {
        self.0.fetch_or(RUNNING, AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_wake_queues_and_later_ones_only_record() {
        let state = State::default();
        assert!(state.wake(READABLE));
        assert!(!state.wake(MAIL), "queued already: the caller must not queue it twice");
        assert_eq!(state.start(), Some(READABLE | MAIL));
        assert!(!state.finish(false), "nothing happened during the turn: it parks");
        assert!(state.wake(WRITABLE), "parked: the next wake queues it again");
    }

    #[test]
    fn a_wake_during_a_turn_is_not_lost() {
        let state = State::default();
        assert!(state.wake(READABLE));
        assert_eq!(state.start(), Some(READABLE));
        assert!(!state.wake(MAIL), "running: the runner will see it");
        assert!(state.finish(false), "the runner must queue it again");
        assert_eq!(state.start(), Some(MAIL));
        assert!(!state.finish(false));
    }

    #[test]
    fn a_turn_that_asks_to_go_again_stays_queued() {
        let state = State::default();
        assert!(state.wake(READABLE));
        assert_eq!(state.start(), Some(READABLE));
        assert!(state.finish(true));
        assert!(!state.wake(MAIL), "still queued");
        assert_eq!(state.start(), Some(MAIL));
        assert!(!state.finish(false));
    }

    #[test]
    fn a_new_connection_is_queued_and_a_closed_one_never_again() {
        let state = State::queued();
        assert!(!state.wake(MAIL));
        assert_eq!(state.start(), Some(MAIL));
        state.close();
        assert!(!state.wake(READABLE | MAIL));
        assert_eq!(state.start(), None, "a stale queue entry finds it closed");
    }

    #[test]
    fn only_one_thread_runs_a_connection_at_a_time() {
        let state = State::default();
        assert!(state.wake(READABLE));
        assert!(state.start().is_some());
        assert_eq!(state.start(), None, "a second start while running fails");
    }

    /// The protocol under contention: wakers on several threads, schedulers on several others
    /// taking connections from one queue. Every wake must be followed by a turn that sees it
    /// (no lost wake-up), and no connection may be in two turns at once. A lost wake-up shows
    /// as a connection whose last turn never saw its last wake: the test fails at its deadline.
    #[test]
    fn no_wake_is_lost_and_no_turn_overlaps_under_contention() {
        use crossbeam_deque::{Injector, Steal};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
        use std::time::{Duration, Instant};

        const CONNS: usize = 64;
        const WAKERS: usize = 4;
        const WAKES: usize = 20_000;
        const SCHEDULERS: usize = 4;
        struct Conn {
            state: State,
            sent: AtomicUsize,
            seen: AtomicUsize,
            in_turn: AtomicBool,
        }
        let conns: Vec<Conn> = (0..CONNS)
            .map(|_| Conn {
                state: State::default(),
                sent: AtomicUsize::new(0),
                seen: AtomicUsize::new(0),
                in_turn: AtomicBool::new(false),
            })
            .collect();
        let queue = Injector::<usize>::new();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..SCHEDULERS {
                s.spawn(|| {
                    while !stop.load(SeqCst) {
                        let Steal::Success(i) = queue.steal() else {
                            std::thread::yield_now();
                            continue;
                        };
                        let conn: &Conn = &conns[i];
                        assert!(conn.state.start().is_some(), "a queued connection starts");
                        assert!(!conn.in_turn.swap(true, SeqCst), "two turns at once");
                        conn.seen.fetch_max(conn.sent.load(SeqCst), SeqCst);
                        conn.in_turn.store(false, SeqCst);
                        if conn
                            .state
                            .finish(i.is_multiple_of(7) && conn.seen.load(SeqCst).is_multiple_of(3))
                        {
                            queue.push(i);
                        }
                    }
                });
            }
            let wakers: Vec<_> = (0..WAKERS)
                .map(|w| {
                    let (conns, queue) = (&conns, &queue);
                    s.spawn(move || {
                        for n in 0..WAKES {
                            let i = (n * 31 + w * 17) % CONNS;
                            conns[i].sent.fetch_add(1, SeqCst);
                            if conns[i].state.wake(if n % 2 == 0 { MAIL } else { READABLE }) {
                                queue.push(i);
                            }
                        }
                    })
                })
                .collect();
            for waker in wakers {
                waker.join().unwrap();
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            let all_seen = || conns.iter().all(|c| c.seen.load(SeqCst) == c.sent.load(SeqCst));
            while !all_seen() && Instant::now() < deadline {
                std::thread::yield_now();
            }
            stop.store(true, SeqCst);
            assert!(all_seen(), "a wake-up was lost");
        });
        let total: usize = conns.iter().map(|c| c.sent.load(SeqCst)).sum();
        assert_eq!(total, WAKERS * WAKES);
    }
}
