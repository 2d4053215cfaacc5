//! The ACL subcommands and command categories: `ACL DELUSER|GETUSER|DRYRUN|SAVE|HELP|CAT`
//! and `+@category` rules, compared byte for byte with redis-server 7 where its answers are
//! deterministic, the categories checked against redis-server's own `COMMAND INFO`, and a
//! deleted user's connections seen ending through raw sockets, redis-cli and redis-py.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use shared::Frame;

use crate::security::acl_file;
use crate::util::{wait_for, Conn, RedisServer, TestServer};

/// The users both servers start with.
const USERS: &str = "user default on nopass ~* &* +@all\n\
                     user alice on >wonderland resetchannels &news.* &chat +@all\n";

/// The requests both servers answer in the comparison, one connection, one at a time. Every
/// rule here is one whose `ACL LIST` line redis-server 7.0 (which rebuilds the line from its
/// bitmap of commands) and 7.2 (which keeps the rules as given, as this server does) agree on.
const SCRIPT: &[&[&str]] = &[
    &["ACL", "LOG"],
    &["ACL", "LOG", "-1"],
    &["ACL", "SETUSER", "c1", "-@all", "+@pubsub", "+ping"],
    &["ACL", "SETUSER", "c2", "+@all", "-@admin"],
    &["ACL", "SETUSER", "pub", "on", ">p", "resetchannels", "&news.*", "-@all", "+@pubsub"],
    &["ACL", "SETUSER", "c4", "-@all", "+@FAST"],
    &["ACL", "SETUSER", "c6", "-@all", "+@connection"],
    &["ACL", "SETUSER", "c7", "+@all", "-@pubsub"],
    &["ACL", "SETUSER", "c8", "-@all", "+@transaction"],
    &["ACL", "SETUSER", "x", "+@nosuch"],
    &["ACL", "SETUSER", "x", "-@"],
    &["ACL", "LIST"],
    &["ACL", "USERS"],
    &["ACL", "GETUSER", "pub"],
    &["ACL", "GETUSER", "alice"],
    &["ACL", "GETUSER", "default"],
    &["ACL", "GETUSER", "c8"],
    &["ACL", "GETUSER", "nosuch"],
    &["ACL", "GETUSER"],
    &["ACL", "GETUSER", "a", "b"],
    &["ACL", "GENPASS", "0"],
    &["ACL", "GENPASS", "-1"],
    &["ACL", "GENPASS", "4097"],
    &["ACL", "GENPASS", "abc"],
    &["ACL", "GENPASS", "1", "2"],
    &["ACL", "DRYRUN", "pub", "publish", "news.a", "hi"],
    &["ACL", "DRYRUN", "pub", "publish", "other", "hi"],
    &["ACL", "DRYRUN", "pub", "psubscribe", "news.*"],
    &["ACL", "DRYRUN", "pub", "psubscribe", "news.a*"],
    &["ACL", "DRYRUN", "pub", "subscribe", "news.a", "other", "x"],
    &["ACL", "DRYRUN", "pub", "spublish", "x", "y"],
    &["ACL", "DRYRUN", "pub", "pubsub", "numpat"],
    &["ACL", "DRYRUN", "pub", "ping"],
    &["ACL", "DRYRUN", "pub", "config", "get", "x"],
    &["ACL", "DRYRUN", "c2", "config", "get", "x"],
    &["ACL", "DRYRUN", "c2", "config", "help"],
    &["ACL", "DRYRUN", "c2", "acl", "whoami"],
    &["ACL", "DRYRUN", "c2", "acl", "deluser", "a"],
    &["ACL", "DRYRUN", "c2", "client", "kill", "id", "1"],
    &["ACL", "DRYRUN", "c2", "publish", "a", "b"],
    &["ACL", "DRYRUN", "c4", "publish", "a", "b"],
    &["ACL", "DRYRUN", "c4", "subscribe", "a"],
    &["ACL", "DRYRUN", "c6", "client", "id"],
    &["ACL", "DRYRUN", "c6", "client", "list"],
    &["ACL", "DRYRUN", "c7", "pubsub", "numsub"],
    &["ACL", "DRYRUN", "c7", "pubsub", "help"],
    &["ACL", "DRYRUN", "c8", "multi"],
    &["ACL", "DRYRUN", "nosuch", "ping"],
    &["ACL", "DRYRUN", "pub", "nosuchcommand"],
    &["ACL", "DRYRUN", "pub", "pubsub", "nosuch"],
    &["ACL", "DRYRUN", "pub", "subscribe"],
    &["ACL", "DRYRUN", "pub", "publish", "a"],
    &["ACL", "DRYRUN", "pub", "pubsub", "channels", "a", "b"],
    &["ACL", "DRYRUN", "c4", "ping", "a", "b"],
    &["ACL", "DRYRUN", "c7", "ping", "a", "b"],
    &["ACL", "DRYRUN", "pub"],
    &["ACL", "DELUSER", "default"],
    &["ACL", "DELUSER", "c8", "default"],
    &["ACL", "DELUSER", "nosuch", "c7", "c7"],
    &["ACL", "DELUSER", "nosuch"],
    &["ACL", "DELUSER"],
    &["ACL", "USERS"],
    &["ACL", "SAVE"],
    &["ACL", "SAVE", "x"],
    &["ACL", "HELP", "x"],
    &["ACL", "CAT", "nosuch"],
    &["ACL", "CAT", "a", "b"],
    &["ACL", "LOG", "x"],
    &["ACL", "LOG", "1", "2"],
    &["HELLO", "3"],
    &["ACL", "GETUSER", "pub"],
    &["ACL", "GETUSER", "default"],
    &["ACL", "GETUSER", "nosuch"],
    &["ACL", "DELUSER", "c6"],
    &["HELLO", "2"],
    // The category rules at work: `pub` may run @pubsub and nothing else.
    &["AUTH", "pub", "p"],
    &["PING"],
    &["ACL", "WHOAMI"],
    &["CLIENT", "ID"],
    &["PUBLISH", "news.a", "hi"],
    &["PUBLISH", "other", "hi"],
    &["PUBSUB", "NUMSUB", "news.a"],
    &["PUBSUB", "HELP"],
    &["SUBSCRIBE", "news.a"],
    &["PING"],
    &["UNSUBSCRIBE"],
    &["MULTI"],
    &["AUTH", "default", "x"],
    &["ACL", "DELUSER", "pub"],
    &["ACL", "GETUSER", "pub"],
    &["ACL", "LOG", "RESET"],
    &["ACL", "LOG"],
];

