//! Typed commands, parsed from a request's arguments, with Redis's error texts.
//!
//! Each command has one syntax line in its doc (`text` block) and one arm in [`Command::parse`].
//! Arity and subcommand checks happen here, so the server only ever sees well-formed commands;
//! [`Command::to_args`] turns a command back into arguments for clients.

use bytes::Bytes;
use thiserror::Error;

/// A command of the pub/sub subset Switchboard serves, plus what real clients send on connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// ```text
    /// PING [message]
    /// ```
    Ping(Option<Bytes>),
    /// ```text
    /// ECHO message
    /// ```
    Echo(Bytes),
    /// ```text
    /// QUIT
    /// ```
    Quit,
    /// ```text
    /// SUBSCRIBE channel [channel ...]
    /// ```
    Subscribe(Vec<Bytes>),
    /// ```text
    /// UNSUBSCRIBE [channel ...]
    /// ```
    Unsubscribe(Vec<Bytes>),
    /// ```text
    /// PSUBSCRIBE pattern [pattern ...]
    /// ```
    PSubscribe(Vec<Bytes>),
    /// ```text
    /// PUNSUBSCRIBE [pattern ...]
    /// ```
    PUnsubscribe(Vec<Bytes>),
    /// ```text
    /// PUBLISH channel message
    /// ```
    Publish {
        /// Where the message goes.
        channel: Bytes,
        /// What every subscriber receives.
        message: Bytes,
    },
    /// ```text
    /// SSUBSCRIBE shardchannel [shardchannel ...]
    /// ```
    SSubscribe(Vec<Bytes>),
    /// ```text
    /// SUNSUBSCRIBE [shardchannel ...]
    /// ```
    SUnsubscribe(Vec<Bytes>),
    /// ```text
    /// SPUBLISH shardchannel message
    /// ```
    SPublish {
        /// The shard channel the message goes to.
        channel: Bytes,
        /// What every subscriber receives.
        message: Bytes,
    },
    /// ```text
    /// PUBSUB CHANNELS [pattern]
    /// ```
    PubsubChannels(Option<Bytes>),
    /// ```text
    /// PUBSUB NUMSUB [channel ...]
    /// ```
    PubsubNumsub(Vec<Bytes>),
    /// ```text
    /// PUBSUB NUMPAT
    /// ```
    PubsubNumpat,
    /// ```text
    /// PUBSUB SHARDCHANNELS [pattern]
    /// ```
    PubsubShardChannels(Option<Bytes>),
    /// ```text
    /// PUBSUB SHARDNUMSUB [shardchannel ...]
    /// ```
    PubsubShardNumsub(Vec<Bytes>),
    /// ```text
    /// HELLO [protover [AUTH username password] [SETNAME clientname]]
    /// ```
    Hello {
        /// The protocol version asked for (2 or 3), if any.
        version: Option<i64>,
        /// The connection name given with SETNAME, if any.
        name: Option<Bytes>,
        /// The user name and password given with AUTH, if any.
        auth: Option<(Bytes, Bytes)>,
    },
    /// ```text
    /// AUTH [username] password
    /// ```
    Auth {
        /// The user; `None` means `default`.
        user: Option<Bytes>,
        /// The password.
        password: Bytes,
    },
    /// ```text
    /// ACL WHOAMI | ACL LIST | ACL USERS | ACL CAT [category] | ACL SETUSER name [rule ...] |
    /// ACL DELUSER name [name ...] | ACL GETUSER name | ACL DRYRUN name command [arg ...] |
    /// ACL LOG [count | RESET] | ACL LOAD | ACL SAVE | ACL HELP
    /// ```
    Acl(AclCommand),
    /// ```text
    /// CLIENT SETINFO attr value | CLIENT SETNAME name | CLIENT GETNAME | CLIENT ID
    /// ```
    Client(ClientCommand),
    /// ```text
    /// CONFIG GET parameter [parameter ...]
    /// ```
    ConfigGet(Vec<Bytes>),
    /// ```text
    /// CONFIG SET parameter value [parameter value ...]
    /// ```
    ConfigSet(Vec<(Bytes, Bytes)>),
    /// ```text
    /// CONFIG RESETSTAT
    /// ```
    ConfigResetStat,
    /// ```text
    /// COMMAND [COUNT | DOCS ... | INFO ... | LIST]
    /// ```
    /// Answered so that interactive clients start; the lists are empty.
    Command(Option<Bytes>),
    /// ```text
    /// INFO [section ...]
    /// ```
    Info(Vec<Bytes>),
    /// ```text
    /// RESET
    /// ```
    Reset,
    /// ```text
    /// SELECT index
    /// ```
    /// The index is checked when the command runs (inside a transaction, at EXEC), as Redis
    /// does. Pub/sub does not depend on the database, so every index in range means the same.
    Select(Bytes),
    /// ```text
    /// CONFIG HELP | PUBSUB HELP
    /// ```
    /// The container command's name, upper case.
    Help(&'static str),
    /// ```text
    /// DBSIZE
    /// ```
    /// Always 0: there are no keys.
    DbSize,
    /// ```text
    /// TIME
    /// ```
    Time,
    /// ```text
    /// LASTSAVE
    /// ```
    /// When the server started: nothing was ever saved, as in a Redis without persistence.
    LastSave,
    /// ```text
    /// MULTI
    /// ```
    Multi,
    /// ```text
    /// EXEC
    /// ```
    Exec,
    /// ```text
    /// DISCARD
    /// ```
    Discard,
    /// ```text
    /// WATCH key [key ...]
    /// ```
    /// There are no keys, so no watched key ever changes: EXEC never fails because of it.
    Watch(Vec<Bytes>),
    /// ```text
    /// UNWATCH
    /// ```
    Unwatch,
}

/// The `CLIENT` subcommands.
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

