//! One connection as the load generator holds it: a socket, and over TLS the socket's
//! `rustls::ClientConnection`. rustls's connection is sans-I/O (ciphertext in through
//! `read_tls`, out through `write_tls`; plaintext through `reader` and `writer`), so the same
//! [`Wire`] serves a blocking setup exchange, a sender thread writing on a timetable and a
//! poller thread reading with `MSG_DONTWAIT`.
//!
//! - [`Security`]: what every connection of a run needs, TLS (`--tls`, `--cacert`,
//!   `--insecure`) and a login (`--user`, `--pass`), built from the flags the `client` binary
//!   shares ([`client::Access`]). [`Security::open`] turns a connected socket into a [`Wire`]:
//!   the TLS handshake, then `AUTH`, both checked before any load is sent, each failure one
//!   line that names the server.
//! - [`Wire`]: [`Wire::seal`] turns plaintext into the bytes to write, [`Wire::fill`] turns
//!   bytes read into plaintext in a [`ReplyBuf`].
//!
//! A wire's sender and its reader may be different threads (open loop): the TLS state is
//! shared behind a lock that is never held across a system call. Only one thread ever writes a
//! wire's socket (its sender, or its poller thread in closed loop), and it writes sealed bytes
//! in the order they were sealed, so TLS records reach the server in sequence.

use crate::reply::ReplyBuf;
use rustls::{ClientConfig, ClientConnection};
use serde::{Deserialize, Serialize};
use shared::resp::encode_command;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long the TLS handshake and the reply to `AUTH` may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS and login for every connection of a run. The password and the rustls configuration are
/// never written into reports (nor shown by `Debug`).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Security {
    /// Speak TLS.
    #[serde(default)]
    pub tls: bool,
    /// The CA that signed the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cacert: Option<PathBuf>,
    /// Any server certificate is accepted.
    #[serde(default)]
    pub insecure: bool,
    /// The user of `AUTH user pass` (the default user's `AUTH pass` when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip)]
    pass: Option<String>,
    #[serde(skip)]
    config: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls)
            .field("cacert", &self.cacert)
            .field("insecure", &self.insecure)
            .field("user", &self.user)
            .field("pass", &self.pass.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Security {
    /// What the flags ask for; with `--tls` the CA file is read now, so a bad one is reported
    /// before anything connects.
    pub fn from_flags(flags: &client::Access) -> io::Result<Security> {
        Ok(Security {
            tls: flags.tls,
            cacert: flags.cacert.clone(),
            insecure: flags.insecure,
            user: flags.user.clone(),
            pass: flags.pass.clone(),
            config: flags.tls_config()?,
        })
    }

    /// Returns true if and only if connections speak TLS or log in.
    pub fn is_set(&self) -> bool {
        self.tls || self.pass.is_some()
    }

    /// Connects to `addr` (with `TCP_NODELAY`) and sets the connection up: see
    /// [`Security::open`].
    pub fn dial(&self, addr: &str) -> io::Result<(Wire, ReplyBuf)> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_nodelay(true)?;
        self.open(tcp, addr)
    }

    /// Sets up a connected socket to `addr`: the TLS handshake (the certificate checked against
    /// `addr`'s host), then `AUTH` when there is a password. Returns the wire and any bytes
    /// read past the AUTH reply. Each step waits at most [`SETUP_TIMEOUT`]; the socket's read
    /// timeout is cleared again afterwards.
    pub fn open(&self, tcp: TcpStream, addr: &str) -> io::Result<(Wire, ReplyBuf)> {
        tcp.set_read_timeout(Some(SETUP_TIMEOUT))?;
        let tls = match self.tls_config()? {
            None => None,
            Some(config) => Some(handshake(&tcp, addr, config)?),
        };
        let wire = Wire { tcp, tls: tls.map(|c| Arc::new(Mutex::new(c))) };
        let mut buf = ReplyBuf::new();
        if let Some(pass) = &self.pass {
            let mut out = Vec::new();
            encode_command(&mut out, &client::tls::auth_args(self.user.as_deref(), pass));
            wire.seal(&mut out)?;
            (&wire.tcp).write_all(&out)?;
            let reply = wire.read_frame(&mut buf).map_err(|e| setup_error(addr, "AUTH", e))?;
            client::tls::auth_reply(reply).map_err(|e| {
                let who = self.user.as_deref().unwrap_or("default");
                io::Error::new(e.kind(), format!("AUTH as {who} refused by {addr}: {e}"))
            })?;
        }
        wire.tcp.set_read_timeout(None)?;
        Ok((wire, buf))
    }

    fn tls_config(&self) -> io::Result<Option<Arc<ClientConfig>>> {
        match (&self.config, self.tls) {
            (Some(config), _) => Ok(Some(config.clone())),
            (None, false) => Ok(None),
            // Read back from a report: build it again.
            (None, true) => client::tls_config(self.cacert.as_deref(), self.insecure).map(Some),
        }
    }
}

