//! Redis's error texts for what goes wrong while a command runs: one enum, whose `Display` is
//! the reply (without `-`), so that every error reply is built here. What parsing finds is
//! [`shared::command::CommandError`]; connections refused before a session exists are
//! [`crate::refusal::Refused`].

use std::path::PathBuf;

use shared::Frame;
use thiserror::Error;

/// The reply to a connection refused by protected mode.
pub const DENIED: &str = "DENIED Switchboard is running in protected mode because protected \
    mode is enabled and no password is set for the default user. In this mode connections are \
    only accepted from the loopback interface. If you want to connect from other computers, \
    adopt one of the following solutions: 1) Restart the server with a password for the \
    default user (--requirepass PASS, or a default user with a password in the --aclfile). \
    2) If the network is trusted and you started the server just for testing, restart it with \
    the '--protected-mode no' option. NOTE: You only need to do one of the above things in \
    order for the server to start accepting connections from the outside.";

/// Why a command that parsed could not do what it asked. `Display` is Redis's reply text.
#[derive(Debug, Error)]
pub enum ReplyError {
    /// `CONFIG SET` of a parameter this server does not have (its name as sent, with line
    /// breaks and NULs turned into spaces).
    #[error("ERR Unknown option or number of arguments for CONFIG SET - '{0}'")]
    UnknownConfig(String),
    /// `CONFIG SET` of a value that does not apply to the parameter.
    #[error("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")]
    ConfigSetFailed {
        /// The parameter.
        name: &'static str,
        /// Why the value does not apply.
        why: BadValue,
    },
    /// MONITOR run by EXEC (Redis refuses it to a client that expects one reply per command).
    #[error("ERR MONITOR isn't allowed for DENY BLOCKING client")]
    MonitorInExec,
    /// A failed AUTH (or HELLO AUTH).
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    /// A command sent before authenticating.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// HELLO without AUTH before authenticating.
    #[error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
         HELLO AUTH <user> <pass> option can be used to authenticate the client and select the \
         RESP protocol version at the same time"
    )]
    NoAuthHello,
    /// `AUTH password` while the default user has no password.
    #[error(
        "ERR AUTH <password> called without any password configured for the default user. \
         Are you sure your configuration is correct?"
    )]
    AuthWithoutPassword,
    /// A command the user may not run, by its full name.
    #[error("NOPERM this user has no permissions to run the '{0}' command")]
    NoPermCommand(&'static str),
    /// A command naming a channel or pattern the user may not touch.
    #[error("NOPERM this user has no permissions to access one of the channels used as arguments")]
    NoPermChannel,
    /// NOPERM for a key the user may not touch.
    #[error("NOPERM this user has no permissions to access one of the keys used as arguments")]
    NoPermKey,
    /// A key holding another type than the command's.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// XADD with an id not above the stream's last.
    #[error("ERR The ID specified in XADD is equal or smaller than the target stream top item")]
    XaddNotAbove,
    /// XADD `*` after the largest id.
    #[error("ERR The stream has exhausted the last possible ID, unable to add more items")]
    StreamExhausted,
    /// XSETID below the stream's last entry.
    #[error("ERR The ID specified in XSETID is smaller than the target stream top item")]
    XsetidBelowTop,
    /// XSETID ENTRIESADDED below the stream's length.
    #[error("ERR The entries_added specified in XSETID is smaller than the target stream length")]
    XsetidEntriesBelowLength,
    /// A command that needs its key to exist (XSETID, XINFO).
    #[error("ERR no such key")]
    NoSuchKey,
    /// An XGROUP subcommand on a missing key.
    #[error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")]
    XgroupNoKey,
    /// XGROUP CREATE of a group that exists.
    #[error("BUSYGROUP Consumer Group name already exists")]
    BusyGroup,
    /// A consumer group that the stream does not have.
    #[error("NOGROUP No such consumer group '{group}' for key name '{key}'")]
    NoGroup {
        /// The group, as sent.
        group: String,
        /// The key, as sent.
        key: String,
    },
    /// A missing key or group, for XREADGROUP (`tail` names it) and XPENDING.
    #[error("NOGROUP No such key '{key}' or consumer group '{group}'{tail}")]
    NoKeyOrGroup {
        /// The key, as sent.
        key: String,
        /// The group, as sent.
        group: String,
        /// What Redis adds after it.
        tail: &'static str,
    },
    /// XREADGROUP with `$`.
    #[error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")]
    XreadgroupDollar,
    /// XREADGROUP BLOCK, which comes with the next part of the streams work.
    #[error(
        "ERR XREADGROUP BLOCK is not supported yet by this server: read without BLOCK and poll"
    )]
    XreadgroupBlockNotSupported,
    /// EXPIRE or PEXPIRE of a time that overflows.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpireTime(&'static str),
    /// XREAD BLOCK, which comes with the next part of the streams work.
    #[error("ERR XREAD BLOCK is not supported yet by this server: read without BLOCK and poll")]
    BlockNotSupported,
    /// `ACL CAT` of a category Redis does not have (as sent, clipped).
    #[error("ERR Unknown category '{0}'")]
    UnknownCategory(String),
    /// `ACL SETUSER` with a rule it cannot apply (the rule as sent).
    #[error("ERR Error in ACL SETUSER modifier '{rule}': {why}")]
    SetUser {
        /// The rule.
        rule: String,
        /// Why it does not apply.
        why: RuleError,
    },
    /// `ACL DELUSER default`.
    #[error("ERR The 'default' user cannot be removed")]
    DeleteDefaultUser,
    /// `ACL DRYRUN` of a user that does not exist.
    #[error("ERR User '{0}' not found")]
    NoSuchUser(String),
    /// `ACL DRYRUN` of a command the server does not serve.
    #[error("ERR Command '{0}' not found")]
    NoSuchCommand(String),
    /// `SLOWLOG GET` of a count that is not an integer of at least -1.
    #[error("ERR count should be greater than or equal to -1")]
    SlowlogCount,
    /// `LATENCY GRAPH` of an event with no samples (the event as sent, clipped).
    #[error("ERR No samples available for event '{0}'")]
    NoLatencySamples(String),
    /// `ACL LOAD` or `ACL SAVE` failed.
    #[error("ERR {0}")]
    AclFile(#[from] AclError),
    /// `ACL GENPASS` found no random bytes.
    #[error("ERR cannot generate a password: {0}")]
    NoRandom(std::io::Error),
    /// A name set by `CLIENT SETNAME` or `HELLO SETNAME` with a space or special character.
    #[error("ERR Client names cannot contain spaces, newlines or special characters.")]
    BadClientName,
    /// `CLIENT SETINFO` of a value with a space or special character (`lib-name`, `lib-ver`).
    #[error("ERR {0} cannot contain spaces, newlines or special characters.")]
    BadClientInfo(&'static str),
    /// `CLIENT KILL ip:port` of no connection.
    #[error("ERR No such client")]
    NoSuchClient,
    /// `CLIENT LIST ID` without ids, or one that is not a positive number.
    #[error("ERR Invalid client ID")]
    InvalidClientId,
    /// `CLIENT KILL ID` of an id that is not a positive number.
    #[error("ERR client-id should be greater than 0")]
    ClientIdNotPositive,
    /// `CLIENT LIST|KILL TYPE` of no type Redis has (as sent, one line).
    #[error("ERR Unknown client type '{0}'")]
    UnknownClientType(String),
    /// Arguments that do not make sense together.
    #[error("ERR syntax error")]
    Syntax,
    /// MULTI inside MULTI.
    #[error("ERR MULTI calls can not be nested")]
    NestedMulti,
    /// EXEC outside MULTI.
    #[error("ERR EXEC without MULTI")]
    ExecWithoutMulti,
    /// DISCARD outside MULTI.
    #[error("ERR DISCARD without MULTI")]
    DiscardWithoutMulti,
    /// WATCH inside MULTI.
    #[error("ERR WATCH inside MULTI is not allowed")]
    WatchInsideMulti,
    /// EXEC of a transaction that a refusal while queueing failed.
    #[error("EXECABORT Transaction discarded because of previous errors.")]
    ExecAbort,
    /// A command that would take the MULTI queue past what one request may hold.
    #[error(
        "ERR MULTI queue full (at most {max_args} commands and {max_bytes} bytes of \
         arguments): EXEC or DISCARD"
    )]
    MultiQueueFull {
        /// The most commands a transaction holds.
        max_args: usize,
        /// The most argument bytes a transaction holds.
        max_bytes: usize,
    },
    /// The request stream is not RESP: the connection ends after this reply.
    #[error("ERR {0}")]
    Protocol(#[from] shared::ProtocolError),
    /// `CLIENT TRACKING on PREFIX ...` without BCAST.
    #[error("ERR PREFIX option requires BCAST mode to be enabled")]
    PrefixWithoutBcast,
    /// `CLIENT TRACKING on OPTIN OPTOUT`.
    #[error("ERR You can't specify both OPTIN mode and OPTOUT mode")]
    OptinAndOptout,
    /// `CLIENT TRACKING on BCAST OPTIN` (or OPTOUT).
    #[error("ERR OPTIN and OPTOUT are not compatible with BCAST")]
    OptWithBcast,
    /// `CLIENT TRACKING on` switching BCAST while tracking.
    #[error(
        "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and \
         then re-enabling it with a different mode."
    )]
    BcastSwitch,
    /// `CLIENT TRACKING on` switching between OPTIN and OPTOUT while tracking.
    #[error(
        "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and \
         then re-enabling it with a different mode."
    )]
    OptSwitch,
    /// `CLIENT TRACKING ... REDIRECT id` of no open connection.
    #[error("ERR The client ID you want redirect to does not exist")]
    NoRedirectTarget,
    /// `CLIENT TRACKING ... REDIRECT a REDIRECT b`.
    #[error("ERR A client can only redirect to a single other client")]
    TwoRedirects,
    /// A BCAST prefix that is a prefix of one the connection has, or has one as prefix.
    #[error(
        "ERR Prefix '{0}' overlaps with an existing prefix '{1}'. Prefixes for a single client \
         must not overlap."
    )]
    PrefixOverlapsExisting(String, String),
    /// Two BCAST prefixes of one request that overlap.
    #[error(
        "ERR Prefix '{0}' overlaps with another provided prefix '{1}'. Prefixes for a single \
         client must not overlap."
    )]
    PrefixOverlapsGiven(String, String),
    /// `CLIENT CACHING` while not tracking.
    #[error(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or \
         OPTOUT mode enabled"
    )]
    CachingNotTracking,
    /// `CLIENT CACHING YES` outside OPTIN mode.
    #[error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")]
    CachingYesNotOptin,
    /// `CLIENT CACHING NO` outside OPTOUT mode.
    #[error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")]
    CachingNoNotOptout,
    /// An argument that must be an integer is not one.
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    /// `COMMAND GETKEYS` of a command (or subcommand) that is not served.
    #[error("ERR Invalid command specified")]
    InvalidCommand,
    /// `COMMAND GETKEYS` of a command without keys (every pub/sub command: shard channels are
    /// routed like keys but are not keys).
    #[error("ERR The command has no key arguments")]
    NoKeyArguments,
    /// `COMMAND GETKEYS` of a command with keys but the wrong number of arguments.
    #[error("ERR Invalid number of arguments specified for command")]
    InvalidKeyArguments,
}