/// Sends `SCRIPT` to `addr` one request at a time and returns each request with the bytes of
/// its reply (HELLO's own replies, which name the server, left out).
fn run_script(addr: SocketAddr) -> Vec<(String, String)> {
    let mut conn = Conn::new(TcpStream::connect(addr).unwrap());
    let mut replies = Vec::new();
    for args in SCRIPT {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        conn.cmd(&bytes);
        let reply = conn.raw_frame();
        if args[0] != "HELLO" {
            replies.push((args.join(" "), String::from_utf8_lossy(&reply).into_owned()));
        }
    }
    replies
}

/// redis-server 7 with an ACL file holding `USERS`, and that file.
fn redis_with_users() -> (RedisServer, std::path::PathBuf) {
    let path = acl_file("acl-redis", USERS);
    let redis = RedisServer::start(&["--aclfile", path.to_str().unwrap()]);
    (redis, path)
}

/// The names redis-server 7.0 does not know (Redis 7.2 added them).
const NEWER_THAN_7_0: [&str; 2] = ["client|setinfo", "client|no-touch"];

/// What `conn` answers to `args`, an array of bulk strings, as a set of strings.
fn string_set(conn: &mut Conn, args: &[&[u8]]) -> BTreeSet<String> {
    conn.cmd(args);
    let Frame::Array(items) = conn.frame() else { panic!("{args:?}: not an array") };
    items
        .into_iter()
        .map(|f| match f {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{args:?}: {other:?}"),
        })
        .collect()
}

