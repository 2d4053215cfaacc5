//! The pub/sub delivery clock: how long each message took from its PUBLISH (the moment the
//! exchange fanned it out) to leaving the server (its last byte taken by the subscriber's
//! socket; on TLS, sealed into the connection's ciphertext). Kept as a histogram of fixed
//! buckets whose counters are sharded per thread like every other counter
//! ([`crate::stats::Counter`]), read by `INFO pubsub_latency` and `/metrics`.
//!
//! The time of a publish rides with the message in the mailbox (one `Instant` per publish,
//! shared by every receiver); the session notes where each taken message ends in the output,
//! and the driver, when it learns how far the output was written, hands over the messages
//! that went ([`Delivery::record`]), which reads the clock once per such batch.

use std::time::{Duration, Instant};

use crate::stats::Counter;

/// Upper bounds of the buckets, in microseconds (the last bucket, above them all, is `+Inf`).
pub const BOUNDS_US: [u64; 20] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 60_000_000,
];

/// The delivery clock's histogram.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Messages per bucket (not cumulative): `buckets[i]` took at most `BOUNDS_US[i]` and more
    /// than the bound before; the last holds the rest.
    buckets: [Counter; BOUNDS_US.len() + 1],
    /// Messages recorded.
    count: Counter,
    /// Their times summed, in microseconds.
    sum_us: Counter,
}

impl Delivery {
    /// Records messages published at `published` that left the server now (one clock read).
    pub fn record(&self, published: impl IntoIterator<Item = Instant>) {
        let now = Instant::now();
        self.record_at(published, now);
    }

    /// Records messages published at `published` that left the server at `now`.
    pub fn record_at(&self, published: impl IntoIterator<Item = Instant>, now: Instant) {
        let (mut count, mut sum) = (0, 0);
        for at in published {
            let us = now.saturating_duration_since(at).as_micros().min(u64::MAX as u128) as u64;
            let bucket = BOUNDS_US.partition_point(|&bound| bound < us);
            self.buckets[bucket].add(1);
            count += 1;
            sum += us;
        }
        if count > 0 {
            self.count.add(count);
            self.sum_us.add(sum);
        }
    }

    /// A snapshot: per bucket (upper bound in microseconds, `None` for `+Inf`) the messages
    /// in it, not cumulative; the count; the sum in microseconds.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].get()),
            count: self.count.get(),
            sum_us: self.sum_us.get(),
        }
    }

    /// Back to zero (`CONFIG RESETSTAT`).
    pub fn reset(&self) {
        for counter in self.buckets.iter().chain([&self.count, &self.sum_us]) {
            counter.reset();
        }
    }
}

/// What [`Delivery::snapshot`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Messages per bucket, the bounds of [`BOUNDS_US`] then `+Inf`; not cumulative.
    pub buckets: [u64; BOUNDS_US.len() + 1],
    pub count: u64,
    pub sum_us: u64,
}

impl Snapshot {
    /// The `q` quantile (0 to 1), as the upper bound of the bucket it falls in (in
    /// microseconds; past the last bound, the last bound): 0 while nothing was recorded.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return BOUNDS_US.get(i).copied().unwrap_or(BOUNDS_US[BOUNDS_US.len() - 1]);
            }
        }
        BOUNDS_US[BOUNDS_US.len() - 1]
    }

    /// The `INFO pubsub_latency` fields.
    pub fn info_fields(&self) -> Vec<(&'static str, String)> {
        let mut histogram = String::new();
        let mut cumulative = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            cumulative += n;
            if !histogram.is_empty() {
                histogram.push(',');
            }
            match BOUNDS_US.get(i) {
                Some(bound) => histogram.push_str(&format!("le_{bound}={cumulative}")),
                None => histogram.push_str(&format!("le_inf={cumulative}")),
            }
        }
        vec![
            ("pubsub_delivery_count", self.count.to_string()),
            ("pubsub_delivery_usec", self.sum_us.to_string()),
            (
                "pubsub_delivery_percentiles_usec",
                format!(
                    "p50={},p99={},p99.9={}",
                    self.quantile_us(0.5),
                    self.quantile_us(0.99),
                    self.quantile_us(0.999)
                ),
            ),
            ("pubsub_delivery_histogram_usec", histogram),
        ]
    }

    /// The buckets as Prometheus wants them: (upper bound in seconds, messages), not cumulative.
    pub fn prometheus_buckets(&self) -> Vec<(f64, u64)> {
        let bound = |i: usize| {
            BOUNDS_US.get(i).map_or(f64::INFINITY, |us| Duration::from_micros(*us).as_secs_f64())
        };
        self.buckets.iter().enumerate().map(|(i, n)| (bound(i), *n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fall_in_their_buckets_and_quantiles_read_them() {
        let delivery = Delivery::default();
        let now = Instant::now() + Duration::from_secs(100);
        let ago = |us: u64| now - Duration::from_micros(us);
        delivery.record_at([ago(5), ago(10), ago(11), ago(900)], now);
        delivery.record_at([ago(120_000_000)], now);
        let s = delivery.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(s.sum_us, 5 + 10 + 11 + 900 + 120_000_000);
        assert_eq!(&s.buckets[..3], &[2, 1, 0], "at most 10, then 25");
        assert_eq!(s.buckets[6], 1, "900 us in the 1 ms bucket");
        assert_eq!(s.buckets[BOUNDS_US.len()], 1, "past the last bound: +Inf");
        assert_eq!(s.quantile_us(0.5), 25);
        assert_eq!(s.quantile_us(0.6), 25);
        assert_eq!(s.quantile_us(0.8), 1_000);
        let fields = s.info_fields();
        assert_eq!(fields[2].1, "p50=25,p99=60000000,p99.9=60000000");
        assert!(fields[3].1.starts_with("le_10=2,le_25=3,le_50=3,"));
        assert!(fields[3].1.ends_with(",le_60000000=4,le_inf=5"));
        delivery.reset();
        assert_eq!(delivery.snapshot().count, 0);
        assert_eq!(delivery.snapshot().quantile_us(0.5), 0);
    }
}
