//! The soft output limit (`client-output-buffer-limit pubsub HARD SOFT SECONDS`), over real
//! sockets: a subscriber that holds more than SOFT bytes for longer than SECONDS is cut off,
//! what it never got is counted as dropped; a burst above SOFT shorter than SECONDS loses
//! nothing. And the parameter itself, byte-compared with redis-server.

use std::io::Read;
use std::net::TcpStream;

use shared::resp::encode_command;

use crate::util::{assert_accounted, info_field, message, wait_for, Conn, RedisServer, TestServer};

/// A subscriber to `ch` whose small receive buffer keeps the backlog in the server.
fn deaf_subscriber(server: &TestServer) -> Conn {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr().into()).unwrap();
    let mut sub = Conn::new(TcpStream::from(socket));
    sub.roundtrip(&[b"SUBSCRIBE", b"ch"], b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    sub
}

/// Publishes `count` messages of `payload` on `ch` in one write; returns the replies' sum.
fn publish_burst(publisher: &mut Conn, payload: &[u8], count: usize) -> i64 {
    let mut batch = Vec::new();
    for _ in 0..count {
        encode_command(&mut batch, &[&b"PUBLISH"[..], b"ch", payload]);
    }
    publisher.send(&batch);
    (0..count)
        .map(|_| match publisher.frame() {
            shared::Frame::Integer(n) => n,
            other => panic!("PUBLISH answered {other:?}"),
        })
        .sum()
}

backend_tests! {
    fn a_subscriber_above_the_soft_limit_longer_than_its_seconds_is_cut_off(backend) {
        let server = TestServer::with(backend, |c| c.client_output_buffer_limit = 64 << 20);
        let mut admin = server.connect();
        admin.roundtrip(
            &[b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 64mb 256kb 1"],
            b"+OK\r\n",
        );
        let mut sub = deaf_subscriber(&server);
        // 12 MB while it reads nothing: past what the kernel's buffers hold, far above the
        // soft limit, under the hard one. Then nothing more: the deadline alone must cut it.
        let payload = vec![b'x'; 16 * 1024];
        let receivers = publish_burst(&mut admin, &payload, 768);
        assert_eq!(receivers, 768, "no limit cut it while the burst lasted (1 s)");
        wait_for("the soft limit's cut", 1, || {
            info_field(&mut admin, "client_output_buffer_limit_disconnections_soft")
        });
        assert_eq!(info_field(&mut admin, "client_output_buffer_limit_disconnections"), 1);
        assert_eq!(info_field(&mut admin, "client_output_buffer_limit_disconnections_hard"), 0);
        // It finds part of the stream, then the end of it.
        let mut got = Vec::new();
        let _ = sub.stream.read_to_end(&mut got);
        assert!(got.len() < 768 * payload.len(), "it was cut off before the end");
        assert!(got.starts_with(&message(b"ch", &payload)));
        let ctx = server.stop();
        let (_, dropped) = assert_accounted(&ctx);
        assert!(dropped > 0, "what it never got is counted");
    }

    fn a_burst_above_the_soft_limit_shorter_than_its_seconds_loses_nothing(backend) {
        let server = TestServer::with(backend, |c| c.client_output_buffer_limit = 64 << 20);
        let mut admin = server.connect();
        admin.roundtrip(
            &[b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 64mb 256kb 2"],
            b"+OK\r\n",
        );
        let mut sub = deaf_subscriber(&server);
        // 8 MB while it reads nothing (above the soft limit in the server), then it reads
        // everything at once: the clock stops before its seconds are up.
        let payload = vec![b'y'; 16 * 1024];
        assert_eq!(publish_burst(&mut admin, &payload, 512), 512);
        let want = message(b"ch", &payload);
        for _ in 0..512 {
            sub.expect(&want);
        }
        sub.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        assert_eq!(info_field(&mut admin, "client_output_buffer_limit_disconnections"), 0);
        let ctx = server.stop();
        assert_eq!(assert_accounted(&ctx), (512, 0), "every message delivered");
    }

    fn client_output_buffer_limit_reads_and_shows_every_class_as_redis(backend) {
        let redis = RedisServer::start(&[]);
        let mut theirs = redis.connect();
        let server = TestServer::start(backend);
        let mut ours = server.connect();
        let get: &[&[u8]] = &[b"CONFIG", b"GET", b"client-output-buffer-limit"];
        for value in [
            &b"normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"[..],
            b"pubsub 32mb 8mb 60",
            b"replica 1k 2kb 3 normal 1gb 0 10",
            b"PUBSUB 1mb 512k 0",
        ] {
            let set: &[&[u8]] = &[b"CONFIG", b"SET", b"client-output-buffer-limit", value];
            theirs.cmd(set);
            ours.cmd(set);
            assert_eq!(ours.raw_frame(), theirs.raw_frame(), "CONFIG SET {value:?}");
            theirs.cmd(get);
            ours.cmd(get);
            assert_eq!(ours.raw_frame(), theirs.raw_frame(), "CONFIG GET after {value:?}");
        }
        for bad in [&b"pubsub 1 2"[..], b"master 1 2 3", b"pubsub 1 2 -3", b"pubsub 1x 0 0"] {
            let set: &[&[u8]] = &[b"CONFIG", b"SET", b"client-output-buffer-limit", bad];
            theirs.cmd(set);
            ours.cmd(set);
            assert_eq!(ours.raw_frame(), theirs.raw_frame(), "CONFIG SET {bad:?}");
        }
    }
}
