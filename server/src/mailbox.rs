//! The per-connection outbound queue: a bounded, *pollable* mailbox.
//!
//! Publishers on any thread [`push`](Mailbox::push) encoded messages; the connection's owner
//! [`drain`](Mailbox::drain)s them into its output buffer. A push that makes the mailbox
//! non-empty wakes the owner through its [`Wake`]: for the blocking backends a [`WakeFd`] the
//! owner polls together with its socket, for the event-driven ones a hook that schedules the
//! connection. A push never blocks the publisher: past the byte limit the subscriber is marked
//! overflowed (a slow consumer, to be disconnected) and the message is dropped and counted.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use shared::RespVersion;

/// Something that tells a connection's owner that its mailbox needs attention.
pub trait Wake: Send + Sync {
    /// Wakes the owner. Must be cheap and must never block.
    fn wake(&self);
}

/// A Linux `eventfd`: a counter that is readable while non-zero, so a thread can `poll` it
/// together with its socket. Cloning shares the same descriptor.
#[derive(Clone, Debug)]
pub struct WakeFd(Arc<OwnedFd>);

impl WakeFd {
    /// A new, non-blocking, unsignalled wake descriptor.
    pub fn new() -> io::Result<WakeFd> {
        // SAFETY: eventfd takes no pointers; a non-negative return is a new descriptor we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(WakeFd(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Makes the descriptor readable until the next [`reset`](WakeFd::reset).
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our own eventfd. It can only fail when
        // the counter would overflow, in which case it is readable already.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Makes the descriptor unreadable again (reads and discards the counter).
    pub fn reset(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from our own non-blocking eventfd; EAGAIN
        // (nothing to read) is fine.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

impl AsFd for WakeFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Wake for WakeFd {
    fn wake(&self) {
        self.signal();
    }
}

/// What became of a pushed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Queued for the owner to write.
    Queued,
    /// Not queued: the mailbox is over its limit or closed. The caller counts it as dropped.
    Dropped,
}

/// What one [`Mailbox::drain`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Messages moved into the output buffer.
    pub messages: usize,
    /// True if and only if the mailbox passed its limit: the owner should disconnect.
    pub overflowed: bool,
}

/// A bounded, pollable outbound queue of encoded messages for one connection.
pub struct Mailbox {
    queue: Mutex<Queue>,
    /// Most bytes the queue may hold; a push past it overflows the mailbox.
    limit: usize,
    /// The RESP version its owner speaks, so publishers encode messages the way it reads them.
    version: AtomicU8,
    waker: Arc<dyn Wake>,
}

struct Queue {
    items: VecDeque<Bytes>,
    /// Sum of the lengths of `items`; never above the mailbox's limit.
    bytes: usize,
    /// Set once a push did not fit; from then on every push is dropped.
    overflowed: bool,
    /// Set when the owner is gone; from then on every push is dropped.
    closed: bool,
}

impl Mailbox {
    /// An empty mailbox holding at most `limit` bytes that wakes its owner with `waker`.
    pub fn new(limit: usize, waker: Arc<dyn Wake>) -> Mailbox {
        Mailbox {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                overflowed: false,
                closed: false,
            }),
            limit,
            version: AtomicU8::new(2),
            waker,
        }
    }

    /// Queues `message` for the owner, waking it if the mailbox was empty. Never blocks on the
    /// owner: a message that does not fit is dropped and the mailbox marked overflowed.
    pub fn push(&self, message: Bytes) -> Push {
        let mut queue = self.lock();
        if queue.closed || queue.overflowed {
            return Push::Dropped;
        }
        if queue.bytes + message.len() > self.limit {
            queue.overflowed = true;
            drop(queue);
            self.waker.wake();
            return Push::Dropped;
        }
        let was_empty = queue.items.is_empty();
        queue.bytes += message.len();
        queue.items.push_back(message);
        drop(queue);
        // A non-empty mailbox has already woken its owner, who has not drained it yet.
        if was_empty {
            self.waker.wake();
        }
        Push::Queued
    }

    /// Appends every queued message to `out`. Owners using a [`WakeFd`] must reset it *before*
    /// draining, so that a push racing with the drain always leaves it signalled.
    pub fn drain(&self, out: &mut Vec<u8>) -> Drained {
        let mut queue = self.lock();
        let messages = queue.items.len();
        out.reserve(queue.bytes);
        for item in queue.items.drain(..) {
            out.extend_from_slice(&item);
        }
        queue.bytes = 0;
        Drained { messages, overflowed: queue.overflowed }
    }

    /// Refuses every later push and returns how many queued messages are thrown away.
    pub fn close(&self) -> usize {
        let mut queue = self.lock();
        queue.closed = true;
        queue.bytes = 0;
        let left = queue.items.len();
        queue.items.clear();
        left
    }

    /// Wakes the owner without a message (used to announce shutdown).
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// Returns true if and only if a push did not fit: the owner should disconnect.
    pub fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    /// The RESP version the owner reads messages in.
    pub fn version(&self) -> RespVersion {
        match self.version.load(Ordering::Relaxed) {
            3 => RespVersion::Resp3,
            _ => RespVersion::Resp2,
        }
    }

    /// Records the RESP version the owner switched to.
    pub fn set_version(&self, version: RespVersion) {
        let v = if version == RespVersion::Resp3 { 3 } else { 2 };
        self.version.store(v, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent (every update is
        // a single push or clear), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct CountingWake(AtomicUsize);
    impl Wake for CountingWake {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_once_per_empty_to_non_empty_transition() {
        let wake = Arc::new(CountingWake::default());
        let mailbox = Mailbox::new(100, wake.clone());
        assert_eq!(mailbox.push(Bytes::from_static(b"ab")), Push::Queued);
        assert_eq!(mailbox.push(Bytes::from_static(b"cd")), Push::Queued);
        assert_eq!(wake.0.load(Ordering::SeqCst), 1);
        let mut out = Vec::new();
        assert_eq!(mailbox.drain(&mut out), Drained { messages: 2, overflowed: false });
        assert_eq!(out, b"abcd");
        mailbox.push(Bytes::from_static(b"e"));
        assert_eq!(wake.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn overflow_drops_and_sticks() {
        let mailbox = Mailbox::new(4, Arc::new(CountingWake::default()));
        assert_eq!(mailbox.push(Bytes::from_static(b"abc")), Push::Queued);
        assert_eq!(mailbox.push(Bytes::from_static(b"de")), Push::Dropped);
        assert_eq!(mailbox.push(Bytes::from_static(b"f")), Push::Dropped);
        let mut out = Vec::new();
        assert_eq!(mailbox.drain(&mut out), Drained { messages: 1, overflowed: true });
        assert_eq!(mailbox.close(), 0);
    }

    #[test]
    fn closed_mailbox_refuses_and_reports_leftovers() {
        let mailbox = Mailbox::new(100, Arc::new(CountingWake::default()));
        mailbox.push(Bytes::from_static(b"a"));
        mailbox.push(Bytes::from_static(b"b"));
        assert_eq!(mailbox.close(), 2);
        assert_eq!(mailbox.push(Bytes::from_static(b"c")), Push::Dropped);
    }

    #[test]
    fn wake_fd_is_level_triggered_until_reset() {
        let fd = WakeFd::new().unwrap();
        let readable = |fd: &WakeFd| {
            let mut p =
                libc::pollfd { fd: fd.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd, zero timeout.
            unsafe { libc::poll(&mut p, 1, 0) == 1 }
        };
        assert!(!readable(&fd));
        fd.signal();
        fd.signal();
        assert!(readable(&fd));
        fd.reset();
        assert!(!readable(&fd));
    }
}
