//! The fixed timetable that open-loop senders follow, and a precise wait for each slot.
//!
//! A run at `rate` requests per second has one global timetable: slot `k` is due at
//! `start + k / rate`. It is split between sender threads by giving thread `i` of `n` every
//! `n`-th slot starting at `i`, so together they send on exactly the global timetable. Slot times
//! are computed from `k` (never by adding intervals), so rounding never accumulates into drift.
//!
//! Latency is measured from a slot's *scheduled* time: when the server (or our own sender) falls
//! behind, the requests that should have gone out meanwhile are charged the full wait instead of
//! being silently not sent (no coordinated omission).

use std::time::{Duration, Instant};

/// Every slot of one sender: slot `k` is due at `start + (phase + k * stride) * interval`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: Instant,
    /// Nanoseconds between two slots of the global timetable; always positive and finite.
    interval_ns: f64,
    /// Index of this sender's first slot in the global timetable.
    phase: u64,
    /// Number of senders sharing the global timetable (at least 1).
    stride: u64,
}

impl Schedule {
    /// The part of the timetable of `rate` requests per second (in total) that sender `part` of
    /// `parts` follows. Panics if `rate` is not positive or `part >= parts`.
    pub fn part(start: Instant, rate: f64, part: usize, parts: usize) -> Schedule {
        assert!(rate > 0.0 && rate.is_finite(), "rate must be positive");
        assert!(part < parts, "part {part} of {parts}");
        Schedule { start, interval_ns: 1e9 / rate, phase: part as u64, stride: parts as u64 }
    }

    /// The whole timetable of `rate` requests per second.
    pub fn new(start: Instant, rate: f64) -> Schedule {
        Schedule::part(start, rate, 0, 1)
    }

    /// When this sender's `k`-th slot is due.
    pub fn at(&self, k: u64) -> Instant {
        let slot = self.phase + k * self.stride;
        // f64 keeps sub-nanosecond precision for any run shorter than a few days.
        self.start + Duration::from_nanos((slot as f64 * self.interval_ns).round() as u64)
    }
}

/// Waits for deadlines with sub-millisecond precision: sleeps through most of the wait, then
/// yields the CPU in a loop for the last `spin` (the sleep alone may overshoot by tens of µs).
#[derive(Clone, Copy, Debug)]
pub struct Waiter {
    spin: Duration,
}

impl Waiter {
    /// A waiter that spins (yielding) for the last `spin` before each deadline.
    pub fn new(spin: Duration) -> Waiter {
        Waiter { spin }
    }

    /// Returns once `Instant::now() >= deadline`, never earlier.
    pub fn wait_until(&self, deadline: Instant) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let left = deadline - now;
            if left > self.spin {
                std::thread::sleep(left - self.spin);
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Asks the kernel to wake this thread's sleeps on time instead of batching them within the
/// default 50 µs timer slack, so the spin phase of [`Waiter`] can stay short. Best effort.
pub fn fine_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_rate_without_drift() {
        let start = Instant::now();
        let s = Schedule::new(start, 3000.0); // 333_333.33... ns apart
        assert_eq!(s.at(0), start);
        assert_eq!(s.at(1) - start, Duration::from_nanos(333_333));
        assert_eq!(s.at(2) - start, Duration::from_nanos(666_667));
        // After an hour of slots the error is still below a nanosecond, not k * rounding.
        assert_eq!(s.at(3000 * 3600) - start, Duration::from_secs(3600));
    }

    #[test]
    fn parts_together_are_the_global_timetable() {
        let start = Instant::now();
        let global = Schedule::new(start, 10_000.0);
        let parts: Vec<_> = (0..3).map(|i| Schedule::part(start, 10_000.0, i, 3)).collect();
        let mut merged: Vec<Instant> =
            parts.iter().flat_map(|p| (0..100).map(move |k| p.at(k))).collect();
        merged.sort();
        let expected: Vec<Instant> = (0..300).map(|k| global.at(k)).collect();
        assert_eq!(merged, expected);
    }

    #[test]
    fn sub_millisecond_rates_have_sub_millisecond_slots() {
        let start = Instant::now();
        let s = Schedule::new(start, 50_000.0);
        assert_eq!(s.at(1) - s.at(0), Duration::from_micros(20));
    }

    #[test]
    fn wait_never_returns_early() {
        let w = Waiter::new(Duration::from_micros(50));
        fine_timer_slack();
        for i in 0..20 {
            let deadline = Instant::now() + Duration::from_micros(37 * i);
            w.wait_until(deadline);
            assert!(Instant::now() >= deadline);
        }
    }

    #[test]
    #[should_panic(expected = "rate must be positive")]
    fn zero_rate_is_rejected() {
        Schedule::new(Instant::now(), 0.0);
    }
}
