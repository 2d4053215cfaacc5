//! The `INFO` text: Redis's `# Section` headers and `key:value` lines (CRLF-separated), built
//! from the configuration, the counters, the exchange and the process's own figures from
//! `/proc`. Sections and field names follow Redis 7 where Redis has them (`redis_version`,
//! `connected_clients`, `used_memory`, `loading`, `role`, ...), so that clients and tools that
//! read them (valkey-glide's `INFO REPLICATION`, `redis-cli --stat`) find what they expect;
//! fields about keys, persistence and replication report a server without any. The rest
//! (`backend`, `pubsub_receivers`, ...) are this server's own.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::context::ServerContext;
use crate::stats::get;

/// The Redis version whose client-facing behaviour this server follows, reported as
/// `redis_version` and as HELLO's `version` (as other Redis-compatible servers do), so that
/// clients which turn features on by version (`CLIENT SETINFO` from 7.2) use them.
pub const REDIS_VERSION: &str = "7.2.4";

/// The sections in Redis's order. `INFO` without arguments, `default`, `all` and `everything`
/// give all of them; otherwise each named one (case-insensitive), and an unknown name nothing.
/// Each is named by its title, as its header prints it.
/// `Relay` is there only with `--relay`; `Commandstats` and `Latencystats` only when named or
/// with `all` and `everything`, as in Redis. `Pubsub_latency` is this server's own: the pub/sub
/// delivery clock ([`crate::delivery`]).
const SECTIONS: [&str; 14] = [
    "Server",
    "Clients",
    "Memory",
    "Persistence",
    "Stats",
    "Pubsub",
    "Pubsub_latency",
    "Relay",
    "Replication",
    "CPU",
    "Commandstats",
    "Latencystats",
    "Cluster",
    "Keyspace",
];

