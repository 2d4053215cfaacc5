//! The per-connection outbound queue: a bounded, *pollable* mailbox.
//!
//! Publishers on any thread [`push`](Mailbox::push) encoded messages; the connection's owner
//! [`drain`](Mailbox::drain)s them. A push that makes the mailbox non-empty wakes the owner
//! through its [`Wake`]: for the blocking backends a [`WakeFd`] the owner polls together with
//! its socket, for the event-driven ones a hook that schedules the connection. A push never
//! blocks the publisher: past the byte limit the subscriber is marked overflowed (a slow
//! consumer, to be disconnected) and the message is dropped and counted.
//!
//! The limit bounds everything the connection holds for its peer: the queued messages plus the
//! output its owner has not written yet ([`Mailbox::set_held`]). A drain moves message handles
//! (never payload bytes) under the lock, so publishers never wait for a copy.
//!
//! Every push names the subscription it is for by its [`Revocable`] flag, checked under the lock:
//! once [`Mailbox::revoke`] cleared it, no later push for that subscription is queued. That is
//! what lets the connection confirm an unsubscribe knowing nothing for it can follow.
//!
//! The soft limit (`client-output-buffer-limit pubsub HARD SOFT SECONDS`) is Redis's rule:
//! the clock starts at the first push that leaves the connection holding more than SOFT bytes,
//! stops when it holds SOFT or less again (a push, or the owner's [`Mailbox::set_held`]), and
//! a push (or the owner's [`Mailbox::soft_limit_passed`], at [`Mailbox::soft_deadline`]) more
//! than SECONDS after it started overflows the mailbox. Time is passed in ([`Now`], read once
//! per publish): it is also the time each message carries ([`Letter`]), where the pub/sub
//! delivery clock ([`crate::delivery`]) starts.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shared::RespVersion;

pub use crate::system::WakeFd;

/// Something that tells a connection's owner that its mailbox needs attention.
pub trait Wake: Send + Sync {
    /// Wakes the owner. Must be cheap and must never block.
    fn wake(&self);
}

impl Wake for WakeFd {
    fn wake(&self) {
        self.signal();
    }
}

/// Whether messages for one subscription may still be queued: set when the subscription is
/// made, cleared for good by [`Mailbox::revoke`]. [`Mailbox::push`] reads it under the mailbox's
/// lock, so a publisher that took the subscriber list before the unsubscribe and pushes after it
/// has its message dropped (and counted) instead of delivered after the confirmation.
#[derive(Debug)]
pub struct Revocable(AtomicBool);

impl Revocable {
    /// A flag for a new, live subscription.
    pub fn new() -> Revocable {
        Revocable(AtomicBool::new(true))
    }

    /// Returns true if and only if the subscription has not been revoked.
    pub fn is_live(&self) -> bool {
        // Written and read under the mailbox's lock, which orders them.
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Revocable {
    fn default() -> Revocable {
        Revocable::new()
    }
}

/// The subscribers' output limits (`client-output-buffer-limit pubsub HARD SOFT SECONDS`),
/// shared by every mailbox so that `CONFIG SET` applies to all at once.
#[derive(Debug, Default)]
pub struct OutputLimit {
    /// Most bytes a subscriber may hold; a push past it overflows the mailbox.
    pub hard: AtomicUsize,
    /// Bytes above which the soft clock runs; 0 for no soft limit.
    pub soft: AtomicUsize,
    /// How long a subscriber may stay above `soft`, in seconds.
    pub soft_seconds: AtomicU64,
}

impl OutputLimit {
    /// Limits of `hard` bytes, and `soft` bytes for `soft_seconds` (`soft` 0: none).
    pub fn new(hard: usize, soft: usize, soft_seconds: u64) -> OutputLimit {
        OutputLimit {
            hard: AtomicUsize::new(hard),
            soft: AtomicUsize::new(soft),
            soft_seconds: AtomicU64::new(soft_seconds),
        }
    }

    fn soft(&self) -> usize {
        self.soft.load(Ordering::Relaxed)
    }

    fn soft_time(&self) -> Duration {
        Duration::from_secs(self.soft_seconds.load(Ordering::Relaxed))
    }
}

/// The time of a push, passed in by the publisher: read from the clock at most once per
/// publish, when its first receiver's push needs it (the delivery clock's start, and the
/// soft limit's clock).
#[derive(Debug, Default)]
pub struct Now(Cell<Option<Instant>>);

impl Now {
    /// The time, read from the clock when first needed.
    pub fn lazy() -> Now {
        Now(Cell::new(None))
    }

    /// A fixed time (tests, and callers that know it already).
    pub fn at(at: Instant) -> Now {
        Now(Cell::new(Some(at)))
    }

    fn get(&self) -> Instant {
        match self.0.get() {
            Some(at) => at,
            None => {
                let at = Instant::now();
                self.0.set(Some(at));
                at
            }
        }
    }
}

/// Which limit a subscriber passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// The hard limit: at once.
    Hard,
    /// The soft limit, for longer than its seconds.
    Soft,
}

/// What became of a pushed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Queued for the owner to write.
    Queued,
    /// Not queued: the mailbox is over its limit or closed, or the subscription was revoked.
    /// The caller counts it as dropped.
    Dropped,
}

