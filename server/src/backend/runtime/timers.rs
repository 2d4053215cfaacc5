//! Deadlines of connections in time order (fed by [`Driver::poll_deadline`]), so that a
//! runtime finds the due ones without a pass over every connection.
//!
//! Lazy, as a timer wheel is: a connection's entry is moved only when its driver wants an
//! earlier deadline than the one entered. When a later one is wanted (input arrived, the idle
//! deadline moved on), the entry stays, comes due early, and the turn it causes finds nothing
//! to do but enter the new deadline: at most one such turn per deadline period, instead of a
//! map update per request.
//!
//! [`Driver::poll_deadline`]: crate::driver::Driver::poll_deadline

use std::collections::BTreeSet;
use std::time::Instant;

/// Deadlines by time, each with the key of its connection.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    due: BTreeSet<(Instant, usize)>,
}

impl Timers {
    /// Enters `wanted`, connection `key`'s deadline now, given `entered`, the one entered for
    /// it so far (updated). Cheap when nothing changes. Returns true if and only if it is now
    /// the first deadline (whoever waits for the first must wait less).
    pub(crate) fn enter(
        &mut self,
        key: usize,
        entered: &mut Option<Instant>,
        wanted: Option<Instant>,
    ) -> bool {
        let Some(wanted) = wanted else { return false }; // an earlier entry costs a spurious turn
        if entered.is_some_and(|at| at <= wanted) {
            return false;
        }
        if let Some(at) = entered.take() {
            self.due.remove(&(at, key));
        }
        self.due.insert((wanted, key));
        *entered = Some(wanted);
        self.due.first() == Some(&(wanted, key))
    }

    /// Forgets connection `key`'s entry (`entered`), if any: it closed.
    pub(crate) fn forget(&mut self, key: usize, entered: Option<Instant>) {
        if let Some(at) = entered {
            self.due.remove(&(at, key));
        }
    }

    /// The earliest deadline entered.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.due.first().map(|&(at, _)| at)
    }

    /// Removes the entries due at `now` and hands each key to `wake`. The connection's own
    /// record of its entry must be cleared by its next turn (see [`Timers::fired`]).
    pub(crate) fn expire(&mut self, now: Instant, mut wake: impl FnMut(usize)) {
        while let Some(&(at, key)) = self.due.first() {
            if at > now {
                return;
            }
            self.due.pop_first();
            wake(key);
        }
    }

    /// Called by a turn woken by its deadline: the entry is gone.
    pub(crate) fn fired(entered: &mut Option<Instant>, now: Instant) {
        if entered.is_some_and(|at| at <= now) {
            *entered = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn expired(timers: &mut Timers, now: Instant) -> Vec<usize> {
        let mut keys = Vec::new();
        timers.expire(now, |key| keys.push(key));
        keys
    }

    #[test]
    fn deadlines_come_due_in_time_order_and_once() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        let (mut a, mut b, mut c) = (None, None, None);
        assert!(timers.enter(1, &mut a, Some(t0 + 3 * s)));
        assert!(timers.enter(2, &mut b, Some(t0 + s)), "the first now");
        assert!(!timers.enter(3, &mut c, None));
        assert_eq!(timers.next(), Some(t0 + s));
        assert!(expired(&mut timers, t0).is_empty());
        assert_eq!(expired(&mut timers, t0 + 5 * s), vec![2, 1]);
        assert!(expired(&mut timers, t0 + 6 * s).is_empty(), "each comes due once");
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn an_earlier_deadline_moves_the_entry_and_a_later_one_waits_for_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        let mut entered = None;
        timers.enter(7, &mut entered, Some(t0 + 10 * s));
        timers.enter(7, &mut entered, Some(t0 + 2 * s));
        assert_eq!(entered, Some(t0 + 2 * s));
        assert_eq!(timers.due.len(), 1, "moved, not added");
        // Input moved the deadline on: the entry stays where it was.
        timers.enter(7, &mut entered, Some(t0 + 20 * s));
        assert_eq!(expired(&mut timers, t0 + 2 * s), vec![7]);
        // The turn it caused clears the record and enters the deadline wanted now.
        Timers::fired(&mut entered, t0 + 2 * s);
        timers.enter(7, &mut entered, Some(t0 + 20 * s));
        assert_eq!(timers.next(), Some(t0 + 20 * s));
        timers.forget(7, entered);
        assert_eq!(timers.next(), None);
    }
}
