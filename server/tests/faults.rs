//! Faults and overload: slow subscribers, peers that vanish mid-frame, connection storms.
//! Nothing may crash, leak, or lose a message without counting it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown as Half, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use crate::util::{assert_accounted, info_field, message, publish_numbers, Conn, TestServer};

/// The `server` binary as a child process, so its descriptors, threads and memory can be
/// counted apart from the test's own. Killed on drop.
pub struct ChildServer {
    child: Child,
    addr: String,
}

impl ChildServer {
    pub fn start(backend: server::Backend, extra: &[&str]) -> ChildServer {
        ChildServer::spawn(backend, extra, "error", |_| {})
    }

    /// Like [`ChildServer::start`], logging at `log_level`, with the command changed by
    /// `change` first.
    fn spawn(
        backend: server::Backend,
        extra: &[&str],
        log_level: &str,
        change: impl FnOnce(&mut Command),
    ) -> ChildServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .args(["--port", "0", "--backend", backend.name(), "--log-level", log_level])
            .args(extra)
            .stdout(Stdio::piped());
        change(&mut command);
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
        ChildServer { child, addr }
    }

    /// A server whose open-file limit (soft and hard) is `fds`, started holding `held`
    /// descriptors it inherited (copies of its stderr), logging warnings to a pipe that
    /// [`ChildServer::kill_and_read_log`] reads.
    fn with_fd_limit(backend: server::Backend, extra: &[&str], fds: u64, held: u32) -> ChildServer {
        ChildServer::spawn(backend, extra, "warn", |command| {
            command.stderr(Stdio::piped());
            // SAFETY: the closure runs in the child between fork and exec and only calls
            // setrlimit and dup2, which are async-signal-safe, on a struct of its own and the
            // child's own descriptors. `dup2` leaves close-on-exec off, so the copies stay
            // open after exec, at fixed numbers below the limit.
            unsafe {
                command.pre_exec(move || {
                    // Descriptors 3..3+held, whatever the parent had open there: between
                    // fork and exec the child still holds every descriptor of the test
                    // process (other tests' sockets included), which close at exec.
                    for fd in 3..3 + held as i32 {
                        if libc::dup2(2, fd) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    let limit = libc::rlimit { rlim_cur: fds, rlim_max: fds };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        })
    }

    /// Kills the server and returns everything it logged (see [`ChildServer::with_fd_limit`]).
    fn kill_and_read_log(mut self) -> String {
        let _ = self.child.kill();
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut log).unwrap();
        }
        log
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
    }

    pub fn connect(&self) -> Conn {
        Conn::new(TcpStream::connect(&self.addr).unwrap())
    }

    /// The most memory the server process has held so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kib * 1024
    }

    /// Open descriptors and threads of the server process.
    fn resources(&self) -> (usize, usize) {
        let pid = self.child.id();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        (fds, threads)
    }

    /// Waits until `probe` is the only connection left and the process's descriptor and
    /// thread counts are at most `baseline` (a socket is closed just after its session ends,
    /// so the counts may lag the client count briefly). Bounded: fails after many tries.
    #[track_caller]
    fn expect_back_to(&self, probe: &mut Conn, baseline: (usize, usize)) {
        let mut last = (usize::MAX, usize::MAX);
        for _ in 0..5000 {
            if info_field(probe, "connected_clients") == 1 {
                last = self.resources();
                if last.0 <= baseline.0 && last.1 <= baseline.1 {
                    return;
                }
            }
            std::thread::yield_now();
        }
        panic!("descriptors/threads did not return to {baseline:?}: {last:?}");
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill with a pid we spawned and still own (not yet waited for).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

backend_tests! {
    fn a_stalled_subscriber_is_cut_off_and_nobody_else_waits(backend) {
        const LIMIT: usize = 4 * 1024 * 1024;
        const COUNT: usize = 3000;
        const BATCH: usize = 64;
        let server = TestServer::with(backend, |c| c.client_output_buffer_limit = LIMIT);
        let mut stalled = server.connect();
        stalled.roundtrip(&[b"SUBSCRIBE", b"c"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
        let mut healthy = server.connect();
        healthy.roundtrip(&[b"SUBSCRIBE", b"c"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
        let payload = vec![b'x'; 16 * 1024];
        let want = payload.clone();
        // The healthy subscriber reads everything, in order, and says so after every batch,
        // so the publisher can keep it well within its limit (1 MiB behind at most).
        let (read_tx, read_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for i in 0..COUNT {
                healthy.expect(&message(b"c", &want));
                if (i + 1) % BATCH == 0 {
                    read_tx.send(i + 1).unwrap();
                }
            }
        });
        let mut publisher = server.connect();
        let mut receivers = Vec::new();
        for i in 0..COUNT {
            publisher.cmd(&[b"PUBLISH", b"c", &payload]);
            let shared::Frame::Integer(n) = publisher.frame() else { panic!("integer reply") };
            receivers.push(n);
            if (i + 1) % BATCH == 0 {
                assert_eq!(read_rx.recv().unwrap(), i + 1);
            }
        }
        reader.join().unwrap();
        // 48 MB went out; the stalled one could hold at most its limit plus socket buffers.
        assert_eq!(receivers.last(), Some(&1), "the stalled subscriber is gone by the end");
        assert!(server.stop_ref().stats.slow_consumers.get() >= 1);
        // The stalled subscriber finds part of the stream, then the end of it.
        let mut got = Vec::new();
        let _ = stalled.stream.read_to_end(&mut got);
        assert!(got.len() < COUNT * payload.len(), "a slow consumer was not cut off");
        let ctx = server.stop();
        assert_accounted(&ctx);
        assert!(ctx.stats.dropped.get() > 0);
    }

    fn vanishing_peers_leave_no_leaks(backend) {
        let server = ChildServer::start(backend, &[]);
        let mut probe = server.connect();
        let abuse = |round: usize| {
            // A subscriber that resets the connection mid-frame.
            let channel = format!("c{round}");
            let mut c = server.connect();
            c.cmd(&[b"SUBSCRIBE", channel.as_bytes()]);
            c.frame();
            c.send(b"*2\r\n$4\r\nECHO\r\n$100\r\nonly part");
            socket2::SockRef::from(&c.stream).set_linger(Some(std::time::Duration::ZERO)).unwrap();
            drop(c);
            // A client that half-closes after a partial request.
            let mut c = server.connect();
            c.send(b"*1\r\n$4\r\nPI");
            c.stream.shutdown(Half::Write).unwrap();
            let mut rest = Vec::new();
            let _ = c.stream.read_to_end(&mut rest);
            // A client that connects and leaves without a word.
            drop(server.connect());
        };
        // One warm-up round, so every thread the server starts lazily exists, then settle.
        abuse(0);
        server.expect_back_to(&mut probe, (usize::MAX, usize::MAX));
        let baseline = server.resources();
        for round in 1..50 {
            abuse(round);
        }
        server.expect_back_to(&mut probe, baseline);
        assert_eq!(info_field(&mut probe, "pubsub_channels"), 0, "subscriptions leaked");
        drop(probe);
        assert!(server.terminate().success(), "SIGTERM exits 0");
    }

    fn a_storm_of_connections_while_publishing(backend) {
        let server = TestServer::start(backend);
        let addr = server.addr();
        let mut sub = server.connect();
        sub.roundtrip(&[b"SUBSCRIBE", b"s"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\ns\r\n:1\r\n");
        let publisher = std::thread::spawn(move || {
            let mut p = Conn::new(TcpStream::connect(addr).unwrap());
            for i in 0..2000 {
                p.roundtrip(&[b"PUBLISH", b"s", format!("{i}").as_bytes()], b":1\r\n");
            }
        });
        for i in 0..2000 {
            let mut c = TcpStream::connect(addr).unwrap();
            if i % 2 == 0 {
                // Half of them say something before leaving.
                c.write_all(b"PING\r\n").unwrap();
            }
        }
        publisher.join().unwrap();
        for i in 0..2000 {
            sub.expect(&message(b"s", format!("{i}").as_bytes()));
        }
        drop(sub);
        let ctx = server.stop();
        assert_accounted(&ctx);
        assert_eq!(ctx.stats.delivered.get(), 2000);
        assert_eq!(ctx.connected(), 0);
    }
}

backend_tests! {
    /// A second server started on a port the first one serves fails as redis-server does,
    /// rather than binding beside it (SO_REUSEPORT) and taking part of its connections; the
    /// first one goes on serving every connection.
    fn a_second_server_on_a_port_in_use_fails_to_start(backend) {
        let first = ChildServer::start(backend, &[]);
        let port = first.port().to_string();
        let mut second = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--port", &port, "--backend", backend.name(), "--log-level", "error"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Its first line is `listening on ...` if it bound; end of output if it gave up.
        let mut line = String::new();
        BufReader::new(second.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if !line.is_empty() {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second server started on port {port}: {line}");
        }
        let mut stderr = String::new();
        second.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(!second.wait().unwrap().success());
        assert!(stderr.contains("Address already in use"), "{stderr}");
        for _ in 0..20 {
            first.connect().roundtrip(&[b"PING"], b"+PONG\r\n");
        }
    }
}

backend_tests! {
    fn idle_connections_time_out_but_subscribers_stay(backend) {
        let server = TestServer::with(backend, |c| {
            c.idle_timeout = Some(std::time::Duration::from_millis(300));
        });
        let mut idle = server.connect();
        idle.roundtrip(&[b"PING"], b"+PONG\r\n");
        // A slowloris: half a request, then silence.
        let mut partial = server.connect();
        partial.send(b"*2\r\n$4\r\nECHO\r\n$10\r\nabc");
        let mut sub = server.connect();
        sub.roundtrip(&[b"SUBSCRIBE", b"c"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
        // Both non-subscribers are closed once idle (the read returns when the server closes):
        // the idle one silently, as by Redis; the one with half a request is told why.
        idle.expect_closed();
        partial.expect(b"-ERR request not completed within the timeout (0.3s)\r\n");
        partial.expect_closed();
        // The subscriber, idle just as long, is still served.
        let mut publisher = server.connect();
        publisher.roundtrip(&[b"PUBLISH", b"c", b"still here"], b":1\r\n");
        sub.expect(&message(b"c", b"still here"));
    }

    fn a_request_trickled_in_byte_by_byte_times_out(backend) {
        let timeout = std::time::Duration::from_millis(300);
        let server = TestServer::with(backend, |c| c.idle_timeout = Some(timeout));
        let mut slow = server.connect();
        let mut reader = slow.stream.try_clone().unwrap();
        let closed = std::thread::spawn(move || {
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest); // returns once the server closes
            rest
        });
        // One byte of a 100 KB argument every 30 ms: never silent for a tenth of the timeout,
        // and the request never completes. The pause is the attack itself, not a wait.
        slow.send(b"*2\r\n$4\r\nECHO\r\n$100000\r\n");
        let mut sent = 0;
        while !closed.is_finished() {
            assert!(sent < 1000, "still open after {sent} bytes over 30 s");
            if slow.stream.write_all(b"x").is_err() {
                break; // closed under us
            }
            sent += 1;
            std::thread::sleep(timeout / 10);
        }
        let told = closed.join().unwrap();
        assert_eq!(String::from_utf8_lossy(&told), "-ERR request not completed within the timeout (0.3s)\r\n");
        // A client that completes its requests in time is not touched.
        let mut normal = server.connect();
        normal.roundtrip(&[b"PING"], b"+PONG\r\n");
    }
}

backend_tests! {
    fn thread_count_follows_the_model(backend) {
        // (`pool`: room for all 297 waiting connections, however long this machine takes.)
        let pool = ["--pool-backlog", "1000", "--pool-wait-timeout", "0"];
        let server = ChildServer::start(backend, &[&["--workers", "4", "--threads", "2"], &pool[..]].concat());
        let mut first = server.connect();
        first.roundtrip(&[b"PING"], b"+PONG\r\n");
        let (_, before) = server.resources();
        let mut conns: Vec<Conn> = (0..300).map(|_| server.connect()).collect();
        if backend.name() == "pool" {
            // Only 4 are served; wait until the other 297 (with `first`) sit in the pool's queue.
            let mut queued = 0;
            for _ in 0..5000 {
                queued = info_field(&mut first, "pool_queued_connections");
                if queued == 297 {
                    break;
                }
            }
            assert_eq!(queued, 297);
        } else {
            for c in &mut conns {
                c.roundtrip(&[b"SUBSCRIBE", b"x"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n");
            }
        }
        let (_, after) = server.resources();
        match backend.name() {
            // A thread per connection: the count grows with them.
            "thread" => assert!(after >= before + 300, "{before} -> {after}"),
            // The pool holds the 4 served and queues the rest; queue and event never grow.
            _ => assert_eq!(after, before, "threads grew with connections"),
        }
    }

    fn sigterm_delivers_every_answered_publish_then_exits_0(backend) {
        let server = ChildServer::start(backend, &["--shutdown-timeout", "20"]);
        let mut sub = server.connect();
        sub.roundtrip(&[b"SUBSCRIBE", b"c"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
        let mut publisher = server.connect();
        publish_numbers(&mut publisher, b"c", 5000);
        // Everything was answered; the subscriber has read none of it yet.
        let reader = std::thread::spawn(move || {
            for i in 0..5000 {
                sub.expect(&message(b"c", format!("{i}").as_bytes()));
            }
            sub.expect_closed();
        });
        let status = server.terminate();
        reader.join().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

backend_tests! {
    fn max_clients_is_lowered_to_what_the_open_file_limit_holds(backend) {
        const FDS: u64 = 256;
        let server = ChildServer::with_fd_limit(backend, &["--max-clients", "100000"], FDS, 0);
        let mut probe = server.connect();
        let max = info_field(&mut probe, "maxclients");
        let per_connection = server::descriptors::per_connection(backend);
        assert_eq!(max, (FDS - server::descriptors::RESERVED) / per_connection);
        // Every client the lowered limit allows is served...
        let mut served: Vec<Conn> = (1..max).map(|_| server.connect()).collect();
        for c in &mut served {
            c.roundtrip(&[b"PING"], b"+PONG\r\n");
        }
        // ...and the next one hears why it is not.
        let mut refused = server.connect();
        refused.expect(b"-ERR max number of clients reached\r\n");
        refused.expect_closed();
        probe.roundtrip(&[b"PING"], b"+PONG\r\n");
        drop(served);
        let log = server.kill_and_read_log();
        let said = format!("max clients reduced to {max}: the open-file limit is {FDS}");
        assert!(log.contains(&said), "{log}");
    }
}

/// Out of descriptors for real: 150 descriptors the process holds besides its own leave a
/// 256-file `event` server room for fewer clients than `maxclients`. The connection that finds
/// no descriptor is accepted with the spare one and hears why, instead of waiting in the
/// kernel's backlog; and once clients leave, connections are served again.
#[test]
fn out_of_descriptors_the_next_connection_hears_why_and_serving_resumes() {
    let server = ChildServer::with_fd_limit(server::Backend::Event, &[], 256, 150);
    let mut probe = server.connect();
    let max = info_field(&mut probe, "maxclients");
    let mut served = Vec::new();
    let refusal = |c: &mut Conn| match c.frame() {
        shared::Frame::Simple(pong) if pong == "PONG" => false,
        shared::Frame::Error(e) if e == "ERR max number of clients reached" => true,
        other => panic!("unexpected reply {other:?}"),
    };
    loop {
        let mut c = server.connect();
        c.cmd(&[b"PING"]);
        if refusal(&mut c) {
            c.expect_eof();
            break;
        }
        served.push(c);
        assert!((served.len() as u64) + 1 < max, "reached maxclients with descriptors to spare");
    }
    // The spare comes back once the refused connection is closed: the next one hears why too.
    let mut again = server.connect();
    again.cmd(&[b"PING"]);
    assert!(refusal(&mut again), "a connection was served with no descriptor free");
    again.expect_eof();
    drop(served);
    // The server frees their descriptors as it notices them leave; until then, refusals.
    let mut resumed = false;
    for _ in 0..1000 {
        let mut c = server.connect();
        c.cmd(&[b"PING"]);
        if !refusal(&mut c) {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "never served again after clients left");
    let log = server.kill_and_read_log();
    assert!(log.contains("refused: out of file descriptors"), "{log}");
}
