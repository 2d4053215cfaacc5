//! Publish and subscribe: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH and PUBSUB's
//! subcommands.

use bytes::Bytes;

use super::args::{words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// A pub/sub command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PubsubCommand {
    /// ```text
    /// SUBSCRIBE channel [channel ...]
    /// ```
    Subscribe(Vec<Bytes>),
    /// ```text
    /// UNSUBSCRIBE [channel ...]
    /// ```
    Unsubscribe(Vec<Bytes>),
    /// ```text
    /// PSUBSCRIBE pattern [pattern ...]
    /// ```
    PSubscribe(Vec<Bytes>),
    /// ```text
    /// PUNSUBSCRIBE [pattern ...]
    /// ```
    PUnsubscribe(Vec<Bytes>),
    /// ```text
    /// PUBLISH channel message
    /// ```
    Publish {
        /// Where the message goes.
        channel: Bytes,
        /// What every subscriber receives.
        message: Bytes,
    },
    /// ```text
    /// SSUBSCRIBE shardchannel [shardchannel ...]
    /// ```
    SSubscribe(Vec<Bytes>),
    /// ```text
    /// SUNSUBSCRIBE [shardchannel ...]
    /// ```
    SUnsubscribe(Vec<Bytes>),
    /// ```text
    /// SPUBLISH shardchannel message
    /// ```
    SPublish {
        /// The shard channel the message goes to.
        channel: Bytes,
        /// What every subscriber receives.
        message: Bytes,
    },
    /// ```text
    /// PUBSUB CHANNELS [pattern]
    /// ```
    Channels(Option<Bytes>),
    /// ```text
    /// PUBSUB NUMSUB [channel ...]
    /// ```
    Numsub(Vec<Bytes>),
    /// ```text
    /// PUBSUB NUMPAT
    /// ```
    Numpat,
    /// ```text
    /// PUBSUB SHARDCHANNELS [pattern]
    /// ```
    ShardChannels(Option<Bytes>),
    /// ```text
    /// PUBSUB SHARDNUMSUB [shardchannel ...]
    /// ```
    ShardNumsub(Vec<Bytes>),
    /// ```text
    /// PUBSUB HELP
    /// ```
    Help,
}

use PubsubCommand as P;

impl Family for PubsubCommand {
    const TABLE: &'static [Row] = &[
        Row::new("subscribe", -2, "pubsub noscript loading stale", "pubsub slow")
            .doc("2.0.0", "pubsub", "Listens to channels.", "O(N), N channels given.")
            .args("channel:string~m"),
        Row::new("unsubscribe", -1, "pubsub noscript loading stale", "pubsub slow")
            .doc("2.0.0", "pubsub", "Stops listening to channels, or to all of them.", "O(N), N channels left.")
            .args("channel:string~om"),
        Row::new("psubscribe", -2, "pubsub noscript loading stale", "pubsub slow")
            .doc("2.0.0", "pubsub", "Listens to every channel matching glob patterns.", "O(N), N patterns given.")
            .args("pattern:block~m{pattern:pattern}"),
        Row::new("punsubscribe", -1, "pubsub noscript loading stale", "pubsub slow")
            .doc("2.0.0", "pubsub", "Stops listening to patterns, or to all of them.", "O(N+M), N patterns left, M patterns in the server.")
            .args("pattern:pattern~om"),
        Row::new("publish", 3, "pubsub loading stale fast", "pubsub fast")
            .doc("2.0.0", "pubsub", "Sends a message to a channel's subscribers and matching patterns.", "O(N+M), N subscribers of the channel, M patterns in the server.")
            .args("channel:string message:string"),
        Row::new("ssubscribe", -2, "pubsub noscript loading stale", "pubsub slow")
            .keys("not_key", -1)
            .doc("7.0.0", "pubsub", "Listens to shard channels.", "O(N), N shard channels given.")
            .args("shardchannel:string~m"),
        Row::new("sunsubscribe", -1, "pubsub noscript loading stale", "pubsub slow")
            .keys("not_key", -1)
            .doc("7.0.0", "pubsub", "Stops listening to shard channels, or to all of them.", "O(N), N shard channels left.")
            .args("shardchannel:string~om"),
        Row::new("spublish", 3, "pubsub loading stale fast", "pubsub fast")
            .keys("not_key", 0)
            .doc("7.0.0", "pubsub", "Sends a message to a shard channel's subscribers.", "O(N), N subscribers of the shard channel.")
            .args("shardchannel:string message:string"),
        Row::new("pubsub", -2, "", "slow")
            .doc("2.8.0", "pubsub", "Container of the pub/sub introspection subcommands.", "Per subcommand."),
        Row::new("pubsub|channels", -2, "pubsub loading stale", "pubsub slow")
            .doc("2.8.0", "pubsub", "Lists the channels with subscribers, optionally matching a pattern.", "O(N), N channels with subscribers.")
            .args("pattern:pattern~o"),
        Row::new("pubsub|numsub", -2, "pubsub loading stale", "pubsub slow")
            .doc("2.8.0", "pubsub", "Counts each given channel's subscribers.", "O(N), N channels given.")
            .args("channel:string~om"),
        Row::new("pubsub|numpat", 2, "pubsub loading stale", "pubsub slow")
            .doc("2.8.0", "pubsub", "Counts the patterns subscribed to.", "O(1)"),
        Row::new("pubsub|shardchannels", -2, "pubsub loading stale", "pubsub slow")
            .doc("7.0.0", "pubsub", "Lists the shard channels with subscribers, optionally matching a pattern.", "O(N), N shard channels with subscribers.")
            .args("pattern:pattern~o"),
        Row::new("pubsub|shardnumsub", -2, "pubsub loading stale", "pubsub slow")
            .doc("7.0.0", "pubsub", "Counts each given shard channel's subscribers.", "O(N), N shard channels given.")
            .args("shardchannel:string~om"),
        Row::new("pubsub|help", 2, "loading stale", "slow")
            .doc("6.2.0", "pubsub", "Describes the PUBSUB subcommands.", "O(1)"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        let argc = args.len();
        let parsed = match name {
            b"publish" => args
                .need(argc == 2, "publish")
                .map(|()| P::Publish { channel: args.take(), message: args.take() }),
            b"subscribe" => args.need(argc >= 1, "subscribe").map(|()| P::Subscribe(args.rest())),
            b"psubscribe" => {
                args.need(argc >= 1, "psubscribe").map(|()| P::PSubscribe(args.rest()))
            }
            b"ssubscribe" => {
                args.need(argc >= 1, "ssubscribe").map(|()| P::SSubscribe(args.rest()))
            }
            b"unsubscribe" => Ok(P::Unsubscribe(args.rest())),
            b"punsubscribe" => Ok(P::PUnsubscribe(args.rest())),
            b"sunsubscribe" => Ok(P::SUnsubscribe(args.rest())),
            b"spublish" => args
                .need(argc == 2, "spublish")
                .map(|()| P::SPublish { channel: args.take(), message: args.take() }),
            b"pubsub" => parse_pubsub(args),
            _ => return None,
        };
        Some(parsed)
    }

