//! The ground floor of the server: the choice of concurrency model ([`Backend`]) and what the
//! server asks of the operating system that is not a connection's protocol: `poll(2)` on a few
//! descriptors ([`sock`]), the eventfd a blocked thread is woken through ([`WakeFd`]), and the
//! descriptor kept in reserve for refusing connections ([`Spare`]), and the stop signal built
//! on that eventfd ([`Shutdown`]). It imports nothing else of the crate, so every other module
//! may import it.

mod shutdown;
pub mod sock;
mod spare;
mod wake;

pub use shutdown::Shutdown;
pub(crate) use spare::Spare;
pub use wake::WakeFd;

/// A concurrency model, chosen with `--backend`. What it makes of the configuration and how it
/// serves are in [`crate::backend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// One OS thread per connection, blocking in one poll over socket and mailbox.
    Thread,
    /// A fixed pool of worker threads (`--workers`); a connection holds a worker until it
    /// closes, extra connections wait for one (within `--pool-backlog` and
    /// `--pool-wait-timeout`, else they are refused as busy).
    Pool,
    /// One poller thread handing ready connections through a bounded queue (`--queue-depth`)
    /// to a fixed set of workers (`--workers`); a full queue holds the poller back.
    Queue,
    /// Schedulers (one thread each) running connections as coroutines over a poller.
    Event,
    /// Rings (one thread each) of completion-based I/O with io_uring: every connection's
    /// sends and receives of a turn submitted in one system call.
    Uring,
}

impl Backend {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Thread => "thread",
            Backend::Pool => "pool",
            Backend::Queue => "queue",
            Backend::Event => "event",
            Backend::Uring => "uring",
        }
    }

    /// Returns true if and only if the backend opens extra listeners on the same port (one per
    /// ring); `event`'s schedulers share one listener.
    pub(crate) fn reuses_port(self) -> bool {
        matches!(self, Backend::Uring)
    }
}
