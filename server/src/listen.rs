//! Listening and accepting, the same for every backend: [`bind_listener`] opens a listening
//! socket, and [`accept_failure`] tells an accept loop how to go on after `accept` failed.
//!
//! When the process is out of descriptors, `accept` fails with EMFILE and the connection stays
//! in the kernel's backlog, its peer waiting for an answer that never comes. So a
//! [`Spare`](crate::system::Spare) descriptor is kept open: on EMFILE it is closed, the waiting
//! connection is accepted in its place and refused with `-ERR max number of clients reached`,
//! and the spare comes back when that refusal is done. Without a spare, the loop stops
//! accepting for [`ACCEPT_BACKOFF`] instead of spinning on a listener that stays readable.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::context::ServerContext;
use crate::refusal::Refused;

/// Binds a listening socket on `addr` with a deep accept backlog. `reuse_port` lets several
/// listeners of this process share the address (one per ring in the uring backend): the first
/// of them is bound with [`bind_first_listener`], the others with this.
pub fn bind_listener(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = unbound(addr, reuse_port)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds the server's own listener on `addr`, refusing a port that another process already
/// listens on, even when `reuse_port` is asked for. With `SO_REUSEPORT` alone, a second server
/// started on a port in use would bind beside the first, and the kernel would share new
/// connections between the two processes without a word. So a plain socket (no
/// `SO_REUSEPORT`) is bound first: it fails with "address in use" as any server would, and the
/// shared listener then takes the port it got (the one the kernel chose, when `addr` asks for
/// port 0). Another process could bind between the two calls; that race costs the same error.
pub(crate) fn bind_first_listener(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    if !reuse_port {
        return bind_listener(addr, false);
    }
    let probe = unbound(addr, false)?;
    probe.bind(&addr.into())?;
    let taken =
        probe.local_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP socket"))?;
    drop(probe);
    bind_listener(taken, true)
}

/// A TCP socket for `addr`'s family, with `SO_REUSEADDR` (a restarted server binds at once,
/// past connections in TIME_WAIT) and, when asked, `SO_REUSEPORT`.
fn unbound(addr: SocketAddr, reuse_port: bool) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    Ok(socket)
}

/// How long an accept loop stops accepting when the process is out of descriptors and has no
/// spare one.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How an accept loop goes on after `accept` failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// The backlog is empty (`WouldBlock`): wait for readiness again.
    Drained,
    /// Out of descriptors, and no spare: the connection stays in the backlog and the listener
    /// readable, so stop accepting for [`ACCEPT_BACKOFF`] instead of spinning on it.
    OutOfDescriptors,
    /// Out of descriptors: one waiting connection was accepted with the spare descriptor and
    /// refused. Go on accepting (the next one may find the spare back).
    RefusedWithSpare,
    /// A connection that died in the backlog (ECONNABORTED and the like): it concerns that
    /// connection only.
    ConnectionLost,
}

/// Stops `listener` listening, at once and while it stays open (the backends keep it until
/// they return): the kernel refuses new connections (RST) instead of completing handshakes
/// that nobody will serve. Connections completed but not yet accepted are reset too. On Linux
/// this is `shutdown(SHUT_RD)` on the listening socket.
pub(crate) fn stop_listening(listener: &TcpListener) {
    match socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Read) {
        Ok(()) => tracing::info!("shutdown: no longer accepting connections"),
        Err(e) => tracing::warn!("shutdown: cannot stop listening: {e}"),
    }
}

/// Classifies (and logs) an `accept` error on `listener` the same way for every backend, and
/// when the process is out of descriptors, refuses one waiting connection with the spare.
pub(crate) fn accept_failure(
    e: &io::Error,
    listener: &TcpListener,
    ctx: &ServerContext,
) -> AcceptFailure {
    if e.kind() == io::ErrorKind::WouldBlock {
        return AcceptFailure::Drained;
    }
    if !matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        tracing::debug!("accept: {e}");
        return AcceptFailure::ConnectionLost;
    }
    let refusals = &ctx.refusals;
    match refusals.spare().accept(listener) {
        Some(Ok(stream)) => {
            // Logged (throttled) as a refusal.
            ctx.refuse(stream, Refused::NoDescriptors);
            AcceptFailure::RefusedWithSpare
        }
        Some(Err(again)) if again.kind() == io::ErrorKind::WouldBlock => AcceptFailure::Drained,
        Some(Err(_)) | None => {
            let log = &refusals.logs().accept_paused;
            refusals.warn(log, || format!("accept: {e}; pausing accepts"));
            AcceptFailure::OutOfDescriptors
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::io::Read;
    use std::net::TcpStream;

    #[test]
    fn out_of_descriptors_a_waiting_connection_is_refused_with_the_spare() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let ctx = ServerContext::new(Config::default(), addr);
        let mut client = TcpStream::connect(addr).unwrap();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        // The connection may take a moment to reach the backlog; nothing else is accepted.
        let mut failure = accept_failure(&emfile, &listener, &ctx);
        while failure == AcceptFailure::Drained {
            std::thread::yield_now();
            failure = accept_failure(&emfile, &listener, &ctx);
        }
        assert_eq!(failure, AcceptFailure::RefusedWithSpare);
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "-ERR max number of clients reached\r\n");
        assert_eq!(ctx.stats.connections_refused.get(), 1);
        // The backlog is empty now, and the spare is back (from the closed socket).
        assert_eq!(accept_failure(&emfile, &listener, &ctx), AcceptFailure::Drained);
        assert!(ctx.refusals.spare().is_ready());
    }

    #[test]
    fn other_accept_errors_concern_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ctx = ServerContext::new(Config::default(), listener.local_addr().unwrap());
        let aborted = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(accept_failure(&aborted, &listener, &ctx), AcceptFailure::ConnectionLost);
        let would_block = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(accept_failure(&would_block, &listener, &ctx), AcceptFailure::Drained);
    }
}
