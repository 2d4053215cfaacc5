//! `CLIENT` and its subcommands: the connection's name, library, reply mode, and the registry
//! of connections (`LIST`, `KILL`).

use bytes::Bytes;

use super::args::{is, on_off, words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;

/// The `CLIENT` subcommands.
///
/// ```text
/// CLIENT SETINFO attr value | CLIENT SETNAME name | CLIENT GETNAME | CLIENT ID | CLIENT INFO |
/// CLIENT LIST [TYPE type] [ID id ...] | CLIENT KILL ... | CLIENT NO-EVICT ON|OFF |
/// CLIENT NO-TOUCH ON|OFF | CLIENT REPLY ON|OFF|SKIP | CLIENT HELP
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCommand {
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value`: shown by `CLIENT LIST`.
    SetInfo {
        /// True for `LIB-NAME`, false for `LIB-VER`.
        lib_name: bool,
        /// The library's name or version.
        value: Bytes,
    },
    /// `CLIENT INFO`.
    Info,
    /// `CLIENT LIST [TYPE type] [ID id ...]`, the filter as sent.
    List(Vec<Bytes>),
    /// `CLIENT KILL ip:port | CLIENT KILL filter value ...`, the arguments as sent.
    Kill(Vec<Bytes>),
    /// `CLIENT NO-EVICT ON|OFF`.
    NoEvict(bool),
    /// `CLIENT NO-TOUCH ON|OFF`.
    NoTouch(bool),
    /// `CLIENT REPLY ON|OFF|SKIP`.
    Reply(ReplyMode),
    /// `CLIENT HELP`.
    Help,
    /// `CLIENT SETNAME name`.
    SetName(Bytes),
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT ID`.
    Id,
}

/// `CLIENT REPLY`'s modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every reply is sent.
    On,
    /// No reply is sent.
    Off,
    /// The reply to the next command is not sent.
    Skip,
}

use ClientCommand as C;

impl Family for ClientCommand {
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[
        ("client", "slow"),
        ("client|setinfo", "slow connection"),
        ("client|setname", "slow connection"),
        ("client|getname", "slow connection"),
        ("client|id", "slow connection"),
        ("client|info", "slow connection"),
        ("client|list", "admin slow dangerous connection"),
        ("client|kill", "admin slow dangerous connection"),
        ("client|no-evict", "admin slow dangerous connection"),
        ("client|no-touch", "slow connection"),
        ("client|reply", "slow connection"),
        ("client|help", "slow connection"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        (name == b"client").then(|| parse_client(args))
    }

    fn full_name(&self) -> &'static str {
        match self {
            C::SetInfo { .. } => "client|setinfo",
            C::Info => "client|info",
            C::List(_) => "client|list",
            C::Kill(_) => "client|kill",
            C::NoEvict(_) => "client|no-evict",
            C::NoTouch(_) => "client|no-touch",
            C::Reply(_) => "client|reply",
            C::Help => "client|help",
            C::SetName(_) => "client|setname",
            C::GetName => "client|getname",
            C::Id => "client|id",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        let on_off = |on: bool| if on { "ON" } else { "OFF" };
        match self {
            C::SetInfo { lib_name, value } => {
                let attr = if *lib_name { "LIB-NAME" } else { "LIB-VER" };
                words(&["CLIENT", "SETINFO", attr], std::slice::from_ref(value))
            }
            C::Info => words(&["CLIENT", "INFO"], &[]),
            C::List(args) => words(&["CLIENT", "LIST"], args),
            C::Kill(args) => words(&["CLIENT", "KILL"], args),
            C::NoEvict(on) => words(&["CLIENT", "NO-EVICT", on_off(*on)], &[]),
            C::NoTouch(on) => words(&["CLIENT", "NO-TOUCH", on_off(*on)], &[]),
            C::Reply(mode) => {
                let word = match mode {
                    ReplyMode::On => "ON",
                    ReplyMode::Off => "OFF",
                    ReplyMode::Skip => "SKIP",
                };
                words(&["CLIENT", "REPLY", word], &[])
            }
            C::Help => words(&["CLIENT", "HELP"], &[]),
            C::SetName(name) => words(&["CLIENT", "SETNAME"], std::slice::from_ref(name)),
            C::GetName => words(&["CLIENT", "GETNAME"], &[]),
            C::Id => words(&["CLIENT", "ID"], &[]),
        }
    }
}

/// `CLIENT subcommand [arg ...]`.
fn parse_client(args: &mut Args) -> Result<ClientCommand, CommandError> {
    let mut buf = [0; NAME_MAX];
    let (sub, lower) = args.subcommand("client", &mut buf)?;
    let argc = args.len();
    Ok(match lower {
        b"setinfo" => {
            args.need(argc == 2, "client|setinfo")?;
            let attr = args.take();
            let lib_name = is(&attr, "lib-name");
            if !lib_name && !is(&attr, "lib-ver") {
                return Err(CommandError::UnrecognizedOption(attr));
            }
            C::SetInfo { lib_name, value: args.take() }
        }
        b"info" => args.need(argc == 0, "client|info").map(|()| C::Info)?,
        b"list" => C::List(args.rest()),
        b"kill" => args.need(argc >= 1, "client|kill").map(|()| C::Kill(args.rest()))?,
        b"no-evict" => {
            args.need(argc == 1, "client|no-evict")?;
            C::NoEvict(on_off(&args.take())?)
        }
        b"no-touch" => {
            args.need(argc == 1, "client|no-touch")?;
            C::NoTouch(on_off(&args.take())?)
        }
        b"reply" => {
            args.need(argc == 1, "client|reply")?;
            let mode = args.take();
            C::Reply(match mode.as_ref() {
                m if is(m, "on") => ReplyMode::On,
                m if is(m, "off") => ReplyMode::Off,
                m if is(m, "skip") => ReplyMode::Skip,
                _ => return Err(CommandError::Syntax),
            })
        }
        b"help" => args.need(argc == 0, "client|help").map(|()| C::Help)?,
        b"setname" => args.need(argc == 1, "client|setname").map(|()| C::SetName(args.take()))?,
        b"getname" => args.need(argc == 0, "client|getname").map(|()| C::GetName)?,
        b"id" => args.need(argc == 0, "client|id").map(|()| C::Id)?,
        _ => return Err(CommandError::UnknownSubcommand { command: "CLIENT", sub }),
    })
}
