//! Switchboard: a RESP pub/sub server whose concurrency model is chosen at start-up.
//!
//! - [`session`]: one connection's protocol state, sans I/O (bytes in, replies out).
//! - [`exchange`]: channel and pattern subscriptions, fan-out of encoded messages.
//! - [`mailbox`]: the bounded, pollable per-connection queue messages travel through.
//! - [`backend`]: one file per concurrency model; each only decides who runs which connection.
//! - [`stats`]: counters every backend updates and `INFO` reports.
//! - [`daemon`]: `--daemon` (detach, pid file) and `server stop`.
//!
//! [`start`] binds and serves in the background (what tests use); [`run`] is the binary's
//! entry point: it prints the `listening on ADDR` line and stops on SIGINT/SIGTERM.

pub mod backend;
pub mod daemon;
pub mod driver;
pub mod exchange;
pub mod mailbox;
mod metrics;
pub mod session;
pub mod stats;

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shared::Limits;

pub use backend::Backend;
use exchange::Exchange;
use mailbox::{Mailbox, Wake, WakeFd};
use session::Session;
use stats::{get, Stats};

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
    /// Most connections served at once; the next one is refused with an error.
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
    /// Schedulers of the `event` backend, one thread each; `None` means one per CPU.
    pub threads: Option<usize>,
    /// Close connections that sent nothing for this long, unless they subscribe; `None` for
    /// never (Redis's `timeout`).
    pub idle_timeout: Option<Duration>,
    /// How often to log a stats line; `None` for never.
    pub stats_interval: Option<Duration>,
    /// Port for Prometheus metrics over HTTP on the `bind` address; `None` for none.
    pub metrics_port: Option<u16>,
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
            threads: None,
            idle_timeout: None,
            stats_interval: None,
            metrics_port: None,
        }
    }
}

/// What every connection of a running server shares.
pub struct ServerContext {
    /// The configuration the server started with.
    pub config: Config,
    /// Subscriptions and fan-out.
    pub exchange: Exchange,
    /// Counters.
    pub stats: Stats,
    /// The mailbox of every connection being served, by connection id.
    clients: Mutex<HashMap<u64, Arc<Mailbox>>>,
    /// Signalled when `clients` becomes empty.
    idle: Condvar,
    /// Set (and signalled) once the backend's threads are all running.
    serving: (Mutex<bool>, Condvar),
    next_id: AtomicU64,
    started: Instant,
    /// The address actually bound.
    addr: SocketAddr,
}

/// Why a connection was not given a session.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// `max_clients` connections are being served already.
    #[error("ERR max number of clients reached")]
    MaxClients,
    /// The `queue` backend's ready queue is full: the workers are not keeping up. Worded like
    /// [`Refused::MaxClients`] so clients treat both alike.
    #[error("ERR max number of clients reached")]
    QueueFull,
}

impl ServerContext {
    fn new(config: Config, addr: SocketAddr) -> ServerContext {
        ServerContext {
            config,
            exchange: Exchange::new(),
            stats: Stats::default(),
            clients: Mutex::new(HashMap::new()),
            idle: Condvar::new(),
            serving: (Mutex::new(false), Condvar::new()),
            next_id: AtomicU64::new(1),
            started: Instant::now(),
            addr,
        }
    }

