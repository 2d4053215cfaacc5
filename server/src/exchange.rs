//! The exchange: which connections subscribe to which channels and patterns, and fan-out.
//!
//! Channels are spread over shards, each behind its own lock, so publishers to different
//! channels rarely meet. A channel keeps its subscribers in a dense list in which every
//! [`Subscription`] knows its own position, so joining and leaving cost O(1) however many
//! subscribers the channel has. A publish takes the receivers under the shard lock (a lone
//! subscriber: its handle; more: a snapshot `Arc` of the list, rebuilt by the first publish
//! after a change, O(n) once per batch of changes, the order of the fan-out itself), releases
//! the lock, and only then pushes to mailboxes. The message is encoded once per RESP version
//! and the same refcounted bytes go to every receiver.
//!
//! Patterns live in one table, which no publish touches while there are no patterns at all (an
//! atomic count is checked first). Otherwise a publish clones the current [`PrefixIndex`] of
//! the patterns (rebuilt lazily after a change, like a channel's snapshot) and matches outside
//! every lock: a slow match costs its own publisher time and never stalls a subscriber or
//! anyone else. The index groups patterns by their literal prefix, so only the patterns whose
//! prefix starts the channel's name are tried, each with Redis's [`glob_match`].
//!
//! Leaving removes the subscription, then revokes it in its mailbox ([`Mailbox::revoke`]): a
//! publisher still holding a snapshot from before has its push refused and counted as dropped.
//! So once [`Exchange::unsubscribe`] returns, nothing more for those subscriptions is queued,
//! and the session can confirm after draining what was queued before.
//!
//! Operations on several channels visit their shards one at a time in ascending order; those
//! that hold several at once (`PUBSUB CHANNELS`, `PUBSUB NUMSUB`) lock them in ascending shard
//! order, the classic rule that makes deadlock impossible. Channel and pattern counts for
//! `INFO` are counters kept on change.
//!
//! An [`InterestWatcher`] (the relay, when there is one) is told, after the locks are released,
//! of every classic channel that gained its first subscriber or lost its last, and of the
//! pattern table becoming empty or not: it reads the current state back
//! ([`Exchange::has_subscribers`], [`Exchange::numpat`]), so the order in which those calls
//! arrive does not matter.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use shared::glob::glob_match;
use shared::prefix_index::PrefixIndex;
use shared::resp::{encode_bulk, encode_header};
use shared::RespVersion;

use crate::mailbox::{Mailbox, Now, Push, Revocable};

/// Number of channel shards. A power of two well above the core count keeps contention low.
const SHARDS: usize = 64;

/// A channel or pattern name kept by the exchange or a session: an owned copy, never a view
/// into the read buffer the name arrived in (which the view would keep alive).
pub type Name = Arc<[u8]>;

/// One connection's subscription to one channel or pattern, made by [`Exchange::subscribe`] or
/// [`Exchange::psubscribe`]. The session holds one handle and the exchange another while it is
/// subscribed; every subscription of a channel shares the exchange's one copy of its name.
/// Handles compare and hash by name (a session holds at most one per name), so a session's set
/// of them is searched by name.
#[derive(Clone)]
pub struct Subscription(Arc<Entry>);

struct Entry {
    name: Name,
    mailbox: Arc<Mailbox>,
    /// Cleared when the subscription ends (see [`Revocable`]).
    live: Revocable,
    /// Its index in its channel's (or pattern's) list while that holds several subscribers.
    /// Read and written only under that channel's lock.
    slot: AtomicU32,
}

impl Subscription {
    fn new(name: Name, mailbox: &Arc<Mailbox>) -> Subscription {
        Subscription(Arc::new(Entry {
            name,
            mailbox: mailbox.clone(),
            live: Revocable::new(),
            slot: AtomicU32::new(0),
        }))
    }

    /// The channel or pattern subscribed to.
    pub fn name(&self) -> &[u8] {
        &self.0.name
    }

    /// Returns true if and only if both handles are the same subscription.
    fn same(&self, other: &Subscription) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn slot(&self) -> usize {
        self.0.slot.load(Ordering::Relaxed) as usize
    }

    fn set_slot(&self, slot: usize) {
        // Never truncates: a list holds at most one subscription per connection.
        self.0.slot.store(slot as u32, Ordering::Relaxed);
    }
}

impl PartialEq for Subscription {
    fn eq(&self, other: &Subscription) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Subscription {}

impl Hash for Subscription {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that `Borrow<[u8]>` lookups find it.
        self.name().hash(state);
    }
}

impl Borrow<[u8]> for Subscription {
    fn borrow(&self) -> &[u8] {
        self.name()
    }
}

/// The subscribers of one channel or pattern; never empty.
enum Subscribers {
    /// The common case, kept inline: nothing else allocated.
    One(Subscription),
    Many(Box<List>),
}

struct List {
    /// Invariant: `subs[i].slot() == i`, and there are at least two.
    subs: Vec<Subscription>,
    /// `subs` as the last publish saw it, shared with the publishers delivering it; `None` once
    /// `subs` changed since (the next publish builds a new one).
    snapshot: Option<Arc<[Subscription]>>,
}

