//! `event`: N single-threaded schedulers, each running its connections as coroutines.
//!
//! Each scheduler thread owns a `polling::Poller`, its own `SO_REUSEPORT` listener (the kernel
//! spreads new connections over the schedulers), a slab of connections whose index is the
//! poller key, and a ready queue. A connection is an explicit state machine rather than an
//! `async fn`, but it is still the generator-style coroutine of the recipe: a resumable unit
//! that keeps its own state between turns (readiness seen, its driver), that the scheduler
//! resumes when its readiness arrives, that runs one bounded turn (one read of at most 64 KiB
//! fed to the driver, the mailbox's wake-up, then write until the driver has nothing left or
//! the socket would block) and then parks on what its driver wants. Interest is level-triggered
//! and `modify`d only when it changes (write interest only while output is blocked), so a
//! request costs one `read` and one `write` and no `epoll_ctl`: oneshot interest
//! would re-arm after every event, and edge triggering would need an extra read until
//! `WouldBlock` not to miss a FIN that arrived with the last request. Publishers on other
//! schedulers reach a connection through its mailbox, whose waker pushes the connection's key
//! onto its scheduler's remote queue and calls `Poller::notify` when that queue was empty: a
//! pollable queue. Idle connections hold no buffers: the read buffer belongs to the scheduler,
//! and a driver holds output only while its socket has not taken it all.
//!
//! It wins with many connections, idle or busy: a fixed number of threads (`--threads`, one per
//! CPU by default), a few hundred bytes per idle connection, replies and messages coalesced
//! into few writes, and no context switch between a request and its reply. It loses when one
//! connection's work is long (everything else on its scheduler waits for the turn to end), and
//! when the kernel spreads the load unevenly: a busy scheduler never hands connections to an
//! idle one.

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Instant;

use polling::{Event, Events, PollMode, Poller};

use super::per_thread::{self, Interrupt, Loop, ReadyQueue};
use super::sock::{flush, read_into, READ_CHUNK};
use crate::driver::{Driver, Interest};
use crate::listen::{accept_failure, AcceptFailure, ACCEPT_BACKOFF};
use crate::session::Session;
use crate::{ServerContext, Shutdown};

/// Poller key of the shutdown descriptor.
const SHUTDOWN: usize = 0;
/// Poller keys of the scheduler's listeners (the plain port, the TLS port): listener `i` has
/// key `LISTENER + i`.
const LISTENER: usize = 1;
/// Most listeners.
const MAX_LISTENERS: usize = 2;
/// Poller key of the connection in slab slot 0; slot `i` has key `FIRST_CONN + i`.
const FIRST_CONN: usize = LISTENER + MAX_LISTENERS;

/// Most connections accepted in one turn of the loop.
const ACCEPT_BATCH: usize = 256;

/// Serves `listeners` (and one more `SO_REUSEPORT` listener per port for each extra scheduler)
/// with `--threads` schedulers until `shutdown`, then until every connection closed or the
/// shutdown timeout passed.
pub fn serve(
    listeners: Vec<TcpListener>,
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let threads = super::Backend::Event.serving_threads(&ctx.config).unwrap_or(1);
    let make = {
        let ctx = ctx.clone();
        move |listeners| Scheduler::new(listeners, &ctx, &shutdown)
    };
    per_thread::serve(listeners, &ctx, threads, "event", make)
}

impl Interrupt for Poller {
    fn interrupt(&self) {
        if let Err(e) = self.notify() {
            tracing::error!("cannot wake scheduler: {e}");
        }
    }
}

/// One connection: the coroutine's saved state between turns.
struct Conn {
    /// Declared before the socket, so dropped first: the session leaves its subscriptions
    /// before the peer can see the connection close.
    driver: Driver,
    stream: TcpStream,
    /// The poller reported the socket readable since the last read.
    readable: bool,
    /// False from a write that would block until the poller reports the socket writable.
    writable: bool,
    /// The mailbox woke the connection since its last turn.
    mail: bool,
    /// True if and only if the connection's key is in the ready queue.
    queued: bool,
    /// The interest registered with the poller.
    interest: Interest,
}

