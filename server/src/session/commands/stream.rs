//! XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID, XINFO, XREAD: streams in the keyspace.
//! Each command holds one key's shard lock while it reads or changes the key and builds its
//! reply's frame, and encodes after releasing it.

use bytes::Bytes;
use shared::command::{
    parse_claim, parse_info_options, parse_loose_id, parse_read_id, parse_strict_id, AddId, CommandError,
    GroupOp, PendingRange, ReadFrom,
    StreamCommand, StreamId,
};
use shared::{Frame, RespVersion};

use super::Run;
use crate::errors::ReplyError;
use crate::keyspace::{AddError, Entry, Group, Slot, Stream, Value};
use crate::session::{Session, Status};

/// The stream `entry` holds, or WRONGTYPE.
fn stream_of(entry: &mut Entry) -> Result<&mut Stream, Frame> {
    match &mut entry.value {
        Value::Stream(stream) => Ok(stream),
    }
}

fn bulk_id(id: StreamId) -> Frame {
    Frame::Bulk(id.to_string().into())
}

/// An entry as XRANGE and XREAD give it: its id, then its fields and values.
fn entry_frame(id: StreamId, fields: &[Bytes]) -> Frame {
    Frame::Array(vec![bulk_id(id), Frame::Array(fields.iter().cloned().map(Frame::Bulk).collect())])
}

fn entries_frame(entries: Vec<(StreamId, Vec<Bytes>)>) -> Frame {
    Frame::Array(entries.into_iter().map(|(id, f)| entry_frame(id, &f)).collect())
}

fn err(e: impl ToString) -> Frame {
    Frame::Error(e.to_string())
}

