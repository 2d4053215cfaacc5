//! The command line: `compare` (the main job), `run` (one scenario against one server),
//! `merge` (combine histogram files from several load generators) and `exchange` (the
//! exchange at scale against redis-server).

use crate::model::{Config, PingCommand, Rate, Scenario};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Latency and throughput of Switchboard's backends (or any RESP server), measured honestly.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The shootout: every backend (and redis-server, and the tool's floor) under pub/sub
    /// fan-out, pub/sub over many topics and ping at 10/100/1000 connections, offered rate
    /// swept up to saturation; writes report.md, report.json and one plot per workload.
    Compare(CompareArgs),
    /// Run one scenario against a running server.
    Run(RunArgs),
    /// Merge `--hist-out` files from several load generators into one report.
    Merge(MergeArgs),
    /// The exchange at scale against redis-server: crowds of one channel, many channels, many
    /// patterns, memory per subscription (starts every server itself; prints a table).
    Exchange(ExchangeArgs),
}

/// What to run and how hard (shared by `run` and `compare`).
#[derive(Clone, Debug, Args)]
pub struct ScenarioArgs {
    /// The workload.
    #[arg(long, value_enum, default_value = "pubsub")]
    pub scenario: Scenario,
    /// Total requests (pubsub: publishes) per second on a fixed timetable, or `max` for closed
    /// loop saturation.
    #[arg(long, default_value = "5000")]
    pub rate: Rate,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds to wait for replies still in flight at the end (then they count as unanswered).
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Connections (echo, ping; default 10) or idle connections (idle; default 1000).
    #[arg(short, long)]
    pub connections: Option<usize>,
    /// Message size in bytes (echo messages, ECHO arguments, pubsub payloads, at least 32).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Requests per write (echo, ping).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// What the ping scenario sends.
    #[arg(long, value_enum, default_value = "ping")]
    pub command: PingCommand,
    /// Publisher connections (pubsub).
    #[arg(long, default_value_t = 2)]
    pub publishers: usize,
    /// Subscriber connections (pubsub); subscriber j listens on topic j % topics.
    #[arg(long, default_value_t = 50)]
    pub subscribers: usize,
    /// Topics (pubsub).
    #[arg(long, default_value_t = 10)]
    pub topics: usize,
    /// Connections carrying the measured PINGs (idle).
    #[arg(long, default_value_t = 4)]
    pub active: usize,
    /// Sender threads for open-loop request/response scenarios.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Poller threads that read replies and pub/sub deliveries (every connection is multiplexed
    /// over these; none has a thread of its own).
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
    /// Microseconds before each slot when senders stop sleeping and yield in a loop (0: they
    /// only sleep, with 1 ns timer slack). Spinning buys a few µs of precision on an idle machine
    /// and costs a core whenever slots are closer together than this; on a machine the tool
    /// shares with the server that is the wrong trade.
    #[arg(long, default_value_t = 0)]
    pub spin_us: u64,
    /// Repeat the run over several rates or connection counts: `rate=1000,5000,max` or
    /// `connections=10,100,1000` (pubsub: subscribers).
    #[arg(long)]
    pub sweep: Option<Sweep>,
    /// Reopen a connection the server closed or broke and carry on with the timetable (echo,
    /// ping, pub/sub publishers; subscribers are not resubscribed). Failures still count as
    /// errors; the report says how many connections were reopened.
    #[arg(long)]
    pub reconnect: bool,
}

