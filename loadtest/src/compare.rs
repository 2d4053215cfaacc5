//! `loadtest compare`, the shootout: which concurrency model wins which workload here.
//!
//! The load generator and the servers run on disjoint CPU sets (affinity masks; `--cpu-split`,
//! `--no-partition`), and each server's thread count follows the CPUs it is given. For each
//! [`Workload`] it starts every backend's `server` (and `redis-server`, when it is on the PATH)
//! on free ports and an in-process reflector (the tool's floor), then climbs a ladder of
//! offered rates until every one of them has saturated. At each step every server that has not
//! saturated yet runs the same load in turn, the order rotating from step to step so that the
//! machine's noise falls on all of them alike; a step measures at least `--min-samples`
//! deliveries or requests. A server saturates when it misses the offered rate by more than 10%
//! or leaves messages unanswered or undelivered; it then sits out the rest of the ladder.
//!
//! Then the decisive step (where the leader and the runner-up part) is run again for the
//! leading backends and the floor, `--rounds` in all, interleaved; [`crate::verdict`] ranks on the medians: at `--slo`,
//! or at a threshold the floor holds where the floor itself misses `--slo`, and names a
//! winner only beyond the spread of the rounds.
//!
//! [`write_dir`] also writes the report of `loadtest merge --out` (one scenario, several rows).

use crate::cli::CompareArgs;
use crate::documents;
use crate::histfile::write_json;
use crate::model::{
    CompareDoc, Config, Curve, Rate, RunReport, Scenario, Shootout, WorkloadResult,
};
use crate::plot::{self, Series};
use crate::scenarios::{self, FLOOR_LABEL};
use crate::servers::{all_backends, default_server_bin, on_path, start_redis, ServerProcess};
use crate::sys::{self, CpuSplit, Machine};
use crate::units::{fmt_rate, utc_now};
use crate::verdict::{self, StepRounds};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::Path;

/// One workload of the shootout.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub what: &'static str,
    pub scenario: Scenario,
    pub connections: usize,
    pub publishers: usize,
    pub subscribers: usize,
    pub topics: usize,
    /// Offered rates, requests (ping) or publishes (pub/sub) per second, lowest first: where
    /// the climb may go (it stops when every server has saturated).
    pub ladder: Vec<f64>,
}

/// Steps of a ladder at most: far past any server's saturation (x2 per step: 8,192 times the
/// first rate), so that the top is a cap no two servers reach together.
const LADDER_STEPS: u32 = 14;

/// The shootout's workloads; `quick` climbs x4 per step instead of x2, from a first step four
/// times higher (the lowest, which every server holds, is left out).
pub fn workloads(quick: bool) -> Vec<Workload> {
    let (factor, steps) = if quick { (4f64, LADDER_STEPS / 2) } else { (2f64, LADDER_STEPS) };
    let first = if quick { 4.0 } else { 1.0 };
    let climb = |from: f64| -> Vec<f64> {
        (0..steps).map(|k| first * from * factor.powi(k as i32)).collect()
    };
    let pubsub = |name, what, publishers, subscribers, topics, from| Workload {
        name,
        what,
        scenario: Scenario::Pubsub,
        connections: 0,
        publishers,
        subscribers,
        topics,
        ladder: climb(from),
    };
    let ping = |name, what, connections| Workload {
        name,
        what,
        scenario: Scenario::Ping,
        connections,
        publishers: 0,
        subscribers: 0,
        topics: 0,
        ladder: climb(10_000.0),
    };
    vec![
        pubsub(
            "fanout",
            "pub/sub fan-out: 2 publishers, 2 topics, 200 subscribers (100 per topic)",
            2,
            200,
            2,
            250.0,
        ),
        pubsub(
            "topics",
            "pub/sub over many topics: 4 publishers, 1,000 topics, 1,000 subscribers (1 each)",
            4,
            1000,
            1000,
            5_000.0,
        ),
        ping("ping10", "PING round trips on 10 connections", 10),
        ping("ping100", "PING round trips on 100 connections", 100),
        ping("ping1000", "PING round trips on 1,000 connections", 1000),
    ]
}