impl Run for StreamCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let now = session.now_ms();
        let resp3 = session.resp.as_deref().expect("resp session").version == RespVersion::Resp3;
        let ks = &session.ctx.keyspace;
        let reply = match self {
            StreamCommand::Add { key, no_mkstream, trim, id, fields, .. } => {
                let mut slot = ks.slot(&key, now);
                let exists = slot.get().is_some();
                if !exists && no_mkstream {
                    Frame::Null
                } else {
                    let entry = match slot.get() {
                        Some(entry) => entry,
                        None => slot.insert(Value::Stream(Stream::default())),
                    };
                    match stream_of(entry) {
                        Err(frame) => frame,
                        Ok(stream) => {
                            let id = match id {
                                AddId::Auto => stream.next_id(now, None),
                                AddId::AutoSeq(ms) => stream.next_id(now, Some(ms)),
                                AddId::Explicit(id) => Ok(id),
                            };
                            match id.and_then(|id| stream.append(id, fields).map(|()| id)) {
                                Ok(id) => {
                                    if let Some(trim) = trim {
                                        stream.trim(trim);
                                    }
                                    bulk_id(id)
                                }
                                Err(why) => {
                                    // A stream XADD just made stays only if it got an entry.
                                    if !exists {
                                        slot.remove();
                                    }
                                    match why {
                                        AddError::NotAbove => err(ReplyError::XaddNotAbove),
                                        AddError::Exhausted => err(ReplyError::StreamExhausted),
                                    }
                                }
                            }
                        }
                    }
                }
            }
            StreamCommand::Len(key) => match ks.slot(&key, now).get() {
                None => Frame::Integer(0),
                Some(entry) => match stream_of(entry) {
                    Ok(stream) => Frame::Integer(stream.len() as i64),
                    Err(frame) => frame,
                },
            },
            StreamCommand::Range { key, start, end, count, rev, .. } => {
                let low = if start.exclusive { start.id.next() } else { Some(start.id) };
                let high = if end.exclusive { end.id.prev() } else { Some(end.id) };
                match ks.slot(&key, now).get() {
                    None => Frame::Array(Vec::new()),
                    Some(entry) => match stream_of(entry) {
                        Err(frame) => frame,
                        Ok(_) if count.is_some_and(|c| c <= 0) => Frame::NullArray,
                        Ok(stream) => match (low, high) {
                            (Some(low), Some(high)) => {
                                let count = count.unwrap_or(0) as usize;
                                entries_frame(stream.range(low, high, rev, count))
                            }
                            _ => Frame::Array(Vec::new()),
                        },
                    },
                }
            }
            StreamCommand::Del { key, ids } => {
                let mut slot = ks.slot(&key, now);
                match slot.get().map(stream_of) {
                    None => Frame::Integer(0),
                    Some(Err(frame)) => frame,
                    Some(Ok(stream)) => {
                        match ids.iter().map(|id| parse_strict_id(id)).collect::<Result<Vec<_>, _>>() {
                            Err(e) => err(e),
                            Ok(ids) => {
                                Frame::Integer(ids.into_iter().filter(|id| stream.delete(*id)).count() as i64)
                            }
                        }
                    }
                }
            }
            StreamCommand::TrimCmd { key, trim, .. } => match ks.slot(&key, now).get().map(stream_of) {
                None => Frame::Integer(0),
                Some(Err(frame)) => frame,
                Some(Ok(stream)) => Frame::Integer(stream.trim(trim) as i64),
            },
            StreamCommand::SetId { key, id, entries_added, max_deleted, .. } => {
                match ks.slot(&key, now).get().map(stream_of) {
                    None => err(ReplyError::NoSuchKey),
                    Some(Err(frame)) => frame,
                    Some(Ok(stream)) => {
                        let top = stream.last_entry().map(|(id, _)| *id);
                        if top.is_some_and(|top| id < top) {
                            err(ReplyError::XsetidBelowTop)
                        } else if entries_added.is_some_and(|n| n < stream.len() as u64) {
                            err(ReplyError::XsetidEntriesBelowLength)
                        } else {
                            stream.set_id(id, entries_added, max_deleted);
                            Frame::Simple("OK".into())
                        }
                    }
                }
            }
            StreamCommand::InfoStream { sub, key, options } => {
                match ks.slot(&key, now).get().map(stream_of) {
                    None => err(ReplyError::NoSuchKey),
                    Some(Err(frame)) => frame,
                    Some(Ok(stream)) => match parse_info_options(&sub, &options) {
                        Err(e) => err(e),
                        Ok(full) => info_stream(stream, full),
                    },
                }
            }
            StreamCommand::InfoGroups(key) => match ks.slot(&key, now).get().map(stream_of) {
                None => err(ReplyError::NoSuchKey),
                Some(Err(frame)) => frame,
                Some(Ok(stream)) => Frame::Array(
                    stream.groups.iter().map(|(name, g)| info_group(stream, name, g)).collect(),
                ),
            },
            StreamCommand::InfoConsumers { key, group } => {
                match ks.slot(&key, now).get().map(stream_of) {
                    None => err(ReplyError::NoSuchKey),
                    Some(Err(frame)) => frame,
                    Some(Ok(stream)) => match stream.groups.get(&group) {
                        None => no_group(&group, &key),
                        Some(g) => Frame::Array(
                            g.consumers
                                .iter()
                                .map(|(name, c)| {
                                    Frame::Map(vec![
                                        (text("name"), Frame::Bulk(name.clone())),
                                        (text("pending"), Frame::Integer(c.pending.len() as i64)),
                                        (text("idle"), Frame::Integer(now.saturating_sub(c.seen_ms) as i64)),
                                    ])
                                })
                                .collect(),
                        ),
                    },
                }
            }
            StreamCommand::InfoHelp => Frame::Array(
                XINFO_HELP.iter().map(|line| Frame::Simple(line.to_string())).collect(),
            ),
            StreamCommand::Group { sub, key, group, op, entries_read, late_syntax, .. } => {
                let mut slot = ks.slot(&key, now);
                let late = late_syntax.then_some(sub);
                match xgroup(&mut slot, &key, &group, op, entries_read, late, now) {
                    Ok(frame) | Err(frame) => frame,
                }
            }
            StreamCommand::GroupHelp => Frame::Array(
                XGROUP_HELP.iter().map(|line| Frame::Simple(line.to_string())).collect(),
            ),
            StreamCommand::ReadGroup { block: true, .. } => {
                err(ReplyError::XreadgroupBlockNotSupported)
            }
            StreamCommand::ReadGroup { group, consumer, count, noack, keys, ids, .. } => {
                let count = count.filter(|&c| c > 0).unwrap_or(0) as usize;
                match read_group(ks, now, &group, &consumer, count, noack, &keys, &ids) {
                    Err(frame) => frame,
                    Ok(found) if found.is_empty() => Frame::NullArray,
                    Ok(found) if resp3 => Frame::Map(found),
                    Ok(found) => Frame::Array(
                        found.into_iter().map(|(k, v)| Frame::Array(vec![k, v])).collect(),
                    ),
                }
            }
            StreamCommand::Ack { key, group, ids } => {
                match ks.slot(&key, now).get().map(stream_of) {
                    Some(Err(frame)) => frame,
                    None => Frame::Integer(0),
                    Some(Ok(stream)) => match stream.groups.get_mut(&group) {
                        None => Frame::Integer(0),
                        Some(g) => match ids
                            .iter()
                            .map(|id| parse_strict_id(id))
                            .collect::<Result<Vec<_>, _>>()
                        {
                            Err(e) => err(e),
                            Ok(ids) => {
                                Frame::Integer(ids.into_iter().filter(|id| g.ack(*id)).count() as i64)
                            }
                        },
                    },
                }
            }
            StreamCommand::Claim { key, group, consumer, rest } => {
                match ks.slot(&key, now).get().map(stream_of) {
                    Some(Err(frame)) => frame,
                    Some(Ok(stream)) if stream.groups.contains_key(&group) => {
                        match parse_claim(&rest) {
                            Err(e) => err(e),
                            Ok(claim) => {
                                // A time that is not sane is taken as now, as Redis does.
                                let at = match claim.delivery {
                                    None => now as i64,
                                    Some(Ok(idle)) => (now as i64).saturating_sub(idle),
                                    Some(Err(at)) => at,
                                };
                                let at = if at < 0 || at > now as i64 { now } else { at as u64 };
                                let claimed = stream
                                    .claim(&group, &consumer, &claim, at, now)
                                    .unwrap_or_default();
                                Frame::Array(
                                    claimed
                                        .into_iter()
                                        .map(|(id, fields)| match claim.just_id {
                                            true => bulk_id(id),
                                            false => entry_frame(id, &fields),
                                        })
                                        .collect(),
                                )
                            }
                        }
                    }
                    _ => no_key_or_group(&key, &group, ""),
                }
            }
            StreamCommand::AutoClaim { key, group, consumer, min_idle, start, count, just_id, .. } => {
                match ks.slot(&key, now).get().map(stream_of) {
                    Some(Err(frame)) => frame,
                    Some(Ok(stream)) if stream.groups.contains_key(&group) => {
                        let (claimed, next, dropped) = stream
                            .auto_claim(&group, &consumer, min_idle, start, count, just_id, now)
                            .unwrap_or_default();
                        let claimed = claimed
                            .into_iter()
                            .map(|(id, fields)| match just_id {
                                true => bulk_id(id),
                                false => entry_frame(id, &fields),
                            })
                            .collect();
                        Frame::Array(vec![
                            bulk_id(next),
                            Frame::Array(claimed),
                            Frame::Array(dropped.into_iter().map(bulk_id).collect()),
                        ])
                    }
                    _ => no_key_or_group(&key, &group, ""),
                }
            }
            StreamCommand::Pending { key, group, range, .. } => {
                match ks.slot(&key, now).get().map(stream_of) {
                    Some(Err(frame)) => frame,
                    Some(Ok(stream)) if stream.groups.contains_key(&group) => {
                        let g = &stream.groups[&group];
                        match range {
                            None => pending_summary(g),
                            Some(range) => pending_range(g, range, now),
                        }
                    }
                    _ => no_key_or_group(&key, &group, ""),
                }
            }
            StreamCommand::Read { block: true, .. } => err(ReplyError::BlockNotSupported),
            StreamCommand::Read { count, keys, ids, .. } => {
                let count = count.filter(|&c| c > 0).unwrap_or(0) as usize;
                let mut found = Vec::new();
                let mut failed = None;
                for (key, id) in keys.iter().zip(&ids) {
                    let mut slot = ks.slot(key, now);
                    let stream = match slot.get().map(stream_of) {
                        Some(Err(frame)) => {
                            failed = Some(frame);
                            break;
                        }
                        Some(Ok(stream)) => Some(stream),
                        None => None,
                    };
                    let from = match parse_read_id(id) {
                        Ok(from) => from,
                        Err(e) => {
                            failed = Some(err(e));
                            break;
                        }
                    };
                    let Some(stream) = stream else { continue };
                    let entries = match from {
                        ReadFrom::New => Vec::new(),
                        ReadFrom::Last => stream
                            .last_entry()
                            .map(|(id, f)| vec![(*id, f.clone())])
                            .unwrap_or_default(),
                        ReadFrom::After(id) => match id.next() {
                            Some(low) => stream.range(low, StreamId::MAX, false, count),
                            None => Vec::new(),
                        },
                    };
                    if !entries.is_empty() {
                        found.push((Frame::Bulk(key.clone()), entries_frame(entries)));
                    }
                }
                match failed {
                    Some(frame) => frame,
                    None if found.is_empty() => Frame::NullArray,
                    // A map of streams in RESP3, an array of pairs in RESP2, as from Redis.
                    None if resp3 => Frame::Map(found),
                    None => Frame::Array(
                        found.into_iter().map(|(k, v)| Frame::Array(vec![k, v])).collect(),
                    ),
                }
            }
        };
        session.reply(reply, out)
    }
}

