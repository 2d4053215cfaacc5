//! The four scenarios and what they share: the settings of a run ([`Config`]), its timeline
//! ([`Plan`]), what workers count ([`Outcome`], [`Recorder`]) and the finished [`RunReport`].
//!
//! - [`echo`]: raw byte echo, C connections, S-byte messages.
//! - [`ping`]: RESP `PING` / `ECHO` round trips, optionally pipelined.
//! - [`pubsub`]: P publishers, S subscribers, T topics, loss/duplicate/reorder accounting.
//! - [`idle`]: many idle connections, latency on a few active ones, server memory per connection.
//!
//! Request/response scenarios run on [`engine`]: open-loop senders on a timetable and one
//! reader per connection.

pub mod echo;
pub mod engine;
pub mod idle;
pub mod ping;
pub mod pubsub;

use crate::hist::{new_hist, percentile_curve, record, to_base64, CurvePoint, Hist, Summary};
use crate::progress::{Live, LiveSlot, Progress};
use crate::sys;
use crate::wire::Security;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which workload to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Raw byte echo (server `--protocol echo`).
    Echo,
    /// RESP PING or ECHO round trips.
    Ping,
    /// Publishers, subscribers and topics; latency is publish-to-delivery.
    Pubsub,
    /// Many idle connections; latency on a few active ones; memory per connection.
    Idle,
}

impl Scenario {
    /// The lowercase name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Echo => "echo",
            Scenario::Ping => "ping",
            Scenario::Pubsub => "pubsub",
            Scenario::Idle => "idle",
        }
    }
}

/// The request `ping` sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PingCommand {
    /// `PING`, answered by `+PONG`.
    Ping,
    /// `ECHO <size bytes>`, answered by the same bulk string.
    Echo,
}

/// How fast to send: a fixed total rate (open loop), or as fast as replies come back.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rate {
    /// Requests (or publishes) per second in total, on a fixed timetable.
    Fixed(f64),
    /// Closed loop: each connection sends its next batch when the previous one is answered.
    Max,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Rate, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        match s.parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Ok(Rate::Fixed(r)),
            _ => Err(format!("rate must be a positive number or `max`, not {s:?}")),
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rate::Fixed(r) => write!(f, "{r}"),
            Rate::Max => f.write_str("max"),
        }
    }
}

/// Everything that defines one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub scenario: Scenario,
    /// `host:port` of the server.
    pub addr: String,
    pub rate: Rate,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// How long after the end replies still in flight are waited for.
    pub drain_s: f64,
    /// echo/ping: connections; idle: idle connections.
    pub connections: usize,
    /// Message size in bytes (echo messages, ECHO arguments, pub/sub payloads).
    pub size: usize,
    /// Requests per write (echo/ping).
    pub pipeline: usize,
    pub command: PingCommand,
    pub publishers: usize,
    pub subscribers: usize,
    pub topics: usize,
    /// idle: connections that carry the measured traffic.
    pub active: usize,
    /// The server's pid, for its CPU time and (idle) memory per connection.
    pub server_pid: Option<u32>,
    /// The thread of an in-process server (the floor's reflector): its CPU time is the
    /// server's, and is not counted as the tool's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_tid: Option<u32>,
    /// Sender threads of open-loop request/response scenarios.
    pub threads: usize,
    /// Poller threads that read every connection's replies and deliveries.
    #[serde(default = "default_readers")]
    pub readers: usize,
    /// How long before each slot senders stop sleeping and yield in a loop, in µs.
    pub spin_us: u64,
    /// Reopen connections that the server closed or broke (request/response connections and
    /// pub/sub publishers) instead of failing their remaining requests.
    #[serde(default)]
    pub reconnect: bool,
    /// TLS and login for every connection (the password is never written into reports).
    #[serde(default)]
    pub security: Security,
    /// No per-run progress bar (a caller such as `compare` draws its own).
    #[serde(skip)]
    pub quiet: bool,
}

fn default_readers() -> usize {
    2
}