struct Scheduler {
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
    /// The remote ready queue, and the poller it interrupts.
    shared: Arc<ReadyQueue<Poller>>,
    /// Empty once shutdown began.
    listeners: Vec<TcpListener>,
    /// Set while accepting is paused because the process ran out of descriptors.
    accept_resume: Option<Instant>,
    /// The slab: slot `i` holds the connection with key `FIRST_CONN + i`.
    conns: Vec<Option<Conn>>,
    /// Empty slots of `conns`.
    free: Vec<usize>,
    /// Connections in `conns`.
    live: usize,
    /// Keys of connections to run, each at most once (see [`Conn::queued`]).
    ready: VecDeque<usize>,
    /// Swapped with `shared.woken` to take the remote wakes without allocating.
    woken: Vec<usize>,
    events: Events,
    /// The read buffer, lent to the connection whose turn it is: also the most one connection
    /// reads in one turn, so that none can hold the others up.
    input: Box<[u8]>,
    /// When shutdown began, the moment remaining connections are abandoned.
    deadline: Option<Instant>,
    /// With `--timeout`: when to next look for idle connections.
    next_sweep: Option<Instant>,
}

impl Loop for Scheduler {
    /// The scheduler loop: wait for readiness, run the ready connections, until shutdown is
    /// complete.
    fn run(mut self) -> io::Result<()> {
        self.shared.enter();
        loop {
            self.take_woken();
            let moments = [self.deadline, self.accept_resume, self.next_sweep];
            let timeout = per_thread::wait_time(!self.ready.is_empty(), moments);
            self.events.clear();
            self.shared.waiter.wait(&mut self.events, timeout)?;
            let mut accept = [false; MAX_LISTENERS];
            for event in self.events.iter() {
                match event.key {
                    SHUTDOWN => {} // seen through the flag below
                    key if key < FIRST_CONN => accept[key - LISTENER] = true,
                    key => {
                        let Some(conn) = slot(&mut self.conns, key) else { continue };
                        conn.readable |= event.readable;
                        conn.writable |= event.writable;
                        schedule(&mut self.ready, conn, key);
                    }
                }
            }
            self.take_woken();
            if self.shutdown.is_triggered() && self.deadline.is_none() {
                self.begin_stop();
            }
            if self.accept_resume.is_some_and(|at| Instant::now() >= at) {
                self.resume_accepting();
            }
            for (i, accept) in accept.into_iter().enumerate() {
                if accept {
                    self.accept(i);
                }
            }
            if self.next_sweep.is_some_and(|at| Instant::now() >= at) {
                self.close_idle();
            }
            // One round over the connections that were ready when it began.
            for _ in 0..self.ready.len() {
                let Some(key) = self.ready.pop_front() else { break };
                self.run_turn(key);
            }
            if per_thread::stopped(self.deadline, self.live) {
                return Ok(());
            }
        }
    }
}

impl Scheduler {
    fn new(
        listeners: Vec<TcpListener>,
        ctx: &Arc<ServerContext>,
        shutdown: &Shutdown,
    ) -> io::Result<Scheduler> {
        assert!(listeners.len() <= MAX_LISTENERS, "at most a plain and a TLS listener");
        let shared = ReadyQueue::new(Poller::new()?);
        for (i, listener) in listeners.iter().enumerate() {
            listener.set_nonblocking(true)?;
            // SAFETY: a listener is deleted from the poller before it is dropped (`begin_stop`,
            // `Drop for Scheduler`, or just below if adding the next one fails).
            let added = unsafe {
                shared.waiter.add_with_mode(
                    listener,
                    Event::readable(LISTENER + i),
                    PollMode::Level,
                )
            };
            if let Err(e) = added {
                for earlier in &listeners[..i] {
                    let _ = shared.waiter.delete(earlier);
                }
                return Err(e);
            }
        }
        // SAFETY: the shutdown descriptor is shared with the server and outlives the scheduler,
        // which deletes it from the poller when it is dropped.
        unsafe { shared.waiter.add(shutdown.fd().as_fd().as_raw_fd(), Event::readable(SHUTDOWN))? };
        Ok(Scheduler {
            ctx: ctx.clone(),
            shutdown: shutdown.clone(),
            shared,
            listeners,
            accept_resume: None,
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            ready: VecDeque::new(),
            woken: Vec::new(),
            events: Events::new(),
            input: vec![0; READ_CHUNK].into_boxed_slice(),
            deadline: None,
            next_sweep: Some(Instant::now() + Session::idle_sweep_period(ctx)),
        })
    }

