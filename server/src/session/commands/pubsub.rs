//! (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH and PUBSUB: the exchange, through the
//! session's subscriptions.

use std::collections::HashSet;

use bytes::Bytes;
use shared::command::PubsubCommand;
use shared::resp::encode_integer;
use shared::{Frame, RespVersion};

use super::{help, Run};
use crate::exchange::Published;
use crate::session::subscriptions::SubscriptionSet;
use crate::session::{RespState, Session, Status};
use crate::stats::add;

impl Run for PubsubCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let exchange = &session.ctx.exchange;
        let reply = match self {
            PubsubCommand::Publish { channel, message } => {
                let published = exchange.publish(&channel, &message);
                if let Some(relay) = &session.ctx.relay {
                    relay.send(&channel, &message);
                }
                return session.published(published, out);
            }
            PubsubCommand::SPublish { channel, message } => {
                let published = exchange.spublish(&channel, &message);
                return session.published(published, out);
            }
            PubsubCommand::Subscribe(names) => return session.subscribe(Kind::Channel, names, out),
            PubsubCommand::PSubscribe(names) => {
                return session.subscribe(Kind::Pattern, names, out)
            }
            PubsubCommand::SSubscribe(names) => return session.subscribe(Kind::Shard, names, out),
            PubsubCommand::Unsubscribe(names) => {
                return session.unsubscribe(Kind::Channel, names, out)
            }
            PubsubCommand::PUnsubscribe(names) => {
                return session.unsubscribe(Kind::Pattern, names, out)
            }
            PubsubCommand::SUnsubscribe(names) => {
                return session.unsubscribe(Kind::Shard, names, out)
            }
            PubsubCommand::Channels(pattern) => names_reply(exchange.channels(pattern.as_deref())),
            PubsubCommand::ShardChannels(pattern) => {
                names_reply(exchange.shard_channels(pattern.as_deref()))
            }
            PubsubCommand::Numsub(channels) => {
                let counts = exchange.numsub(&channels);
                numsub_reply(channels, counts)
            }
            PubsubCommand::ShardNumsub(channels) => {
                let counts = exchange.shard_numsub(&channels);
                numsub_reply(channels, counts)
            }
            PubsubCommand::Numpat => Frame::Integer(exchange.numpat() as i64),
            PubsubCommand::Help => help("PUBSUB", PUBSUB_HELP),
        };
        session.reply(reply, out)
    }
}

impl Session {
    fn subscribe(&mut self, kind: Kind, names: Vec<Bytes>, out: &mut Vec<u8>) -> Status {
        self.drain_before_change(out);
        let state = self.resp.as_deref_mut().expect("resp session");
        let (version, before) = (state.version, kind.count(state));
        let set = kind.set(state);
        // Names new to this connection, each once even if the request repeats it.
        let mut fresh: Vec<Bytes> = Vec::new();
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for name in &names {
            if !set.contains(name) && (names.len() == 1 || seen.insert(&name[..])) {
                fresh.push(name.clone());
            }
            confirmation(out, version, kind.subscribe_word(), Some(name), before + fresh.len());
        }
        // Joined once the confirmations are in `out`: every message for them comes after.
        let made = match kind {
            Kind::Channel => self.ctx.exchange.subscribe(&self.client.mailbox, &fresh),
            Kind::Pattern => self.ctx.exchange.psubscribe(&self.client.mailbox, &fresh),
            Kind::Shard => self.ctx.exchange.ssubscribe(&self.client.mailbox, &fresh),
        };
        let set = kind.set(self.resp.as_deref_mut().expect("resp session"));
        for sub in made {
            set.insert(sub);
        }
        Status::Open
    }