/// What one [`Mailbox::drain`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Moved this many messages; `more` is true if and only if some are still queued (the
    /// drain stopped at its byte budget), so the owner must drain again without a wake-up.
    Moved { messages: usize, more: bool },
    /// The mailbox passed its limit: nothing was moved, the owner should disconnect.
    Overflowed,
}

/// A bounded, pollable outbound queue of encoded messages for one connection.
pub struct Mailbox {
    queue: Mutex<Queue>,
    /// Most bytes the queue and the owner's unwritten output may hold together (hard), and
    /// for how long more than the soft limit. Shared with the server's parameters, so that
    /// `CONFIG SET client-output-buffer-limit` applies to every mailbox at once.
    limit: Arc<OutputLimit>,
    /// Mirrors `Queue::soft_since.is_some()` (written under the lock), so that the owner's
    /// [`Mailbox::set_held`] takes the lock only while the soft clock runs.
    soft_running: AtomicBool,
    /// Bytes the owner holds unwritten (see [`Mailbox::set_held`]). Written only by the owner's
    /// thread; raised under the queue lock by a drain, so that a publisher holding the lock
    /// always sees what the owner holds.
    held: AtomicUsize,
    /// The RESP version its owner speaks, so publishers encode messages the way it reads them.
    version: AtomicU8,
    waker: Arc<dyn Wake>,
}

/// A queued message and the time of its publish (the delivery clock's start).
pub type Letter = (Bytes, Instant);

struct Queue {
    items: VecDeque<Letter>,
    /// Sum of the lengths of `items`; with the owner's held bytes, never above the limit.
    bytes: usize,
    /// Set once a push did not fit (or stayed above the soft limit too long); from then on
    /// every push is dropped.
    overflowed: Option<Overflow>,
    /// Since when the connection holds more than the soft limit, while it does.
    soft_since: Option<Instant>,
    /// Set when the owner is gone; from then on every push is dropped.
    closed: bool,
}

impl Mailbox {
    /// An empty mailbox holding at most `limit` bytes that wakes its owner with `waker`.
    pub fn new(limit: usize, waker: Arc<dyn Wake>) -> Mailbox {
        Mailbox::with_limit(Arc::new(OutputLimit::new(limit, 0, 0)), waker)
    }

