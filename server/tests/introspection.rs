//! COMMAND and its subcommands, compared with redis-server 7.0's replies: every row of the
//! command table's `COMMAND INFO` entry, byte for byte in RESP2 and RESP3 (subcommands, which
//! redis-server lists in hash order, sorted by name and cut to those served here), `COMMAND
//! DOCS` (its keys, and every value but the summary and complexity, which are our own words;
//! histories are not served), `GETKEYS` and the errors, and redis-cli's hints.

use std::collections::BTreeSet;

use shared::command::COMMAND_TABLE;
use shared::Frame;

use crate::util::{Conn, RedisServer, TestServer};

/// Rows that are Redis 7.2's, which redis-server 7.0 does not know.
const NEWER_THAN_7_0: [&str; 2] = ["client|setinfo", "client|no-touch"];

/// The rows of the table that are commands, not subcommands.
fn commands() -> impl Iterator<Item = &'static shared::command::Row> {
    COMMAND_TABLE.iter().filter(|row| !row.is_subcommand())
}

/// A frame's text, for names and map keys.
fn text(frame: &Frame) -> String {
    match frame {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Simple(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    }
}

/// A `COMMAND INFO` entry with its subcommands cut to those served and known to 7.0, sorted by
/// name.
fn normalized_info(entry: Frame) -> Frame {
    let Frame::Array(mut fields) = entry else { return entry };
    assert_eq!(fields.len(), 10, "{fields:?}");
    if let Frame::Array(subs) = &mut fields[9] {
        subs.retain(|sub| {
            let Frame::Array(sub) = sub else { panic!("{sub:?}") };
            let name = text(&sub[0]);
            !NEWER_THAN_7_0.contains(&name.as_str()) && COMMAND_TABLE.iter().any(|r| r.name == name)
        });
        subs.sort_by_key(|sub| match sub {
            Frame::Array(sub) => text(&sub[0]),
            _ => String::new(),
        });
    }
    Frame::Array(fields)
}

/// Both servers' answers to `args`, each as one frame.
fn both(ours: &mut Conn, theirs: &mut Conn, args: &[&[u8]]) -> (Frame, Frame) {
    ours.cmd(args);
    theirs.cmd(args);
    (ours.frame(), theirs.frame())
}

/// Both servers' answers to `args`, each as the bytes sent.
fn both_raw(ours: &mut Conn, theirs: &mut Conn, args: &[&[u8]]) -> (String, String) {
    ours.cmd(args);
    theirs.cmd(args);
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (text(ours.raw_frame()), text(theirs.raw_frame()))
}

/// The pairs of a `COMMAND DOCS` map (a flat array in RESP2), by key.
fn doc_pairs(frame: Frame) -> Vec<(String, Frame)> {
    match frame {
        Frame::Map(pairs) => pairs.into_iter().map(|(k, v)| (text(&k), v)).collect(),
        Frame::Array(flat) => {
            let mut it = flat.into_iter();
            std::iter::from_fn(|| Some((text(&it.next()?), it.next()?))).collect()
        }
        other => panic!("not a map: {other:?}"),
    }
}

/// Asserts that one command's documentation has the keys and shapes redis-server's has, the
/// same `since`, `group` and `arguments`, without comparing the summary and complexity words (ours) and
/// leaving out what is not served (history, doc flags).
fn same_doc_shape(name: &str, ours: Frame, theirs: Frame) {
    let not_served = ["history", "doc_flags"];
    let ours = doc_pairs(ours);
    let theirs: Vec<(String, Frame)> =
        doc_pairs(theirs).into_iter().filter(|(k, _)| !not_served.contains(&k.as_str())).collect();
    let keys = |pairs: &[(String, Frame)]| pairs.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&theirs), "{name}");
    for ((key, mine), (_, redis)) in ours.into_iter().zip(theirs) {
        match key.as_str() {
            "since" | "group" | "arguments" => assert_eq!(mine, redis, "{name} {key}"),
            "summary" | "complexity" => {
                assert!(matches!((&mine, &redis), (Frame::Bulk(_), Frame::Bulk(_))), "{name}")
            }
            "subcommands" => {
                let redis: Vec<(String, Frame)> = doc_pairs(redis)
                    .into_iter()
                    .filter(|(n, _)| COMMAND_TABLE.iter().any(|r| r.name == *n))
                    .collect();
                let mut mine: Vec<(String, Frame)> = doc_pairs(mine)
                    .into_iter()
                    .filter(|(n, _)| !NEWER_THAN_7_0.contains(&n.as_str()))
                    .collect();
                mine.sort_by(|a, b| a.0.cmp(&b.0));
                let mut redis = redis;
                redis.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(keys(&mine), keys(&redis), "{name} subcommands");
                for ((sub, m), (_, r)) in mine.into_iter().zip(redis) {
                    same_doc_shape(&sub, m, r);
                }
            }
            other => panic!("{name}: unexpected key {other}"),
        }
    }
}

