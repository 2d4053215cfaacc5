//! A session's subscriptions of one kind, found by name.

use std::collections::HashSet;

use crate::exchange::Subscription;

/// One session's subscriptions of one kind (channels or patterns), found by name.
#[derive(Default)]
pub struct SubscriptionSet(HashSet<Subscription>);

// A subscription hashes as its name, which never changes: the interior mutability clippy sees
// (the mailbox, the live flag, the slot) plays no part in the hash or in equality.
#[allow(clippy::mutable_key_type)]
impl SubscriptionSet {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns true if and only if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns true if and only if one is for `name`.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.0.contains(name)
    }

    /// Adds `sub`; false (and nothing added) if one for its name is here already.
    pub fn insert(&mut self, sub: Subscription) -> bool {
        self.0.insert(sub)
    }

    /// Removes and returns the one for `name`, if any. Gives back the memory of a set that
    /// shrank to a quarter of its capacity, at a cost the removals already paid.
    pub fn take(&mut self, name: &[u8]) -> Option<Subscription> {
        let sub = self.0.take(name);
        if self.0.capacity() > 64 && self.0.len() * 4 < self.0.capacity() {
            self.0.shrink_to(self.0.len() * 2);
        }
        sub
    }

    /// The names subscribed to.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(Subscription::name)
    }

    /// Removes and returns them all, leaving an empty set that holds no memory.
    pub fn take_all(&mut self) -> Vec<Subscription> {
        std::mem::take(&mut self.0).into_iter().collect()
    }
}
