//! What the server can be told: [`Config`] at start-up, filled from the command line by
//! `main.rs` (or by hand in tests), and the [`Protocol`] connections speak; [`Runtime`], the
//! parameters that can change while it runs (`CONFIG SET`, whose table is
//! [`crate::parameters`]). Nothing here reads flags or the environment; every field documents
//! its default.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared::Limits;

use crate::mailbox::OutputLimit;
use crate::system::Backend;
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
    /// The rest of `client-output-buffer-limit`: the subscribers' soft limit (enforced), and
    /// the `normal` and `replica` classes (accepted and shown, nothing to enforce them on).
    /// Default: all 0 (none).
    pub output_limits: OutputLimits,
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
    /// Longest a connection that must authenticate and has not may stay idle, or take over
    /// one request (shortens `--timeout` before AUTH): unauthenticated peers cannot hold a
    /// connection, or a `pool` worker, for ever.
    pub auth_timeout: Duration,
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
            output_limits: OutputLimits::default(),
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
            auth_timeout: Duration::from_secs(10),
        }
    }
}

/// One class's line of `client-output-buffer-limit`: `HARD SOFT SECONDS` (bytes, bytes,
/// seconds; 0 for none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`'s three classes, as Redis names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: ClassLimit,
    pub replica: ClassLimit,
    /// Its `hard` is [`Config::client_output_buffer_limit`] where a `Config` holds it.
    pub pubsub: ClassLimit,
}

/// The parameters that can change while the server runs (`CONFIG SET`). Everything that
/// enforces one reads it from here, never from the [`Config`] it started with.
#[derive(Debug)]
pub struct Runtime {
    /// `timeout`, in milliseconds (flags and tests may give less than Redis's whole seconds);
    /// 0 for none.
    idle_timeout_ms: AtomicU64,
    /// `client-output-buffer-limit pubsub HARD SOFT SECONDS`: shared with every mailbox.
    output_limit: Arc<OutputLimit>,
    /// `client-output-buffer-limit normal ...` and `replica ...`: shown, never enforced.
    other_output_limits: Mutex<[ClassLimit; 2]>,
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
            output_limit: Arc::new(OutputLimit::new(
                config.client_output_buffer_limit,
                config.output_limits.pubsub.soft as usize,
                config.output_limits.pubsub.soft_seconds,
            )),
            other_output_limits: Mutex::new([
                config.output_limits.normal,
                config.output_limits.replica,
            ]),
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
        self.output_limit.hard.load(Ordering::Relaxed)
    }

    /// The limits as mailboxes share them.
    pub fn shared_output_limit(&self) -> Arc<OutputLimit> {
        self.output_limit.clone()
    }

    /// Every class's `client-output-buffer-limit`, as `CONFIG GET` shows them.
    pub fn output_limits(&self) -> OutputLimits {
        let [normal, replica] = *self.other_output_limits.lock().unwrap_or_else(|e| e.into_inner());
        let pubsub = &self.output_limit;
        OutputLimits {
            normal,
            replica,
            pubsub: ClassLimit {
                hard: pubsub.hard.load(Ordering::Relaxed) as u64,
                soft: pubsub.soft.load(Ordering::Relaxed) as u64,
                soft_seconds: pubsub.soft_seconds.load(Ordering::Relaxed),
            },
        }
    }

    /// Sets the classes `CONFIG SET client-output-buffer-limit` names (the others keep theirs).
    pub fn set_output_limits(
        &self,
        normal: Option<ClassLimit>,
        replica: Option<ClassLimit>,
        pubsub: Option<ClassLimit>,
    ) {
        {
            let mut other = self.other_output_limits.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(normal) = normal {
                other[0] = normal;
            }
            if let Some(replica) = replica {
                other[1] = replica;
            }
        }
        if let Some(pubsub) = pubsub {
            let limit = &self.output_limit;
            limit.hard.store(pubsub.hard.try_into().unwrap_or(usize::MAX), Ordering::Relaxed);
            limit.soft.store(pubsub.soft.try_into().unwrap_or(usize::MAX), Ordering::Relaxed);
            limit.soft_seconds.store(pubsub.soft_seconds, Ordering::Relaxed);
        }
    }

    /// See [`Config::max_clients`].
    pub fn max_clients(&self) -> usize {
        self.max_clients.load(Ordering::Relaxed)
    }

    /// The most [`Runtime::set_max_clients`] may set: what the open-file limit held at start.
    pub fn max_clients_ceiling(&self) -> usize {
        self.max_clients_ceiling
    }

    /// Sets `maxclients` (at most [`Runtime::max_clients_ceiling`], checked by the caller).
    pub fn set_max_clients(&self, n: usize) {
        self.max_clients.store(n, Ordering::Relaxed);
    }

    /// Sets `timeout`, in whole seconds as Redis has it; 0 for none.
    pub fn set_idle_timeout_secs(&self, secs: u64) {
        self.idle_timeout_ms.store(secs.saturating_mul(1000), Ordering::Relaxed);
    }
}