backend_tests! {
    fn command_info_is_redis_servers_for_every_command(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let (mut ours, mut theirs) = (server.connect(), redis.connect());
        for resp3 in [false, true] {
            if resp3 {
                ours.cmd(&[b"HELLO", b"3"]);
                theirs.cmd(&[b"HELLO", b"3"]);
                let _ = (ours.frame(), theirs.frame());
            }
            for row in commands() {
                let name = row.name.as_bytes();
                let has_subs = COMMAND_TABLE.iter().any(|r| r.name.starts_with(&format!("{}|", row.name)));
                if has_subs {
                    let (mine, redis) = both(&mut ours, &mut theirs, &[b"COMMAND", b"INFO", name]);
                    let one = |f: Frame| match f {
                        Frame::Array(mut entries) => normalized_info(entries.remove(0)),
                        other => panic!("{other:?}"),
                    };
                    assert_eq!(one(mine), one(redis), "COMMAND INFO {} (resp3 {resp3})", row.name);
                } else {
                    let (mine, redis) = both_raw(&mut ours, &mut theirs, &[b"COMMAND", b"INFO", name]);
                    assert_eq!(mine, redis, "COMMAND INFO {} (resp3 {resp3})", row.name);
                }
            }
            // A subcommand by its full name, an unknown name, any case.
            let ask: [&[u8]; 5] = [b"COMMAND", b"INFO", b"client|list", b"PUBLISH", b"nope"];
            let (mine, redis) = both_raw(&mut ours, &mut theirs, &ask);
            assert_eq!(mine, redis, "resp3 {resp3}");
        }
    }

    fn command_docs_have_redis_servers_shape(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let (mut ours, mut theirs) = (server.connect(), redis.connect());
        for resp3 in [false, true] {
            if resp3 {
                ours.cmd(&[b"HELLO", b"3"]);
                theirs.cmd(&[b"HELLO", b"3"]);
                let _ = (ours.frame(), theirs.frame());
            }
            for row in commands() {
                let (mine, redis) = both(&mut ours, &mut theirs, &[b"COMMAND", b"DOCS", row.name.as_bytes()]);
                let (mine, redis) = (doc_pairs(mine), doc_pairs(redis));
                assert_eq!(mine.len(), 1, "{}", row.name);
                assert_eq!(mine[0].0, redis[0].0);
                let same_kind = std::mem::discriminant(&mine[0].1) == std::mem::discriminant(&redis[0].1);
                assert!(same_kind, "{} resp3 {resp3}", row.name);
                let (mine, redis) = (mine.into_iter().next().unwrap().1, redis.into_iter().next().unwrap().1);
                same_doc_shape(row.name, mine, redis);
            }
            let (mine, redis) = both_raw(&mut ours, &mut theirs, &[b"COMMAND", b"DOCS", b"nope"]);
            assert_eq!(mine, redis);
        }
        // Without names: every command, each once.
        ours.cmd(&[b"COMMAND", b"DOCS"]);
        let all = doc_pairs(ours.frame());
        assert_eq!(all.len(), commands().count());
    }

    fn command_count_list_getkeys_and_errors_are_redis_servers(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let (mut ours, mut theirs) = (server.connect(), redis.connect());
        ours.roundtrip(&[b"COMMAND", b"COUNT"], format!(":{}\r\n", commands().count()).as_bytes());
        let served = commands().count();
        ours.roundtrip(&[b"COMMAND", b"COUNT"], format!(":{served}\r\n").as_bytes());
        ours.cmd(&[b"COMMAND"]);
        let Frame::Array(all) = ours.frame() else { panic!("COMMAND answers an array") };
        assert_eq!(all.len(), served);
        let same: &[&[&[u8]]] = &[
            &[b"COMMAND", b"GETKEYS", b"publish", b"a", b"b"],
            &[b"COMMAND", b"GETKEYS", b"del", b"a", b"b"],
            &[b"COMMAND", b"GETKEYSANDFLAGS", b"xadd", b"s", b"*", b"f", b"v"],
            &[b"COMMAND", b"GETKEYS", b"xinfo", b"stream", b"s"],
            &[b"COMMAND", b"GETKEYS", b"expire", b"k", b"10"],
            &[b"COMMAND", b"GETKEYS", b"keys", b"*"],
            &[b"COMMAND", b"GETKEYS", b"spublish", b"a", b"b"],
            &[b"COMMAND", b"GETKEYSANDFLAGS", b"ssubscribe", b"a", b"b"],
            &[b"COMMAND", b"GETKEYS", b"subscribe", b"a"],
            &[b"COMMAND", b"GETKEYS", b"watch", b"a", b"b"],
            &[b"COMMAND", b"GETKEYSANDFLAGS", b"WATCH", b"a", b"b"],
            &[b"COMMAND", b"GETKEYS", b"watch"],
            &[b"COMMAND", b"GETKEYS", b"nope", b"a"],
            &[b"COMMAND", b"GETKEYS", b"client", b"list"],
            &[b"COMMAND", b"GETKEYS", b"client", b"nope"],
            &[b"COMMAND", b"GETKEYS", b"pubsub", b"channels"],
            &[b"COMMAND", b"COUNT", b"x"],
            &[b"COMMAND", b"FOO"],
            &[b"COMMAND", b"LIST", b"FILTERBY"],
            &[b"COMMAND", b"LIST", b"FOO"],
            &[b"COMMAND", b"LIST", b"FILTERBY", b"NOPE", b"x"],
            &[b"COMMAND", b"LIST", b"FILTERBY", b"MODULE", b"x"],
            &[b"COMMAND", b"LIST", b"FILTERBY", b"ACLCAT", b"nope"],
            &[b"COMMAND", b"LIST", b"FILTERBY", b"PATTERN", b"nope*"],
        ];
        for resp3 in [false, true] {
            if resp3 {
                ours.cmd(&[b"HELLO", b"3"]);
                theirs.cmd(&[b"HELLO", b"3"]);
                let _ = (ours.frame(), theirs.frame());
            }
            for args in same {
                let (mine, redis) = both_raw(&mut ours, &mut theirs, args);
                assert_eq!(mine, redis, "{:?} resp3 {resp3}", args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>());
            }
        }
        // The lists are redis-server's, cut to what is served, in any order.
        let served: BTreeSet<String> = COMMAND_TABLE.iter().map(|r| r.name.to_string()).collect();
        let names = |f: Frame| -> BTreeSet<String> {
            let (Frame::Array(items) | Frame::Set(items)) = f else { panic!("{f:?}") };
            items.iter().map(text).collect()
        };
        let lists: &[&[&[u8]]] = &[
            &[b"COMMAND", b"LIST"],
            &[b"COMMAND", b"LIST", b"FILTERBY", b"ACLCAT", b"pubsub"],
            &[b"COMMAND", b"LIST", b"FILTERBY", b"aclcat", b"CONNECTION"],
            &[b"COMMAND", b"LIST", b"FILTERBY", b"PATTERN", b"pub*"],
            &[b"COMMAND", b"LIST", b"FILTERBY", b"PATTERN", b"client|*"],
        ];
        for args in lists {
            let (mine, redis) = both(&mut ours, &mut theirs, args);
            let mine: BTreeSet<String> = names(mine)
                .into_iter()
                .filter(|n| !NEWER_THAN_7_0.contains(&n.as_str()))
                .collect();
            let redis: BTreeSet<String> = names(redis).intersection(&served).cloned().collect();
            assert!(!mine.is_empty());
            assert_eq!(mine, redis, "{:?}", args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>());
        }
        ours.cmd(&[b"COMMAND", b"HELP"]);
        let Frame::Array(help) = ours.frame() else { panic!("COMMAND HELP answers an array") };
        assert!(help.len() > 10);
    }
}

