//! The request/response commands, byte for byte.

use crate::util::TestServer;

backend_tests! {
    fn ping_echo_and_quit(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
        c.roundtrip(&[b"ping", b"hello world"], b"$11\r\nhello world\r\n");
        c.roundtrip(&[b"ECHO", b""], b"$0\r\n\r\n");
        c.roundtrip(&[b"EcHo", b"a\r\nb"], b"$4\r\na\r\nb\r\n");
        c.send(b"PING\r\n");
        c.expect(b"+PONG\r\n");
        c.send(b"ECHO \"a b\\x41\" 'c d'\r\n");
        c.expect(b"-ERR wrong number of arguments for 'echo' command\r\n");
        c.send(b"ECHO \"a b\\x41\"\r\n\r\n\n");
        c.expect(b"$4\r\na bA\r\n");
        c.roundtrip(&[b"QUIT"], b"+OK\r\n");
        c.expect_closed();
    }

    fn unknown_commands_and_wrong_arity(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.roundtrip(&[b"GET", b"k"], b"-ERR unknown command 'GET', with args beginning with: 'k' \r\n");
        c.roundtrip(&[b"NOPE"], b"-ERR unknown command 'NOPE', with args beginning with: \r\n");
        c.roundtrip(&[b"PING", b"a", b"b"], b"-ERR wrong number of arguments for 'ping' command\r\n");
        c.roundtrip(&[b"PUBLISH", b"a"], b"-ERR wrong number of arguments for 'publish' command\r\n");
        c.roundtrip(&[b"SUBSCRIBE"], b"-ERR wrong number of arguments for 'subscribe' command\r\n");
        c.roundtrip(&[b"PSUBSCRIBE"], b"-ERR wrong number of arguments for 'psubscribe' command\r\n");
        c.roundtrip(&[b"PUBSUB"], b"-ERR wrong number of arguments for 'pubsub' command\r\n");
        c.roundtrip(&[b"PUBSUB", b"FOO"], b"-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n");
        // The connection is still fine after errors.
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
    }

    fn what_clients_send_on_connect(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.roundtrip(&[b"CLIENT", b"SETINFO", b"LIB-NAME", b"x"], b"+OK\r\n");
        c.roundtrip(&[b"CLIENT", b"SETNAME", b"me"], b"+OK\r\n");
        c.roundtrip(&[b"CLIENT", b"GETNAME"], b"$2\r\nme\r\n");
        c.roundtrip(&[b"CONFIG", b"GET", b"save"], b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
        // The command table: 30 commands, each with its entry (tests/introspection.rs
        // compares them with redis-server's).
        c.roundtrip(&[b"COMMAND", b"COUNT"], b":30\r\n");
        c.cmd(&[b"COMMAND"]);
        let shared::Frame::Array(table) = c.frame() else { panic!("COMMAND answers an array") };
        assert_eq!(table.len(), 30);
        c.cmd(&[b"COMMAND", b"DOCS"]);
        let shared::Frame::Array(docs) = c.frame() else { panic!("RESP2 DOCS: a flat array") };
        assert_eq!(docs.len(), 60);
        c.roundtrip(&[b"HELLO", b"4"], b"-NOPROTO unsupported protocol version\r\n");
        // HELLO with no version reports the current protocol (2) as a flat array.
        c.cmd(&[b"HELLO"]);
        let shared::Frame::Array(items) = c.frame() else { panic!("HELLO reply is an array") };
        assert_eq!(items[0], shared::Frame::bulk("server"));
        assert!(items.contains(&shared::Frame::bulk("proto")));
        assert!(items.contains(&shared::Frame::Integer(2)));
        // HELLO 3 answers with a RESP3 map, and the connection speaks RESP3 from then on.
        c.cmd(&[b"HELLO", b"3"]);
        let shared::Frame::Map(pairs) = c.frame() else { panic!("HELLO 3 reply is a map") };
        assert!(pairs.contains(&(shared::Frame::bulk("proto"), shared::Frame::Integer(3))));
        c.roundtrip(&[b"CLIENT", b"GETNAME"], b"$2\r\nme\r\n");
        c.roundtrip(&[b"CONFIG", b"GET", b"save"], b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n");
        c.roundtrip(&[b"RESET"], b"+RESET\r\n");
        c.roundtrip(&[b"CLIENT", b"GETNAME"], b"$-1\r\n");
        c.cmd(&[b"INFO", b"stats"]);
        let shared::Frame::Bulk(info) = c.frame() else { panic!("INFO reply is a bulk string") };
        let info = String::from_utf8(info.to_vec()).unwrap();
        assert!(info.starts_with("# Stats\r\n"), "{info}");
        assert!(info.contains("pubsub_dropped:0\r\n"), "{info}");
    }
}
