//! Volume: pipelining, fan-out, many connections, and a graceful stop that loses nothing.

use crate::util::{assert_accounted, message, publish_numbers, raise_fd_limit, Conn, TestServer};

backend_tests! {
    fn a_thousand_pipelined_commands_in_one_write(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        let mut batch = Vec::new();
        let mut want = Vec::new();
        for i in 0..1000 {
            if i % 2 == 0 {
                batch.extend_from_slice(b"PING\r\n");
                want.extend_from_slice(b"+PONG\r\n");
            } else {
                let text = format!("message {i}");
                shared::resp::encode_command(&mut batch, &[&b"ECHO"[..], text.as_bytes()]);
                shared::resp::encode_bulk(&mut want, text.as_bytes());
            }
        }
        c.send(&batch);
        c.expect(&want);
    }

    fn a_hundred_subscribers_get_everything_in_order(backend) {
        let server = TestServer::start(backend);
        let mut subs: Vec<Conn> = (0..100).map(|_| server.connect()).collect();
        for s in &mut subs {
            s.roundtrip(&[b"SUBSCRIBE", b"fan"], b"*3\r\n$9\r\nsubscribe\r\n$3\r\nfan\r\n:1\r\n");
        }
        let mut publisher = server.connect();
        for i in 0..200 {
            publisher.roundtrip(&[b"PUBLISH", b"fan", format!("m{i}").as_bytes()], b":100\r\n");
        }
        for s in &mut subs {
            for i in 0..200 {
                s.expect(&message(b"fan", format!("m{i}").as_bytes()));
            }
        }
        drop(subs);
        let ctx = server.stop();
        assert_eq!(assert_accounted(&ctx), (20_000, 0));
    }

    fn a_thousand_concurrent_connections_all_answered(backend) {
        raise_fd_limit();
        let server = TestServer::with(backend, |c| {
            if backend.name() == "pool" {
                c.workers = Some(1000);
            }
        });
        let mut conns: Vec<Conn> = (0..1000).map(|_| server.connect()).collect();
        for (i, c) in conns.iter_mut().enumerate() {
            c.cmd(&[b"PING", format!("{i}").as_bytes()]);
        }
        for (i, c) in conns.iter_mut().enumerate() {
            c.expect(&shared::Frame::bulk(format!("{i}")).to_bytes(shared::RespVersion::Resp2));
        }
        for c in &mut conns {
            c.roundtrip(&[b"PING"], b"+PONG\r\n");
        }
    }

    fn graceful_stop_delivers_every_answered_publish(backend) {
        let server = TestServer::start(backend);
        let mut sub = server.connect();
        sub.roundtrip(&[b"SUBSCRIBE", b"c"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
        let mut publisher = server.connect();
        publish_numbers(&mut publisher, b"c", 2000);
        // Stop while the subscriber has not read anything yet: it must still get it all.
        let stopping = std::thread::spawn(move || server.stop());
        for i in 0..2000 {
            sub.expect(&message(b"c", format!("{i}").as_bytes()));
        }
        sub.expect_closed();
        let ctx = stopping.join().unwrap();
        assert_eq!(assert_accounted(&ctx), (2000, 0));
    }
}