fn no_key_or_group(key: &[u8], group: &[u8], tail: &'static str) -> Frame {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    err(ReplyError::NoKeyOrGroup { key: text(key), group: text(group), tail })
}

/// What XREADGROUP reads from one stream.
enum ReadWant {
    /// `>`: new entries.
    New,
    /// The consumer's pending entries after this id.
    After(StreamId),
}

/// XREADGROUP without BLOCK: checks every key, group and id first (as Redis does, so an
/// error leaves every stream as it was), then reads each stream under its key's lock.
#[allow(clippy::too_many_arguments)]
fn read_group(
    ks: &crate::keyspace::Keyspace,
    now: u64,
    group: &Bytes,
    consumer: &Bytes,
    count: usize,
    noack: bool,
    keys: &[Bytes],
    ids: &[Bytes],
) -> Result<Vec<(Frame, Frame)>, Frame> {
    let mut wants = Vec::with_capacity(keys.len());
    for (key, id) in keys.iter().zip(ids) {
        match ks.slot(key, now).get().map(stream_of) {
            Some(Err(frame)) => return Err(frame),
            Some(Ok(stream)) if stream.groups.contains_key(group) => {}
            _ => return Err(no_key_or_group(key, group, " in XREADGROUP with GROUP option")),
        }
        wants.push(match &id[..] {
            b"$" => return Err(err(ReplyError::XreadgroupDollar)),
            b">" => ReadWant::New,
            _ => ReadWant::After(parse_strict_id(id).map_err(err)?),
        });
    }
    let mut found = Vec::new();
    for (key, want) in keys.iter().zip(wants) {
        let mut slot = ks.slot(key, now);
        let Some(Ok(stream)) = slot.get().map(stream_of) else { continue };
        let Some(last) = stream.groups.get(group).map(|g| g.last_id) else { continue };
        let delivered = match want {
            ReadWant::New => match stream.last_entry() {
                Some((top, _)) if *top > last => {
                    stream.read_new(group, consumer, count, noack, now)
                }
                _ => None,
            },
            ReadWant::After(id) => stream.read_history(group, consumer, id, count, now),
        };
        if let Some(delivered) = delivered {
            let entries = delivered
                .into_iter()
                .map(|(id, fields)| match fields {
                    Some(fields) => entry_frame(id, &fields),
                    None => Frame::Array(vec![bulk_id(id), Frame::NullArray]),
                })
                .collect();
            found.push((Frame::Bulk(key.clone()), Frame::Array(entries)));
        }
    }
    Ok(found)
}