/// How long one step runs.
#[derive(Clone, Copy, Debug)]
pub struct StepTime {
    /// Seconds measured at least.
    pub measured_s: f64,
    /// Measured deliveries or requests at least.
    pub min_samples: u64,
    pub drain_s: f64,
}

/// The longest a step is stretched to reach its sample count, seconds measured.
const STEP_MAX_S: f64 = 4.0;

impl Workload {
    /// The run of one step at `rate` (addresses filled in later): measured for `time.measured_s`
    /// or as long as `time.min_samples` take at this rate (at most [`STEP_MAX_S`]).
    fn config(&self, rate: f64, time: StepTime, readers: usize) -> Config {
        let for_samples = time.min_samples as f64 / (rate * self.fanout()).max(1.0);
        let duration_s = time.measured_s.max(for_samples.min(STEP_MAX_S));
        Config {
            scenario: self.scenario,
            addr: String::new(),
            rate: Rate::Fixed(rate),
            warmup_s: time.measured_s / 2.0,
            duration_s,
            drain_s: time.drain_s,
            connections: self.connections.max(1),
            size: 64,
            publishers: self.publishers.max(1),
            subscribers: self.subscribers,
            topics: self.topics.max(1),
            readers,
            quiet: true,
            ..Config::default()
        }
    }

    /// Deliveries (or replies) per offered request.
    fn fanout(&self) -> f64 {
        match self.scenario {
            Scenario::Pubsub => self.subscribers as f64 / self.topics.max(1) as f64,
            _ => 1.0,
        }
    }

    /// Connections the load keeps open for the whole run.
    pub fn open_connections(&self) -> usize {
        match self.scenario {
            Scenario::Pubsub => self.publishers + self.subscribers,
            _ => self.connections,
        }
    }
}

/// The value of `--flag=V` or `--flag V` among `args`.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let eq = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| match a.strip_prefix(&eq) {
        Some(v) => Some(v.to_string()),
        None if a == flag => args.get(i + 1).cloned(),
        None => None,
    })
}

/// The arguments `backend` is started with: `user`'s, and a thread count that follows the
/// `cpus` it is given (`--threads` for `event` and `uring`, `--workers` for `queue`) unless
/// `user` sets it. `thread` and `pool` have no such count: a thread per connection, and a pool
/// sized by connections.
pub fn server_args(backend: &str, user: &[String], cpus: usize) -> Vec<String> {
    let mut args = user.to_vec();
    let flag = match backend {
        "event" | "uring" => "--threads",
        "queue" => "--workers",
        _ => return args,
    };
    if flag_value(user, flag).is_none() {
        args.push(format!("{flag}={cpus}"));
    }
    args
}

/// Why `backend` cannot serve workload `w` by design, with the flag that would change it, or
/// `None`. A `pool` worker holds its connection until it closes: a workload that keeps more
/// connections open than there are workers leaves the rest waiting until they are refused.
pub fn cannot_serve(backend: &str, w: &Workload, user: &[String]) -> Option<String> {
    if backend != "pool" {
        return None;
    }
    let workers = flag_value(user, "--workers")
        .and_then(|v| v.parse().ok())
        .unwrap_or(server::backend::pool::DEFAULT_WORKERS);
    // The load's connections, and the tool's own for the server's INFO counters.
    let needed = w.open_connections() + 1;
    (needed > workers).then(|| {
        format!(
            "cannot serve this workload by design: a pool worker holds its connection until it \
             closes, and the load keeps {needed} connections open against {workers} workers \
             (`--server-arg=--workers={needed}` would let it)"
        )
    })
}

/// Where one row of a workload runs.
enum Target {
    Floor,
    Process(ServerProcess),
    External(String),
}

