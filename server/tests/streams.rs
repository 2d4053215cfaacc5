//! Streams and the key commands, byte-compared with redis-server 7.0 in RESP2 and RESP3
//! (error cases included), and through redis-py and the `redis` crate.

use std::collections::BTreeSet;

use shared::Frame;

use crate::util::{Conn, RedisServer, TestServer};

/// Sends `args` to both servers and asserts the same reply bytes.
#[track_caller]
fn same(ours: &mut Conn, theirs: &mut Conn, args: &[&str]) -> Vec<u8> {
    crate::util::same_reply(ours, theirs, args, "")
}

/// Every stream command's replies and errors, as redis-server gives them, on ids given
/// explicitly (XADD `*` depends on the clock).
const STREAM_SCRIPT: &[&[&str]] = &[
    &["XADD", "s", "1-1", "a", "1"],
    &["XADD", "s", "1-1", "a", "1"],
    &["XADD", "s", "0-0", "a", "1"],
    &["XADD", "t", "0-0", "a", "1"],
    &["XADD", "s", "1-*", "b", "2"],
    &["XADD", "s", "2", "c", "3", "d", "4"],
    &["XADD", "s", "abc", "a", "1"],
    &["XADD", "s", "5-x", "a", "1"],
    &["XADD", "s", "5-1", "a"],
    &["XADD", "s", "maxlen", "1"],
    &["XADD", "s", "MAXLEN", "-1", "*", "a", "1"],
    &["XADD", "s", "MAXLEN", "x", "*", "a", "1"],
    &["XADD", "s", "MAXLEN", "1", "LIMIT", "2", "*", "a", "1"],
    &["XADD", "s", "MAXLEN", "~", "1", "LIMIT", "-1", "*", "a", "1"],
    &["XADD", "s", "MAXLEN", "1", "MINID", "2", "*", "a", "1"],
    &["XADD", "s", "NOMKSTREAM", "3-0", "e", "5"],
    &["XADD", "nos", "NOMKSTREAM", "3-0", "e", "5"],
    &["XADD", "s", "MAXLEN", "~", "1", "4-0", "f", "6"],
    &["XLEN", "s"],
    &["XLEN", "nos"],
    &["XLEN"],
    &["XRANGE", "s", "-", "+"],
    &["XRANGE", "s", "(1-1", "+"],
    &["XRANGE", "s", "-", "+", "COUNT", "2"],
    &["XRANGE", "s", "1", "1"],
    &["XRANGE", "s", "(+", "+"],
    &["XRANGE", "s", "-", "(-"],
    &["XRANGE", "s", "(18446744073709551615-18446744073709551615", "+"],
    &["XRANGE", "s", "-", "(0-0"],
    &["XRANGE", "s", "-", "+", "COUNT", "-1"],
    &["XRANGE", "s", "-", "+", "COUNT", "0"],
    &["XRANGE", "s", "-", "+", "COUNT"],
    &["XRANGE", "s", "x", "+"],
    &["XRANGE", "s", "-"],
    &["XRANGE", "nos", "-", "+"],
    &["XREVRANGE", "s", "+", "-"],
    &["XREVRANGE", "s", "+", "-", "COUNT", "1"],
    &["XREVRANGE", "s", "(3-0", "-"],
    &["XDEL", "s", "1-2", "9-9", "1-2"],
    &["XDEL", "s", "x"],
    &["XDEL", "nos", "x"],
    &["XDEL", "s"],
    &["XINFO", "STREAM", "s"],
    &["XINFO", "STREAM", "s", "FULL"],
    &["XINFO", "STREAM", "s", "FULL", "COUNT", "1"],
    &["XINFO", "STREAM", "s", "FULL", "COUNT", "x"],
    &["XINFO", "STREAM", "s", "foo"],
    &["XINFO", "STREAM", "nos"],
    &["XINFO", "STREAM"],
    &["XINFO", "HELP"],
    &["XINFO", "foo"],
    &["XSETID", "s", "1-0"],
    &["XSETID", "s", "9-9", "ENTRIESADDED", "1"],
    &["XSETID", "s", "9-9", "MAXDELETEDID", "10-0"],
    &["XSETID", "s", "9-9", "ENTRIESADDED", "-1"],
    &["XSETID", "nos", "1-1"],
    &["XSETID", "s", "9-9", "ENTRIESADDED", "10", "MAXDELETEDID", "2-0"],
    &["XSETID", "s"],
    &["XINFO", "STREAM", "s"],
    &["XADD", "s", "9-9", "g", "7"],
    &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "5"],
    &["XTRIM", "s", "foo", "1"],
    &["XTRIM", "s", "MAXLEN", "~", "1"],
    &["XTRIM", "s", "MAXLEN", "2"],
    &["XTRIM", "s", "MINID", "0"],
    &["XTRIM", "nos", "MAXLEN", "0"],
    &["XTRIM", "s"],
    &["XRANGE", "s", "-", "+"],
    &["XREAD", "STREAMS", "s", "0"],
    &["XREAD", "COUNT", "1", "STREAMS", "s", "nos", "0", "0"],
    &["XREAD", "STREAMS", "s", "$"],
    &["XREAD", "STREAMS", "nos", "0"],
    &["XREAD", "STREAMS", "s", "x"],
    &["XREAD", "STREAMS", "s", "nos", "0"],
    &["XREAD", "COUNT", "x", "STREAMS", "s", "0"],
    &["XREAD", "FOO", "1", "STREAMS", "s", "0"],
    &["XREAD", "STREAMS", "s"],
];

