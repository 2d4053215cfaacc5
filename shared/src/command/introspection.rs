//! `COMMAND` and its subcommands: the command table ([`super::COMMAND_TABLE`]) as Redis 7.0
//! shows it.

use bytes::Bytes;

use super::args::{is, words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// A question about the command table.
///
/// ```text
/// COMMAND | COMMAND COUNT | COMMAND INFO [name ...] | COMMAND DOCS [name ...] |
/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob] |
/// COMMAND GETKEYS command [arg ...] | COMMAND GETKEYSANDFLAGS command [arg ...] | COMMAND HELP
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntrospectionCommand {
    /// `COMMAND`: every command's `COMMAND INFO` entry.
    All,
    /// `COMMAND COUNT`: how many (top-level) commands are served.
    Count,
    /// `COMMAND INFO [name ...]`: the entries of the commands named (all without names).
    Info(Vec<Bytes>),
    /// `COMMAND DOCS [name ...]`: the documentation of the commands named (all without
    /// names).
    Docs(Vec<Bytes>),
    /// `COMMAND LIST [FILTERBY ...]`: names of commands and subcommands.
    List(Option<ListFilter>),
    /// `COMMAND GETKEYS command [arg ...]` (`flags` false) or `GETKEYSANDFLAGS` (true): the
    /// keys among a whole command's arguments.
    GetKeys {
        /// The command whose keys are asked, its name first.
        command: Vec<Bytes>,
        /// True for `GETKEYSANDFLAGS`.
        flags: bool,
    },
    /// `COMMAND HELP`.
    Help,
}

/// `COMMAND LIST`'s filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListFilter {
    /// `FILTERBY MODULE name`: no module is loaded here.
    Module(Bytes),
    /// `FILTERBY ACLCAT category`.
    AclCat(Bytes),
    /// `FILTERBY PATTERN glob`, matched against full names (`client|list`).
    Pattern(Bytes),
}

use IntrospectionCommand as I;

impl Family for IntrospectionCommand {
    const TABLE: &'static [Row] = &[
        Row::new("command", -1, "loading stale", "slow connection")
            .tips("nondeterministic_output_order")
            .doc("2.8.13", "server", "Describes every command the server serves.", "O(N), N commands."),
        Row::new("command|count", 2, "loading stale", "slow connection")
            .doc("2.8.13", "server", "Counts the commands the server serves.", "O(1)"),
        Row::new("command|info", -2, "loading stale", "slow connection")
            .tips("nondeterministic_output_order")
            .doc("2.8.13", "server", "Describes the given commands, or all of them.", "O(N), N commands described.")
            .args("command-name:string~om"),
        Row::new("command|docs", -2, "loading stale", "slow connection")
            .tips("nondeterministic_output_order")
            .doc("7.0.0", "server", "Documents the given commands, or all of them.", "O(N), N commands documented.")
            .args("command-name:string~om"),
        Row::new("command|list", -2, "loading stale", "slow connection")
            .tips("nondeterministic_output_order")
            .doc("7.0.0", "server", "Lists command names, optionally filtered.", "O(N), N commands.")
            .args("filterby:oneof=FILTERBY~o{module-name:string=MODULE category:string=ACLCAT pattern:pattern=PATTERN}"),
        Row::new("command|getkeys", -4, "loading stale", "slow connection")
            .doc("2.8.13", "server", "Extracts the keys from a whole command.", "O(N), N arguments."),
        Row::new("command|getkeysandflags", -4, "loading stale", "slow connection")
            .doc("7.0.0", "server", "Extracts the keys and their access flags from a whole command.", "O(N), N arguments."),
        Row::new("command|help", 2, "loading stale", "slow connection")
            .doc("5.0.0", "server", "Describes the COMMAND subcommands.", "O(1)"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        (name == b"command").then(|| parse_command(args))
    }

    fn full_name(&self) -> &'static str {
        match self {
            I::All => "command",
            I::Count => "command|count",
            I::Info(_) => "command|info",
            I::Docs(_) => "command|docs",
            I::List(_) => "command|list",
            I::GetKeys { flags: false, .. } => "command|getkeys",
            I::GetKeys { flags: true, .. } => "command|getkeysandflags",
            I::Help => "command|help",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            I::All => words(&["COMMAND"], &[]),
            I::Count => words(&["COMMAND", "COUNT"], &[]),
            I::Info(names) => words(&["COMMAND", "INFO"], names),
            I::Docs(names) => words(&["COMMAND", "DOCS"], names),
            I::List(None) => words(&["COMMAND", "LIST"], &[]),
            I::List(Some(filter)) => {
                let (kind, value) = match filter {
                    ListFilter::Module(v) => ("MODULE", v),
                    ListFilter::AclCat(v) => ("ACLCAT", v),
                    ListFilter::Pattern(v) => ("PATTERN", v),
                };
                words(&["COMMAND", "LIST", "FILTERBY", kind], std::slice::from_ref(value))
            }
            I::GetKeys { command, flags } => {
                let sub = if *flags { "GETKEYSANDFLAGS" } else { "GETKEYS" };
                words(&["COMMAND", sub], command)
            }
            I::Help => words(&["COMMAND", "HELP"], &[]),
        }
    }
}

/// `COMMAND [subcommand [arg ...]]`.
fn parse_command(args: &mut Args) -> Result<IntrospectionCommand, CommandError> {
    if args.is_empty() {
        return Ok(I::All);
    }
    let mut buf = [0; NAME_MAX];
    let (sub, lower) = args.subcommand("command", &mut buf)?;
    let argc = args.len();
    Ok(match lower {
        b"count" => args.need(argc == 0, "command|count").map(|()| I::Count)?,
        b"info" => I::Info(args.rest()),
        b"docs" => I::Docs(args.rest()),
        b"list" => {
            if argc == 0 {
                return Ok(I::List(None));
            }
            let words = args.rest();
            if words.len() != 3 || !is(&words[0], "filterby") {
                return Err(CommandError::Syntax);
            }
            let value = words[2].clone();
            I::List(Some(match &words[1] {
                w if is(w, "module") => ListFilter::Module(value),
                w if is(w, "aclcat") => ListFilter::AclCat(value),
                w if is(w, "pattern") => ListFilter::Pattern(value),
                _ => return Err(CommandError::Syntax),
            }))
        }
        b"getkeys" => {
            args.need(argc >= 2, "command|getkeys")?;
            I::GetKeys { command: args.rest(), flags: false }
        }
        b"getkeysandflags" => {
            args.need(argc >= 2, "command|getkeysandflags")?;
            I::GetKeys { command: args.rest(), flags: true }
        }
        b"help" => args.need(argc == 0, "command|help").map(|()| I::Help)?,
        _ => return Err(CommandError::UnknownSubcommand { command: "COMMAND", sub }),
    })
}