    /// An empty mailbox whose limits are read from `limit` at every push.
    pub fn with_limit(limit: Arc<OutputLimit>, waker: Arc<dyn Wake>) -> Mailbox {
        Mailbox {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                overflowed: None,
                soft_since: None,
                closed: false,
            }),
            limit,
            soft_running: AtomicBool::new(false),
            held: AtomicUsize::new(0),
            version: AtomicU8::new(2),
            waker,
        }
    }

    /// Queues `message`, sent for the subscription whose flag is `live`, for the owner, waking
    /// it if the mailbox was empty. Never blocks on the owner: a message that does not fit is
    /// dropped and the mailbox marked overflowed (so is one that finds the connection above
    /// the soft limit for longer than its seconds at `now`); one for a revoked subscription is
    /// dropped.
    pub fn push(&self, message: Bytes, live: &Revocable, now: &Now) -> Push {
        let mut queue = self.lock();
        if queue.closed || queue.overflowed.is_some() || !live.is_live() {
            return Push::Dropped;
        }
        let held = self.held.load(Ordering::Relaxed);
        let total = queue.bytes + held + message.len();
        let overflow = if total > self.limit.hard.load(Ordering::Relaxed) {
            Some(Overflow::Hard)
        } else {
            self.run_soft_clock(&mut queue, total, now)
        };
        if let Some(overflow) = overflow {
            queue.overflowed = Some(overflow);
            drop(queue);
            self.waker.wake();
            return Push::Dropped;
        }
        if queue.soft_since.is_some() && !self.soft_running.load(Ordering::Relaxed) {
            // The soft clock started: the owner must learn its deadline, even if it has mail
            // already (a subscriber that receives nothing more is still cut at the deadline).
            self.soft_running.store(true, Ordering::Relaxed);
            queue.bytes += message.len();
            queue.items.push_back((message, now.get()));
            drop(queue);
            self.waker.wake();
            return Push::Queued;
        }
        let was_empty = queue.items.is_empty();
        queue.bytes += message.len();
        queue.items.push_back((message, now.get()));
        drop(queue);
        // A non-empty mailbox has already woken its owner, who has not drained it yet.
        if was_empty {
            self.waker.wake();
        }
        Push::Queued
    }

    /// Redis's soft rule for a connection that would hold `total` bytes at `now`: starts the
    /// clock above the soft limit, stops it at or under it; `Soft` once it ran too long.
    fn run_soft_clock(&self, queue: &mut Queue, total: usize, now: &Now) -> Option<Overflow> {
        let soft = self.limit.soft();
        if soft == 0 || total <= soft {
            if queue.soft_since.take().is_some() {
                self.soft_running.store(false, Ordering::Relaxed);
            }
            return None;
        }
        let now = now.get();
        match queue.soft_since {
            None => {
                queue.soft_since = Some(now);
                None
            }
            Some(since) if now.saturating_duration_since(since) > self.limit.soft_time() => {
                Some(Overflow::Soft)
            }
            Some(_) => None,
        }
    }

    /// While the connection holds more than the soft limit: the moment after which it has
    /// held it too long (the owner calls [`Mailbox::soft_limit_passed`] then).
    pub fn soft_deadline(&self) -> Option<Instant> {
        if !self.soft_running.load(Ordering::Relaxed) {
            return None;
        }
        let since = self.lock().soft_since?;
        // Strictly more than the seconds, as Redis: the first instant past them.
        Some(since + self.limit.soft_time() + Duration::from_millis(1))
    }

    /// The owner's check at `now`, for a connection that may receive nothing more: if it has
    /// held more than the soft limit for longer than its seconds, the mailbox overflows (and
    /// the owner should disconnect). Returns true if and only if the mailbox is overflowed.
    pub fn soft_limit_passed(&self, now: Instant) -> bool {
        let mut queue = self.lock();
        if queue.overflowed.is_none() && !queue.closed {
            let total = queue.bytes + self.held.load(Ordering::Relaxed);
            if let Some(overflow) = self.run_soft_clock(&mut queue, total, &Now::at(now)) {
                queue.overflowed = Some(overflow);
            }
        }
        queue.overflowed.is_some()
    }

    /// Moves queued messages, oldest first, to the back of `into` until at least `budget` bytes
    /// moved (always at least one message) or the queue is empty, and counts them as held by
    /// the owner. Only handles move under the lock; the caller copies the bytes after. Moves
    /// nothing once the mailbox overflowed. Owners using a [`WakeFd`] must reset it *before*
    /// draining, so that a push racing with the drain always leaves it signalled.
    pub fn drain(&self, into: &mut VecDeque<Letter>, budget: usize) -> Drained {
        let mut queue = self.lock();
        if queue.overflowed.is_some() {
            return Drained::Overflowed;
        }
        let mut moved = 0;
        let mut messages = 0;
        if queue.bytes <= budget {
            // Everything: swap the queues (the caller's is empty), O(1) under the lock.
            debug_assert!(into.is_empty());
            std::mem::swap(&mut queue.items, into);
            messages = into.len();
            moved = queue.bytes;
        } else {
            while moved < budget {
                let Some(item) = queue.items.pop_front() else { break };
                moved += item.0.len();
                messages += 1;
                into.push_back(item);
            }
        }
        queue.bytes -= moved;
        self.held.fetch_add(moved, Ordering::Relaxed);
        Drained::Moved { messages, more: !queue.items.is_empty() }
    }

    /// Records how many bytes the owner holds unwritten for its peer (its output buffer): they
    /// count against the limit together with the queue. Called by the owner only. A
    /// connection back at or under the soft limit stops its soft clock.
    pub fn set_held(&self, bytes: usize) {
        self.held.store(bytes, Ordering::Relaxed);
        if self.soft_running.load(Ordering::Relaxed) {
            let mut queue = self.lock();
            if queue.overflowed.is_none() && queue.bytes + bytes <= self.limit.soft() {
                queue.soft_since = None;
                self.soft_running.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Bytes held for the peer: queued messages plus the owner's unwritten output.
    pub fn pending_bytes(&self) -> usize {
        self.lock().bytes + self.held.load(Ordering::Relaxed)
    }

    /// Clears the flags of subscriptions that ended, under the lock: from now on no push for
    /// them is queued. What was queued before stays, for the owner to drain ahead of its
    /// unsubscribe confirmation.
    pub fn revoke<'a>(&self, lives: impl IntoIterator<Item = &'a Revocable>) {
        let _queue = self.lock();
        for live in lives {
            live.0.store(false, Ordering::Relaxed);
        }
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
        self.lock().overflowed.is_some()
    }

    /// Which limit the connection passed, if it passed one.
    pub fn overflow(&self) -> Option<Overflow> {
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

    fn bytes(into: &VecDeque<Letter>) -> Vec<&[u8]> {
        into.iter().map(|(b, _)| &b[..]).collect()
    }

    /// A subscription that is never revoked.
    static LIVE: Revocable = Revocable(AtomicBool::new(true));

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
        assert_eq!(mailbox.push(Bytes::from_static(b"ab"), &LIVE, &Now::lazy()), Push::Queued);
        assert_eq!(mailbox.push(Bytes::from_static(b"cd"), &LIVE, &Now::lazy()), Push::Queued);
        assert_eq!(wake.0.load(Ordering::SeqCst), 1);
        let mut into = VecDeque::new();
        assert_eq!(
            mailbox.drain(&mut into, usize::MAX),
            Drained::Moved { messages: 2, more: false }
        );
        assert_eq!(bytes(&into), [&b"ab"[..], b"cd"]);
        mailbox.push(Bytes::from_static(b"e"), &LIVE, &Now::lazy());
        assert_eq!(wake.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_drain_stops_at_its_budget_and_says_more_is_left() {
        let mailbox = Mailbox::new(100, Arc::new(CountingWake::default()));
        for m in [&b"aaa"[..], b"bbb", b"ccc"] {
            mailbox.push(Bytes::copy_from_slice(m), &LIVE, &Now::lazy());
        }
        let mut into = VecDeque::new();
        assert_eq!(mailbox.drain(&mut into, 4), Drained::Moved { messages: 2, more: true });
        assert_eq!(bytes(&into), [&b"aaa"[..], b"bbb"]);
        into.clear();
        assert_eq!(mailbox.drain(&mut into, 4), Drained::Moved { messages: 1, more: false });
        assert_eq!(bytes(&into), [&b"ccc"[..]]);
    }

    #[test]
    fn held_output_counts_against_the_limit() {
        let mailbox = Mailbox::new(10, Arc::new(CountingWake::default()));
        mailbox.push(Bytes::from_static(b"abcd"), &LIVE, &Now::lazy());
        let mut into = VecDeque::new();
        mailbox.drain(&mut into, usize::MAX);
        // The four drained bytes are held by the owner until it says otherwise.
        assert_eq!(mailbox.push(Bytes::from_static(b"efgh"), &LIVE, &Now::lazy()), Push::Queued);
        assert_eq!(mailbox.push(Bytes::from_static(b"ijk"), &LIVE, &Now::lazy()), Push::Dropped);
        assert!(mailbox.overflowed());
        let limit = Mailbox::new(10, Arc::new(CountingWake::default()));
        limit.set_held(9);
        assert_eq!(limit.push(Bytes::from_static(b"xy"), &LIVE, &Now::lazy()), Push::Dropped);
        limit.set_held(0);
        assert_eq!(
            limit.push(Bytes::from_static(b"xy"), &LIVE, &Now::lazy()),
            Push::Dropped,
            "overflow sticks"
        );
    }

    #[test]
    fn overflow_drops_and_sticks() {
        let mailbox = Mailbox::new(4, Arc::new(CountingWake::default()));
        assert_eq!(mailbox.push(Bytes::from_static(b"abc"), &LIVE, &Now::lazy()), Push::Queued);
        assert_eq!(mailbox.push(Bytes::from_static(b"de"), &LIVE, &Now::lazy()), Push::Dropped);
        assert_eq!(mailbox.push(Bytes::from_static(b"f"), &LIVE, &Now::lazy()), Push::Dropped);
        let mut into = VecDeque::new();
        assert_eq!(mailbox.drain(&mut into, usize::MAX), Drained::Overflowed);
        assert!(into.is_empty(), "an overflowed mailbox hands nothing over");
        assert_eq!(mailbox.close(), 1);
    }

    #[test]
    fn closed_mailbox_refuses_and_reports_leftovers() {
        let mailbox = Mailbox::new(100, Arc::new(CountingWake::default()));
        mailbox.push(Bytes::from_static(b"a"), &LIVE, &Now::lazy());
        mailbox.push(Bytes::from_static(b"b"), &LIVE, &Now::lazy());
        assert_eq!(mailbox.close(), 2);
        assert_eq!(mailbox.push(Bytes::from_static(b"c"), &LIVE, &Now::lazy()), Push::Dropped);
    }

    #[test]
    fn a_revoked_subscription_queues_nothing_more_but_keeps_what_was_queued() {
        let mailbox = Mailbox::new(100, Arc::new(CountingWake::default()));
        let (a, b) = (Revocable::new(), Revocable::new());
        assert_eq!(mailbox.push(Bytes::from_static(b"a1"), &a, &Now::lazy()), Push::Queued);
        mailbox.revoke([&a]);
        assert!(!a.is_live() && b.is_live());
        assert_eq!(mailbox.push(Bytes::from_static(b"a2"), &a, &Now::lazy()), Push::Dropped);
        assert_eq!(mailbox.push(Bytes::from_static(b"b1"), &b, &Now::lazy()), Push::Queued);
        let mut into = VecDeque::new();
        mailbox.drain(&mut into, usize::MAX);
        assert_eq!(bytes(&into), [&b"a1"[..], b"b1"]);
        assert!(!mailbox.overflowed(), "a revoked push is not an overflow");
    }

    #[test]
    fn the_soft_clock_starts_above_soft_stops_under_it_and_cuts_past_its_seconds() {
        let wake = Arc::new(CountingWake::default());
        let limit = Arc::new(OutputLimit::new(100, 10, 2));
        let mailbox = Mailbox::with_limit(limit, wake.clone());
        let t0 = Instant::now();
        let at = |s: u64| Now::at(t0 + Duration::from_secs(s));
        assert_eq!(mailbox.push(Bytes::from_static(b"12345678"), &LIVE, &at(0)), Push::Queued);
        assert_eq!(mailbox.soft_deadline(), None, "under soft: no clock");
        assert_eq!(mailbox.push(Bytes::from_static(b"abcd"), &LIVE, &at(1)), Push::Queued);
        assert_eq!(wake.0.load(Ordering::SeqCst), 2, "starting the clock wakes the owner");
        let deadline = mailbox.soft_deadline().expect("above soft: the clock runs");
        assert!(deadline > t0 + Duration::from_secs(3) && deadline < t0 + Duration::from_secs(4));
        // The owner takes everything and writes all but 5 bytes: back under soft.
        let mut into = VecDeque::new();
        mailbox.drain(&mut into, usize::MAX);
        mailbox.set_held(5);
        assert_eq!(mailbox.soft_deadline(), None, "back under soft: the clock stopped");
        assert!(!mailbox.soft_limit_passed(t0 + Duration::from_secs(10)));
        // Above again at 10 s: a new clock, which a push within its seconds does not cut ...
        assert_eq!(mailbox.push(Bytes::from_static(b"abcdef"), &LIVE, &at(10)), Push::Queued);
        assert_eq!(mailbox.push(Bytes::from_static(b"g"), &LIVE, &at(12)), Push::Queued);
        assert!(!mailbox.soft_limit_passed(t0 + Duration::from_secs(12)));
        // ... and one past them does, as does the owner's check.
        assert_eq!(mailbox.push(Bytes::from_static(b"h"), &LIVE, &at(13)), Push::Dropped);
        assert_eq!(mailbox.overflow(), Some(Overflow::Soft));
        assert_eq!(mailbox.drain(&mut into, usize::MAX), Drained::Overflowed);
    }

    #[test]
    fn the_owner_cuts_a_subscriber_that_receives_nothing_more_at_the_soft_deadline() {
        let limit = Arc::new(OutputLimit::new(100, 10, 1));
        let mailbox = Mailbox::with_limit(limit.clone(), Arc::new(CountingWake::default()));
        let t0 = Instant::now();
        mailbox.push(Bytes::from_static(b"0123456789ab"), &LIVE, &Now::at(t0));
        let deadline = mailbox.soft_deadline().unwrap();
        assert!(!mailbox.soft_limit_passed(t0 + Duration::from_secs(1)), "not more than 1 s");
        assert!(mailbox.soft_limit_passed(deadline));
        assert_eq!(mailbox.overflow(), Some(Overflow::Soft));
        // Hard still wins over soft, and a soft limit of 0 is none.
        let hard = Mailbox::with_limit(limit.clone(), Arc::new(CountingWake::default()));
        limit.soft.store(0, Ordering::Relaxed);
        assert_eq!(hard.push(Bytes::from(vec![0; 50]), &LIVE, &Now::at(t0)), Push::Queued);
        assert_eq!(hard.soft_deadline(), None);
        assert_eq!(hard.push(Bytes::from(vec![0; 51]), &LIVE, &Now::at(t0)), Push::Dropped);
        assert_eq!(hard.overflow(), Some(Overflow::Hard));
    }
}