/// The receivers of one publish, taken under a lock and delivered to after its release.
enum Receivers {
    One(Subscription),
    Many(Arc<[Subscription]>),
}

impl Receivers {
    fn as_slice(&self) -> &[Subscription] {
        match self {
            Receivers::One(sub) => std::slice::from_ref(sub),
            Receivers::Many(subs) => subs,
        }
    }
}

/// Snapshots replaced under a lock, to be dropped once it is released: dropping the last handle
/// of a snapshot releases each subscriber in it, O(n) work no lock holder should do.
type Garbage = Vec<Arc<[Subscription]>>;

impl Subscribers {
    /// The name every subscriber here shares.
    fn name(&self) -> &Name {
        match self {
            Subscribers::One(sub) => &sub.0.name,
            Subscribers::Many(list) => &list.subs[0].0.name,
        }
    }

    fn len(&self) -> usize {
        match self {
            Subscribers::One(_) => 1,
            Subscribers::Many(list) => list.subs.len(),
        }
    }

    /// Adds `sub`, which must not be here yet. O(1) amortized.
    fn insert(&mut self, sub: Subscription, garbage: &mut Garbage) {
        match self {
            Subscribers::One(first) => {
                let first = first.clone();
                first.set_slot(0);
                sub.set_slot(1);
                *self =
                    Subscribers::Many(Box::new(List { subs: vec![first, sub], snapshot: None }));
            }
            Subscribers::Many(list) => {
                sub.set_slot(list.subs.len());
                list.subs.push(sub);
                garbage.extend(list.snapshot.take());
            }
        }
    }

    /// Removes `sub` if it is here. Returns true if and only if nobody is left (the caller then
    /// drops the whole set). O(1) amortized: the last subscriber moves into the freed slot.
    fn remove(&mut self, sub: &Subscription, garbage: &mut Garbage) -> bool {
        let list = match self {
            Subscribers::One(only) => return only.same(sub),
            Subscribers::Many(list) => list,
        };
        let slot = sub.slot();
        if !list.subs.get(slot).is_some_and(|s| s.same(sub)) {
            debug_assert!(list.subs.iter().all(|s| !s.same(sub)), "slot out of date");
            return false;
        }
        list.subs.swap_remove(slot);
        if let Some(moved) = list.subs.get(slot) {
            moved.set_slot(slot);
        }
        garbage.extend(list.snapshot.take());
        if list.subs.len() == 1 {
            let last = list.subs.pop().expect("one left");
            *self = Subscribers::One(last);
        } else if list.subs.capacity() >= 16 && list.subs.len() * 4 <= list.subs.capacity() {
            // After a crowd left: give the memory back, at a cost the departures already paid.
            list.subs.shrink_to(list.subs.len() * 2);
        }
        false
    }

    /// Who a publish reaches now: builds the snapshot if a change made it stale.
    fn receivers(&mut self) -> Receivers {
        match self {
            Subscribers::One(sub) => Receivers::One(sub.clone()),
            Subscribers::Many(list) => {
                let List { subs, snapshot } = &mut **list;
                Receivers::Many(snapshot.get_or_insert_with(|| subs.as_slice().into()).clone())
            }
        }
    }
}

/// Outcome of one [`Exchange::publish`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Receivers the message was addressed to (channel subscribers plus matching patterns):
    /// the `PUBLISH` reply.
    pub receivers: usize,
    /// Of those, how many mailboxes refused it (overflowed, closing, or the subscription ended
    /// while the message was on its way).
    pub dropped: usize,
}

type Shard = HashMap<Name, Subscribers>;

/// Who is told when the exchange's interest changes: a classic channel gained its first
/// subscriber or lost its last, or the pattern table became empty or stopped being. Called after
/// every lock is released, from whichever thread made the change; it must only note the change
/// and return.
pub trait InterestWatcher: Send + Sync {
    /// Each of `channels` went from no subscriber to some, or back.
    fn channels_changed(&self, channels: &[Name]);
    /// The count of patterns went from zero to one, or back.
    fn patterns_changed(&self);
}

/// Which of a channel's receivers a publish reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Channel subscribers and matching patterns: a local `PUBLISH`.
    All,
    /// Only the channel's own subscribers.
    Channel,
    /// Only the subscribers of matching patterns.
    Patterns,
}

/// The registry of channel, pattern and shard-channel subscriptions.
pub struct Exchange {
    /// Classic channels (SUBSCRIBE, PUBLISH).
    channels: ChannelTable,
    /// Shard channels (SSUBSCRIBE, SPUBLISH): a namespace of their own, as in a standalone
    /// Redis 7, where a shard channel and a classic channel of the same name never meet.
    shard_channels: ChannelTable,
    patterns: Patterns,
    /// Told of interest changes in `channels` and `patterns`, once set.
    watcher: OnceLock<Arc<dyn InterestWatcher>>,
    /// The tap: connections that ran MONITOR.
    monitors: Monitors,
}

