//! `CONFIG GET` and `CONFIG SET`: [`PARAMETERS`], the one table both serve, under Redis's
//! names, read from and written to a running server's [`ServerContext`] (the start-up
//! [`Config`](crate::config::Config) and its [`Runtime`](crate::config::Runtime)), and
//! Redis's ways of reading the values.

use bytes::Bytes;
use shared::command::{parse_integer, DATABASES};
use shared::glob::glob_match;

use crate::config::{ClassLimit, OutputLimits};
use crate::context::ServerContext;
use crate::errors::{BadValue, ReplyError};
use crate::latency::{format_percentile, parse_percentiles};

/// One parameter of `CONFIG GET` / `CONFIG SET`, under its Redis name.
pub struct Parameter {
    /// The name, lower case.
    pub name: &'static str,
    /// Its current value, as `CONFIG GET` shows it.
    pub get: fn(&ServerContext) -> String,
    /// `None` for a parameter fixed at start. Otherwise checks a value and, when `apply` is
    /// true, sets it; the error is the text after Redis's `CONFIG SET failed ... - `.
    pub set: Option<Setter>,
}

/// How a run-time parameter checks (`apply` false) or sets (`apply` true) a value.
pub type Setter = fn(&ServerContext, &str, bool) -> Result<(), BadValue>;

/// Every parameter, in the order `CONFIG GET *` lists them. Those about keys, persistence and
/// replication answer as a Redis without persistence does (`save ""`, `appendonly no`).
pub const PARAMETERS: &[Parameter] = &[
    Parameter { name: "bind", get: |ctx| ctx.config.bind.to_string(), set: None },
    Parameter { name: "port", get: |ctx| ctx.addr.port().to_string(), set: None },
    Parameter {
        name: "maxclients",
        get: |ctx| ctx.runtime.max_clients().to_string(),
        set: Some(|ctx, value, apply| {
            let ceiling = ctx.runtime.max_clients_ceiling();
            let n = parse_in_range(value, 1, ceiling as u64)?;
            if apply {
                ctx.runtime.set_max_clients(n as usize);
            }
            Ok(())
        }),
    },
    Parameter {
        name: "timeout",
        get: |ctx| ctx.runtime.idle_timeout().map_or(0, |t| t.as_secs()).to_string(),
        set: Some(|ctx, value, apply| {
            let secs = parse_in_range(value, 0, i32::MAX as u64)?;
            if apply {
                ctx.runtime.set_idle_timeout_secs(secs);
                // Connections waiting with no deadline compute the new one.
                ctx.wake_all();
            }
            Ok(())
        }),
    },
    Parameter {
        name: "client-output-buffer-limit",
        get: |ctx| show_output_limits(&ctx.runtime.output_limits()),
        set: Some(|ctx, value, apply| {
            let [normal, replica, pubsub] = parse_output_limits(value)?;
            if apply {
                ctx.runtime.set_output_limits(normal, replica, pubsub);
                // Subscribers above a new soft limit start their clocks at their next push.
                ctx.wake_all();
            }
            Ok(())
        }),
    },
    Parameter {
        name: "proto-max-bulk-len",
        get: |ctx| ctx.config.limits.max_bulk_len.to_string(),
        set: None,
    },
    Parameter { name: "databases", get: |_| DATABASES.to_string(), set: None },
    Parameter {
        name: "save",
        get: |_| String::new(),
        set: Some(|_, value, _| match value.trim() {
            "" => Ok(()),
            _ => Err("there are no keys, so nothing to save: only \"\" is accepted".into()),
        }),
    },
    Parameter {
        name: "appendonly",
        get: |_| "no".into(),
        set: Some(|_, value, _| match value.to_ascii_lowercase().as_str() {
            "no" => Ok(()),
            "yes" => Err("there are no keys, so no append-only file: only 'no' is accepted".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        }),
    },
    Parameter {
        name: "latency-tracking",
        get: |ctx| if ctx.commands.tracking() { "yes" } else { "no" }.into(),
        set: Some(|ctx, value, apply| {
            let on = match value.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err("argument must be 'yes' or 'no'".into()),
            };
            if apply {
                ctx.commands.set_tracking(on);
            }
            Ok(())
        }),
    },
    Parameter {
        name: "latency-tracking-info-percentiles",
        get: |ctx| {
            let percentiles = ctx.commands.percentiles();
            let words: Vec<String> = percentiles.into_iter().map(format_percentile).collect();
            words.join(" ")
        },
        set: Some(|ctx, value, apply| {
            let percentiles = parse_percentiles(value).map_err(BadValue::from)?;
            if apply {
                ctx.commands.set_percentiles(percentiles);
            }
            Ok(())
        }),
    },
    Parameter {
        name: "latency-monitor-threshold",
        get: |ctx| ctx.commands.monitor.threshold_ms().to_string(),
        set: Some(|ctx, value, apply| {
            let ms = parse_in_range(value, 0, i64::MAX as u64)?;
            if apply {
                ctx.commands.monitor.set_threshold_ms(ms);
            }
            Ok(())
        }),
    },
    Parameter {
        name: "slowlog-log-slower-than",
        get: |ctx| ctx.slowlog.slower_than().to_string(),
        set: Some(|ctx, value, apply| {
            let n = parse_integer(value.as_bytes())
                .ok_or_else(|| BadValue::from("argument couldn't be parsed into an integer"))?;
            if n < -1 {
                return Err(
                    format!("argument must be between -1 and {} inclusive", i64::MAX).into()
                );
            }
            if apply {
                ctx.slowlog.set_slower_than(n);
            }
            Ok(())
        }),
    },
    Parameter {
        name: "slowlog-max-len",
        get: |ctx| ctx.slowlog.max_len().to_string(),
        set: Some(|ctx, value, apply| {
            let n = parse_in_range(value, 0, i64::MAX as u64)?;
            if apply {
                ctx.slowlog.set_max_len(usize::try_from(n).unwrap_or(usize::MAX));
            }
            Ok(())
        }),
    },
    Parameter { name: "maxmemory", get: |_| "0".into(), set: None },
    Parameter { name: "maxmemory-policy", get: |_| "noeviction".into(), set: None },
];

