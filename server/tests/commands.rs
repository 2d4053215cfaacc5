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
        // The command table: every command served, each with its entry (tests/introspection.rs
        // compares them with redis-server's).
        let served = shared::command::COMMAND_TABLE.iter().filter(|r| !r.is_subcommand()).count();
        c.roundtrip(&[b"COMMAND", b"COUNT"], format!(":{served}\r\n").as_bytes());
        c.cmd(&[b"COMMAND"]);
        let shared::Frame::Array(table) = c.frame() else { panic!("COMMAND answers an array") };
        assert_eq!(table.len(), served);
        c.cmd(&[b"COMMAND", b"DOCS"]);
        let shared::Frame::Array(docs) = c.frame() else { panic!("RESP2 DOCS: a flat array") };
        assert_eq!(docs.len(), 2 * served);
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

/// `CLIENT TRACKING`, `TRACKINGINFO`, `GETREDIR` and `CACHING`, byte for byte with
/// redis-server 7.0 in RESP2 and RESP3: the replies, the errors of bad combinations, the
/// modes' flags, BCAST prefixes and their overlaps, CACHING lasting only while CLIENT commands
/// follow it, RESET turning tracking off.
mod tracking {

    use crate::util::{info_field, wait_for, Conn, RedisServer, TestServer};

