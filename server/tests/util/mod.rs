//! Helpers every integration test shares: an in-process server on a free port that stops on
//! drop, a raw connection that asserts exact reply bytes, waiting on a condition with a
//! deadline, a redis-server to compare with, and scratch directories.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use server::{Backend, Config, ServerContext, ServerHandle};
use shared::resp::{encode_command, parse_frame};
use shared::Frame;

/// How long a test waits for a reply before failing (generous: CI machines are slow).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Asks `get` again and again until it answers `want`, failing after [`PATIENCE`] with
/// `what` and the last answer. For states that change after the request that caused them
/// (a closed connection is undone by the server after the close): a condition, not a sleep.
#[track_caller]
pub fn wait_for<T: PartialEq + std::fmt::Debug>(what: &str, want: T, mut get: impl FnMut() -> T) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = get();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still {got:?}, not {want:?}");
        std::thread::yield_now();
    }
}

/// A fresh directory for one test's files.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A redis-server 7 on a free port, stopped on drop: what the compatibility tests compare
/// with.
pub struct RedisServer {
    child: std::process::Child,
    pub addr: SocketAddr,
}

impl RedisServer {
    /// Starts `redis-server` with `args` on a free port and waits until it answers. The port
    /// is free when probed but may be taken before redis-server binds it (tests run side by
    /// side: another test's server, or another redis-server): then it exits and starts again on
    /// another port, and no test talks to a server that is not its own.
    #[track_caller]
    pub fn start(args: &[&str]) -> RedisServer {
        for _ in 0..10 {
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is installed (apt-get install redis-server)");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let pid = child.id();
            let mut exited = false;
            wait_for("redis-server did not start", true, || {
                exited = child.try_wait().is_ok_and(|status| status.is_some());
                exited || (listens_on(pid, port) && TcpStream::connect(addr).is_ok())
            });
            if !exited {
                return RedisServer { child, addr };
            }
            let _ = child.wait();
        }
        panic!("redis-server did not start on any of 10 free ports");
    }
}

impl RedisServer {
    /// A connection to it, like [`TestServer::connect`].
    pub fn connect(&self) -> Conn {
        Conn::new(TcpStream::connect(self.addr).expect("connect to redis-server"))
    }
}

/// Returns true if and only if process `pid` holds the socket listening on TCP `port` (its
/// descriptors against the kernel's table of IPv4 listeners): whoever answers there is it.
fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    let inodes: Vec<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            Some(link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else { return false };
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields.get(1).and_then(|a| a.rsplit(':').next());
        fields.len() > 9
            && fields[3] == "0A"
            && local_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
            && inodes.iter().any(|inode| inode == fields[9])
    })
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server running in this process on 127.0.0.1 and a free port; stopped on drop.
pub struct TestServer {
    handle: ServerHandle,
}

impl TestServer {
    /// A server with the default configuration and `backend`.
    #[track_caller]
    pub fn start(backend: Backend) -> TestServer {
        TestServer::with(backend, |_| {})
    }

    /// A server with `backend` and the configuration changed by `change`.
    #[track_caller]
    pub fn with(backend: Backend, change: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config { backend, port: 0, ..Config::default() };
        change(&mut config);
        TestServer { handle: server::start(config).expect("server starts") }
    }

