//! What real clients and tools rely on around pub/sub: INFO's common fields, SELECT,
//! transactions, and the tools (`redis-cli`, redis-py) that use them. Byte-exact replies were
//! captured from redis-server 7.0.15 (Debian's package) with the same requests over a raw
//! socket.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use shared::Frame;

use crate::util::{info_text_field, TestServer};

/// The `INFO` text for `sections`, asked over a new connection.
fn info(server: &TestServer, sections: &[&[u8]]) -> String {
    let mut c = server.connect();
    let mut args: Vec<&[u8]> = vec![b"INFO"];
    args.extend_from_slice(sections);
    c.cmd(&args);
    let Frame::Bulk(text) = c.frame() else { panic!("INFO is not a bulk string") };
    String::from_utf8(text.to_vec()).unwrap()
}

/// The value of `name` in an INFO text.
#[track_caller]
fn field<'a>(info: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}:");
    info.lines().find_map(|l| l.strip_prefix(&prefix[..])).unwrap_or_else(|| panic!("no {name}"))
}

/// Runs a Python script with redis-py against `server` (its URL is `sys.argv[1]` with `db`
/// as the database) and returns what it printed; fails the test with its stderr otherwise.
#[track_caller]
fn redis_py(server: &TestServer, db: u32, script: &str) -> String {
    crate::util::python(script, &[format!("redis://{}/{db}", server.addr())])
}

