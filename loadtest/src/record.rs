//! What a run's workers share: its timeline ([`Plan`]), what they count ([`Outcome`],
//! [`Recorder`]), the clocks and samplers around a scenario ([`RunCtx`]), and the
//! [`RunReport`] made from them.

use crate::hist::{new_hist, percentile_curve, record, to_base64, Hist, Summary};
use crate::model::{Config, IdleStats, PubsubStats, Rate, RunReport, Scenario};
use crate::progress::{Live, LiveSlot, Progress};
use crate::sys;
use crate::units::fmt_us;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The timeline of a run, fixed when the workers are about to start.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// When the first slot is due; also the zero of timestamps carried in payloads.
    pub epoch: Instant,
    /// Requests scheduled from here on are measured (before it: warmup).
    pub measure_from: Instant,
    /// No request is scheduled at or after this.
    pub end: Instant,
    /// Replies that have not arrived by now are counted as unanswered.
    pub drain_until: Instant,
    pub rate: Rate,
    pub pipeline: usize,
    pub threads: usize,
    /// Poller threads reading the connections.
    pub readers: usize,
    pub spin: Duration,
}

impl Plan {
    /// The plan of `cfg` starting a few milliseconds from now (time for threads to start).
    pub fn starting_soon(cfg: &Config) -> Plan {
        let epoch = Instant::now() + Duration::from_millis(20);
        let measure_from = epoch + Duration::from_secs_f64(cfg.warmup_s);
        let end = measure_from + Duration::from_secs_f64(cfg.duration_s);
        Plan {
            epoch,
            measure_from,
            end,
            drain_until: end + Duration::from_secs_f64(cfg.drain_s),
            rate: cfg.rate,
            pipeline: cfg.pipeline.max(1),
            threads: cfg.threads.max(1),
            readers: cfg.readers.max(1),
            spin: Duration::from_micros(cfg.spin_us),
        }
    }

    /// Nanoseconds from the epoch to `t` (0 for earlier instants).
    pub fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The instant `nanos` after the epoch.
    pub fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }
}

/// What a group of workers counted; outcomes of several workers add up with [`Outcome::absorb`].
#[derive(Debug)]
pub struct Outcome {
    /// Measured latency from the scheduled send time.
    pub latency: Hist,
    /// Measured latency from the actual send time (what coordinated-omission-prone tools show).
    pub uncorrected: Hist,
    /// How late senders were for their slots (measured slots only).
    pub lag: Hist,
    /// Requests written, warmup included.
    pub sent: u64,
    /// Replies received, warmup included.
    pub replies: u64,
    /// Errors: error replies, wrong replies, failed connections, slots that could not be sent.
    pub errors: u64,
    /// Requests sent whose reply never came before the drain deadline.
    pub unanswered: u64,
    /// The first few error messages.
    pub samples: Vec<String>,
    /// Connections reopened after they failed (`--reconnect`).
    pub reconnects: u64,
}

impl Default for Outcome {
    fn default() -> Outcome {
        Outcome {
            latency: new_hist(),
            uncorrected: new_hist(),
            lag: new_hist(),
            sent: 0,
            replies: 0,
            errors: 0,
            unanswered: 0,
            samples: Vec::new(),
            reconnects: 0,
        }
    }
}

impl Outcome {
    /// Counts one error, keeping its message if it is among the first few different ones.
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors += 1;
        let message = message.into();
        if self.samples.len() < 5 && !self.samples.contains(&message) {
            self.samples.push(message);
        }
    }

    /// Adds `other`'s counts and histograms to these.
    pub fn absorb(&mut self, other: Outcome) {
        self.latency.add(&other.latency).expect("same bounds");
        self.uncorrected.add(&other.uncorrected).expect("same bounds");
        self.lag.add(&other.lag).expect("same bounds");
        self.sent += other.sent;
        self.replies += other.replies;
        self.errors += other.errors;
        self.unanswered += other.unanswered;
        self.reconnects += other.reconnects;
        for s in other.samples {
            if self.samples.len() < 5 && !self.samples.contains(&s) {
                self.samples.push(s);
            }
        }
    }
}

/// One worker's view of the run: its own histograms plus its live slot for the progress bar.
pub struct Recorder {
    pub out: Outcome,
    live: Arc<LiveSlot>,
    measure_from: Instant,
}

impl Recorder {
    /// A recorder for a worker of `plan`, feeding `live`.
    pub fn new(plan: &Plan, live: &Live) -> Recorder {
        Recorder { out: Outcome::default(), live: live.slot(), measure_from: plan.measure_from }
    }

    /// Notes a reply at `now` to a request scheduled at `sched` and written at `sent`.
    pub fn reply(&mut self, sched: Instant, sent: Instant, now: Instant, ok: Result<(), String>) {
        self.out.replies += 1;
        self.delivery(sched, sent, now);
        if let Err(e) = ok {
            self.out.error(e);
        }
    }

