//! What the server can be told: [`Config`] at start-up, filled from the command line by
//! `main.rs` (or by hand in tests), and the [`Protocol`] connections speak; [`Runtime`], the
//! parameters that can change while it runs; [`PARAMETERS`], the one table `CONFIG GET` and
//! `CONFIG SET` serve, under Redis's names. Nothing here reads flags or the environment; every
//! field documents its default.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shared::command::{parse_integer, DATABASES};
use shared::glob::glob_match;
use shared::Limits;

use crate::backend::Backend;
use crate::context::ServerContext;
use crate::tls::TlsSettings;

/// Which protocol connections speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Redis's RESP2/RESP3, with the pub/sub commands.
    Resp,
    /// Raw bytes: everything read is written back.
    Echo,
}

/// Everything the server can be told at start-up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// The concurrency model.
    pub backend: Backend,
    /// The protocol connections speak.
    pub protocol: Protocol,
    /// Request parser limits (bulk length, argument count).
    pub limits: Limits,
    /// Most connections served at once; the next one is refused with an error. `start` lowers
    /// it to what the open-file limit holds (see [`crate::descriptors`]).
    pub max_clients: usize,
    /// Most bytes waiting for one subscriber before it is disconnected as a slow consumer.
    pub client_output_buffer_limit: usize,
    /// How long a graceful shutdown may take before remaining connections are abandoned.
    pub shutdown_timeout: Duration,
    /// Stack size of connection threads (the `thread` backend).
    pub stack_size: usize,
    /// Worker threads of the `pool` and `queue` backends; `None` picks the backend's default.
    pub workers: Option<usize>,
    /// Capacity of the ready-connection queue between poller and workers (the `queue` backend).
    pub queue_depth: usize,
    /// Most connections waiting for a worker of the `pool` backend while every worker is taken;
    /// the next one is refused at once (`-ERR server busy: ...`). 0: none waits.
    pub pool_backlog: usize,
    /// Longest a connection waits for a worker of the `pool` backend before it is refused
    /// (`-ERR server busy: ...`); `None` for as long as it takes.
    pub pool_wait_timeout: Option<Duration>,
    /// Schedulers of the `event` backend or rings of the `uring` backend, one thread each;
    /// `None` means one per CPU.
    pub threads: Option<usize>,
    /// Close connections that sent nothing for this long, unless they subscribe; `None` for
    /// never (Redis's `timeout`).
    pub idle_timeout: Option<Duration>,
    /// How often to log a stats line; `None` for never.
    pub stats_interval: Option<Duration>,
    /// Port for Prometheus metrics over HTTP on `metrics_bind`; `None` for none.
    pub metrics_port: Option<u16>,
    /// NATS servers (`nats://HOST:PORT`) to join other nodes through; empty for none.
    pub relay: Vec<String>,
    /// This node's name towards NATS; `None` names it after its address.
    pub node_name: Option<String>,
    /// Address the metrics endpoint listens on (loopback unless told otherwise: it has no
    /// authentication).
    pub metrics_bind: IpAddr,
    /// The `default` user's password (Redis's `requirepass`); `None`: no password.
    pub requirepass: Option<String>,
    /// The ACL file (Redis's `aclfile`): users read at start and by `ACL LOAD`.
    pub aclfile: Option<PathBuf>,
    /// Refuse connections from anywhere but loopback while the default user has no password
    /// (Redis's `protected-mode`).
    pub protected_mode: bool,
    /// A second port, on the same address, that speaks TLS; 0 picks a free one. Needs `tls`.
    pub tls_port: Option<u16>,
    /// Certificates and keys for the TLS port.
    pub tls: Option<TlsSettings>,
    /// Longest a TLS handshake may take from the moment the connection was accepted.
    pub tls_handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 15000,
            backend: Backend::Thread,
            protocol: Protocol::Resp,
            limits: Limits::default(),
            max_clients: 10_000,
            client_output_buffer_limit: 32 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(5),
            stack_size: 256 * 1024,
            workers: None,
            queue_depth: 1024,
            pool_backlog: 128,
            pool_wait_timeout: Some(Duration::from_secs(2)),
            threads: None,
            idle_timeout: None,
            stats_interval: None,
            metrics_port: None,
            relay: Vec::new(),
            node_name: None,
            metrics_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            requirepass: None,
            aclfile: None,
            protected_mode: true,
            tls_port: None,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// The parameters that can change while the server runs (`CONFIG SET`). Everything that
/// enforces one reads it from here, never from the [`Config`] it started with.
#[derive(Debug)]
pub struct Runtime {
    /// `timeout`, in milliseconds (flags and tests may give less than Redis's whole seconds);
    /// 0 for none.
    idle_timeout_ms: AtomicU64,
    /// `client-output-buffer-limit pubsub HARD`: shared with every mailbox.
    output_limit: Arc<AtomicUsize>,
    /// `maxclients`.
    max_clients: AtomicUsize,
    /// The most `maxclients` may be raised to: what the open-file limit held at start.
    max_clients_ceiling: usize,
}

impl Runtime {
    /// The parameters as `config` sets them at start.
    pub fn new(config: &Config) -> Runtime {
        Runtime {
            idle_timeout_ms: AtomicU64::new(
                config.idle_timeout.map_or(0, |t| t.as_millis().clamp(1, u64::MAX as u128) as u64),
            ),
            output_limit: Arc::new(AtomicUsize::new(config.client_output_buffer_limit)),
            max_clients: AtomicUsize::new(config.max_clients),
            max_clients_ceiling: config.max_clients,
        }
    }