    /// Like [`TestServer::with`], on a port named explicitly rather than port 0: the kernel
    /// keeps an explicitly bound port reserved once the server stops listening at shutdown,
    /// whereas it releases one bound to port 0, which another test's server may then take (and
    /// answer on). For tests that connect while the server shuts down.
    pub fn with_named_port(backend: Backend, change: impl Fn(&mut Config)) -> TestServer {
        let mut last = None;
        for _ in 0..10 {
            let free = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
            let mut config =
                Config { backend, port: free.expect("a free port").port(), ..Config::default() };
            change(&mut config);
            match server::start(config) {
                Ok(handle) => return TestServer { handle },
                // Taken by someone else between the two binds: try another.
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
                Err(e) => panic!("server starts: {e}"),
            }
        }
        panic!("no free port for the server: {last:?}");
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    pub fn tls_addr(&self) -> SocketAddr {
        self.handle.tls_addr().expect("a TLS port")
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.handle.metrics_addr()
    }

    /// A new raw connection.
    #[track_caller]
    pub fn connect(&self) -> Conn {
        Conn::new(TcpStream::connect(self.addr()).expect("connect"))
    }

    /// A connection through the `redis` crate, speaking RESP2 or RESP3.
    #[track_caller]
    pub fn redis(&self, resp3: bool) -> redis::Connection {
        let proto = if resp3 { "?protocol=resp3" } else { "" };
        let client = redis::Client::open(format!("redis://{}/{proto}", self.addr())).unwrap();
        let con = client.get_connection().expect("redis crate connects");
        con.set_read_timeout(Some(PATIENCE)).unwrap();
        con
    }

    /// The server's shared state, while it runs.
    pub fn stop_ref(&self) -> &Arc<ServerContext> {
        self.handle.context()
    }

    /// Stops the server gracefully (every session ended) and returns its final state.
    pub fn stop(self) -> Arc<ServerContext> {
        let ctx = self.handle.context().clone();
        self.handle.stop().expect("server stops cleanly");
        ctx
    }
}

/// A raw client socket with a read buffer.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn { stream, buf: Vec::new() }
    }

    /// Writes raw bytes.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Sends a command in multibulk form.
    #[track_caller]
    pub fn cmd(&mut self, args: &[&[u8]]) {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        self.send(&out);
    }

    /// Reads until `want.len()` bytes arrived and asserts they are exactly `want`.
    #[track_caller]
    pub fn expect(&mut self, want: &[u8]) {
        self.fill(want.len());
        let got: Vec<u8> = self.buf.drain(..want.len()).collect();
        if got == want {
            return; // the common case, without formatting megabytes
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "reply bytes differ"
        );
    }

    /// Sends a command and asserts the exact reply bytes.
    #[track_caller]
    pub fn roundtrip(&mut self, args: &[&[u8]], want: &[u8]) {
        self.cmd(args);
        self.expect(want);
    }

    /// Reads one whole frame.
    #[track_caller]
    pub fn frame(&mut self) -> Frame {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf).expect("valid RESP from server") {
                self.buf.drain(..used);
                return frame;
            }
            self.read_more();
        }
    }

    /// Reads one whole frame and returns its bytes as they came.
    #[track_caller]
    pub fn raw_frame(&mut self) -> Vec<u8> {
        loop {
            if let Some((_, used)) = parse_frame(&self.buf).expect("valid RESP from server") {
                return self.buf.drain(..used).collect();
            }
            self.read_more();
        }
    }

    /// Reads one whole frame if one arrives within `wait`; `None` if none does.
    #[track_caller]
    pub fn try_frame(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = std::time::Instant::now() + wait;
        let found = loop {
            if let Some((frame, used)) = parse_frame(&self.buf).expect("valid RESP from server") {
                self.buf.drain(..used);
                break Some(frame);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("server closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("read from server: {e}"),
            }
        };
        self.stream.set_read_timeout(Some(PATIENCE)).unwrap();
        found
    }

    /// Asserts that the server closes the connection with nothing more to say.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => {}
            // A reset after the server closed with unread input is a close as well.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the server to close the connection: {e}"),
        }
        self.buf.extend_from_slice(&rest);
        assert!(self.buf.is_empty(), "unexpected bytes: {:?}", String::from_utf8_lossy(&self.buf));
    }

    /// Asserts that the server ends the connection cleanly (a FIN, not a reset) with nothing
    /// more to say.
    #[track_caller]
    pub fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        if let Err(e) = self.stream.read_to_end(&mut rest) {
            panic!("expected a clean end of the connection: {e}");
        }
        self.buf.extend_from_slice(&rest);
        assert!(self.buf.is_empty(), "unexpected bytes: {:?}", String::from_utf8_lossy(&self.buf));
    }

    #[track_caller]
    fn fill(&mut self, n: usize) {
        while self.buf.len() < n {
            self.read_more();
        }
    }

    #[track_caller]
    fn read_more(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        let n = loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => break n,
                // A signal (or io_uring task work in this process) cut a timed read short.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("read from server: {e}"),
            }
        };
        assert!(
            n > 0,
            "server closed the connection; had {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }
}

