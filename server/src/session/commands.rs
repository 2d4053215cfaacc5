//! The commands a session runs: one `match` from a parsed [`Command`] to its reply. The
//! connection state they act on (subscriptions, RESP version, name) lives in the parent
//! module; this file decides what each command does with it.

use bytes::Bytes;
use shared::command::{
    parse_db_index, subscribed_context_error, AclCommand, ClientCommand, Command, CommandError,
    ReplyMode,
};
use shared::resp::{encode_bulk, encode_error, encode_integer};
use shared::{Frame, RespVersion};

use super::transaction::Transaction;
use super::{error, set_name, Kind, Session, Status};
use crate::acl::{self, Denied, Refresh, Refusal};
use crate::clients::Filter;
use crate::exchange::Published;
use crate::info::REDIS_VERSION;
use crate::stats::add;

impl Session {
    /// Runs one request, then holds back its reply if `CLIENT REPLY` says so. (A reply in
    /// whose making messages moved into the output is sent anyway: cutting it would cut the
    /// messages, which count as delivered once written.)
    pub(super) fn execute(&mut self, args: Vec<Bytes>, out: &mut Vec<u8>) -> Status {
        add(&self.ctx.stats.commands, 1);
        self.requests += 1;
        let (mark, messages) = (out.len(), self.unflushed_messages);
        let skip_this = std::mem::take(&mut self.resp.as_deref_mut().expect("resp").skip_this);
        let status = self.check_and_run(args, out);
        let state = self.resp.as_deref_mut().expect("resp session");
        if (state.reply_off || skip_this) && self.unflushed_messages == messages {
            out.truncate(mark);
        }
        state.skip_this = std::mem::take(&mut state.skip_next);
        status
    }

