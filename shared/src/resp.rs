//! RESP2/RESP3 frames without I/O: an incremental request parser for the server, a reply parser
//! for clients, and one encoder everybody shares.
//!
//! Nothing here touches a socket. The server feeds [`RequestParser`] whatever bytes arrived, at
//! any chunk boundary, and gets whole commands back; clients feed [`parse_frame`] their read
//! buffer and get whole replies back. An incomplete frame is `Ok(None)` ("need more"), never an
//! error.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use crate::limits::{Limits, UNAUTHENTICATED_MAX_ARGS, UNAUTHENTICATED_MAX_BULK_LEN};

/// Which RESP dialect a connection speaks. RESP3 adds maps, push frames and a distinct null;
/// a connection switches to it with `HELLO 3`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RespVersion {
    /// The classic protocol, what every client speaks first.
    #[default]
    Resp2,
    /// The protocol negotiated by `HELLO 3`.
    Resp3,
}

/// One RESP value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `+text`: a status reply. Never contains `\r` or `\n`.
    Simple(String),
    /// `-ERR text`: an error reply. Never contains `\r` or `\n`.
    Error(String),
    /// `:n`.
    Integer(i64),
    /// `$len` then `len` bytes: a binary-safe string.
    Bulk(Bytes),
    /// The null value: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// `*n` then `n` frames.
    Array(Vec<Frame>),
    /// `%n` then `n` key/value pairs (RESP3); a flat array of `2n` frames in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// `>n` then `n` frames: out-of-band data such as pub/sub messages (RESP3); an array in RESP2.
    Push(Vec<Frame>),
    /// `~n` then `n` frames: an unordered collection (RESP3); an array in RESP2.
    Set(Vec<Frame>),
    /// `,text`: a floating-point number written as text (RESP3); a bulk string in RESP2.
    Double(String),
}

/// Everything that can be wrong with bytes a peer sent. The `Display` texts of the request
/// errors are Redis's own, so clients see the replies they would get from Redis.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// A `*N` header that is not a number, or declares more arguments than allowed.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A `$N` header that is not a number, is negative, or declares more than the bulk limit.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A `*N` header declaring more arguments than a connection that has not authenticated
    /// may send ([`UNAUTHENTICATED_MAX_ARGS`]).
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A `$N` header declaring a longer bulk than a connection that has not authenticated may
    /// send ([`UNAUTHENTICATED_MAX_BULK_LEN`]).
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// A multibulk request element that does not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedBulk(u8),
    /// An inline request line longer than the inline limit.
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// A `*N` header line longer than the inline limit.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$N` header line longer than the inline limit.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline request with an unterminated quote, or a closing quote followed by a non-space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A reply that starts with a byte that is no RESP type.
    #[error("Protocol error: invalid frame type byte '{}'", char::from(*.0))]
    InvalidFrameType(u8),
    /// A reply whose integer, length or line ending is malformed.
    #[error("Protocol error: malformed frame")]
    Malformed,
    /// A reply nested deeper than [`MAX_REPLY_DEPTH`].
    #[error("Protocol error: frame nested too deeply")]
    TooDeep,
}

/// Deepest nesting [`parse_frame`] accepts, so hostile input cannot exhaust the stack.
pub const MAX_REPLY_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------------
// Requests (server side)
// ---------------------------------------------------------------------------------------------

/// Incremental parser of client requests: multibulk (`*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n`) and
/// inline (`ECHO "hi there"\r\n`), exactly as Redis accepts them.
///
/// It keeps its place inside a multibulk request between calls, so a large request arriving in
/// many reads is scanned once. Bulk arguments are split off the read buffer without copying.
/// After an error the connection must be closed: the parser's state is no longer meaningful.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    /// Arguments of the current multibulk request still to come; 0 between requests.
    pending: usize,
    /// Length of the bulk argument whose `$N` header was consumed but whose body was not.
    bulk_len: Option<usize>,
    /// Arguments of the current request parsed so far.
    args: Vec<Bytes>,
    /// False while the connection must still authenticate: headers are then held to Redis's
    /// small unauthenticated limits, so nobody can make the server buffer much before AUTH.
    authenticated: bool,
}

