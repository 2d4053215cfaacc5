//! Questions about the server: COMMAND, INFO, DBSIZE, TIME, LASTSAVE.

use bytes::Bytes;

use super::args::{words, Args};
use super::error::CommandError;
use super::family::Family;

/// A question about the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerCommand {
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
    /// DBSIZE
    /// ```
    /// The keys of db 0 (the only database).
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
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[
        ("command", "slow connection"),
        ("info", "slow dangerous"),
        ("dbsize", "keyspace read fast"),
        ("time", "fast"),
        ("lastsave", "admin fast dangerous"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        let argc = args.len();
        let parsed = match name {
            b"command" => Ok(S::Command(args.next())),
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
            S::Command(_) => "command",
            S::Info(_) => "info",
            S::DbSize => "dbsize",
            S::Time => "time",
            S::LastSave => "lastsave",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            S::Command(sub) => words(&["COMMAND"], sub.as_slice()),
            S::Info(sections) => words(&["INFO"], sections),
            S::DbSize => words(&["DBSIZE"], &[]),
            S::Time => words(&["TIME"], &[]),
            S::LastSave => words(&["LASTSAVE"], &[]),
        }
    }
}
