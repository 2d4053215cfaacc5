//! `--metrics-port`: the server's counters in Prometheus text format on `GET /metrics`, over
//! plain HTTP/1.0, served one request at a time by a single small thread (scrapes are rare
//! and tiny; no async runtime needed).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::context::ServerContext;
use crate::relay::link::Link;
use crate::stats::get;
use crate::system::sock::{poll, pollfd};
use crate::system::Shutdown;

/// Longest request head read from a scraper.
const MAX_REQUEST: usize = 8 * 1024;

/// Reads the server's counters at each scrape.
struct StatsCollector(Arc<ServerContext>);

impl std::fmt::Debug for StatsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatsCollector")
    }
}

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0.stats;
        let counters = [
            ("connections_accepted", "Connections accepted", get(&s.connections_accepted)),
            ("connections_refused", "Connections refused (limits)", get(&s.connections_refused)),
            ("commands", "Commands run", get(&s.commands)),
            ("published", "PUBLISH commands run", get(&s.published)),
            ("published_receivers", "Sum of PUBLISH replies", get(&s.published_receivers)),
            ("delivered", "Messages written to subscribers", get(&s.delivered)),
            ("dropped", "Messages never written (slow consumer or closed)", get(&s.dropped)),
            ("slow_consumers", "Subscribers disconnected as slow", get(&s.slow_consumers)),
            (
                "client_output_buffer_limit_disconnections",
                "Subscribers disconnected for passing an output buffer limit",
                get(&s.slow_consumers),
            ),
            (
                "client_output_buffer_limit_disconnections_hard",
                "Subscribers disconnected at the hard output buffer limit",
                get(&s.slow_consumers).saturating_sub(get(&s.soft_limit_disconnections)),
            ),
            (
                "client_output_buffer_limit_disconnections_soft",
                "Subscribers disconnected for staying above the soft output buffer limit",
                get(&s.soft_limit_disconnections),
            ),
            (
                "acl_access_denied_auth",
                "Wrong passwords, and commands refused before authenticating",
                get(&s.acl_denied_auth),
            ),
            ("acl_access_denied_cmd", "Commands the user may not run", get(&s.acl_denied_command)),
            ("tls_handshakes", "TLS handshakes completed", get(&s.tls_handshakes)),
            (
                "tls_handshake_failures",
                "TLS handshakes failed or timed out",
                get(&s.tls_handshake_failures),
            ),
            (
                "acl_access_denied_channel",
                "Commands naming a channel the user may not touch",
                get(&s.acl_denied_channel),
            ),
            ("net_input_bytes", "Bytes read from clients", get(&s.bytes_in)),
            ("net_output_bytes", "Bytes written to clients", get(&s.bytes_out)),
            (
                "pool_refused_connections",
                "pool backend: connections refused with every worker taken",
                get(&s.pool_refused),
            ),
        ];
        let relay = self.0.relay.as_deref();
        let relayed = |f: fn(&Link) -> &AtomicU64| relay.map(|r| f(r).load(Ordering::Relaxed));
        let relay_counters = [
            ("relay_in", "Messages from NATS published locally", relayed(|r| &r.relay_in)),
            ("relay_out", "Local publishes handed to NATS", relayed(|r| &r.relay_out)),
            ("relay_dropped", "Local publishes not relayed", relayed(|r| &r.relay_dropped)),
            (
                "relay_in_dropped",
                "Messages from NATS dropped with the relay behind",
                relayed(|r| &r.relay_in_dropped),
            ),
        ];
        let relay_counters = relay_counters.into_iter().filter_map(|(n, h, v)| Some((n, h, v?)));
        for (name, help, value) in counters.into_iter().chain(relay_counters) {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let delivery = s.delivery.snapshot();
        let mut metric = encoder.encode_descriptor(
            "pubsub_delivery_seconds",
            "From PUBLISH to each message leaving the server (written to the subscriber's socket)",
            None,
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        let sum = delivery.sum_us as f64 / 1e6;
        metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            sum,
            delivery.count,
            &delivery.prometheus_buckets(),
            None,
        )?;
        let gauges = [
            ("connected_clients", "Connections being served", self.0.connected() as i64),
            (
                "pubsub_channels",
                "Channels with subscribers",
                self.0.exchange.channel_count() as i64,
            ),
            ("pubsub_patterns", "Distinct subscribed patterns", self.0.exchange.numpat() as i64),
        ];
        let relay_gauges = relay.map(|r| {
            let connected = i64::from(r.connected.load(Ordering::Relaxed));
            ("relay_connected", "1 while the NATS connection is up", connected)
        });
        for (name, help, value) in gauges.into_iter().chain(relay_gauges) {
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

/// Serves `/metrics` on `listener` until shutdown.
pub(crate) fn serve(
    listener: TcpListener,
    ctx: Arc<ServerContext>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let mut registry = Registry::with_prefix("switchboard");
    registry.register_collector(Box::new(StatsCollector(ctx)));
    listener.set_nonblocking(true)?;
    loop {
        let mut fds = [pollfd(&listener, libc::POLLIN), pollfd(shutdown.fd(), libc::POLLIN)];
        poll(&mut fds)?;
        if shutdown.is_triggered() {
            return Ok(());
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(e) = answer(stream, &registry) {
                    tracing::debug!(%peer, "metrics request: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => tracing::debug!("metrics accept: {e}"),
        }
    }
}

/// Reads one request head and answers it.
fn answer(mut stream: TcpStream, registry: &Registry) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    // A scraper that stalls must not hold up the next scrape for long.
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, kind, body) = match (method, path) {
        (b"GET", b"/metrics") => {
            let mut body = String::new();
            prometheus_client::encoding::text::encode(&mut body, registry)
                .map_err(|_| io::Error::other("encoding metrics"))?;
            ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", body)
        }
        (b"GET", _) => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_string()),
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())
}
