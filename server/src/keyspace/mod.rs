//! [`Keyspace`]: the keys and their values (db 0, the only database: `SELECT` of another is
//! accepted as Redis would but every key lives here).
//!
//! Keys are binary-safe `Bytes` in 16 shards, each behind its own lock; a key's shard is the
//! top bits of a fixed hash of it, and inside a shard keys are ordered by (hash, key). So the
//! whole keyspace is ordered by hash, and SCAN's cursor is simply the next hash to visit: a
//! key present for the whole scan is returned once (twice only if the cursor is reused),
//! whatever is inserted or removed meanwhile. Expiry is lazy: a key past its time is removed
//! when it is accessed, and counted out (and removed) by DBSIZE, KEYS, SCAN and `INFO
//! keyspace`; there is no active expiry pass yet. Time is passed in (milliseconds since the
//! epoch), as everywhere below the session.

pub mod stream;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use shared::glob::glob_match;

pub use stream::{AddError, Consumer, Delivered, Group, Pending, Stream};

/// The number of shards (a power of two; the top bits of a key's hash pick its shard).
const SHARDS: usize = 16;
const SHARD_SHIFT: u32 = 60;

/// A key's value: one variant per type served.
#[derive(Debug)]
pub enum Value {
    /// A stream.
    Stream(Stream),
}

impl Value {
    /// The name TYPE answers and SCAN's TYPE filters on.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Stream(_) => "stream",
        }
    }
}

/// A key's value and its expiry.
#[derive(Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// When it expires, in milliseconds since the epoch.
    expires_at: Option<u64>,
}

impl Entry {
    /// When the key expires (milliseconds since the epoch), if it does.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }
}

type Key = (u64, Bytes);

#[derive(Default)]
struct Shard {
    map: BTreeMap<Key, Entry>,
    /// How many entries of `map` have an expiry.
    expires: usize,
}

impl Shard {
    /// Removes every expired key.
    fn purge(&mut self, now_ms: u64) {
        if self.expires == 0 {
            return;
        }
        let before = self.map.len();
        self.map.retain(|_, e| !e.expired(now_ms));
        let gone = before - self.map.len();
        self.expires -= gone;
    }

    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        if entry.expires_at.is_some() {
            self.expires -= 1;
        }
        Some(entry)
    }
}

/// One key's place in its locked shard: what a command reads or changes.
pub struct Slot<'a> {
    shard: MutexGuard<'a, Shard>,
    key: Key,
}

impl Slot<'_> {
    /// The key's entry, if it exists (and has not expired: [`Keyspace::slot`] removed it).
    pub fn get(&mut self) -> Option<&mut Entry> {
        self.shard.map.get_mut(&self.key)
    }

    /// Sets the key to `value`, with no expiry; returns its entry.
    pub fn insert(&mut self, value: Value) -> &mut Entry {
        self.remove();
        self.shard.map.entry(self.key.clone()).or_insert(Entry { value, expires_at: None })
    }

    /// Removes the key: returns true if and only if it existed.
    pub fn remove(&mut self) -> bool {
        let key = self.key.clone();
        self.shard.remove(&key).is_some()
    }

    /// Sets or clears the key's expiry; does nothing if the key does not exist.
    pub fn set_expiry(&mut self, at: Option<u64>) {
        let key = self.key.clone();
        let Some(entry) = self.shard.map.get_mut(&key) else { return };
        let had = entry.expires_at.is_some();
        entry.expires_at = at;
        match (had, at.is_some()) {
            (false, true) => self.shard.expires += 1,
            (true, false) => self.shard.expires -= 1,
            _ => {}
        }
    }
}

/// Every key of the one database.
pub struct Keyspace {
    shards: Vec<Mutex<Shard>>,
}

impl Default for Keyspace {
    fn default() -> Keyspace {
        Keyspace { shards: (0..SHARDS).map(|_| Mutex::default()).collect() }
    }
}

/// A fixed hash (SipHash with zero keys) so that SCAN cursors keep their meaning.
fn hash(key: &[u8]) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

