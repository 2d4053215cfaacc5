//! Blocking sockets that speak RESP through `shared`: a reply reader that keeps partial frames
//! between reads, a small request/reply connection for setup work, and `INFO` parsing. Every
//! connection is a [`Wire`] set up by [`Security`] (TLS and login, or neither).

use crate::wire::{Security, Wire};
use shared::resp::{encode_command, parse_frame};
use shared::Frame;
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Collects bytes from a socket and hands out whole frames (or whole fixed-size echo messages).
/// It holds only what has not been consumed yet: a connection that is read in whole frames keeps
/// an empty buffer, so thousands of them cost little memory.
#[derive(Debug, Default)]
pub struct ReplyBuf {
    buf: Vec<u8>,
    /// Index of the first byte not consumed yet; always `<= buf.len()`.
    pos: usize,
}

/// A pub/sub delivery as it arrived, or any other frame.
#[derive(Debug, PartialEq)]
pub enum Incoming<'a> {
    /// A `message` (RESP2 array or RESP3 push): the channel and the payload.
    Message { channel: &'a [u8], payload: &'a [u8] },
    /// Anything else.
    Other(Frame),
}

/// The start of every `message` delivery, RESP2 and RESP3.
const MESSAGE_RESP2: &[u8] = b"*3\r\n$7\r\nmessage\r\n";
const MESSAGE_RESP3: &[u8] = b">3\r\n$7\r\nmessage\r\n";

/// Parses a bulk string `$N\r\n<N bytes>\r\n` at the start of `b`: `Some(Some((start, len,
/// used)))` with the body at `b[start..start + len]`, `Some(None)` when incomplete, `None` when
/// `b` does not hold a well-formed bulk string.
fn bulk_at(b: &[u8]) -> Option<Option<(usize, usize, usize)>> {
    if b.is_empty() {
        return Some(None);
    }
    if b[0] != b'$' {
        return None;
    }
    let mut len = 0usize;
    let mut i = 1;
    loop {
        match b.get(i) {
            None => return Some(None),
            Some(d @ b'0'..=b'9') if i < 12 => len = len * 10 + usize::from(d - b'0'),
            Some(b'\r') if i > 1 => break,
            Some(_) => return None,
        }
        i += 1;
    }
    let start = i + 2;
    if b.len() < start + len + 2 {
        return Some(None);
    }
    if b[i + 1] != b'\n' || &b[start + len..start + len + 2] != b"\r\n" {
        return None;
    }
    Some(Some((start, len, start + len + 2)))
}

impl ReplyBuf {
    /// An empty buffer.
    pub fn new() -> ReplyBuf {
        ReplyBuf { buf: Vec::new(), pos: 0 }
    }