/// Returns true if and only if `backend` can run on this machine; if not, says so on the
/// terminal (past the test harness's capture, so a skipped test is never a silent pass) with
/// `test`, the test's name.
pub fn available(backend: Backend, test: &str) -> bool {
    let reason = match backend {
        Backend::Uring => server::backend::uring::unavailable(),
        _ => None,
    };
    let Some(reason) = reason else { return true };
    // `std::io::stderr()` directly rather than `eprintln!`, which the harness captures.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {}: {reason} ({test})", backend.name());
    false
}

/// Raises this process's open-file limit to its hard limit (tests with many connections).
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid, exclusively borrowed rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Held by a test that opens thousands of connections, so that no two of them run at once: the
/// test process's descriptors (both ends of every connection, and the blocking backends' wake
/// fds) must stay below the open-file limit.
pub fn many_connections() -> std::sync::MutexGuard<'static, ()> {
    static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bytes of a RESP2 `message` frame.
/// Sends `args` to our server and to redis-server (`theirs`) and asserts the same reply bytes
/// (shown as text, with `note`, when they differ); returns the reply.
#[track_caller]
pub fn same_reply(ours: &mut Conn, theirs: &mut Conn, args: &[&str], note: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    ours.cmd(&args);
    theirs.cmd(&args);
    let (mine, redis) = (ours.raw_frame(), theirs.raw_frame());
    assert_eq!(
        String::from_utf8_lossy(&mine),
        String::from_utf8_lossy(&redis),
        "{:?} {note}",
        args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()
    );
    mine
}

pub fn message(channel: &[u8], payload: &[u8]) -> Vec<u8> {
    Frame::Array(vec![Frame::bulk("message"), Frame::bulk(channel), Frame::bulk(payload)])
        .to_bytes(shared::RespVersion::Resp2)
}

/// The accounting invariant: every message a PUBLISH reply counted was delivered or dropped.
/// Returns (delivered, dropped).
#[track_caller]
pub fn assert_accounted(ctx: &ServerContext) -> (u64, u64) {
    let s = &ctx.stats;
    let receivers = s.published_receivers.get();
    let delivered = s.delivered.get();
    let dropped = s.dropped.get();
    assert_eq!(
        receivers,
        delivered + dropped,
        "published to {receivers}, delivered {delivered}, dropped {dropped}"
    );
    (delivered, dropped)
}

/// Publishes `0`, `1`, ... `count - 1` on `channel` in one write and waits for every reply,
/// each `:1` (one subscriber).
#[track_caller]
pub fn publish_numbers(publisher: &mut Conn, channel: &[u8], count: usize) {
    let mut batch = Vec::new();
    for i in 0..count {
        encode_command(&mut batch, &[&b"PUBLISH"[..], channel, i.to_string().as_bytes()]);
    }
    publisher.send(&batch);
    for _ in 0..count {
        publisher.expect(b":1\r\n");
    }
}

/// One numeric field of `INFO`, asked over `conn`.
#[track_caller]
pub fn info_field(conn: &mut Conn, name: &str) -> u64 {
    conn.cmd(&[b"INFO"]);
    let Frame::Bulk(info) = conn.frame() else { panic!("INFO is not a bulk string") };
    info_text_field(&String::from_utf8_lossy(&info), name)
}

/// One numeric `key:value` field of an `INFO` text.
#[track_caller]
pub fn info_text_field(info: &str, name: &str) -> u64 {
    let line = info.lines().find_map(|l| l.strip_prefix(&format!("{name}:")[..]));
    line.unwrap_or_else(|| panic!("no {name} in INFO")).trim().parse().unwrap()
}

/// Runs `script` with python3 and `args` as its `sys.argv[1..]` (the tests' redis-py scripts);
/// returns what it printed, or fails the test with its output.
#[track_caller]
pub fn python(script: &str, args: &[String]) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the python script failed (pip install redis):\n{stdout}{stderr}"
    );
    stdout.into_owned()
}
