//! `event`: N schedulers over one shared edge-triggered epoll, stealing work from each other.
//!
//! Every socket (listeners, connections) is registered once with one epoll instance that all
//! the schedulers (`--threads`, one per CPU by default) wait on at the same time: the kernel
//! hands each readiness report to one waiting scheduler. (nix's `Epoll`, not `polling`: a
//! `polling::Poller` lets one thread wait at a time.) Connections are registered
//! edge-triggered for input, output and the peer's close, and never re-registered: a report
//! sets a bit in the connection's state word (`runtime::state::State`), and whoever sets it while the
//! connection is idle puts it on its own ready queue. A scheduler runs the connections of its
//! queue; an idle one takes from the global queue (connections woken by their mailbox, from
//! any thread), then steals half of another scheduler's queue (crossbeam-deque), then waits on
//! the epoll. A scheduler that finds more ready connections than it can run at once wakes a
//! waiting one (an eventfd in the same epoll) to steal them. So a ready connection runs on
//! whichever scheduler is free first, and a scheduler thread the OS has descheduled holds no
//! other connection hostage.
//!
//! A connection is an explicit state machine (its driver and its known readiness) that runs
//! one bounded turn at a time (the runtime's `Conn::run`: at most `runtime::READ_BUDGET` reads
//! of 64 KiB, then it goes to the back of the queue), and only one scheduler runs it at a time:
//! its state word says so, and a report or wake-up arriving during its turn makes it run
//! again rather than being lost. Replies stay in request order and messages in publish order.
//! Under edge triggering, readiness is remembered until a read finds the socket drained (a
//! short read or `WouldBlock`): every later arrival, the peer's close included, raises a new
//! report. Deadlines wait in the runtime's timers. Idle connections hold no buffers: the read buffer is
//! the scheduler's, and a driver holds output only while its socket has not taken it all.
//!
//! It wins with many connections, idle or busy: a fixed number of threads, a few hundred bytes
//! per idle connection, replies and messages coalesced into few writes, no context switch
//! between a request and its reply, and no connection waiting behind a busy or descheduled
//! scheduler. It loses when one connection's work is long (its turn holds a scheduler), and
//! pays for sharing: a lookup under a lock per readiness report, and a wake-up of another
//! scheduler when work piles up on one.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::runtime::conn::{After, Conn, Conns, Schedule, Served};
use super::runtime::state::{HANGUP, READABLE, WRITABLE};
use super::runtime::steal::{Local, Queues};
use super::runtime::{stopped, wait_time};
use super::sock::READ_CHUNK;
use crate::listen::{accept_failure, stop_listening, AcceptFailure, ACCEPT_BACKOFF};
use crate::mailbox::WakeFd;
use crate::{ServerContext, Shutdown};

/// Epoll data of the shutdown descriptor.
const SHUTDOWN: u64 = u64::MAX;
/// Epoll data of the eventfd that wakes one waiting scheduler to steal.
const WAKE: u64 = u64::MAX - 1;
/// Epoll data of the eventfd that, once signalled, wakes every scheduler to exit.
const HALT: u64 = u64::MAX - 2;
/// Epoll data of listener `i`: `LISTENER - i` (connections' are their table keys, far below).
const LISTENER: u64 = u64::MAX - 3;
/// Most listeners (the plain port, the TLS port).
const MAX_LISTENERS: usize = 2;
/// Most connections accepted before the listener goes back to the epoll.
const ACCEPT_BATCH: usize = 256;
/// Readiness reports taken in one wait.
const EVENTS: usize = 64;

