//! `CLIENT` and its subcommands: the connection's name, library, reply mode, and the registry
//! of connections (`LIST`, `KILL`).

use bytes::Bytes;

use super::args::{is, on_off, words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// The `CLIENT` subcommands.
///
/// ```text
/// CLIENT SETINFO attr value | CLIENT SETNAME name | CLIENT GETNAME | CLIENT ID | CLIENT INFO |
/// CLIENT LIST [TYPE type] [ID id ...] | CLIENT KILL ... | CLIENT NO-EVICT ON|OFF |
/// CLIENT NO-TOUCH ON|OFF | CLIENT REPLY ON|OFF|SKIP | CLIENT HELP |
/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP] |
/// CLIENT TRACKINGINFO | CLIENT GETREDIR | CLIENT CACHING YES|NO
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
    /// `CLIENT TRACKING ON|OFF [option ...]`, the arguments as sent (checked when run, in
    /// Redis's order: whether a `REDIRECT` target exists comes before later syntax errors).
    Tracking(Vec<Bytes>),
    /// `CLIENT TRACKINGINFO`.
    TrackingInfo,
    /// `CLIENT GETREDIR`.
    GetRedir,
    /// `CLIENT CACHING YES|NO`, the word as sent (checked when run: Redis first checks the
    /// connection tracks).
    Caching(Bytes),
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
    const TABLE: &'static [Row] = &[
        Row::new("client", -2, "", "slow")
            .doc("2.4.0", "connection", "Container of the connection subcommands.", "Per subcommand."),
        Row::new("client|setinfo", 4, "noscript loading stale", "slow connection")
            .doc("7.2.0", "connection", "Records the client library's name or version.", "O(1)")
            .args("attr:oneof{libname:string=LIB-NAME libver:string=LIB-VER}"),
        Row::new("client|setname", 3, "noscript loading stale", "slow connection")
            .doc("2.6.9", "connection", "Names this connection.", "O(1)")
            .args("connection-name:string"),
        Row::new("client|getname", 2, "noscript loading stale", "slow connection")
            .doc("2.6.9", "connection", "Returns this connection's name.", "O(1)"),
        Row::new("client|id", 2, "noscript loading stale", "slow connection")
            .doc("5.0.0", "connection", "Returns this connection's id.", "O(1)"),
        Row::new("client|info", 2, "noscript loading stale", "slow connection")
            .tips("nondeterministic_output")
            .doc("6.2.0", "connection", "Describes this connection in CLIENT LIST's format.", "O(1)"),
        Row::new("client|list", -2, "admin noscript loading stale", "admin slow dangerous connection")
            .tips("nondeterministic_output")
            .doc("2.4.0", "connection", "Describes the open connections, one per line.", "O(N), N connections.")
            .args("normal_master_replica_pubsub:oneof=TYPE~o#5.0.0{normal:pure-token=NORMAL master:pure-token=MASTER replica:pure-token=REPLICA pubsub:pure-token=PUBSUB} id:block=ID~o#6.2.0{client-id:integer~m}"),
        Row::new("client|kill", -3, "admin noscript loading stale", "admin slow dangerous connection")
            .doc("2.4.0", "connection", "Closes the connections a filter selects.", "O(N), N connections.")
            .args("filter:oneof{ip:port:string!2.8.12 new-format:oneof~m{client-id:integer=ID~o#2.8.12 normal_master_slave_pubsub:oneof=TYPE~o#2.8.12{normal:pure-token=NORMAL master:pure-token=MASTER#3.2.0 slave:pure-token=SLAVE replica:pure-token=REPLICA#5.0.0 pubsub:pure-token=PUBSUB} username:string=USER~o ip:port:string=ADDR~o ip:port:string=LADDR~o#6.2.0 yes/no:string=SKIPME~o}}"),
        Row::new("client|no-evict", 3, "admin noscript loading stale", "admin slow dangerous connection")
            .doc("7.0.0", "connection", "Exempts this connection from client eviction.", "O(1)")
            .args("enabled:oneof{on:pure-token=ON off:pure-token=OFF}"),
        Row::new("client|no-touch", 3, "noscript loading stale", "slow connection")
            .doc("7.2.0", "connection", "Keeps this connection's commands from touching keys.", "O(1)")
            .args("enabled:oneof{on:pure-token=ON off:pure-token=OFF}"),
        Row::new("client|reply", 3, "noscript loading stale", "slow connection")
            .doc("3.2.0", "connection", "Turns this connection's replies on, off, or off for one command.", "O(1)")
            .args("on_off_skip:oneof{on:pure-token=ON off:pure-token=OFF skip:pure-token=SKIP}"),
        Row::new("client|help", 2, "loading stale", "slow connection")
            .doc("5.0.0", "connection", "Describes the CLIENT subcommands.", "O(1)"),
        Row::new("client|tracking", -3, "noscript loading stale", "slow connection")
            .doc("6.0.0", "connection", "Turns client-side caching invalidations on or off for this connection.", "O(1), more with many prefixes.")
            .args("status:oneof{on:pure-token=ON off:pure-token=OFF} client-id:integer=REDIRECT~o prefix:string=PREFIX~omt bcast:pure-token=BCAST~o optin:pure-token=OPTIN~o optout:pure-token=OPTOUT~o noloop:pure-token=NOLOOP~o"),
        Row::new("client|trackinginfo", 2, "noscript loading stale", "slow connection")
            .doc("6.2.0", "connection", "Describes this connection's client-side caching settings.", "O(1)"),
        Row::new("client|getredir", 2, "noscript loading stale", "slow connection")
            .doc("6.0.0", "connection", "Returns the id invalidations are redirected to.", "O(1)"),
        Row::new("client|caching", 3, "noscript loading stale", "slow connection")
            .doc("6.0.0", "connection", "Says whether the next command's reads are tracked (OPTIN/OPTOUT).", "O(1)")
            .args("mode:oneof{yes:pure-token=YES no:pure-token=NO}"),
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
            C::Tracking(_) => "client|tracking",
            C::TrackingInfo => "client|trackinginfo",
            C::GetRedir => "client|getredir",
            C::Caching(_) => "client|caching",
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
            C::Tracking(args) => words(&["CLIENT", "TRACKING"], args),
            C::TrackingInfo => words(&["CLIENT", "TRACKINGINFO"], &[]),
            C::GetRedir => words(&["CLIENT", "GETREDIR"], &[]),
            C::Caching(word) => words(&["CLIENT", "CACHING"], std::slice::from_ref(word)),
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
        b"tracking" => {
            args.need(argc >= 1, "client|tracking").map(|()| C::Tracking(args.rest()))?
        }
        b"trackinginfo" => args.need(argc == 0, "client|trackinginfo").map(|()| C::TrackingInfo)?,
        b"getredir" => args.need(argc == 0, "client|getredir").map(|()| C::GetRedir)?,
        b"caching" => args.need(argc == 1, "client|caching").map(|()| C::Caching(args.take()))?,
        _ => return Err(CommandError::UnknownSubcommand { command: "CLIENT", sub }),
    })
}
