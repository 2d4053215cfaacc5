//! Per-command statistics: calls, time, refusals, errors and a latency histogram for every
//! command the server runs (`INFO commandstats`, `INFO latencystats`, `LATENCY HISTOGRAM`).
//!
//! Every command records one sample from whichever thread runs it. As with the counters of
//! [`crate::stats`], the table is split into shards, each behind its own lock on its own cache
//! lines, and a thread always records into the shard it was given on first use: the lock is
//! uncontended on the hot path (one lock, one lookup by the name's address, one histogram
//! increment). Reading merges the shards by name.
//!
//! Durations are nanoseconds, recorded in HdrHistograms with Redis's range and precision
//! (1 ns to 1 s, two significant digits), so percentiles and histogram buckets read as
//! Redis's do; Redis records whole microseconds, so its values are multiples of 1,000 ns where
//! ours are the durations measured.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::stats::{my_shard, SHARDS};

/// The shortest duration the histograms hold apart, in nanoseconds (Redis's
/// `LATENCY_HISTOGRAM_MIN_VALUE`).
const MIN_NS: u64 = 1;
/// The longest: slower commands count as this (Redis's `LATENCY_HISTOGRAM_MAX_VALUE`, 1 s).
const MAX_NS: u64 = 1_000_000_000;
/// Significant digits kept (Redis's `LATENCY_HISTOGRAM_PRECISION`).
const PRECISION: u8 = 2;

/// How a command ended, as `INFO commandstats` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It ran and did not reply with an error.
    Ok,
    /// It ran and replied with an error (`failed_calls`).
    Failed,
    /// It was refused before it ran: arity, NOAUTH/NOPERM, subscribed mode
    /// (`rejected_calls`; not a call, not timed).
    Rejected,
}

/// One command's figures (in one shard, or merged).
#[derive(Clone, Debug)]
pub struct CommandFigures {
    /// Redis's full name (`client|list`).
    pub name: &'static str,
    /// Times it ran (refusals excluded).
    pub calls: u64,
    /// Nanoseconds it ran, summed.
    pub nanos: u64,
    /// Times it was refused before running.
    pub rejected: u64,
    /// Times it ran and replied with an error.
    pub failed: u64,
    /// Its run times, in nanoseconds.
    pub histogram: Histogram<u64>,
}

impl CommandFigures {
    fn new(name: &'static str) -> CommandFigures {
        CommandFigures {
            name,
            calls: 0,
            nanos: 0,
            rejected: 0,
            failed: 0,
            histogram: Histogram::new_with_bounds(MIN_NS, MAX_NS, PRECISION)
                .expect("constant bounds are valid"),
        }
    }

    /// Redis's `cmdstat_<name>` value.
    pub fn commandstats_line(&self) -> String {
        let usec = self.nanos / 1000;
        let per_call =
            if self.calls == 0 { 0.0 } else { self.nanos as f64 / 1000.0 / self.calls as f64 };
        format!(
            "calls={},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
            self.calls, self.rejected, self.failed
        )
    }

    /// Redis's `latency_percentiles_usec_<name>` value for `percentiles`: `p50=1.003,...`.
    pub fn percentiles_line(&self, percentiles: &[f64]) -> String {
        let mut line = String::new();
        for (i, p) in percentiles.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            let value = self.histogram.value_at_percentile(*p) as f64 / 1000.0;
            let _ = write!(line, "p{}={value:.3}", format_percentile(*p));
        }
        line
    }

    /// `LATENCY HISTOGRAM`'s buckets, as Redis makes them: at 1,024 ns and each power of two
    /// above, the bucket's highest equivalent value in whole microseconds and the cumulative
    /// count up to it, for each bucket that adds to the count.
    pub fn cumulative_buckets(&self) -> Vec<(u64, u64)> {
        let h = &self.histogram;
        let total = h.len();
        let mut out = Vec::new();
        let (mut level, mut previous) = (1024u64, 0u64);
        while previous < total && level <= MAX_NS * 2 {
            let top = h.highest_equivalent(level);
            let cumulative = h.count_between(0, top);
            if cumulative > previous {
                out.push((top / 1000, cumulative));
            }
            previous = cumulative;
            level *= 2;
        }
        out
    }

    fn merge(&mut self, other: &CommandFigures) {
        self.calls += other.calls;
        self.nanos += other.nanos;
        self.rejected += other.rejected;
        self.failed += other.failed;
        // Same bounds on both sides: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }
}

