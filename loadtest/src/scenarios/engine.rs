//! The request/response driver under `echo`, `ping`, `idle` and the pub/sub publishers.
//!
//! Open loop (a fixed rate): `threads` sender threads share the timetable (see
//! [`crate::pacing`]); sender `i` owns connections `i, i + threads, ...` and sends on them in
//! turn. Each request's scheduled and actual send times go into its connection's FIFO *before*
//! the bytes are written, and the connection's reader pops one entry per reply. Readers are
//! [`crate::mux`] endpoints: a few poller threads (`--readers`) read every connection, never a
//! thread per connection. A server that stops answering therefore stalls no sender: its
//! requests keep going out on time and their latencies keep growing, as they should.
//!
//! Closed loop (`--rate max`): each connection writes `pipeline` requests, waits for their
//! replies, and repeats; latency is then measured from the write. Those connections are mux
//! endpoints too: the poller thread that reads the last reply of a batch writes the next one.
//!
//! With `reconnect` (`--reconnect`), a connection that fails is reopened: in open loop its
//! sender dials again (at most every [`REDIAL`]) when the connection's next slot comes and
//! hands the new socket and a new FIFO to the connection's reader; slots that find no
//! connection count as errors, as without `reconnect`.

use crate::conn::Redialer;
use crate::model::Rate;
use crate::mux::{self, Endpoint, Step};
use crate::pacing::{fine_timer_slack, Schedule, Waiter};
use crate::progress::Live;
use crate::record::{Outcome, Plan, Recorder};
use crate::reply::{timed_out, ReplyBuf};
use crate::wire::{send_now, Security, Wire};
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How often blocked readers and writers look at the clock.
const POLL: Duration = Duration::from_millis(50);

/// How often a failed connection is dialled again with `reconnect`.
const REDIAL: Duration = Duration::from_millis(100);

/// Makes the requests one sender writes.
pub trait Requests: Send + 'static {
    /// Appends one request for connection `conn` (its index among all connections), scheduled
    /// at `sched`, to `out`.
    fn write(&mut self, conn: usize, sched: Instant, out: &mut Vec<u8>);
}

/// Recognises the replies on one connection.
pub trait Replies: Send + 'static {
    /// Takes the next whole reply off `buf`: `Ok(None)` until one has arrived, then `Ok(Ok(()))`
    /// for a good reply or `Ok(Err(why))` for a wrong one. `Err` means the stream is unusable.
    fn take(&mut self, buf: &mut ReplyBuf) -> io::Result<Option<Result<(), String>>>;
}

/// One connection: its wire and any bytes already read from it.
pub type Conn = (Wire, ReplyBuf);

/// Where failed connections are reopened (`--reconnect`), and how they are set up.
pub type Reconnect<'a> = Option<(&'a str, &'a Security)>;

/// Runs `plan` over `conns` and returns what all workers counted together. With
/// `reconnect: Some((addr, security))`, failed connections are reopened to `addr`.
pub fn drive<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    make_requests: impl FnMut(usize) -> Q,
    make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
    reconnect: Reconnect<'_>,
) -> io::Result<Outcome> {
    match plan.rate {
        Rate::Fixed(rate) => {
            open_loop(conns, make_requests, make_replies, plan, live, rate, reconnect)
        }
        Rate::Max => closed_loop(conns, make_requests, make_replies, plan, live, reconnect),
    }
}

