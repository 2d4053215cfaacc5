//! Integration tests: every scenario for about a second against a real server (redis-server,
//! skipped with a note when it is not installed), an in-test echo server, and an in-test RESP
//! server that stalls once, to prove a paused server shows up in the percentiles. `security`:
//! TLS and passwords against the real `server` binary.

mod security;

use bytes::BytesMut;
use clap::Parser;
use loadtest::cli::{Cli, Cmd};
use loadtest::scenarios::{self, Config, PingCommand, Rate, Scenario};
use shared::{Limits, RequestParser};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A redis-server on a free port, killed on drop.
struct Redis {
    child: Child,
    addr: String,
}

impl Redis {
    /// Starts redis-server and waits for its "Ready to accept connections" log line; `None`
    /// (with a note) when redis-server is not installed.
    #[track_caller]
    fn start() -> Option<Redis> {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("note: redis-server not available ({e}); skipping this test");
                return None;
            }
        };
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("redis-server exited before it was ready").unwrap();
            if line.contains("Ready to accept connections") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Some(Redis { child, addr: format!("127.0.0.1:{port}") })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An echo server on a free port: every byte comes back.
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A RESP server of the tests' own on a free port: a thread per connection parses its requests
/// with the shared parser and hands each to `answer`, which appends its reply to the output;
/// what a read's requests produced is written together. `answer` returns false to stop
/// serving the connection (the rest of the input is left unanswered, the output written, and
/// the thread's handle on the socket dropped).
fn resp_server<F>(answer: F) -> String
where
    F: Fn(&[bytes::Bytes], &mut Vec<u8>, &TcpStream) -> bool + Clone + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            stream.set_nodelay(true).unwrap();
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut parser = RequestParser::new(Limits::default());
                let mut input = BytesMut::new();
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    input.extend_from_slice(&buf[..n]);
                    let (mut out, mut serving) = (Vec::new(), true);
                    while serving {
                        let Some(args) = parser.next_request(&mut input).unwrap() else { break };
                        serving = answer(&args, &mut out, &stream);
                    }
                    if stream.write_all(&out).is_err() || !serving {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A RESP server that answers every request with `+PONG`, except that before answering request number `stall_at` (counted over all connections) it stops for `stall`.
fn stalling_server(stall_at: usize, stall: Duration) -> String {
    let count = Arc::new(AtomicUsize::new(0));
    resp_server(move |_args, out, _stream| {
        if count.fetch_add(1, Ordering::SeqCst) + 1 == stall_at {
            std::thread::sleep(stall); // the injected stall, not synchronisation
        }
        out.extend_from_slice(b"+PONG\r\n");
        true
    })
}

/// What [`pubsub_server`] did on purpose.
#[derive(Default)]
struct Faults {
    /// Deliveries it never sent.
    dropped: AtomicU64,
    /// Deliveries it sent twice.
    duplicated: AtomicU64,
    /// Deliveries it sent (duplicates once).
    delivered: AtomicU64,
}

/// How [`pubsub_server`] misbehaves: every `drop_every`-th delivery (counted over all
/// subscribers) is not sent, every `dup_every`-th other one is sent twice (0: never), and before
/// delivering message number `stall.0` (counted from 1 over all PUBLISHes) it waits `stall.1`.
/// Only deliveries wait: PUBLISH is answered at once.
#[derive(Clone, Copy, Default)]
struct Misbehave {
    drop_every: u64,
    dup_every: u64,
    stall: Option<(u64, Duration)>,
}

/// A small pub/sub server: `SUBSCRIBE channel` (one per connection), `PUBLISH` (answered with
/// the channel's subscriber count), anything else answered with an empty bulk string (so `INFO`
/// reports no counters). One thread writes every delivery, so messages to a subscriber keep
/// their order; subscriber connections cost it no thread.
fn pubsub_server(how: Misbehave) -> (String, Arc<Faults>) {
    type Subscribers = Arc<Mutex<HashMap<Vec<u8>, Vec<TcpStream>>>>;
    let faults = Arc::new(Faults::default());
    let subs: Subscribers = Arc::default();
    let (tx, rx) = crossbeam_channel::unbounded::<(Vec<u8>, Vec<u8>)>();
    let (f, s) = (faults.clone(), subs.clone());
    std::thread::spawn(move || {
        let (mut count, mut published) = (0u64, 0u64);
        for (channel, payload) in rx {
            published += 1;
            if let Some((_, pause)) = how.stall.filter(|s| s.0 == published) {
                std::thread::sleep(pause); // the injected stall, not synchronisation
            }
            let mut frame = Vec::new();
            shared::resp::encode_command(&mut frame, &[&b"message"[..], &channel, &payload]);
            let mut subs = s.lock().unwrap();
            for stream in subs.get_mut(&channel).into_iter().flatten() {
                count += 1;
                if how.drop_every > 0 && count % how.drop_every == 0 {
                    f.dropped.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let twice = how.dup_every > 0 && count % how.dup_every == 0;
                let bytes = if twice { [&frame[..], &frame[..]].concat() } else { frame.clone() };
                if stream.write_all(&bytes).is_ok() {
                    f.delivered.fetch_add(1, Ordering::SeqCst);
                    if twice {
                        f.duplicated.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
    });
    // A thread per connection until it subscribes; publishers keep theirs.
    let addr = resp_server(move |args, out, stream| {
        let name = args[0].to_ascii_uppercase();
        if name == b"SUBSCRIBE" {
            let channel = args[1].to_vec();
            let mut reply = Vec::new();
            reply.extend_from_slice(b"*3\r\n$9\r\nsubscribe\r\n");
            reply.extend_from_slice(format!("${}\r\n", channel.len()).as_bytes());
            reply.extend_from_slice(&channel);
            reply.extend_from_slice(b"\r\n:1\r\n");
            // Replies owed before this one go first.
            let reply = [std::mem::take(out), reply].concat();
            let mut subs = subs.lock().unwrap();
            (&*stream).write_all(&reply).unwrap();
            subs.entry(channel).or_default().push(stream.try_clone().unwrap());
            return false; // the delivery thread writes to it from now on
        } else if name == b"PUBLISH" {
            let n = subs.lock().unwrap().get(&args[1][..]).map_or(0, Vec::len);
            tx.send((args[1].to_vec(), args[2].to_vec())).unwrap();
            out.extend_from_slice(format!(":{n}\r\n").as_bytes());
        } else {
            out.extend_from_slice(b"$0\r\n\r\n");
        }
        true
    });
    (addr, faults)
}

/// A RESP server that answers `+PONG` and closes each connection once it has answered `limit`
/// requests on it, like a server that is restarted now and then.
fn closing_server(limit: usize) -> String {
    // Counted per connection: each connection's thread has its own copy of the closure.
    let answered = std::cell::Cell::new(0);
    resp_server(move |_args, out, _stream| {
        out.extend_from_slice(b"+PONG\r\n");
        answered.set(answered.get() + 1);
        answered.get() < limit // else the connection closes
    })
}

/// A short run: 0.2 s warmup, 1 s measured.
/// No errors, nothing unanswered, a reply for every request sent.
#[track_caller]
fn assert_all_answered(r: &scenarios::RunReport) {
    assert_eq!((r.errors, r.unanswered), (0, 0), "{:?}", r.error_samples);
    assert_eq!(r.replies, r.sent);
}

fn short(scenario: Scenario, addr: &str) -> Config {
    Config {
        scenario,
        addr: addr.to_string(),
        rate: Rate::Fixed(2000.0),
        warmup_s: 0.2,
        duration_s: 1.0,
        drain_s: 5.0,
        connections: 4,
        ..Config::default()
    }
}

#[test]
fn ping_counts_add_up() {
    let Some(redis) = Redis::start() else { return };
    let r = scenarios::run(&short(Scenario::Ping, &redis.addr), "redis").unwrap();
    assert_all_answered(&r);
    assert_eq!(r.sent, 2400); // 1.2 s on the timetable at 2000/s
    assert_eq!(r.measured, 2000); // the slots after warmup
    assert!(r.latency_us.p50 > 0 && r.latency_us.max >= r.latency_us.p99);
}

#[test]
fn pipelined_echo_commands_count_every_request() {
    let Some(redis) = Redis::start() else { return };
    let cfg = Config {
        command: PingCommand::Echo,
        size: 100,
        pipeline: 4,
        ..short(Scenario::Ping, &redis.addr)
    };
    let r = scenarios::run(&cfg, "redis").unwrap();
    assert_all_answered(&r);
    assert_eq!(r.measured, 2000);
}

#[test]
fn closed_loop_answers_everything_it_sends() {
    let Some(redis) = Redis::start() else { return };
    let cfg = Config { rate: Rate::Max, connections: 2, ..short(Scenario::Ping, &redis.addr) };
    let r = scenarios::run(&cfg, "redis").unwrap();
    assert_all_answered(&r);
    assert!(r.measured > 0 && r.target_rate.is_none());
}

#[test]
fn pubsub_loses_nothing_at_a_modest_rate_and_the_accounting_adds_up() {
    let Some(redis) = Redis::start() else { return };
    let cfg = Config {
        publishers: 2,
        subscribers: 6,
        topics: 3,
        rate: Rate::Fixed(1000.0),
        ..short(Scenario::Pubsub, &redis.addr)
    };
    let r = scenarios::run(&cfg, "redis").unwrap();
    let p = r.pubsub.as_ref().unwrap();
    assert_eq!((r.errors, r.unanswered), (0, 0), "{:?}", r.error_samples);
    assert_eq!(p.published, 1200);
    // Two subscribers per topic: every message reaches two of them.
    assert_eq!(p.publish_replies_sum, 2 * p.published);
    assert_eq!(p.received, p.publish_replies_sum);
    assert_eq!((p.lost, p.duplicates, p.reordered), (0, 0, 0));
    assert!(p.accounting_ok);
    assert!(p.per_subscriber.iter().all(|s| s.received == s.expected && s.expected == 400));
    // redis-server reports no drop counter: noted, and counted as 0.
    assert_eq!(p.server_dropped, None);
    assert!(r.notes.iter().any(|n| n.contains("pubsub_dropped")));
    assert_eq!(r.measured, 2 * 1000); // deliveries of the messages scheduled after warmup
}

#[test]
fn idle_connections_stay_open_and_memory_is_measured() {
    let Some(redis) = Redis::start() else { return };
    let cfg = Config {
        connections: 200,
        active: 2,
        server_pid: Some(redis.child.id()),
        ..short(Scenario::Idle, &redis.addr)
    };
    let r = scenarios::run(&cfg, "redis").unwrap();
    let i = r.idle.as_ref().unwrap();
    assert_eq!((i.opened, i.alive_at_start, i.alive_at_end), (200, 200, 200));
    assert!(i.bytes_per_connection.is_some() && i.rss_after_kib.is_some());
    assert_all_answered(&r);
    assert!(r.server_cpu_s.is_some());
}

#[test]
fn echo_counts_add_up() {
    let addr = echo_server();
    let cfg = Config { size: 128, ..short(Scenario::Echo, &addr) };
    let r = scenarios::run(&cfg, "echo").unwrap();
    assert_all_answered(&r);
    assert_eq!(r.measured, 2000);
}

#[test]
fn a_server_paused_for_200ms_shows_up_in_p99() {
    let addr = stalling_server(300, Duration::from_millis(200));
    let cfg = Config {
        warmup_s: 0.0,
        connections: 1,
        threads: 1,
        rate: Rate::Fixed(1000.0),
        ..short(Scenario::Ping, &addr)
    };
    let r = scenarios::run(&cfg, "stall").unwrap();
    assert_eq!((r.errors, r.unanswered), (0, 0), "{:?}", r.error_samples);
    // ~200 requests were scheduled during the pause: about 20% of the run waited 0-200 ms.
    assert!(r.latency_us.p99 >= 150_000, "p99 {} µs", r.latency_us.p99);
    assert!(r.latency_us.max >= 190_000, "max {} µs", r.latency_us.max);
    assert!(r.latency_us.p90 >= 10_000, "p90 {} µs", r.latency_us.p90);
}

#[test]
fn thousands_of_subscribers_on_a_few_threads_find_every_gap_and_duplicate() {
    let how = Misbehave { drop_every: 997, dup_every: 1499, stall: None };
    let (addr, faults) = pubsub_server(how);
    let cfg = Config {
        publishers: 2,
        subscribers: 2000,
        topics: 20,
        rate: Rate::Fixed(200.0),
        readers: 2,
        // Subscribers missing a dropped message wait out the whole drain; the others end as
        // soon as they have everything. Long enough for a loaded machine's late deliveries.
        drain_s: 5.0,
        ..short(Scenario::Pubsub, &addr)
    };
    // Sample the process's threads while deliveries flow (other tests run in this process too,
    // so the bound is loose: a thread per subscriber would be 2,000 more).
    let watching = Arc::new(AtomicBool::new(true));
    let (w, f) = (watching.clone(), faults.clone());
    let watcher = std::thread::spawn(move || {
        let mut most = 0;
        while w.load(Ordering::SeqCst) {
            if f.delivered.load(Ordering::SeqCst) > 2000 {
                most = most.max(std::fs::read_dir("/proc/self/task").unwrap().count());
            }
            std::thread::sleep(Duration::from_millis(20)); // a sampling period, not a wait
        }
        most
    });
    let r = scenarios::run(&cfg, "faulty").unwrap();
    watching.store(false, Ordering::SeqCst);
    let threads = watcher.join().unwrap();
    let p = r.pubsub.as_ref().unwrap();
    let (dropped, duplicated) =
        (faults.dropped.load(Ordering::SeqCst), faults.duplicated.load(Ordering::SeqCst));
    // 240 messages to 100 subscribers each: 24,000 deliveries, of which 24 dropped, 16 doubled.
    assert_eq!(p.published, 240);
    assert!(dropped >= 20 && duplicated >= 10, "{dropped} dropped, {duplicated} duplicated");
    assert_eq!(p.lost, dropped, "every missing delivery is found");
    assert_eq!(p.duplicates, duplicated, "every duplicate is found");
    assert_eq!(p.reordered, 0);
    assert_eq!(p.received, 100 * p.published - dropped);
    assert!(!p.accounting_ok, "the receivers the server announced did not all receive");
    assert!(threads > 0 && threads < 500, "{threads} threads for 2,000 subscribers");
    assert!(r.tool_cpu_us_per_op > 0.0);
}

#[test]
fn a_stall_in_deliveries_shows_up_in_the_subscribers_p99() {
    let how = Misbehave { stall: Some((300, Duration::from_millis(200))), ..Misbehave::default() };
    let (addr, faults) = pubsub_server(how);
    let cfg = Config {
        warmup_s: 0.0,
        publishers: 1,
        subscribers: 2,
        topics: 1,
        threads: 1,
        rate: Rate::Fixed(1000.0),
        ..short(Scenario::Pubsub, &addr)
    };
    let r = scenarios::run(&cfg, "stall").unwrap();
    let p = r.pubsub.as_ref().unwrap();
    assert_eq!((r.errors, p.lost, p.duplicates), (0, 0, 0), "{:?}", r.error_samples);
    assert_eq!(faults.delivered.load(Ordering::SeqCst), 2 * p.published);
    // ~200 messages were published during the pause: about 20% of the deliveries waited.
    assert!(r.latency_us.p99 >= 150_000, "p99 {} µs", r.latency_us.p99);
    assert!(r.latency_us.max >= 190_000, "max {} µs", r.latency_us.max);
    // The publishers' own round trips did not stall: the figure is the deliveries'. (Their
    // median, not their p99: on a loaded machine a few round trips wait for a CPU too.)
    assert!(p.publish_rtt_us.p50 < r.latency_us.p99 / 2, "publish p50 {} µs", p.publish_rtt_us.p50);
}

#[test]
fn the_floor_is_measured_against_an_in_process_reflector() {
    let ping = scenarios::floor(&short(Scenario::Ping, "unused:1"), "floor").unwrap();
    assert_all_answered(&ping);
    assert_eq!(ping.measured, 2000);
    // The reflector's thread is the server: its CPU is not counted as the tool's.
    assert!(ping.server_cpu_s.is_some_and(|s| s > 0.0) && ping.tool_cpu_s > 0.0);
    let cfg = Config { publishers: 1, subscribers: 4, topics: 2, ..short(Scenario::Pubsub, "-") };
    let pubsub = scenarios::floor(&cfg, "floor").unwrap();
    let p = pubsub.pubsub.as_ref().unwrap();
    assert_eq!((p.lost, p.duplicates, p.server_dropped), (0, 0, Some(0)));
    assert!(p.accounting_ok && p.received == 2 * p.published);
    let echo = scenarios::floor(&short(Scenario::Echo, "-"), "floor").unwrap();
    assert_all_answered(&echo);
}

#[test]
fn run_shows_the_floor_beside_the_server_with_the_cpu_per_operation() {
    let Some(redis) = Redis::start() else { return };
    let out = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["run", "--scenario", "ping", "--addr", &redis.addr, "--label", "redis"])
        .args(["--rate", "1000", "--warmup", "0.1", "--duration", "0.5", "--drain", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("1000  ")).collect();
    assert!(
        rows.len() == 2 && rows[0].starts_with("floor ") && rows[1].starts_with("redis "),
        "{text}"
    );
    assert!(text.contains("loadtest µs/op"), "{text}");
}

#[test]
fn compare_climbs_the_ladder_for_each_row_and_writes_the_verdict_and_plots() {
    let out = std::env::temp_dir().join(format!("loadtest-compare-{}", std::process::id()));
    // `server` is next to `loadtest` when the workspace was built; without it the backends are
    // unavailable rows, which the report must say.
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_loadtest")).with_file_name("server");
    let have_server = bin.exists();
    let argv = [
        "loadtest",
        "compare",
        "--quick",
        "--workloads",
        "ping10,fanout",
        "--step",
        "0.2",
        "--backends",
        "event,nonesuch",
        "--server-bin",
        bin.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let Cmd::Compare(args) = Cli::parse_from(argv).command else { panic!("not compare") };
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let doc = loadtest::compare::compare(&args, &argv).unwrap();
    assert_eq!(doc.workloads.len(), 2);
    for w in &doc.workloads {
        let names: Vec<&str> = w.curves.iter().map(|c| c.name.as_str()).collect();
        let redis = Command::new("redis-server").arg("--version").output().is_ok();
        let mut expected = vec!["floor", "event", "nonesuch"];
        if redis {
            expected.push("redis");
        }
        assert_eq!(names, expected);
        let row = |n: &str| w.curves.iter().find(|c| c.name == n).unwrap();
        assert!(row("nonesuch").status.starts_with("unavailable"), "{}", row("nonesuch").status);
        let floor = row("floor");
        assert!(!floor.points.is_empty() && floor.status == "ok", "{floor:?}");
        // A row climbs until it saturates, and never past it.
        for c in &w.curves {
            let steps = c.points.len();
            assert!(steps <= w.ladder.len());
            if steps < w.ladder.len() && c.status == "ok" {
                assert!(c.saturated_at.is_some(), "{} stopped without saturating", c.name);
            }
            for p in &c.points {
                assert!(p.server_cpu_us_per_op.is_some(), "{}: no server CPU", p.label);
                assert!(p.server_threads.is_some_and(|t| t >= 1), "{}: no thread count", p.label);
            }
        }
        if have_server {
            assert_eq!(row("event").status, "ok", "{:?}", row("event"));
            assert!(row("event").points[0].server_rss_kib.is_some());
        }
        if redis {
            assert_eq!(row("redis").status, "ok", "{:?}", row("redis"));
        }
        assert!(out.join(format!("{}.svg", w.name)).exists(), "{} plot missing", w.name);
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in ["## Verdict", "| ping10 |", "| fanout |", "![ping10", "## fanout: "] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    assert!(md.contains("nonesuch") && md.contains("unavailable"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["slo_us"], 1000);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn compare_puts_the_tool_and_every_server_on_disjoint_cpus() {
    use loadtest::reflector::{Reflector, Speaks};
    use loadtest::servers::{start_redis, ServerProcess};
    use loadtest::sys::{affinity_of, allowed_cpus, cpu_set, pin, CpuSplit};
    let allowed = allowed_cpus().unwrap();
    let Some(split) = CpuSplit::halves(&allowed) else {
        eprintln!("SKIPPED: one CPU here, nothing to partition");
        return;
    };
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_loadtest")).with_file_name("server");
    assert!(bin.exists(), "{} is missing: cargo test --workspace builds it", bin.display());
    let dir = std::env::temp_dir().join(format!("loadtest-cpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // On a thread of its own, as `compare` does on its: the pin stays with this thread and the
    // threads it starts.
    let (tool, server, logs) = (split.tool.clone(), split.server.clone(), dir.clone());
    let masks = std::thread::spawn(move || {
        pin(&cpu_set(&tool)).unwrap();
        let inherited = std::thread::spawn(|| affinity_of(0).unwrap()).join().unwrap();
        let args = loadtest::compare::server_args("event", &[], server.len());
        let event = ServerProcess::start(
            &bin,
            "event",
            "resp",
            &args,
            &logs.join("event.log"),
            Some(&server),
        )
        .unwrap();
        let reflector = Reflector::start_on(Speaks::Resp, &server).unwrap();
        let mut masks = vec![
            ("tool".to_string(), affinity_of(0).unwrap()),
            ("a tool thread".to_string(), inherited),
            ("reflector".to_string(), affinity_of(reflector.tid).unwrap()),
        ];
        let mut servers = vec![("event", event)];
        if Command::new("redis-server").arg("--version").output().is_ok() {
            let redis = start_redis("redis-server", &logs.join("redis.log"), &[], Some(&server));
            servers.push(("redis", redis.unwrap()));
        }
        // Every thread of every server process.
        for (name, p) in &servers {
            for task in std::fs::read_dir(format!("/proc/{}/task", p.pid)).unwrap() {
                let tid: u32 = task.unwrap().file_name().to_str().unwrap().parse().unwrap();
                masks.push((format!("{name} thread {tid}"), affinity_of(tid).unwrap()));
            }
        }
        masks
    })
    .join()
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    for (name, mask) in &masks {
        let want = if name.starts_with("tool") || name.starts_with("a tool") {
            &split.tool
        } else {
            &split.server
        };
        assert_eq!(mask, want, "{name}");
    }
    assert!(split.tool.iter().all(|c| !split.server.contains(c)));
    assert!(masks.iter().filter(|m| m.0.starts_with("event thread")).count() >= 2);
}

#[test]
fn compare_takes_the_backends_from_the_servers_own_list() {
    let all = loadtest::servers::all_backends();
    assert!(["thread", "pool", "queue", "event"].iter().all(|b| all.iter().any(|a| a == b)));
}

#[test]
fn runs_from_two_generators_merge_on_the_command_line() {
    let addr = echo_server();
    let dir = std::env::temp_dir().join(format!("loadtest-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_loadtest");
    let files: Vec<_> = (0..2).map(|i| dir.join(format!("gen{i}.hdr"))).collect();
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            Command::new(bin)
                .args([
                    "run",
                    "--scenario",
                    "echo",
                    "--addr",
                    &addr,
                    "--rate",
                    "500",
                    "--warmup",
                    "0.1",
                    "--duration",
                    "0.5",
                ])
                .arg("--hist-out")
                .arg(f)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let json = dir.join("merged.json");
    let out =
        Command::new(bin).arg("merge").args(&files).arg("--json").arg(&json).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("merged (2 runs)"), "{text}");
    let merged: scenarios::RunReport =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(merged.measured, 2 * 250);
    assert_eq!(merged.target_rate, Some(1000.0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn closed_connections_fail_their_requests_or_are_reopened_with_reconnect() {
    let addr = closing_server(200);
    for rate in [Rate::Fixed(1000.0), Rate::Max] {
        let cfg = Config { connections: 2, threads: 1, rate, ..short(Scenario::Ping, &addr) };
        // Without --reconnect each connection gets its 200 replies, then everything fails.
        let r = scenarios::run(&cfg, "closing").unwrap();
        assert_eq!((r.replies, r.reconnects), (400, 0), "{rate}: {:?}", r.error_samples);
        assert!(r.errors > 0, "{rate}");
        // With it, connections are reopened and the run carries on to the end.
        let r = scenarios::run(&Config { reconnect: true, ..cfg }, "closing").unwrap();
        // 600 slots per connection at 1000/s: reopened at least twice each.
        assert!(r.reconnects >= 4, "{rate}: {} reconnects", r.reconnects);
        assert!(r.replies >= 1000, "{rate}: {} replies", r.replies);
        assert!(r.errors >= r.reconnects, "{rate}: every failure counts as an error");
        let closed = r.error_samples.iter().any(|e| e.contains("closed by the server"));
        assert!(closed, "{rate}: {:?}", r.error_samples);
        assert!(r.notes.iter().any(|n| n.contains("reopened")), "{:?}", r.notes);
    }
}

#[test]
fn merge_takes_directories_groups_by_label_and_writes_a_report() {
    let addr = echo_server();
    let dir = std::env::temp_dir().join(format!("loadtest-merge-dir-{}", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_loadtest");
    let run = |label: &str, sub: &str| {
        let out = Command::new(bin)
            .args(["run", "--scenario", "echo", "--addr", &addr, "--rate", "400"])
            .args(["--warmup", "0.1", "--duration", "0.5", "--label", label, "--hist-out"])
            .arg(format!("{}/{sub}/", dir.display()))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(out.success());
    };
    // Two generators for `a` write into one directory under distinct names; one for `b`.
    std::thread::scope(|s| {
        s.spawn(|| run("a", "a"));
        s.spawn(|| run("a", "a"));
        s.spawn(|| run("b", "b"));
    });
    assert_eq!(std::fs::read_dir(dir.join("a")).unwrap().count(), 2);
    let out_dir = dir.join("report");
    let out = Command::new(bin)
        .args(["merge", "--by-label", "--out"])
        .arg(&out_dir)
        .arg(dir.join("a"))
        .arg(dir.join("b"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains("| a | 800 |") && md.contains("| b | 400 |"), "{md}");
    assert!(md.contains("merged from 2 load generators"), "{md}");
    for file in ["latency.svg", "report.json", "a.hdr", "b.hdr"] {
        assert!(out_dir.join(file).exists(), "{file} missing");
    }
    let one = Command::new(bin)
        .args(["merge", "--label", "both", "--csv"])
        .arg(dir.join("a"))
        .arg(dir.join("b"))
        .output()
        .unwrap();
    let text = String::from_utf8(one.stdout).unwrap();
    assert!(text.lines().nth(1).unwrap().starts_with("both,echo,1200.0,"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreachable_servers_are_an_error_naming_the_address() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let err = scenarios::run(&short(Scenario::Ping, &addr), "x").unwrap_err();
    assert!(format!("{err:#}").contains(&addr), "{err:#}");
}