    /// Moves the connections woken by their mailboxes into the ready queue.
    fn take_woken(&mut self) {
        self.shared.take(&mut self.woken);
        for key in self.woken.drain(..) {
            // A key whose connection is gone (or was replaced) is a harmless spurious wake.
            if let Some(conn) = slot(&mut self.conns, key) {
                conn.mail = true;
                schedule(&mut self.ready, conn, key);
            }
        }
    }

    /// Accepts up to a batch of connections on listener `i`.
    fn accept(&mut self, i: usize) {
        for _ in 0..ACCEPT_BATCH {
            let Some(listener) = self.listeners.get(i) else { return };
            match listener.accept() {
                Ok((stream, _)) => self.admit(stream),
                Err(e) => match accept_failure(&e, listener, &self.ctx) {
                    AcceptFailure::Drained => return,
                    AcceptFailure::ConnectionLost | AcceptFailure::RefusedWithSpare => {}
                    // Stop watching the listener for a moment (not sleeping: the scheduler
                    // has other connections to run).
                    AcceptFailure::OutOfDescriptors => {
                        for (j, listener) in self.listeners.iter().enumerate() {
                            let paused =
                                self.shared.waiter.modify(listener, Event::none(LISTENER + j));
                            if let Err(e) = paused {
                                tracing::error!("cannot pause the listener: {e}");
                            }
                        }
                        self.accept_resume = Some(Instant::now() + ACCEPT_BACKOFF);
                        return;
                    }
                },
            }
        }
    }

    fn resume_accepting(&mut self) {
        self.accept_resume = None;
        for (i, listener) in self.listeners.iter().enumerate() {
            let interest = Event::readable(LISTENER + i);
            if let Err(e) = self.shared.waiter.modify_with_mode(listener, interest, PollMode::Level)
            {
                tracing::error!("cannot resume the listener: {e}");
            }
        }
    }

