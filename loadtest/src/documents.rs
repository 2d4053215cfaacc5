//! The Markdown documents: the shootout's `report.md` (and its verdict for a terminal) and the
//! `report.md` of a comparison or a merge.

use crate::model::{CompareDoc, Config, Curve, Rate, RunReport, Scenario, Shootout};
use crate::sys::Machine;
use crate::table::{accounting_cells, markdown_table};
use crate::units::{fmt_cpu_op, fmt_rate, fmt_us};
use std::fmt::Write as _;

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
    md.push_str(&machine_md(&doc.machine, "the load generator and the servers share this machine"));
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
}
