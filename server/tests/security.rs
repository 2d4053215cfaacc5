//! Who may connect and what they may touch: passwords (`--requirepass`), users from an ACL
//! file, channel permissions, a subscriber losing a channel, protected mode, and the metrics
//! endpoint's own address; checked with raw bytes, against redis-server 7 byte for byte, and
//! through the `redis` crate and redis-py.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;

use crate::util::{info_field, scratch_dir, Conn, RedisServer, TestServer};

const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const NOPERM_CHANNEL: &[u8] =
    b"-NOPERM this user has no permissions to access one of the channels used as arguments\r\n";

/// An ACL file holding `text`, in a fresh directory.
pub fn acl_file(name: &str, text: &str) -> PathBuf {
    let path = scratch_dir(name).join("users.acl");
    std::fs::write(&path, text).unwrap();
    path
}

const USERS: &str = "\
# the users of the permission tests
user default on nopass ~* &* +@all
user alice on >wonderland resetchannels &news.* &chat +@all
user bob off >builder +@all
user carol on >c resetchannels &chat -@all +ping +subscribe +acl|whoami
";

/// Reads one reply's worth of bytes: what `Conn::expect` would need to know in advance.
fn reply(conn: &mut Conn, args: &[&[u8]]) -> Vec<u8> {
    conn.cmd(args);
    conn.frame().to_bytes(shared::RespVersion::Resp2)
}

/// The request stream both servers get in the byte-for-byte comparison, each line one
/// request; the password is `pw`.
const SCRIPT: &[&[&str]] = &[
    &["PING"],
    &["SUBSCRIBE", "news"],
    &["PUBLISH", "news", "x"],
    &["ACL", "WHOAMI"],
    &["HELLO"],
    &["HELLO", "3"],
    &["HELLO", "2", "SETNAME", "x"],
    &["HELLO", "3", "AUTH", "default", "wrong"],
    &["HELLO", "3", "AUTH", "nosuchuser", "pw"],
    &["NOSUCHCOMMAND"],
    &["PING", "a", "b"],
    &["AUTH"],
    &["AUTH", "a", "b", "c"],
    &["AUTH", "wrong"],
    &["AUTH", "default", "wrong"],
    &["AUTH", "nosuchuser", "pw"],
    &["AUTH", "pw"],
    &["PING"],
    &["ACL", "WHOAMI"],
    &["ACL", "USERS"],
    &["AUTH", "default", "pw"],
    &[
        "ACL",
        "SETUSER",
        "sub",
        "on",
        ">s",
        "resetchannels",
        "&news.*",
        "-@all",
        "+subscribe",
        "+psubscribe",
        "+acl|whoami",
    ],
    &["ACL", "SETUSER", "sub", "bogus"],
    &["ACL", "SETUSER", "sub", "#abc"],
    &["AUTH", "sub", "s"],
    &["ACL", "WHOAMI"],
    &["PING"],
    &["ACL", "USERS"],
    &["SUBSCRIBE", "other"],
    &["SUBSCRIBE", "news.a", "other"],
    &["PSUBSCRIBE", "news.a*"],
    &["PSUBSCRIBE", "news.*"],
    &["SUBSCRIBE", "news.a"],
    &["RESET"],
    &["PING"],
    &["QUIT"],
];

/// Sends `SCRIPT` to `addr` in one write and returns everything the server answered until it
/// closed (the script ends with QUIT).
fn run_script(addr: SocketAddr) -> Vec<u8> {
    let mut out = Vec::new();
    for args in SCRIPT {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        shared::resp::encode_command(&mut out, &args);
    }
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(crate::util::PATIENCE)).unwrap();
    stream.write_all(&out).unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut got).expect("the server closes after QUIT");
    got
}

/// A non-loopback IPv4 address of this machine, if it has one.
fn outside_address() -> Option<IpAddr> {
    let mut found = None;
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we only read and then free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut addrs) != 0 {
            return None;
        }
        let mut cur = addrs;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && found.is_none() {
                    found = Some(IpAddr::V4(ip));
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(addrs);
    }
    found
}

