//! What the blocking backends (`thread`, `pool`) share: an accept loop that can be stopped, and
//! the connection loop in which one thread drives one connection, sleeping in a single `poll`
//! over its socket and its mailbox's wake descriptor (no timeouts, no busy loop).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Instant;

use crate::listen::{accept_failure, AcceptFailure, ACCEPT_BACKOFF};
use crate::mailbox::WakeFd;
use crate::refusal::Refused;
use crate::session::{Session, Status};
use crate::stats::add;
use crate::{ServerContext, Shutdown};

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Output waiting to be written above which a connection stops reading requests and taking
/// messages from its mailbox: a peer that does not read its replies is not served more.
/// (Messages then wait in the mailbox, whose own limit disconnects a slow subscriber.)
pub(crate) const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Accepts connections until shutdown, handing each to `spawn`, then waits (at most the
/// shutdown timeout) for the connections to finish.
pub(crate) fn accept_loop(
    listener: &TcpListener,
    ctx: &ServerContext,
    shutdown: &Shutdown,
    spawn: impl FnMut(TcpStream),
) -> io::Result<()> {
    accept_until_shutdown(listener, ctx, shutdown, spawn, |_| None)?;
    wait_for_connections(ctx, Instant::now() + ctx.config.shutdown_timeout);
    Ok(())
}

/// Accepts connections, handing each to `spawn`, until shutdown begins. After every wake-up
/// it calls `timer` with the time, which returns when it must be called next (`None`: only
/// after the next connection); the loop sleeps until then at most.
pub(crate) fn accept_until_shutdown(
    listener: &TcpListener,
    ctx: &ServerContext,
    shutdown: &Shutdown,
    mut spawn: impl FnMut(TcpStream),
    mut timer: impl FnMut(Instant) -> Option<Instant>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut wake_at = None;
    loop {
        let mut fds = [pollfd(listener, libc::POLLIN), pollfd(shutdown.fd(), libc::POLLIN)];
        poll_until(&mut fds, wake_at)?;
        if shutdown.is_triggered() {
            break;
        }
        // Not readable when the timer alone woke the loop.
        if fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => spawn(stream),
                    Err(e) => {
                        if accept_failure(&e, listener, ctx) == AcceptFailure::OutOfDescriptors {
                            std::thread::sleep(ACCEPT_BACKOFF);
                        }
                        break;
                    }
                }
            }
        }
        wake_at = timer(Instant::now());
    }
    Ok(())
}

/// Waits until every session has ended or `deadline` passes (then warns and gives up).
pub(crate) fn wait_for_connections(ctx: &ServerContext, deadline: Instant) {
    if !ctx.wait_idle(deadline) {
        tracing::warn!(left = ctx.connected(), "shutdown timeout: abandoning connections");
    }
}

/// A connection given a session, not yet served.
pub(crate) struct Admitted {
    stream: TcpStream,
    session: Session,
    wake: WakeFd,
}

impl Admitted {
    /// Ends the session (it was never served) and gives back the socket, for a refusal.
    pub(crate) fn into_stream(self) -> TcpStream {
        let Admitted { stream, session, wake } = self;
        drop((session, wake));
        stream
    }
}

/// Gives `stream` a session, or refuses it (with the reason): `None`. A connection that
/// cannot be set up (no descriptor left for its wake fd) is refused as well.
pub(crate) fn admit(stream: TcpStream, ctx: &Arc<ServerContext>) -> Option<Admitted> {
    let wake = match WakeFd::new() {
        Ok(wake) => wake,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
            ctx.refuse(stream, Refused::NoDescriptors);
            return None;
        }
        Err(e) => {
            tracing::warn!(peer = ?stream.peer_addr().ok(), "cannot admit a connection: {e}");
            return None;
        }
    };
    match ctx.open_session(Arc::new(wake.clone())) {
        Ok(session) => Some(Admitted { stream, session, wake }),
        Err(why) => {
            ctx.refuse(stream, why);
            None
        }
    }
}

