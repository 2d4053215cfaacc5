//! The `server` binary: parse flags, set up logging, run.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use server::config::{ClassLimit, OutputLimits};
use server::parameters::parse_output_limits;
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
#[command(version, about, long_about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,

    #[command(flatten)]
    args: Args,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Stop a server started with --daemon: send SIGTERM to the process named in its pid file
    /// and wait for it to exit.
    ///
    /// Example: server stop --pidfile /tmp/switchboard.pid
    Stop {
        /// The pid file the daemon was started with.
        #[arg(long)]
        pidfile: PathBuf,

        /// Seconds to wait for the process to exit.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
}

#[derive(clap::Args, Debug)]
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
    ///
    /// At start the soft open-file limit is raised to the hard limit, and N is lowered (with
    /// a warning) to what it holds: the `thread` and `pool` backends use 2 descriptors per
    /// client (socket and eventfd), `queue`, `event` and `uring` 1, and 128 are kept for the rest.
    /// INFO's `maxclients` shows the value in force.
    #[arg(long, default_value_t = 10_000, value_parser = positive)]
    max_clients: usize,

    /// Longest bulk string a request may carry (bytes; k/kb/m/mb/g/gb suffixes allowed),
    /// refused before anything is allocated. Like Redis's proto-max-bulk-len.
    #[arg(long, default_value = "512mb", value_parser = parse_size)]
    max_bulk_len: usize,

    /// Most arguments in one request.
    #[arg(long, default_value_t = shared::limits::DEFAULT_MAX_ARGS)]
    max_args: usize,

    /// Most bytes queued for one subscriber before it is disconnected as a slow consumer
    /// (k/kb/m/mb/g/gb suffixes allowed), or Redis's client-output-buffer-limit string,
    /// `CLASS HARD SOFT SECONDS` repeated (e.g. "pubsub 32mb 8mb 60": a subscriber holding more
    /// than 8 MB for more than 60 s is disconnected too; normal and replica are shown only).
    #[arg(long, default_value = "32mb", value_parser = parse_output_limit_flag)]
    client_output_buffer_limit: [Option<ClassLimit>; 3],

    /// Seconds a graceful shutdown may take before open connections are abandoned.
    #[arg(long, default_value_t = 5.0)]
    shutdown_timeout: f64,

    /// Stack size of each connection thread in the `thread` backend (bytes, suffixes allowed).
    #[arg(long, default_value = "256k", value_parser = parse_size)]
    stack_size: usize,

    /// Worker threads: the `pool` backend's pool size (default 128; a connection holds a
    /// worker until it closes) or the `queue` backend's workers (default: one per CPU).
    #[arg(long, value_parser = positive)]
    workers: Option<usize>,

    /// Capacity of the `queue` backend's ready queue between its poller and its workers.
    #[arg(long, default_value_t = 1024, value_parser = positive)]
    queue_depth: usize,

    /// `pool` backend: most connections that may wait for a worker while all are taken.
    ///
    /// A pool worker serves one connection until it closes, so idle clients, subscribers or
    /// slow senders can hold every worker. Connections past --workers wait for one; past N
    /// waiting, a new connection is refused at once with `-ERR server busy: all W pool
    /// workers are taken and the pool backlog (N) is full`. 0: refuse whenever every worker
    /// is taken.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pool_backlog: usize,

    /// `pool` backend: longest a connection waits for a worker, in seconds (0 = no limit).
    ///
    /// A connection still waiting when it passes is refused with `-ERR server busy: all W
    /// pool workers are taken; none came free within SECS`. Pool refusals are counted in
    /// INFO's `pool_refused_connections`.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pool_wait_timeout: f64,

    /// Schedulers of the `event` backend (threads sharing one listener and one epoll), or
    /// rings of the `uring` backend (a thread and an SO_REUSEPORT listener each); default: one
    /// per CPU.
    #[arg(long, value_parser = positive)]
    threads: Option<usize>,

    /// Close connections idle for SECS seconds, except subscribers (0 = never, like Redis).
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    timeout: f64,

    /// Log a one-line stats summary (rates, connections, drops) every SECS seconds.
    #[arg(long, value_name = "SECS")]
    stats_interval: Option<f64>,

    /// Serve Prometheus metrics on http://METRICS_BIND:PORT/metrics.
    #[arg(long, value_name = "PORT")]
    metrics_port: Option<u16>,

    /// Join other Switchboard nodes through a NATS cluster: every local PUBLISH is also sent to
    /// NATS, and messages other nodes publish reach local subscribers. Comma-separated
    /// `nats://HOST:PORT` addresses of one cluster; the node serves its own clients whether or
    /// not NATS answers, and reconnects with backoff.
    #[arg(long, value_name = "URLS", value_delimiter = ',')]
    relay: Vec<String>,

    /// With --relay: this node's name in NATS's connection list (default: switchboard@ADDR).
    #[arg(long, value_name = "NAME", requires = "relay")]
    node_name: Option<String>,

    /// Address the metrics endpoint listens on. It has no authentication, so it stays on
    /// loopback unless told otherwise, whatever --bind says.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    metrics_bind: IpAddr,

    /// Password of the `default` user: connections must `AUTH PASS` (or `HELLO 3 AUTH default
    /// PASS`) before anything else, or get `-NOAUTH Authentication required.`
    #[arg(long, value_name = "PASS", conflicts_with = "aclfile")]
    requirepass: Option<String>,

    /// Users, passwords and permissions in Redis's ACL file syntax, one `user NAME rule ...`
    /// per line: `on`/`off`, `>password`, `#sha256hex`, `nopass`, `resetchannels`,
    /// `allchannels`, `&pattern`, `~*`, `+@all`, `-@all`, `+cmd`, `-cmd`. Read at start (an
    /// error stops the server) and by `ACL LOAD`. Without a `default` line the default user
    /// is `on nopass ~* &* +@all`.
    #[arg(long, value_name = "PATH")]
    aclfile: Option<PathBuf>,

    /// Also serve TLS (1.2 and 1.3) on this port, on the same address, next to the plain port
    /// (0 picks a free one). Needs --tls-cert-file and --tls-key-file. A handshake that fails
    /// (plain text on this port, a bad client certificate) is logged at debug and counted in
    /// INFO's tls_handshake_failures; one that does not finish in 10 s is cut off.
    #[arg(long, value_name = "PORT", requires_all = ["tls_cert_file", "tls_key_file"])]
    tls_port: Option<u16>,

    /// The server's certificate chain, PEM.
    #[arg(long, value_name = "PATH", requires = "tls_port")]
    tls_cert_file: Option<PathBuf>,

    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PATH", requires = "tls_port")]
    tls_key_file: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates must be signed by.
    #[arg(long, value_name = "PATH", requires = "tls_port")]
    tls_ca_cert_file: Option<PathBuf>,

    /// Whether TLS clients must present a certificate signed by --tls-ca-cert-file: `yes`
    /// (Redis's default), `no`, or `optional` (asked for; served without one, refused with a
    /// bad one).
    #[arg(long, value_enum, default_value = "yes")]
    tls_auth_clients: server::tls::AuthClients,

    /// Seconds a TLS handshake may take before the connection is cut off.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    tls_handshake_timeout: f64,

    /// Seconds a connection that must authenticate may stay idle, or take over a request,
    /// before it has authenticated; then it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    auth_timeout: f64,

    /// With `yes` (the default), while the default user has no password, connections from
    /// any address but loopback are refused with `-DENIED ...` (Redis's protected mode).
    #[arg(long, value_name = "yes|no", default_value = "yes", value_parser = yes_no, action = clap::ArgAction::Set)]
    protected_mode: bool,

    /// Run in the background as a Unix daemon (detached from the terminal, working directory
    /// `/`); prints `listening on ADDR` once it serves. Needs --pidfile; stop it with
    /// `server stop --pidfile PATH`.
    #[arg(long, requires = "pidfile")]
    daemon: bool,

    /// With --daemon: where to write the daemon's process id. Starting is refused while the
    /// file names a live process; the file is removed at exit.
    #[arg(long)]
    pidfile: Option<PathBuf>,

    /// With --daemon: file the logs are appended to (default: discarded).
    #[arg(long, requires = "daemon")]
    log_file: Option<PathBuf>,

    /// Log level (error, warn, info, debug, trace); RUST_LOG, when set, takes precedence.
    #[arg(long, default_value = "info")]
    log_level: String,
}