impl ServerContext {
    /// The `INFO` text for `sections` (see [`SECTIONS`]).
    pub fn info(&self, sections: &[Bytes]) -> String {
        let every = sections.is_empty()
            || sections.iter().any(|s| {
                [&b"all"[..], b"everything", b"default"].iter().any(|a| s.eq_ignore_ascii_case(a))
            });
        let all = sections
            .iter()
            .any(|s| s.eq_ignore_ascii_case(b"all") || s.eq_ignore_ascii_case(b"everything"));
        let mut out = String::new();
        for name in SECTIONS {
            let named = sections.iter().any(|s| s.eq_ignore_ascii_case(name.as_bytes()));
            let per_command = matches!(name, "Commandstats" | "Latencystats");
            if !named && !(every && (all || !per_command)) {
                continue;
            }
            let fields = match name {
                "Commandstats" => Some(self.commandstats()),
                "Latencystats" => Some(self.latencystats()),
                _ => self
                    .info_section(&name.to_ascii_lowercase())
                    .map(|fields| fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
            };
            let Some(fields) = fields else {
                continue; // a section this server does not have
            };
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            out.push_str(&format!("# {name}\r\n"));
            for (k, v) in fields {
                out.push_str(&format!("{k}:{v}\r\n"));
            }
        }
        out
    }

    /// `INFO commandstats`: `cmdstat_<name>` for every command counted, by name.
    fn commandstats(&self) -> Vec<(String, String)> {
        let figures = self.commands.merged();
        figures.iter().map(|f| (format!("cmdstat_{}", f.name), f.commandstats_line())).collect()
    }

    /// `INFO latencystats`: `latency_percentiles_usec_<name>` for every command timed.
    fn latencystats(&self) -> Vec<(String, String)> {
        let percentiles = self.commands.percentiles();
        let figures = self.commands.merged();
        figures
            .iter()
            .filter(|f| !f.histogram.is_empty())
            .map(|f| {
                (format!("latency_percentiles_usec_{}", f.name), f.percentiles_line(&percentiles))
            })
            .collect()
    }

    /// The fields of section `name` (lower case), or `None` if this server has no such
    /// section (`relay` without `--relay`).
    fn info_section(&self, name: &str) -> Option<Vec<(&'static str, String)>> {
        let s = &self.stats;
        let c = &self.config;
        let n = |v: u64| v.to_string();
        let zero = || "0".to_string();
        let fields = match name {
            "server" => {
                let uptime = self.started.elapsed().as_secs();
                let now_us = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                vec![
                    ("redis_version", REDIS_VERSION.into()),
                    ("switchboard_version", env!("CARGO_PKG_VERSION").into()),
                    ("redis_mode", "standalone".into()),
                    ("os", os_name()),
                    ("arch_bits", (usize::BITS).to_string()),
                    ("backend", c.backend.name().into()),
                    (
                        "backend_threads",
                        c.backend
                            .serving_threads(c)
                            .map_or_else(|| "one per connection".into(), |n| n.to_string()),
                    ),
                    ("protocol", format!("{:?}", c.protocol).to_lowercase()),
                    ("process_id", std::process::id().to_string()),
                    ("run_id", self.run_id.clone()),
                    ("tcp_port", self.addr.port().to_string()),
                    ("server_time_usec", now_us.as_micros().to_string()),
                    ("uptime_in_seconds", n(uptime)),
                    ("uptime_in_days", n(uptime / 86_400)),
                    (
                        "executable",
                        std::env::current_exe()
                            .map_or_else(|_| String::new(), |p| p.display().to_string()),
                    ),
                    ("config_file", String::new()),
                ]
            }
            "clients" => vec![
                ("connected_clients", self.connected().to_string()),
                ("cluster_connections", zero()),
                ("maxclients", self.runtime.max_clients().to_string()),
                ("blocked_clients", zero()),
                (
                    "tracking_clients",
                    (self.clients(&crate::clients::Filter::default(), 0).iter())
                        .filter(|c| c.tracking())
                        .count()
                        .to_string(),
                ),
                ("clients_in_timeout_table", zero()),
            ],
            "memory" => {
                let mem = ProcessMemory::read();
                vec![
                    ("used_memory", n(mem.resident)),
                    ("used_memory_human", human_bytes(mem.resident)),
                    ("used_memory_rss", n(mem.resident)),
                    ("used_memory_rss_human", human_bytes(mem.resident)),
                    ("used_memory_peak", n(mem.peak)),
                    ("used_memory_peak_human", human_bytes(mem.peak)),
                    ("total_system_memory", n(mem.system)),
                    ("total_system_memory_human", human_bytes(mem.system)),
                    ("used_memory_is", "resident set size (/proc/self/statm)".into()),
                    ("maxmemory", zero()),
                    ("maxmemory_human", "0B".into()),
                    ("maxmemory_policy", "noeviction".into()),
                    ("mem_allocator", "libc".into()),
                ]
            }
            "persistence" => {
                let started = self.started_unix.to_string();
                vec![
                    ("loading", zero()),
                    ("async_loading", zero()),
                    ("rdb_changes_since_last_save", zero()),
                    ("rdb_bgsave_in_progress", zero()),
                    ("rdb_last_save_time", started),
                    ("rdb_last_bgsave_status", "ok".into()),
                    ("rdb_saves", zero()),
                    ("aof_enabled", zero()),
                    ("aof_rewrite_in_progress", zero()),
                    ("aof_rewrite_scheduled", zero()),
                    ("aof_last_write_status", "ok".into()),
                ]
            }
            "stats" => vec![
                ("total_connections_received", n(get(&s.connections_accepted))),
                ("total_commands_processed", n(get(&s.commands))),
                ("total_net_input_bytes", n(get(&s.bytes_in))),
                ("total_net_output_bytes", n(get(&s.bytes_out))),
                ("rejected_connections", n(get(&s.connections_refused))),
                ("expired_keys", zero()),
                ("evicted_keys", zero()),
                ("keyspace_hits", zero()),
                ("keyspace_misses", zero()),
                ("pubsub_channels", self.exchange.channel_count().to_string()),
                ("pubsub_patterns", self.exchange.numpat().to_string()),
                ("pubsub_shardchannels", self.exchange.shard_channel_count().to_string()),
                ("pubsub_published", n(get(&s.published))),
                ("pubsub_receivers", n(get(&s.published_receivers))),
                ("pubsub_delivered", n(get(&s.delivered))),
                ("pubsub_dropped", n(get(&s.dropped))),
                ("pubsub_slow_consumers", n(get(&s.slow_consumers))),
                ("client_output_buffer_limit_disconnections", n(get(&s.slow_consumers))),
                (
                    "client_output_buffer_limit_disconnections_hard",
                    n(get(&s.slow_consumers).saturating_sub(get(&s.soft_limit_disconnections))),
                ),
                (
                    "client_output_buffer_limit_disconnections_soft",
                    n(get(&s.soft_limit_disconnections)),
                ),
                ("acl_access_denied_auth", n(get(&s.acl_denied_auth))),
                ("acl_access_denied_cmd", n(get(&s.acl_denied_command))),
                ("acl_access_denied_channel", n(get(&s.acl_denied_channel))),
                ("tls_handshakes", n(get(&s.tls_handshakes))),
                ("tls_handshake_failures", n(get(&s.tls_handshake_failures))),
                ("pool_queued_connections", s.pool_queued.load(Ordering::Relaxed).to_string()),
                ("pool_wait_time_us_total", n(get(&s.pool_wait_us_total))),
                ("pool_wait_time_us_max", s.pool_wait_us_max.load(Ordering::Relaxed).to_string()),
                ("pool_refused_connections", n(get(&s.pool_refused))),
            ],
            "pubsub" => vec![
                ("pubsub_channels", self.exchange.channel_count().to_string()),
                ("pubsub_patterns", self.exchange.numpat().to_string()),
                ("pubsub_shardchannels", self.exchange.shard_channel_count().to_string()),
            ],
            "pubsub_latency" => s.delivery.snapshot().info_fields(),
            "relay" => match &self.relay {
                Some(relay) => {
                    let load = |v: &std::sync::atomic::AtomicU64| n(v.load(Ordering::Relaxed));
                    vec![
                        ("relay_connected", n(relay.connected.load(Ordering::Relaxed).into())),
                        ("relay_in", load(&relay.relay_in)),
                        ("relay_out", load(&relay.relay_out)),
                        ("relay_dropped", load(&relay.relay_dropped)),
                        ("relay_in_dropped", load(&relay.relay_in_dropped)),
                        (
                            "relay_subscriptions",
                            relay.subscriptions.load(Ordering::Relaxed).to_string(),
                        ),
                    ]
                }
                None => return None,
            },
            "replication" => vec![
                ("role", "master".into()),
                ("connected_slaves", zero()),
                ("master_failover_state", "no-failover".into()),
                ("master_replid", self.run_id.clone()),
                ("master_replid2", "0".repeat(40)),
                ("master_repl_offset", zero()),
                ("second_repl_offset", "-1".into()),
                ("repl_backlog_active", zero()),
                ("repl_backlog_size", zero()),
                ("repl_backlog_first_byte_offset", zero()),
                ("repl_backlog_histlen", zero()),
            ],
            "cpu" => {
                let (sys, user) = cpu_seconds();
                vec![
                    ("used_cpu_sys", format!("{sys:.6}")),
                    ("used_cpu_user", format!("{user:.6}")),
                    ("used_cpu_sys_children", "0.000000".into()),
                    ("used_cpu_user_children", "0.000000".into()),
                ]
            }
            "cluster" => vec![("cluster_enabled", zero())],
            _ => Vec::new(), // keyspace: there are no keys, so no `db0:` line
        };
        Some(fields)
    }
}

/// The process's memory as the kernel counts it. There are no allocator statistics here, so
/// `used_memory` is the resident set size, the figure closest to what the process holds.
struct ProcessMemory {
    resident: u64,
    peak: u64,
    system: u64,
}

impl ProcessMemory {
    fn read() -> ProcessMemory {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
        // SAFETY: as above.
        let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) }.max(0) as u64;
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let resident =
            statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * page;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let peak_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        ProcessMemory {
            resident,
            peak: peak_kb.map_or(resident, |kb| (kb * 1024).max(resident)),
            system: pages * page,
        }
    }
}

