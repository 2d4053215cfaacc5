//! The trait every family of commands implements: everything about a command but its run.

use bytes::Bytes;

use super::args::Args;
use super::error::CommandError;
use super::table::Row;

/// What every family of commands tells about its commands. The server runs them; everything
/// else about a command is here.
pub trait Family: Sized {
    /// Every command of the family by its Redis full name (`pubsub|channels`): its row of the
    /// command table (arity, flags, ACL categories as Redis 7 files them, tips, keys, docs;
    /// what `COMMAND INFO`/`DOCS`, `ACL CAT` and `+@category` read). A container command
    /// (`pubsub`) has a row of its own, before its subcommands': a category rule that covers it
    /// covers every one of its subcommands too, as in Redis (`+@slow` allows `config|set`).
    const TABLE: &'static [Row];

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
