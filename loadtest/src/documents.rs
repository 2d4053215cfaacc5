//! The Markdown documents: the shootout's `report.md` (and its verdict for a terminal) and the
//! `report.md` of a comparison or a merge.

use crate::model::{
    CompareDoc, Config, Curve, Rate, RunReport, Scenario, Shootout, WorkloadResult,
};
use crate::sys::{cpu_list, Machine};
use crate::table::{accounting_cells, markdown_table};
use crate::units::{fmt_cpu_op, fmt_rate, fmt_us};
use std::fmt::Write as _;

/// The offered rate of step `k` of `c` in the workload's unit (`320k/s`), or `-`.
fn step_rate(w: &WorkloadResult, c: &Curve, k: Option<usize>) -> String {
    k.and_then(|k| c.rounds.get(k))
        .map_or("-".into(), |s| format!("{}/s", fmt_rate(s.rate * w.fanout)))
}

/// What `c` held at the workload's threshold: its rate, or why there is none.
fn held(w: &WorkloadResult, c: Option<&Curve>) -> String {
    match c {
        None => "-".into(),
        Some(c) if c.best.is_some() => step_rate(w, c, c.best),
        Some(c) if c.status != "ok" => "n/a".into(),
        Some(_) => "none".into(),
    }
}

/// The median p99 of `c` at step `k`, with the spread of its rounds when there are several:
/// `412µs (380µs–450µs, 3 rounds)`.
fn p99_spread(c: &Curve, k: Option<usize>) -> String {
    let Some(s) = k.and_then(|k| c.rounds.get(k)) else { return "-".into() };
    let shown = |us: u64| if us == u64::MAX { "failed".to_string() } else { fmt_us(us) };
    let (lo, hi) = (s.p99_us.iter().min(), s.p99_us.iter().max());
    match (lo, hi) {
        (Some(&lo), Some(&hi)) if s.p99_us.len() > 1 => {
            format!("{} ({}–{}, {} rounds)", shown(s.p99()), shown(lo), shown(hi), s.p99_us.len())
        }
        _ => shown(s.p99()),
    }
}

/// The shootout's verdict for a terminal: per workload the verdict, then each server's highest
/// rate held at the threshold.
pub fn shootout_text(doc: &Shootout) -> String {
    let mut out = String::new();
    for w in &doc.workloads {
        let _ = writeln!(
            out,
            "{}: {} (wins: {}; {}; ranked at p99 ≤ {}; {:.0} s)",
            w.name,
            w.what,
            w.verdict.headline(),
            w.verdict.why,
            fmt_us(w.threshold_us),
            w.elapsed_s
        );
        for c in &w.curves {
            let _ = writeln!(
                out,
                "  {:<10} held {:>9} {} with p99 {:>8}, sustained {:>9}  {}",
                c.name,
                held(w, Some(c)),
                w.unit,
                p99_spread(c, c.best),
                step_rate(w, c, c.sustained),
                if c.status == "ok" { "" } else { c.status.as_str() }
            );
        }
    }
    out
}

/// How the CPUs were shared, for the Machine section.
fn split_md(doc: &Shootout) -> String {
    match &doc.cpu_split {
        Some(s) => format!(
            "the load generator on CPU {}, every server (the floor's reflector thread, the \
             backends, redis-server) on CPU {} (affinity masks; `--cpu-split`, \
             `--no-partition`), each backend's threads or workers set to the server's {} CPU(s)",
            cpu_list(&s.tool),
            cpu_list(&s.server),
            s.server.len()
        ),
        None => "the load generator and the servers share every CPU (no partition)".into(),
    }
}