    /// The checks that come before any command runs (arity, the user's permissions, subscribed
    /// mode, queueing inside MULTI), then [`Session::run`].
    fn check_and_run(&mut self, args: Vec<Bytes>, out: &mut Vec<u8>) -> Status {
        let is_exec = args[0].eq_ignore_ascii_case(b"exec");
        let bytes = args.iter().map(Bytes::len).sum();
        let cmd = match Command::parse(args) {
            Ok(cmd) => cmd,
            Err(err) => {
                // Before authenticating, Redis answers NOAUTH to a command its table knows even
                // when the arguments are wrong.
                match self.resp.as_deref().expect("resp session").login.gate_malformed(&err) {
                    Some(denied) => self.deny(denied, is_exec, out),
                    None => self.refuse(is_exec, &err.to_bytes(), out),
                }
                return Status::Open;
            }
        };
        if !self.acl_keeps() {
            return Status::Abort;
        }
        let state = self.resp.as_deref_mut().expect("resp session");
        // Named before the checks, as by Redis: CLIENT LIST and the ACL log show the command
        // even when it is refused.
        state.last_cmd = cmd.full_name();
        if let Err(denied) = state.login.gate(&cmd) {
            self.deny(denied, is_exec, out);
            return Status::Open;
        }
        let state = self.resp.as_deref_mut().expect("resp session");
        if state.resp2_subscribed() && !cmd.allowed_when_subscribed() {
            self.refuse(is_exec, subscribed_context_error(cmd.full_name()).as_bytes(), out);
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
    fn refuse(&mut self, is_exec: bool, text: &[u8], out: &mut Vec<u8>) {
        let state = self.resp.as_deref_mut().expect("resp session");
        if is_exec {
            state.multi = None;
            let why = text.strip_prefix(b"ERR ").unwrap_or(text);
            let mut line = b"EXECABORT Transaction discarded because of: ".to_vec();
            line.extend_from_slice(why);
            encode_error(out, &line);
        } else {
            if let Some(transaction) = state.multi.as_mut() {
                transaction.failed = true;
            }
            encode_error(out, text);
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
                if let Some(relay) = &self.ctx.relay {
                    relay.send(&channel, &message);
                }
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
            Command::Hello { version: asked, name, auth } => {
                if let Some((user, password)) = auth {
                    if let Err(msg) = self.authenticate("HELLO", Some(&user), &password) {
                        error(out, msg);
                        return Status::Open;
                    }
                }
                let state = self.resp.as_deref_mut().expect("resp session");
                if !state.login.authenticated() {
                    error(out, acl::NOAUTH_HELLO);
                    return Status::Open;
                }
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
            Command::Auth { user, password } => {
                let default = self.ctx.acl.get(acl::DEFAULT_USER.as_bytes());
                if user.is_none() && default.is_some_and(|u| u.nopass()) {
                    Frame::Error(acl::AUTH_WITHOUT_PASSWORD.into())
                } else {
                    match self.authenticate("AUTH", user.as_deref(), &password) {
                        Ok(()) => Frame::Simple("OK".into()),
                        Err(msg) => Frame::Error(msg.into()),
                    }
                }
            }
            Command::Acl(AclCommand::DelUser(names)) => return self.delete_users(&names, out),
            Command::Acl(sub) => self.acl_command(sub),
            Command::Client(ClientCommand::SetInfo { lib_name, value }) => {
                if value.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                    let what = if lib_name { "lib-name" } else { "lib-ver" };
                    Frame::Error(format!(
                        "ERR {what} cannot contain spaces, newlines or special characters."
                    ))
                } else {
                    let value = (!value.is_empty()).then_some(value);
                    if lib_name {
                        state.lib_name = value;
                    } else {
                        state.lib_ver = value;
                    }
                    Frame::Simple("OK".into())
                }
            }
            Command::Client(ClientCommand::Info) => {
                self.publish_state();
                let mut line = String::new();
                self.client.list_line(&mut line);
                Frame::Bulk(line.into())
            }
            Command::Client(ClientCommand::List(args)) => match parse_filter(&args, false) {
                Ok(filter) => {
                    self.publish_state();
                    let mut text = String::new();
                    for client in self.ctx.clients(&filter, self.id) {
                        client.list_line(&mut text);
                    }
                    Frame::Bulk(text.into())
                }
                Err(text) => Frame::Error(text),
            },
            Command::Client(ClientCommand::Kill(args)) => return self.kill(&args, out),
            Command::Client(ClientCommand::NoEvict(on)) => {
                state.no_evict = on;
                Frame::Simple("OK".into())
            }
            Command::Client(ClientCommand::NoTouch(on)) => {
                state.no_touch = on;
                Frame::Simple("OK".into())
            }
            Command::Client(ClientCommand::Reply(mode)) => {
                state.reply_off = mode == ReplyMode::Off;
                state.skip_next = mode == ReplyMode::Skip;
                if mode != ReplyMode::On {
                    return Status::Open; // OFF and SKIP have no reply
                }
                Frame::Simple("OK".into())
            }
            Command::Client(ClientCommand::Help) => help("CLIENT", CLIENT_HELP),
            Command::Help(container) => {
                help(container, if container == "CONFIG" { CONFIG_HELP } else { PUBSUB_HELP })
            }
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
            Command::Command(sub)
                if sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(b"help")) =>
            {
                help("COMMAND", COMMAND_HELP)
            }
            Command::Command(_) => Frame::Array(Vec::new()),
            Command::Info(sections) => Frame::Bulk(self.ctx.info(&sections).into()),
            Command::DbSize => Frame::Integer(0),
            Command::LastSave => Frame::Integer(self.ctx.started_unix as i64),
            Command::Time => {
                // The wall clock, read by the server context (the session reads no clock).
                let (secs, micros) = self.ctx.unix_time();
                Frame::Array(vec![
                    Frame::Bulk(secs.to_string().into()),
                    Frame::Bulk(micros.to_string().into()),
                ])
            }
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
                state.login.reset(&self.ctx.acl);
                self.mailbox.set_version(RespVersion::Resp2);
                Frame::Simple("RESET".into())
            }
        };
        let version = self.resp.as_deref().expect("resp session").version;
        reply.encode(version, out);
        Status::Open
    }

