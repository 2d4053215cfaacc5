//! [`Link`]: what the sessions, the exchange and the relay thread share. The context holds it;
//! the thread that drains it is [`crate::relay`]'s.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use crate::exchange::{InterestWatcher, Name};
use crate::throttled_log::{Record, ThrottledLog};

/// Longest channel name relayed: its hex subject must fit NATS's default 4 KiB control line
/// with room for the rest of the `PUB` line.
pub const MAX_RELAYED_CHANNEL: usize = 1900;
/// Messages waiting for the relay thread, at most.
const QUEUE_MESSAGES: usize = 65_536;
/// Payload bytes waiting for the relay thread, at most.
const QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// What the sessions, the exchange and the relay thread share: the outgoing queue, the interest
/// changes not yet applied, and the relay's counters.
pub struct Link {
    queue: mpsc::Sender<(Bytes, Bytes)>,
    /// Taken by the relay thread when it starts.
    pub(super) receiver: Mutex<Option<mpsc::Receiver<(Bytes, Bytes)>>>,
    /// Payload bytes in `queue`.
    pub(super) queued_bytes: AtomicUsize,
    /// Channels whose interest changed since the relay last looked, and whether the pattern
    /// count did.
    changed: Mutex<(HashSet<Name>, bool)>,
    /// Raised on every interest change; the relay thread waits on it.
    pub(super) wake: Notify,
    /// Raised once, when the server has stopped serving.
    pub(super) stop: Notify,
    /// Messages received from NATS and published locally.
    pub relay_in: AtomicU64,
    /// Local publishes handed to NATS.
    pub relay_out: AtomicU64,
    /// Local publishes that could not be relayed.
    pub relay_dropped: AtomicU64,
    /// Messages from NATS the client dropped because the relay thread fell behind (at least
    /// this many: the client reports each drop on a bounded event queue of its own).
    pub relay_in_dropped: AtomicU64,
    /// Whether the NATS connection is up.
    pub connected: AtomicBool,
    /// NATS subscriptions held (channels, plus one while there are patterns).
    pub subscriptions: AtomicUsize,
    dropped_log: ThrottledLog,
    pub(super) in_dropped_log: ThrottledLog,
}

impl Link {
    /// A link for a relay that is not running yet.
    pub(crate) fn new() -> Link {
        let (queue, receiver) = mpsc::channel(QUEUE_MESSAGES);
        Link {
            queue,
            receiver: Mutex::new(Some(receiver)),
            queued_bytes: AtomicUsize::new(0),
            changed: Mutex::new((HashSet::new(), false)),
            wake: Notify::new(),
            stop: Notify::new(),
            relay_in: AtomicU64::new(0),
            relay_out: AtomicU64::new(0),
            relay_dropped: AtomicU64::new(0),
            relay_in_dropped: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            subscriptions: AtomicUsize::new(0),
            dropped_log: ThrottledLog::new("messages not relayed"),
            in_dropped_log: ThrottledLog::new("relayed messages dropped"),
        }
    }

    /// Queues a local publish for NATS; never blocks. Counts it as dropped (and says why in
    /// the log, throttled) when it cannot be relayed.
    pub fn send(&self, channel: &Bytes, message: &Bytes) {
        if channel.len() > MAX_RELAYED_CHANNEL {
            return self.dropped("channel name longer than the relay carries");
        }
        if !self.connected.load(Ordering::Relaxed) {
            return self.dropped("not connected to NATS");
        }
        let size = message.len();
        if self.queued_bytes.fetch_add(size, Ordering::Relaxed) + size > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            return self.dropped("relay queue full");
        }
        // Copies: the arguments may be views into a connection's read buffer, which a queued
        // view would keep alive whole.
        let item = (Bytes::copy_from_slice(channel), Bytes::copy_from_slice(message));
        if self.queue.try_send(item).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.dropped("relay queue full");
        }
    }

    pub(super) fn dropped(&self, why: &'static str) {
        self.relay_dropped.fetch_add(1, Ordering::Relaxed);
        if let Record::Log { suppressed } = self.dropped_log.record(Instant::now()) {
            tracing::warn!(reason = why, suppressed, "message not relayed");
        }
    }

    pub(super) fn take_changes(&self) -> (HashSet<Name>, bool) {
        let mut changed = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut changed.0), std::mem::take(&mut changed.1))
    }
}

impl InterestWatcher for Link {
    fn channels_changed(&self, channels: &[Name]) {
        let mut changed = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        changed.0.extend(channels.iter().cloned());
        drop(changed);
        self.wake.notify_one();
    }

    fn patterns_changed(&self) {
        self.changed.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.wake.notify_one();
    }
}
