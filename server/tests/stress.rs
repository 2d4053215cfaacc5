//! The scheduling protocols under load: more serving threads than cores, publishers and
//! ping-pong clients on threads of their own, subscribers reading everything. A lost wake-up
//! leaves a subscriber (or a client) waiting for bytes that never come: its read deadline
//! (`PATIENCE`) fails the test, however slow the machine.

use shared::Frame;

use crate::util::{message, Conn, TestServer};

/// Serving threads (schedulers, rings, workers): more than this machine's cores, so that the
/// OS deschedules some while they hold connections.
const THREADS: usize = 6;
const SUBSCRIBERS: usize = 16;
const PUBLISHERS: usize = 4;
/// Messages per publisher.
const MESSAGES: usize = 400;
const PINGERS: usize = 4;
const PINGS: usize = 400;
/// Messages published, one at a time, from outside the server's threads.
const QUIET_MESSAGES: usize = 20;

backend_tests! {
    fn every_wake_up_is_served_under_contention(backend) {
        let server = TestServer::with(backend, |c| {
            c.threads = Some(THREADS);
            // `pool` keeps a worker per connection: room for all of them.
            c.workers = Some(if backend == server::Backend::Pool { 64 } else { THREADS });
        });
        let subscribers: Vec<Conn> = (0..SUBSCRIBERS).map(|_| server.connect()).collect();
        let mut subscribers = subscribers;
        for sub in &mut subscribers {
            sub.roundtrip(&[b"SUBSCRIBE", b"stress"], b"*3\r\n$9\r\nsubscribe\r\n$6\r\nstress\r\n:1\r\n");
        }
        let mut subscribers = std::thread::scope(|s| {
            let readers: Vec<_> = subscribers
                .into_iter()
                .map(|mut sub| {
                    s.spawn(move || {
                        read_in_order(&mut sub);
                        sub
                    })
                })
                .collect();
            for p in 0..PUBLISHERS {
                let mut publisher = server.connect();
                s.spawn(move || {
                    let receivers = format!(":{SUBSCRIBERS}\r\n");
                    for i in 0..MESSAGES {
                        let payload = format!("{p}:{i}");
                        publisher.roundtrip(&[b"PUBLISH", b"stress", payload.as_bytes()], receivers.as_bytes());
                    }
                });
            }
            for _ in 0..PINGERS {
                let mut pinger = server.connect();
                s.spawn(move || {
                    for i in 0..PINGS {
                        let word = i.to_string();
                        let reply = format!("${}\r\n{word}\r\n", word.len());
                        pinger.roundtrip(&[b"ECHO", word.as_bytes()], reply.as_bytes());
                    }
                });
            }
            readers.into_iter().map(|reader| reader.join().unwrap()).collect::<Vec<_>>()
        });
        // Publishes from a thread that serves nothing (as the relay's), each while the server
        // is idle: the wake-up must reach a serving thread that sleeps.
        let ctx = server.stop_ref().clone();
        let channel = bytes::Bytes::from_static(b"stress");
        for i in 0..QUIET_MESSAGES {
            let payload = bytes::Bytes::from(format!("quiet {i}"));
            ctx.exchange.publish(&channel, &payload);
            for sub in &mut subscribers {
                sub.expect(&message(b"stress", &payload));
            }
        }
        drop(subscribers);
        // Counted once written, which may trail the reader by a moment: stopped first. The
        // quiet messages went around the sessions, so only the sessions' count as published.
        let ctx = server.stop();
        assert_eq!(ctx.stats.published_receivers.get(), (PUBLISHERS * MESSAGES * SUBSCRIBERS) as u64);
        assert_eq!(ctx.stats.delivered.get(), ((PUBLISHERS * MESSAGES + QUIET_MESSAGES) * SUBSCRIBERS) as u64);
        assert_eq!(ctx.stats.dropped.get(), 0);
    }
}

/// Reads every publisher's messages and checks each publisher's arrive in publish order.
#[track_caller]
fn read_in_order(sub: &mut Conn) {
    let mut next = [0usize; PUBLISHERS];
    for _ in 0..PUBLISHERS * MESSAGES {
        let Frame::Array(items) = sub.frame() else { panic!("not a message") };
        let Some(Frame::Bulk(payload)) = items.get(2) else { panic!("not a message") };
        let payload = String::from_utf8_lossy(payload);
        let (p, i) = payload.split_once(':').expect("publisher:index");
        let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[p], "publisher {p}'s messages out of order");
        next[p] += 1;
    }
}
