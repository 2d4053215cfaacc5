//! Per-command figures, latency histograms and the slow log, compared with redis-server 7.0
//! over raw sockets: the slow log's entries (all but id, time, duration and port), the
//! commandstats' counts, the shapes of `INFO latencystats` and `LATENCY HISTOGRAM`, the errors;
//! and `redis-cli --latency-history` run against the server.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use shared::Frame;

use crate::util::{Conn, RedisServer, TestServer};

/// A connection to `addr`, in RESP3 when asked (its HELLO reply read).
fn connect(addr: SocketAddr, resp3: bool) -> Conn {
    let mut c = Conn::new(TcpStream::connect(addr).unwrap());
    if resp3 {
        c.cmd(&[b"HELLO", b"3"]);
        c.frame();
    }
    c
}

/// Sends `args` and returns the reply.
fn ask(c: &mut Conn, args: &[&[u8]]) -> Frame {
    c.cmd(args);
    c.frame()
}

/// `INFO section` as text.
fn info(c: &mut Conn, section: &[u8]) -> String {
    let Frame::Bulk(text) = ask(c, &[b"INFO", section]) else { panic!("INFO is a bulk string") };
    String::from_utf8(text.to_vec()).unwrap()
}

/// The requests whose slow log entries are compared: a name set, a long argument, secrets,
/// more than 32 arguments.
fn slow_requests() -> Vec<Vec<Vec<u8>>> {
    let long = vec![b'x'; 200];
    let mut numsub: Vec<Vec<u8>> = vec![b"PUBSUB".to_vec(), b"NUMSUB".to_vec()];
    numsub.extend((0..40).map(|i| format!("ch{i}").into_bytes()));
    vec![
        vec![b"CLIENT".to_vec(), b"SETNAME".to_vec(), b"slow".to_vec()],
        vec![b"PING".to_vec()],
        vec![b"publish".to_vec(), b"ch".to_vec(), long],
        vec![b"AUTH".to_vec(), b"secret".to_vec()],
        vec![b"AUTH".to_vec(), b"user".to_vec(), b"secret".to_vec()],
        vec![b"HELLO".to_vec(), b"2".to_vec(), b"AUTH".to_vec(), b"u".to_vec(), b"p".to_vec()],
        numsub,
        // EXEC is not logged, the commands it runs are.
        vec![b"MULTI".to_vec()],
        vec![b"PING".to_vec(), b"queued".to_vec()],
        vec![b"EXEC".to_vec()],
    ]
}

/// The slow log after [`slow_requests`] on a server logging everything, each entry without
/// its id, time and duration, and with its port replaced by `PORT`.
fn slow_log(addr: SocketAddr) -> Vec<Frame> {
    let mut c = connect(addr, false);
    ask(&mut c, &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"]);
    ask(&mut c, &[b"SLOWLOG", b"RESET"]);
    for request in slow_requests() {
        let args: Vec<&[u8]> = request.iter().map(Vec::as_slice).collect();
        ask(&mut c, &args);
    }
    // A refused command (arity) and an unknown one are not logged.
    ask(&mut c, &[b"PUBLISH"]);
    ask(&mut c, &[b"NOSUCH"]);
    let Frame::Array(entries) = ask(&mut c, &[b"SLOWLOG", b"GET", b"-1"]) else {
        panic!("SLOWLOG GET is an array")
    };
    let port = c.stream.local_addr().unwrap().port().to_string();
    entries
        .into_iter()
        .map(|entry| {
            let Frame::Array(fields) = entry else { panic!("an entry is an array") };
            assert_eq!(fields.len(), 6);
            for timing in &fields[..3] {
                assert!(matches!(timing, Frame::Integer(n) if *n >= 0), "{fields:?}");
            }
            let Frame::Bulk(peer) = &fields[4] else { panic!("the address is a bulk string") };
            let peer = String::from_utf8_lossy(peer).replace(&port, "PORT");
            Frame::Array(vec![fields[3].clone(), Frame::bulk(peer), fields[5].clone()])
        })
        .collect()
}

/// `cmdstat_<name>` → (calls, rejected_calls, failed_calls), every value's syntax checked.
fn commandstats(text: &str) -> Vec<(String, [u64; 3])> {
    let mut out = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let (name, values) = line.split_once(':').unwrap();
        let name = name.strip_prefix("cmdstat_").unwrap_or_else(|| panic!("{line}"));
        let fields: Vec<(&str, &str)> =
            values.split(',').map(|f| f.split_once('=').unwrap()).collect();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["calls", "usec", "usec_per_call", "rejected_calls", "failed_calls"]);
        let per_call = fields[2].1;
        assert!(per_call.split_once('.').is_some_and(|(_, d)| d.len() == 2), "{line}");
        per_call.parse::<f64>().unwrap();
        fields[1].1.parse::<u64>().unwrap();
        let n = |i: usize| fields[i].1.parse::<u64>().unwrap();
        out.push((name.to_string(), [n(0), n(3), n(4)]));
    }
    out.sort();
    out
}

