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

use super::{Outcome, Plan, Rate, Recorder};
use crate::conn::{timed_out, ReplyBuf};
use crate::pacing::{fine_timer_slack, Schedule, Waiter};
use crate::progress::Live;
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How often blocked readers and writers look at the clock.
const POLL: Duration = Duration::from_millis(50);

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

/// Runs `plan` over `conns` and returns what all workers counted together.
pub fn drive<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    make_requests: impl FnMut(usize) -> Q,
    make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
) -> io::Result<Outcome> {
    match plan.rate {
        Rate::Fixed(rate) => open_loop(conns, make_requests, make_replies, plan, live, rate),
        Rate::Max => closed_loop(conns, make_requests, make_replies, plan, live),
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

fn open_loop<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    mut make_requests: impl FnMut(usize) -> Q,
    mut make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
    rate: f64,
) -> io::Result<Outcome> {
    let n = conns.len();
    let threads = plan.threads.min(n).max(1);
    let done: Vec<Arc<AtomicBool>> =
        (0..threads).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut writers: Vec<Vec<(usize, TcpStream, Sender<Stamp>)>> =
        (0..threads).map(|_| Vec::new()).collect();
    let mut readers = Vec::with_capacity(n);
    for (i, (stream, buf)) in conns.into_iter().enumerate() {
        let (tx, rx) = unbounded();
        let writer = stream.try_clone()?;
        writer.set_write_timeout(Some(POLL))?;
        stream.set_read_timeout(Some(POLL))?;
        writers[i % threads].push((i, writer, tx));
        let (plan, done, replies) = (*plan, done[i % threads].clone(), make_replies(i));
        let rec = Recorder::new(&plan, live);
        readers.push(
            thread::Builder::new()
                .name(format!("reader-{i}"))
                .spawn(move || read_replies(stream, buf, rx, replies, rec, &plan, &done))?,
        );
    }
    let mut senders = Vec::with_capacity(threads);
    for (part, conns) in writers.into_iter().enumerate() {
        let (plan, done) = (*plan, done[part].clone());
        let requests = make_requests(part);
        let rec = Recorder::new(&plan, live);
        // Each tick sends `pipeline` requests in one write.
        let schedule = Schedule::part(plan.epoch, rate / plan.pipeline as f64, part, threads);
        senders.push(thread::Builder::new().name(format!("sender-{part}")).spawn(move || {
            let out = send_on_schedule(conns, requests, rec, schedule, &plan);
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
    mut conns: Vec<(usize, TcpStream, Sender<Stamp>)>,
    mut requests: Q,
    mut rec: Recorder,
    schedule: Schedule,
    plan: &Plan,
) -> Outcome {
    fine_timer_slack();
    let waiter = Waiter::new(plan.spin);
    let mut alive = vec![true; conns.len()];
    let mut out = Vec::with_capacity(4096);
    for k in 0.. {
        let sched = schedule.at(k);
        if sched >= plan.end {
            break;
        }
        waiter.wait_until(sched);
        let which = k as usize % conns.len();
        let (index, stream, fifo) = &mut conns[which];
        if !alive[which] {
            rec.out.error("request not sent: connection already failed");
            continue;
        }
        out.clear();
        for _ in 0..plan.pipeline {
            requests.write(*index, sched, &mut out);
        }
        let sent = Instant::now();
        rec.lag(sched, sent);
        for _ in 0..plan.pipeline {
            // Pushed before writing, so the reader always finds the stamp of a reply.
            let _ = fifo.send((sched, sent));
        }
        match write_until(stream, &out, plan.drain_until) {
            Ok(()) => rec.out.sent += plan.pipeline as u64,
            Err(e) => {
                rec.out.error(format!("write failed: {e}"));
                alive[which] = false;
            }
        }
    }
    rec.out
}

fn read_replies<P: Replies>(
    mut stream: TcpStream,
    mut buf: ReplyBuf,
    fifo: Receiver<Stamp>,
    mut replies: P,
    mut rec: Recorder,
    plan: &Plan,
    senders_done: &AtomicBool,
) -> Outcome {
    let mut now = Instant::now();
    loop {
        loop {
            match replies.take(&mut buf) {
                Ok(None) => break,
                Ok(Some(ok)) => match fifo.try_recv() {
                    Ok((sched, sent)) => rec.reply(sched, sent, now, ok),
                    Err(_) => rec.out.error("a reply to no request"),
                },
                Err(e) => {
                    rec.out.error(format!("unreadable reply: {e}"));
                    rec.out.unanswered += fifo.len() as u64;
                    return rec.out;
                }
            }
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
                // Requests still being sent on it fail at the sender; these never get replies.
                rec.out.unanswered += fifo.len() as u64;
                return rec.out;
            }
            Ok(_) => now = Instant::now(),
            Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                rec.out.error(format!("read failed: {e}"));
                rec.out.unanswered += fifo.len() as u64;
                return rec.out;
            }
        }
    }
}

fn closed_loop<Q: Requests, P: Replies>(
    conns: Vec<Conn>,
    mut make_requests: impl FnMut(usize) -> Q,
    mut make_replies: impl FnMut(usize) -> P,
    plan: &Plan,
    live: &Live,
) -> io::Result<Outcome> {
    let mut workers = Vec::with_capacity(conns.len());
    for (i, (mut stream, mut buf)) in conns.into_iter().enumerate() {
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(POLL))?;
        let (plan, mut requests, mut replies) = (*plan, make_requests(i), make_replies(i));
        let mut rec = Recorder::new(&plan, live);
        workers.push(thread::Builder::new().name(format!("conn-{i}")).spawn(move || {
            let waiter = Waiter::new(plan.spin);
            waiter.wait_until(plan.epoch);
            let mut out = Vec::with_capacity(4096);
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
            rec.out
        })?);
    }
    let mut total = Outcome::default();
    for w in workers {
        total.absorb(w.join().expect("worker panicked"));
    }
    Ok(total)
}