    const SEQUENCES: &[&[&[&str]]] = &[
        &[
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "GETREDIR"],
            &["CLIENT", "TRACKING"],
            &["CLIENT", "TRACKING", "maybe"],
            &["CLIENT", "TRACKING", "on", "PREFIX", "a"],
            &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
            &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
            &["CLIENT", "TRACKING", "on", "REDIRECT", "999"],
            &["CLIENT", "TRACKING", "on", "REDIRECT", "x"],
            &["CLIENT", "TRACKING", "on", "REDIRECT", "0"],
            &["CLIENT", "TRACKING", "on", "REDIRECT"],
            &["CLIENT", "TRACKING", "on", "REDIRECT", "998", "REDIRECT", "999"],
            &["CLIENT", "TRACKING", "on", "FOO"],
            &["CLIENT", "TRACKING", "on", "PREFIX"],
            &["CLIENT", "CACHING", "yes"],
            &["CLIENT", "CACHING"],
            &["CLIENT", "TRACKING", "off"],
            &["CLIENT", "TRACKINGINFO"],
        ],
        &[
            &["CLIENT", "TRACKING", "on"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "GETREDIR"],
            &["CLIENT", "CACHING", "yes"],
            &["CLIENT", "CACHING", "no"],
            &["CLIENT", "CACHING", "maybe"],
            &["CLIENT", "TRACKING", "on", "BCAST"],
            &["CLIENT", "TRACKING", "ON", "optin"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "CACHING", "YES"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "TRACKINGINFO"],
            &["PING"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "TRACKING", "on", "OPTOUT"],
            &["CLIENT", "TRACKING", "off"],
            &["CLIENT", "TRACKING", "on", "OPTOUT", "NOLOOP"],
            &["CLIENT", "CACHING", "no"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "CACHING", "yes"],
        ],
        &[
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "cd"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a"],
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "cde"],
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "xy"],
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "TRACKING", "on"],
            &["CLIENT", "TRACKING", "off"],
            &["CLIENT", "TRACKING", "on", "BCAST"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x"],
            &["CLIENT", "TRACKING", "off", "BCAST", "PREFIX", "a"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "TRACKING", "on", "OPTIN"],
            &["RESET"],
            &["CLIENT", "TRACKINGINFO"],
        ],
    ];

    /// Sends `args` to both and asserts the same reply bytes.
    #[track_caller]
    fn same(ours: &mut Conn, theirs: &mut Conn, args: &[&str], resp3: bool) {
        crate::util::same_reply(ours, theirs, args, &format!("resp3 {resp3}"));
    }

    backend_tests! {
        fn tracking_replies_are_redis_servers(backend) {
            let server = TestServer::start(backend);
            let redis = RedisServer::start(&[]);
            for resp3 in [false, true] {
                for sequence in SEQUENCES {
                    let mut ours = server.connect();
                    let mut theirs = redis.connect();
                    if resp3 {
                        ours.cmd(&[b"HELLO", b"3"]);
                        theirs.cmd(&[b"HELLO", b"3"]);
                        let _ = (ours.frame(), theirs.frame());
                    }
                    for args in *sequence {
                        same(&mut ours, &mut theirs, args, resp3);
                    }
                }
            }
        }

        fn tracking_shows_in_client_list_and_info(backend) {
            let server = TestServer::start(backend);
            let (mut c, mut target, mut watcher) = (server.connect(), server.connect(), server.connect());
            target.cmd(&[b"CLIENT", b"ID"]);
            let shared::Frame::Integer(target_id) = target.frame() else { panic!("CLIENT ID") };
            let target_id = target_id.to_string();
            assert_eq!(info_field(&mut watcher, "tracking_clients"), 0);
            c.roundtrip(&[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", target_id.as_bytes()], b"+OK\r\n");
            c.roundtrip(&[b"CLIENT", b"GETREDIR"], format!(":{target_id}\r\n").as_bytes());
            c.cmd(&[b"CLIENT", b"INFO"]);
            let shared::Frame::Bulk(line) = c.frame() else { panic!("CLIENT INFO") };
            let line = String::from_utf8_lossy(&line).into_owned();
            assert!(line.contains(" flags=t ") && line.contains(&format!(" redir={target_id} ")), "{line}");
            wait_for("tracking_clients", 1, || info_field(&mut watcher, "tracking_clients"));
            c.roundtrip(&[b"CLIENT", b"TRACKING", b"off"], b"+OK\r\n");
            c.roundtrip(&[b"CLIENT", b"TRACKING", b"on", b"BCAST"], b"+OK\r\n");
            c.cmd(&[b"CLIENT", b"INFO"]);
            let shared::Frame::Bulk(line) = c.frame() else { panic!("CLIENT INFO") };
            let line = String::from_utf8_lossy(&line).into_owned();
            assert!(line.contains(" flags=tB ") && line.contains(" redir=0 "), "{line}");
            c.roundtrip(&[b"CLIENT", b"TRACKING", b"off"], b"+OK\r\n");
            c.cmd(&[b"CLIENT", b"INFO"]);
            let shared::Frame::Bulk(line) = c.frame() else { panic!("CLIENT INFO") };
            let line = String::from_utf8_lossy(&line).into_owned();
            assert!(line.contains(" flags=N ") && line.contains(" redir=-1 "), "{line}");
            wait_for("tracking_clients", 0, || info_field(&mut watcher, "tracking_clients"));
            // A closed tracking connection is no longer counted.
            c.roundtrip(&[b"CLIENT", b"TRACKING", b"on"], b"+OK\r\n");
            wait_for("tracking_clients", 1, || info_field(&mut watcher, "tracking_clients"));
            drop(c);
            wait_for("tracking_clients", 0, || info_field(&mut watcher, "tracking_clients"));
        }
    }

    backend_tests! {
        fn clients_turn_tracking_on(backend) {
            redis_py_and_the_redis_crate_turn_tracking_on(backend)
        }
    }

    /// What client libraries send for client-side caching: redis-py's `client_tracking_on`
    /// (RESP3, as its cache needs) and the `redis` crate's raw command.
    fn redis_py_and_the_redis_crate_turn_tracking_on(backend: server::Backend) {
        let server = TestServer::start(backend);
        let script = r#"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]), protocol=3)
assert r.client_tracking_on(bcast=True, prefix=["user:"]) in (True, b"OK", "OK")
info = r.client_trackinginfo()
assert info is not None, info
assert r.client_getredir() == 0
assert r.client_tracking_off() in (True, b"OK", "OK")
assert r.client_getredir() == -1
print("ok")
"#;
        assert_eq!(crate::util::python(script, &[server.addr().port().to_string()]), "ok\n");
        let mut con = server.redis(true);
        let ok: String =
            redis::cmd("CLIENT").arg("TRACKING").arg("on").arg("OPTIN").query(&mut con).unwrap();
        assert_eq!(ok, "OK");
        let redir: i64 = redis::cmd("CLIENT").arg("GETREDIR").query(&mut con).unwrap();
        assert_eq!(redir, 0);
    }
}
