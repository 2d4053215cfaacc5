//! Streams: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID, XINFO STREAM and HELP, and
//! XREAD without BLOCK. Stream ids and the trimming options are read here, in Redis 7.0's
//! order; what Redis reads only after looking its key up (XDEL's and XREAD's ids, XINFO
//! STREAM's options) is kept as sent and read by the server with [`parse_strict_id`] and
//! [`parse_info_options`], so that a missing key or a key of another type answers first.

use std::fmt;

use bytes::Bytes;

use super::args::{is, parse_integer, words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// A stream entry's id, `ms-seq`: ordered by milliseconds, then sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// The milliseconds part.
    pub ms: u64,
    /// The sequence number within the millisecond.
    pub seq: u64,
}

impl StreamId {
    /// The smallest id, `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id.
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    /// The id right after this one, if there is one.
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    /// The id right before this one, if there is one.
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_sub(1).map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A number as Redis's `string2ull` reads an id's part: decimal digits (leading zeros allowed),
/// at most `u64::MAX`.
fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Reads `ms` or `ms-seq`; a missing sequence is `missing_seq`. `ms-*` is `Err` here.
fn parse_id_parts(arg: &[u8], missing_seq: u64) -> Result<StreamId, CommandError> {
    let (ms, seq) = match arg.iter().position(|&c| c == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms).ok_or(CommandError::InvalidStreamId)?;
    let seq = match seq {
        Some(seq) => parse_u64(seq).ok_or(CommandError::InvalidStreamId)?,
        None => missing_seq,
    };
    Ok(StreamId { ms, seq })
}

/// An id as Redis's strict reading takes it (XDEL, XREAD, XSETID, MINID): `ms-seq`, or `ms`
/// meaning `ms-0`; never `-`, `+` or `*`.
pub fn parse_strict_id(arg: &[u8]) -> Result<StreamId, CommandError> {
    parse_id_parts(arg, 0)
}

/// The id XADD is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddId {
    /// `*`: from the clock.
    Auto,
    /// `ms-*`: this millisecond, the next sequence.
    AutoSeq(u64),
    /// `ms-seq` or `ms` (`ms-0`).
    Explicit(StreamId),
}

impl AddId {
    fn parse(arg: &[u8]) -> Result<AddId, CommandError> {
        if arg == b"*" {
            return Ok(AddId::Auto);
        }
        if let Some(ms) = arg.strip_suffix(b"-*") {
            return parse_u64(ms).map(AddId::AutoSeq).ok_or(CommandError::InvalidStreamId);
        }
        parse_id_parts(arg, 0).map(AddId::Explicit)
    }
}

/// Where trimming stops: a length or a smallest id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimTo {
    /// `MAXLEN n`: keep the last `n` entries.
    MaxLen(u64),
    /// `MINID id`: drop the entries below `id`.
    MinId(StreamId),
}

/// XADD's and XTRIM's trimming options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trim {
    /// The threshold.
    pub to: TrimTo,
    /// `~`: only whole nodes go, so more may stay.
    pub approx: bool,
    /// The most entries one trim removes (0: no bound); `LIMIT`, or with `~` Redis's default
    /// of 100 nodes' worth.
    pub limit: u64,
}

/// The entries a node holds in Redis's default configuration (`stream-node-max-entries`).
pub const NODE_MAX_ENTRIES: u64 = 100;

/// An end of an XRANGE interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeEnd {
    /// The id (an incomplete `ms` completed for its end).
    pub id: StreamId,
    /// `(`: the id itself is outside.
    pub exclusive: bool,
}

/// The id an XREAD key is read after, as sent (read by [`parse_read_id`] once the key was
/// looked up, as Redis does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    /// `$`: what is added from now on (nothing, without BLOCK).
    New,
    /// `+`: the last entry.
    Last,
    /// After this id.
    After(StreamId),
}

/// Reads an XREAD id: `$`, `+`, or a strict id.
pub fn parse_read_id(arg: &[u8]) -> Result<ReadFrom, CommandError> {
    match arg {
        b"$" => Ok(ReadFrom::New),
        b"+" => Ok(ReadFrom::Last),
        _ => parse_strict_id(arg).map(ReadFrom::After),
    }
}

/// Reads XINFO STREAM's options after its key: nothing, or `FULL [COUNT n]`. The count is
/// `None` without FULL, and 0 means every entry.
pub fn parse_info_options(sub: &Bytes, options: &[Bytes]) -> Result<Option<u64>, CommandError> {
    let syntax = || CommandError::SubcommandSyntax { command: "XINFO", sub: sub.clone() };
    match options {
        [] => Ok(None),
        [full] if is(full, "full") => Ok(Some(10)),
        [full, count, n] if is(full, "full") && is(count, "count") => {
            let n = parse_integer(n).ok_or(CommandError::NotAnInteger)?;
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        }
        _ => Err(syntax()),
    }
}