/// XPENDING's summary: the count, the lowest and highest ids, each consumer's count.
fn pending_summary(g: &Group) -> Frame {
    let (Some(first), Some(last)) = (g.pending.keys().next(), g.pending.keys().next_back()) else {
        return Frame::Array(vec![Frame::Integer(0), Frame::Null, Frame::Null, Frame::NullArray]);
    };
    let consumers = g
        .consumers
        .iter()
        .filter(|(_, c)| !c.pending.is_empty())
        .map(|(name, c)| {
            let n = Frame::Bulk(c.pending.len().to_string().into());
            Frame::Array(vec![Frame::Bulk(name.clone()), n])
        })
        .collect();
    Frame::Array(vec![
        Frame::Integer(g.pending.len() as i64),
        bulk_id(*first),
        bulk_id(*last),
        Frame::Array(consumers),
    ])
}

/// XPENDING's extended form: id, consumer, idle time, deliveries, for each entry in range.
fn pending_range(g: &Group, range: PendingRange, now: u64) -> Frame {
    let ids: Box<dyn Iterator<Item = StreamId> + '_> = match &range.consumer {
        None if range.start <= range.end => Box::new(g.pending.range(range.start..=range.end).map(|(id, _)| *id)),
        Some(name) if range.start <= range.end => match g.consumers.get(name) {
            Some(c) => Box::new(c.pending.range(range.start..=range.end).copied()),
            None => return Frame::Array(Vec::new()),
        },
        _ => Box::new(std::iter::empty()),
    };
    let mut out = Vec::new();
    for id in ids {
        if out.len() as u64 >= range.count {
            break;
        }
        let Some(p) = g.pending.get(&id) else { continue };
        let idle = now.saturating_sub(p.delivered_ms);
        if range.min_idle > 0 && (idle as i64) < range.min_idle {
            continue;
        }
        out.push(Frame::Array(vec![
            bulk_id(id),
            Frame::Bulk(p.consumer.clone()),
            Frame::Integer(idle as i64),
            Frame::Integer(p.deliveries as i64),
        ]));
    }
    Frame::Array(out)
}

