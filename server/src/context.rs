//! [`ServerContext`]: what every connection of a running server shares. The configuration,
//! the exchange and the counters, the registry of connections being served (their mailboxes,
//! by connection id, which is where `--max-clients` is enforced and where a shutdown wakes
//! everybody), and the "serving" event a backend raises once its threads run.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::acl::Acl;
use crate::clients::{ClientEntry, Endpoints, Filter};
use crate::config::{Config, Runtime};
use crate::exchange::Exchange;
use crate::latency::CommandStats;
use crate::mailbox::{Mailbox, Wake};
use crate::refusal::{Refusals, Refused};
use crate::relay::link::Link;
use crate::slowlog::SlowLog;
use crate::stats::{self, Stats};

/// What every connection of a running server shares.
pub struct ServerContext {
    /// The configuration the server started with.
    pub config: Config,
    /// The parameters that can change while it runs (`CONFIG SET`).
    pub runtime: Runtime,
    /// Subscriptions and fan-out.
    pub exchange: Exchange,
    /// Counters.
    pub stats: Stats,
    /// Each command's calls, time and latency histogram (`INFO commandstats`, `LATENCY`).
    pub commands: CommandStats,
    /// The slow log (`SLOWLOG`).
    pub slowlog: SlowLog,
    /// Users and their permissions.
    pub acl: Acl,
    /// The TLS configuration, with `--tls-port`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The port TLS connections arrive on (the listener bound for `--tls-port`).
    pub(crate) tls_port: Option<u16>,
    /// Every connection being served, by connection id.
    clients: Mutex<HashMap<u64, Arc<ClientEntry>>>,
    /// Signalled when `clients` becomes empty.
    idle: Condvar,
    /// Where the backend is in starting up, signalled when it changes.
    serving: (Mutex<Startup>, Condvar),
    next_id: AtomicU64,
    /// How connections are turned away (one mechanism for every backend).
    pub(crate) refusals: Refusals,
    /// When the server started (INFO's uptime).
    pub(crate) started: Instant,
    /// When the server started, in seconds since the Unix epoch (`LASTSAVE`,
    /// `rdb_last_save_time`: nothing was ever saved, as in a Redis without persistence).
    pub(crate) started_unix: u64,
    /// 40 random hex digits naming this run (INFO's `run_id` and `master_replid`).
    pub(crate) run_id: String,
    /// The address actually bound.
    pub(crate) addr: SocketAddr,
    /// The way to the relay thread, when `--relay` is set.
    pub relay: Option<Arc<Link>>,
}

impl ServerContext {
    /// A context whose users are `config`'s `--requirepass` (in-memory tests).
    #[cfg(test)]
    pub(crate) fn new(config: Config, addr: SocketAddr) -> ServerContext {
        let acl =
            Acl::new(config.requirepass.as_deref().map(str::as_bytes), config.aclfile.clone());
        ServerContext::with_acl(config, addr, acl)
    }

    /// A context with `acl` as its users.
    pub(crate) fn with_acl(config: Config, addr: SocketAddr, acl: Acl) -> ServerContext {
        let relay = (!config.relay.is_empty()).then(|| Arc::new(Link::new()));
        ServerContext {
            runtime: Runtime::new(&config),
            acl,
            tls: None,
            tls_port: None,
            config,
            exchange: Exchange::new(),
            stats: Stats::default(),
            commands: CommandStats::default(),
            slowlog: SlowLog::default(),
            clients: Mutex::new(HashMap::new()),
            idle: Condvar::new(),
            serving: (Mutex::new(Startup::Starting), Condvar::new()),
            next_id: AtomicU64::new(1),
            refusals: Refusals::new(),
            started: Instant::now(),
            relay,
            started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            run_id: random_hex(40),
            addr,
        }
    }

