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