/// A stream command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamCommand {
    /// ```text
    /// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
    /// ```
    Add {
        /// The stream.
        key: Bytes,
        /// NOMKSTREAM: do not create a missing stream.
        no_mkstream: bool,
        /// The trimming after the append.
        trim: Option<Trim>,
        /// The new entry's id.
        id: AddId,
        /// Field, value, field, value...
        fields: Vec<Bytes>,
        /// The arguments as sent (for `to_args`).
        sent: Vec<Bytes>,
    },
    /// ```text
    /// XLEN key
    /// ```
    Len(Bytes),
    /// ```text
    /// XRANGE key start end [COUNT count]
    /// XREVRANGE key end start [COUNT count]
    /// ```
    Range {
        /// The stream.
        key: Bytes,
        /// The low end.
        start: RangeEnd,
        /// The high end.
        end: RangeEnd,
        /// At most this many entries (a negative count gives none).
        count: Option<i64>,
        /// XREVRANGE: highest first.
        rev: bool,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// XDEL key id [id ...]
    /// ```
    Del {
        /// The stream.
        key: Bytes,
        /// The ids, as sent.
        ids: Vec<Bytes>,
    },
    /// ```text
    /// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
    /// ```
    TrimCmd {
        /// The stream.
        key: Bytes,
        /// How far.
        trim: Trim,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
    /// ```
    SetId {
        /// The stream.
        key: Bytes,
        /// The new last id.
        id: StreamId,
        /// ENTRIESADDED.
        entries_added: Option<u64>,
        /// MAXDELETEDID.
        max_deleted: Option<StreamId>,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// XINFO STREAM key [FULL [COUNT count]]
    /// ```
    InfoStream {
        /// The subcommand as sent (Redis's errors quote it).
        sub: Bytes,
        /// The stream.
        key: Bytes,
        /// The options after it, as sent ([`parse_info_options`]).
        options: Vec<Bytes>,
    },
    /// ```text
    /// XINFO HELP
    /// ```
    InfoHelp,
    /// ```text
    /// XINFO GROUPS key
    /// ```
    InfoGroups(Bytes),
    /// ```text
    /// XINFO CONSUMERS key group
    /// ```
    InfoConsumers {
        /// The stream.
        key: Bytes,
        /// The group.
        group: Bytes,
    },
    /// ```text
    /// XREAD [COUNT count] STREAMS key [key ...] id [id ...]
    /// ```
    /// BLOCK is refused for now.
    Read {
        /// At most this many entries per stream (0 or negative: all).
        count: Option<i64>,
        /// The streams.
        keys: Vec<Bytes>,
        /// Their ids, as sent ([`parse_read_id`]).
        ids: Vec<Bytes>,
        /// BLOCK was given (refused when run).
        block: bool,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
    /// XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
    /// XGROUP DESTROY key group
    /// XGROUP CREATECONSUMER|DELCONSUMER key group consumer
    /// ```
    Group {
        /// The subcommand as sent (Redis's errors quote it).
        sub: Bytes,
        /// The stream.
        key: Bytes,
        /// The group.
        group: Bytes,
        /// What to do.
        op: GroupOp,
        /// ENTRIESREAD (`None`: -1, unknown).
        entries_read: Option<u64>,
        /// The options read but their count is not one Redis takes: a syntax error, which
        /// Redis gives only after looking the key and group up.
        late_syntax: bool,
        /// The arguments after the subcommand, as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// XGROUP HELP
    /// ```
    GroupHelp,
    /// ```text
    /// XREADGROUP GROUP group consumer [COUNT count] [NOACK] STREAMS key [key ...] id [id ...]
    /// ```
    /// BLOCK is refused for now.
    ReadGroup {
        /// The group.
        group: Bytes,
        /// The consumer.
        consumer: Bytes,
        /// At most this many entries per stream (0 or negative: all).
        count: Option<i64>,
        /// NOACK: the entries read are not pending.
        noack: bool,
        /// The streams.
        keys: Vec<Bytes>,
        /// Their ids, as sent (`>` or a strict id).
        ids: Vec<Bytes>,
        /// BLOCK was given (refused when run).
        block: bool,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n]
    ///     [FORCE] [JUSTID] [LASTID id]
    /// ```
    Claim {
        /// The stream.
        key: Bytes,
        /// The group.
        group: Bytes,
        /// The consumer that claims.
        consumer: Bytes,
        /// The rest, as sent ([`parse_claim`]).
        rest: Vec<Bytes>,
    },
    /// ```text
    /// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
    /// ```
    AutoClaim {
        /// The stream.
        key: Bytes,
        /// The group.
        group: Bytes,
        /// The consumer that claims.
        consumer: Bytes,
        /// Only entries delivered at least this long ago (ms).
        min_idle: u64,
        /// The lowest id looked at.
        start: StreamId,
        /// At most this many entries claimed or dropped (ten times as many looked at).
        count: u64,
        /// JUSTID: ids only, delivery counts left as they are.
        just_id: bool,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
    /// ```text
    /// XACK key group id [id ...]
    /// ```
    Ack {
        /// The stream.
        key: Bytes,
        /// The group.
        group: Bytes,
        /// The ids, as sent (read once the key and group were found, as Redis does).
        ids: Vec<Bytes>,
    },
    /// ```text
    /// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
    /// ```
    Pending {
        /// The stream.
        key: Bytes,
        /// The group.
        group: Bytes,
        /// The extended form's options; `None` for the summary.
        range: Option<PendingRange>,
        /// The arguments as sent.
        sent: Vec<Bytes>,
    },
}

/// XCLAIM's ids and options, read by [`parse_claim`] once the key and group were found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Only entries delivered at least this long ago (ms).
    pub min_idle: u64,
    /// The entries to claim.
    pub ids: Vec<StreamId>,
    /// IDLE (`Ok`: ms ago) or TIME (`Err`: a Unix time in ms), if given.
    pub delivery: Option<Result<i64, i64>>,
    /// RETRYCOUNT, if given.
    pub retry_count: Option<i64>,
    /// FORCE: claim an entry of the stream that no one holds.
    pub force: bool,
    /// JUSTID: reply with ids only, and leave delivery counts as they are.
    pub just_id: bool,
    /// LASTID: the group's last id moves up to it.
    pub last_id: StreamId,
}

/// Reads XCLAIM's arguments after the consumer (`min-idle-time id ... [options]`) as Redis
/// does: ids as long as they read as ids, then options.
pub fn parse_claim(args: &[Bytes]) -> Result<Claim, CommandError> {
    let min_idle = parse_integer(&args[0]).ok_or(CommandError::ClaimMinIdle)?.max(0) as u64;
    let mut ids = Vec::new();
    let mut i = 1;
    while let Some(Ok(id)) = args.get(i).map(|a| parse_strict_id(a)) {
        ids.push(id);
        i += 1;
    }
    let mut claim = Claim {
        min_idle,
        ids,
        delivery: None,
        retry_count: None,
        force: false,
        just_id: false,
        last_id: StreamId::MIN,
    };
    while i < args.len() {
        let more = i + 1 < args.len();
        let opt = &args[i][..];
        let int = |e| parse_integer(&args[i + 1]).ok_or(e);
        if is(opt, "force") {
            claim.force = true;
        } else if is(opt, "justid") {
            claim.just_id = true;
        } else if is(opt, "idle") && more {
            claim.delivery = Some(Ok(int(CommandError::ClaimIdle)?));
            i += 1;
        } else if is(opt, "time") && more {
            claim.delivery = Some(Err(int(CommandError::ClaimTime)?));
            i += 1;
        } else if is(opt, "retrycount") && more {
            claim.retry_count = Some(int(CommandError::ClaimRetryCount)?);
            i += 1;
        } else if is(opt, "lastid") && more {
            claim.last_id = parse_strict_id(&args[i + 1])?;
            i += 1;
        } else {
            return Err(CommandError::UnrecognizedClaimOption(args[i].clone()));
        }
        i += 1;
    }
    Ok(claim)
}

fn parse_xautoclaim(sent: Vec<Bytes>) -> Result<StreamCommand, CommandError> {
    let min_idle = parse_integer(&sent[3]).ok_or(CommandError::AutoClaimMinIdle)?.max(0) as u64;
    let start = parse_range_end(&sent[4], 0)?;
    let start = match start.exclusive {
        true => start.id.next().ok_or(CommandError::BadIntervalStart)?,
        false => start.id,
    };
    let (mut count, mut just_id) = (100, false);
    let mut i = 5;
    while i < sent.len() {
        if is(&sent[i], "count") && i + 1 < sent.len() {
            count = parse_integer(&sent[i + 1])
                .filter(|n| (1..=i64::MAX / 16).contains(n))
                .ok_or(CommandError::AutoClaimCount)? as u64;
            i += 1;
        } else if is(&sent[i], "justid") {
            just_id = true;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    let (key, group, consumer) = (sent[0].clone(), sent[1].clone(), sent[2].clone());
    Ok(X::AutoClaim { key, group, consumer, min_idle, start, count, just_id, sent })
}

/// XPENDING's extended form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRange {
    /// IDLE: only entries delivered at least this long ago (ms).
    pub min_idle: i64,
    /// The lowest id (inclusive).
    pub start: StreamId,
    /// The highest id (inclusive); below `start` when the range is empty.
    pub end: StreamId,
    /// At most this many entries.
    pub count: u64,
    /// Only this consumer's entries.
    pub consumer: Option<Bytes>,
}

/// An XGROUP subcommand's own part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupOp {
    /// CREATE, from `id` as sent (`$` or a strict id, read once the key was looked up).
    Create {
        /// The group's last id, as sent.
        id: Bytes,
        /// MKSTREAM: make a missing stream.
        mkstream: bool,
    },
    /// SETID, to `id` as sent (`$`, or an id where `-` and `+` are the ends).
    SetId(Bytes),
    /// DESTROY.
    Destroy,
    /// CREATECONSUMER of this consumer.
    CreateConsumer(Bytes),
    /// DELCONSUMER of this consumer.
    DelConsumer(Bytes),
}

/// Reads an id as Redis's non-strict reading takes it (XGROUP SETID, XPENDING): `-` and `+`
/// are the ends, else as [`parse_strict_id`].
pub fn parse_loose_id(arg: &[u8]) -> Result<StreamId, CommandError> {
    match arg {
        b"-" => Ok(StreamId::MIN),
        b"+" => Ok(StreamId::MAX),
        _ => parse_strict_id(arg),
    }
}

use StreamCommand as X;

/// Reads a non-negative integer option (`MAXLEN`, `LIMIT`), with its own error.
fn non_negative(arg: &[u8], negative: CommandError) -> Result<u64, CommandError> {
    let n = parse_integer(arg).ok_or(CommandError::NotAnInteger)?;
    u64::try_from(n).map_err(|_| negative)
}

/// Reads the trimming options (and, for XADD, NOMKSTREAM) from `args[i..]` in Redis 7.0's
/// order; returns them and where the id is (XADD) or `args.len()` (XTRIM).
fn parse_trim(
    args: &[Bytes],
    xadd: bool,
) -> Result<(Option<Trim>, bool, usize), CommandError> {
    let (mut to, mut approx, mut limit, mut no_mkstream) = (None, false, None, false);
    let mut i = 0;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if to.is_some() {
                return Err(CommandError::TrimBoth);
            }
            let next = &args[i + 1][..];
            if (next == b"~" || next == b"=") && more >= 2 {
                approx = next == b"~";
                i += 1;
            }
            let threshold = &args[i + 1][..];
            to = Some(if is(opt, "maxlen") {
                TrimTo::MaxLen(non_negative(threshold, CommandError::MaxLenNegative)?)
            } else {
                TrimTo::MinId(parse_strict_id(threshold)?)
            });
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            limit = Some(non_negative(&args[i + 1], CommandError::LimitNegative)?);
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            no_mkstream = true;
        } else if xadd {
            break;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    let limit = match (approx, limit) {
        (false, Some(_)) => return Err(CommandError::LimitWithoutApprox),
        (false, None) => 0,
        (true, limit) => limit.unwrap_or(100 * NODE_MAX_ENTRIES),
    };
    Ok((to.map(|to| Trim { to, approx, limit }), no_mkstream, i))
}

/// Reads an XRANGE end: `-`, `+`, `(id`, `id` or `ms` (completed by `missing_seq`).
fn parse_range_end(arg: &[u8], missing_seq: u64) -> Result<RangeEnd, CommandError> {
    let (exclusive, arg) = match arg.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    let id = match arg {
        b"-" if !exclusive => StreamId::MIN,
        b"+" if !exclusive => StreamId::MAX,
        _ => parse_id_parts(arg, missing_seq)?,
    };
    Ok(RangeEnd { id, exclusive })
}

fn parse_xadd(sent: Vec<Bytes>) -> Result<StreamCommand, CommandError> {
    let key = sent[0].clone();
    let (trim, no_mkstream, at) = parse_trim(&sent[1..], true)?;
    let at = at + 1;
    let Some(id) = sent.get(at) else { return Err(CommandError::Arity("xadd")) };
    let id = AddId::parse(id)?;
    let fields = sent[at + 1..].to_vec();
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(CommandError::Arity("xadd"));
    }
    if id == AddId::Explicit(StreamId::MIN) {
        return Err(CommandError::XaddIdZero);
    }
    Ok(X::Add { key, no_mkstream, trim, id, fields, sent })
}

fn parse_xrange(sent: Vec<Bytes>, rev: bool) -> Result<StreamCommand, CommandError> {
    let (low, high) = if rev { (&sent[2], &sent[1]) } else { (&sent[1], &sent[2]) };
    let start = parse_range_end(low, 0)?;
    let end = parse_range_end(high, u64::MAX)?;
    let count = match &sent[3..] {
        [] => None,
        [word, n] if is(word, "count") => {
            Some(parse_integer(n).ok_or(CommandError::NotAnInteger)?)
        }
        _ => return Err(CommandError::Syntax),
    };
    if start.exclusive && start.id == StreamId::MAX {
        return Err(CommandError::BadIntervalStart);
    }
    if end.exclusive && end.id == StreamId::MIN {
        return Err(CommandError::BadIntervalEnd);
    }
    Ok(X::Range { key: sent[0].clone(), start, end, count, rev, sent })
}

fn parse_xsetid(sent: Vec<Bytes>) -> Result<StreamCommand, CommandError> {
    let id = parse_strict_id(&sent[1])?;
    let (mut entries_added, mut max_deleted) = (None, None);
    let mut rest = sent[2..].iter();
    while let Some(opt) = rest.next() {
        let value = rest.next();
        match value {
            Some(n) if is(opt, "entriesadded") => {
                let n = parse_integer(n).ok_or(CommandError::NotAnInteger)?;
                let n = u64::try_from(n).map_err(|_| CommandError::EntriesAddedNegative)?;
                entries_added = Some(n);
            }
            Some(v) if is(opt, "maxdeletedid") => {
                let max = parse_strict_id(v)?;
                if id < max {
                    return Err(CommandError::XsetidBelowMaxDeleted);
                }
                max_deleted = Some(max);
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(X::SetId { key: sent[0].clone(), id, entries_added, max_deleted, sent })
}

fn parse_xread(sent: Vec<Bytes>) -> Result<StreamCommand, CommandError> {
    let (mut count, mut block) = (None, false);
    let mut i = 0;
    while i < sent.len() {
        let more = sent.len() - 1 - i;
        let opt = &sent[i][..];
        if is(opt, "count") && more > 0 {
            count = Some(parse_integer(&sent[i + 1]).ok_or(CommandError::NotAnInteger)?);
            i += 2;
        } else if is(opt, "block") && more > 0 {
            let ms = parse_integer(&sent[i + 1]).ok_or(CommandError::TimeoutNotInteger)?;
            if ms < 0 {
                return Err(CommandError::TimeoutNegative);
            }
            block = true;
            i += 2;
        } else if is(opt, "streams") && more > 0 {
            let rest = &sent[i + 1..];
            if rest.len() % 2 == 1 {
                return Err(CommandError::UnbalancedXread);
            }
            let (keys, ids) = rest.split_at(rest.len() / 2);
            let (keys, ids) = (keys.to_vec(), ids.to_vec());
            return Ok(X::Read { count, keys, ids, block, sent });
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Err(CommandError::Syntax)
}

fn parse_xreadgroup(sent: Vec<Bytes>) -> Result<StreamCommand, CommandError> {
    let (mut count, mut block, mut noack, mut names) = (None, false, false, None);
    let mut i = 0;
    while i < sent.len() {
        let more = sent.len() - 1 - i;
        let opt = &sent[i][..];
        if is(opt, "block") && more > 0 {
            let ms = parse_integer(&sent[i + 1]).ok_or(CommandError::TimeoutNotInteger)?;
            if ms < 0 {
                return Err(CommandError::TimeoutNegative);
            }
            block = true;
            i += 2;
        } else if is(opt, "count") && more > 0 {
            count = Some(parse_integer(&sent[i + 1]).ok_or(CommandError::NotAnInteger)?);
            i += 2;
        } else if is(opt, "streams") && more > 0 {
            let rest = &sent[i + 1..];
            if rest.len() % 2 == 1 {
                return Err(CommandError::UnbalancedXread);
            }
            let Some((group, consumer)) = names else { return Err(CommandError::MissingGroup) };
            let (keys, ids) = rest.split_at(rest.len() / 2);
            let (keys, ids) = (keys.to_vec(), ids.to_vec());
            return Ok(X::ReadGroup { group, consumer, count, noack, keys, ids, block, sent });
        } else if is(opt, "group") && more >= 2 {
            names = Some((sent[i + 1].clone(), sent[i + 2].clone()));
            i += 3;
        } else if is(opt, "noack") {
            noack = true;
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Err(CommandError::Syntax)
}

fn parse_xpending(sent: Vec<Bytes>) -> Result<StreamCommand, CommandError> {
    let (key, group) = (sent[0].clone(), sent[1].clone());
    let argc = sent.len() + 1;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CommandError::Syntax);
    }
    let range = if argc >= 6 {
        let (mut at, mut min_idle) = (2, 0);
        if is(&sent[2], "idle") {
            min_idle = parse_integer(&sent[3]).ok_or(CommandError::NotAnInteger)?;
            if argc < 8 {
                return Err(CommandError::Syntax);
            }
            at += 2;
        }
        let count = parse_integer(&sent[at + 2]).ok_or(CommandError::NotAnInteger)?;
        let start = parse_range_end(&sent[at], 0)?;
        let start = match start.exclusive {
            true => start.id.next().ok_or(CommandError::BadIntervalStart)?,
            false => start.id,
        };
        let end = parse_range_end(&sent[at + 1], u64::MAX)?;
        let end = match end.exclusive {
            true => end.id.prev().ok_or(CommandError::BadIntervalEnd)?,
            false => end.id,
        };
        let consumer = sent.get(at + 3).cloned();
        Some(PendingRange { min_idle, start, end, count: count.max(0) as u64, consumer })
    } else {
        None
    };
    Ok(X::Pending { key, group, range, sent })
}

/// Reads XGROUP's subcommands but HELP; `sent` is what follows the subcommand.
fn parse_xgroup(sub: Bytes, lower: &[u8], sent: Vec<Bytes>) -> Result<StreamCommand, CommandError> {
    let (key, group) = (sent[0].clone(), sent[1].clone());
    let (mut mkstream, mut entries_read) = (false, None);
    let create = lower == b"create";
    if create || lower == b"setid" {
        let mut i = 3;
        while i < sent.len() {
            if create && is(&sent[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if is(&sent[i], "entriesread") && i + 1 < sent.len() {
                let n = parse_integer(&sent[i + 1]).ok_or(CommandError::NotAnInteger)?;
                if n < -1 {
                    return Err(CommandError::EntriesReadNegative);
                }
                entries_read = u64::try_from(n).ok();
                i += 2;
            } else {
                return Err(CommandError::SubcommandSyntax { command: "XGROUP", sub });
            }
        }
    }
    let late_syntax = match lower {
        b"create" => !(3..=6).contains(&sent.len()),
        b"setid" => sent.len() != 3 && sent.len() != 5,
        _ => false,
    };
    let op = match lower {
        b"create" => GroupOp::Create { id: sent[2].clone(), mkstream },
        b"setid" => GroupOp::SetId(sent[2].clone()),
        b"destroy" => GroupOp::Destroy,
        b"createconsumer" => GroupOp::CreateConsumer(sent[2].clone()),
        _ => GroupOp::DelConsumer(sent[2].clone()),
    };
    Ok(X::Group { sub, key, group, op, entries_read, late_syntax, sent })
}

impl Family for StreamCommand {
    #[rustfmt::skip]
    const TABLE: &'static [Row] = &[
        Row::new("xadd", -5, "write denyoom fast", "write stream fast")
            .tips("nondeterministic_output")
            .keys("RW update", 0)
            .key_notes("UPDATE instead of INSERT because of the optional trimming feature")
            .doc("5.0.0", "stream", "Appends an entry to a stream, making the stream if needed, then trims it if asked.", "O(1) to append, O(N) for the N entries trimmed.")
            .args("key:key%0 nomkstream:pure-token=NOMKSTREAM~o#6.2.0 trim:block~o{strategy:oneof{maxlen:pure-token=MAXLEN minid:pure-token=MINID#6.2.0} operator:oneof~o{equal:pure-token== approximately:pure-token=~} threshold:string count:integer=LIMIT~o#6.2.0} id_or_auto:oneof{auto_id:pure-token=* id:string} field_value:block~m{field:string value:string}"),
        Row::new("xlen", 2, "readonly fast", "read stream fast")
            .keys("RO", 0)
            .doc("5.0.0", "stream", "Counts a stream's entries.", "O(1)")
            .args("key:key%0"),
        Row::new("xrange", -4, "readonly", "read stream slow")
            .keys("RO access", 0)
            .doc("5.0.0", "stream", "Lists a stream's entries between two ids, lowest first.", "O(log N + M), M entries listed.")
            .args("key:key%0 start:string end:string count:integer=COUNT~o"),
        Row::new("xrevrange", -4, "readonly", "read stream slow")
            .keys("RO access", 0)
            .doc("5.0.0", "stream", "Lists a stream's entries between two ids, highest first.", "O(log N + M), M entries listed.")
            .args("key:key%0 end:string start:string count:integer=COUNT~o"),
        Row::new("xdel", -3, "write fast", "write stream fast")
            .keys("RW delete", 0)
            .doc("5.0.0", "stream", "Removes entries from a stream by id.", "O(log N) per id given.")
            .args("key:key%0 id:string~m"),
        Row::new("xtrim", -4, "write", "write stream slow")
            .tips("nondeterministic_output")
            .keys("RW delete", 0)
            .doc("5.0.0", "stream", "Drops a stream's oldest entries down to a length or from an id.", "O(N), N entries dropped.")
            .args("key:key%0 trim:block{strategy:oneof{maxlen:pure-token=MAXLEN minid:pure-token=MINID#6.2.0} operator:oneof~o{equal:pure-token== approximately:pure-token=~} threshold:string count:integer=LIMIT~o#6.2.0}"),
        Row::new("xsetid", -3, "write denyoom fast", "write stream fast")
            .keys("RW update", 0)
            .doc("5.0.0", "stream", "Sets a stream's last id, and optionally its counters.", "O(1)")
            .args("key:key%0 last-id:string entries_added:integer=ENTRIESADDED~o#7.0.0 max_deleted_entry_id:string=MAXDELETEDID~o#7.0.0"),
        Row::new("xinfo", -2, "", "slow")
            .doc("5.0.0", "stream", "Container of the stream introspection subcommands.", "Per subcommand."),
        Row::new("xinfo|stream", -3, "readonly", "read stream slow")
            .keys_at("RO access", 2, 0)
            .doc("5.0.0", "stream", "Describes a stream, or with FULL lists its entries too.", "O(1), with FULL O(N) for the N entries listed.")
            .args("key:key%0 full:block=FULL~o{count:integer=COUNT~o}"),
        Row::new("xinfo|groups", 3, "readonly", "read stream slow")
            .keys_at("RO access", 2, 0)
            .doc("5.0.0", "stream", "Lists a stream's consumer groups with their progress.", "O(1)")
            .args("key:key%0"),
        Row::new("xinfo|consumers", 4, "readonly", "read stream slow")
            .tips("nondeterministic_output")
            .keys_at("RO access", 2, 0)
            .doc("5.0.0", "stream", "Lists a consumer group's consumers.", "O(1)")
            .args("key:key%0 groupname:string"),
        Row::new("xinfo|help", 2, "loading stale", "stream slow")
            .doc("5.0.0", "stream", "Lists XINFO's subcommands.", "O(1)"),
        Row::new("xread", -4, "readonly blocking movablekeys", "read stream slow blocking")
            .keys_after("RO access", "STREAMS", 1, -1, 2)
            .doc("5.0.0", "stream", "Reads the entries after an id from one or more streams.", "O(log N + M) per stream, M entries read.")
            .args("count:integer=COUNT~o milliseconds:integer=BLOCK~o streams:block=STREAMS{key:key%0~m id:string~m}"),
        Row::new("xgroup", -2, "", "slow")
            .doc("5.0.0", "stream", "Container of the consumer group subcommands.", "Per subcommand."),
        Row::new("xgroup|create", -5, "write denyoom", "write stream slow")
            .keys_at("RW insert", 2, 0)
            .doc("5.0.0", "stream", "Makes a consumer group on a stream, reading from an id or from the end.", "O(1)")
            .args("key:key%0 groupname:string id:oneof{id:string new_id:pure-token=$} mkstream:pure-token=MKSTREAM~o entries_read:integer=ENTRIESREAD~o"),
        Row::new("xgroup|setid", -5, "write", "write stream slow")
            .keys_at("RW update", 2, 0)
            .doc("5.0.0", "stream", "Moves a consumer group's last delivered id.", "O(1)")
            .args("key:key%0 groupname:string id:oneof{id:string new_id:pure-token=$} entries_read:integer=ENTRIESREAD~o"),
        Row::new("xgroup|destroy", 4, "write", "write stream slow")
            .keys_at("RW delete", 2, 0)
            .doc("5.0.0", "stream", "Removes a consumer group with its consumers and pending entries.", "O(N) for the N pending entries of the group.")
            .args("key:key%0 groupname:string"),
        Row::new("xgroup|createconsumer", 5, "write denyoom", "write stream slow")
            .keys_at("RW insert", 2, 0)
            .doc("6.2.0", "stream", "Adds a consumer to a consumer group.", "O(1)")
            .args("key:key%0 groupname:string consumername:string"),
        Row::new("xgroup|delconsumer", 5, "write", "write stream slow")
            .keys_at("RW delete", 2, 0)
            .doc("5.0.0", "stream", "Removes a consumer from a consumer group, with its pending entries.", "O(1)")
            .args("key:key%0 groupname:string consumername:string"),
        Row::new("xgroup|help", 2, "loading stale", "stream slow")
            .doc("5.0.0", "stream", "Lists XGROUP's subcommands.", "O(1)"),
        Row::new("xreadgroup", -7, "write blocking movablekeys", "write stream slow blocking")
            .keys_after("RO access", "STREAMS", 4, -1, 2)
            .doc("5.0.0", "stream", "Reads from streams as a consumer of a group: new entries, or those it holds pending.", "O(M) per stream, M entries read.")
            .args("group_consumer:block=GROUP{group:string consumer:string} count:integer=COUNT~o milliseconds:integer=BLOCK~o noack:pure-token=NOACK~o streams:block=STREAMS{key:key%0~m id:string~m}"),
        Row::new("xclaim", -6, "write fast", "write stream fast")
            .tips("nondeterministic_output")
            .keys("RW update", 0)
            .doc("5.0.0", "stream", "Moves pending entries idle long enough to another consumer of the group.", "O(log N) per id.")
            .args("key:key%0 group:string consumer:string min-idle-time:string id:string~m ms:integer=IDLE~o unix-time-milliseconds:unix-time=TIME~o count:integer=RETRYCOUNT~o force:pure-token=FORCE~o justid:pure-token=JUSTID~o id:string=LASTID~o"),
        Row::new("xautoclaim", -6, "write fast", "write stream fast")
            .tips("nondeterministic_output")
            .keys("RW delete", 0)
            .doc("6.2.0", "stream", "Moves the pending entries idle long enough, from an id on, to another consumer of the group.", "O(1) per entry looked at (at most ten times COUNT).")
            .args("key:key%0 group:string consumer:string min-idle-time:string start:string count:integer=COUNT~o justid:pure-token=JUSTID~o"),
        Row::new("xack", -4, "write fast", "write stream fast")
            .keys("RW update", 0)
            .doc("5.0.0", "stream", "Acknowledges entries a group's consumer read, removing them from its pending entries.", "O(1) per id.")
            .args("key:key%0 group:string id:string~m"),
        Row::new("xpending", -3, "readonly", "read stream slow")
            .tips("nondeterministic_output")
            .keys("RO access", 0)
            .doc("5.0.0", "stream", "Summarises or lists a group's pending entries.", "O(N), N entries listed; O(M) for the summary, M consumers.")
            .args("key:key%0 group:string filters:block~o{min-idle-time:integer=IDLE~o#6.2.0 start:string end:string count:integer consumer:string~o}"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        let argc = args.len();
        let parsed = match name {
            b"xadd" => args.need(argc >= 4, "xadd").and_then(|()| parse_xadd(args.rest())),
            b"xlen" => args.need(argc == 1, "xlen").map(|()| X::Len(args.take())),
            b"xrange" => {
                args.need(argc >= 3, "xrange").and_then(|()| parse_xrange(args.rest(), false))
            }
            b"xrevrange" => {
                args.need(argc >= 3, "xrevrange").and_then(|()| parse_xrange(args.rest(), true))
            }
            b"xdel" => args
                .need(argc >= 2, "xdel")
                .map(|()| X::Del { key: args.take(), ids: args.rest() }),
            b"xtrim" => args.need(argc >= 3, "xtrim").and_then(|()| {
                let sent = args.rest();
                match parse_trim(&sent[1..], false)? {
                    (Some(trim), _, _) => Ok(X::TrimCmd { key: sent[0].clone(), trim, sent }),
                    (None, _, _) => Err(CommandError::Syntax),
                }
            }),
            b"xsetid" => args.need(argc >= 2, "xsetid").and_then(|()| parse_xsetid(args.rest())),
            b"xinfo" => {
                let mut buf = [0; NAME_MAX];
                args.subcommand("xinfo", &mut buf).and_then(|(sub, lower)| match lower {
                    b"stream" => args
                        .need(argc >= 2, "xinfo|stream")
                        .map(|()| X::InfoStream { sub, key: args.take(), options: args.rest() }),
                    b"help" => Ok(X::InfoHelp),
                    b"groups" => args.need(argc == 2, "xinfo|groups").map(|()| X::InfoGroups(args.take())),
                    b"consumers" => args.need(argc == 3, "xinfo|consumers").map(|()| {
                        let key = args.take();
                        X::InfoConsumers { key, group: args.take() }
                    }),
                    _ => Err(CommandError::UnknownSubcommand { command: "XINFO", sub }),
                })
            }
            b"xread" => args.need(argc >= 3, "xread").and_then(|()| parse_xread(args.rest())),
            b"xreadgroup" => {
                args.need(argc >= 6, "xreadgroup").and_then(|()| parse_xreadgroup(args.rest()))
            }
            b"xclaim" => args.need(argc >= 5, "xclaim").map(|()| {
                let (key, group, consumer) = (args.take(), args.take(), args.take());
                X::Claim { key, group, consumer, rest: args.rest() }
            }),
            b"xautoclaim" => {
                args.need(argc >= 5, "xautoclaim").and_then(|()| parse_xautoclaim(args.rest()))
            }
            b"xack" => args.need(argc >= 3, "xack").map(|()| {
                let (key, group) = (args.take(), args.take());
                X::Ack { key, group, ids: args.rest() }
            }),
            b"xpending" => {
                args.need(argc >= 2, "xpending").and_then(|()| parse_xpending(args.rest()))
            }
            b"xgroup" => {
                let mut buf = [0; NAME_MAX];
                args.subcommand("xgroup", &mut buf).and_then(|(sub, lower)| {
                    let need = |ok, name| args.need(ok, name);
                    match lower {
                        b"help" => need(argc == 1, "xgroup|help"),
                        b"create" => need(argc >= 4, "xgroup|create"),
                        b"setid" => need(argc >= 4, "xgroup|setid"),
                        b"destroy" => need(argc == 3, "xgroup|destroy"),
                        b"createconsumer" => need(argc == 4, "xgroup|createconsumer"),
                        b"delconsumer" => need(argc == 4, "xgroup|delconsumer"),
                        _ => Err(CommandError::UnknownSubcommand { command: "XGROUP", sub: sub.clone() }),
                    }
                    .map(|()| X::GroupHelp)
                    .and_then(|help| match lower {
                        b"help" => Ok(help),
                        _ => parse_xgroup(sub, lower, args.rest()),
                    })
                })
            }
            _ => return None,
        };
        Some(parsed)
    }

    fn full_name(&self) -> &'static str {
        match self {
            X::Add { .. } => "xadd",
            X::Len(_) => "xlen",
            X::Range { rev: false, .. } => "xrange",
            X::Range { rev: true, .. } => "xrevrange",
            X::Del { .. } => "xdel",
            X::TrimCmd { .. } => "xtrim",
            X::SetId { .. } => "xsetid",
            X::InfoStream { .. } => "xinfo|stream",
            X::InfoHelp => "xinfo|help",
            X::InfoGroups(_) => "xinfo|groups",
            X::InfoConsumers { .. } => "xinfo|consumers",
            X::Read { .. } => "xread",
            X::Group { op, .. } => match op {
                GroupOp::Create { .. } => "xgroup|create",
                GroupOp::SetId(_) => "xgroup|setid",
                GroupOp::Destroy => "xgroup|destroy",
                GroupOp::CreateConsumer(_) => "xgroup|createconsumer",
                GroupOp::DelConsumer(_) => "xgroup|delconsumer",
            },
            X::GroupHelp => "xgroup|help",
            X::ReadGroup { .. } => "xreadgroup",
            X::Ack { .. } => "xack",
            X::Claim { .. } => "xclaim",
            X::AutoClaim { .. } => "xautoclaim",
            X::Pending { .. } => "xpending",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            X::Add { sent, .. } => words(&["XADD"], sent),
            X::Len(key) => words(&["XLEN"], std::slice::from_ref(key)),
            X::Range { rev: false, sent, .. } => words(&["XRANGE"], sent),
            X::Range { rev: true, sent, .. } => words(&["XREVRANGE"], sent),
            X::Del { key, ids } => {
                let mut args = words(&["XDEL"], std::slice::from_ref(key));
                args.extend(ids.iter().cloned());
                args
            }
            X::TrimCmd { sent, .. } => words(&["XTRIM"], sent),
            X::SetId { sent, .. } => words(&["XSETID"], sent),
            X::InfoStream { sub, key, options } => {
                let mut args = words(&["XINFO"], &[sub.clone(), key.clone()]);
                args.extend(options.iter().cloned());
                args
            }
            X::InfoHelp => words(&["XINFO", "HELP"], &[]),
            X::InfoGroups(key) => words(&["XINFO", "GROUPS"], std::slice::from_ref(key)),
            X::InfoConsumers { key, group } => {
                words(&["XINFO", "CONSUMERS"], &[key.clone(), group.clone()])
            }
            X::Read { sent, .. } => words(&["XREAD"], sent),
            X::Group { sub, sent, .. } => {
                let mut args = words(&["XGROUP"], std::slice::from_ref(sub));
                args.extend(sent.iter().cloned());
                args
            }
            X::GroupHelp => words(&["XGROUP", "HELP"], &[]),
            X::ReadGroup { sent, .. } => words(&["XREADGROUP"], sent),
            X::Ack { key, group, ids } => {
                let mut args = words(&["XACK"], &[key.clone(), group.clone()]);
                args.extend(ids.iter().cloned());
                args
            }
            X::Pending { sent, .. } => words(&["XPENDING"], sent),
            X::AutoClaim { sent, .. } => words(&["XAUTOCLAIM"], sent),
            X::Claim { key, group, consumer, rest } => {
                let mut args = words(&["XCLAIM"], &[key.clone(), group.clone(), consumer.clone()]);
                args.extend(rest.iter().cloned());
                args
            }
        }
    }

    fn keys(&self) -> &[Bytes] {
        match self {
            X::Add { key, .. }
            | X::Len(key)
            | X::Range { key, .. }
            | X::Del { key, .. }
            | X::TrimCmd { key, .. }
            | X::SetId { key, .. }
            | X::InfoStream { key, .. }
            | X::Group { key, .. }
            | X::InfoGroups(key)
            | X::InfoConsumers { key, .. }
            | X::Ack { key, .. }
            | X::Claim { key, .. }
            | X::AutoClaim { key, .. }
            | X::Pending { key, .. } => std::slice::from_ref(key),
            X::InfoHelp | X::GroupHelp => &[],
            X::Read { keys, .. } | X::ReadGroup { keys, .. } => keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::Command;
    use super::*;

    #[test]
    fn ids_read_as_redis_reads_them() {
        assert_eq!(parse_strict_id(b"5"), Ok(StreamId { ms: 5, seq: 0 }));
        assert_eq!(parse_strict_id(b"5-7"), Ok(StreamId { ms: 5, seq: 7 }));
        let max = b"18446744073709551615-18446744073709551615";
        assert_eq!(parse_strict_id(max), Ok(StreamId::MAX));
        for bad in [&b""[..], b"-", b"+", b"*", b"5-", b"-5", b"5-x", b"x", b"18446744073709551616"] {
            assert_eq!(parse_strict_id(bad), Err(CommandError::InvalidStreamId), "{bad:?}");
        }
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId { ms: 1, seq: u64::MAX }.next(), Some(StreamId { ms: 2, seq: 0 }));
        assert_eq!(StreamId::MIN.prev(), None);
    }

    #[test]
    fn xadd_options_parse_in_redis_order_with_its_errors() {
        let Command::Stream(X::Add { trim, id, no_mkstream, .. }) =
            parse(&["XADD", "s", "NOMKSTREAM", "MAXLEN", "~", "5", "LIMIT", "3", "7-*", "a", "1"])
                .unwrap()
        else {
            panic!("xadd")
        };
        assert!(no_mkstream);
        assert_eq!(id, AddId::AutoSeq(7));
        assert_eq!(trim, Some(Trim { to: TrimTo::MaxLen(5), approx: true, limit: 3 }));
        let err = |w: &[&str]| parse(w).unwrap_err().to_string();
        assert_eq!(err(&["xadd", "s", "0-0", "a", "1"]), CommandError::XaddIdZero.to_string());
        assert_eq!(err(&["xadd", "s", "1-1", "a"]), "ERR wrong number of arguments for 'xadd' command");
        assert_eq!(err(&["xadd", "s", "maxlen", "-1", "*", "a", "1"]), CommandError::MaxLenNegative.to_string());
        assert_eq!(err(&["xadd", "s", "maxlen", "1", "limit", "2", "*", "a", "1"]), CommandError::LimitWithoutApprox.to_string());
        assert_eq!(err(&["xadd", "s", "maxlen", "1", "minid", "2", "*", "a", "1"]), CommandError::TrimBoth.to_string());
        assert_eq!(err(&["xadd", "s", "5-x", "a", "1"]), CommandError::InvalidStreamId.to_string());
        assert_eq!(err(&["xtrim", "s", "foo", "1"]), "ERR syntax error");
        assert_eq!(err(&["xrange", "s", "(+", "+"]), CommandError::InvalidStreamId.to_string());
        assert_eq!(err(&["xread", "streams", "s", "0", "1"]), CommandError::UnbalancedXread.to_string());
    }

    #[test]
    fn stream_commands_parse_back_from_their_arguments() {
        for words in [
            &["XADD", "s", "MINID", "=", "3", "*", "a", "1"][..],
            &["XLEN", "s"],
            &["XRANGE", "s", "(1", "+", "COUNT", "2"],
            &["XREVRANGE", "s", "+", "-"],
            &["XDEL", "s", "1-1", "x"],
            &["XTRIM", "s", "MAXLEN", "~", "10"],
            &["XSETID", "s", "5-5", "ENTRIESADDED", "3", "MAXDELETEDID", "1-1"],
            &["XINFO", "STREAM", "s", "FULL"],
            &["XINFO", "HELP"],
            &["XINFO", "GROUPS", "s"],
            &["XINFO", "CONSUMERS", "s", "g"],
            &["XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "$"],
            &["XGROUP", "create", "s", "g", "$", "MKSTREAM", "ENTRIESREAD", "3"],
            &["XGROUP", "SETID", "s", "g", "0"],
            &["XGROUP", "DESTROY", "s", "g"],
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
            &["XGROUP", "DELCONSUMER", "s", "g", "c"],
            &["XGROUP", "HELP"],
            &["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK", "STREAMS", "s", ">"],
            &["XACK", "s", "g", "1-1", "2"],
            &["XAUTOCLAIM", "s", "g", "c", "10", "(1-1", "COUNT", "5", "JUSTID"],
            &["XCLAIM", "s", "g", "c", "10", "1-1", "2", "IDLE", "5", "FORCE", "LASTID", "3"],
            &["XPENDING", "s", "g"],
            &["XPENDING", "s", "g", "IDLE", "5", "(1", "+", "3", "c"],
        ] {
            let cmd = parse(words).unwrap();
            assert_eq!(Command::parse(cmd.to_args()).unwrap(), cmd, "{words:?}");
        }
    }
}
