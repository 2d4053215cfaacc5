//! `loadtest`: parse the command line and hand over to the library. A failure is one
//! `loadtest: ...` line on stderr (the causes joined with `: `) and exit code 1.

use anyhow::Context;
use clap::Parser;
use loadtest::cli::{Cli, Cmd};
use loadtest::report::{self, csv_row, text_table, CSV_HEADER};
use loadtest::scenarios;

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    match cli.command {
        Cmd::Compare(args) => {
            let doc = loadtest::compare::compare(&args, &argv)?;
            print!("{}", report::shootout_text(&doc));
            println!("report: {}", args.out.join("report.md").display());
        }
        Cmd::Exchange(args) => loadtest::exchange::run(&args, &argv)?,
        Cmd::Run(args) => {
            let base = args.scenario.config(&args.addr);
            let security = loadtest::wire::Security::from_flags(&args.access)?;
            let base = scenarios::Config { server_pid: args.server_pid, security, ..base };
            let label = args.label.clone().unwrap_or_else(|| args.addr.clone());
            let points: Vec<(scenarios::Config, String)> = match &args.scenario.sweep {
                None => vec![(base.clone(), label.clone())],
                Some(sweep) => sweep
                    .values
                    .iter()
                    .map(|v| {
                        let cfg = sweep.apply(&base, v).map_err(anyhow::Error::msg)?;
                        Ok((cfg, format!("{label} {}", sweep.point_name(v))))
                    })
                    .collect::<anyhow::Result<_>>()?,
            };
            let mut reports = Vec::new();
            let mut shown = Vec::new();
            for (cfg, name) in &points {
                // The floor first, at the same load: what the tool itself costs.
                let floor = if args.no_floor {
                    None
                } else {
                    let suffix = name.strip_prefix(label.as_str()).unwrap_or("");
                    let floor_label = format!("{}{suffix}", scenarios::FLOOR_LABEL);
                    Some(
                        scenarios::floor(cfg, &floor_label)
                            .context("the floor's calibration run")?,
                    )
                };
                let mut r = scenarios::run(cfg, name)?;
                if let Some(f) = floor {
                    scenarios::note_floor(&mut r, &f);
                    shown.push(f);
                }
                shown.push(r.clone());
                reports.push(r);
            }
            print_reports(&shown, args.csv);
            if let Some(path) = &args.json {
                if reports.len() == 1 {
                    report::write_json(path, &reports[0])?;
                } else {
                    report::write_json(path, &reports)?;
                }
            }
            if let Some(path) = &args.hist_out {
                let last = reports.last().context("no run")?;
                report::write_hist_file(&report::hist_out_path(path)?, last)?;
            }
        }
        Cmd::Merge(args) => {
            let parts = report::expand_hist_paths(&args.files)?
                .iter()
                .map(|f| report::read_hist_file(f))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut groups: Vec<(String, Vec<_>)> = Vec::new();
            for part in parts {
                let key = if args.by_label { part.0.label.clone() } else { String::new() };
                match groups.iter_mut().find(|g| g.0 == key) {
                    Some(g) => g.1.push(part),
                    None => groups.push((key, vec![part])),
                }
            }
            let mut merged = Vec::new();
            for (label, mut group) in groups {
                if args.by_label && group.len() == 1 {
                    merged.push(group.remove(0).0);
                    continue;
                }
                let mut m = report::merge_reports(group)?;
                if args.by_label {
                    m.label = label;
                } else if let Some(l) = &args.label {
                    m.label = l.clone();
                }
                merged.push(m);
            }
            print_reports(&merged, args.csv);
            if let Some(path) = &args.json {
                match merged.as_slice() {
                    [one] => report::write_json(path, one)?,
                    all => report::write_json(path, &all)?,
                }
            }
            if let Some(dir) = &args.out {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                // The merged histograms too, so that reports can be merged again (`LABEL.hdr`).
                for r in &merged {
                    let name: String =
                        r.label
                            .chars()
                            .map(|c| {
                                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                                    c
                                } else {
                                    '_'
                                }
                            })
                            .collect();
                    report::write_hist_file(&dir.join(format!("{name}.hdr")), r)?;
                }
                let doc = report::CompareDoc {
                    command: argv.join(" "),
                    generated: report::utc_now(),
                    settings: merged[0].settings.clone(),
                    sweep: None,
                    machine: loadtest::sys::Machine::describe(),
                    loadtest_version: env!("CARGO_PKG_VERSION").to_string(),
                    entries: merged
                        .into_iter()
                        .map(|r| report::Entry {
                            name: r.label.clone(),
                            external: Some(r.settings.addr.clone()),
                            status: "ok".into(),
                            run: Some(r),
                            ..Default::default()
                        })
                        .collect(),
                };
                loadtest::compare::write_dir(dir, &doc)?;
                println!("report: {}", dir.join("report.md").display());
            }
        }
    }
    Ok(())
}

fn print_reports(reports: &[scenarios::RunReport], csv: bool) {
    if csv {
        println!("{CSV_HEADER}");
        for r in reports {
            println!("{}", csv_row(r));
        }
        return;
    }
    print!("{}", text_table(reports));
    for r in reports {
        if let Some(p) = &r.pubsub {
            println!(
                "{}: published {}, PUBLISH replies sum {}, received {}, server dropped {}, lost {}, duplicates {}, reordered {}, accounting {}",
                r.label,
                p.published,
                p.publish_replies_sum,
                p.received,
                p.server_dropped.map_or("n/a".into(), |d| d.to_string()),
                p.lost,
                p.duplicates,
                p.reordered,
                if p.accounting_ok { "ok" } else { "MISMATCH" }
            );
        }
        if let Some(i) = &r.idle {
            println!(
                "{}: {} idle connections opened ({} errors), alive {} -> {}, server memory per connection {}",
                r.label,
                i.opened,
                i.connect_errors,
                i.alive_at_start,
                i.alive_at_end,
                i.bytes_per_connection.map_or("n/a".into(), |b| format!("{:.0} B", b))
            );
        }
        println!(
            "{}: sent {}, replies {}, measured {}, errors {}, unanswered {}, send lag p99 {}, loadtest CPU {:.2} s ({:.0}%, {:.2} µs per {})",
            r.label, r.sent, r.replies, r.measured, r.errors, r.unanswered,
            report::fmt_us(r.send_lag_us.p99), r.tool_cpu_s, r.tool_cpu_pct, r.tool_cpu_us_per_op,
            if r.pubsub.is_some() { "delivery" } else { "reply" }
        );
        for n in r.notes.iter().chain(&r.error_samples) {
            println!("{}: note: {n}", r.label);
        }
    }
}
