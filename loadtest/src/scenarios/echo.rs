//! `echo`: raw byte echo (the server's `--protocol echo`). Every request is `size` bytes and
//! its reply is the same `size` bytes back; nothing is framed, so replies are counted by length.

use super::engine::{self, Replies, Requests};
use super::ping;
use crate::record::{Extra, Outcome, RunCtx};
use crate::reply::ReplyBuf;
use std::io;
use std::time::Instant;

/// One fixed message, sent and expected back.
#[derive(Clone)]
pub struct Message(Vec<u8>);

impl Message {
    /// A `size`-byte message (at least 1 byte) of printable text ending in a newline, so line
    /// based echo servers work too.
    pub fn new(size: usize) -> Message {
        let size = size.max(1);
        let mut m: Vec<u8> = (0..size).map(|i| b'A' + (i % 26) as u8).collect();
        m[size - 1] = b'\n';
        Message(m)
    }
}

impl Requests for Message {
    fn write(&mut self, _conn: usize, _sched: Instant, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Replies for Message {
    fn take(&mut self, buf: &mut ReplyBuf) -> io::Result<Option<Result<(), String>>> {
        Ok(buf.next_bytes(self.0.len()).map(|got| {
            if got == self.0.as_slice() {
                Ok(())
            } else {
                Err("echoed bytes differ from the message".to_string())
            }
        }))
    }
}

/// Runs the scenario.
pub fn run(ctx: &mut RunCtx) -> io::Result<(Outcome, Extra)> {
    let cfg = ctx.cfg.clone();
    let conns = ping::open(&cfg.addr, &cfg.security, cfg.connections.max(1))?;
    let message = Message::new(cfg.size);
    let plan = ctx.begin();
    let reconnect = cfg.reconnect.then_some((cfg.addr.as_str(), &cfg.security));
    let out = engine::drive(
        conns,
        |_| message.clone(),
        |_| message.clone(),
        &plan,
        &ctx.live,
        reconnect,
    )?;
    ctx.finish();
    Ok((out, Extra::default()))
}