    /// Gives `stream` a session and a slot, or refuses it.
    fn admit(&mut self, stream: TcpStream) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let key = FIRST_CONN + index;
        let waker = self.shared.waker(key);
        let session = match self.ctx.open_session(waker, &stream) {
            Ok(session) => session,
            Err(why) => {
                self.free.push(index);
                self.ctx.refuse(stream, why);
                return;
            }
        };
        if let Err(e) = stream.set_nonblocking(true).and_then(|()| stream.set_nodelay(true)) {
            tracing::debug!("cannot set up a connection: {e}");
            self.free.push(index);
            return;
        }
        // SAFETY: a connection's stream is deleted from the poller before it is dropped
        // (`close` and `Drop for Scheduler`), and it is only dropped with its slot.
        let interest = Interest { read: true, write: false };
        let added = unsafe {
            self.shared.waiter.add_with_mode(&stream, event(interest, key), PollMode::Level)
        };
        if let Err(e) = added {
            tracing::warn!("cannot watch a connection: {e}");
            self.free.push(index);
            return;
        }
        self.conns[index] = Some(Conn {
            stream,
            driver: Driver::new(session, self.ctx.clone(), Instant::now()),
            readable: false,
            writable: true,
            mail: false,
            queued: false,
            interest,
        });
        self.live += 1;
    }

    /// Starts the graceful shutdown: no more accepting, and every connection runs once more
    /// to take its mailbox's last messages and close.
    fn begin_stop(&mut self) {
        self.deadline = Some(Instant::now() + self.ctx.config.shutdown_timeout);
        self.accept_resume = None;
        for listener in std::mem::take(&mut self.listeners) {
            if let Err(e) = self.shared.waiter.delete(&listener) {
                tracing::error!("cannot unwatch the listener: {e}");
            }
        }
        for (index, conn) in self.conns.iter_mut().enumerate() {
            if let Some(conn) = conn {
                schedule(&mut self.ready, conn, FIRST_CONN + index);
            }
        }
    }

    /// Tells every driver the time, and closes those it says are done (`--timeout`: a sweep
    /// every quarter of the timeout, so a connection goes between 1 and 1.25 timeouts idle).
    fn close_idle(&mut self) {
        let every = Session::idle_sweep_period(&self.ctx);
        let now = Instant::now();
        self.next_sweep = Some(now + every);
        for index in 0..self.conns.len() {
            let Some(conn) = self.conns[index].as_mut() else { continue };
            conn.driver.handle_timeout(now);
            if conn.driver.is_done() {
                self.close(FIRST_CONN + index);
            } else if !conn.driver.poll_output().is_empty() {
                schedule(&mut self.ready, conn, FIRST_CONN + index); // it has something to say
            }
        }
    }

    /// Resumes connection `key` for one turn.
    fn run_turn(&mut self, key: usize) {
        let Some(conn) = slot(&mut self.conns, key) else { return };
        conn.queued = false;
        if conn.turn(&mut self.input, self.deadline.is_some()) {
            let wanted = conn.driver.wants();
            if wanted == conn.interest {
                return;
            }
            let event = event(wanted, key);
            match self.shared.waiter.modify_with_mode(&conn.stream, event, PollMode::Level) {
                Ok(()) => {
                    conn.interest = wanted;
                    return;
                }
                Err(e) => tracing::debug!(conn = conn.driver.id(), "cannot watch: {e}"),
            }
        }
        self.close(key);
    }

    /// Closes connection `key` and frees its slot.
    fn close(&mut self, key: usize) {
        let index = key - FIRST_CONN;
        if let Some(conn) = self.conns[index].take() {
            if let Err(e) = self.shared.waiter.delete(&conn.stream) {
                tracing::debug!("cannot unwatch a connection: {e}");
            }
            self.free.push(index);
            self.live -= 1;
            // Dropping the session leaves its subscriptions and accounts for its messages.
            drop(conn);
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Every source leaves the poller before it is closed.
        for key in FIRST_CONN..FIRST_CONN + self.conns.len() {
            self.close(key);
        }
        for listener in &self.listeners {
            let _ = self.shared.waiter.delete(listener);
        }
        let _ = self.shared.waiter.delete(self.shutdown.fd());
    }
}

/// The connection with poller key `key`, if that slot is in use.
fn slot(conns: &mut [Option<Conn>], key: usize) -> Option<&mut Conn> {
    conns.get_mut(key.checked_sub(FIRST_CONN)?)?.as_mut()
}

/// Puts `conn` (key `key`) in the ready queue unless it is there already.
fn schedule(ready: &mut VecDeque<usize>, conn: &mut Conn, key: usize) {
    if !conn.queued {
        conn.queued = true;
        ready.push_back(key);
    }
}

impl Conn {
    /// One turn of the coroutine, with the scheduler's read buffer. Returns true if and only
    /// if the connection stays open.
    fn turn(&mut self, input: &mut [u8], stopping: bool) -> bool {
        let driver = &mut self.driver;
        if stopping {
            driver.handle_shutdown();
        }
        if mem::take(&mut self.mail) {
            driver.handle_mail();
        }
        // Level-triggered: input left after this read is reported again on the next wait.
        if mem::take(&mut self.readable) && driver.wants().read {
            if let Err(e) = read_into(&mut self.stream, input, driver) {
                tracing::debug!(conn = driver.id(), "read: {e}");
                return false;
            }
        }
        if self.writable {
            match flush(&mut self.stream, driver) {
                Ok(blocked) => self.writable = !blocked,
                Err(e) => {
                    tracing::debug!(conn = driver.id(), "write: {e}");
                    return false;
                }
            }
        }
        !driver.is_done()
    }
}

/// The poller interest for what a driver wants.
fn event(wants: Interest, key: usize) -> Event {
    match (wants.read, wants.write) {
        (true, true) => Event::all(key),
        (true, false) => Event::readable(key),
        (false, true) => Event::writable(key),
        (false, false) => Event::none(key),
    }
}
