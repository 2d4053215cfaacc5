//! One connection's protocol state, with no I/O: bytes in, replies out, exchange calls.
//!
//! The connection's [`Driver`](crate::driver::Driver) owns its [`Session`] and calls it with the
//! bytes it read ([`Session::on_bytes`], [`Session::resume`]), to take messages from the
//! mailbox ([`Session::take_mail`]) and with the news that its output went out in full
//! ([`Session::on_flushed`]). Each call appends to the driver's output buffer and says whether
//! the connection stays open. Requests stop running once the output reaches the bound the
//! driver gives; the rest of the input waits unparsed. Dropping the session leaves every
//! subscription and accounts for every message it never wrote.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use shared::command::{subscribed_context_error, AclCommand, ClientCommand, Command};
use shared::resp::{encode_bulk, encode_integer};
use shared::{Frame, RequestParser, RespVersion};

use crate::acl::{self, Denied, Login, Refresh};
use crate::exchange::SubscriptionSet;
use crate::mailbox::{Drained, Mailbox};
use crate::stats::add;
use crate::{Protocol, ServerContext};

/// What the backend should do with the connection after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Keep serving it.
    Open,
    /// Write what is in the output buffer, then close it (QUIT, protocol error, shutdown).
    Close,
    /// Close it now without writing more (a slow consumer past its output limit).
    Abort,
}

/// The protocol state of one connection.
pub struct Session {
    ctx: Arc<ServerContext>,
    /// This connection's id, unique for the server's lifetime.
    id: u64,
    /// The connection came in on the TLS port: its driver runs TLS under the session.
    tls: bool,
    mailbox: Arc<Mailbox>,
    /// Messages moved from the mailbox into the caller's output buffer and not yet written.
    unflushed_messages: u64,
    /// Requests run so far.
    requests: u64,
    /// Message handles taken from the mailbox, on their way into the output buffer (kept
    /// empty between calls; swapped with the mailbox's queue when a drain takes everything).
    taken: VecDeque<Bytes>,
    /// `None` for the raw echo protocol.
    resp: Option<Box<RespState>>,
}

struct RespState {
    parser: RequestParser,
    /// Bytes read but not yet parsed into a whole request.
    input: BytesMut,
    version: RespVersion,
    /// The channels and patterns subscribed to, each an owned copy of its name.
    channels: SubscriptionSet,
    patterns: SubscriptionSet,
    name: Option<Bytes>,
    /// The user it runs as, and whether it has authenticated.
    login: Login,
    /// Set by QUIT or a protocol error: later input is ignored.
    closing: bool,
    /// Set when requests stopped running because the output reached its bound while `input`
    /// still held bytes: [`Session::resume`] runs them.
    stalled: bool,
}

/// What [`Session::take_mail`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mail {
    /// Messages were moved into the output (possibly none); `more` is true if and only if the
    /// mailbox still holds some.
    Taken { more: bool },
    /// The subscriber passed its output limit (counted and logged): close it at once.
    Overflowed,
}

impl Session {
    /// A session for connection `id`, whose messages arrive through `mailbox`.
    pub fn new(ctx: Arc<ServerContext>, id: u64, mailbox: Arc<Mailbox>, tls: bool) -> Session {
        let resp = (ctx.config.protocol == Protocol::Resp).then(|| {
            Box::new(RespState {
                parser: RequestParser::new(ctx.config.limits),
                input: BytesMut::new(),
                version: RespVersion::Resp2,
                channels: SubscriptionSet::default(),
                patterns: SubscriptionSet::default(),
                name: None,
                login: Login::new(&ctx.acl),
                closing: false,
                stalled: false,
            })
        });
        Session {
            ctx,
            id,
            tls,
            mailbox,
            unflushed_messages: 0,
            requests: 0,
            taken: VecDeque::new(),
            resp,
        }
    }

