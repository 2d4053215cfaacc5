//! LATENCY: the per-command latency histograms (`HISTOGRAM`), and the latency monitor's
//! events. This server has no latency monitor (no `latency-monitor-threshold`), so it answers
//! the event subcommands as Redis does with the monitor off: no events, no samples.

use shared::command::LatencyCommand;
use shared::resp::{encode_bulk, encode_header};
use shared::{Frame, RespVersion};

use super::{help, Run};
use crate::errors::ReplyError;
use crate::latency::CommandFigures;
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
            LatencyCommand::Latest => Frame::Array(Vec::new()),
            LatencyCommand::History(_) => Frame::Array(Vec::new()),
            LatencyCommand::Graph(event) => {
                let event = String::from_utf8_lossy(&event[..event.len().min(128)])
                    .replace(['\r', '\n'], " ");
                ReplyError::NoLatencySamples(event).frame()
            }
            LatencyCommand::Reset(_) => Frame::Integer(0),
            LatencyCommand::Doctor => {
                doctor(session, out);
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

/// `LATENCY DOCTOR`: a text for people, a verbatim string (`txt`) in RESP3 and a bulk string in
/// RESP2, as Redis sends it.
fn doctor(session: &Session, out: &mut Vec<u8>) {
    let text = "This server has no latency monitor, so there are no latency events to \
                analyse. Each command's latency is measured all the same: see LATENCY \
                HISTOGRAM, INFO latencystats, INFO commandstats and SLOWLOG GET.\n";
    if session.resp.as_deref().expect("resp session").version == RespVersion::Resp3 {
        encode_header(out, b'=', text.len() + 4);
        out.extend_from_slice(b"txt:");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        encode_bulk(out, text.as_bytes());
    }
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
