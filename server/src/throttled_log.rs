//! [`ThrottledLog`]: a warning that may fire thousands of times a second (refused connections,
//! `accept` out of descriptors) logged at most once per interval. The first event is logged at
//! once; those that follow within the interval are only counted, and one summary line says how
//! many there were once the interval has passed. Time is passed in, so the rule is tested
//! without a clock.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a throttled warning may be logged.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One kind of warning, logged at most once per [`LOG_INTERVAL`] (see the module).
pub(crate) struct ThrottledLog {
    /// What the summary line calls these events, e.g. `connections refused: max clients`.
    what: &'static str,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the last line (event or summary) was logged.
    logged_at: Option<Instant>,
    /// Events since then that were not logged.
    suppressed: u64,
}

/// What [`ThrottledLog::record`] decided about one event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// Log it, mentioning the events suppressed before it that no summary has reported.
    Log { suppressed: u64 },
    /// Only counted. `first`: the first suppressed since the last line, so whoever writes the
    /// summaries must now wake at [`ThrottledLog::summary_due`].
    Suppressed { first: bool },
}

impl ThrottledLog {
    pub(crate) fn new(what: &'static str) -> ThrottledLog {
        ThrottledLog { what, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one event at `now` and says whether to log it.
    pub(crate) fn record(&self, now: Instant) -> Record {
        let mut state = self.lock();
        match state.logged_at {
            Some(at) if now < at + LOG_INTERVAL => {
                state.suppressed += 1;
                Record::Suppressed { first: state.suppressed == 1 }
            }
            _ => {
                state.logged_at = Some(now);
                Record::Log { suppressed: std::mem::take(&mut state.suppressed) }
            }
        }
    }

    /// When the summary of the suppressed events is due; `None` if there is nothing to sum up.
    pub(crate) fn summary_due(&self) -> Option<Instant> {
        let state = self.lock();
        match (state.logged_at, state.suppressed) {
            (Some(at), n) if n > 0 => Some(at + LOG_INTERVAL),
            _ => None,
        }
    }

    /// Takes the number of suppressed events if their summary is due at `now` (it then counts
    /// as the interval's line).
    pub(crate) fn take_summary(&self, now: Instant) -> Option<u64> {
        let mut state = self.lock();
        let due = state.logged_at.is_some_and(|at| now >= at + LOG_INTERVAL);
        if !due || state.suppressed == 0 {
            return None;
        }
        state.logged_at = Some(now);
        Some(std::mem::take(&mut state.suppressed))
    }

    /// Logs `message` at warn unless throttled; returns true if and only if this is the first
    /// event suppressed since the last line (see [`Record::Suppressed`]).
    pub(crate) fn warn(&self, message: impl FnOnce() -> String) -> bool {
        match self.record(Instant::now()) {
            Record::Log { suppressed: 0 } => {
                tracing::warn!("{}", message());
                false
            }
            Record::Log { suppressed } => {
                tracing::warn!("{} ({suppressed} more {} before it)", message(), self.what);
                false
            }
            Record::Suppressed { first } => first,
        }
    }

    /// Logs the summary line if it is due at `now`.
    pub(crate) fn summarize(&self, now: Instant) {
        if let Some(n) = self.take_summary(now) {
            tracing::warn!("{}: {n} more in the last {}s", self.what, LOG_INTERVAL.as_secs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_is_logged_and_the_rest_of_the_interval_counted() {
        let log = ThrottledLog::new("things");
        let t0 = Instant::now();
        assert_eq!(log.record(t0), Record::Log { suppressed: 0 });
        assert_eq!(log.summary_due(), None);
        assert_eq!(log.record(t0 + Duration::from_secs(1)), Record::Suppressed { first: true });
        assert_eq!(log.record(t0 + Duration::from_secs(2)), Record::Suppressed { first: false });
        assert_eq!(log.summary_due(), Some(t0 + LOG_INTERVAL));
        assert_eq!(log.take_summary(t0 + Duration::from_secs(9)), None);
        assert_eq!(log.take_summary(t0 + LOG_INTERVAL), Some(2));
        assert_eq!(log.summary_due(), None);
    }

    #[test]
    fn a_summary_counts_as_the_line_of_its_interval() {
        let log = ThrottledLog::new("things");
        let t0 = Instant::now();
        log.record(t0);
        log.record(t0 + Duration::from_secs(1));
        let t1 = t0 + LOG_INTERVAL;
        assert_eq!(log.take_summary(t1), Some(1));
        assert_eq!(log.record(t1 + Duration::from_secs(1)), Record::Suppressed { first: true });
        assert_eq!(log.record(t1 + LOG_INTERVAL), Record::Log { suppressed: 1 });
    }

    #[test]
    fn events_further_apart_than_the_interval_are_all_logged() {
        let log = ThrottledLog::new("things");
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(log.record(t0 + LOG_INTERVAL * i), Record::Log { suppressed: 0 });
        }
        assert_eq!(log.take_summary(t0 + LOG_INTERVAL * 10), None);
    }
}