impl ScenarioArgs {
    /// The run these arguments describe, against `addr`.
    pub fn config(&self, addr: &str) -> Config {
        let connections = self.connections.unwrap_or(match self.scenario {
            Scenario::Idle => 1000,
            _ => 10,
        });
        Config {
            scenario: self.scenario,
            addr: addr.to_string(),
            rate: self.rate,
            warmup_s: self.warmup,
            duration_s: self.duration,
            drain_s: self.drain,
            connections,
            size: self.size,
            pipeline: self.pipeline,
            command: self.command,
            publishers: self.publishers,
            subscribers: self.subscribers,
            topics: self.topics,
            active: self.active,
            server_pid: None,
            server_tid: None,
            threads: self.threads,
            readers: self.readers,
            spin_us: self.spin_us,
            reconnect: self.reconnect,
            security: Default::default(),
            server_cpus: Vec::new(),
            quiet: false,
        }
    }
}

/// What a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SweepParam {
    Rate,
    Connections,
}

/// `--sweep PARAM=V1,V2,...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    pub param: SweepParam,
    pub values: Vec<String>,
}

impl std::str::FromStr for Sweep {
    type Err = String;
    fn from_str(s: &str) -> Result<Sweep, String> {
        let (name, list) =
            s.split_once('=').ok_or("expected PARAM=V1,V2,... (rate= or connections=)")?;
        let param = match name {
            "rate" => SweepParam::Rate,
            "connections" | "conns" | "subscribers" => SweepParam::Connections,
            other => return Err(format!("cannot sweep {other:?}: use rate or connections")),
        };
        let values: Vec<String> =
            list.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err("the sweep has no values".into());
        }
        let sweep = Sweep { param, values };
        // Check every value now rather than in the middle of a long run.
        let probe = Config::default();
        for v in &sweep.values {
            sweep.apply(&probe, v)?;
        }
        Ok(sweep)
    }
}

impl Sweep {
    /// `base` with this sweep's parameter set to `value`.
    pub fn apply(&self, base: &Config, value: &str) -> Result<Config, String> {
        let mut cfg = base.clone();
        match self.param {
            SweepParam::Rate => cfg.rate = value.parse()?,
            SweepParam::Connections => {
                let n: usize = value.parse().map_err(|_| format!("not a count: {value:?}"))?;
                match cfg.scenario {
                    Scenario::Pubsub => cfg.subscribers = n,
                    _ => cfg.connections = n,
                }
            }
        }
        Ok(cfg)
    }

