//! `uring`: N threads, each one io_uring ring over its own connections: completion-based I/O.
//!
//! Each thread owns a ring, its own `SO_REUSEPORT` listener with one multishot accept armed
//! on it, a slab of connections and a ready queue. Nothing waits for readiness: every
//! connection that wants input has one receive in flight that the kernel completes into a
//! buffer it picks from the ring's provided-buffer ring (so an idle connection holds no read
//! buffer), and every connection with output has one send in flight. A turn of the loop takes
//! every completion, feeds each to its connection's driver, runs the connections that have
//! something to do, queues their receives and sends, and submits all of them, for every
//! connection at once, in the one `io_uring_enter` that also waits for the next completions:
//! one system call per turn however many connections wrote, where a readiness model makes a
//! `write` per connection and an `epoll_wait`. Publishers on other threads reach a connection
//! through its mailbox, whose waker pushes the connection's key onto its ring's remote queue
//! and writes the ring's eventfd when that queue was empty; the ring always has a read of that
//! eventfd in flight, so the wake-up is one more completion.
//!
//! A send's bytes must stay where they are until the kernel completes it, while the driver
//! keeps appending to its output (and may reallocate it), so the bytes in flight are a copy
//! (at most [`SEND_CHUNK`]) that the connection owns; the driver is told what went when the
//! send completes, exactly as after a `write`. Every buffer the kernel may touch (send copies,
//! provided buffers, the eventfd counter) lives until the completion of the operation using
//! it: a connection that closes drops its driver at once (so its session ends) but keeps its
//! socket and its send copy until its operations, cancelled, have completed; the ring, when it
//! stops, cancels everything and waits for the last completion before it frees anything.
//!
//! It wins where a readiness model spends its time entering the kernel: many connections
//! writing in the same turn (a fan-out to many subscribers, many clients each sending a
//! little), where one `io_uring_enter` replaces a `write` per connection and the wait. It
//! does not win when each turn has one connection to serve (a lone client in ping-pong: one
//! enter per turn either way, plus the copy and the ring's bookkeeping), nor where the cost is
//! the TCP stack itself (large payloads, the kernel's copy and the wake-up of the reader are
//! the same for both models). On loopback that is most of a small message's delivery: at a
//! modest fan-out rate, with one message per send, 80-86% of the server's CPU is under
//! `tcp_sendmsg` for every model, redis-server's included (`bench/fanout-profile.sh`: on
//! loopback the receiving side of each segment and the reader's wake-up run in the sender's
//! context), so saving the system calls takes at most the rest off.
//!
//! Unlike `event`, a ring's connections stay with it: a completion belongs to the ring that
//! submitted the operation (its provided buffer, its send copy, its `user_data` key), and the
//! ring is set up for one submitting thread, so no other thread can run them. When the OS
//! deschedules a ring's thread (another busy process on the machine), every connection of
//! that ring waits for it, and one connection's long turn delays the ring's others; the
//! kernel may also spread connections unevenly over the rings. A round bounds its reading:
//! receives are armed after the round's sends, at most `RECV_BUDGET` of them. io_uring must be
//! available: kernels before 6.1, `kernel.io_uring_disabled` and seccomp profiles (Docker's
//! default) refuse it, and the backend then fails at start saying which ([`unavailable`]).

use std::alloc::{self, Layout};
use std::collections::VecDeque;
use std::io;
use std::mem::{self, ManuallyDrop};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring, Probe};

use super::per_thread::{self, Loop, ReadyQueue};
use super::runtime::table::Table;
use super::runtime::timers::Timers;
use super::runtime::{prepare, stopped, wait_time, News};
use crate::driver::Driver;
use crate::listen::{accept_failure, AcceptFailure, ACCEPT_BACKOFF};
use crate::mailbox::WakeFd;
use crate::{ServerContext, Shutdown};