/// Parses `yes` or `no`, as Redis's boolean options.
fn yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("`{text}`: expected yes or no")),
    }
}

/// Parses a count that must be at least 1.
fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// Reads `--client-output-buffer-limit`: a byte size (the subscribers' hard limit, as before)
/// or Redis's `CLASS HARD SOFT SECONDS ...`.
fn parse_output_limit_flag(text: &str) -> Result<[Option<ClassLimit>; 3], String> {
    if text.split_whitespace().count() > 1 {
        return parse_output_limits(text).map_err(|e| e.0);
    }
    let hard = parse_size(text)? as u64;
    Ok([None, None, Some(ClassLimit { hard, soft: 0, soft_seconds: 0 })])
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
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Stop { pidfile, timeout }) => stop(&pidfile, timeout),
        None => serve(cli.args),
    }
}

fn stop(pidfile: &std::path::Path, timeout: f64) -> ExitCode {
    let Some(timeout) = seconds(timeout) else {
        eprintln!("server: --timeout must be a number of seconds >= 0");
        return ExitCode::from(2);
    };
    match server::daemon::stop(pidfile, timeout) {
        Ok(pid) => {
            println!("stopped (pid {pid})");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value))
}

fn serve(args: Args) -> ExitCode {
    let Some(shutdown_timeout) = seconds(args.shutdown_timeout) else {
        eprintln!("server: --shutdown-timeout must be a number of seconds >= 0");
        return ExitCode::from(2);
    };
    let stats_interval = match args.stats_interval.map(seconds) {
        Some(Some(d)) if d.is_zero() => None,
        Some(None) => {
            eprintln!("server: --stats-interval must be a number of seconds >= 0");
            return ExitCode::from(2);
        }
        other => other.flatten(),
    };
    let idle_timeout = match seconds(args.timeout) {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => {
            eprintln!("server: --timeout must be a number of seconds >= 0");
            return ExitCode::from(2);
        }
    };
    let pool_wait_timeout = match seconds(args.pool_wait_timeout) {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => {
            eprintln!("server: --pool-wait-timeout must be a number of seconds >= 0");
            return ExitCode::from(2);
        }
    };
    let Some(auth_timeout) = seconds(args.auth_timeout) else {
        eprintln!("server: --auth-timeout must be a number of seconds >= 0");
        return ExitCode::from(2);
    };
    let Some(tls_handshake_timeout) = seconds(args.tls_handshake_timeout) else {
        eprintln!("server: --tls-handshake-timeout must be a number of seconds >= 0");
        return ExitCode::from(2);
    };
    let mut output_limits = OutputLimits {
        pubsub: ClassLimit {
            hard: Config::default().client_output_buffer_limit as u64,
            ..ClassLimit::default()
        },
        ..OutputLimits::default()
    };
    let [normal, replica, pubsub] = args.client_output_buffer_limit;
    output_limits.normal = normal.unwrap_or(output_limits.normal);
    output_limits.replica = replica.unwrap_or(output_limits.replica);
    output_limits.pubsub = pubsub.unwrap_or(output_limits.pubsub);
    // Detach first: fork must happen before any thread exists.
    let mut daemon = match (&args.pidfile, args.daemon) {
        (Some(pidfile), true) => match server::daemon::daemonize(pidfile, args.log_file.as_deref())
        {
            Ok(daemon) => Some(daemon),
            Err(e) => {
                eprintln!("server: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The NATS client logs every event at info (one line per dropped message when the relay
        // falls behind): the relay reports those itself, counted and throttled.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!("{},async_nats=warn", args.log_level))
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(daemon.is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
        client_output_buffer_limit: output_limits.pubsub.hard.try_into().unwrap_or(usize::MAX),
        output_limits,
        shutdown_timeout,
        stack_size: args.stack_size,
        workers: args.workers,
        queue_depth: args.queue_depth,
        pool_backlog: args.pool_backlog,
        pool_wait_timeout,
        threads: args.threads,
        idle_timeout,
        stats_interval,
        metrics_port: args.metrics_port,
        relay: args.relay,
        node_name: args.node_name,
        metrics_bind: args.metrics_bind,
        requirepass: args.requirepass,
        aclfile: args.aclfile,
        protected_mode: args.protected_mode,
        tls_port: args.tls_port,
        tls_handshake_timeout,
        auth_timeout,
        tls: match (args.tls_cert_file, args.tls_key_file) {
            (Some(cert_file), Some(key_file)) => Some(server::tls::TlsSettings {
                cert_file,
                key_file,
                ca_cert_file: args.tls_ca_cert_file,
                auth_clients: args.tls_auth_clients,
            }),
            _ => None,
        },
    };
    let result = match daemon.as_mut() {
        Some(daemon) => server::run_with(config, |addr| daemon.ready(addr)),
        None => server::run(config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(daemon) = daemon.as_mut() {
                tracing::error!("{e}"); // into the log file
                daemon.failed(&e.to_string());
            } else {
                eprintln!("server: {e}");
            }
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
