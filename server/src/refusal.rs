//! Turning a connection away: [`Refused`] says why (its text is the `-ERR` line the peer
//! reads), and [`refuse`] sends it and closes the connection.

use std::io::Write;
use std::net::TcpStream;

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

/// Answers a refused connection with the reason and closes it. Best effort: the peer may be
/// gone already, and a refusal must never block the accept loop.
pub(crate) fn refuse(mut stream: TcpStream, why: &Refused) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(format!("-{why}\r\n").as_bytes());
}
