//! The `server` binary: parse flags, set up logging, run.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use server::{Backend, Config, Protocol};
use shared::Limits;

/// Switchboard: a Redis-protocol (RESP2/RESP3) pub/sub server with selectable concurrency
/// models.
///
/// Speaks PING, ECHO, QUIT, SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB,
/// HELLO and INFO, so redis-cli, redis-benchmark and Redis client libraries work against it.
/// Prints `listening on ADDR` once the socket is bound; SIGINT/SIGTERM stop it gracefully.
///
/// Example: server --backend thread --port 15000
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    /// Concurrency model serving the connections.
    #[arg(long, value_enum, default_value = "thread")]
    backend: Backend,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,

    /// Port to listen on (0 picks a free port; the `listening on` line tells which).
    #[arg(long, short, default_value_t = 15000)]
    port: u16,

    /// `resp`: the Redis protocol with pub/sub; `echo`: every byte read is written back.
    #[arg(long, value_enum, default_value = "resp")]
    protocol: Protocol,

    /// Most connections served at once; the next gets `-ERR max number of clients reached`.
    #[arg(long, default_value_t = 10_000)]
    max_clients: usize,

    /// Longest bulk string a request may carry (bytes; k/kb/m/mb/g/gb suffixes allowed),
    /// refused before anything is allocated. Like Redis's proto-max-bulk-len.
    #[arg(long, default_value = "512mb", value_parser = parse_size)]
    max_bulk_len: usize,

    /// Most arguments in one request.
    #[arg(long, default_value_t = shared::limits::DEFAULT_MAX_ARGS)]
    max_args: usize,

    /// Most bytes queued for one subscriber before it is disconnected as a slow consumer
    /// (k/kb/m/mb/g/gb suffixes allowed). Like Redis's client-output-buffer-limit pubsub.
    #[arg(long, default_value = "32mb", value_parser = parse_size)]
    client_output_buffer_limit: usize,

    /// Seconds a graceful shutdown may take before open connections are abandoned.
    #[arg(long, default_value_t = 5.0)]
    shutdown_timeout: f64,

    /// Stack size of each connection thread in the `thread` backend (bytes, suffixes allowed).
    #[arg(long, default_value = "256k", value_parser = parse_size)]
    stack_size: usize,

    /// Worker threads: the `pool` backend's pool size (default 128; a connection holds a
    /// worker until it closes) or the `queue` backend's workers (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,

    /// Capacity of the `queue` backend's ready queue between its poller and its workers.
    #[arg(long, default_value_t = 1024)]
    queue_depth: usize,

    /// Schedulers of the `event` backend, one thread and one SO_REUSEPORT listener each
    /// (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,

    /// Log level (error, warn, info, debug, trace); RUST_LOG, when set, takes precedence.
    #[arg(long, default_value = "info")]
    log_level: String,
}

/// Parses a byte size such as `4096`, `64k`, `32mb` or `1g` (powers of 1024, like Redis).
fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let n: usize =
        digits.parse().map_err(|_| format!("`{text}` is not a size like 4096, 64k or 32mb"))?;
    let scale: usize = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use k, kb, m, mb, g or gb)")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("`{text}` is too large"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    if !(args.shutdown_timeout.is_finite() && args.shutdown_timeout >= 0.0) {
        eprintln!("server: --shutdown-timeout must be a number of seconds >= 0");
        return ExitCode::from(2);
    }
    let config = Config {
        bind: args.bind,
        port: args.port,
        backend: args.backend,
        protocol: args.protocol,
        limits: Limits {
            max_bulk_len: args.max_bulk_len,
            max_args: args.max_args,
            ..Limits::default()
        },
        max_clients: args.max_clients,
        client_output_buffer_limit: args.client_output_buffer_limit,
        shutdown_timeout: Duration::from_secs_f64(args.shutdown_timeout),
        stack_size: args.stack_size,
        workers: args.workers,
        queue_depth: args.queue_depth,
        threads: args.threads,
    };
    match server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("32MB"), Ok(32 << 20));
        assert!(parse_size("12q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999g").is_err());
    }
}
