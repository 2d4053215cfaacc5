//! Typed commands, parsed from a request's arguments.
//!
//! A command lives in its family's module (`connection`, `pubsub`, `client`, `acl`, `config`,
//! `server`, `transaction`): its syntax (a `text` block in its doc), its parse, its Redis full
//! name, its ACL categories, its rules (subscribed mode, MULTI, before authentication, the
//! channels it names) and its arguments back ([`Command::to_args`], for clients), all through
//! the [`Family`] trait. [`Command`] is one variant per family, made by the one list below:
//! a new family is a new module plus one line in that list. Arity and subcommand checks happen
//! here, so the server only ever sees well-formed commands.

mod args;
mod categories;
mod error;

pub use args::{
    is, lower_case, on_off, parse_db_index, parse_integer, words, Args, DATABASES, NAME_MAX,
};
pub use categories::{category_commands, in_category, is_category, subcommand_name, CATEGORIES};
pub use error::{subscribed_context_error, CommandError};

use bytes::Bytes;

/// What every family of commands tells about its commands. The server runs them; everything
/// else about a command is here.
pub trait Family: Sized {
    /// Every command of the family by its Redis full name (`pubsub|channels`), with its
    /// categories as Redis 7 files them (`COMMAND INFO`, `ACL CAT`), in `ACL CAT`'s order. A
    /// container command (`pubsub`) has a row of its own: a category rule that covers it covers
    /// every one of its subcommands too, as in Redis (`+@slow` allows `config|set`).
    const CATEGORIES: &'static [(&'static str, &'static str)];

    /// Parses the command named `name` (lower case) from its arguments: `None`, with `args`
    /// untouched, if and only if the name is not one of this family's.
    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>>;

    /// Redis's full name for this command, as its error replies and the ACL use it.
    fn full_name(&self) -> &'static str;

    /// The arguments that send this command (what a client writes with
    /// [`crate::resp::encode_command`]).
    fn to_args(&self) -> Vec<Bytes>;

    /// Returns true if and only if a RESP2 connection in subscribed mode may run this command.
    fn allowed_when_subscribed(&self) -> bool {
        false
    }

    /// Returns true if and only if, inside MULTI, this command is queued for EXEC rather than
    /// run at once.
    fn is_queued_in_multi(&self) -> bool {
        true
    }

    /// Returns true if and only if a connection may run this command before authenticating.
    fn allowed_before_auth(&self) -> bool {
        false
    }

    /// The channels (or, when the flag is true, the patterns) this command names, whose
    /// permissions the ACL checks.
    fn channels(&self) -> (&[Bytes], bool) {
        (&[], false)
    }
}

/// Declares the families: each line is a module, its type, and its variant of [`Command`].
/// Their order is the order names are looked up in and the order of [`COMMAND_CATEGORIES`].
macro_rules! families {
    ($($(#[$doc:meta])* $module:ident::$family:ident => $variant:ident,)*) => {
        $(pub mod $module;)*
        $(pub use $module::$family;)*

        /// A command of the pub/sub subset Switchboard serves, plus what real clients send on
        /// connect, by family.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Command {
            $($(#[$doc])* $variant($family),)*
        }

        $(impl From<$family> for Command {
            fn from(cmd: $family) -> Command {
                Command::$variant(cmd)
            }
        })*

        /// Every command served here, by the full name [`Command::full_name`] gives it, with
        /// its categories (see [`Family::CATEGORIES`]; a test compares them with
        /// redis-server's). `client|setinfo` and `client|no-touch` are Redis 7.2's.
        pub const COMMAND_CATEGORIES: &[(&str, &str)] =
            &categories::concat::<{ 0 $(+ $family::CATEGORIES.len())* }>(&[$($family::CATEGORIES),*]);

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
        }
    };
}

families! {
    /// PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT.
    connection::ConnectionCommand => Connection,
    /// (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH, PUBSUB.
    pubsub::PubsubCommand => Pubsub,
    /// CLIENT.
    client::ClientCommand => Client,
    /// ACL.
    acl::AclCommand => Acl,
    /// CONFIG.
    config::ConfigCommand => Config,
    /// COMMAND, INFO, DBSIZE, TIME, LASTSAVE.
    server::ServerCommand => Server,
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH.
    transaction::TransactionCommand => Transaction,
}

pub use client::ReplyMode;

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

#[cfg(test)]
mod tests;
