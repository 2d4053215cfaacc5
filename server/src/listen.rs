//! Listening and accepting, the same for every backend: [`bind_listener`] opens a listening
//! socket, and [`accept_failure`] tells an accept loop how to go on after `accept` failed
//! (with [`ACCEPT_BACKOFF`] when the process is out of descriptors).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

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