    /// `CLIENT KILL`: the old form (`ip:port`, `+OK` or an error) or filters (the number
    /// killed). Killing itself, a connection answers first, then closes.
    fn kill(&mut self, args: &[Bytes], out: &mut Vec<u8>) -> Status {
        let old_form = args.len() == 1;
        let filter = if old_form {
            Ok(Filter {
                addr: Some(String::from_utf8_lossy(&args[0]).into_owned()),
                ..Filter::default()
            })
        } else {
            parse_filter(args, true)
        };
        let filter = match filter {
            Ok(filter) => filter,
            Err(text) => {
                error(out, &text);
                return Status::Open;
            }
        };
        let victims = self.ctx.clients(&filter, self.id);
        let mut me = false;
        for client in &victims {
            if client.id == self.id {
                me = true;
            } else {
                client.kill();
            }
        }
        match (old_form, victims.len()) {
            (true, 0) => error(out, "ERR No such client"),
            (true, _) => out.extend_from_slice(b"+OK\r\n"),
            (false, n) => encode_integer(out, n as i64),
        }
        if me {
            self.resp.as_deref_mut().expect("resp session").closing = true;
            return Status::Close;
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
        state.executing = true;
        for cmd in transaction.queued {
            // QUIT is never queued; a queued command that ends the connection (ACL DELUSER of
            // its own user) marks it closing, and the rest still run, as in Redis.
            let _ = self.run(cmd, out);
        }
        let state = self.resp.as_deref_mut().expect("resp session");
        state.executing = false;
        if state.closing {
            return Status::Close;
        }
        Status::Open
    }

    /// `ACL DELUSER`: the number of users deleted. Every other connection of a deleted user
    /// ends at its next wake-up (sent here); this one, if its own user went, after the reply,
    /// as from Redis.
    fn delete_users(&mut self, names: &[Bytes], out: &mut Vec<u8>) -> Status {
        let deleted = match self.ctx.acl.delete_users(names) {
            Ok(deleted) => deleted,
            Err(text) => {
                error(out, &text);
                return Status::Open;
            }
        };
        encode_integer(out, deleted as i64);
        if deleted == 0 {
            return Status::Open;
        }
        let names: Vec<_> = names.iter().map(|n| String::from_utf8_lossy(n)).collect();
        tracing::info!(conn = self.id, "users deleted: {names:?}");
        self.ctx.wake_all();
        let state = self.resp.as_deref_mut().expect("resp session");
        if state.login.refresh(&self.ctx.acl) == Refresh::Gone {
            state.closing = true;
            return Status::Close;
        }
        Status::Open
    }

    /// Refuses a command the login does not allow (as any refusal, inside MULTI too), and
    /// counts it.
    fn deny(&mut self, denied: Denied, is_exec: bool, out: &mut Vec<u8>) {
        let stats = &self.ctx.stats;
        let (counter, logged) = match &denied {
            Denied::NoAuth => (&stats.acl_denied_auth, None),
            Denied::Command(name) => {
                (&stats.acl_denied_command, Some((acl::LogReason::Command, Bytes::from(*name))))
            }
            Denied::Channel(channel) => {
                (&stats.acl_denied_channel, Some((acl::LogReason::Channel, channel.clone())))
            }
        };
        add(counter, 1);
        if let Some((reason, object)) = logged {
            let user = self.resp.as_deref().expect("resp session").login.user().name();
            self.log_refusal(reason, object, Bytes::copy_from_slice(user));
        }
        self.refuse(is_exec, denied.to_string().as_bytes(), out);
    }

    /// AUTH and HELLO AUTH (`command`, as it goes into the ACL log); a wrong password is
    /// counted and logged.
    fn authenticate(
        &mut self,
        command: &'static str,
        user: Option<&[u8]>,
        password: &[u8],
    ) -> Result<(), &'static str> {
        let state = self.resp.as_deref_mut().expect("resp session");
        let done = state.login.authenticate(&self.ctx.acl, user, password, self.id);
        if done.is_err() {
            add(&self.ctx.stats.acl_denied_auth, 1);
            let user = Bytes::copy_from_slice(user.unwrap_or(acl::DEFAULT_USER.as_bytes()));
            self.log_refusal(acl::LogReason::Auth, Bytes::from_static(command.as_bytes()), user);
        }
        done
    }

