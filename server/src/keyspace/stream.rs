//! [`Stream`]: a stream's entries in memory, ordered by id, with what Redis 7.0 records beside
//! them (last id, entries added, max deleted id, first id).
//!
//! Entries live in a `BTreeMap` by id: ordered iteration both ways, O(log n) appends and
//! deletes, and ranges from any id, which is what XRANGE, XREAD and trimming need. Redis keeps
//! a radix tree of listpack nodes (up to `stream-node-max-entries`, 100, per node) for memory;
//! its nodes are observable through `~` trimming (only whole nodes go) and XINFO's
//! `radix-tree-keys`/`radix-tree-nodes`, so [`Stream`] also keeps the node boundaries an
//! append would have made (100 entries, or 4096 bytes of listpack, whose encoded size is
//! reckoned here from Redis's listpack rules), and nothing else of them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use shared::command::{Claim, StreamId, Trim, TrimTo, NODE_MAX_ENTRIES};

/// The bytes after which Redis's default `stream-node-max-bytes` closes a node.
const NODE_MAX_BYTES: usize = 4096;

/// A node as Redis would have made it: the id of its first entry, the entries appended to it
/// (deleted ones included, as Redis counts them to decide when the node is full), the live
/// ones and an estimate of its size.
#[derive(Clone, Debug)]
struct Node {
    first: StreamId,
    appended: u64,
    live: u64,
    bytes: usize,
    /// The fields of its first entry (Redis's master fields: an entry with the same fields
    /// stores only its values).
    fields: Vec<Bytes>,
}

/// The sizes of Redis's listpack encoding, to know when Redis would open a node.
mod listpack {
    use bytes::Bytes;
    use shared::command::{parse_integer, StreamId};

    /// An element of `len` encoded bytes, with its back-length.
    fn element(len: usize) -> usize {
        let back = match len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        len + back
    }

    fn int(v: i64) -> usize {
        element(match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8388608..=8388607 => 4,
            -2147483648..=2147483647 => 5,
            _ => 9,
        })
    }

    fn string(s: &[u8]) -> usize {
        // A string that reads as an integer is stored as one.
        if s.len() <= 20 {
            if let Some(v) = parse_integer(s) {
                return int(v);
            }
        }
        element(match s.len() {
            0..=63 => 1 + s.len(),
            64..=4095 => 2 + s.len(),
            _ => 5 + s.len(),
        })
    }

    /// A new node's listpack with its master entry (count, deleted, the fields, the end
    /// mark): header and terminator included.
    pub fn master(fields: &[Bytes]) -> usize {
        7 + int(1)
            + int(0)
            + int(fields.len() as i64)
            + fields.iter().map(|f| string(f)).sum::<usize>()
            + int(0)
    }

    /// An entry appended to the node whose master id and fields are given.
    pub fn entry(master: StreamId, names: &[Bytes], id: StreamId, fields: &[Bytes]) -> usize {
        let n = fields.len() / 2;
        let same = n == names.len() && fields.iter().step_by(2).zip(names).all(|(f, m)| f == m);
        let ms = id.ms.wrapping_sub(master.ms) as i64;
        let seq = id.seq.wrapping_sub(master.seq) as i64;
        let mut size = int(0) + int(ms) + int(seq);
        let count = if same {
            size += fields.iter().skip(1).step_by(2).map(|v| string(v)).sum::<usize>();
            n + 3
        } else {
            size += int(n as i64) + fields.iter().map(|f| string(f)).sum::<usize>();
            n * 2 + 4
        };
        size + int(count as i64)
    }
}

/// Why XADD did not append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The id is not above the last one.
    NotAbove,
    /// The last id is the largest there is.
    Exhausted,
}

/// One stream.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    entries: BTreeMap<StreamId, Vec<Bytes>>,
    nodes: VecDeque<Node>,
    /// The last id given to an entry (or set by XSETID).
    pub last_id: StreamId,
    /// Every entry ever added.
    pub entries_added: u64,
    /// The largest id deleted (XDEL or trimming), or set by XSETID.
    pub max_deleted: StreamId,
    /// The consumer groups by name (in byte order, as XINFO GROUPS lists them).
    pub groups: BTreeMap<Bytes, Group>,
}