impl Default for Config {
    fn default() -> Config {
        Config {
            scenario: Scenario::Ping,
            addr: "127.0.0.1:15000".into(),
            rate: Rate::Fixed(5000.0),
            warmup_s: 2.0,
            duration_s: 10.0,
            drain_s: 5.0,
            connections: 10,
            size: 64,
            pipeline: 1,
            command: PingCommand::Ping,
            publishers: 2,
            subscribers: 50,
            topics: 10,
            active: 4,
            server_pid: None,
            server_tid: None,
            threads: 2,
            readers: default_readers(),
            spin_us: 0,
            reconnect: false,
            security: Security::default(),
            quiet: false,
        }
    }
}

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
    pub pubsub: Option<pubsub::PubsubStats>,
    pub idle: Option<idle::IdleStats>,
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
    fn new(cfg: &Config, label: &str) -> RunCtx {
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

    /// Stops the progress bar, the CPU clocks and the sampling of the server.
    pub fn finish(&mut self) {
        self.finished = Some(self.cpu());
        self.progress = None;
        self.peak = self.sampler.take().map(Sampler::stop);
    }
}

/// Everything measured in one run; what the table, the JSON and the plots are made from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// Which server this was: a backend name, an `--against` name, or the address.
    pub label: String,
    pub scenario: Scenario,
    pub settings: Config,
    /// `None` for `--rate max`.
    pub target_rate: Option<f64>,
    /// The target in the unit of `achieved_rate` (pub/sub: publish rate times fan-out).
    pub target_unit_rate: Option<f64>,
    /// What `achieved_rate` counts: `requests` or `deliveries`.
    pub unit: String,
    /// Measured replies (deliveries for pubsub) per second of the measured window.
    pub achieved_rate: f64,
    pub sent: u64,
    pub replies: u64,
    /// Latency samples in the measured window.
    pub measured: u64,
    pub errors: u64,
    pub unanswered: u64,
    pub error_samples: Vec<String>,
    /// Latency from the scheduled send time, µs.
    pub latency_us: Summary,
    /// Latency from the actual send time, µs (like wrk2's `--u_latency`).
    pub uncorrected_us: Summary,
    /// How late the senders were for their slots, µs: large values mean the tool fell behind.
    pub send_lag_us: Summary,
    pub latency_curve: Vec<CurvePoint>,
    pub uncorrected_curve: Vec<CurvePoint>,
    /// The latency histograms in HdrHistogram V2 base64 form.
    pub latency_hist: String,
    pub uncorrected_hist: String,
    /// CPU seconds the load generator used from start to end of drain, and as % of one core.
    pub tool_cpu_s: f64,
    pub tool_cpu_pct: f64,
    /// The load generator's CPU per reply (pub/sub: per delivery), µs: what the tool costs.
    #[serde(default)]
    pub tool_cpu_us_per_op: f64,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_pct: Option<f64>,
    /// The server's CPU per reply (pub/sub: per delivery), µs.
    #[serde(default)]
    pub server_cpu_us_per_op: Option<f64>,
    pub wall_s: f64,
    pub pubsub: Option<pubsub::PubsubStats>,
    pub idle: Option<idle::IdleStats>,
    pub notes: Vec<String>,
    /// Connections reopened after the server closed or broke them (`--reconnect`).
    #[serde(default)]
    pub reconnects: u64,
    /// Its p50 or p99 is within 2x of the tool's floor at the same load.
    #[serde(default)]
    pub near_floor: bool,
    /// The server's most threads while the load ran (sampled every 100 ms; needs its pid).
    #[serde(default)]
    pub server_threads: Option<usize>,
    /// The server's most resident memory while the load ran, KiB (sampled likewise).
    #[serde(default)]
    pub server_rss_kib: Option<u64>,
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
                crate::report::fmt_us(Summary::of(&out.lag).p99)
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