    /// This connection's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Returns true if and only if the connection came in on the TLS port.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// Handles bytes read from the peer: runs the whole requests among them (and any still
    /// waiting) while `out` is shorter than `stop_at`, appending their replies to `out`. What
    /// is left waits unparsed for [`Session::resume`].
    pub fn on_bytes(&mut self, input: &[u8], out: &mut Vec<u8>, stop_at: usize) -> Status {
        add(&self.ctx.stats.bytes_in, input.len() as u64);
        let Some(state) = self.resp.as_deref_mut() else {
            out.extend_from_slice(input); // the echo protocol
            return Status::Open;
        };
        if state.closing {
            return Status::Close;
        }
        state.input.extend_from_slice(input);
        self.resume(out, stop_at)
    }

    /// Runs the requests left waiting by an earlier call, while `out` is shorter than
    /// `stop_at`.
    pub fn resume(&mut self, out: &mut Vec<u8>, stop_at: usize) -> Status {
        let Some(state) = self.resp.as_deref_mut() else { return Status::Open };
        state.stalled = false;
        if state.closing {
            return Status::Close;
        }
        loop {
            let state = self.resp.as_deref_mut().expect("resp session");
            if out.len() >= stop_at {
                // Enough output for now: the peer must read some before more requests run.
                state.stalled = !state.input.is_empty();
                return Status::Open;
            }
            match state.parser.next_request(&mut state.input) {
                Ok(Some(args)) => match self.execute(args, out) {
                    Status::Open => {}
                    done => return done,
                },
                Ok(None) => return Status::Open,
                Err(err) => {
                    tracing::debug!(conn = self.id, "protocol error: {err}");
                    error(out, &format!("ERR {err}"));
                    state.closing = true;
                    return Status::Close;
                }
            }
        }
    }

    /// How many requests this session has run.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Returns true if and only if requests wait unparsed because the output reached its
    /// bound: [`Session::resume`] must run before more input is read.
    pub fn stalled(&self) -> bool {
        self.resp.as_deref().is_some_and(|s| s.stalled)
    }

    /// Returns true if and only if part of a request has arrived and the rest has not (the
    /// clock of `--timeout` runs on it even while bytes trickle in).
    pub fn has_partial_request(&self) -> bool {
        self.resp.as_deref().is_some_and(|s| {
            !s.closing && !s.stalled && (!s.input.is_empty() || s.parser.in_request())
        })
    }

    /// Moves messages from the mailbox into `out`, at least `budget` bytes of them when there
    /// are that many. `Overflowed` (nothing moved) when this subscriber passed its limit.
    pub fn take_mail(&mut self, out: &mut Vec<u8>, budget: usize) -> Mail {
        let mail = self.move_mail(out, budget);
        if mail == Mail::Overflowed {
            add(&self.ctx.stats.slow_consumers, 1);
            tracing::warn!(
                conn = self.id,
                limit = self.ctx.config.client_output_buffer_limit,
                "slow subscriber disconnected: output buffer limit reached"
            );
        }
        mail
    }

    /// [`Session::take_mail`] without acting on an overflow.
    fn move_mail(&mut self, out: &mut Vec<u8>, budget: usize) -> Mail {
        let Drained::Moved { messages, more } = self.mailbox.drain(&mut self.taken, budget) else {
            return Mail::Overflowed;
        };
        self.unflushed_messages += messages as u64;
        out.reserve(self.taken.iter().map(Bytes::len).sum());
        for message in self.taken.drain(..) {
            out.extend_from_slice(&message);
        }
        if self.taken.capacity() > 64 {
            self.taken = VecDeque::new(); // a burst passed: do not keep its memory
        }
        Mail::Taken { more }
    }

    /// Returns true if and only if this subscriber passed its output limit: the next
    /// [`Session::take_mail`] says `Overflowed`.
    pub fn overflowed(&self) -> bool {
        self.mailbox.overflowed()
    }

    /// Tells the mailbox how many bytes of output the connection holds unwritten: they count
    /// against the output limit together with the queued messages.
    pub fn set_output_held(&self, bytes: usize) {
        self.mailbox.set_held(bytes);
    }

