//! What the blocking backends (`thread`, `pool`) share: an accept loop that can be stopped, and
//! the connection loop in which one thread drives one connection, sleeping in a single `poll`
//! over its socket and its mailbox's wake descriptor (no timeouts, no busy loop).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::mailbox::WakeFd;
use crate::session::Status;
use crate::stats::add;
use crate::{refuse, ServerContext, Shutdown};

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
    mut spawn: impl FnMut(TcpStream),
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    loop {
        let mut fds = [pollfd(listener, libc::POLLIN), pollfd(shutdown.fd(), libc::POLLIN)];
        poll(&mut fds)?;
        if shutdown.is_triggered() {
            break;
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => spawn(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // Out of descriptors: the pending connection stays in the backlog and the
                    // listener stays readable. Back off briefly instead of spinning on it.
                    tracing::warn!("accept: {e}; retrying shortly");
                    std::thread::sleep(Duration::from_millis(10));
                    break;
                }
                Err(e) => {
                    // A connection that died in the backlog (ECONNABORTED and the like)
                    // concerns that connection only.
                    tracing::debug!("accept: {e}");
                    break;
                }
            }
        }
    }
    let deadline = Instant::now() + ctx.config.shutdown_timeout;
    if !ctx.wait_idle(deadline) {
        tracing::warn!(left = ctx.connected(), "shutdown timeout: abandoning connections");
    }
    Ok(())
}

/// Serves one connection on the calling thread until it closes, the peer leaves, or shutdown.
pub(crate) fn serve_connection(
    mut stream: TcpStream,
    ctx: &Arc<ServerContext>,
    shutdown: &Shutdown,
) -> io::Result<()> {
    let wake = WakeFd::new()?;
    let mut session = match ctx.open_session(Arc::new(wake.clone())) {
        Ok(session) => session,
        Err(why) => {
            refuse(stream, &why);
            return Ok(());
        }
    };
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    let mut input = vec![0u8; READ_CHUNK];
    let mut out = Vec::new();
    // Invariant: `written <= out.len()`; `out[written..]` is still to be written.
    let mut written = 0;
    let mut status = Status::Open;
    let mut stopping = false;
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
        match status {
            Status::Abort => return Ok(()),
            Status::Close if out.is_empty() => return Ok(()),
            _ => {}
        }
        let backlog = out.len() - written;
        let taking = status == Status::Open && backlog < OUTPUT_HIGH_WATER;
        let socket_events =
            if taking { libc::POLLIN } else { 0 } | if backlog > 0 { libc::POLLOUT } else { 0 };
        let mut fds =
            [pollfd(&stream, socket_events), pollfd(&wake, if taking { libc::POLLIN } else { 0 })];
        poll(&mut fds)?;
        if fds[1].revents != 0 {
            wake.reset();
            status = session.on_mailbox(&mut out);
        }
        if taking && fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match stream.read(&mut input) {
                Ok(0) => return Ok(()), // the peer is gone
                Ok(n) => status = session.on_bytes(&input[..n], &mut out),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes as much of `buf` as the socket takes without blocking; returns how much it took.
fn write_some(stream: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
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

fn pollfd(fd: &impl AsFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd { fd: fd.as_fd().as_raw_fd(), events, revents: 0 }
}

/// Sleeps until one of `fds` is ready (no timeout), retrying on EINTR.
fn poll(fds: &mut [libc::pollfd]) -> io::Result<()> {
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed slice of pollfd structs whose
        // descriptors are kept open by the caller for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
