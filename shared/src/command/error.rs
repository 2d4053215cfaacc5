//! Why a request is not a command: Redis's error texts for unknown commands, wrong argument
//! counts and bad arguments.

use bytes::Bytes;
use thiserror::Error;

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
    /// A stream id that does not read as `ms-seq`.
    #[error("ERR Invalid stream ID specified as stream command argument")]
    InvalidStreamId,
    /// `XADD` with the id `0-0`.
    #[error("ERR The ID specified in XADD must be greater than 0-0")]
    XaddIdZero,
    /// A negative `MAXLEN`.
    #[error("ERR The MAXLEN argument must be >= 0.")]
    MaxLenNegative,
    /// A negative `LIMIT`.
    #[error("ERR The LIMIT argument must be >= 0.")]
    LimitNegative,
    /// `LIMIT` without `~`.
    #[error("ERR syntax error, LIMIT cannot be used without the special ~ option")]
    LimitWithoutApprox,
    /// Two trimming strategies.
    #[error("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")]
    TrimBoth,
    /// `XRANGE` from `(` the largest id.
    #[error("ERR invalid start ID for the interval")]
    BadIntervalStart,
    /// `XRANGE` to `(0-0`.
    #[error("ERR invalid end ID for the interval")]
    BadIntervalEnd,
    /// `XSETID ... ENTRIESADDED` negative.
    #[error("ERR entries_added must be positive")]
    EntriesAddedNegative,
    /// `XSETID` below its own `MAXDELETEDID`.
    #[error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")]
    XsetidBelowMaxDeleted,
    /// `XREAD ... STREAMS` with more keys than ids or the reverse.
    #[error(
        "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
    )]
    UnbalancedXread,
    /// `XGROUP CREATE|SETID ... ENTRIESREAD` below -1.
    #[error("ERR value for ENTRIESREAD must be positive or -1")]
    EntriesReadNegative,
    /// `XREADGROUP` without `GROUP`.
    #[error("ERR Missing GROUP option for XREADGROUP")]
    MissingGroup,
    /// A `BLOCK` timeout that is not an integer.
    #[error("ERR timeout is not an integer or out of range")]
    TimeoutNotInteger,
    /// A negative `BLOCK` timeout.
    #[error("ERR timeout is negative")]
    TimeoutNegative,
    /// `SCAN` of a cursor that is not a number.
    #[error("ERR invalid cursor")]
    InvalidCursor,
    /// `EXPIRE` with NX and another condition.
    #[error("ERR NX and XX, GT or LT options at the same time are not compatible")]
    ExpireConditions,
    /// `EXPIRE` with GT and LT.
    #[error("ERR GT and LT options at the same time are not compatible")]
    ExpireGtLt,
    /// `EXPIRE` with an option it does not know.
    #[error("{}", String::from_utf8_lossy(&self.to_bytes()))]
    UnsupportedOption(Bytes),
    /// `XCLAIM`'s min-idle-time not an integer.
    #[error("ERR Invalid min-idle-time argument for XCLAIM")]
    ClaimMinIdle,
    /// `XAUTOCLAIM`'s min-idle-time not an integer.
    #[error("ERR Invalid min-idle-time argument for XAUTOCLAIM")]
    AutoClaimMinIdle,
    /// `XAUTOCLAIM ... COUNT` not a positive integer.
    #[error("ERR COUNT must be > 0")]
    AutoClaimCount,
    /// `XCLAIM ... IDLE` not an integer.
    #[error("ERR Invalid IDLE option argument for XCLAIM")]
    ClaimIdle,
    /// `XCLAIM ... TIME` not an integer.
    #[error("ERR Invalid TIME option argument for XCLAIM")]
    ClaimTime,
    /// `XCLAIM ... RETRYCOUNT` not an integer.
    #[error("ERR Invalid RETRYCOUNT option argument for XCLAIM")]
    ClaimRetryCount,
    /// `XCLAIM` with an option it does not know.
    #[error("{}", String::from_utf8_lossy(&self.to_bytes()))]
    UnrecognizedClaimOption(Bytes),
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
            CommandError::UnrecognizedClaimOption(option) => {
                quoted("ERR Unrecognized XCLAIM option '", option, "'")
            }
            CommandError::UnsupportedOption(option) => {
                quoted("ERR Unsupported option ", option, "")
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
