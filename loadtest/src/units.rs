//! Units as people read them (latencies, rates, CPU per operation) and the date in UTC: the
//! leaf every other module formats with.

/// A latency in µs as people read it: `87µs`, `1.25ms`, `3.10s`.
pub fn fmt_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// CPU microseconds per operation: `1.25`, `-` when unknown.
pub fn fmt_cpu_op(us: Option<f64>) -> String {
    match us {
        Some(us) if us.is_finite() && us > 0.0 => format!("{us:.2}"),
        _ => "-".into(),
    }
}

/// A rate as people read it: `980`, `12.3k`, `1.20M`.
pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_date(secs)
}

/// `secs` after the Unix epoch as `YYYY-MM-DD HH:MM UTC` (the proleptic Gregorian calendar).
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hh, mm) = (secs % 86_400 / 3600, secs % 3600 / 60);
    // Days to civil date, counting in 400-year eras that start on March 1st.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_and_rates_read_well() {
        assert_eq!(fmt_us(87), "87µs");
        assert_eq!(fmt_us(1_250), "1.25ms");
        assert_eq!(fmt_us(3_100_000), "3.10s");
        assert_eq!(fmt_rate(980.4), "980");
        assert_eq!(fmt_rate(12_345.0), "12.3k");
        assert_eq!(fmt_rate(1_200_000.0), "1.20M");
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
        assert_eq!(utc_date(1_767_225_599), "2025-12-31 23:59 UTC");
    }
}
