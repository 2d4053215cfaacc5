//! `queue`: one poller thread feeding a hand-made worker pool through a bounded queue.
//!
//! The poller (the server's main thread) owns a `polling::Poller` that watches the listener and
//! every connection with oneshot interest. A connection that becomes ready (its socket, or a
//! push into its mailbox) travels through a bounded `crossbeam-channel` (`--queue-depth`) to one
//! of `--workers` threads (default: one per CPU), which feeds the connection's driver what its
//! socket and mailbox have (reading until a short read or the read budget), writes until
//! `WouldBlock`, and re-arms the interest the driver wants. A new connection gets its first
//! turn through the same queue. A full queue is back-pressure, not a refusal: the poller blocks
//! on it until a worker takes a job, and meanwhile new connections wait in the kernel's accept
//! backlog (only `--max-clients` turns clients away).
//! It wins with many connections, mostly idle (subscribers): a fixed number of threads serves
//! them all, and a worker is only busy while a connection has something to do. It loses on
//! latency at low concurrency (every turn is a hand-off from the poller to a worker, and a
//! re-arm system call) and under overload, where every connection, new or old, waits for the
//! workers behind one queue.
//!
//! A connection is never handled by two workers at once: its `scheduled` flag is set by
//! whoever queues it, only if it was clear, and cleared by its worker when the turn ends (which
//! then re-checks `pending` for readiness that arrived during the turn). One worker at a time,
//! in queue order, also keeps each subscriber's messages in publish order. A mailbox wake-up
//! also sets the connection's `mail` flag, so its turn tells the driver, whose latch keeps it
//! until the mailbox is empty.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use polling::{Event, Events, Poller};

use super::sock::{flush, read_into, Input, READ_CHUNK};
use crate::driver::Driver;
use crate::listen::{accept_failure, stop_listening, AcceptFailure, ACCEPT_BACKOFF};
use crate::mailbox::Wake;
use crate::session::Session;
use crate::{ServerContext, Shutdown};

/// Poller key of the shutdown descriptor.
const SHUTDOWN: usize = usize::MAX - 2;
/// Poller key of the first listening socket; listener `i` has `LISTENER - i` (connection keys
/// are slab indexes, far below).
const LISTENER: usize = usize::MAX - 3;
/// Most listeners: the plain port and the TLS port.
const MAX_LISTENERS: usize = 2;
/// Reads one turn may do before the connection goes to the back of the queue, so a client that
/// never stops sending cannot keep a worker to itself.
const READ_BUDGET: usize = 16;

/// What travels through the queue from the poller to the workers.
enum Job {
    /// This connection needs a turn; whoever put it there set its `scheduled` flag.
    Ready(Arc<Conn>),
    /// The sentinel: the worker that takes it exits (one is sent per worker at shutdown).
    Stop,
}

