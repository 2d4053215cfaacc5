//! Questions about the server: INFO, DBSIZE, TIME, LASTSAVE (COMMAND is `introspection`'s).

use bytes::Bytes;

use super::args::{words, Args};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// A question about the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerCommand {
    /// ```text
    /// INFO [section ...]
    /// ```
    Info(Vec<Bytes>),
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
}

use ServerCommand as S;

impl Family for ServerCommand {
    const TABLE: &'static [Row] = &[
        Row::new("info", -1, "loading stale", "slow dangerous")
            .tips("nondeterministic_output request_policy:all_shards response_policy:special")
            .doc("1.0.0", "server", "Reports the server's state and statistics by section.", "O(1)")
            .args("section:string~om"),
        Row::new("dbsize", 1, "readonly fast", "keyspace read fast")
            .tips("request_policy:all_shards response_policy:agg_sum")
            .doc("1.0.0", "server", "Counts the keys of the database.", "O(1)"),
        Row::new("time", 1, "loading stale fast", "fast")
            .tips("nondeterministic_output")
            .doc("2.6.0", "server", "Returns the server's clock: seconds and microseconds.", "O(1)"),
        Row::new("lastsave", 1, "loading stale fast", "admin fast dangerous")
            .tips("nondeterministic_output")
            .doc("1.0.0", "server", "Returns when the data was last saved (here: when the server started).", "O(1)"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        let argc = args.len();
        let parsed = match name {
            b"info" => Ok(S::Info(args.rest())),
            b"dbsize" => args.need(argc == 0, "dbsize").map(|()| S::DbSize),
            b"time" => args.need(argc == 0, "time").map(|()| S::Time),
            b"lastsave" => args.need(argc == 0, "lastsave").map(|()| S::LastSave),
            _ => return None,
        };
        Some(parsed)
    }

    fn full_name(&self) -> &'static str {
        match self {
            S::Info(_) => "info",
            S::DbSize => "dbsize",
            S::Time => "time",
            S::LastSave => "lastsave",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            S::Info(sections) => words(&["INFO"], sections),
            S::DbSize => words(&["DBSIZE"], &[]),
            S::Time => words(&["TIME"], &[]),
            S::LastSave => words(&["LASTSAVE"], &[]),
        }
    }
}
