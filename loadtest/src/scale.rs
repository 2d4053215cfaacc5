//! `loadtest exchange`: the exchange at scale, side by side with `redis-server` in one run.
//!
//! For each round, each server (redis-server and every `--backends` entry; the order flips
//! every round) is started fresh, as a child process, for each group of measurements
//! (`--only` picks groups):
//! - `crowd`: N connections each `SUBSCRIBE hot`: the time from the first request until every
//!   confirmation arrived, and the server's CPU time meanwhile (`/proc/PID/task/*/schedstat`);
//!   then `--publishes` times one `PUBLISH hot`: the server's CPU time for it and the time
//!   until every subscriber had it; then every connection closes: the time until
//!   `PUBSUB NUMSUB hot` says 0, and the CPU time. For each N of `--crowds` in turn, skipping
//!   those above the server's client limit.
//! - `channels`: `--channels` channels with one subscriber each (10 connections): resident
//!   memory before and after subscribing gives the bytes per subscription; then
//!   `redis-benchmark -P 16 PUBLISH ch:__rand_int__` spreads publishes over them while the
//!   subscribers read.
//! - `memory`: the same number of subscriptions as 100 connections each subscribing to the same
//!   `--channels`/100 channels.
//! - `patterns`: `--patterns` patterns, one subscriber each, with a literal prefix
//!   (`ev:000000001234:*`) or without one (`*:000000001234`), and `redis-benchmark` publishing
//!   to `ev:__rand_int__:x` / `ev:__rand_int__`: each publish matches exactly one pattern.
//!
//! Every figure is the median over the rounds; ratios are ours / redis-server's. The machine
//! is shared and noisy: only ratios measured in the same run mean something.

use crate::cli::ExchangeArgs;
use crate::servers::{default_server_bin, ServerProcess};
use crate::sys;
use anyhow::{bail, Context};
use shared::resp::{encode_command, parse_frame};
use shared::Frame;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Connections that carry the `--channels` and `--patterns` subscriptions.
const SUBSCRIBER_CONNS: usize = 10;
/// Connections that each subscribe to the same channels in the shared-channels memory figure.
const SHARED_CONNS: usize = 100;
/// Names per SUBSCRIBE / PSUBSCRIBE request when subscribing many.
const NAMES_PER_REQUEST: usize = 1000;

/// One server under test.
#[derive(Clone, Debug, PartialEq)]
enum Target {
    Redis,
    /// One of ours, as given to `--backends`: `BACKEND[@PATH] [FLAG...]`.
    Ours(Ours),
}

#[derive(Clone, Debug, PartialEq)]
struct Ours {
    /// What `--backends` said, the column's name.
    label: String,
    backend: String,
    /// The server binary, if not the default one.
    bin: Option<std::path::PathBuf>,
    /// Flags for this server only.
    flags: Vec<String>,
}

impl Ours {
    fn parse(entry: &str) -> Ours {
        let mut words = entry.split_whitespace();
        let first = words.next().unwrap_or("event");
        let (backend, bin) = match first.split_once('@') {
            Some((backend, bin)) => (backend, Some(bin.into())),
            None => (first, None),
        };
        Ours {
            label: entry.trim().to_string(),
            backend: backend.to_string(),
            bin,
            flags: words.map(str::to_string).collect(),
        }
    }
}

impl Target {
    fn label(&self) -> String {
        match self {
            Target::Redis => "redis-server".into(),
            Target::Ours(ours) => ours.label.clone(),
        }
    }
}

/// A running server: ours (through [`ServerProcess`]) or redis-server.
enum Running {
    Ours(ServerProcess),
    Redis(Child),
}

