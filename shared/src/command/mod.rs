//! Typed commands, parsed from a request's arguments.
//!
//! A command lives in its family's module (`connection`, `pubsub`, `client`, `acl`, `config`,
//! `server`, `transaction`, `lolwut`, `introspection`): its syntax (a `text` block in its doc), its parse, its
//! Redis full name, its row of the command table, its rules (subscribed mode, MULTI, before
//! authentication, the channels it names) and its arguments back ([`Command::to_args`], for
//! clients), all through the [`Family`] trait. [`Command`] is one variant per family, made by
//! the one list, [`for_each_family!`]: a new family is a new module plus one line in that list
//! (and its run in the server, which expands the same list). Arity and subcommand checks happen
//! here, so the server only ever sees well-formed commands.

mod args;
mod categories;
mod error;
mod family;
mod table;

pub use args::{
    is, lower_case, on_off, parse_db_index, parse_integer, words, Args, DATABASES, NAME_MAX,
};
pub use categories::{is_category, CATEGORIES};
pub use error::{subscribed_context_error, CommandError};
pub use family::Family;
pub use table::{Arg, Begin, KeySpec, Row};

use bytes::Bytes;

/// Declares the families (each a module, its type, and its variant of [`Command`]) from the
/// list [`for_each_family!`] gives. Their order is the order names are looked up in and the
/// order of [`COMMAND_TABLE`].
macro_rules! families {
    ($($module:ident::$family:ident => $variant:ident,)*) => {
        $(pub mod $module;)*
        $(pub use $module::$family;)*

        /// A command of the pub/sub subset Switchboard serves, plus what real clients send on
        /// connect, by family.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Command {
            $(#[doc = concat!("A command of [`", stringify!($module), "`].")] $variant($family),)*
        }

        $(impl From<$family> for Command {
            fn from(cmd: $family) -> Command {
                Command::$variant(cmd)
            }
        })*

        /// Every command served here, by the full name [`Command::full_name`] gives it, with
        /// its row (see [`Family::TABLE`]; a test compares each with redis-server's
        /// `COMMAND INFO`). `client|setinfo` and `client|no-touch` are Redis 7.2's.
        pub const COMMAND_TABLE: &[Row] = &categories::concat::<
            { 0 $(+ $family::TABLE.len())* },
        >(&[$($family::TABLE),*]);

        impl Command {
            fn parse_named(name: &[u8], args: &mut Args) -> Option<Result<Command, CommandError>> {
                $(if let Some(parsed) = $family::parse(name, args) {
                    return Some(parsed.map(Command::$variant));
                })*
                None
            }

            /// Redis's full name for this command, as used in its error replies
            /// (`pubsub|numsub`).
            pub fn full_name(&self) -> &'static str {
                match self { $(Command::$variant(cmd) => cmd.full_name(),)* }
            }

            /// The arguments that send this command (what a client writes with
            /// [`crate::resp::encode_command`]).
            pub fn to_args(&self) -> Vec<Bytes> {
                match self { $(Command::$variant(cmd) => cmd.to_args(),)* }
            }

            /// Returns true if and only if a RESP2 connection in subscribed mode may run this
            /// command.
            pub fn allowed_when_subscribed(&self) -> bool {
                match self { $(Command::$variant(cmd) => cmd.allowed_when_subscribed(),)* }
            }

            /// Returns true if and only if, inside MULTI, this command is queued for EXEC
            /// rather than run at once (Redis runs MULTI, EXEC, DISCARD, WATCH, QUIT and RESET
            /// at once).
            pub fn is_queued_in_multi(&self) -> bool {
                match self { $(Command::$variant(cmd) => cmd.is_queued_in_multi(),)* }
            }

            /// Returns true if and only if a connection may run this command before
            /// authenticating (AUTH, HELLO, QUIT, RESET).
            pub fn allowed_before_auth(&self) -> bool {
                match self { $(Command::$variant(cmd) => cmd.allowed_before_auth(),)* }
            }

            /// The channels (or, when the flag is true, the patterns) this command names, whose
            /// permissions the ACL checks.
            pub fn channels(&self) -> (&[Bytes], bool) {
                match self { $(Command::$variant(cmd) => cmd.channels(),)* }
            }

            /// The keys this command names, whose permissions the ACL checks.
            pub fn keys(&self) -> &[Bytes] {
                match self { $(Command::$variant(cmd) => cmd.keys(),)* }
            }
        }
    };
}