    /// Puts a refusal into the ACL log, with this connection's `CLIENT LIST` line.
    fn log_refusal(&mut self, reason: acl::LogReason, object: Bytes, user: Bytes) {
        let state = self.resp.as_deref().expect("resp session");
        let in_multi = state.multi.is_some() || state.executing;
        self.publish_state();
        let mut info = String::new();
        self.client.list_line(&mut info);
        let info = info.trim_end().to_string();
        let (secs, micros) = self.ctx.unix_time();
        let now_ms = secs * 1000 + u64::from(micros) / 1000;
        self.ctx.acl.log.add(reason, in_multi, object, user, info, now_ms);
    }

    fn acl_command(&mut self, sub: AclCommand) -> Frame {
        let acl = &self.ctx.acl;
        let changed = match sub {
            AclCommand::WhoAmI => {
                let state = self.resp.as_deref().expect("resp session");
                return Frame::Bulk(Bytes::copy_from_slice(state.login.user().name()));
            }
            AclCommand::List => {
                return Frame::Array(
                    acl.list().into_iter().map(|l| Frame::Bulk(l.into())).collect(),
                )
            }
            AclCommand::Users => {
                return Frame::Array(acl.names().into_iter().map(Frame::Bulk).collect())
            }
            AclCommand::Cat(category) => {
                return match acl::category(category.as_deref()) {
                    Ok(names) => Frame::Array(names.into_iter().map(Frame::bulk).collect()),
                    Err(msg) => Frame::Error(msg),
                }
            }
            AclCommand::SetUser { name, rules } => {
                acl.set_user(&name, &rules).map_err(Frame::Error)
            }
            AclCommand::GetUser(name) => {
                return acl.get(&name).map_or(Frame::Null, |u| getuser(&u))
            }
            AclCommand::DryRun { name, args } => return dry_run(acl, &name, args),
            AclCommand::Save => {
                return match acl.save() {
                    Ok(()) => Frame::Simple("OK".into()),
                    Err(err) => {
                        if let acl::AclError::Write { path, source } = &err {
                            tracing::warn!("ACL SAVE: cannot write {}: {source}", path.display());
                        }
                        Frame::Error(format!("ERR {err}"))
                    }
                }
            }
            AclCommand::Help => return help("ACL", ACL_HELP),
            AclCommand::GenPass(bits) => return generate_password(bits),
            AclCommand::Log(arg) => return self.acl_log(arg.as_deref()),
            AclCommand::DelUser(_) => unreachable!("run() handles ACL DELUSER"),
            AclCommand::Load => acl.load().map_err(|e| Frame::Error(format!("ERR {e}"))),
        };
        match changed {
            Ok(change) => {
                tracing::info!(conn = self.id, "users changed: {change:?}");
                // Every connection looks at its user again: those subscribed to what their
                // user lost end (see `acl_revoked`).
                self.ctx.wake_all();
                Frame::Simple("OK".into())
            }
            Err(reply) => reply,
        }
    }