    /// A short name for one point: `rate=5000`.
    pub fn point_name(&self, value: &str) -> String {
        let name = match self.param {
            SweepParam::Rate => "rate",
            SweepParam::Connections => "connections",
        };
        format!("{name}={value}")
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// The server, `host:port`.
    #[arg(long, default_value = "127.0.0.1:15000")]
    pub addr: String,
    /// The name of this server in the output (default: the address).
    #[arg(long)]
    pub label: Option<String>,
    /// The server's pid: its CPU time, and memory per connection in the idle scenario.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Print CSV (a header and one row per run) instead of the table.
    #[arg(long)]
    pub csv: bool,
    /// Skip the floor: by default each run is preceded by the same load against a minimal
    /// in-process server (the latency and CPU the tool itself costs), shown as the `floor` row.
    /// The floor is always clear text without a password.
    #[arg(long)]
    pub no_floor: bool,
    /// TLS and login for every connection the run makes.
    #[command(flatten)]
    pub access: client::Access,
    /// Write the latency histograms (HdrHistogram V2 base64) for `loadtest merge`. A directory
    /// (existing, or given with a trailing `/`) gets a file named after the host and process,
    /// so that several load generators can share it.
    #[arg(long)]
    pub hist_out: Option<PathBuf>,
}

/// An external server compared alongside the backends.
#[derive(Clone, Debug, PartialEq)]
pub struct Against {
    pub name: String,
    pub addr: String,
}

impl std::str::FromStr for Against {
    type Err = String;
    fn from_str(s: &str) -> Result<Against, String> {
        match s.split_once('=') {
            Some((name, addr)) if !name.is_empty() && !addr.is_empty() => {
                Ok(Against { name: name.into(), addr: addr.into() })
            }
            _ => Err("expected NAME=HOST:PORT, e.g. redis=127.0.0.1:6379".into()),
        }
    }
}

/// A latency threshold on the command line: `1ms`, `500us`, `2.5ms`, `1s` (µs inside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slo(pub u64);

impl std::str::FromStr for Slo {
    type Err = String;
    fn from_str(s: &str) -> Result<Slo, String> {
        let s = s.trim();
        let (digits, scale) = if let Some(d) = s.strip_suffix("ms") {
            (d, 1e3)
        } else if let Some(d) = s.strip_suffix("us").or_else(|| s.strip_suffix("µs")) {
            (d, 1.0)
        } else if let Some(d) = s.strip_suffix('s') {
            (d, 1e6)
        } else {
            return Err(format!("{s:?}: give a unit, e.g. 1ms, 500us or 1s"));
        };
        match digits.trim().parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() && v * scale >= 1.0 => Ok(Slo((v * scale) as u64)),
            _ => Err(format!("{s:?} is not a positive duration of at least 1us")),
        }
    }
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Backends to start (default: every one the server's `--backend` accepts).
    #[arg(long, value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Workloads to run (default: all): fanout, topics, ping10, ping100, ping1000.
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// The latency threshold: each server's figure is the highest offered rate it held with p99
    /// under it (and every message answered or delivered).
    #[arg(long, default_value = "1ms")]
    pub slo: Slo,
    /// Ladders that climb four times the rate per step instead of two, shorter steps and fewer
    /// samples per step: about a third of the default's time (every workload still runs).
    #[arg(long)]
    pub quick: bool,
    /// The CPUs of the load generator and of the servers, `TOOL/SERVER` as CPU lists (e.g. `0/1`
    /// or `0-1/2-3`). Default: the load generator takes the lower half of the CPUs this process
    /// may use, the servers (every backend, redis-server and the floor alike) the rest.
    #[arg(long, conflicts_with = "no_partition")]
    pub cpu_split: Option<String>,
    /// Let the load generator and the servers share every CPU (no affinity masks).
    #[arg(long)]
    pub no_partition: bool,
    /// Rounds at the decisive step (where the leading backends part), interleaved across them
    /// and the floor; a server's figure there is the median of its rounds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Measured deliveries or requests per step at least, for a stable p99 (default 10000;
    /// --quick 3000): a step lasts `--step` seconds or as long as that many take.
    #[arg(long)]
    pub min_samples: Option<u64>,
    /// Do not start `redis-server` as a reference row (it is started, like the backends, when it
    /// is on the PATH).
    #[arg(long)]
    pub no_redis: bool,
    /// The redis-server binary.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: String,
    /// Skip the floor (the same load against a minimal in-process server).
    #[arg(long)]
    pub no_floor: bool,
    /// Seconds measured per step at least (default 0.5; --quick 0.25), after a warmup of half
    /// that.
    #[arg(long)]
    pub step: Option<f64>,
    /// The server binary (default: `server` next to this executable).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Extra arguments for every server started (repeatable), e.g. `--server-arg=--workers=8`.
    #[arg(long, allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
    /// Also measure an external server, e.g. `other=127.0.0.1:6380` (repeatable).
    #[arg(long)]
    pub against: Vec<Against>,
    /// Poller threads that read the connections (see `run --readers`).
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
    /// Directory for report.md, report.json, one SVG (and PNG, when rsvg-convert or ImageMagick
    /// is installed) per workload, and the server logs.
    #[arg(long, default_value = "results/compare")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Files written with `run --hist-out`, or directories: every `*.hdr` file in them.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Merge the files of each `run --label` separately: one row per server.
    #[arg(long)]
    pub by_label: bool,
    /// The name of the merged row (without --by-label).
    #[arg(long, conflicts_with = "by_label")]
    pub label: Option<String>,
    /// Also write report.md, report.json and latency.svg into this directory, like `compare`,
    /// and each merged row's histograms as LABEL.hdr (to merge again later).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Print CSV instead of the table.
    #[arg(long)]
    pub csv: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sweeps_parse_and_apply() {
        let s: Sweep = "rate=1000,max".parse().unwrap();
        assert_eq!(s.values, ["1000", "max"]);
        let base = Config { scenario: Scenario::Pubsub, ..Config::default() };
        assert_eq!(s.apply(&base, "max").unwrap().rate, Rate::Max);
        let c: Sweep = "connections=5".parse().unwrap();
        assert_eq!(c.apply(&base, "5").unwrap().subscribers, 5);
        assert_eq!(c.point_name("5"), "connections=5");
        assert!("rate=fast".parse::<Sweep>().is_err());
        assert!("size=1".parse::<Sweep>().is_err());
        assert!("rate=".parse::<Sweep>().is_err());
    }

    #[test]
    fn compare_defaults_and_thresholds_parse() {
        let cli = Cli::parse_from(["loadtest", "compare", "--against", "other=127.0.0.1:6380"]);
        let Cmd::Compare(args) = cli.command else { panic!("not compare") };
        assert_eq!(args.slo, Slo(1000));
        assert!(!args.quick && !args.no_redis && args.backends.is_empty());
        assert_eq!(args.against, [Against { name: "other".into(), addr: "127.0.0.1:6380".into() }]);
        assert!("noequals".parse::<Against>().is_err());
        assert_eq!("500us".parse::<Slo>(), Ok(Slo(500)));
        assert_eq!("2.5ms".parse::<Slo>(), Ok(Slo(2500)));
        assert_eq!("1s".parse::<Slo>(), Ok(Slo(1_000_000)));
        assert!("1".parse::<Slo>().is_err() && "0ms".parse::<Slo>().is_err());
        let run = Cli::parse_from(["loadtest", "run"]);
        let Cmd::Run(args) = run.command else { panic!("not run") };
        assert_eq!(args.scenario.config("x:1").scenario, Scenario::Pubsub);
    }
}

/// `loadtest exchange`: see [`crate::exchange`].
#[derive(Debug, Args)]
pub struct ExchangeArgs {
    /// Our servers to measure, each a column next to redis-server's: `BACKEND[@PATH]
    /// [FLAG...]`, e.g. `event`, `"event --threads 1"`, or `event@old/server` for another build.
    #[arg(long, value_delimiter = ',', default_value = "event")]
    pub backends: Vec<String>,
    /// Rounds; every figure is the median, servers alternating.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Subscribers of one channel, one measurement each (sizes above a server's client limit
    /// are skipped and noted).
    #[arg(long, value_delimiter = ',', default_value = "5000,9000,18000")]
    pub crowds: Vec<usize>,
    /// PUBLISHes to each crowd (the CPU figure is their mean, the wait for them their median).
    #[arg(long, default_value_t = 10)]
    pub publishes: usize,
    /// Channels with one subscriber each (throughput and memory figures).
    #[arg(long, default_value_t = 100_000)]
    pub channels: usize,
    /// Patterns with one subscriber each.
    #[arg(long, default_value_t = 10_000)]
    pub patterns: usize,
    /// redis-benchmark requests over the channels.
    #[arg(long, default_value_t = 1_000_000)]
    pub requests: usize,
    /// redis-benchmark requests over the patterns (redis-server tries every pattern for each).
    #[arg(long, default_value_t = 20_000)]
    pub pattern_requests: usize,
    /// Only these groups of measurements.
    #[arg(long, value_delimiter = ',', default_value = "crowd,channels,memory,patterns")]
    pub only: Vec<String>,
    /// The `server` binary (default: next to this one).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Extra flags for our server, e.g. `--server-arg=--threads=1`.
    #[arg(long)]
    pub server_arg: Vec<String>,
    #[arg(long, default_value = "redis-server")]
    pub redis_server: String,
    #[arg(long, default_value = "redis-benchmark")]
    pub redis_benchmark: String,
}
