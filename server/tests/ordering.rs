//! The ordering guarantee: nothing reaches a subscriber for a channel (pattern, shard channel)
//! after the confirmation of its UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE or RESET, however busy
//! the channel is.

use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shared::Frame;

use crate::util::{assert_accounted, Conn, TestServer};

/// Subscribe/leave cycles of the racing subscriber.
const ROUNDS: usize = 300;
/// Publisher connections, each publishing to `race` (with PUBLISH and with SPUBLISH) without
/// pause.
const PUBLISHERS: usize = 3;
/// Other subscribers of `race`: each fan-out goes through them too, which widens the window in
/// which a publisher has taken the subscriber list but not yet reached the racing subscriber.
const OTHERS: usize = 16;

/// How the racing subscriber joins and leaves in one round.
#[derive(Clone, Copy, Debug)]
enum Way {
    Unsubscribe,
    PUnsubscribe,
    SUnsubscribe,
    Reset,
}

/// What a frame is to the racing subscriber.
enum Seen {
    /// A `message`, `pmessage` or `smessage` for `race`.
    Message,
    /// Anything else: a confirmation or a reply.
    Other(Frame),
}

fn classify(frame: Frame) -> Seen {
    if let Frame::Array(items) = &frame {
        if let Some(Frame::Bulk(kind)) = items.first() {
            if [&b"message"[..], b"pmessage", b"smessage"].contains(&&kind[..]) {
                return Seen::Message;
            }
        }
    }
    Seen::Other(frame)
}

fn confirmation(word: &str, name: &str, count: i64) -> Frame {
    Frame::Array(vec![Frame::bulk(word), Frame::bulk(name), Frame::Integer(count)])
}

/// Reads frames until `want`; returns how many messages came before it.
#[track_caller]
fn read_until(conn: &mut Conn, want: &Frame) -> usize {
    let mut messages = 0;
    loop {
        match classify(conn.frame()) {
            Seen::Message => messages += 1,
            Seen::Other(frame) if &frame == want => return messages,
            Seen::Other(frame) => panic!("expected {want:?}, got {frame:?}"),
        }
    }
}