impl RequestParser {
    /// A parser that enforces `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestParser { limits, pending: 0, bulk_len: None, args: Vec::new(), authenticated: true }
    }

    /// Says whether the connection has authenticated (a new parser assumes it has); until it
    /// has, a header declaring more than [`UNAUTHENTICATED_MAX_ARGS`] arguments or a bulk
    /// longer than [`UNAUTHENTICATED_MAX_BULK_LEN`] is refused, as Redis refuses it.
    pub fn set_authenticated(&mut self, authenticated: bool) {
        self.authenticated = authenticated;
    }

    /// Returns true if and only if the parser is inside a multibulk request whose arguments
    /// have not all arrived (part of it may already be consumed from the buffer).
    pub fn in_request(&self) -> bool {
        self.pending > 0
    }

    /// Takes the next whole request off the front of `buf`: `Ok(Some(args))` with at least one
    /// argument, `Ok(None)` when `buf` holds no whole request yet (what was consumed is
    /// remembered), or the protocol error Redis would report.
    pub fn next_request(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.pending == 0 {
                if buf.is_empty() {
                    return Ok(None);
                }
                if buf[0] != b'*' {
                    match self.inline(buf)? {
                        Some(args) if args.is_empty() => continue, // empty line: ignored
                        other => return Ok(other),
                    }
                }
                let Some(line) = header_line(buf, self.limits.max_inline_len)
                    .map_err(|()| ProtocolError::TooBigMultibulkCount)?
                else {
                    return Ok(None);
                };
                let count =
                    parse_i64(&buf[1..line]).ok_or(ProtocolError::InvalidMultibulkLength)?;
                if count > self.limits.max_args as i64 {
                    return Err(ProtocolError::InvalidMultibulkLength);
                }
                if !self.authenticated && count > UNAUTHENTICATED_MAX_ARGS as i64 {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                buf.advance(line + 2);
                if count <= 0 {
                    continue; // `*0` and `*-1` are empty requests: Redis skips them
                }
                self.pending = count as usize;
                // Capped so a header alone cannot make us allocate much.
                self.args = Vec::with_capacity(self.pending.min(64));
            }
            while self.pending > 0 {
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => {
                        let Some(line) = header_line(buf, self.limits.max_inline_len)
                            .map_err(|()| ProtocolError::TooBigBulkCount)?
                        else {
                            return Ok(None);
                        };
                        if buf[0] != b'$' {
                            return Err(ProtocolError::ExpectedBulk(buf[0]));
                        }
                        let len = parse_i64(&buf[1..line])
                            .filter(|&n| n >= 0 && n as u64 <= self.limits.max_bulk_len as u64)
                            .ok_or(ProtocolError::InvalidBulkLength)?
                            as usize;
                        if !self.authenticated && len > UNAUTHENTICATED_MAX_BULK_LEN {
                            return Err(ProtocolError::UnauthenticatedBulkLength);
                        }
                        buf.advance(line + 2);
                        self.bulk_len = Some(len);
                        len
                    }
                };
                if buf.len() < len + 2 {
                    return Ok(None);
                }
                self.args.push(buf.split_to(len).freeze());
                // Like Redis, the two bytes after the body are taken to be CRLF unchecked.
                buf.advance(2);
                self.bulk_len = None;
                self.pending -= 1;
            }
            return Ok(Some(std::mem::take(&mut self.args)));
        }
    }

    /// Parses one inline request line; an empty line gives an empty argument list.
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        // A line of at most `max_inline_len` bytes is accepted with its CR LF (as Redis
        // accepts exactly 64 KB plus the newline); more waiting without a newline is refused.
        let Some(nl) = memchr(b'\n', buf) else {
            if buf.len() > self.limits.max_inline_len + 1 {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(None);
        };
        let end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
        if end > self.limits.max_inline_len {
            return Err(ProtocolError::TooBigInline);
        }
        let args = split_inline(&buf[..end])?;
        buf.advance(nl + 1);
        Ok(Some(args))
    }
}

/// Finds the `\r` that ends the header line at the front of `buf`. `Ok(None)` until the line
/// and the byte after its `\r` have arrived; `Err` when the line is longer than `max`.
fn header_line(buf: &[u8], max: usize) -> Result<Option<usize>, ()> {
    match memchr(b'\r', buf) {
        Some(cr) if cr > max => Err(()),
        Some(cr) if cr + 1 < buf.len() => Ok(Some(cr)),
        Some(_) => Ok(None),
        None if buf.len() > max => Err(()),
        None => Ok(None),
    }
}