/// The `ACL` subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclCommand {
    /// `ACL WHOAMI`: the connection's user name.
    WhoAmI,
    /// `ACL LIST`: every user's rules.
    List,
    /// `ACL USERS`: every user's name.
    Users,
    /// `ACL CAT [category]`: the categories, or the commands of one.
    Cat(Option<Bytes>),
    /// `ACL SETUSER name [rule ...]`: create or change a user.
    SetUser {
        /// The user.
        name: Bytes,
        /// Its rules, applied in order.
        rules: Vec<Bytes>,
    },
    /// `ACL DELUSER name [name ...]`: delete users.
    DelUser(Vec<Bytes>),
    /// `ACL GETUSER name`: a user's rules, field by field.
    GetUser(Bytes),
    /// `ACL DRYRUN name command [arg ...]`: whether the user may run the command.
    DryRun {
        /// The user.
        name: Bytes,
        /// The command and its arguments, as they would be sent.
        args: Vec<Bytes>,
    },
    /// `ACL LOAD`: replace every user with the ACL file's.
    Load,
    /// `ACL SAVE`: write every user to the ACL file.
    Save,
    /// `ACL GENPASS [bits]`: a random password of `bits` bits (256 unless given, 1 to 4096),
    /// in hexadecimal.
    GenPass(u32),
    /// `ACL LOG [count | RESET]`: the latest refusals, or forget them; the argument as sent
    /// (Redis reads the count when the command runs).
    Log(Option<Bytes>),
    /// `ACL HELP`.
    Help,
}

/// Why a request is not a command we run. `Display` gives Redis's reply text (without `-`).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CommandError {
    /// No such command.
    #[error("{}", String::from_utf8_lossy(&self.to_bytes()))]
    Unknown {
        /// The command name as sent.
        name: Bytes,
        /// Its arguments.
        args: Vec<Bytes>,
    },
    /// No such subcommand of a container command such as `PUBSUB`.
    #[error("{}", String::from_utf8_lossy(&self.to_bytes()))]
    UnknownSubcommand {
        /// The container command, upper case.
        command: &'static str,
        /// The subcommand as sent.
        sub: Bytes,
    },
    /// A subcommand that checks its own argument count (`PUBSUB CHANNELS a b`), worded as
    /// Redis 7 does.
    #[error("{}", String::from_utf8_lossy(&self.to_bytes()))]
    SubcommandSyntax {
        /// The container command, upper case.
        command: &'static str,
        /// The subcommand as sent.
        sub: Bytes,
    },
    /// The right command with the wrong number of arguments; holds Redis's full command name.
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(&'static str),
    /// `HELLO` asked for a protocol version we do not speak.
    #[error("NOPROTO unsupported protocol version")]
    NoProto,
    /// `HELLO` with a version that is not a number.
    #[error("ERR Protocol version is not an integer or out of range")]
    BadProtocolVersion,
    /// An argument that must be an integer is not one (or does not fit in 64 bits).
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    /// `ACL GENPASS` with a number of bits outside 1..=4096.
    #[error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")]
    GenPassBits,
    /// An integer argument that Redis reads as a C `int` is outside its range.
    #[error("ERR value is out of range, value must between -2147483648 and 2147483647")]
    IntOutOfRange,
    /// `SELECT` of a database this server does not number.
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    /// `HELLO` with an option it does not know, or missing its value.
    #[error("{}", String::from_utf8_lossy(&self.to_bytes()))]
    HelloSyntax(Bytes),
    /// A command or subcommand given arguments that do not make sense (`AUTH a b c`).
    #[error("ERR syntax error")]
    Syntax,
    /// `CLIENT SETINFO` of an attribute other than LIB-NAME and LIB-VER.
    #[error("{}", String::from_utf8_lossy(&self.to_bytes()))]
    UnrecognizedOption(Bytes),
}

/// The reply to a command that is not allowed while a RESP2 connection is subscribed.
pub fn subscribed_context_error(full_name: &str) -> String {
    format!(
        "ERR Can't execute '{full_name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
         RESET are allowed in this context"
    )
}

impl CommandError {
    /// The error's text (without `-` and the line end) as Redis sends it. Names and
    /// arguments quoted in it are their bytes, not UTF-8 text: each is cut at its first NUL
    /// (as Redis's C strings are), clipped to 128 bytes, with CR and LF turned into spaces,
    /// so that an error is always one protocol line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let quoted = |head: &str, name: &[u8], tail: &str| -> Vec<u8> {
            let mut out = head.as_bytes().to_vec();
            out.extend_from_slice(&clip(name, 128));
            out.extend_from_slice(tail.as_bytes());
            out
        };
        match self {
            CommandError::Unknown { name, args } => {
                let mut out =
                    quoted("ERR unknown command '", name, "', with args beginning with: ");
                out.extend_from_slice(&quoted_args(args));
                out
            }
            CommandError::UnknownSubcommand { command, sub } => {
                quoted("ERR unknown subcommand '", sub, &format!("'. Try {command} HELP."))
            }
            CommandError::SubcommandSyntax { command, sub } => quoted(
                "ERR unknown subcommand or wrong number of arguments for '",
                sub,
                &format!("'. Try {command} HELP."),
            ),
            CommandError::HelloSyntax(option) => {
                quoted("ERR Syntax error in HELLO option '", option, "'")
            }
            CommandError::UnrecognizedOption(option) => {
                quoted("ERR Unrecognized option '", option, "'")
            }
            other => other.to_string().into_bytes(),
        }
    }
}

/// What Redis quotes of `b`: the bytes before its first NUL, at most `max` of them, with CR
/// and LF turned into spaces.
fn clip(b: &[u8], max: usize) -> Vec<u8> {
    let b = &b[..memchr_nul(b)];
    b[..b.len().min(max)].iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }).collect()
}

fn memchr_nul(b: &[u8]) -> usize {
    b.iter().position(|&c| c == 0).unwrap_or(b.len())
}

/// Redis's "'a' 'b' " list of the first arguments of an unknown command, at most ~128 bytes.
fn quoted_args(args: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    for arg in args {
        if out.len() >= 128 {
            break;
        }
        let room = 128 - out.len();
        out.push(b'\'');
        out.extend_from_slice(&clip(arg, room));
        out.extend_from_slice(b"' ");
    }
    out
}

