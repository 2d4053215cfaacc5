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
use shared::command::{StreamId, Trim, TrimTo, NODE_MAX_ENTRIES};

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
}
