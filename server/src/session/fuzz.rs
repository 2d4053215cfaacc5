//! The fuzzing harness: random and mutated request streams, cut into random reads, through a
//! whole Session (parser, commands, exchange, mailbox). It must never panic, and what it
//! buffers must stay within the protocol limits. `PROPTEST_CASES` raises the case count.

use super::*;
use crate::driver::Driver;
use crate::test_util::NoWake;
use crate::Config;
use proptest::prelude::*;
use shared::resp::encode_command;
use shared::Limits;

const LIMITS: Limits = Limits { max_inline_len: 256, max_bulk_len: 512, max_args: 16 };

fn context() -> Arc<ServerContext> {
    let config = Config { limits: LIMITS, client_output_buffer_limit: 4096, ..Config::default() };
    Arc::new(ServerContext::new(config, "127.0.0.1:0".parse().unwrap()))
}

/// Feeds `input` to two connections sharing one server, each a [`Driver`] around its
/// session, in reads of the given sizes, and checks the invariants after every read.
fn run(input: &[u8], cuts: &[usize]) {
    let ctx = context();
    let now = std::time::Instant::now();
    let open =
        || Driver::new(ctx.open_session_unchecked(Arc::new(NoWake)).unwrap(), ctx.clone(), now);
    let mut conns: Vec<Driver> = (0..2).map(|_| open()).collect();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = cuts.get(i).copied().unwrap_or(rest.len()).clamp(1, rest.len());
        let conn = &mut conns[i % 2];
        conn.handle_read(&rest[..n], now);
        conn.handle_mail();
        // The peer reads everything.
        while !conn.poll_output().is_empty() {
            let n = conn.poll_output().len();
            conn.handle_written(n);
        }
        // Whatever an open session keeps after a read is one partial request: at most a
        // header line and one bulk body. (A closing session stops parsing; its input is
        // thrown away with it.)
        let session = conn.session();
        let buffered = session.resp.as_ref().map_or(0, |s| s.input.len());
        if !conn.is_done() && session.resp.as_ref().is_some_and(|s| !s.closing) {
            assert!(buffered <= LIMITS.max_inline_len + LIMITS.max_bulk_len + 64, "{buffered}");
            assert!(!session.stalled(), "with the output written, nothing waits");
        } else {
            conns[i % 2] = open();
        }
        rest = &rest[n..];
        i += 1;
    }
    drop(conns);
    let s = &ctx.stats;
    assert_eq!(
        crate::stats::get(&s.published_receivers),
        crate::stats::get(&s.delivered) + crate::stats::get(&s.dropped)
    );
    assert_eq!(ctx.connected(), 0);
    assert!(ctx.exchange.channels(None).is_empty());
    assert!(ctx.exchange.shard_channels(None).is_empty());
    assert_eq!((ctx.exchange.channel_count(), ctx.exchange.numpat()), (0, 0));
}

/// Words that make commands the server knows, so random streams reach deep states.
fn word() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "PING", "ECHO", "QUIT", "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE",
            "PUBLISH", "PUBSUB", "CHANNELS", "NUMSUB", "NUMPAT", "HELLO", "3", "2", "CLIENT",
            "SETNAME", "CONFIG", "GET", "COMMAND", "INFO", "RESET", "MULTI", "EXEC", "DISCARD", "SSUBSCRIBE",
        "SUNSUBSCRIBE", "SPUBLISH", "SHARDCHANNELS", "KILL", "LIST", "REPLY", "OFF", "SKIP",
        "SELECT", "a", "*", "a*", "[a-", "AUTH", "ACL", "WHOAMI", "SETUSER", "USERS", "CAT",
        "default", "on", "off", "nopass", ">a", "&a*", "resetchannels", "-@all",
        "DELUSER", "GETUSER", "DRYRUN", "GENPASS", "LOG", "RESET", "+@pubsub", "-@slow", "+@connection",
        ])
        .prop_map(|w| w.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn commands() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::collection::vec(word(), 1..5), 1..20).prop_map(|cmds| {
        let mut out = Vec::new();
        for cmd in cmds {
            encode_command(&mut out, &cmd);
        }
        out
    })
}

/// Valid streams with a few bytes flipped, inserted or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (commands(), prop::collection::vec((any::<usize>(), any::<u8>(), 0..3u8), 0..6)).prop_map(
        |(mut bytes, edits)| {
            for (at, byte, kind) in edits {
                let at = at % (bytes.len() + 1);
                match kind {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            bytes
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn random_bytes(input in prop::collection::vec(any::<u8>(), 0..600), cuts in prop::collection::vec(1..64usize, 0..20)) {
        run(&input, &cuts);
    }

    #[test]
    fn valid_commands(input in commands(), cuts in prop::collection::vec(1..64usize, 0..20)) {
        run(&input, &cuts);
    }

    #[test]
    fn mutated_commands(input in mutated(), cuts in prop::collection::vec(1..64usize, 0..20)) {
        run(&input, &cuts);
    }
}

/// The nastiest inputs found so far, kept as files so they run on every test.
#[test]
fn corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        for cut in [1, 2, 3, 7, 64, usize::MAX] {
            run(&input, &vec![cut; input.len()]);
        }
        count += 1;
    }
    assert!(count >= 10, "corpus at {} has only {count} inputs", dir.display());
}