/// XGROUP's replies and errors, in Redis 7.0's order of checks.
const GROUP_SCRIPT: &[&[&str]] = &[
    &["XGROUP", "CREATE", "s", "g", "$"],
    &["XGROUP", "CREATE", "s", "g", "x", "MKSTREAM"],
    &["EXISTS", "s"],
    &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
    &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
    &["XADD", "s", "1-1", "a", "1"],
    &["XADD", "s", "2-1", "b", "2"],
    &["XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", "x"],
    &["XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", "-5"],
    &["XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", "-1"],
    &["XGROUP", "create", "s", "g3", "0", "FOO"],
    &["XGROUP", "CREATE", "s", "g3", "x"],
    &["XGROUP", "CREATE", "s", "g3", "+"],
    &["XGROUP", "CREATE", "s", "g3", "-"],
    &["XGROUP", "CREATE", "s", "g3", "0", "ENTRIESREAD"],
    &["XGROUP", "CREATE", "s", "g3", "x", "MKSTREAM", "MKSTREAM", "MKSTREAM", "MKSTREAM"],
    &["XGROUP", "CREATE", "nos", "g3", "x", "MKSTREAM", "MKSTREAM", "MKSTREAM", "MKSTREAM"],
    &["EXISTS", "nos"],
    &["XGROUP", "CREATE", "s", "g3", "1-1", "ENTRIESREAD", "1"],
    &["XGROUP", "CREATE", "s"],
    &["XGROUP", "CREATECONSUMER", "s", "nog", "c"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
    &["XGROUP", "CREATECONSUMER", "nos", "g", "c"],
    &["XGROUP", "CREATECONSUMER", "s", "g"],
    &["XGROUP", "DELCONSUMER", "s", "g", "c"],
    &["XGROUP", "DELCONSUMER", "s", "g", "zz"],
    &["XGROUP", "DELCONSUMER", "s", "nog", "zz"],
    &["XGROUP", "SETID", "s", "g", "0"],
    &["XGROUP", "SETID", "s", "g", "$", "ENTRIESREAD", "3"],
    &["XGROUP", "SETID", "s", "g", "-"],
    &["XGROUP", "SETID", "s", "g", "+"],
    &["XGROUP", "SETID", "s", "g", "x"],
    &["XGROUP", "SETID", "s", "nog", "0"],
    &["XGROUP", "SETID", "nos", "g", "0"],
    &["XGROUP", "SETID", "s", "g", "$", "FOO"],
    &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "x"],
    &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "1", "FOO"],
    &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "1", "ENTRIESREAD", "2"],
    &["XGROUP", "SETID", "s", "nog", "0", "ENTRIESREAD", "1", "ENTRIESREAD", "2"],
    &["XINFO", "STREAM", "s"],
    &["XGROUP", "DESTROY", "s", "g"],
    &["XGROUP", "DESTROY", "s", "g"],
    &["XGROUP", "DESTROY", "nos", "g"],
    &["XGROUP", "DESTROY", "s"],
    &["XINFO", "STREAM", "s"],
    &["XGROUP", "HELP"],
    &["XGROUP", "HELP", "x"],
    &["XGROUP", "foo"],
    &["XGROUP"],
];