    /// Close connections that sent nothing for this long (see [`Config::idle_timeout`]).
    pub fn idle_timeout(&self) -> Option<Duration> {
        let ms = self.idle_timeout_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// See [`Config::client_output_buffer_limit`].
    pub fn output_limit(&self) -> usize {
        self.output_limit.load(Ordering::Relaxed)
    }

    /// The limit as mailboxes share it.
    pub fn shared_output_limit(&self) -> Arc<AtomicUsize> {
        self.output_limit.clone()
    }

    /// See [`Config::max_clients`].
    pub fn max_clients(&self) -> usize {
        self.max_clients.load(Ordering::Relaxed)
    }
}

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
pub type Setter = fn(&ServerContext, &str, bool) -> Result<(), String>;

/// Every parameter, in the order `CONFIG GET *` lists them. Those about keys, persistence and
/// replication answer as a Redis without persistence does (`save ""`, `appendonly no`).
pub const PARAMETERS: &[Parameter] = &[
    Parameter { name: "bind", get: |ctx| ctx.config.bind.to_string(), set: None },
    Parameter { name: "port", get: |ctx| ctx.addr.port().to_string(), set: None },
    Parameter {
        name: "maxclients",
        get: |ctx| ctx.runtime.max_clients().to_string(),
        set: Some(|ctx, value, apply| {
            let ceiling = ctx.runtime.max_clients_ceiling;
            let n = parse_in_range(value, 1, ceiling as u64)?;
            if apply {
                ctx.runtime.max_clients.store(n as usize, Ordering::Relaxed);
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
                ctx.runtime.idle_timeout_ms.store(secs * 1000, Ordering::Relaxed);
                // Connections waiting with no deadline compute the new one.
                ctx.wake_all();
            }
            Ok(())
        }),
    },
    Parameter {
        name: "client-output-buffer-limit",
        get: |ctx| format!("normal 0 0 0 slave 0 0 0 pubsub {} 0 0", ctx.runtime.output_limit()),
        set: Some(|ctx, value, apply| {
            let hard = parse_output_limits(value)?;
            if let (true, Some(hard)) = (apply, hard) {
                ctx.runtime.output_limit.store(hard, Ordering::Relaxed);
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
    pub fn config_set(&self, pairs: &[(Bytes, Bytes)]) -> Result<(), String> {
        let mut found: Vec<(&Parameter, String)> = Vec::new();
        for (name, value) in pairs {
            let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
            let Some(param) = PARAMETERS.iter().find(|p| p.name == lower) else {
                let name = String::from_utf8_lossy(name).replace(['\r', '\n', '\0'], " ");
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            let failed = |why: &str| {
                format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
                    param.name
                )
            };
            if found.iter().any(|(p, _)| p.name == param.name) {
                return Err(failed("duplicate parameter"));
            }
            let Some(set) = param.set else { return Err(failed("can't set immutable config")) };
            let value = String::from_utf8_lossy(value).into_owned();
            set(self, &value, false).map_err(|why| failed(&why))?;
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
fn parse_in_range(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = parse_integer(value.as_bytes())
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    match u64::try_from(n) {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("argument must be between {min} and {max} inclusive")),
    }
}

/// Reads `client-output-buffer-limit` as Redis does: `CLASS HARD SOFT SECONDS`, repeated.
/// Returns the new pubsub hard limit, if the value gives one. Limits this server does not
/// have (soft limits; any limit for normal clients or replicas) are refused, never ignored.
fn parse_output_limits(value: &str) -> Result<Option<usize>, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut hard_pubsub = None;
    for class in words.chunks(4) {
        let numbers: Option<Vec<u64>> = [class[1], class[2]]
            .iter()
            .map(|w| parse_memory(w))
            .chain([class[3].parse().ok()])
            .collect();
        let Some(numbers) = numbers else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        match class[0].to_ascii_lowercase().as_str() {
            "pubsub" if numbers[1] == 0 && numbers[2] == 0 => {
                hard_pubsub = Some(numbers[0] as usize);
            }
            "pubsub" => {
                return Err(
                    "soft limits are not supported: pubsub SOFT and SECONDS must be 0".into()
                )
            }
            "normal" | "slave" | "replica" if numbers == [0, 0, 0] => {}
            "normal" | "slave" | "replica" => {
                return Err(format!("no limit other than 0 0 0 is supported for {}", class[0]))
            }
            _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
        }
    }
    Ok(hard_pubsub)
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
    fn output_limits_take_the_pubsub_hard_limit_and_refuse_the_rest() {
        assert_eq!(parse_output_limits("pubsub 1mb 0 0"), Ok(Some(1 << 20)));
        assert_eq!(parse_output_limits("normal 0 0 0 slave 0 0 0"), Ok(None));
        assert!(parse_output_limits("pubsub 1mb").unwrap_err().starts_with("Wrong number"));
        assert!(parse_output_limits("pubsub x 0 0").unwrap_err().starts_with("Error in hard"));
        assert!(parse_output_limits("nosuch 1 0 0").unwrap_err().starts_with("Invalid client"));
        assert!(parse_output_limits("pubsub 32mb 8mb 60").unwrap_err().starts_with("soft"));
    }
}
