//! Operating the server: INFO, the Prometheus endpoint, the stats ticker.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::util::TestServer;

pub fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(crate::util::PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
}

backend_tests! {
    fn info_reports_backend_clients_and_stats(backend) {
        let server = TestServer::start(backend);
        let mut c = server.connect();
        c.roundtrip(&[b"PUBLISH", b"x", b"y"], b":0\r\n");
        c.cmd(&[b"INFO"]);
        let shared::Frame::Bulk(info) = c.frame() else { panic!("bulk") };
        let info = String::from_utf8(info.to_vec()).unwrap();
        for want in [
            "# Server\r\n".to_string(),
            format!("backend:{}\r\n", backend.name()),
            "backend_threads:".to_string(),
            "# Clients\r\nconnected_clients:1\r\n".to_string(),
            "# Stats\r\n".to_string(),
            "pubsub_published:1\r\n".to_string(),
            "# Pubsub\r\n".to_string(),
        ] {
            assert!(info.contains(&want), "INFO lacks {want:?}:\n{info}");
        }
        c.cmd(&[b"INFO", b"clients"]);
        let shared::Frame::Bulk(clients) = c.frame() else { panic!("bulk") };
        assert!(clients.starts_with(b"# Clients\r\n") && !clients.windows(7).any(|w| w == b"# Stats"));
    }

    fn prometheus_metrics_over_http(backend) {
        let server = TestServer::with(backend, |c| c.metrics_port = Some(0));
        let mut c = server.connect();
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
        let addr = server.metrics_addr().expect("metrics address");
        let response = http_get(addr, "/metrics");
        assert!(response.starts_with("HTTP/1.0 200 OK\r\n"), "{response}");
        assert!(response.contains("# TYPE switchboard_commands counter"), "{response}");
        let commands: u64 = response
            .lines()
            .find_map(|l| l.strip_prefix("switchboard_commands_total "))
            .expect("commands counter")
            .trim()
            .parse()
            .unwrap();
        assert!(commands >= 1);
        assert!(response.contains("switchboard_connected_clients 1"), "{response}");
        assert!(http_get(addr, "/nope").starts_with("HTTP/1.0 404"));
    }
}