/// Splits an inline request into arguments with Redis's quoting rules (`sdssplitargs`):
/// `"..."` understands `\n \r \t \b \a \xHH` and `\<any>`, `'...'` understands `\'`, and a
/// closing quote must be followed by a space or the end of the line.
pub fn split_inline(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    // Redis works on C strings here: a NUL byte ends the line.
    let line = &line[..memchr(0, line).unwrap_or(line.len())];
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(args);
        }
        let mut arg = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = line.get(i).copied();
            let next = line.get(i + 1).copied();
            if in_double {
                match (c, next) {
                    (None, _) => return Err(ProtocolError::UnbalancedQuotes),
                    (Some(b'\\'), Some(b'x'))
                        if i + 3 < line.len()
                            && line[i + 2].is_ascii_hexdigit()
                            && line[i + 3].is_ascii_hexdigit() =>
                    {
                        arg.push(hex_value(line[i + 2]) << 4 | hex_value(line[i + 3]));
                        i += 3;
                    }
                    (Some(b'\\'), Some(escaped)) => {
                        arg.push(match escaped {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 1;
                    }
                    (Some(b'"'), next) => {
                        if next.is_some_and(|b| !is_space(b)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    (Some(c), _) => arg.push(c),
                }
            } else if in_single {
                match (c, next) {
                    (None, _) => return Err(ProtocolError::UnbalancedQuotes),
                    (Some(b'\\'), Some(b'\'')) => {
                        arg.push(b'\'');
                        i += 1;
                    }
                    (Some(b'\''), next) => {
                        if next.is_some_and(|b| !is_space(b)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    (Some(c), _) => arg.push(c),
                }
            } else {
                match c {
                    None => break,
                    Some(c) if is_space(c) => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(c) => arg.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(arg));
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Parses a decimal integer the way Redis's `string2ll` does: an optional `-`, no `+`, no
/// spaces, no leading zeros, and it must fit an `i64`.
pub fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (negative, body) = match digits {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, digits),
    };
    if body.is_empty() || body.len() > 1 && body[0] == b'0' || negative && body == b"0" {
        return None;
    }
    let mut n: i64 = 0;
    for &b in body {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = i64::from(b - b'0');
        n = if negative {
            n.checked_mul(10)?.checked_sub(d)?
        } else {
            n.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(n)
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

// ---------------------------------------------------------------------------------------------
// Replies (client side)
// ---------------------------------------------------------------------------------------------

/// Parses the first whole frame in `buf`: `Ok(Some((frame, bytes_used)))`, or `Ok(None)` when
/// more bytes are needed. Understands every RESP2 type and the RESP3 map, push, null and
/// boolean types.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(frame) => Ok(Some((frame, pos))),
        None => Ok(None),
    }
}

/// Parses one frame at `buf[*pos..]`, advancing `pos` past it on success.
fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, ProtocolError> {
    if depth > MAX_REPLY_DEPTH {
        return Err(ProtocolError::TooDeep);
    }
    let start = *pos;
    let Some(&kind) = buf.get(start) else { return Ok(None) };
    let Some(cr) = memchr(b'\r', &buf[start..]).map(|i| start + i) else { return Ok(None) };
    let Some(&lf) = buf.get(cr + 1) else { return Ok(None) };
    if lf != b'\n' {
        return Err(ProtocolError::Malformed);
    }
    let line = &buf[start + 1..cr];
    let text = || String::from_utf8_lossy(line).into_owned();
    let number = || parse_i64(line).ok_or(ProtocolError::Malformed);
    *pos = cr + 2;
    let frame = match kind {
        b'+' => Frame::Simple(text()),
        b'-' => Frame::Error(text()),
        b':' => Frame::Integer(number()?),
        b'_' if line.is_empty() => Frame::Null,
        b',' => Frame::Double(text()),
        b'#' => match line {
            b"t" => Frame::Integer(1),
            b"f" => Frame::Integer(0),
            _ => return Err(ProtocolError::Malformed),
        },
        b'$' => match number()? {
            -1 => Frame::Null,
            len if len < 0 => return Err(ProtocolError::Malformed),
            len => {
                let len = len as usize;
                let body = *pos;
                if buf.len() < body + len + 2 {
                    *pos = start;
                    return Ok(None);
                }
                if &buf[body + len..body + len + 2] != b"\r\n" {
                    return Err(ProtocolError::Malformed);
                }
                *pos = body + len + 2;
                Frame::Bulk(Bytes::copy_from_slice(&buf[body..body + len]))
            }
        },
        b'*' | b'>' | b'%' | b'~' => {
            let n = number()?;
            if n == -1 && kind == b'*' {
                return Ok(Some(Frame::NullArray));
            }
            if n < 0 {
                return Err(ProtocolError::Malformed);
            }
            let items = if kind == b'%' { n as usize * 2 } else { n as usize };
            let mut frames = Vec::with_capacity(items.min(1024));
            for _ in 0..items {
                match parse_at(buf, pos, depth + 1)? {
                    Some(frame) => frames.push(frame),
                    None => {
                        *pos = start;
                        return Ok(None);
                    }
                }
            }
            match kind {
                b'*' => Frame::Array(frames),
                b'>' => Frame::Push(frames),
                b'~' => Frame::Set(frames),
                _ => {
                    let mut pairs = Vec::with_capacity(frames.len() / 2);
                    let mut it = frames.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            }
        }
        other => return Err(ProtocolError::InvalidFrameType(other)),
    };
    Ok(Some(frame))
}

// ---------------------------------------------------------------------------------------------
// Encoding (everybody)
// ---------------------------------------------------------------------------------------------

impl Frame {
    /// A bulk frame holding a copy of `bytes`.
    pub fn bulk(bytes: impl AsRef<[u8]>) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(bytes.as_ref()))
    }

    /// Appends this frame's encoding in `version` to `out`.
    pub fn encode(&self, version: RespVersion, out: &mut Vec<u8>) {
        let resp3 = version == RespVersion::Resp3;
        match self {
            Frame::Simple(s) => encode_line(out, b'+', s.as_bytes()),
            Frame::Error(s) => encode_error(out, s.as_bytes()),
            Frame::Integer(n) => encode_integer(out, *n),
            Frame::Bulk(b) => encode_bulk(out, b),
            Frame::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Array(items) => {
                encode_header(out, b'*', items.len());
                items.iter().for_each(|f| f.encode(version, out));
            }
            Frame::Push(items) => {
                encode_header(out, if resp3 { b'>' } else { b'*' }, items.len());
                items.iter().for_each(|f| f.encode(version, out));
            }
            Frame::Double(text) if resp3 => encode_line(out, b',', text.as_bytes()),
            Frame::Double(text) => encode_bulk(out, text.as_bytes()),
            Frame::Set(items) => {
                encode_header(out, if resp3 { b'~' } else { b'*' }, items.len());
                items.iter().for_each(|f| f.encode(version, out));
            }
            Frame::Map(pairs) => {
                if resp3 {
                    encode_header(out, b'%', pairs.len());
                } else {
                    encode_header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(version, out);
                    v.encode(version, out);
                }
            }
        }
    }

    /// This frame encoded in `version`, as a fresh buffer.
    pub fn to_bytes(&self, version: RespVersion) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(version, &mut out);
        out
    }
}

/// Appends a request in the multibulk form every server accepts: `*N` then one bulk per argument.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    encode_header(out, b'*', args.len());
    for arg in args {
        encode_bulk(out, arg.as_ref());
    }
}

/// Appends `:n\r\n`.
pub fn encode_integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Appends `$len\r\nbytes\r\n`.
pub fn encode_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    encode_header(out, b'$', bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends `text` as RESP3's verbatim string of format `txt` (`=len\r\ntxt:text\r\n`), as
/// Redis sends `LOLWUT`, `LATENCY DOCTOR` and `GRAPH`; RESP2 has no such type and takes
/// [`encode_bulk`].
pub fn encode_verbatim_text(out: &mut Vec<u8>, text: &[u8]) {
    encode_header(out, b'=', text.len() + 4);
    out.extend_from_slice(b"txt:");
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// Appends an aggregate header such as `*3\r\n` (`kind` is `*`, `>`, `%` or `$`).
pub fn encode_header(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    push_decimal(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `kind`, `text` and CRLF, for simple strings and errors.
/// Appends an error line: `-`, `text` with every CR, LF and NUL turned into a space (an error
/// is always exactly one protocol line, whatever it quotes), CRLF.
pub fn encode_error(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'-');
    out.extend(text.iter().map(|&c| if matches!(c, b'\r' | b'\n' | 0) { b' ' } else { c }));
    out.extend_from_slice(b"\r\n");
}

fn encode_line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal digits of `n` without going through `fmt` (this runs once per reply).
fn push_decimal(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn requests(input: &[u8], limits: Limits) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut parser = RequestParser::new(limits);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = parser.next_request(&mut buf)? {
            out.push(args);
        }
        Ok(out)
    }

    /// Feeds `input` split at `at`, as two reads.
    fn requests_split(input: &[u8], at: usize) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut parser = RequestParser::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in [&input[..at], &input[at..]] {
            buf.extend_from_slice(chunk);
            while let Some(args) = parser.next_request(&mut buf)? {
                out.push(args);
            }
        }
        Ok(out)
    }

    fn args(list: &[&[u8]]) -> Vec<Bytes> {
        list.iter().map(|a| Bytes::copy_from_slice(a)).collect()
    }

    #[test]
    fn multibulk_and_inline_requests_at_every_split() {
        let input: &[u8] = b"*2\r\n$4\r\nECHO\r\n$5\r\nhe\r\no\r\nPING\r\n\r\n  \r\nECHO \"a b\" 'c d'\n*1\r\n$0\r\n\r\n*0\r\n*-1\r\n";
        let want = vec![
            args(&[b"ECHO", b"he\r\no"]),
            args(&[b"PING"]),
            args(&[b"ECHO", b"a b", b"c d"]),
            args(&[b""]),
        ];
        for at in 0..=input.len() {
            assert_eq!(requests_split(input, at).unwrap(), want, "split at {at}");
        }
    }

    #[test]
    fn incomplete_requests_need_more() {
        for input in [&b"*2\r\n$4\r\nEC"[..], b"*2\r", b"*2\r\n$4\r", b"PING", b"*"] {
            assert_eq!(requests(input, Limits::default()).unwrap(), Vec::<Vec<Bytes>>::new());
        }
    }

    #[test]
    fn request_errors_use_redis_texts() {
        let limits = Limits { max_inline_len: 16, max_bulk_len: 10, max_args: 3 };
        let cases: &[(&[u8], &str)] = &[
            (b"*x\r\n", "Protocol error: invalid multibulk length"),
            (b"*4\r\n", "Protocol error: invalid multibulk length"),
            (b"*01\r\n", "Protocol error: invalid multibulk length"),
            (b"*1\r\n$11\r\n", "Protocol error: invalid bulk length"),
            (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
            (b"*1\r\nx\r\n", "Protocol error: expected '$', got 'x'"),
            (b"PINGPINGPINGPINGPING", "Protocol error: too big inline request"),
            (b"PINGPINGPINGPINGPING\r\n", "Protocol error: too big inline request"),
            (b"*11111111111111111", "Protocol error: too big mbulk count string"),
            (b"*1\r\n$11111111111111111", "Protocol error: too big bulk count string"),
            (b"ECHO \"a\r\n", "Protocol error: unbalanced quotes in request"),
            (b"ECHO \"a\"b\r\n", "Protocol error: unbalanced quotes in request"),
            (b"ECHO 'a'b\r\n", "Protocol error: unbalanced quotes in request"),
        ];
        for (input, text) in cases {
            let err = requests(input, limits).unwrap_err();
            assert_eq!(err.to_string(), *text, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn unauthenticated_headers_are_held_to_redis_limits() {
        let mut parser = RequestParser::new(Limits::default());
        parser.set_authenticated(false);
        let mut ok = BytesMut::from(&b"*10\r\n$16384\r\n"[..]);
        assert_eq!(parser.next_request(&mut ok), Ok(None));
        for (input, err) in [
            (&b"*11\r\n"[..], ProtocolError::UnauthenticatedMultibulkLength),
            (b"*1\r\n$16385\r\n", ProtocolError::UnauthenticatedBulkLength),
        ] {
            let mut parser = RequestParser::new(Limits::default());
            parser.set_authenticated(false);
            assert_eq!(parser.next_request(&mut BytesMut::from(input)), Err(err));
            parser = RequestParser::new(Limits::default());
            assert_eq!(parser.next_request(&mut BytesMut::from(input)), Ok(None));
        }
    }

    #[test]
    fn inline_quoting_follows_redis() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"a  b\tc", &[b"a", b"b", b"c"]),
            (br#""\x41\x4a\n\r\t\b\a\q\"""#, &[b"AJ\n\r\t\x08\x07q\""]),
            (br#""\xZZ""#, &[b"xZZ"]),
            (br"'it\'s' x", &[b"it's", b"x"]),
            (br"'a\nb'", &[b"a\\nb"]),
            (br#"foo"bar baz""#, &[b"foobar baz"]),
            (b"", &[]),
            (b"a\0b c", &[b"a"]),
        ];
        for (line, want) in cases {
            let got = split_inline(line).unwrap();
            assert_eq!(got, args(want), "line {:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn parse_i64_is_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"-", b"+1", b"01", b"-0", b" 1", b"1 ", b"9223372036854775808"] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    fn every_frame_type() -> Vec<Frame> {
        vec![
            Frame::Simple("OK".into()),
            Frame::Error("ERR nope".into()),
            Frame::Integer(-42),
            Frame::Integer(i64::MAX),
            Frame::bulk(b"a\r\nb"),
            Frame::bulk(b""),
            Frame::Null,
            Frame::NullArray,
            Frame::Array(vec![]),
            Frame::Array(vec![
                Frame::Integer(1),
                Frame::Array(vec![Frame::bulk("x"), Frame::Null]),
            ]),
            Frame::Map(vec![(Frame::bulk("k"), Frame::Array(vec![Frame::Integer(2)]))]),
            Frame::Push(vec![Frame::bulk("message"), Frame::bulk("ch"), Frame::bulk("hi")]),
        ]
    }

    /// What `frame` reads back as after encoding in `version` (RESP2 has no map, push, set or
    /// separate null array).
    fn as_read_back(frame: &Frame, version: RespVersion) -> Frame {
        let resp2 = version == RespVersion::Resp2;
        match frame {
            Frame::NullArray if !resp2 => Frame::Null,
            Frame::Array(v) => Frame::Array(v.iter().map(|f| as_read_back(f, version)).collect()),
            Frame::Push(v) if resp2 => {
                Frame::Array(v.iter().map(|f| as_read_back(f, version)).collect())
            }
            Frame::Push(v) => Frame::Push(v.iter().map(|f| as_read_back(f, version)).collect()),
            Frame::Set(v) if resp2 => {
                Frame::Array(v.iter().map(|f| as_read_back(f, version)).collect())
            }
            Frame::Set(v) => Frame::Set(v.iter().map(|f| as_read_back(f, version)).collect()),
            Frame::Double(text) if resp2 => Frame::bulk(text),
            Frame::Map(pairs) if resp2 => Frame::Array(
                pairs
                    .iter()
                    .flat_map(|(k, v)| [as_read_back(k, version), as_read_back(v, version)])
                    .collect(),
            ),
            Frame::Map(pairs) => Frame::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (as_read_back(k, version), as_read_back(v, version)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    #[test]
    fn every_frame_round_trips_split_at_every_offset() {
        for version in [RespVersion::Resp2, RespVersion::Resp3] {
            for frame in every_frame_type() {
                let bytes = frame.to_bytes(version);
                let want = as_read_back(&frame, version);
                for cut in 0..bytes.len() {
                    assert_eq!(parse_frame(&bytes[..cut]).unwrap(), None, "{frame:?} cut {cut}");
                }
                assert_eq!(parse_frame(&bytes).unwrap(), Some((want, bytes.len())));
            }
        }
    }

    #[test]
    fn encodings_are_exact() {
        let v2 = RespVersion::Resp2;
        let v3 = RespVersion::Resp3;
        assert_eq!(Frame::Simple("PONG".into()).to_bytes(v2), b"+PONG\r\n");
        assert_eq!(Frame::Integer(-7).to_bytes(v2), b":-7\r\n");
        assert_eq!(Frame::Null.to_bytes(v2), b"$-1\r\n");
        assert_eq!(Frame::Null.to_bytes(v3), b"_\r\n");
        assert_eq!(Frame::Push(vec![Frame::Integer(1)]).to_bytes(v3), b">1\r\n:1\r\n");
        assert_eq!(Frame::Push(vec![Frame::Integer(1)]).to_bytes(v2), b"*1\r\n:1\r\n");
        assert_eq!(Frame::Set(vec![Frame::Integer(1)]).to_bytes(v3), b"~1\r\n:1\r\n");
        assert_eq!(Frame::Set(vec![Frame::Integer(1)]).to_bytes(v2), b"*1\r\n:1\r\n");
        assert_eq!(Frame::Double("0.5".into()).to_bytes(v3), b",0.5\r\n");
        assert_eq!(Frame::Double("0.5".into()).to_bytes(v2), b"$3\r\n0.5\r\n");
        let map = Frame::Map(vec![(Frame::bulk("a"), Frame::Integer(1))]);
        assert_eq!(map.to_bytes(v3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(map.to_bytes(v2), b"*2\r\n$1\r\na\r\n:1\r\n");
        let mut cmd = Vec::new();
        encode_command(&mut cmd, &["ECHO", "hi"]);
        assert_eq!(cmd, b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n");
    }

    #[test]
    fn hostile_replies_are_refused() {
        let deep = b"*1\r\n".repeat(MAX_REPLY_DEPTH + 2);
        assert_eq!(parse_frame(&deep), Err(ProtocolError::TooDeep));
        assert_eq!(parse_frame(b"?x\r\n"), Err(ProtocolError::InvalidFrameType(b'?')));
        assert_eq!(parse_frame(b"$3\r\nabcd\r\n"), Err(ProtocolError::Malformed));
        assert_eq!(parse_frame(b":1\rx"), Err(ProtocolError::Malformed));
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        let line = "[a-zA-Z0-9 ]{0,12}";
        let leaf = prop_oneof![
            line.prop_map(Frame::Simple),
            line.prop_map(|s| Frame::Error(format!("ERR {s}"))),
            any::<i64>().prop_map(Frame::Integer),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Frame::Bulk(b.into())),
            Just(Frame::Null),
            "-?[0-9]{1,5}(\\.[0-9]{1,3})?".prop_map(Frame::Double),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_frames_round_trip_at_any_split(frame in arb_frame(), resp3: bool, cut: usize) {
            let version = if resp3 { RespVersion::Resp3 } else { RespVersion::Resp2 };
            let bytes = frame.to_bytes(version);
            let cut = cut % bytes.len();
            prop_assert_eq!(parse_frame(&bytes[..cut]).unwrap(), None);
            prop_assert_eq!(
                parse_frame(&bytes).unwrap(),
                Some((as_read_back(&frame, version), bytes.len()))
            );
        }

        #[test]
        fn random_commands_parse_back_at_any_split(
            cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5),
                1..5),
            cut: usize,
        ) {
            let mut bytes = Vec::new();
            for cmd in &cmds {
                encode_command(&mut bytes, cmd);
            }
            let cut = cut % (bytes.len() + 1);
            let want: Vec<Vec<Bytes>> =
                cmds.iter().map(|c| c.iter().map(|a| Bytes::copy_from_slice(a)).collect()).collect();
            prop_assert_eq!(requests_split(&bytes, cut).unwrap(), want);
        }

        #[test]
        fn garbage_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200), cut: usize) {
            let cut = cut % (input.len() + 1);
            let _ = requests_split(&input, cut);
            let _ = parse_frame(&input);
            let small = Limits { max_inline_len: 8, max_bulk_len: 8, max_args: 4 };
            let _ = requests(&input, small);
        }

        #[test]
        fn inline_garbage_never_panics(line in proptest::collection::vec(
            prop_oneof![Just(b'"'), Just(b'\''), Just(b'\\'), Just(b'x'), Just(b' '), Just(b'a'), Just(b'4')],
            0..40)) {
            let _ = split_inline(&line);
        }
    }
}
