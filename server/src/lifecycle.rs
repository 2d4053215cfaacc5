//! A server's life: [`start`] binds and serves in the background and hands back a
//! [`ServerHandle`]; [`run`] (the binary's entry point) does the same, prints the readiness
//! line and stops on SIGINT/SIGTERM. [`Shutdown`] is the stop signal every accept loop and
//! connection watches, [`Stopper`] the cheap handle that raises it.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::acl::Acl;
use crate::config::Config;
use crate::context::ServerContext;
use crate::listen::{bind_first_listener, bind_listener};
use crate::relay::Relay;
use crate::system::Shutdown;
use crate::{descriptors, metrics, stats};

/// Starts a graceful shutdown of a running server; cheap to clone and to call twice.
#[derive(Clone)]
pub struct Stopper {
    shutdown: Shutdown,
    ctx: Arc<ServerContext>,
}

impl Stopper {
    /// Stops accepting, and tells every connection to write what it has and close.
    pub fn stop(&self) {
        self.shutdown.trigger();
        // After the flag is set: a connection registered later sees the flag by itself.
        self.ctx.wake_all();
    }
}

/// A server running in the background. Dropping it stops it.
pub struct ServerHandle {
    addr: SocketAddr,
    /// The TLS port's address, with `--tls-port`.
    tls_addr: Option<SocketAddr>,
    stopper: Stopper,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// The metrics endpoint's address, when one was asked for.
    metrics_addr: Option<SocketAddr>,
    /// Logs the periodic stats line while the server runs; stops when dropped.
    _ticker: Option<stats::Ticker>,
    /// The relay thread, with `--relay`; stopped once the backend has.
    relay: Option<Relay>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the TLS port, if `tls_port` was set.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Where `/metrics` is served, if `metrics_port` was set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The server's shared state (stats, exchange).
    pub fn context(&self) -> &Arc<ServerContext> {
        &self.stopper.ctx
    }

    /// A handle that can stop the server from another thread.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Waits for the server to finish (after a stop).
    pub fn wait(mut self) -> io::Result<()> {
        self.join()
    }

    /// Stops the server gracefully and waits for it.
    pub fn stop(self) -> io::Result<()> {
        self.stopper.stop();
        self.wait()
    }

    fn join(&mut self) -> io::Result<()> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        let result =
            thread.join().unwrap_or_else(|_| Err(io::Error::other("server thread panicked")));
        // Nothing accepts any more: close the refused connections still lingering.
        self.stopper.ctx.refusals.stop();
        // Every session has ended: what they published is queued for NATS by now.
        if let Some(relay) = self.relay.take() {
            relay.stop();
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stopper.stop();
            let _ = self.join();
        }
    }
}

/// Binds, then serves with the configured backend on a background thread. Returns once the
/// backend serves, or with its error (or panic) if it ended before it did. Raises the
/// open-file limit first, and lowers `max_clients` to what it holds (see [`descriptors`]).
pub fn start(config: Config) -> io::Result<ServerHandle> {
    let backend = config.backend;
    start_with(config, move |listeners, ctx, shutdown| backend.serve(listeners, ctx, shutdown))
}

/// [`start`] with the backend's serve function passed in (tests inject failing ones).
fn start_with(
    mut config: Config,
    serve: impl FnOnce(Vec<TcpListener>, Arc<ServerContext>, Shutdown) -> io::Result<()>
        + Send
        + 'static,
) -> io::Result<ServerHandle> {
    // The users first: a broken ACL file is the one line the operator reads.
    let acl = Acl::new(config.requirepass.as_deref().map(str::as_bytes), config.aclfile.clone());
    if config.aclfile.is_some() {
        acl.load().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    }
    let tls = match (&config.tls, config.tls_port) {
        (Some(settings), Some(_)) => Some(
            crate::tls::server_config(settings)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
        ),
        (None, Some(_)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--tls-port needs --tls-cert-file and --tls-key-file",
            ))
        }
        _ => None,
    };
    config.max_clients = descriptors::fit_max_clients(config.backend, config.max_clients);
    let wanted = SocketAddr::new(config.bind, config.port);
    let listener = bind_first_listener(wanted, config.backend.reuses_port())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {wanted}: {e}")))?;
    let addr = listener.local_addr()?;
    let mut listeners = vec![listener];
    let mut ctx = ServerContext::with_acl(config, addr, acl);
    if let (Some(port), Some(tls)) = (ctx.config.tls_port, tls) {
        let wanted = SocketAddr::new(ctx.config.bind, port);
        let listener =
            bind_first_listener(wanted, ctx.config.backend.reuses_port()).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot listen for TLS on {wanted}: {e}"))
            })?;
        let tls_addr = listener.local_addr()?;
        if tls_addr.port() == addr.port() {
            return Err(io::Error::other("--tls-port must differ from --port"));
        }
        ctx.tls_port = Some(tls_addr.port());
        ctx.tls = Some(tls);
        listeners.push(listener);
    }
    let ctx = Arc::new(ctx);
    warn_if_exposed(&ctx);
    let shutdown = Shutdown::new()?;
    ctx.refusals.start()?;
    let stopper = Stopper { shutdown: shutdown.clone(), ctx: ctx.clone() };
    let metrics_addr = match ctx.config.metrics_port {
        Some(port) => {
            let wanted = SocketAddr::new(ctx.config.metrics_bind, port);
            let listener = bind_listener(wanted, false).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot serve metrics on {wanted}: {e}"))
            })?;
            let metrics_addr = listener.local_addr()?;
            let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
            std::thread::Builder::new()
                .name("metrics".into())
                .spawn(move || metrics::serve(listener, ctx, shutdown))?;
            tracing::info!(addr = %metrics_addr, "metrics on http://{metrics_addr}/metrics");
            Some(metrics_addr)
        }
        None => None,
    };
    // From here on a failure must stop the metrics thread: `stopper` does when dropped.
    let stop_on_failure = StopOnDrop(Some(stopper));
    let ticker = match ctx.config.stats_interval {
        Some(interval) => {
            let ctx = ctx.clone();
            let take = move || stats::Snapshot::take(&ctx.stats, ctx.connected());
            Some(stats::Ticker::start(interval, take)?)
        }
        None => None,
    };
    // Before any connection: the relay must hear of every subscription.
    let relay = match ctx.config.relay.is_empty() {
        true => None,
        false => {
            let name =
                ctx.config.node_name.clone().unwrap_or_else(|| format!("switchboard@{addr}"));
            Some(Relay::start(&ctx, &ctx.config.relay, name)?)
        }
    };
    let backend = ctx.config.backend;
    let serving = ctx.clone();
    let thread =
        std::thread::Builder::new().name(format!("{}-main", backend.name())).spawn(move || {
            // Dropped however this thread ends, returning or unwinding: `start` never waits
            // for a backend that is gone.
            let _ended = MarkEndedOnDrop(serving.clone());
            serve(listeners, serving, shutdown)
        })?;
    if !ctx.wait_serving() || thread.is_finished() {
        // The backend could not start: report why.
        return Err(match thread.join() {
            Ok(Err(e)) => e,
            Ok(Ok(())) => io::Error::other("the backend stopped at once"),
            Err(panic) => {
                io::Error::other(format!("the backend panicked: {}", panic_text(&*panic)))
            }
        });
    }
    let stopper = stop_on_failure.defuse();
    tracing::info!(%addr, backend = backend.name(), "listening");
    let tls_addr = ctx.tls_port.map(|port| SocketAddr::new(addr.ip(), port));
    if let Some(tls_addr) = tls_addr {
        tracing::info!(%tls_addr, "listening for TLS");
    }
    Ok(ServerHandle {
        addr,
        tls_addr,
        stopper,
        thread: Some(thread),
        metrics_addr,
        _ticker: ticker,
        relay,
    })
}

