//! Commands on keys of any type: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, FLUSHALL, FLUSHDB,
//! EXPIRE, PEXPIRE, TTL, PTTL, PERSIST. (DBSIZE is the server family's.)

use bytes::Bytes;

use super::args::{is, parse_integer, words, Args};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// EXPIRE's condition (Redis 7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpireIf {
    /// Always.
    #[default]
    Always,
    /// NX: only a key with no expiry.
    NoExpiry,
    /// XX: only a key with an expiry.
    HasExpiry,
    /// GT: only later than the current expiry (none counts as infinite).
    Later,
    /// LT: only earlier than the current expiry (none counts as infinite).
    Earlier,
    /// XX LT: only a key with an expiry, to an earlier one.
    EarlierWithExpiry,
}

/// A command on keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeysCommand {
    /// ```text
    /// DEL key [key ...]
    /// ```
    Del(Vec<Bytes>),
    /// ```text
    /// UNLINK key [key ...]
    /// ```
    Unlink(Vec<Bytes>),
    /// ```text
    /// EXISTS key [key ...]
    /// ```
    Exists(Vec<Bytes>),
    /// ```text
    /// TYPE key
    /// ```
    Type(Vec<Bytes>),
    /// ```text
    /// KEYS pattern
    /// ```
    Keys(Bytes),
    /// ```text
    /// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
    /// ```
    Scan {
        /// Where to resume (0: from the start).
        cursor: u64,
        /// MATCH.
        pattern: Option<Bytes>,
        /// COUNT (default 10).
        count: u64,
        /// TYPE.
        kind: Option<Bytes>,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// FLUSHALL [ASYNC|SYNC]
    /// FLUSHDB [ASYNC|SYNC]
    /// ```
    /// Both empty the one database (db 0).
    Flush {
        /// FLUSHALL rather than FLUSHDB.
        all: bool,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// EXPIRE key seconds [NX|XX|GT|LT]
    /// PEXPIRE key milliseconds [NX|XX|GT|LT]
    /// ```
    Expire {
        /// The key (`keys()` gives it).
        key: Vec<Bytes>,
        /// The time from now, as sent (read when run: its bounds depend on the clock).
        amount: i64,
        /// PEXPIRE: milliseconds.
        millis: bool,
        /// The condition.
        when: ExpireIf,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// TTL key
    /// PTTL key
    /// ```
    Ttl {
        /// The key.
        key: Vec<Bytes>,
        /// PTTL: milliseconds.
        millis: bool,
    },
    /// ```text
    /// PERSIST key
    /// ```
    Persist(Vec<Bytes>),
}

use KeysCommand as K;

/// Reads a SCAN cursor as Redis's `strtoull` does: decimal digits, or `-` and digits (which
/// wrap around).
fn parse_cursor(arg: &[u8]) -> Result<u64, CommandError> {
    let (negative, digits) = match arg.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CommandError::InvalidCursor);
    }
    let n: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or(CommandError::InvalidCursor)?;
    Ok(if negative { n.wrapping_neg() } else { n })
}