    /// Notes a latency sample without counting a reply (pub/sub deliveries).
    pub fn delivery(&mut self, sched: Instant, sent: Instant, now: Instant) {
        let latency = now.saturating_duration_since(sched);
        self.live.record(latency);
        if sched >= self.measure_from {
            record(&mut self.out.latency, latency);
            record(&mut self.out.uncorrected, now.saturating_duration_since(sent));
        }
    }

    /// Notes how late a slot scheduled at `sched` was actually sent (at `sent`).
    pub fn lag(&mut self, sched: Instant, sent: Instant) {
        if sched >= self.measure_from {
            record(&mut self.out.lag, sent.saturating_duration_since(sched));
        }
    }
}

/// What a scenario hands back besides its [`Outcome`].
#[derive(Debug, Default)]
pub struct Extra {
    pub pubsub: Option<PubsubStats>,
    pub idle: Option<IdleStats>,
    pub notes: Vec<String>,
    /// Receivers per request (pub/sub: subscribers per topic); 1 when absent.
    pub fanout: Option<f64>,
    /// Operations the tool handled over the CPU clock's span (pub/sub: deliveries received);
    /// replies when absent.
    pub ops: Option<u64>,
}

/// Starts the clock for a scenario once its connections are set up, and stops it after the
/// drain: the CPU figures cover exactly the load.
pub struct RunCtx {
    pub cfg: Config,
    pub live: Arc<Live>,
    label: String,
    progress: Option<Progress>,
    started: Option<(Instant, f64, Option<f64>)>,
    finished: Option<(Instant, f64, Option<f64>)>,
    sampler: Option<Sampler>,
    /// The server's most threads and resident memory seen while the load ran.
    peak: Option<(usize, u64)>,
}

