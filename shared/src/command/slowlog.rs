//! `SLOWLOG` and its subcommands: the commands that ran longer than
//! `slowlog-log-slower-than`.

use bytes::Bytes;

use super::args::{words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// The `SLOWLOG` subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlowlogCommand {
    /// ```text
    /// SLOWLOG GET [count]
    /// ```
    /// The count is kept as sent: Redis reads it (and refuses one below -1) when the command
    /// runs.
    Get(Option<Bytes>),
    /// ```text
    /// SLOWLOG LEN
    /// ```
    Len,
    /// ```text
    /// SLOWLOG RESET
    /// ```
    Reset,
    /// ```text
    /// SLOWLOG HELP
    /// ```
    Help,
}

use SlowlogCommand as S;

impl Family for SlowlogCommand {
    const TABLE: &'static [Row] = &[
        Row::new("slowlog", -2, "", "slow")
            .doc("2.2.12", "server", "Container of the slow log subcommands.", "Per subcommand."),
        Row::new("slowlog|get", -2, "admin loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes nondeterministic_output")
            .doc("2.2.12", "server", "The newest entries of the slow log.", "O(N), N entries returned.")
            .args("count:integer~o"),
        Row::new("slowlog|len", 2, "admin loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes response_policy:agg_sum nondeterministic_output")
            .doc("2.2.12", "server", "How many entries the slow log holds.", "O(1)"),
        Row::new("slowlog|reset", 2, "admin loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes response_policy:all_succeeded")
            .doc("2.2.12", "server", "Empties the slow log.", "O(N), N entries dropped."),
        Row::new("slowlog|help", 2, "loading stale", "slow")
            .doc("6.2.0", "server", "Describes the SLOWLOG subcommands.", "O(1)"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        (name == b"slowlog").then(|| parse_slowlog(args))
    }

    fn full_name(&self) -> &'static str {
        match self {
            S::Get(_) => "slowlog|get",
            S::Len => "slowlog|len",
            S::Reset => "slowlog|reset",
            S::Help => "slowlog|help",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            S::Get(count) => words(&["SLOWLOG", "GET"], count.as_slice()),
            S::Len => words(&["SLOWLOG", "LEN"], &[]),
            S::Reset => words(&["SLOWLOG", "RESET"], &[]),
            S::Help => words(&["SLOWLOG", "HELP"], &[]),
        }
    }
}

/// `SLOWLOG subcommand [arg ...]`.
fn parse_slowlog(args: &mut Args) -> Result<SlowlogCommand, CommandError> {
    let mut buf = [0; NAME_MAX];
    let (sub, lower) = args.subcommand("slowlog", &mut buf)?;
    let argc = args.len();
    Ok(match lower {
        // Redis declares GET's arity as "at least 2" and checks the rest itself.
        b"get" if argc <= 1 => S::Get((argc == 1).then(|| args.take())),
        b"get" => return Err(CommandError::SubcommandSyntax { command: "SLOWLOG", sub }),
        b"len" => args.need(argc == 0, "slowlog|len").map(|()| S::Len)?,
        b"reset" => args.need(argc == 0, "slowlog|reset").map(|()| S::Reset)?,
        b"help" => args.need(argc == 0, "slowlog|help").map(|()| S::Help)?,
        _ => return Err(CommandError::UnknownSubcommand { command: "SLOWLOG", sub }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::Command;
    use super::*;

    #[test]
    fn slowlog_parses_back_from_its_arguments_with_redis_errors() {
        for cmd in [S::Get(None), S::Get(Some(Bytes::from_static(b"5"))), S::Len, S::Reset, S::Help] {
            let cmd = Command::from(cmd);
            assert_eq!(Command::parse(cmd.to_args()).unwrap(), cmd);
        }
        assert_eq!(parse(&["slowlog", "len", "1"]), Err(CommandError::Arity("slowlog|len")));
        let err = parse(&["slowlog", "get", "1", "2"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP."
        );
        assert!(matches!(
            parse(&["slowlog", "nosuch"]),
            Err(CommandError::UnknownSubcommand { command: "SLOWLOG", .. })
        ));
    }
}
