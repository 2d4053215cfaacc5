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
    /// ACL LOAD
    /// ```
    Acl(AclCommand),
    /// ```text
    /// CLIENT SETINFO attr value | CLIENT SETNAME name | CLIENT GETNAME | CLIENT ID
    /// ```
    Client(ClientCommand),
    /// ```text
    /// CONFIG GET parameter [parameter ...]
    /// ```
    /// Switchboard has no configurable parameters to show: the reply is always empty.
    ConfigGet(Vec<Bytes>),
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
}

/// The `CLIENT` subcommands a connecting client may send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCommand {
    /// `CLIENT SETINFO attr value`: accepted and ignored.
    SetInfo,
    /// `CLIENT SETNAME name`.
    SetName(Bytes),
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT ID`.
    Id,
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
    /// `ACL LOAD`: replace every user with the ACL file's.
    Load,
}

/// Why a request is not a command we run. `Display` gives Redis's reply text (without `-`).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CommandError {
    /// No such command.
    #[error("ERR unknown command '{}', with args beginning with: {}", clip(.name, 128), quoted_args(.args))]
    Unknown {
        /// The command name as sent.
        name: Bytes,
        /// Its arguments.
        args: Vec<Bytes>,
    },
    /// No such subcommand of a container command such as `PUBSUB`.
    #[error("ERR unknown subcommand '{}'. Try {} HELP.", clip(.sub, 128), .command)]
    UnknownSubcommand {
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
    /// A command given arguments it does not take (`AUTH a b c`).
    #[error("ERR syntax error")]
    Syntax,
    /// `HELLO` with an option it does not know, or missing its value.
    #[error("ERR Syntax error in HELLO option '{}'", clip(.0, 128))]
    HelloSyntax(Bytes),
}

/// The reply to a command that is not allowed while a RESP2 connection is subscribed.
pub fn subscribed_context_error(full_name: &str) -> String {
    format!(
        "ERR Can't execute '{full_name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
         RESET are allowed in this context"
    )
}

/// At most `max` bytes of `b` as text, with CR and LF turned into spaces so the error stays on
/// one protocol line (Redis does the same).
fn clip(b: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&b[..b.len().min(max)]);
    text.replace(['\r', '\n'], " ")
}

/// Redis's "'a' 'b' " list of the first arguments of an unknown command, at most ~128 bytes.
fn quoted_args(args: &[Bytes]) -> String {
    let mut out = String::new();
    for arg in args {
        if out.len() >= 128 {
            break;
        }
        let room = 128 - out.len();
        out.push('\'');
        out.push_str(&clip(arg, room));
        out.push_str("' ");
    }
    out
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
                        need(argc <= 2, "pubsub|channels")?;
                        Command::PubsubChannels(args.next())
                    }
                    s if is(s, "numsub") => Command::PubsubNumsub(args.collect()),
                    s if is(s, "numpat") => {
                        need(argc == 1, "pubsub|numpat")?;
                        Command::PubsubNumpat
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
                        need(argc <= 2, "acl|cat")?;
                        AclCommand::Cat(args.next())
                    }
                    s if is(s, "setuser") => {
                        need(argc >= 2, "acl|setuser")?;
                        let name = args.next().unwrap_or_default();
                        AclCommand::SetUser { name, rules: args.collect() }
                    }
                    s if is(s, "load") => {
                        need(argc == 1, "acl|load")?;
                        AclCommand::Load
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
                        ClientCommand::SetInfo
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
                if !is(&sub, "get") {
                    return Err(CommandError::UnknownSubcommand { command: "CONFIG", sub });
                }
                need(argc >= 2, "config|get")?;
                Command::ConfigGet(args.collect())
            }
            n if is(n, "command") => Command::Command(args.next()),
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
            Command::Hello { .. } => "hello",
            Command::Auth { .. } => "auth",
            Command::Acl(AclCommand::WhoAmI) => "acl|whoami",
            Command::Acl(AclCommand::List) => "acl|list",
            Command::Acl(AclCommand::Users) => "acl|users",
            Command::Acl(AclCommand::Cat(_)) => "acl|cat",
            Command::Acl(AclCommand::SetUser { .. }) => "acl|setuser",
            Command::Acl(AclCommand::Load) => "acl|load",
            Command::Client(ClientCommand::SetInfo) => "client|setinfo",
            Command::Client(ClientCommand::SetName(_)) => "client|setname",
            Command::Client(ClientCommand::GetName) => "client|getname",
            Command::Client(ClientCommand::Id) => "client|id",
            Command::ConfigGet(_) => "config|get",
            Command::Command(_) => "command",
            Command::Info(_) => "info",
            Command::Reset => "reset",
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
            Command::Client(ClientCommand::SetInfo) => {
                with(&["CLIENT", "SETINFO", "LIB-NAME", "switchboard"], &[])
            }
            Command::Client(ClientCommand::SetName(name)) => {
                with(&["CLIENT", "SETNAME"], std::slice::from_ref(name))
            }
            Command::Client(ClientCommand::GetName) => with(&["CLIENT", "GETNAME"], &[]),
            Command::Client(ClientCommand::Id) => with(&["CLIENT", "ID"], &[]),
            Command::ConfigGet(params) => with(&["CONFIG", "GET"], params),
            Command::Command(sub) => with(&["COMMAND"], sub.as_slice()),
            Command::Info(sections) => with(&["INFO"], sections),
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
            Command::Client(ClientCommand::SetInfo),
            Command::Client(ClientCommand::SetName(b("n"))),
            Command::Client(ClientCommand::GetName),
            Command::Client(ClientCommand::Id),
            Command::ConfigGet(vec![b("save")]),
            Command::Command(Some(b("DOCS"))),
            Command::Info(vec![]),
        ];
        for cmd in all {
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
            "ERR wrong number of arguments for 'pubsub|channels' command"
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
    fn long_unknown_commands_are_clipped() {
        let long = "x".repeat(300);
        let text = err(&[&long, &long, &long]);
        assert!(text.len() < 128 + 128 + 80, "{}", text.len());
    }
}
