//! `LATENCY` and its subcommands: per-command latency histograms and the latency monitor's
//! events.

use bytes::Bytes;

use super::args::{words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// The `LATENCY` subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LatencyCommand {
    /// ```text
    /// LATENCY HISTOGRAM [command ...]
    /// ```
    Histogram(Vec<Bytes>),
    /// ```text
    /// LATENCY LATEST
    /// ```
    Latest,
    /// ```text
    /// LATENCY HISTORY event
    /// ```
    History(Bytes),
    /// ```text
    /// LATENCY GRAPH event
    /// ```
    Graph(Bytes),
    /// ```text
    /// LATENCY DOCTOR
    /// ```
    Doctor,
    /// ```text
    /// LATENCY RESET [event ...]
    /// ```
    Reset(Vec<Bytes>),
    /// ```text
    /// LATENCY HELP
    /// ```
    Help,
}

use LatencyCommand as L;

impl Family for LatencyCommand {
    const TABLE: &'static [Row] = &[
        Row::new("latency", -2, "", "slow")
            .doc("2.8.13", "server", "Container of the latency diagnostics subcommands.", "Per subcommand."),
        Row::new("latency|histogram", -2, "admin noscript loading stale", "admin slow dangerous")
            .tips("nondeterministic_output request_policy:all_nodes response_policy:special")
            .doc("7.0.0", "server", "Each command's latency distribution, for the commands named or all.", "O(N), N commands reported.")
            .args("command:string~om"),
        Row::new("latency|latest", 2, "admin noscript loading stale", "admin slow dangerous")
            .tips("nondeterministic_output request_policy:all_nodes response_policy:special")
            .doc("2.8.13", "server", "The latest sample of every latency event.", "O(1)"),
        Row::new("latency|history", 3, "admin noscript loading stale", "admin slow dangerous")
            .tips("nondeterministic_output request_policy:all_nodes response_policy:special")
            .doc("2.8.13", "server", "The time and latency samples of one event.", "O(1)")
            .args("event:string"),
        Row::new("latency|graph", 3, "admin noscript loading stale", "admin slow dangerous")
            .tips("nondeterministic_output request_policy:all_nodes response_policy:special")
            .doc("2.8.13", "server", "An ASCII graph of one event's samples.", "O(1)")
            .args("event:string"),
        Row::new("latency|doctor", 2, "admin noscript loading stale", "admin slow dangerous")
            .tips("nondeterministic_output request_policy:all_nodes response_policy:special")
            .doc("2.8.13", "server", "A report, in words, on the latency events recorded.", "O(1)"),
        Row::new("latency|reset", -2, "admin noscript loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes response_policy:all_succeeded")
            .doc("2.8.13", "server", "Forgets the samples of the events named, or of all.", "O(1)")
            .args("event:string~om"),
        Row::new("latency|help", 2, "loading stale", "slow")
            .doc("2.8.13", "server", "Describes the LATENCY subcommands.", "O(1)"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        (name == b"latency").then(|| parse_latency(args))
    }

    fn full_name(&self) -> &'static str {
        match self {
            L::Histogram(_) => "latency|histogram",
            L::Latest => "latency|latest",
            L::History(_) => "latency|history",
            L::Graph(_) => "latency|graph",
            L::Doctor => "latency|doctor",
            L::Reset(_) => "latency|reset",
            L::Help => "latency|help",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            L::Histogram(commands) => words(&["LATENCY", "HISTOGRAM"], commands),
            L::Latest => words(&["LATENCY", "LATEST"], &[]),
            L::History(event) => words(&["LATENCY", "HISTORY"], std::slice::from_ref(event)),
            L::Graph(event) => words(&["LATENCY", "GRAPH"], std::slice::from_ref(event)),
            L::Doctor => words(&["LATENCY", "DOCTOR"], &[]),
            L::Reset(events) => words(&["LATENCY", "RESET"], events),
            L::Help => words(&["LATENCY", "HELP"], &[]),
        }
    }
}

/// `LATENCY subcommand [arg ...]`.
fn parse_latency(args: &mut Args) -> Result<LatencyCommand, CommandError> {
    let mut buf = [0; NAME_MAX];
    let (sub, lower) = args.subcommand("latency", &mut buf)?;
    let argc = args.len();
    Ok(match lower {
        b"histogram" => L::Histogram(args.rest()),
        b"latest" => args.need(argc == 0, "latency|latest").map(|()| L::Latest)?,
        b"history" => args.need(argc == 1, "latency|history").map(|()| L::History(args.take()))?,
        b"graph" => args.need(argc == 1, "latency|graph").map(|()| L::Graph(args.take()))?,
        b"doctor" => args.need(argc == 0, "latency|doctor").map(|()| L::Doctor)?,
        b"reset" => L::Reset(args.rest()),
        b"help" => args.need(argc == 0, "latency|help").map(|()| L::Help)?,
        _ => return Err(CommandError::UnknownSubcommand { command: "LATENCY", sub }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::Command;
    use super::*;

    #[test]
    fn latency_parses_back_from_its_arguments_with_redis_arity() {
        let b = |w: &str| Bytes::copy_from_slice(w.as_bytes());
        for cmd in [
            L::Histogram(vec![]),
            L::Histogram(vec![b("ping"), b("client|list")]),
            L::Latest,
            L::History(b("command")),
            L::Graph(b("command")),
            L::Doctor,
            L::Reset(vec![]),
            L::Reset(vec![b("command")]),
            L::Help,
        ] {
            let cmd = Command::from(cmd);
            assert_eq!(parse_back(&cmd), cmd);
        }
        assert_eq!(parse(&["latency", "graph"]), Err(CommandError::Arity("latency|graph")));
        assert_eq!(parse(&["latency", "doctor", "x"]), Err(CommandError::Arity("latency|doctor")));
        assert!(matches!(
            parse(&["latency", "nosuch"]),
            Err(CommandError::UnknownSubcommand { command: "LATENCY", .. })
        ));
    }

    fn parse_back(cmd: &Command) -> Command {
        Command::parse(cmd.to_args()).unwrap()
    }
}