/// The connections that ran MONITOR: a snapshot the feed clones under the lock and pushes to
/// after it, and a count that is all a command pays while nobody monitors.
#[derive(Default)]
struct Monitors {
    count: AtomicUsize,
    list: Mutex<Arc<Vec<Arc<Monitor>>>>,
}

/// One monitoring connection: its mailbox, and the flag that stops the feed when it leaves.
struct Monitor {
    id: u64,
    mailbox: Arc<Mailbox>,
    live: Revocable,
}

/// One namespace of channels, spread over shards.
struct ChannelTable {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// Channels with at least one subscriber, kept on change.
    count: AtomicUsize,
}

struct Patterns {
    /// Distinct patterns with at least one subscriber, kept on change; while it is zero no
    /// publish takes the table's lock.
    count: AtomicUsize,
    table: Mutex<PatternTable>,
}

struct PatternTable {
    entries: HashMap<Name, Arc<PatternEntry>>,
    /// What publishers match against: `None` after a change, until the next publish builds it.
    index: Option<Arc<PatternIndex>>,
}

type PatternIndex = PrefixIndex<Arc<PatternEntry>>;

/// One pattern's subscribers, behind a lock of their own: publishers matching the pattern take
/// it only to copy the receivers.
struct PatternEntry {
    /// `None` once the last subscriber left (an older index may still hold the entry).
    subs: Mutex<Option<Subscribers>>,
}

impl Default for Exchange {
    fn default() -> Self {
        Exchange::new()
    }
}

impl ChannelTable {
    fn new() -> ChannelTable {
        ChannelTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            count: AtomicUsize::new(0),
        }
    }

    fn shard_of(&self, channel: &[u8]) -> usize {
        self.hasher.hash_one(channel) as usize % SHARDS
    }

    /// Runs `f(shard, i, garbage)` for every `i` below `n` with the shard of channel `name(i)`
    /// locked: the shards one at a time, in ascending order, each once. Snapshots replaced
    /// under a lock are dropped after it is released.
    fn in_shards<'a>(
        &self,
        n: usize,
        name: impl Fn(usize) -> &'a [u8],
        mut f: impl FnMut(&mut Shard, usize, &mut Garbage),
    ) {
        let mut order: Vec<(usize, usize)> = (0..n).map(|i| (self.shard_of(name(i)), i)).collect();
        order.sort_unstable();
        let mut garbage = Garbage::new();
        for run in order.chunk_by(|a, b| a.0 == b.0) {
            let mut shard = lock(&self.shards[run[0].0]);
            for &(_, i) in run {
                f(&mut shard, i, &mut garbage);
            }
            drop(shard);
            garbage.clear();
        }
    }

    /// See [`Exchange::subscribe`]. Adds the names of channels that had no subscriber to
    /// `changed`, when given.
    fn subscribe(
        &self,
        mailbox: &Arc<Mailbox>,
        channels: &[Bytes],
        mut changed: Option<&mut Vec<Name>>,
    ) -> Vec<Subscription> {
        let mut made = vec![None; channels.len()];
        self.in_shards(
            channels.len(),
            |i| &channels[i],
            |shard, i, garbage| {
                let channel = &channels[i][..];
                let sub = match shard.get_mut(channel) {
                    Some(set) => {
                        let sub = Subscription::new(set.name().clone(), mailbox);
                        set.insert(sub.clone(), garbage);
                        sub
                    }
                    None => {
                        let sub = Subscription::new(Name::from(channel), mailbox);
                        shard.insert(sub.0.name.clone(), Subscribers::One(sub.clone()));
                        self.count.fetch_add(1, Ordering::Relaxed);
                        if let Some(changed) = changed.as_deref_mut() {
                            changed.push(sub.0.name.clone());
                        }
                        sub
                    }
                };
                made[i] = Some(sub);
            },
        );
        made.into_iter().map(|sub| sub.expect("every channel visited")).collect()
    }

    /// See [`Exchange::unsubscribe`]. Adds the names of channels left with no subscriber to
    /// `changed`, when given.
    fn unsubscribe(&self, subs: &[Subscription], mut changed: Option<&mut Vec<Name>>) {
        self.in_shards(
            subs.len(),
            |i| subs[i].name(),
            |shard, i, garbage| {
                let sub = &subs[i];
                if shard.get_mut(sub.name()).is_some_and(|set| set.remove(sub, garbage)) {
                    shard.remove(sub.name());
                    self.count.fetch_sub(1, Ordering::Relaxed);
                    if let Some(changed) = changed.as_deref_mut() {
                        changed.push(sub.0.name.clone());
                    }
                }
            },
        );
        revoke(subs);
    }

    /// Returns true if and only if `channel` has at least one subscriber (no snapshot built).
    fn contains(&self, channel: &[u8]) -> bool {
        lock(&self.shards[self.shard_of(channel)]).contains_key(channel)
    }

    /// Who a publish on `channel` reaches now, taken under its shard's lock.
    #[inline]
    fn receivers(&self, channel: &[u8]) -> Option<Receivers> {
        let mut shard = lock(&self.shards[self.shard_of(channel)]);
        shard.get_mut(channel).map(Subscribers::receivers)
    }

    /// The channels with at least one subscriber, optionally only those matching `pattern`.
    /// The names are taken with every shard locked (in ascending order) for a consistent view,
    /// and matched after the locks are released.
    fn names(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let names: Vec<Name> = {
            let guards: Vec<_> = self.shards.iter().map(lock).collect();
            guards.iter().flat_map(|shard| shard.keys().cloned()).collect()
        };
        names
            .iter()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c)))
            .map(|c| Bytes::copy_from_slice(c))
            .collect()
    }

    /// The subscriber count of each channel, in the order asked, read with their shards
    /// locked together (in ascending order).
    fn numsub(&self, channels: &[Bytes]) -> Vec<usize> {
        let order: BTreeSet<usize> = channels.iter().map(|c| self.shard_of(c)).collect();
        let guards: Vec<(usize, MutexGuard<'_, Shard>)> =
            order.into_iter().map(|i| (i, lock(&self.shards[i]))).collect();
        channels
            .iter()
            .map(|c| {
                let shard = self.shard_of(c);
                let (_, map) = guards.iter().find(|(i, _)| *i == shard).expect("shard locked");
                map.get(&c[..]).map_or(0, Subscribers::len)
            })
            .collect()
    }
}