/// Runs `cfg` once against `cfg.addr`, labelled `label` in reports and on the progress bar.
pub fn run(cfg: &Config, label: &str) -> anyhow::Result<RunReport> {
    let mut ctx = RunCtx::new(cfg, label);
    let result = match cfg.scenario {
        Scenario::Echo => echo::run(&mut ctx),
        Scenario::Ping => ping::run(&mut ctx),
        Scenario::Pubsub => pubsub::run(&mut ctx),
        Scenario::Idle => idle::run(&mut ctx),
    };
    let (out, extra) = anyhow::Context::with_context(result, || {
        format!("{} scenario against {}", cfg.scenario.name(), cfg.addr)
    })?;
    if ctx.finished.is_none() {
        ctx.finish();
    }
    Ok(RunReport::new(label, cfg, &out, extra, &ctx))
}

/// The label of the floor's rows.
pub const FLOOR_LABEL: &str = "floor";

/// Runs `cfg` against an in-process [`Reflector`](crate::reflector::Reflector) instead of
/// `cfg.addr`: the latency and CPU the tool itself costs at this load, labelled `label`.
pub fn floor(cfg: &Config, label: &str) -> anyhow::Result<RunReport> {
    use crate::reflector::{Reflector, Speaks};
    let before = &cfg.security;
    let speaks = if cfg.scenario == Scenario::Echo { Speaks::Echo } else { Speaks::Resp };
    let reflector = Reflector::start(speaks)?;
    let cfg = Config {
        addr: reflector.addr.clone(),
        server_pid: None,
        server_tid: Some(reflector.tid),
        // The reflector speaks clear text and asks for no password.
        security: Security::default(),
        ..cfg.clone()
    };
    let mut r = run(&cfg, label)?;
    r.server_threads = Some(1);
    r.notes.push(
        "the tool's floor: the same load against a minimal in-process server (one thread, \
         answers at once)"
            .into(),
    );
    if before.tls {
        r.notes.push(
            "the floor is clear text: the tool's own TLS cost is in the server's rows, not here"
                .into(),
        );
    }
    Ok(r)
}

/// Notes on `r` where its latency is within 2x of `floor`'s (the figure is then the tool's as
/// much as the server's); returns true if and only if there were any.
pub fn note_floor(r: &mut RunReport, floor: &RunReport) -> bool {
    let mut near = false;
    for (name, ours, base) in [
        ("p50", r.latency_us.p50, floor.latency_us.p50),
        ("p99", r.latency_us.p99, floor.latency_us.p99),
    ] {
        if ours < 2 * base.max(1) {
            near = true;
            r.notes.push(format!(
                "{name} {} is within 2x of the tool's floor at this load ({}): the figure is the \
                 load generator's as much as the server's",
                crate::report::fmt_us(ours),
                crate::report::fmt_us(base)
            ));
        }
    }
    r.near_floor = near;
    near
}

/// A report for `out` without running anything (for unit tests of the writers).
#[cfg(test)]
pub(crate) fn test_report(label: &str, cfg: &Config, out: &Outcome) -> RunReport {
    let ctx = RunCtx::new(cfg, label);
    RunReport::new(label, cfg, out, Extra::default(), &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!("max".parse::<Rate>().unwrap(), Rate::Max);
        assert_eq!("2500".parse::<Rate>().unwrap(), Rate::Fixed(2500.0));
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
    }

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

    #[test]
    fn figures_within_twice_the_floor_are_noted() {
        let cfg = Config::default();
        let mut server = test_report("server", &cfg, &Outcome::default());
        let mut floor = server.clone();
        (floor.latency_us.p50, floor.latency_us.p99) = (100, 1000);
        (server.latency_us.p50, server.latency_us.p99) = (150, 5000);
        assert!(note_floor(&mut server, &floor));
        assert!(server.near_floor);
        assert_eq!(server.notes.len(), 1);
        assert!(server.notes[0].starts_with("p50 150µs is within 2x of the tool's floor"));
        (server.latency_us.p50, server.notes, server.near_floor) = (300, Vec::new(), false);
        assert!(!note_floor(&mut server, &floor) && server.notes.is_empty());
    }
}
