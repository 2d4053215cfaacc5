//! The run model: what a run is asked to do ([`Config`], [`Scenario`], [`Rate`]), what it
//! measured ([`RunReport`] with its pub/sub and idle figures), and what a comparison or a
//! shootout found ([`CompareDoc`], [`Shootout`]). Plain data: the runners fill it, the
//! presenters read it.

use crate::hist::{CurvePoint, Summary};
use crate::sys::{CpuSplit, Machine};
use crate::verdict::{StepRounds, Verdict};
use crate::wire::Security;
use serde::{Deserialize, Serialize};

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
    /// The CPUs of an in-process server (the floor's reflector), when the tool and the server
    /// are kept apart; empty: wherever the tool runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_cpus: Vec<usize>,
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
            server_cpus: Vec::new(),
            quiet: false,
        }
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
    pub pubsub: Option<PubsubStats>,
    pub idle: Option<IdleStats>,
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

/// What one subscriber saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberStats {
    pub topic: usize,
    /// Messages published on its topic.
    pub expected: u64,
    /// Distinct messages received.
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// The server closed the connection (for example as a slow consumer).
    pub disconnected: bool,
}

/// The pub/sub figures of a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PubsubStats {
    pub publishers: usize,
    pub subscribers: usize,
    pub topics: usize,
    /// PUBLISH commands sent (warmup included).
    pub published: u64,
    /// Sum of the PUBLISH replies: deliveries the server accepted.
    pub publish_replies_sum: u64,
    /// Distinct messages received by all subscribers.
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Server counters (deltas over the run), when `INFO stats` reports them.
    pub server_delivered: Option<u64>,
    pub server_dropped: Option<u64>,
    /// `publish_replies_sum == received + server_dropped` (dropped taken as 0 if unknown).
    pub accounting_ok: bool,
    /// PUBLISH round-trip latency from the scheduled time, µs.
    pub publish_rtt_us: Summary,
    pub per_subscriber: Vec<SubscriberStats>,
}

/// The idle-connection figures of a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IdleStats {
    /// Idle connections asked for.
    pub requested: usize,
    pub opened: usize,
    pub connect_errors: usize,
    /// Idle connections that answered PING before and after the measured load.
    pub alive_at_start: usize,
    pub alive_at_end: usize,
    /// The open-files limit after raising it.
    pub fd_limit: u64,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    /// Server memory growth divided by the idle connections opened.
    pub bytes_per_connection: Option<f64>,
}

/// One server in a comparison.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Entry {
    /// The backend or `--against` name.
    pub name: String,
    /// The address of an external server (`None` for a backend we started).
    pub external: Option<String>,
    /// `ok`, `failed`, or `unavailable: why`.
    pub status: String,
    /// How the server was started (backends only).
    pub server_command: Option<String>,
    /// The run with the base settings.
    pub run: Option<RunReport>,
    /// One run per sweep point.
    pub sweep: Vec<RunReport>,
    pub notes: Vec<String>,
}

/// Everything `loadtest compare` found: what `report.json` holds and `report.md` shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompareDoc {
    /// The exact `loadtest` command line.
    pub command: String,
    /// When, in UTC.
    pub generated: String,
    pub settings: Config,
    pub sweep: Option<String>,
    pub machine: Machine,
    pub loadtest_version: String,
    pub entries: Vec<Entry>,
}

/// One server's curve in one workload of the shootout.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Curve {
    /// The backend, `redis`, `floor`, or an `--against` name.
    pub name: String,
    /// `backend`, `redis`, `floor` or `external`.
    pub kind: String,
    /// `ok`, `unavailable: why` or `failed at RATE: why`.
    pub status: String,
    /// How the server was started.
    pub command: Option<String>,
    /// One run per step of the ladder it climbed, lowest rate first.
    pub points: Vec<RunReport>,
    /// The offered rate (requests or publishes per second) at which it saturated.
    pub saturated_at: Option<f64>,
    /// Index into `points` of the highest rate held with p99 under the threshold.
    pub best: Option<usize>,
    /// Index into `points` of the highest rate sustained (not saturated), whatever its p99.
    #[serde(default)]
    pub sustained: Option<usize>,
    /// Per step climbed, lowest first: the climb's round and the rounds repeated at the
    /// decisive steps.
    #[serde(default)]
    pub rounds: Vec<StepRounds>,
    pub notes: Vec<String>,
}

impl Curve {
    /// The point of the highest rate held with p99 under the threshold.
    pub fn best_point(&self) -> Option<&RunReport> {
        self.best.and_then(|i| self.points.get(i))
    }

    /// The point of the highest rate sustained at all.
    pub fn sustained_point(&self) -> Option<&RunReport> {
        self.sustained.and_then(|i| self.points.get(i))
    }
}

/// One workload of the shootout.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkloadResult {
    pub name: String,
    /// What it is, in words.
    pub what: String,
    /// What rates count: `deliveries` or `requests`.
    pub unit: String,
    /// Deliveries per publish (1 for ping).
    pub fanout: f64,
    /// Offered rates (requests or publishes per second), as far as the climb went.
    pub ladder: Vec<f64>,
    pub curves: Vec<Curve>,
    /// The p99 threshold the servers were ranked at, µs: `--slo`, or higher where the floor
    /// missed it (see `floor_misses`).
    #[serde(default)]
    pub threshold_us: u64,
    /// Offered rates at which the floor itself missed `--slo`: they cannot rank servers at it.
    #[serde(default)]
    pub floor_misses: Vec<f64>,
    /// Rows still unsaturated at the ladder's last step (its cap).
    #[serde(default)]
    pub capped: Vec<String>,
    /// The offered rates repeated in interleaved rounds.
    #[serde(default)]
    pub decisive: Vec<f64>,
    /// Wall-clock seconds the workload took, servers' start and stop included.
    #[serde(default)]
    pub elapsed_s: f64,
    #[serde(default)]
    pub verdict: Verdict,
}

/// Everything `loadtest compare` found: what its `report.json` holds and `report.md` shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Shootout {
    /// The exact `loadtest` command line.
    pub command: String,
    /// When, in UTC.
    pub generated: String,
    pub machine: Machine,
    pub loadtest_version: String,
    /// The p99 threshold, µs.
    pub slo_us: u64,
    pub quick: bool,
    /// Seconds measured per step at least (after a warmup of half that).
    pub measured_s: f64,
    /// Measured deliveries or requests per step at least (a step lasts as long as that takes).
    #[serde(default)]
    pub min_samples: u64,
    /// Rounds at the decisive steps.
    #[serde(default)]
    pub rounds: usize,
    /// The CPUs of the load generator and of the server under test; `None`: shared.
    #[serde(default)]
    pub cpu_split: Option<CpuSplit>,
    pub workloads: Vec<WorkloadResult>,
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
}
