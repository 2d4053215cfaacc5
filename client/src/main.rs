//! `client`: talk to a Switchboard (or Redis) server from the command line.
//!
//! Every failure ends the same way: one `client: ...` line on stderr and exit code 1.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use client::{Client, Message};
use shared::command::{ConnectionCommand, PubsubCommand, ServerCommand};
use shared::{Command, Frame};

#[derive(Parser, Debug)]
#[command(
    name = "client",
    version,
    about = "Talk to a Switchboard server: ping, echo, pub, sub, psub"
)]
struct Cli {
    /// Server host name or IP address.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, global = true, default_value_t = 15000)]
    port: u16,
    #[command(flatten)]
    access: client::Access,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check that the server answers: prints PONG, or MESSAGE if one is given.
    #[command(after_help = "Examples:\n  \
                            client ping          # prints PONG\n  \
                            client ping hello    # prints hello")]
    Ping {
        /// Text for the server to send back instead of PONG.
        message: Option<String>,
    },
    /// Print TEXT as echoed by the server.
    #[command(after_help = "Example:\n  client echo 'hi there'    # prints hi there")]
    Echo {
        /// Text for the server to send back.
        text: String,
    },
    /// Publish MESSAGE on TOPIC and print how many subscribers received it.
    #[command(after_help = "Example:\n  \
                            client pub news 'it rains'    # prints 1 with one subscriber")]
    Pub {
        /// The topic (channel) to publish on.
        topic: String,
        /// The payload.
        message: String,
    },
    /// Print the server's INFO text: every section, or the ones named.
    #[command(after_help = "Examples:\n  \
                            client info                # every section\n  \
                            client info stats pubsub   # e.g. pubsub_delivered:42")]
    Info {
        /// Sections (server, clients, memory, stats, pubsub, ...), case-insensitive.
        sections: Vec<String>,
    },
    /// Subscribe to topics and print each message as `TOPIC MESSAGE`, one per line.
    #[command(after_help = "Example:\n  client sub news sports --count 10\n\n\
                            Prints e.g. `news it rains`. Runs until Ctrl-C or --count messages.")]
    Sub {
        /// The topics (channels) to subscribe to.
        #[arg(required = true)]
        topics: Vec<String>,
        /// Exit (with status 0) after printing this many messages.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    },
    /// Subscribe to glob patterns and print each message as `PATTERN TOPIC MESSAGE`.
    #[command(after_help = "Example:\n  client psub 'news.*' --count 1\n\n\
                            Prints e.g. `news.* news.uk it rains`. Runs until Ctrl-C or --count \
                            messages.")]
    Psub {
        /// Glob patterns (`*`, `?`, `[...]`) matched against topic names.
        #[arg(required = true)]
        patterns: Vec<String>,
        /// Exit (with status 0) after printing this many messages.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // Whoever reads our output went away (`client sub news | head -1`): not an error.
        Err(err) if is_broken_stdout(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("client: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Brackets so an IPv6 address reads unambiguously in messages.
    let addr = if cli.host.contains(':') {
        format!("[{}]:{}", cli.host, cli.port)
    } else {
        format!("{}:{}", cli.host, cli.port)
    };
    let target = (cli.host.as_str(), cli.port);
    let mut client = match cli.access.tls_config().map_err(|err| anyhow!("{err}"))? {
        Some(config) => Client::connect_tls(target, &cli.host, config),
        None => Client::connect(target),
    }
    .map_err(|err| anyhow!("cannot connect to {addr}: {}", describe(&err)))?;
    if let Some(pass) = &cli.access.pass {
        client
            .auth(cli.access.user.as_deref(), pass)
            .map_err(|err| anyhow!("AUTH failed: {err}"))?;
    }
    let mut conn = Connection { client: &mut client, addr: &addr };
    match cli.command {
        Cmd::Ping { message } => {
            conn.call(ConnectionCommand::Ping(message.map(Bytes::from)).into())
        }
        Cmd::Echo { text } => conn.call(ConnectionCommand::Echo(Bytes::from(text)).into()),
        Cmd::Pub { topic, message } => conn.call(
            PubsubCommand::Publish { channel: Bytes::from(topic), message: Bytes::from(message) }
                .into(),
        ),
        Cmd::Info { sections } => conn.info(sections),
        Cmd::Sub { topics, count } => conn.listen(
            PubsubCommand::Subscribe(topics.into_iter().map(Bytes::from).collect()).into(),
            count,
        ),
        Cmd::Psub { patterns, count } => conn.listen(
            PubsubCommand::PSubscribe(patterns.into_iter().map(Bytes::from).collect()).into(),
            count,
        ),
    }
}

/// A connected client and the address it is connected to, for error messages.
struct Connection<'a> {
    client: &'a mut Client,
    addr: &'a str,
}

impl Connection<'_> {
    /// Sends `cmd` and prints its reply on one line.
    fn call(&mut self, cmd: Command) -> anyhow::Result<()> {
        self.send(&cmd)?;
        let text = match self.read()? {
            Frame::Simple(text) => text,
            Frame::Bulk(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Frame::Integer(n) => n.to_string(),
            Frame::Error(err) => bail!("{err}"),
            other => bail!("unexpected reply from {}: {other:?}", self.addr),
        };
        print_line(&text)?;
        Ok(())
    }

    /// Sends INFO and prints its text, one `field:value` per line (without the CRs).
    fn info(&mut self, sections: Vec<String>) -> anyhow::Result<()> {
        self.send(&ServerCommand::Info(sections.into_iter().map(Bytes::from).collect()).into())?;
        match self.read()? {
            Frame::Bulk(text) => {
                let text = String::from_utf8_lossy(&text).replace('\r', "");
                let text = text.trim_end();
                if !text.is_empty() {
                    print_line(text)?; // nothing for sections the server does not have
                }
                Ok(())
            }
            Frame::Error(err) => bail!("{err}"),
            other => bail!("unexpected reply from {}: {other:?}", self.addr),
        }
    }

    /// Sends a (P)SUBSCRIBE, then prints messages until `count` were printed, if given.
    fn listen(&mut self, subscribe: Command, count: Option<u64>) -> anyhow::Result<()> {
        self.send(&subscribe)?;
        let mut printed = 0;
        while count != Some(printed) {
            let frame = self.read()?;
            if let Frame::Error(err) = frame {
                bail!("{err}");
            }
            // Subscribe confirmations (and anything else that is not a message) are skipped.
            let Some(msg) = Message::from_frame(&frame) else {
                continue;
            };
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let line = match &msg.pattern {
                Some(pattern) => {
                    format!("{} {} {}", text(pattern), text(&msg.channel), text(&msg.payload))
                }
                None => format!("{} {}", text(&msg.channel), text(&msg.payload)),
            };
            print_line(&line)?;
            printed += 1;
        }
        Ok(())
    }

    fn send(&mut self, cmd: &Command) -> anyhow::Result<()> {
        self.client.send(cmd).map_err(|err| self.failure(&err))
    }

    fn read(&mut self) -> anyhow::Result<Frame> {
        self.client.read_frame().map_err(|err| self.failure(&err))
    }

    /// A one-line description of a failed exchange with the server. These are built as plain
    /// messages, never wrapping the `io::Error`, so [`is_broken_stdout`] cannot confuse a
    /// broken socket with a broken stdout.
    fn failure(&self, err: &io::Error) -> anyhow::Error {
        match err.kind() {
            io::ErrorKind::UnexpectedEof => {
                anyhow!("server at {} closed the connection", self.addr)
            }
            io::ErrorKind::InvalidData => anyhow!("bad reply from {}: {err}", self.addr),
            _ => anyhow!("connection to {} failed: {}", self.addr, describe(err)),
        }
    }
}

/// Prints `line` and flushes at once, so each line reaches a pipe as soon as it is printed.
fn print_line(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// Returns true if and only if `err` is a failed write to a stdout whose reader has gone.
fn is_broken_stdout(err: &anyhow::Error) -> bool {
    err.downcast_ref::<io::Error>().is_some_and(|err| err.kind() == io::ErrorKind::BrokenPipe)
}

/// The text of `err` without the ` (os error N)` suffix: `Connection refused`.
fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    match (err.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(suffix)) => text[..suffix].to_string(),
        _ => text,
    }
}
