//! The pub/sub delivery clock over real sockets: every message a subscriber received is in
//! the histogram of `INFO pubsub_latency` and `/metrics`, once.

use crate::ops::http_get;
use crate::util::{info_field, message, wait_for, TestServer};

backend_tests! {
    fn every_delivered_message_is_timed_in_info_and_metrics(backend) {
        let server = TestServer::with(backend, |c| c.metrics_port = Some(0));
        let mut sub = server.connect();
        sub.roundtrip(&[b"SUBSCRIBE", b"ch"], b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
        let mut publisher = server.connect();
        for i in 0..100 {
            let payload = format!("m{i}");
            publisher.roundtrip(&[b"PUBLISH", b"ch", payload.as_bytes()], b":1\r\n");
            sub.expect(&message(b"ch", payload.as_bytes()));
        }
        // Recorded just after the write the subscriber read from: asked until it shows.
        wait_for("the delivery clock's count", 100, || {
            info_field(&mut publisher, "pubsub_delivery_count")
        });
        publisher.cmd(&[b"INFO", b"pubsub_latency"]);
        let shared::Frame::Bulk(info) = publisher.frame() else { panic!("bulk") };
        let info = String::from_utf8(info.to_vec()).unwrap();
        assert!(info.starts_with("# Pubsub_latency\r\npubsub_delivery_count:100\r\n"), "{info}");
        assert!(info.contains("\r\npubsub_delivery_percentiles_usec:p50="), "{info}");
        assert!(info.contains(",le_inf=100\r\n"), "{info}");
        let metrics = http_get(server.metrics_addr().unwrap(), "/metrics");
        assert!(metrics.contains("# TYPE switchboard_pubsub_delivery_seconds histogram"));
        assert!(metrics.contains("switchboard_pubsub_delivery_seconds_count 100\n"), "{metrics}");
        assert!(
            metrics.contains("switchboard_pubsub_delivery_seconds_bucket{le=\"+Inf\"} 100\n"),
            "{metrics}"
        );
        publisher.roundtrip(&[b"CONFIG", b"RESETSTAT"], b"+OK\r\n");
        assert_eq!(info_field(&mut publisher, "pubsub_delivery_count"), 0);
    }
}
