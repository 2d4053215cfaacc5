//! [`WakeFd`]: an eventfd a thread polls beside its other descriptors, to be woken by another.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;

/// A Linux `eventfd`: a counter that is readable while non-zero, so a thread can `poll` it
/// together with its socket. Cloning shares the same descriptor.
#[derive(Clone, Debug)]
pub struct WakeFd(Arc<OwnedFd>);

impl WakeFd {
    /// A new, non-blocking, unsignalled wake descriptor.
    pub fn new() -> io::Result<WakeFd> {
        WakeFd::with_flags(libc::EFD_NONBLOCK)
    }

    /// A new, unsignalled wake descriptor whose reads wait for a signal: what an io_uring read
    /// needs to stay in flight until the descriptor is signalled (on a non-blocking one it
    /// would complete at once with `EAGAIN`). [`reset`](WakeFd::reset) must not be called on it.
    pub fn blocking() -> io::Result<WakeFd> {
        WakeFd::with_flags(0)
    }

    fn with_flags(flags: libc::c_int) -> io::Result<WakeFd> {
        // SAFETY: eventfd takes no pointers; a non-negative return is a new descriptor we own.
        let fd = unsafe { libc::eventfd(0, flags | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(WakeFd(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Makes the descriptor readable until the next [`reset`](WakeFd::reset).
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our own eventfd. It can only fail when
        // the counter would overflow, in which case it is readable already.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Makes the descriptor unreadable again (reads and discards the counter).
    pub fn reset(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from our own non-blocking eventfd; EAGAIN
        // (nothing to read) is fine.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

impl AsFd for WakeFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_fd_is_level_triggered_until_reset() {
        let fd = WakeFd::new().unwrap();
        let readable = |fd: &WakeFd| {
            let mut p =
                libc::pollfd { fd: fd.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd, zero timeout.
            unsafe { libc::poll(&mut p, 1, 0) == 1 }
        };
        assert!(!readable(&fd));
        fd.signal();
        fd.signal();
        assert!(readable(&fd));
        fd.reset();
        assert!(!readable(&fd));
    }
}
