//! Server-wide counters: plain atomics, updated by every backend, read by `INFO`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for everything a connection or a message can go through. Monotonic except where
/// noted. The accounting invariant, once the server is idle, is
/// `published_receivers == delivered + dropped`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted and given a session.
    pub connections_accepted: AtomicU64,
    /// Connections turned away (max clients, queue full).
    pub connections_refused: AtomicU64,
    /// Commands run.
    pub commands: AtomicU64,
    /// PUBLISH commands run.
    pub published: AtomicU64,
    /// Sum of all PUBLISH replies: messages addressed to a receiver.
    pub published_receivers: AtomicU64,
    /// Messages written to a subscriber's socket in full.
    pub delivered: AtomicU64,
    /// Messages addressed to a receiver but never written: slow consumer or closed connection.
    pub dropped: AtomicU64,
    /// Subscribers disconnected for passing the output buffer limit.
    pub slow_consumers: AtomicU64,
    /// Bytes read from clients.
    pub bytes_in: AtomicU64,
    /// Bytes written to clients.
    pub bytes_out: AtomicU64,
}

/// Adds `n` to a counter (relaxed: counters order nothing).
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Reads a counter.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
