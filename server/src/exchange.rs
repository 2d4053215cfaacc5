//! The exchange: which connections subscribe to which channels and patterns, and fan-out.
//!
//! Channels are spread over shards, each behind its own lock, so publishers to different
//! channels rarely meet. An operation that needs several shards (subscribing to many channels
//! at once, a connection leaving, `PUBSUB NUMSUB`) locks them in ascending shard order, the
//! classic rule that makes deadlock impossible. A published message is encoded once per RESP
//! version and the same refcounted bytes go to every receiver's mailbox.
//!
//! Subscriber lists are `Arc<[Subscriber]>` replaced on change (copy-on-write): publishing
//! clones one `Arc` under the lock and pushes to mailboxes after releasing it.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use shared::glob::glob_match;
use shared::resp::{encode_bulk, encode_header};
use shared::RespVersion;

use crate::mailbox::{Mailbox, Push};

/// Number of channel shards. A power of two well above the core count keeps contention low.
const SHARDS: usize = 64;

/// One connection's subscription: who it is and where its messages go.
#[derive(Clone)]
pub struct Subscriber {
    /// The connection's id, unique for the server's lifetime.
    pub id: u64,
    /// The connection's mailbox.
    pub mailbox: Arc<Mailbox>,
}

type Subscribers = Arc<[Subscriber]>;

/// Outcome of one [`Exchange::publish`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Receivers the message was addressed to (channel subscribers plus matching patterns):
    /// the `PUBLISH` reply.
    pub receivers: usize,
    /// Of those, how many mailboxes refused it (overflowed or closing).
    pub dropped: usize,
}

/// The registry of channel and pattern subscriptions.
pub struct Exchange {
    shards: Box<[Mutex<HashMap<Bytes, Subscribers>>]>,
    patterns: RwLock<HashMap<Bytes, Subscribers>>,
    hasher: RandomState,
}

impl Default for Exchange {
    fn default() -> Self {
        Exchange::new()
    }
}

impl Exchange {
    /// An exchange with no subscriptions.
    pub fn new() -> Exchange {
        Exchange {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            patterns: RwLock::new(HashMap::new()),
            hasher: RandomState::new(),
        }
    }

    fn shard_of(&self, channel: &[u8]) -> usize {
        self.hasher.hash_one(channel) as usize % SHARDS
    }