backend_tests! {
    fn clients_read_the_command_table(backend) {
        redis_py_and_the_redis_crate_read_the_command_table(backend)
    }
}

/// Real clients read the table: redis-py's `COMMAND` (parsed into a dict by name), `COMMAND
/// COUNT`, `LIST` and `GETKEYS`, and the `redis` crate's reading of `COMMAND INFO`.
fn redis_py_and_the_redis_crate_read_the_command_table(backend: server::Backend) {
    let server = TestServer::start(backend);
    let script = r#"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
table = r.command()
assert table["publish"]["arity"] == 3, table["publish"]
assert "pubsub" in [f.decode() if isinstance(f, bytes) else f for f in table["publish"]["flags"]], table["publish"]
assert r.command_count() == int(sys.argv[2]), r.command_count()
assert "pubsub" in table and "client" in table, list(table)
assert b"client|list" in r.command_list(category="connection")
assert r.command_getkeys("watch", "a", "b") in ([b"a", b"b"], ["a", "b"])
print("ok")
"#;
    let args = [server.addr().port().to_string(), commands().count().to_string()];
    assert_eq!(crate::util::python(script, &args), "ok\n");
    for resp3 in [false, true] {
        let mut con = server.redis(resp3);
        let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
        assert_eq!(count as usize, commands().count());
        let info: redis::Value =
            redis::cmd("COMMAND").arg("INFO").arg("publish").query(&mut con).unwrap();
        let redis::Value::Array(entries) = info else { panic!("{info:?}") };
        let redis::Value::Array(entry) = &entries[0] else { panic!("{entries:?}") };
        assert_eq!(entry[0], redis::Value::BulkString(b"publish".to_vec()));
        assert_eq!(entry[1], redis::Value::Int(3));
    }
}

