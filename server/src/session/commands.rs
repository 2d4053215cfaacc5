//! The commands a session runs: one `match` from a parsed [`Command`] to its reply. The
//! connection state they act on (subscriptions, RESP version, name) lives in the parent
//! module; this file decides what each command does with it.

use bytes::Bytes;
use shared::command::{parse_db_index, subscribed_context_error, ClientCommand, Command};
use shared::resp::{encode_bulk, encode_integer};
use shared::{Frame, RespVersion};

use super::transaction::Transaction;
use super::{error, set_name, Kind, Session, Status};
use crate::exchange::Published;
use crate::info::REDIS_VERSION;
use crate::stats::add;

impl Session {
    /// Runs one request: the checks that come before any command runs (arity, subscribed
    /// mode, queueing inside MULTI), then [`Session::run`].
    pub(super) fn execute(&mut self, args: Vec<Bytes>, out: &mut Vec<u8>) -> Status {
        add(&self.ctx.stats.commands, 1);
        self.requests += 1;
        let is_exec = args[0].eq_ignore_ascii_case(b"exec");
        let bytes = args.iter().map(Bytes::len).sum();
        let cmd = match Command::parse(args) {
            Ok(cmd) => cmd,
            Err(err) => {
                self.refuse(is_exec, &err.to_string(), out);
                return Status::Open;
            }
        };
        let state = self.resp.as_deref_mut().expect("resp session");
        if state.resp2_subscribed() && !cmd.allowed_when_subscribed() {
            self.refuse(is_exec, &subscribed_context_error(cmd.full_name()), out);
            return Status::Open;
        }
        if let Some(transaction) = state.multi.as_mut().filter(|_| cmd.is_queued_in_multi()) {
            match transaction.queue(cmd, bytes, &self.ctx.config.limits) {
                Ok(()) => out.extend_from_slice(b"+QUEUED\r\n"),
                Err(text) => error(out, &text),
            }
            return Status::Open;
        }
        self.run(cmd, out)
    }

    /// Answers a request refused before it ran. As in Redis, a refused EXEC discards the
    /// transaction with `EXECABORT`, and any other refusal inside MULTI makes EXEC fail.
    fn refuse(&mut self, is_exec: bool, text: &str, out: &mut Vec<u8>) {
        let state = self.resp.as_deref_mut().expect("resp session");
        if is_exec {
            state.multi = None;
            let why = text.strip_prefix("ERR ").unwrap_or(text);
            error(out, &format!("EXECABORT Transaction discarded because of: {why}"));
        } else {
            if let Some(transaction) = state.multi.as_mut() {
                transaction.failed = true;
            }
            error(out, text);
        }
    }

