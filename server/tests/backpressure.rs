//! What the connection driver promises, over real sockets: a peer that falls behind is served
//! again once it reads, with nothing lost; a peer that does not read cannot make the server
//! hold more than the high-water mark for it.

use std::io::Read;
use std::net::TcpStream;

use shared::resp::encode_command;

use crate::faults::ChildServer;
use crate::util::{assert_accounted, message, Conn, TestServer, PATIENCE};

backend_tests! {
    fn a_subscriber_that_lags_by_megabytes_then_reads_gets_every_message_in_order(backend) {
        const COUNT: usize = 10_000;
        const BATCH: usize = 100;
        let server = TestServer::start(backend);
        // A small receive buffer, so that the backlog piles up in the server, not the kernel.
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&server.addr().into()).unwrap();
        let mut sub = Conn::new(TcpStream::from(socket));
        sub.roundtrip(&[b"SUBSCRIBE", b"ch"], b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
        // 10 MB published while the subscriber reads nothing: far past the high-water mark,
        // well under the output limit (32 MB).
        let mut publisher = server.connect();
        let payload = |i: usize| format!("{i:0>1024}");
        for batch in 0..COUNT / BATCH {
            let mut requests = Vec::new();
            for i in batch * BATCH..(batch + 1) * BATCH {
                encode_command(&mut requests, &[&b"PUBLISH"[..], b"ch", payload(i).as_bytes()]);
            }
            publisher.send(&requests);
            for _ in 0..BATCH {
                publisher.expect(b":1\r\n");
            }
        }
        // Now it reads, and nothing else happens: no more publishes, no command from it.
        for i in 0..COUNT {
            sub.expect(&message(b"ch", payload(i).as_bytes()));
        }
        let ctx = server.stop();
        assert_eq!(ctx.stats.slow_consumers.get(), 0, "a reader is not a slow consumer");
        assert_eq!(assert_accounted(&ctx), (COUNT as u64, 0));
    }

    fn a_peer_that_never_reads_cannot_make_the_server_hold_its_replies(backend) {
        const REQUESTS: usize = 300;
        let server = ChildServer::start(backend, &[]);
        // 2,000 channels with 100-byte names: each PUBSUB CHANNELS reply is about 220 KB.
        let mut sub = server.connect();
        let names: Vec<String> = (0..2000).map(|i| format!("{i:0>100}")).collect();
        let mut subscribe = vec![&b"SUBSCRIBE"[..]];
        subscribe.extend(names.iter().map(|n| n.as_bytes()));
        sub.cmd(&subscribe);
        for _ in 0..names.len() {
            sub.frame();
        }
        let before = server.peak_rss();
        // 300 requests in one write (about 9 KB): 66 MB of replies if all ran at once.
        let mut greedy = server.connect();
        let mut requests = Vec::new();
        for _ in 0..REQUESTS {
            encode_command(&mut requests, &[&b"PUBSUB"[..], b"CHANNELS"]);
        }
        greedy.send(&requests);
        // Reading them all shows they all ran in the end; the peak shows never all at once.
        let mut reply = Vec::new();
        encode_command(&mut reply, &names); // the same shape as the reply, any order
        let want = reply.len() * REQUESTS;
        let mut got = 0;
        let mut chunk = vec![0; 1 << 20];
        greedy.stream.set_read_timeout(Some(PATIENCE)).unwrap();
        while got < want {
            let n = greedy.stream.read(&mut chunk).expect("replies keep coming");
            assert!(n > 0, "closed after {got} of {want} bytes");
            got += n;
        }
        assert_eq!(got, want);
        let grew = server.peak_rss().saturating_sub(before);
        assert!(grew < 32 << 20, "the server held {grew} bytes more for a peer that did not read");
    }

    fn a_peer_that_pipelines_megabytes_before_reading_gets_every_reply(backend) {
        const REQUESTS: usize = 300_000;
        let server = TestServer::start(backend);
        let mut conn = server.connect();
        let mut writer = conn.stream.try_clone().unwrap();
        // More replies than the socket buffers and the high-water mark hold together: the
        // connection must stop running requests, drain its backlog, and resume.
        let sender = std::thread::spawn(move || {
            std::io::Write::write_all(&mut writer, &b"PING\r\n".repeat(REQUESTS)).unwrap();
        });
        conn.expect(&b"+PONG\r\n".repeat(REQUESTS));
        sender.join().unwrap();
    }
}