/// Runs interactive `redis-cli` on a pseudo-terminal (it shows hints only on a TTY, and asks
/// the terminal where its cursor is), types each of `words` and prints the hint it shows.
const REDIS_CLI_HINTS: &str = r#"
import os, pty, re, select, sys, time
port, words = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("redis-cli", ["redis-cli", "-p", port])
out = b""
def pump(until, seconds=10):
    """Reads what redis-cli writes (answering its cursor queries) until `until` matches."""
    global out
    end = time.time() + seconds
    while time.time() < end and not re.search(until, out, re.S):
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            out += data
            if b"\x1b[6n" in data:
                os.write(fd, b"\x1b[1;200R")
pump(rb"> ")
for word in words:
    out = b""
    os.write(fd, word.encode())
    # The line is redrawn after each key: the whole word, then its hint in grey.
    pump(re.escape(word.encode()) + rb"\x1b\[0;90;49m(.*?)\x1b\[0m")
    found = re.findall(re.escape(word.encode()) + rb"\x1b\[0;90;49m(.*?)\x1b\[0m", out)
    print(found[-1].decode() if found else "(none)")
    os.write(fd, b"\x15")
    pump(rb"> \r", 1)
os.write(fd, b"quit\r")
pump(rb"$^", 0.5)
os.waitpid(pid, 0)
"#;

backend_tests! {
    fn redis_cli_shows_the_hints_redis_server_gives(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let words: Vec<String> = ["publish ", "ssubscribe ", "client tracking ", "command list ", "pubsub numsub ", "hello "]
            .map(String::from)
            .to_vec();
        let hints = |port: u16| {
            let args: Vec<String> = std::iter::once(port.to_string()).chain(words.iter().cloned()).collect();
            crate::util::python(REDIS_CLI_HINTS, &args)
        };
        let ours = hints(server.addr().port());
        assert!(ours.starts_with("channel message\n"), "{ours}");
        assert_eq!(ours, hints(redis.addr.port()));
    }
}