struct Server {
    running: Running,
    addr: String,
    port: u16,
    pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Running::Redis(child) = &mut self.running {
            // SAFETY: kill only sends a signal, to our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

/// A blocking RESP connection with a small, growable read buffer (thousands of them are open
/// at once, so none keeps a large one).
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    fn connect(addr: &str) -> io::Result<Peer> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Peer { stream, buf: Vec::new() })
    }

    fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        self.stream.write_all(&out)
    }

    fn frame(&mut self) -> io::Result<Frame> {
        loop {
            match parse_frame(&self.buf) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn call(&mut self, args: &[&[u8]]) -> io::Result<Frame> {
        self.send(args)?;
        self.frame()
    }
}

/// Runs every round and prints the table (Markdown) with the commands used.
pub fn run(args: &ExchangeArgs, argv: &[String]) -> anyhow::Result<()> {
    let fd_limit = sys::raise_fd_limit().unwrap_or(0);
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => default_server_bin()?,
    };
    let mut targets = vec![Target::Redis];
    targets.extend(args.backends.iter().map(|b| Target::Ours(Ours::parse(b))));
    let log_dir = std::env::temp_dir();
    // figures[target label][measure] = one value per round
    let mut figures: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut commands: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..args.rounds {
        let mut order = targets.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        for target in &order {
            let label = target.label();
            eprintln!("round {}/{}: {label}", round + 1, args.rounds);
            let start = || start(target, &bin, args, &log_dir);
            let group = |name: &str| args.only.iter().any(|g| g == name);
            let mut record = |measure: String, value: f64| {
                figures.entry(label.clone()).or_default().entry(measure).or_default().push(value)
            };
            // Crowds: one server for every size, in ascending order.
            let server = start().with_context(|| format!("starting {label}"))?;
            commands.insert(label.clone(), server_command(&server));
            let mut limit = client_limit(&server.addr)?;
            if matches!(target, Target::Ours(o) if o.backend != "event") {
                // The blocking backends hold a wake fd per connection besides its socket, and
                // the server inherits this tool's open-file limit.
                limit = limit.min(fd_limit as usize / 2);
            }
            let mut note = |text: String| {
                if !notes.contains(&text) {
                    notes.push(text);
                }
            };
            for &n in args.crowds.iter().filter(|_| group("crowd")) {
                if n + 64 > limit || n + 64 > fd_limit as usize {
                    note(format!(
                        "{label}: {n} subscribers skipped (client limit {limit}, this tool's \
                         open-file limit {fd_limit})"
                    ));
                    continue;
                }
                let crowd = match crowd(&server, n, args.publishes) {
                    Ok(crowd) => crowd,
                    Err(e) => {
                        note(format!("{label}: crowd of {n} failed, larger ones skipped: {e:#}"));
                        break;
                    }
                };
                record(format!("subscribe {n}: all confirmed (s)"), crowd.subscribe_s);
                record(format!("subscribe {n}: server CPU (s)"), crowd.subscribe_cpu_s);
                record(format!("close {n}: NUMSUB back to 0 (s)"), crowd.close_s);
                record(format!("close {n}: server CPU (s)"), crowd.close_cpu_s);
                record(format!("one PUBLISH to {n}: server CPU (ms)"), crowd.publish_cpu_ms);
                record(format!("one PUBLISH to {n}: all received (ms)"), crowd.publish_wall_ms);
            }
            drop(server);

            if group("channels") {
                let server = start()?;
                let (peers, mem) = memory(&server, args.channels, SUBSCRIBER_CONNS, false)?;
                record(format!("memory per subscription, {} channels x 1 (B)", args.channels), mem);
                let rps = benchmark_with_readers(
                    &server,
                    args,
                    peers,
                    args.requests,
                    args.channels,
                    "ch:__rand_int__",
                )
                .with_context(|| format!("{label}: channels"))?;
                record(format!("PUBLISH -P 16, {} channels (req/s)", args.channels), rps);
                drop(server);
            }

            if group("memory") {
                let server = start()?;
                let shared = args.channels / SHARED_CONNS;
                let (_, mem) = memory(&server, shared, SHARED_CONNS, true)?;
                record(
                    format!("memory per subscription, {shared} channels x {SHARED_CONNS} (B)"),
                    mem,
                );
                drop(server);
            }

            for (kind, pattern, channel) in group("patterns")
                .then_some([
                    ("literal prefix", "ev:{}:*", "ev:__rand_int__:x"),
                    ("no prefix", "*:{}", "ev:__rand_int__"),
                ])
                .into_iter()
                .flatten()
            {
                let server = start()?;
                let rps = patterns(&server, args, pattern, channel)
                    .with_context(|| format!("{label}: patterns ({kind})"))?;
                record(format!("PUBLISH -P 16, {} patterns, {kind} (req/s)", args.patterns), rps);
                drop(server);
            }
        }
    }
    print_table(args, argv, &targets, &figures, &commands, &notes);
    Ok(())
}