/// XREADGROUP's, XACK's and XPENDING's replies and errors (XPENDING's extended form only
/// with IDLE 0 here: its idle times are compared apart, in `pending_entries_...`).
const READ_GROUP_SCRIPT: &[&[&str]] = &[
    &["XADD", "s", "1-1", "a", "1"],
    &["XADD", "s", "2-1", "b", "2"],
    &["XADD", "s", "3-1", "c", "3"],
    &["XGROUP", "CREATE", "s", "g", "0"],
    &["XGROUP", "CREATE", "s", "late", "$"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s"],
    &["XREADGROUP", "STREAMS", "s", ">", "x", "y"],
    &["XREADGROUP", "COUNT", "1", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "nos", ">"],
    &["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "c", "COUNT", "x", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "x"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "c", "FOO", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "x", "STREAMS", "s", ">"],
    &["XPENDING", "s", "g"],
    &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "bob", "NOACK", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "late", "bob", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"],
    &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", "1-1"],
    &["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", "0"],
    &["XADD", "s", "4-1", "d", "4"],
    &["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", ">"],
    &["XDEL", "s", "4-1"],
    &["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", "0-0"],
    &["XPENDING", "s", "g"],
    &["XPENDING", "s", "g", "-", "+", "10", "nobody"],
    &["XPENDING", "s", "g", "-", "+", "0"],
    &["XPENDING", "s", "g", "(3", "-", "5"],
    &["XPENDING", "s", "g", "-", "+", "x"],
    &["XPENDING", "s", "g", "IDLE", "5", "-", "+"],
    &["XPENDING", "s", "g", "IDLE", "x", "-", "+", "1"],
    &["XPENDING", "s", "g", "x", "+", "1"],
    &["XPENDING", "s", "g", "(+", "+", "1"],
    &["XPENDING", "s", "g", "-", "(-", "1"],
    &["XPENDING", "s", "g", "-"],
    &["XPENDING", "nos", "g"],
    &["XPENDING", "s", "nog", "-", "+", "1"],
    &["XPENDING", "s"],
    &["XACK", "s", "g", "x"],
    &["XACK", "nos", "g", "x"],
    &["XACK", "s", "nog", "x"],
    &["XACK", "s", "g", "1-1", "1-1", "9-9"],
    &["XACK", "s", "g"],
    &["XPENDING", "s", "g"],
    &["XGROUP", "DELCONSUMER", "s", "g", "carol"],
    &["XPENDING", "s", "g"],
    &["XINFO", "GROUPS", "s"],
    &["XGROUP", "SETID", "s", "g", "0"],
    &["XINFO", "GROUPS", "s"],
    &["XREADGROUP", "GROUP", "g", "dave", "COUNT", "2", "STREAMS", "s", ">"],
    &["XPENDING", "s", "g"],
    &["XINFO", "STREAM", "s"],
    &["XINFO", "GROUPS", "s"],
    &["XGROUP", "CREATE", "s", "h", "1-1", "ENTRIESREAD", "1"],
    &["XGROUP", "CREATE", "s", "i", "$"],
    &["XINFO", "GROUPS", "s"],
    &["XINFO", "GROUPS", "nos"],
    &["XINFO", "GROUPS"],
    &["XINFO", "CONSUMERS", "s", "nog"],
    &["XINFO", "CONSUMERS", "nos", "g"],
    &["XINFO", "CONSUMERS", "s"],
    &["XCLAIM", "s", "g", "eve", "0", "1-1", "2-1", "3-1"],
    &["XPENDING", "s", "g"],
    &["XCLAIM", "s", "g", "eve", "0", "1-1", "JUSTID"],
    &["XCLAIM", "s", "g", "frank", "0", "1-1", "RETRYCOUNT", "7", "JUSTID"],
    &["XCLAIM", "s", "g", "frank", "3600000", "2-1"],
    &["XCLAIM", "s", "g", "frank", "0", "3-1", "IDLE", "3600000", "LASTID", "9-9"],
    &["XINFO", "GROUPS", "s"],
    &["XCLAIM", "s", "g", "frank", "3600000", "3-1"],
    &["XCLAIM", "s", "g", "frank", "-5", "3-1", "TIME", "1", "JUSTID"],
    &["XCLAIM", "s", "h", "frank", "0", "1-1", "2-1"],
    &["XCLAIM", "s", "h", "frank", "0", "1-1", "2-1", "FORCE"],
    &["XPENDING", "s", "h"],
    &["XDEL", "s", "1-1"],
    &["XCLAIM", "s", "h", "gina", "0", "1-1", "2-1"],
    &["XPENDING", "s", "h"],
    &["XCLAIM", "s", "g", "frank", "x", "1-1"],
    &["XCLAIM", "s", "g", "frank", "0", "1-1", "IDLE", "x"],
    &["XCLAIM", "s", "g", "frank", "0", "1-1", "TIME", "x"],
    &["XCLAIM", "s", "g", "frank", "0", "1-1", "RETRYCOUNT", "x"],
    &["XCLAIM", "s", "g", "frank", "0", "1-1", "LASTID", "x"],
    &["XCLAIM", "s", "g", "frank", "0", "1-1", "FOO"],
    &["XCLAIM", "s", "g", "frank", "0", "1-1", "IDLE"],
    &["XCLAIM", "s", "g", "frank", "0", "FOO", "1-1"],
    &["XCLAIM", "s", "nog", "frank", "x", "1-1"],
    &["XCLAIM", "nos", "g", "frank", "0", "1-1"],
    &["XCLAIM", "s", "g", "frank", "0"],
    &["XPENDING", "s", "g"],
    &["XADD", "s", "5-1", "e", "5"],
    &["XADD", "s", "6-1", "f", "6"],
    &["XREADGROUP", "GROUP", "g", "hal", "STREAMS", "s", ">"],
    &["XDEL", "s", "5-1"],
    &["XPENDING", "s", "g"],
    &["XAUTOCLAIM", "s", "g", "ivy", "3600000", "0"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "0", "COUNT", "1"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "(2-1", "COUNT", "2", "JUSTID"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "-"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "+"],
    &["XPENDING", "s", "g"],
    &["XAUTOCLAIM", "s", "g", "ivy", "x", "0"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "x"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "(+"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "0", "COUNT", "0"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "0", "COUNT", "x"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "0", "FOO"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0", "0", "COUNT"],
    &["XAUTOCLAIM", "s", "nog", "ivy", "0", "0"],
    &["XAUTOCLAIM", "nos", "g", "ivy", "0", "0"],
    &["XAUTOCLAIM", "nos", "g", "ivy", "0", "x"],
    &["XAUTOCLAIM", "s", "g", "ivy", "0"],
];

/// The key commands' replies and errors (KEYS and SCAN with one key, so their order is
/// Redis's; EXPIRE checked without reading a clock-dependent TTL).
const KEYS_SCRIPT: &[&[&str]] = &[
    &["XADD", "k", "1-1", "a", "1"],
    &["EXISTS", "k", "k", "nos"],
    &["TYPE", "k"],
    &["TYPE", "nos"],
    &["DBSIZE"],
    &["KEYS", "*"],
    &["KEYS", "x*"],
    &["SCAN", "0"],
    &["SCAN", "0", "MATCH", "k", "COUNT", "100", "TYPE", "stream"],
    &["SCAN", "0", "TYPE", "string"],
    &["SCAN", "x"],
    &["SCAN", "0", "COUNT", "0"],
    &["SCAN", "0", "MATCH"],
    &["SCAN", "0", "FOO", "1"],
    &["INFO", "keyspace"],
    &["TTL", "k"],
    &["PTTL", "k"],
    &["TTL", "nos"],
    &["PTTL", "nos"],
    &["EXPIRE", "nos", "10"],
    &["EXPIRE", "k", "100", "GT"],
    &["EXPIRE", "k", "100", "XX"],
    &["EXPIRE", "k", "100", "NX"],
    &["EXPIRE", "k", "10", "GT"],
    &["EXPIRE", "k", "200", "GT"],
    &["EXPIRE", "k", "300", "LT"],
    &["EXPIRE", "k", "150", "LT", "XX"],
    &["EXPIRE", "k", "1", "NX", "GT"],
    &["EXPIRE", "k", "1", "GT", "LT"],
    &["EXPIRE", "k", "1", "foo"],
    &["EXPIRE", "k", "x"],
    &["EXPIRE", "k", "9223372036854775807"],
    &["PEXPIRE", "k", "9223372036854775807"],
    &["INFO", "keyspace"],
    &["PERSIST", "k"],
    &["PERSIST", "k"],
    &["PERSIST", "nos"],
    &["TTL", "k"],
    &["PEXPIRE", "k", "100000"],
    &["EXPIRE", "k", "0"],
    &["EXISTS", "k"],
    &["DBSIZE"],
    &["INFO", "keyspace"],
    &["XADD", "k", "1-1", "a", "1"],
    &["XADD", "j", "1-1", "a", "1"],
    &["DEL", "k", "nos", "k"],
    &["UNLINK", "j"],
    &["XADD", "k", "1-1", "a", "1"],
    &["FLUSHALL", "ASYNC"],
    &["DBSIZE"],
    &["FLUSHDB", "SYNC"],
    &["FLUSHALL", "foo"],
    &["FLUSHDB"],
    &["DEL"],
    &["UNLINK"],
    &["EXISTS"],
    &["TYPE", "a", "b"],
    &["KEYS"],
    &["TTL"],
    &["PERSIST"],
    &["EXPIRE", "k"],
];

/// A connection to each, both speaking `resp`, with nothing stored.
fn pair(server: &TestServer, redis: &RedisServer, resp: &str) -> (Conn, Conn) {
    let mut ours = server.connect();
    let mut theirs = redis.connect();
    for conn in [&mut ours, &mut theirs] {
        conn.cmd(&[b"HELLO", resp.as_bytes()]);
        conn.frame();
        conn.cmd(&[b"FLUSHALL"]);
        assert_eq!(conn.frame(), Frame::Simple("OK".into()));
    }
    (ours, theirs)
}

backend_tests! {
    fn stream_commands_answer_as_redis_server(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        for resp in ["2", "3"] {
            let (mut ours, mut theirs) = pair(&server, &redis, resp);
            for args in STREAM_SCRIPT {
                same(&mut ours, &mut theirs, args);
            }
        }
    }

    fn group_commands_answer_as_redis_server(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        for resp in ["2", "3"] {
            let (mut ours, mut theirs) = pair(&server, &redis, resp);
            for args in GROUP_SCRIPT {
                same(&mut ours, &mut theirs, args);
            }
        }
    }

    fn group_reads_acks_and_pending_answer_as_redis_server(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        for resp in ["2", "3"] {
            let (mut ours, mut theirs) = pair(&server, &redis, resp);
            for args in READ_GROUP_SCRIPT {
                same(&mut ours, &mut theirs, args);
            }
        }
    }

    fn pending_entries_go_when_acknowledged_and_count_deliveries(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        // Every field but the idle time (the third) of XPENDING's extended form.
        fn pending(conn: &mut Conn, args: &[&str]) -> Vec<Vec<Frame>> {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            conn.cmd(&args);
            let Frame::Array(rows) = conn.frame() else { panic!("an array") };
            rows.into_iter()
                .map(|row| match row {
                    Frame::Array(mut fields) => {
                        assert!(matches!(fields[2], Frame::Integer(idle) if idle >= 0));
                        fields.remove(2);
                        fields
                    }
                    other => panic!("a row: {other:?}"),
                })
                .collect()
        }
        let (mut ours, mut theirs) = pair(&server, &redis, "2");
        for args in [
            &["XADD", "s", "1-1", "a", "1"][..],
            &["XADD", "s", "2-1", "b", "2"],
            &["XGROUP", "CREATE", "s", "g", "0"],
            &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
            &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"],
            &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "1-1"],
            &["XACK", "s", "g", "1-1"],
        ] {
            same(&mut ours, &mut theirs, args);
        }
        for args in [
            &["XPENDING", "s", "g", "-", "+", "10"][..],
            &["XPENDING", "s", "g", "IDLE", "0", "-", "+", "10", "c"],
        ] {
            let mine = pending(&mut ours, args);
            assert_eq!(mine, pending(&mut theirs, args));
            // 1-1 was acknowledged; 2-1 was delivered three times.
            let two = vec![Frame::Bulk("2-1".into()), Frame::Bulk("c".into()), Frame::Integer(3)];
            assert_eq!(mine, vec![two]);
        }
        // XINFO CONSUMERS and STREAM FULL, but for the idle times and timestamps.
        fn masked(conn: &mut Conn, args: &[&str]) -> Frame {
            fn mask(frame: Frame) -> Frame {
                match frame {
                    Frame::Integer(n) if n >= 1_000_000_000_000 => Frame::Integer(0),
                    Frame::Array(items) => {
                        let mut out: Vec<Frame> = Vec::with_capacity(items.len());
                        for item in items {
                            let after_idle = matches!(out.last(), Some(Frame::Bulk(b)) if &b[..] == b"idle");
                            out.push(if after_idle { Frame::Integer(0) } else { mask(item) });
                        }
                        Frame::Array(out)
                    }
                    other => other,
                }
            }
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            conn.cmd(&args);
            mask(conn.frame())
        }
        same(&mut ours, &mut theirs, &["XGROUP", "CREATECONSUMER", "s", "g", "idler"]);
        for args in [
            &["XINFO", "CONSUMERS", "s", "g"][..],
            &["XINFO", "STREAM", "s", "FULL"],
            &["XINFO", "STREAM", "s", "FULL", "COUNT", "1"],
        ] {
            assert_eq!(masked(&mut ours, args), masked(&mut theirs, args), "{args:?}");
        }
        // Nothing delivered a minute or less ago is idle for an hour.
        assert!(pending(&mut ours, &["XPENDING", "s", "g", "IDLE", "3600000", "-", "+", "9"]).is_empty());
    }

    fn key_commands_answer_as_redis_server(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        for resp in ["2", "3"] {
            let (mut ours, mut theirs) = pair(&server, &redis, resp);
            // INFO is a verbatim string in RESP3, which the test parser does not read.
            for args in KEYS_SCRIPT.iter().filter(|a| resp == "2" || a[0] != "INFO") {
                same(&mut ours, &mut theirs, args);
            }
        }
    }

    fn trims_and_radix_counts_match_redis_server_on_several_nodes(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let (mut ours, mut theirs) = pair(&server, &redis, "3");
        for i in 1..=250 {
            same(&mut ours, &mut theirs, &["XADD", "b", &format!("{i}-1"), "f", "v"]);
        }
        for args in [
            &["XINFO", "STREAM", "b"][..],
            &["XTRIM", "b", "MAXLEN", "~", "120"],
            &["XTRIM", "b", "MAXLEN", "~", "0", "LIMIT", "60"],
            &["XINFO", "STREAM", "b"],
            &["XDEL", "b", "200-1", "201-1"],
            &["XTRIM", "b", "MINID", "~", "240"],
            &["XTRIM", "b", "MINID", "240"],
            &["XINFO", "STREAM", "b"],
            &["XADD", "b", "MAXLEN", "=", "5", "300-1", "f", "v"],
            &["XADD", "b", "MINID", "~", "299", "LIMIT", "1", "301-1", "f", "v"],
            &["XINFO", "STREAM", "b", "FULL", "COUNT", "0"],
        ] {
            same(&mut ours, &mut theirs, args);
        }
        // Nodes closed by their bytes (Redis's 4096): long values, fields that change, values
        // that are numbers.
        let long = "v".repeat(90);
        for i in 1..=120u32 {
            let (field, value) = match i % 3 {
                0 => ("f", long.clone()),
                1 => ("g", (i * 1000).to_string()),
                _ => ("f", "x".repeat((i % 70) as usize + 1)),
            };
            same(&mut ours, &mut theirs, &["XADD", "w", &format!("{i}-{i}"), field, &value, "n", "1"]);
        }
        for args in [
            &["XINFO", "STREAM", "w"][..],
            &["XTRIM", "w", "MAXLEN", "~", "30"],
            &["XINFO", "STREAM", "w"],
        ] {
            same(&mut ours, &mut theirs, args);
        }
    }

    fn stream_commands_in_transactions_and_subscribed_mode_as_redis_server(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let (mut ours, mut theirs) = pair(&server, &redis, "2");
        for args in [
            &["MULTI"][..],
            &["XADD", "s", "1-1", "a", "1"],
            &["XADD", "s", "1-1", "a", "1"],
            &["XLEN", "s"],
            &["XRANGE", "s", "-", "+"],
            &["EXEC"],
            &["MULTI"],
            &["XADD", "s", "2-2"],
            &["EXEC"],
            &["SUBSCRIBE", "ch"],
            &["XADD", "s", "3-3", "a", "1"],
            &["DEL", "s"],
            &["UNSUBSCRIBE"],
            &["XLEN", "s"],
        ] {
            same(&mut ours, &mut theirs, args);
        }
    }

    fn xadd_star_reads_the_clock_and_xread_plus_gives_the_last(backend) {
        let server = TestServer::start(backend);
        let mut conn = server.connect();
        conn.cmd(&[b"XADD", b"s", b"*", b"a", b"1"]);
        let Frame::Bulk(first) = conn.frame() else { panic!("an id") };
        let (ms, seq) = std::str::from_utf8(&first).unwrap().split_once('-').unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let ms: u128 = ms.parse().unwrap();
        assert!(ms.abs_diff(now.as_millis()) < 60_000, "{ms} is not about now");
        conn.cmd(&[b"XADD", b"s", b"*", b"a", b"2"]);
        let Frame::Bulk(second) = conn.frame() else { panic!("an id") };
        assert!(second.as_ref() > first.as_ref() || second.len() > first.len(), "{seq}");
        // `+` (the last entry), which Redis 7.4 added: the second entry only.
        conn.cmd(&[b"XREAD", b"STREAMS", b"s", b"+"]);
        let want = Frame::Array(vec![Frame::Array(vec![
            Frame::Bulk("s".into()),
            Frame::Array(vec![Frame::Array(vec![
                Frame::Bulk(second.clone()),
                Frame::Array(vec![Frame::Bulk("a".into()), Frame::Bulk("2".into())]),
            ])]),
        ])]);
        assert_eq!(conn.frame(), want);
        // BLOCK comes with the next part: refused in words, never a hang.
        conn.cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
        let Frame::Error(text) = conn.frame() else { panic!("an error") };
        assert!(text.contains("BLOCK is not supported"), "{text}");
        conn.roundtrip(&[b"TTL", b"s"], b":-1\r\n");
        conn.roundtrip(&[b"EXPIRE", b"s", b"100"], b":1\r\n");
        conn.cmd(&[b"PTTL", b"s"]);
        let Frame::Integer(left) = conn.frame() else { panic!("a number") };
        assert!((90_000..=100_000).contains(&left), "{left}");
        conn.cmd(&[b"INFO", b"keyspace"]);
        let Frame::Bulk(info) = conn.frame() else { panic!("INFO is a bulk") };
        assert!(String::from_utf8_lossy(&info).contains("db0:keys=1,expires=1,avg_ttl=0"));
        conn.roundtrip(&[b"PEXPIRE", b"s", b"1"], b":1\r\n");
        crate::util::wait_for("the key expired", b":0\r\n".to_vec(), || {
            conn.cmd(&[b"EXISTS", b"s"]);
            conn.raw_frame()
        });
        conn.roundtrip(&[b"DBSIZE"], b":0\r\n");
    }

    fn scan_returns_every_key_while_keys_are_added(backend) {
        let server = TestServer::start(backend);
        let mut conn = server.connect();
        let mut writer = server.connect();
        for i in 0..300 {
            conn.cmd(&[b"XADD", format!("key:{i}").as_bytes(), b"1-1", b"a", b"1"]);
        }
        for _ in 0..300 {
            conn.frame();
        }
        let (mut seen, mut cursor, mut added) = (BTreeSet::new(), b"0".to_vec(), 0);
        loop {
            conn.cmd(&[b"SCAN", &cursor, b"COUNT", b"20", b"MATCH", b"key:*", b"TYPE", b"stream"]);
            let Frame::Array(reply) = conn.frame() else { panic!("SCAN's pair") };
            let [Frame::Bulk(next), Frame::Array(keys)] = &reply[..] else { panic!("{reply:?}") };
            for key in keys {
                let Frame::Bulk(key) = key else { panic!("a key") };
                seen.insert(String::from_utf8_lossy(key).into_owned());
            }
            writer.roundtrip(&[b"XADD", format!("new:{added}").as_bytes(), b"1-1", b"a", b"1"], b"$3\r\n1-1\r\n");
            added += 1;
            if next.as_ref() == b"0" {
                break;
            }
            cursor = next.to_vec();
        }
        for i in 0..300 {
            assert!(seen.contains(&format!("key:{i}")), "key:{i} was missed");
        }
        assert!(seen.iter().all(|k| k.starts_with("key:")));
        conn.cmd(&[b"KEYS", b"key:1?"]);
        let Frame::Array(keys) = conn.frame() else { panic!("KEYS's list") };
        assert_eq!(keys.len(), 10);
        conn.roundtrip(&[b"DBSIZE"], format!(":{}\r\n", 300 + added).as_bytes());
    }

    fn users_without_key_rights_are_refused_as_by_redis_server(backend) {
        let server = TestServer::start(backend);
        let redis = RedisServer::start(&[]);
        let (mut ours, mut theirs) = pair(&server, &redis, "2");
        for args in [
            &["ACL", "SETUSER", "nokeys", "on", "nopass", "+@all"][..],
            &["ACL", "SETUSER", "some", "on", "nopass", "+@all", "~a*"],
            &["ACL", "DRYRUN", "nokeys", "XLEN", "s"],
            &["ACL", "DRYRUN", "some", "XLEN", "ab"],
            &["AUTH", "nokeys", "x"],
            &["XADD", "s", "1-1", "a", "1"],
            &["DEL", "s"],
            &["XREAD", "STREAMS", "s", "0"],
            &["KEYS", "*"],
            &["DBSIZE"],
            &["AUTH", "some", "x"],
            &["XADD", "ab", "1-1", "a", "1"],
            &["XADD", "b", "1-1", "a", "1"],
            &["EXISTS", "ab", "b"],
            &["XLEN", "ab"],
            &["ACL", "LOG", "1"],
        ] {
            if args.starts_with(&["ACL", "LOG"]) {
                // The log's entry: compared field by field where the values do not depend on
                // the connection (age, client-info).
                for conn in [&mut ours, &mut theirs] {
                    conn.cmd(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
                }
                let (mine, redis) = (ours.frame(), theirs.frame());
                let fields = |f: Frame| -> Vec<Frame> {
                    let Frame::Array(mut entries) = f else { panic!("ACL LOG's list: {f:?}") };
                    let Frame::Array(entry) = entries.remove(0) else { panic!("an entry") };
                    entry.chunks(2).filter(|kv| {
                        matches!(&kv[0], Frame::Bulk(k) if [&b"reason"[..], b"object", b"username", b"context"].contains(&k.as_ref()))
                    }).flat_map(|kv| kv.to_vec()).collect()
                };
                assert_eq!(fields(mine), fields(redis));
                continue;
            }
            same(&mut ours, &mut theirs, args);
        }
        // Redis 7.2's counter (7.0 has none): XADD, DEL, XREAD of nokeys; XADD b, EXISTS ab b.
        assert_eq!(crate::util::info_field(&mut ours, "acl_access_denied_key"), 5);
    }
}

#[test]
fn streams_through_redis_py_and_the_redis_crate() {
    let server = TestServer::start(server::Backend::Event);
    let script = r#"
import sys, redis
port = int(sys.argv[1])
for proto in (2, 3):
    r = redis.Redis(port=port, protocol=proto, decode_responses=True)
    r.delete("py")
    first = r.xadd("py", {"a": "1"})
    second = r.xadd("py", {"b": "2"}, maxlen=10, approximate=False)
    assert r.xlen("py") == 2
    entries = r.xrange("py")
    assert [e[0] for e in entries] == [first, second], entries
    assert entries[0][1] == {"a": "1"}, entries
    got = r.xread({"py": first})
    items = got["py"][0] if isinstance(got, dict) else got[0][1]
    assert [e[0] for e in items] == [second], got
    assert r.xrevrange("py", count=1)[0][0] == second
    assert r.xdel("py", first) == 1
    assert r.type("py") == "stream"
    assert r.delete("py") == 1
    assert r.exists("py") == 0
print("ok")
"#;
    assert_eq!(crate::util::python(script, &[server.addr().port().to_string()]), "ok\n");
    for resp3 in [false, true] {
        let mut con = server.redis(resp3);
        let id: String =
            redis::cmd("XADD").arg("rs").arg("*").arg("f").arg("v").query(&mut con).unwrap();
        let len: i64 = redis::cmd("XLEN").arg("rs").query(&mut con).unwrap();
        assert_eq!(len, 1);
        let range: Vec<(String, Vec<String>)> =
            redis::cmd("XRANGE").arg("rs").arg("-").arg("+").query(&mut con).unwrap();
        assert_eq!(range, vec![(id.clone(), vec!["f".to_string(), "v".to_string()])]);
        let read: redis::Value =
            redis::cmd("XREAD").arg("STREAMS").arg("rs").arg("0").query(&mut con).unwrap();
        assert!(format!("{read:?}").contains(&id), "{read:?}");
        let deleted: i64 = redis::cmd("DEL").arg("rs").query(&mut con).unwrap();
        assert_eq!(deleted, 1);
    }
}