/// Writes all of `buf`, giving up once `deadline` has passed.
fn write_until(mut stream: &TcpStream, mut buf: &[u8], deadline: Instant) -> io::Result<()> {
    while !buf.is_empty() {
        match stream.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if timed_out(&e) && Instant::now() < deadline => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `(scheduled, actually sent)` of one request in flight.
type Stamp = (Instant, Instant);

/// A reopened connection, handed from its sender to its reader (`reconnect`).
struct Handoff {
    wire: Wire,
    fifo: Receiver<Stamp>,
    generation: u64,
}

/// The sender's side of one connection.
struct Link {
    /// The connection's index among all connections.
    index: usize,
    wire: Wire,
    fifo: Sender<Stamp>,
    /// Which opening of the connection this is: 1, then 2 after the first reconnect, ...
    generation: u64,
    alive: bool,
    /// The last generation the reader saw fail (0: none).
    failed: Arc<AtomicU64>,
    /// Where reopened connections go, with `reconnect`.
    handoff: Option<Sender<Handoff>>,
    /// No new dial before this.
    next_dial: Instant,
}

/// Opens connection `link` again and hands it to its reader.
fn reopen(link: &mut Link, dialer: &mut Redialer) -> io::Result<()> {
    let Some(handoff) = &link.handoff else { return Ok(()) };
    let wire = dialer.dial()?;
    let reader = wire.try_clone()?;
    wire.tcp().set_write_timeout(Some(POLL))?;
    reader.tcp().set_read_timeout(Some(POLL))?;
    let (tx, rx) = unbounded();
    link.generation += 1;
    link.wire = wire;
    link.fifo = tx;
    link.alive = true;
    let _ = handoff.send(Handoff { wire: reader, fifo: rx, generation: link.generation });
    Ok(())
}

fn open_loop<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    mut make_requests: impl FnMut(usize) -> Q,
    mut make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
    rate: f64,
    reconnect: Reconnect<'_>,
) -> io::Result<Outcome> {
    let n = conns.len();
    let threads = plan.threads.min(n).max(1);
    let done: Vec<Arc<AtomicBool>> =
        (0..threads).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut links: Vec<Vec<Link>> = (0..threads).map(|_| Vec::new()).collect();
    let mut readers = Vec::with_capacity(n);
    for (i, (wire, buf)) in conns.into_iter().enumerate() {
        let (tx, rx) = unbounded();
        let writer = wire.try_clone()?;
        writer.tcp().set_write_timeout(Some(POLL))?;
        wire.tcp().set_read_timeout(Some(POLL))?;
        let failed = Arc::new(AtomicU64::new(0));
        let (handoff_tx, handoff_rx) = match reconnect {
            Some(_) => {
                let (tx, rx) = unbounded();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        links[i % threads].push(Link {
            index: i,
            wire: writer,
            fifo: tx,
            generation: 1,
            alive: true,
            failed: failed.clone(),
            handoff: handoff_tx,
            next_dial: plan.epoch,
        });
        readers.push(ReplyEnd {
            wire,
            buf,
            fifo: rx,
            replies: make_replies(i),
            senders_done: done[i % threads].clone(),
            reopened: Reopened { failed, handoff: handoff_rx },
            generation: 1,
            failed: false,
            next: None,
            drain_until: plan.drain_until,
        });
    }
    let mut senders = Vec::with_capacity(threads);
    for (part, links) in links.into_iter().enumerate() {
        let (plan, done) = (*plan, done[part].clone());
        let requests = make_requests(part);
        let rec = Recorder::new(&plan, live);
        let dialer = reconnect.map(|(addr, security)| Redialer::new(addr, security));
        // Each tick sends `pipeline` requests in one write.
        let schedule = Schedule::part(plan.epoch, rate / plan.pipeline as f64, part, threads);
        senders.push(thread::Builder::new().name(format!("sender-{part}")).spawn(move || {
            let out = send_on_schedule(links, requests, rec, schedule, &plan, dialer);
            done.store(true, Ordering::Release);
            out
        })?);
    }
    let read = mux::run(readers, plan.readers, plan, live);
    let mut total = Outcome::default();
    for t in senders {
        total.absorb(t.join().expect("sender panicked"));
    }
    total.absorb(read?.1);
    Ok(total)
}

fn send_on_schedule<Q: Requests>(
    mut links: Vec<Link>,
    mut requests: Q,
    mut rec: Recorder,
    schedule: Schedule,
    plan: &Plan,
    mut dialer: Option<Redialer>,
) -> Outcome {
    fine_timer_slack();
    let waiter = Waiter::new(plan.spin);
    let mut out = Vec::with_capacity(4096);
    for k in 0.. {
        let sched = schedule.at(k);
        if sched >= plan.end {
            break;
        }
        waiter.wait_until(sched);
        let which = k as usize % links.len();
        let link = &mut links[which];
        if link.alive && link.failed.load(Ordering::Acquire) == link.generation {
            link.alive = false;
        }
        if !link.alive {
            if let Some(dialer) = dialer.as_mut().filter(|_| Instant::now() >= link.next_dial) {
                match reopen(link, dialer) {
                    Ok(()) => rec.out.reconnects += 1,
                    Err(_) => link.next_dial = Instant::now() + REDIAL,
                }
            }
        }
        if !link.alive {
            rec.out.error("request not sent: connection already failed");
            continue;
        }
        out.clear();
        for _ in 0..plan.pipeline {
            requests.write(link.index, sched, &mut out);
        }
        let sent = Instant::now();
        rec.lag(sched, sent);
        for _ in 0..plan.pipeline {
            // Pushed before writing, so the reader always finds the stamp of a reply.
            let _ = link.fifo.send((sched, sent));
        }
        let written = link.wire.seal(&mut out);
        match written.and_then(|()| write_until(link.wire.tcp(), &out, plan.drain_until)) {
            Ok(()) => rec.out.sent += plan.pipeline as u64,
            Err(e) => {
                rec.out.error(format!("write failed: {e}"));
                link.alive = false;
            }
        }
    }
    rec.out
}

/// The reader's side of reconnecting: where it reports a failed connection and receives the
/// reopened one (`handoff` is `None` without `reconnect`).
struct Reopened {
    failed: Arc<AtomicU64>,
    handoff: Option<Receiver<Handoff>>,
}

/// The reading side of one open-loop connection: pops the stamp of each reply from the FIFO its
/// sender fills.
struct ReplyEnd<P> {
    wire: Wire,
    buf: ReplyBuf,
    fifo: Receiver<Stamp>,
    replies: P,
    /// Set by the connection's sender once it has pushed its last stamp.
    senders_done: Arc<AtomicBool>,
    reopened: Reopened,
    generation: u64,
    /// The connection failed and waits for its sender to reopen it.
    failed: bool,
    /// A reopened connection, waiting to be installed.
    next: Option<Handoff>,
    drain_until: Instant,
}

impl<P: Replies> ReplyEnd<P> {
    /// The connection is unusable: wait for its sender to reopen it, or end.
    fn fail(&mut self, rec: &mut Recorder) -> Step {
        if self.reopened.handoff.is_none() {
            rec.out.unanswered += self.fifo.len() as u64;
            return Step::Done;
        }
        self.reopened.failed.store(self.generation, Ordering::Release);
        self.failed = true;
        Step::Detach
    }
}

impl<P: Replies> Endpoint for ReplyEnd<P> {
    type Done = ();

    fn wire(&self) -> &Wire {
        &self.wire
    }

    fn input(&mut self) -> (&Wire, &mut ReplyBuf) {
        (&self.wire, &mut self.buf)
    }

    fn on_input(&mut self, now: Instant, rec: &mut Recorder) -> Step {
        loop {
            match self.replies.take(&mut self.buf) {
                Ok(None) => return Step::Continue,
                Ok(Some(ok)) => match self.fifo.try_recv() {
                    Ok((sched, sent)) => rec.reply(sched, sent, now, ok),
                    Err(_) => rec.out.error("a reply to no request"),
                },
                Err(e) => {
                    rec.out.error(format!("unreadable reply: {e}"));
                    return self.fail(rec);
                }
            }
        }
    }

    fn on_tick(&mut self, now: Instant, rec: &mut Recorder) -> Step {
        if let Some(handoff) = &self.reopened.handoff {
            match handoff.try_recv() {
                Ok(h) => {
                    // Once the sender has moved to a new FIFO it never pushes to the old one.
                    rec.out.unanswered += self.fifo.len() as u64;
                    self.next = Some(h);
                    return Step::Continue;
                }
                // The sender has finished and will reopen nothing more.
                Err(crossbeam_channel::TryRecvError::Disconnected) if self.failed => {
                    rec.out.unanswered += self.fifo.len() as u64;
                    return Step::Done;
                }
                Err(_) => {}
            }
        }
        if now >= self.drain_until {
            rec.out.unanswered += self.fifo.len() as u64;
            return Step::Done;
        }
        if self.failed {
            return Step::Detach;
        }
        // The flag is set after the last stamp was pushed, so an empty FIFO is final.
        if self.senders_done.load(Ordering::Acquire) && self.fifo.is_empty() {
            return Step::Done;
        }
        Step::Continue
    }

    fn on_closed(&mut self, why: String, rec: &mut Recorder) -> Step {
        rec.out.error(why);
        self.fail(rec)
    }

    fn has_replacement(&self) -> bool {
        self.next.is_some()
    }

    fn install_replacement(&mut self) {
        if let Some(h) = self.next.take() {
            self.wire = h.wire;
            self.fifo = h.fifo;
            self.generation = h.generation;
            self.buf = ReplyBuf::new();
            self.failed = false;
        }
    }

    fn finish(self, _rec: &mut Recorder) {}
}

fn closed_loop<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    mut make_requests: impl FnMut(usize) -> Q,
    mut make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
    reconnect: Reconnect<'_>,
) -> io::Result<Outcome> {
    let endpoints: Vec<LoopEnd<Q, P>> = conns
        .into_iter()
        .enumerate()
        .map(|(i, (wire, buf))| LoopEnd {
            index: i,
            wire,
            buf,
            requests: make_requests(i),
            replies: make_replies(i),
            out: Vec::with_capacity(1024),
            written: 0,
            pending: 0,
            sent: plan.epoch,
            started: false,
            plan: *plan,
            dialer: reconnect.map(|(addr, security)| Redialer::new(addr, security)),
            next: None,
        })
        .collect();
    Ok(mux::run(endpoints, plan.readers, plan, live)?.1)
}

/// One closed-loop connection: a batch of `pipeline` requests, then the next once all are
/// answered.
struct LoopEnd<Q, P> {
    index: usize,
    wire: Wire,
    buf: ReplyBuf,
    requests: Q,
    replies: P,
    /// The batch being written (sealed: what goes on the socket), and how much of it is
    /// written.
    out: Vec<u8>,
    written: usize,
    /// Replies still due for the current batch.
    pending: usize,
    /// When the current batch was written.
    sent: Instant,
    started: bool,
    plan: Plan,
    dialer: Option<Redialer>,
    next: Option<Wire>,
}

impl<Q: Requests, P: Replies> LoopEnd<Q, P> {
    /// Writes the next batch, or ends the connection's work if the run is over.
    fn next_batch(&mut self, rec: &mut Recorder) -> Step {
        let now = Instant::now();
        if now >= self.plan.end {
            return Step::Done;
        }
        self.out.clear();
        for _ in 0..self.plan.pipeline {
            self.requests.write(self.index, now, &mut self.out);
        }
        self.sent = now;
        self.written = 0;
        self.pending = self.plan.pipeline;
        rec.out.sent += self.plan.pipeline as u64;
        if let Err(e) = self.wire.seal(&mut self.out) {
            return self.fail(format!("TLS failed: {e}"), rec);
        }
        self.flush(rec)
    }

    /// Writes what the socket takes of the current batch.
    fn flush(&mut self, rec: &mut Recorder) -> Step {
        while self.written < self.out.len() {
            match send_now(self.wire.tcp(), &self.out[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(format!("write failed: {e}"), rec),
            }
        }
        Step::Continue
    }

    /// The connection failed: the current batch is lost; reopen it while the run lasts.
    fn fail(&mut self, why: String, rec: &mut Recorder) -> Step {
        rec.out.error(why);
        rec.out.unanswered += self.pending as u64;
        self.pending = 0;
        self.written = self.out.len();
        if let Some(dialer) = self.dialer.as_mut() {
            while Instant::now() < self.plan.end {
                match dialer.dial() {
                    Ok(s) => {
                        rec.out.reconnects += 1;
                        self.next = Some(s);
                        return Step::Detach;
                    }
                    Err(_) => thread::sleep(REDIAL),
                }
            }
        }
        Step::Done
    }
}

impl<Q: Requests, P: Replies> Endpoint for LoopEnd<Q, P> {
    type Done = ();

    fn wire(&self) -> &Wire {
        &self.wire
    }

    fn input(&mut self) -> (&Wire, &mut ReplyBuf) {
        (&self.wire, &mut self.buf)
    }

    fn on_input(&mut self, now: Instant, rec: &mut Recorder) -> Step {
        if self.pending == 0 {
            // No batch is out (the first is not due yet, or its successor is not written):
            // over TLS a record with no plaintext, such as a session ticket, comes here. Only
            // a reply is wrong, and it must not start a second batch beside the due one.
            if !self.buf.is_empty() {
                rec.out.error("a reply to no request");
                self.buf = ReplyBuf::new();
            }
            return Step::Continue;
        }
        while self.pending > 0 {
            match self.replies.take(&mut self.buf) {
                Ok(Some(ok)) => {
                    rec.reply(self.sent, self.sent, now, ok);
                    self.pending -= 1;
                }
                Ok(None) => return Step::Continue,
                Err(e) => return self.fail(format!("unreadable reply: {e}"), rec),
            }
        }
        if !self.buf.is_empty() {
            rec.out.error("a reply to no request");
        }
        self.next_batch(rec)
    }

    fn on_tick(&mut self, now: Instant, rec: &mut Recorder) -> Step {
        if !self.started {
            if now < self.plan.epoch {
                return Step::Continue;
            }
            self.started = true;
            return self.next_batch(rec);
        }
        if self.pending == 0 && self.next.is_none() {
            // A reopened connection starts its first batch.
            return self.next_batch(rec);
        }
        if now >= self.plan.drain_until {
            rec.out.unanswered += self.pending as u64;
            return Step::Done;
        }
        Step::Continue
    }

    fn on_closed(&mut self, why: String, rec: &mut Recorder) -> Step {
        self.fail(why, rec)
    }

    fn wants_write(&self) -> bool {
        self.written < self.out.len()
    }

    fn on_writable(&mut self, rec: &mut Recorder) -> Step {
        self.flush(rec)
    }

    fn has_replacement(&self) -> bool {
        self.next.is_some()
    }

    fn install_replacement(&mut self) {
        if let Some(s) = self.next.take() {
            self.wire = s;
            self.buf = ReplyBuf::new();
        }
    }

    fn finish(self, _rec: &mut Recorder) {}
}