/// Calls `$callback!` with the list of families, one `module::Type => Variant` line each, in
/// the order names are looked up in. The one list: this crate makes [`Command`] from it
/// (`families!`), and the server declares and dispatches to its module of the same name for
/// each (`server::session::commands`). A new family is one line here.
#[macro_export]
macro_rules! for_each_family {
    ($callback:ident) => {
        $callback! {
            connection::ConnectionCommand => Connection,
            pubsub::PubsubCommand => Pubsub,
            client::ClientCommand => Client,
            acl::AclCommand => Acl,
            config::ConfigCommand => Config,
            server::ServerCommand => Server,
            transaction::TransactionCommand => Transaction,
            lolwut::LolwutCommand => Lolwut,
            monitor::MonitorCommand => Monitor,
            latency::LatencyCommand => Latency,
            slowlog::SlowlogCommand => Slowlog,
            introspection::IntrospectionCommand => Introspection,
            stream::StreamCommand => Stream,
            keys::KeysCommand => Keys,
        }
    };
}

for_each_family!(families);

pub use client::ReplyMode;
pub use introspection::ListFilter;
pub use keys::ExpireIf;
pub use stream::{
    parse_claim, parse_info_options, parse_loose_id, parse_read_id, parse_strict_id, AddId, Claim,
    GroupOp, PendingRange, RangeEnd, ReadFrom, StreamId, Trim, TrimTo, NODE_MAX_ENTRIES,
};

impl Command {
    /// Parses a request's arguments (the first is the command name, never absent).
    pub fn parse(args: Vec<Bytes>) -> Result<Command, CommandError> {
        let mut args = args.into_iter();
        let name = args.next().unwrap_or_default();
        let mut args = Args::new(args);
        let mut buf = [0; NAME_MAX];
        match Command::parse_named(lower_case(&name, &mut buf), &mut args) {
            Some(parsed) => parsed,
            None => Err(CommandError::Unknown { name, args: args.rest() }),
        }
    }
}

// What the table says: the rules `ACL CAT` and `+@category` read from it.

/// The full name of `sub` of the container `command` (any case) as the table spells it
/// (`pubsub|channels`), if it is served.
pub fn subcommand_name(command: &str, sub: &[u8]) -> Option<&'static str> {
    let wanted = format!("{}|{}", command, String::from_utf8_lossy(sub)).to_ascii_lowercase();
    COMMAND_TABLE.iter().map(|row| row.name).find(|name| *name == wanted)
}

/// Returns true if and only if a `+@category` rule covers the command Redis calls
/// `full_name`: the command is in the category, or is a subcommand of a container that is.
pub fn in_category(full_name: &str, category: &str) -> bool {
    let of = |name: &str| {
        command_row(name).is_some_and(|row| row.categories.split(' ').any(|c| c == category))
    };
    of(full_name) || full_name.split_once('|').is_some_and(|(parent, _)| of(parent))
}

/// The commands in `category` (`ACL CAT category`): those filed in it, in the table's order.
pub fn category_commands(category: &str) -> impl Iterator<Item = &'static str> + '_ {
    COMMAND_TABLE
        .iter()
        .filter(move |row| row.categories.split(' ').any(|c| c == category))
        .map(|row| row.name)
}

/// The row of the command or subcommand Redis calls `full_name` (lower case).
pub fn command_row(full_name: &str) -> Option<&'static Row> {
    COMMAND_TABLE.iter().find(|row| row.name == full_name)
}

/// The rows of the subcommands of the container `name` (`pubsub`), in the table's order.
pub fn subcommand_rows(name: &str) -> impl Iterator<Item = &'static Row> + '_ {
    COMMAND_TABLE
        .iter()
        .filter(move |row| row.name.split_once('|').is_some_and(|(parent, _)| parent == name))
}

#[cfg(test)]
mod tests;
