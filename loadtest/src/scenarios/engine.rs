//! The request/response driver under `echo`, `ping`, `idle` and the pub/sub publishers.
//!
//! Open loop (a fixed rate): `threads` sender threads share the timetable (see
//! [`crate::pacing`]); sender `i` owns connections `i, i + threads, ...` and sends on them in
//! turn. Each request's scheduled and actual send times go into its connection's FIFO *before*
//! the bytes are written, and that connection's reader thread pops one entry per reply. A server
//! that stops answering therefore stalls no sender: its requests keep going out on time and
//! their latencies keep growing, as they should.
//!
//! Closed loop (`--rate max`): one thread per connection writes `pipeline` requests, waits for
//! their replies, and repeats; latency is then measured from the write.
//!
//! With `reconnect` (`--reconnect`), a connection that fails is reopened: in open loop its
//! sender dials again (at most every [`REDIAL`]) when the connection's next slot comes and
//! hands the new socket and a new FIFO to the connection's reader; slots that find no
//! connection count as errors, as without `reconnect`.

use super::{Outcome, Plan, Rate, Recorder};
use crate::conn::{timed_out, Redialer, ReplyBuf};
use crate::pacing::{fine_timer_slack, Schedule, Waiter};
use crate::progress::Live;
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
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

/// One connection: its socket and any bytes already read from it.
pub type Conn = (TcpStream, ReplyBuf);

/// Runs `plan` over `conns` and returns what all workers counted together. With
/// `reconnect: Some(addr)`, failed connections are reopened to `addr`.
pub fn drive<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    make_requests: impl FnMut(usize) -> Q,
    make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
    reconnect: Option<&str>,
) -> io::Result<Outcome> {
    match plan.rate {
        Rate::Fixed(rate) => {
            open_loop(conns, make_requests, make_replies, plan, live, rate, reconnect)
        }
        Rate::Max => closed_loop(conns, make_requests, make_replies, plan, live, reconnect),
    }
}

/// Writes all of `buf`, giving up once `deadline` has passed.
fn write_until(stream: &mut TcpStream, mut buf: &[u8], deadline: Instant) -> io::Result<()> {
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
    stream: TcpStream,
    fifo: Receiver<Stamp>,
    generation: u64,
}

/// The sender's side of one connection.
struct Link {
    /// The connection's index among all connections.
    index: usize,
    stream: TcpStream,
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
    let stream = dialer.dial()?;
    let reader = stream.try_clone()?;
    stream.set_write_timeout(Some(POLL))?;
    reader.set_read_timeout(Some(POLL))?;
    let (tx, rx) = unbounded();
    link.generation += 1;
    link.stream = stream;
    link.fifo = tx;
    link.alive = true;
    let _ = handoff.send(Handoff { stream: reader, fifo: rx, generation: link.generation });
    Ok(())
}

