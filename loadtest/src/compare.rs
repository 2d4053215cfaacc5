//! `loadtest compare`, the shootout: which concurrency model wins which workload here.
//!
//! For each [`Workload`] it starts every backend's `server` (and `redis-server`, when it is on
//! the PATH) on free ports and an in-process reflector (the tool's floor), then climbs a ladder
//! of offered rates. At each step every server that has not saturated yet runs the same load in
//! turn, the order rotating from step to step so that the machine's noise falls on all of them
//! alike. A server saturates when it misses the offered rate by more than 10% or leaves messages
//! unanswered or undelivered; it then sits out the rest of the ladder. Each server's figure is
//! the highest step it held with p99 under `--slo`, and the highest it sustained at all.
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
use crate::sys::Machine;
use crate::units::{fmt_rate, utc_now};
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
    /// Offered rates, requests (ping) or publishes (pub/sub) per second, lowest first.
    pub ladder: Vec<f64>,
}

/// The shootout's workloads; `quick` takes every third step of each ladder (x8 apart).
pub fn workloads(quick: bool) -> Vec<Workload> {
    let doubling = |from: f64, steps: u32| -> Vec<f64> {
        (0..steps).map(|k| from * 2f64.powi(k as i32)).collect()
    };
    let pubsub = |name, what, publishers, subscribers, topics, ladder| Workload {
        name,
        what,
        scenario: Scenario::Pubsub,
        connections: 0,
        publishers,
        subscribers,
        topics,
        ladder,
    };
    let ping = |name, what, connections| Workload {
        name,
        what,
        scenario: Scenario::Ping,
        connections,
        publishers: 0,
        subscribers: 0,
        topics: 0,
        ladder: doubling(5_000.0, 7),
    };
    let mut all = vec![
        pubsub(
            "fanout",
            "pub/sub fan-out: 2 publishers, 2 topics, 200 subscribers (100 per topic)",
            2,
            200,
            2,
            doubling(250.0, 7),
        ),
        pubsub(
            "topics",
            "pub/sub over many topics: 4 publishers, 1,000 topics, 1,000 subscribers (1 each)",
            4,
            1000,
            1000,
            doubling(5_000.0, 7),
        ),
        ping("ping10", "PING round trips on 10 connections", 10),
        ping("ping100", "PING round trips on 100 connections", 100),
        ping("ping1000", "PING round trips on 1,000 connections", 1000),
    ];
    if quick {
        for w in &mut all {
            w.ladder = w.ladder.iter().step_by(3).copied().collect();
        }
    }
    all
}

