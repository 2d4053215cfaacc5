//! What only the `pool` backend does: a connection beyond `--workers` waits for a free worker,
//! within `--pool-backlog` and `--pool-wait-timeout`.

use std::io::{ErrorKind, Read};
use std::time::Duration;

use crate::util::{info_field, info_text_field as field, wait_for, Conn, TestServer, PATIENCE};
use server::Backend;

#[test]
fn connection_beyond_the_workers_is_served_as_soon_as_one_closes() {
    let server = TestServer::with(Backend::Pool, |c| {
        c.workers = Some(2);
        c.pool_wait_timeout = None; // however slow this machine, the third waits
    });
    let mut first = server.connect();
    let mut second = server.connect();
    first.roundtrip(&[b"PING"], b"+PONG\r\n");
    second.roundtrip(&[b"PING"], b"+PONG\r\n");

    let mut third = server.connect();
    third.cmd(&[b"PING"]);
    // Accepted, and waiting for a worker: the gauge says so (a condition, not a sleep).
    wait_for("the third connection never queued", 1, || {
        info_field(&mut second, "pool_queued_connections")
    });
    // Both workers are taken: no answer yet.
    third.stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut byte = [0u8; 1];
    match third.stream.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => {
            panic!("the third connection was answered while both workers were busy: {other:?}")
        }
    }
    third.stream.set_read_timeout(Some(PATIENCE)).unwrap();

    // One of the two leaves: its worker takes the third, which gets its answer.
    drop(first);
    third.expect(b"+PONG\r\n");
    assert_eq!(info_field(&mut second, "pool_queued_connections"), 0);
    assert!(info_field(&mut second, "pool_wait_time_us_total") > 0);
    assert!(info_field(&mut third, "pool_wait_time_us_max") > 0);
}

#[test]
fn shutdown_closes_connections_still_waiting_for_a_worker() {
    let server = TestServer::with(Backend::Pool, |c| {
        c.workers = Some(1);
        c.pool_wait_timeout = None;
    });
    let mut busy = server.connect();
    busy.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut waiting = server.connect();
    waiting.cmd(&[b"PING"]);
    wait_for("the second connection never queued", 1, || {
        info_field(&mut busy, "pool_queued_connections")
    });
    let ctx = server.stop();
    // Closed without a reply: it never reached a worker.
    waiting.expect_closed();
    busy.expect_closed();
    let info = ctx.info(&[]);
    assert_eq!(field(&info, "pool_queued_connections"), 0);
    // Both were admitted (a waiting connection is a client), and both sessions ended.
    assert_eq!(ctx.stats.connections_accepted.get(), 2);
    assert_eq!(ctx.connected(), 0);
}

#[test]
fn connections_waiting_for_a_worker_count_against_max_clients() {
    let server = TestServer::with(Backend::Pool, |c| {
        c.workers = Some(1);
        c.max_clients = 2;
        c.pool_wait_timeout = None;
    });
    let mut served = server.connect();
    served.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut waiting = server.connect();
    waiting.cmd(&[b"PING"]);
    // The third is refused at once, although only one connection is being served.
    let mut refused = server.connect();
    refused.expect(b"-ERR max number of clients reached\r\n");
    refused.expect_closed();
    assert_eq!(info_field(&mut served, "connected_clients"), 2);
    drop(served);
    waiting.expect(b"+PONG\r\n");
}

/// Waits (on a condition, asked over `conn`) until `n` connections wait for a worker.
#[track_caller]
fn wait_until_queued(conn: &mut Conn, n: u64) {
    wait_for(&format!("never {n} connections waiting"), n, || {
        info_field(conn, "pool_queued_connections")
    });
}

#[test]
fn a_connection_that_waits_past_the_deadline_hears_that_the_pool_is_busy() {
    let server = TestServer::with(Backend::Pool, |c| {
        c.workers = Some(2);
        c.pool_wait_timeout = Some(Duration::from_millis(200));
    });
    // Two idle clients hold both workers for as long as they stay.
    let mut first = server.connect();
    let mut second = server.connect();
    first.roundtrip(&[b"PING"], b"+PONG\r\n");
    second.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut third = server.connect();
    third.cmd(&[b"PING"]);
    third
        .expect(b"-ERR server busy: all 2 pool workers are taken; none came free within 200ms\r\n");
    third.expect_eof();
    assert_eq!(info_field(&mut first, "pool_refused_connections"), 1);
    assert_eq!(info_field(&mut first, "pool_queued_connections"), 0);
    assert_eq!(info_field(&mut first, "connected_clients"), 2);
    second.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn past_the_backlog_a_connection_is_refused_at_once() {
    let server = TestServer::with(Backend::Pool, |c| {
        c.workers = Some(2);
        c.pool_backlog = 1;
        c.pool_wait_timeout = None; // no deadline: only the backlog refuses
    });
    let mut first = server.connect();
    let mut second = server.connect();
    first.roundtrip(&[b"PING"], b"+PONG\r\n");
    second.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut third = server.connect();
    third.cmd(&[b"PING"]);
    wait_until_queued(&mut first, 1);
    let mut fourth = server.connect();
    fourth.cmd(&[b"PING"]);
    fourth.expect(
        b"-ERR server busy: all 2 pool workers are taken and the pool backlog (1) is full\r\n",
    );
    fourth.expect_eof();
    assert_eq!(info_field(&mut first, "pool_refused_connections"), 1);
    // It never became a client: still three, one of them waiting.
    assert_eq!(info_field(&mut first, "connected_clients"), 3);
    // The one that waits is served as soon as a worker comes free.
    drop(second);
    third.expect(b"+PONG\r\n");
}

#[test]
fn slowloris_before_auth_cannot_hold_the_workers() {
    let server = TestServer::with(Backend::Pool, |c| {
        c.workers = Some(2);
        c.pool_wait_timeout = None; // however slow this machine, the later ones wait
        c.requirepass = Some("pw".into());
        c.auth_timeout = Duration::from_millis(300);
    });
    // Twice as many incomplete requests as workers, none authenticated, the first on each
    // worker and the rest waiting for one.
    let mut slow: Vec<Conn> = (0..4).map(|_| server.connect()).collect();
    for conn in &mut slow {
        conn.send(b"*2\r\n$4\r\nAUTH\r\n$2\r\np");
    }
    let mut client = server.connect();
    client.roundtrip(&[b"AUTH", b"pw"], b"+OK\r\n");
    client.roundtrip(&[b"PING"], b"+PONG\r\n");
    for conn in &mut slow {
        conn.expect(b"-ERR request not completed within the timeout (0.3s)\r\n");
        conn.expect_closed();
    }
    // An authenticated connection keeps its worker for as long as it likes (`--timeout` is
    // off); an unauthenticated silent one is closed at the timeout.
    drop(client);
    let mut quiet = server.connect();
    let mut idle = server.connect();
    idle.roundtrip(&[b"AUTH", b"pw"], b"+OK\r\n");
    quiet.expect_closed();
    idle.roundtrip(&[b"PING"], b"+PONG\r\n");
}
