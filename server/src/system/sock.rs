//! `poll(2)` on a few descriptors: what the blocking backends, the metrics thread and the tests
//! sleep in.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

/// A `pollfd` asking for `events` on `fd`.
pub fn pollfd(fd: &impl AsFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd { fd: fd.as_fd().as_raw_fd(), events, revents: 0 }
}

/// Sleeps until one of `fds` is ready (no timeout), retrying on EINTR.
pub fn poll(fds: &mut [libc::pollfd]) -> io::Result<()> {
    poll_until(fds, None).map(|_| ())
}

/// Sleeps until one of `fds` is ready or `deadline` passes, retrying on EINTR. Returns true
/// if and only if a descriptor is ready.
pub fn poll_until(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<bool> {
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
