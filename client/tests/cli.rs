//! The `client` binary run as a user would: against nothing, against fake servers that
//! misbehave, and against a real `redis-server` when one is installed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use shared::{Limits, RequestParser};

/// How long anything in these tests may take before we call it a failure.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `client --port PORT ARGS...` to completion.
fn client(port: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["--port", &port.to_string()])
        .args(args)
        .output()
        .expect("run the client binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A port on 127.0.0.1 where nothing listens (it was free a moment ago).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Checks that `out` failed with exit code 1 and exactly one stderr line starting `prefix`.
#[track_caller]
fn assert_fails_with(out: &Output, prefix: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with(prefix), "stderr: {stderr}");
    assert_eq!(text(&out.stdout), "");
}

/// A fake server for one connection: it reads one whole request, writes `reply`, and closes.
fn serve_once(reply: &'static [u8]) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut parser = RequestParser::new(Limits::default());
        let mut buf = BytesMut::new();
        // Reading the whole request first makes the close a clean FIN, not a reset.
        while parser.next_request(&mut buf).unwrap().is_none() {
            let mut chunk = [0; 1024];
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "client closed before sending a request");
            buf.extend_from_slice(&chunk[..n]);
        }
        stream.write_all(reply).unwrap();
    });
    (port, handle)
}

#[test]
fn an_unreachable_server_is_one_line_and_exit_1() {
    let port = free_port();
    let out = client(port, &["ping"]);
    assert_fails_with(&out, &format!("client: cannot connect to 127.0.0.1:{port}: "));
}

#[test]
fn an_error_reply_is_printed_to_stderr_and_exit_1() {
    let (port, server) = serve_once(b"-ERR no such thing\r\n");
    let out = client(port, &["echo", "hi"]);
    assert_fails_with(&out, "client: ERR no such thing");
    server.join().unwrap();
}

#[test]
fn a_server_that_hangs_up_is_one_line_and_exit_1() {
    let (port, server) = serve_once(b"");
    let out = client(port, &["sub", "news"]);
    assert_fails_with(&out, &format!("client: server at 127.0.0.1:{port} closed the connection"));
    server.join().unwrap();
}

/// A child process killed and reaped when dropped, so a failing test leaves nothing behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `redis-server` on a free port and waits until it accepts connections, or returns
/// `None` when it is not installed.
fn start_redis() -> Option<(KillOnDrop, u16)> {
    let port = free_port();
    start_redis_with(port, &["--port", &port.to_string()])
}

/// Starts `redis-server` with `args` and waits until `port` accepts connections.
fn start_redis_with(port: u16, args: &[&str]) -> Option<(KillOnDrop, u16)> {
    let child = Command::new("redis-server")
        .args(args)
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut redis = match child {
        Ok(child) => KillOnDrop(child),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return None,
        Err(err) => panic!("cannot start redis-server: {err}"),
    };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = redis.0.try_wait().unwrap() {
            panic!("redis-server exited early: {status}");
        }
        assert!(started.elapsed() < DEADLINE, "redis-server did not accept connections");
        // A pause between polls, not a synchronisation: the connect above is what we wait on.
        thread::sleep(Duration::from_millis(10));
    }
    Some((redis, port))
}

/// Publishes `message` on `topic` until one subscriber receives it (subscribers start
/// asynchronously, so the first attempts may reach nobody).
#[track_caller]
fn publish_to_one(port: u16, topic: &str, message: &str) {
    let started = Instant::now();
    loop {
        let out = client(port, &["pub", topic, message]);
        assert!(out.status.success(), "pub failed: {}", text(&out.stderr));
        match text(&out.stdout).as_str() {
            "1\n" => return,
            "0\n" => assert!(started.elapsed() < DEADLINE, "nobody subscribed to {topic}"),
            other => panic!("unexpected pub output {other:?}"),
        }
    }
}

/// Starts `client ARGS...` with its stdout piped, for subscribers.
fn spawn_client(port: u16, args: &[&str]) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["--port", &port.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the client binary");
    KillOnDrop(child)
}

