//! Malformed input: the right Redis error, then the connection closes, and the server keeps
//! serving everybody else.

use crate::util::TestServer;

const MALFORMED: &[(&[u8], &[u8])] = &[
    (b"*x\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n+PING\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
    (b"ECHO \"unterminated\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    (b"ECHO \"a\"b\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    (b"*3000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$536870913\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
];

backend_tests! {
    fn malformed_requests_get_the_redis_error_and_a_close(backend) {
        let server = TestServer::start(backend);
        let mut bystander = server.connect();
        bystander.roundtrip(&[b"SUBSCRIBE", b"c"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
        for (input, reply) in MALFORMED {
            let mut c = server.connect();
            c.roundtrip(&[b"PING"], b"+PONG\r\n");
            c.send(input);
            c.expect(reply);
            c.expect_closed();
        }
        let mut other = server.connect();
        other.roundtrip(&[b"PUBLISH", b"c", b"still here"], b":1\r\n");
        bystander.expect(&crate::util::message(b"c", b"still here"));
    }

    fn oversized_lines_are_refused_before_buffering(backend) {
        let server = TestServer::start(backend);
        // An inline request with no newline in sight, past 64 KiB.
        let mut c = server.connect();
        c.send(&vec![b'a'; 70 * 1024]);
        c.expect(b"-ERR Protocol error: too big inline request\r\n");
        c.expect_closed();
        // A bulk header that never ends.
        let mut c = server.connect();
        let mut input = b"*1\r\n$".to_vec();
        input.extend(vec![b'1'; 70 * 1024]);
        c.send(&input);
        c.expect(b"-ERR Protocol error: too big bulk count string\r\n");
        c.expect_closed();
        // Limits from the configuration.
        let small = TestServer::with(backend, |c| {
            c.limits.max_bulk_len = 10;
            c.limits.max_args = 3;
        });
        let mut c = small.connect();
        c.send(b"*1\r\n$11\r\n");
        c.expect(b"-ERR Protocol error: invalid bulk length\r\n");
        c.expect_closed();
        let mut c = small.connect();
        c.send(b"*4\r\n");
        c.expect(b"-ERR Protocol error: invalid multibulk length\r\n");
        c.expect_closed();
        small.connect().roundtrip(&[b"ECHO", b"0123456789"], b"$10\r\n0123456789\r\n");
    }

    fn max_clients_refuses_the_next_connection(backend) {
        let server = TestServer::with(backend, |c| c.max_clients = 2);
        let mut a = server.connect();
        let mut b = server.connect();
        a.roundtrip(&[b"PING"], b"+PONG\r\n");
        b.roundtrip(&[b"PING"], b"+PONG\r\n");
        let mut refused = server.connect();
        refused.expect(b"-ERR max number of clients reached\r\n");
        refused.expect_closed();
        drop(a);
        // Once a slot frees up, connections are served again. The freed slot is noticed when
        // the server sees the close, so retry until it has.
        let mut served = None;
        for _ in 0..1000 {
            let mut c = server.connect();
            c.cmd(&[b"PING"]);
            if let shared::Frame::Simple(pong) = c.frame() {
                assert_eq!(pong, "PONG");
                served = Some(c);
                break;
            }
        }
        assert!(served.is_some(), "a freed slot was never reused");
        b.roundtrip(&[b"PING"], b"+PONG\r\n");
    }

    fn a_refused_client_that_already_sent_a_request_still_hears_why(backend) {
        let server = TestServer::with(backend, |c| c.max_clients = 1);
        let mut served = server.connect();
        served.roundtrip(&[b"PING"], b"+PONG\r\n");
        for size in [6, 64 * 1024] {
            // The request is on its way before the server refuses, so it is unread input when
            // the server is done with the connection: a plain close would reset it.
            let mut refused = server.connect();
            let mut request = b"PING\r\n".repeat(size / 6);
            request.truncate(size);
            refused.send(&request);
            refused.expect(b"-ERR max number of clients reached\r\n");
            // And more after the refusal arrived, which the server must not answer with a reset.
            refused.send(b"PING\r\n");
            refused.expect_eof();
        }
        served.roundtrip(&[b"PING"], b"+PONG\r\n");
        assert_eq!(crate::util::info_field(&mut served, "rejected_connections"), 2);
    }
}