fn no_group(group: &[u8], key: &[u8]) -> Frame {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    err(ReplyError::NoGroup { group: text(group), key: text(key) })
}

/// XGROUP's subcommands but HELP, in Redis 7.0's order of checks: the key's type, the key,
/// the group (for all but CREATE and DESTROY), a count of arguments Redis does not take
/// (`late`: the subcommand as sent), then the id.
fn xgroup(
    slot: &mut Slot<'_>,
    key: &[u8],
    name: &Bytes,
    op: GroupOp,
    entries_read: Option<u64>,
    late: Option<Bytes>,
    now: u64,
) -> Result<Frame, Frame> {
    let mkstream = matches!(op, GroupOp::Create { mkstream: true, .. });
    match slot.get().map(stream_of) {
        Some(Err(frame)) => return Err(frame),
        Some(Ok(stream)) => {
            let needs_group = matches!(
                op,
                GroupOp::SetId(_) | GroupOp::CreateConsumer(_) | GroupOp::DelConsumer(_)
            );
            if !mkstream && needs_group && !stream.groups.contains_key(name) {
                return Err(no_group(name, key));
            }
        }
        None if mkstream => {}
        None => return Err(err(ReplyError::XgroupNoKey)),
    }
    if let Some(sub) = late {
        return Err(err(CommandError::SubcommandSyntax { command: "XGROUP", sub }));
    }
    let ok = || Frame::Simple("OK".into());
    match op {
        GroupOp::Create { id, .. } => {
            let last = match slot.get().map(stream_of) {
                Some(Ok(stream)) => stream.last_id,
                _ => StreamId::MIN,
            };
            let id = match &id[..] {
                b"$" => last,
                _ => parse_strict_id(&id).map_err(err)?,
            };
            let stream = match slot.get() {
                Some(entry) => stream_of(entry)?,
                None => stream_of(slot.insert(Value::Stream(Stream::default())))?,
            };
            if stream.groups.contains_key(name) {
                return Err(err(ReplyError::BusyGroup));
            }
            let group = Group { last_id: id, entries_read, ..Group::default() };
            stream.groups.insert(name.clone(), group);
            Ok(ok())
        }
        op => {
            let Some(Ok(stream)) = slot.get().map(stream_of) else {
                return Err(err(ReplyError::XgroupNoKey));
            };
            let last = stream.last_id;
            match op {
                GroupOp::Destroy => Ok(Frame::Integer(stream.groups.remove(name).is_some() as i64)),
                GroupOp::SetId(id) => {
                    let id = match &id[..] {
                        b"$" => last,
                        _ => parse_loose_id(&id).map_err(err)?,
                    };
                    let group = stream.groups.get_mut(name).ok_or_else(|| no_group(name, key))?;
                    group.last_id = id;
                    group.entries_read = entries_read;
                    Ok(ok())
                }
                GroupOp::CreateConsumer(consumer) => {
                    let group = stream.groups.get_mut(name).ok_or_else(|| no_group(name, key))?;
                    let (_, made) = group.consumer(&consumer, now);
                    Ok(Frame::Integer(made as i64))
                }
                GroupOp::DelConsumer(consumer) => {
                    let group = stream.groups.get_mut(name).ok_or_else(|| no_group(name, key))?;
                    Ok(Frame::Integer(group.remove_consumer(&consumer).unwrap_or(0) as i64))
                }
                GroupOp::Create { .. } => unreachable!("handled above"),
            }
        }
    }
}