backend_tests! {
    fn acl_subcommands_answer_byte_for_byte_as_redis_server(backend) {
        let (redis, redis_file) = redis_with_users();
        let ours_file = acl_file("acl-ours", USERS);
        let ours = TestServer::with(backend, |c| c.aclfile = Some(ours_file.clone()));
        let want = run_script(redis.addr);
        let got = run_script(ours.addr());
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(g, w, "reply differs from redis-server's");
        }
        assert_eq!(got.len(), want.len());
        // ACL SAVE wrote the same file.
        let saved = std::fs::read_to_string(&ours_file).unwrap();
        assert_eq!(saved, std::fs::read_to_string(&redis_file).unwrap());
        assert!(saved.contains("user pub on #"), "{saved}");
    }

    fn acl_cat_lists_redis_categories_for_the_commands_served(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let (mut ours, mut theirs) = (server.connect(), redis.connect());
        let categories = string_set(&mut ours, &[b"ACL", b"CAT"]);
        assert_eq!(categories, string_set(&mut theirs, &[b"ACL", b"CAT"]));
        let served: BTreeSet<String> =
            shared::command::COMMAND_TABLE.iter().map(|row| row.name.to_string()).collect();
        for category in &categories {
            let ask = [&b"ACL"[..], b"CAT", category.as_bytes()];
            let mine = string_set(&mut ours, &ask);
            let redis_set: BTreeSet<String> =
                string_set(&mut theirs, &ask).intersection(&served).cloned().collect();
            let mine_known: BTreeSet<String> =
                mine.iter().filter(|n| !NEWER_THAN_7_0.contains(&n.as_str())).cloned().collect();
            assert_eq!(mine_known, redis_set, "ACL CAT {category}");
        }
        ours.roundtrip(&[b"ACL", b"CAT", b"nosuch"], b"-ERR Unknown category 'nosuch'\r\n");
    }

    fn deluser_ends_the_connections_of_the_deleted_user(backend) {
        let path = acl_file("acl-deluser", USERS);
        let server = TestServer::with(backend, |c| c.aclfile = Some(path.clone()));
        let mut admin = server.connect();
        admin.roundtrip(&[b"ACL", b"SETUSER", b"bob", b"on", b">b", b"&*", b"+@all"], b"+OK\r\n");
        let login = |conn: &mut Conn, user: &[u8], pass: &[u8]| conn.roundtrip(&[b"AUTH", user, pass], b"+OK\r\n");
        let (mut idle, mut subscriber, mut other, mut itself) =
            (server.connect(), server.connect(), server.connect(), server.connect());
        login(&mut idle, b"alice", b"wonderland");
        login(&mut subscriber, b"alice", b"wonderland");
        login(&mut other, b"bob", b"b");
        login(&mut itself, b"alice", b"wonderland");
        subscriber.roundtrip(&[b"SUBSCRIBE", b"chat"], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nchat\r\n:1\r\n");
        admin.roundtrip(&[b"ACL", b"DELUSER", b"alice"], b":1\r\n");
        // Every connection of alice ends, without a word (as from Redis); bob's stays.
        idle.expect_closed();
        subscriber.expect_closed();
        other.roundtrip(&[b"ACL", b"WHOAMI"], b"$3\r\nbob\r\n");
        // Its subscription goes as its session ends, which may be just after the socket closed.
        wait_for("the deleted user's subscription stayed", b"*2\r\n$4\r\nchat\r\n:0\r\n".to_vec(), || {
            admin.cmd(&[b"PUBSUB", b"NUMSUB", b"chat"]);
            admin.raw_frame()
        });
        // A connection deleting its own user hears the reply, then is closed, and runs
        // nothing it sent after it.
        admin.roundtrip(&[b"ACL", b"SETUSER", b"alice", b"on", b">w", b"+@all"], b"+OK\r\n");
        let mut me = server.connect();
        login(&mut me, b"alice", b"w");
        let mut pipeline = Vec::new();
        shared::resp::encode_command(&mut pipeline, &[&b"ACL"[..], b"DELUSER", b"alice"]);
        shared::resp::encode_command(&mut pipeline, &[&b"PING"[..]]);
        me.send(&pipeline);
        me.expect(b":1\r\n");
        me.expect_closed();
        // The connection that authenticated as the old alice ended too.
        itself.expect_closed();
        // Inside MULTI: the whole transaction's reply, then the close.
        admin.roundtrip(&[b"ACL", b"SETUSER", b"alice", b"on", b">w", b"+@all"], b"+OK\r\n");
        let mut tx = server.connect();
        login(&mut tx, b"alice", b"w");
        tx.roundtrip(&[b"MULTI"], b"+OK\r\n");
        tx.roundtrip(&[b"ACL", b"DELUSER", b"alice"], b"+QUEUED\r\n");
        tx.roundtrip(&[b"PING"], b"+QUEUED\r\n");
        tx.roundtrip(&[b"EXEC"], b"*2\r\n:1\r\n+PONG\r\n");
        tx.expect_closed();
        // Deleted and created again at once: the old login is not the new user.
        let mut old = server.connect();
        login(&mut old, b"bob", b"b");
        let mut pipeline = Vec::new();
        shared::resp::encode_command(&mut pipeline, &[&b"ACL"[..], b"DELUSER", b"bob"]);
        shared::resp::encode_command(&mut pipeline, &[&b"ACL"[..], b"SETUSER", b"bob", b"on", b">b", b"&*", b"+@all"]);
        admin.send(&pipeline);
        admin.expect(b":1\r\n+OK\r\n");
        old.expect_closed();
        other.expect_closed();
        let mut other = server.connect();
        login(&mut other, b"bob", b"b");
                admin.roundtrip(&[b"ACL", b"DELUSER", b"default"], b"-ERR The 'default' user cannot be removed\r\n");
        admin.roundtrip(&[b"ACL", b"DELUSER", b"bob", b"nosuch"], b":1\r\n");
        other.expect_closed();
        admin.roundtrip(&[b"AUTH", b"bob", b"b"], b"-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        let ctx = server.stop();
        crate::util::assert_accounted(&ctx);
    }

    fn redis_cli_sees_a_deleted_user_disconnected_and_a_category_refused(backend) {
        let path = acl_file("acl-redis-cli", USERS);
        let server = TestServer::with(backend, |c| c.aclfile = Some(path.clone()));
        let port = server.addr().port().to_string();
        let mut admin = server.connect();
        admin.roundtrip(&[b"ACL", b"SETUSER", b"pub", b"on", b">p", b"resetchannels", b"&news.*", b"-@all", b"+@pubsub"], b"+OK\r\n");
        let cli = |args: &[&str]| {
            let mut cmd = Command::new("redis-cli");
            cmd.args(["-h", "127.0.0.1", "-p", &port, "--user", "pub"]).args(args).env("REDISCLI_AUTH", "p");
            cmd
        };
        // A category rule refuses PING with Redis's text; @pubsub allows PUBLISH.
        let out = cli(&["PING"]).output().expect("redis-cli runs (apt-get install redis-tools)");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "NOPERM this user has no permissions to run the 'ping' command\n\n");
        let out = cli(&["PUBLISH", "news.a", "hi"]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
        // A subscribed redis-cli, then its user deleted: it reports the closed connection.
        // `timeout` bounds it, should it never notice.
        let mut child = Command::new("timeout")
            .args(["60", "redis-cli"])
            .args(cli(&["SUBSCRIBE", "news.a"]).get_args())
            .env("REDISCLI_AUTH", "p")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let confirmation: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
        assert_eq!(confirmation, ["subscribe", "news.a", "1"]);
        admin.roundtrip(&[b"ACL", b"DELUSER", b"pub"], b":1\r\n");
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert_eq!(stderr, "Error: Server closed the connection\n");
        assert_eq!(status.code(), Some(1), "redis-cli exits as it does against redis-server");
        assert!(lines.next().is_none());
    }

    fn redis_py_sees_getuser_and_a_deleted_user_disconnected(backend) {
        let path = acl_file("acl-redis-py", USERS);
        let server = TestServer::with(backend, |c| c.aclfile = Some(path.clone()));
        let script = r#"
import sys, socket, redis
port = int(sys.argv[1])
admin = redis.Redis(port=port, decode_responses=True)
for proto in (2, 3):
    admin.acl_setuser("pub", enabled=True, passwords=["+p"], channels=["news.*"], reset_channels=True,
                      categories=["-all", "+pubsub"])
    user = redis.Redis(port=port, username="pub", password="p", protocol=proto,
                       decode_responses=True, socket_timeout=20)
    info = redis.Redis(port=port, protocol=proto, decode_responses=True).acl_getuser("pub")
    assert info["flags"] == ["on"] and info["enabled"], info
    assert info["categories"] == ["-@all", "+@pubsub"] and info["commands"] == [], info
    assert info["channels"] == ["&news.*"] and info["keys"] == [], info
    assert len(info["passwords"]) == 1 and len(info["passwords"][0]) == 64, info
    assert admin.acl_dryrun("pub", "publish", "news.a", "x") == "OK"
    assert user.publish("news.a", "x") == 0
    try:
        user.ping(); raise SystemExit("PING ran without @connection")
    except redis.exceptions.NoPermissionError as e:
        assert str(e) == "this user has no permissions to run the 'ping' command", e
    entry = redis.Redis(port=port, protocol=proto, decode_responses=True).acl_log(1)[0]
    assert (entry["reason"], entry["object"], entry["username"]) == ("command", "ping", "pub"), entry
    info = entry["client-info"]  # parsed into a dict by some redis-py versions and protocols
    assert (info["user"] if isinstance(info, dict) else info.split(" user=")[1].split()[0]) == "pub", entry
    assert float(entry["age-seconds"]) >= 0, entry
    # The user's own socket, held open, then the user deleted.
    conn = user.connection_pool.get_connection()
    conn.send_command("PUBLISH", "news.a", "y")
    assert conn.read_response() == 0
    assert admin.acl_deluser("pub") == 1
    try:
        conn.read_response(); raise SystemExit("the deleted user's connection stayed open")
    except redis.exceptions.ConnectionError as e:
        assert "closed by server" in str(e), e
    try:
        user.publish("news.a", "z"); raise SystemExit("a deleted user logged in")
    except redis.exceptions.AuthenticationError:
        pass
print("ok")
"#;
        assert_eq!(crate::util::python(script, &[server.addr().port().to_string()]), "ok\n");
    }

    fn acl_log_records_refusals_as_redis_server_does(backend) {
        let (redis, _) = redis_with_users();
        let path = acl_file("acl-log", USERS);
        let server = TestServer::with(backend, |c| c.aclfile = Some(path.clone()));
        let events: &[&[&[u8]]] = &[
            &[b"ACL", b"SETUSER", b"pub", b"on", b">p", b"resetchannels", b"&news.*", b"-@all", b"+@pubsub"],
            &[b"AUTH", b"alice", b"wrong"],
            &[b"AUTH", b"alice", b"wrong"],
            &[b"AUTH", b"nosuch", b"x"],
            &[b"AUTH", b"pub", b"p"],
            &[b"PING"],
            &[b"SUBSCRIBE", b"news.a", b"other"],
            &[b"PSUBSCRIBE", b"news.a*"],
            &[b"PING"],
            &[b"AUTH", b"default", b"x"],
            &[b"MULTI"],
            &[b"AUTH", b"pub", b"wrong"],
            &[b"EXEC"],
        ];
        // The fields that do not depend on time or on the connection, newest entry first.
        let fields = |addr: SocketAddr| -> Vec<String> {
            let mut conn = Conn::new(TcpStream::connect(addr).unwrap());
            for args in events {
                conn.cmd(args);
                conn.frame();
            }
            conn.cmd(&[b"ACL", b"LOG"]);
            let Frame::Array(entries) = conn.frame() else { panic!("ACL LOG answers an array") };
            entries.iter().map(|e| {
                let Frame::Array(kv) = e else { panic!("an entry is a map: {e:?}") };
                let text = |f: &Frame| match f {
                    Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    Frame::Integer(n) => n.to_string(),
                    other => panic!("{other:?}"),
                };
                (0..10).step_by(2).map(|i| format!("{}={}", text(&kv[i]), text(&kv[i + 1]))).collect::<Vec<_>>().join(" ")
            }).collect()
        };
        let want = fields(redis.addr);
        let got = fields(server.addr());
        assert_eq!(got, want);
        assert_eq!(got[0], "count=1 reason=auth context=multi object=AUTH username=pub");
        // The fields Redis 7.2 adds, and the rest, in Redis's order and shapes.
        let mut conn = server.connect();
        conn.cmd(&[b"HELLO", b"3"]);
        conn.frame();
        conn.cmd(&[b"ACL", b"LOG", b"2"]);
        let Frame::Array(entries) = conn.frame() else { panic!("an array") };
        assert_eq!(entries.len(), 2);
        let Frame::Map(newest) = &entries[1] else { panic!("a map in RESP3") };
        let names: Vec<Frame> = newest.iter().map(|(k, _)| k.clone()).collect();
        let want_names = ["count", "reason", "context", "object", "username", "age-seconds", "client-info", "entry-id", "timestamp-created", "timestamp-last-updated"];
        assert_eq!(names, want_names.map(Frame::bulk));
        let Frame::Double(age) = &newest[5].1 else { panic!("age-seconds is a double") };
        assert!(age.parse::<f64>().unwrap() >= 0.0);
        let Frame::Bulk(info) = &newest[6].1 else { panic!("client-info") };
        let info = String::from_utf8_lossy(info);
        // The PING refused twice is one entry, of count 2, with the connection as it was then.
        assert!(info.starts_with("id=") && info.contains(" user=pub ") && info.contains(" cmd=ping "), "{info}");
        assert_eq!(newest[0].1, Frame::Integer(2));
        assert_eq!(newest[3].1, Frame::bulk("ping"));
        let (created, updated) = (&newest[8].1, &newest[9].1);
        let (Frame::Integer(created), Frame::Integer(updated)) = (created, updated) else { panic!() };
        assert!(created <= updated && *created > 1_600_000_000_000);
        conn.roundtrip(&[b"ACL", b"LOG", b"RESET"], b"+OK\r\n");
        conn.roundtrip(&[b"ACL", b"LOG"], b"*0\r\n");
    }

    fn acl_genpass_gives_random_hex_of_the_bits_asked(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        let mut genpass = |args: &[&[u8]]| {
            let mut all: Vec<&[u8]> = vec![b"ACL", b"GENPASS"];
            all.extend_from_slice(args);
            c.cmd(&all);
            match c.frame() {
                Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("{other:?}"),
            }
        };
        let (a, b) = (genpass(&[]), genpass(&[]));
        assert_eq!((a.len(), b.len()), (64, 64), "256 bits by default");
        assert_ne!(a, b, "a new password each time");
        // A hexadecimal digit per 4 bits, rounded up, as redis-server prints them.
        for (bits, digits) in [("1", 1), ("5", 2), ("8", 2), ("4096", 1024)] {
            let p = genpass(&[bits.as_bytes()]);
            assert_eq!(p.len(), digits, "{bits} bits");
            assert!(p.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{p}");
        }
    }

    fn acl_help_lists_what_is_served_in_redis_layout(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.cmd(&[b"ACL", b"HELP"]);
        let Frame::Array(lines) = c.frame() else { panic!("ACL HELP is an array") };
        let lines: Vec<String> = lines
            .into_iter()
            .map(|l| match l { Frame::Simple(s) => s, other => panic!("{other:?}") })
            .collect();
        assert_eq!(lines[0], "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        let subcommands: Vec<&str> = lines[1..]
            .iter()
            .filter(|l| !l.starts_with(' '))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(
            subcommands,
            ["CAT", "DELUSER", "DRYRUN", "GETUSER", "GENPASS", "LIST", "LOAD", "LOG", "SAVE", "SETUSER", "USERS", "WHOAMI", "HELP"]
        );
        // Every subcommand listed is served.
        for sub in &subcommands {
            c.cmd(&[b"ACL", sub.as_bytes()]);
            let reply = c.frame();
            assert!(!matches!(&reply, Frame::Error(e) if e.contains("unknown subcommand")), "{sub}: {reply:?}");
        }
    }
}
