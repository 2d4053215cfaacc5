//! `CONFIG` and its subcommands: the parameters the server changes while it runs.

use bytes::Bytes;

use super::args::{words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// The `CONFIG` subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigCommand {
    /// ```text
    /// CONFIG GET parameter [parameter ...]
    /// ```
    Get(Vec<Bytes>),
    /// ```text
    /// CONFIG SET parameter value [parameter value ...]
    /// ```
    Set(Vec<(Bytes, Bytes)>),
    /// ```text
    /// CONFIG RESETSTAT
    /// ```
    ResetStat,
    /// ```text
    /// CONFIG HELP
    /// ```
    Help,
}

use ConfigCommand as C;

impl Family for ConfigCommand {
    const TABLE: &'static [Row] = &[
        Row::new("config", -2, "", "slow")
            .doc("2.0.0", "server", "Container of the configuration subcommands.", "Per subcommand."),
        Row::new("config|get", -3, "admin noscript loading stale", "admin slow dangerous")
            .doc("2.0.0", "server", "Reads configuration parameters by name or glob.", "O(N), N parameters asked.")
            .args("parameter:block~m{parameter:string}"),
        Row::new("config|set", -4, "admin noscript loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes response_policy:all_succeeded")
            .doc("2.0.0", "server", "Changes configuration parameters while the server runs.", "O(N), N parameters given.")
            .args("parameter_value:block~m{parameter:string value:string}"),
        Row::new("config|resetstat", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("2.0.0", "server", "Sets the server's statistics back to zero.", "O(1)"),
        Row::new("config|help", 2, "loading stale", "slow")
            .doc("5.0.0", "server", "Describes the CONFIG subcommands.", "O(1)"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        (name == b"config").then(|| parse_config(args))
    }

    fn full_name(&self) -> &'static str {
        match self {
            C::Get(_) => "config|get",
            C::Set(_) => "config|set",
            C::ResetStat => "config|resetstat",
            C::Help => "config|help",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            C::Get(params) => words(&["CONFIG", "GET"], params),
            C::Set(pairs) => {
                let flat: Vec<Bytes> =
                    pairs.iter().flat_map(|(n, v)| [n.clone(), v.clone()]).collect();
                words(&["CONFIG", "SET"], &flat)
            }
            C::ResetStat => words(&["CONFIG", "RESETSTAT"], &[]),
            C::Help => words(&["CONFIG", "HELP"], &[]),
        }
    }
}

/// `CONFIG subcommand [arg ...]`.
fn parse_config(args: &mut Args) -> Result<ConfigCommand, CommandError> {
    let mut buf = [0; NAME_MAX];
    let (sub, lower) = args.subcommand("config", &mut buf)?;
    let argc = args.len();
    Ok(match lower {
        b"get" => args.need(argc >= 1, "config|get").map(|()| C::Get(args.rest()))?,
        b"set" => {
            args.need(argc >= 2 && argc.is_multiple_of(2), "config|set")?;
            let mut pairs = Vec::with_capacity(argc / 2);
            while let (Some(name), Some(value)) = (args.next(), args.next()) {
                pairs.push((name, value));
            }
            C::Set(pairs)
        }
        b"resetstat" => args.need(argc == 0, "config|resetstat").map(|()| C::ResetStat)?,
        b"help" => args.need(argc == 0, "config|help").map(|()| C::Help)?,
        _ => return Err(CommandError::UnknownSubcommand { command: "CONFIG", sub }),
    })
}
