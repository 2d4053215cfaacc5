//! `pool`: a fixed pool of worker threads (the `threadpool` crate), one connection per worker.
//!
//! A worker owns the connection it serves until that connection closes, blocking in one `poll`
//! over the socket and the mailbox's wake descriptor, exactly like a thread-pool echo server.
//! Thread count and memory stay fixed (`--workers`, default 128) however many clients connect,
//! and there is no thread start-up per connection. It wins with many short-lived connections
//! (request, reply, close) and a known peak. It loses with long-lived ones: idle clients,
//! subscribers or slow senders hold their workers for as long as they stay, so once
//! `--workers` of them are connected, connection number N+1 waits, accepted but unanswered.
//!
//! That wait is bounded. Connections past the workers wait in a FIFO queue; a worker whose
//! connection closes takes the oldest. At most `--pool-backlog` wait (the next is refused at
//! once), and none longer than `--pool-wait-timeout`: the accept loop sleeps at most until the
//! oldest one's deadline, and refuses it when it passes. Each refusal says why
//! (`-ERR server busy: all N pool workers are taken ...`), is counted
//! (`pool_refused_connections`) and logged at most once per interval. The wait is visible in
//! `INFO stats` (`pool_queued_connections`, `pool_wait_time_us_total`, `pool_wait_time_us_max`).
//! At shutdown, connections still waiting are closed without being served.

use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::dedicated::{
    accept_until_shutdown, admit, serve_admitted, wait_for_connections, Admitted,
};
use crate::refusal::Refused;
use crate::stats::{add, Stats};
use crate::{ServerContext, Shutdown};

/// Workers when `--workers` is not given.
pub const DEFAULT_WORKERS: usize = 128;

/// Serves every connection on a worker of a fixed pool until `shutdown`.
pub fn serve(
    listeners: Vec<TcpListener>,
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let workers = super::Backend::Pool.serving_threads(&ctx.config).unwrap_or(DEFAULT_WORKERS);
    let pool = threadpool::Builder::new().num_threads(workers).thread_name("pool".into()).build();
    let waiting = Arc::new(Waiting::new(workers, ctx.config.pool_backlog));
    let wait_timeout = ctx.config.pool_wait_timeout;
    ctx.mark_serving(); // the pool's workers were all started by `build`
    let run = |first: Admitted, since: Instant| {
        let (ctx, shutdown, waiting) = (ctx.clone(), shutdown.clone(), waiting.clone());
        pool.execute(move || waiting.work(first, since, &ctx, &shutdown));
    };
    let accepted = accept_until_shutdown(
        &listeners,
        &ctx,
        &shutdown,
        |stream| {
            if let Some(why) = waiting.full() {
                // Refused before it is given a session: it never was a client.
                ctx.refuse(stream, why);
                return;
            }
            // Admitted at once: a connection waiting for a worker is a client like any other
            // (it counts against --max-clients, and that refusal is immediate).
            let Some(conn) = admit(stream, &ctx) else { return }; // refused
            if let Some((conn, since)) = waiting.arrive(conn, Instant::now(), &ctx.stats) {
                run(conn, since);
            }
        },
        |now| {
            let timeout = wait_timeout?;
            for conn in waiting.expired(now, timeout, &ctx.stats) {
                let why = Refused::PoolWaitTimeout { workers, waited: timeout };
                ctx.refuse(conn.into_stream(), why);
            }
            waiting.oldest().map(|since| since + timeout)
        },
    );
    let deadline = Instant::now() + ctx.config.shutdown_timeout;
    let closed = waiting.close_all(&ctx.stats);
    if closed > 0 {
        tracing::info!(closed, "shutdown: closed connections still waiting for a worker");
    }
    wait_for_connections(&ctx, deadline);
    if !waiting.wait_done(deadline) {
        tracing::warn!("shutdown timeout: pool workers still busy");
    }
    // Dropping the pool lets its workers exit once their current job (if any) returns.
    accepted
}

/// Who holds the workers, and the connections waiting for one.
struct Waiting {
    workers: usize,
    backlog: usize,
    state: Mutex<State>,
    /// Signalled when `busy` drops to 0.
    done: Condvar,
}

#[derive(Default)]
struct State {
    /// Workers serving connections (jobs handed to the pool and not finished); never more than
    /// `workers`. `queue` is empty unless `busy == workers` (but for a moment after a job
    /// panicked: the next arrival then takes the free worker for the oldest waiting).
    busy: usize,
    /// Connections waiting for a worker, oldest first, with the time each arrived.
    queue: VecDeque<(Admitted, Instant)>,
}