/// Redis's command categories, in the order `ACL CAT` lists them.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Every command served here, by the full name [`Command::full_name`] gives it, with its
/// categories as Redis 7 files them (`COMMAND INFO`, `ACL CAT`; a test compares them with
/// redis-server's). A container command (`pubsub`, `client`, `acl`, `config`) has
/// categories of its own: a category rule that covers a container covers every one of its
/// subcommands too, as in Redis (`+@slow` allows `config|set`). `client|setinfo` and
/// `client|no-touch` are Redis 7.2's.
pub const COMMAND_CATEGORIES: &[(&str, &str)] = &[
    ("ping", "fast connection"),
    ("echo", "fast connection"),
    ("quit", "fast connection"),
    ("reset", "fast connection"),
    ("auth", "fast connection"),
    ("hello", "fast connection"),
    ("select", "fast connection"),
    ("subscribe", "pubsub slow"),
    ("unsubscribe", "pubsub slow"),
    ("psubscribe", "pubsub slow"),
    ("punsubscribe", "pubsub slow"),
    ("publish", "pubsub fast"),
    ("ssubscribe", "pubsub slow"),
    ("sunsubscribe", "pubsub slow"),
    ("spublish", "pubsub fast"),
    ("pubsub", "slow"),
    ("pubsub|channels", "pubsub slow"),
    ("pubsub|numsub", "pubsub slow"),
    ("pubsub|numpat", "pubsub slow"),
    ("pubsub|shardchannels", "pubsub slow"),
    ("pubsub|shardnumsub", "pubsub slow"),
    ("pubsub|help", "slow"),
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
    ("acl", "slow"),
    ("acl|whoami", "slow"),
    ("acl|cat", "slow"),
    ("acl|help", "slow"),
    ("acl|genpass", "slow"),
    ("acl|users", "admin slow dangerous"),
    ("acl|list", "admin slow dangerous"),
    ("acl|setuser", "admin slow dangerous"),
    ("acl|deluser", "admin slow dangerous"),
    ("acl|getuser", "admin slow dangerous"),
    ("acl|dryrun", "admin slow dangerous"),
    ("acl|load", "admin slow dangerous"),
    ("acl|save", "admin slow dangerous"),
    ("acl|log", "admin slow dangerous"),
    ("config", "slow"),
    ("config|get", "admin slow dangerous"),
    ("config|set", "admin slow dangerous"),
    ("config|resetstat", "admin slow dangerous"),
    ("config|help", "slow"),
    ("command", "slow connection"),
    ("info", "slow dangerous"),
    ("dbsize", "keyspace read fast"),
    ("time", "fast"),
    ("lastsave", "admin fast dangerous"),
    ("multi", "fast transaction"),
    ("exec", "slow transaction"),
    ("discard", "fast transaction"),
    ("watch", "fast transaction"),
    ("unwatch", "fast transaction"),
];

/// The full name of `sub` of the container `command` (any case) as the table spells it
/// (`pubsub|channels`), if it is served.
pub fn subcommand_name(command: &str, sub: &[u8]) -> Option<&'static str> {
    let wanted = format!("{}|{}", command, String::from_utf8_lossy(sub)).to_ascii_lowercase();
    COMMAND_CATEGORIES.iter().map(|(name, _)| *name).find(|name| *name == wanted)
}

/// Returns true if and only if `category` (lower case, without `@`) is one of Redis's.
pub fn is_category(category: &str) -> bool {
    CATEGORIES.contains(&category)
}

/// Returns true if and only if a `+@category` rule covers the command Redis calls
/// `full_name`: the command is in the category, or is a subcommand of a container that is.
pub fn in_category(full_name: &str, category: &str) -> bool {
    let of = |name: &str| {
        COMMAND_CATEGORIES
            .iter()
            .find(|(n, _)| *n == name)
            .is_some_and(|(_, cats)| cats.split(' ').any(|c| c == category))
    };
    of(full_name) || full_name.split_once('|').is_some_and(|(parent, _)| of(parent))
}

/// The commands in `category` (`ACL CAT category`): those filed in it, in the table's order.
pub fn category_commands(category: &str) -> impl Iterator<Item = &'static str> + '_ {
    COMMAND_CATEGORIES
        .iter()
        .filter(move |(_, cats)| cats.split(' ').any(|c| c == category))
        .map(|(name, _)| *name)
}

/// The databases `SELECT` accepts, as a Redis with its default `databases 16`.
pub const DATABASES: i64 = 16;

/// Parses a database index for `SELECT` as Redis does: a decimal 64-bit integer that fits a C
/// `int`, then within `0..DATABASES`.
pub fn parse_db_index(arg: &[u8]) -> Result<i64, CommandError> {
    let index = parse_integer(arg).ok_or(CommandError::NotAnInteger)?;
    if i32::try_from(index).is_err() {
        Err(CommandError::IntOutOfRange)
    } else if (0..DATABASES).contains(&index) {
        Ok(index)
    } else {
        Err(CommandError::DbIndexOutOfRange)
    }
}

