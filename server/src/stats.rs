//! Server-wide counters, updated by every backend, read by `INFO` and `/metrics`; and the
//! periodic stats line.
//!
//! Every request bumps a few counters, from whichever thread runs it. One shared atomic per
//! counter would bounce its cache line between cores on every request, so each counter is split
//! into shards padded to a cache line each, and a thread always adds to the shard it was given
//! on first use (thread-local state). Reading sums the shards.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Shards per counter: enough that threads rarely share one.
pub(crate) const SHARDS: usize = 16;

/// One shard, alone on its cache line (128 bytes covers adjacent-line prefetching).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(AtomicU64);

/// A monotonic counter split into per-thread shards.
#[derive(Debug, Default)]
pub struct Counter([Shard; SHARDS]);

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The shard this thread adds to, handed out round-robin on first use.
    static MY_SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// The shard this thread adds to (and records its command figures in, `crate::latency`).
pub(crate) fn my_shard() -> usize {
    MY_SHARD.with(|s| *s)
}

impl Counter {
    /// Adds `n` (relaxed: counters order nothing).
    pub fn add(&self, n: u64) {
        let shard = my_shard();
        self.0[shard].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The total so far: exact once the threads that add have finished (or synchronised with
    /// the reader), approximate while they run.
    pub fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }

    /// Back to zero (`CONFIG RESETSTAT`); adds racing with it may survive.
    pub(crate) fn reset(&self) {
        for shard in &self.0 {
            shard.0.store(0, Ordering::Relaxed);
        }
    }
}

/// Counters for everything a connection or a message can go through. The accounting
/// invariant, once the server is idle, is `published_receivers == delivered + dropped`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted and given a session.
    pub connections_accepted: Counter,
    /// Connections turned away at `--max-clients`, or for want of a file descriptor.
    pub connections_refused: Counter,
    /// Commands run.
    pub commands: Counter,
    /// PUBLISH commands run.
    pub published: Counter,
    /// Sum of all PUBLISH replies: messages addressed to a receiver.
    pub published_receivers: Counter,
    /// Messages written to a subscriber's socket in full.
    pub delivered: Counter,
    /// Messages addressed to a receiver but never written: slow consumer or closed connection.
    pub dropped: Counter,
    /// Wrong passwords and commands refused before authenticating (Redis's
    /// `acl_access_denied_auth`).
    pub acl_denied_auth: Counter,
    /// Commands refused because the user may not run them.
    pub acl_denied_command: Counter,
    /// Commands refused because the user may not touch a channel or pattern they name.
    pub acl_denied_channel: Counter,
    /// TLS handshakes completed.
    pub tls_handshakes: Counter,
    /// TLS handshakes that failed or timed out (plain text on the TLS port, a bad
    /// certificate, a client that stopped half-way).
    pub tls_handshake_failures: Counter,
    /// Subscribers disconnected for passing the output buffer limit (hard or soft).
    pub slow_consumers: Counter,
    /// Of those, how many stayed above the soft limit for longer than its seconds.
    pub soft_limit_disconnections: Counter,
    /// The pub/sub delivery clock: from PUBLISH to each message leaving the server.
    pub delivery: crate::delivery::Delivery,
    /// Bytes read from clients.
    pub bytes_in: Counter,
    /// Bytes written to clients.
    pub bytes_out: Counter,
    /// `pool` backend, a gauge: connections accepted and waiting for a free worker.
    pub pool_queued: AtomicU64,
    /// `pool` backend: microseconds connections waited for a worker before being served, summed.
    pub pool_wait_us_total: Counter,
    /// `pool` backend, a gauge: the longest such wait, in microseconds.
    pub pool_wait_us_max: AtomicU64,
    /// `pool` backend: connections refused because every worker stayed taken (past
    /// `--pool-backlog`, or waiting longer than `--pool-wait-timeout`). They had been admitted,
    /// so they count in `connections_accepted`, not in `connections_refused`.
    pub pool_refused: Counter,
}

