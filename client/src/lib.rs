//! A small blocking client for Switchboard (or any Redis server), used by the `client` binary
//! and by tests.
//!
//! - [`Client`]: one `TcpStream` (or a TLS stream over one: [`Client::connect_tls`], with
//!   [`tls_config`]) plus a read buffer. Requests are encoded with
//!   [`shared::resp::encode_command`] and replies cut out of the buffer with
//!   [`shared::resp::parse_frame`], so the client and the server share one protocol core.
//! - [`Message`]: a pub/sub delivery (`message` or `pmessage`) recognised in a frame.
//! - [`tls`]: the TLS and password flags ([`Access`]) and the rustls client configuration
//!   ([`tls_config`]), shared with the load generator.
//!
//! The client speaks RESP2 unless the caller sends `HELLO 3`; [`Message`] understands both.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use bytes::Bytes;
use shared::resp::{encode_command, parse_frame};
use shared::{Command, Frame};

/// How long [`Client::connect`] waits for each address before giving up on it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How many bytes one read asks the socket for.
const READ_CHUNK: usize = 8 * 1024;

pub mod tls;
pub use tls::{tls_config, Access};

/// A blocking connection to a RESP server.
#[derive(Debug)]
pub struct Client {
    stream: Transport,
    /// Bytes received but not yet returned as frames. Always starts at a frame boundary, so a
    /// reply and a pushed message that arrive in one read are both kept.
    buf: Vec<u8>,
    /// Scratch space for encoding requests, reused across calls.
    out: Vec<u8>,
}

impl Client {
    /// Connects to the first address of `addr` that accepts within [`CONNECT_TIMEOUT`]; the
    /// error is that of the last address tried.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        let mut last_err = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    // Requests are small and we always wait for the reply: do not let Nagle
                    // hold them back.
                    stream.set_nodelay(true)?;
                    let stream = Transport::Plain(stream);
                    return Ok(Client { stream, buf: Vec::new(), out: Vec::new() });
                }
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to")
        }))
    }

    /// Connects like [`Client::connect`], then speaks TLS under `config` (see [`tls_config`]),
    /// checking the server's certificate against `server_name`. The handshake completes
    /// before this returns, so a bad certificate is reported here.
    pub fn connect_tls(
        addr: impl ToSocketAddrs,
        server_name: &str,
        config: Arc<ClientConfig>,
    ) -> io::Result<Client> {
        let mut client = Client::connect(addr)?;
        let Transport::Plain(tcp) = client.stream else { unreachable!("connect is plain") };
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        client.stream = Transport::Tls(Box::new(tls));
        Ok(client)
    }

    /// Logs in with `AUTH [user] password`; the error holds the server's reply.
    pub fn auth(&mut self, user: Option<&str>, password: &str) -> io::Result<()> {
        let reply = self.request(&tls::auth_args(user, password))?;
        tls::auth_reply(reply)
    }

    /// Sends one command made of `args` and returns the next frame the server sends.
    ///
    /// That frame is the reply unless earlier replies are still unread, or the connection is
    /// subscribed and a message arrives first: subscriber loops use [`Client::send`] and
    /// [`Client::read_frame`] instead. An error reply is returned as [`Frame::Error`].
    pub fn request(&mut self, args: &[impl AsRef<[u8]>]) -> io::Result<Frame> {
        self.write_args(args)?;
        self.read_frame()
    }

    /// Sends `cmd` without waiting for anything; read its reply with [`Client::read_frame`].
    pub fn send(&mut self, cmd: &Command) -> io::Result<()> {
        self.write_args(&cmd.to_args())
    }

    /// Returns the next whole frame from the server, reading as much as that takes.
    ///
    /// Fails with [`io::ErrorKind::UnexpectedEof`] when the server closes the connection
    /// (between frames or inside one), with [`io::ErrorKind::InvalidData`] when it sends
    /// something that is not RESP, and with `WouldBlock`/`TimedOut` when a read timeout set
    /// with [`Client::set_read_timeout`] expires (the buffered bytes are kept).
    pub fn read_frame(&mut self) -> io::Result<Frame> {
        loop {
            let parsed = parse_frame(&self.buf)
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
            if let Some((frame, used)) = parsed {
                self.buf.drain(..used);
                return Ok(frame);
            }
            let filled = self.buf.len();
            self.buf.resize(filled + READ_CHUNK, 0);
            let read = self.stream.read(&mut self.buf[filled..]);
            self.buf.truncate(filled + read.as_ref().map_or(0, |&n| n));
            match read {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ))
                }
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Makes [`Client::read_frame`] fail after `timeout` without data; `None` waits forever.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.tcp().set_read_timeout(timeout)
    }

    fn write_args(&mut self, args: &[impl AsRef<[u8]>]) -> io::Result<()> {
        self.out.clear();
        encode_command(&mut self.out, args);
        self.stream.write_all(&self.out)
    }
}

/// The socket, plain or under TLS.
#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Transport {
    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.read(buf),
            Transport::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.write(buf),
            Transport::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(tcp) => tcp.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}

/// A message delivered to a subscriber: `message channel payload` for a `SUBSCRIBE`, or
/// `pmessage pattern channel payload` for a `PSUBSCRIBE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The pattern that matched, for messages received through `PSUBSCRIBE`.
    pub pattern: Option<Bytes>,
    /// The channel the message was published to.
    pub channel: Bytes,
    /// What the publisher sent.
    pub payload: Bytes,
}

