//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use bytes::Bytes;

use super::args::{words, Args};
use super::error::CommandError;
use super::family::Family;

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
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[
        ("multi", "fast transaction"),
        ("exec", "slow transaction"),
        ("discard", "fast transaction"),
        ("watch", "fast transaction"),
        ("unwatch", "fast transaction"),
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