    /// `ACL LOG [count | RESET]`: the newest entries (10 by default), each a map of Redis
    /// 7.2's fields in its order, or `+OK` after forgetting them.
    fn acl_log(&self, arg: Option<&[u8]>) -> Frame {
        let log = &self.ctx.acl.log;
        let count = match arg {
            None => 10,
            Some(a) if a.eq_ignore_ascii_case(b"reset") => {
                log.reset();
                return Frame::Simple("OK".into());
            }
            Some(a) => match shared::command::parse_integer(a) {
                Some(n) => usize::try_from(n).unwrap_or(0),
                None => return Frame::Error(CommandError::NotAnInteger.to_string()),
            },
        };
        let (secs, micros) = self.ctx.unix_time();
        let now_ms = secs * 1000 + u64::from(micros) / 1000;
        let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
        let entries = log.newest(count).into_iter().map(|e| {
            let age = now_ms.saturating_sub(e.updated_ms) as f64 / 1000.0;
            Frame::Map(vec![
                pair("count", Frame::Integer(e.count as i64)),
                pair("reason", Frame::bulk(e.reason.word())),
                pair("context", Frame::bulk(e.context)),
                pair("object", Frame::Bulk(e.object)),
                pair("username", Frame::Bulk(e.username)),
                pair("age-seconds", Frame::Double(age.to_string())),
                pair("client-info", Frame::Bulk(e.client_info.into())),
                pair("entry-id", Frame::Integer(e.entry_id as i64)),
                pair("timestamp-created", Frame::Integer(e.created_ms as i64)),
                pair("timestamp-last-updated", Frame::Integer(e.updated_ms as i64)),
            ])
        });
        Frame::Array(entries.collect())
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

/// `ACL GETUSER`'s reply: a map in RESP3 (the flags a set), a flat array of names and values
/// in RESP2, with Redis 7's fields in its order.
fn getuser(user: &acl::User) -> Frame {
    let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
    Frame::Map(vec![
        pair("flags", Frame::Set(user.flags().into_iter().map(Frame::bulk).collect())),
        pair(
            "passwords",
            Frame::Array(user.password_digests().into_iter().map(Frame::bulk).collect()),
        ),
        pair("commands", Frame::bulk(user.command_rules_text())),
        pair("keys", Frame::bulk(user.keys_text())),
        pair("channels", Frame::bulk(user.channels_text())),
        pair("selectors", Frame::Array(Vec::new())),
    ])
}

/// `ACL DRYRUN name command [arg ...]`: `+OK` if the user may run the command, else a bulk
/// string saying why (naming the command or the channel), Redis's texts. The command is
/// checked as Redis checks it: it must exist, with its table arity.
fn dry_run(acl: &acl::Acl, name: &[u8], args: Vec<Bytes>) -> Frame {
    let Some(user) = acl.get(name) else {
        return Frame::Error(format!("ERR User '{}' not found", String::from_utf8_lossy(name)));
    };
    let first = String::from_utf8_lossy(&args[0]).into_owned();
    let refusal = match Command::parse(args) {
        Ok(cmd) => user.permits(&cmd).err().map(|r| r.dry_run_text()),
        Err(CommandError::Unknown { .. } | CommandError::UnknownSubcommand { .. }) => {
            return Frame::Error(format!("ERR Command '{first}' not found"));
        }
        // The commands whose argument count Redis checks only when running them.
        Err(err) => match acl::permission_first(&err) {
            Some(name) => {
                (!user.command_allowed(name)).then(|| Refusal::Command(name).dry_run_text())
            }
            None => return Frame::Error(String::from_utf8_lossy(&err.to_bytes()).into_owned()),
        },
    };
    refusal.map_or(Frame::Simple("OK".into()), |text| Frame::Bulk(text.into()))
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

/// Reads `CLIENT LIST`'s filters (`kill` false: `TYPE`, `ID`) or `CLIENT KILL`'s (`kill`
/// true: `ID`, `ADDR`, `LADDR`, `TYPE`, `SKIPME`, `MAXAGE`), with Redis's errors.
fn parse_filter(args: &[Bytes], kill: bool) -> Result<Filter, String> {
    let mut filter = Filter { skip_me: kill, ..Filter::default() };
    let syntax = || "ERR syntax error".to_string();
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let mut i = 0;
    while i < args.len() {
        let option = text(&args[i]).to_ascii_lowercase();
        if !kill && option == "id" {
            let ids: Option<Vec<u64>> =
                args[i + 1..].iter().map(|a| text(a).parse().ok().filter(|&n| n > 0)).collect();
            match ids {
                Some(ids) if !ids.is_empty() => filter.ids = Some(ids),
                _ => return Err("ERR Invalid client ID".into()),
            }
            break;
        }
        let Some(value) = args.get(i + 1) else { return Err(syntax()) };
        match option.as_str() {
            "type" => {
                filter.pubsub = match text(value).to_ascii_lowercase().as_str() {
                    "normal" => Some(false),
                    "pubsub" => Some(true),
                    // No replicas and no primary here: nothing is of those types.
                    "master" | "replica" | "slave" => {
                        filter.ids = Some(Vec::new());
                        None
                    }
                    _ => return Err(format!("ERR Unknown client type '{}'", clean(value))),
                }
            }
            "id" if kill => match text(value).parse::<u64>() {
                Ok(id) if id > 0 => filter.ids = Some(vec![id]),
                _ => return Err("ERR client-id should be greater than 0".into()),
            },
            "addr" if kill => filter.addr = Some(text(value)),
            "laddr" if kill => filter.laddr = Some(text(value)),
            "maxage" if kill => {
                filter.max_age = Some(text(value).parse().map_err(|_| syntax())?);
            }
            "skipme" if kill => {
                filter.skip_me = match text(value).to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(syntax()),
                }
            }
            _ => return Err(syntax()),
        }
        i += 2;
    }
    Ok(filter)
}

/// `b` as text for an error line: CR, LF and NUL become spaces.
fn clean(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n', '\0'], " ")
}

/// A container command's `HELP`: Redis's layout (a header, then each subcommand and its
/// explanation, then HELP itself), one status line each.
fn help(container: &str, lines: &[&str]) -> Frame {
    let mut out =
        vec![format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")];
    out.extend(lines.iter().map(|l| l.to_string()));
    out.extend(["HELP".to_string(), "    Print this help.".to_string()]);
    Frame::Array(out.into_iter().map(Frame::Simple).collect())
}

const CLIENT_HELP: &[&str] = &[
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID <client-id>, ADDR <ip:port>, LADDR <ip:port>,",
    "    TYPE (NORMAL|PUBSUB|MASTER|REPLICA), SKIPME (YES|NO) (default YES),",
    "    MAXAGE <seconds>.",
    "LIST [TYPE (NORMAL|PUBSUB|MASTER|REPLICA)] [ID <client-id> ...]",
    "    Return information about client connections.",
    "NO-EVICT (ON|OFF)",
    "    Mark the connection as exempt from eviction (nothing is evicted here).",
    "NO-TOUCH (ON|OFF)",
    "    Mark the connection as not touching keys (there are no keys here).",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set the client library's name or version, shown by CLIENT LIST.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
];

/// `ACL GENPASS`: `bits` random bits from the kernel's generator, as Redis prints them: a
/// hexadecimal digit per 4 bits, rounded up.
fn generate_password(bits: u32) -> Frame {
    let mut random = vec![0u8; bits.div_ceil(8) as usize];
    let mut filled = 0;
    while filled < random.len() {
        let rest = &mut random[filled..];
        // SAFETY: writes at most `rest.len()` bytes into `rest`, which is valid for them.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("ACL GENPASS: no random bytes: {e}");
            return Frame::Error(format!("ERR cannot generate a password: {e}"));
        }
        filled += n as usize;
    }
    let mut hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(bits.div_ceil(4) as usize);
    Frame::Bulk(hex.into())
}

const ACL_HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

const CONFIG_HELP: &[&str] = &[
    "GET <pattern> [<pattern> ...]",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value> [<directive> <value> ...]",
    "    Set the configuration <directive> to <value> (timeout, maxclients,",
    "    client-output-buffer-limit).",
    "RESETSTAT",
    "    Reset the statistics reported by the INFO command.",
];

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

const COMMAND_HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all commands (an empty list here).",
    "COUNT",
    "    Return the total number of commands (0 here).",
];