/// Submission queue entries per ring (more are submitted in several steps within a turn).
const SQ_ENTRIES: u32 = 1024;
/// Completion queue entries per ring; the kernel keeps what overflows (`IORING_FEAT_NODROP`).
const CQ_ENTRIES: u32 = 16 * 1024;
/// Provided receive buffers per ring (a power of two), and their size: the most one
/// connection reads in one completion, and so the most its input may exceed the driver's
/// bound by (the driver's rule for a receive already in flight when it stopped wanting input).
const BUFFERS: u16 = 256;
const BUFFER_SIZE: usize = 16 * 1024;
/// The id of each ring's group of provided buffers.
const BUFFER_GROUP: u16 = 0;
/// Most receives armed in one round of the loop (after the round's sends): a ring full of
/// busy senders reads a bounded amount per round while every receiver's send goes out.
const RECV_BUDGET: usize = 32;
/// Most bytes of a driver's output copied into one send.
const SEND_CHUNK: usize = 64 * 1024;
/// Send copies kept for reuse per ring (idle connections hold none).
const SPARE_SENDS: usize = 64;
/// How long a stopping ring waits for the completions of its cancelled operations before it
/// gives up and leaks their buffers rather than free memory the kernel may still use.
const CANCEL_PATIENCE: Duration = Duration::from_secs(2);

/// What an operation is, in the low bits of its `user_data`; the rest is the connection's
/// slab index for the per-connection kinds.
const KIND_BITS: u32 = 3;
const ACCEPT: u64 = 0;
const WAKE: u64 = 1;
const SHUTDOWN: u64 = 2;
const RECV: u64 = 3;
const SEND: u64 = 4;
/// Cancelling one connection's operations (counted as one of its operations).
const CANCEL_CONN: u64 = 5;
/// Any other cancellation (the accept, everything at the end).
const CANCEL: u64 = 6;

/// The `user_data` of listener `index`'s multishot accept.
fn accept_data(index: usize) -> u64 {
    ACCEPT | (index as u64) << KIND_BITS
}

/// Why io_uring cannot serve here, or `None` if it can: the kernel refused to set up a ring
/// (no io_uring, `kernel.io_uring_disabled`, a seccomp filter), or it lacks what this backend
/// uses (kernel 6.1: multishot accept, provided-buffer rings, deferred task running). Probed
/// once per process.
pub fn unavailable() -> Option<&'static str> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON.get_or_init(|| probe().err()).as_deref()
}

fn probe() -> Result<(), String> {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if disabled == 2 {
        return Err(
            "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled = 2)".into()
        );
    }
    let ring = match new_ring(8) {
        Ok(ring) => ring,
        Err(e) => return Err(setup_refused(&e, disabled)),
    };
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("cannot probe io_uring's operations: {e}"))?;
    let needed = [
        ("accept", opcode::AcceptMulti::CODE),
        ("recv", opcode::Recv::CODE),
        ("send", opcode::Send::CODE),
        ("read", opcode::Read::CODE),
        ("poll", opcode::PollAdd::CODE),
        ("cancel", opcode::AsyncCancel2::CODE),
    ];
    if let Some((name, _)) = needed.iter().find(|(_, code)| !probe.is_supported(*code)) {
        return Err(format!("this kernel's io_uring has no {name} operation"));
    }
    if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
        return Err("this kernel's io_uring is too old (kernel 6.1 or later is needed)".into());
    }
    let buffers = Buffers::new(&ring, 1).map_err(|e| {
        format!("io_uring cannot register provided buffers (kernel 6.1 or later is needed): {e}")
    })?;
    let _ = ring.submitter().unregister_buf_ring(BUFFER_GROUP);
    drop(buffers);
    Ok(())
}

/// The reason for an `io_uring_setup` failure, in words.
fn setup_refused(e: &io::Error, disabled: u32) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (io_uring_setup: ENOSYS)".into(),
        Some(libc::EPERM) | Some(libc::EACCES) => {
            let why = if disabled == 1 {
                "sysctl kernel.io_uring_disabled = 1 allows only members of kernel.io_uring_group"
            } else if seccomp_filtered() {
                "a seccomp filter blocks it (Docker's default profile does)"
            } else {
                "not permitted"
            };
            format!("io_uring_setup refused: {why} ({e})")
        }
        Some(libc::EINVAL) => {
            format!("this kernel's io_uring is too old (kernel 6.1 or later is needed): {e}")
        }
        _ => format!("io_uring_setup failed: {e}"),
    }
}

/// Returns true if and only if this process runs under a seccomp filter.
fn seccomp_filtered() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().any(|l| l.strip_prefix("Seccomp:").is_some_and(|v| v.trim() == "2"))
}

