//! LATENCY: the per-command latency histograms (`HISTOGRAM`), and the latency monitor's
//! events (`LATEST`, `HISTORY`, `GRAPH`, `RESET`, `DOCTOR`): with `latency-monitor-threshold`
//! set, the commands that reached it, as Redis's `command` and `fast-command` events (this
//! server has no other source of latency events: no persistence, no expiry, no eviction).

use shared::command::LatencyCommand;
use shared::Frame;

use super::{help, verbatim, Run};
use crate::errors::ReplyError;
use crate::latency::{CommandFigures, EventSeries};
use crate::session::{Session, Status};

impl Run for LatencyCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let reply = match self {
            LatencyCommand::Histogram(names) => {
                let figures = session.ctx.commands.merged();
                let timed = figures.iter().filter(|f| !f.histogram.is_empty());
                let chosen: Vec<&CommandFigures> = if names.is_empty() {
                    timed.collect()
                } else {
                    // Each name asked for, in order: the command itself and, for a container,
                    // its subcommands; unknown names and commands never run add nothing.
                    let timed: Vec<&CommandFigures> = timed.collect();
                    let mut chosen = Vec::new();
                    for name in &names {
                        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                        let container = format!("{name}|");
                        chosen.extend(timed.iter().filter(|f| {
                            f.name == name || (!name.contains('|') && f.name.starts_with(&container))
                        }));
                    }
                    chosen
                };
                Frame::Map(chosen.into_iter().map(histogram_entry).collect())
            }
            LatencyCommand::Latest => {
                let events = session.ctx.commands.monitor.events();
                Frame::Array(
                    events
                        .into_iter()
                        .filter_map(|(name, series)| {
                            let last = series.samples.back()?;
                            Some(Frame::Array(vec![
                                Frame::bulk(name),
                                Frame::Integer(last.unix_secs as i64),
                                Frame::Integer(last.millis as i64),
                                Frame::Integer(series.max as i64),
                            ]))
                        })
                        .collect(),
                )
            }
            LatencyCommand::History(event) => {
                let samples = event_series(session, &event).map(|s| s.samples).unwrap_or_default();
                Frame::Array(
                    samples
                        .into_iter()
                        .map(|s| {
                            Frame::Array(vec![
                                Frame::Integer(s.unix_secs as i64),
                                Frame::Integer(s.millis as i64),
                            ])
                        })
                        .collect(),
                )
            }
            LatencyCommand::Graph(event) => match event_series(session, &event) {
                Some(series) if !series.samples.is_empty() => {
                    let (name, now) = (String::from_utf8_lossy(&event), session.ctx.unix_time().0);
                    verbatim(session, &graph(&name.to_ascii_lowercase(), &series, now), out);
                    return Status::Open;
                }
                _ => {
                    let event = String::from_utf8_lossy(&event[..event.len().min(128)])
                        .replace(['\r', '\n'], " ");
                    ReplyError::NoLatencySamples(event).frame()
                }
            },
            LatencyCommand::Reset(events) => {
                let names: Vec<&[u8]> = events.iter().map(|e| &e[..]).collect();
                Frame::Integer(session.ctx.commands.monitor.reset(&names) as i64)
            }
            LatencyCommand::Doctor => {
                let text = doctor(session);
                verbatim(session, &text, out);
                return Status::Open;
            }
            LatencyCommand::Help => help("LATENCY", LATENCY_HELP),
        };
        session.reply(reply, out)
    }
}

/// One command's `LATENCY HISTOGRAM` entry: its name, then a map of its calls and its
/// cumulative buckets (microseconds to count).
fn histogram_entry(figures: &CommandFigures) -> (Frame, Frame) {
    let buckets = figures
        .cumulative_buckets()
        .into_iter()
        .map(|(usec, count)| (Frame::Integer(usec as i64), Frame::Integer(count as i64)))
        .collect();
    let body = Frame::Map(vec![
        (Frame::bulk("calls"), Frame::Integer(figures.histogram.len() as i64)),
        (Frame::bulk("histogram_usec"), Frame::Map(buckets)),
    ]);
    (Frame::bulk(figures.name), body)
}

/// The monitor's series for `event` (any case), if it has one.
fn event_series(session: &Session, event: &[u8]) -> Option<EventSeries> {
    let events = session.ctx.commands.monitor.events();
    events.into_iter().find(|(name, _)| event.eq_ignore_ascii_case(name.as_bytes())).map(|e| e.1)
}

/// `LATENCY GRAPH`: Redis's header line, then one bar per sample, oldest first, with its age.
fn graph(name: &str, series: &EventSeries, now: u64) -> String {
    let high = series.samples.iter().map(|s| s.millis).max().unwrap_or(0);
    let low = series.samples.iter().map(|s| s.millis).min().unwrap_or(0);
    let mut text =
        format!("{name} - high {high} ms, low {low} ms (all time high {} ms)\n", series.max);
    text.push_str(&"-".repeat(80));
    text.push('\n');
    for sample in &series.samples {
        let age = now.saturating_sub(sample.unix_secs);
        let bar = (sample.millis * 60).div_ceil(high.max(1)) as usize;
        text.push_str(&format!("{age:>8}s ago {:>8} ms  {}\n", sample.millis, "#".repeat(bar)));
    }
    text
}

/// `LATENCY DOCTOR`: a text for people, about the monitor's events.
fn doctor(session: &Session) -> String {
    let monitor = &session.ctx.commands.monitor;
    let threshold = monitor.threshold_ms();
    let events = monitor.events();
    if threshold == 0 && events.is_empty() {
        return "The latency monitor is off (latency-monitor-threshold is 0), so no latency \
                events were recorded. Each command's latency is measured all the same: see \
                LATENCY HISTOGRAM, INFO latencystats, INFO commandstats and SLOWLOG GET. To \
                record the commands slower than N milliseconds as events, CONFIG SET \
                latency-monitor-threshold N.\n"
            .into();
    }
    if events.is_empty() {
        return format!(
            "No command took {threshold} ms or more since the latency monitor was turned on \
             (latency-monitor-threshold {threshold}).\n"
        );
    }
    let mut text = format!(
        "Latency events recorded (latency-monitor-threshold {threshold} ms; this server has no \
         persistence, expiry or eviction, so every event is a command that ran that long):\n\n"
    );
    for (i, (name, series)) in events.iter().enumerate() {
        let n = series.samples.len() as u64;
        let sum: u64 = series.samples.iter().map(|s| s.millis).sum();
        text.push_str(&format!(
            "{}. {name}: {n} latency spikes (average {} ms, highest {} ms). The commands that \
             ran this long are in SLOWLOG GET (with slowlog-log-slower-than at or below {} \
             microseconds), their distributions in LATENCY HISTOGRAM.\n",
            i + 1,
            sum / n.max(1),
            series.max,
            threshold * 1000,
        ));
    }
    text
}

const LATENCY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];
