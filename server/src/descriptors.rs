//! Open files: at start the server raises its soft `RLIMIT_NOFILE` to the hard limit, then
//! lowers `--max-clients` to what the limit can hold (as Redis does with `maxclients`), so a
//! client the limit allows is never turned away by `Too many open files`.
//!
//! What a connection costs depends on the backend: `thread` and `pool` hold its socket and an
//! eventfd for its mailbox, `queue`, `event` and `uring` the socket alone (their mailboxes wake a
//! poller or ring that exists anyway). [`RESERVED`] descriptors are kept for everything else.

use std::io;

use crate::system::Backend;

/// Descriptors kept apart from connections: standard streams, listeners (one for `event`'s
/// schedulers together, one per `uring` ring), pollers, rings and their eventfds, the shutdown
/// descriptor, the metrics socket, the log and pid files,
/// the spare descriptor of the accept loops, and refused connections lingering until their
/// peer has read why.
pub const RESERVED: u64 = 128;

/// Descriptors one connection holds under `backend`.
pub fn per_connection(backend: Backend) -> u64 {
    match backend {
        Backend::Thread | Backend::Pool => 2,
        Backend::Queue | Backend::Event | Backend::Uring => 1,
    }
}

/// The most clients that fit in `limit` open files under `backend`, at most `wanted`, at
/// least 1 (a server that could not hold one client would not be worth starting).
pub fn max_clients_within(limit: u64, backend: Backend, wanted: usize) -> usize {
    let fit = limit.saturating_sub(RESERVED) / per_connection(backend);
    usize::try_from(fit).unwrap_or(usize::MAX).clamp(1, wanted.max(1))
}

/// Raises the soft open-file limit to the hard one (when the hard one is unlimited, to the
/// kernel's `fs.nr_open`), and returns the soft limit now in force; `None` if it is unlimited.
pub fn raise_open_file_limit() -> io::Result<Option<u64>> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the valid, exclusively borrowed struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let ceiling = if limit.rlim_max == libc::RLIM_INFINITY {
        // Linux refuses an unlimited soft limit for open files; nr_open is the real ceiling.
        match std::fs::read_to_string("/proc/sys/fs/nr_open").map(|s| s.trim().parse()) {
            Ok(Ok(nr_open)) => nr_open,
            _ => limit.rlim_cur,
        }
    } else {
        limit.rlim_max
    };
    if limit.rlim_cur < ceiling {
        let raised = libc::rlimit { rlim_cur: ceiling, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit reads the valid struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = ceiling;
        } else {
            let e = io::Error::last_os_error();
            tracing::warn!(soft = limit.rlim_cur, "cannot raise the open-file limit: {e}");
        }
    }
    Ok((limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur))
}

/// Raises the open-file limit and returns `wanted` lowered to what fits in it (logged at warn
/// when lowered).
pub(crate) fn fit_max_clients(backend: Backend, wanted: usize) -> usize {
    let limit = match raise_open_file_limit() {
        Ok(Some(limit)) => limit,
        Ok(None) => return wanted,
        Err(e) => {
            tracing::warn!("cannot read the open-file limit: {e}");
            return wanted;
        }
    };
    let fit = max_clients_within(limit, backend, wanted);
    if fit < wanted {
        tracing::warn!(
            wanted,
            backend = backend.name(),
            "max clients reduced to {fit}: the open-file limit is {limit}"
        );
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_backends_need_two_descriptors_a_client() {
        assert_eq!(max_clients_within(20_000, Backend::Thread, 10_000), (20_000 - 128) / 2);
        assert_eq!(max_clients_within(20_000, Backend::Pool, 10_000), (20_000 - 128) / 2);
    }

    #[test]
    fn polling_backends_need_one() {
        assert_eq!(max_clients_within(20_000, Backend::Queue, 10_000), 10_000);
        assert_eq!(max_clients_within(20_000, Backend::Event, 30_000), 20_000 - 128);
    }

    #[test]
    fn what_fits_is_never_raised_above_the_wish() {
        assert_eq!(max_clients_within(1 << 20, Backend::Thread, 10_000), 10_000);
        assert_eq!(max_clients_within(128 + 2 * 50, Backend::Thread, 50), 50);
        assert_eq!(max_clients_within(128 + 2 * 50 - 1, Backend::Thread, 50), 49);
    }

    #[test]
    fn a_limit_below_the_reserve_still_serves_one() {
        assert_eq!(max_clients_within(100, Backend::Event, 10_000), 1);
        assert_eq!(max_clients_within(0, Backend::Thread, 10_000), 1);
    }

    #[test]
    fn raising_leaves_a_limit_at_least_as_high() {
        let mut before = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the valid, exclusively borrowed struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut before) }, 0);
        if let Some(now) = raise_open_file_limit().unwrap() {
            assert!(now >= before.rlim_cur);
        }
    }
}