impl ServerContext {
    /// `CONFIG GET pattern ...`: each parameter whose name matches one of the globs
    /// (case-insensitive), once, with its value.
    pub fn config_get(&self, patterns: &[Bytes]) -> Vec<(&'static str, String)> {
        let patterns: Vec<Vec<u8>> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
        PARAMETERS
            .iter()
            .filter(|p| patterns.iter().any(|pattern| glob_match(pattern, p.name.as_bytes())))
            .map(|p| (p.name, (p.get)(self)))
            .collect()
    }

    /// `CONFIG SET name value ...`: every value is checked before any is set, so either all
    /// change or none. The error is Redis's reply text.
    pub fn config_set(&self, pairs: &[(Bytes, Bytes)]) -> Result<(), ReplyError> {
        let mut found: Vec<(&Parameter, String)> = Vec::new();
        for (name, value) in pairs {
            let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
            let Some(param) = PARAMETERS.iter().find(|p| p.name == lower) else {
                let name = String::from_utf8_lossy(name).replace(['\r', '\n', '\0'], " ");
                return Err(ReplyError::UnknownConfig(name));
            };
            let failed = |why: BadValue| ReplyError::ConfigSetFailed { name: param.name, why };
            if found.iter().any(|(p, _)| p.name == param.name) {
                return Err(failed("duplicate parameter".into()));
            }
            let Some(set) = param.set else {
                return Err(failed("can't set immutable config".into()));
            };
            let value = String::from_utf8_lossy(value).into_owned();
            set(self, &value, false).map_err(failed)?;
            found.push((param, value));
        }
        for (param, value) in found {
            let set = param.set.expect("checked above");
            set(self, &value, true).expect("checked above");
            tracing::info!(parameter = param.name, value, "CONFIG SET");
        }
        Ok(())
    }
}

