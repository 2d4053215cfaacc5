//! The connection's own commands: PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT.

use bytes::Bytes;

use super::args::{is, parse_integer, words, Args};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// A command about the connection itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionCommand {
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
    /// RESET
    /// ```
    Reset,
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
    /// SELECT index
    /// ```
    /// The index is checked when the command runs (inside a transaction, at EXEC), as Redis
    /// does. Pub/sub does not depend on the database, so every index in range means the same.
    Select(Bytes),
}

use ConnectionCommand as C;

impl Family for ConnectionCommand {
    const TABLE: &'static [Row] = &[
        Row::new("ping", -1, "fast", "fast connection")
            .tips("request_policy:all_shards response_policy:all_succeeded")
            .doc("1.0.0", "connection", "Checks the connection: answers PONG or the given text.", "O(1)")
            .args("message:string~o"),
        Row::new("echo", 2, "loading stale fast", "fast connection")
            .doc("1.0.0", "connection", "Answers with the text it is given.", "O(1)")
            .args("message:string"),
        Row::new("quit", -1, "noscript loading stale fast no_auth allow_busy", "fast connection")
            .doc("1.0.0", "connection", "Closes the connection once its replies are sent.", "O(1)"),
        Row::new("reset", 1, "noscript loading stale fast no_auth allow_busy", "fast connection")
            .doc("6.2.0", "connection", "Puts the connection back in its initial state.", "O(1)"),
        Row::new("auth", -2, "noscript loading stale fast no_auth allow_busy", "fast connection")
            .doc("1.0.0", "connection", "Authenticates the connection as a user.", "O(N), N passwords of the user.")
            .args("username:string~o#6.0.0 password:string"),
        Row::new("hello", -1, "noscript loading stale fast no_auth allow_busy", "fast connection")
            .doc("6.0.0", "connection", "Chooses the protocol version, optionally authenticates and names the connection.", "O(1)")
            .args("arguments:block~o{protover:integer username_password:block=AUTH~o{username:string password:string} clientname:string=SETNAME~o}"),
        Row::new("select", 2, "loading stale fast", "fast connection")
            .doc("1.0.0", "connection", "Chooses the logical database (only 0 holds anything here).", "O(1)")
            .args("index:integer"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        let argc = args.len();
        let parsed = match name {
            b"ping" => args.need(argc <= 1, "ping").map(|()| C::Ping(args.next())),
            b"echo" => args.need(argc == 1, "echo").map(|()| C::Echo(args.take())),
            b"quit" => Ok(C::Quit),
            b"reset" => args.need(argc == 0, "reset").map(|()| C::Reset),
            b"auth" => parse_auth(args),
            b"hello" => parse_hello(args),
            b"select" => args.need(argc == 1, "select").map(|()| C::Select(args.take())),
            _ => return None,
        };
        Some(parsed)
    }

    fn full_name(&self) -> &'static str {
        match self {
            C::Ping(_) => "ping",
            C::Echo(_) => "echo",
            C::Quit => "quit",
            C::Reset => "reset",
            C::Auth { .. } => "auth",
            C::Hello { .. } => "hello",
            C::Select(_) => "select",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            C::Ping(msg) => words(&["PING"], msg.as_slice()),
            C::Echo(msg) => words(&["ECHO"], std::slice::from_ref(msg)),
            C::Quit => words(&["QUIT"], &[]),
            C::Reset => words(&["RESET"], &[]),
            C::Auth { user, password } => {
                words(&["AUTH"], &user.iter().chain([password]).cloned().collect::<Vec<_>>())
            }
            C::Hello { version, name, auth } => {
                let mut args = words(&["HELLO"], &[]);
                if let Some(v) = version {
                    args.push(Bytes::from(v.to_string()));
                }
                if let Some((user, password)) = auth {
                    args.extend(words(&["AUTH"], &[user.clone(), password.clone()]));
                }
                if let Some(name) = name {
                    args.extend(words(&["SETNAME"], std::slice::from_ref(name)));
                }
                args
            }
            C::Select(index) => words(&["SELECT"], std::slice::from_ref(index)),
        }
    }

    fn allowed_when_subscribed(&self) -> bool {
        matches!(self, C::Ping(_) | C::Quit | C::Reset)
    }

    fn is_queued_in_multi(&self) -> bool {
        !matches!(self, C::Quit | C::Reset)
    }

    fn allowed_before_auth(&self) -> bool {
        matches!(self, C::Auth { .. } | C::Hello { .. } | C::Quit | C::Reset)
    }
}

fn parse_auth(args: &mut Args) -> Result<ConnectionCommand, CommandError> {
    let argc = args.len();
    args.need(argc >= 1, "auth")?;
    if argc > 2 {
        return Err(CommandError::Syntax);
    }
    let first = args.take();
    Ok(match args.next() {
        Some(password) => C::Auth { user: Some(first), password },
        None => C::Auth { user: None, password: first },
    })
}

fn parse_hello(args: &mut Args) -> Result<ConnectionCommand, CommandError> {
    let Some(version) = args.next() else {
        return Ok(C::Hello { version: None, name: None, auth: None });
    };
    // Read as Redis's string2ll reads it: `03` and `+3` are not integers.
    let version = parse_integer(&version).ok_or(CommandError::BadProtocolVersion)?;
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
    Ok(C::Hello { version: Some(version), name, auth })
}