/// Returns why step `r` saturated its server, or `None` if it held the load: it saturated when
/// it missed the offered rate by more than 10% or lost or left anything unanswered. (A p99 past
/// the threshold is not saturation: on a shared machine a noisy step can do that at any rate.)
pub fn saturated(r: &RunReport) -> Option<String> {
    let target = r.target_unit_rate.unwrap_or(0.0);
    let lost = r.pubsub.as_ref().map_or(0, |p| p.lost);
    if r.errors + r.unanswered + lost > 0 {
        return Some(format!("{} errors, {} unanswered, {} lost", r.errors, r.unanswered, lost));
    }
    if r.achieved_rate < 0.9 * target {
        return Some(format!(
            "achieved {} of {} offered",
            fmt_rate(r.achieved_rate),
            fmt_rate(target)
        ));
    }
    None
}

/// The CPU split `args` ask for on a machine where this process may use `allowed`.
pub fn cpu_split(args: &CompareArgs, allowed: &[usize]) -> anyhow::Result<Option<CpuSplit>> {
    if args.no_partition {
        return Ok(None);
    }
    match &args.cpu_split {
        Some(spec) => Ok(Some(CpuSplit::parse(spec, allowed).map_err(anyhow::Error::msg)?)),
        None => Ok(CpuSplit::halves(allowed)),
    }
}

/// What every workload of one shootout shares.
struct Setup<'a> {
    args: &'a CompareArgs,
    bin: &'a Path,
    backends: &'a [String],
    redis: Option<&'a str>,
    time: StepTime,
    /// The servers' CPUs (`None`: unconfined) and how many they are.
    server_cpus: Option<Vec<usize>>,
    cpus: usize,
    bar: ProgressBar,
}

/// Runs the shootout and writes `args.out`; returns what it wrote.
pub fn compare(args: &CompareArgs, argv: &[String]) -> anyhow::Result<Shootout> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => default_server_bin()?,
    };
    let backends = if args.backends.is_empty() { all_backends() } else { args.backends.clone() };
    let mut chosen = workloads(args.quick);
    if !args.workloads.is_empty() {
        for w in &args.workloads {
            if !chosen.iter().any(|c| c.name == w) {
                bail!(
                    "unknown workload {w:?}: choose from {}",
                    chosen.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
                );
            }
        }
        chosen.retain(|c| args.workloads.iter().any(|w| w == c.name));
    }
    // Before the pin below, which the machine's CPU count would otherwise see.
    let machine = Machine::describe();
    let allowed = sys::allowed_cpus().context("reading this process's CPUs")?;
    let split = cpu_split(args, &allowed)?;
    match &split {
        // This thread's mask is inherited by every thread the tool starts from here on.
        Some(s) => sys::pin(&sys::cpu_set(&s.tool)).context("confining the load generator")?,
        None if !args.no_partition => {
            eprintln!("note: fewer than 2 CPUs: the load generator and the servers share them")
        }
        None => {}
    }
    let time = StepTime {
        measured_s: args.step.unwrap_or(if args.quick { 0.25 } else { 0.5 }),
        min_samples: args.min_samples.unwrap_or(if args.quick { 3_000 } else { 10_000 }),
        drain_s: if args.quick { 0.5 } else { 1.0 },
    };
    let redis = if args.no_redis {
        None
    } else if on_path(&args.redis_server) {
        Some(args.redis_server.clone())
    } else {
        eprintln!("note: {} is not on the PATH: no reference row", args.redis_server);
        None
    };
    let setup = Setup {
        args,
        bin: &bin,
        backends: &backends,
        redis: redis.as_deref(),
        time,
        cpus: split.as_ref().map_or(allowed.len(), |s| s.server.len()),
        server_cpus: split.as_ref().map(|s| s.server.clone()),
        bar: overall_bar(),
    };
    let mut results = Vec::new();
    for w in &chosen {
        results.push(run_workload(w, &setup)?);
    }
    setup.bar.finish_and_clear();
    let doc = Shootout {
        command: argv.join(" "),
        generated: utc_now(),
        machine,
        loadtest_version: env!("CARGO_PKG_VERSION").to_string(),
        slo_us: args.slo.0,
        quick: args.quick,
        measured_s: time.measured_s,
        min_samples: time.min_samples,
        rounds: args.rounds as usize,
        cpu_split: split,
        workloads: results,
    };
    write_shootout(&args.out, &doc)?;
    Ok(doc)
}

