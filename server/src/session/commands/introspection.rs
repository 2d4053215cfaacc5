//! COMMAND: the command table (`shared::command::COMMAND_TABLE`) in Redis 7.0's shapes.

use bytes::Bytes;
use shared::command::{
    command_row, lower_case, subcommand_rows, Arg, IntrospectionCommand, ListFilter, Row,
    COMMAND_TABLE, NAME_MAX,
};
use shared::glob::glob_match;
use shared::Frame;

use super::{help, Run};
use crate::errors::ReplyError;
use crate::session::{Session, Status};

impl Run for IntrospectionCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let reply = match self {
            IntrospectionCommand::All => Frame::Array(top_level().map(info).collect()),
            IntrospectionCommand::Count => Frame::Integer(top_level().count() as i64),
            IntrospectionCommand::Info(names) if names.is_empty() => {
                Frame::Array(top_level().map(info).collect())
            }
            IntrospectionCommand::Info(names) => Frame::Array(
                names.iter().map(|name| find(name).map_or(Frame::Null, info)).collect(),
            ),
            IntrospectionCommand::Docs(names) if names.is_empty() => {
                Frame::Map(top_level().map(|row| (Frame::bulk(row.name), docs(row))).collect())
            }
            IntrospectionCommand::Docs(names) => Frame::Map(
                names
                    .iter()
                    .filter_map(find)
                    .map(|row| (Frame::bulk(row.name), docs(row)))
                    .collect(),
            ),
            IntrospectionCommand::List(filter) => Frame::Array(
                COMMAND_TABLE
                    .iter()
                    .filter(|row| listed(row, filter.as_ref()))
                    .map(|row| Frame::bulk(row.name))
                    .collect(),
            ),
            IntrospectionCommand::GetKeys { command, flags } => match get_keys(&command, flags) {
                Ok(keys) => keys,
                Err(err) => err.frame(),
            },
            IntrospectionCommand::Help => help("COMMAND", COMMAND_HELP),
        };
        session.reply(reply, out)
    }
}

/// The rows of the commands (not the subcommands), in the table's order.
fn top_level() -> impl Iterator<Item = &'static Row> {
    COMMAND_TABLE.iter().filter(|row| !row.is_subcommand())
}

/// The row of the command or subcommand named `name` (any case; `client|list` names a
/// subcommand).
fn find(name: &Bytes) -> Option<&'static Row> {
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    command_row(&name)
}

/// Words as RESP3 sets of status replies (`+pubsub`), each after `prefix`.
fn words(text: &str, prefix: &str) -> Frame {
    Frame::Set(
        text.split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| Frame::Simple(format!("{prefix}{w}")))
            .collect(),
    )
}

/// `COMMAND INFO`'s entry for `row`: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specifications, subcommands (each an entry of its own).
fn info(row: &Row) -> Frame {
    let (first, last, step) = row.key_range();
    let tips = row.tips.split(' ').filter(|t| !t.is_empty()).map(Frame::bulk).collect();
    let key_specs = row.keys.iter().map(|spec| {
        let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
        Frame::Map(vec![
            pair("flags", words(spec.flags, "")),
            pair(
                "begin_search",
                Frame::Map(vec![
                    pair("type", Frame::bulk("index")),
                    pair("spec", Frame::Map(vec![pair("index", Frame::Integer(1))])),
                ]),
            ),
            pair(
                "find_keys",
                Frame::Map(vec![
                    pair("type", Frame::bulk("range")),
                    pair(
                        "spec",
                        Frame::Map(vec![
                            pair("lastkey", Frame::Integer(spec.last as i64)),
                            pair("keystep", Frame::Integer(1)),
                            pair("limit", Frame::Integer(0)),
                        ]),
                    ),
                ]),
            ),
        ])
    });
    let subs: Vec<Frame> = if row.is_subcommand() {
        Vec::new()
    } else {
        subcommand_rows(row.name).map(info).collect()
    };
    Frame::Array(vec![
        Frame::bulk(row.name),
        Frame::Integer(row.arity as i64),
        words(row.flags, ""),
        Frame::Integer(first),
        Frame::Integer(last),
        Frame::Integer(step),
        words(row.categories, "@"),
        Frame::Set(tips),
        Frame::Set(key_specs.collect()),
        // Redis 7.0 sends a command without subcommands an empty set, the others an array.
        if subs.is_empty() { Frame::Set(subs) } else { Frame::Array(subs) },
    ])
}