/// Serves one connection on the calling thread until it closes, the peer leaves, or shutdown.
pub(crate) fn serve_admitted(
    conn: Admitted,
    ctx: &Arc<ServerContext>,
    shutdown: &Shutdown,
) -> io::Result<()> {
    let Admitted { mut stream, mut session, wake } = conn;
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    let mut input = vec![0u8; READ_CHUNK];
    let mut out = Vec::new();
    // Invariant: `written <= out.len()`; `out[written..]` is still to be written.
    let mut written = 0;
    let mut status = Status::Open;
    let mut stopping = false;
    // Set when a wake-up arrived while the backlog was too high to take messages.
    let mut mailbox_pending = false;
    let mut last_input = Instant::now();
    loop {
        if shutdown.is_triggered() && !stopping {
            // Deliver what is already in the mailbox, then close.
            stopping = true;
            if session.on_mailbox(&mut out) == Status::Abort {
                return Ok(());
            }
            status = Status::Close;
        }
        let n = write_some(&mut stream, &out[written..])?;
        add(&ctx.stats.bytes_out, n as u64);
        written += n;
        if written == out.len() {
            out.clear();
            written = 0;
            session.on_flushed();
        }
        let mut backlog = out.len() - written;
        if mailbox_pending && status == Status::Open && backlog < OUTPUT_HIGH_WATER {
            mailbox_pending = false;
            status = session.on_mailbox(&mut out);
            continue; // write what was just taken
        }
        match status {
            Status::Abort => return Ok(()),
            Status::Close if out.is_empty() => return Ok(()),
            _ => {}
        }
        backlog = out.len() - written;
        let taking = status == Status::Open && backlog < OUTPUT_HIGH_WATER;
        let socket_events =
            if taking { libc::POLLIN } else { 0 } | if backlog > 0 { libc::POLLOUT } else { 0 };
        // The wake descriptor is always watched, so an overflow is noticed even while the
        // peer is not reading.
        let mut fds = [pollfd(&stream, socket_events), pollfd(&wake, libc::POLLIN)];
        // Idle connections time out unless they subscribe (like Redis's `timeout`).
        let deadline = session.idle_deadline(last_input);
        if !poll_until(&mut fds, deadline)? {
            tracing::debug!(conn = session.id(), "idle timeout");
            return Ok(());
        }
        if fds[1].revents != 0 {
            wake.reset();
            if session.overflowed() {
                status = session.on_mailbox(&mut out); // says Abort
            } else if taking {
                status = session.on_mailbox(&mut out);
            } else {
                mailbox_pending = true;
            }
        }
        if taking && fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match stream.read(&mut input) {
                Ok(0) => return Ok(()), // the peer is gone
                Ok(n) => {
                    last_input = Instant::now();
                    status = session.on_bytes(&input[..n], &mut out);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes as much of `buf` as the socket takes without blocking; returns how much it took.
pub(crate) fn write_some(stream: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match stream.write(&buf[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

pub(crate) fn pollfd(fd: &impl AsFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd { fd: fd.as_fd().as_raw_fd(), events, revents: 0 }
}

/// Sleeps until one of `fds` is ready (no timeout), retrying on EINTR.
pub(crate) fn poll(fds: &mut [libc::pollfd]) -> io::Result<()> {
    poll_until(fds, None).map(|_| ())
}

/// Sleeps until one of `fds` is ready or `deadline` passes, retrying on EINTR. Returns true
/// if and only if a descriptor is ready.
pub(crate) fn poll_until(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Round up, so the deadline has passed when poll returns 0.
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            }
        };
        // SAFETY: `fds` is a valid, exclusively borrowed slice of pollfd structs whose
        // descriptors are kept open by the caller for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n > 0 {
            return Ok(true);
        }
        if n == 0 {
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Ok(false);
            }
            continue;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
