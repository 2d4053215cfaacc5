//! Files of runs: JSON, the histogram files that `loadtest merge` reads, and merging the runs
//! of several load generators into one.

use crate::hist::{from_base64, merge, percentile_curve, to_base64, Hist, Summary};
use crate::model::RunReport;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

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

/// Merges `parts` into one report, or with `by_label` into one per label (a label with a single
/// part is passed through as it was); `label` renames the single merged report.
pub fn merge_by_label(
    parts: Vec<(RunReport, Hist, Hist)>,
    by_label: bool,
    label: Option<&str>,
) -> anyhow::Result<Vec<RunReport>> {
    let mut groups: Vec<(String, Vec<_>)> = Vec::new();
    for part in parts {
        let key = if by_label { part.0.label.clone() } else { String::new() };
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(part),
            None => groups.push((key, vec![part])),
        }
    }
    let mut merged = Vec::new();
    for (key, mut group) in groups {
        if by_label && group.len() == 1 {
            merged.push(group.remove(0).0);
            continue;
        }
        let mut m = merge_reports(group)?;
        if by_label {
            m.label = key;
        } else if let Some(l) = label {
            m.label = l.to_string();
        }
        merged.push(m);
    }
    Ok(merged)
}

/// `label` as a file name: ASCII letters, digits, `-`, `_` and `.` kept, anything else `_`.
pub fn file_name(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::new_hist;
    use crate::record::sample_report as report;

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
}