fn text(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn maybe(n: Option<u64>) -> Frame {
    n.map_or(Frame::Null, |n| Frame::Integer(n as i64))
}

/// A group as XINFO GROUPS gives it.
fn info_group(stream: &Stream, name: &Bytes, g: &Group) -> Frame {
    Frame::Map(vec![
        (text("name"), Frame::Bulk(name.clone())),
        (text("consumers"), Frame::Integer(g.consumers.len() as i64)),
        (text("pending"), Frame::Integer(g.pending.len() as i64)),
        (text("last-delivered-id"), bulk_id(g.last_id)),
        (text("entries-read"), maybe(g.entries_read)),
        (text("lag"), maybe(stream.lag(g))),
    ])
}

/// A group as XINFO STREAM FULL gives it: at most `count` (0: all) pending entries, for the
/// group and for each consumer.
fn full_group(stream: &Stream, name: &Bytes, g: &Group, count: u64) -> Frame {
    let take = if count == 0 { usize::MAX } else { count as usize };
    let pel = g
        .pending
        .iter()
        .take(take)
        .map(|(id, p)| {
            Frame::Array(vec![
                bulk_id(*id),
                Frame::Bulk(p.consumer.clone()),
                Frame::Integer(p.delivered_ms as i64),
                Frame::Integer(p.deliveries as i64),
            ])
        })
        .collect();
    let consumers = g
        .consumers
        .iter()
        .map(|(cname, c)| {
            let pel = c
                .pending
                .iter()
                .take(take)
                .filter_map(|id| g.pending.get(id).map(|p| (id, p)))
                .map(|(id, p)| {
                    Frame::Array(vec![
                        bulk_id(*id),
                        Frame::Integer(p.delivered_ms as i64),
                        Frame::Integer(p.deliveries as i64),
                    ])
                })
                .collect();
            Frame::Map(vec![
                (text("name"), Frame::Bulk(cname.clone())),
                (text("seen-time"), Frame::Integer(c.seen_ms as i64)),
                (text("pel-count"), Frame::Integer(c.pending.len() as i64)),
                (text("pending"), Frame::Array(pel)),
            ])
        })
        .collect();
    Frame::Map(vec![
        (text("name"), Frame::Bulk(name.clone())),
        (text("last-delivered-id"), bulk_id(g.last_id)),
        (text("entries-read"), maybe(g.entries_read)),
        (text("lag"), maybe(stream.lag(g))),
        (text("pel-count"), Frame::Integer(g.pending.len() as i64)),
        (text("pending"), Frame::Array(pel)),
        (text("consumers"), Frame::Array(consumers)),
    ])
}

/// XINFO STREAM's reply: the summary, or with FULL (and its count, 0 for all) the entries.
fn info_stream(stream: &Stream, full: Option<u64>) -> Frame {
    let s = |text: &str| Frame::Bulk(Bytes::copy_from_slice(text.as_bytes()));
    let mut fields = vec![
        (s("length"), Frame::Integer(stream.len() as i64)),
        (s("radix-tree-keys"), Frame::Integer(stream.radix_keys() as i64)),
        (s("radix-tree-nodes"), Frame::Integer(stream.radix_nodes() as i64)),
        (s("last-generated-id"), bulk_id(stream.last_id)),
        (s("max-deleted-entry-id"), bulk_id(stream.max_deleted)),
        (s("entries-added"), Frame::Integer(stream.entries_added as i64)),
        (s("recorded-first-entry-id"), bulk_id(stream.first_id())),
    ];
    match full {
        None => {
            let edge = |e: Option<(&StreamId, &Vec<Bytes>)>| match e {
                Some((id, f)) => entry_frame(*id, f),
                None => Frame::Null,
            };
            fields.push((s("groups"), Frame::Integer(stream.groups.len() as i64)));
            fields.push((s("first-entry"), edge(stream.first_entry())));
            fields.push((s("last-entry"), edge(stream.last_entry())));
        }
        Some(count) => {
            let entries = stream.range(StreamId::MIN, StreamId::MAX, false, count as usize);
            fields.push((s("entries"), entries_frame(entries)));
            let groups =
                stream.groups.iter().map(|(name, g)| full_group(stream, name, g, count)).collect();
            fields.push((s("groups"), Frame::Array(groups)));
        }
    }
    Frame::Map(fields)
}

/// XGROUP HELP, in Redis 7.0's words.
const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

/// XINFO HELP, in Redis 7.0's words.
const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];