/// Serves `listeners` with `--threads` schedulers until `shutdown`, then until every
/// connection closed or the shutdown timeout passed.
pub fn serve(
    listeners: Vec<TcpListener>,
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
) -> io::Result<()> {
    assert!(listeners.len() <= MAX_LISTENERS, "at most a plain and a TLS listener");
    let threads = super::Backend::Event.serving_threads(&ctx.config).unwrap_or(1);
    let (queues, locals) = Queues::new(threads, WakeFd::new()?);
    let hub = Arc::new(Hub::new(listeners, ctx.clone(), shutdown, queues)?);
    let mut locals = locals.into_iter().enumerate();
    let first = locals.next().map(|(_, local)| Scheduler::new(&hub, local));
    let mut handles = Vec::with_capacity(threads.saturating_sub(1));
    for (index, local) in locals {
        let scheduler = Scheduler::new(&hub, local);
        match std::thread::Builder::new()
            .name(format!("event-{index}"))
            .spawn(move || scheduler.run())
        {
            Ok(handle) => handles.push(handle),
            // Its queue is empty and stays so: the others serve without it.
            Err(e) => tracing::warn!("cannot start event thread {index}: {e}"),
        }
    }
    ctx.mark_serving();
    let mut result = first.map_or(Ok(()), Scheduler::run);
    for handle in handles {
        let r = handle.join().unwrap_or_else(|_| Err(io::Error::other("event thread panicked")));
        if let Err(e) = r {
            tracing::error!("event thread failed: {e}");
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    hub.clean_up();
    result
}

/// What the schedulers share.
struct Hub {
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
    epoll: Epoll,
    listeners: Vec<TcpListener>,
    conns: Conns,
    /// The ready queues; their waiter is the eventfd (edge-triggered in the epoll) that
    /// interrupts one waiting scheduler.
    queues: Queues<WakeFd>,
    /// Level-triggered: once signalled, every wait returns, and the schedulers exit.
    halt: WakeFd,
    halted: AtomicBool,
    /// Set when shutdown began: the moment remaining connections are abandoned.
    stop: OnceLock<Instant>,
    /// Set while accepting is paused because the process ran out of descriptors.
    accept_resume: Mutex<Option<Instant>>,
}

impl Schedule for Hub {
    fn schedule(&self, conn: Arc<Conn>) {
        self.queues.push_global(conn);
    }
}

impl Hub {
    fn new(
        listeners: Vec<TcpListener>,
        ctx: Arc<ServerContext>,
        shutdown: Shutdown,
        queues: Queues<WakeFd>,
    ) -> io::Result<Hub> {
        let hub = Hub {
            ctx,
            shutdown,
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            listeners,
            conns: Conns::default(),
            queues,
            halt: WakeFd::new()?,
            halted: AtomicBool::new(false),
            stop: OnceLock::new(),
            accept_resume: Mutex::new(None),
        };
        let once = EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT;
        for (i, listener) in hub.listeners.iter().enumerate() {
            listener.set_nonblocking(true)?;
            hub.epoll.add(listener, EpollEvent::new(once, LISTENER - i as u64))?;
        }
        // Whoever sees the shutdown begins it, once (the descriptor stays readable).
        hub.epoll.add(hub.shutdown.fd(), EpollEvent::new(once, SHUTDOWN))?;
        let edge = EpollFlags::EPOLLIN | EpollFlags::EPOLLET;
        hub.epoll.add(hub.queues.waiter(), EpollEvent::new(edge, WAKE))?;
        hub.epoll.add(&hub.halt, EpollEvent::new(EpollFlags::EPOLLIN, HALT))?;
        Ok(hub)
    }

    /// How long a scheduler with nothing to do may wait: until the first deadline, the end of
    /// the shutdown or of an accept back-off, or for ever.
    fn wait_time(&self) -> EpollTimeout {
        let first = self.conns.first_deadline();
        let resume = *self.accept_resume.lock().unwrap_or_else(|e| e.into_inner());
        let moments = [first, resume, self.stop.get().copied()];
        let Some(left) = wait_time(false, moments, Instant::now()) else {
            return EpollTimeout::NONE;
        };
        // Round up, so the moment has passed when the wait returns.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::MAX)
    }

    /// Starts the graceful shutdown: no more accepting, and every connection runs once more
    /// to leave its subscriptions, take its mailbox's last messages and close.
    fn begin_stop(&self, queue: &Local) {
        if self.stop.set(Instant::now() + self.ctx.config.shutdown_timeout).is_err() {
            return;
        }
        *self.accept_resume.lock().unwrap_or_else(|e| e.into_inner()) = None;
        for listener in &self.listeners {
            if let Err(e) = self.epoll.delete(listener) {
                tracing::debug!("cannot unwatch the listener: {e}");
            }
            stop_listening(listener);
        }
        self.conns.wake_all(|conn| queue.push(conn));
        self.queues.notify_one();
        self.check_stop();
    }

    /// Once shutdown began: when no connection is left, or the shutdown timeout passed (the
    /// rest are abandoned), tells every scheduler to exit.
    fn check_stop(&self) {
        let Some(&deadline) = self.stop.get() else { return };
        if self.halted.load(SeqCst) {
            return;
        }
        if stopped(Some(deadline), self.conns.len(), Instant::now())
            && !self.halted.swap(true, SeqCst)
        {
            self.halt.signal();
        }
    }

    /// Stops the schedulers after an error of one of them.
    fn halt(&self) {
        self.halted.store(true, SeqCst);
        self.halt.signal();
    }

    /// Accepts up to a batch of connections on listener `i`, then gives the listener back to
    /// the epoll (unless accepting must pause).
    fn accept(self: &Arc<Hub>, i: usize, queue: &Local) {
        let listener = &self.listeners[i];
        for _ in 0..ACCEPT_BATCH {
            if self.stop.get().is_some() {
                return; // another scheduler began the shutdown: the listener no longer listens
            }
            match listener.accept() {
                Ok((stream, _)) => self.admit(stream, queue),
                Err(e) => match accept_failure(&e, listener, &self.ctx) {
                    AcceptFailure::Drained => break,
                    AcceptFailure::ConnectionLost | AcceptFailure::RefusedWithSpare => {}
                    // Not re-armed until the back-off ends (`Scheduler::check_time`).
                    AcceptFailure::OutOfDescriptors => {
                        let mut resume =
                            self.accept_resume.lock().unwrap_or_else(|e| e.into_inner());
                        *resume = Some(Instant::now() + ACCEPT_BACKOFF);
                        return;
                    }
                },
            }
        }
        self.arm_listener(i);
    }

    fn arm_listener(&self, i: usize) {
        if self.stop.get().is_some() {
            return; // unwatched for good
        }
        let mut event =
            EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT, LISTENER - i as u64);
        if let Err(e) = self.epoll.modify(&self.listeners[i], &mut event) {
            tracing::error!("cannot watch the listener: {e}");
        }
    }

    /// Gives `stream` a session, a key and a first turn, or refuses it.
    fn admit(self: &Arc<Hub>, stream: TcpStream, queue: &Local) {
        let interest = EpollFlags::EPOLLIN
            | EpollFlags::EPOLLOUT
            | EpollFlags::EPOLLRDHUP
            | EpollFlags::EPOLLET;
        let watch = |stream: &TcpStream, key: usize| {
            Ok(self.epoll.add(stream, EpollEvent::new(interest, key as u64))?)
        };
        if let Some(conn) = self.conns.admit(&self.ctx, Arc::downgrade(self), stream, watch) {
            queue.push(conn);
        }
    }

    /// Closes connection `conn`, which its turn ended.
    fn close(&self, conn: &Conn, served: Box<Served>) {
        self.conns.close(conn, served, |stream| Ok(self.epoll.delete(stream)?));
        self.check_stop();
    }

    /// At exit, with every scheduler gone: closes the connections still open and unwatches
    /// everything.
    fn clean_up(&self) {
        self.conns.clean_up(|stream| {
            let _ = self.epoll.delete(stream);
        });
        // Any may be unwatched already; that error means nothing here.
        for listener in &self.listeners {
            let _ = self.epoll.delete(listener);
        }
        let _ = self.epoll.delete(self.shutdown.fd());
        let _ = self.epoll.delete(self.queues.waiter());
        let _ = self.epoll.delete(&self.halt);
    }
}

/// One scheduler thread: its queue and read buffer.
struct Scheduler {
    hub: Arc<Hub>,
    queue: Local,
    /// The read buffer, lent to the connection whose turn it is.
    input: Box<[u8]>,
    events: Vec<EpollEvent>,
    /// Connections reported ready by the last wait, with their state bits.
    reported: Vec<(usize, u8)>,
}

impl Scheduler {
    fn new(hub: &Arc<Hub>, queue: Local) -> Scheduler {
        Scheduler {
            hub: hub.clone(),
            queue,
            input: vec![0; READ_CHUNK].into_boxed_slice(),
            events: vec![EpollEvent::empty(); EVENTS],
            reported: Vec::with_capacity(EVENTS),
        }
    }

    /// The scheduler loop: run ready connections, wait when there are none, until told to
    /// exit.
    fn run(mut self) -> io::Result<()> {
        let result = self.serve();
        if result.is_err() {
            self.hub.halt();
        }
        result
    }

    fn serve(&mut self) -> io::Result<()> {
        while !self.hub.halted.load(SeqCst) {
            if let Some(conn) = self.hub.queues.find(&mut self.queue) {
                self.run_turn(conn);
                if self.queue.turned() {
                    self.poll(EpollTimeout::ZERO)?;
                    self.check_time();
                }
                continue;
            }
            self.check_time();
            if self.queue.is_empty() {
                self.sleep()?;
            }
        }
        Ok(())
    }

    /// Waits on the epoll unless there is work (see [`Queues::sleep`]).
    fn sleep(&mut self) -> io::Result<()> {
        let hub = self.hub.clone();
        hub.queues.sleep(&hub.halted, || self.poll(hub.wait_time()))
    }

    /// Waits at most `timeout` for readiness reports and handles them: connections made
    /// ready go on this scheduler's queue (and a waiting scheduler is woken if there is more
    /// than one to run).
    fn poll(&mut self, timeout: EpollTimeout) -> io::Result<()> {
        let n = match self.hub.epoll.wait(&mut self.events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        for event in &self.events[..n] {
            match event.data() {
                SHUTDOWN => self.hub.begin_stop(&self.queue),
                WAKE => {
                    self.hub.queues.waiter().reset();
                    self.hub.queues.interrupted();
                }
                HALT => {}
                data if data > LISTENER - MAX_LISTENERS as u64 => {
                    self.hub.accept((LISTENER - data) as usize, &self.queue);
                }
                key => self.reported.push((key as usize, bits(event.events()))),
            }
        }
        if !self.reported.is_empty() {
            let queue = &self.queue;
            self.hub.conns.wake(self.reported.drain(..), |conn| queue.push(conn));
        }
        self.hub.queues.share(&self.queue);
        self.hub.check_stop();
        Ok(())
    }

    /// Wakes the connections whose deadline came, and resumes accepting after a back-off.
    fn check_time(&mut self) {
        let now = Instant::now();
        self.hub.conns.expire(now, |conn| self.queue.push(conn));
        let resume = {
            let mut resume = self.hub.accept_resume.lock().unwrap_or_else(|e| e.into_inner());
            resume.take_if(|at| *at <= now).is_some()
        };
        if resume {
            (0..self.hub.listeners.len()).for_each(|i| self.hub.arm_listener(i));
        }
        self.hub.check_stop();
    }

    /// Runs one turn of `conn`, which this scheduler alone holds (it took it from a queue).
    fn run_turn(&mut self, conn: Arc<Conn>) {
        let stopping = self.hub.stop.get().is_some();
        // Edge-triggered and registered for everything: nothing to re-arm.
        match conn.run(&mut self.input, stopping, &self.hub.conns.timers, || {}, |_| Ok(())) {
            After::Parked => {}
            After::Queued => self.queue.push(conn),
            After::Closed(served) => self.hub.close(&conn, served),
        }
    }
}

/// The state bits of an epoll report.
fn bits(flags: EpollFlags) -> u8 {
    let hangup = EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR;
    let mut bits = 0;
    if flags.contains(EpollFlags::EPOLLIN) {
        bits |= READABLE;
    }
    if flags.intersects(hangup) {
        bits |= HANGUP;
    }
    if flags.intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
        bits |= WRITABLE;
    }
    bits
}