/// `err` from `step` with `addr`, e.g. `TLS handshake with 127.0.0.1:6380 failed: ...`.
fn setup_error(addr: &str, step: &str, err: io::Error) -> io::Error {
    let why = if crate::reply::timed_out(&err) {
        format!("no answer within {} s", SETUP_TIMEOUT.as_secs())
    } else if err.kind() == io::ErrorKind::UnexpectedEof {
        "the server closed the connection".to_string()
    } else {
        err.to_string()
    };
    io::Error::new(err.kind(), format!("{step} with {addr} failed: {why}"))
}

/// Runs the TLS handshake on `tcp` (blocking, with its read timeout).
fn handshake(
    tcp: &TcpStream,
    addr: &str,
    config: Arc<ClientConfig>,
) -> io::Result<ClientConnection> {
    let name = client::tls::server_name(addr)?;
    let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    // Every seal writes out all it buffered, so nothing accumulates: no limit needed, and
    // none may refuse part of a batch.
    conn.set_buffer_limit(None);
    let mut sock = tcp;
    let fail = |e| setup_error(addr, "TLS handshake", e);
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(fail)?;
    }
    while conn.wants_write() {
        conn.write_tls(&mut sock).map_err(fail)?;
    }
    Ok(conn)
}

/// A connection's socket and, over TLS, its rustls state (shared by the wire's clones).
#[derive(Debug)]
pub struct Wire {
    tcp: TcpStream,
    tls: Option<Arc<Mutex<ClientConnection>>>,
}

/// Bytes read from the socket per blocking [`Wire::fill`].
const BLOCKING_CHUNK: usize = 16 * 1024;

impl Wire {
    /// A clear-text wire over `tcp`.
    pub fn plain(tcp: TcpStream) -> Wire {
        Wire { tcp, tls: None }
    }

    /// The socket (to poll, to set timeouts on, and to write sealed bytes to).
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// A second handle on the same connection (a duplicated descriptor, the same TLS state):
    /// one for the sender, one for the reader.
    pub fn try_clone(&self) -> io::Result<Wire> {
        Ok(Wire { tcp: self.tcp.try_clone()?, tls: self.tls.clone() })
    }

    fn lock(tls: &Mutex<ClientConnection>) -> MutexGuard<'_, ClientConnection> {
        tls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Turns the plaintext in `buf` into what goes on the socket: unchanged in clear text,
    /// its TLS records over TLS. The caller must write the result before the next seal's.
    pub fn seal(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        let mut conn = Wire::lock(tls);
        conn.writer().write_all(buf)?;
        buf.clear();
        while conn.wants_write() {
            conn.write_tls(buf)?;
        }
        Ok(())
    }

    /// Reads once from the socket (with `now`, without waiting: `WouldBlock` when nothing is
    /// there; otherwise as the socket's read timeout says) and appends the plaintext to
    /// `into`. Returns the bytes the socket gave, 0 when the server closed the connection.
    pub fn fill(&self, scratch: &mut [u8], into: &mut ReplyBuf, now: bool) -> io::Result<usize> {
        let got = if now { recv_now(&self.tcp, scratch)? } else { (&self.tcp).read(scratch)? };
        let Some(tls) = &self.tls else {
            into.push(&scratch[..got]);
            return Ok(got);
        };
        let mut conn = Wire::lock(tls);
        let mut rest = &scratch[..got];
        while !rest.is_empty() {
            conn.read_tls(&mut rest)?;
            let state = conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}")))?;
            // Everything decrypted is taken at once: nothing stays inside rustls where the
            // poller, which only sees the socket, would not know to look.
            let ready = state.plaintext_bytes_to_read();
            if ready > 0 {
                into.read_from(&mut conn.reader(), ready)?;
            }
        }
        Ok(got)
    }

    /// Blocking: reads until a whole frame is in `buf`, and takes it.
    pub fn read_frame(&self, buf: &mut ReplyBuf) -> io::Result<shared::Frame> {
        let mut chunk = [0u8; BLOCKING_CHUNK];
        loop {
            if let Some(frame) = buf.next_frame()? {
                return Ok(frame);
            }
            match self.fill(&mut chunk, buf, false) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Blocking: seals `plain` and writes all of it.
    pub fn write_all(&self, plain: &[u8]) -> io::Result<()> {
        if self.tls.is_none() {
            return (&self.tcp).write_all(plain);
        }
        let mut buf = plain.to_vec();
        self.seal(&mut buf)?;
        (&self.tcp).write_all(&buf)
    }
}

/// `recv(MSG_DONTWAIT)` into `buf`: what a non-blocking read returns, on a blocking socket.
pub fn recv_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recv writes at most `buf.len()` bytes into `buf`, which we own mutably.
    let n = unsafe {
        libc::recv(stream.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(MSG_DONTWAIT | MSG_NOSIGNAL)`: what a non-blocking write returns, on a blocking socket.
pub fn send_now(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: send reads at most `buf.len()` bytes from `buf`.
    let n = unsafe {
        libc::send(
            stream.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
