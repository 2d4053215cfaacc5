//! Connections multiplexed over a few poller threads: how the tool reads replies and
//! deliveries without a thread per connection.
//!
//! [`run`] splits the [`Endpoint`]s between `threads` threads (endpoint `i` on thread
//! `i % threads`). Each thread registers its sockets with one `polling::Poller`
//! (level-triggered), and on readiness reads each socket until it would block, in 64 KiB
//! batches into one scratch buffer, taking the clock once per batch: every reply or delivery in a
//! batch is stamped with the time the batch arrived. Sockets stay blocking for the sender threads
//! that write on clones of them; reads here pass `MSG_DONTWAIT` instead.
//!
//! Besides readiness, every endpoint is given a turn ([`Endpoint::on_tick`]) at least every
//! [`TICK`], to notice deadlines and the end of its work.

use crate::progress::Live;
use crate::record::{Outcome, Plan, Recorder};
use crate::reply::ReplyBuf;
use crate::wire::Wire;
use polling::{Event, Events, PollMode, Poller};
use std::io;
use std::time::{Duration, Instant};

/// How often every endpoint gets a turn even without input.
pub const TICK: Duration = Duration::from_millis(5);

/// Bytes read per `recv`.
const SCRATCH: usize = 64 * 1024;

/// Reads per socket per readiness before the thread moves on to the others (level-triggered
/// polling reports the socket again if more is waiting).
const READS_PER_TURN: usize = 4;

/// What an endpoint wants after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Keep polling its socket.
    Continue,
    /// Stop polling its socket but keep giving it turns (it waits for a new connection).
    Detach,
    /// Its work is over: stop polling and calling it.
    Done,
}

/// One connection's reading side, run by a poller thread.
pub trait Endpoint: Send + 'static {
    /// What it hands back when the run is over.
    type Done: Send + 'static;
    /// The connection to poll and read.
    fn wire(&self) -> &Wire;
    /// The connection, and where what is read from it goes.
    fn input(&mut self) -> (&Wire, &mut ReplyBuf);
    /// Bytes arrived at `now`: consume what is whole.
    fn on_input(&mut self, now: Instant, rec: &mut Recorder) -> Step;
    /// A turn without input (at least every [`TICK`]).
    fn on_tick(&mut self, now: Instant, rec: &mut Recorder) -> Step;
    /// The peer closed (`why` says how) or reading failed.
    fn on_closed(&mut self, why: String, rec: &mut Recorder) -> Step;
    /// Returns true if and only if it has output waiting for the socket to become writable.
    fn wants_write(&self) -> bool {
        false
    }
    /// The socket is writable.
    fn on_writable(&mut self, _rec: &mut Recorder) -> Step {
        Step::Continue
    }
    /// Returns true if and only if a new socket is waiting to replace the current one.
    fn has_replacement(&self) -> bool {
        false
    }
    /// Swaps in the new socket (called once the old one is no longer polled).
    fn install_replacement(&mut self) {}
    /// The run is over.
    fn finish(self, rec: &mut Recorder) -> Self::Done;
}

