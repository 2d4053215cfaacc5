//! Latency histograms: one HdrHistogram per worker thread, merged at the end, summarised into
//! percentiles, and written in HdrHistogram's portable V2 form (deflated, base64) so runs from
//! several load generators can be merged later.
//!
//! All values are **microseconds**, from 1 µs to one hour, with 3 significant digits.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A latency histogram in microseconds.
pub type Hist = Histogram<u64>;

/// Largest value a [`Hist`] keeps exactly: one hour, in microseconds. Larger values are clamped.
pub const MAX_US: u64 = 3_600_000_000;

/// An empty histogram with the bounds every part of the tool uses.
pub fn new_hist() -> Hist {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Records `d`, rounded to whole microseconds (at least 1) and clamped to [`MAX_US`].
pub fn record(h: &mut Hist, d: Duration) {
    h.saturating_record((d.as_micros() as u64).max(1));
}

/// The sum of `hists`, as if every value had been recorded in one histogram.
pub fn merge<'a>(hists: impl IntoIterator<Item = &'a Hist>) -> Hist {
    let mut all = new_hist();
    for h in hists {
        all.add(h).expect("histograms share bounds");
    }
    all
}

/// The figures a report shows for one histogram (microseconds; all zero when empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
    pub mean: f64,
    pub stdev: f64,
}

impl Summary {
    /// The summary of `h`.
    pub fn of(h: &Hist) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            min: h.min(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            mean: h.mean(),
            stdev: h.stdev(),
        }
    }
}

/// One point of a percentile curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// 0 to 100.
    pub percentile: f64,
    pub latency_us: u64,
}

/// The latency at percentiles 0, 20.6, 36.9, ... spaced evenly on the log scale of
/// `1 / (1 - q)` (ten points per "nine"), as far as the sample size supports, then the max.
pub fn percentile_curve(h: &Hist) -> Vec<CurvePoint> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut points = Vec::new();
    // Beyond 1 - 1/count the histogram only knows its max.
    let deepest = (h.len() as f64).log10();
    let mut i = 0;
    loop {
        let nines = i as f64 / 10.0;
        if nines >= deepest || nines > 6.0 {
            break;
        }
        let q = 1.0 - 10f64.powf(-nines);
        points.push(CurvePoint { percentile: q * 100.0, latency_us: h.value_at_quantile(q) });
        i += 1;
    }
    let last = 100.0 * (1.0 - 10f64.powf(-deepest.clamp(0.0, 6.0)));
    points.push(CurvePoint { percentile: last.max(0.0), latency_us: h.max() });
    points
}

/// `h` in HdrHistogram's V2 deflated form, base64-encoded (the `HISTF...` text other
/// HdrHistogram tools read).
pub fn to_base64(h: &Hist) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).expect("serializing to memory");
    base64_encode(&bytes)
}

/// Reads a histogram written by [`to_base64`] (or any HdrHistogram V2 tool).
pub fn from_base64(text: &str) -> Result<Hist, String> {
    let bytes = base64_decode(text.trim()).ok_or("not base64")?;
    let h: Hist = Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| format!("not an HdrHistogram: {e:?}"))?;
    // Re-home it in our bounds, so it merges with everything else.
    let mut ours = new_hist();
    ours.add(&h).map_err(|e| format!("histogram out of range: {e:?}"))?;
    Ok(ours)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().take_while(|&b| b != b'=').collect();
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = B64.iter().position(|&d| d == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist_of(values: &[u64]) -> Hist {
        let mut h = new_hist();
        values.iter().for_each(|&v| h.record(v).unwrap());
        h
    }

    #[test]
    fn base64_matches_known_vectors() {
        for (raw, enc) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw), enc);
            assert_eq!(base64_decode(enc).unwrap(), raw);
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        assert_eq!(base64_decode("Zm9v!"), None);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let a = hist_of(&[10, 20, 30, 1_000]);
        let b = hist_of(&[5, 25, 2_000_000]);
        let merged = merge([&a, &b]);
        let single = hist_of(&[10, 20, 30, 1_000, 5, 25, 2_000_000]);
        assert_eq!(Summary::of(&merged), Summary::of(&single));
        assert_eq!(merged.len(), 7);
        assert_eq!(merged.max(), single.max());
    }

    #[test]
    fn serialized_histograms_survive_the_round_trip_and_merge() {
        let a = hist_of(&[1, 2, 3, 400, 50_000]);
        let b = hist_of(&[7, 8_000_000]);
        let text = to_base64(&a);
        assert!(text.starts_with("HISTF"), "{text}");
        let back = from_base64(&text).unwrap();
        assert_eq!(Summary::of(&back), Summary::of(&a));
        let merged =
            merge([&from_base64(&to_base64(&a)).unwrap(), &from_base64(&to_base64(&b)).unwrap()]);
        assert_eq!(Summary::of(&merged), Summary::of(&merge([&a, &b])));
        assert!(from_base64("Zm9v").is_err());
    }

    #[test]
    fn durations_are_recorded_in_microseconds_and_clamped() {
        let mut h = new_hist();
        record(&mut h, Duration::from_nanos(10)); // below 1 µs: counts as 1
        record(&mut h, Duration::from_millis(3));
        record(&mut h, Duration::from_secs(100_000)); // beyond an hour: clamped
        assert_eq!(h.min(), 1);
        assert!(h.equivalent(h.value_at_quantile(0.5), 3000));
        assert!(h.max() >= MAX_US - MAX_US / 1000);
    }

    #[test]
    fn curve_is_monotonic_and_ends_at_the_max() {
        let h = hist_of(&(1..=10_000).collect::<Vec<_>>());
        let curve = percentile_curve(&h);
        assert!(curve.windows(2).all(|w| w[0].percentile < w[1].percentile));
        assert!(curve.windows(2).all(|w| w[0].latency_us <= w[1].latency_us));
        assert_eq!(curve.last().unwrap().latency_us, h.max());
        assert_eq!(curve[0].percentile, 0.0);
        assert!(percentile_curve(&new_hist()).is_empty());
    }
}
