//! What one connection shows of itself to the others (`CLIENT LIST`, `CLIENT INFO`,
//! `CLIENT KILL`): a [`ClientEntry`] in the server's registry, holding the connection's
//! addresses and a [`ClientState`] snapshot its session refreshes once per batch of requests.

use std::fmt::Write as _;
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use crate::acl::User;
use crate::mailbox::Mailbox;

/// Where a connection comes from and arrives at: 16 bytes for IPv4 peers (the common case),
/// IPv6 ones boxed (kept small: every connection's registry entry holds one).
#[derive(Clone, Debug, Default)]
pub struct Endpoints {
    addrs: Addrs,
    /// Its file descriptor, -1 when there is none (in-memory tests).
    fd: i32,
}

#[derive(Clone, Debug, Default)]
enum Addrs {
    /// Neither is known (in-memory tests, or the socket forgot them).
    #[default]
    None,
    /// The peer's address and the local one.
    V4(SocketAddrV4, SocketAddrV4),
    Other(Box<[Option<SocketAddr>; 2]>),
}

impl Endpoints {
    /// The endpoints of an accepted socket.
    pub fn of(stream: &TcpStream) -> Endpoints {
        let (addr, laddr) = (stream.peer_addr().ok(), stream.local_addr().ok());
        let addrs = match (addr, laddr) {
            (None, None) => Addrs::None,
            (Some(SocketAddr::V4(a)), Some(SocketAddr::V4(l))) => Addrs::V4(a, l),
            _ => Addrs::Other(Box::new([addr, laddr])),
        };
        Endpoints { addrs, fd: stream.as_raw_fd() }
    }

    fn none() -> Endpoints {
        Endpoints { fd: -1, addrs: Addrs::None }
    }

    /// The peer's address, if the socket knew it.
    pub fn addr(&self) -> Option<SocketAddr> {
        match &self.addrs {
            Addrs::None => None,
            Addrs::V4(a, _) => Some(SocketAddr::V4(*a)),
            Addrs::Other(both) => both[0],
        }
    }

    /// The local address it connected to.
    pub fn laddr(&self) -> Option<SocketAddr> {
        match &self.addrs {
            Addrs::None => None,
            Addrs::V4(_, l) => Some(SocketAddr::V4(*l)),
            Addrs::Other(both) => both[1],
        }
    }
}

/// A connection's name and library (`CLIENT SETNAME`, `CLIENT SETINFO`), made when one is
/// set and shared by its session and its registry entry: a snapshot takes a reference count,
/// never a copy.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
}

/// A connection's protocol state as others may see it; written by its session only. Kept
/// small (every connection holds one): counters narrowed, names and user shared.
#[derive(Clone, Debug)]
pub struct ClientState {
    /// `None` when no name or library was ever set.
    pub names: Option<Arc<Names>>,
    /// The user the connection runs as; `None` (before its first snapshot) shows `default`.
    pub user: Option<Arc<User>>,
    /// The last command run, as Redis names it (`client|list`).
    pub cmd: &'static str,
    pub sub: u32,
    pub psub: u32,
    pub ssub: u32,
    /// Commands queued in MULTI, -1 outside a transaction.
    pub multi: i32,
    /// Bytes of input read but not yet run.
    pub qbuf: u32,
    /// The database SELECT chose (0 to 15).
    pub db: u8,
    pub resp: u8,
    pub no_evict: bool,
    pub no_touch: bool,
    /// `CLIENT TRACKING`: where invalidations would go (0: this connection), -1 when off.
    pub redir: i64,
    /// Tracking in BCAST mode.
    pub bcast: bool,
}

impl Default for ClientState {
    fn default() -> Self {
        ClientState {
            names: None,
            user: None,
            cmd: "NULL",
            sub: 0,
            psub: 0,
            ssub: 0,
            multi: -1,
            qbuf: 0,
            db: 0,
            resp: 2,
            no_evict: false,
            no_touch: false,
            redir: -1,
            bcast: false,
        }
    }
}

/// Narrows a count for a [`ClientState`] (saturating: no count here comes near).
pub fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One connection in the server's registry.
pub struct ClientEntry {
    pub id: u64,
    pub(crate) mailbox: Arc<Mailbox>,
    endpoints: Endpoints,
    created: Instant,
    /// Milliseconds after `created` when the peer last sent something.
    last_input_ms: AtomicU64,
    /// Set by `CLIENT KILL`: the connection closes at its next turn.
    killed: AtomicBool,
    state: Mutex<ClientState>,
}