/// Reads all of `sub`'s stdout and waits for it to exit.
fn finish(mut sub: KillOnDrop) -> (String, std::process::ExitStatus) {
    let mut stdout = String::new();
    let mut reader = BufReader::new(sub.0.stdout.take().unwrap());
    while reader.read_line(&mut stdout).unwrap() > 0 {}
    (stdout, sub.0.wait().unwrap())
}

/// A self-signed certificate for localhost and 127.0.0.1, and its key, as PEM files.
fn self_signed_certificate() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("client-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let cert = rcgen::generate_simple_self_signed(names).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    (cert_file, key_file)
}

#[test]
fn tls_and_passwords_against_redis_server() {
    let (cert, key) = self_signed_certificate();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let port = free_port();
    let args = [
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        cert,
        "--tls-key-file",
        key,
        "--tls-ca-cert-file",
        cert,
        "--tls-auth-clients",
        "no",
        "--requirepass",
        "sesame",
    ];
    let Some((_redis, port)) = start_redis_with(port, &args) else {
        panic!("redis-server is not installed (apt-get install redis-server)");
    };
    let run = |args: &[&str], pass: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_client"));
        command.args(["--port", &port.to_string()]).args(args);
        match pass {
            Some(pass) => command.env("SWITCHBOARD_PASS", pass),
            None => command.env_remove("SWITCHBOARD_PASS"),
        };
        command.output().unwrap()
    };
    let out = run(&["--tls", "--cacert", cert, "ping"], Some("sesame"));
    assert_eq!(text(&out.stdout), "PONG\n", "{}", text(&out.stderr));
    let out = run(
        &["--tls", "--cacert", cert, "--user", "default", "--pass", "sesame", "pub", "a", "b"],
        None,
    );
    assert_eq!(text(&out.stdout), "0\n", "{}", text(&out.stderr));
    let out = run(&["--tls", "--insecure", "echo", "hi"], Some("sesame"));
    assert_eq!(text(&out.stdout), "hi\n", "{}", text(&out.stderr));
    assert_fails_with(
        &run(&["--tls", "--cacert", cert, "ping"], Some("wrong")),
        "client: AUTH failed: WRONGPASS",
    );
    assert_fails_with(&run(&["--tls", "--cacert", cert, "ping"], None), "client: NOAUTH");
    assert_fails_with(&run(&["--tls", "ping"], Some("sesame")), "client: TLS needs --cacert");
    // The plain protocol on the TLS port: the handshake never happens.
    assert_fails_with(&run(&["ping"], Some("sesame")), "client: ");
}

#[test]
fn against_redis_server() {
    let Some((_redis, port)) = start_redis() else {
        eprintln!("note: redis-server is not on PATH, skipping the test against it");
        return;
    };

    let ok = |args: &[&str]| {
        let out = client(port, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(ok(&["ping"]), "PONG\n");
    assert_eq!(ok(&["ping", "hello"]), "hello\n");
    assert_eq!(ok(&["echo", "hi there"]), "hi there\n");
    assert_eq!(ok(&["pub", "nobody-listens", "x"]), "0\n");
    let info = ok(&["info", "server", "STATS"]);
    assert!(info.starts_with("# Server\n") && info.contains("\n# Stats\n"), "{info}");
    assert!(info.contains("\nredis_version:") && !info.contains('\r'), "{info}");
    assert!(info.ends_with('\n') && !info.ends_with("\n\n"), "{info}");

    let sub = spawn_client(port, &["sub", "news", "--count", "2"]);
    publish_to_one(port, "news", "first");
    publish_to_one(port, "news", "second message");
    let (stdout, status) = finish(sub);
    assert!(status.success(), "{status}");
    assert_eq!(stdout, "news first\nnews second message\n");

    let psub = spawn_client(port, &["psub", "n*", "--count", "1"]);
    publish_to_one(port, "nature", "rain");
    let (stdout, status) = finish(psub);
    assert!(status.success(), "{status}");
    assert_eq!(stdout, "n* nature rain\n");
}