/// Serves every connection with one poller thread and a fixed pool of workers until `shutdown`.
pub fn serve(
    listeners: Vec<TcpListener>,
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let workers = super::Backend::Queue.serving_threads(&ctx.config).unwrap_or(1);
    // A zero-capacity channel would make every hand-off wait for a worker to be receiving.
    let depth = ctx.config.queue_depth.max(1);
    for listener in &listeners {
        listener.set_nonblocking(true)?;
    }
    let poller = Arc::new(Poller::new()?);
    let (jobs, ready) = crossbeam_channel::bounded(depth);
    let shared = Arc::new(Shared::new(ctx, shutdown, poller));
    // SAFETY: the listeners and the shutdown descriptor outlive this function (the listeners
    // are owned here, the descriptor kept open by `shared.shutdown`), and all are deleted below
    // (`clean_up`, or here on failure) before it returns.
    unsafe {
        let mut added =
            shared.poller.add(shared.shutdown.fd().as_fd().as_raw_fd(), Event::readable(SHUTDOWN));
        for (i, listener) in listeners.iter().enumerate() {
            added = added.and_then(|()| shared.poller.add(listener, Event::readable(LISTENER - i)));
        }
        if let Err(e) = added {
            shared.clean_up(&listeners);
            return Err(e);
        }
    }
    let mut threads = Vec::with_capacity(workers);
    let mut result = Ok(());
    for _ in 0..workers {
        let (shared, ready) = (shared.clone(), ready.clone());
        match std::thread::Builder::new().name("queue-worker".into()).spawn(move || {
            shared.work(&ready);
        }) {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // Only the workers receive: if they all died, sending fails instead of blocking forever.
    drop(ready);
    if result.is_ok() {
        shared.ctx.mark_serving();
        result = shared.poll_loop(&listeners, &jobs);
    }
    stop_workers(threads, &jobs);
    shared.clean_up(&listeners);
    result
}

/// Puts one sentinel per worker on the queue, then waits for the workers to exit.
fn stop_workers(threads: Vec<JoinHandle<()>>, jobs: &Sender<Job>) {
    for _ in &threads {
        // Fails only if every worker is gone already.
        let _ = jobs.send(Job::Stop);
    }
    for thread in threads {
        if thread.join().is_err() {
            tracing::warn!("a queue worker panicked");
        }
    }
}

/// What the poller and the workers share.
struct Shared {
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
    poller: Arc<Poller>,
    /// Every open connection, by poller key.
    conns: Mutex<Slab>,
    /// Connections woken through their mailbox, for the poller to queue.
    wakeups: Arc<Wakeups>,
}

/// One connection. Its `live` state is only touched by the worker holding its turn (and by the
/// poller before its first turn), so the lock is never contended; it makes the sharing safe.
struct Conn {
    /// The connection's poller key and slab index.
    key: usize,
    /// Set when something happened (readiness, a mailbox push) that the next turn must see.
    pending: AtomicBool,
    /// Set by a mailbox wake-up, taken by the next turn.
    mail: AtomicBool,
    /// True while the connection is queued or in a worker's turn: whoever sets it queues the
    /// connection, so it is never in the queue twice nor handled by two workers at once.
    scheduled: AtomicBool,
    /// `None` once closed.
    live: Mutex<Option<Live>>,
}

/// An open connection: its socket and its driver.
struct Live {
    /// Declared before the socket, so dropped first: the session leaves its subscriptions
    /// before the peer can see the connection close.
    driver: Driver,
    stream: TcpStream,
}

/// What a worker does with a connection after its turn.
enum Next {
    /// Wait for this (oneshot) interest.
    Wait(Event),
    /// Go to the back of the queue: the read budget is spent and there may be more input.
    Yield,
    /// Close it.
    Close,
}

impl Conn {
    /// Records that the connection needs a turn. Returns true if and only if the caller must
    /// now queue it (it was neither queued nor in a turn).
    fn mark_pending(&self) -> bool {
        self.pending.store(true, SeqCst);
        !self.scheduled.swap(true, SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Shared {
    fn new(ctx: Arc<ServerContext>, shutdown: Shutdown, poller: Arc<Poller>) -> Shared {
        let wakeups = Arc::new(Wakeups { poller: poller.clone(), ready: Mutex::new(Vec::new()) });
        Shared { ctx, shutdown, poller, conns: Mutex::new(Slab::default()), wakeups }
    }

    fn lock_conns(&self) -> MutexGuard<'_, Slab> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The poller thread: turns readiness and wake-ups into jobs, admits new connections, and
    /// once shutdown begins, waits (at most the shutdown timeout) for the connections to close.
    fn poll_loop(&self, listeners: &[TcpListener], jobs: &Sender<Job>) -> io::Result<()> {
        let mut events = Events::new();
        let mut due: Vec<Arc<Conn>> = Vec::new();
        let mut deadline: Option<Instant> = None;
        // The idle timeout, when set, is enforced by a sweep every quarter of it.
        let mut next_sweep = Some(Instant::now() + Session::idle_sweep_period(&self.ctx));
        loop {
            events.clear();
            let wake_at = deadline.into_iter().chain(next_sweep).min();
            let timeout = wake_at.map(|at| at.saturating_duration_since(Instant::now()));
            self.poller.wait(&mut events, timeout)?;
            let mut accept = [false; MAX_LISTENERS];
            for event in events.iter() {
                match event.key {
                    SHUTDOWN => {
                        if deadline.is_none() {
                            deadline = Some(Instant::now() + self.ctx.config.shutdown_timeout);
                            // Stop accepting; connections flush and close in their next turn
                            // (the stopper woke them all).
                            for listener in listeners {
                                self.poller.delete(listener)?;
                                stop_listening(listener);
                            }
                        }
                    }
                    key if key > LISTENER - MAX_LISTENERS && key <= LISTENER => {
                        accept[LISTENER - key] = true;
                    }
                    key => {
                        // A stale key (its connection closed) finds nothing or a newer
                        // connection, which then gets a harmless extra turn.
                        let conn = self.lock_conns().get(key);
                        if let Some(conn) = conn.filter(|c| c.mark_pending()) {
                            due.push(conn);
                        }
                    }
                }
            }
            due.append(&mut self.wakeups.take());
            if next_sweep.is_some_and(|at| Instant::now() >= at) {
                self.sweep_idle(&mut due);
                next_sweep = Some(Instant::now() + Session::idle_sweep_period(&self.ctx));
            }
            for conn in due.drain(..) {
                // Blocks while the queue is full: the workers are busy, so waiting is the
                // back-pressure (and nothing a worker does waits for this thread).
                jobs.send(Job::Ready(conn)).map_err(|_| io::Error::other("queue workers gone"))?;
            }
            for (i, listener) in listeners.iter().enumerate() {
                if accept[i] && deadline.is_none() {
                    self.accept_all(listener, jobs);
                    self.poller.modify(listener, Event::readable(LISTENER - i))?;
                }
            }
            if let Some(deadline) = deadline {
                let left = self.lock_conns().len;
                if left == 0 {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    tracing::warn!(left, "shutdown timeout: closing remaining connections");
                    return Ok(());
                }
            }
        }
    }

    /// Accepts until the backlog is empty.
    fn accept_all(&self, listener: &TcpListener, jobs: &Sender<Job>) {
        loop {
            match listener.accept() {
                Ok((stream, _)) => self.admit(stream, jobs),
                Err(e) => match accept_failure(&e, listener, &self.ctx) {
                    AcceptFailure::RefusedWithSpare => {}
                    AcceptFailure::OutOfDescriptors => {
                        std::thread::sleep(ACCEPT_BACKOFF);
                        return;
                    }
                    AcceptFailure::Drained | AcceptFailure::ConnectionLost => return,
                },
            }
        }
    }

    /// Gives a new connection a session and its first turn, or refuses it when the server has
    /// `max_clients` connections. Blocks while the queue is full (back-pressure, like every
    /// hand-off of the poller).
    fn admit(&self, stream: TcpStream, jobs: &Sender<Job>) {
        let waker = Arc::new(ConnWaker { conn: OnceLock::new(), wakeups: self.wakeups.clone() });
        let session = match self.ctx.open_session(waker.clone(), &stream) {
            Ok(session) => session,
            Err(why) => {
                self.ctx.refuse(stream, why);
                return;
            }
        };
        if let Err(e) = stream.set_nonblocking(true).and_then(|()| stream.set_nodelay(true)) {
            tracing::debug!(conn = session.id(), "cannot set up connection: {e}");
            return;
        }
        let mut conns = self.lock_conns();
        let key = conns.vacant_key();
        // SAFETY: the stream is deleted from the poller before it is dropped: it is only
        // dropped through `close` (a worker's, or `clean_up`'s at exit), which deletes it first.
        if let Err(e) = unsafe { self.poller.add(&stream, Event::none(key)) } {
            tracing::debug!(conn = session.id(), "cannot watch connection: {e}");
            return;
        }
        let live = Live { stream, driver: Driver::new(session, self.ctx.clone(), Instant::now()) };
        let conn = Arc::new(Conn {
            key,
            pending: AtomicBool::new(false),
            mail: AtomicBool::new(false),
            scheduled: AtomicBool::new(true), // queued just below
            live: Mutex::new(Some(live)),
        });
        conns.insert(key, conn.clone());
        drop(conns);
        let _ = waker.conn.set(Arc::downgrade(&conn));
        // Waits while the workers are busy; fails only if they are gone, and then shutdown
        // closes the connection with the others.
        let _ = jobs.send(Job::Ready(conn));
    }

    /// A worker: takes turns until it takes the sentinel.
    fn work(&self, ready: &Receiver<Job>) {
        let mut input = vec![0u8; READ_CHUNK];
        while let Ok(job) = ready.recv() {
            match job {
                Job::Ready(conn) => self.turn(&conn, &mut input),
                Job::Stop => return,
            }
        }
    }

    /// One turn of `conn`, which this worker alone holds (it took it from the queue).
    fn turn(&self, conn: &Arc<Conn>, input: &mut [u8]) {
        loop {
            let mut guard = conn.lock();
            // Closed connections keep `scheduled` set, so nobody queues them again.
            let Some(live) = guard.as_mut() else { return };
            conn.pending.store(false, SeqCst);
            let next = self.advance(live, conn, input).unwrap_or_else(|e| {
                tracing::debug!(conn = live.driver.id(), "connection error: {e}");
                Next::Close
            });
            match next {
                Next::Wait(interest) => {
                    if let Err(e) = self.poller.modify(&live.stream, interest) {
                        tracing::debug!(conn = live.driver.id(), "cannot re-arm: {e}");
                        let live = guard.take();
                        drop(guard);
                        self.close(conn, live);
                        return;
                    }
                    drop(guard);
                    conn.scheduled.store(false, SeqCst);
                    // Readiness or a wake-up that came during the turn found the connection
                    // scheduled and left it to us: take another turn (unless someone else has
                    // queued it since).
                    let missed = conn.pending.load(SeqCst) && !conn.scheduled.swap(true, SeqCst);
                    if !missed {
                        return;
                    }
                }
                Next::Yield => {
                    drop(guard);
                    self.wakeups.push(conn.clone());
                    return;
                }
                Next::Close => {
                    let live = guard.take();
                    drop(guard);
                    self.close(conn, live);
                    return;
                }
            }
        }
    }

    /// Feeds the driver what the socket and the mailbox have and writes what it gives, until
    /// the connection would block; says what next.
    fn advance(&self, live: &mut Live, conn: &Conn, input: &mut [u8]) -> io::Result<Next> {
        let Live { stream, driver } = live;
        if self.shutdown.is_triggered() {
            driver.handle_shutdown();
        }
        if conn.mail.swap(false, SeqCst) {
            driver.handle_mail();
        }
        if driver.poll_deadline().is_some() {
            driver.handle_timeout(Instant::now()); // the sweep may have queued it for this
        }
        let mut reads = 0;
        loop {
            // A short read emptied the socket: skip the read that would only say WouldBlock.
            // Re-arming with `modify` re-checks readiness, so input that arrives meanwhile
            // still raises an event.
            let more = driver.wants().read
                && match read_into(stream, input, driver)? {
                    Input::Fed(n) => {
                        reads += 1;
                        n == input.len()
                    }
                    Input::Empty | Input::Closed => false,
                };
            flush(stream, driver)?;
            if driver.is_done() {
                return Ok(Next::Close);
            }
            if !more {
                break;
            }
            if reads >= READ_BUDGET {
                return Ok(Next::Yield);
            }
        }
        let wants = driver.wants();
        Ok(Next::Wait(Event::new(conn.key, wants.read, wants.write)))
    }

    /// Queues (into `due`) every connection that may have passed a deadline of its driver's;
    /// its worker decides. Connections in a turn are busy, not idle, and are skipped.
    fn sweep_idle(&self, due: &mut Vec<Arc<Conn>>) {
        let now = Instant::now();
        for conn in self.lock_conns().all() {
            let expired = match conn.live.try_lock() {
                Ok(live) => live
                    .as_ref()
                    .is_some_and(|live| live.driver.poll_deadline().is_some_and(|at| now >= at)),
                Err(_) => false,
            };
            if expired && conn.mark_pending() {
                due.push(conn);
            }
        }
    }

    /// Stops watching a connection, forgets it and closes it (`live` is `None` if another
    /// path closed it already).
    fn close(&self, conn: &Conn, live: Option<Live>) {
        let Some(live) = live else { return };
        if let Err(e) = self.poller.delete(&live.stream) {
            tracing::debug!(conn = live.driver.id(), "cannot unwatch connection: {e}");
        }
        // Drops the session (leaving its subscriptions), then the socket.
        drop(live);
        let left = self.lock_conns().remove(conn.key);
        if left == 0 && self.shutdown.is_triggered() {
            // The poller may be waiting for the last connection to go.
            let _ = self.poller.notify();
        }
    }

    /// At exit, with the workers gone: closes the connections still open and unwatches the
    /// listener and the shutdown descriptor.
    fn clean_up(&self, listeners: &[TcpListener]) {
        // Any may be unwatched already; that error means nothing here.
        for listener in listeners {
            let _ = self.poller.delete(listener);
        }
        let _ = self.poller.delete(self.shutdown.fd().as_fd());
        let left = self.lock_conns().all();
        for conn in left {
            let live = conn.lock().take();
            self.close(&conn, live);
        }
        // Break the cycle connection -> mailbox -> waker -> wake list -> connection.
        self.wakeups.take();
    }
}

/// Connections whose mailbox woke them, waiting for the poller to queue them. A push never
/// blocks (it may come from any thread, workers included), so it cannot send on the bounded
/// queue itself: it hands the connection to the poller and wakes it.
struct Wakeups {
    poller: Arc<Poller>,
    ready: Mutex<Vec<Arc<Conn>>>,
}

impl Wakeups {
    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Conn>>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `conn`, whose `scheduled` flag the caller set, to the poller.
    fn push(&self, conn: Arc<Conn>) {
        let mut ready = self.lock();
        let first = ready.is_empty();
        ready.push(conn);
        drop(ready);
        // A non-empty list has already notified a poller that has not taken it yet.
        if first {
            if let Err(e) = self.poller.notify() {
                tracing::warn!("cannot wake the poller: {e}");
            }
        }
    }

    fn take(&self) -> Vec<Arc<Conn>> {
        std::mem::take(&mut *self.lock())
    }
}

/// The mailbox's [`Wake`] for a connection of this backend: marks it pending and, if it was
/// idle, has the poller queue it. No timeout, no polling loop.
struct ConnWaker {
    /// Set right after the connection is built (its session, holding this waker, comes first).
    /// Weak: the connection owns the session that owns this waker.
    conn: OnceLock<Weak<Conn>>,
    wakeups: Arc<Wakeups>,
}

impl Wake for ConnWaker {
    fn wake(&self) {
        let Some(conn) = self.conn.get().and_then(Weak::upgrade) else { return };
        conn.mail.store(true, SeqCst);
        if conn.mark_pending() {
            self.wakeups.push(conn);
        }
    }
}

/// Open connections by poller key, reusing freed keys.
#[derive(Default)]
struct Slab {
    entries: Vec<Option<Arc<Conn>>>,
    /// Indexes of the `None` entries.
    free: Vec<usize>,
    /// Number of `Some` entries.
    len: usize,
}

impl Slab {
    /// The key the next [`insert`](Slab::insert) must use.
    fn vacant_key(&self) -> usize {
        self.free.last().copied().unwrap_or(self.entries.len())
    }

    /// Stores `conn` at `key`, which must be [`vacant_key`](Slab::vacant_key).
    fn insert(&mut self, key: usize, conn: Arc<Conn>) {
        debug_assert_eq!(key, self.vacant_key());
        if key == self.entries.len() {
            self.entries.push(Some(conn));
        } else {
            self.free.pop();
            self.entries[key] = Some(conn);
        }
        self.len += 1;
    }

    fn get(&self, key: usize) -> Option<Arc<Conn>> {
        self.entries.get(key)?.clone()
    }

    /// Forgets the connection at `key` if there is one; returns how many are left.
    fn remove(&mut self, key: usize) -> usize {
        if let Some(entry) = self.entries.get_mut(key) {
            if entry.take().is_some() {
                self.free.push(key);
                self.len -= 1;
            }
        }
        self.len
    }

    /// Every connection (still stored; `remove` forgets them).
    fn all(&self) -> Vec<Arc<Conn>> {
        self.entries.iter().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use std::io::Read;
    use std::net::SocketAddr;

    #[test]
    fn a_full_queue_holds_a_new_connection_back_instead_of_refusing_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let ctx = Arc::new(ServerContext::new(Config::default(), addr));
        let shared =
            Shared::new(ctx.clone(), Shutdown::new().unwrap(), Arc::new(Poller::new().unwrap()));
        let (jobs, ready) = crossbeam_channel::bounded(1);
        jobs.send(Job::Stop).unwrap(); // the queue is full

        let mut client = TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().unwrap();
        std::thread::scope(|s| {
            let admitting = s.spawn(|| shared.admit(stream, &jobs));
            // A worker makes room: the new connection follows, queued rather than refused.
            assert!(matches!(ready.recv().unwrap(), Job::Stop));
            let Job::Ready(conn) = ready.recv().unwrap() else { panic!("not queued") };
            admitting.join().unwrap();
            assert!(conn.lock().is_some());
        });
        assert_eq!(ctx.stats.connections_refused.get(), 0);
        assert_eq!(ctx.connected(), 1);
        assert_eq!(shared.lock_conns().len, 1);
        // Nothing was written to it: no refusal.
        client.set_nonblocking(true).unwrap();
        let err = client.read(&mut [0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        shared.clean_up(std::slice::from_ref(&listener));
    }

    #[test]
    fn slab_reuses_keys() {
        let mut slab = Slab::default();
        let conn = |key| {
            Arc::new(Conn {
                key,
                pending: AtomicBool::new(false),
                mail: AtomicBool::new(false),
                scheduled: AtomicBool::new(false),
                live: Mutex::new(None),
            })
        };
        for expected in 0..3 {
            let key = slab.vacant_key();
            assert_eq!(key, expected);
            slab.insert(key, conn(key));
        }
        assert_eq!(slab.remove(1), 2);
        assert_eq!(slab.remove(1), 2);
        assert!(slab.get(1).is_none());
        assert_eq!(slab.vacant_key(), 1);
        slab.insert(1, conn(1));
        assert_eq!(slab.get(1).unwrap().key, 1);
        assert_eq!(slab.all().len(), 3);
    }
}