/// The counter of runs over the whole shootout (stderr, only on a terminal).
fn overall_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} {pos} runs  {msg}").expect("valid template"),
    );
    bar
}

/// One row of a workload while it runs.
struct Row {
    curve: Curve,
    target: Option<Target>,
}

impl Row {
    /// Still climbing: running, not saturated, not failed.
    fn climbing(&self) -> bool {
        self.target.is_some() && self.curve.status == "ok" && self.curve.saturated_at.is_none()
    }
}

/// Runs one step at `rate` against `row`: the report, or why it failed.
fn measure(w: &Workload, s: &Setup, row: &Row, rate: f64) -> anyhow::Result<RunReport> {
    let cfg = w.config(rate, s.time, s.args.readers);
    let label = format!("{} {}/s", row.curve.name, fmt_rate(rate));
    s.bar.set_message(format!("{} {} at {}/s", w.name, row.curve.name, fmt_rate(rate)));
    let result = match row.target.as_ref().context("not running")? {
        Target::Floor => {
            let server_cpus = s.server_cpus.clone().unwrap_or_default();
            scenarios::floor(&Config { server_cpus, ..cfg }, &label)
        }
        Target::Process(p) => {
            scenarios::run(&Config { addr: p.addr.clone(), server_pid: Some(p.pid), ..cfg }, &label)
        }
        Target::External(addr) => scenarios::run(&Config { addr: addr.clone(), ..cfg }, &label),
    };
    s.bar.inc(1);
    result
}

/// One round of `r` as it enters a [`StepRounds`].
fn round_of(rounds: &mut StepRounds, r: &RunReport) {
    // A round that measured nothing has no p99: it failed.
    rounds.p99_us.push(if r.measured == 0 { u64::MAX } else { r.latency_us.p99 });
    rounds.achieved.push(r.achieved_rate);
    rounds.sustained.push(saturated(r).is_none());
}

/// Starts the rows of workload `w`: the floor, every backend (or why it cannot serve `w`),
/// redis-server, the external servers.
fn start_rows(w: &Workload, s: &Setup) -> Vec<Row> {
    let mut rows = Vec::new();
    let curve = |name: &str, kind: &str| Curve {
        name: name.to_string(),
        kind: kind.to_string(),
        status: "ok".into(),
        ..Default::default()
    };
    if !s.args.no_floor {
        rows.push(Row { curve: curve(FLOOR_LABEL, "floor"), target: Some(Target::Floor) });
    }
    // A row for a server process: its command when it started, why not when it did not.
    let started = |mut c: Curve, process: anyhow::Result<ServerProcess>| match process {
        Ok(p) => {
            c.command = Some(p.command.clone());
            Row { curve: c, target: Some(Target::Process(p)) }
        }
        Err(e) => {
            c.status = format!("unavailable: {e:#}");
            Row { curve: c, target: None }
        }
    };
    let cpus = s.server_cpus.as_deref();
    for b in s.backends {
        if let Some(why) = cannot_serve(b, w, &s.args.server_arg) {
            let mut c = curve(b, "backend");
            c.status = why;
            rows.push(Row { curve: c, target: None });
            continue;
        }
        let log = s.args.out.join(format!("server-{}-{b}.log", w.name));
        let args = server_args(b, &s.args.server_arg, s.cpus);
        let process = ServerProcess::start(s.bin, b, "resp", &args, &log, cpus);
        rows.push(started(curve(b, "backend"), process));
    }
    if let Some(redis) = s.redis {
        let log = s.args.out.join(format!("redis-{}.log", w.name));
        // Redis's own threads follow its CPUs too: I/O threads beyond the first.
        let extra: Vec<String> =
            if s.cpus > 1 { vec!["--io-threads".into(), s.cpus.to_string()] } else { Vec::new() };
        rows.push(started(curve("redis", "redis"), start_redis(redis, &log, &extra, cpus)));
    }
    for a in &s.args.against {
        rows.push(Row {
            curve: curve(&a.name, "external"),
            target: Some(Target::External(a.addr.clone())),
        });
    }
    rows
}