/// The commandstats counts after the same fixed commands.
fn counted(addr: SocketAddr) -> Vec<(String, [u64; 3])> {
    let mut c = connect(addr, false);
    ask(&mut c, &[b"CONFIG", b"RESETSTAT"]);
    for _ in 0..3 {
        ask(&mut c, &[b"PING"]);
    }
    ask(&mut c, &[b"PUBLISH", b"ch", b"m"]);
    ask(&mut c, &[b"PUBLISH", b"ch", b"m"]);
    ask(&mut c, &[b"PUBLISH"]); // rejected: arity
    ask(&mut c, &[b"LATENCY", b"GRAPH", b"command"]); // failed: an error reply
    ask(&mut c, &[b"CLIENT", b"ID"]);
    ask(&mut c, &[b"NOSUCH"]); // not counted anywhere
    ask(&mut c, &[b"MULTI"]);
    ask(&mut c, &[b"PING"]); // counted when EXEC runs it
    ask(&mut c, &[b"EXEC"]);
    ask(&mut c, &[b"SUBSCRIBE", b"ch"]);
    ask(&mut c, &[b"CLIENT", b"ID"]); // rejected: subscribed mode
    commandstats(&info(&mut connect(addr, false), b"commandstats"))
}

backend_tests! {
    fn slowlog_entries_match_redis(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let ours = slow_log(server.addr());
        assert_eq!(ours.len(), 9 + 1, "every request but EXEC, and SLOWLOG RESET");
        assert_eq!(ours, slow_log(redis.addr));
        // The ring keeps the newest slowlog-max-len entries.
        let mut c = server.connect();
        c.roundtrip(&[b"CONFIG", b"SET", b"slowlog-max-len", b"2"], b"+OK\r\n");
        c.roundtrip(&[b"SLOWLOG", b"LEN"], b":2\r\n");
        c.roundtrip(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"], b"+OK\r\n");
        c.roundtrip(&[b"SLOWLOG", b"RESET"], b"+OK\r\n");
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
        c.roundtrip(&[b"SLOWLOG", b"LEN"], b":0\r\n");
    }

    fn commandstats_count_like_redis(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let ours = counted(server.addr());
        assert!(ours.contains(&("publish".into(), [2, 1, 0])), "{ours:?}");
        assert!(ours.contains(&("ping".into(), [4, 0, 0])), "{ours:?}");
        assert!(ours.contains(&("client|id".into(), [1, 1, 0])), "{ours:?}");
        assert!(ours.contains(&("latency|graph".into(), [1, 0, 1])), "{ours:?}");
        assert_eq!(ours, counted(redis.addr));
        // INFO alone (default) shows neither section; INFO all shows both.
        let mut c = server.connect();
        assert!(!info(&mut c, b"default").contains("cmdstat_"));
        let all = info(&mut c, b"all");
        assert!(all.contains("# Commandstats\r\ncmdstat_"), "{all}");
        assert!(all.contains("# Latencystats\r\nlatency_percentiles_usec_"), "{all}");
    }

    fn commands_refused_before_auth_count_as_rejected_like_redis(backend) {
        let server = TestServer::with(backend, |c| c.requirepass = Some("pw".into()));
        let redis = RedisServer::start(&["--requirepass", "pw"]);
        let counted = |addr: SocketAddr| {
            let mut admin = connect(addr, false);
            ask(&mut admin, &[b"AUTH", b"pw"]);
            ask(&mut admin, &[b"CONFIG", b"RESETSTAT"]);
            let mut c = connect(addr, false);
            ask(&mut c, &[b"PING"]); // NOAUTH: rejected
            ask(&mut c, &[b"PUBLISH", b"a", b"b"]); // NOAUTH: rejected
            ask(&mut c, &[b"PUBLISH"]); // NOAUTH for a known command, even with wrong arity
            ask(&mut c, &[b"AUTH", b"nope"]); // WRONGPASS: failed
            ask(&mut c, &[b"AUTH", b"pw"]);
            commandstats(&info(&mut admin, b"commandstats"))
        };
        let ours = counted(server.addr());
        assert!(ours.contains(&("publish".into(), [0, 2, 0])), "{ours:?}");
        assert!(ours.contains(&("auth".into(), [2, 0, 1])), "{ours:?}");
        assert_eq!(ours, counted(redis.addr));
    }

    fn latency_shapes_match_redis(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        for addr in [server.addr(), redis.addr] {
            let mut c = connect(addr, false);
            for _ in 0..5 {
                ask(&mut c, &[b"PING"]);
            }
            ask(&mut c, &[b"CONFIG", b"SET", b"latency-tracking-info-percentiles", b"50 99.99 0"]);
            let text = info(&mut c, b"latencystats");
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("latency_percentiles_usec_ping:"))
                .unwrap_or_else(|| panic!("{text}"));
            let fields: Vec<(&str, &str)> =
                line.split(',').map(|f| f.split_once('=').unwrap()).collect();
            let names: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
            assert_eq!(names, ["p50", "p99.99", "p0"], "{line}");
            for (_, value) in fields {
                assert!(value.split_once('.').is_some_and(|(_, d)| d.len() == 3), "{line}");
                assert!(value.parse::<f64>().unwrap() > 0.0, "{line}");
            }
            c.roundtrip(
                &[b"CONFIG", b"GET", b"latency-tracking-info-percentiles"],
                b"*2\r\n$33\r\nlatency-tracking-info-percentiles\r\n$10\r\n50 99.99 0\r\n",
            );
            for resp3 in [false, true] {
                let mut c = connect(addr, resp3);
                let reply = ask(&mut c, &[b"LATENCY", b"HISTOGRAM", b"ping", b"nosuch"]);
                let pairs = |frame: Frame| -> Vec<(Frame, Frame)> {
                    match frame {
                        Frame::Map(pairs) => pairs,
                        Frame::Array(flat) if !resp3 => {
                            let mut flat = flat.into_iter();
                            std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
                        }
                        other => panic!("not a map: {other:?}"),
                    }
                };
                let commands = pairs(reply);
                assert_eq!(commands.len(), 1, "{commands:?}");
                assert_eq!(commands[0].0, Frame::bulk("ping"));
                let body = pairs(commands[0].1.clone());
                assert_eq!(body[0], (Frame::bulk("calls"), Frame::Integer(5)));
                assert_eq!(body[1].0, Frame::bulk("histogram_usec"));
                let buckets = pairs(body[1].1.clone());
                let mut last = (0, 0);
                for (usec, count) in buckets {
                    let (Frame::Integer(usec), Frame::Integer(count)) = (usec, count) else {
                        panic!("buckets are integers")
                    };
                    assert!(usec > last.0 && count > last.1, "{usec} {count} after {last:?}");
                    last = (usec, count);
                }
                assert_eq!(last.1, 5, "the last bucket counts every call");
            }
        }
    }

    fn latency_and_slowlog_replies_are_redis_bytes(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let requests: &[&[&[u8]]] = &[
            &[b"LATENCY", b"LATEST"],
            &[b"LATENCY", b"HISTORY", b"command"],
            &[b"LATENCY", b"RESET"],
            &[b"LATENCY", b"RESET", b"command"],
            &[b"LATENCY", b"GRAPH", b"command"],
            &[b"LATENCY", b"HISTOGRAM", b"nosuch"],
            &[b"LATENCY", b"NOSUCH"],
            &[b"LATENCY", b"DOCTOR", b"x"],
            &[b"LATENCY", b"GRAPH"],
            &[b"SLOWLOG", b"GET", b"x"],
            &[b"SLOWLOG", b"GET", b"-2"],
            &[b"SLOWLOG", b"GET", b"1", b"2"],
            &[b"SLOWLOG", b"LEN", b"1"],
            &[b"SLOWLOG", b"NOSUCH"],
            &[b"SLOWLOG"],
            &[b"CONFIG", b"SET", b"slowlog-max-len", b"-1"],
            &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-5"],
            &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"x"],
            &[b"CONFIG", b"SET", b"latency-tracking", b"maybe"],
            &[b"CONFIG", b"SET", b"latency-tracking-info-percentiles", b"50 101"],
            &[b"CONFIG", b"SET", b"latency-tracking-info-percentiles", b"abc"],
            &[b"CONFIG", b"GET", b"slowlog-max-len"],
            &[b"CONFIG", b"GET", b"slowlog-log-slower-than"],
            &[b"CONFIG", b"GET", b"latency-tracking"],
            &[b"CONFIG", b"GET", b"latency-monitor-threshold"],
            &[b"CONFIG", b"SET", b"latency-monitor-threshold", b"-1"],
            &[b"SLOWLOG", b"RESET"],
            &[b"CONFIG", b"SET", b"latency-tracking", b"no"],
        ];
        for resp3 in [false, true] {
            let mut ours = connect(server.addr(), resp3);
            let mut theirs = connect(redis.addr, resp3);
            for request in requests {
                ours.cmd(request);
                theirs.cmd(request);
                let want = theirs.raw_frame();
                assert_eq!(
                    String::from_utf8_lossy(&ours.raw_frame()),
                    String::from_utf8_lossy(&want),
                    "{:?}",
                    request.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()
                );
            }
        }
        // With latency-tracking off, commands are counted but not timed into histograms.
        let mut c = server.connect();
        c.roundtrip(&[b"CONFIG", b"RESETSTAT"], b"+OK\r\n");
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
        c.roundtrip(&[b"LATENCY", b"HISTOGRAM", b"ping"], b"*0\r\n");
        assert!(info(&mut c, b"commandstats").contains("cmdstat_ping:calls=1,"));
    }

    fn the_latency_monitor_records_commands_past_its_threshold(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.roundtrip(&[b"LATENCY", b"LATEST"], b"*0\r\n");
        c.roundtrip(&[b"CONFIG", b"SET", b"latency-monitor-threshold", b"1"], b"+OK\r\n");
        // A command that takes well over a millisecond: 50,000 channels counted one by one.
        let channels: Vec<Vec<u8>> = (0..50_000).map(|i| format!("ch{i}").into_bytes()).collect();
        let mut args: Vec<&[u8]> = vec![b"PUBSUB", b"NUMSUB"];
        args.extend(channels.iter().map(Vec::as_slice));
        let Frame::Array(counts) = ask(&mut c, &args) else { panic!("NUMSUB is an array") };
        assert_eq!(counts.len(), 100_000);
        let Frame::Array(latest) = ask(&mut c, &[b"LATENCY", b"LATEST"]) else {
            panic!("LATEST is an array")
        };
        let [Frame::Array(event)] = &latest[..] else { panic!("one event: {latest:?}") };
        let [name, Frame::Integer(time), Frame::Integer(last), Frame::Integer(max)] = &event[..]
        else {
            panic!("an event is its name, time, latest and highest latency: {event:?}")
        };
        assert_eq!(name, &Frame::bulk("command"));
        assert!(*time > 1_700_000_000 && *last >= 1 && max >= last, "{event:?}");
        let history = ask(&mut c, &[b"LATENCY", b"HISTORY", b"command"]);
        assert_eq!(
            history,
            Frame::Array(vec![Frame::Array(vec![Frame::Integer(*time), Frame::Integer(*last)])])
        );
        let Frame::Bulk(graph) = ask(&mut c, &[b"LATENCY", b"GRAPH", b"command"]) else {
            panic!("GRAPH is text")
        };
        let graph = String::from_utf8_lossy(&graph).into_owned();
        assert!(graph.starts_with(&format!("command - high {last} ms, low {last} ms")), "{graph}");
        let Frame::Bulk(doctor) = ask(&mut c, &[b"LATENCY", b"DOCTOR"]) else {
            panic!("DOCTOR is text")
        };
        assert!(String::from_utf8_lossy(&doctor).contains("1. command: 1 latency spikes"));
        c.roundtrip(&[b"LATENCY", b"RESET"], b":1\r\n");
        c.roundtrip(&[b"LATENCY", b"LATEST"], b"*0\r\n");
    }

    fn redis_cli_latency_history_runs_against_the_server(backend) {
        let server = TestServer::start(backend);
        let mut child = Command::new("stdbuf")
            .args(["-oL", "redis-cli", "-h", "127.0.0.1", "-p"])
            .arg(server.addr().port().to_string())
            .args(["--latency-history", "-i", "0.1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli runs (apt-get install redis-tools)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Without a terminal, one line per sample: min, max, avg, samples so far.
        let mut samples = Vec::new();
        for line in lines.by_ref().take(3) {
            let line = line.unwrap();
            let columns: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(columns.len(), 4, "{line}");
            columns[2].parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
            samples.push(columns[3].parse::<u64>().unwrap_or_else(|_| panic!("{line}")));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(samples, [1, 2, 3]);
        // Its PINGs were counted and timed.
        let mut c = server.connect();
        let text = info(&mut c, b"commandstats");
        let calls = crate::util::info_text_field(
            &text.replace("cmdstat_ping:calls=", "ping_calls:").replace(",usec=", "\r\nx:"),
            "ping_calls",
        );
        assert!(calls >= 3, "{text}");
    }
}