/// A ring set up for one thread: only that thread submits, and the kernel runs completion
/// work when that thread waits (no interrupt of whatever it is doing).
fn new_ring(entries: u32) -> io::Result<IoUring> {
    IoUring::builder()
        .setup_cqsize((entries * 16).min(CQ_ENTRIES))
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries)
}

/// Serves `listeners` (the plain port, and the TLS port when there is one; and one more
/// `SO_REUSEPORT` listener per port for each extra ring) with `--threads` rings until
/// `shutdown`, then until every connection closed or the shutdown timeout passed.
pub fn serve(
    listeners: Vec<TcpListener>,
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
) -> io::Result<()> {
    if let Some(why) = unavailable() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("io_uring is unavailable: {why}"),
        ));
    }
    let threads = super::Backend::Uring.serving_threads(&ctx.config).unwrap_or(1);
    let make = {
        let ctx = ctx.clone();
        move |listeners| Ring::new(listeners, &ctx, &shutdown)
    };
    per_thread::serve(listeners, &ctx, threads, "uring", make)
}

/// The ring's provided receive buffers: one allocation of [`BUFFERS`] buffers and the
/// buffer ring through which they are lent to the kernel, which takes one per completed
/// receive; each is handed back (and the ring's tail published) once its bytes were fed to a
/// driver.
struct Buffers {
    /// The buffer ring: `count` entries, page aligned, registered with the kernel.
    entries: *mut BufRingEntry,
    layout: Layout,
    /// The buffers, `count * BUFFER_SIZE` bytes. Never moved nor freed while registered.
    memory: Box<[u8]>,
    count: u16,
    /// The next tail to publish.
    tail: u16,
}

impl Buffers {
    /// Registers `count` (a power of two) buffers with `ring` and lends them all.
    fn new(ring: &IoUring, count: u16) -> io::Result<Buffers> {
        let layout = Layout::from_size_align(count as usize * mem::size_of::<BufRingEntry>(), 4096)
            .map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size; the memory is zeroed as the kernel requires
        // (the tail starts at 0).
        let entries = unsafe { alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut buffers = Buffers {
            entries,
            layout,
            memory: vec![0; count as usize * BUFFER_SIZE].into_boxed_slice(),
            count,
            tail: 0,
        };
        // SAFETY: `entries` holds `count` entries and stays allocated, unmoved, until `Drop`,
        // which the owners run only after unregistering the group (`Ring::drop`, `probe`).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(entries as u64, count, BUFFER_GROUP, 0)?
        };
        for bid in 0..count {
            buffers.lend(bid);
        }
        buffers.publish();
        Ok(buffers)
    }

    /// Bytes `..len` of buffer `bid`, filled by a completed receive.
    fn get(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * BUFFER_SIZE;
        &self.memory[start..start + len.min(BUFFER_SIZE)]
    }