/// A decimal 64-bit integer written as Redis's `string2ll` accepts it: an optional `-`, digits,
/// no leading zeros, no spaces or `+`.
pub fn parse_integer(arg: &[u8]) -> Option<i64> {
    let digits = arg.strip_prefix(b"-").unwrap_or(arg);
    let canonical = !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
        && arg != b"-0";
    if !canonical {
        return None;
    }
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// `ON` or `OFF`, any case.
fn on_off(arg: &[u8]) -> Result<bool, CommandError> {
    match arg {
        a if is(a, "on") => Ok(true),
        a if is(a, "off") => Ok(false),
        _ => Err(CommandError::Syntax),
    }
}

fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

impl Command {
    /// Parses a request's arguments (the first is the command name, never absent).
    pub fn parse(mut args: Vec<Bytes>) -> Result<Command, CommandError> {
        let name = args.remove(0);
        let argc = args.len();
        // `need(ok, full_name)` turns a failed arity check into Redis's error.
        let need =
            |ok: bool, full: &'static str| if ok { Ok(()) } else { Err(CommandError::Arity(full)) };
        let mut args = args.into_iter();
        let cmd = match name.as_ref() {
            n if is(n, "ping") => {
                need(argc <= 1, "ping")?;
                Command::Ping(args.next())
            }
            n if is(n, "echo") => {
                need(argc == 1, "echo")?;
                Command::Echo(args.next().unwrap_or_default())
            }
            n if is(n, "quit") => Command::Quit,
            n if is(n, "reset") => {
                need(argc == 0, "reset")?;
                Command::Reset
            }
            n if is(n, "subscribe") => {
                need(argc >= 1, "subscribe")?;
                Command::Subscribe(args.collect())
            }
            n if is(n, "psubscribe") => {
                need(argc >= 1, "psubscribe")?;
                Command::PSubscribe(args.collect())
            }
            n if is(n, "unsubscribe") => Command::Unsubscribe(args.collect()),
            n if is(n, "ssubscribe") => {
                need(argc >= 1, "ssubscribe")?;
                Command::SSubscribe(args.collect())
            }
            n if is(n, "sunsubscribe") => Command::SUnsubscribe(args.collect()),
            n if is(n, "spublish") => {
                need(argc == 2, "spublish")?;
                let channel = args.next().unwrap_or_default();
                Command::SPublish { channel, message: args.next().unwrap_or_default() }
            }
            n if is(n, "punsubscribe") => Command::PUnsubscribe(args.collect()),
            n if is(n, "publish") => {
                need(argc == 2, "publish")?;
                let channel = args.next().unwrap_or_default();
                Command::Publish { channel, message: args.next().unwrap_or_default() }
            }
            n if is(n, "pubsub") => {
                need(argc >= 1, "pubsub")?;
                let sub = args.next().unwrap_or_default();
                match sub.as_ref() {
                    s if is(s, "channels") => {
                        if argc > 2 {
                            return Err(CommandError::SubcommandSyntax { command: "PUBSUB", sub });
                        }
                        Command::PubsubChannels(args.next())
                    }
                    s if is(s, "numsub") => Command::PubsubNumsub(args.collect()),
                    s if is(s, "numpat") => {
                        need(argc == 1, "pubsub|numpat")?;
                        Command::PubsubNumpat
                    }
                    s if is(s, "shardchannels") => {
                        if argc > 2 {
                            return Err(CommandError::SubcommandSyntax { command: "PUBSUB", sub });
                        }
                        Command::PubsubShardChannels(args.next())
                    }
                    s if is(s, "shardnumsub") => Command::PubsubShardNumsub(args.collect()),
                    s if is(s, "help") => {
                        need(argc == 1, "pubsub|help")?;
                        Command::Help("PUBSUB")
                    }
                    _ => return Err(CommandError::UnknownSubcommand { command: "PUBSUB", sub }),
                }
            }
            n if is(n, "hello") => Self::parse_hello(args)?,
            n if is(n, "auth") => {
                need(argc >= 1, "auth")?;
                if argc > 2 {
                    return Err(CommandError::Syntax);
                }
                let first = args.next().unwrap_or_default();
                match args.next() {
                    Some(password) => Command::Auth { user: Some(first), password },
                    None => Command::Auth { user: None, password: first },
                }
            }
            n if is(n, "acl") => {
                need(argc >= 1, "acl")?;
                let sub = args.next().unwrap_or_default();
                Command::Acl(match sub.as_ref() {
                    s if is(s, "whoami") => {
                        need(argc == 1, "acl|whoami")?;
                        AclCommand::WhoAmI
                    }
                    s if is(s, "list") => {
                        need(argc == 1, "acl|list")?;
                        AclCommand::List
                    }
                    s if is(s, "users") => {
                        need(argc == 1, "acl|users")?;
                        AclCommand::Users
                    }
                    s if is(s, "cat") => {
                        if argc > 2 {
                            return Err(CommandError::SubcommandSyntax { command: "ACL", sub });
                        }
                        AclCommand::Cat(args.next())
                    }
                    s if is(s, "setuser") => {
                        need(argc >= 2, "acl|setuser")?;
                        let name = args.next().unwrap_or_default();
                        AclCommand::SetUser { name, rules: args.collect() }
                    }
                    s if is(s, "deluser") => {
                        need(argc >= 2, "acl|deluser")?;
                        AclCommand::DelUser(args.collect())
                    }
                    s if is(s, "getuser") => {
                        need(argc == 2, "acl|getuser")?;
                        AclCommand::GetUser(args.next().unwrap_or_default())
                    }
                    s if is(s, "dryrun") => {
                        need(argc >= 3, "acl|dryrun")?;
                        let name = args.next().unwrap_or_default();
                        AclCommand::DryRun { name, args: args.collect() }
                    }
                    s if is(s, "load") => {
                        need(argc == 1, "acl|load")?;
                        AclCommand::Load
                    }
                    s if is(s, "log") => {
                        if argc > 2 {
                            return Err(CommandError::SubcommandSyntax { command: "ACL", sub });
                        }
                        AclCommand::Log(args.next())
                    }
                    s if is(s, "save") => {
                        need(argc == 1, "acl|save")?;
                        AclCommand::Save
                    }
                    s if is(s, "genpass") => {
                        if argc > 2 {
                            return Err(CommandError::SubcommandSyntax { command: "ACL", sub });
                        }
                        let bits = match args.next() {
                            None => 256,
                            Some(arg) => {
                                let n = parse_integer(&arg).ok_or(CommandError::NotAnInteger)?;
                                u32::try_from(n)
                                    .ok()
                                    .filter(|n| (1..=4096).contains(n))
                                    .ok_or(CommandError::GenPassBits)?
                            }
                        };
                        AclCommand::GenPass(bits)
                    }
                    s if is(s, "help") => {
                        need(argc == 1, "acl|help")?;
                        AclCommand::Help
                    }
                    _ => return Err(CommandError::UnknownSubcommand { command: "ACL", sub }),
                })
            }
            n if is(n, "client") => {
                need(argc >= 1, "client")?;
                let sub = args.next().unwrap_or_default();
                Command::Client(match sub.as_ref() {
                    s if is(s, "setinfo") => {
                        need(argc == 3, "client|setinfo")?;
                        let attr = args.next().unwrap_or_default();
                        let lib_name = is(&attr, "lib-name");
                        if !lib_name && !is(&attr, "lib-ver") {
                            return Err(CommandError::UnrecognizedOption(attr));
                        }
                        ClientCommand::SetInfo { lib_name, value: args.next().unwrap_or_default() }
                    }
                    s if is(s, "info") => {
                        need(argc == 1, "client|info")?;
                        ClientCommand::Info
                    }
                    s if is(s, "list") => ClientCommand::List(args.collect()),
                    s if is(s, "kill") => {
                        need(argc >= 2, "client|kill")?;
                        ClientCommand::Kill(args.collect())
                    }
                    s if is(s, "no-evict") || is(s, "no-touch") => {
                        let full =
                            if is(s, "no-evict") { "client|no-evict" } else { "client|no-touch" };
                        need(argc == 2, full)?;
                        let on = on_off(&args.next().unwrap_or_default())?;
                        if is(s, "no-evict") {
                            ClientCommand::NoEvict(on)
                        } else {
                            ClientCommand::NoTouch(on)
                        }
                    }
                    s if is(s, "reply") => {
                        need(argc == 2, "client|reply")?;
                        let mode = args.next().unwrap_or_default();
                        ClientCommand::Reply(match mode.as_ref() {
                            m if is(m, "on") => ReplyMode::On,
                            m if is(m, "off") => ReplyMode::Off,
                            m if is(m, "skip") => ReplyMode::Skip,
                            _ => return Err(CommandError::Syntax),
                        })
                    }
                    s if is(s, "help") => {
                        need(argc == 1, "client|help")?;
                        ClientCommand::Help
                    }
                    s if is(s, "setname") => {
                        need(argc == 2, "client|setname")?;
                        ClientCommand::SetName(args.next().unwrap_or_default())
                    }
                    s if is(s, "getname") => {
                        need(argc == 1, "client|getname")?;
                        ClientCommand::GetName
                    }
                    s if is(s, "id") => {
                        need(argc == 1, "client|id")?;
                        ClientCommand::Id
                    }
                    _ => return Err(CommandError::UnknownSubcommand { command: "CLIENT", sub }),
                })
            }
            n if is(n, "config") => {
                need(argc >= 1, "config")?;
                let sub = args.next().unwrap_or_default();
                match sub.as_ref() {
                    s if is(s, "get") => {
                        need(argc >= 2, "config|get")?;
                        Command::ConfigGet(args.collect())
                    }
                    s if is(s, "set") => {
                        need(argc >= 3 && !argc.is_multiple_of(2), "config|set")?;
                        let mut pairs = Vec::new();
                        while let (Some(name), Some(value)) = (args.next(), args.next()) {
                            pairs.push((name, value));
                        }
                        Command::ConfigSet(pairs)
                    }
                    s if is(s, "resetstat") => {
                        need(argc == 1, "config|resetstat")?;
                        Command::ConfigResetStat
                    }
                    s if is(s, "help") => {
                        need(argc == 1, "config|help")?;
                        Command::Help("CONFIG")
                    }
                    _ => return Err(CommandError::UnknownSubcommand { command: "CONFIG", sub }),
                }
            }
            n if is(n, "command") => Command::Command(args.next()),
            n if is(n, "dbsize") => {
                need(argc == 0, "dbsize")?;
                Command::DbSize
            }
            n if is(n, "time") => {
                need(argc == 0, "time")?;
                Command::Time
            }
            n if is(n, "lastsave") => {
                need(argc == 0, "lastsave")?;
                Command::LastSave
            }
            n if is(n, "multi") => {
                need(argc == 0, "multi")?;
                Command::Multi
            }
            n if is(n, "exec") => {
                need(argc == 0, "exec")?;
                Command::Exec
            }
            n if is(n, "discard") => {
                need(argc == 0, "discard")?;
                Command::Discard
            }
            n if is(n, "watch") => {
                need(argc >= 1, "watch")?;
                Command::Watch(args.collect())
            }
            n if is(n, "unwatch") => {
                need(argc == 0, "unwatch")?;
                Command::Unwatch
            }
            n if is(n, "select") => {
                need(argc == 1, "select")?;
                Command::Select(args.next().unwrap_or_default())
            }
            n if is(n, "info") => Command::Info(args.collect()),
            _ => return Err(CommandError::Unknown { name, args: args.collect() }),
        };
        Ok(cmd)
    }

    fn parse_hello(mut args: std::vec::IntoIter<Bytes>) -> Result<Command, CommandError> {
        let Some(version) = args.next() else {
            return Ok(Command::Hello { version: None, name: None, auth: None });
        };
        let version = std::str::from_utf8(&version)
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or(CommandError::BadProtocolVersion)?;
        let (mut name, mut auth) = (None, None);
        while let Some(option) = args.next() {
            if is(&option, "auth") {
                let (Some(user), Some(password)) = (args.next(), args.next()) else {
                    return Err(CommandError::HelloSyntax(option));
                };
                auth = Some((user, password));
            } else if is(&option, "setname") {
                name = Some(args.next().ok_or(CommandError::HelloSyntax(option))?);
            } else {
                return Err(CommandError::HelloSyntax(option));
            }
        }
        if version != 2 && version != 3 {
            return Err(CommandError::NoProto);
        }
        Ok(Command::Hello { version: Some(version), name, auth })
    }

    /// Redis's full name for this command, as used in its error replies (`pubsub|numsub`).
    pub fn full_name(&self) -> &'static str {
        match self {
            Command::Ping(_) => "ping",
            Command::Echo(_) => "echo",
            Command::Quit => "quit",
            Command::Subscribe(_) => "subscribe",
            Command::Unsubscribe(_) => "unsubscribe",
            Command::PSubscribe(_) => "psubscribe",
            Command::PUnsubscribe(_) => "punsubscribe",
            Command::Publish { .. } => "publish",
            Command::PubsubChannels(_) => "pubsub|channels",
            Command::PubsubNumsub(_) => "pubsub|numsub",
            Command::PubsubNumpat => "pubsub|numpat",
            Command::PubsubShardChannels(_) => "pubsub|shardchannels",
            Command::PubsubShardNumsub(_) => "pubsub|shardnumsub",
            Command::SSubscribe(_) => "ssubscribe",
            Command::SUnsubscribe(_) => "sunsubscribe",
            Command::SPublish { .. } => "spublish",
            Command::Hello { .. } => "hello",
            Command::Client(ClientCommand::SetInfo { .. }) => "client|setinfo",
            Command::Client(ClientCommand::Info) => "client|info",
            Command::Client(ClientCommand::List(_)) => "client|list",
            Command::Client(ClientCommand::Kill(_)) => "client|kill",
            Command::Client(ClientCommand::NoEvict(_)) => "client|no-evict",
            Command::Client(ClientCommand::NoTouch(_)) => "client|no-touch",
            Command::Client(ClientCommand::Reply(_)) => "client|reply",
            Command::Client(ClientCommand::Help) => "client|help",
            Command::Auth { .. } => "auth",
            Command::Acl(AclCommand::WhoAmI) => "acl|whoami",
            Command::Acl(AclCommand::List) => "acl|list",
            Command::Acl(AclCommand::Users) => "acl|users",
            Command::Acl(AclCommand::Cat(_)) => "acl|cat",
            Command::Acl(AclCommand::SetUser { .. }) => "acl|setuser",
            Command::Acl(AclCommand::Load) => "acl|load",
            Command::Acl(AclCommand::DelUser(_)) => "acl|deluser",
            Command::Acl(AclCommand::GetUser(_)) => "acl|getuser",
            Command::Acl(AclCommand::DryRun { .. }) => "acl|dryrun",
            Command::Acl(AclCommand::Save) => "acl|save",
            Command::Acl(AclCommand::Log(_)) => "acl|log",
            Command::Acl(AclCommand::Help) => "acl|help",
            Command::Acl(AclCommand::GenPass(_)) => "acl|genpass",
            Command::Client(ClientCommand::SetName(_)) => "client|setname",
            Command::Client(ClientCommand::GetName) => "client|getname",
            Command::Client(ClientCommand::Id) => "client|id",
            Command::ConfigGet(_) => "config|get",
            Command::ConfigSet(_) => "config|set",
            Command::ConfigResetStat => "config|resetstat",
            Command::Command(_) => "command",
            Command::Info(_) => "info",
            Command::Reset => "reset",
            Command::Select(_) => "select",
            Command::DbSize => "dbsize",
            Command::Time => "time",
            Command::LastSave => "lastsave",
            Command::Multi => "multi",
            Command::Help("CONFIG") => "config|help",
            Command::Help(_) => "pubsub|help",
            Command::Exec => "exec",
            Command::Discard => "discard",
            Command::Watch(_) => "watch",
            Command::Unwatch => "unwatch",
        }
    }

    /// Returns true if and only if a RESP2 connection in subscribed mode may run this command.
    pub fn allowed_when_subscribed(&self) -> bool {
        matches!(
            self,
            Command::Ping(_)
                | Command::Quit
                | Command::Reset
                | Command::Subscribe(_)
                | Command::Unsubscribe(_)
                | Command::PSubscribe(_)
                | Command::PUnsubscribe(_)
                | Command::SSubscribe(_)
                | Command::SUnsubscribe(_)
        )
    }

    /// Returns true if and only if, inside MULTI, this command is queued for EXEC rather than
    /// run at once (Redis runs MULTI, EXEC, DISCARD, WATCH, QUIT and RESET at once).
    pub fn is_queued_in_multi(&self) -> bool {
        !matches!(
            self,
            Command::Multi
                | Command::Exec
                | Command::Discard
                | Command::Watch(_)
                | Command::Quit
                | Command::Reset
        )
    }

    /// The arguments that send this command (what a client writes with
    /// [`crate::resp::encode_command`]).
    pub fn to_args(&self) -> Vec<Bytes> {
        let word = |s: &'static str| Bytes::from_static(s.as_bytes());
        let with = |head: &[&'static str], rest: &[Bytes]| -> Vec<Bytes> {
            head.iter().map(|s| word(s)).chain(rest.iter().cloned()).collect()
        };
        match self {
            Command::Ping(msg) => with(&["PING"], msg.as_slice()),
            Command::Echo(msg) => with(&["ECHO"], std::slice::from_ref(msg)),
            Command::Quit => with(&["QUIT"], &[]),
            Command::Reset => with(&["RESET"], &[]),
            Command::Subscribe(chs) => with(&["SUBSCRIBE"], chs),
            Command::Unsubscribe(chs) => with(&["UNSUBSCRIBE"], chs),
            Command::PSubscribe(pats) => with(&["PSUBSCRIBE"], pats),
            Command::PUnsubscribe(pats) => with(&["PUNSUBSCRIBE"], pats),
            Command::Publish { channel, message } => {
                with(&["PUBLISH"], &[channel.clone(), message.clone()])
            }
            Command::PubsubChannels(pat) => with(&["PUBSUB", "CHANNELS"], pat.as_slice()),
            Command::PubsubNumsub(chs) => with(&["PUBSUB", "NUMSUB"], chs),
            Command::PubsubNumpat => with(&["PUBSUB", "NUMPAT"], &[]),
            Command::PubsubShardChannels(pat) => with(&["PUBSUB", "SHARDCHANNELS"], pat.as_slice()),
            Command::PubsubShardNumsub(chs) => with(&["PUBSUB", "SHARDNUMSUB"], chs),
            Command::SSubscribe(chs) => with(&["SSUBSCRIBE"], chs),
            Command::SUnsubscribe(chs) => with(&["SUNSUBSCRIBE"], chs),
            Command::SPublish { channel, message } => {
                with(&["SPUBLISH"], &[channel.clone(), message.clone()])
            }
            Command::Hello { version, name, auth } => {
                let mut args = with(&["HELLO"], &[]);
                if let Some(v) = version {
                    args.push(Bytes::from(v.to_string()));
                }
                if let Some((user, password)) = auth {
                    args.extend([word("AUTH"), user.clone(), password.clone()]);
                }
                if let Some(name) = name {
                    args.extend([word("SETNAME"), name.clone()]);
                }
                args
            }
            Command::Client(ClientCommand::SetInfo { lib_name, value }) => {
                let attr = if *lib_name { "LIB-NAME" } else { "LIB-VER" };
                with(&["CLIENT", "SETINFO", attr], std::slice::from_ref(value))
            }
            Command::Client(ClientCommand::Info) => with(&["CLIENT", "INFO"], &[]),
            Command::Client(ClientCommand::List(args)) => with(&["CLIENT", "LIST"], args),
            Command::Client(ClientCommand::Kill(args)) => with(&["CLIENT", "KILL"], args),
            Command::Client(ClientCommand::NoEvict(on)) => {
                with(&["CLIENT", "NO-EVICT", if *on { "ON" } else { "OFF" }], &[])
            }
            Command::Client(ClientCommand::NoTouch(on)) => {
                with(&["CLIENT", "NO-TOUCH", if *on { "ON" } else { "OFF" }], &[])
            }
            Command::Client(ClientCommand::Reply(mode)) => {
                let word = match mode {
                    ReplyMode::On => "ON",
                    ReplyMode::Off => "OFF",
                    ReplyMode::Skip => "SKIP",
                };
                with(&["CLIENT", "REPLY", word], &[])
            }
            Command::Client(ClientCommand::Help) => with(&["CLIENT", "HELP"], &[]),
            Command::Client(ClientCommand::SetName(name)) => {
                with(&["CLIENT", "SETNAME"], std::slice::from_ref(name))
            }
            Command::Client(ClientCommand::GetName) => with(&["CLIENT", "GETNAME"], &[]),
            Command::Client(ClientCommand::Id) => with(&["CLIENT", "ID"], &[]),
            Command::ConfigGet(params) => with(&["CONFIG", "GET"], params),
            Command::ConfigSet(pairs) => {
                let flat: Vec<Bytes> =
                    pairs.iter().flat_map(|(n, v)| [n.clone(), v.clone()]).collect();
                with(&["CONFIG", "SET"], &flat)
            }
            Command::ConfigResetStat => with(&["CONFIG", "RESETSTAT"], &[]),
            Command::Command(sub) => with(&["COMMAND"], sub.as_slice()),
            Command::Info(sections) => with(&["INFO"], sections),
            Command::Select(index) => with(&["SELECT"], std::slice::from_ref(index)),
            Command::DbSize => with(&["DBSIZE"], &[]),
            Command::Time => with(&["TIME"], &[]),
            Command::LastSave => with(&["LASTSAVE"], &[]),
            Command::Multi => with(&["MULTI"], &[]),
            Command::Help(container) => with(&[container, "HELP"], &[]),
            Command::Exec => with(&["EXEC"], &[]),
            Command::Discard => with(&["DISCARD"], &[]),
            Command::Watch(keys) => with(&["WATCH"], keys),
            Command::Unwatch => with(&["UNWATCH"], &[]),
            Command::Auth { user, password } => {
                with(&["AUTH"], &user.iter().chain([password]).cloned().collect::<Vec<_>>())
            }
            Command::Acl(AclCommand::WhoAmI) => with(&["ACL", "WHOAMI"], &[]),
            Command::Acl(AclCommand::List) => with(&["ACL", "LIST"], &[]),
            Command::Acl(AclCommand::Users) => with(&["ACL", "USERS"], &[]),
            Command::Acl(AclCommand::Cat(cat)) => with(&["ACL", "CAT"], cat.as_slice()),
            Command::Acl(AclCommand::SetUser { name, rules }) => {
                let mut args = with(&["ACL", "SETUSER"], std::slice::from_ref(name));
                args.extend(rules.iter().cloned());
                args
            }
            Command::Acl(AclCommand::Load) => with(&["ACL", "LOAD"], &[]),
            Command::Acl(AclCommand::DelUser(names)) => with(&["ACL", "DELUSER"], names),
            Command::Acl(AclCommand::GetUser(name)) => {
                with(&["ACL", "GETUSER"], std::slice::from_ref(name))
            }
            Command::Acl(AclCommand::DryRun { name, args }) => {
                let mut all = with(&["ACL", "DRYRUN"], std::slice::from_ref(name));
                all.extend(args.iter().cloned());
                all
            }
            Command::Acl(AclCommand::Save) => with(&["ACL", "SAVE"], &[]),
            Command::Acl(AclCommand::Log(arg)) => with(&["ACL", "LOG"], arg.as_slice()),
            Command::Acl(AclCommand::Help) => with(&["ACL", "HELP"], &[]),
            Command::Acl(AclCommand::GenPass(bits)) => {
                with(&["ACL", "GENPASS"], &[Bytes::from(bits.to_string())])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Command, CommandError> {
        Command::parse(words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect())
    }

    fn err(words: &[&str]) -> String {
        parse(words).unwrap_err().to_string()
    }

    #[test]
    fn commands_round_trip_through_their_arguments() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let all = [
            Command::Ping(None),
            Command::Ping(Some(b("x"))),
            Command::Echo(b("")),
            Command::Quit,
            Command::Reset,
            Command::Subscribe(vec![b("a"), b("b")]),
            Command::Unsubscribe(vec![]),
            Command::PSubscribe(vec![b("n*")]),
            Command::PUnsubscribe(vec![b("n*")]),
            Command::Publish { channel: b("c"), message: b("m") },
            Command::PubsubChannels(None),
            Command::PubsubChannels(Some(b("*"))),
            Command::PubsubNumsub(vec![b("a")]),
            Command::PubsubNumpat,
            Command::PubsubShardChannels(Some(b("s*"))),
            Command::PubsubShardNumsub(vec![b("s")]),
            Command::SSubscribe(vec![b("s")]),
            Command::SUnsubscribe(vec![]),
            Command::SPublish { channel: b("s"), message: b("m") },
            Command::Client(ClientCommand::SetInfo { lib_name: true, value: b("x") }),
            Command::Client(ClientCommand::SetInfo { lib_name: false, value: b("1") }),
            Command::Client(ClientCommand::Info),
            Command::Client(ClientCommand::List(vec![b("TYPE"), b("pubsub")])),
            Command::Client(ClientCommand::Kill(vec![b("ID"), b("3")])),
            Command::Client(ClientCommand::NoEvict(true)),
            Command::Client(ClientCommand::NoTouch(false)),
            Command::Client(ClientCommand::Reply(ReplyMode::Skip)),
            Command::Client(ClientCommand::Help),
            Command::Help("CONFIG"),
            Command::Help("PUBSUB"),
            Command::Hello { version: Some(3), name: Some(b("me")), auth: None },
            Command::Hello { version: Some(3), name: None, auth: Some((b("u"), b("p"))) },
            Command::Hello { version: None, name: None, auth: None },
            Command::Auth { user: None, password: b("p") },
            Command::Auth { user: Some(b("u")), password: b("p") },
            Command::Acl(AclCommand::WhoAmI),
            Command::Acl(AclCommand::List),
            Command::Acl(AclCommand::Users),
            Command::Acl(AclCommand::Cat(None)),
            Command::Acl(AclCommand::Cat(Some(b("pubsub")))),
            Command::Acl(AclCommand::SetUser { name: b("u"), rules: vec![b("on"), b("&a*")] }),
            Command::Acl(AclCommand::Load),
            Command::Acl(AclCommand::DelUser(vec![b("a"), b("b")])),
            Command::Acl(AclCommand::GetUser(b("a"))),
            Command::Acl(AclCommand::DryRun { name: b("a"), args: vec![b("PUBLISH"), b("c")] }),
            Command::Acl(AclCommand::Save),
            Command::Acl(AclCommand::Log(None)),
            Command::Acl(AclCommand::Log(Some(b("RESET")))),
            Command::Acl(AclCommand::Help),
            Command::Acl(AclCommand::GenPass(5)),
            Command::Client(ClientCommand::SetName(b("n"))),
            Command::Client(ClientCommand::GetName),
            Command::Client(ClientCommand::Id),
            Command::ConfigGet(vec![b("save")]),
            Command::ConfigSet(vec![(b("timeout"), b("5")), (b("maxclients"), b("9"))]),
            Command::ConfigResetStat,
            Command::Command(Some(b("DOCS"))),
            Command::Info(vec![]),
            Command::Select(b("1")),
            Command::DbSize,
            Command::Time,
            Command::LastSave,
            Command::Multi,
            Command::Exec,
            Command::Discard,
            Command::Watch(vec![b("k")]),
            Command::Unwatch,
        ];
        for cmd in all {
            let name = cmd.full_name();
            assert!(COMMAND_CATEGORIES.iter().any(|(n, _)| *n == name), "{name} has no categories");
            assert_eq!(Command::parse(cmd.to_args()).unwrap(), cmd);
        }
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(parse(&["pInG"]).unwrap(), Command::Ping(None));
        assert_eq!(parse(&["pubsub", "NumPat"]).unwrap(), Command::PubsubNumpat);
    }

    #[test]
    fn errors_use_redis_texts() {
        assert_eq!(err(&["foo"]), "ERR unknown command 'foo', with args beginning with: ");
        assert_eq!(
            err(&["foo", "a", "b\r\nc"]),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b  c' "
        );
        assert_eq!(err(&["ping", "a", "b"]), "ERR wrong number of arguments for 'ping' command");
        assert_eq!(err(&["echo"]), "ERR wrong number of arguments for 'echo' command");
        assert_eq!(err(&["subscribe"]), "ERR wrong number of arguments for 'subscribe' command");
        assert_eq!(err(&["publish", "a"]), "ERR wrong number of arguments for 'publish' command");
        assert_eq!(err(&["pubsub"]), "ERR wrong number of arguments for 'pubsub' command");
        assert_eq!(
            err(&["pubsub", "channels", "a", "b"]),
            "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP."
        );
        assert_eq!(err(&["pubsub", "x"]), "ERR unknown subcommand 'x'. Try PUBSUB HELP.");
        assert_eq!(err(&["hello", "4"]), "NOPROTO unsupported protocol version");
        assert_eq!(err(&["hello", "x"]), "ERR Protocol version is not an integer or out of range");
        assert_eq!(err(&["hello", "3", "setname"]), "ERR Syntax error in HELLO option 'setname'");
        assert_eq!(err(&["auth"]), "ERR wrong number of arguments for 'auth' command");
        assert_eq!(err(&["auth", "a", "b", "c"]), "ERR syntax error");
        assert_eq!(err(&["acl"]), "ERR wrong number of arguments for 'acl' command");
        assert_eq!(err(&["acl", "foo"]), "ERR unknown subcommand 'foo'. Try ACL HELP.");
        assert_eq!(
            err(&["acl", "whoami", "x"]),
            "ERR wrong number of arguments for 'acl|whoami' command"
        );
        assert_eq!(
            err(&["acl", "setuser"]),
            "ERR wrong number of arguments for 'acl|setuser' command"
        );
        assert_eq!(
            subscribed_context_error("publish"),
            "ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context"
        );
    }

    #[test]
    fn integers_and_db_indexes_as_redis_reads_them() {
        assert_eq!(parse_integer(b"15"), Some(15));
        assert_eq!(parse_integer(b"-1"), Some(-1));
        for bad in [&b""[..], b"+1", b" 1", b"01", b"-0", b"1.0", b"x", b"99999999999999999999"] {
            assert_eq!(parse_integer(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_db_index(b"0"), Ok(0));
        assert_eq!(parse_db_index(b"16"), Err(CommandError::DbIndexOutOfRange));
        assert_eq!(parse_db_index(b"-1"), Err(CommandError::DbIndexOutOfRange));
        assert_eq!(parse_db_index(b"abc"), Err(CommandError::NotAnInteger));
        assert_eq!(parse_db_index(b"9223372036854775807"), Err(CommandError::IntOutOfRange));
    }

    #[test]
    fn quoted_names_are_their_bytes_cut_at_nul() {
        let parse_raw = |words: &[&[u8]]| {
            Command::parse(words.iter().map(|w| Bytes::copy_from_slice(w)).collect()).unwrap_err()
        };
        // Each as redis-server 7.0.15 answers it.
        assert_eq!(
            parse_raw(&[b"PI\0NG", b"a\0b"]).to_bytes(),
            b"ERR unknown command 'PI', with args beginning with: 'a' "
        );
        assert_eq!(
            parse_raw(&[b"\xff\xfeX"]).to_bytes(),
            b"ERR unknown command '\xff\xfeX', with args beginning with: "
        );
        assert_eq!(
            parse_raw(&[b"FOO", b"\xff", b"a\r\nb"]).to_bytes(),
            b"ERR unknown command 'FOO', with args beginning with: '\xff' 'a  b' "
        );
        assert_eq!(
            parse_raw(&[b"PUBSUB", b"CHAN\0NELS", b"a"]).to_bytes(),
            b"ERR unknown subcommand 'CHAN'. Try PUBSUB HELP."
        );
    }

    #[test]
    fn every_command_has_its_categories() {
        for (name, cats) in COMMAND_CATEGORIES {
            assert!(cats.split(' ').all(is_category), "{name}: {cats}");
        }
        assert!(in_category("publish", "pubsub") && in_category("publish", "fast"));
        assert!(!in_category("subscribe", "fast"));
        // A container's category covers its subcommands: `config` is @slow.
        assert!(in_category("config|set", "slow") && in_category("config|set", "admin"));
        assert!(!in_category("config|help", "admin"));
        assert_eq!(category_commands("transaction").count(), 5);
    }

    #[test]
    fn long_unknown_commands_are_clipped() {
        let long = "x".repeat(300);
        let text = err(&[&long, &long, &long]);
        assert!(text.len() < 128 + 128 + 80, "{}", text.len());
    }
}