fn start(
    target: &Target,
    bin: &Path,
    args: &ExchangeArgs,
    log_dir: &Path,
) -> anyhow::Result<Server> {
    let redis = &args.redis_server;
    match target {
        Target::Ours(ours) => {
            let backend = &ours.backend;
            let bin = ours.bin.as_deref().unwrap_or(bin);
            let mut extra: Vec<String> =
                ["--max-clients", "19500"].iter().map(|s| s.to_string()).collect();
            extra.extend(args.server_arg.iter().cloned());
            extra.extend(ours.flags.iter().cloned());
            if backend == "pool" {
                // A subscriber holds a worker for as long as it stays.
                extra.extend(["--workers".to_string(), "9200".to_string()]);
            }
            let log = log_dir.join(format!("exchange-bench-{backend}.log"));
            let process = ServerProcess::start(bin, backend, "resp", &extra, &log, None)?;
            let port = process.addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
            Ok(Server {
                addr: process.addr.clone(),
                pid: process.pid,
                port,
                running: Running::Ours(process),
            })
        }
        Target::Redis => {
            let port = free_port()?;
            let child = Command::new(redis)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "no", "--maxclients", "19500"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {redis}"))?;
            let server = Server {
                addr: format!("127.0.0.1:{port}"),
                port,
                pid: child.id(),
                running: Running::Redis(child),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(mut p) = Peer::connect(&server.addr) {
                    if p.call(&[b"PING"]).is_ok() {
                        return Ok(server);
                    }
                }
                if Instant::now() > deadline {
                    bail!("redis-server did not answer on {}", server.addr);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn server_command(server: &Server) -> String {
    match &server.running {
        Running::Ours(p) => p.command.clone(),
        Running::Redis(_) => format!(
            "redis-server --port {} --bind 127.0.0.1 --save '' --appendonly no --maxclients 19500",
            server.port
        ),
    }
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The most clients the server admits (`maxclients`, after it fitted the open-file limit).
fn client_limit(addr: &str) -> anyhow::Result<usize> {
    let mut p = Peer::connect(addr)?;
    if let Frame::Bulk(info) = p.call(&[b"INFO", b"clients"])? {
        let text = String::from_utf8_lossy(&info);
        if let Some(v) = text.lines().find_map(|l| l.strip_prefix("maxclients:")) {
            return Ok(v.trim().parse()?);
        }
    }
    bail!("no maxclients in INFO clients")
}

/// Opens `n` connections, checking each is served (batches of PINGs, so the listen queue never
/// overflows).
fn open(addr: &str, n: usize) -> anyhow::Result<Vec<Peer>> {
    let mut peers = Vec::with_capacity(n);
    while peers.len() < n {
        let batch = (n - peers.len()).min(256);
        let first = peers.len();
        for _ in 0..batch {
            let mut p = Peer::connect(addr).context("connect")?;
            p.send(&[b"PING"])?;
            peers.push(p);
        }
        for p in &mut peers[first..] {
            let pong = p.frame()?;
            if pong != Frame::Simple("PONG".into()) {
                bail!("PING answered {pong:?}");
            }
        }
    }
    Ok(peers)
}

struct Crowd {
    subscribe_s: f64,
    subscribe_cpu_s: f64,
    close_s: f64,
    close_cpu_s: f64,
    publish_cpu_ms: f64,
    publish_wall_ms: f64,
}

fn crowd(server: &Server, n: usize, publishes: usize) -> anyhow::Result<Crowd> {
    let mut peers = open(&server.addr, n)?;
    let mut probe = Peer::connect(&server.addr)?;
    let request = {
        let mut out = Vec::new();
        encode_command(&mut out, &[&b"SUBSCRIBE"[..], b"hot"]);
        out
    };
    let confirmed =
        Frame::Array(vec![Frame::bulk("subscribe"), Frame::bulk("hot"), Frame::Integer(1)]);
    let cpu0 = sys::process_cpu_ns(server.pid)?;
    let t0 = Instant::now();
    for p in &mut peers {
        p.stream.write_all(&request)?;
    }
    for p in &mut peers {
        let f = p.frame()?;
        if f != confirmed {
            bail!("SUBSCRIBE answered {f:?}");
        }
    }
    let subscribe_s = t0.elapsed().as_secs_f64();
    let subscribe_cpu_s = cpu_since(server, cpu0)?;
    if numsub(&mut probe)? != n as i64 {
        bail!("NUMSUB hot is not {n}");
    }

    let mut cpu_ns = 0u64;
    let mut walls = Vec::new();
    for k in 0..publishes.max(1) {
        let payload = format!("m{k}");
        let cpu0 = sys::process_cpu_ns(server.pid)?;
        let t0 = Instant::now();
        let reply = probe.call(&[b"PUBLISH", b"hot", payload.as_bytes()])?;
        if reply != Frame::Integer(n as i64) {
            bail!("PUBLISH answered {reply:?}");
        }
        for p in &mut peers {
            p.frame()?;
        }
        walls.push(t0.elapsed().as_secs_f64() * 1e3);
        cpu_ns += sys::process_cpu_ns(server.pid)?.saturating_sub(cpu0);
    }
    let publish_cpu_ms = cpu_ns as f64 / 1e6 / publishes.max(1) as f64;

    let cpu0 = sys::process_cpu_ns(server.pid)?;
    let t0 = Instant::now();
    drop(peers);
    while numsub(&mut probe)? != 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let close_s = t0.elapsed().as_secs_f64();
    let close_cpu_s = cpu_since(server, cpu0)?;
    Ok(Crowd {
        subscribe_s,
        subscribe_cpu_s,
        close_s,
        close_cpu_s,
        publish_cpu_ms,
        publish_wall_ms: median(walls),
    })
}

/// Seconds of CPU the server used since it had used `ns0` nanoseconds. (Threads that exited
/// meanwhile, as on `thread` when connections close, take their time with them: a floor.)
fn cpu_since(server: &Server, ns0: u64) -> anyhow::Result<f64> {
    Ok(sys::process_cpu_ns(server.pid)?.saturating_sub(ns0) as f64 / 1e9)
}

fn numsub(probe: &mut Peer) -> anyhow::Result<i64> {
    match probe.call(&[b"PUBSUB", b"NUMSUB", b"hot"])? {
        Frame::Array(items) if items.len() == 2 => match items[1] {
            Frame::Integer(n) => Ok(n),
            _ => bail!("NUMSUB count is not an integer"),
        },
        other => bail!("NUMSUB answered {other:?}"),
    }
}

/// Subscribes connection `c` of `peers` to its share of `names` (with `verb`), in requests of
/// [`NAMES_PER_REQUEST`] names, and reads every confirmation.
fn subscribe_many(peers: &mut [Peer], verb: &[u8], names: &[Vec<u8>]) -> anyhow::Result<()> {
    let per = names.len().div_ceil(peers.len().max(1));
    for (c, p) in peers.iter_mut().enumerate() {
        let mine = &names[(c * per).min(names.len())..((c + 1) * per).min(names.len())];
        for chunk in mine.chunks(NAMES_PER_REQUEST) {
            let mut args: Vec<&[u8]> = vec![verb];
            args.extend(chunk.iter().map(|n| &n[..]));
            p.send(&args)?;
        }
        for _ in 0..mine.len() {
            match p.frame()? {
                Frame::Array(items) if items.len() == 3 => {}
                other => bail!("subscribe answered {other:?}"),
            }
        }
    }
    Ok(())
}

/// `ch:000000000000`, `ch:000000000001`, ...: what `ch:__rand_int__` becomes in
/// redis-benchmark.
fn channel_names(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("ch:{i:012}").into_bytes()).collect()
}

/// Opens `conns` connections that subscribe to their share of `channels` channels, or each to
/// all of them (`shared`); returns them and the growth of the server's resident memory per
/// subscription.
fn memory(
    server: &Server,
    channels: usize,
    conns: usize,
    shared: bool,
) -> anyhow::Result<(Vec<Peer>, f64)> {
    let mut peers = open(&server.addr, conns)?;
    let names = channel_names(channels);
    let before = sys::process_rss_kib(server.pid)?;
    if shared {
        for p in &mut peers {
            subscribe_many(std::slice::from_mut(p), b"SUBSCRIBE", &names)?;
        }
    } else {
        subscribe_many(&mut peers, b"SUBSCRIBE", &names)?;
    }
    let after = sys::process_rss_kib(server.pid)?;
    let subscriptions = if shared { channels * conns } else { channels };
    let per = (after.saturating_sub(before) * 1024) as f64 / subscriptions.max(1) as f64;
    Ok((peers, per))
}

/// Reader threads that drain subscriber connections until they are shut down; each returns
/// whether the server closed its connection first.
fn drain(peers: Vec<Peer>) -> (Vec<TcpStream>, Vec<std::thread::JoinHandle<bool>>) {
    let mut handles = Vec::new();
    let mut threads = Vec::new();
    for mut p in peers {
        handles.push(p.stream.try_clone().expect("clone socket"));
        threads.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match p.stream.read(&mut buf) {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        }));
    }
    (handles, threads)
}

fn patterns(
    server: &Server,
    args: &ExchangeArgs,
    pattern: &str,
    channel: &str,
) -> anyhow::Result<f64> {
    let mut peers = open(&server.addr, SUBSCRIBER_CONNS)?;
    let names: Vec<Vec<u8>> = (0..args.patterns)
        .map(|i| pattern.replace("{}", &format!("{i:012}")).into_bytes())
        .collect();
    subscribe_many(&mut peers, b"PSUBSCRIBE", &names)?;
    benchmark_with_readers(server, args, peers, args.pattern_requests, args.patterns, channel)
}

/// `redis-benchmark -P 16` PUBLISH throughput to `channel` (with `__rand_int__` below
/// `keyspace`) while `peers`, the subscribers, read everything.
fn benchmark_with_readers(
    server: &Server,
    args: &ExchangeArgs,
    peers: Vec<Peer>,
    requests: usize,
    keyspace: usize,
    channel: &str,
) -> anyhow::Result<f64> {
    let (sockets, readers) = drain(peers);
    let output = Command::new(&args.redis_benchmark)
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-c", "50", "-P", "16"])
        .args(["-n", &requests.to_string(), "-r", &keyspace.to_string(), "--csv"])
        .args(["PUBLISH", channel, "hello"])
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {}", args.redis_benchmark))?;
    for s in &sockets {
        let _ = s.shutdown(Shutdown::Both);
    }
    for r in readers {
        let _ = r.join();
    }
    let text = String::from_utf8_lossy(&output.stdout);
    // `"test","rps",...` then `"PUBLISH ...","123456.00",...`
    let rps = text
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse::<f64>().ok());
    rps.with_context(|| format!("no requests/s in redis-benchmark's output: {text}"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return f64::NAN;
    }
    values[(values.len() - 1) / 2]
}

fn print_table(
    args: &ExchangeArgs,
    argv: &[String],
    targets: &[Target],
    figures: &BTreeMap<String, BTreeMap<String, Vec<f64>>>,
    commands: &BTreeMap<String, String>,
    notes: &[String],
) {
    let redis = figures.get("redis-server");
    let mut measures: Vec<String> = Vec::new();
    for label in targets.iter().map(Target::label) {
        for m in figures.get(&label).into_iter().flat_map(|f| f.keys()) {
            if !measures.contains(m) {
                measures.push(m.clone());
            }
        }
    }
    measures.sort_by_key(|m| measure_order(m));
    println!(
        "`{}`, {} rounds, medians; ratio = ours / redis-server\n",
        argv.join(" "),
        args.rounds
    );
    let ours: Vec<&Target> = targets.iter().filter(|t| **t != Target::Redis).collect();
    let mut header = String::from("| measure | redis-server |");
    let mut rule = String::from("|---|---|");
    for t in &ours {
        header.push_str(&format!(" {} | ratio |", t.label()));
        rule.push_str("---|---|");
    }
    println!("{header}\n{rule}");
    for m in &measures {
        let theirs = redis.and_then(|f| f.get(m)).map(|v| median(v.clone()));
        let mut row = format!("| {m} | {} |", fmt(theirs));
        for t in &ours {
            let value = figures.get(&t.label()).and_then(|f| f.get(m)).map(|v| median(v.clone()));
            let ratio = match (value, theirs) {
                (Some(v), Some(r)) if r > 0.0 => format!("{:.2}", v / r),
                _ => "-".into(),
            };
            row.push_str(&format!(" {} | {ratio} |", fmt(value)));
        }
        println!("{row}");
    }
    println!();
    for (label, command) in commands {
        println!("- {label}: `{command}`");
    }
    for note in notes {
        println!("- note: {note}");
    }
}

/// Sorts measures by kind, then by crowd size, the wait before the CPU time.
fn measure_order(m: &str) -> (usize, usize, bool) {
    let kind = ["subscribe", "close", "one PUBLISH", "PUBLISH -P", "memory"]
        .iter()
        .position(|k| m.starts_with(k))
        .unwrap_or(9);
    let size = m
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (kind, size, m.contains("CPU"))
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 10_000.0 => format!("{:.0}", v),
        Some(v) if v >= 100.0 => format!("{:.0}", v),
        Some(v) if v >= 1.0 => format!("{:.2}", v),
        Some(v) => format!("{:.3}", v),
    }
}