/// Climbs the ladder of `w` until every row has saturated (or the ladder ends); returns the
/// offered rates climbed.
fn climb(w: &Workload, s: &Setup, rows: &mut [Row]) -> Vec<f64> {
    let n = rows.len();
    let mut ladder = Vec::new();
    for (k, &rate) in w.ladder.iter().enumerate() {
        if !rows.iter().any(Row::climbing) {
            break;
        }
        ladder.push(rate);
        // Rotate the order from step to step: nobody always runs first or last.
        for i in (0..n).map(|i| (i + k) % n) {
            if !rows[i].climbing() {
                continue;
            }
            let result = measure(w, s, &rows[i], rate);
            let c = &mut rows[i].curve;
            match result {
                Ok(r) => {
                    if let Some(why) = saturated(&r) {
                        c.saturated_at = Some(rate);
                        c.notes.push(format!("saturated at {}/s offered: {why}", fmt_rate(rate)));
                    }
                    let mut step = StepRounds { rate, ..Default::default() };
                    round_of(&mut step, &r);
                    c.rounds.push(step);
                    c.points.push(r);
                }
                Err(e) => c.status = format!("failed at {}/s: {e:#}", fmt_rate(rate)),
            }
        }
    }
    ladder
}

/// The threshold to rank at and the steps the floor missed `--slo` at, from the floor's rounds.
fn threshold_of(rows: &[Row], slo_us: u64) -> (u64, Vec<f64>) {
    match rows.iter().find(|r| r.curve.kind == "floor") {
        Some(f) => verdict::threshold(&f.curve.rounds, slo_us),
        None => (slo_us, Vec::new()),
    }
}

/// Backends that can still win at most, and repeated together.
const LEADERS: usize = 3;

/// The backends that can still win at `threshold_us` after the climb (up to [`LEADERS`], each
/// holding at least the runner-up's highest step) and the decisive step, as indices into the
/// ladder: where the leader and the runner-up hold the same highest step, that step (their
/// p99s there decide); else the step above the runner-up's highest (who held it decides).
fn decisive(rows: &[Row], threshold_us: u64) -> (Vec<usize>, Vec<usize>) {
    let mut tops: Vec<(usize, usize, u64)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.curve.kind == "backend" && r.curve.status == "ok")
        .filter_map(|(i, r)| {
            let t = verdict::top(&r.curve.rounds, threshold_us)?;
            Some((i, t, r.curve.rounds[t].p99()))
        })
        .collect();
    tops.sort_by_key(|t| (std::cmp::Reverse(t.1), t.2));
    let (Some(&(_, ta, _)), runner) = (tops.first(), tops.get(1)) else {
        return (Vec::new(), Vec::new());
    };
    let tb = runner.map_or(ta, |r| r.1);
    let step = if ta == tb { ta } else { tb + 1 };
    let leaders = tops.iter().filter(|t| t.1 >= tb).take(LEADERS).map(|t| t.0).collect();
    (leaders, vec![step])
}

