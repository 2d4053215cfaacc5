//! MONITOR, the exchange's tap, over real sockets: the lines byte-compared with redis-server's
//! (all but the time and the port), `redis-cli monitor` as the real client, and a monitor that
//! does not read cut off as a slow consumer with nothing left behind.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use shared::resp::encode_command;

use crate::util::{assert_accounted, wait_for, Conn, RedisServer, TestServer};

/// What every server is sent (connection, arguments, whether its reply is compared too):
/// plain commands, quoting, redactions, administrative commands (never shown), refused ones
/// (never shown), MULTI/EXEC, MONITOR inside EXEC and in subscribed mode, SELECT, RESET, QUIT.
const SCRIPT: &[(usize, &[&[u8]], bool)] = &[
    (0, &[b"PING"], true),
    (0, &[b"ECHO", b"a \"b\" \\c\n\r\t\x07\x08\x01\xff\xc3\xa9"], true),
    (0, &[b"publish", b"ch", b"m"], true),
    (0, &[b"AUTH", b"secret"], true),
    (0, &[b"AUTH", b"default", b"any"], true),
    (0, &[b"HELLO", b"2", b"AUTH", b"default", b"any", b"SETNAME", b"n1"], false),
    (0, &[b"CLIENT", b"SETNAME", b"n2"], true),
    (0, &[b"CLIENT", b"LIST"], false),
    (0, &[b"CONFIG", b"GET", b"timeout"], false),
    (0, &[b"ACL", b"WHOAMI"], true),
    (0, &[b"ACL", b"DELUSER", b"nobody"], true),
    (0, &[b"NOSUCH", b"x"], false),
    (0, &[b"PUBLISH", b"a"], true),
    (1, &[b"MULTI"], true),
    (1, &[b"publish", b"a", b"b"], true),
    (1, &[b"pubsub", b"NumSub", b"a"], true),
    (1, &[b"MONITOR"], true),
    (1, &[b"EXEC"], true),
    (1, &[b"SELECT", b"3"], true),
    (1, &[b"PUBLISH", b"z", b"1"], true),
    (1, &[b"SUBSCRIBE", b"x"], true),
    (1, &[b"MONITOR"], true),
    (1, &[b"PING"], true),
    (1, &[b"RESET"], true),
    (1, &[b"QUIT"], true),
];

/// Runs [`SCRIPT`] against the server at `addr` with two monitors attached (one RESP2, one
/// RESP3); returns the replies compared, and the lines each monitor saw, with the time and
/// the ports replaced by the order the connections appear in.
fn run_script(addr: SocketAddr) -> (Vec<Vec<u8>>, [Vec<String>; 2]) {
    let connect = || Conn::new(TcpStream::connect(addr).unwrap());
    let mut monitors = [connect(), connect()];
    monitors[1].cmd(&[b"HELLO", b"3"]);
    monitors[1].frame();
    for monitor in &mut monitors {
        monitor.roundtrip(&[b"MONITOR"], b"+OK\r\n");
    }
    let mut conns = [connect(), connect()];
    let mut replies = Vec::new();
    for &(at, args, compared) in SCRIPT {
        conns[at].cmd(args);
        let reply = conns[at].raw_frame();
        if compared {
            replies.push(reply);
        }
    }
    // The end: a line from a connection of its own, then both monitors read up to it.
    connect().roundtrip(&[b"ECHO", b"end"], b"$3\r\nend\r\n");
    let seen = monitors.map(|mut monitor| {
        let mut lines = Vec::new();
        let mut ports = Vec::new();
        loop {
            let line = monitor.raw_frame();
            let text = String::from_utf8_lossy(&line).into_owned();
            let done = text.ends_with("\"ECHO\" \"end\"\r\n");
            // "+1339518083.107412 [0 127.0.0.1:60866] ..." -> "+T [0 #2] ..."
            let (_, rest) = text.split_once(" [").expect("a monitor line");
            let (db_addr, args) = rest.split_once("] ").unwrap();
            let (db, addr) = db_addr.split_once(' ').unwrap();
            let port = addr.rsplit_once(':').unwrap().1.to_string();
            let n = ports.iter().position(|p| *p == port).unwrap_or_else(|| {
                ports.push(port);
                ports.len() - 1
            });
            lines.push(format!("+T [{db} #{n}] {args}"));
            if done {
                return lines;
            }
        }
    });
    (replies, seen)
}