impl Stats {
    /// `CONFIG RESETSTAT`: every counter back to zero except the three of the accounting
    /// invariant (`published_receivers`, `delivered`, `dropped`), which hold only over the
    /// server's whole life: messages on their way when they were reset would be delivered
    /// against a total that no longer counts them.
    pub fn reset(&self) {
        let Stats {
            connections_accepted,
            connections_refused,
            commands,
            published,
            published_receivers: _,
            delivered: _,
            dropped: _,
            slow_consumers,
            soft_limit_disconnections,
            delivery,
            bytes_in,
            bytes_out,
            pool_queued: _, // a gauge: what it counts is still there
            pool_wait_us_total,
            pool_wait_us_max,
            pool_refused,
            acl_denied_auth,
            acl_denied_command,
            acl_denied_channel,
            tls_handshakes,
            tls_handshake_failures,
        } = self;
        for counter in [
            connections_accepted,
            connections_refused,
            commands,
            published,
            slow_consumers,
            soft_limit_disconnections,
            bytes_in,
            bytes_out,
            pool_wait_us_total,
            pool_refused,
            acl_denied_auth,
            acl_denied_command,
            acl_denied_channel,
            tls_handshakes,
            tls_handshake_failures,
        ] {
            counter.reset();
        }
        delivery.reset();
        pool_wait_us_max.store(0, Ordering::Relaxed);
    }
}

/// Adds `n` to a counter.
pub fn add(counter: &Counter, n: u64) {
    counter.add(n);
}

/// Reads a counter.
pub fn get(counter: &Counter) -> u64 {
    counter.get()
}

/// The periodic stats line (`--stats-interval`): a thread that sleeps on a condition variable
/// with a timeout, so it logs every interval yet stops the moment it is told to.
pub struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts logging one line of rates and gauges every `interval`, from what `take` reads
    /// at each tick.
    pub fn start(
        interval: Duration,
        take: impl Fn() -> Snapshot + Send + 'static,
    ) -> io::Result<Ticker> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("stats".into()).spawn(move || {
            let (lock, cvar) = &*flag;
            let mut last = take();
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                stopped = cvar
                    .wait_timeout_while(stopped, interval, |stopped| !*stopped)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                if *stopped {
                    return;
                }
                let now = take();
                let secs = now.at.duration_since(last.at).as_secs_f64().max(1e-9);
                let rate = |a: u64, b: u64| ((a.saturating_sub(b)) as f64 / secs).round() as u64;
                tracing::info!(
                    connections = now.connections,
                    commands_per_sec = rate(now.commands, last.commands),
                    published_per_sec = rate(now.published, last.published),
                    delivered_per_sec = rate(now.delivered, last.delivered),
                    dropped = now.dropped,
                    slow_consumers = now.slow_consumers,
                    "stats"
                );
                last = now;
            }
        })?;
        Ok(Ticker { stop, thread: Some(thread) })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a stats line reports, read at one tick; rates compare two.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    at: Instant,
    connections: usize,
    commands: u64,
    published: u64,
    delivered: u64,
    dropped: u64,
    slow_consumers: u64,
}

impl Snapshot {
    /// `stats` and the `connections` being served, now.
    pub fn take(stats: &Stats, connections: usize) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            connections,
            commands: get(&stats.commands),
            published: get(&stats.published),
            delivered: get(&stats.delivered),
            dropped: get(&stats.dropped),
            slow_consumers: get(&stats.slow_consumers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_up_across_threads() {
        let counter = Arc::new(Counter::default());
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| counter.add(2)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(counter.get(), 80_000);
    }

    /// The ticker waits on a condition variable, not a sleep: with an hour-long interval,
    /// dropping it must still return at once. The drop runs on a thread of its own, so a
    /// ticker that waited out its interval fails the test at the deadline instead of hanging it.
    #[test]
    fn ticker_stops_without_waiting_out_its_interval() {
        let stats = Stats::default();
        let ticker =
            Ticker::start(Duration::from_secs(3600), move || Snapshot::take(&stats, 0)).unwrap();
        let (done, stopped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(ticker);
            let _ = done.send(());
        });
        // Far below the interval, far above what a slow machine needs to join a thread.
        let deadline = Duration::from_secs(60);
        assert!(
            stopped.recv_timeout(deadline).is_ok(),
            "the ticker did not stop within {deadline:?}"
        );
    }
}