/// Says at start when the server is reachable from other hosts with no password.
fn warn_if_exposed(ctx: &ServerContext) {
    let bind = ctx.config.bind;
    if bind.to_canonical().is_loopback() || !ctx.acl.default_nopass() {
        return;
    }
    if ctx.config.protected_mode {
        tracing::warn!(
            "protected mode: --bind {bind} with no password for the default user, so \
             connections from other hosts are refused with -DENIED; set --requirepass (or a \
             default user with a password in --aclfile), or --protected-mode no on a trusted \
             network"
        );
    } else {
        tracing::warn!(
            "--bind {bind} with no password and --protected-mode no: anyone who reaches this \
             address can publish and subscribe to every channel"
        );
    }
}

/// Marks the backend ended when dropped (see [`ServerContext::mark_ended`]).
struct MarkEndedOnDrop(Arc<ServerContext>);

impl Drop for MarkEndedOnDrop {
    fn drop(&mut self) {
        self.0.mark_ended();
    }
}

/// Stops the server when dropped, unless defused: what `start` leaves behind when it fails.
struct StopOnDrop(Option<Stopper>);

impl StopOnDrop {
    fn defuse(mut self) -> Stopper {
        self.0.take().expect("defused once")
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stopper) = self.0.take() {
            stopper.stop();
            stopper.ctx.refusals.stop();
        }
    }
}

/// The message of a panic payload, when it has one.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Runs the server until SIGINT or SIGTERM, then shuts it down gracefully. Prints
/// `listening on ADDR` once the socket is bound.
pub fn run(config: Config) -> io::Result<()> {
    run_with(config, |addr| {
        println!("listening on {addr}");
        io::stdout().flush()
    })
}

/// Like [`run`], but calls `ready` with the bound address instead of printing it.
pub fn run_with(
    config: Config,
    ready: impl FnOnce(SocketAddr) -> io::Result<()>,
) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    // Registered before the socket is bound, so a signal that arrives right after the
    // `listening` line is never lost to the default handler.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let server = start(config)?;
    let stopper = server.stopper();
    let signals_handle = signals.handle();
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracing::info!(signal, "shutting down");
            stopper.stop();
        }
    })?;
    // Every thread is running by now: the readiness line means ready.
    ready(server.addr())?;
    let result = server.wait();
    signals_handle.close();
    tracing::info!("stopped");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config { port: 0, ..Config::default() }
    }

    #[test]
    fn start_reports_a_backend_that_panics_before_it_serves() {
        let started = start_with(config(), |_, _, _| panic!("no threads today"));
        let err = started.err().expect("start fails");
        assert!(err.to_string().contains("no threads today"), "{err}");
    }

    #[test]
    fn start_reports_a_backend_that_fails_before_it_serves() {
        let started = start_with(config(), |_, _, _| Err(io::Error::other("no poller")));
        assert_eq!(started.err().expect("start fails").to_string(), "no poller");
    }

    #[test]
    fn start_returns_once_a_backend_serves_and_stop_ends_it() {
        let server = start_with(config(), |_, ctx, shutdown| {
            ctx.mark_serving();
            let mut fds = [crate::system::sock::pollfd(shutdown.fd(), libc::POLLIN)];
            crate::system::sock::poll(&mut fds)
        })
        .expect("start succeeds");
        server.stop().expect("stops cleanly");
    }
}