    /// Appends bytes that were read elsewhere (a poller thread's scratch buffer).
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            // A burst may have grown it: give the memory back once it is drained.
            if self.buf.capacity() > 256 * 1024 {
                self.buf.shrink_to(64 * 1024);
            }
        } else if self.pos > 32 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Appends exactly `n` bytes read from `reader` (which must have them ready, like the
    /// plaintext rustls has decrypted), without a copy through a scratch buffer.
    pub fn read_from(&mut self, reader: &mut impl Read, n: usize) -> io::Result<()> {
        self.push(&[]);
        let filled = self.buf.len();
        self.buf.resize(filled + n, 0);
        let read = reader.read_exact(&mut self.buf[filled..]);
        if read.is_err() {
            self.buf.truncate(filled);
        }
        read
    }

    /// Reads once from `stream` into the buffer; returns what `read` returned (0 is EOF).
    pub fn fill(&mut self, stream: &mut impl Read) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk)?;
        self.push(&chunk[..n]);
        Ok(n)
    }

    /// Returns true if and only if every byte received has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// The next whole frame, `Ok(None)` if it has not fully arrived.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        match parse_frame(&self.buf[self.pos..]) {
            Ok(Some((frame, used))) => {
                self.pos += used;
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }

    /// The next whole delivery or frame, `Ok(None)` if it has not fully arrived. `message`
    /// deliveries are recognised in place, without building a [`Frame`] (the hot path of a
    /// subscriber); anything else goes through the full parser.
    pub fn next_incoming(&mut self) -> io::Result<Option<Incoming<'_>>> {
        let rest = &self.buf[self.pos..];
        let head = MESSAGE_RESP2.len();
        let prefix = &rest[..rest.len().min(head)];
        if prefix == &MESSAGE_RESP2[..prefix.len()] || prefix == &MESSAGE_RESP3[..prefix.len()] {
            if rest.len() < head {
                return Ok(None);
            }
            let parsed = bulk_at(&rest[head..]).and_then(|channel| match channel {
                None => Some(None),
                Some((c, cl, used)) => match bulk_at(&rest[head + used..])? {
                    None => Some(None),
                    Some((p, pl, more)) => {
                        Some(Some((head + c, cl, head + used + p, pl, head + used + more)))
                    }
                },
            });
            match parsed {
                Some(None) => return Ok(None),
                Some(Some((c, cl, p, pl, total))) => {
                    let at = self.pos;
                    self.pos += total;
                    let b = &self.buf[at..];
                    return Ok(Some(Incoming::Message {
                        channel: &b[c..c + cl],
                        payload: &b[p..p + pl],
                    }));
                }
                // Not the shape we expect: let the full parser say what it is.
                None => {}
            }
        }
        Ok(self.next_frame()?.map(Incoming::Other))
    }

    /// The next `n` raw bytes, if that many have arrived.
    pub fn next_bytes(&mut self, n: usize) -> Option<&[u8]> {
        if self.buf.len() - self.pos < n {
            return None;
        }
        self.pos += n;
        Some(&self.buf[self.pos - n..self.pos])
    }
}

/// Returns true if and only if `e` is what a read or write timeout produces.
pub fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

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

    #[test]
    fn frames_split_across_reads_come_out_whole() {
        let wire = b"+PONG\r\n$5\r\nhello\r\n:42\r\n".to_vec();
        let mut rb = ReplyBuf::new();
        let mut frames = Vec::new();
        for chunk in wire.chunks(3) {
            rb.fill(&mut &chunk[..]).unwrap();
            while let Some(f) = rb.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(
            frames,
            vec![Frame::Simple("PONG".into()), Frame::bulk("hello"), Frame::Integer(42)]
        );
        assert_eq!(rb.next_bytes(1), None);
    }

    #[test]
    fn deliveries_are_recognised_in_place_whatever_the_split() {
        let mut wire = Vec::new();
        encode_command(&mut wire, &[&b"message"[..], b"news", b"hello"]);
        wire.extend_from_slice(b">3\r\n$7\r\nmessage\r\n$1\r\nt\r\n$0\r\n\r\n");
        wire.extend_from_slice(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nt\r\n:1\r\n");
        for step in 1..wire.len() {
            let mut rb = ReplyBuf::new();
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                rb.push(chunk);
                while let Some(m) = rb.next_incoming().unwrap() {
                    got.push(match m {
                        Incoming::Message { channel, payload } => {
                            format!("{}={}", String::from_utf8_lossy(channel), payload.len())
                        }
                        Incoming::Other(f) => format!("{f:?}"),
                    });
                }
            }
            assert_eq!(got.len(), 3, "split every {step}: {got:?}");
            assert_eq!(got[0], "news=5");
            assert_eq!(got[1], "t=0");
            assert!(got[2].contains("subscribe"), "{}", got[2]);
            assert!(rb.is_empty());
        }
    }

    #[test]
    fn a_malformed_delivery_is_an_error_not_a_hang() {
        let mut rb = ReplyBuf::new();
        rb.push(b"*3\r\n$7\r\nmessage\r\n$x\r\n");
        assert!(rb.next_incoming().is_err());
    }
}