/// A percentile as Redis prints it in field names: `%f` with the trailing zeros (and point)
/// trimmed, `50`, `99.9`.
pub fn format_percentile(p: f64) -> String {
    let text = format!("{p:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Hashes a name by its address: names are `&'static str`s from the command table, so the
/// address is a cheap key. (Two copies of one name at two addresses make two entries, merged
/// by name on read.)
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_usize(&mut self, n: usize) {
        // Spread the address's bits (multiplicative hashing).
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Table = HashMap<usize, CommandFigures, BuildHasherDefault<AddressHasher>>;

/// One shard, alone on its cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<Table>);

/// Every command's figures, sharded per thread; and whether they are kept
/// (`latency-tracking`) and which percentiles INFO shows.
pub struct CommandStats {
    shards: [Shard; SHARDS],
    /// The latency monitor's events.
    pub monitor: LatencyMonitor,
    /// `latency-tracking`: whether histograms are kept (calls are counted either way).
    tracking: AtomicBool,
    /// `latency-tracking-info-percentiles`.
    percentiles: Mutex<Vec<f64>>,
}

impl Default for CommandStats {
    fn default() -> CommandStats {
        CommandStats {
            shards: Default::default(),
            monitor: LatencyMonitor::default(),
            tracking: AtomicBool::new(true),
            percentiles: Mutex::new(vec![50.0, 99.0, 99.9]),
        }
    }
}

impl CommandStats {
    /// Records one command: `nanos` it ran and how it ended.
    pub fn record(&self, name: &'static str, nanos: u64, outcome: Outcome) {
        let mut table = self.shards[my_shard()].0.lock().unwrap_or_else(|e| e.into_inner());
        let figures =
            table.entry(name.as_ptr() as usize).or_insert_with(|| CommandFigures::new(name));
        if outcome == Outcome::Rejected {
            figures.rejected += 1;
            return;
        }
        figures.calls += 1;
        figures.nanos += nanos;
        if outcome == Outcome::Failed {
            figures.failed += 1;
        }
        if self.tracking.load(Ordering::Relaxed) {
            figures.histogram.saturating_record(nanos.clamp(MIN_NS, MAX_NS));
        }
    }

    /// Every command's figures, merged across shards, by name.
    pub fn merged(&self) -> Vec<CommandFigures> {
        let mut by_name: Vec<CommandFigures> = Vec::new();
        for shard in &self.shards {
            let table = shard.0.lock().unwrap_or_else(|e| e.into_inner());
            for figures in table.values() {
                match by_name.iter_mut().find(|f| f.name == figures.name) {
                    Some(found) => found.merge(figures),
                    None => by_name.push(figures.clone()),
                }
            }
        }
        by_name.sort_by_key(|f| f.name);
        by_name
    }

    /// `CONFIG RESETSTAT`: every command's figures forgotten.
    pub fn reset(&self) {
        for shard in &self.shards {
            shard.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// `latency-tracking`.
    pub fn tracking(&self) -> bool {
        self.tracking.load(Ordering::Relaxed)
    }

    /// Sets `latency-tracking`.
    pub fn set_tracking(&self, on: bool) {
        self.tracking.store(on, Ordering::Relaxed);
    }

    /// `latency-tracking-info-percentiles`.
    pub fn percentiles(&self) -> Vec<f64> {
        self.percentiles.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets `latency-tracking-info-percentiles`.
    pub fn set_percentiles(&self, percentiles: Vec<f64>) {
        *self.percentiles.lock().unwrap_or_else(|e| e.into_inner()) = percentiles;
    }
}

/// Reads `latency-tracking-info-percentiles` as Redis does: numbers between 0 and 100,
/// separated by spaces (none at all is allowed).
pub fn parse_percentiles(value: &str) -> Result<Vec<f64>, &'static str> {
    let mut out = Vec::new();
    for word in value.split_whitespace() {
        let p: f64 = word
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite())
            .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
            );
        }
        out.push(p);
    }
    Ok(out)
}

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
const EVENT_SAMPLES: usize = 160;

/// One latency sample of an event: when (seconds since the Unix epoch) and how long, in
/// milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When it was taken.
    pub unix_secs: u64,
    /// The latency, in milliseconds.
    pub millis: u64,
}

/// One event's samples: a ring of [`EVENT_SAMPLES`], one per second at most (the highest of
/// that second), and the highest ever.
#[derive(Clone, Debug, Default)]
pub struct EventSeries {
    /// Oldest first.
    pub samples: std::collections::VecDeque<Sample>,
    /// The highest latency ever recorded, in milliseconds.
    pub max: u64,
}

/// The latency monitor (`latency-monitor-threshold`, `LATENCY LATEST|HISTORY|GRAPH|RESET`):
/// commands slower than the threshold, as Redis's events `command` and `fast-command` (a
/// command in the `fast` category). Touched only when a command passes the threshold.
#[derive(Default)]
pub struct LatencyMonitor {
    /// Milliseconds; 0 turns the monitor off.
    threshold_ms: std::sync::atomic::AtomicU64,
    /// By event name, in the order first seen.
    events: Mutex<Vec<(&'static str, EventSeries)>>,
}

impl LatencyMonitor {
    /// `latency-monitor-threshold`.
    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    /// Sets `latency-monitor-threshold`.
    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// Returns true if and only if the monitor is on and `millis` reaches its threshold.
    pub fn passes(&self, millis: u64) -> bool {
        let threshold = self.threshold_ms();
        threshold != 0 && millis >= threshold
    }

    /// Records `millis` for `event` at `unix_secs`, if it [passes](Self::passes).
    pub fn add(&self, event: &'static str, millis: u64, unix_secs: u64) {
        if !self.passes(millis) {
            return;
        }
        let mut events = self.lock();
        let series = match events.iter().position(|(name, _)| *name == event) {
            Some(i) => &mut events[i].1,
            None => {
                events.push((event, EventSeries::default()));
                &mut events.last_mut().expect("just pushed").1
            }
        };
        series.max = series.max.max(millis);
        match series.samples.back_mut() {
            Some(last) if last.unix_secs == unix_secs => last.millis = last.millis.max(millis),
            _ => {
                if series.samples.len() == EVENT_SAMPLES {
                    series.samples.pop_front();
                }
                series.samples.push_back(Sample { unix_secs, millis });
            }
        }
    }

    /// Every event with its samples.
    pub fn events(&self) -> Vec<(&'static str, EventSeries)> {
        self.lock().clone()
    }

    /// `LATENCY RESET [event ...]`: forgets the events named (all without names); returns how
    /// many there were.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut events = self.lock();
        let before = events.len();
        if names.is_empty() {
            events.clear();
        } else {
            events
                .retain(|(name, _)| !names.iter().any(|n| n.eq_ignore_ascii_case(name.as_bytes())));
        }
        before - events.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, EventSeries)>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_merge_across_threads_by_name() {
        let stats = std::sync::Arc::new(CommandStats::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let stats = stats.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        stats.record("ping", 2_000, Outcome::Ok);
                    }
                    stats.record("publish", 5_000, Outcome::Failed);
                    stats.record("publish", 0, Outcome::Rejected);
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let merged = stats.merged();
        assert_eq!(merged.iter().map(|f| f.name).collect::<Vec<_>>(), ["ping", "publish"]);
        assert_eq!(
            merged[0].commandstats_line(),
            "calls=800,usec=1600,usec_per_call=2.00,rejected_calls=0,failed_calls=0"
        );
        assert_eq!(
            merged[1].commandstats_line(),
            "calls=8,usec=40,usec_per_call=5.00,rejected_calls=8,failed_calls=8"
        );
        stats.reset();
        assert!(stats.merged().is_empty());
    }

    #[test]
    fn percentiles_and_buckets_read_as_redis_reads_its_histograms() {
        let mut figures = CommandFigures::new("ping");
        // Redis records whole microseconds: 1,000 ns reads back as 1.003 and falls in the
        // first bucket, reported as 1 µs.
        for ns in [1_000, 1_000, 2_000, 40_000] {
            figures.histogram.record(ns).unwrap();
        }
        assert_eq!(
            figures.percentiles_line(&[50.0, 99.0, 99.9]),
            "p50=1.003,p99=40.191,p99.9=40.191"
        );
        assert_eq!(figures.cumulative_buckets(), [(1, 2), (2, 3), (66, 4)]);
        assert_eq!(format_percentile(99.9), "99.9");
        assert_eq!(format_percentile(50.0), "50");
    }

    #[test]
    fn the_monitor_keeps_one_sample_a_second_past_the_threshold() {
        let monitor = LatencyMonitor::default();
        monitor.add("command", 50, 1);
        assert!(monitor.events().is_empty(), "off while the threshold is 0");
        monitor.set_threshold_ms(10);
        monitor.add("command", 9, 1);
        monitor.add("command", 20, 1);
        monitor.add("command", 30, 1);
        monitor.add("command", 15, 2);
        for t in 3..200 {
            monitor.add("fast-command", 10, t);
        }
        let events = monitor.events();
        assert_eq!(events[0].0, "command");
        let samples: Vec<Sample> = events[0].1.samples.iter().copied().collect();
        assert_eq!(
            samples,
            [Sample { unix_secs: 1, millis: 30 }, Sample { unix_secs: 2, millis: 15 }]
        );
        assert_eq!(events[0].1.max, 30);
        assert_eq!(events[1].1.samples.len(), EVENT_SAMPLES);
        assert_eq!(monitor.reset(&[b"COMMAND", b"nosuch"]), 1);
        assert_eq!(monitor.reset(&[]), 1);
    }

    #[test]
    fn percentiles_parse_with_redis_errors() {
        assert_eq!(parse_percentiles("50 99 99.9"), Ok(vec![50.0, 99.0, 99.9]));
        assert_eq!(parse_percentiles(""), Ok(vec![]));
        assert!(parse_percentiles("50 101").unwrap_err().contains("between"));
        assert!(parse_percentiles("abc").unwrap_err().starts_with("Invalid"));
    }
}