/// Samples a server process's threads and resident memory every 100 ms while a run lasts.
struct Sampler {
    stop: crossbeam_channel::Sender<()>,
    thread: std::thread::JoinHandle<(usize, u64)>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::spawn(move || {
            let mut peak = (0, 0);
            loop {
                let threads = sys::process_threads(pid).unwrap_or(0);
                let rss = sys::process_rss_kib(pid).unwrap_or(0);
                peak = (peak.0.max(threads), peak.1.max(rss));
                // The periodic-timer recipe: wakes at once when told to stop.
                if stopped.recv_timeout(Duration::from_millis(100))
                    != Err(crossbeam_channel::RecvTimeoutError::Timeout)
                {
                    return peak;
                }
            }
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> (usize, u64) {
        drop(self.stop);
        self.thread.join().unwrap_or((0, 0))
    }
}

impl RunCtx {
    pub fn new(cfg: &Config, label: &str) -> RunCtx {
        RunCtx {
            cfg: cfg.clone(),
            live: Arc::new(Live::default()),
            label: label.to_string(),
            progress: None,
            started: None,
            finished: None,
            sampler: None,
            peak: None,
        }
    }

    fn cpu(&self) -> (Instant, f64, Option<f64>) {
        if let Some(tid) = self.cfg.server_tid {
            let server = sys::thread_cpu_seconds(tid).unwrap_or(0.0);
            return (Instant::now(), sys::own_cpu_seconds() - server, Some(server));
        }
        let server = self.cfg.server_pid.and_then(|p| sys::process_cpu_seconds(p).ok());
        (Instant::now(), sys::own_cpu_seconds(), server)
    }

    /// Fixes the timeline and starts the progress bar and the CPU clocks.
    pub fn begin(&mut self) -> Plan {
        let plan = Plan::starting_soon(&self.cfg);
        let total = Duration::from_secs_f64(self.cfg.warmup_s + self.cfg.duration_s);
        if !self.cfg.quiet {
            self.progress = Some(Progress::start(&self.label, total, self.live.clone()));
        }
        self.sampler = self.cfg.server_pid.map(Sampler::start);
        self.started = Some(self.cpu());
        plan
    }

    /// The report of the run, its clocks stopped if the scenario has not stopped them yet.
    pub fn into_report(mut self, out: &Outcome, extra: Extra) -> RunReport {
        if self.finished.is_none() {
            self.finish();
        }
        let (label, cfg) = (self.label.clone(), self.cfg.clone());
        RunReport::new(&label, &cfg, out, extra, &self)
    }

    /// Stops the progress bar, the CPU clocks and the sampling of the server.
    pub fn finish(&mut self) {
        self.finished = Some(self.cpu());
        self.progress = None;
        self.peak = self.sampler.take().map(Sampler::stop);
    }
}

impl RunReport {
    /// Builds a report from a finished run's outcome.
    pub fn new(label: &str, cfg: &Config, out: &Outcome, extra: Extra, ctx: &RunCtx) -> RunReport {
        let (t0, cpu0, srv0) = ctx.started.unwrap_or_else(|| ctx.cpu());
        let (t1, cpu1, srv1) = ctx.finished.unwrap_or_else(|| ctx.cpu());
        let wall = (t1 - t0).as_secs_f64().max(1e-9);
        let server_cpu_s = srv0.zip(srv1).map(|(a, b)| b - a);
        let ops = extra.ops.unwrap_or(out.replies).max(1) as f64;
        let mut notes = extra.notes;
        if Summary::of(&out.lag).p99 > 1000 {
            notes.push(format!(
                "the load generator was late for its slots (send lag p99 {}): it may be the \
                 bottleneck at this rate",
                fmt_us(Summary::of(&out.lag).p99)
            ));
        }
        if out.reconnects > 0 {
            notes.push(format!(
                "connections failed and were reopened {} times (--reconnect): requests in flight \
                 then and slots that found no connection count as errors",
                out.reconnects
            ));
        }
        RunReport {
            label: label.to_string(),
            scenario: cfg.scenario,
            settings: cfg.clone(),
            target_rate: match cfg.rate {
                Rate::Fixed(r) => Some(r),
                Rate::Max => None,
            },
            target_unit_rate: match cfg.rate {
                Rate::Fixed(r) => Some(r * extra.fanout.unwrap_or(1.0)),
                Rate::Max => None,
            },
            unit: if cfg.scenario == Scenario::Pubsub { "deliveries" } else { "requests" }.into(),
            achieved_rate: out.latency.len() as f64 / cfg.duration_s,
            sent: out.sent,
            replies: out.replies,
            measured: out.latency.len(),
            errors: out.errors,
            unanswered: out.unanswered,
            error_samples: out.samples.clone(),
            latency_us: Summary::of(&out.latency),
            uncorrected_us: Summary::of(&out.uncorrected),
            send_lag_us: Summary::of(&out.lag),
            latency_curve: percentile_curve(&out.latency),
            uncorrected_curve: percentile_curve(&out.uncorrected),
            latency_hist: to_base64(&out.latency),
            uncorrected_hist: to_base64(&out.uncorrected),
            tool_cpu_s: cpu1 - cpu0,
            tool_cpu_pct: 100.0 * (cpu1 - cpu0) / wall,
            tool_cpu_us_per_op: (cpu1 - cpu0) * 1e6 / ops,
            server_cpu_us_per_op: server_cpu_s.map(|s| s * 1e6 / ops),
            server_cpu_s,
            server_cpu_pct: server_cpu_s.map(|s| 100.0 * s / wall),
            wall_s: wall,
            pubsub: extra.pubsub,
            idle: extra.idle,
            notes,
            reconnects: out.reconnects,
            near_floor: false,
            server_threads: ctx.peak.map(|p| p.0).filter(|&t| t > 0),
            server_rss_kib: ctx.peak.map(|p| p.1).filter(|&r| r > 0),
        }
    }
}

/// A report for `out` without running anything (for unit tests of the writers).
#[cfg(test)]
pub(crate) fn test_report(label: &str, cfg: &Config, out: &Outcome) -> RunReport {
    let ctx = RunCtx::new(cfg, label);
    RunReport::new(label, cfg, out, Extra::default(), &ctx)
}

/// A ping report whose latencies are `values` µs, with its two histograms (for unit tests of
/// the writers).
#[cfg(test)]
pub(crate) fn sample_report(label: &str, values: &[u64]) -> (RunReport, Hist, Hist) {
    let mut out = Outcome::default();
    for &v in values {
        out.latency.record(v).unwrap();
        out.uncorrected.record(v / 2 + 1).unwrap();
    }
    out.sent = values.len() as u64;
    out.replies = values.len() as u64;
    let cfg = Config {
        scenario: Scenario::Ping,
        rate: Rate::Fixed(1000.0),
        duration_s: 1.0,
        ..Config::default()
    };
    let r = test_report(label, &cfg, &out);
    (r, out.latency, out.uncorrected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_recorded_live_but_not_measured() {
        let cfg = Config { warmup_s: 1.0, ..Config::default() };
        let plan = Plan::starting_soon(&cfg);
        let live = Live::default();
        let mut rec = Recorder::new(&plan, &live);
        let early = plan.epoch;
        rec.reply(early, early, early + Duration::from_millis(1), Ok(()));
        let late = plan.measure_from;
        rec.reply(late, late, late + Duration::from_millis(2), Err("bad".into()));
        assert_eq!(rec.out.replies, 2);
        assert_eq!(rec.out.latency.len(), 1);
        assert_eq!(rec.out.errors, 1);
        assert_eq!(live.take().0, 2);
    }
}