/// Which connections `CLIENT KILL` and `CLIENT LIST` select.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub ids: Option<Vec<u64>>,
    pub addr: Option<String>,
    pub laddr: Option<String>,
    /// `Some(true)` subscribers only, `Some(false)` the others; `None` both.
    pub pubsub: Option<bool>,
    /// A connection older than this many seconds.
    pub max_age: Option<u64>,
    /// Leaves out the connection asking (`SKIPME yes`, the default of `CLIENT KILL`).
    pub skip_me: bool,
}

impl ClientEntry {
    pub(crate) fn new(id: u64, mailbox: Arc<Mailbox>, endpoints: Option<Endpoints>) -> ClientEntry {
        ClientEntry {
            id,
            mailbox,
            endpoints: endpoints.unwrap_or_else(Endpoints::none),
            created: Instant::now(),
            last_input_ms: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            state: Mutex::new(ClientState::default()),
        }
    }

    /// Replaces the snapshot others see.
    pub fn update_snapshot(&self, state: ClientState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// Notes that the peer sent something at `now`.
    pub fn note_input(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.created).as_millis() as u64;
        self.last_input_ms.store(ms, Ordering::Relaxed);
    }

    /// Marks the connection killed and wakes its owner, who closes it.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.mailbox.wake();
    }

    /// The peer's address, if the socket knew it (MONITOR's lines and SLOWLOG's client field
    /// name it).
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.endpoints.addr()
    }

    /// Returns true if and only if `CLIENT KILL` selected this connection.
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    fn state(&self) -> ClientState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Returns true if and only if the connection has `CLIENT TRACKING` on (INFO's
    /// `tracking_clients`).
    pub fn tracking(&self) -> bool {
        self.state().redir >= 0
    }

    /// The peer's address as `CLIENT LIST` shows it.
    fn addr_text(a: Option<SocketAddr>) -> String {
        a.map_or_else(String::new, |a| a.to_string())
    }

    /// Returns true if and only if `filter` selects this connection, asked by `me`.
    pub fn matches(&self, filter: &Filter, me: u64) -> bool {
        let addr = ClientEntry::addr_text;
        let subscribed = {
            let s = self.state();
            (s.sub | s.psub | s.ssub) != 0
        };
        !(filter.skip_me && self.id == me)
            && filter.ids.as_ref().is_none_or(|ids| ids.contains(&self.id))
            && filter.addr.as_ref().is_none_or(|a| *a == addr(self.endpoints.addr()))
            && filter.laddr.as_ref().is_none_or(|a| *a == addr(self.endpoints.laddr()))
            && filter.pubsub.is_none_or(|p| p == subscribed)
            && filter.max_age.is_none_or(|age| self.created.elapsed().as_secs() >= age)
    }

    /// The connection's `CLIENT LIST` line (with its `\n`), in Redis 7.2's field order. The
    /// byte counts are this server's: `qbuf` the input not yet run, `omem` the messages queued
    /// plus the output not yet written, `tot-mem` their sum; fields for things this server
    /// does not have (read buffers) are 0 as in Redis.
    pub fn list_line(&self, out: &mut String) {
        let s = self.state();
        let text = |b: Option<&Bytes>| -> String {
            b.map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
        };
        let addr = ClientEntry::addr_text;
        let names = s.names.as_deref();
        let now = self.created.elapsed();
        let idle = now.as_millis() as u64
            - self.last_input_ms.load(Ordering::Relaxed).min(now.as_millis() as u64);
        let mut flags = String::new();
        if (s.sub | s.psub | s.ssub) != 0 {
            flags.push('P');
        }
        if s.multi >= 0 {
            flags.push('x');
        }
        if s.redir >= 0 {
            flags.push('t');
        }
        if s.bcast {
            flags.push('B');
        }
        if s.no_evict {
            flags.push('e');
        }
        if s.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let omem = self.mailbox.pending_bytes();
        let _ = writeln!(
            out,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db={} sub={} \
             psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 \
             obl=0 oll=0 omem={omem} tot-mem={} events=r cmd={} user={} redir={} resp={} \
             lib-name={} lib-ver={}",
            self.id,
            addr(self.endpoints.addr()),
            addr(self.endpoints.laddr()),
            self.endpoints.fd,
            text(names.and_then(|n| n.name.as_ref())),
            now.as_secs(),
            idle / 1000,
            s.db,
            s.sub,
            s.psub,
            s.ssub,
            s.multi,
            s.qbuf,
            s.qbuf as usize + omem,
            s.cmd,
            s.user.as_ref().map_or("default".into(), |u| String::from_utf8_lossy(u.name())),
            s.redir,
            s.resp,
            text(names.and_then(|n| n.lib_name.as_ref())),
            text(names.and_then(|n| n.lib_ver.as_ref())),
        );
    }
}
