//! The run table for a terminal and for Markdown, CSV rows for sweeps, and the pub/sub and
//! idle lines under the table.

use crate::model::{PubsubStats, RunReport};
use crate::units::{fmt_cpu_op, fmt_rate, fmt_us};
use std::fmt::Write as _;

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

/// The pub/sub accounting of a run as cells: published, PUBLISH replies sum, received, server
/// dropped (`n/a` when the server does not count), lost, duplicates, reordered, and `yes` or
/// `no` for whether it adds up.
pub fn accounting_cells(p: &PubsubStats) -> [String; 8] {
    [
        p.published.to_string(),
        p.publish_replies_sum.to_string(),
        p.received.to_string(),
        p.server_dropped.map_or("n/a".into(), |d| d.to_string()),
        p.lost.to_string(),
        p.duplicates.to_string(),
        p.reordered.to_string(),
        if p.accounting_ok { "yes" } else { "no" }.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::sample_report as report;

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
}
