//! The same scenarios through the `redis` crate, a client we did not write, in RESP2 and RESP3.

use std::sync::mpsc;

use crate::util::{TestServer, PATIENCE};

fn commands_through_the_redis_crate(backend: server::Backend, resp3: bool) {
    let server = TestServer::start(backend);
    let mut con = server.redis(resp3);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let echoed: Vec<u8> = redis::cmd("ECHO").arg(&b"bin\x00\xff"[..]).query(&mut con).unwrap();
    assert_eq!(echoed, b"bin\x00\xff");
    let receivers: i64 = redis::cmd("PUBLISH").arg("news").arg("hi").query(&mut con).unwrap();
    assert_eq!(receivers, 0);
    let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut con).unwrap();
    assert_eq!(numpat, 0);
    let err = redis::cmd("NOPE").query::<String>(&mut con).unwrap_err();
    assert!(err.to_string().contains("unknown command"), "{err}");
    let channels: Vec<String> = redis::cmd("PUBSUB").arg("CHANNELS").query(&mut con).unwrap();
    assert!(channels.is_empty());
}

fn pubsub_through_the_redis_crate_resp2(backend: server::Backend) {
    let server = TestServer::start(backend);
    let mut publisher = server.redis(false);
    let mut sub_con = server.redis(false);
    let mut pubsub = sub_con.as_pubsub();
    pubsub.set_read_timeout(Some(PATIENCE)).unwrap();
    pubsub.subscribe("news").unwrap();
    pubsub.psubscribe("n*").unwrap();
    let n: i64 = redis::cmd("PUBLISH").arg("news").arg("hello").query(&mut publisher).unwrap();
    assert_eq!(n, 2);
    let mut got = Vec::new();
    for _ in 0..2 {
        let msg = pubsub.get_message().unwrap();
        let pattern: Option<String> = msg.get_pattern().ok();
        got.push((
            msg.get_channel_name().to_string(),
            msg.get_payload::<String>().unwrap(),
            pattern,
        ));
    }
    got.sort();
    assert_eq!(got[0], ("news".into(), "hello".into(), None));
    assert_eq!(got[1], ("news".into(), "hello".into(), Some("n*".into())));
    pubsub.unsubscribe("news").unwrap();
    pubsub.punsubscribe("n*").unwrap();
    let n: i64 = redis::cmd("PUBLISH").arg("news").arg("x").query(&mut publisher).unwrap();
    assert_eq!(n, 0);
}

fn pubsub_through_the_redis_crate_resp3(backend: server::Backend) {
    let server = TestServer::start(backend);
    let mut publisher = server.redis(true);
    let mut sub = server.redis(true);
    let (tx, rx) = mpsc::channel();
    sub.set_push_sender(tx);
    sub.subscribe_resp3("news").unwrap();
    // Commands keep working on a subscribed RESP3 connection.
    let pong: String = redis::cmd("PING").query(&mut sub).unwrap();
    assert_eq!(pong, "PONG");
    let n: i64 = redis::cmd("PUBLISH").arg("news").arg("hello").query(&mut publisher).unwrap();
    assert_eq!(n, 1);
    // The subscription confirmation, then the message, arrive as push frames. The push
    // reaches the sender when the connection next reads: a PING makes it read.
    let mut message = None;
    for _ in 0..100 {
        let _: String = redis::cmd("PING").query(&mut sub).unwrap();
        while let Ok(push) = rx.try_recv() {
            if push.kind == redis::PushKind::Message {
                message = Some(push.data);
            }
        }
        if message.is_some() {
            break;
        }
    }
    let data = message.expect("a message push frame");
    let payload: Vec<String> =
        data.iter().map(|v| redis::from_redis_value_ref(v).unwrap()).collect();
    assert_eq!(payload, vec!["news".to_string(), "hello".to_string()]);
}

backend_tests! {
    fn redis_crate_resp2_commands(backend) {
        commands_through_the_redis_crate(backend, false);
    }

    fn redis_crate_resp3_commands(backend) {
        commands_through_the_redis_crate(backend, true);
    }

    fn redis_crate_resp2_pubsub(backend) {
        pubsub_through_the_redis_crate_resp2(backend);
    }

    fn redis_crate_resp3_pubsub(backend) {
        pubsub_through_the_redis_crate_resp3(backend);
    }
}
