//! [`Spare`]: a descriptor kept in reserve, to accept and refuse a connection with when the
//! process has no other.

use std::fs::File;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

/// One descriptor held in reserve (open on `/dev/null`) for refusing connections when the
/// process has no other (see [`crate::listen`]). Shared by every accept loop of the server.
///
/// A connection accepted with the spare's descriptor keeps it until the refusal is done
/// (the peer has read why), and is then turned back into the spare with `dup2`, which closes
/// the socket and reopens the descriptor in one step: no other thread's `accept` can take
/// the freed descriptor in between.
pub(crate) struct Spare {
    /// Kept open for making spares from.
    null: Option<File>,
    spare: Mutex<Option<OwnedFd>>,
}

impl Spare {
    pub(crate) fn new() -> Spare {
        let null = File::open("/dev/null")
            .inspect_err(|e| tracing::warn!("no spare descriptor (cannot open /dev/null): {e}"))
            .ok();
        let spare = null.as_ref().and_then(|null| null.try_clone().ok()).map(OwnedFd::from);
        Spare { null, spare: Mutex::new(spare) }
    }

    fn lock(&self) -> MutexGuard<'_, Option<OwnedFd>> {
        self.spare.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the spare to accept one connection from `listener` with its descriptor. `None`
    /// if there is no spare (it is lent out and no descriptor is free to make another).
    pub(crate) fn accept(&self, listener: &TcpListener) -> Option<io::Result<TcpStream>> {
        let mut spare = self.lock();
        if spare.is_none() {
            *spare = self.null.as_ref()?.try_clone().ok().map(OwnedFd::from);
        }
        drop(spare.take()?);
        let accepted = listener.accept().map(|(stream, _)| stream);
        if accepted.is_err() {
            // Nothing took the descriptor (or something else did): try to get it back.
            *spare = self.null.as_ref().and_then(|null| null.try_clone().ok()).map(OwnedFd::from);
        }
        Some(accepted)
    }

    /// Closes `stream`, a refused connection that is done with, turning its descriptor into
    /// the spare if the spare is lent out.
    pub(crate) fn close(&self, stream: TcpStream) {
        let mut spare = self.lock();
        let Some(null) = self.null.as_ref().filter(|_| spare.is_none()) else { return };
        let fd = OwnedFd::from(stream);
        // SAFETY: both descriptors are open and owned here; dup2 closes `fd`'s socket and
        // makes `fd` refer to /dev/null, and `fd` stays owned by the OwnedFd.
        if unsafe { libc::dup2(null.as_raw_fd(), fd.as_raw_fd()) } >= 0 {
            *spare = Some(fd);
        }
    }

    /// Returns true if and only if the spare is in place.
    #[cfg(test)]
    pub(crate) fn is_ready(&self) -> bool {
        self.lock().is_some()
    }
}