/// An entry delivered to a group's consumer and not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The consumer that holds it.
    pub consumer: Bytes,
    /// When it was last delivered (ms).
    pub delivered_ms: u64,
    /// How many times it was delivered.
    pub deliveries: u64,
}

/// A group's consumer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// When it last read or was created (ms): XINFO CONSUMERS's idle counts from it.
    pub seen_ms: u64,
    /// When it last got entries (ms), if ever.
    pub active_ms: Option<u64>,
    /// The ids of the entries it holds pending.
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// The last id delivered to the group.
    pub last_id: StreamId,
    /// How many entries the group read, when known (Redis's `entries-read`).
    pub entries_read: Option<u64>,
    /// The entries delivered and not acknowledged, by id.
    pub pending: BTreeMap<StreamId, Pending>,
    /// The consumers by name.
    pub consumers: BTreeMap<Bytes, Consumer>,
}

/// What a group read gives for one entry: its id and fields, or `None` for an entry of a
/// consumer's history that was deleted since.
pub type Delivered = (StreamId, Option<Vec<Bytes>>);

impl Group {
    /// The consumer `name`, made (seen at `now`) if missing; true if it was made.
    pub fn consumer(&mut self, name: &Bytes, now: u64) -> (&mut Consumer, bool) {
        let made = !self.consumers.contains_key(name);
        let consumer = self
            .consumers
            .entry(name.clone())
            .or_insert_with(|| Consumer { seen_ms: now, ..Consumer::default() });
        (consumer, made)
    }