/// Redis's `bytesToHuman`: `200B`, `65.00K`, `1.41M`, `23.54G`.
fn human_bytes(n: u64) -> String {
    let units = [(1u64 << 40, 'T'), (1 << 30, 'G'), (1 << 20, 'M'), (1 << 10, 'K')];
    match units.iter().find(|(size, _)| n >= *size) {
        Some((size, unit)) => format!("{:.2}{unit}", n as f64 / *size as f64),
        None => format!("{n}B"),
    }
}

/// `uname -srm`, as Redis's `os` field.
fn os_name() -> String {
    let Ok(uname) = nix::sys::utsname::uname() else { return "unknown".into() };
    format!(
        "{} {} {}",
        uname.sysname().to_string_lossy(),
        uname.release().to_string_lossy(),
        uname.machine().to_string_lossy()
    )
}

/// System and user CPU time of the process so far, in seconds.
fn cpu_seconds() -> (f64, f64) {
    let Ok(usage) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) else {
        return (0.0, 0.0);
    };
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    (secs(usage.system_time()), secs(usage.user_time()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_as_redis_prints_them() {
        assert_eq!(human_bytes(200), "200B");
        assert_eq!(human_bytes(66_560), "65.00K");
        assert_eq!(human_bytes(1_482_664), "1.41M");
        assert_eq!(human_bytes(25_275_990_016), "23.54G");
    }

    #[test]
    fn memory_is_a_real_figure() {
        let mem = ProcessMemory::read();
        assert!(mem.resident > 1 << 20, "{}", mem.resident);
        assert!(mem.peak >= mem.resident && mem.system > mem.resident);
    }
}