backend_tests! {
    fn info_has_redis_common_fields(backend) {
        let server = TestServer::start(backend);
        let all = info(&server, &[]);
        for section in ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU"] {
            let header = format!("# {section}\r\n");
            assert!(all.contains(&header), "no {header:?} in {all}");
        }
        assert_eq!(field(&all, "redis_version"), server::REDIS_VERSION);
        assert_eq!(field(&all, "switchboard_version"), env!("CARGO_PKG_VERSION"));
        assert_eq!(field(&all, "redis_mode"), "standalone");
        assert_eq!(field(&all, "loading"), "0");
        assert_eq!(field(&all, "blocked_clients"), "0");
        assert_eq!(info_text_field(&all, "connected_clients"), 1);
        // A real figure: the resident set of a running server is megabytes, not zero.
        let used = info_text_field(&all, "used_memory");
        assert!(used > 1 << 20, "used_memory:{used}");
        assert!(field(&all, "used_memory_human").ends_with('M'), "{all}");
        // valkey-glide decides that it reached a primary from exactly this.
        let replication = info(&server, &[b"REPLICATION"]);
        assert!(replication.starts_with("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"), "{replication}");
        assert_eq!(field(&replication, "master_replid").len(), 40);
        assert!(!replication.contains("# Server"));
        assert_eq!(info(&server, &[b"keyspace"]), "# Keyspace\r\n");
        assert_eq!(info(&server, &[b"nosuchsection"]), "");
        // HELLO's version is the same Redis version.
        let mut c = server.connect();
        c.cmd(&[b"HELLO", b"3"]);
        let Frame::Map(pairs) = c.frame() else { panic!("HELLO 3 is a map") };
        assert!(pairs.contains(&(Frame::bulk("version"), Frame::bulk(server::REDIS_VERSION))));
    }

    fn redis_cli_stat_prints_memory(backend) {
        let server = TestServer::start(backend);
        let mut child = Command::new("stdbuf")
            .args(["-oL", "redis-cli", "-h", "127.0.0.1", "-p"])
            .arg(server.addr().port().to_string())
            .args(["--stat", "-i", "0.1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli runs (apt-get install redis-tools)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Two header lines, then one line of figures: keys, mem, clients, blocked, ...
        let figures = lines.nth(2).expect("a line of figures").unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let columns: Vec<&str> = figures.split_whitespace().collect();
        assert_eq!(columns[0], "0", "{figures}");
        let mem = columns[1];
        let (number, unit) = mem.split_at(mem.len() - 1);
        assert!(["K", "M", "G"].contains(&unit) && number.parse::<f64>().unwrap() > 0.0, "{figures}");
        assert_eq!((columns[2], columns[3]), ("1", "0"), "{figures}");
    }
}

backend_tests! {
    fn select_answers_like_redis(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        // Bytes from redis-server 7.0.15.
        c.roundtrip(&[b"SELECT", b"0"], b"+OK\r\n");
        c.roundtrip(&[b"SELECT", b"15"], b"+OK\r\n");
        c.roundtrip(&[b"SELECT", b"16"], b"-ERR DB index is out of range\r\n");
        c.roundtrip(&[b"SELECT", b"-1"], b"-ERR DB index is out of range\r\n");
        c.roundtrip(&[b"SELECT", b"abc"], b"-ERR value is not an integer or out of range\r\n");
        c.roundtrip(&[b"SELECT", b"01"], b"-ERR value is not an integer or out of range\r\n");
        c.roundtrip(
            &[b"SELECT", b"9223372036854775807"],
            b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n",
        );
        c.roundtrip(&[b"SELECT"], b"-ERR wrong number of arguments for 'select' command\r\n");
        c.roundtrip(&[b"SELECT", b"1", b"2"], b"-ERR wrong number of arguments for 'select' command\r\n");
        c.roundtrip(&[b"SUBSCRIBE", b"a"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        c.roundtrip(
            &[b"SELECT", b"1"],
            b"-ERR Can't execute 'select': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
        );
    }

    fn clients_connect_with_a_database_in_the_url(backend) {
        let server = TestServer::start(backend);
        let port = server.addr().port().to_string();
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port, "-n", "1", "PUBLISH", "news", "hi"])
            .output()
            .expect("redis-cli runs (apt-get install redis-tools)");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n", "{out:?}");
        let printed = redis_py(
            &server,
            1,
            "import redis, sys\n\
             r = redis.Redis.from_url(sys.argv[1])\n\
             print(r.ping(), r.publish('news', 'hi'), r.connection_pool.connection_kwargs['db'])",
        );
        assert_eq!(printed, "True 0 1\n");
        let client = redis::Client::open(format!("redis://{}/15", server.addr())).unwrap();
        let mut con = client.get_connection().expect("the redis crate connects to /15");
        let n: i64 = redis::cmd("PUBLISH").arg("news").arg("hi").query(&mut con).unwrap();
        assert_eq!(n, 0);
    }
}

/// The context error a RESP2 subscriber gets for `name`, as redis-server 7.0.15 words it.
fn subscribed_error(name: &str) -> Vec<u8> {
    format!(
        "-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
         RESET are allowed in this context\r\n"
    )
    .into_bytes()
}

backend_tests! {
    fn transactions_answer_like_redis(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        // Every reply below is redis-server 7.0.15's to the same requests.
        c.roundtrip(&[b"EXEC"], b"-ERR EXEC without MULTI\r\n");
        c.roundtrip(&[b"DISCARD"], b"-ERR DISCARD without MULTI\r\n");
        c.roundtrip(&[b"MULTI", b"x"], b"-ERR wrong number of arguments for 'multi' command\r\n");
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(&[b"MULTI"], b"-ERR MULTI calls can not be nested\r\n");
        c.roundtrip(&[b"WATCH", b"k"], b"-ERR WATCH inside MULTI is not allowed\r\n");
        c.roundtrip(&[b"PING"], b"+QUEUED\r\n");
        c.roundtrip(&[b"PUBLISH", b"a", b"b"], b"+QUEUED\r\n");
        c.roundtrip(&[b"ECHO", b"x"], b"+QUEUED\r\n");
        c.roundtrip(&[b"SELECT", b"3"], b"+QUEUED\r\n");
        c.roundtrip(&[b"SELECT", b"99"], b"+QUEUED\r\n");
        c.roundtrip(&[b"UNWATCH"], b"+QUEUED\r\n");
        c.roundtrip(
            &[b"EXEC"],
            b"*6\r\n+PONG\r\n:0\r\n$1\r\nx\r\n+OK\r\n-ERR DB index is out of range\r\n+OK\r\n",
        );
        // A refused command makes EXEC discard the whole transaction.
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(&[b"PUBLISH", b"a", b"b"], b"+QUEUED\r\n");
        c.roundtrip(&[b"NOPE"], b"-ERR unknown command 'NOPE', with args beginning with: \r\n");
        c.roundtrip(&[b"PUBLISH", b"a"], b"-ERR wrong number of arguments for 'publish' command\r\n");
        c.roundtrip(&[b"EXEC"], b"-EXECABORT Transaction discarded because of previous errors.\r\n");
        c.roundtrip(&[b"EXEC"], b"-ERR EXEC without MULTI\r\n");
        // A refused EXEC discards it too.
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(
            &[b"EXEC", b"x"],
            b"-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n",
        );
        c.roundtrip(&[b"EXEC"], b"-ERR EXEC without MULTI\r\n");
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(&[b"PING"], b"+QUEUED\r\n");
        c.roundtrip(&[b"DISCARD"], b"+OK\r\n");
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(&[b"RESET"], b"+RESET\r\n");
        c.roundtrip(&[b"EXEC"], b"-ERR EXEC without MULTI\r\n");
        c.roundtrip(&[b"WATCH", b"k"], b"+OK\r\n");
        // Queued (un)subscriptions confirm inside EXEC's array, one frame per channel.
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(&[b"SUBSCRIBE", b"a"], b"+QUEUED\r\n");
        c.roundtrip(&[b"UNSUBSCRIBE"], b"+QUEUED\r\n");
        c.roundtrip(
            &[b"EXEC"],
            b"*2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n",
        );
        // In RESP2 subscribed mode a transaction cannot start, and EXEC is refused as Redis does.
        c.roundtrip(&[b"SUBSCRIBE", b"a"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        c.roundtrip(&[b"MULTI"], &subscribed_error("multi"));
        c.roundtrip(&[b"DISCARD"], &subscribed_error("discard"));
        c.roundtrip(
            &[b"EXEC"],
            b"-EXECABORT Transaction discarded because of: Can't execute 'exec': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
        );
        // QUIT inside MULTI runs at once.
        let mut q = server.connect();
        q.roundtrip(&[b"MULTI"], b"+OK\r\n");
        q.roundtrip(&[b"QUIT"], b"+OK\r\n");
        q.expect_closed();
    }

    fn a_resp3_subscriber_runs_a_transaction(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.cmd(&[b"HELLO", b"3"]);
        c.frame();
        c.roundtrip(&[b"SUBSCRIBE", b"a"], b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(&[b"PING"], b"+QUEUED\r\n");
        c.roundtrip(&[b"PUBLISH", b"a", b"x"], b"+QUEUED\r\n");
        // redis-server 7.0.15: the message to itself is pushed before PUBLISH's reply.
        c.roundtrip(&[b"EXEC"], b"*2\r\n+PONG\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n:1\r\n");
        let ctx = server.stop();
        crate::util::assert_accounted(&ctx);
    }

    fn the_multi_queue_is_bounded(backend) {
        let server = TestServer::with(backend, |c| c.limits.max_args = 3);
        let mut c = server.connect();
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        for _ in 0..3 {
            c.roundtrip(&[b"PING"], b"+QUEUED\r\n");
        }
        c.roundtrip(
            &[b"PING"],
            b"-ERR MULTI queue full (at most 3 commands and 536870912 bytes of arguments): EXEC or DISCARD\r\n",
        );
        c.roundtrip(&[b"EXEC"], b"-EXECABORT Transaction discarded because of previous errors.\r\n");
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
    }

    fn redis_py_transactional_pipeline_publishes_once(backend) {
        let server = TestServer::start(backend);
        let mut sub = server.connect();
        sub.roundtrip(&[b"SUBSCRIBE", b"mx"], b"*3\r\n$9\r\nsubscribe\r\n$2\r\nmx\r\n:1\r\n");
        // redis-py's pipeline() is a transaction by default (MULTI ... EXEC).
        let printed = redis_py(
            &server,
            0,
            "import redis, sys\n\
             r = redis.Redis.from_url(sys.argv[1])\n\
             print(r.pipeline().publish('mx', 'hello').publish('mx', 'again').execute())",
        );
        assert_eq!(printed, "[1, 1]\n");
        sub.expect(&crate::util::message(b"mx", b"hello"));
        sub.expect(&crate::util::message(b"mx", b"again"));
        // Exactly once: nothing else arrives before the reply to this PING.
        sub.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        drop(sub);
        let ctx = server.stop();
        assert_eq!(crate::util::assert_accounted(&ctx), (2, 0));
    }
}

backend_tests! {
    fn sharded_pubsub_answers_like_redis(backend) {
        let server = TestServer::start(backend);
        let mut sub = server.connect();
        let mut classic = server.connect();
        let mut p = server.connect();
        // Every reply below is redis-server 7.0.15's to the same requests: shard channels
        // are counted apart from channels and patterns.
        sub.roundtrip(
            &[b"SSUBSCRIBE", b"s1", b"s2"],
            b"*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$2\r\ns2\r\n:2\r\n",
        );
        sub.roundtrip(&[b"SSUBSCRIBE", b"s1"], b"*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:2\r\n");
        sub.roundtrip(&[b"SUBSCRIBE", b"c"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
        sub.roundtrip(&[b"SPUBLISH", b"s1", b"hi"], &subscribed_error("spublish"));
        classic.roundtrip(&[b"SUBSCRIBE", b"s1"], b"*3\r\n$9\r\nsubscribe\r\n$2\r\ns1\r\n:1\r\n");
        classic.roundtrip(&[b"PSUBSCRIBE", b"s*"], b"*3\r\n$10\r\npsubscribe\r\n$2\r\ns*\r\n:2\r\n");
        // A shard channel and a classic channel of the same name never meet; patterns match
        // only classic channels.
        p.roundtrip(&[b"SPUBLISH", b"s1", b"hi"], b":1\r\n");
        sub.expect(b"*3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$2\r\nhi\r\n");
        p.roundtrip(&[b"PUBLISH", b"s1", b"classic"], b":2\r\n");
        classic.expect(&crate::util::message(b"s1", b"classic"));
        classic.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\ns*\r\n$2\r\ns1\r\n$7\r\nclassic\r\n");
        p.cmd(&[b"PUBSUB", b"SHARDCHANNELS"]);
        let Frame::Array(mut names) = p.frame() else { panic!("an array") };
        names.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(names, vec![Frame::bulk("s1"), Frame::bulk("s2")]);
        p.roundtrip(&[b"PUBSUB", b"SHARDCHANNELS", b"*2"], b"*1\r\n$2\r\ns2\r\n");
        p.roundtrip(
            &[b"PUBSUB", b"SHARDNUMSUB", b"s1", b"c", b"x"],
            b"*6\r\n$2\r\ns1\r\n:1\r\n$1\r\nc\r\n:0\r\n$1\r\nx\r\n:0\r\n",
        );
        p.roundtrip(&[b"PUBSUB", b"SHARDNUMSUB"], b"*0\r\n");
        p.roundtrip(&[b"PUBSUB", b"NUMSUB", b"s1"], b"*2\r\n$2\r\ns1\r\n:1\r\n");
        p.roundtrip(&[b"SPUBLISH", b"a"], b"-ERR wrong number of arguments for 'spublish' command\r\n");
        p.roundtrip(&[b"SSUBSCRIBE"], b"-ERR wrong number of arguments for 'ssubscribe' command\r\n");
        p.roundtrip(&[b"SUNSUBSCRIBE"], b"*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n");
        sub.roundtrip(&[b"SUNSUBSCRIBE", b"s1"], b"*3\r\n$12\r\nsunsubscribe\r\n$2\r\ns1\r\n:1\r\n");
        sub.roundtrip(&[b"SUNSUBSCRIBE"], b"*3\r\n$12\r\nsunsubscribe\r\n$2\r\ns2\r\n:0\r\n");
        sub.roundtrip(&[b"SUNSUBSCRIBE"], b"*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n");
        // Still subscribed to `c`: the RESP2 rules hold until the last subscription goes.
        sub.roundtrip(&[b"SPUBLISH", b"s1", b"x"], &subscribed_error("spublish"));
        sub.roundtrip(&[b"UNSUBSCRIBE"], b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n");
        sub.roundtrip(&[b"PING"], b"+PONG\r\n");
        p.roundtrip(&[b"SPUBLISH", b"s1", b"x"], b":0\r\n");
        drop((sub, classic, p));
        let ctx = server.stop();
        assert_eq!(crate::util::assert_accounted(&ctx), (3, 0));
    }

    fn sharded_messages_are_pushes_in_resp3(backend) {
        let server = TestServer::start(backend);
        let mut publisher = server.redis(true);
        let mut sub = server.connect();
        sub.cmd(&[b"HELLO", b"3"]);
        sub.frame();
        sub.roundtrip(&[b"SSUBSCRIBE", b"s"], b">3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n");
        sub.roundtrip(&[b"PING"], b"+PONG\r\n");
        let n: i64 = redis::cmd("SPUBLISH").arg("s").arg("hello").query(&mut publisher).unwrap();
        assert_eq!(n, 1);
        sub.expect(b">3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$5\r\nhello\r\n");
        let info = info(&server, &[b"stats"]);
        assert_eq!(field(&info, "pubsub_shardchannels"), "1");
        assert_eq!(field(&info, "pubsub_channels"), "0");
    }
}

/// Polls `INFO` until `name` reaches `want`, failing after [`crate::util::PATIENCE`].
#[track_caller]
fn wait_for_field(server: &TestServer, name: &str, want: u64) {
    crate::util::wait_for(name, want, || info_text_field(&info(server, &[]), name));
}

backend_tests! {
    fn config_get_and_set_answer_like_redis(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        // Bytes from redis-server 7.0.15 (without persistence) for the same requests.
        c.roundtrip(&[b"CONFIG", b"GET", b"save"], b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
        c.roundtrip(&[b"CONFIG", b"GET", b"appendonly"], b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
        c.roundtrip(&[b"CONFIG", b"GET", b"databases"], b"*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n");
        c.roundtrip(
            &[b"CONFIG", b"GET", b"proto-max-bulk-len"],
            b"*2\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870912\r\n",
        );
        // Unknown names and refused requests, with Redis's replies byte for byte.
        let refused: &[(&[&[u8]], &[u8])] = &[
            (&[b"CONFIG", b"GET", b"nosuch"], b"*0\r\n"),
            (&[b"CONFIG", b"GET"], b"-ERR wrong number of arguments for 'config|get' command\r\n"),
            (&[b"CONFIG", b"SET", b"timeout"], b"-ERR wrong number of arguments for 'config|set' command\r\n"),
            (&[b"CONFIG", b"RESETSTAT", b"x"], b"-ERR wrong number of arguments for 'config|resetstat' command\r\n"),
            (&[b"CONFIG", b"X"], b"-ERR unknown subcommand 'X'. Try CONFIG HELP.\r\n"),
            (&[b"CONFIG", b"SET", b"timeout", b"abc"], b"-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer\r\n"),
            (&[b"CONFIG", b"SET", b"timeout", b"-1"], b"-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive\r\n"),
            (&[b"CONFIG", b"SET", b"nosuch", b"1"], b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"),
            (&[b"CONFIG", b"SET", b"timeout", b"1", b"timeout", b"2"], b"-ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter\r\n"),
            (&[b"CONFIG", b"SET", b"databases", b"4"], b"-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n"),
            (&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 1mb"], b"-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration.\r\n"),
            (&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"nosuch 1 0 0"], b"-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Invalid client class specified in buffer limit configuration.\r\n"),
            (&[b"CONFIG", b"SET", b"appendonly", b"maybe"], b"-ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'\r\n"),
        ];
        for (request, reply) in refused {
            c.roundtrip(request, reply);
        }
        // All or nothing: the bad second pair keeps the first from applying.
        c.roundtrip(
            &[b"CONFIG", b"SET", b"maxclients", b"5", b"timeout", b"x"],
            b"-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer\r\n",
        );
        // The maxclients the server started with (fitted to this process's open-file limit).
        let max = server.stop_ref().config.max_clients.to_string();
        c.cmd(&[b"CONFIG", b"GET", b"MAXCLIENTS"]);
        assert_eq!(c.frame(), Frame::Array(vec![Frame::bulk("maxclients"), Frame::bulk(max)]));
        c.roundtrip(&[b"CONFIG", b"SET", b"save", b"", b"appendonly", b"no"], b"+OK\r\n");
        c.roundtrip(&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 1mb 0 0"], b"+OK\r\n");
        c.roundtrip(
            &[b"CONFIG", b"GET", b"client-output*"],
            b"*2\r\n$26\r\nclient-output-buffer-limit\r\n$43\r\nnormal 0 0 0 slave 0 0 0 pubsub 1048576 0 0\r\n",
        );
        // Globs, each parameter once.
        c.cmd(&[b"CONFIG", b"GET", b"*max*", b"max*"]);
        let Frame::Array(items) = c.frame() else { panic!("an array") };
        let names: Vec<Frame> = items.into_iter().step_by(2).collect();
        let want =
            ["maxclients", "proto-max-bulk-len", "slowlog-max-len", "maxmemory", "maxmemory-policy"];
        assert_eq!(names, want.map(Frame::bulk).to_vec());
        // RESP3: a map.
        c.cmd(&[b"HELLO", b"3"]);
        c.frame();
        c.roundtrip(&[b"CONFIG", b"GET", b"save"], b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n");
        // RESETSTAT clears the counters (this INFO is the first command counted since).
        assert!(info_text_field(&info(&server, &[]), "total_commands_processed") > 20);
        c.roundtrip(&[b"CONFIG", b"RESETSTAT"], b"+OK\r\n");
        assert_eq!(info_text_field(&info(&server, &[]), "total_commands_processed"), 1);
    }

    fn config_set_changes_the_running_server(backend) {
        let server = TestServer::start(backend);
        let mut idle = server.connect();
        idle.roundtrip(&[b"PING"], b"+PONG\r\n");
        let mut c = server.connect();
        // maxclients: two are connected (idle and c), so a limit of 2 refuses the next one.
        let max = server.stop_ref().config.max_clients.to_string();
        c.roundtrip(&[b"CONFIG", b"SET", b"maxclients", b"2"], b"+OK\r\n");
        let mut refused = server.connect();
        refused.expect(b"-ERR max number of clients reached\r\n");
        c.roundtrip(&[b"CONFIG", b"SET", b"maxclients", max.as_bytes()], b"+OK\r\n");
        let above = (server.stop_ref().config.max_clients + 1).to_string();
        c.roundtrip(
            &[b"CONFIG", b"SET", b"maxclients", above.as_bytes()],
            format!("-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and {max} inclusive\r\n").as_bytes(),
        );
        // A timeout set now closes a connection that was idle with no deadline (and `c`,
        // idle meanwhile too).
        c.roundtrip(&[b"CONFIG", b"SET", b"timeout", b"1"], b"+OK\r\n");
        idle.expect_closed();
        c.expect_closed();
        let mut c = server.connect();
        c.roundtrip(&[b"CONFIG", b"SET", b"timeout", b"0"], b"+OK\r\n");
        // A lower output limit applies to a subscriber already connected.
        let mut sub = server.connect();
        sub.roundtrip(&[b"SUBSCRIBE", b"big"], b"*3\r\n$9\r\nsubscribe\r\n$3\r\nbig\r\n:1\r\n");
        c.roundtrip(&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 1000 0 0"], b"+OK\r\n");
        let payload = vec![b'x'; 4000];
        c.roundtrip(&[b"PUBLISH", b"big", &payload], b":1\r\n");
        wait_for_field(&server, "pubsub_slow_consumers", 1);
        drop((sub, c));
        let ctx = server.stop();
        assert_eq!(crate::util::assert_accounted(&ctx), (0, 1));
    }

    fn redis_benchmark_fetches_the_config(backend) {
        let server = TestServer::start(backend);
        let out = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &server.addr().port().to_string()])
            .args(["-n", "100", "-c", "2", "-q", "-t", "ping"])
            .output()
            .expect("redis-benchmark runs (apt-get install redis-tools)");
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{printed}");
        assert!(!printed.contains("WARNING"), "{printed}");
        assert!(printed.contains("PING_INLINE"), "{printed}");
    }
}

/// One `key=value` field of a `CLIENT LIST` line.
#[track_caller]
fn client_field<'a>(line: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    line.split(' ')
        .find_map(|f| f.strip_prefix(&prefix[..]))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// `CLIENT LIST ...` (or INFO) over `c`, as text.
#[track_caller]
fn client_text(c: &mut crate::util::Conn, args: &[&[u8]]) -> String {
    c.cmd(args);
    let Frame::Bulk(text) = c.frame() else { panic!("a bulk string") };
    String::from_utf8(text.to_vec()).unwrap()
}

backend_tests! {
    fn client_list_info_and_kill(backend) {
        let server = TestServer::start(backend);
        let mut sub = server.connect();
        sub.roundtrip(&[b"CLIENT", b"SETNAME", b"listener"], b"+OK\r\n");
        sub.roundtrip(&[b"SUBSCRIBE", b"a"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        sub.roundtrip(&[b"PSUBSCRIBE", b"a*"], b"*3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:2\r\n");
        sub.roundtrip(&[b"SSUBSCRIBE", b"s"], b"*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n");
        let mut c = server.connect();
        c.roundtrip(&[b"CLIENT", b"SETINFO", b"LIB-NAME", b"raw"], b"+OK\r\n");
        c.roundtrip(&[b"CLIENT", b"SETINFO", b"LIB-VER", b"1.0"], b"+OK\r\n");
        c.roundtrip(&[b"CLIENT", b"SETINFO", b"x", b"1"], b"-ERR Unrecognized option 'x'\r\n");
        c.roundtrip(&[b"SELECT", b"3"], b"+OK\r\n");
        c.roundtrip(&[b"CLIENT", b"NO-EVICT", b"on"], b"+OK\r\n");
        c.roundtrip(&[b"CLIENT", b"NO-EVICT", b"x"], b"-ERR syntax error\r\n");
        let me = client_text(&mut c, &[b"CLIENT", b"INFO"]);
        assert!(me.ends_with('\n') && me.lines().count() == 1, "{me:?}");
        assert!(me.starts_with("id="), "{me}");
        let local = c.stream.local_addr().unwrap().to_string();
        assert_eq!(client_field(&me, "addr"), local);
        assert_eq!(client_field(&me, "laddr"), server.addr().to_string());
        for (key, want) in [("flags", "e"), ("db", "3"), ("sub", "0"), ("multi", "-1"), ("cmd", "client|info"),
            ("resp", "2"), ("lib-name", "raw"), ("lib-ver", "1.0\n"), ("name", ""), ("user", "default")] {
            assert_eq!(client_field(&me, key), want, "{me}");
        }
        let all = client_text(&mut c, &[b"CLIENT", b"LIST"]);
        assert_eq!(all.lines().count(), 2, "{all}");
        let pubsub = client_text(&mut c, &[b"CLIENT", b"LIST", b"TYPE", b"pubsub"]);
        assert_eq!(pubsub.lines().count(), 1, "{pubsub}");
        for (key, want) in [("name", "listener"), ("flags", "P"), ("sub", "1"), ("psub", "1"), ("ssub", "1"), ("cmd", "ssubscribe")] {
            assert_eq!(client_field(&pubsub, key), want, "{pubsub}");
        }
        let sub_id = client_field(&pubsub, "id").to_string();
        assert_eq!(client_text(&mut c, &[b"CLIENT", b"LIST", b"ID", sub_id.as_bytes()]), pubsub);
        assert_eq!(client_text(&mut c, &[b"CLIENT", b"LIST", b"TYPE", b"master"]), "");
        // Errors as redis-server 7.0.15 words them.
        c.roundtrip(&[b"CLIENT", b"LIST", b"TYPE", b"x"], b"-ERR Unknown client type 'x'\r\n");
        c.roundtrip(&[b"CLIENT", b"KILL", b"1.2.3.4:5"], b"-ERR No such client\r\n");
        c.roundtrip(&[b"CLIENT", b"KILL", b"ID", b"999"], b":0\r\n");
        c.roundtrip(&[b"CLIENT", b"KILL", b"ID", b"x"], b"-ERR client-id should be greater than 0\r\n");
        c.roundtrip(&[b"CLIENT", b"KILL", b"TYPE", b"x"], b"-ERR Unknown client type 'x'\r\n");
        c.roundtrip(&[b"CLIENT", b"KILL", b"FOO", b"bar"], b"-ERR syntax error\r\n");
        c.roundtrip(&[b"CLIENT", b"KILL", b"SKIPME", b"maybe"], b"-ERR syntax error\r\n");
        // TYPE pubsub skips the asker (SKIPME yes by default) and kills the subscriber.
        c.roundtrip(&[b"CLIENT", b"KILL", b"TYPE", b"pubsub"], b":1\r\n");
        sub.expect_closed();
        // The old form, by address.
        let mut other = server.connect();
        other.roundtrip(&[b"PING"], b"+PONG\r\n");
        let addr = other.stream.local_addr().unwrap().to_string();
        c.roundtrip(&[b"CLIENT", b"KILL", addr.as_bytes()], b"+OK\r\n");
        other.expect_closed();
        // Killing itself: the answer, then the close.
        c.roundtrip(&[b"CLIENT", b"KILL", b"ADDR", local.as_bytes(), b"SKIPME", b"no"], b":1\r\n");
        c.expect_closed();
    }

    fn client_reply_and_help(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        // As redis-server 7.0.15: OFF and SKIP have no reply; SKIP swallows the next one.
        c.cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
        c.cmd(&[b"PING"]);
        c.cmd(&[b"NOPE"]);
        c.roundtrip(&[b"CLIENT", b"REPLY", b"ON"], b"+OK\r\n");
        c.cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
        c.cmd(&[b"PING"]);
        c.roundtrip(&[b"PING", b"x"], b"$1\r\nx\r\n");
        c.roundtrip(&[b"CLIENT", b"REPLY", b"x"], b"-ERR syntax error\r\n");
        c.roundtrip(&[b"CLIENT", b"X"], b"-ERR unknown subcommand 'X'. Try CLIENT HELP.\r\n");
        for container in ["CLIENT", "CONFIG", "PUBSUB", "COMMAND"] {
            c.cmd(&[container.as_bytes(), b"HELP"]);
            let Frame::Array(lines) = c.frame() else { panic!("{container} HELP is an array") };
            let first = format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
            assert_eq!(lines[0], Frame::Simple(first));
            assert_eq!(lines[lines.len() - 2..], [Frame::Simple("HELP".into()), Frame::Simple("    Print this help.".into())]);
        }
    }

    fn redis_py_reads_client_list(backend) {
        let server = TestServer::start(backend);
        let printed = redis_py(
            &server,
            2,
            "import redis, sys\n\
             r = redis.Redis.from_url(sys.argv[1], client_name='py')\n\
             me = r.client_info()\n\
             print(me['name'], me['db'], len(r.client_list()), r.client_id() == int(me['id']))",
        );
        assert_eq!(printed, "py 2 1 True\n");
    }
}

backend_tests! {
    fn the_listener_refuses_once_shutdown_begins(backend) {
        use std::io::{ErrorKind, Read, Write};
        // The drain ends only when the stalled subscriber below reads (the timeout is longer
        // than any wait of this test).
        let server = TestServer::with_named_port(backend, |c| c.shutdown_timeout = std::time::Duration::from_secs(120));
        let addr = server.addr();
        // A subscriber that does not read, with megabytes on their way to it.
        let mut stalled = server.connect();
        stalled.roundtrip(&[b"SUBSCRIBE", b"x"], b"*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n");
        let mut publisher = server.connect();
        let payload = vec![b'p'; 64 * 1024];
        for _ in 0..128 {
            publisher.roundtrip(&[b"PUBLISH", b"x", &payload], b":1\r\n");
        }
        drop(publisher);
        let stopping = std::thread::spawn(move || server.stop());
        // Each probe connects and sends PING. Before shutdown it gets PONG; a probe caught at
        // the moment shutdown begins may be closed or reset; once one is refused, every later
        // one must be. What must never happen is a connection the kernel accepted that then
        // hears nothing: that is what a listener left open during the drain does.
        let mut refused = 0;
        while refused < 20 {
            match std::net::TcpStream::connect(addr) {
                // Caught in the handshake as the listener closes: reset, and told so.
                Err(e) if e.kind() == ErrorKind::ConnectionReset && refused == 0 => {}
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
                    refused += 1;
                }
                Ok(mut s) => {
                    assert_eq!(refused, 0, "a connection was accepted after one was refused");
                    s.set_read_timeout(Some(crate::util::PATIENCE)).unwrap();
                    let _ = s.write_all(b"PING\r\n");
                    let mut reply = [0u8; 7];
                    match s.read(&mut reply) {
                        Ok(_) => {} // PONG, or the drain's close
                        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                        Err(e) => panic!("a connection accepted during shutdown got nothing: {e}"),
                    }
                }
            }
        }
        assert!(!stopping.is_finished(), "the drain ended before the subscriber read");
        // Reading lets the drain finish: everything arrives, then the server closes.
        let mut rest = Vec::new();
        stalled.stream.read_to_end(&mut rest).expect("the drain delivers, then closes");
        assert!(rest.len() >= 128 * payload.len(), "{}", rest.len());
        stopping.join().unwrap();
    }
}

backend_tests! {
    fn error_lines_quote_bytes_as_redis_does(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        // Every reply is redis-server 7.0.15's to the same bytes.
        c.roundtrip(&[b"PI\0NG", b"a\0b"], b"-ERR unknown command 'PI', with args beginning with: 'a' \r\n");
        c.roundtrip(&[b"\xff\xfeX"], b"-ERR unknown command '\xff\xfeX', with args beginning with: \r\n");
        c.roundtrip(
            &[b"FOO", b"\xff", b"a\r\nb"],
            b"-ERR unknown command 'FOO', with args beginning with: '\xff' 'a  b' \r\n",
        );
        c.roundtrip(&[b"CONFIG", b"\xffX"], b"-ERR unknown subcommand '\xffX'. Try CONFIG HELP.\r\n");
        c.roundtrip(&[b"PUBSUB", b"CHAN\0NELS", b"a", b"b"], b"-ERR unknown subcommand 'CHAN'. Try PUBSUB HELP.\r\n");
        c.roundtrip(
            &[b"PUBSUB", b"channels", b"a", b"b"],
            b"-ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.\r\n",
        );
        c.roundtrip(
            &[b"PUBSUB", b"SHARDCHANNELS", b"a", b"b"],
            b"-ERR unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try PUBSUB HELP.\r\n",
        );
        // Inline `PI\0NG`: redis-server answers nothing (and nothing more on that connection);
        // here it is an unknown command `PI`, with no NUL in the error line.
        c.send(b"PI\0NG\r\n");
        c.expect(b"-ERR unknown command 'PI', with args beginning with: \r\n");
        // An inline request of exactly 64 KB plus its newline is accepted, as by Redis.
        let mut line = b"ECHO ".to_vec();
        line.resize(64 * 1024, b'x');
        line.extend_from_slice(b"\r\n");
        c.send(&line);
        let echoed = 64 * 1024 - 5;
        c.expect(format!("${echoed}\r\n").as_bytes());
        c.expect(&vec![b'x'; echoed]);
        c.expect(b"\r\n");
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
        // One byte more is refused, and the connection closed.
        let mut long = b"ECHO ".to_vec();
        long.resize(64 * 1024 + 1, b'x');
        long.extend_from_slice(b"\r\n");
        let mut d = server.connect();
        d.send(&long);
        d.expect(b"-ERR Protocol error: too big inline request\r\n");
        d.expect_closed();
    }
}

backend_tests! {
    fn dbsize_time_and_lastsave(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        // Shapes and errors as redis-server 7.0.15's.
        c.roundtrip(&[b"DBSIZE"], b":0\r\n");
        c.roundtrip(&[b"DBSIZE", b"x"], b"-ERR wrong number of arguments for 'dbsize' command\r\n");
        c.roundtrip(&[b"TIME", b"x"], b"-ERR wrong number of arguments for 'time' command\r\n");
        let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        c.cmd(&[b"TIME"]);
        let Frame::Array(parts) = c.frame() else { panic!("TIME is an array") };
        let [Frame::Bulk(secs), Frame::Bulk(micros)] = &parts[..] else { panic!("{parts:?}") };
        let secs: u64 = std::str::from_utf8(secs).unwrap().parse().unwrap();
        let micros: u64 = std::str::from_utf8(micros).unwrap().parse().unwrap();
        assert!(secs >= before && secs <= before + 60 && micros < 1_000_000, "{secs} {micros}");
        c.cmd(&[b"LASTSAVE"]);
        let Frame::Integer(saved) = c.frame() else { panic!("LASTSAVE is an integer") };
        assert!(saved as u64 <= secs && saved as u64 + 600 > secs, "{saved}");
        assert_eq!(info_text_field(&info(&server, &[b"persistence"]), "rdb_last_save_time"), saved as u64);
    }
}

/// What `LOLWUT` answers at `addr`, sent after `HELLO 3` when `resp3`, as raw bytes.
fn lolwut_reply(addr: std::net::SocketAddr, resp3: bool, args: &[&[u8]]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(crate::util::PATIENCE)).unwrap();
    let mut request = Vec::new();
    if resp3 {
        shared::resp::encode_command(&mut request, &[&b"HELLO"[..], b"3"]);
    }
    shared::resp::encode_command(&mut request, &[&[&b"LOLWUT"[..]], args].concat());
    shared::resp::encode_command(&mut request, &[&b"QUIT"[..]]);
    stream.write_all(&request).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).expect("the server closes after QUIT");
    if resp3 {
        let (_, used) = shared::resp::parse_frame(&got).unwrap().expect("HELLO's whole map");
        got.drain(..used);
    }
    got.strip_suffix(b"+OK\r\n").expect("QUIT's reply comes last").to_vec()
}

/// Redis 7's `LOLWUT` reply for `version`: `Redis ver. VERSION` and a newline, a verbatim
/// string (`txt`) in RESP3, a bulk string in RESP2.
fn lolwut_text(version: &str, resp3: bool) -> Vec<u8> {
    let text = format!("Redis ver. {version}\n");
    match resp3 {
        true => format!("={}\r\ntxt:{text}\r\n", text.len() + 4).into_bytes(),
        false => format!("${}\r\n{text}\r\n", text.len()).into_bytes(),
    }
}

#[test]
fn lolwut_answers_as_redis_server_for_the_version_reported() {
    let server = TestServer::start(server::Backend::Thread);
    // redis-server, where installed, answers the same bytes for its own version.
    let redis = Command::new("redis-server").arg("--version").output().is_ok().then(|| {
        let redis = crate::util::RedisServer::start(&[]);
        let mut conn = crate::util::Conn::new(std::net::TcpStream::connect(redis.addr).unwrap());
        conn.cmd(&[b"INFO", b"server"]);
        let Frame::Bulk(info) = conn.frame() else { panic!("INFO is a bulk string") };
        let info = String::from_utf8_lossy(&info).into_owned();
        let version = info.lines().find_map(|l| l.strip_prefix("redis_version:")).unwrap();
        (version.to_string(), redis)
    });
    if redis.is_none() {
        eprintln!("note: redis-server is not on PATH, LOLWUT is checked against its known reply");
    }
    for resp3 in [false, true] {
        for args in [&[][..], &[&b"VERSION"[..], b"7"], &[b"VERSION"], &[b"a", b"b"]] {
            let ours = lolwut_reply(server.addr(), resp3, args);
            assert_eq!(ours, lolwut_text(server::REDIS_VERSION, resp3), "resp3 {resp3} {args:?}");
            if let Some((version, redis)) = &redis {
                let theirs = lolwut_reply(redis.addr, resp3, args);
                assert_eq!(theirs, lolwut_text(version, resp3), "redis-server, resp3 {resp3}");
            }
        }
        let bad: &[&[u8]] = &[b"VERSION", b"x"];
        let ours = lolwut_reply(server.addr(), resp3, bad);
        assert_eq!(ours, b"-ERR value is not an integer or out of range\r\n");
        if let Some((_, redis)) = &redis {
            assert_eq!(lolwut_reply(redis.addr, resp3, bad), ours);
        }
    }
}
