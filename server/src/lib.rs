//! Switchboard: a RESP pub/sub server whose concurrency model is chosen at start-up.
//!
//! Starting and stopping:
//! - [`lifecycle`]: [`start`] binds and serves in the background (what tests use), [`run`] is
//!   the binary's entry point (prints `listening on ADDR`, stops on SIGINT/SIGTERM);
//!   [`Shutdown`], [`Stopper`] and [`ServerHandle`].
//! - [`config`]: [`Config`], everything the server is told at start-up, and [`Protocol`];
//!   [`parameters`]: the table `CONFIG GET` and `CONFIG SET` serve.
//! - [`daemon`]: `--daemon` (detach, pid file) and `server stop`.
//! - [`descriptors`]: the open-file limit, raised at start, and the `--max-clients` it holds.
//!
//! Serving connections:
//! - `system`: the ground floor, importing nothing else of the crate: [`Backend`] (the
//!   choice of model), `poll(2)`, the eventfd a blocked thread is woken through, [`Shutdown`].
//! - [`backend`]: one file per concurrency model; each only decides who runs which connection.
//! - `listen`: binding listeners and what an accept loop does when `accept` fails.
//! - [`refusal`]: turning a connection away so that it hears why (`-ERR ...`), the same way
//!   for every backend; `throttled_log`: warnings such as refusals logged once per interval.
//! - [`context`]: [`ServerContext`], what every connection shares (config, exchange, stats,
//!   the registry of connections, the `--max-clients` check); `admission`: a connection
//!   admitted or refused, and its session; [`clients`]: what each connection in that registry
//!   shows of itself (`CLIENT LIST`, `CLIENT KILL`).
//!
//! The protocol and the messages:
//! - [`session`]: one connection's protocol state, sans I/O (bytes in, replies out).
//! - [`errors`]: Redis's error texts for what goes wrong while a command runs, one enum.
//! - [`acl`]: users, their rules, the ACL log, the login gate and protected mode.
//! - [`driver`]: one connection's I/O policy, sans I/O: when it reads, writes, takes mail and
//!   closes; every backend runs each connection through one.
//! - [`exchange`]: channel and pattern subscriptions, fan-out of encoded messages.
//! - [`mailbox`]: the bounded, pollable per-connection queue messages travel through.
//! - [`relay`]: `--relay`, several servers joined through a NATS cluster.
//!
//! Telling what happens:
//! - [`stats`]: counters every backend updates; `info`: the `INFO` text built from them;
//!   `metrics`: the same counters for Prometheus; [`delivery`]: the pub/sub delivery clock.
//! - [`latency`]: each command's calls and latency histogram; [`slowlog`]: the slow log.

pub mod acl;
mod admission;
pub mod backend;
pub mod clients;
pub mod config;
pub mod context;
pub mod daemon;
pub mod delivery;
pub mod descriptors;
pub mod driver;
pub mod errors;
pub mod exchange;
pub mod latency;
pub mod lifecycle;
pub mod mailbox;
pub mod parameters;
pub mod refusal;
pub mod relay;
pub mod session;
pub mod slowlog;
pub mod stats;
pub mod tls;

mod info;
mod listen;
mod metrics;
mod system;
mod throttled_log;

#[cfg(test)]
mod test_util;

pub use config::{Config, Protocol};
pub use context::ServerContext;
pub use info::REDIS_VERSION;
pub use lifecycle::{run, run_with, start, ServerHandle, Stopper};
pub use listen::bind_listener;
pub use refusal::Refused;
pub use system::{Backend, Shutdown};