backend_tests! {
    fn nothing_arrives_for_a_channel_after_its_unsubscribe_confirmation(backend) {
        let server = TestServer::start(backend);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut sockets = Vec::new();
        for _ in 0..OTHERS {
            let mut other = server.connect();
            other.roundtrip(&[b"SUBSCRIBE", b"race"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nrace\r\n:1\r\n");
            other.roundtrip(&[b"SSUBSCRIBE", b"race"], b"*3\r\n$10\r\nssubscribe\r\n$4\r\nrace\r\n:1\r\n");
            sockets.push(other.stream.try_clone().unwrap());
            threads.push(std::thread::spawn(move || {
                // Reads and discards until the socket is shut down at the end.
                let mut buf = [0u8; 64 * 1024];
                while matches!(std::io::Read::read(&mut other.stream, &mut buf), Ok(n) if n > 0) {}
            }));
        }
        for _ in 0..PUBLISHERS {
            let mut publisher = server.connect();
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut batch = Vec::new();
                for i in 0..50 {
                    let publish: &[u8] = if i % 2 == 0 { b"PUBLISH" } else { b"SPUBLISH" };
                    shared::resp::encode_command(&mut batch, &[publish, b"race", format!("m{i}").as_bytes()]);
                }
                while !stop.load(Ordering::Relaxed) {
                    publisher.send(&batch);
                    for _ in 0..50 {
                        assert!(matches!(publisher.frame(), Frame::Integer(_)));
                    }
                }
            }));
        }

        let mut sub = server.connect();
        let mut strays = Vec::new();
        for round in 0..ROUNDS {
            let way = [Way::Unsubscribe, Way::PUnsubscribe, Way::SUnsubscribe, Way::Reset][round % 4];
            let (join, joined) = match way {
                Way::PUnsubscribe => (&b"PSUBSCRIBE"[..], confirmation("psubscribe", "rac?", 1)),
                Way::SUnsubscribe => (&b"SSUBSCRIBE"[..], confirmation("ssubscribe", "race", 1)),
                _ => (&b"SUBSCRIBE"[..], confirmation("subscribe", "race", 1)),
            };
            let name: &[u8] = if matches!(way, Way::PUnsubscribe) { b"rac?" } else { b"race" };
            sub.cmd(&[join, name]);
            // Not subscribed until this confirmation: no message may come before it.
            let early = read_until(&mut sub, &joined);
            if early > 0 {
                strays.push((round, way, "before the subscribe confirmation", early));
            }
            // Wait for one message, so that the channel is known to be busy.
            while !matches!(classify(sub.frame()), Seen::Message) {}
            match way {
                Way::Unsubscribe => {
                    sub.cmd(&[b"UNSUBSCRIBE", b"race"]);
                    read_until(&mut sub, &confirmation("unsubscribe", "race", 0));
                }
                Way::PUnsubscribe => {
                    sub.cmd(&[b"PUNSUBSCRIBE", b"rac?"]);
                    read_until(&mut sub, &confirmation("punsubscribe", "rac?", 0));
                }
                Way::SUnsubscribe => {
                    sub.cmd(&[b"SUNSUBSCRIBE", b"race"]);
                    read_until(&mut sub, &confirmation("sunsubscribe", "race", 0));
                }
                Way::Reset => {
                    sub.cmd(&[b"RESET"]);
                    read_until(&mut sub, &Frame::Simple("RESET".into()));
                }
            }
            // After the confirmation, a PING's reply must come next: a stray message would be
            // read by a RESP2 client as the reply to its next command.
            sub.cmd(&[b"PING"]);
            let late = read_until(&mut sub, &Frame::Simple("PONG".into()));
            if late > 0 {
                strays.push((round, way, "after the leave confirmation", late));
            }
        }
        stop.store(true, Ordering::Relaxed);
        for socket in &sockets {
            let _ = socket.shutdown(Shutdown::Both);
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(strays.is_empty(), "{} of {ROUNDS} rounds saw messages while not subscribed: {strays:?}", strays.len());
        drop(sub);
        let ctx = server.stop();
        assert_accounted(&ctx);
    }
}

backend_tests! {
    fn a_subscriber_the_server_closed_is_no_longer_counted(backend) {
        let server = TestServer::start(backend);
        let mut publisher = server.connect();
        let mut stays = server.connect();
        stays.roundtrip(&[b"SUBSCRIBE", b"news"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
        for round in 0..20 {
            let mut leaves = server.connect();
            leaves.roundtrip(&[b"SUBSCRIBE", b"news"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
            if round % 2 == 0 {
                // QUIT: once the connection's end reached the client, nobody hears for it.
                leaves.roundtrip(&[b"QUIT"], b"+OK\r\n");
            } else {
                // The client leaves: once the server closed in turn, the same.
                leaves.stream.shutdown(Shutdown::Write).unwrap();
            }
            leaves.expect_eof();
            publisher.roundtrip(&[b"PUBLISH", b"news", b"x"], b":1\r\n");
            stays.expect(&crate::util::message(b"news", b"x"));
        }
        // The client leaves and the publish comes at once: whether it is counted depends on
        // which the server saw first (as with redis-server), but a count is a drop once the
        // server closes it, so every receiver counted is delivered or dropped.
        for _ in 0..20 {
            let mut leaves = server.connect();
            leaves.roundtrip(&[b"SUBSCRIBE", b"news"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
            drop(leaves);
            publisher.cmd(&[b"PUBLISH", b"news", b"y"]);
            let counted = publisher.frame();
            assert!(matches!(counted, Frame::Integer(1 | 2)), "{counted:?}");
            stays.expect(&crate::util::message(b"news", b"y"));
            // The server saw it leave before the next round (each round one window).
            crate::util::wait_for("the subscriber that left was never closed", 2, || {
                crate::util::info_field(&mut publisher, "connected_clients")
            });
        }
        let ctx = server.stop();
        assert_accounted(&ctx);
    }
}
