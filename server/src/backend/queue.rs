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
//! A connection is never handled by two workers at once: its state word (the runtime's) is
//! queued by whoever finds it idle, and a readiness report or wake-up arriving during a turn
//! makes the worker queue it again when the turn ends. One worker at a time, in queue order,
//! also keeps each subscriber's messages in publish order. Deadlines wait in the runtime's
//! timers, which the poller's wait is bounded by (no sweep over every connection).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use polling::{Event, Events, Poller};

use super::runtime::conn::{After, Conn, Conns, Schedule, Served};
use super::runtime::state::{READABLE, WRITABLE};
use super::runtime::{stopped, wait_time};
use super::sock::READ_CHUNK;
use crate::listen::{accept_failure, stop_listening, AcceptFailure, ACCEPT_BACKOFF};
use crate::{ServerContext, Shutdown};

/// Poller key of the shutdown descriptor.
const SHUTDOWN: usize = usize::MAX - 2;
/// Poller key of the first listening socket; listener `i` has `LISTENER - i` (connection keys
/// are table keys, far below).
const LISTENER: usize = usize::MAX - 3;
/// Most listeners: the plain port and the TLS port.
const MAX_LISTENERS: usize = 2;

/// What travels through the queue from the poller to the workers.
enum Job {
    /// This connection needs a turn; whoever put it there found it idle (its state word).
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
    let dispatch = Arc::new(Dispatch::new(ctx, shutdown, poller));
    // SAFETY: the listeners and the shutdown descriptor outlive this function (the listeners
    // are owned here, the descriptor kept open by `dispatch.shutdown`), and all are deleted
    // below (`clean_up`, or here on failure) before it returns.
    unsafe {
        let mut added = dispatch
            .poller
            .add(dispatch.shutdown.fd().as_fd().as_raw_fd(), Event::readable(SHUTDOWN));
        for (i, listener) in listeners.iter().enumerate() {
            added =
                added.and_then(|()| dispatch.poller.add(listener, Event::readable(LISTENER - i)));
        }
        if let Err(e) = added {
            dispatch.clean_up(&listeners);
            return Err(e);
        }
    }
    let mut threads = Vec::with_capacity(workers);
    let mut result = Ok(());
    for _ in 0..workers {
        let (dispatch, ready) = (dispatch.clone(), ready.clone());
        match std::thread::Builder::new().name("queue-worker".into()).spawn(move || {
            dispatch.work(&ready);
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
        dispatch.ctx.mark_serving();
        result = dispatch.poll_loop(&listeners, &jobs);
    }
    stop_workers(threads, &jobs);
    dispatch.clean_up(&listeners);
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
struct Dispatch {
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
    poller: Arc<Poller>,
    /// Every open connection, by poller key, and their deadlines (which bound the poller's
    /// wait).
    conns: Conns,
    /// Connections woken through their mailbox, for the poller to queue.
    wakeups: Arc<Wakeups>,
}

impl Dispatch {
    fn new(ctx: Arc<ServerContext>, shutdown: Shutdown, poller: Arc<Poller>) -> Dispatch {
        let wakeups = Arc::new(Wakeups { poller: poller.clone(), ready: Mutex::new(Vec::new()) });
        Dispatch { ctx, shutdown, poller, conns: Conns::default(), wakeups }
    }

    /// The poller thread: turns readiness, wake-ups and deadlines into jobs, admits new
    /// connections, and once shutdown begins, waits (at most the shutdown timeout) for the
    /// connections to close.
    fn poll_loop(&self, listeners: &[TcpListener], jobs: &Sender<Job>) -> io::Result<()> {
        let mut events = Events::new();
        let mut due: Vec<Arc<Conn>> = Vec::new();
        let mut deadline: Option<Instant> = None;
        loop {
            events.clear();
            let first = self.conns.first_deadline();
            let timeout = wait_time(false, [deadline, first, None], Instant::now());
            self.poller.wait(&mut events, timeout)?;
            let mut accept = [false; MAX_LISTENERS];
            for event in events.iter() {
                match event.key {
                    SHUTDOWN => {
                        if deadline.is_none() {
                            deadline = Some(Instant::now() + self.ctx.config.shutdown_timeout);
                            // Stop accepting; every connection leaves its subscriptions,
                            // flushes and closes in its next turn.
                            for listener in listeners {
                                self.poller.delete(listener)?;
                                stop_listening(listener);
                            }
                            self.conns.wake_all(|conn| due.push(conn));
                        }
                    }
                    key if key > LISTENER - MAX_LISTENERS && key <= LISTENER => {
                        accept[LISTENER - key] = true;
                    }
                    key => {
                        let bits = if event.readable { READABLE } else { 0 }
                            | if event.writable { WRITABLE } else { 0 };
                        self.conns.wake([(key, bits)], |conn| due.push(conn));
                    }
                }
            }
            due.append(&mut self.wakeups.take());
            self.conns.expire(Instant::now(), |conn| due.push(conn));
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
            if deadline.is_some() && stopped(deadline, self.conns.len(), Instant::now()) {
                return Ok(());
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
        // SAFETY: the stream is deleted from the poller before it is dropped: it is only
        // dropped through `close` (a worker's, or `clean_up`'s at exit), which deletes it first.
        let watch = |stream: &TcpStream, key| unsafe { self.poller.add(stream, Event::none(key)) };
        let Some(conn) = self.conns.admit(&self.ctx, Arc::downgrade(&self.wakeups), stream, watch)
        else {
            return;
        };
        // Waits while the workers are busy; fails only if they are gone, and then shutdown
        // closes the connection with the others.
        let _ = jobs.send(Job::Ready(conn));
    }

    /// A worker: takes turns until it takes the sentinel.
    fn work(&self, ready: &Receiver<Job>) {
        let mut input = vec![0u8; READ_CHUNK];
        while let Ok(job) = ready.recv() {
            match job {
                Job::Ready(conn) => self.turn(conn, &mut input),
                Job::Stop => return,
            }
        }
    }

    /// One turn of `conn`, which this worker alone holds (it took it from the queue).
    fn turn(&self, conn: Arc<Conn>, input: &mut [u8]) {
        let stopping = self.shutdown.is_triggered();
        let notify = || {
            // Its deadline is now the first: the poller must wait less.
            let _ = self.poller.notify();
        };
        // Oneshot interest: re-armed for what the driver wants before the turn ends.
        let rearm = |served: &Served| {
            let wants = served.driver.wants();
            self.poller.modify(&served.stream, Event::new(conn.key(), wants.read, wants.write))
        };
        match conn.run(input, stopping, &self.conns.timers, notify, rearm) {
            After::Parked => {}
            After::Queued => self.wakeups.push(conn),
            After::Closed(served) => self.close(&conn, served),
        }
    }

    /// Closes connection `conn`, which its turn ended.
    fn close(&self, conn: &Conn, served: Box<Served>) {
        let left = self.conns.close(conn, served, |stream| self.poller.delete(stream));
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
        self.conns.clean_up(|stream| {
            let _ = self.poller.delete(stream);
        });
        // Drop what waits to be queued, closed now.
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

    /// Hands `conn`, which the caller found idle (its state word), to the poller.
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

impl Schedule for Wakeups {
    fn schedule(&self, conn: Arc<Conn>) {
        self.push(conn);
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
        let dispatch =
            Dispatch::new(ctx.clone(), Shutdown::new().unwrap(), Arc::new(Poller::new().unwrap()));
        let (jobs, ready) = crossbeam_channel::bounded(1);
        jobs.send(Job::Stop).unwrap(); // the queue is full

        let mut client = TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().unwrap();
        std::thread::scope(|s| {
            let admitting = s.spawn(|| dispatch.admit(stream, &jobs));
            // A worker makes room: the new connection follows, queued rather than refused.
            assert!(matches!(ready.recv().unwrap(), Job::Stop));
            let Job::Ready(conn) = ready.recv().unwrap() else { panic!("not queued") };
            admitting.join().unwrap();
            assert!(conn.is_open());
        });
        assert_eq!(ctx.stats.connections_refused.get(), 0);
        assert_eq!(ctx.connected(), 1);
        assert_eq!(dispatch.conns.len(), 1);
        // Nothing was written to it: no refusal.
        client.set_nonblocking(true).unwrap();
        let err = client.read(&mut [0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        dispatch.clean_up(std::slice::from_ref(&listener));
    }
}