impl Exchange {
    /// An exchange with no subscriptions.
    pub fn new() -> Exchange {
        Exchange {
            channels: ChannelTable::new(),
            shard_channels: ChannelTable::new(),
            patterns: Patterns {
                count: AtomicUsize::new(0),
                table: Mutex::new(PatternTable { entries: HashMap::new(), index: None }),
            },
            watcher: OnceLock::new(),
            monitors: Monitors::default(),
        }
    }

    /// Returns true if and only if some connection monitors (one relaxed load: the whole cost
    /// of the tap to a command while nobody monitors).
    pub fn monitored(&self) -> bool {
        self.monitors.count.load(Ordering::Relaxed) > 0
    }

    /// Connection `id` monitors from now on: every line fed reaches `mailbox`. Returns false
    /// (and changes nothing) if it already does.
    pub fn monitor(&self, id: u64, mailbox: Arc<Mailbox>) -> bool {
        let mut list = lock(&self.monitors.list);
        if list.iter().any(|m| m.id == id) {
            return false;
        }
        let mut next = Vec::clone(&list);
        next.push(Arc::new(Monitor { id, mailbox, live: Revocable::new() }));
        self.monitors.count.store(next.len(), Ordering::Relaxed);
        *list = Arc::new(next);
        true
    }

    /// Connection `id` monitors no more: once this returns, nothing more is queued for it.
    /// Returns true if and only if it monitored.
    pub fn unmonitor(&self, id: u64) -> bool {
        let mut list = lock(&self.monitors.list);
        let Some(gone) = list.iter().find(|m| m.id == id).cloned() else { return false };
        let next: Vec<_> = list.iter().filter(|m| m.id != id).cloned().collect();
        self.monitors.count.store(next.len(), Ordering::Relaxed);
        *list = Arc::new(next);
        drop(list);
        gone.mailbox.revoke([&gone.live]);
        true
    }

    /// Pushes one MONITOR line (the same bytes in RESP2 and RESP3: a status line) to every
    /// monitor, after the lock is released; a monitor that cannot keep up overflows as a slow
    /// subscriber does. Counted like a message: to each monitor, and dropped where refused.
    pub fn feed_monitors(&self, line: &Bytes) -> Published {
        let monitors = Arc::clone(&lock(&self.monitors.list));
        let now = Now::lazy();
        let mut fed = Published::default();
        for monitor in monitors.iter() {
            fed.receivers += 1;
            if monitor.mailbox.push(line.clone(), &monitor.live, &now) == Push::Dropped {
                fed.dropped += 1;
            }
        }
        fed
    }

    /// Sets who is told of interest changes from now on; only the first call has an effect
    /// (returns false for the others).
    pub fn watch(&self, watcher: Arc<dyn InterestWatcher>) -> bool {
        self.watcher.set(watcher).is_ok()
    }

    /// Runs `f` with somewhere to note changed channels while a watcher is set, then tells it.
    fn noting<T>(&self, f: impl FnOnce(Option<&mut Vec<Name>>) -> T) -> T {
        let Some(watcher) = self.watcher.get() else { return f(None) };
        let mut changed = Vec::new();
        let result = f(Some(&mut changed));
        if !changed.is_empty() {
            watcher.channels_changed(&changed);
        }
        result
    }

    fn patterns_changed(&self, changed: bool) {
        if let (Some(watcher), true) = (self.watcher.get(), changed) {
            watcher.patterns_changed();
        }
    }

    /// Subscribes `mailbox` to each of `channels` (distinct, none subscribed by it yet) and
    /// returns the subscriptions, in order. A name is copied only for a channel nobody
    /// subscribes to yet; the others share the channel's copy.
    pub fn subscribe(&self, mailbox: &Arc<Mailbox>, channels: &[Bytes]) -> Vec<Subscription> {
        self.noting(|changed| self.channels.subscribe(mailbox, channels, changed))
    }