    /// Removes the consumer `name` and its pending entries: their count, or `None` if there
    /// was no such consumer.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pending {
            self.pending.remove(id);
        }
        Some(consumer.pending.len())
    }

    /// Acknowledges `id`: true if and only if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(p) = self.pending.remove(&id) else { return false };
        if let Some(c) = self.consumers.get_mut(&p.consumer) {
            c.pending.remove(&id);
        }
        true
    }

    /// Records `id` as delivered to `consumer` at `now`, first time (count 1), taking it from
    /// any consumer that held it (after XGROUP SETID moved the group back).
    fn deliver_new(&mut self, consumer: &Bytes, id: StreamId, now: u64) {
        let new = Pending { consumer: consumer.clone(), delivered_ms: now, deliveries: 1 };
        if let Some(old) = self.pending.insert(id, new) {
            if let Some(c) = self.consumers.get_mut(&old.consumer) {
                c.pending.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
    }
}

impl Stream {
    /// Whether a deleted entry may lie between `start` and the end, as Redis's
    /// `streamRangeHasTombstones`.
    fn tombstones_from(&self, start: StreamId) -> bool {
        !self.is_empty() && self.max_deleted != StreamId::MIN && start <= self.max_deleted
    }

    /// How many entries were added up to `id` included, when it can be known (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`).
    pub fn entries_up_to(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        let first = self.first_id();
        if self.max_deleted == StreamId::MIN || self.max_deleted < first {
            if id < first {
                return Some(self.entries_added - self.len() as u64);
            }
            if id == first {
                return Some(self.entries_added - self.len() as u64 + 1);
            }
        }
        None
    }

    /// A group's lag: the entries added that it has not read, when it can be known.
    pub fn lag(&self, group: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let read = match group.entries_read {
            Some(read) if !self.tombstones_from(group.last_id) => Some(read),
            _ => self.entries_up_to(group.last_id),
        };
        read.map(|read| self.entries_added.saturating_sub(read))
    }

    /// XREADGROUP `>`: gives `consumer` (made if missing) the entries after the group's last
    /// id, at most `count` (0: all), moving the group's last id and, without `noack`, adding
    /// them to the pending entries. `None` if there is no such group.
    pub fn read_new(
        &mut self,
        group: &[u8],
        consumer: &Bytes,
        count: usize,
        noack: bool,
        now: u64,
    ) -> Option<Vec<Delivered>> {
        let last = self.groups.get(group)?.last_id;
        let entries = match last.next() {
            Some(low) => self.range(low, StreamId::MAX, false, count),
            None => Vec::new(),
        };
        // Per entry: a deleted entry ahead of it, and its counter as far as it can be known.
        let counters: Vec<(bool, Option<u64>)> = entries
            .iter()
            .map(|(id, _)| (self.tombstones_from(*id), self.entries_up_to(*id)))
            .collect();
        let added = self.entries_added;
        let g = self.groups.get_mut(group)?;
        let (c, _) = g.consumer(consumer, now);
        c.seen_ms = now;
        if !entries.is_empty() {
            c.active_ms = Some(now);
        }
        for ((id, _), (tombstones, counter)) in entries.iter().zip(counters) {
            g.entries_read = match g.entries_read {
                Some(read) if !tombstones => Some(read + 1),
                _ if added > 0 => counter,
                read => read,
            };
            g.last_id = *id;
            if !noack {
                g.deliver_new(consumer, *id, now);
            }
        }
        Some(entries.into_iter().map(|(id, f)| (id, Some(f))).collect())
    }

    /// XCLAIM: gives `consumer` (made if needed) the pending entries of `claim` idle long
    /// enough (with FORCE, entries no one holds too), delivered at `delivered_ms`; drops from
    /// the pending entries those deleted from the stream. Returns the entries claimed, or
    /// `None` if there is no such group.
    pub fn claim(
        &mut self,
        group: &[u8],
        consumer: &Bytes,
        claim: &Claim,
        delivered_ms: u64,
        now: u64,
    ) -> Option<Vec<(StreamId, Vec<Bytes>)>> {
        let g = self.groups.get_mut(group)?;
        g.last_id = g.last_id.max(claim.last_id);
        let mut out = Vec::new();
        for &id in &claim.ids {
            let Some(fields) = self.entries.get(&id) else {
                g.ack(id);
                continue;
            };
            let forced = !g.pending.contains_key(&id);
            if forced && !claim.force {
                continue;
            }
            if !forced && claim.min_idle > 0 {
                let idle = now as i64 - g.pending[&id].delivered_ms as i64;
                if idle < claim.min_idle as i64 {
                    continue;
                }
            }
            let (c, _) = g.consumer(consumer, now);
            c.seen_ms = now;
            c.pending.insert(id);
            let p = g.pending.entry(id).or_insert_with(|| Pending {
                consumer: consumer.clone(),
                delivered_ms: now,
                deliveries: 1,
            });
            let old = std::mem::replace(&mut p.consumer, consumer.clone());
            p.delivered_ms = delivered_ms;
            match claim.retry_count {
                Some(n) => p.deliveries = n.max(0) as u64,
                None if !claim.just_id => p.deliveries += 1,
                None => {}
            }
            if old != *consumer {
                if let Some(c) = g.consumers.get_mut(&old) {
                    c.pending.remove(&id);
                }
            }
            out.push((id, fields.clone()));
        }
        Some(out)
    }

    /// XAUTOCLAIM: looks at the group's pending entries from `start` (at most ten times
    /// `count`), gives `consumer` those idle at least `min_idle` and drops those deleted from
    /// the stream, `count` of both at most. Returns the entries claimed, the next id to look
    /// at (`0-0` at the end) and the ids dropped; `None` if there is no such group.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    pub fn auto_claim(
        &mut self,
        group: &[u8],
        consumer: &Bytes,
        min_idle: u64,
        start: StreamId,
        count: u64,
        just_id: bool,
        now: u64,
    ) -> Option<(Vec<(StreamId, Vec<Bytes>)>, StreamId, Vec<StreamId>)> {
        let g = self.groups.get_mut(group)?;
        let (mut claimed, mut dropped) = (Vec::new(), Vec::new());
        let (mut left, mut attempts) = (count, count.saturating_mul(10));
        let mut last = None;
        let ids: Vec<StreamId> = g.pending.range(start..).map(|(id, _)| *id).collect();
        let mut ids = ids.into_iter();
        while attempts > 0 && left > 0 {
            attempts -= 1;
            let Some(id) = ids.next() else { break };
            last = Some(id);
            let Some(fields) = self.entries.get(&id) else {
                g.ack(id);
                dropped.push(id);
                left -= 1;
                continue;
            };
            let p = &g.pending[&id];
            if min_idle > 0 && (now as i64 - p.delivered_ms as i64) < min_idle as i64 {
                continue;
            }
            let (c, _) = g.consumer(consumer, now);
            c.seen_ms = now;
            c.pending.insert(id);
            let p = g.pending.get_mut(&id).expect("pending");
            let old = std::mem::replace(&mut p.consumer, consumer.clone());
            p.delivered_ms = now;
            if !just_id {
                p.deliveries += 1;
            }
            if old != *consumer {
                if let Some(c) = g.consumers.get_mut(&old) {
                    c.pending.remove(&id);
                }
            }
            claimed.push((id, fields.clone()));
            left -= 1;
        }
        let next = match last {
            Some(last) => last.next().and_then(|after| g.pending.range(after..).next()),
            None => g.pending.range(start..).next(),
        };
        let next = next.map_or(StreamId::MIN, |(id, _)| *id);
        Some((claimed, next, dropped))
    }

    /// XREADGROUP with an id: `consumer`'s pending entries after `after`, at most `count` (0:
    /// all), each delivered once more. `None` if there is no such group.
    pub fn read_history(
        &mut self,
        group: &[u8],
        consumer: &Bytes,
        after: StreamId,
        count: usize,
        now: u64,
    ) -> Option<Vec<Delivered>> {
        let g = self.groups.get_mut(group)?;
        let (c, _) = g.consumer(consumer, now);
        c.seen_ms = now;
        let take = if count == 0 { usize::MAX } else { count };
        let ids: Vec<StreamId> = match after.next() {
            Some(low) => c.pending.range(low..).take(take).copied().collect(),
            None => Vec::new(),
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let fields = self.entries.get(&id).cloned();
            if fields.is_some() {
                if let Some(p) = g.pending.get_mut(&id) {
                    p.delivered_ms = now;
                    p.deliveries += 1;
                }
            }
            out.push((id, fields));
        }
        Some(out)
    }
}

