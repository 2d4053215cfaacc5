//! Server-wide counters: plain atomics, updated by every backend, read by `INFO` and
//! `/metrics`; and the periodic stats line.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::ServerContext;

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
    /// `pool` backend, a gauge: connections accepted and waiting for a free worker.
    pub pool_queued: AtomicU64,
    /// `pool` backend: microseconds connections waited for a worker before being served, summed.
    pub pool_wait_us_total: AtomicU64,
    /// `pool` backend: the longest such wait, in microseconds.
    pub pool_wait_us_max: AtomicU64,
}

/// Adds `n` to a counter (relaxed: counters order nothing).
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Reads a counter.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// The periodic stats line (`--stats-interval`): a thread that sleeps on a condition variable
/// with a timeout, so it logs every interval yet stops the moment it is told to.
pub struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts logging one line of rates and gauges every `interval`.
    pub fn start(ctx: Arc<ServerContext>, interval: Duration) -> io::Result<Ticker> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("stats".into()).spawn(move || {
            let (lock, cvar) = &*flag;
            let mut last = Snapshot::take(&ctx);
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                stopped = cvar
                    .wait_timeout_while(stopped, interval, |stopped| !*stopped)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                if *stopped {
                    return;
                }
                let now = Snapshot::take(&ctx);
                let secs = now.at.duration_since(last.at).as_secs_f64().max(1e-9);
                let rate = |a: u64, b: u64| ((a - b) as f64 / secs).round() as u64;
                tracing::info!(
                    connections = ctx.connected(),
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

/// The counters a stats line compares between two ticks.
struct Snapshot {
    at: Instant,
    commands: u64,
    published: u64,
    delivered: u64,
    dropped: u64,
    slow_consumers: u64,
}

impl Snapshot {
    fn take(ctx: &ServerContext) -> Snapshot {
        let s = &ctx.stats;
        Snapshot {
            at: Instant::now(),
            commands: get(&s.commands),
            published: get(&s.published),
            delivered: get(&s.delivered),
            dropped: get(&s.dropped),
            slow_consumers: get(&s.slow_consumers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, ServerContext};

    /// The ticker waits on a condition variable, not a sleep: with an hour-long interval,
    /// dropping it must still return at once (a sleeping ticker would hang this test).
    #[test]
    fn ticker_stops_without_waiting_out_its_interval() {
        let ctx = Arc::new(ServerContext::new(Config::default(), "127.0.0.1:0".parse().unwrap()));
        let ticker = Ticker::start(ctx, Duration::from_secs(3600)).unwrap();
        drop(ticker);
    }
}