/// Raw requests that each end in the server closing the connection, for a server whose
/// password is `pw`: the limits before AUTH and HELLO's reading of its version.
fn unauthenticated_scripts() -> Vec<Vec<u8>> {
    let quit = b"*1\r\n$4\r\nQUIT\r\n";
    let mut longest = b"*1\r\n$16384\r\n".to_vec();
    longest.extend_from_slice(&[b'x'; 16384]);
    longest.extend_from_slice(b"\r\n");
    longest.extend_from_slice(quit);
    let mut authenticated = b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n$4\r\nECHO\r\n".to_vec();
    for _ in 0..10 {
        authenticated.extend_from_slice(b"$1\r\na\r\n");
    }
    authenticated.extend_from_slice(b"*2\r\n$4\r\nECHO\r\n$16385\r\n");
    authenticated.extend_from_slice(&[b'y'; 16385]);
    authenticated.extend_from_slice(b"\r\n");
    authenticated.extend_from_slice(quit);
    let mut hello = Vec::new();
    for version in ["03", "+3", "3.0", " 3", "-0", "4", "2"] {
        shared::resp::encode_command(&mut hello, &[&b"HELLO"[..], version.as_bytes()]);
    }
    hello.extend_from_slice(b"HELLO +3\r\n*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\nHELLO 03\r\n");
    hello.extend_from_slice(quit);
    vec![
        b"*11\r\n".to_vec(),
        b"*100000\r\n".to_vec(),
        b"*10\r\n$1\r\na\r\n$16385\r\n".to_vec(),
        b"*1\r\n$400000000\r\n".to_vec(),
        longest,
        authenticated,
        hello,
    ]
}

/// Sends `request` to `addr` in one write and returns everything the server answered until it
/// closed.
fn until_closed(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(crate::util::PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut got).expect("the server closes");
    got
}