    fn unsubscribe(&mut self, kind: Kind, names: Vec<Bytes>, out: &mut Vec<u8>) -> Status {
        let state = self.resp.as_deref_mut().expect("resp session");
        let version = state.version;
        let mut count = kind.count(state);
        let set = kind.set(state);
        let mut removed = Vec::new();
        // Each confirmation: the name and the subscriptions left after it, as Redis counts.
        let mut replies = Vec::new();
        if names.is_empty() {
            for sub in set.take_all() {
                count -= 1;
                replies.push((Bytes::copy_from_slice(sub.name()), count));
                removed.push(sub);
            }
        } else {
            for name in names {
                if let Some(sub) = set.take(&name[..]) {
                    count -= 1;
                    removed.push(sub);
                }
                replies.push((name, count));
            }
        }
        // The order that keeps the guarantee: leave (nothing more is queued once this returns),
        // then move what was queued before into `out`, then confirm.
        match kind {
            Kind::Channel => self.ctx.exchange.unsubscribe(&removed),
            Kind::Pattern => self.ctx.exchange.punsubscribe(&removed),
            Kind::Shard => self.ctx.exchange.sunsubscribe(&removed),
        }
        self.drain_before_change(out);
        for (name, count) in &replies {
            confirmation(out, version, kind.unsubscribe_word(), Some(name), *count);
        }
        if replies.is_empty() {
            // Nothing to leave: Redis still answers once, with a null name, and clients wait
            // for that answer.
            confirmation(out, version, kind.unsubscribe_word(), None, count);
        }
        Status::Open
    }

    /// Counts a (S)PUBLISH and appends its reply, the number of receivers.
    #[inline]
    fn published(&mut self, published: Published, out: &mut Vec<u8>) -> Status {
        let stats = &self.ctx.stats;
        add(&stats.published, 1);
        add(&stats.published_receivers, published.receivers as u64);
        add(&stats.dropped, published.dropped as u64);
        if self.is_subscribed() {
            // A RESP3 subscriber publishing to itself gets the message before the reply, as
            // from Redis.
            self.drain_before_change(out);
        }
        encode_integer(out, published.receivers as i64);
        Status::Open
    }
}

/// `PUBSUB (SHARD)CHANNELS`: the names, an array.
fn names_reply(names: Vec<Bytes>) -> Frame {
    Frame::Array(names.into_iter().map(Frame::Bulk).collect())
}

/// `PUBSUB (SHARD)NUMSUB`: name, count, name, count... A flat array even in RESP3, as from
/// Redis (clients slice it in pairs).
fn numsub_reply(channels: Vec<Bytes>, counts: Vec<usize>) -> Frame {
    Frame::Array(
        channels
            .into_iter()
            .zip(counts)
            .flat_map(|(c, n)| [Frame::Bulk(c), Frame::Integer(n as i64)])
            .collect(),
    )
}

const PUBSUB_HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions (default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard channels.",
];

#[derive(Clone, Copy)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn set(self, state: &mut RespState) -> &mut SubscriptionSet {
        match self {
            Kind::Channel => &mut state.rare_mut().channels,
            Kind::Pattern => &mut state.rare_mut().patterns,
            Kind::Shard => &mut state.rare_mut().shard_channels,
        }
    }

    /// The count a (un)subscribe confirmation of this kind reports: channels and patterns
    /// together, shard channels on their own (as Redis counts).
    fn count(self, state: &RespState) -> usize {
        let Some(rare) = state.rare() else { return 0 };
        match self {
            Kind::Channel | Kind::Pattern => rare.channels.len() + rare.patterns.len(),
            Kind::Shard => rare.shard_channels.len(),
        }
    }

    fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// Appends a (un)subscribe confirmation: `[word, name, count]`, a push frame in RESP3.
fn confirmation(
    out: &mut Vec<u8>,
    version: RespVersion,
    word: &str,
    name: Option<&Bytes>,
    count: usize,
) {
    Frame::Push(vec![
        Frame::bulk(word),
        name.cloned().map_or(Frame::Null, Frame::Bulk),
        Frame::Integer(count as i64),
    ])
    .encode(version, out);
}

