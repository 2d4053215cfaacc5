//! Work-stealing ready queues for a runtime whose threads all wait on one poller: a queue per
//! thread, a global one for connections woken from anywhere (mailboxes), and the protocol by
//! which an idle thread sleeps without missing work queued meanwhile.
//!
//! A thread runs what is on its own queue; idle, it takes from the global queue, then half of
//! another thread's (crossbeam-deque). Before it waits on the poller it announces itself
//! ([`Queues::sleep`]) and looks once more; whoever queues work and finds a thread announced
//! interrupts one waiter ([`Queues::notify_one`]): either the sleeper sees the work or the
//! queuer sees the sleeper (a fence on each side), so no work waits for a thread that sleeps.

use std::io;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use super::conn::Conn;
use super::Interrupt;

/// Every this many turns a busy thread takes from the global queue first, so that mail never
/// waits behind a busy queue (and the thread looks at its poller and deadlines).
pub(crate) const CHECK_EVERY: u32 = 32;

/// The queues all threads share, and what interrupts a waiting one (`W`).
pub(crate) struct Queues<W> {
    global: Injector<Arc<Conn>>,
    stealers: Vec<Stealer<Arc<Conn>>>,
    /// Threads waiting (or about to wait) on the poller.
    sleepers: AtomicUsize,
    /// An interrupt is pending: no need for another.
    notified: AtomicBool,
    waiter: W,
}

/// One thread's own queue.
pub(crate) struct Local {
    queue: Worker<Arc<Conn>>,
    index: usize,
    /// Turns run, to look around every [`CHECK_EVERY`].
    turns: u32,
}

impl<W: Interrupt> Queues<W> {
    /// Queues for `threads` threads, interrupting `waiter`: the shared part and each
    /// thread's own.
    pub(crate) fn new(threads: usize, waiter: W) -> (Queues<W>, Vec<Local>) {
        let locals: Vec<Local> = (0..threads)
            .map(|index| Local { queue: Worker::new_fifo(), index, turns: 0 })
            .collect();
        let queues = Queues {
            global: Injector::new(),
            stealers: locals.iter().map(|l| l.queue.stealer()).collect(),
            sleepers: AtomicUsize::new(0),
            notified: AtomicBool::new(false),
            waiter,
        };
        (queues, locals)
    }

    /// Queues `conn` on the global queue (from any thread) and wakes a waiting thread.
    pub(crate) fn push_global(&self, conn: Arc<Conn>) {
        self.global.push(conn);
        self.notify_one();
    }

    /// What interrupts a waiting thread.
    pub(crate) fn waiter(&self) -> &W {
        &self.waiter
    }

    /// Interrupts one waiting thread, if one waits and none was interrupted already: there is
    /// work on a queue for it to take.
    pub(crate) fn notify_one(&self) {
        // Pairs with the fence in `sleep`: either it sees the work just queued, or this sees
        // it waiting.
        fence(SeqCst);
        if self.sleepers.load(SeqCst) > 0 && !self.notified.swap(true, SeqCst) {
            self.waiter.interrupt();
        }
    }

    /// The interrupt was taken (by a thread that now looks for work).
    pub(crate) fn interrupted(&self) {
        self.notified.store(false, SeqCst);
    }

    /// Returns true if and only if a queue holds a connection.
    fn has_work(&self) -> bool {
        !self.global.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// The next connection for `local`'s thread to run: from its own queue (but from the
    /// global one every [`CHECK_EVERY`] turns), else from the global queue, else half of
    /// another thread's. Wakes another waiting thread when more work is left.
    pub(crate) fn find(&self, local: &mut Local) -> Option<Arc<Conn>> {
        if local.turns % CHECK_EVERY != CHECK_EVERY - 1 {
            if let Some(conn) = local.queue.pop() {
                return Some(conn);
            }
        }
        loop {
            let mut steal = self.global.steal_batch_and_pop(&local.queue);
            for (i, other) in self.stealers.iter().enumerate() {
                if steal.is_success() {
                    break;
                }
                if i != local.index {
                    steal = steal.or_else(|| other.steal_batch_and_pop(&local.queue));
                }
            }
            match steal {
                Steal::Success(conn) => {
                    if self.has_work() {
                        self.notify_one(); // more for another waiting thread
                    }
                    return Some(conn);
                }
                Steal::Empty => return local.queue.pop(),
                Steal::Retry => {}
            }
        }
    }

    /// Calls `wait` (the wait on the poller) unless work is queued or `halted`, having
    /// announced the thread first, so that work queued meanwhile interrupts the wait.
    pub(crate) fn sleep(
        &self,
        halted: &AtomicBool,
        wait: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        self.sleepers.fetch_add(1, SeqCst);
        fence(SeqCst); // pairs with the one in `notify_one`
        let result = if self.has_work() || halted.load(SeqCst) { Ok(()) } else { wait() };
        self.sleepers.fetch_sub(1, SeqCst);
        result
    }

    /// After a poll that put connections on `local`: wakes a waiting thread if there is more
    /// than one to run.
    pub(crate) fn share(&self, local: &Local) {
        if local.queue.len() > 1 {
            self.notify_one();
        }
    }
}

impl Local {
    /// Queues `conn` on this thread's queue.
    pub(crate) fn push(&self, conn: Arc<Conn>) {
        self.queue.push(conn);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Counts a turn; returns true if and only if it is time to look around (every
    /// [`CHECK_EVERY`] turns).
    pub(crate) fn turned(&mut self) -> bool {
        self.turns = self.turns.wrapping_add(1);
        self.turns.is_multiple_of(CHECK_EVERY)
    }
}