    /// Admits a new connection whose owner is woken through `waker`: a [`Session`] to drive,
    /// or a refusal when the server is full.
    pub fn open_session(self: &Arc<Self>, waker: Arc<dyn Wake>) -> Result<Session, Refused> {
        let mut clients = self.lock_clients();
        if clients.len() >= self.config.max_clients {
            drop(clients);
            stats::add(&self.stats.connections_refused, 1);
            tracing::warn!(max = self.config.max_clients, "connection refused: max clients");
            return Err(Refused::MaxClients);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mailbox = Arc::new(Mailbox::new(self.config.client_output_buffer_limit, waker));
        clients.insert(id, mailbox.clone());
        drop(clients);
        stats::add(&self.stats.connections_accepted, 1);
        Ok(Session::new(self.clone(), id, mailbox))
    }

    /// Announces that the backend's threads are all running (or that it gave up): `start`
    /// waits for this before it reports the server ready, the recipe of an event that tells a
    /// thread has started.
    pub(crate) fn mark_serving(&self) {
        let (flag, cvar) = &self.serving;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
    }

    fn wait_serving(&self) {
        let (flag, cvar) = &self.serving;
        let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
        drop(cvar.wait_while(guard, |serving| !*serving).unwrap_or_else(|e| e.into_inner()));
    }

    /// Forgets connection `id` (called when its session ends).
    pub(crate) fn close_session(&self, id: u64) {
        let mut clients = self.lock_clients();
        clients.remove(&id);
        if clients.is_empty() {
            self.idle.notify_all();
        }
    }

    /// Connections being served now.
    pub fn connected(&self) -> usize {
        self.lock_clients().len()
    }

    /// Wakes every connection's owner, so each notices a shutdown.
    fn wake_all(&self) {
        for mailbox in self.lock_clients().values() {
            mailbox.wake();
        }
    }

    /// Waits until no connection is left or `deadline` passes; true if and only if none is left.
    pub fn wait_idle(&self, deadline: Instant) -> bool {
        let mut clients = self.lock_clients();
        while !clients.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            clients = self
                .idle
                .wait_timeout(clients, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Mailbox>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `INFO` text: `# Section` headers and `key:value` lines, CRLF-separated like Redis.
    /// `sections` empty, `all`, `everything` or `default` select every section.
    pub fn info(&self, sections: &[Bytes]) -> String {
        let wanted = |name: &str| {
            sections.is_empty()
                || sections.iter().any(|s| {
                    s.eq_ignore_ascii_case(name.as_bytes())
                        || [&b"all"[..], b"everything", b"default"]
                            .iter()
                            .any(|a| s.eq_ignore_ascii_case(a))
                })
        };
        let s = &self.stats;
        let c = &self.config;
        let mut out = String::new();
        let mut section = |name: &str, fields: Vec<(&str, String)>| {
            if wanted(name) {
                if !out.is_empty() {
                    out.push_str("\r\n");
                }
                let title = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
                out.push_str(&format!("# {title}\r\n"));
                for (k, v) in fields {
                    out.push_str(&format!("{k}:{v}\r\n"));
                }
            }
        };
        section(
            "server",
            vec![
                ("switchboard_version", env!("CARGO_PKG_VERSION").to_string()),
                ("redis_mode", "standalone".into()),
                ("backend", c.backend.name().into()),
                (
                    "backend_threads",
                    c.backend
                        .serving_threads(c)
                        .map_or_else(|| "one per connection".into(), |n| n.to_string()),
                ),
                ("protocol", format!("{:?}", c.protocol).to_lowercase()),
                ("process_id", std::process::id().to_string()),
                ("tcp_port", self.addr.port().to_string()),
                ("uptime_in_seconds", self.started.elapsed().as_secs().to_string()),
            ],
        );
        section(
            "clients",
            vec![
                ("connected_clients", self.connected().to_string()),
                ("maxclients", c.max_clients.to_string()),
            ],
        );
        section(
            "stats",
            vec![
                ("total_connections_received", get(&s.connections_accepted).to_string()),
                ("rejected_connections", get(&s.connections_refused).to_string()),
                ("total_commands_processed", get(&s.commands).to_string()),
                ("total_net_input_bytes", get(&s.bytes_in).to_string()),
                ("total_net_output_bytes", get(&s.bytes_out).to_string()),
                ("pubsub_published", get(&s.published).to_string()),
                ("pubsub_receivers", get(&s.published_receivers).to_string()),
                ("pubsub_delivered", get(&s.delivered).to_string()),
                ("pubsub_dropped", get(&s.dropped).to_string()),
                ("pubsub_slow_consumers", get(&s.slow_consumers).to_string()),
                ("pool_queued_connections", s.pool_queued.load(Ordering::Relaxed).to_string()),
                ("pool_wait_time_us_total", get(&s.pool_wait_us_total).to_string()),
                ("pool_wait_time_us_max", s.pool_wait_us_max.load(Ordering::Relaxed).to_string()),
            ],
        );
        section(
            "pubsub",
            vec![
                ("pubsub_channels", self.exchange.channel_count().to_string()),
                ("pubsub_patterns", self.exchange.numpat().to_string()),
            ],
        );
        out
    }
}

/// The stop signal shared by the accept loops and connections: a flag plus a descriptor that
/// becomes (and stays) readable when the flag is set, so it can sit in any `poll` set.
#[derive(Clone, Debug)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    fd: WakeFd,
}

impl Shutdown {
    fn new() -> io::Result<Shutdown> {
        Ok(Shutdown { flag: Arc::new(AtomicBool::new(false)), fd: WakeFd::new()? })
    }

    /// Returns true if and only if shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The descriptor that is readable once shutdown has begun (never reset).
    pub fn fd(&self) -> &WakeFd {
        &self.fd
    }

    fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.fd.signal();
    }
}

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
    stopper: Stopper,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// The metrics endpoint's address, when one was asked for.
    metrics_addr: Option<SocketAddr>,
    /// Logs the periodic stats line while the server runs; stops when dropped.
    _ticker: Option<stats::Ticker>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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
        match self.thread.take() {
            Some(thread) => {
                thread.join().unwrap_or_else(|_| Err(io::Error::other("server thread panicked")))
            }
            None => Ok(()),
        }
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

/// Binds a listening socket on `addr` with a deep accept backlog. `reuse_port` lets several
/// listeners share the address (one per scheduler in the event backend).
pub fn bind_listener(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds, then serves with the configured backend on a background thread.
pub fn start(config: Config) -> io::Result<ServerHandle> {
    let wanted = SocketAddr::new(config.bind, config.port);
    let listener = bind_listener(wanted, config.backend.reuses_port())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {wanted}: {e}")))?;
    let addr = listener.local_addr()?;
    let ctx = Arc::new(ServerContext::new(config, addr));
    let shutdown = Shutdown::new()?;
    let stopper = Stopper { shutdown: shutdown.clone(), ctx: ctx.clone() };
    let metrics_addr = match ctx.config.metrics_port {
        Some(port) => {
            let wanted = SocketAddr::new(ctx.config.bind, port);
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
    let ticker = match ctx.config.stats_interval {
        Some(interval) => Some(stats::Ticker::start(ctx.clone(), interval)?),
        None => None,
    };
    let backend = ctx.config.backend;
    let serving = ctx.clone();
    let thread =
        std::thread::Builder::new().name(format!("{}-main", backend.name())).spawn(move || {
            let result = backend.serve(listener, serving.clone(), shutdown);
            serving.mark_serving(); // in case it failed before it got that far
            result
        })?;
    ctx.wait_serving();
    if thread.is_finished() {
        // The backend could not start: report why.
        let result = thread.join().unwrap_or_else(|_| Err(io::Error::other("backend panicked")));
        return Err(result.err().unwrap_or_else(|| io::Error::other("backend stopped at once")));
    }
    tracing::info!(%addr, backend = backend.name(), "listening");
    Ok(ServerHandle { addr, stopper, thread: Some(thread), metrics_addr, _ticker: ticker })
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

/// How long an accept loop stops accepting when the process is out of descriptors.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How an accept loop goes on after `accept` failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// The backlog is empty (`WouldBlock`): wait for readiness again.
    Drained,
    /// Out of descriptors: the connection stays in the backlog and the listener readable, so
    /// stop accepting for [`ACCEPT_BACKOFF`] instead of spinning on it.
    OutOfDescriptors,
    /// A connection that died in the backlog (ECONNABORTED and the like): it concerns that
    /// connection only.
    ConnectionLost,
}

/// Classifies (and logs) an `accept` error, the same way for every backend.
pub(crate) fn accept_failure(e: &io::Error) -> AcceptFailure {
    if e.kind() == io::ErrorKind::WouldBlock {
        AcceptFailure::Drained
    } else if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        tracing::warn!("accept: {e}; retrying shortly");
        AcceptFailure::OutOfDescriptors
    } else {
        tracing::debug!("accept: {e}");
        AcceptFailure::ConnectionLost
    }
}

/// Answers a refused connection with the reason and closes it. Best effort: the peer may be
/// gone already, and a refusal must never block the accept loop.
pub(crate) fn refuse(mut stream: TcpStream, why: &Refused) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(format!("-{why}\r\n").as_bytes());
}