impl ReplyError {
    /// The error as a reply frame.
    pub fn frame(&self) -> Frame {
        Frame::Error(self.to_string())
    }
}

impl From<ReplyError> for Frame {
    fn from(err: ReplyError) -> Frame {
        err.frame()
    }
}

/// Why an ACL rule (`ACL SETUSER`, a line of the ACL file) does not apply. `Display` is
/// Redis's words.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RuleError {
    /// Not a rule.
    #[error("Syntax error")]
    Syntax,
    /// `<password` or `!hash` of a password the user does not have.
    #[error("no such password")]
    NoSuchPassword,
    /// `#hash` or `!hash` that is not a SHA-256 in lower case hexadecimal.
    #[error(
        "The password hash must be exactly 64 characters and contain only lowercase \
         hexadecimal characters"
    )]
    BadHash,
    /// `+name` or `-name` of no command, or `+@name` of no category.
    #[error("Unknown command or category name in ACL")]
    UnknownName,
}

/// Why the ACL could not be set up or changed.
#[derive(Debug, Error)]
pub enum AclError {
    /// The ACL file could not be read.
    #[error("cannot read the ACL file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the ACL file is wrong (Redis's text: `FILE:LINE: why`).
    #[error("{path}:{line}: {why}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        why: FileSyntax,
    },
    /// `ACL SAVE` could not write the ACL file (the reply is Redis's; the log names why).
    #[error(
        "There was an error trying to save the ACLs. Please check the server logs for more \
         information"
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `ACL LOAD` or `ACL SAVE` without an ACL file.
    #[error(
        "This Redis instance is not configured to use an ACL file. You may want to specify \
         users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have \
         a Redis configuration file set) in order to store users in the Redis configuration."
    )]
    NoFile,
}

/// What is wrong with a line of the ACL file, in Redis's words.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FileSyntax {
    /// The line does not start with `user`.
    #[error("line should start with user keyword")]
    NotUser,
    /// `user` alone.
    #[error("user name missing")]
    NoName,
    /// A user declared twice.
    #[error("Duplicate user '{0}' found")]
    Duplicate(String),
    /// A rule that does not apply.
    #[error("Error in user declaration '{rule}': {why}")]
    Rule {
        /// The rule as written.
        rule: String,
        /// Why it does not apply.
        why: RuleError,
    },
}

/// The prefix of an `EXEC` refused before it ran; the refusal's text follows, without `ERR `.
pub const EXECABORT_BECAUSE: &str = "EXECABORT Transaction discarded because of: ";

/// Why a `CONFIG SET` value does not apply to its parameter: the text Redis puts after
/// `CONFIG SET failed (...) - `.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct BadValue(pub String);

impl From<&str> for BadValue {
    fn from(why: &str) -> BadValue {
        BadValue(why.to_string())
    }
}

impl From<String> for BadValue {
    fn from(why: String) -> BadValue {
        BadValue(why)
    }
}