/// Reads an integer for `CONFIG SET`, with Redis's errors.
fn parse_in_range(value: &str, min: u64, max: u64) -> Result<u64, BadValue> {
    let n = parse_integer(value.as_bytes())
        .ok_or_else(|| BadValue::from("argument couldn't be parsed into an integer"))?;
    match u64::try_from(n) {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("argument must be between {min} and {max} inclusive").into()),
    }
}

/// Reads `client-output-buffer-limit` as Redis does: `CLASS HARD SOFT SECONDS`, repeated
/// (`slave` and `replica` name the same class). Returns the limits given for `normal`,
/// `replica` and `pubsub`, in that order; a class named twice takes the last.
pub fn parse_output_limits(value: &str) -> Result<[Option<ClassLimit>; 3], BadValue> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = [None; 3];
    for class in words.chunks(4) {
        let slot = match class[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
        };
        let (Some(hard), Some(soft), Ok(soft_seconds)) =
            (parse_memory(class[1]), parse_memory(class[2]), class[3].parse::<u64>())
        else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        limits[slot] = Some(ClassLimit { hard, soft, soft_seconds });
    }
    Ok(limits)
}

/// `client-output-buffer-limit` as Redis 7.0's `CONFIG GET` shows it (in bytes, `slave`).
pub fn show_output_limits(limits: &OutputLimits) -> String {
    let class = |c: &ClassLimit| format!("{} {} {}", c.hard, c.soft, c.soft_seconds);
    format!(
        "normal {} slave {} pubsub {}",
        class(&limits.normal),
        class(&limits.replica),
        class(&limits.pubsub)
    )
}

/// Reads a memory size as Redis's `memtoull`: digits with an optional unit (`k`, `kb`, `m`,
/// `mb`, `g`, `gb`, any case; `k` is 1000, `kb` 1024).
fn parse_memory(word: &str) -> Option<u64> {
    let lower = word.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let scale: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_as_redis_reads_them() {
        assert_eq!(parse_memory("1mb"), Some(1 << 20));
        assert_eq!(parse_memory("1M"), Some(1_000_000));
        assert_eq!(parse_memory("33554432"), Some(33_554_432));
        assert_eq!(parse_memory("1xb"), None);
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn output_limits_read_every_class_as_redis_does() {
        let pubsub = |hard, soft, soft_seconds| Some(ClassLimit { hard, soft, soft_seconds });
        assert_eq!(parse_output_limits("pubsub 1mb 0 0"), Ok([None, None, pubsub(1 << 20, 0, 0)]));
        assert_eq!(
            parse_output_limits("pubsub 32mb 8mb 60 slave 1k 2kb 3"),
            Ok([None, pubsub(1000, 2048, 3), pubsub(32 << 20, 8 << 20, 60)])
        );
        assert_eq!(parse_output_limits("normal 0 0 0"), Ok([pubsub(0, 0, 0), None, None]));
        assert!(parse_output_limits("pubsub 1mb").unwrap_err().0.starts_with("Wrong number"));
        assert!(parse_output_limits("pubsub x 0 0").unwrap_err().0.starts_with("Error in hard"));
        assert!(parse_output_limits("pubsub 1 2 -3").unwrap_err().0.starts_with("Error in hard"));
        assert!(parse_output_limits("master 1 0 0").unwrap_err().0.starts_with("Invalid client"));
        let limits = OutputLimits {
            replica: ClassLimit { hard: 1000, soft: 2048, soft_seconds: 3 },
            ..OutputLimits::default()
        };
        assert_eq!(show_output_limits(&limits), "normal 0 0 0 slave 1000 2048 3 pubsub 0 0 0");
    }
}
