//! Subscriptions, patterns, subscribed mode and PUBSUB, byte for byte.

use crate::util::{message, TestServer};

backend_tests! {
    fn subscribe_publish_unsubscribe(backend) {
        let server = TestServer::start(backend);
        let mut sub = server.connect();
        let mut publisher = server.connect();
        sub.roundtrip(
            &[b"SUBSCRIBE", b"news", b"sport"],
            b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n",
        );
        publisher.roundtrip(&[b"PUBLISH", b"news", b"hello"], b":1\r\n");
        sub.expect(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
        publisher.roundtrip(&[b"PUBLISH", b"nobody", b"x"], b":0\r\n");
        // Subscribing twice to a channel keeps one subscription.
        sub.roundtrip(&[b"SUBSCRIBE", b"news"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:2\r\n");
        publisher.roundtrip(&[b"PUBLISH", b"news", b"once"], b":1\r\n");
        sub.expect(&message(b"news", b"once"));
        sub.roundtrip(&[b"UNSUBSCRIBE", b"news"], b"*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n");
        publisher.roundtrip(&[b"PUBLISH", b"news", b"gone"], b":0\r\n");
        sub.roundtrip(&[b"UNSUBSCRIBE"], b"*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:0\r\n");
        // With no subscription left, a bare UNSUBSCRIBE still answers once, with a null name.
        sub.roundtrip(&[b"UNSUBSCRIBE"], b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
        sub.roundtrip(&[b"PUNSUBSCRIBE"], b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n");
        // Out of subscribed mode, every command works again.
        sub.roundtrip(&[b"PING"], b"+PONG\r\n");
    }

    fn patterns_receive_pmessages(backend) {
        let server = TestServer::start(backend);
        let mut psub = server.connect();
        let mut both = server.connect();
        let mut publisher = server.connect();
        psub.roundtrip(&[b"PSUBSCRIBE", b"news.*"], b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n");
        both.roundtrip(&[b"SUBSCRIBE", b"news.uk"], b"*3\r\n$9\r\nsubscribe\r\n$7\r\nnews.uk\r\n:1\r\n");
        both.roundtrip(&[b"PSUBSCRIBE", b"news.[a-z]k"], b"*3\r\n$10\r\npsubscribe\r\n$11\r\nnews.[a-z]k\r\n:2\r\n");
        // Receivers: psub's pattern, both's channel and both's pattern.
        publisher.roundtrip(&[b"PUBLISH", b"news.uk", b"rain"], b":3\r\n");
        psub.expect(b"*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$7\r\nnews.uk\r\n$4\r\nrain\r\n");
        both.expect(&message(b"news.uk", b"rain"));
        both.expect(b"*4\r\n$8\r\npmessage\r\n$11\r\nnews.[a-z]k\r\n$7\r\nnews.uk\r\n$4\r\nrain\r\n");
        publisher.roundtrip(&[b"PUBLISH", b"sport", b"x"], b":0\r\n");
        publisher.roundtrip(&[b"PUBSUB", b"NUMPAT"], b":2\r\n");
        psub.roundtrip(&[b"PUNSUBSCRIBE", b"news.*"], b"*3\r\n$12\r\npunsubscribe\r\n$6\r\nnews.*\r\n:0\r\n");
        publisher.roundtrip(&[b"PUBSUB", b"NUMPAT"], b":1\r\n");
        publisher.roundtrip(&[b"PUBLISH", b"news.uk", b"sun"], b":2\r\n");
    }

    fn subscribed_mode_rules(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.roundtrip(&[b"SUBSCRIBE", b"a"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        c.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        c.roundtrip(&[b"PING", b"hi"], b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
        c.roundtrip(
            &[b"PUBLISH", b"a", b"b"],
            b"-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
        );
        c.roundtrip(
            &[b"ECHO", b"x"],
            b"-ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
        );
        // Unknown commands and bad arity are reported as such, even when subscribed.
        c.roundtrip(&[b"GET", b"k"], b"-ERR unknown command 'GET', with args beginning with: 'k' \r\n");
        c.roundtrip(&[b"RESET"], b"+RESET\r\n");
        c.roundtrip(&[b"ECHO", b"x"], b"$1\r\nx\r\n");
        let mut publisher = server.connect();
        publisher.roundtrip(&[b"PUBLISH", b"a", b"b"], b":0\r\n");
        c.roundtrip(&[b"SUBSCRIBE", b"a"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        c.roundtrip(&[b"QUIT"], b"+OK\r\n");
        c.expect_closed();
    }

    fn resp3_connections_get_push_frames(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.cmd(&[b"HELLO", b"3"]);
        c.frame();
        c.roundtrip(&[b"SUBSCRIBE", b"a"], b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        c.roundtrip(&[b"PSUBSCRIBE", b"*"], b">3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:2\r\n");
        // RESP3 has no subscribed-mode restrictions.
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
        c.roundtrip(&[b"ECHO", b"x"], b"$1\r\nx\r\n");
        let mut resp2 = server.connect();
        resp2.roundtrip(&[b"SUBSCRIBE", b"a"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        c.roundtrip(&[b"PUBLISH", b"a", b"hi"], b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n>4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\na\r\n$2\r\nhi\r\n:3\r\n");
        resp2.expect(&message(b"a", b"hi"));
        c.roundtrip(&[b"UNSUBSCRIBE", b"zz"], b">3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:2\r\n");
        c.roundtrip(&[b"PUBSUB", b"NUMSUB", b"a", b"zz"], b"*4\r\n$1\r\na\r\n:2\r\n$2\r\nzz\r\n:0\r\n");
    }

    fn pubsub_introspection(backend) {
        let server = TestServer::start(backend);
        let mut a = server.connect();
        let mut b = server.connect();
        let mut q = server.connect();
        q.roundtrip(&[b"PUBSUB", b"CHANNELS"], b"*0\r\n");
        q.roundtrip(&[b"PUBSUB", b"NUMSUB"], b"*0\r\n");
        q.roundtrip(&[b"PUBSUB", b"NUMPAT"], b":0\r\n");
        a.roundtrip(&[b"SUBSCRIBE", b"news"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
        b.cmd(&[b"SUBSCRIBE", b"news", b"nope"]);
        b.frame();
        b.frame();
        b.roundtrip(&[b"PSUBSCRIBE", b"n*"], b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n");
        a.roundtrip(&[b"PSUBSCRIBE", b"n*"], b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n");
        q.roundtrip(&[b"PUBSUB", b"NUMSUB", b"news", b"nope", b"x"], b"*6\r\n$4\r\nnews\r\n:2\r\n$4\r\nnope\r\n:1\r\n$1\r\nx\r\n:0\r\n");
        // NUMPAT counts distinct patterns, not subscriptions.
        q.roundtrip(&[b"PUBSUB", b"NUMPAT"], b":1\r\n");
        q.roundtrip(&[b"PUBSUB", b"CHANNELS", b"ne*"], b"*1\r\n$4\r\nnews\r\n");
        q.cmd(&[b"PUBSUB", b"CHANNELS"]);
        let shared::Frame::Array(mut all) = q.frame() else { panic!("array") };
        all.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(all, vec![shared::Frame::bulk("news"), shared::Frame::bulk("nope")]);
        // A closed connection leaves all its subscriptions.
        drop(b);
        let mut left = false;
        for _ in 0..10_000 {
            q.cmd(&[b"PUBSUB", b"NUMSUB", b"nope"]);
            if q.frame() == shared::Frame::Array(vec![shared::Frame::bulk("nope"), shared::Frame::Integer(0)]) {
                left = true;
                break;
            }
        }
        assert!(left, "subscriptions of a closed connection remain");
        q.roundtrip(&[b"PUBSUB", b"NUMSUB", b"news"], b"*2\r\n$4\r\nnews\r\n:1\r\n");
    }

    fn binary_empty_and_large_payloads(backend) {
        let server = TestServer::start(backend);
        let mut sub = server.connect();
        let mut publisher = server.connect();
        let channel: &[u8] = b"bin\x00\xff\r\n";
        sub.cmd(&[b"SUBSCRIBE", channel]);
        sub.frame();
        let every_byte: Vec<u8> = (0..=255u8).collect();
        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 253) as u8).collect();
        for payload in [&every_byte[..], b"", &big[..]] {
            publisher.roundtrip(&[b"PUBLISH", channel, payload], b":1\r\n");
            sub.expect(&message(channel, payload));
        }
        publisher.roundtrip(&[b"ECHO", &big], &shared::Frame::bulk(&big).to_bytes(shared::RespVersion::Resp2));
    }

    fn every_subscriber_of_many_gets_every_message_in_order(backend) {
        // Four schedulers on `event`, so that messages cross from one to another.
        let server = TestServer::with(backend, |c| c.threads = Some(4));
        let mut subs: Vec<_> = (0..64)
            .map(|_| {
                let mut sub = server.connect();
                sub.roundtrip(&[b"SUBSCRIBE", b"news"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
                sub
            })
            .collect();
        let mut publisher = server.connect();
        for i in 0..50 {
            publisher.roundtrip(&[b"PUBLISH", b"news", format!("m{i}").as_bytes()], b":64\r\n");
        }
        for sub in &mut subs {
            for i in 0..50 {
                sub.expect(&message(b"news", format!("m{i}").as_bytes()));
            }
        }
    }
}
