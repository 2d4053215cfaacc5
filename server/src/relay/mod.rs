//! The relay (`--relay nats://...`): several servers joined through a NATS cluster. NATS routes
//! messages by interest between its servers; each Switchboard node stays a single server that
//! tells NATS what it wants and hands NATS what its clients publish. The broker is NATS's.
//!
//! - **Interest follows subscriptions.** The exchange tells the relay
//!   ([`InterestWatcher`](crate::exchange::InterestWatcher)) when a channel gains its first
//!   local subscriber or loses its last; the relay reads the current
//!   state back and holds exactly one NATS subscription per locally subscribed channel. While a
//!   node has pattern subscribers it also holds one catch-all subscription (`switchboard.>`):
//!   a NATS subject cannot express a Redis glob, so every relayed message reaches that node and
//!   is matched locally. That is the cost of patterns across nodes: the node receives the
//!   cluster's whole traffic.
//! - **Out.** A local `PUBLISH` is delivered locally at once (its reply counts local receivers
//!   only, as in Redis Cluster), then queued for NATS ([`Link::send`]): a bounded queue that never
//!   blocks the publisher. What cannot be relayed (queue full, NATS unreachable, a channel name
//!   or payload too large for NATS) is counted in `relay_dropped` and logged, never lost silently.
//! - **In.** A message from NATS is published into the local exchange like a local one, to the
//!   channel's subscribers when it came through the channel's subscription and to the patterns
//!   when it came through the catch-all (so a node holding both hears it once per receiver).
//!   The accounting stays exact per node: `receivers == delivered + dropped`.
//!   What arrives faster than the relay thread publishes it is dropped by the NATS client (its
//!   queue per subscription is bounded) and counted in `relay_in_dropped`.
//! - **Never twice.** The connection is made with NATS's `no_echo`: NATS never hands a node its
//!   own publishes back, so local receivers get each local message once.
//! - **Subjects.** A channel is any byte string; its subject is `switchboard.h` followed by the
//!   name in lower-case hex, one token whatever the name holds (`.`, `*`, `>`, spaces, NUL), so
//!   the mapping is one-to-one and round-trips.
//! - **Faults.** The addresses are tried in the order given (so each node can name its nearest
//!   NATS server first). The client reconnects with backoff by itself, to the next address when
//!   one is gone, and restores every subscription;
//!   while it is disconnected the node keeps serving its own clients, and what it could not relay
//!   is counted. Delivery across nodes is at most once; order per publisher and channel is kept
//!   (one queue, one NATS connection, which NATS keeps in order).
//!
//! Threading: the relay runs on a thread of its own with a single-threaded runtime (the NATS
//! client is asynchronous); the backends are untouched. Sessions reach it through the [`Link`]
//! in the server context; the link is [`link`], below the context, and this file the thread,
//! above it.

pub mod link;

use std::collections::HashMap;
use std::collections::HashSet;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle as TaskHandle;

use crate::context::ServerContext;
use crate::exchange::{Name, Reach};
use crate::stats;
use crate::throttled_log::Record;

pub use link::{Link, MAX_RELAYED_CHANNEL};