    /// Puts buffer `bid` back in the ring (seen by the kernel after [`Buffers::publish`]).
    fn lend(&mut self, bid: u16) {
        let index = (self.tail & (self.count - 1)) as usize;
        let addr = self.memory.as_ptr() as u64 + (bid as usize * BUFFER_SIZE) as u64;
        // SAFETY: `index < count`, inside the allocation; the kernel reads entries only up to
        // the published tail, and this one is past it until `publish`.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(addr);
        entry.set_len(BUFFER_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Lets the kernel see every buffer lent so far.
    fn publish(&self) {
        // SAFETY: the tail field lives inside the first entry of the live allocation, and the
        // kernel reads it as an atomic u16; the release store orders the entries before it.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the kernel no longer uses it (see there).
        unsafe { alloc::dealloc(self.entries.cast(), self.layout) };
    }
}

/// The submission side of a ring: entries that did not fit wait in `backlog`, and every
/// operation in flight is counted until its last completion.
struct Io {
    ring: IoUring,
    /// Entries to submit once the submission queue has room, in order.
    backlog: VecDeque<squeue::Entry>,
    /// Operations submitted (or waiting in `backlog`) whose last completion has not arrived.
    in_flight: usize,
}

impl Io {
    /// Queues `entry` for the next submission.
    ///
    /// # Safety
    /// Every buffer and descriptor `entry` names must stay valid and unmoved until its last
    /// completion has been taken from the ring.
    unsafe fn push(&mut self, entry: squeue::Entry) {
        self.in_flight += 1;
        if !self.backlog.is_empty() || !self.try_push(&entry) {
            self.backlog.push_back(entry);
        }
    }

    /// Pushes `entry` onto the submission queue, submitting what is there first if it is full.
    fn try_push(&mut self, entry: &squeue::Entry) -> bool {
        // SAFETY: the caller of `push` vouched for the entry's buffers.
        if unsafe { self.ring.submission().push(entry) }.is_ok() {
            return true;
        }
        if self.ring.submit().is_err() {
            return false; // busy: the completion queue must be emptied first
        }
        // SAFETY: as above.
        unsafe { self.ring.submission().push(entry) }.is_ok()
    }

    /// Moves waiting entries onto the submission queue while there is room.
    fn flush_backlog(&mut self) {
        while let Some(entry) = self.backlog.pop_front() {
            if !self.try_push(&entry) {
                self.backlog.push_front(entry);
                return;
            }
        }
    }

    /// Submits everything queued and waits for at least one completion, at most `timeout`
    /// (`None`: no limit; zero: only what has completed already).
    fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_backlog();
        let submitter = self.ring.submitter();
        let result = match timeout {
            None => submitter.submit_and_wait(1),
            Some(timeout) => {
                let ts = Timespec::from(timeout);
                submitter.submit_with_args(1, &SubmitArgs::new().timespec(&ts))
            }
        };
        match result {
            Ok(_) => Ok(()),
            // Timed out, interrupted, or completions to take first.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// One connection.
struct Conn {
    stream: TcpStream,
    /// `None` once the connection is closing: its session is over, and the slot is freed when
    /// its last operation completes.
    driver: Option<Driver>,
    /// The bytes of the send in flight or to resume: always a prefix of what the driver has
    /// still to write, `send[sent..]` not yet taken by the socket. Owned here, untouched while
    /// a send is in flight.
    send: Vec<u8>,
    sent: usize,
    /// A send is in flight (its buffer is `send`).
    sending: bool,
    /// A receive is in flight.
    receiving: bool,
    /// Operations in flight (receive, send, cancellation).
    ops: u8,
    /// Its operations were cancelled (it is closing).
    cancelled: bool,
    /// The mailbox woke the connection since its last turn.
    mail: bool,
    /// True if and only if the connection's key is in the ready queue.
    queued: bool,
    /// The deadline entered in the ring's timers for it.
    timer: Option<Instant>,
}

struct Ring {
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
    /// The remote ready queue, and the eventfd it signals (a read of it is always in flight).
    shared: Arc<ReadyQueue<WakeFd>>,
    /// Connections by key (closing connections included), each boxed: the table's slots stay
    /// 8 bytes, so its doubling leaves little slack, and no connection moves when it grows.
    conns: Table<Box<Conn>>,
    /// The connections' deadlines.
    timers: Timers,
    /// Keys of connections to run, each at most once (see [`Conn::queued`]).
    ready: VecDeque<usize>,
    /// Swapped with `shared.woken` to take the remote wakes without allocating.
    woken: Vec<usize>,
    /// Connections whose receive found no free buffer, to resume once buffers are back.
    starved: Vec<usize>,
    /// Connections whose turn in this round wants a receive armed.
    to_receive: Vec<usize>,
    /// Completions taken from the ring, to handle.
    completions: Vec<(u64, i32, u32)>,
    /// Send copies kept for reuse.
    spare_sends: Vec<Vec<u8>>,
    /// Where the eventfd's counter is read to; the read is always in flight until the end.
    wake_count: Box<u64>,
    /// The listeners, by index (the accept's `user_data` key); each `None` once shutdown began
    /// and its accept completed for good.
    listeners: Vec<Option<TcpListener>>,
    /// The multishot accept of each listener is armed.
    accepting: Vec<bool>,
    /// Set while accepting is paused because the process ran out of descriptors.
    accept_resume: Option<Instant>,
    /// When shutdown began, the moment remaining connections are abandoned.
    deadline: Option<Instant>,
    /// Freed by `Drop for Ring` once no operation is in flight and the group is unregistered.
    bufs: ManuallyDrop<Buffers>,
    io: Io,
}

impl Loop for Ring {
    /// The ring's loop: submit, wait, handle completions, run the ready connections, until
    /// shutdown is complete.
    fn run(mut self) -> io::Result<()> {
        self.shared.enter();
        loop {
            self.take_woken();
            let moments = [self.deadline, self.accept_resume, self.timers.next()];
            let timeout = wait_time(!self.ready.is_empty(), moments, Instant::now());
            self.io.submit_and_wait(timeout)?;
            self.handle_completions();
            self.take_woken();
            if self.shutdown.is_triggered() && self.deadline.is_none() {
                self.begin_stop();
            }
            if self.accept_resume.is_some_and(|at| Instant::now() >= at) {
                self.accept_resume = None;
                self.arm_accept();
            }
            self.expire();
            // One round over the connections that were ready when it began.
            for _ in 0..self.ready.len() {
                let Some(key) = self.ready.pop_front() else { break };
                self.run_turn(key);
            }
            self.arm_receives();
            if stopped(self.deadline, self.conns.len(), Instant::now()) {
                return Ok(());
            }
        }
    }
}

impl Ring {
    fn new(
        listeners: Vec<TcpListener>,
        ctx: &Arc<ServerContext>,
        shutdown: &Shutdown,
    ) -> io::Result<Ring> {
        // Non-blocking for the spare descriptor's synchronous accept (`accept_failure`).
        for listener in &listeners {
            listener.set_nonblocking(true)?;
        }
        let ring = new_ring(SQ_ENTRIES)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot set up io_uring: {e}")))?;
        let bufs = Buffers::new(&ring, BUFFERS)?;
        let shared = ReadyQueue::new(WakeFd::blocking()?);
        let mut ring = Ring {
            ctx: ctx.clone(),
            shutdown: shutdown.clone(),
            shared,
            conns: Table::default(),
            timers: Timers::default(),
            ready: VecDeque::new(),
            woken: Vec::new(),
            starved: Vec::new(),
            to_receive: Vec::new(),
            completions: Vec::new(),
            spare_sends: Vec::new(),
            wake_count: Box::new(0),
            accepting: vec![false; listeners.len()],
            listeners: listeners.into_iter().map(Some).collect(),
            accept_resume: None,
            deadline: None,
            bufs: ManuallyDrop::new(bufs),
            io: Io { ring, backlog: VecDeque::new(), in_flight: 0 },
        };
        ring.arm_accept();
        ring.arm_wake();
        let poll = opcode::PollAdd::new(Fd(shutdown.fd().as_fd().as_raw_fd()), libc::POLLIN as u32)
            .build()
            .user_data(SHUTDOWN);
        // SAFETY: no buffer; the shutdown descriptor is shared with the server and outlives
        // the ring, which cancels the poll and waits for it before it is dropped.
        unsafe { ring.io.push(poll) };
        Ok(ring)
    }

    /// Moves the connections woken by their mailboxes into the ready queue.
    fn take_woken(&mut self) {
        self.shared.take(&mut self.woken);
        for key in self.woken.drain(..) {
            // A key whose connection is gone (or was replaced) is a harmless spurious wake.
            if let Some(conn) = self.conns.get_mut(key) {
                conn.mail = true;
                schedule(&mut self.ready, conn, key);
            }
        }
    }

    /// Arms the multishot accept of every listener, unless it is armed, paused or over.
    fn arm_accept(&mut self) {
        if self.accept_resume.is_some() || self.deadline.is_some() {
            return;
        }
        for (index, listener) in self.listeners.iter().enumerate() {
            let Some(listener) = listener else { continue };
            if self.accepting[index] {
                continue;
            }
            let accept = opcode::AcceptMulti::new(Fd(listener.as_raw_fd()))
                .flags(libc::SOCK_CLOEXEC)
                .build()
                .user_data(accept_data(index));
            // SAFETY: no buffer; the listener is kept open until the accept's last completion
            // (`on_accept` drops it only then).
            unsafe { self.io.push(accept) };
            self.accepting[index] = true;
        }
    }

    /// Arms the read of the wake eventfd.
    fn arm_wake(&mut self) {
        let read = opcode::Read::new(
            Fd(self.shared.waiter.as_fd().as_raw_fd()),
            (&mut *self.wake_count as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(WAKE);
        // SAFETY: `wake_count` is boxed (it never moves) and the eventfd is held by `shared`;
        // both live until the ring has taken this read's completion (see `Drop for Ring`).
        unsafe { self.io.push(read) };
    }

    /// Takes every completion from the ring and hands each to its owner.
    fn handle_completions(&mut self) {
        let mut completions = mem::take(&mut self.completions);
        completions
            .extend(self.io.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
        let now = Instant::now();
        let mut lent = false;
        for &(data, result, flags) in &completions {
            if !cqueue::more(flags) {
                self.io.in_flight -= 1;
            }
            let key = (data >> KIND_BITS) as usize;
            match data & ((1 << KIND_BITS) - 1) {
                ACCEPT => self.on_accept(key, result, flags),
                WAKE => self.arm_wake(),
                SHUTDOWN | CANCEL => {} // the loop looks at the flag; cancellations need nothing
                kind => {
                    if let Some(bid) = cqueue::buffer_select(flags) {
                        if kind == RECV && result > 0 {
                            if let Some(driver) =
                                self.conns.get_mut(key).and_then(|c| c.driver.as_mut())
                            {
                                driver.handle_read(self.bufs.get(bid, result as usize), now);
                            }
                        }
                        self.bufs.lend(bid);
                        lent = true;
                    }
                    self.on_conn_completion(key, kind, result);
                }
            }
        }
        completions.clear();
        self.completions = completions;
        if lent {
            self.bufs.publish();
            for key in mem::take(&mut self.starved) {
                if let Some(conn) = self.conns.get_mut(key) {
                    schedule(&mut self.ready, conn, key);
                }
            }
        }
    }

    /// A completion of connection `key`'s operation `kind` (its input, if any, already fed).
    fn on_conn_completion(&mut self, key: usize, kind: u64, result: i32) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.ops -= 1;
        match kind {
            RECV => {
                conn.receiving = false;
                if let Some(driver) = conn.driver.as_mut() {
                    match result {
                        0 => driver.handle_eof(),
                        n if n > 0 => {}
                        n if -n == libc::ENOBUFS => self.starved.push(key),
                        n if -n == libc::ECANCELED || -n == libc::EINTR => {}
                        n => {
                            let e = io::Error::from_raw_os_error(-n);
                            tracing::debug!(conn = driver.id(), "read: {e}");
                            driver.handle_eof(); // done, as when the peer closes
                        }
                    }
                }
            }
            SEND => {
                conn.sending = false;
                match (conn.driver.as_mut(), result) {
                    (Some(driver), n) if n > 0 => {
                        driver.handle_written(n as usize);
                        conn.sent += n as usize;
                        if conn.sent == conn.send.len() {
                            conn.sent = 0;
                            let mut send = mem::take(&mut conn.send);
                            if self.spare_sends.len() < SPARE_SENDS {
                                send.clear();
                                self.spare_sends.push(send);
                            }
                        }
                    }
                    // Resubmitted by the next turn.
                    (Some(_), n) if -n == libc::EINTR || -n == libc::EAGAIN => {}
                    (Some(driver), n) => {
                        let e = if n == 0 {
                            io::ErrorKind::WriteZero.into()
                        } else {
                            io::Error::from_raw_os_error(-n)
                        };
                        tracing::debug!(conn = driver.id(), "write: {e}");
                        driver.handle_eof(); // done: nothing more can reach the peer
                    }
                    (None, _) => {}
                }
            }
            _ => {} // CANCEL_CONN
        }
        if conn.driver.is_none() {
            if conn.ops == 0 {
                self.release(key);
            }
        } else {
            schedule(&mut self.ready, conn, key);
        }
    }

    /// A completion of the multishot accept of listener `index`.
    fn on_accept(&mut self, index: usize, result: i32, flags: u32) {
        let armed = cqueue::more(flags);
        if !armed {
            self.accepting[index] = false;
        }
        if result >= 0 {
            // SAFETY: a successful accept's result is a new descriptor that we own.
            let stream = unsafe { TcpStream::from_raw_fd(result as RawFd) };
            if self.deadline.is_none() {
                self.admit(stream);
            } // else: shutting down, closed at once (as the listener's backlog is)
        } else if let Some(Some(listener)) = self.listeners.get(index) {
            let e = io::Error::from_raw_os_error(-result);
            if -result != libc::ECANCELED {
                match accept_failure(&e, listener, &self.ctx) {
                    AcceptFailure::Drained
                    | AcceptFailure::ConnectionLost
                    | AcceptFailure::RefusedWithSpare => {}
                    AcceptFailure::OutOfDescriptors => {
                        self.accept_resume = Some(Instant::now() + ACCEPT_BACKOFF);
                        if armed {
                            self.cancel(accept_data(index));
                        }
                    }
                }
            }
        }
        if self.deadline.is_some() && !self.accepting[index] {
            // The accept is over: nothing uses the listener any more (closing it refuses the
            // connections still arriving).
            self.listeners[index] = None;
        }
        self.arm_accept();
    }

    /// Cancels the operation whose `user_data` is `data`.
    fn cancel(&mut self, data: u64) {
        let cancel =
            opcode::AsyncCancel2::new(CancelBuilder::user_data(data)).build().user_data(CANCEL);
        // SAFETY: a cancellation names no buffer and no descriptor.
        unsafe { self.io.push(cancel) };
    }

    /// Gives `stream` a session and a slot, or refuses it.
    fn admit(&mut self, stream: TcpStream) {
        let key = self.conns.vacant_key();
        let waker = self.shared.waker(key);
        let session = match self.ctx.open_session(waker, &stream) {
            Ok(session) => session,
            Err(why) => {
                self.ctx.refuse(stream, why);
                return;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("cannot set up a connection: {e}");
            return;
        }
        let key = self.conns.insert(Box::new(Conn {
            stream,
            driver: Some(Driver::new(session, self.ctx.clone(), Instant::now())),
            send: Vec::new(),
            sent: 0,
            sending: false,
            receiving: false,
            ops: 0,
            cancelled: false,
            mail: false,
            queued: false,
            timer: None,
        }));
        if let Some(conn) = self.conns.get_mut(key) {
            schedule(&mut self.ready, conn, key);
        }
    }

    /// Starts the graceful shutdown: no more accepting, and every connection runs once more
    /// to take its mailbox's last messages and close.
    fn begin_stop(&mut self) {
        self.deadline = Some(Instant::now() + self.ctx.config.shutdown_timeout);
        self.accept_resume = None;
        for index in 0..self.listeners.len() {
            if self.accepting[index] {
                self.cancel(accept_data(index));
            } else {
                self.listeners[index] = None;
            }
        }
        for (key, conn) in self.conns.iter_mut() {
            schedule(&mut self.ready, conn, key);
        }
    }

    /// Runs the connections whose deadline came (their turn tells their driver the time).
    fn expire(&mut self) {
        let (conns, ready) = (&mut self.conns, &mut self.ready);
        self.timers.expire(Instant::now(), |key| {
            if let Some(conn) = conns.get_mut(key) {
                schedule(ready, conn, key);
            }
        });
    }

    /// Runs connection `key` for one turn: gives its driver the news, then queues what it
    /// wants (a send of its output, a receive), or closes it.
    fn run_turn(&mut self, key: usize) {
        let stopping = self.deadline.is_some();
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.queued = false;
        let Some(driver) = conn.driver.as_mut() else { return };
        let now = Instant::now();
        Timers::fired(&mut conn.timer, now);
        prepare(driver, News { mail: mem::take(&mut conn.mail), stopping, now });
        if driver.is_done() {
            self.close(key);
            return;
        }
        let fd = Fd(conn.stream.as_raw_fd());
        if !conn.sending {
            if conn.sent == conn.send.len() {
                let out = driver.poll_output();
                if !out.is_empty() {
                    let mut send = self.spare_sends.pop().unwrap_or_default();
                    send.extend_from_slice(&out[..out.len().min(SEND_CHUNK)]);
                    conn.send = send;
                    conn.sent = 0;
                }
            }
            let rest = &conn.send[conn.sent..];
            if !rest.is_empty() {
                let send = opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
                    .user_data(data(key, SEND));
                // SAFETY: `conn.send`'s heap buffer is neither touched nor dropped while
                // `sending` is set (cleared by this send's completion), and a connection's
                // slot (with its socket and `send`) is freed only once its operations have all
                // completed (`release`). Moving the `Conn` does not move the buffer.
                unsafe { self.io.push(send) };
                conn.sending = true;
                conn.ops += 1;
            }
        }
        if !conn.receiving && driver.wants().read {
            self.to_receive.push(key); // after every send of the round (`arm_receives`)
        }
        self.timers.enter(key, &mut conn.timer, driver.poll_deadline());
    }

    /// Arms the receives the round's turns asked for, after their sends (so the kernel
    /// issues the sends first), at most [`RECV_BUDGET`] of them: the others run again next
    /// round, so reading senders never crowds out writing to receivers.
    fn arm_receives(&mut self) {
        let mut armed = 0;
        for key in mem::take(&mut self.to_receive) {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            let Some(driver) = conn.driver.as_ref() else { continue };
            if conn.receiving || !driver.wants().read {
                continue;
            }
            if armed == RECV_BUDGET {
                schedule(&mut self.ready, conn, key);
                continue;
            }
            let fd = Fd(conn.stream.as_raw_fd());
            let recv = opcode::Recv::new(fd, std::ptr::null_mut(), BUFFER_SIZE as u32)
                .buf_group(BUFFER_GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
                .user_data(data(key, RECV));
            // SAFETY: the kernel receives into a provided buffer, which `bufs` keeps until the
            // ring is gone; the socket stays open until the receive completed (`release`).
            unsafe { self.io.push(recv) };
            conn.receiving = true;
            conn.ops += 1;
            armed += 1;
        }
    }

    /// Closes connection `key`: its session ends now, its socket once its operations, now
    /// cancelled, have completed.
    fn close(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        self.timers.forget(key, conn.timer.take());
        // Dropping the session leaves its subscriptions and accounts for its messages.
        drop(conn.driver.take());
        // Also ends, at once, an operation still waiting in the backlog when it reaches the
        // kernel, which the cancellation cannot: a receive then reads the end of input, a
        // send fails.
        let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        if conn.ops == 0 {
            self.release(key);
        } else if !conn.cancelled {
            conn.cancelled = true;
            conn.ops += 1;
            let builder = CancelBuilder::fd(Fd(conn.stream.as_raw_fd())).all();
            let cancel =
                opcode::AsyncCancel2::new(builder).build().user_data(data(key, CANCEL_CONN));
            // SAFETY: no buffer; the descriptor stays open until this completes (`ops`).
            unsafe { self.io.push(cancel) };
        }
    }

    /// Frees slot `key`, whose connection has no operation in flight: closes the socket.
    fn release(&mut self, key: usize) {
        if let Some(conn) = self.conns.remove(key) {
            debug_assert_eq!(conn.ops, 0);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Sessions end now; sockets and buffers once the kernel is done with them.
        for (_, conn) in self.conns.iter_mut() {
            drop(conn.driver.take());
        }
        // Entries that never reached the kernel need no cancelling.
        self.io.in_flight -= self.io.backlog.len();
        self.io.backlog.clear();
        let cancel = opcode::AsyncCancel2::new(CancelBuilder::any()).build().user_data(CANCEL);
        // SAFETY: a cancellation names no buffer and no descriptor.
        unsafe { self.io.push(cancel) };
        let patience = Instant::now() + CANCEL_PATIENCE;
        while self.io.in_flight > 0 && Instant::now() < patience {
            if self.io.submit_and_wait(Some(Duration::from_millis(10))).is_err() {
                break;
            }
            for c in self.io.ring.completion() {
                if !cqueue::more(c.flags()) {
                    self.io.in_flight -= 1;
                }
            }
        }
        if self.io.in_flight > 0 {
            // Something the kernel may still write to or read from: leak it rather than free it.
            tracing::error!(left = self.io.in_flight, "io_uring operations did not complete");
            mem::forget(mem::take(&mut self.conns));
            mem::forget(mem::replace(&mut self.wake_count, Box::new(0)));
            return; // `bufs` is never dropped
        }
        if let Err(e) = self.io.ring.submitter().unregister_buf_ring(BUFFER_GROUP) {
            tracing::error!("cannot unregister the receive buffers: {e}");
            return; // the kernel may still hold them: leaked
        }
        // SAFETY: dropped once, here; no operation is in flight and the kernel forgot them.
        unsafe { ManuallyDrop::drop(&mut self.bufs) };
    }
}

/// The `user_data` of connection `key`'s operation `kind`.
fn data(key: usize, kind: u64) -> u64 {
    ((key as u64) << KIND_BITS) | kind
}

/// Puts `conn` (key `key`) in the ready queue unless it is there already.
fn schedule(ready: &mut VecDeque<usize>, conn: &mut Conn, key: usize) {
    if !conn.queued {
        conn.queued = true;
        ready.push_back(key);
    }
}
