//! `thread`: one OS thread per connection.
//!
//! The accept loop hands every connection to a new named thread (small stack, `--stack-size`)
//! that blocks in one `poll` over its socket and its mailbox's wake descriptor. The simplest
//! model to read and to debug, and latency is excellent while connections are few. It loses
//! when connections are many: every one costs a thread (a stack, a kernel task, context
//! switches), so ten thousand subscribers mean ten thousand threads.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use super::dedicated::{accept_loop, admit, serve_admitted};
use crate::{ServerContext, Shutdown};

/// Serves every connection on a thread of its own until `shutdown`.
pub fn serve(
    listeners: Vec<TcpListener>,
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
) -> io::Result<()> {
    ctx.mark_serving();
    accept_loop(&listeners, &ctx, &shutdown, |stream| {
        let peer = stream.peer_addr().ok();
        // The session is opened here, before the thread exists, so a shutdown that waits for
        // sessions to end never misses a connection whose thread has not started yet.
        let Some(conn) = admit(stream, &ctx) else { return }; // refused
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .stack_size(ctx.config.stack_size)
            .spawn(move || {
                if let Err(e) = serve_admitted(conn, &ctx, &shutdown) {
                    tracing::debug!(?peer, "connection error: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(?peer, "cannot start a connection thread: {e}");
        }
    })
}
