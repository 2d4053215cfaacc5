//! The table of a runtime's connections: each under a key (its index, also its poller key),
//! freed keys reused, so keys stay small and the table dense.

/// Connections (`T`) by key.
#[derive(Debug)]
pub(crate) struct Table<T> {
    entries: Vec<Option<T>>,
    /// Keys of the `None` entries.
    free: Vec<usize>,
    /// Number of `Some` entries.
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Table<T> {
        Table { entries: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Table<T> {
    /// The key the next [`insert`](Table::insert) will use.
    pub(crate) fn vacant_key(&self) -> usize {
        self.free.last().copied().unwrap_or(self.entries.len())
    }

    /// Stores `value` under [`vacant_key`](Table::vacant_key), which it returns.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        let key = match self.free.pop() {
            Some(key) => key,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        self.entries[key] = Some(value);
        self.len += 1;
        key
    }

    pub(crate) fn get(&self, key: usize) -> Option<&T> {
        self.entries.get(key)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key)?.as_mut()
    }

    /// Takes the entry under `key` out, if there is one.
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let value = self.entries.get_mut(key)?.take()?;
        self.free.push(key);
        self.len -= 1;
        Some(value)
    }

    /// How many entries there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every entry.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().flatten()
    }

    /// Every entry with its key.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.entries.iter_mut().enumerate().filter_map(|(key, e)| Some((key, e.as_mut()?)))
    }

    /// Takes every entry out.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.free.clear();
        self.len = 0;
        std::mem::take(&mut self.entries).into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_reused() {
        let mut table = Table::default();
        for expected in 0..3 {
            assert_eq!(table.vacant_key(), expected);
            assert_eq!(table.insert(expected * 10), expected);
        }
        assert_eq!(table.remove(1), Some(10));
        assert_eq!(table.remove(1), None);
        assert_eq!(table.len(), 2);
        assert!(table.get(1).is_none());
        assert_eq!(table.vacant_key(), 1);
        assert_eq!(table.insert(11), 1);
        assert_eq!(table.get(1), Some(&11));
        *table.get_mut(1).unwrap() += 1;
        assert_eq!(
            table.iter_mut().map(|(key, v)| (key, *v)).collect::<Vec<_>>(),
            [(0, 0), (1, 12), (2, 20)]
        );
        assert_eq!(table.values().count(), 3);
        assert_eq!(table.drain().len(), 3);
        assert_eq!(table.len(), 0);
        assert_eq!(table.vacant_key(), 0);
    }
}