backend_tests! {
    fn monitor_lines_are_redis_servers(backend) {
        let redis = RedisServer::start(&[]);
        let (their_replies, theirs) = run_script(redis.addr);
        let server = TestServer::start(backend);
        let (our_replies, ours) = run_script(server.addr());
        assert_eq!(our_replies.len(), their_replies.len());
        assert_eq!(theirs[0].len(), 19, "what redis-server shows: {theirs:#?}");
        for (i, (ours, theirs)) in our_replies.iter().zip(&their_replies).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(ours),
                String::from_utf8_lossy(theirs),
                "reply {i}"
            );
        }
        assert_eq!(ours[0], theirs[0], "the RESP2 monitor's lines");
        assert_eq!(ours[1], theirs[1], "the RESP3 monitor's lines");
        assert!(ours[0].iter().any(|l| l.contains("\"AUTH\" \"(redacted)\"")), "{ours:?}");
        assert!(!ours[0].iter().any(|l| l.contains("CONFIG") || l.contains("DELUSER")));
        let ctx = server.stop();
        assert!(!ctx.exchange.monitored(), "the monitors left with their connections");
        assert_accounted(&ctx);
    }

    fn redis_cli_monitor_shows_every_command(backend) {
        let server = TestServer::start(backend);
        let mut cli = Command::new("redis-cli")
            .args(["-p", &server.addr().port().to_string(), "monitor"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli runs (apt-get install redis-tools)");
        let out = BufReader::new(cli.stdout.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in out.lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        let mut c = server.connect();
        // Asked until redis-cli shows it: it may not have run MONITOR yet.
        wait_for("redis-cli monitor shows a PUBLISH", true, || {
            c.cmd(&[b"PUBLISH", b"news", b"hello world"]);
            c.frame();
            lines.lock().unwrap().iter().any(|l| l.ends_with("\"PUBLISH\" \"news\" \"hello world\""))
        });
        c.roundtrip(&[b"AUTH", b"default", b"x"], b"+OK\r\n");
        wait_for("redis-cli monitor shows AUTH redacted", true, || {
            lines.lock().unwrap().iter().any(|l| l.ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\""))
        });
        let first = lines.lock().unwrap()[0].clone();
        assert_eq!(first, "OK");
        let line = lines.lock().unwrap()[1].clone();
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(time.split_once('.').is_some_and(|(s, us)| s.len() >= 10 && us.len() == 6), "{line}");
        assert!(rest.starts_with("[0 127.0.0.1:"), "{line}");
        cli.kill().unwrap();
        cli.wait().unwrap();
        reader.join().unwrap();
        let ctx = server.stop_ref();
        wait_for("the monitor left", false, || ctx.exchange.monitored());
    }

    fn a_monitor_that_does_not_read_is_cut_off_as_a_slow_consumer(backend) {
        let server = TestServer::with(backend, |c| c.client_output_buffer_limit = 256 * 1024);
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&server.addr().into()).unwrap();
        let mut monitor = Conn::new(TcpStream::from(socket));
        monitor.roundtrip(&[b"MONITOR"], b"+OK\r\n");
        // 8 MB of lines while it reads nothing: far past its 256 KB limit.
        let payload = vec![b'x'; 8 * 1024];
        let mut c = server.connect();
        let mut batch = Vec::new();
        for _ in 0..1000 {
            encode_command(&mut batch, &[&b"ECHO"[..], &payload]);
        }
        c.send(&batch);
        for _ in 0..1000 {
            c.frame();
        }
        let ctx = server.stop_ref();
        wait_for("the slow monitor is cut off", false, || ctx.exchange.monitored());
        assert_eq!(ctx.stats.slow_consumers.get(), 1);
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut monitor.stream, &mut rest);
        assert!(rest.len() < 1000 * payload.len(), "it was cut off before the end");
        let ctx = server.stop();
        let (_, dropped) = assert_accounted(&ctx);
        assert!(dropped > 0, "the lines it never got are counted");
    }
}
