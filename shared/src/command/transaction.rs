//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use bytes::Bytes;

use super::args::{words, Args};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// A transaction command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionCommand {
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

use TransactionCommand as T;

impl Family for TransactionCommand {
    const TABLE: &'static [Row] = &[
        Row::new("multi", 1, "noscript loading stale fast allow_busy", "fast transaction")
            .doc("1.2.0", "transactions", "Starts a transaction: later commands are queued.", "O(1)"),
        Row::new("exec", 1, "noscript loading stale skip_slowlog", "slow transaction")
            .doc("1.2.0", "transactions", "Runs the queued commands of a transaction.", "The commands queued."),
        Row::new("discard", 1, "noscript loading stale fast allow_busy", "fast transaction")
            .doc("2.0.0", "transactions", "Drops the queued commands of a transaction.", "O(N), N commands queued."),
        Row::new("watch", -2, "noscript loading stale fast allow_busy", "fast transaction")
            .keys("RO", -1)
            .doc("2.2.0", "transactions", "Makes the next transaction depend on keys staying unchanged.", "O(1) per key.")
            .args("key:key%0~m"),
        Row::new("unwatch", 1, "noscript loading stale fast allow_busy", "fast transaction")
            .doc("2.2.0", "transactions", "Forgets the watched keys.", "O(1)"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        let argc = args.len();
        let parsed = match name {
            b"multi" => args.need(argc == 0, "multi").map(|()| T::Multi),
            b"exec" => args.need(argc == 0, "exec").map(|()| T::Exec),
            b"discard" => args.need(argc == 0, "discard").map(|()| T::Discard),
            b"watch" => args.need(argc >= 1, "watch").map(|()| T::Watch(args.rest())),
            b"unwatch" => args.need(argc == 0, "unwatch").map(|()| T::Unwatch),
            _ => return None,
        };
        Some(parsed)
    }

    fn full_name(&self) -> &'static str {
        match self {
            T::Multi => "multi",
            T::Exec => "exec",
            T::Discard => "discard",
            T::Watch(_) => "watch",
            T::Unwatch => "unwatch",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            T::Multi => words(&["MULTI"], &[]),
            T::Exec => words(&["EXEC"], &[]),
            T::Discard => words(&["DISCARD"], &[]),
            T::Watch(keys) => words(&["WATCH"], keys),
            T::Unwatch => words(&["UNWATCH"], &[]),
        }
    }

    fn is_queued_in_multi(&self) -> bool {
        matches!(self, T::Unwatch)
    }
}
