//! A connection on a thread of its own, what the blocking backends (`thread`, `pool`) share:
//! an accept loop that can be stopped, and the loop in which one thread drives one connection,
//! sleeping in a single `poll` over its socket and its mailbox's wake descriptor, with the
//! driver's deadline as the only timeout (no busy loop).

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use super::runtime::{prepare, News};
use super::sock::{flush, poll_until, pollfd, read_into};
use crate::driver::Driver;
use crate::listen::{accept_failure, stop_listening, AcceptFailure, ACCEPT_BACKOFF};
use crate::mailbox::WakeFd;
use crate::refusal::Refused;
use crate::session::Session;
use crate::{ServerContext, Shutdown};

/// Bytes a connection's own thread reads from its socket at a time (its buffer lives as long
/// as the connection, so smaller than the shared buffers of the event-driven backends).
const DEDICATED_READ: usize = 16 * 1024;

/// Accepts connections on every listener until shutdown, handing each to `spawn`, then waits
/// (at most the shutdown timeout) for the connections to finish.
pub(crate) fn accept_loop(
    listeners: &[TcpListener],
    ctx: &ServerContext,
    shutdown: &Shutdown,
    spawn: impl FnMut(TcpStream),
) -> std::io::Result<()> {
    accept_until_shutdown(listeners, ctx, shutdown, spawn, |_| None)?;
    wait_for_connections(ctx, Instant::now() + ctx.config.shutdown_timeout);
    Ok(())
}

/// Accepts connections, handing each to `spawn`, until shutdown begins. After every wake-up
/// it calls `timer` with the time, which returns when it must be called next (`None`: only
/// after the next connection); the loop sleeps until then at most.
pub(crate) fn accept_until_shutdown(
    listeners: &[TcpListener],
    ctx: &ServerContext,
    shutdown: &Shutdown,
    mut spawn: impl FnMut(TcpStream),
    mut timer: impl FnMut(Instant) -> Option<Instant>,
) -> std::io::Result<()> {
    for listener in listeners {
        listener.set_nonblocking(true)?;
    }
    let mut wake_at = None;
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(listeners.len() + 1);
    loop {
        fds.clear();
        fds.extend(listeners.iter().map(|l| pollfd(l, libc::POLLIN)));
        fds.push(pollfd(shutdown.fd(), libc::POLLIN));
        poll_until(&mut fds, wake_at)?;
        if shutdown.is_triggered() {
            listeners.iter().for_each(stop_listening);
            break;
        }
        // Not readable when the timer alone woke the loop.
        for (listener, fd) in listeners.iter().zip(&fds) {
            if fd.revents == 0 {
                continue;
            }
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
    match ctx.open_session(Arc::new(wake.clone()), &stream) {
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
) -> std::io::Result<()> {
    let Admitted { mut stream, session, wake } = conn;
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    let mut input = vec![0u8; DEDICATED_READ];
    let mut driver = Driver::new(session, ctx.clone(), Instant::now());
    let (mut mail, mut readable) = (false, false);
    loop {
        // The runtime's order: shutdown, mail, timeout, then read and flush.
        let news = News { mail, stopping: shutdown.is_triggered(), now: Instant::now() };
        prepare(&mut driver, news);
        if readable && driver.wants().read {
            read_into(&mut stream, &mut input, &mut driver)?;
        }
        flush(&mut stream, &mut driver)?;
        if driver.is_done() {
            return Ok(());
        }
        let wants = driver.wants();
        let socket_events =
            if wants.read { libc::POLLIN } else { 0 } | if wants.write { libc::POLLOUT } else { 0 };
        // The wake descriptor is always watched, so an overflow or a shutdown is noticed even
        // while the peer is not reading. Without readiness the deadline passed: `prepare`
        // tells the driver the time.
        let mut fds = [pollfd(&stream, socket_events), pollfd(&wake, libc::POLLIN)];
        let ready = poll_until(&mut fds, driver.poll_deadline())?;
        mail = ready && fds[1].revents != 0;
        if mail {
            wake.reset(); // before the drain, so a push racing with it leaves it signalled
        }
        readable = ready
            && wants.read
            && fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
    }
}
