//! [`Shutdown`]: the stop signal every accept loop and connection of a server watches.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::WakeFd;

/// The stop signal shared by the accept loops and connections: a flag plus a descriptor that
/// becomes (and stays) readable when the flag is set, so it can sit in any `poll` set.
#[derive(Clone, Debug)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    fd: WakeFd,
}

impl Shutdown {
    pub(crate) fn new() -> io::Result<Shutdown> {
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

    /// Begins the shutdown: sets the flag, then makes the descriptor readable.
    pub(crate) fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.fd.signal();
    }
}
