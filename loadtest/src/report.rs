//! Turning [`RunReport`]s into things people read: the terminal table, CSV rows for sweeps,
//! JSON, the histogram files that `loadtest merge` combines, and the merged report itself.

use crate::hist::{from_base64, merge, percentile_curve, to_base64, Hist, Summary};
use crate::scenarios::{Config, RunReport, Scenario};
use crate::sys::Machine;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A latency in µs as people read it: `87µs`, `1.25ms`, `3.10s`.
pub fn fmt_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// CPU microseconds per operation: `1.25`, `-` when unknown.
pub fn fmt_cpu_op(us: Option<f64>) -> String {
    match us {
        Some(us) if us.is_finite() && us > 0.0 => format!("{us:.2}"),
        _ => "-".into(),
    }
}

/// A rate as people read it: `980`, `12.3k`, `1.20M`.
pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The header and one row of the summary table for each report.
fn rows(reports: &[RunReport]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "server",
        "target/s",
        "achieved/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "p99.99",
        "max",
        "mean",
        "p99 (uncorr.)",
        "errors",
        "lost",
        "loadtest cpu",
        "loadtest µs/op",
        "server cpu",
        "server µs/op",
    ];
    let rows = reports
        .iter()
        .map(|r| {
            let l = &r.latency_us;
            let lost = match (&r.pubsub, &r.idle) {
                (Some(p), _) => format!("{}", p.lost),
                _ => "-".into(),
            };
            vec![
                r.label.clone(),
                r.target_unit_rate.map_or("max".into(), fmt_rate),
                fmt_rate(r.achieved_rate),
                fmt_us(l.p50),
                fmt_us(l.p90),
                fmt_us(l.p99),
                fmt_us(l.p999),
                fmt_us(l.p9999),
                fmt_us(l.max),
                fmt_us(l.mean.round() as u64),
                fmt_us(r.uncorrected_us.p99),
                format!("{}", r.errors + r.unanswered),
                lost,
                format!("{:.0}%", r.tool_cpu_pct),
                fmt_cpu_op(Some(r.tool_cpu_us_per_op)),
                r.server_cpu_pct.map_or("-".into(), |c| format!("{c:.0}%")),
                fmt_cpu_op(r.server_cpu_us_per_op),
            ]
        })
        .collect();
    (header, rows)
}

