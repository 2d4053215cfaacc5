//! `idle`: opens `--connections` idle connections (after raising the open-files limit), checks
//! that the server answers on every one of them, measures the server's resident memory per
//! connection (with `--server-pid`), then measures PING latency on `--active` other connections
//! while the idle ones stay open. At the end every idle connection is checked again.

use super::engine;
use super::ping::{self, Fixed};
use crate::model::{IdleStats, PingCommand};
use crate::record::{Extra, Outcome, RunCtx};
use crate::reply::ReplyBuf;
use crate::sys;
use crate::wire::Wire;
use shared::Frame;
use std::io;
use std::time::Duration;

/// Sends PING on every connection, then reads the replies: how many answered `+PONG`.
fn ping_all(conns: &mut [(Wire, ReplyBuf)]) -> usize {
    let request = b"*1\r\n$4\r\nPING\r\n";
    let mut written = vec![false; conns.len()];
    for (i, (wire, _)) in conns.iter_mut().enumerate() {
        written[i] = wire.write_all(request).is_ok();
    }
    let mut alive = 0;
    for (i, (wire, buf)) in conns.iter_mut().enumerate() {
        if !written[i] {
            continue;
        }
        let _ = wire.tcp().set_read_timeout(Some(Duration::from_secs(5)));
        let pong = matches!(wire.read_frame(buf), Ok(Frame::Simple(s)) if s == "PONG");
        alive += usize::from(pong);
    }
    alive
}

/// Runs the scenario.
pub fn run(ctx: &mut RunCtx) -> io::Result<(Outcome, Extra)> {
    let cfg = ctx.cfg.clone();
    let mut notes = Vec::new();
    let mut stats = IdleStats { requested: cfg.connections, ..Default::default() };
    stats.fd_limit = sys::raise_fd_limit().unwrap_or(0);
    if stats.fd_limit > 0 && (stats.fd_limit as usize) < cfg.connections + cfg.active + 64 {
        notes.push(format!(
            "the open-files limit ({}) is below the connections asked for",
            stats.fd_limit
        ));
    }
    let rss = || cfg.server_pid.and_then(|pid| sys::process_rss_kib(pid).ok());
    stats.rss_before_kib = rss();
    let mut idle = Vec::with_capacity(cfg.connections);
    let mut first_error = None;
    for _ in 0..cfg.connections {
        match cfg.security.dial(&cfg.addr) {
            Ok(conn) => idle.push(conn),
            Err(e) => {
                stats.connect_errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(e) = first_error {
        notes.push(format!("{} idle connections failed: {e}", stats.connect_errors));
    }
    stats.opened = idle.len();
    stats.alive_at_start = ping_all(&mut idle);
    // Every connection has been served once now, so the server has set up all it keeps for it.
    stats.rss_after_kib = rss();
    if let (Some(before), Some(after)) = (stats.rss_before_kib, stats.rss_after_kib) {
        if stats.opened > 0 {
            let grown = after.saturating_sub(before) as f64 * 1024.0;
            stats.bytes_per_connection = Some(grown / stats.opened as f64);
        }
    } else if cfg.server_pid.is_none() {
        notes.push("no --server-pid: server memory per connection not measured".into());
    }
    for buf in idle.iter_mut().map(|(_, b)| b) {
        *buf = ReplyBuf::new(); // give back the read buffers: idle connections keep no memory
    }

    let active = ping::open(&cfg.addr, &cfg.security, cfg.active.max(1))?;
    let fixed = Fixed::new(PingCommand::Ping, 0);
    let plan = ctx.begin();
    let out = engine::drive(active, |_| fixed.clone(), |_| fixed.clone(), &plan, &ctx.live, None)?;
    ctx.finish();
    stats.alive_at_end = ping_all(&mut idle);
    if stats.alive_at_end < stats.alive_at_start {
        notes.push(format!(
            "{} idle connections stopped answering during the run",
            stats.alive_at_start - stats.alive_at_end
        ));
    }
    Ok((out, Extra { idle: Some(stats), notes, ..Default::default() }))
}
