//! The `INFO` text: Redis's `# Section` headers and `key:value` lines (CRLF-separated), built
//! from the configuration, the counters and the exchange. Field names follow Redis where Redis
//! has the field (`connected_clients`, `rejected_connections`, ...); the rest are this server's.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::context::ServerContext;
use crate::stats::get;

impl ServerContext {
    /// The `INFO` text: `# Section` headers and `key:value` lines, CRLF-separated like Redis.
    /// `sections` empty, `all`, `everything` or `default` select every section.
    pub fn info(&self, sections: &[Bytes]) -> String {
        let wanted = |name: &str| {
            sections.is_empty()
                || sections.iter().any(|s| {
                    s.eq_ignore_ascii_case(name.as_bytes())
                        || [&b"all"[..], b"everything", b"default"]
                            .iter()
                            .any(|a| s.eq_ignore_ascii_case(a))
                })
        };
        let s = &self.stats;
        let c = &self.config;
        let mut out = String::new();
        let mut section = |name: &str, fields: Vec<(&str, String)>| {
            if wanted(name) {
                if !out.is_empty() {
                    out.push_str("\r\n");
                }
                let title = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
                out.push_str(&format!("# {title}\r\n"));
                for (k, v) in fields {
                    out.push_str(&format!("{k}:{v}\r\n"));
                }
            }
        };
        section(
            "server",
            vec![
                ("switchboard_version", env!("CARGO_PKG_VERSION").to_string()),
                ("redis_mode", "standalone".into()),
                ("backend", c.backend.name().into()),
                (
                    "backend_threads",
                    c.backend
                        .serving_threads(c)
                        .map_or_else(|| "one per connection".into(), |n| n.to_string()),
                ),
                ("protocol", format!("{:?}", c.protocol).to_lowercase()),
                ("process_id", std::process::id().to_string()),
                ("tcp_port", self.addr.port().to_string()),
                ("uptime_in_seconds", self.started.elapsed().as_secs().to_string()),
            ],
        );
        section(
            "clients",
            vec![
                ("connected_clients", self.connected().to_string()),
                ("maxclients", c.max_clients.to_string()),
            ],
        );
        section(
            "stats",
            vec![
                ("total_connections_received", get(&s.connections_accepted).to_string()),
                ("rejected_connections", get(&s.connections_refused).to_string()),
                ("total_commands_processed", get(&s.commands).to_string()),
                ("total_net_input_bytes", get(&s.bytes_in).to_string()),
                ("total_net_output_bytes", get(&s.bytes_out).to_string()),
                ("pubsub_published", get(&s.published).to_string()),
                ("pubsub_receivers", get(&s.published_receivers).to_string()),
                ("pubsub_delivered", get(&s.delivered).to_string()),
                ("pubsub_dropped", get(&s.dropped).to_string()),
                ("pubsub_slow_consumers", get(&s.slow_consumers).to_string()),
                ("acl_access_denied_auth", get(&s.acl_denied_auth).to_string()),
                ("acl_access_denied_cmd", get(&s.acl_denied_command).to_string()),
                ("acl_access_denied_channel", get(&s.acl_denied_channel).to_string()),
                ("tls_handshakes", get(&s.tls_handshakes).to_string()),
                ("tls_handshake_failures", get(&s.tls_handshake_failures).to_string()),
                ("pool_queued_connections", s.pool_queued.load(Ordering::Relaxed).to_string()),
                ("pool_wait_time_us_total", get(&s.pool_wait_us_total).to_string()),
                ("pool_wait_time_us_max", s.pool_wait_us_max.load(Ordering::Relaxed).to_string()),
                ("pool_refused_connections", get(&s.pool_refused).to_string()),
            ],
        );
        section(
            "pubsub",
            vec![
                ("pubsub_channels", self.exchange.channel_count().to_string()),
                ("pubsub_patterns", self.exchange.numpat().to_string()),
            ],
        );
        out
    }
}
