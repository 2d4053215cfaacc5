//! `pool`: a fixed pool of worker threads (the `threadpool` crate), one connection per worker.
//!
//! The accept loop turns every connection into a pool job; the job occupies its worker until the
//! connection closes, blocking in one `poll` over the socket and the mailbox's wake descriptor,
//! exactly like a thread-pool echo server. Thread count and memory stay fixed (`--workers`,
//! default 128) however many clients connect, and there is no thread start-up per connection.
//! It wins with many short-lived connections (request, reply, close) and a known peak. It loses
//! with long-lived ones: a subscriber holds its worker *forever*, so once `--workers`
//! subscribers are connected, connection number N+1 waits in the pool's queue, accepted but
//! unanswered, until one of them leaves. That wait is visible in `INFO stats`
//! (`pool_queued_connections`, `pool_wait_time_us_total`, `pool_wait_time_us_max`). At shutdown,
//! connections still waiting are closed without being served.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::dedicated::{
    accept_until_shutdown, admit, serve_admitted, wait_for_connections, Admitted,
};
use crate::stats::{add, Stats};
use crate::{ServerContext, Shutdown};

/// Workers when `--workers` is not given.
pub const DEFAULT_WORKERS: usize = 128;

/// Serves every connection on a worker of a fixed pool until `shutdown`.
pub fn serve(listener: TcpListener, ctx: Arc<ServerContext>, shutdown: Shutdown) -> io::Result<()> {
    let workers = super::Backend::Pool.serving_threads(&ctx.config).unwrap_or(DEFAULT_WORKERS);
    let pool = threadpool::Builder::new().num_threads(workers).thread_name("pool".into()).build();
    let waiting = Arc::new(Waiting::default());
    let jobs = Arc::new(Jobs::default());
    let mut next_ticket = 0u64;
    ctx.mark_serving(); // the pool's workers were all started by `build`
    let accepted = accept_until_shutdown(&listener, &ctx, &shutdown, |stream| {
        let peer = stream.peer_addr().ok();
        // Admitted at once: a connection waiting for a worker is a client like any other
        // (it counts against --max-clients, and a refusal is immediate).
        let Some(conn) = admit(stream, &ctx) else { return }; // refused
        next_ticket += 1;
        let ticket = next_ticket;
        waiting.put(ticket, conn, &ctx.stats);
        let running = jobs.start();
        let (ctx, shutdown, waiting) = (ctx.clone(), shutdown.clone(), waiting.clone());
        pool.execute(move || {
            let _running = running;
            // Gone if shutdown closed it while it waited.
            let Some(conn) = waiting.take(ticket, &ctx.stats) else { return };
            if shutdown.is_triggered() {
                return; // never started: closed, not served
            }
            if let Err(e) = serve_admitted(conn, &ctx, &shutdown) {
                tracing::debug!(?peer, "connection error: {e}");
            }
        });
    });
    let deadline = Instant::now() + ctx.config.shutdown_timeout;
    let closed = waiting.close_all(&ctx.stats);
    if closed > 0 {
        tracing::info!(closed, "shutdown: closed connections still waiting for a worker");
    }
    wait_for_connections(&ctx, deadline);
    if !jobs.wait_done(deadline) {
        tracing::warn!("shutdown timeout: pool workers still busy");
    }
    // Dropping the pool lets its workers exit once their current job (if any) returns.
    accepted
}

/// Accepted connections waiting for a worker, by ticket, with the time they were accepted.
#[derive(Default)]
struct Waiting(Mutex<HashMap<u64, (Admitted, Instant)>>);

impl Waiting {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, (Admitted, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, ticket: u64, conn: Admitted, stats: &Stats) {
        let mut waiting = self.lock();
        waiting.insert(ticket, (conn, Instant::now()));
        stats.pool_queued.store(waiting.len() as u64, Ordering::Relaxed);
    }

    /// Takes connection `ticket` for a worker and records how long it waited; `None` if it was
    /// closed in the meantime.
    fn take(&self, ticket: u64, stats: &Stats) -> Option<Admitted> {
        let mut waiting = self.lock();
        let (conn, since) = waiting.remove(&ticket)?;
        stats.pool_queued.store(waiting.len() as u64, Ordering::Relaxed);
        drop(waiting);
        let waited = since.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
        add(&stats.pool_wait_us_total, waited);
        stats.pool_wait_us_max.fetch_max(waited, Ordering::Relaxed);
        Some(conn)
    }

    /// Closes every waiting connection; returns how many there were.
    fn close_all(&self, stats: &Stats) -> usize {
        let mut waiting = self.lock();
        let closed = waiting.len();
        waiting.clear();
        stats.pool_queued.store(0, Ordering::Relaxed);
        closed
    }
}

/// Counts jobs handed to the pool and not finished, so shutdown can wait for them with a
/// deadline (the pool's own `join` has none).
#[derive(Default)]
struct Jobs {
    count: Mutex<usize>,
    done: Condvar,
}

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one more job until the returned guard is dropped (also when the job panics).
    fn start(self: &Arc<Self>) -> Running {
        *self.lock() += 1;
        Running(self.clone())
    }

    /// Waits until no job is left or `deadline` passes; true if and only if none is left.
    fn wait_done(&self, deadline: Instant) -> bool {
        let mut count = self.lock();
        while *count > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            count =
                self.done.wait_timeout(count, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

/// One job of [`Jobs`], counted until dropped.
struct Running(Arc<Jobs>);

impl Drop for Running {
    fn drop(&mut self) {
        let mut count = self.0.lock();
        *count -= 1;
        if *count == 0 {
            self.0.done.notify_all();
        }
    }
}
