//! `ping`: RESP round trips. Each request is `PING` (answered `+PONG`) or `ECHO <size bytes>`
//! (answered with the same bulk string), `--pipeline` of them per write.

use super::engine::{self, Conn, Replies, Requests};
use crate::model::PingCommand;
use crate::record::{Extra, Outcome, RunCtx};
use crate::reply::ReplyBuf;
use crate::wire::Security;
use bytes::Bytes;
use shared::resp::encode_command;
use shared::Frame;
use std::io;
use std::time::Instant;

/// The same request every time, and the one reply that answers it.
#[derive(Clone)]
pub struct Fixed {
    request: Vec<u8>,
    expect: Frame,
}

impl Fixed {
    /// The request and reply of `command` with a `size`-byte argument for `ECHO`.
    pub fn new(command: PingCommand, size: usize) -> Fixed {
        let mut request = Vec::new();
        match command {
            PingCommand::Ping => {
                encode_command(&mut request, &["PING"]);
                Fixed { request, expect: Frame::Simple("PONG".into()) }
            }
            PingCommand::Echo => {
                let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
                encode_command(&mut request, &[&b"ECHO"[..], &payload]);
                Fixed { request, expect: Frame::Bulk(Bytes::from(payload)) }
            }
        }
    }
}

impl Requests for Fixed {
    fn write(&mut self, _conn: usize, _sched: Instant, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.request);
    }
}

impl Replies for Fixed {
    fn take(&mut self, buf: &mut ReplyBuf) -> io::Result<Option<Result<(), String>>> {
        Ok(buf.next_frame()?.map(|frame| match frame {
            f if f == self.expect => Ok(()),
            Frame::Error(e) => Err(format!("error reply: {e}")),
            other => Err(format!("unexpected reply: {other:?}")),
        }))
    }
}

/// Opens `n` connections to `addr`, each set up as `security` says.
pub fn open(addr: &str, security: &Security, n: usize) -> io::Result<Vec<Conn>> {
    (0..n).map(|_| security.dial(addr)).collect()
}

/// Runs the scenario.
pub fn run(ctx: &mut RunCtx) -> io::Result<(Outcome, Extra)> {
    let cfg = ctx.cfg.clone();
    let conns = open(&cfg.addr, &cfg.security, cfg.connections.max(1))?;
    let fixed = Fixed::new(cfg.command, cfg.size);
    let plan = ctx.begin();
    let reconnect = cfg.reconnect.then_some((cfg.addr.as_str(), &cfg.security));
    let out =
        engine::drive(conns, |_| fixed.clone(), |_| fixed.clone(), &plan, &ctx.live, reconnect)?;
    ctx.finish();
    Ok((out, Extra::default()))
}