impl Keyspace {
    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks `key`'s shard, removing the key first if it has expired at `now_ms`. Hold the
    /// slot only while reading or changing this key: never across another key's lock.
    pub fn slot(&self, key: &Bytes, now_ms: u64) -> Slot<'_> {
        let h = hash(key);
        let mut shard = self.lock((h >> SHARD_SHIFT) as usize);
        let key = (h, key.clone());
        if shard.map.get(&key).is_some_and(|e| e.expired(now_ms)) {
            shard.remove(&key);
        }
        Slot { shard, key }
    }

    /// Returns true if and only if `key` exists at `now_ms`.
    pub fn exists(&self, key: &Bytes, now_ms: u64) -> bool {
        self.slot(key, now_ms).get().is_some()
    }

    /// Removes `key`: returns true if and only if it existed.
    pub fn remove(&self, key: &Bytes, now_ms: u64) -> bool {
        self.slot(key, now_ms).remove()
    }

    /// The number of keys, and of keys with an expiry, at `now_ms`.
    pub fn counts(&self, now_ms: u64) -> (usize, usize) {
        (0..SHARDS).fold((0, 0), |(keys, expires), i| {
            let mut shard = self.lock(i);
            shard.purge(now_ms);
            (keys + shard.map.len(), expires + shard.expires)
        })
    }

    /// Every key matching the glob `pattern`.
    pub fn keys(&self, pattern: &[u8], now_ms: u64) -> Vec<Bytes> {
        let mut out = Vec::new();
        for i in 0..SHARDS {
            let mut shard = self.lock(i);
            shard.purge(now_ms);
            let matching = shard.map.keys().filter(|(_, k)| glob_match(pattern, k));
            out.extend(matching.map(|(_, k)| k.clone()));
        }
        out
    }

    /// One step of SCAN from `cursor`: visits about `count` keys (all keys of the same hash
    /// as the last together), and returns the next cursor (0 when done) with the keys
    /// visited for which `keep` holds.
    pub fn scan(
        &self,
        cursor: u64,
        count: u64,
        now_ms: u64,
        keep: impl Fn(&Bytes, &Entry) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let mut out = Vec::new();
        let mut visited = 0;
        let mut last: Option<u64> = None;
        for i in (cursor >> SHARD_SHIFT) as usize..SHARDS {
            let mut shard = self.lock(i);
            shard.purge(now_ms);
            for ((h, key), entry) in shard.map.range((cursor, Bytes::new())..) {
                if visited >= count && last != Some(*h) {
                    return (*h, out);
                }
                visited += 1;
                last = Some(*h);
                if keep(key, entry) {
                    out.push(key.clone());
                }
            }
        }
        (0, out)
    }

    /// Removes every key (FLUSHALL, FLUSHDB): returns how many there were.
    pub fn flush(&self) -> usize {
        (0..SHARDS)
            .map(|i| {
                let mut shard = self.lock(i);
                let gone = std::mem::take(&mut shard.map);
                shard.expires = 0;
                gone.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Value {
        Value::Stream(Stream::default())
    }

    #[test]
    fn keys_expire_lazily_and_leave_the_counts() {
        let ks = Keyspace::default();
        let (a, b) = (Bytes::from("a"), Bytes::from("b"));
        ks.slot(&a, 0).insert(stream());
        ks.slot(&b, 0).insert(stream());
        ks.slot(&b, 0).set_expiry(Some(100));
        assert_eq!(ks.counts(50), (2, 1));
        assert!(ks.exists(&b, 99));
        assert!(!ks.exists(&b, 100));
        assert_eq!(ks.counts(100), (1, 0));
        assert_eq!(ks.keys(b"*", 100), vec![a.clone()]);
        assert!(ks.remove(&a, 100));
        assert!(!ks.remove(&a, 100));
        assert_eq!(ks.flush(), 0);
    }

    #[test]
    fn a_scan_returns_every_key_present_throughout_despite_inserts() {
        let ks = Keyspace::default();
        let names: Vec<Bytes> = (0..500).map(|i| Bytes::from(format!("k{i}"))).collect();
        for k in &names {
            ks.slot(k, 0).insert(stream());
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let mut added = 0;
        loop {
            let (next, keys) = ks.scan(cursor, 7, 0, |_, _| true);
            seen.extend(keys);
            // Keys come and go meanwhile.
            ks.slot(&Bytes::from(format!("new{added}")), 0).insert(stream());
            ks.remove(&Bytes::from(format!("new{}", added / 2)), 0);
            added += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for k in &names {
            assert!(seen.contains(k), "{k:?} missed");
        }
        let (_, typed) = ks.scan(0, 1000, 0, |_, e| e.value.type_name() == "hash");
        assert!(typed.is_empty());
    }
}
