//! The concurrency models. Each lives in one file and exposes one function,
//! `serve(listeners, ctx, shutdown) -> io::Result<()>`, that decides only *who runs which
//! connection when* and makes the system calls; everything about when a connection reads,
//! writes, takes mail or closes is its [`Driver`](crate::driver::Driver)'s. Adding a model means
//! adding a file, a variant of [`Backend`] (in `system`) and its arms here. Two files
//! are shared, not models: `sock.rs` (the socket calls between a socket and its driver) and
//! `dedicated.rs` (a connection on a thread of its own, for `thread` and `pool`).

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use crate::config::Config;
use crate::context::ServerContext;
use crate::system::Shutdown;

pub(crate) mod dedicated;
pub mod event;
pub(crate) mod per_thread;
pub mod pool;
pub mod queue;
pub(crate) mod runtime;
pub(crate) mod sock;
pub mod thread;
pub mod uring;

pub use crate::system::Backend;

/// What each model makes of the configuration, and serving with it: the part of [`Backend`]
/// that needs the layers above `system`.
impl Backend {
    /// The number of threads serving connections under `config`: workers or schedulers, or
    /// `None` for `thread` (one per connection).
    pub fn serving_threads(self, config: &Config) -> Option<usize> {
        let cpus = || std::thread::available_parallelism().map_or(1, |n| n.get());
        let n = match self {
            Backend::Thread => return None,
            Backend::Pool => config.workers.unwrap_or(pool::DEFAULT_WORKERS),
            Backend::Queue => config.workers.unwrap_or_else(cpus),
            Backend::Event | Backend::Uring => config.threads.unwrap_or_else(cpus),
        };
        Some(n.max(1))
    }

    /// Serves `listeners` (the plain port, and the TLS port when there is one: a backend
    /// accepts on each alike, the session knows which port a connection came in on) with this
    /// model until `shutdown`.
    pub(crate) fn serve(
        self,
        listeners: Vec<TcpListener>,
        ctx: Arc<ServerContext>,
        shutdown: Shutdown,
    ) -> io::Result<()> {
        match self {
            Backend::Thread => thread::serve(listeners, ctx, shutdown),
            Backend::Pool => pool::serve(listeners, ctx, shutdown),
            Backend::Queue => queue::serve(listeners, ctx, shutdown),
            Backend::Event => event::serve(listeners, ctx, shutdown),
            Backend::Uring => uring::serve(listeners, ctx, shutdown),
        }
    }
}