    /// Ends each of `subs`' channel subscriptions. Once this returns nothing more is queued for
    /// them, even by a publish already under way (its push is dropped and counted); what was
    /// queued before stays in the mailbox.
    pub fn unsubscribe(&self, subs: &[Subscription]) {
        self.noting(|changed| self.channels.unsubscribe(subs, changed));
    }

    /// [`Exchange::subscribe`] for shard channels (SSUBSCRIBE).
    pub fn ssubscribe(&self, mailbox: &Arc<Mailbox>, channels: &[Bytes]) -> Vec<Subscription> {
        self.shard_channels.subscribe(mailbox, channels, None)
    }

    /// [`Exchange::unsubscribe`] for shard channels (SUNSUBSCRIBE), with the same guarantee.
    pub fn sunsubscribe(&self, subs: &[Subscription]) {
        self.shard_channels.unsubscribe(subs, None);
    }

    /// Subscribes `mailbox` to each of `patterns` (distinct, none subscribed by it yet) and
    /// returns the subscriptions, in order, sharing names as [`Exchange::subscribe`] does.
    pub fn psubscribe(&self, mailbox: &Arc<Mailbox>, patterns: &[Bytes]) -> Vec<Subscription> {
        if patterns.is_empty() {
            return Vec::new();
        }
        let mut made = Vec::with_capacity(patterns.len());
        let mut garbage = Garbage::new();
        let mut stale = None;
        let mut table = lock(&self.patterns.table);
        let had_none = table.entries.is_empty();
        for pattern in patterns {
            if let Some((name, entry)) = table.entries.get_key_value(&pattern[..]) {
                let sub = Subscription::new(name.clone(), mailbox);
                let mut set = lock(&entry.subs);
                match set.as_mut() {
                    Some(set) => set.insert(sub.clone(), &mut garbage),
                    // Not expected (an emptied entry leaves the table at once), and harmless.
                    None => *set = Some(Subscribers::One(sub.clone())),
                }
                drop(set);
                made.push(sub);
                continue;
            }
            let sub = Subscription::new(Name::from(&pattern[..]), mailbox);
            let entry = PatternEntry { subs: Mutex::new(Some(Subscribers::One(sub.clone()))) };
            table.entries.insert(sub.0.name.clone(), Arc::new(entry));
            self.patterns.count.fetch_add(1, Ordering::Release);
            if stale.is_none() {
                stale = table.index.take();
            }
            made.push(sub);
        }
        let now_some = had_none && !table.entries.is_empty();
        drop(table);
        // Dropped here, outside the lock: the last handle of an index releases every pattern.
        drop((garbage, stale));
        self.patterns_changed(now_some);
        made
    }

    /// Ends each of `subs`' pattern subscriptions, with the guarantee of
    /// [`Exchange::unsubscribe`].
    pub fn punsubscribe(&self, subs: &[Subscription]) {
        if subs.is_empty() {
            return;
        }
        let mut garbage = Garbage::new();
        let mut stale = None;
        let mut table = lock(&self.patterns.table);
        let had_some = !table.entries.is_empty();
        for sub in subs {
            let emptied = match table.entries.get(sub.name()) {
                None => false,
                Some(entry) => {
                    let mut set = lock(&entry.subs);
                    let emptied = set.as_mut().is_none_or(|s| s.remove(sub, &mut garbage));
                    if emptied {
                        *set = None;
                    }
                    emptied
                }
            };
            if emptied {
                table.entries.remove(sub.name());
                self.patterns.count.fetch_sub(1, Ordering::Release);
                if stale.is_none() {
                    stale = table.index.take();
                }
            }
        }
        let now_none = had_some && table.entries.is_empty();
        drop(table);
        drop((garbage, stale));
        revoke(subs);
        self.patterns_changed(now_none);
    }

    /// The patterns to match a publish against, or `None` without taking any lock when there
    /// are none. Builds the index if a change made it stale (O(patterns), once per change).
    fn pattern_index(&self) -> Option<Arc<PatternIndex>> {
        if self.patterns.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut table = lock(&self.patterns.table);
        let PatternTable { entries, index } = &mut *table;
        let index = index.get_or_insert_with(|| {
            Arc::new(PrefixIndex::new(entries.iter().map(|(p, e)| (p.clone(), e.clone()))))
        });
        Some(index.clone())
    }

    /// Delivers `message` on `channel` to every channel subscriber and every subscriber of a
    /// matching pattern. The frames are encoded once per RESP version and shared; every push
    /// happens after the exchange's locks are released.
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> Published {
        self.publish_to(channel, message, Reach::All)
    }