impl Workload {
    /// The run of one step at `rate` (addresses filled in later).
    fn config(&self, rate: f64, measured_s: f64, drain_s: f64, readers: usize) -> Config {
        Config {
            scenario: self.scenario,
            addr: String::new(),
            rate: Rate::Fixed(rate),
            warmup_s: measured_s / 2.0,
            duration_s: measured_s,
            drain_s,
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
    let measured_s = args.step.unwrap_or(if args.quick { 0.3 } else { 0.8 });
    let redis = if args.no_redis {
        None
    } else if on_path(&args.redis_server) {
        Some(args.redis_server.clone())
    } else {
        eprintln!("note: {} is not on the PATH: no reference row", args.redis_server);
        None
    };
    let rows = usize::from(!args.no_floor)
        + backends.len()
        + usize::from(redis.is_some())
        + args.against.len();
    let steps: usize = chosen.iter().map(|w| w.ladder.len() * rows).sum();
    let bar = overall_bar(steps as u64);
    let mut results = Vec::new();
    for w in &chosen {
        results.push(run_workload(w, args, &bin, &backends, redis.as_deref(), measured_s, &bar)?);
    }
    bar.finish_and_clear();
    let doc = Shootout {
        command: argv.join(" "),
        generated: utc_now(),
        machine: Machine::describe(),
        loadtest_version: env!("CARGO_PKG_VERSION").to_string(),
        slo_us: args.slo.0,
        quick: args.quick,
        measured_s,
        workloads: results,
    };
    write_shootout(&args.out, &doc)?;
    Ok(doc)
}

/// The bar over the whole shootout (stderr, only on a terminal).
fn overall_bar(steps: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {pos}/{len} steps, ~{eta} left  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Starts the rows of workload `w`, climbs its ladder, stops them.
fn run_workload(
    w: &Workload,
    args: &CompareArgs,
    bin: &Path,
    backends: &[String],
    redis: Option<&str>,
    measured_s: f64,
    bar: &ProgressBar,
) -> anyhow::Result<WorkloadResult> {
    let mut rows: Vec<(Curve, Option<Target>)> = Vec::new();
    let curve = |name: &str, kind: &str| Curve {
        name: name.to_string(),
        kind: kind.to_string(),
        status: "ok".into(),
        ..Default::default()
    };
    if !args.no_floor {
        rows.push((curve(FLOOR_LABEL, "floor"), Some(Target::Floor)));
    }
    // A row for a server process: its command when it started, why not when it did not.
    let started = |mut c: Curve, process: anyhow::Result<ServerProcess>| match process {
        Ok(s) => {
            c.command = Some(s.command.clone());
            (c, Some(Target::Process(s)))
        }
        Err(e) => {
            c.status = format!("unavailable: {e:#}");
            (c, None)
        }
    };
    for b in backends {
        let log = args.out.join(format!("server-{}-{b}.log", w.name));
        let process = ServerProcess::start(bin, b, "resp", &args.server_arg, &log);
        rows.push(started(curve(b, "backend"), process));
    }
    if let Some(redis) = redis {
        let log = args.out.join(format!("redis-{}.log", w.name));
        rows.push(started(curve("redis", "redis"), start_redis(redis, &log)));
    }
    for a in &args.against {
        rows.push((curve(&a.name, "external"), Some(Target::External(a.addr.clone()))));
    }
    let n = rows.len();
    for (k, &rate) in w.ladder.iter().enumerate() {
        // Rotate the order from step to step: nobody always runs first or last.
        for i in (0..n).map(|i| (i + k) % n) {
            let (c, target) = &mut rows[i];
            let Some(t) = target.as_ref() else {
                bar.inc(1);
                continue;
            };
            if c.saturated_at.is_some() || c.status != "ok" {
                bar.inc(1);
                continue;
            }
            bar.set_message(format!("{} {} at {}/s", w.name, c.name, fmt_rate(rate)));
            let drain_s = if args.quick { 0.5 } else { 1.0 };
            let cfg = w.config(rate, measured_s, drain_s, args.readers);
            let label = format!("{} {}/s", c.name, fmt_rate(rate));
            let result = match t {
                Target::Floor => scenarios::floor(&cfg, &label),
                Target::Process(s) => scenarios::run(
                    &Config { addr: s.addr.clone(), server_pid: Some(s.pid), ..cfg },
                    &label,
                ),
                Target::External(addr) => {
                    scenarios::run(&Config { addr: addr.clone(), ..cfg }, &label)
                }
            };
            bar.inc(1);
            match result {
                Ok(r) => {
                    if let Some(why) = saturated(&r) {
                        c.saturated_at = Some(rate);
                        c.notes.push(format!("saturated at {}/s offered: {why}", fmt_rate(rate)));
                        bar.set_length(
                            bar.length()
                                .unwrap_or(0)
                                .saturating_sub((w.ladder.len() - k - 1) as u64),
                        );
                    }
                    c.points.push(r);
                }
                Err(e) => {
                    c.status = format!("failed at {}/s: {e:#}", fmt_rate(rate));
                    bar.set_length(
                        bar.length().unwrap_or(0).saturating_sub((w.ladder.len() - k - 1) as u64),
                    );
                }
            }
        }
    }
    for (c, target) in &mut rows {
        if let Some(Target::Process(s)) = target.take() {
            if let Err(e) = s.stop() {
                c.notes.push(format!("stopping it: {e:#}"));
            }
        }
    }
    let mut curves: Vec<Curve> = rows.into_iter().map(|r| r.0).collect();
    // Each point against the floor's point at the same offered rate.
    let floor_points: Vec<RunReport> =
        curves.iter().filter(|c| c.kind == "floor").flat_map(|c| c.points.clone()).collect();
    for c in curves.iter_mut().filter(|c| c.kind != "floor") {
        for p in &mut c.points {
            if let Some(f) = floor_points.iter().find(|f| f.target_rate == p.target_rate) {
                scenarios::note_floor(p, f);
            }
        }
        c.best = best_point(&c.points, args.slo.0);
        c.sustained = best_point(&c.points, u64::MAX);
    }
    for c in curves.iter_mut().filter(|c| c.kind == "floor") {
        c.best = best_point(&c.points, args.slo.0);
        c.sustained = best_point(&c.points, u64::MAX);
    }
    Ok(WorkloadResult {
        name: w.name.to_string(),
        what: w.what.to_string(),
        unit: if w.scenario == Scenario::Pubsub { "deliveries" } else { "requests" }.into(),
        fanout: w.fanout(),
        ladder: w.ladder.clone(),
        curves,
    })
}

/// The index of the highest-rate point held with p99 under `slo_us`.
pub fn best_point(points: &[RunReport], slo_us: u64) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .filter(|(_, p)| saturated(p).is_none() && p.latency_us.p99 <= slo_us)
        .max_by(|a, b| a.1.achieved_rate.total_cmp(&b.1.achieved_rate))
        .map(|(i, _)| i)
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