impl Message {
    /// Recognises a message in `frame` (an array in RESP2, a push frame in RESP3). Anything
    /// else, subscribe confirmations included, gives `None`.
    pub fn from_frame(frame: &Frame) -> Option<Message> {
        let (Frame::Array(items) | Frame::Push(items)) = frame else {
            return None;
        };
        // Redis sends every part, the kind included, as a bulk string in both protocols.
        let parts: Vec<&Bytes> = items
            .iter()
            .map(|item| match item {
                Frame::Bulk(part) => Some(part),
                _ => None,
            })
            .collect::<Option<_>>()?;
        match parts.as_slice() {
            [kind, channel, payload] if kind.as_ref() == b"message" => Some(Message {
                pattern: None,
                channel: Bytes::clone(channel),
                payload: Bytes::clone(payload),
            }),
            [kind, pattern, channel, payload] if kind.as_ref() == b"pmessage" => Some(Message {
                pattern: Some(Bytes::clone(pattern)),
                channel: Bytes::clone(channel),
                payload: Bytes::clone(payload),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::command::ConnectionCommand;
    use std::net::{SocketAddr, TcpListener};
    use std::thread::{self, JoinHandle};

    /// A one-connection fake server: it checks that the client sent exactly `expect`, then
    /// writes each of `chunks` with a separate write, then closes.
    fn fake_server(expect: Vec<u8>, chunks: Vec<&'static [u8]>) -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_nodelay(true).unwrap();
            let mut got = vec![0; expect.len()];
            stream.read_exact(&mut got).unwrap();
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expect));
            for chunk in chunks {
                stream.write_all(chunk).unwrap();
            }
        });
        (addr, handle)
    }

    fn connect(addr: SocketAddr) -> Client {
        let client = Client::connect(addr).unwrap();
        // A broken test fails instead of hanging.
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client
    }

    fn request_bytes(args: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        out
    }

    #[test]
    fn a_reply_split_across_writes_is_reassembled() {
        let (addr, server) = fake_server(
            request_bytes(&["ECHO", "hello world"]),
            vec![b"$1", b"1\r", b"\nhello", b" world\r", b"\n"],
        );
        let mut client = connect(addr);
        assert_eq!(client.request(&["ECHO", "hello world"]).unwrap(), Frame::bulk("hello world"));
        server.join().unwrap();
    }

    #[test]
    fn a_message_arriving_with_the_reply_is_kept_for_the_next_read() {
        let (addr, server) = fake_server(
            request_bytes(&["SUBSCRIBE", "news"]),
            vec![
                b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$4\r\nne",
                b"ws\r\n$2\r\nhi\r\n",
            ],
        );
        let mut client = connect(addr);
        let reply = client.request(&["SUBSCRIBE", "news"]).unwrap();
        assert_eq!(
            reply,
            Frame::Array(vec![Frame::bulk("subscribe"), Frame::bulk("news"), Frame::Integer(1)])
        );
        assert_eq!(Message::from_frame(&reply), None);
        let message = Message::from_frame(&client.read_frame().unwrap()).unwrap();
        assert_eq!(
            message,
            Message { pattern: None, channel: Bytes::from("news"), payload: Bytes::from("hi") }
        );
        server.join().unwrap();
        let eof = client.read_frame().unwrap_err();
        assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn pipelined_replies_come_back_in_order() {
        let mut expect = request_bytes(&["PING"]);
        expect.extend(request_bytes(&["PING", "x"]));
        let (addr, server) = fake_server(expect, vec![b"+PONG\r\n$1\r\nx\r\n"]);
        let mut client = connect(addr);
        client.send(&ConnectionCommand::Ping(None).into()).unwrap();
        client.send(&ConnectionCommand::Ping(Some(Bytes::from("x"))).into()).unwrap();
        assert_eq!(client.read_frame().unwrap(), Frame::Simple("PONG".into()));
        assert_eq!(client.read_frame().unwrap(), Frame::bulk("x"));
        server.join().unwrap();
    }

    #[test]
    fn an_error_reply_is_a_frame_not_a_failure() {
        let (addr, server) = fake_server(request_bytes(&["NOPE"]), vec![b"-ERR unknown\r\n"]);
        let mut client = connect(addr);
        assert_eq!(client.request(&["NOPE"]).unwrap(), Frame::Error("ERR unknown".into()));
        server.join().unwrap();
    }

    #[test]
    fn garbage_from_the_server_is_invalid_data() {
        let (addr, server) = fake_server(request_bytes(&["PING"]), vec![b"?what\r\n"]);
        let mut client = connect(addr);
        let err = client.request(&["PING"]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        server.join().unwrap();
    }

    #[test]
    fn a_close_inside_a_frame_is_unexpected_eof() {
        let (addr, server) = fake_server(request_bytes(&["ECHO", "abc"]), vec![b"$3\r\nab"]);
        let mut client = connect(addr);
        let err = client.request(&["ECHO", "abc"]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        server.join().unwrap();
    }

    #[test]
    fn connecting_where_nobody_listens_fails() {
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = Client::connect(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn messages_are_recognised_in_both_protocols() {
        let b = Frame::bulk;
        let pmessage = vec![b("pmessage"), b("n*"), b("news"), b("hi")];
        let expected = Message {
            pattern: Some(Bytes::from("n*")),
            channel: Bytes::from("news"),
            payload: Bytes::from("hi"),
        };
        assert_eq!(Message::from_frame(&Frame::Array(pmessage.clone())), Some(expected.clone()));
        assert_eq!(Message::from_frame(&Frame::Push(pmessage)), Some(expected));
        for other in [
            Frame::Simple("PONG".into()),
            Frame::Array(vec![]),
            Frame::Array(vec![b("message"), b("news")]),
            Frame::Array(vec![b("message"), b("news"), Frame::Integer(1)]),
            Frame::Array(vec![b("pmessage"), b("news"), b("hi")]),
            Frame::Push(vec![b("psubscribe"), b("n*"), Frame::Integer(1)]),
        ] {
            assert_eq!(Message::from_frame(&other), None, "{other:?}");
        }
    }
}