    /// [`Exchange::publish`] to only the receivers `reach` names: a relay delivers a message
    /// that reached it through a channel's subscription to the channel's subscribers, and one
    /// that reached it through its catch-all subscription to the patterns.
    #[inline]
    pub fn publish_to(&self, channel: &Bytes, message: &Bytes, reach: Reach) -> Published {
        let direct = match reach {
            Reach::Patterns => None,
            Reach::All | Reach::Channel => self.channels.receivers(channel),
        };
        let patterns = match reach {
            Reach::Channel => None,
            Reach::All | Reach::Patterns => self.pattern_index(),
        };
        let mut published = Published::default();
        if let Some(receivers) = &direct {
            published.fan_out(receivers.as_slice(), Head::Message, channel, message);
        }
        if let Some(index) = &patterns {
            for (pattern, entry) in index.matching(channel) {
                let receivers = lock(&entry.subs).as_mut().map(Subscribers::receivers);
                if let Some(receivers) = &receivers {
                    let head = Head::PMessage(pattern);
                    published.fan_out(receivers.as_slice(), head, channel, message);
                }
            }
        }
        published
    }

    /// SPUBLISH: delivers `message` as `smessage` to the subscribers of shard channel
    /// `channel` (patterns never match shard channels), as [`Exchange::publish`] does.
    pub fn spublish(&self, channel: &Bytes, message: &Bytes) -> Published {
        let mut published = Published::default();
        if let Some(receivers) = self.shard_channels.receivers(channel) {
            published.fan_out(receivers.as_slice(), Head::SMessage, channel, message);
        }
        published
    }

    /// `PUBSUB CHANNELS [pattern]`: channels with at least one subscriber, optionally only
    /// those matching `pattern`.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.channels.names(pattern)
    }

    /// `PUBSUB NUMSUB`: the subscriber count of each channel, in the order asked.
    pub fn numsub(&self, channels: &[Bytes]) -> Vec<usize> {
        self.channels.numsub(channels)
    }

    /// `PUBSUB SHARDCHANNELS [pattern]`: [`Exchange::channels`] for shard channels.
    pub fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.shard_channels.names(pattern)
    }

    /// `PUBSUB SHARDNUMSUB`: [`Exchange::numsub`] for shard channels.
    pub fn shard_numsub(&self, channels: &[Bytes]) -> Vec<usize> {
        self.shard_channels.numsub(channels)
    }

    /// Returns true if and only if classic channel `channel` has at least one subscriber.
    pub fn has_subscribers(&self, channel: &[u8]) -> bool {
        self.channels.contains(channel)
    }

    /// `PUBSUB NUMPAT`: how many distinct patterns have subscribers.
    pub fn numpat(&self) -> usize {
        self.patterns.count.load(Ordering::Relaxed)
    }

    /// How many channels have subscribers (`pubsub_channels` in `INFO`).
    pub fn channel_count(&self) -> usize {
        self.channels.count.load(Ordering::Relaxed)
    }

    /// How many shard channels have subscribers (`pubsub_shardchannels` in `INFO`).
    pub fn shard_channel_count(&self) -> usize {
        self.shard_channels.count.load(Ordering::Relaxed)
    }
}

impl Published {
    /// Pushes the message to each of `receivers`, encoding it at most once per RESP version.
    fn fan_out(&mut self, receivers: &[Subscription], head: Head, channel: &[u8], message: &[u8]) {
        let mut frames: [Option<Bytes>; 2] = [None, None];
        // The time of the pushes: read only if a receiver is above a soft limit.
        let now = Now::lazy();
        for sub in receivers {
            let mailbox = &sub.0.mailbox;
            let version = mailbox.version();
            let frame = frames[version as usize]
                .get_or_insert_with(|| message_frame(version, head, channel, message));
            self.receivers += 1;
            if mailbox.push(frame.clone(), &sub.0.live, &now) == Push::Dropped {
                self.dropped += 1;
            }
        }
    }
}

/// Revokes ended subscriptions in their mailboxes, taking each mailbox's lock once per run of
/// subscriptions sharing it (a session's are all in one).
fn revoke(subs: &[Subscription]) {
    for run in subs.chunk_by(|a, b| Arc::ptr_eq(&a.0.mailbox, &b.0.mailbox)) {
        run[0].0.mailbox.revoke(run.iter().map(|s| &s.0.live));
    }
}

/// What a delivery is: `message` (a channel subscription), `pmessage` (a pattern's, naming
/// it) or `smessage` (a shard channel's).
#[derive(Clone, Copy)]
enum Head<'a> {
    Message,
    PMessage(&'a [u8]),
    SMessage,
}