    /// Returns true if and only if the connection subscribes to a channel or pattern (such
    /// connections are exempt from the idle timeout).
    pub fn is_subscribed(&self) -> bool {
        self.resp.as_deref().is_some_and(|s| !s.channels.is_empty() || !s.patterns.is_empty())
    }

    /// When the connection times out for idleness if the peer sends nothing more, given when
    /// it last sent something: `None` if it never does (no `--timeout`, or it subscribes, like
    /// Redis's `timeout`). Time is passed in: the session reads no clock.
    pub fn idle_deadline(&self, last_input: Instant) -> Option<Instant> {
        self.ctx.config.idle_timeout.filter(|_| !self.is_subscribed()).map(|t| last_input + t)
    }

    /// How often a backend that sweeps for idle connections should look: every quarter of
    /// `--timeout` (or of the TLS handshake timeout, with a TLS port, if shorter), so a
    /// connection closes between 1 and 1.25 timeouts idle.
    pub fn idle_sweep_period(ctx: &ServerContext) -> Option<Duration> {
        let handshake = ctx.config.tls_port.map(|_| ctx.config.tls_handshake_timeout);
        let shortest = ctx.config.idle_timeout.into_iter().chain(handshake).min();
        shortest.map(|t| (t / 4).max(Duration::from_millis(10)))
    }

    /// Tells the session that everything it put in the output buffer was written.
    pub fn on_flushed(&mut self) {
        add(&self.ctx.stats.delivered, std::mem::take(&mut self.unflushed_messages));
    }