    /// Enters a connection in the registry, with a mailbox whose owner is woken through
    /// `waker`, unless the server is full; counts it accepted. Its
    /// [`Session`](crate::session::Session) is made by [`crate::admission`].
    pub(crate) fn register(
        &self,
        waker: Arc<dyn Wake>,
        endpoints: Option<Endpoints>,
    ) -> Result<Arc<ClientEntry>, Refused> {
        let mut clients = self.lock_clients();
        if clients.len() >= self.runtime.max_clients() {
            return Err(Refused::MaxClients);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mailbox = Arc::new(Mailbox::with_limit(self.runtime.shared_output_limit(), waker));
        let client = Arc::new(ClientEntry::new(id, mailbox, endpoints));
        clients.insert(id, client.clone());
        drop(clients);
        stats::add(&self.stats.connections_accepted, 1);
        Ok(client)
    }

    /// Announces that the backend's threads are all running: `start` waits for this before it
    /// reports the server ready, the recipe of an event that tells a thread has started.
    pub(crate) fn mark_serving(&self) {
        self.set_serving(Startup::Running);
    }

    /// Announces that the backend thread has ended (returned or unwound from a panic). Called
    /// by a guard in that thread, so it happens however the thread ends; `start` then stops
    /// waiting if the backend never served.
    pub(crate) fn mark_ended(&self) {
        self.set_serving(Startup::Ended);
    }

    fn set_serving(&self, to: Startup) {
        let (state, cvar) = &self.serving;
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        if *state == Startup::Starting {
            *state = to;
            cvar.notify_all();
        }
    }

    /// Waits until the backend serves (true) or has ended without serving (false).
    pub(crate) fn wait_serving(&self) -> bool {
        let (state, cvar) = &self.serving;
        let guard = state.lock().unwrap_or_else(|e| e.into_inner());
        let state = cvar
            .wait_while(guard, |state| *state == Startup::Starting)
            .unwrap_or_else(|e| e.into_inner());
        *state == Startup::Running
    }

    /// Turns `stream` away: counts and logs (throttled) the refusal, and sends `why` in a way
    /// that the peer reads it (see [`Refusals`]). Never blocks.
    pub(crate) fn refuse(&self, stream: TcpStream, why: Refused) {
        let logs = self.refusals.logs();
        let peer = stream.peer_addr().map_or_else(|_| "a vanished peer".into(), |a| a.to_string());
        match why {
            Refused::MaxClients => {
                stats::add(&self.stats.connections_refused, 1);
                let max = self.runtime.max_clients();
                self.refusals.warn(&logs.max_clients, || {
                    format!("connection from {peer} refused: max clients ({max}) reached")
                });
            }
            Refused::NoDescriptors => {
                stats::add(&self.stats.connections_refused, 1);
                self.refusals.warn(&logs.no_descriptors, || {
                    format!("connection from {peer} refused: out of file descriptors")
                });
            }
            Refused::ProtectedMode => {
                stats::add(&self.stats.connections_refused, 1);
                self.refusals.warn(&logs.protected_mode, || {
                    format!(
                        "connection from {peer} refused: protected mode (no password is set \
                         and the peer is not on loopback)"
                    )
                });
            }
            Refused::PoolBacklogFull { .. } | Refused::PoolWaitTimeout { .. } => {
                stats::add(&self.stats.pool_refused, 1);
                self.refusals.warn(&logs.pool_busy, || {
                    let why = why.to_string();
                    format!("connection from {peer} refused: {}", why.trim_start_matches("ERR "))
                });
            }
        }
        self.refusals.send(stream, &why);
    }

    /// Forgets connection `id` (called when its session ends).
    pub(crate) fn close_session(&self, id: u64) {
        let mut clients = self.lock_clients();
        clients.remove(&id);
        if clients.is_empty() {
            self.idle.notify_all();
        }
    }

    /// The wall clock: seconds since the Unix epoch and the microseconds past them (`TIME`).
    pub fn unix_time(&self) -> (u64, u32) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        (now.as_secs(), now.subsec_micros())
    }

    /// The monotonic clock (a command's run time).
    pub fn monotonic(&self) -> Instant {
        Instant::now()
    }

    /// Connections being served now.
    pub fn connected(&self) -> usize {
        self.lock_clients().len()
    }

    /// Wakes every connection's owner, so each notices a shutdown.
    pub(crate) fn wake_all(&self) {
        for client in self.lock_clients().values() {
            client.mailbox.wake();
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

    /// The connections `filter` selects, asked by connection `me`, in id order.
    pub fn clients(&self, filter: &Filter, me: u64) -> Vec<Arc<ClientEntry>> {
        let mut found: Vec<Arc<ClientEntry>> =
            self.lock_clients().values().filter(|c| c.matches(filter, me)).cloned().collect();
        found.sort_by_key(|c| c.id);
        found
    }

    fn lock_clients(&self) -> MutexGuard<'_, HashMap<u64, Arc<ClientEntry>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a backend is in starting up; it only ever leaves `Starting`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Startup {
    Starting,
    /// Its threads run.
    Running,
    /// Its thread ended before it served.
    Ended,
}

/// `len` random hex digits, from the standard library's randomly seeded hasher (unique per run;
/// not for secrets).
fn random_hex(len: usize) -> String {
    let mut out = String::new();
    let mut i = 0u64;
    while out.len() < len {
        out.push_str(&format!("{:016x}", RandomState::new().hash_one(i)));
        i += 1;
    }
    out.truncate(len);
    out
}
