//! Many subscribers of one channel, and the counts `INFO` and `/metrics` keep of channels and
//! patterns.

use crate::util::{
    assert_accounted, info_field, message, raise_fd_limit, wait_for, Conn, TestServer,
};

/// Subscribers of the one channel: each costs the test process two descriptors (both ends)
/// and, on the blocking backends, the server one more (its wake fd).
const CROWD: usize = 3000;

/// Asks `ask` over `conn` until it answers `want`: what a closed connection leaves is undone by
/// the server after the close, not before the client's next request.
#[track_caller]
fn eventually(conn: &mut Conn, ask: &[&[u8]], want: &[u8]) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    wait_for("the answer", text(want), || {
        conn.cmd(ask);
        text(&conn.frame().to_bytes(shared::RespVersion::Resp2))
    });
}

fn numsub(channel: &str, n: usize) -> Vec<u8> {
    format!("*2\r\n${}\r\n{channel}\r\n:{n}\r\n", channel.len()).into_bytes()
}

backend_tests! {
    fn thousands_of_subscribers_of_one_channel_join_receive_and_leave(backend) {
        raise_fd_limit();
        let _alone = crate::util::many_connections();
        let server = TestServer::with(backend, |c| c.workers = Some(CROWD + 16));
        let mut crowd: Vec<Conn> = (0..CROWD).map(|_| server.connect()).collect();
        // Every subscribe in flight at once, then every confirmation.
        for c in &mut crowd {
            c.cmd(&[b"SUBSCRIBE", b"hot"]);
        }
        for c in &mut crowd {
            c.expect(b"*3\r\n$9\r\nsubscribe\r\n$3\r\nhot\r\n:1\r\n");
        }
        let mut publisher = server.connect();
        publisher.roundtrip(&[b"PUBSUB", b"NUMSUB", b"hot"], &numsub("hot", CROWD));
        publisher.roundtrip(&[b"PUBLISH", b"hot", b"one"], format!(":{CROWD}\r\n").as_bytes());
        for c in &mut crowd {
            c.expect(&message(b"hot", b"one"));
        }
        // Every other one unsubscribes, so that leaves come from all over the list, then the
        // rest hear the next message.
        for c in crowd.iter_mut().step_by(2) {
            c.cmd(&[b"UNSUBSCRIBE", b"hot"]);
        }
        for c in crowd.iter_mut().step_by(2) {
            c.expect(b"*3\r\n$11\r\nunsubscribe\r\n$3\r\nhot\r\n:0\r\n");
        }
        let left = CROWD / 2;
        publisher.roundtrip(&[b"PUBLISH", b"hot", b"two"], format!(":{left}\r\n").as_bytes());
        for c in crowd.iter_mut().skip(1).step_by(2) {
            c.expect(&message(b"hot", b"two"));
        }
        // The rest leave by closing.
        drop(crowd);
        eventually(&mut publisher, &[b"PUBSUB", b"NUMSUB", b"hot"], &numsub("hot", 0));
        publisher.roundtrip(&[b"PUBLISH", b"hot", b"three"], b":0\r\n");
        assert_eq!(info_field(&mut publisher, "pubsub_channels"), 0);
        drop(publisher);
        let ctx = server.stop();
        assert_eq!(assert_accounted(&ctx), ((CROWD + left) as u64, 0));
    }

    fn info_and_metrics_count_channels_and_patterns(backend) {
        let server = TestServer::with(backend, |c| c.metrics_port = Some(0));
        let metrics = server.metrics_addr().expect("metrics address");
        let gauge = |name: &str| -> u64 {
            let text = crate::ops::http_get(metrics, "/metrics");
            let line = format!("switchboard_{name} ");
            let value = text.lines().find_map(|l| l.strip_prefix(&line[..]));
            value.unwrap_or_else(|| panic!("no {name} in {text}")).trim().parse().unwrap()
        };
        let mut a = server.connect();
        let mut b = server.connect();
        let mut probe = server.connect();
        a.cmd(&[b"SUBSCRIBE", b"x", b"y"]);
        a.frame();
        a.frame();
        b.cmd(&[b"SUBSCRIBE", b"y", b"z"]);
        b.frame();
        b.frame();
        a.roundtrip(&[b"PSUBSCRIBE", b"p*"], b"*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n");
        b.roundtrip(&[b"PSUBSCRIBE", b"p*"], b"*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n");
        b.roundtrip(&[b"PSUBSCRIBE", b"q?"], b"*3\r\n$10\r\npsubscribe\r\n$2\r\nq?\r\n:4\r\n");
        assert_eq!(info_field(&mut probe, "pubsub_channels"), 3);
        assert_eq!(info_field(&mut probe, "pubsub_patterns"), 2);
        assert_eq!((gauge("pubsub_channels"), gauge("pubsub_patterns")), (3, 2));
        a.roundtrip(&[b"UNSUBSCRIBE", b"x", b"y"], b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\ny\r\n:1\r\n");
        assert_eq!(info_field(&mut probe, "pubsub_channels"), 2, "y keeps b");
        drop(b);
        eventually(&mut probe, &[b"PUBSUB", b"NUMPAT"], b":1\r\n");
        assert_eq!(info_field(&mut probe, "pubsub_channels"), 0);
        assert_eq!((gauge("pubsub_channels"), gauge("pubsub_patterns")), (0, 1));
        a.roundtrip(&[b"RESET"], b"+RESET\r\n");
        assert_eq!(info_field(&mut probe, "pubsub_patterns"), 0);
    }
}
