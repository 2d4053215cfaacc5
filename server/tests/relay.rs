//! `--relay`: nodes joined through a real `nats-server` (Debian's package), each node a server
//! in this process. Interest, delivery across nodes (once, in order), patterns, and a NATS
//! server that goes away and comes back.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shared::resp::encode_command;
use shared::Frame;

use crate::util::{assert_accounted, info_field, message, wait_for, Conn, TestServer, PATIENCE};

/// A `nats-server` on 127.0.0.1, killed on drop.
struct Nats {
    child: Child,
    addr: SocketAddr,
}

impl Nats {
    /// Starts one on a free port.
    #[track_caller]
    fn start() -> Nats {
        Nats::on_port(-1)
    }

    /// Starts one on `port` (-1: a free one) and waits until it listens.
    #[track_caller]
    fn on_port(port: i32) -> Nats {
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run nats-server ({e}): the relay tests need it (apt-get install nats-server)")
            });
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let addr = loop {
            let line = lines.next().expect("nats-server exited before listening").unwrap();
            if let Some(at) = line.split("Listening for client connections on ").nth(1) {
                break at.trim().parse().expect("an address");
            }
        };
        // Keep reading its log, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Nats { child, addr }
    }

    fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node of `backend` relaying through `nats`.
#[track_caller]
fn node(backend: server::Backend, nats: &Nats, name: &str) -> TestServer {
    TestServer::with(backend, |c| {
        c.metrics_port = Some(0);
        c.relay = vec![nats.url()];
        c.node_name = Some(name.into());
    })
}

#[track_caller]
fn subscribe(conn: &mut Conn, command: &[u8], name: &[u8]) {
    conn.cmd(&[command, name]);
    let Frame::Array(reply) = conn.frame() else { panic!("not a subscribe confirmation") };
    assert_eq!(reply.len(), 3, "{reply:?}");
}

/// Publishes `payload` on `channel` and returns the reply (local receivers).
#[track_caller]
fn publish(conn: &mut Conn, channel: &[u8], payload: &[u8]) -> i64 {
    conn.cmd(&[b"PUBLISH", channel, payload]);
    match conn.frame() {
        Frame::Integer(n) => n,
        other => panic!("PUBLISH answered {other:?}"),
    }
}

