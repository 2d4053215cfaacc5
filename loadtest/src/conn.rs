//! Blocking sockets that speak RESP through `shared`: a reply reader that keeps partial frames
//! between reads, a small request/reply connection for setup work, and `INFO` parsing. Every
//! connection is a [`Wire`] set up by [`Security`] (TLS and login, or neither).

use crate::reply::ReplyBuf;
use crate::wire::{Security, Wire};
use shared::resp::encode_command;
use shared::Frame;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Reopens connections to one address for `--reconnect`: tries the addresses resolved last
/// time with a short connect timeout, and looks the name up again at most once a second (a
/// restarted container may come back on another address; a lookup may be slow while it is
/// down). A reopened connection is set up like the first (TLS, AUTH).
pub struct Redialer {
    addr: String,
    security: Security,
    resolved: Vec<SocketAddr>,
    looked_up: Option<Instant>,
}

impl Redialer {
    /// A redialer for `addr` (`host:port`); nothing is looked up yet.
    pub fn new(addr: &str, security: &Security) -> Redialer {
        Redialer {
            addr: addr.to_string(),
            security: security.clone(),
            resolved: Vec::new(),
            looked_up: None,
        }
    }

    /// One attempt to connect, with `TCP_NODELAY`, and to set the connection up.
    pub fn dial(&mut self) -> io::Result<Wire> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        for a in &self.resolved {
            match TcpStream::connect_timeout(a, Duration::from_millis(200)) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return Ok(self.security.open(stream, &self.addr)?.0);
                }
                Err(e) => last = e,
            }
        }
        let lookup_due = match self.looked_up {
            Some(t) => t.elapsed() >= Duration::from_secs(1),
            None => true,
        };
        if lookup_due {
            self.looked_up = Some(Instant::now());
            let fresh: Vec<SocketAddr> = self.addr.to_socket_addrs()?.collect();
            if !fresh.is_empty() && fresh != self.resolved {
                self.resolved = fresh;
                return self.dial();
            }
        }
        Err(last)
    }
}

/// A connection for setup and bookkeeping: one command, one reply.
pub struct RespConn {
    wire: Wire,
    replies: ReplyBuf,
}

impl RespConn {
    /// Connects to `addr` in clear text, without logging in; replies that take longer than
    /// 10 s are an error.
    pub fn connect(addr: &str) -> io::Result<RespConn> {
        RespConn::open(addr, &Security::default())
    }

    /// Connects to `addr` and sets the connection up as `security` says; replies that take
    /// longer than 10 s are an error.
    pub fn open(addr: &str, security: &Security) -> io::Result<RespConn> {
        let (wire, replies) = security.dial(addr)?;
        wire.tcp().set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(RespConn { wire, replies })
    }

    /// Sends one command.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        self.wire.write_all(&out)
    }

    /// Waits for the next frame.
    pub fn read_frame(&mut self) -> io::Result<Frame> {
        self.wire.read_frame(&mut self.replies)
    }

    /// Sends one command and waits for its reply.
    pub fn request<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Frame> {
        self.send(args)?;
        self.read_frame()
    }

    /// Gives the connection back with the bytes read past the last frame, for a reader
    /// thread.
    pub fn into_parts(self) -> (Wire, ReplyBuf) {
        (self.wire, self.replies)
    }
}

/// The `key:value` fields of an `INFO` reply (section headers and blank lines skipped).
pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The server's pub/sub delivery counters from `INFO stats`: `(delivered, dropped)`, each
/// `None` when the server does not report it (redis-server reports neither).
pub fn pubsub_counters(addr: &str, security: &Security) -> io::Result<(Option<u64>, Option<u64>)> {
    let mut conn = RespConn::open(addr, security)?;
    let text = match conn.request(&["INFO", "stats"])? {
        Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    };
    let fields = parse_info(&text);
    let get = |k: &str| fields.get(k).and_then(|v| v.parse().ok());
    Ok((get("pubsub_delivered"), get("pubsub_dropped")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_parsed() {
        let text = "# Stats\r\ntotal_connections_received:3\r\npubsub_delivered:10\r\n\r\n\
                    pubsub_dropped:2\r\n# Other\r\nx:y:z\r\n";
        let f = parse_info(text);
        assert_eq!(f["pubsub_delivered"], "10");
        assert_eq!(f["pubsub_dropped"], "2");
        assert_eq!(f["x"], "y:z");
        assert!(!f.contains_key("# Stats"));
    }
}