/// Starts the rows of workload `w`, climbs its ladder, repeats its decisive steps, stops the
/// rows and judges.
fn run_workload(w: &Workload, s: &Setup) -> anyhow::Result<WorkloadResult> {
    let started = std::time::Instant::now();
    let mut rows = start_rows(w, s);
    let ladder = climb(w, s, &mut rows);
    let capped: Vec<String> =
        rows.iter().filter(|r| r.climbing()).map(|r| r.curve.name.clone()).collect();
    let slo = s.args.slo.0;
    let (threshold_us, _) = threshold_of(&rows, slo);
    let (leaders, steps) = decisive(&rows, threshold_us);
    // The leaders and the floor again at the decisive steps they climbed to, interleaved:
    // every round visits every step, in an order that rotates.
    let mut again: Vec<usize> = leaders.clone();
    again.extend(rows.iter().position(|r| r.curve.kind == "floor"));
    for round in 1..s.args.rounds as usize {
        for (j, &k) in steps.iter().enumerate() {
            for t in 0..again.len() {
                let i = again[(t + round + j) % again.len()];
                if rows[i].target.is_none() || rows[i].curve.rounds.len() <= k {
                    continue;
                }
                let rate = ladder[k];
                match measure(w, s, &rows[i], rate) {
                    Ok(r) => round_of(&mut rows[i].curve.rounds[k], &r),
                    Err(e) => {
                        let rounds = &mut rows[i].curve.rounds[k];
                        rounds.p99_us.push(u64::MAX);
                        rounds.achieved.push(0.0);
                        rounds.sustained.push(false);
                        rows[i].curve.notes.push(format!(
                            "a repeated round at {}/s failed: {e:#}",
                            fmt_rate(rate)
                        ));
                    }
                }
            }
        }
    }
    for row in &mut rows {
        if let Some(Target::Process(p)) = row.target.take() {
            if let Err(e) = p.stop() {
                row.curve.notes.push(format!("stopping it: {e:#}"));
            }
        }
    }
    let (threshold_us, floor_misses) = threshold_of(&rows, slo);
    let mut curves: Vec<Curve> = rows.into_iter().map(|r| r.curve).collect();
    // Each point against the floor's point at the same offered rate.
    let floor_points: Vec<RunReport> =
        curves.iter().filter(|c| c.kind == "floor").flat_map(|c| c.points.clone()).collect();
    for c in &mut curves {
        if c.kind != "floor" {
            for p in &mut c.points {
                if let Some(f) = floor_points.iter().find(|f| f.target_rate == p.target_rate) {
                    scenarios::note_floor(p, f);
                }
            }
        }
        c.best = verdict::top(&c.rounds, threshold_us);
        c.sustained = (0..c.rounds.len()).rev().find(|&k| c.rounds[k].sustained());
    }
    // In the workload's unit (deliveries or requests), as the verdict quotes rates.
    let contenders: Vec<(String, Vec<StepRounds>)> = curves
        .iter()
        .filter(|c| c.kind == "backend" && c.status == "ok")
        .map(|c| {
            let unit = |s: &StepRounds| StepRounds { rate: s.rate * w.fanout(), ..s.clone() };
            (c.name.clone(), c.rounds.iter().map(unit).collect())
        })
        .collect();
    let floor_kept_up = curves.iter().filter(|c| c.kind == "floor").all(|c| c.sustained.is_some());
    let verdict = if floor_kept_up {
        verdict::decide(&contenders, threshold_us)
    } else {
        verdict::Verdict {
            why: "the floor (the tool against a minimal server) sustained no step: the tool \
                  cannot offer this load here, so no step can rank servers"
                .into(),
            ..Default::default()
        }
    };
    Ok(WorkloadResult {
        name: w.name.to_string(),
        what: w.what.to_string(),
        unit: if w.scenario == Scenario::Pubsub { "deliveries" } else { "requests" }.into(),
        fanout: w.fanout(),
        verdict,
        decisive: steps.iter().filter_map(|&k| ladder.get(k).copied()).collect(),
        ladder,
        curves,
        threshold_us,
        floor_misses,
        capped,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// Writes report.md, report.json and one plot per workload of `doc` into `dir`.
pub fn write_shootout(dir: &Path, doc: &Shootout) -> anyhow::Result<()> {
    let mut plots = Vec::new();
    for w in &doc.workloads {
        let series: Vec<Series<'_, Vec<plot::RatePoint>>> = w
            .curves
            .iter()
            .map(|c| Series {
                label: c.name.as_str(),
                // A step that measured nothing has no latency to draw.
                points: c
                    .points
                    .iter()
                    .filter(|r| r.measured > 0)
                    .map(|r| (r.achieved_rate, r.latency_us.p99, saturated(r).is_none()))
                    .collect::<Vec<_>>(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        let file = format!("{}.svg", w.name);
        if !series.is_empty() {
            let title = format!("{}: p99 latency vs throughput", w.name);
            plot::throughput_chart(&dir.join(&file), &title, &series, Some(doc.slo_us))?;
            plot::to_png(&dir.join(&file));
            plots.push((w.name.clone(), file));
        }
    }
    std::fs::write(dir.join("report.md"), documents::shootout_markdown(doc, &plots))?;
    write_json(&dir.join("report.json"), doc)?;
    Ok(())
}

/// Writes report.md, report.json and latency.svg of `doc` (one scenario, a row per server:
/// what `loadtest merge --out` writes) into `dir`.
pub fn write_dir(dir: &Path, doc: &CompareDoc) -> anyhow::Result<()> {
    let base: Vec<&RunReport> = doc.entries.iter().filter_map(|e| e.run.as_ref()).collect();
    let mut plots = Vec::new();
    if !base.is_empty() {
        let series: Vec<Series<'_, &[_]>> = base
            .iter()
            .map(|r| Series { label: r.label.as_str(), points: r.latency_curve.as_slice() })
            .collect();
        let title = format!(
            "{} latency by percentile (from scheduled send time)",
            doc.settings.scenario.name()
        );
        plot::percentile_chart(&dir.join("latency.svg"), &title, &series)?;
        plots.push(("latency by percentile", "latency.svg"));
    }
    std::fs::write(dir.join("report.md"), documents::compare_markdown(doc, &plots))?;
    write_json(&dir.join("report.json"), doc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn thread_counts_follow_the_servers_cpus_unless_given() {
        assert_eq!(server_args("event", &[], 3), strings(&["--threads=3"]));
        assert_eq!(server_args("uring", &[], 1), strings(&["--threads=1"]));
        assert_eq!(server_args("queue", &[], 2), strings(&["--workers=2"]));
        assert!(server_args("thread", &[], 2).is_empty());
        assert!(server_args("pool", &[], 2).is_empty());
        let given = strings(&["--threads", "8"]);
        assert_eq!(server_args("event", &given, 2), given);
        let given = strings(&["--workers=5"]);
        assert_eq!(server_args("queue", &given, 2), given);
    }

    #[test]
    fn a_pool_smaller_than_the_open_connections_cannot_serve_by_design() {
        let all = workloads(false);
        let w = |name: &str| all.iter().find(|w| w.name == name).unwrap();
        let why = cannot_serve("pool", w("fanout"), &[]).unwrap();
        assert!(why.contains("203 connections open against 128 workers"), "{why}");
        assert!(why.contains("--server-arg=--workers=203"), "{why}");
        assert!(cannot_serve("pool", w("ping100"), &[]).is_none());
        assert!(cannot_serve("pool", w("ping1000"), &[]).is_some());
        assert!(cannot_serve("pool", w("ping1000"), &strings(&["--workers=2000"])).is_none());
        assert!(cannot_serve("event", w("topics"), &[]).is_none());
    }

    #[test]
    fn ladders_reach_far_past_their_first_step_and_steps_last_for_their_samples() {
        for w in workloads(false) {
            assert_eq!(w.ladder.len(), LADDER_STEPS as usize);
            assert_eq!(w.ladder[LADDER_STEPS as usize - 1] / w.ladder[0], 8192.0);
        }
        let quick = workloads(true);
        assert_eq!(quick[0].ladder[1] / quick[0].ladder[0], 4.0);
        assert_eq!(quick[0].ladder[0], 4.0 * workloads(false)[0].ladder[0]);
        let time = StepTime { measured_s: 0.5, min_samples: 10_000, drain_s: 1.0 };
        let ping = &workloads(false)[2];
        // 10,000 requests at 10k/s: 1 s; at 1M/s the floor of 0.5 s; at 100/s at most 4 s.
        assert_eq!(ping.config(10_000.0, time, 2).duration_s, 1.0);
        assert_eq!(ping.config(1e6, time, 2).duration_s, 0.5);
        assert_eq!(ping.config(100.0, time, 2).duration_s, STEP_MAX_S);
        // Pub/sub counts deliveries: 250 publishes/s to 100 subscribers each.
        assert_eq!(workloads(false)[0].config(250.0, time, 2).duration_s, 0.5);
    }
}