/// The summary table, aligned for a terminal.
pub fn text_table(reports: &[RunReport]) -> String {
    let (header, rows) = rows(reports);
    let width = |i: usize| {
        rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 {
                let _ = write!(out, "{c}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{c}", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(header.iter().map(|s| s.to_string()).collect(), &mut out);
    for r in rows {
        line(r, &mut out);
    }
    out
}

/// The summary table in Markdown.
pub fn markdown_table(reports: &[RunReport]) -> String {
    let (header, rows) = rows(reports);
    let mut out = format!("| {} |\n", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out
}

/// The CSV header matching [`csv_row`].
pub const CSV_HEADER: &str = "label,scenario,target_rate,target_unit_rate,achieved_rate,unit,\
connections,subscribers,pipeline,size,measured,errors,unanswered,p50_us,p90_us,p99_us,p999_us,\
p9999_us,max_us,mean_us,uncorrected_p50_us,uncorrected_p99_us,uncorrected_max_us,send_lag_p99_us,\
tool_cpu_pct,server_cpu_pct,lost,duplicates,reordered,accounting_ok,bytes_per_connection,\
tool_cpu_us_per_op,server_cpu_us_per_op";

/// One CSV line (no newline) with the main figures of `r`.
pub fn csv_row(r: &RunReport) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
    let l = &r.latency_us;
    let (lost, dup, reord, ok) = r.pubsub.as_ref().map_or(
        (String::new(), String::new(), String::new(), String::new()),
        |p| {
            (
                p.lost.to_string(),
                p.duplicates.to_string(),
                p.reordered.to_string(),
                p.accounting_ok.to_string(),
            )
        },
    );
    let label = if r.label.contains([',', '"']) {
        format!("\"{}\"", r.label.replace('"', "\"\""))
    } else {
        r.label.clone()
    };
    let s = &r.settings;
    let fields: Vec<String> = vec![
        label,
        r.scenario.name().into(),
        opt(r.target_rate),
        opt(r.target_unit_rate),
        format!("{:.1}", r.achieved_rate),
        r.unit.clone(),
        s.connections.to_string(),
        s.subscribers.to_string(),
        s.pipeline.to_string(),
        s.size.to_string(),
        r.measured.to_string(),
        r.errors.to_string(),
        r.unanswered.to_string(),
        l.p50.to_string(),
        l.p90.to_string(),
        l.p99.to_string(),
        l.p999.to_string(),
        l.p9999.to_string(),
        l.max.to_string(),
        format!("{:.1}", l.mean),
        r.uncorrected_us.p50.to_string(),
        r.uncorrected_us.p99.to_string(),
        r.uncorrected_us.max.to_string(),
        r.send_lag_us.p99.to_string(),
        format!("{:.1}", r.tool_cpu_pct),
        opt(r.server_cpu_pct),
        lost,
        dup,
        reord,
        ok,
        opt(r.idle.as_ref().and_then(|i| i.bytes_per_connection)),
        format!("{:.3}", r.tool_cpu_us_per_op),
        r.server_cpu_us_per_op.map_or(String::new(), |v| format!("{v:.3}")),
    ];
    fields.join(",")
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Writes the histogram file of `r`: the latency histograms as HdrHistogram V2 base64 lines
/// (`corrected ...`, `uncorrected ...`) and the whole report as one JSON line.
pub fn write_hist_file(path: &Path, r: &RunReport) -> anyhow::Result<()> {
    let text = format!(
        "# loadtest histogram file: latency in microseconds, HdrHistogram V2 deflate + base64\n\
         corrected {}\nuncorrected {}\nreport {}\n",
        r.latency_hist,
        r.uncorrected_hist,
        serde_json::to_string(r)?
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Where `run --hist-out PATH` writes: PATH itself, or for a directory (an existing one, or a
/// path ending in `/`, created) a file in it named after the host and the process, so that
/// load generators sharing the directory (containers of one compose service) never collide.
pub fn hist_out_path(path: &Path) -> anyhow::Result<PathBuf> {
    if !(path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/')) {
        return Ok(path.to_path_buf());
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = match host.trim() {
        "" => "loadtest",
        h => h,
    };
    Ok(path.join(format!("{host}-{}.hdr", std::process::id())))
}

/// `paths` with every directory replaced by the `*.hdr` files in it, in name order.
pub fn expand_hist_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("reading {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.extension().is_some_and(|x| x == "hdr"))
            .collect();
        if found.is_empty() {
            bail!("{}: no .hdr files in this directory", p.display());
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Reads a file written by [`write_hist_file`]: the report with its histograms.
pub fn read_hist_file(path: &Path) -> anyhow::Result<(RunReport, Hist, Hist)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut report, mut corrected, mut uncorrected) = (None, None, None);
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let hist = |v: &str| from_base64(v).map_err(anyhow::Error::msg);
        match key {
            "corrected" => corrected = Some(hist(value)?),
            "uncorrected" => uncorrected = Some(hist(value)?),
            "report" => report = Some(serde_json::from_str::<RunReport>(value)?),
            other => bail!("{}: unknown line {other:?}", path.display()),
        }
    }
    match (report, corrected, uncorrected) {
        (Some(r), Some(c), Some(u)) => Ok((r, c, u)),
        _ => bail!("{}: not a loadtest histogram file", path.display()),
    }
}

/// Combines runs made at the same time by several load generators into one report: the
/// histograms are merged, the counts, rates and CPU times add up.
pub fn merge_reports(parts: Vec<(RunReport, Hist, Hist)>) -> anyhow::Result<RunReport> {
    let Some((first, _, _)) = parts.first() else { bail!("nothing to merge") };
    let mut m = first.clone();
    let n = parts.len();
    let corrected = merge(parts.iter().map(|p| &p.1));
    let uncorrected = merge(parts.iter().map(|p| &p.2));
    let sum = |f: &dyn Fn(&RunReport) -> f64| parts.iter().map(|p| f(&p.0)).sum::<f64>();
    let sum_opt =
        |f: &dyn Fn(&RunReport) -> Option<f64>| parts.iter().map(|p| f(&p.0)).sum::<Option<f64>>();
    m.label = format!("merged ({n} runs)");
    m.target_rate = sum_opt(&|r| r.target_rate);
    m.target_unit_rate = sum_opt(&|r| r.target_unit_rate);
    m.achieved_rate = sum(&|r| r.achieved_rate);
    m.sent = sum(&|r| r.sent as f64) as u64;
    m.replies = sum(&|r| r.replies as f64) as u64;
    m.errors = sum(&|r| r.errors as f64) as u64;
    m.unanswered = sum(&|r| r.unanswered as f64) as u64;
    m.reconnects = sum(&|r| r.reconnects as f64) as u64;
    m.measured = corrected.len();
    m.tool_cpu_s = sum(&|r| r.tool_cpu_s);
    m.tool_cpu_pct = sum(&|r| r.tool_cpu_pct);
    m.server_cpu_s = None;
    m.server_cpu_pct = None;
    m.latency_us = Summary::of(&corrected);
    m.uncorrected_us = Summary::of(&uncorrected);
    m.latency_curve = percentile_curve(&corrected);
    m.uncorrected_curve = percentile_curve(&uncorrected);
    m.latency_hist = to_base64(&corrected);
    m.uncorrected_hist = to_base64(&uncorrected);
    m.error_samples = parts.iter().flat_map(|p| p.0.error_samples.clone()).take(5).collect();
    m.notes = parts.iter().flat_map(|p| p.0.notes.clone()).collect();
    m.notes.push(format!(
        "merged from {n} load generators: send lag and pub/sub details are the first run's"
    ));
    Ok(m)
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
    /// Offered rates (requests or publishes per second).
    pub ladder: Vec<f64>,
    pub curves: Vec<Curve>,
}

impl WorkloadResult {
    /// The backend that held the highest rate under the threshold (less server CPU per
    /// operation breaks a tie within 5%), and the runner-up; `by_slo` is false when no backend
    /// held the threshold at any step and the podium is by the rate sustained instead.
    pub fn podium(&self) -> (Option<&Curve>, Option<&Curve>, bool) {
        let by_slo = self.curves.iter().any(|c| c.kind == "backend" && c.best.is_some());
        let point: fn(&Curve) -> Option<&RunReport> =
            if by_slo { Curve::best_point } else { Curve::sustained_point };
        let mut held: Vec<&Curve> =
            self.curves.iter().filter(|c| c.kind == "backend" && point(c).is_some()).collect();
        let rate = |c: &Curve| point(c).map_or(0.0, |p| p.achieved_rate);
        let cpu = |c: &Curve| point(c).and_then(|p| p.server_cpu_us_per_op).unwrap_or(f64::MAX);
        held.sort_by(|a, b| {
            let (ra, rb) = (rate(a), rate(b));
            if (ra - rb).abs() <= 0.05 * ra.max(rb) {
                cpu(a).total_cmp(&cpu(b))
            } else {
                rb.total_cmp(&ra)
            }
        });
        (held.first().copied(), held.get(1).copied(), by_slo)
    }
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
    /// Seconds measured per step (after a warmup of half that).
    pub measured_s: f64,
    pub workloads: Vec<WorkloadResult>,
}

/// `rate/s` for a curve's best point, or `none` / `n/a` / `-`.
fn held(c: Option<&Curve>) -> String {
    rate_at(c, Curve::best_point)
}

/// `rate/s` for a curve's highest sustained point, or `none` / `n/a` / `-`.
fn sustained(c: Option<&Curve>) -> String {
    rate_at(c, Curve::sustained_point)
}

fn rate_at(c: Option<&Curve>, point: fn(&Curve) -> Option<&RunReport>) -> String {
    match c {
        None => "-".into(),
        Some(c) => match point(c) {
            Some(p) => format!("{}/s", fmt_rate(p.achieved_rate)),
            None if !c.status.starts_with("ok") => "n/a".into(),
            None => "none".into(),
        },
    }
}

/// The shootout's verdict for a terminal: per workload, each server's highest rate held.
pub fn shootout_text(doc: &Shootout) -> String {
    let mut out = String::new();
    for w in &doc.workloads {
        let (first, _, _) = w.podium();
        let _ = writeln!(
            out,
            "{}: {} (wins: {})",
            w.name,
            w.what,
            first.map_or("none".to_string(), |c| c.name.clone())
        );
        for c in &w.curves {
            let p99 = c.best_point().map_or("-".into(), |p| fmt_us(p.latency_us.p99));
            let _ = writeln!(
                out,
                "  {:<10} held {:>9} {} with p99 {:>8}, sustained {:>9}  {}",
                c.name,
                held(Some(c)),
                w.unit,
                p99,
                sustained(Some(c)),
                if c.status == "ok" { "" } else { c.status.as_str() }
            );
        }
    }
    out
}

/// The `report.md` of the shootout; `plots` are `(workload, file)` pairs next to it.
pub fn shootout_markdown(doc: &Shootout, plots: &[(String, String)]) -> String {
    let slo = fmt_us(doc.slo_us);
    let mut md = String::from("# Switchboard shootout: which concurrency model wins where\n\n");
    let _ = writeln!(
        md,
        "Measured {} with loadtest {}{}. Each server climbs a ladder of offered rates (open loop, \
         doubling); every step runs {} s after a {} s warmup, the servers taking turns in an order \
         that rotates from step to step. A server's figure is the highest step it held with \
         **p99 ≤ {slo}** and nothing lost or unanswered; a server that misses the offered rate by \
         10%, loses or leaves anything unanswered, or passes 100x the threshold sits out the rest \
         of the ladder. Latency is from each message's scheduled send time. The load generator \
         shares the machine with the servers: the `floor` row is the same load against a minimal \
         in-process server, the latency and throughput the tool itself allows.\n",
        doc.generated,
        doc.loadtest_version,
        if doc.quick { " (`--quick`)" } else { "" },
        doc.measured_s,
        doc.measured_s / 2.0
    );
    md.push_str("## Verdict\n\n");
    let _ = writeln!(
        md,
        "| workload | wins here | held with p99 ≤ {slo} | sustained at all | runner-up | redis-server | floor (the tool) |\n|---|---|---|---|---|---|---|"
    );
    for w in &doc.workloads {
        let (first, second, by_slo) = w.podium();
        let find = |kind: &str| w.curves.iter().find(|c| c.kind == kind);
        let both = |c: Option<&Curve>| format!("{} / {}", held(c), sustained(c));
        let winner = match first {
            Some(c) => {
                let p = if by_slo { c.best_point() } else { c.sustained_point() };
                let near = p.is_some_and(|p| p.near_floor);
                format!(
                    "**{}**{}{}",
                    c.name,
                    if by_slo { "" } else { " (by rate sustained: none held the threshold)" },
                    if near { " (within 2x of the floor)" } else { "" }
                )
            }
            None => "none".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            w.name,
            winner,
            held(first),
            sustained(first),
            second.map_or("-".into(), |c| format!("{} {}", c.name, both(Some(c)))),
            both(find("redis")),
            both(find("floor")),
        );
    }
    md.push_str(
        "\nRates count deliveries per second for pub/sub and requests per second for ping; `a / b` \
         is held with p99 under the threshold / sustained at all. A figure equal to the floor's \
         means the tool, not the server, ran out first; the top of the ladder caps every figure.\n\n",
    );
    for w in &doc.workloads {
        let _ = writeln!(md, "## {}: {}\n", w.name, w.what);
        let ladder: Vec<String> = w.ladder.iter().map(|r| fmt_rate(r * w.fanout)).collect();
        let _ = writeln!(md, "Offered {}: {} per second.\n", w.unit, ladder.join(", "));
        let _ = writeln!(
            md,
            "| server | held with p99 ≤ {slo} | sustained | p50 there | p99 there | server CPU µs/op | server threads | server RSS | loadtest CPU µs/op | saturated at | status |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for c in &w.curves {
            // The figures at the best point, or at the highest sustained one if none held.
            let b = c.best_point().or_else(|| c.sustained_point());
            let opt = |f: &dyn Fn(&RunReport) -> String| b.map_or("-".to_string(), f);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.name,
                held(Some(c)),
                sustained(Some(c)),
                opt(&|p| fmt_us(p.latency_us.p50)),
                opt(&|p| fmt_us(p.latency_us.p99)),
                opt(&|p| fmt_cpu_op(p.server_cpu_us_per_op)),
                opt(&|p| p.server_threads.map_or("-".into(), |t| t.to_string())),
                opt(&|p| p
                    .server_rss_kib
                    .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))),
                opt(&|p| fmt_cpu_op(Some(p.tool_cpu_us_per_op))),
                c.saturated_at.map_or("-".into(), |r| format!("{}/s", fmt_rate(r * w.fanout))),
                c.status,
            );
        }
        md.push_str(
            "\nThe figures are at the highest step held under the threshold, or else at the \
             highest sustained.\n\n",
        );
        if let Some((_, file)) = plots.iter().find(|p| p.0 == w.name) {
            let _ = writeln!(md, "![{}: p99 against throughput]({file})\n", w.name);
        }
        let points: Vec<RunReport> = w.curves.iter().flat_map(|c| c.points.clone()).collect();
        if !points.is_empty() {
            md.push_str("<details><summary>every step</summary>\n\n");
            md.push_str(&markdown_table(&points));
            md.push_str("\n</details>\n\n");
        }
        let notes: Vec<String> = w
            .curves
            .iter()
            .flat_map(|c| c.notes.iter().map(move |n| format!("- `{}`: {n}", c.name)))
            .collect();
        if !notes.is_empty() {
            md.push_str(&notes.join("\n"));
            md.push_str("\n\n");
        }
    }
    md.push_str("## How this was run\n\n```sh\n");
    let _ = writeln!(md, "{}", doc.command);
    let mut seen = std::collections::HashSet::new();
    for c in doc.workloads.iter().flat_map(|w| &w.curves) {
        if let Some(cmd) = &c.command {
            // Ports differ per workload: show each kind of command once.
            let key = cmd.split(" --port").next().unwrap_or(cmd).to_string();
            if seen.insert(key) {
                let _ = writeln!(md, "{cmd}");
            }
        }
    }
    md.push_str("```\n\n");
    let _ = writeln!(
        md,
        "Every server is started fresh for each workload on a free port (redis-server with \
         persistence off) and stopped after it; server CPU is from `/proc/PID/stat` over each \
         step, threads and RSS the most seen while it ran (sampled every 100 ms).\n"
    );
    let m = &doc.machine;
    let _ = writeln!(
        md,
        "## Machine\n\n- {} ({} CPUs), {:.1} GiB memory\n- {}, Linux {}\n- the load generator and the servers share this machine",
        if m.cpu_model.is_empty() { "unknown CPU" } else { &m.cpu_model },
        m.cpus,
        m.memory_gib,
        if m.os.is_empty() { "unknown OS" } else { &m.os },
        m.kernel
    );
    md
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_date(secs)
}

/// `secs` after the Unix epoch as `YYYY-MM-DD HH:MM UTC` (the proleptic Gregorian calendar).
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hh, mm) = (secs % 86_400 / 3600, secs % 3600 / 60);
    // Days to civil date, counting in 400-year eras that start on March 1st.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// The settings of a run as Markdown list items.
fn settings_md(c: &Config) -> String {
    let mut out = format!(
        "- scenario `{}`, rate {} {}, warmup {} s, measured {} s, drain up to {} s\n",
        c.scenario.name(),
        c.rate,
        if c.rate == crate::scenarios::Rate::Max {
            "(closed loop)"
        } else {
            "per second (open loop)"
        },
        c.warmup_s,
        c.duration_s,
        c.drain_s
    );
    let _ = match c.scenario {
        Scenario::Echo => writeln!(out, "- {} connections, {}-byte messages, pipeline {}", c.connections, c.size, c.pipeline),
        Scenario::Ping => writeln!(out, "- {} connections, `{:?}` ({} bytes), pipeline {}", c.connections, c.command, c.size, c.pipeline),
        Scenario::Pubsub => writeln!(
            out,
            "- {} publishers, {} subscribers over {} topics (subscriber j on topic j % {}), {}-byte payloads",
            c.publishers, c.subscribers, c.topics, c.topics, c.size
        ),
        Scenario::Idle => writeln!(out, "- {} idle connections, PING latency on {} active ones", c.connections, c.active),
    };
    let _ = writeln!(out, "- {} sender threads, spin window {} µs", c.threads, c.spin_us);
    out
}

/// The `report.md` of a comparison; `plots` are `(caption, file)` pairs next to it.
pub fn compare_markdown(doc: &CompareDoc, plots: &[(&str, &str)]) -> String {
    let mut md = format!("# Switchboard load test: `{}`\n\n", doc.settings.scenario.name());
    let _ = writeln!(md, "Measured {} with loadtest {}.\n", doc.generated, doc.loadtest_version);
    let base: Vec<RunReport> = doc.entries.iter().filter_map(|e| e.run.clone()).collect();
    md.push_str(&markdown_table(&base));
    let unit = base.first().map_or("requests", |r| r.unit.as_str());
    let _ = writeln!(
        md,
        "\nRates count {unit} per second. Latency is measured from each request's *scheduled* send \
         time on a fixed timetable (open loop), so a stalled server shows up in the percentiles \
         instead of silently slowing the load; `p99 (uncorr.)` is measured from the actual send \
         time, for comparison. `errors` includes requests never answered. CPU is % of one core \
         over the run; `µs/op` is CPU time per reply (pub/sub: per delivery), the load \
         generator's own and the server's.\n"
    );
    for (caption, file) in plots {
        let _ = writeln!(md, "![{caption}]({file})\n");
    }
    let sweeps: Vec<RunReport> = doc.entries.iter().flat_map(|e| e.sweep.clone()).collect();
    if !sweeps.is_empty() {
        let _ = writeln!(md, "## Sweep ({})\n", doc.sweep.as_deref().unwrap_or(""));
        md.push_str(&markdown_table(&sweeps));
        md.push('\n');
    }
    let all: Vec<&RunReport> = base.iter().chain(sweeps.iter()).collect();
    if all.iter().any(|r| r.pubsub.is_some()) {
        md.push_str("## Pub/sub accounting\n\n| server | published | PUBLISH replies sum | received | server dropped | lost | duplicates | reordered | adds up |\n|---|---|---|---|---|---|---|---|---|\n");
        for r in &all {
            if let Some(p) = &r.pubsub {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.label,
                    p.published,
                    p.publish_replies_sum,
                    p.received,
                    p.server_dropped.map_or("n/a".into(), |d| d.to_string()),
                    p.lost,
                    p.duplicates,
                    p.reordered,
                    if p.accounting_ok { "yes" } else { "**no**" }
                );
            }
        }
        md.push('\n');
    }
    if all.iter().any(|r| r.idle.is_some()) {
        md.push_str("## Idle connections\n\n| server | opened | alive at start | alive at end | server RSS growth per connection |\n|---|---|---|---|---|\n");
        for r in &all {
            if let Some(i) = &r.idle {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    r.label,
                    i.opened,
                    i.alive_at_start,
                    i.alive_at_end,
                    i.bytes_per_connection
                        .map_or("n/a".into(), |b| format!("{:.1} KiB", b / 1024.0))
                );
            }
        }
        md.push('\n');
    }
    md.push_str("## How this was run\n\n```sh\n");
    let _ = writeln!(md, "{}", doc.command);
    for e in &doc.entries {
        if let Some(c) = &e.server_command {
            let _ = writeln!(md, "{c}");
        }
    }
    md.push_str("```\n\n");
    md.push_str(&settings_md(&doc.settings));
    for e in &doc.entries {
        if let Some(addr) = &e.external {
            let _ = writeln!(md, "- `{}`: external server at {addr}", e.name);
        }
    }
    let m = &doc.machine;
    let _ = writeln!(
        md,
        "\n## Machine\n\n- {} ({} CPUs), {:.1} GiB memory\n- {}, Linux {}\n- the load generator and the servers share this machine",
        if m.cpu_model.is_empty() { "unknown CPU" } else { &m.cpu_model },
        m.cpus,
        m.memory_gib,
        if m.os.is_empty() { "unknown OS" } else { &m.os },
        m.kernel
    );
    let mut notes = Vec::new();
    for e in &doc.entries {
        if e.status != "ok" {
            notes.push(format!("`{}`: {}", e.name, e.status));
        }
        notes.extend(e.notes.iter().map(|n| format!("`{}`: {n}", e.name)));
        for r in e.run.iter().chain(&e.sweep) {
            let mut seen = std::collections::HashSet::new();
            for n in r.notes.iter().chain(&r.error_samples) {
                if seen.insert(n) {
                    notes.push(format!("`{}`: {n}", r.label));
                }
            }
        }
    }
    if !notes.is_empty() {
        md.push_str("\n## Notes\n\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::new_hist;
    use crate::scenarios::{Config, Outcome, Rate, Scenario};

    fn report(label: &str, values: &[u64]) -> (RunReport, Hist, Hist) {
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
        let r = crate::scenarios::test_report(label, &cfg, &out);
        (r, out.latency, out.uncorrected)
    }

    #[test]
    fn latencies_and_rates_read_well() {
        assert_eq!(fmt_us(87), "87µs");
        assert_eq!(fmt_us(1_250), "1.25ms");
        assert_eq!(fmt_us(3_100_000), "3.10s");
        assert_eq!(fmt_rate(980.4), "980");
        assert_eq!(fmt_rate(12_345.0), "12.3k");
        assert_eq!(fmt_rate(1_200_000.0), "1.20M");
    }

    #[test]
    fn tables_show_every_report_and_its_percentiles() {
        let (a, _, _) = report("thread", &[100, 200, 300, 5_000]);
        let (b, _, _) = report("redis,6379", &[50]);
        let text = text_table(&[a.clone(), b.clone()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("server") && lines[0].contains("p99.99"));
        assert!(lines[1].starts_with("thread") && lines[1].contains("5.00ms"), "{text}");
        // Aligned: every line has the same width.
        assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()));
        let md = markdown_table(std::slice::from_ref(&a));
        assert!(md.starts_with("| server |") && md.contains("|---|") && md.contains("| thread |"));
        let csv = csv_row(&b);
        assert!(csv.starts_with("\"redis,6379\",ping,1000.0,1000.0,"), "{csv}");
        // Quoted label counts as one column.
        assert_eq!(CSV_HEADER.split(',').count(), csv.split(',').count() - 1);
    }

    #[test]
    fn json_and_histogram_files_round_trip_and_merge() {
        let dir = std::env::temp_dir().join(format!("loadtest-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, ha, _) = report("gen1", &[100, 200, 300]);
        let (b, hb, _) = report("gen2", &[400, 90_000]);
        write_hist_file(&dir.join("a.hdr"), &a).unwrap();
        write_hist_file(&dir.join("b.hdr"), &b).unwrap();
        let parts = vec![
            read_hist_file(&dir.join("a.hdr")).unwrap(),
            read_hist_file(&dir.join("b.hdr")).unwrap(),
        ];
        let merged = merge_reports(parts).unwrap();
        let mut both = new_hist();
        both.add(&ha).unwrap();
        both.add(&hb).unwrap();
        assert_eq!(merged.latency_us, Summary::of(&both));
        assert_eq!(merged.measured, 5);
        assert_eq!(merged.sent, 5);
        assert_eq!(merged.target_rate, Some(2000.0));
        assert_eq!(merged.achieved_rate, a.achieved_rate + b.achieved_rate);
        write_json(&dir.join("r.json"), &merged).unwrap();
        let back: RunReport =
            serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
        assert_eq!(back.latency_us, merged.latency_us);
        std::fs::write(dir.join("bad.hdr"), "corrected Zm9v\n").unwrap();
        assert!(read_hist_file(&dir.join("bad.hdr")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
        assert_eq!(utc_date(1_767_225_599), "2025-12-31 23:59 UTC");
    }

    #[test]
    fn compare_markdown_has_table_commands_machine_and_notes() {
        let (run, _, _) = report("thread", &[100, 200]);
        let doc = CompareDoc {
            command: "loadtest compare --scenario ping".into(),
            generated: utc_date(0),
            settings: run.settings.clone(),
            sweep: None,
            machine: Machine {
                cpu_model: "Test CPU".into(),
                cpus: 2,
                memory_gib: 24.0,
                kernel: "6.1".into(),
                os: "Debian".into(),
            },
            loadtest_version: "0.1.0".into(),
            entries: vec![
                Entry {
                    name: "thread".into(),
                    status: "ok".into(),
                    server_command: Some("server --backend thread".into()),
                    run: Some(run),
                    ..Default::default()
                },
                Entry {
                    name: "event".into(),
                    status: "unavailable: invalid value 'event'".into(),
                    ..Default::default()
                },
            ],
        };
        let md = compare_markdown(&doc, &[("latency by percentile", "latency.svg")]);
        for needle in [
            "# Switchboard load test: `ping`",
            "| thread |",
            "![latency by percentile](latency.svg)",
            "loadtest compare --scenario ping\nserver --backend thread\n",
            "Test CPU (2 CPUs)",
            "`event`: unavailable: invalid value 'event'",
            "rate 1000 per second (open loop)",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        let json = serde_json::to_string(&doc).unwrap();
        let back: CompareDoc = serde_json::from_str(&json).unwrap();
        assert_eq!(back.entries.len(), 2);
    }
}