/// Every relayed subject starts with this: a first token, then the second token's marker (so
/// that the empty channel's token is not empty, which NATS forbids).
const PREFIX: &str = "switchboard.h";
/// The subject that covers every relayed channel, held while there are pattern subscribers.
const CATCH_ALL: &str = "switchboard.>";
/// How often the relay pings NATS: a connection that misses three answers in a row is taken
/// as lost (so a silent partition is noticed within about 6 s) and replaced.
const PING_INTERVAL: Duration = Duration::from_secs(2);
/// How long a stopping relay waits for NATS to take what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The subject that carries `channel`.
pub fn subject(channel: &[u8]) -> String {
    let mut s = String::with_capacity(PREFIX.len() + channel.len() * 2);
    s.push_str(PREFIX);
    for b in channel {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// The channel `subject` carries, or `None` for a subject no relay made.
pub fn channel(subject: &str) -> Option<Bytes> {
    let hex = subject.strip_prefix(PREFIX)?.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    hex.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

/// The running relay thread; [`Relay::stop`] ends it.
pub struct Relay {
    link: Arc<Link>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Starts the relay thread for `ctx`'s link, connecting to `urls` in the background (the
    /// server serves its own clients whether or not NATS answers). Must be called before any
    /// connection is served, so that the exchange has told it of every subscription.
    pub fn start(ctx: &Arc<ServerContext>, urls: &[String], name: String) -> io::Result<Relay> {
        let urls = urls
            .iter()
            .map(|url| {
                url.parse::<async_nats::ServerAddr>().map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("invalid --relay address '{url}': {e}"),
                    )
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        let link = ctx.relay.clone().ok_or_else(|| io::Error::other("no relay configured"))?;
        let receiver = link
            .receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| io::Error::other("relay already started"))?;
        ctx.exchange.watch(link.clone());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let ctx = ctx.clone();
        let thread = std::thread::Builder::new().name("relay".into()).spawn(move || {
            runtime.block_on(run(ctx, receiver, urls, name));
        })?;
        Ok(Relay { link, thread: Some(thread) })
    }

    /// Hands NATS what is still queued (waiting at most [`FLUSH_TIMEOUT`]), then ends the
    /// thread.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.link.stop.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shut();
    }
}

/// The relay thread's loop: publishes what sessions queue, follows interest changes, and
/// stops when told.
async fn run(
    ctx: Arc<ServerContext>,
    mut queue: mpsc::Receiver<(Bytes, Bytes)>,
    urls: Vec<async_nats::ServerAddr>,
    name: String,
) {
    let Some(link) = ctx.relay.clone() else { return };
    let events = link.clone();
    let options = async_nats::ConnectOptions::new()
        .name(name)
        .no_echo()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .retain_servers_order()
        .ping_interval(PING_INTERVAL)
        .event_callback(move |event| {
            let link = events.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        link.connected.store(true, Ordering::Relaxed);
                        tracing::info!("relay connected to NATS");
                    }
                    async_nats::Event::Disconnected => {
                        link.connected.store(false, Ordering::Relaxed);
                        tracing::warn!("relay lost its NATS connection; reconnecting");
                    }
                    async_nats::Event::SlowConsumer(_) => {
                        link.relay_in_dropped.fetch_add(1, Ordering::Relaxed);
                        if let Record::Log { suppressed } =
                            link.in_dropped_log.record(Instant::now())
                        {
                            tracing::warn!(suppressed, "relay fell behind NATS: messages dropped");
                        }
                    }
                    other => tracing::warn!(event = %other, "relay"),
                }
            }
        });
    let client = match options.connect(urls.clone()).await {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, urls = ?urls, "relay cannot use these NATS addresses");
            return;
        }
    };
    let mut relay = Subscriptions {
        ctx: ctx.clone(),
        client: client.clone(),
        channels: HashMap::new(),
        catch_all: None,
    };
    let mut batch = Vec::with_capacity(256);
    loop {
        tokio::select! {
            n = queue.recv_many(&mut batch, 256) => {
                if n == 0 {
                    break;
                }
                publish(&client, &link, &mut batch).await;
            }
            _ = link.wake.notified() => relay.apply(link.take_changes()).await,
            _ = link.stop.notified() => break,
        }
    }
    // Stopping: what sessions queued before the server stopped still goes out.
    queue.close();
    while queue.recv_many(&mut batch, 256).await > 0 {
        publish(&client, &link, &mut batch).await;
    }
    let _ = tokio::time::timeout(FLUSH_TIMEOUT, client.flush()).await;
    relay.clear();
}

/// Hands `batch` to NATS (emptying it), counting what went out and what could not.
async fn publish(client: &async_nats::Client, link: &Link, batch: &mut Vec<(Bytes, Bytes)>) {
    for (channel, message) in batch.drain(..) {
        link.queued_bytes.fetch_sub(message.len(), Ordering::Relaxed);
        if client.connection_state() != State::Connected {
            link.dropped("not connected to NATS");
            continue;
        }
        match client.publish(subject(&channel), message).await {
            Ok(()) => {
                link.relay_out.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::debug!(error = %e, "relay publish failed");
                link.dropped("NATS refused the message (too large?)");
            }
        }
    }
}