/// Encodes `message` as its subscribers read it: an array in RESP2, a push frame in RESP3.
fn message_frame(version: RespVersion, head: Head, channel: &[u8], message: &[u8]) -> Bytes {
    let kind = if version == RespVersion::Resp3 { b'>' } else { b'*' };
    let mut out = Vec::with_capacity(message.len() + channel.len() + 48);
    match head {
        Head::PMessage(pattern) => {
            encode_header(&mut out, kind, 4);
            encode_bulk(&mut out, b"pmessage");
            encode_bulk(&mut out, pattern);
        }
        Head::Message | Head::SMessage => {
            encode_header(&mut out, kind, 3);
            let word: &[u8] = if matches!(head, Head::SMessage) { b"smessage" } else { b"message" };
            encode_bulk(&mut out, word);
        }
    }
    encode_bulk(&mut out, channel);
    encode_bulk(&mut out, message);
    Bytes::from(out)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks leaves the structure whole before anything can panic, so
    // a poisoned lock is still safe to use.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::NoWake;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    fn mailbox(limit: usize) -> Arc<Mailbox> {
        Arc::new(Mailbox::new(limit, Arc::new(NoWake)))
    }

    fn subscribe(ex: &Exchange, mailbox: &Arc<Mailbox>, names: &[&str]) -> Vec<Subscription> {
        ex.subscribe(mailbox, &names.iter().map(|n| b(n)).collect::<Vec<_>>())
    }

    fn psubscribe(ex: &Exchange, mailbox: &Arc<Mailbox>, names: &[&str]) -> Vec<Subscription> {
        ex.psubscribe(mailbox, &names.iter().map(|n| b(n)).collect::<Vec<_>>())
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn drained(mailbox: &Mailbox) -> Vec<u8> {
        let mut taken = std::collections::VecDeque::new();
        mailbox.drain(&mut taken, usize::MAX);
        taken.iter().flat_map(|m| m.0.iter().copied()).collect()
    }

    #[test]
    fn channels_and_patterns_receive_encoded_messages() {
        let ex = Exchange::new();
        let (a, p) = (mailbox(1024), mailbox(1024));
        p.set_version(RespVersion::Resp3);
        let news = subscribe(&ex, &a, &["news"]);
        let pats = psubscribe(&ex, &p, &["n*", "x*"]);
        let published = ex.publish(&b("news"), &b("hi"));
        assert_eq!(published, Published { receivers: 2, dropped: 0 });
        assert_eq!(drained(&a), b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
        assert_eq!(drained(&p), b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
        assert_eq!(ex.numsub(&[b("news"), b("none")]), vec![1, 0]);
        assert_eq!((ex.channel_count(), ex.numpat()), (1, 2));
        assert_eq!(ex.channels(Some(b"n?ws")), vec![b("news")]);
        ex.unsubscribe(&news);
        ex.punsubscribe(&pats);
        assert_eq!(ex.publish(&b("news"), &b("hi")).receivers, 0);
        assert!(ex.channels(None).is_empty());
        assert_eq!((ex.channel_count(), ex.numpat()), (0, 0));
    }

    #[test]
    fn a_full_mailbox_counts_as_dropped() {
        let ex = Exchange::new();
        let small = mailbox(10);
        let _c = subscribe(&ex, &small, &["c"]);
        assert_eq!(ex.publish(&b("c"), &b("x")), Published { receivers: 1, dropped: 1 });
    }

    #[test]
    fn counts_follow_distinct_channels_and_patterns() {
        let ex = Exchange::new();
        let (m1, m2) = (mailbox(1024), mailbox(1024));
        let one = subscribe(&ex, &m1, &["a", "b"]);
        let two = subscribe(&ex, &m2, &["b", "c"]);
        let pats = [psubscribe(&ex, &m1, &["p*"]), psubscribe(&ex, &m2, &["p*"])].concat();
        assert!(Arc::ptr_eq(&one[1].0.name, &two[0].0.name), "one copy of a channel's name");
        assert!(Arc::ptr_eq(&pats[0].0.name, &pats[1].0.name), "one copy of a pattern");
        assert_eq!((ex.channel_count(), ex.numpat()), (3, 1));
        ex.unsubscribe(&one);
        assert_eq!(ex.channel_count(), 2, "b keeps its other subscriber");
        ex.punsubscribe(&pats[..1]);
        assert_eq!(ex.numpat(), 1);
        ex.unsubscribe(&two);
        ex.punsubscribe(&pats[1..]);
        assert_eq!((ex.channel_count(), ex.numpat()), (0, 0));
    }

    /// The race of the ordering guarantee, played step by step: a publisher takes the
    /// receivers, the subscriber leaves, then the publisher pushes.
    #[test]
    fn a_publish_under_way_queues_nothing_after_the_unsubscribe() {
        let ex = Exchange::new();
        let m = mailbox(1024);
        for (name, others) in [("c", 0), ("d", 1)] {
            let s = subscribe(&ex, &m, &[name]);
            // With another subscriber, "d" is a list and the publisher holds its snapshot.
            let _others: Vec<_> =
                (0..others).map(|_| subscribe(&ex, &mailbox(1024), &[name])).collect();
            let taken = ex.channels.receivers(name.as_bytes()).unwrap();
            ex.unsubscribe(&s);
            let mut late = Published::default();
            late.fan_out(taken.as_slice(), Head::Message, name.as_bytes(), b"late");
            assert_eq!(late, Published { receivers: 1 + others, dropped: 1 }, "counted, not sent");
            assert!(drained(&m).is_empty());
        }
        let p = psubscribe(&ex, &m, &["p*"]);
        let index = ex.pattern_index().unwrap();
        ex.punsubscribe(&p);
        let (pattern, entry) = index.matching(b"px").next().unwrap();
        assert!(lock(&entry.subs).is_none(), "emptied");
        assert_eq!(pattern, b"p*");
        assert_eq!(ex.publish(&b("px"), &b("late")).receivers, 0);
    }

    #[test]
    fn names_are_copies_that_do_not_pin_the_buffer_they_came_from() {
        let buffer = Bytes::from(b"SUBSCRIBE channel".to_vec());
        let name = buffer.slice(10..);
        let ex = Exchange::new();
        let m = mailbox(64);
        let names = std::slice::from_ref(&name);
        let (s, p) = (ex.subscribe(&m, names), ex.psubscribe(&m, names));
        assert_ne!(s[0].name().as_ptr(), name.as_ptr());
        assert_ne!(p[0].name().as_ptr(), name.as_ptr());
        drop((buffer, name));
        assert_eq!((s[0].name(), p[0].name()), (&b"channel"[..], &b"channel"[..]));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Join(usize),
        Leave(usize),
        /// Take the receivers as a publish does, and deliver them after the next change.
        Hold,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..40usize).prop_map(Op::Join),
            2 => (0..40usize).prop_map(Op::Leave),
            1 => Just(Op::Hold),
        ]
    }

    proptest! {
        /// Any sequence of joins and leaves on one channel (through one subscriber, a list,
        /// shrinking lists) reaches exactly the subscribers a plain set says it should.
        #[test]
        fn joins_and_leaves_reach_exactly_the_subscribers(ops in prop::collection::vec(op(), 1..200)) {
            let ex = Exchange::new();
            let mailboxes: Vec<_> = (0..40).map(|_| mailbox(1 << 20)).collect();
            let mut subs: Vec<Option<Subscription>> = vec![None; 40];
            let mut held: Option<(Receivers, HashSet<usize>)> = None;
            for op in ops {
                let before: HashSet<usize> = (0..40).filter(|&i| subs[i].is_some()).collect();
                match op {
                    Op::Join(i) if subs[i].is_none() => {
                        subs[i] = subscribe(&ex, &mailboxes[i], &["ch"]).pop();
                    }
                    Op::Leave(i) => {
                        if let Some(s) = subs[i].take() {
                            ex.unsubscribe(&[s]);
                        }
                    }
                    Op::Hold => {
                        held = ex.channels.receivers(b"ch").map(|r| (r, before));
                        continue;
                    }
                    Op::Join(_) => {}
                }
                let now: HashSet<usize> = (0..40).filter(|&i| subs[i].is_some()).collect();
                // Delivered after a change: only those subscribed then and still now get it.
                let got_held: HashSet<usize> = match held.take() {
                    Some((taken, then)) => {
                        Published::default().fan_out(taken.as_slice(), Head::Message, b"ch", b"held");
                        then.intersection(&now).copied().collect()
                    }
                    None => HashSet::new(),
                };
                let published = ex.publish(&b("ch"), &b("m"));
                prop_assert_eq!(published.receivers, now.len());
                prop_assert_eq!(ex.numsub(&[b("ch")]), vec![now.len()]);
                prop_assert_eq!(ex.channel_count(), usize::from(!now.is_empty()));
                for (i, m) in mailboxes.iter().enumerate() {
                    let mut want = Vec::new();
                    if got_held.contains(&i) {
                        want.extend(util_message(b"held"));
                    }
                    if now.contains(&i) {
                        want.extend(util_message(b"m"));
                    }
                    prop_assert!(drained(m) == want, "subscriber {}", i);
                }
            }
        }

    }

    fn util_message(payload: &[u8]) -> Vec<u8> {
        message_frame(RespVersion::Resp2, Head::Message, b"ch", payload).to_vec()
    }

    /// Many threads subscribe to and leave overlapping sets of channels while others publish
    /// and read `PUBSUB CHANNELS` and `NUMSUB` (which hold several shards at once). With shards
    /// taken out of order this deadlocks; the watchdog turns a hang into a failure instead of a
    /// stuck test run.
    #[test]
    fn concurrent_multi_shard_operations_do_not_deadlock() {
        let ex = Arc::new(Exchange::new());
        let stop = Arc::new(AtomicBool::new(false));
        let channels: Vec<String> = (0..200).map(|i| format!("ch{i}")).collect();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for t in 0..8usize {
            let (ex, channels, done_tx) = (ex.clone(), channels.clone(), done_tx.clone());
            threads.push(std::thread::spawn(move || {
                let me = mailbox(1 << 20);
                for round in 0..300usize {
                    // Forward for even threads, backward for odd: opposite orders of channels.
                    let mut set: Vec<&String> =
                        (0..20).map(|k| &channels[(round * 7 + k * 13 + t) % 200]).collect();
                    set.sort();
                    set.dedup();
                    if t % 2 == 1 {
                        set.reverse();
                    }
                    let names: Vec<Bytes> = set.iter().map(|c| b(c)).collect();
                    let subs = ex.subscribe(&me, &names);
                    let pats: Vec<Bytes> =
                        set.iter().take(2).map(|c| b(&format!("{c}*"))).collect();
                    let pats = ex.psubscribe(&me, &pats);
                    ex.numsub(&names);
                    ex.unsubscribe(&subs);
                    ex.punsubscribe(&pats);
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
                    ex.publish(&b(&channels[i % 200]), &b("m"));
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
        assert_eq!((ex.channel_count(), ex.numpat()), (0, 0));
    }
}