/// Runs `endpoints` on `threads` poller threads until every one is done; returns what each
/// handed back, in the order given, and what all the threads counted together.
pub fn run<E: Endpoint>(
    endpoints: Vec<E>,
    threads: usize,
    plan: &Plan,
    live: &Live,
) -> io::Result<(Vec<E::Done>, Outcome)> {
    let n = endpoints.len();
    let threads = threads.clamp(1, n.max(1));
    let mut parts: Vec<Vec<(usize, E)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, e) in endpoints.into_iter().enumerate() {
        parts[i % threads].push((i, e));
    }
    let mut handles = Vec::with_capacity(threads);
    for (t, part) in parts.into_iter().enumerate() {
        let rec = Recorder::new(plan, live);
        let deadline = plan.drain_until;
        handles.push(
            std::thread::Builder::new()
                .name(format!("poller-{t}"))
                .spawn(move || poll_loop(part, rec, deadline))?,
        );
    }
    let mut done: Vec<Option<E::Done>> = (0..n).map(|_| None).collect();
    let mut total = Outcome::default();
    let mut failure = None;
    for h in handles {
        match h.join().expect("poller thread panicked") {
            Ok((finished, out)) => {
                for (i, d) in finished {
                    done[i] = Some(d);
                }
                total.absorb(out);
            }
            Err(e) => failure = Some(e),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok((done.into_iter().map(|d| d.expect("every endpoint finishes")).collect(), total))
}

/// One endpoint as a poller thread sees it.
struct Slot<E> {
    index: usize,
    ep: E,
    /// Returns true if and only if its socket is registered with the poller.
    registered: bool,
    /// The interest it is registered with (writable as well as readable).
    writing: bool,
    done: bool,
}

fn interest(key: usize, writing: bool) -> Event {
    if writing {
        Event::all(key)
    } else {
        Event::readable(key)
    }
}

/// Applies `step` to slot `s`; returns true if and only if it just finished.
fn apply<E: Endpoint>(
    poller: &Poller,
    key: usize,
    s: &mut Slot<E>,
    step: Step,
) -> io::Result<bool> {
    match step {
        Step::Continue => {
            if s.ep.has_replacement() {
                if s.registered {
                    poller.delete(s.ep.wire().tcp())?;
                    s.registered = false;
                }
                s.ep.install_replacement();
            }
            if !s.registered {
                s.writing = s.ep.wants_write();
                // SAFETY: the socket stays open while registered: it is deleted from the poller
                // before it is replaced or dropped (Detach, Done, replacement, end of the loop).
                unsafe {
                    poller.add_with_mode(
                        s.ep.wire().tcp(),
                        interest(key, s.writing),
                        PollMode::Level,
                    )?
                };
                s.registered = true;
            } else if s.writing != s.ep.wants_write() {
                s.writing = !s.writing;
                poller.modify_with_mode(
                    s.ep.wire().tcp(),
                    interest(key, s.writing),
                    PollMode::Level,
                )?;
            }
            Ok(false)
        }
        Step::Detach | Step::Done => {
            if s.registered {
                poller.delete(s.ep.wire().tcp())?;
                s.registered = false;
            }
            if step == Step::Done {
                s.done = true;
                return Ok(true);
            }
            // A replacement may already be waiting.
            if s.ep.has_replacement() {
                return apply(poller, key, s, Step::Continue);
            }
            Ok(false)
        }
    }
}

type Finished<D> = (Vec<(usize, D)>, Outcome);

fn poll_loop<E: Endpoint>(
    part: Vec<(usize, E)>,
    mut rec: Recorder,
    deadline: Instant,
) -> io::Result<Finished<E::Done>> {
    let poller = Poller::new()?;
    let mut slots: Vec<Slot<E>> = part
        .into_iter()
        .map(|(index, ep)| Slot { index, ep, registered: false, writing: false, done: false })
        .collect();
    let mut left = slots.len();
    for (key, s) in slots.iter_mut().enumerate() {
        apply(&poller, key, s, Step::Continue)?;
    }
    let mut scratch = vec![0u8; SCRATCH];
    let mut events = Events::new();
    let mut last_tick = Instant::now();
    // Past the drain deadline (plus a margin for endpoints to notice it themselves) the loop
    // ends whatever its endpoints say.
    let hard_stop = deadline + Duration::from_secs(2);
    while left > 0 && Instant::now() < hard_stop {
        events.clear();
        poller.wait(&mut events, Some(TICK))?;
        for ev in events.iter() {
            let key = ev.key;
            let s = &mut slots[key];
            if s.done || !s.registered {
                continue;
            }
            let mut step = Step::Continue;
            if ev.readable {
                for _ in 0..READS_PER_TURN {
                    let (wire, buf) = s.ep.input();
                    match wire.fill(&mut scratch, buf, true) {
                        Ok(0) => {
                            step =
                                s.ep.on_closed("connection closed by the server".into(), &mut rec);
                            break;
                        }
                        Ok(got) => {
                            let now = Instant::now();
                            step = s.ep.on_input(now, &mut rec);
                            if step != Step::Continue || got < SCRATCH {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            step = s.ep.on_closed(format!("read failed: {e}"), &mut rec);
                            break;
                        }
                    }
                }
            }
            if ev.writable && step == Step::Continue {
                step = s.ep.on_writable(&mut rec);
            }
            if apply(&poller, key, s, step)? {
                left -= 1;
            }
        }
        let now = Instant::now();
        if now - last_tick >= TICK {
            last_tick = now;
            for (key, s) in slots.iter_mut().enumerate() {
                if s.done {
                    continue;
                }
                let step = s.ep.on_tick(now, &mut rec);
                if apply(&poller, key, s, step)? {
                    left -= 1;
                }
            }
        }
    }
    let mut finished = Vec::with_capacity(slots.len());
    for s in slots {
        if s.registered {
            poller.delete(s.ep.wire().tcp())?;
        }
        finished.push((s.index, s.ep.finish(&mut rec)));
    }
    Ok((finished, rec.out))
}