fn open_loop<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    mut make_requests: impl FnMut(usize) -> Q,
    mut make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
    rate: f64,
    reconnect: Option<&str>,
) -> io::Result<Outcome> {
    let n = conns.len();
    let threads = plan.threads.min(n).max(1);
    let done: Vec<Arc<AtomicBool>> =
        (0..threads).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut links: Vec<Vec<Link>> = (0..threads).map(|_| Vec::new()).collect();
    let mut readers = Vec::with_capacity(n);
    for (i, (stream, buf)) in conns.into_iter().enumerate() {
        let (tx, rx) = unbounded();
        let writer = stream.try_clone()?;
        writer.set_write_timeout(Some(POLL))?;
        stream.set_read_timeout(Some(POLL))?;
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
            stream: writer,
            fifo: tx,
            generation: 1,
            alive: true,
            failed: failed.clone(),
            handoff: handoff_tx,
            next_dial: plan.epoch,
        });
        let (plan, done, replies) = (*plan, done[i % threads].clone(), make_replies(i));
        let rec = Recorder::new(&plan, live);
        let reopened = Reopened { failed, handoff: handoff_rx };
        readers.push(
            thread::Builder::new().name(format!("reader-{i}")).spawn(move || {
                read_replies(stream, buf, rx, replies, rec, &plan, &done, reopened)
            })?,
        );
    }
    let mut senders = Vec::with_capacity(threads);
    for (part, links) in links.into_iter().enumerate() {
        let (plan, done) = (*plan, done[part].clone());
        let requests = make_requests(part);
        let rec = Recorder::new(&plan, live);
        let dialer = reconnect.map(Redialer::new);
        // Each tick sends `pipeline` requests in one write.
        let schedule = Schedule::part(plan.epoch, rate / plan.pipeline as f64, part, threads);
        senders.push(thread::Builder::new().name(format!("sender-{part}")).spawn(move || {
            let out = send_on_schedule(links, requests, rec, schedule, &plan, dialer);
            done.store(true, Ordering::Release);
            out
        })?);
    }
    let mut total = Outcome::default();
    for t in senders.into_iter().chain(readers) {
        total.absorb(t.join().expect("worker panicked"));
    }
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
        match write_until(&mut link.stream, &out, plan.drain_until) {
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

#[allow(clippy::too_many_arguments)]
fn read_replies<P: Replies>(
    mut stream: TcpStream,
    mut buf: ReplyBuf,
    mut fifo: Receiver<Stamp>,
    mut replies: P,
    mut rec: Recorder,
    plan: &Plan,
    senders_done: &AtomicBool,
    reopened: Reopened,
) -> Outcome {
    let mut now = Instant::now();
    let mut generation = 1;
    loop {
        let mut failed = false;
        loop {
            match replies.take(&mut buf) {
                Ok(None) => break,
                Ok(Some(ok)) => match fifo.try_recv() {
                    Ok((sched, sent)) => rec.reply(sched, sent, now, ok),
                    Err(_) => rec.out.error("a reply to no request"),
                },
                Err(e) => {
                    rec.out.error(format!("unreadable reply: {e}"));
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            // The sender may have reopened the connection after a failed write.
            if let Some(h) = reopened.handoff.as_ref().and_then(|h| h.try_recv().ok()) {
                rec.out.unanswered += fifo.len() as u64;
                (stream, fifo, generation, buf) = (h.stream, h.fifo, h.generation, ReplyBuf::new());
                continue;
            }
            // The flag is set after the last stamp was pushed, so an empty FIFO is final.
            if senders_done.load(Ordering::Acquire) && fifo.is_empty() {
                return rec.out;
            }
            if Instant::now() >= plan.drain_until {
                rec.out.unanswered += fifo.len() as u64;
                return rec.out;
            }
            match buf.fill(&mut stream) {
                Ok(0) => {
                    rec.out.error("connection closed by the server");
                    failed = true;
                }
                Ok(_) => now = Instant::now(),
                Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    rec.out.error(format!("read failed: {e}"));
                    failed = true;
                }
            }
        }
        if !failed {
            continue;
        }
        // Requests still being sent on it fail at the sender; these never get replies.
        let Some(handoff) = &reopened.handoff else {
            rec.out.unanswered += fifo.len() as u64;
            return rec.out;
        };
        reopened.failed.store(generation, Ordering::Release);
        // Wait for the sender to reopen it; it drops `handoff` when it has finished.
        let h = loop {
            match handoff.recv_timeout(POLL) {
                Ok(h) => break Some(h),
                Err(RecvTimeoutError::Disconnected) => break None,
                Err(RecvTimeoutError::Timeout) if Instant::now() >= plan.drain_until => break None,
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        // Once the sender has moved to a new FIFO it never pushes to the old one again.
        rec.out.unanswered += fifo.len() as u64;
        match h {
            Some(h) => {
                (stream, fifo, generation, buf) = (h.stream, h.fifo, h.generation, ReplyBuf::new())
            }
            None => return rec.out,
        }
    }
}

fn closed_loop<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    mut make_requests: impl FnMut(usize) -> Q,
    mut make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
    reconnect: Option<&str>,
) -> io::Result<Outcome> {
    let mut workers = Vec::with_capacity(conns.len());
    for (i, (mut stream, mut buf)) in conns.into_iter().enumerate() {
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(POLL))?;
        let (plan, mut requests, mut replies) = (*plan, make_requests(i), make_replies(i));
        let mut rec = Recorder::new(&plan, live);
        let mut dialer = reconnect.map(Redialer::new);
        workers.push(thread::Builder::new().name(format!("conn-{i}")).spawn(move || {
            let waiter = Waiter::new(plan.spin);
            waiter.wait_until(plan.epoch);
            let mut out = Vec::with_capacity(4096);
            'conn: loop {
                'run: loop {
                    let sent = Instant::now();
                    if sent >= plan.end {
                        break;
                    }
                    out.clear();
                    for _ in 0..plan.pipeline {
                        requests.write(i, sent, &mut out);
                    }
                    if let Err(e) = write_until(&mut stream, &out, plan.drain_until) {
                        rec.out.error(format!("write failed: {e}"));
                        break;
                    }
                    rec.out.sent += plan.pipeline as u64;
                    let mut pending = plan.pipeline;
                    let mut now = Instant::now();
                    while pending > 0 {
                        match replies.take(&mut buf) {
                            Ok(Some(ok)) => {
                                rec.reply(sent, sent, now, ok);
                                pending -= 1;
                                continue;
                            }
                            Ok(None) => {}
                            Err(e) => {
                                rec.out.error(format!("unreadable reply: {e}"));
                                rec.out.unanswered += pending as u64;
                                break 'run;
                            }
                        }
                        if Instant::now() >= plan.drain_until {
                            rec.out.unanswered += pending as u64;
                            break 'run;
                        }
                        match buf.fill(&mut stream) {
                            Ok(0) => {
                                rec.out.error("connection closed by the server");
                                rec.out.unanswered += pending as u64;
                                break 'run;
                            }
                            Ok(_) => now = Instant::now(),
                            Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                rec.out.error(format!("read failed: {e}"));
                                rec.out.unanswered += pending as u64;
                                break 'run;
                            }
                        }
                    }
                }
                // The run ended, or the connection failed: reopen it while there is time left.
                while let Some(dialer) = dialer.as_mut().filter(|_| Instant::now() < plan.end) {
                    match dialer.dial().and_then(|s| {
                        s.set_read_timeout(Some(POLL))?;
                        s.set_write_timeout(Some(POLL))?;
                        Ok(s)
                    }) {
                        Ok(s) => {
                            (stream, buf) = (s, ReplyBuf::new());
                            rec.out.reconnects += 1;
                            continue 'conn;
                        }
                        Err(_) => thread::sleep(REDIAL),
                    }
                }
                break;
            }
            rec.out
        })?);
    }
    let mut total = Outcome::default();
    for w in workers {
        total.absorb(w.join().expect("worker panicked"));
    }
    Ok(total)
}