    fn full_name(&self) -> &'static str {
        match self {
            P::Subscribe(_) => "subscribe",
            P::Unsubscribe(_) => "unsubscribe",
            P::PSubscribe(_) => "psubscribe",
            P::PUnsubscribe(_) => "punsubscribe",
            P::Publish { .. } => "publish",
            P::SSubscribe(_) => "ssubscribe",
            P::SUnsubscribe(_) => "sunsubscribe",
            P::SPublish { .. } => "spublish",
            P::Channels(_) => "pubsub|channels",
            P::Numsub(_) => "pubsub|numsub",
            P::Numpat => "pubsub|numpat",
            P::ShardChannels(_) => "pubsub|shardchannels",
            P::ShardNumsub(_) => "pubsub|shardnumsub",
            P::Help => "pubsub|help",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        match self {
            P::Subscribe(chs) => words(&["SUBSCRIBE"], chs),
            P::Unsubscribe(chs) => words(&["UNSUBSCRIBE"], chs),
            P::PSubscribe(pats) => words(&["PSUBSCRIBE"], pats),
            P::PUnsubscribe(pats) => words(&["PUNSUBSCRIBE"], pats),
            P::Publish { channel, message } => {
                words(&["PUBLISH"], &[channel.clone(), message.clone()])
            }
            P::SSubscribe(chs) => words(&["SSUBSCRIBE"], chs),
            P::SUnsubscribe(chs) => words(&["SUNSUBSCRIBE"], chs),
            P::SPublish { channel, message } => {
                words(&["SPUBLISH"], &[channel.clone(), message.clone()])
            }
            P::Channels(pat) => words(&["PUBSUB", "CHANNELS"], pat.as_slice()),
            P::Numsub(chs) => words(&["PUBSUB", "NUMSUB"], chs),
            P::Numpat => words(&["PUBSUB", "NUMPAT"], &[]),
            P::ShardChannels(pat) => words(&["PUBSUB", "SHARDCHANNELS"], pat.as_slice()),
            P::ShardNumsub(chs) => words(&["PUBSUB", "SHARDNUMSUB"], chs),
            P::Help => words(&["PUBSUB", "HELP"], &[]),
        }
    }

    fn allowed_when_subscribed(&self) -> bool {
        matches!(
            self,
            P::Subscribe(_)
                | P::Unsubscribe(_)
                | P::PSubscribe(_)
                | P::PUnsubscribe(_)
                | P::SSubscribe(_)
                | P::SUnsubscribe(_)
        )
    }

    fn channels(&self) -> (&[Bytes], bool) {
        match self {
            P::Publish { channel, .. } | P::SPublish { channel, .. } => {
                (std::slice::from_ref(channel), false)
            }
            // Shard channels need the same permissions as classic ones, as in Redis 7.
            P::Subscribe(channels) | P::SSubscribe(channels) => (channels, false),
            P::PSubscribe(patterns) => (patterns, true),
            _ => (&[], false),
        }
    }
}

/// `PUBSUB subcommand [arg ...]`.
fn parse_pubsub(args: &mut Args) -> Result<PubsubCommand, CommandError> {
    let mut buf = [0; NAME_MAX];
    let (sub, lower) = args.subcommand("pubsub", &mut buf)?;
    let argc = args.len();
    let at_most_one = |args: &mut Args, sub: Bytes| match argc {
        0 | 1 => Ok(args.next()),
        _ => Err(CommandError::SubcommandSyntax { command: "PUBSUB", sub }),
    };
    Ok(match lower {
        b"channels" => P::Channels(at_most_one(args, sub)?),
        b"numsub" => P::Numsub(args.rest()),
        b"numpat" => args.need(argc == 0, "pubsub|numpat").map(|()| P::Numpat)?,
        b"shardchannels" => P::ShardChannels(at_most_one(args, sub)?),
        b"shardnumsub" => P::ShardNumsub(args.rest()),
        b"help" => args.need(argc == 0, "pubsub|help").map(|()| P::Help)?,
        _ => return Err(CommandError::UnknownSubcommand { command: "PUBSUB", sub }),
    })
}