    /// Runs one request.
    fn execute(&mut self, args: Vec<Bytes>, out: &mut Vec<u8>) -> Status {
        add(&self.ctx.stats.commands, 1);
        self.requests += 1;
        let state = self.resp.as_deref_mut().expect("resp session");
        let version = state.version;
        let subscribed = !state.channels.is_empty() || !state.patterns.is_empty();
        let cmd = match Command::parse(args) {
            Ok(cmd) => cmd,
            Err(err) => {
                match state.login.gate_malformed(&err) {
                    Some(denied) => self.deny(denied, out),
                    None => error(out, &err.to_string()),
                }
                return Status::Open;
            }
        };
        if !self.acl_keeps() {
            return Status::Abort;
        }
        let state = self.resp.as_deref_mut().expect("resp session");
        if let Err(denied) = state.login.gate(&cmd) {
            self.deny(denied, out);
            return Status::Open;
        }
        if subscribed && version == RespVersion::Resp2 && !cmd.allowed_when_subscribed() {
            error(out, &subscribed_context_error(cmd.full_name()));
            return Status::Open;
        }
        let reply = match cmd {
            Command::Ping(msg) if subscribed && version == RespVersion::Resp2 => {
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
                let stats = &self.ctx.stats;
                add(&stats.published, 1);
                add(&stats.published_receivers, published.receivers as u64);
                add(&stats.dropped, published.dropped as u64);
                if subscribed {
                    // A RESP3 subscriber publishing to itself gets the message before the
                    // reply, as from Redis.
                    self.drain_before_change(out);
                }
                encode_integer(out, published.receivers as i64);
                return Status::Open;
            }
            Command::Subscribe(channels) => return self.subscribe(Kind::Channel, channels, out),
            Command::PSubscribe(patterns) => return self.subscribe(Kind::Pattern, patterns, out),
            Command::Unsubscribe(channels) => {
                return self.unsubscribe(Kind::Channel, channels, out)
            }
            Command::PUnsubscribe(patterns) => {
                return self.unsubscribe(Kind::Pattern, patterns, out)
            }
            Command::PubsubChannels(pattern) => Frame::Array(
                self.ctx
                    .exchange
                    .channels(pattern.as_deref())
                    .into_iter()
                    .map(Frame::Bulk)
                    .collect(),
            ),
            // A flat array even in RESP3, as from Redis (clients slice it in pairs).
            Command::PubsubNumsub(channels) => {
                let counts = self.ctx.exchange.numsub(&channels);
                Frame::Array(
                    channels
                        .into_iter()
                        .zip(counts)
                        .flat_map(|(c, n)| [Frame::Bulk(c), Frame::Integer(n as i64)])
                        .collect(),
                )
            }
            Command::PubsubNumpat => Frame::Integer(self.ctx.exchange.numpat() as i64),
            Command::Hello { version: asked, name, auth } => {
                if let Some((user, password)) = auth {
                    if let Err(msg) = self.authenticate(Some(&user), &password) {
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
                    match self.authenticate(user.as_deref(), &password) {
                        Ok(()) => Frame::Simple("OK".into()),
                        Err(msg) => Frame::Error(msg.into()),
                    }
                }
            }
            Command::Acl(sub) => self.acl_command(sub),
            Command::Client(ClientCommand::SetInfo) => Frame::Simple("OK".into()),
            Command::Client(ClientCommand::SetName(name)) => match set_name(state, name) {
                Ok(()) => Frame::Simple("OK".into()),
                Err(msg) => Frame::Error(msg.into()),
            },
            Command::Client(ClientCommand::GetName) => {
                state.name.clone().map_or(Frame::Null, Frame::Bulk)
            }
            Command::Client(ClientCommand::Id) => Frame::Integer(self.id as i64),
            // No parameters to show: an empty map lets redis-benchmark and friends go on.
            Command::ConfigGet(_) => Frame::Map(Vec::new()),
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
            Command::Reset => {
                // Left first, then drained: nothing for the old subscriptions follows the reply.
                self.leave_all();
                self.drain_before_change(out);
                let state = self.resp.as_deref_mut().expect("resp session");
                state.version = RespVersion::Resp2;
                state.name = None;
                state.login.reset(&self.ctx.acl);
                self.mailbox.set_version(RespVersion::Resp2);
                Frame::Simple("RESET".into())
            }
        };
        let version = self.resp.as_deref().expect("resp session").version;
        reply.encode(version, out);
        Status::Open
    }

    /// Refuses a command the login does not allow, and counts it.
    fn deny(&self, denied: Denied, out: &mut Vec<u8>) {
        let counter = match denied {
            Denied::NoAuth => &self.ctx.stats.acl_denied_auth,
            Denied::Command(_) => &self.ctx.stats.acl_denied_command,
            Denied::Channel => &self.ctx.stats.acl_denied_channel,
        };
        add(counter, 1);
        error(out, &denied.to_string());
    }

    /// AUTH and HELLO AUTH; a wrong password is counted.
    fn authenticate(&mut self, user: Option<&[u8]>, password: &[u8]) -> Result<(), &'static str> {
        let state = self.resp.as_deref_mut().expect("resp session");
        let done = state.login.authenticate(&self.ctx.acl, user, password, self.id);
        if done.is_err() {
            add(&self.ctx.stats.acl_denied_auth, 1);
        }
        done
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

    /// Takes the connection's user anew after the users changed; returns false if and only
    /// if the connection must end: its user is gone, or no longer allows a channel or
    /// pattern it subscribes to (Redis 7 disconnects such subscribers).
    fn acl_keeps(&mut self) -> bool {
        let Some(state) = self.resp.as_deref_mut() else { return true };
        let keeps = match state.login.refresh(&self.ctx.acl) {
            Refresh::Same => return true,
            Refresh::Changed => state
                .login
                .user()
                .keeps_subscriptions(state.channels.names(), state.patterns.names()),
            Refresh::Gone => false,
        };
        if keeps {
            return true;
        }
        let user = String::from_utf8_lossy(state.login.user().name()).into_owned();
        tracing::info!(
            conn = self.id,
            user,
            "disconnected: its user lost access to a subscription"
        );
        false
    }

    /// Returns true if and only if the connection must end now because its user changed (see
    /// `acl_keeps`); the driver asks at every mailbox wake-up, which a change of users sends.
    pub fn acl_revoked(&mut self) -> bool {
        !self.acl_keeps()
    }

    fn hello_reply(&self) -> Frame {
        let state = self.resp.as_deref().expect("resp session");
        let proto = if state.version == RespVersion::Resp3 { 3 } else { 2 };
        let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
        Frame::Map(vec![
            pair("server", Frame::bulk("switchboard")),
            pair("version", Frame::bulk(env!("CARGO_PKG_VERSION"))),
            pair("proto", Frame::Integer(proto)),
            pair("id", Frame::Integer(self.id as i64)),
            pair("mode", Frame::bulk("standalone")),
            pair("role", Frame::bulk("master")),
            pair("modules", Frame::Array(Vec::new())),
        ])
    }

    /// Messages published before a subscription change (or a PUBLISH reply) must reach the
    /// client before that reply, as they would from Redis: move them into `out` first.
    fn drain_before_change(&mut self, out: &mut Vec<u8>) {
        // An overflow is acted on at the next mailbox wake-up, which the overflow triggered.
        let _ = self.move_mail(out, usize::MAX);
    }

    fn subscribe(&mut self, kind: Kind, names: Vec<Bytes>, out: &mut Vec<u8>) -> Status {
        self.drain_before_change(out);
        let state = self.resp.as_deref_mut().expect("resp session");
        let (version, before) = (state.version, state.channels.len() + state.patterns.len());
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
            Kind::Channel => self.ctx.exchange.subscribe(&self.mailbox, &fresh),
            Kind::Pattern => self.ctx.exchange.psubscribe(&self.mailbox, &fresh),
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
        let mut count = state.channels.len() + state.patterns.len();
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

    /// Leaves every channel and pattern without replying (RESET, shutdown, the end). Once it
    /// returns nothing more for them reaches the mailbox; what it holds already stays.
    pub fn leave_all(&mut self) {
        let Some(state) = self.resp.as_deref_mut() else { return };
        let channels = state.channels.take_all();
        let patterns = state.patterns.take_all();
        // Each takes no lock when given nothing: a connection without patterns leaves without
        // touching the pattern table.
        self.ctx.exchange.unsubscribe(&channels);
        self.ctx.exchange.punsubscribe(&patterns);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.leave_all();
        // Whatever was never written is dropped, and counted as such.
        let lost = self.unflushed_messages + self.mailbox.close() as u64;
        add(&self.ctx.stats.dropped, lost);
        self.ctx.close_session(self.id);
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Channel,
    Pattern,
}

impl Kind {
    fn set(self, state: &mut RespState) -> &mut SubscriptionSet {
        match self {
            Kind::Channel => &mut state.channels,
            Kind::Pattern => &mut state.patterns,
        }
    }

    fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
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

/// Appends an error reply; `text` starts with the error code (`ERR ...`).
fn error(out: &mut Vec<u8>, text: &str) {
    out.push(b'-');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Sets the connection name like `CLIENT SETNAME`; an empty name clears it.
fn set_name(state: &mut RespState, name: Bytes) -> Result<(), &'static str> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    state.name = (!name.is_empty()).then_some(name);
    Ok(())
}

/// The fuzzing harness: random and mutated request streams, cut into random reads, through a
/// whole Session (parser, commands, exchange, mailbox). It must never panic, and what it
/// buffers must stay within the protocol limits. `PROPTEST_CASES` raises the case count.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::driver::Driver;
    use crate::mailbox::Wake;
    use crate::Config;
    use proptest::prelude::*;
    use shared::resp::encode_command;
    use shared::Limits;

    struct NoWake;
    impl Wake for NoWake {
        fn wake(&self) {}
    }

    const LIMITS: Limits = Limits { max_inline_len: 256, max_bulk_len: 512, max_args: 16 };

    fn context() -> Arc<ServerContext> {
        let config =
            Config { limits: LIMITS, client_output_buffer_limit: 4096, ..Config::default() };
        Arc::new(ServerContext::new(config, "127.0.0.1:0".parse().unwrap()))
    }

    /// Feeds `input` to two connections sharing one server, each a [`Driver`] around its
    /// session, in reads of the given sizes, and checks the invariants after every read.
    fn run(input: &[u8], cuts: &[usize]) {
        let ctx = context();
        let now = std::time::Instant::now();
        let open =
            || Driver::new(ctx.open_session_unchecked(Arc::new(NoWake)).unwrap(), ctx.clone(), now);
        let mut conns: Vec<Driver> = (0..2).map(|_| open()).collect();
        let mut rest = input;
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts.get(i).copied().unwrap_or(rest.len()).clamp(1, rest.len());
            let conn = &mut conns[i % 2];
            conn.handle_read(&rest[..n], now);
            conn.handle_mail();
            // The peer reads everything.
            while !conn.poll_output().is_empty() {
                let n = conn.poll_output().len();
                conn.handle_written(n);
            }
            // Whatever an open session keeps after a read is one partial request: at most a
            // header line and one bulk body. (A closing session stops parsing; its input is
            // thrown away with it.)
            let session = conn.session();
            let buffered = session.resp.as_ref().map_or(0, |s| s.input.len());
            if !conn.is_done() && session.resp.as_ref().is_some_and(|s| !s.closing) {
                assert!(buffered <= LIMITS.max_inline_len + LIMITS.max_bulk_len + 64, "{buffered}");
                assert!(!session.stalled(), "with the output written, nothing waits");
            } else {
                conns[i % 2] = open();
            }
            rest = &rest[n..];
            i += 1;
        }
        drop(conns);
        let s = &ctx.stats;
        assert_eq!(
            crate::stats::get(&s.published_receivers),
            crate::stats::get(&s.delivered) + crate::stats::get(&s.dropped)
        );
        assert_eq!(ctx.connected(), 0);
        assert!(ctx.exchange.channels(None).is_empty());
        assert_eq!((ctx.exchange.channel_count(), ctx.exchange.numpat()), (0, 0));
    }

    /// Words that make commands the server knows, so random streams reach deep states.
    fn word() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => prop::sample::select(vec![
                "PING", "ECHO", "QUIT", "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE",
                "PUBLISH", "PUBSUB", "CHANNELS", "NUMSUB", "NUMPAT", "HELLO", "3", "2", "CLIENT",
                "SETNAME", "CONFIG", "GET", "COMMAND", "INFO", "RESET", "a", "*", "a*", "[a-",
                "AUTH", "ACL", "WHOAMI", "SETUSER", "LIST", "USERS", "CAT", "default", "on",
                "off", "nopass", ">a", "&a*", "resetchannels", "-@all",
            ])
            .prop_map(|w| w.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ]
    }

    fn commands() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::collection::vec(word(), 1..5), 1..20).prop_map(|cmds| {
            let mut out = Vec::new();
            for cmd in cmds {
                encode_command(&mut out, &cmd);
            }
            out
        })
    }

    /// Valid streams with a few bytes flipped, inserted or removed.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        (commands(), prop::collection::vec((any::<usize>(), any::<u8>(), 0..3u8), 0..6)).prop_map(
            |(mut bytes, edits)| {
                for (at, byte, kind) in edits {
                    let at = at % (bytes.len() + 1);
                    match kind {
                        0 if at < bytes.len() => bytes[at] = byte,
                        1 => bytes.insert(at, byte),
                        _ if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        _ => {}
                    }
                }
                bytes
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
        ))]

        #[test]
        fn random_bytes(input in prop::collection::vec(any::<u8>(), 0..600), cuts in prop::collection::vec(1..64usize, 0..20)) {
            run(&input, &cuts);
        }

        #[test]
        fn valid_commands(input in commands(), cuts in prop::collection::vec(1..64usize, 0..20)) {
            run(&input, &cuts);
        }

        #[test]
        fn mutated_commands(input in mutated(), cuts in prop::collection::vec(1..64usize, 0..20)) {
            run(&input, &cuts);
        }
    }

    /// The nastiest inputs found so far, kept as files so they run on every test.
    #[test]
    fn corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let input = std::fs::read(entry.unwrap().path()).unwrap();
            for cut in [1, 2, 3, 7, 64, usize::MAX] {
                run(&input, &vec![cut; input.len()]);
            }
            count += 1;
        }
        assert!(count >= 10, "corpus at {} has only {count} inputs", dir.display());
    }
}