fn parse_scan(sent: Vec<Bytes>) -> Result<KeysCommand, CommandError> {
    let cursor = parse_cursor(&sent[0])?;
    let (mut pattern, mut count, mut kind) = (None, 10, None);
    let mut rest = sent[1..].iter();
    while let Some(opt) = rest.next() {
        let Some(value) = rest.next() else { return Err(CommandError::Syntax) };
        if is(opt, "count") {
            let n = parse_integer(value).ok_or(CommandError::NotAnInteger)?;
            count = u64::try_from(n).ok().filter(|&n| n >= 1).ok_or(CommandError::Syntax)?;
        } else if is(opt, "match") {
            pattern = Some(value.clone());
        } else if is(opt, "type") {
            kind = Some(value.clone());
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(K::Scan { cursor, pattern, count, kind, sent })
}

fn parse_expire(sent: Vec<Bytes>, millis: bool) -> Result<KeysCommand, CommandError> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &sent[2..] {
        match opt {
            o if is(o, "nx") => nx = true,
            o if is(o, "xx") => xx = true,
            o if is(o, "gt") => gt = true,
            o if is(o, "lt") => lt = true,
            other => return Err(CommandError::UnsupportedOption(other.clone())),
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::ExpireConditions);
    }
    if gt && lt {
        return Err(CommandError::ExpireGtLt);
    }
    // GT never applies to a key without an expiry (infinite), so XX GT is GT.
    let when = match (nx, xx, gt, lt) {
        (true, ..) => ExpireIf::NoExpiry,
        (_, _, true, _) => ExpireIf::Later,
        (_, true, _, true) => ExpireIf::EarlierWithExpiry,
        (_, _, _, true) => ExpireIf::Earlier,
        (_, true, ..) => ExpireIf::HasExpiry,
        _ => ExpireIf::Always,
    };
    let amount = parse_integer(&sent[1]).ok_or(CommandError::NotAnInteger)?;
    Ok(K::Expire { key: vec![sent[0].clone()], amount, millis, when, sent })
}

impl Family for KeysCommand {
    #[rustfmt::skip]
    const TABLE: &'static [Row] = &[
        Row::new("del", -2, "write", "keyspace write slow")
            .tips("request_policy:multi_shard response_policy:agg_sum")
            .keys("RM delete", -1)
            .doc("1.0.0", "generic", "Removes keys; counts those that existed.", "O(N) for N keys, plus each value's size.")
            .args("key:key%0~m"),
        Row::new("unlink", -2, "write fast", "keyspace write fast")
            .tips("request_policy:multi_shard response_policy:agg_sum")
            .keys("RM delete", -1)
            .doc("4.0.0", "generic", "Removes keys, as DEL does here; counts those that existed.", "O(1) per key.")
            .args("key:key%0~m"),
        Row::new("exists", -2, "readonly fast", "keyspace read fast")
            .tips("request_policy:multi_shard response_policy:agg_sum")
            .keys("RO", -1)
            .doc("1.0.0", "generic", "Counts the keys given that exist, repeats included.", "O(N) for N keys.")
            .args("key:key%0~m"),
        Row::new("type", 2, "readonly fast", "keyspace read fast")
            .keys("RO", 0)
            .doc("1.0.0", "generic", "Names the type of a key's value, or none.", "O(1)")
            .args("key:key%0"),
        Row::new("keys", 2, "readonly", "keyspace read slow dangerous")
            .tips("request_policy:all_shards nondeterministic_output_order")
            .doc("1.0.0", "generic", "Lists every key matching a glob pattern.", "O(N), N keys in the database.")
            .args("pattern:pattern"),
        Row::new("scan", -2, "readonly", "keyspace read slow")
            .tips("nondeterministic_output request_policy:special")
            .doc("2.8.0", "generic", "Walks the keys a few at a time from a cursor.", "O(1) per call, O(N) for a whole walk.")
            .args("cursor:integer pattern:pattern=MATCH~o count:integer=COUNT~o type:string=TYPE~o#6.0.0"),
        Row::new("flushall", -1, "write", "keyspace write slow dangerous")
            .tips("request_policy:all_shards response_policy:all_succeeded")
            .doc("1.0.0", "server", "Removes every key.", "O(N), N keys.")
            .args("async:oneof~o{async:pure-token=ASYNC#4.0.0 sync:pure-token=SYNC#6.2.0}"),
        Row::new("flushdb", -1, "write", "keyspace write slow dangerous")
            .tips("request_policy:all_shards response_policy:all_succeeded")
            .doc("1.0.0", "server", "Removes every key of the database (db 0, the only one).", "O(N), N keys.")
            .args("async:oneof~o{async:pure-token=ASYNC#4.0.0 sync:pure-token=SYNC#6.2.0}"),
        Row::new("expire", -3, "write fast", "keyspace write fast")
            .keys("RW update", 0)
            .doc("1.0.0", "generic", "Sets a key to expire in a number of seconds.", "O(1)")
            .args("key:key%0 seconds:integer condition:oneof~o#7.0.0{nx:pure-token=NX xx:pure-token=XX gt:pure-token=GT lt:pure-token=LT}"),
        Row::new("pexpire", -3, "write fast", "keyspace write fast")
            .keys("RW update", 0)
            .doc("2.6.0", "generic", "Sets a key to expire in a number of milliseconds.", "O(1)")
            .args("key:key%0 milliseconds:integer condition:oneof~o#7.0.0{nx:pure-token=NX xx:pure-token=XX gt:pure-token=GT lt:pure-token=LT}"),
        Row::new("ttl", 2, "readonly fast", "keyspace read fast")
            .tips("nondeterministic_output")
            .keys("RO access", 0)
            .doc("1.0.0", "generic", "The seconds left before a key expires.", "O(1)")
            .args("key:key%0"),
        Row::new("pttl", 2, "readonly fast", "keyspace read fast")
            .tips("nondeterministic_output")
            .keys("RO access", 0)
            .doc("2.6.0", "generic", "The milliseconds left before a key expires.", "O(1)")
            .args("key:key%0"),
        Row::new("persist", 2, "write fast", "keyspace write fast")
            .keys("RW update", 0)
            .doc("2.2.0", "generic", "Makes a key stop expiring.", "O(1)")
            .args("key:key%0"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        let argc = args.len();
        let flush = |all: bool, sent: Vec<Bytes>| match &sent[..] {
            [] => Ok(K::Flush { all, sent }),
            [mode] if is(mode, "async") || is(mode, "sync") => Ok(K::Flush { all, sent }),
            _ => Err(CommandError::Syntax),
        };
        let parsed = match name {
            b"del" => args.need(argc >= 1, "del").map(|()| K::Del(args.rest())),
            b"unlink" => args.need(argc >= 1, "unlink").map(|()| K::Unlink(args.rest())),
            b"exists" => args.need(argc >= 1, "exists").map(|()| K::Exists(args.rest())),
            b"type" => args.need(argc == 1, "type").map(|()| K::Type(args.rest())),
            b"keys" => args.need(argc == 1, "keys").map(|()| K::Keys(args.take())),
            b"scan" => args.need(argc >= 1, "scan").and_then(|()| parse_scan(args.rest())),
            b"flushall" => flush(true, args.rest()),
            b"flushdb" => flush(false, args.rest()),
            b"expire" => {
                args.need(argc >= 2, "expire").and_then(|()| parse_expire(args.rest(), false))
            }
            b"pexpire" => {
                args.need(argc >= 2, "pexpire").and_then(|()| parse_expire(args.rest(), true))
            }
            b"ttl" => args.need(argc == 1, "ttl").map(|()| K::Ttl { key: args.rest(), millis: false }),
            b"pttl" => {
                args.need(argc == 1, "pttl").map(|()| K::Ttl { key: args.rest(), millis: true })
            }
            b"persist" => args.need(argc == 1, "persist").map(|()| K::Persist(args.rest())),
            _ => return None,
        };
        Some(parsed)
    }

    fn full_name(&self) -> &'static str {
        match self {
            K::Del(_) => "del",
            K::Unlink(_) => "unlink",
            K::Exists(_) => "exists",
            K::Type(_) => "type",
            K::Keys(_) => "keys",
            K::Scan { .. } => "scan",
            K::Flush { all: true, .. } => "flushall",
            K::Flush { all: false, .. } => "flushdb",
            K::Expire { millis: false, .. } => "expire",
            K::Expire { millis: true, .. } => "pexpire",
            K::Ttl { millis: false, .. } => "ttl",
            K::Ttl { millis: true, .. } => "pttl",
            K::Persist(_) => "persist",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            K::Del(keys) => words(&["DEL"], keys),
            K::Unlink(keys) => words(&["UNLINK"], keys),
            K::Exists(keys) => words(&["EXISTS"], keys),
            K::Type(key) => words(&["TYPE"], key),
            K::Keys(pattern) => words(&["KEYS"], std::slice::from_ref(pattern)),
            K::Scan { sent, .. } => words(&["SCAN"], sent),
            K::Flush { all: true, sent } => words(&["FLUSHALL"], sent),
            K::Flush { all: false, sent } => words(&["FLUSHDB"], sent),
            K::Expire { millis: false, sent, .. } => words(&["EXPIRE"], sent),
            K::Expire { millis: true, sent, .. } => words(&["PEXPIRE"], sent),
            K::Ttl { key, millis: false } => words(&["TTL"], key),
            K::Ttl { key, millis: true } => words(&["PTTL"], key),
            K::Persist(key) => words(&["PERSIST"], key),
        }
    }

    fn keys(&self) -> &[Bytes] {
        match self {
            K::Del(keys) | K::Unlink(keys) | K::Exists(keys) | K::Type(keys) => keys,
            K::Expire { key, .. } | K::Ttl { key, .. } | K::Persist(key) => key,
            K::Keys(_) | K::Scan { .. } | K::Flush { .. } => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::Command;
    use super::*;

    #[test]
    fn key_commands_parse_back_and_refuse_as_redis() {
        for words in [
            &["DEL", "a", "b"][..],
            &["UNLINK", "a"],
            &["EXISTS", "a", "a"],
            &["TYPE", "a"],
            &["KEYS", "*"],
            &["SCAN", "0", "MATCH", "a*", "COUNT", "5", "TYPE", "stream"],
            &["FLUSHALL", "ASYNC"],
            &["FLUSHDB"],
            &["EXPIRE", "a", "10", "NX"],
            &["PEXPIRE", "a", "10"],
            &["TTL", "a"],
            &["PTTL", "a"],
            &["PERSIST", "a"],
        ] {
            let cmd = parse(words).unwrap();
            assert_eq!(Command::parse(cmd.to_args()).unwrap(), cmd, "{words:?}");
        }
        let err = |w: &[&str]| parse(w).unwrap_err().to_string();
        assert_eq!(err(&["scan", "x"]), "ERR invalid cursor");
        assert_eq!(err(&["scan", "0", "count", "0"]), "ERR syntax error");
        assert_eq!(err(&["scan", "0", "match"]), "ERR syntax error");
        assert_eq!(err(&["expire", "k", "1", "nx", "gt"]), CommandError::ExpireConditions.to_string());
        assert_eq!(err(&["expire", "k", "1", "gt", "lt"]), CommandError::ExpireGtLt.to_string());
        assert_eq!(err(&["expire", "k", "1", "foo"]), "ERR Unsupported option foo");
        assert_eq!(err(&["expire", "k", "x"]), "ERR value is not an integer or out of range");
        assert_eq!(err(&["flushall", "foo"]), "ERR syntax error");
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
    }
}