    /// Locks the shards holding `channels`, each once, in ascending shard order.
    fn lock_shards<'a>(
        &'a self,
        channels: impl IntoIterator<Item = &'a Bytes>,
    ) -> Vec<(usize, MutexGuard<'a, HashMap<Bytes, Subscribers>>)> {
        let order: BTreeSet<usize> = channels.into_iter().map(|c| self.shard_of(c)).collect();
        order.into_iter().map(|i| (i, lock(&self.shards[i]))).collect()
    }

    /// Adds `sub` to every channel in `channels` (which it must not already be subscribed to).
    pub fn subscribe(&self, sub: &Subscriber, channels: &[Bytes]) {
        let mut guards = self.lock_shards(channels);
        for channel in channels {
            let shard = self.shard_of(channel);
            let (_, map) = guards.iter_mut().find(|(i, _)| *i == shard).expect("shard locked");
            add(map.entry(channel.clone()).or_insert_with(|| Arc::from([])), sub);
        }
    }

    /// Removes connection `id` from every channel in `channels`.
    pub fn unsubscribe(&self, id: u64, channels: &[Bytes]) {
        let mut guards = self.lock_shards(channels);
        for channel in channels {
            let shard = self.shard_of(channel);
            let (_, map) = guards.iter_mut().find(|(i, _)| *i == shard).expect("shard locked");
            remove_from(map, channel, id);
        }
    }

    /// Adds `sub` to every pattern in `patterns`.
    pub fn psubscribe(&self, sub: &Subscriber, patterns: &[Bytes]) {
        let mut map = self.patterns.write().unwrap_or_else(|e| e.into_inner());
        for pattern in patterns {
            add(map.entry(pattern.clone()).or_insert_with(|| Arc::from([])), sub);
        }
    }

    /// Removes connection `id` from every pattern in `patterns`.
    pub fn punsubscribe(&self, id: u64, patterns: &[Bytes]) {
        let mut map = self.patterns.write().unwrap_or_else(|e| e.into_inner());
        for pattern in patterns {
            remove_from(&mut map, pattern, id);
        }
    }

    /// Delivers `message` on `channel` to every channel subscriber and every subscriber of a
    /// matching pattern. The frames are encoded once per RESP version and shared.
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> Published {
        let mut published = Published::default();
        let direct = lock(&self.shards[self.shard_of(channel)]).get(channel).cloned();
        if let Some(subs) = direct {
            let mut frames = [None, None];
            for sub in subs.iter() {
                let version = sub.mailbox.version();
                let frame = frames[version as usize]
                    .get_or_insert_with(|| message_frame(version, None, channel, message));
                published.deliver(&sub.mailbox, frame.clone());
            }
        }
        let patterns = self.patterns.read().unwrap_or_else(|e| e.into_inner());
        for (pattern, subs) in patterns.iter() {
            if !glob_match(pattern, channel) {
                continue;
            }
            let mut frames = [None, None];
            for sub in subs.iter() {
                let version = sub.mailbox.version();
                let frame = frames[version as usize]
                    .get_or_insert_with(|| message_frame(version, Some(pattern), channel, message));
                published.deliver(&sub.mailbox, frame.clone());
            }
        }
        published
    }

    /// `PUBSUB CHANNELS [pattern]`: channels with at least one subscriber, optionally only
    /// those matching `pattern`. Takes every shard in ascending order for a consistent view.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let guards: Vec<_> = self.shards.iter().map(lock).collect();
        guards
            .iter()
            .flat_map(|map| map.keys())
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c)))
            .cloned()
            .collect()
    }

    /// `PUBSUB NUMSUB`: the subscriber count of each channel, in the order asked.
    pub fn numsub(&self, channels: &[Bytes]) -> Vec<usize> {
        let guards = self.lock_shards(channels);
        channels
            .iter()
            .map(|c| {
                let shard = self.shard_of(c);
                let (_, map) = guards.iter().find(|(i, _)| *i == shard).expect("shard locked");
                map.get(c).map_or(0, |subs| subs.len())
            })
            .collect()
    }

    /// `PUBSUB NUMPAT`: how many distinct patterns have subscribers.
    pub fn numpat(&self) -> usize {
        self.patterns.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Published {
    fn deliver(&mut self, mailbox: &Mailbox, frame: Bytes) {
        self.receivers += 1;
        if mailbox.push(frame) == Push::Dropped {
            self.dropped += 1;
        }
    }
}

/// Encodes `message` (or `pmessage` when `pattern` is given) as its subscribers read it:
/// an array in RESP2, a push frame in RESP3.
fn message_frame(
    version: RespVersion,
    pattern: Option<&Bytes>,
    channel: &[u8],
    message: &[u8],
) -> Bytes {
    let kind = if version == RespVersion::Resp3 { b'>' } else { b'*' };
    let mut out = Vec::with_capacity(message.len() + channel.len() + 48);
    match pattern {
        Some(pattern) => {
            encode_header(&mut out, kind, 4);
            encode_bulk(&mut out, b"pmessage");
            encode_bulk(&mut out, pattern);
        }
        None => {
            encode_header(&mut out, kind, 3);
            encode_bulk(&mut out, b"message");
        }
    }
    encode_bulk(&mut out, channel);
    encode_bulk(&mut out, message);
    Bytes::from(out)
}

fn add(list: &mut Subscribers, sub: &Subscriber) {
    *list = list.iter().cloned().chain(std::iter::once(sub.clone())).collect();
}

/// Removes `id` from `key`'s list, dropping the key once nobody is left.
fn remove_from(map: &mut HashMap<Bytes, Subscribers>, key: &Bytes, id: u64) {
    if let Some(list) = map.get_mut(key) {
        *list = list.iter().filter(|s| s.id != id).cloned().collect();
        if list.is_empty() {
            map.remove(key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single map operation, so a panic elsewhere cannot
    // leave a map half-changed: a poisoned lock is still safe to use.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::Wake;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    struct NoWake;
    impl Wake for NoWake {
        fn wake(&self) {}
    }

    fn sub(id: u64, limit: usize) -> Subscriber {
        Subscriber { id, mailbox: Arc::new(Mailbox::new(limit, Arc::new(NoWake))) }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn drained(sub: &Subscriber) -> Vec<u8> {
        let mut taken = std::collections::VecDeque::new();
        sub.mailbox.drain(&mut taken, usize::MAX);
        taken.iter().flat_map(|m| m.iter().copied()).collect()
    }

    #[test]
    fn channels_and_patterns_receive_encoded_messages() {
        let ex = Exchange::new();
        let (a, p) = (sub(1, 1024), sub(2, 1024));
        p.mailbox.set_version(RespVersion::Resp3);
        ex.subscribe(&a, &[b("news")]);
        ex.psubscribe(&p, &[b("n*"), b("x*")]);
        let published = ex.publish(&b("news"), &b("hi"));
        assert_eq!(published, Published { receivers: 2, dropped: 0 });
        assert_eq!(drained(&a), b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
        assert_eq!(drained(&p), b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
        assert_eq!(ex.numsub(&[b("news"), b("none")]), vec![1, 0]);
        assert_eq!(ex.numpat(), 2);
        assert_eq!(ex.channels(Some(b"n?ws")), vec![b("news")]);
        ex.unsubscribe(1, &[b("news")]);
        ex.punsubscribe(2, &[b("n*"), b("x*")]);
        assert_eq!(ex.publish(&b("news"), &b("hi")).receivers, 0);
        assert!(ex.channels(None).is_empty());
        assert_eq!(ex.numpat(), 0);
    }

    #[test]
    fn a_full_mailbox_counts_as_dropped() {
        let ex = Exchange::new();
        let small = sub(1, 10);
        ex.subscribe(&small, &[b("c")]);
        assert_eq!(ex.publish(&b("c"), &b("x")), Published { receivers: 1, dropped: 1 });
    }

    /// Many threads subscribe to and leave overlapping sets of channels (so every operation
    /// takes several shards) while others publish. With shards taken out of order this
    /// deadlocks; the watchdog turns a hang into a failure instead of a stuck test run.
    #[test]
    fn concurrent_multi_shard_operations_do_not_deadlock() {
        let ex = Arc::new(Exchange::new());
        let stop = Arc::new(AtomicBool::new(false));
        let channels: Vec<Bytes> = (0..200).map(|i| b(&format!("ch{i}"))).collect();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for t in 0..8u64 {
            let (ex, channels, done_tx) = (ex.clone(), channels.clone(), done_tx.clone());
            threads.push(std::thread::spawn(move || {
                let me = sub(t, 1 << 20);
                for round in 0..300usize {
                    // Forward for even threads, backward for odd: opposite orders of channels.
                    let mut set: Vec<Bytes> = (0..20)
                        .map(|k| channels[(round * 7 + k * 13 + t as usize) % 200].clone())
                        .collect();
                    set.sort();
                    set.dedup();
                    if t % 2 == 1 {
                        set.reverse();
                    }
                    ex.subscribe(&me, &set);
                    ex.numsub(&set);
                    ex.unsubscribe(t, &set);
                    drained(&me);
                }
                done_tx.send(()).unwrap();
            }));
        }
        for _ in 0..2 {
            let (ex, channels, stop) = (ex.clone(), channels.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    ex.publish(&channels[i % 200], &b("m"));
                    ex.channels(None);
                    i += 1;
                }
            }));
        }
        for _ in 0..8 {
            done_rx
                .recv_timeout(Duration::from_secs(120))
                .expect("a subscriber thread did not finish: deadlock in the exchange");
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        assert!(ex.channels(None).is_empty());
    }
}