/// The `report.md` of the shootout; `plots` are `(workload, file)` pairs next to it.
pub fn shootout_markdown(doc: &Shootout, plots: &[(String, String)]) -> String {
    let slo = fmt_us(doc.slo_us);
    let mut md = String::from("# Switchboard shootout: which concurrency model wins where\n\n");
    let _ = writeln!(
        md,
        "Measured {} with loadtest {}{}. Each server climbs a ladder of offered rates (open loop, \
         x{} per step) until it saturates: misses the offered rate by 10%, or loses or leaves \
         anything unanswered. A step measures at least {} deliveries or requests (at least {} s, \
         after a warmup of {} s), the servers taking turns in an order that rotates from step to \
         step. Then the decisive step (the highest step the leader and the runner-up both held \
         when it is the same, else the step above the runner-up's highest) is run again for the \
         leading backends and the floor, {} rounds in all, interleaved across servers; a figure there is \
         the median of its rounds, shown with their spread. A server's figure is the highest \
         step it held with **p99 ≤ the threshold** (`--slo` {slo}, unless the floor missed it: \
         then a threshold the floor holds, shown per workload). A winner is named only where it \
         beats the runner-up beyond the spread of their rounds, else the verdict is a tie. \
         Latency is from each message's scheduled send time. The `floor` row is the same load \
         against a minimal in-process server: the latency and throughput the tool itself \
         allows.\n",
        doc.generated,
        doc.loadtest_version,
        if doc.quick { " (`--quick`)" } else { "" },
        if doc.quick { 4 } else { 2 },
        doc.min_samples,
        doc.measured_s,
        doc.measured_s / 2.0,
        doc.rounds,
    );
    md.push_str("## Verdict\n\n");
    md.push_str(
        "| workload | wins here | why | ranked at p99 ≤ | leader held | runner-up | redis-server | floor (the tool) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for w in &doc.workloads {
        let find =
            |name: Option<&String>| name.and_then(|n| w.curves.iter().find(|c| &c.name == n));
        let kind = |kind: &str| w.curves.iter().find(|c| c.kind == kind);
        let (leader, runner) = match (&w.verdict.winner, w.verdict.tie.as_slice()) {
            (Some(name), _) => {
                let leader = find(Some(name));
                let runner = w
                    .curves
                    .iter()
                    .filter(|c| c.kind == "backend" && c.name != *name && c.best.is_some())
                    .max_by_key(|c| c.best);
                (leader, runner)
            }
            (None, [a, b, ..]) => (find(Some(a)), find(Some(b))),
            _ => (None, None),
        };
        let both = |c: Option<&Curve>| match c {
            Some(c) => format!("{} {} (p99 {})", c.name, held(w, Some(c)), p99_spread(c, c.best)),
            None => "-".into(),
        };
        let headline = match &w.verdict.winner {
            Some(name) => format!("**{name}**"),
            None => w.verdict.headline(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {}{} | {} | {} | {} | {} |",
            w.name,
            headline,
            w.verdict.why,
            fmt_us(w.threshold_us),
            if w.threshold_us > doc.slo_us { " (the floor misses --slo)" } else { "" },
            held(w, leader),
            both(runner),
            both(kind("redis")),
            both(kind("floor")),
        );
    }
    md.push_str(
        "\nRates count deliveries per second for pub/sub and requests per second for ping, at the \
         offered step. A figure equal to the floor's means the tool, not the server, ran out \
         first.\n\n",
    );
    for w in &doc.workloads {
        let _ = writeln!(md, "## {}: {}\n", w.name, w.what);
        let ladder: Vec<String> = w.ladder.iter().map(|r| fmt_rate(r * w.fanout)).collect();
        let _ = writeln!(md, "Offered {}: {} per second.\n", w.unit, ladder.join(", "));
        if !w.floor_misses.is_empty() {
            let misses: Vec<String> =
                w.floor_misses.iter().map(|r| format!("{}/s", fmt_rate(r * w.fanout))).collect();
            let _ = writeln!(
                md,
                "The floor itself missed p99 ≤ {slo} at {}: those steps cannot rank servers at \
                 {slo}, so this workload is ranked at p99 ≤ {}, which the floor held at every \
                 step it sustained.\n",
                misses.join(", "),
                fmt_us(w.threshold_us)
            );
        }
        if !w.decisive.is_empty() {
            let steps: Vec<String> =
                w.decisive.iter().map(|r| format!("{}/s", fmt_rate(r * w.fanout))).collect();
            let _ =
                writeln!(md, "Decisive steps, {} rounds each: {}.\n", doc.rounds, steps.join(", "));
        }
        let _ = writeln!(
            md,
            "This workload took {:.0} s ({} runs).\n",
            w.elapsed_s,
            w.curves.iter().flat_map(|c| &c.rounds).map(|s| s.p99_us.len()).sum::<usize>()
        );
        if !w.capped.is_empty() {
            let _ = writeln!(
                md,
                "Still unsaturated at the ladder's last step (its cap): {}.\n",
                w.capped.join(", ")
            );
        }
        let _ = writeln!(
            md,
            "| server | held with p99 ≤ {} | p99 there | p50 there | sustained | server CPU µs/op | server threads | server RSS | loadtest CPU µs/op | saturated at | status |\n|---|---|---|---|---|---|---|---|---|---|---|",
            fmt_us(w.threshold_us)
        );
        for c in &w.curves {
            // The figures at the best point, or at the highest sustained one if none held.
            let b = c.best_point().or_else(|| c.sustained_point());
            let opt = |f: &dyn Fn(&RunReport) -> String| b.map_or("-".to_string(), f);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.name,
                held(w, Some(c)),
                p99_spread(c, c.best),
                opt(&|p| fmt_us(p.latency_us.p50)),
                step_rate(w, c, c.sustained),
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
            "\nCPU, threads and memory are at the highest step held (the climb's round), or else \
             at the highest sustained.\n\n",
        );
        if let Some((_, file)) = plots.iter().find(|p| p.0 == w.name) {
            let _ = writeln!(md, "![{}: p99 against throughput]({file})\n", w.name);
        }
        let points: Vec<RunReport> = w.curves.iter().flat_map(|c| c.points.clone()).collect();
        if !points.is_empty() {
            md.push_str("<details><summary>every step of the climb</summary>\n\n");
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
    let total: f64 = doc.workloads.iter().map(|w| w.elapsed_s).sum();
    let _ = writeln!(
        md,
        "The workloads took {total:.0} s in all. Every server is started fresh for each workload on a free port (redis-server with \
         persistence off) and stopped after it; server CPU is from `/proc/PID/stat` over each \
         step, threads and RSS the most seen while it ran (sampled every 100 ms).\n"
    );
    md.push_str(&machine_md(&doc.machine, &split_md(doc)));
    md
}

/// The settings of a run as Markdown list items.
fn settings_md(c: &Config) -> String {
    let mut out = format!(
        "- scenario `{}`, rate {} {}, warmup {} s, measured {} s, drain up to {} s\n",
        c.scenario.name(),
        c.rate,
        if c.rate == Rate::Max { "(closed loop)" } else { "per second (open loop)" },
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
                let mut cells = accounting_cells(p);
                if cells[7] == "no" {
                    cells[7] = "**no**".into();
                }
                let _ = writeln!(md, "| {} | {} |", r.label, cells.join(" | "));
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
    md.push('\n');
    md.push_str(&machine_md(&doc.machine, "the load generator and the servers share this machine"));
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

/// The `## Machine` section: CPU, memory, OS and kernel, then `how` the CPUs were used.
fn machine_md(m: &Machine, how: &str) -> String {
    format!(
        "## Machine\n\n- {} ({} CPUs), {:.1} GiB memory\n- {}, Linux {}\n- {how}\n",
        if m.cpu_model.is_empty() { "unknown CPU" } else { &m.cpu_model },
        m.cpus,
        m.memory_gib,
        if m.os.is_empty() { "unknown OS" } else { &m.os },
        m.kernel
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;
    use crate::record::sample_report as report;
    use crate::units::utc_date;

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

    #[test]
    fn the_shootout_report_states_the_split_the_threshold_the_tie_and_who_cannot_serve() {
        use crate::sys::CpuSplit;
        use crate::verdict::{StepRounds, Verdict};
        let rounds = |p99s: &[u64]| StepRounds {
            rate: 1000.0,
            p99_us: p99s.to_vec(),
            achieved: vec![1000.0; p99s.len()],
            sustained: vec![true; p99s.len()],
        };
        let curve = |name: &str, kind: &str, p99s: &[u64]| Curve {
            name: name.into(),
            kind: kind.into(),
            status: "ok".into(),
            points: vec![report(name, &[100]).0],
            best: Some(0),
            sustained: Some(0),
            rounds: vec![rounds(p99s)],
            ..Default::default()
        };
        let pool = Curve {
            name: "pool".into(),
            kind: "backend".into(),
            status: "cannot serve this workload by design: (`--server-arg=--workers=203`)".into(),
            ..Default::default()
        };
        let w = WorkloadResult {
            name: "fanout".into(),
            what: "pub/sub".into(),
            unit: "deliveries".into(),
            fanout: 100.0,
            ladder: vec![1000.0],
            curves: vec![
                curve("floor", "floor", &[1500, 1400, 1600]),
                curve("event", "backend", &[1700, 1800, 1900]),
                curve("uring", "backend", &[1750, 1650, 1950]),
                pool,
            ],
            threshold_us: 2000,
            floor_misses: vec![1000.0],
            decisive: vec![1000.0],
            verdict: Verdict {
                tie: vec!["event".into(), "uring".into()],
                why: "overlapping".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let doc = Shootout {
            command: "loadtest compare".into(),
            generated: utc_date(0),
            machine: Machine::default(),
            loadtest_version: "0.1.0".into(),
            slo_us: 1000,
            quick: false,
            measured_s: 0.5,
            min_samples: 10_000,
            rounds: 3,
            cpu_split: Some(CpuSplit { tool: vec![0], server: vec![1, 2, 3] }),
            workloads: vec![w],
        };
        let md = shootout_markdown(&doc, &[]);
        for needle in [
            "| fanout | tie: event, uring | overlapping | 2.00ms (the floor misses --slo) |",
            "The floor itself missed p99 ≤ 1.00ms at 100.0k/s",
            "ranked at p99 ≤ 2.00ms",
            "| event | 100.0k/s | 1.80ms (1.70ms–1.90ms, 3 rounds) |",
            "cannot serve this workload by design",
            "--server-arg=--workers=203",
            "the load generator on CPU 0, every server",
            "on CPU 1-3",
            "at least 10000 deliveries or requests",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        let text = shootout_text(&doc);
        assert!(
            text.starts_with("fanout: pub/sub (wins: tie: event, uring; overlapping"),
            "{text}"
        );
    }
}
