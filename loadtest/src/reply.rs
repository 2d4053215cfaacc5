//! The reading side of a RESP connection: a buffer that keeps partial frames between reads and
//! hands out whole frames, or pub/sub deliveries recognised in place.

use shared::resp::parse_frame;
use shared::Frame;
use std::io::{self, Read};

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

#[cfg(test)]
mod tests {
    use super::*;
    use shared::resp::encode_command;

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