backend_tests! {
    fn unauthenticated_limits_answer_as_redis_server(backend) {
        let redis = RedisServer::start(&["--requirepass", "pw"]);
        let ours = TestServer::with(backend, |c| c.requirepass = Some("pw".into()));
        for script in unauthenticated_scripts() {
            let want = until_closed(redis.addr, &script);
            let got = until_closed(ours.addr(), &script);
            let head = String::from_utf8_lossy(&script[..script.len().min(40)]).into_owned();
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{head:?}");
        }
        // Without a password nothing is limited before AUTH: 11 arguments are a request.
        let open = TestServer::start(backend);
        let mut conn = open.connect();
        let mut args: Vec<&[u8]> = vec![b"PUBLISH"];
        args.extend(std::iter::repeat_n(&b"a"[..], 10));
        conn.roundtrip(&args, b"-ERR wrong number of arguments for 'publish' command\r\n");
    }

    fn unauthenticated_connections_are_closed_at_the_auth_timeout(backend) {
        let server = TestServer::with(backend, |c| {
            c.requirepass = Some("pw".into());
            c.auth_timeout = std::time::Duration::from_millis(200);
        });
        let mut partial = server.connect();
        partial.send(b"*1\r\n$4\r\nPI");
        let mut silent = server.connect();
        let mut member = server.connect();
        member.roundtrip(&[b"AUTH", b"pw"], b"+OK\r\n");
        partial.expect(b"-ERR request not completed within the timeout (0.2s)\r\n");
        partial.expect_closed();
        silent.expect_closed();
        // Both were closed at the timeout; the authenticated connection, as old, still answers.
        member.roundtrip(&[b"PING"], b"+PONG\r\n");
    }

    fn requirepass_gates_everything_until_auth(backend) {
        let server = TestServer::with(backend, |c| c.requirepass = Some("pw".into()));
        let mut conn = server.connect();
        conn.roundtrip(&[b"PING"], NOAUTH);
        conn.roundtrip(&[b"SUBSCRIBE", b"news"], NOAUTH);
        conn.roundtrip(&[b"PUBLISH", b"news", b"x"], NOAUTH);
        // HELLO with a wrong password never answers with the HELLO map.
        conn.roundtrip(&[b"HELLO", b"3", b"AUTH", b"default", b"nope"], WRONGPASS);
        conn.roundtrip(&[b"HELLO", b"3", b"AUTH", b"nosuchuser", b"pw"], WRONGPASS);
        conn.roundtrip(&[b"AUTH", b"nope"], WRONGPASS);
        conn.roundtrip(&[b"PING"], NOAUTH);
        conn.roundtrip(&[b"AUTH", b"pw"], b"+OK\r\n");
        conn.roundtrip(&[b"PING"], b"+PONG\r\n");
        conn.roundtrip(&[b"ACL", b"WHOAMI"], b"$7\r\ndefault\r\n");
        // RESET logs out.
        conn.roundtrip(&[b"RESET"], b"+RESET\r\n");
        conn.roundtrip(&[b"PING"], NOAUTH);
        // HELLO 3 AUTH ... SETNAME: authenticated, RESP3, named, in one request.
        conn.cmd(&[b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"me"]);
        let shared::Frame::Map(fields) = conn.frame() else { panic!("HELLO answers a map") };
        assert!(fields.contains(&(shared::Frame::bulk("proto"), shared::Frame::Integer(3))));
        conn.roundtrip(&[b"CLIENT", b"GETNAME"], b"$2\r\nme\r\n");
        // Three wrong passwords and three commands before AUTH were refused and counted.
        assert_eq!(info_field(&mut conn, "acl_access_denied_auth"), 3 + 5);
        let ctx = server.stop();
        assert_eq!(ctx.stats.acl_denied_auth.get(), 8);
    }

    fn requirepass_answers_byte_for_byte_as_redis_server(backend) {
        let redis = RedisServer::start(&["--requirepass", "pw"]);
        let ours = TestServer::with(backend, |c| c.requirepass = Some("pw".into()));
        let want = run_script(redis.addr);
        let got = run_script(ours.addr());
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
    }

    fn users_and_channel_permissions_from_an_acl_file(backend) {
        let path = acl_file("permissions", USERS);
        let server = TestServer::with(backend, |c| c.aclfile = Some(path.clone()));
        let mut conn = server.connect();
        // The default user needs no password here.
        conn.roundtrip(&[b"PING"], b"+PONG\r\n");
        conn.roundtrip(&[b"AUTH", b"x"], b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n");
        conn.roundtrip(&[b"AUTH", b"bob", b"builder"], WRONGPASS); // disabled
        conn.roundtrip(&[b"AUTH", b"alice", b"Wonderland"], WRONGPASS);
        conn.roundtrip(&[b"AUTH", b"alice", b"wonderland"], b"+OK\r\n");
        conn.roundtrip(&[b"ACL", b"WHOAMI"], b"$5\r\nalice\r\n");
        conn.roundtrip(&[b"PUBLISH", b"news.sport", b"goal"], b":0\r\n");
        conn.roundtrip(&[b"PUBLISH", b"weather", b"rain"], NOPERM_CHANNEL);
        conn.roundtrip(&[b"SUBSCRIBE", b"chat", b"weather"], NOPERM_CHANNEL);
        // PSUBSCRIBE needs the pattern itself among the user's.
        conn.roundtrip(&[b"PSUBSCRIBE", b"news.s*"], NOPERM_CHANNEL);
        conn.roundtrip(&[b"PSUBSCRIBE", b"*"], NOPERM_CHANNEL);
        conn.roundtrip(&[b"PSUBSCRIBE", b"news.*"], b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n");
        conn.roundtrip(&[b"SUBSCRIBE", b"chat"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nchat\r\n:2\r\n");
        // carol may run three commands.
        let mut carol = server.connect();
        carol.roundtrip(&[b"AUTH", b"carol", b"c"], b"+OK\r\n");
        carol.roundtrip(&[b"PING"], b"+PONG\r\n");
        carol.roundtrip(&[b"PUBLISH", b"chat", b"hi"], b"-NOPERM this user has no permissions to run the 'publish' command\r\n");
        carol.roundtrip(&[b"ACL", b"USERS"], b"-NOPERM this user has no permissions to run the 'acl|users' command\r\n");
        carol.roundtrip(&[b"ACL", b"WHOAMI"], b"$5\r\ncarol\r\n");
        let mut admin = server.connect();
        admin.roundtrip(&[b"PUBLISH", b"chat", b"hi"], b":1\r\n");
        conn.expect(&crate::util::message(b"chat", b"hi"));
        assert_eq!(
            reply(&mut admin, &[b"ACL", b"USERS"]),
            b"*4\r\n$5\r\nalice\r\n$3\r\nbob\r\n$5\r\ncarol\r\n$7\r\ndefault\r\n"
        );
        let list = reply(&mut admin, &[b"ACL", b"LIST"]);
        let list = String::from_utf8_lossy(&list);
        assert!(list.contains("user alice on #") && list.contains(" resetchannels &news.* &chat +@all"), "{list}");
        assert!(list.contains("user bob off #") && list.contains("user default on nopass ~* &* +@all"), "{list}");
        assert!(!list.contains("wonderland"), "passwords are never shown: {list}");
        assert_eq!(info_field(&mut admin, "acl_access_denied_channel"), 4);
        assert_eq!(info_field(&mut admin, "acl_access_denied_cmd"), 2);
        assert_eq!(info_field(&mut admin, "acl_access_denied_auth"), 2);
    }

    fn a_subscriber_whose_user_loses_the_channel_is_disconnected(backend) {
        let path = acl_file("revoke", USERS);
        let server = TestServer::with(backend, |c| c.aclfile = Some(path.clone()));
        let login = |conn: &mut Conn| conn.roundtrip(&[b"AUTH", b"alice", b"wonderland"], b"+OK\r\n");
        let (mut channel, mut pattern, mut idle, mut admin) =
            (server.connect(), server.connect(), server.connect(), server.connect());
        for conn in [&mut channel, &mut pattern, &mut idle] {
            login(conn);
        }
        channel.roundtrip(&[b"SUBSCRIBE", b"news.a"], b"*3\r\n$9\r\nsubscribe\r\n$6\r\nnews.a\r\n:1\r\n");
        pattern.roundtrip(&[b"PSUBSCRIBE", b"news.*"], b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n");
        // `news.a` is still allowed, the pattern `news.*` no longer is: only that subscriber
        // is cut off, as by redis-server 7.
        admin.roundtrip(&[b"ACL", b"SETUSER", b"alice", b"resetchannels", b"&news.a"], b"+OK\r\n");
        pattern.expect_closed();
        channel.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        idle.roundtrip(&[b"PING"], b"+PONG\r\n");
        idle.roundtrip(&[b"SUBSCRIBE", b"news.b"], NOPERM_CHANNEL);
        // ACL LOAD with a file that takes `news.a` away too.
        std::fs::write(&path, USERS.replace("&news.* &chat", "&chat")).unwrap();
        admin.roundtrip(&[b"ACL", b"LOAD"], b"+OK\r\n");
        channel.expect_closed();
        idle.roundtrip(&[b"PING"], b"+PONG\r\n");
        admin.roundtrip(&[b"PUBLISH", b"news.a", b"x"], b":0\r\n");
        // A broken file changes nothing and says where it is wrong.
        std::fs::write(&path, "user alice on\nuser x +nosuchcommand\n").unwrap();
        let err = reply(&mut admin, &[b"ACL", b"LOAD"]);
        let want = format!("-ERR {}:2: Error in user declaration '+nosuchcommand': Unknown command or category name in ACL\r\n", path.display());
        assert_eq!(String::from_utf8_lossy(&err), want);
        idle.roundtrip(&[b"ACL", b"WHOAMI"], b"$5\r\nalice\r\n");
        let ctx = server.stop();
        crate::util::assert_accounted(&ctx);
    }

    fn passwords_through_the_redis_crate(backend) {
        let path = acl_file("redis-crate", USERS);
        let server = TestServer::with(backend, |c| c.aclfile = Some(path.clone()));
        for proto in ["", "?protocol=resp3"] {
            let url = format!("redis://alice:wonderland@{}/{proto}", server.addr());
            let mut con = redis::Client::open(url).unwrap().get_connection().expect("logs in");
            let me: String = redis::cmd("ACL").arg("WHOAMI").query(&mut con).unwrap();
            assert_eq!(me, "alice");
            let err = redis::cmd("PUBLISH").arg("weather").arg("x").query::<i64>(&mut con).unwrap_err();
            assert!(err.to_string().contains("no permissions"), "{err}");
            let url = format!("redis://alice:wrong@{}/{proto}", server.addr());
            let err = redis::Client::open(url).unwrap().get_connection().err().expect("refused");
            // The crate's words for WRONGPASS (after AUTH; after HELLO it shows the code).
            let text = err.to_string();
            assert!(text.contains("authentication failed") || text.contains("WRONGPASS"), "{proto}: {err}");
        }
    }

    fn passwords_through_redis_py(backend) {
        let path = acl_file("redis-py", USERS);
        let server = TestServer::with(backend, |c| c.aclfile = Some(path.clone()));
        let script = r#"
import sys, redis
port = int(sys.argv[1])
for proto in (2, 3):
    r = redis.Redis(port=port, username="alice", password="wonderland", protocol=proto)
    assert r.acl_whoami() in ("alice", b"alice"), proto
    assert r.publish("news.x", "hi") == 0
    try:
        r.publish("weather", "x"); raise SystemExit("published without permission")
    except redis.exceptions.NoPermissionError:
        pass
    try:
        redis.Redis(port=port, username="alice", password="bad", protocol=proto).ping()
        raise SystemExit("logged in with a wrong password")
    except redis.exceptions.AuthenticationError:
        pass
print("ok")
"#;
        assert_eq!(crate::util::python(script, &[server.addr().port().to_string()]), "ok\n");
    }

    fn protected_mode_refuses_outsiders_over_a_socket(backend) {
        // The machine's own non-loopback address is a peer outside loopback (a second
        // loopback address would not be).
        let Some(outside) = outside_address() else {
            panic!("this test needs a non-loopback IPv4 address on the machine");
        };
        let any = "0.0.0.0".parse().unwrap();
        let server = TestServer::with(backend, |c| c.bind = any);
        let target = SocketAddr::new(outside, server.addr().port());
        let mut conn = Conn::new(TcpStream::connect(target).unwrap());
        assert_ne!(conn.stream.local_addr().unwrap().ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
        conn.cmd(&[b"PING"]);
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut conn.stream, &mut text);
        let text = String::from_utf8_lossy(&text);
        assert!(text.starts_with("-DENIED Switchboard is running in protected mode") && text.ends_with("outside.\r\n"), "{text}");
        // From loopback the same server serves.
        let mut local = Conn::new(TcpStream::connect(("127.0.0.1", server.addr().port())).unwrap());
        local.roundtrip(&[b"PING"], b"+PONG\r\n");
        drop(server);
        // With a password, or protected mode off, outsiders are served.
        let server = TestServer::with(backend, |c| { c.bind = any; c.requirepass = Some("pw".into()) });
        let mut conn = Conn::new(TcpStream::connect((outside, server.addr().port())).unwrap());
        conn.roundtrip(&[b"PING"], NOAUTH);
        let server = TestServer::with(backend, |c| { c.bind = any; c.protected_mode = false });
        let mut conn = Conn::new(TcpStream::connect((outside, server.addr().port())).unwrap());
        conn.roundtrip(&[b"PING"], b"+PONG\r\n");
        // The metrics endpoint stays on loopback whatever --bind says.
        let server = TestServer::with(backend, |c| { c.bind = any; c.protected_mode = false; c.metrics_port = Some(0) });
        let metrics = server.metrics_addr().unwrap();
        assert!(metrics.ip().is_loopback(), "{metrics}");
        assert!(TcpStream::connect((outside, metrics.port())).is_err(), "metrics reachable from outside");
    }
}

/// `--protected-mode yes|no` on the command line (the binary), seen from outside loopback.
#[test]
fn protected_mode_is_set_from_the_command_line() {
    let outside = outside_address().expect("a non-loopback IPv4 address on the machine");
    for (value, want) in [("no", &b"+PONG\r\n"[..]), ("yes", b"-DENIED Switchboard")] {
        let args = ["--bind", "0.0.0.0", "--protected-mode", value];
        let server = crate::faults::ChildServer::start(server::Backend::Event, &args);
        let mut conn = Conn::new(TcpStream::connect((outside, server.port())).unwrap());
        conn.cmd(&[b"PING"]);
        let mut got = vec![0; want.len()];
        std::io::Read::read_exact(&mut conn.stream, &mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want), "{value}");
    }
}

#[test]
fn a_broken_acl_file_stops_the_server_with_one_line() {
    let path = acl_file("broken", "user alice on >pw\nuser bob on #nothex\n");
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--port", "0", "--log-level", "error", "--aclfile"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "server: {}:2: Error in user declaration '#nothex': The password hash must be \
             exactly 64 characters and contain only lowercase hexadecimal characters\n",
            path.display()
        )
    );
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--port", "0", "--log-level", "error", "--aclfile", "/nonexistent/users.acl"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "server: cannot read the ACL file /nonexistent/users.acl: No such file or directory (os \
         error 2)\n"
    );
}
