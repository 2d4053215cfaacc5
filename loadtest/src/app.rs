//! The subcommands behind `main`: each takes its parsed flags and runs the library.

use crate::cli::{Cli, Cmd, MergeArgs, RunArgs};
use crate::histfile::{self, merge_by_label};
use crate::model::{CompareDoc, Entry, RunReport};
use crate::scenarios;
use crate::table::{accounting_cells, csv_row, text_table, CSV_HEADER};
use crate::units::{fmt_us, utc_now};
use anyhow::Context;

/// Runs the subcommand of `cli`; `argv` is the command line, quoted in reports.
pub fn run(cli: Cli, argv: &[String]) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Compare(args) => {
            let doc = crate::compare::compare(&args, argv)?;
            print!("{}", crate::documents::shootout_text(&doc));
            println!("report: {}", args.out.join("report.md").display());
        }
        Cmd::Exchange(args) => crate::scale::run(&args, argv)?,
        Cmd::Run(args) => run_scenario(&args)?,
        Cmd::Merge(args) => merge(&args, argv)?,
    }
    Ok(())
}

/// `loadtest run`: one scenario (or a sweep of it) against one server, each point after the
/// floor at the same load unless `--no-floor`.
fn run_scenario(args: &RunArgs) -> anyhow::Result<()> {
    let base = args.scenario.config(&args.addr);
    let security = crate::wire::Security::from_flags(&args.access)?;
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
            Some(scenarios::floor(cfg, &floor_label).context("the floor's calibration run")?)
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
            histfile::write_json(path, &reports[0])?;
        } else {
            histfile::write_json(path, &reports)?;
        }
    }
    if let Some(path) = &args.hist_out {
        let last = reports.last().context("no run")?;
        histfile::write_hist_file(&histfile::hist_out_path(path)?, last)?;
    }
    Ok(())
}

/// `loadtest merge`: the histogram files of several load generators as one report (or one per
/// label), printed, and written as JSON and as a report directory when asked.
fn merge(args: &MergeArgs, argv: &[String]) -> anyhow::Result<()> {
    let parts = histfile::expand_hist_paths(&args.files)?
        .iter()
        .map(|f| histfile::read_hist_file(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let merged = merge_by_label(parts, args.by_label, args.label.as_deref())?;
    print_reports(&merged, args.csv);
    if let Some(path) = &args.json {
        match merged.as_slice() {
            [one] => histfile::write_json(path, one)?,
            all => histfile::write_json(path, &all)?,
        }
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // The merged histograms too, so that reports can be merged again (`LABEL.hdr`).
        for r in &merged {
            let name = histfile::file_name(&r.label);
            histfile::write_hist_file(&dir.join(format!("{name}.hdr")), r)?;
        }
        let doc = CompareDoc {
            command: argv.join(" "),
            generated: utc_now(),
            settings: merged[0].settings.clone(),
            sweep: None,
            machine: crate::sys::Machine::describe(),
            loadtest_version: env!("CARGO_PKG_VERSION").to_string(),
            entries: merged
                .into_iter()
                .map(|r| Entry {
                    name: r.label.clone(),
                    external: Some(r.settings.addr.clone()),
                    status: "ok".into(),
                    run: Some(r),
                    ..Default::default()
                })
                .collect(),
        };
        crate::compare::write_dir(dir, &doc)?;
        println!("report: {}", dir.join("report.md").display());
    }
    Ok(())
}

/// The table (or CSV) of `reports`, then each one's pub/sub, idle and tool lines and notes.
fn print_reports(reports: &[RunReport], csv: bool) {
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
            let [published, replies, received, dropped, lost, dups, reordered, ok] =
                accounting_cells(p);
            println!(
                "{}: published {published}, PUBLISH replies sum {replies}, received {received}, server dropped {dropped}, lost {lost}, duplicates {dups}, reordered {reordered}, accounting {}",
                r.label,
                if ok == "yes" { "ok" } else { "MISMATCH" }
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
            fmt_us(r.send_lag_us.p99), r.tool_cpu_s, r.tool_cpu_pct, r.tool_cpu_us_per_op,
            if r.pubsub.is_some() { "delivery" } else { "reply" }
        );
        for n in r.notes.iter().chain(&r.error_samples) {
            println!("{}: note: {n}", r.label);
        }
    }
}