impl Waiting {
    fn new(workers: usize, backlog: usize) -> Waiting {
        Waiting { workers, backlog, state: Mutex::default(), done: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why a new connection cannot even wait, if it cannot: every worker is taken and the
    /// backlog is full. (Only the accept loop adds, so a `None` stays true until it adds.)
    fn full(&self) -> Option<Refused> {
        let state = self.lock();
        (state.busy >= self.workers && state.queue.len() >= self.backlog)
            .then_some(Refused::PoolBacklogFull { workers: self.workers, backlog: self.backlog })
    }

    /// Queues `conn`, arrived at `now`; if a worker is free, takes it for the oldest waiting
    /// connection, returned (with its arrival time) to be run.
    fn arrive(&self, conn: Admitted, now: Instant, stats: &Stats) -> Option<(Admitted, Instant)> {
        let mut state = self.lock();
        state.queue.push_back((conn, now));
        let run = if state.busy < self.workers {
            state.busy += 1;
            state.queue.pop_front()
        } else {
            None
        };
        stats.pool_queued.store(state.queue.len() as u64, Ordering::Relaxed);
        run
    }

    /// When the oldest waiting connection arrived.
    fn oldest(&self) -> Option<Instant> {
        self.lock().queue.front().map(|(_, since)| *since)
    }

    /// Takes out the connections that have waited `timeout` or longer at `now`.
    fn expired(&self, now: Instant, timeout: Duration, stats: &Stats) -> Vec<Admitted> {
        let mut state = self.lock();
        let mut expired = Vec::new();
        while state.queue.front().is_some_and(|(_, since)| now >= *since + timeout) {
            expired.extend(state.queue.pop_front().map(|(conn, _)| conn));
        }
        stats.pool_queued.store(state.queue.len() as u64, Ordering::Relaxed);
        expired
    }

    /// A worker's job: serves `first` (waiting since `since`), then the oldest waiting
    /// connection each time one closes, until none waits.
    fn work(&self, first: Admitted, since: Instant, ctx: &Arc<ServerContext>, shutdown: &Shutdown) {
        // Gives the worker back if serving panics.
        let mut held = Held(Some(self));
        let (mut conn, mut since) = (first, since);
        loop {
            record_wait(since, &ctx.stats);
            if shutdown.is_triggered() {
                drop(conn); // never started: closed, not served
            } else if let Err(e) = serve_admitted(conn, ctx, shutdown) {
                tracing::debug!("connection error: {e}");
            }
            match self.next_or_release(&ctx.stats) {
                Some(next) => (conn, since) = next,
                None => {
                    held.0 = None; // released by `next_or_release`
                    return;
                }
            }
        }
    }

    /// The oldest waiting connection for a worker that is free, or `None` after giving the
    /// worker back (in one step, so no connection can queue behind a worker that is leaving).
    fn next_or_release(&self, stats: &Stats) -> Option<(Admitted, Instant)> {
        let mut state = self.lock();
        let next = state.queue.pop_front();
        stats.pool_queued.store(state.queue.len() as u64, Ordering::Relaxed);
        if next.is_none() {
            self.release(&mut state);
        }
        next
    }

    fn release(&self, state: &mut State) {
        state.busy -= 1;
        if state.busy == 0 {
            self.done.notify_all();
        }
    }

    /// Closes every waiting connection; returns how many there were.
    fn close_all(&self, stats: &Stats) -> usize {
        let mut state = self.lock();
        let closed = state.queue.len();
        state.queue.clear();
        stats.pool_queued.store(0, Ordering::Relaxed);
        closed
    }

    /// Waits until no worker is busy or `deadline` passes; true if and only if none is.
    fn wait_done(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        while state.busy > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state =
                self.done.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

/// A worker taken by a job; gives it back when dropped while still set (a panicking job).
struct Held<'a>(Option<&'a Waiting>);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(waiting) = self.0 {
            waiting.release(&mut waiting.lock());
        }
    }
}

/// Records how long a connection waited for its worker.
fn record_wait(since: Instant, stats: &Stats) {
    let waited = since.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
    add(&stats.pool_wait_us_total, waited);
    stats.pool_wait_us_max.fetch_max(waited, Ordering::Relaxed);
}