/// `COMMAND DOCS`'s map for `row`: summary, since, group, complexity (if it has one), and
/// its subcommands' maps.
fn docs(row: &Row) -> Frame {
    let pair = |k: &str, v: &str| (Frame::bulk(k), Frame::bulk(v));
    let mut map =
        vec![pair("summary", row.summary), pair("since", row.since), pair("group", row.group)];
    if !row.complexity.is_empty() {
        map.push(pair("complexity", row.complexity));
    }
    let args = row.arguments();
    if !args.is_empty() {
        map.push((Frame::bulk("arguments"), Frame::Array(args.iter().map(argument).collect())));
    }
    if !row.is_subcommand() {
        let subs: Vec<(Frame, Frame)> =
            subcommand_rows(row.name).map(|sub| (Frame::bulk(sub.name), docs(sub))).collect();
        if !subs.is_empty() {
            map.push((Frame::bulk("subcommands"), Frame::Map(subs)));
        }
    }
    Frame::Map(map)
}

/// One argument's map in `COMMAND DOCS`, its keys in Redis 7.0's order.
fn argument(arg: &Arg) -> Frame {
    let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
    let mut map = vec![pair("name", Frame::bulk(arg.name)), pair("type", Frame::bulk(arg.kind))];
    if let Some(index) = arg.key_spec_index {
        map.push(pair("key_spec_index", Frame::Integer(index)));
    }
    if let Some(token) = arg.token {
        map.push(pair("token", Frame::bulk(token)));
    }
    if let Some(since) = arg.since {
        map.push(pair("since", Frame::bulk(since)));
    }
    if let Some(since) = arg.deprecated_since {
        map.push(pair("deprecated_since", Frame::bulk(since)));
    }
    let flags: Vec<Frame> = [
        (arg.optional, "optional"),
        (arg.multiple, "multiple"),
        (arg.multiple_token, "multiple_token"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, flag)| Frame::Simple(flag.into()))
    .collect();
    if !flags.is_empty() {
        map.push(pair("flags", Frame::Set(flags)));
    }
    if !arg.arguments.is_empty() {
        map.push(pair("arguments", Frame::Array(arg.arguments.iter().map(argument).collect())));
    }
    Frame::Map(map)
}

/// Returns true if and only if `COMMAND LIST` with `filter` lists `row`.
fn listed(row: &Row, filter: Option<&ListFilter>) -> bool {
    match filter {
        None => true,
        // No module is loaded here.
        Some(ListFilter::Module(_)) => false,
        Some(ListFilter::AclCat(cat)) => {
            let cat = String::from_utf8_lossy(cat).to_ascii_lowercase();
            row.categories.split(' ').any(|c| c == cat)
        }
        Some(ListFilter::Pattern(glob)) => glob_match(glob, row.name.as_bytes()),
    }
}

/// `COMMAND GETKEYS` (`flags` false) or `GETKEYSANDFLAGS` (true) of `command` (its name
/// first), with Redis 7.0's checks in its order.
fn get_keys(command: &[Bytes], flags: bool) -> Result<Frame, ReplyError> {
    let mut buf = [0; NAME_MAX];
    let name = String::from_utf8_lossy(lower_case(&command[0], &mut buf)).into_owned();
    let mut row = command_row(&name).ok_or(ReplyError::InvalidCommand)?;
    if command.len() > 1 && subcommand_rows(&name).next().is_some() {
        let sub = String::from_utf8_lossy(&command[1]).to_ascii_lowercase();
        row = command_row(&format!("{name}|{sub}")).ok_or(ReplyError::InvalidCommand)?;
    }
    if !row.has_keys() {
        return Err(ReplyError::NoKeyArguments);
    }
    if !row.arity_fits(command.len()) {
        return Err(ReplyError::InvalidKeyArguments);
    }
    let key_flags = row.keys.map_or("", |spec| spec.flags);
    let keys = row.key_positions(command.len()).map(|i| {
        let key = Frame::Bulk(command[i].clone());
        if flags {
            Frame::Array(vec![key, words(key_flags, "")])
        } else {
            key
        }
    });
    Ok(Frame::Array(keys.collect()))
}

const COMMAND_HELP: &[&str] = &[
    "(no subcommand)",
    "    Describe every command served.",
    "COUNT",
    "    Count the commands served.",
    "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <glob>)]",
    "    List the names of the commands and subcommands served, optionally filtered.",
    "INFO [<command-name> ...]",
    "    Describe the commands named (every command without names).",
    "DOCS [<command-name> ...]",
    "    Document the commands named (every command without names).",
    "GETKEYS <full-command>",
    "    Return the keys among a whole command's arguments.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys among a whole command's arguments, with their access flags.",
];