/// The NATS subscriptions the relay holds, each forwarded into the exchange by a task of its
/// own (aborting the task drops the subscription, which unsubscribes it).
struct Subscriptions {
    ctx: Arc<ServerContext>,
    client: async_nats::Client,
    channels: HashMap<Name, TaskHandle<()>>,
    catch_all: Option<TaskHandle<()>>,
}

impl Subscriptions {
    /// Brings the NATS subscriptions in line with the exchange for the channels in `changed`
    /// (and the catch-all, if the pattern count changed).
    async fn apply(&mut self, (channels, patterns): (HashSet<Name>, bool)) {
        for name in channels {
            let wanted = self.ctx.exchange.has_subscribers(&name);
            match (wanted, self.channels.contains_key(&name)) {
                (true, false) if name.len() <= MAX_RELAYED_CHANNEL => {
                    let channel = Bytes::copy_from_slice(&name);
                    if let Some(task) = self.follow(subject(&name), Some(channel)).await {
                        self.channels.insert(name, task);
                    }
                }
                (false, true) => {
                    if let Some(task) = self.channels.remove(&name) {
                        task.abort();
                    }
                }
                _ => {}
            }
        }
        if patterns {
            let wanted = self.ctx.exchange.numpat() > 0;
            match (wanted, self.catch_all.is_some()) {
                (true, false) => self.catch_all = self.follow(CATCH_ALL.into(), None).await,
                (false, true) => self.catch_all.take().into_iter().for_each(|t| t.abort()),
                _ => {}
            }
        }
        let held = self.channels.len() + usize::from(self.catch_all.is_some());
        if let Some(link) = &self.ctx.relay {
            link.subscriptions.store(held, Ordering::Relaxed);
        }
    }

    /// Subscribes to `subject` and spawns the task that publishes what arrives into the
    /// exchange: to `channel`'s subscribers, or (`None`, the catch-all) to matching patterns.
    async fn follow(&self, subject: String, channel: Option<Bytes>) -> Option<TaskHandle<()>> {
        let mut subscriber = match self.client.subscribe(subject.clone()).await {
            Ok(subscriber) => subscriber,
            Err(e) => {
                tracing::warn!(error = %e, subject, "relay cannot subscribe");
                return None;
            }
        };
        let ctx = self.ctx.clone();
        Some(tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                let (name, reach) = match &channel {
                    Some(name) => (name.clone(), Reach::Channel),
                    None => match self::channel(message.subject.as_str()) {
                        Some(name) => (name, Reach::Patterns),
                        None => continue,
                    },
                };
                let published = ctx.exchange.publish_to(&name, &message.payload, reach);
                stats::add(&ctx.stats.published_receivers, published.receivers as u64);
                stats::add(&ctx.stats.dropped, published.dropped as u64);
                if let Some(link) = &ctx.relay {
                    link.relay_in.fetch_add(1, Ordering::Relaxed);
                }
            }
        }))
    }

    /// Ends every subscription.
    fn clear(&mut self) {
        self.channels.drain().for_each(|(_, task)| task.abort());
        self.catch_all.take().into_iter().for_each(|t| t.abort());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_name_round_trips_through_its_subject() {
        for name in
            [&b""[..], b"news", b"a.b", b"*", b">", b"with space", b"\0\xff\r\n", b"switchboard.>"]
        {
            let subject = subject(name);
            assert!(subject.starts_with(PREFIX));
            let token = &subject[PREFIX.len()..];
            assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{subject}");
            assert_eq!(channel(&subject).as_deref(), Some(name));
        }
    }

    #[test]
    fn subjects_no_relay_made_are_not_channels() {
        for subject in ["other.6e", "switchboard.6", "switchboard.zz", "switchboard.6E"] {
            assert_eq!(channel(subject), None, "{subject}");
        }
    }
}