impl Stream {
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true if and only if the stream holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry's id (`0-0` when empty), as XINFO's `recorded-first-entry-id`.
    pub fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or_default()
    }

    /// The first and last entries.
    pub fn first_entry(&self) -> Option<(&StreamId, &Vec<Bytes>)> {
        self.entries.iter().next()
    }

    /// The last entry.
    pub fn last_entry(&self) -> Option<(&StreamId, &Vec<Bytes>)> {
        self.entries.iter().next_back()
    }

    /// The id XADD `*` gives at `now_ms`, or XADD `ms-*` when `ms` is given.
    pub fn next_id(&self, now_ms: u64, ms: Option<u64>) -> Result<StreamId, AddError> {
        let last = self.last_id;
        match ms {
            Some(ms) if ms > last.ms => Ok(StreamId { ms, seq: 0 }),
            Some(ms) if ms == last.ms => {
                last.seq.checked_add(1).map(|seq| StreamId { ms, seq }).ok_or(AddError::NotAbove)
            }
            Some(_) => Err(AddError::NotAbove),
            None if last == StreamId::MAX => Err(AddError::Exhausted),
            None if now_ms > last.ms => Ok(StreamId { ms: now_ms, seq: 0 }),
            None => last.next().ok_or(AddError::Exhausted),
        }
    }

    /// Appends an entry (`fields` is field, value, ...) with `id`, which must be above the
    /// last id.
    pub fn append(&mut self, id: StreamId, fields: Vec<Bytes>) -> Result<(), AddError> {
        if id <= self.last_id {
            return Err(AddError::NotAbove);
        }
        // Redis opens a node when the last one's listpack plus the new fields' and values'
        // raw lengths reach its byte bound, or when it holds its count of entries.
        let raw: usize = fields.iter().map(Bytes::len).sum();
        match self.nodes.back_mut() {
            Some(node) if node.appended < NODE_MAX_ENTRIES && node.bytes + raw < NODE_MAX_BYTES => {
                node.appended += 1;
                node.live += 1;
                node.bytes += listpack::entry(node.first, &node.fields, id, &fields);
            }
            _ => {
                let names: Vec<Bytes> = fields.iter().step_by(2).cloned().collect();
                let bytes = listpack::master(&names) + listpack::entry(id, &names, id, &fields);
                self.nodes.push_back(Node { first: id, appended: 1, live: 1, bytes, fields: names })
            }
        }
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
        Ok(())
    }

    /// The node that holds `id`.
    fn node_of(&self, id: StreamId) -> Option<usize> {
        let after = self.nodes.partition_point(|n| n.first <= id);
        after.checked_sub(1)
    }

    /// Deletes the entry `id` (XDEL): returns true if and only if it was there. (Trimming
    /// does not move `max_deleted`, as in Redis 7.0.)
    pub fn delete(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        if let Some(n) = self.node_of(id) {
            self.nodes[n].live -= 1;
            if self.nodes[n].live == 0 {
                self.nodes.remove(n);
            }
        }
        self.max_deleted = self.max_deleted.max(id);
        true
    }

    /// Trims as XTRIM (or XADD's options) asks: returns how many entries went. With `~` only
    /// whole nodes go, and at most `limit` entries (0: no bound).
    pub fn trim(&mut self, trim: Trim) -> u64 {
        let mut removed = 0;
        while let Some(node) = self.nodes.front().cloned() {
            let len = self.entries.len() as u64;
            let whole = match trim.to {
                TrimTo::MaxLen(max) => len.saturating_sub(node.live) >= max,
                TrimTo::MinId(min) => {
                    let next_first = self.nodes.get(1).map(|n| n.first);
                    let last = match next_first {
                        Some(first) => self.entries.range(..first).next_back(),
                        None => self.entries.iter().next_back(),
                    };
                    last.is_some_and(|(id, _)| *id < min)
                }
            };
            if whole && !(trim.limit > 0 && removed + node.live > trim.limit) {
                let end = self.nodes.get(1).map(|n| n.first);
                let ids: Vec<StreamId> = match end {
                    Some(end) => self.entries.range(..end).map(|(id, _)| *id).collect(),
                    None => self.entries.keys().copied().collect(),
                };
                for id in &ids {
                    self.entries.remove(id);
                }
                removed += ids.len() as u64;
                self.nodes.pop_front();
                continue;
            }
            if trim.approx || whole {
                break;
            }
            // Exact: entry by entry within this node, then stop.
            let ids: Vec<StreamId> = match self.nodes.get(1).map(|n| n.first) {
                Some(end) => self.entries.range(..end).map(|(id, _)| *id).collect(),
                None => self.entries.keys().copied().collect(),
            };
            for id in ids {
                let go = match trim.to {
                    TrimTo::MaxLen(max) => self.entries.len() as u64 > max,
                    TrimTo::MinId(min) => id < min,
                };
                if !go {
                    break;
                }
                self.entries.remove(&id);
                self.nodes[0].live -= 1;
                removed += 1;
            }
            break;
        }
        removed
    }

    /// The entries from `start` to `end` (both included), lowest first or, with `rev`,
    /// highest first; at most `count` (0: all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<(StreamId, Vec<Bytes>)> {
        if start > end {
            return Vec::new();
        }
        let range = self.entries.range(start..=end).map(|(id, f)| (*id, f.clone()));
        let take = if count == 0 { usize::MAX } else { count };
        if rev {
            range.rev().take(take).collect()
        } else {
            range.take(take).collect()
        }
    }

    /// XINFO's `radix-tree-keys`: the nodes.
    pub fn radix_keys(&self) -> usize {
        self.nodes.len()
    }

    /// XINFO's `radix-tree-nodes`: the nodes of a radix tree holding the nodes' first ids
    /// (16 big-endian bytes each): the root, each key, each point where keys part and the
    /// first step of each branch there.
    pub fn radix_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self
            .nodes
            .iter()
            .map(|n| {
                let mut key = [0; 16];
                key[..8].copy_from_slice(&n.first.ms.to_be_bytes());
                key[8..].copy_from_slice(&n.first.seq.to_be_bytes());
                key
            })
            .collect();
        let mut prefixes: BTreeSet<Vec<u8>> = BTreeSet::new();
        prefixes.insert(Vec::new());
        for key in &keys {
            prefixes.insert(key.to_vec());
        }
        for pair in keys.windows(2) {
            let common = pair[0].iter().zip(&pair[1]).take_while(|(a, b)| a == b).count();
            prefixes.insert(pair[0][..common].to_vec());
            prefixes.insert(pair[0][..=common].to_vec());
            prefixes.insert(pair[1][..=common].to_vec());
        }
        prefixes.len()
    }

    /// XSETID: sets the last id, and optionally entries added and the max deleted id.
    pub fn set_id(
        &mut self,
        id: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) {
        self.last_id = id;
        if let Some(n) = entries_added {
            self.entries_added = n;
        }
        if let Some(max) = max_deleted {
            self.max_deleted = max;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    fn filled(n: u64) -> Stream {
        let mut s = Stream::default();
        for i in 1..=n {
            s.append(id(i, 0), vec![Bytes::from("f"), Bytes::from("v")]).unwrap();
        }
        s
    }

    #[test]
    fn appends_in_order_and_refuses_ids_not_above_the_last() {
        let mut s = filled(3);
        assert_eq!(s.append(id(3, 0), vec![]), Err(AddError::NotAbove));
        assert_eq!(s.next_id(2, None), Ok(id(3, 1)));
        assert_eq!(s.next_id(10, None), Ok(id(10, 0)));
        assert_eq!(s.next_id(0, Some(3)), Ok(id(3, 1)));
        assert_eq!(s.next_id(0, Some(2)), Err(AddError::NotAbove));
        s.set_id(StreamId::MAX, None, None);
        assert_eq!(s.next_id(0, None), Err(AddError::Exhausted));
        assert_eq!(s.len(), 3);
        assert_eq!(s.entries_added, 3);
    }

    #[test]
    fn ranges_both_ways_with_counts() {
        let s = filled(5);
        let ids =
            |v: Vec<(StreamId, Vec<Bytes>)>| v.into_iter().map(|(i, _)| i.ms).collect::<Vec<_>>();
        assert_eq!(ids(s.range(id(2, 0), StreamId::MAX, false, 2)), vec![2, 3]);
        assert_eq!(ids(s.range(StreamId::MIN, id(4, 0), true, 0)), vec![4, 3, 2, 1]);
        assert!(s.range(id(4, 0), id(2, 0), false, 0).is_empty());
    }

    #[test]
    fn deletes_record_the_largest_id_and_free_empty_nodes() {
        let mut s = filled(3);
        assert!(s.delete(id(2, 0)));
        assert!(!s.delete(id(2, 0)));
        assert_eq!(s.max_deleted, id(2, 0));
        assert_eq!(s.first_id(), id(1, 0));
        s.delete(id(1, 0));
        s.delete(id(3, 0));
        assert_eq!(s.radix_keys(), 0);
        assert_eq!(s.radix_nodes(), 1);
    }

    #[test]
    fn approximate_trims_take_whole_nodes_only() {
        let approx = |to| Trim { to, approx: true, limit: 100 * NODE_MAX_ENTRIES };
        let exact = |to| Trim { to, approx: false, limit: 0 };
        let mut s = filled(10);
        assert_eq!(s.trim(approx(TrimTo::MaxLen(2))), 0, "one node: nothing goes");
        assert_eq!(s.trim(exact(TrimTo::MaxLen(2))), 8);
        assert_eq!(s.len(), 2);
        assert_eq!(s.max_deleted, StreamId::MIN);
        let mut s = filled(250);
        assert_eq!(s.radix_keys(), 3);
        assert_eq!(s.trim(approx(TrimTo::MaxLen(120))), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(approx(TrimTo::MinId(id(240, 0)))), 100);
        assert_eq!(s.trim(exact(TrimTo::MinId(id(240, 0)))), 39);
        assert_eq!(s.first_id(), id(240, 0));
        let mut s = filled(250);
        let limited = Trim { to: TrimTo::MaxLen(0), approx: true, limit: 150 };
        assert_eq!(s.trim(limited), 100);
    }

    fn group(last: StreamId) -> Group {
        Group { last_id: last, ..Group::default() }
    }

    #[test]
    fn group_reads_deliver_new_entries_once_and_track_them_as_pending() {
        let mut s = filled(3);
        s.groups.insert(Bytes::from("g"), group(StreamId::MIN));
        let (alice, bob) = (Bytes::from("alice"), Bytes::from("bob"));
        assert!(s.read_new(b"nope", &alice, 0, false, 5).is_none());
        let got = s.read_new(b"g", &alice, 2, false, 5).unwrap();
        assert_eq!(got.iter().map(|(i, _)| i.ms).collect::<Vec<_>>(), vec![1, 2]);
        let got = s.read_new(b"g", &bob, 0, true, 6).unwrap();
        assert_eq!(got.len(), 1, "the rest, not what alice got");
        let g = &s.groups[&b"g"[..]];
        assert_eq!(g.last_id, id(3, 0));
        assert_eq!(g.entries_read, Some(3), "from the stream's counters");
        assert_eq!(g.pending.len(), 2, "NOACK left bob's entry out");
        assert_eq!(g.consumers[&alice].pending.len(), 2);
        assert_eq!(g.consumers[&bob].pending.len(), 0);
        assert_eq!(s.lag(g), Some(0));
        // History: alice's pending entries, delivered again.
        let got = s.read_history(b"g", &alice, id(1, 0), 0, 9).unwrap();
        assert_eq!(got, vec![(id(2, 0), Some(vec![Bytes::from("f"), Bytes::from("v")]))]);
        let p = &s.groups[&b"g"[..]].pending[&id(2, 0)];
        assert_eq!((p.deliveries, p.delivered_ms), (2, 9));
        // A deleted entry still pending reads as no fields, and is not counted as delivered.
        s.delete(id(1, 0));
        let got = s.read_history(b"g", &alice, StreamId::MIN, 1, 10).unwrap();
        assert_eq!(got, vec![(id(1, 0), None)]);
        assert_eq!(s.groups[&b"g"[..]].pending[&id(1, 0)].deliveries, 1);
    }

    #[test]
    fn acks_and_consumer_removal_clear_pending_entries() {
        let mut s = filled(3);
        s.groups.insert(Bytes::from("g"), group(StreamId::MIN));
        let (a, b) = (Bytes::from("a"), Bytes::from("b"));
        s.read_new(b"g", &a, 2, false, 1).unwrap();
        s.read_new(b"g", &b, 0, false, 1).unwrap();
        let g = s.groups.get_mut(&b"g"[..]).unwrap();
        assert!(g.ack(id(1, 0)));
        assert!(!g.ack(id(1, 0)));
        assert_eq!(g.consumers[&a].pending.iter().copied().collect::<Vec<_>>(), vec![id(2, 0)]);
        assert_eq!(g.remove_consumer(b"b"), Some(1));
        assert_eq!(g.remove_consumer(b"b"), None);
        assert_eq!(g.pending.keys().copied().collect::<Vec<_>>(), vec![id(2, 0)]);
        // Moved back (XGROUP SETID), the group delivers again and the entry changes hands.
        g.last_id = StreamId::MIN;
        s.read_new(b"g", &b, 2, false, 3).unwrap();
        let g = &s.groups[&b"g"[..]];
        assert_eq!(g.pending[&id(2, 0)], Pending { consumer: b, delivered_ms: 3, deliveries: 1 });
        assert!(g.consumers[&a].pending.is_empty());
    }

    #[test]
    fn lag_is_unknown_past_a_deletion_and_known_again_at_the_end() {
        let mut s = filled(5);
        let mut g = group(StreamId::MIN);
        g.entries_read = Some(0);
        assert_eq!(s.lag(&g), Some(5));
        s.delete(id(3, 0));
        let g = group(id(1, 0));
        assert_eq!(s.lag(&g), None, "a deleted entry between the group and the end");
        assert_eq!(s.lag(&group(id(5, 0))), Some(0));
        assert_eq!(s.entries_up_to(id(9, 0)), None);
        assert_eq!(Stream::default().lag(&g), Some(0));
    }
}