/// Publishes probes on `channel` through `publisher` until `subscriber` (on another node)
/// receives one, then a last message (`routed`) and waits for it: once it arrived, the
/// subscriber's interest has reached NATS and no probe is left in flight (NATS keeps one
/// connection's messages in order). Returns the payloads published, in order, for the local
/// subscribers to expect.
#[track_caller]
fn await_route(publisher: &mut Conn, subscriber: &mut Conn, channel: &[u8]) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + PATIENCE;
    let mut sent = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no probe crossed the relay within {PATIENCE:?}");
        publish(publisher, channel, b"probe");
        sent.push(b"probe".to_vec());
        if subscriber.try_frame(Duration::from_millis(100)).is_some() {
            break;
        }
    }
    publish(publisher, channel, b"routed");
    sent.push(b"routed".to_vec());
    loop {
        let Frame::Array(parts) = subscriber.frame() else { panic!("not a message") };
        match parts.last() {
            Some(Frame::Bulk(p)) if &p[..] == b"routed" => return sent,
            Some(Frame::Bulk(p)) if &p[..] == b"probe" => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Expects the messages `payloads` on `channel`, in order.
#[track_caller]
fn expect_all(conn: &mut Conn, channel: &[u8], payloads: &[Vec<u8>]) {
    for payload in payloads {
        conn.expect(&message(channel, payload));
    }
}

/// Waits until `INFO`'s `field` on `conn` reads `want`.
#[track_caller]
fn await_info(conn: &mut Conn, field: &str, want: u64) {
    wait_for(field, want, || info_field(conn, field));
}

backend_tests! {
    fn publishes_reach_every_node_once_and_in_order(backend) {
        let nats = Nats::start();
        let (a, b) = (node(backend, &nats, "a"), node(backend, &nats, "b"));
        // Any byte string is a channel, NATS's special characters included.
        let channel = b"odd. *>name\x00";
        let (mut sub_a, mut sub_b) = (a.connect(), b.connect());
        subscribe(&mut sub_a, b"SUBSCRIBE", channel);
        subscribe(&mut sub_b, b"SUBSCRIBE", channel);
        let mut publisher = a.connect();
        let probes = await_route(&mut publisher, &mut sub_b, channel);
        expect_all(&mut sub_a, channel, &probes);
        // The reply counts this node's receivers only, as Redis Cluster's does.
        let mut batch = Vec::new();
        for i in 0..500 {
            encode_command(&mut batch, &[&b"PUBLISH"[..], channel, i.to_string().as_bytes()]);
        }
        publisher.send(&batch);
        for _ in 0..500 {
            publisher.expect(b":1\r\n");
        }
        for i in 0..500 {
            sub_a.expect(&message(channel, i.to_string().as_bytes()));
            sub_b.expect(&message(channel, i.to_string().as_bytes()));
        }
        let (mut info_a, mut info_b) = (a.connect(), b.connect());
        // Every message went out or was counted (probes published before the first
        // connection are dropped), and the counters settle once the relay thread has counted.
        let dropped = info_field(&mut info_a, "relay_dropped");
        await_info(&mut info_a, "relay_out", probes.len() as u64 + 500 - dropped);
        // NATS never hands a node its own messages back.
        assert_eq!(info_field(&mut info_a, "relay_in"), 0);
        assert!(info_field(&mut info_b, "relay_in") >= 502);
        assert_eq!(info_field(&mut info_b, "relay_connected"), 1);
        assert_eq!(info_field(&mut info_b, "relay_in_dropped"), 0);
        // The same counters for Prometheus.
        let metrics = crate::ops::http_get(a.metrics_addr().expect("metrics"), "/metrics");
        let out = info_field(&mut info_a, "relay_out");
        assert!(metrics.contains(&format!("relay_out_total {out}")), "{metrics}");
        assert!(metrics.contains("relay_connected 1"), "{metrics}");
        drop((sub_a, sub_b, info_a, info_b, publisher));
        assert_accounted(&a.stop());
        assert_accounted(&b.stop());
    }

    fn patterns_on_another_node_hear_each_message_once(backend) {
        let nats = Nats::start();
        let (a, b) = (node(backend, &nats, "a"), node(backend, &nats, "b"));
        let (mut psub, mut sub, mut both) = (b.connect(), b.connect(), b.connect());
        subscribe(&mut psub, b"PSUBSCRIBE", b"ne*");
        subscribe(&mut sub, b"SUBSCRIBE", b"news");
        subscribe(&mut both, b"SUBSCRIBE", b"news");
        subscribe(&mut both, b"PSUBSCRIBE", b"n*");
        let mut publisher = a.connect();
        // Both routes (the channel's subscription and the catch-all) must carry before counting.
        await_route(&mut publisher, &mut psub, b"news");
        await_route(&mut publisher, &mut sub, b"news");
        let mut info = b.connect();
        // Quiet: every probe delivered everywhere it was going.
        let deadline = Instant::now() + PATIENCE;
        let mut pending = [&mut psub, &mut sub, &mut both];
        loop {
            let before = info_field(&mut info, "relay_in");
            let mut drained = false;
            for conn in pending.iter_mut() {
                while conn.try_frame(Duration::from_millis(50)).is_some() {
                    drained = true;
                }
            }
            if !drained && info_field(&mut info, "relay_in") == before {
                break;
            }
            assert!(Instant::now() < deadline, "probes kept arriving");
        }
        let receivers = info_field(&mut info, "pubsub_receivers");
        let relayed = info_field(&mut info, "relay_in");
        assert_eq!(publish(&mut publisher, b"news", b"hello"), 0);
        psub.expect(b"*4\r\n$8\r\npmessage\r\n$3\r\nne*\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
        sub.expect(&message(b"news", b"hello"));
        let mut got = vec![both.frame(), both.frame()];
        got.sort_by_key(|f| format!("{f:?}"));
        let want = vec![
            Frame::Array(vec![Frame::bulk("message"), Frame::bulk("news"), Frame::bulk("hello")]),
            Frame::Array(vec![
                Frame::bulk("pmessage"),
                Frame::bulk("n*"),
                Frame::bulk("news"),
                Frame::bulk("hello"),
            ]),
        ];
        assert_eq!(got, want);
        // Two copies came in (the channel's subscription and the catch-all), and each local
        // receiver heard the message once: four receivers, no more.
        await_info(&mut info, "relay_in", relayed + 2);
        assert_eq!(info_field(&mut info, "pubsub_receivers"), receivers + 4);
        for conn in [&mut psub, &mut sub, &mut both] {
            assert_eq!(conn.try_frame(Duration::from_millis(100)), None);
        }
        drop((psub, sub, both, info, publisher));
        assert_accounted(&b.stop());
    }

    fn interest_follows_subscriptions(backend) {
        let nats = Nats::start();
        let b = node(backend, &nats, "b");
        let mut info = b.connect();
        assert_eq!(info_field(&mut info, "relay_subscriptions"), 0);
        let mut conn = b.connect();
        subscribe(&mut conn, b"SUBSCRIBE", b"x");
        subscribe(&mut conn, b"SUBSCRIBE", b"y");
        let mut other = b.connect();
        subscribe(&mut other, b"SUBSCRIBE", b"x");
        subscribe(&mut other, b"PSUBSCRIBE", b"p*");
        subscribe(&mut other, b"PSUBSCRIBE", b"q*");
        // x, y, and one catch-all for both patterns.
        await_info(&mut info, "relay_subscriptions", 3);
        subscribe(&mut conn, b"UNSUBSCRIBE", b"x"); // `other` still has x
        subscribe(&mut conn, b"UNSUBSCRIBE", b"y");
        await_info(&mut info, "relay_subscriptions", 2);
        subscribe(&mut other, b"PUNSUBSCRIBE", b"p*");
        await_info(&mut info, "relay_subscriptions", 2);
        drop(other); // leaves x and q*
        await_info(&mut info, "relay_subscriptions", 0);
    }

    fn a_node_serves_locally_without_nats_and_recovers(backend) {
        let nats = Nats::start();
        let port = nats.addr.port();
        let (a, b) = (node(backend, &nats, "a"), node(backend, &nats, "b"));
        let (mut sub_a, mut sub_b) = (a.connect(), b.connect());
        subscribe(&mut sub_a, b"SUBSCRIBE", b"c");
        subscribe(&mut sub_b, b"SUBSCRIBE", b"c");
        let mut publisher = a.connect();
        let probes = await_route(&mut publisher, &mut sub_b, b"c");
        expect_all(&mut sub_a, b"c", &probes);
        drop(nats);
        let mut info_a = a.connect();
        await_info(&mut info_a, "relay_connected", 0);
        // (Probes published before the first connection count too.)
        let dropped = info_field(&mut info_a, "relay_dropped");
        // Local clients are served as before; what could not be relayed is counted.
        for i in 0..10 {
            assert_eq!(publish(&mut publisher, b"c", i.to_string().as_bytes()), 1);
            sub_a.expect(&message(b"c", i.to_string().as_bytes()));
        }
        assert_eq!(info_field(&mut info_a, "relay_dropped"), dropped + 10);
        // NATS back on the same port: both nodes reconnect and restore their subscriptions.
        let _nats = Nats::on_port(i32::from(port));
        await_info(&mut info_a, "relay_connected", 1);
        let probes = await_route(&mut publisher, &mut sub_b, b"c");
        expect_all(&mut sub_a, b"c", &probes);
        drop((sub_a, sub_b, info_a, publisher));
        assert_accounted(&a.stop());
        assert_accounted(&b.stop());
    }
}

#[test]
fn a_bad_relay_address_stops_the_start_with_a_clear_error() {
    let config = server::Config {
        port: 0,
        relay: vec!["nats://127.0.0.1:4222".into(), "nats://what:is:this".into()],
        ..server::Config::default()
    };
    let err = server::start(config).err().expect("start fails");
    assert!(err.to_string().starts_with("invalid --relay address 'nats://what:is:this'"), "{err}");
}