    /// Runs one command (a request, or a command queued for EXEC).
    fn run(&mut self, cmd: Command, out: &mut Vec<u8>) -> Status {
        let state = self.resp.as_deref_mut().expect("resp session");
        let subscribed = state.resp2_subscribed();
        let reply = match cmd {
            Command::Ping(msg) if subscribed => {
                Frame::Array(vec![Frame::bulk("pong"), Frame::Bulk(msg.unwrap_or_default())])
            }
            Command::Ping(None) => {
                out.extend_from_slice(b"+PONG\r\n");
                return Status::Open;
            }
            Command::Ping(Some(msg)) | Command::Echo(msg) => {
                encode_bulk(out, &msg);
                return Status::Open;
            }
            Command::Quit => {
                out.extend_from_slice(b"+OK\r\n");
                state.closing = true;
                return Status::Close;
            }
            Command::Publish { channel, message } => {
                let published = self.ctx.exchange.publish(&channel, &message);
                return self.published(published, out);
            }
            Command::SPublish { channel, message } => {
                let published = self.ctx.exchange.spublish(&channel, &message);
                return self.published(published, out);
            }
            Command::Subscribe(channels) => return self.subscribe(Kind::Channel, channels, out),
            Command::PSubscribe(patterns) => return self.subscribe(Kind::Pattern, patterns, out),
            Command::SSubscribe(channels) => return self.subscribe(Kind::Shard, channels, out),
            Command::Unsubscribe(channels) => {
                return self.unsubscribe(Kind::Channel, channels, out)
            }
            Command::PUnsubscribe(patterns) => {
                return self.unsubscribe(Kind::Pattern, patterns, out)
            }
            Command::SUnsubscribe(channels) => return self.unsubscribe(Kind::Shard, channels, out),
            Command::PubsubChannels(pattern) => {
                names_reply(self.ctx.exchange.channels(pattern.as_deref()))
            }
            Command::PubsubShardChannels(pattern) => {
                names_reply(self.ctx.exchange.shard_channels(pattern.as_deref()))
            }
            Command::PubsubNumsub(channels) => {
                let counts = self.ctx.exchange.numsub(&channels);
                numsub_reply(channels, counts)
            }
            Command::PubsubShardNumsub(channels) => {
                let counts = self.ctx.exchange.shard_numsub(&channels);
                numsub_reply(channels, counts)
            }
            Command::PubsubNumpat => Frame::Integer(self.ctx.exchange.numpat() as i64),
            Command::Hello { version: asked, name } => {
                if let Some(name) = name {
                    if let Err(msg) = set_name(state, name) {
                        error(out, msg);
                        return Status::Open;
                    }
                }
                if let Some(asked) = asked {
                    state.version =
                        if asked == 3 { RespVersion::Resp3 } else { RespVersion::Resp2 };
                    self.mailbox.set_version(state.version);
                }
                self.hello_reply()
            }
            Command::Client(ClientCommand::SetInfo) => Frame::Simple("OK".into()),
            Command::Client(ClientCommand::SetName(name)) => match set_name(state, name) {
                Ok(()) => Frame::Simple("OK".into()),
                Err(msg) => Frame::Error(msg.into()),
            },
            Command::Client(ClientCommand::GetName) => {
                state.name.clone().map_or(Frame::Null, Frame::Bulk)
            }
            Command::Client(ClientCommand::Id) => Frame::Integer(self.id as i64),
            // A map in RESP3, a flat array of names and values in RESP2, as from Redis.
            Command::ConfigGet(patterns) => Frame::Map(
                self.ctx
                    .config_get(&patterns)
                    .into_iter()
                    .map(|(name, value)| (Frame::bulk(name), Frame::Bulk(value.into())))
                    .collect(),
            ),
            Command::ConfigSet(pairs) => match self.ctx.config_set(&pairs) {
                Ok(()) => Frame::Simple("OK".into()),
                Err(text) => Frame::Error(text),
            },
            Command::ConfigResetStat => {
                self.ctx.stats.reset();
                Frame::Simple("OK".into())
            }
            Command::Command(sub)
                if sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(b"count")) =>
            {
                Frame::Integer(0)
            }
            // An empty command table: interactive redis-cli starts without hints. DOCS is a
            // map (an empty array in RESP2), the other forms arrays, as from Redis.
            Command::Command(sub)
                if sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(b"docs")) =>
            {
                Frame::Map(Vec::new())
            }
            Command::Command(_) => Frame::Array(Vec::new()),
            Command::Info(sections) => Frame::Bulk(self.ctx.info(&sections).into()),
            Command::Multi if state.multi.is_some() => {
                Frame::Error("ERR MULTI calls can not be nested".into())
            }
            Command::Multi => {
                state.multi = Some(Transaction::default());
                Frame::Simple("OK".into())
            }
            Command::Exec => return self.exec(out),
            Command::Discard => match state.multi.take() {
                Some(_) => Frame::Simple("OK".into()),
                None => Frame::Error("ERR DISCARD without MULTI".into()),
            },
            Command::Watch(_) if state.multi.is_some() => {
                Frame::Error("ERR WATCH inside MULTI is not allowed".into())
            }
            // No keys, so nothing watched can change: EXEC never fails because of WATCH.
            Command::Watch(_) | Command::Unwatch => Frame::Simple("OK".into()),
            Command::Select(index) => match parse_db_index(&index) {
                Ok(db) => {
                    state.db = db;
                    Frame::Simple("OK".into())
                }
                Err(err) => Frame::Error(err.to_string()),
            },
            Command::Reset => {
                // Left first, then drained: nothing for the old subscriptions follows the reply.
                self.leave_all();
                self.drain_before_change(out);
                let state = self.resp.as_deref_mut().expect("resp session");
                state.version = RespVersion::Resp2;
                state.name = None;
                state.db = 0;
                state.multi = None;
                self.mailbox.set_version(RespVersion::Resp2);
                Frame::Simple("RESET".into())
            }
        };
        let version = self.resp.as_deref().expect("resp session").version;
        reply.encode(version, out);
        Status::Open
    }

    /// Counts a (S)PUBLISH and appends its reply, the number of receivers.
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

    /// EXEC: runs the queued commands together, their replies in one array (a transaction
    /// that failed while queueing is discarded with `EXECABORT`).
    fn exec(&mut self, out: &mut Vec<u8>) -> Status {
        let state = self.resp.as_deref_mut().expect("resp session");
        let Some(transaction) = state.multi.take() else {
            error(out, "ERR EXEC without MULTI");
            return Status::Open;
        };
        if transaction.failed {
            error(out, "EXECABORT Transaction discarded because of previous errors.");
            return Status::Open;
        }
        // Each command appends its own reply, as from Redis: a queued SUBSCRIBE of several
        // channels appends one confirmation each, exactly as Redis's EXEC does.
        out.extend_from_slice(format!("*{}\r\n", transaction.queued.len()).as_bytes());
        for cmd in transaction.queued {
            // QUIT is never queued, so no queued command closes the connection.
            let _ = self.run(cmd, out);
        }
        Status::Open
    }

    fn hello_reply(&self) -> Frame {
        let state = self.resp.as_deref().expect("resp session");
        let proto = if state.version == RespVersion::Resp3 { 3 } else { 2 };
        let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
        Frame::Map(vec![
            pair("server", Frame::bulk("switchboard")),
            pair("version", Frame::bulk(REDIS_VERSION)),
            pair("proto", Frame::Integer(proto)),
            pair("id", Frame::Integer(self.id as i64)),
            pair("mode", Frame::bulk("standalone")),
            pair("role", Frame::bulk("master")),
            pair("modules", Frame::Array(Vec::new())),
        ])
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
