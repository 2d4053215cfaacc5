//! One connection's protocol state, with no I/O: bytes in, replies out, exchange calls.
//!
//! The connection's [`Driver`](crate::driver::Driver) owns its [`Session`] and calls it with the
//! bytes it read ([`Session::on_bytes`], [`Session::resume`]), to take messages from the
//! mailbox ([`Session::take_mail`]) and with the news that its output went out in full
//! ([`Session::on_flushed`]). Each call appends to the driver's output buffer and says whether
//! the connection stays open. Requests stop running once the output reaches the bound the
//! driver gives; the rest of the input waits unparsed. Dropping the session leaves every
//! subscription and accounts for every message it never wrote.

#[cfg(test)]
mod budget;
mod commands;
#[cfg(test)]
mod fuzz;
mod subscriptions;
mod tracking;
mod transaction;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use shared::{RequestParser, RespVersion};

use shared::resp::encode_error;

use crate::acl::{Login, Refresh};
use crate::clients::{narrow, ClientEntry, ClientState, Names};
use crate::errors::ReplyError;
use crate::mailbox::{Drained, Letter, Overflow};
use crate::stats::add;
use crate::{Protocol, ServerContext};
use subscriptions::SubscriptionSet;

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
    /// This connection's entry in the server's registry (what `CLIENT LIST` shows), and its
    /// mailbox.
    client: Arc<ClientEntry>,
    /// Messages moved from the mailbox into the caller's output buffer and not yet written.
    unflushed_messages: u64,
    /// Requests run so far.
    requests: u64,
    /// The mail on its way out: `None` until the first message arrives (most connections
    /// never get one; idle memory is budgeted, see [`RespState`]).
    in_flight: Option<Box<InFlight>>,
    /// `None` for the raw echo protocol.
    resp: Option<Box<RespState>>,
}

/// A connection's messages on their way out, made when the first one arrives.
#[derive(Default)]
struct InFlight {
    /// Message handles taken from the mailbox, on their way into the output buffer (kept
    /// empty between calls; swapped with the mailbox's queue when a drain takes everything).
    taken: VecDeque<Letter>,
    /// The messages in the output not yet written: where each ends in the driver's output
    /// buffer, and when it was published (the delivery clock). As long as the messages
    /// in the output, never longer.
    stamps: VecDeque<(usize, Instant)>,
}

/// What every RESP connection uses, kept in line; what few use is in [`Rare`], made on first
/// use. Idle memory per connection is budgeted (ARCHITECTURE.md "What an idle connection
/// costs", guarded by a `size_of` test): new state that most connections never use goes into
/// [`Rare`], not here.
struct RespState {
    parser: RequestParser,
    /// Bytes read but not yet parsed into a whole request.
    input: BytesMut,
    /// The user it runs as, and whether it has authenticated.
    login: Login,
    /// The last command run, as Redis names it.
    last_cmd: &'static str,
    /// `None` until something seldom used is first set (subscriptions, names, MULTI).
    rare: Option<Box<Rare>>,
    version: RespVersion,
    /// The database SELECT chose (reported by CLIENT LIST; pub/sub ignores it, as Redis's).
    db: u8,
    /// `CLIENT REPLY OFF`: replies are not sent.
    reply_off: bool,
    /// `CLIENT REPLY SKIP` ran: the next command's reply is not sent (`skip_next` moves to
    /// `skip_this` after each command).
    skip_next: bool,
    skip_this: bool,
    /// Set by QUIT or a protocol error: later input is ignored.
    closing: bool,
    /// Set when requests stopped running because the output reached its bound while `input`
    /// still held bytes: [`Session::resume`] runs them.
    stalled: bool,
}

/// The part of a RESP connection's state that most connections never use, made by
/// [`RespState::rare_mut`] the first time something in it is set and kept from then on (no
/// allocation churn for a subscriber or a MULTI user). Put seldom-used session state here.
#[derive(Default)]
struct Rare {
    /// The channels and patterns subscribed to, each an owned copy of its name.
    channels: SubscriptionSet,
    patterns: SubscriptionSet,
    /// The shard channels (SSUBSCRIBE), counted apart from the others as Redis does.
    shard_channels: SubscriptionSet,
    /// `CLIENT SETNAME`'s and `CLIENT SETINFO`'s values, shared with the registry's snapshot.
    names: Option<Arc<Names>>,
    /// The transaction MULTI opened, until EXEC or DISCARD.
    multi: Option<transaction::Transaction>,
    /// `CLIENT TRACKING`'s settings, only while tracking is on (shown to the registry through
    /// `names`).
    tracking: Option<Box<tracking::Tracking>>,
    /// `CLIENT NO-EVICT` and `CLIENT NO-TOUCH` (shown as flags; nothing is evicted or touched).
    no_evict: bool,
    no_touch: bool,
    /// MONITOR ran: the exchange feeds this connection every command (until RESET or the end).
    monitoring: bool,
    /// EXEC is running the queued commands (an ACL refusal then is logged as in `multi`).
    executing: bool,
}

impl RespState {
    /// Returns true if and only if this is a RESP2 connection in subscribed mode, where only
    /// (un)subscribing, PING, QUIT and RESET may run.
    fn resp2_subscribed(&self) -> bool {
        self.version == RespVersion::Resp2 && self.subscribed()
    }

    /// Returns true if and only if the connection subscribes to anything.
    fn subscribed(&self) -> bool {
        self.rare.as_deref().is_some_and(|r| {
            !(r.channels.is_empty() && r.patterns.is_empty() && r.shard_channels.is_empty())
        })
    }

    /// The seldom-used state, if any was ever set.
    fn rare(&self) -> Option<&Rare> {
        self.rare.as_deref()
    }

    /// The seldom-used state, made now if it was never set.
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The transaction MULTI opened, if one is open.
    fn multi(&self) -> Option<&transaction::Transaction> {
        self.rare()?.multi.as_ref()
    }

    fn multi_mut(&mut self) -> Option<&mut transaction::Transaction> {
        self.rare.as_deref_mut()?.multi.as_mut()
    }

    /// Ends the open transaction, if any, and returns it.
    fn take_multi(&mut self) -> Option<transaction::Transaction> {
        self.rare.as_deref_mut()?.multi.take()
    }

    /// `CLIENT TRACKING`'s settings, while tracking is on.
    fn tracking(&self) -> Option<&tracking::Tracking> {
        self.rare()?.tracking.as_deref()
    }

    /// `CLIENT TRACKING`'s settings to change in place (`CLIENT CACHING`), while tracking is
    /// on.
    fn rare_tracking_mut(&mut self) -> Option<&mut tracking::Tracking> {
        self.rare.as_deref_mut()?.tracking.as_deref_mut()
    }

    /// Changes `CLIENT TRACKING`'s settings (`change` may turn tracking on or off) and shows
    /// the result to the registry (`CLIENT LIST`'s `t`, `B` and `redir=`).
    fn set_tracking<T>(
        &mut self,
        change: impl FnOnce(&mut Option<Box<tracking::Tracking>>) -> T,
    ) -> T {
        let result = change(&mut self.rare_mut().tracking);
        let shown = self.tracking().map(|t| (t.redirect, t.bcast));
        if self.names().and_then(|n| n.tracking) != shown {
            self.set_names(|names| names.tracking = shown);
        }
        result
    }

    /// The connection's names (`CLIENT SETNAME`, `CLIENT SETINFO`).
    fn names(&self) -> Option<&Names> {
        self.rare()?.names.as_deref()
    }

    /// Changes the connection's names (a new shared copy: the registry may hold the old one).
    fn set_names(&mut self, change: impl FnOnce(&mut Names)) {
        let rare = self.rare_mut();
        let mut names = rare.names.as_deref().cloned().unwrap_or_default();
        change(&mut names);
        let empty = names.name.is_none()
            && names.lib_name.is_none()
            && names.lib_ver.is_none()
            && names.tracking.is_none();
        rare.names = (!empty).then(|| Arc::new(names));
    }
}

/// What [`Session::refresh_acl`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclRefresh {
    /// No user changed.
    Unchanged,
    /// The connection's user changed, and still allows everything it subscribes to.
    Updated,
    /// The connection must end now: its user was deleted, or lost one of its subscriptions.
    Ended,
}

/// What [`Session::take_mail`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mail {
    /// Messages were moved into the output (possibly none); `more` is true if and only if the
    /// mailbox still holds some.
    Taken { more: bool },
    /// The subscriber passed its output limit (counted and logged): close it at once.
    Overflowed,
    /// `CLIENT KILL` chose this connection: close it at once.
    Killed,
}

impl Session {
    /// A session for the connection `client`, whose messages arrive through its mailbox; `tls`:
    /// it came in on the TLS port.
    pub fn new(ctx: Arc<ServerContext>, client: Arc<ClientEntry>, tls: bool) -> Session {
        let resp = (ctx.config.protocol == Protocol::Resp).then(|| {
            Box::new(RespState {
                parser: RequestParser::new(ctx.config.limits),
                input: BytesMut::new(),
                version: RespVersion::Resp2,
                rare: None,
                db: 0,
                reply_off: false,
                skip_next: false,
                skip_this: false,
                last_cmd: "NULL",
                login: Login::new(&ctx.acl),
                closing: false,
                stalled: false,
            })
        });
        Session {
            ctx,
            id: client.id,
            client,
            tls,
            unflushed_messages: 0,
            requests: 0,
            in_flight: None,
            resp,
        }
    }

    /// This connection's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// This connection's mailbox.
    #[cfg(test)]
    pub(crate) fn mailbox(&self) -> &Arc<crate::mailbox::Mailbox> {
        &self.client.mailbox
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
        let status = self.run_requests(out, stop_at);
        self.update_snapshot();
        status
    }

    /// Tells the registry what this connection now looks like (once per batch of requests).
    fn update_snapshot(&self) {
        let Some(state) = self.resp.as_deref() else { return };
        let rare = state.rare();
        let count = |set: fn(&Rare) -> &SubscriptionSet| rare.map_or(0, |r| narrow(set(r).len()));
        self.client.update_snapshot(ClientState {
            names: rare.and_then(|r| r.names.clone()),
            db: state.db,
            sub: count(|r| &r.channels),
            psub: count(|r| &r.patterns),
            ssub: count(|r| &r.shard_channels),
            multi: state.multi().map_or(-1, |t| narrow(t.queued.len()) as i32),
            resp: if state.version == RespVersion::Resp3 { 3 } else { 2 },
            cmd: state.last_cmd,
            user: Some(state.login.shared_user()),
            qbuf: narrow(state.input.len()),
            no_evict: state.rare().is_some_and(|r| r.no_evict),
            no_touch: state.rare().is_some_and(|r| r.no_touch),
        });
    }

    /// Notes that the peer sent something at `now` (`CLIENT LIST`'s `idle`).
    pub fn note_input(&self, now: Instant) {
        self.client.note_input(now);
    }

    fn run_requests(&mut self, out: &mut Vec<u8>, stop_at: usize) -> Status {
        let Some(state) = self.resp.as_deref_mut() else { return Status::Open };
        state.stalled = false;
        if state.closing {
            return Status::Close;
        }
        // The end of one command's timing is the start of the next one's in the same batch.
        let mut clock = None;
        loop {
            let state = self.resp.as_deref_mut().expect("resp session");
            if out.len() >= stop_at {
                // Enough output for now: the peer must read some before more requests run.
                state.stalled = !state.input.is_empty();
                return Status::Open;
            }
            state.parser.set_authenticated(state.login.authenticated());
            match state.parser.next_request(&mut state.input) {
                Ok(Some(args)) => match self.execute(args, out, &mut clock) {
                    Status::Open => {}
                    done => return done,
                },
                Ok(None) => return Status::Open,
                Err(err) => {
                    tracing::debug!(conn = self.id, "protocol error: {err}");
                    error(out, &ReplyError::Protocol(err));
                    state.closing = true;
                    return Status::Close;
                }
            }
        }
    }

    /// Returns true if and only if the connection has authenticated, or needs not.
    pub fn authenticated(&self) -> bool {
        self.resp.as_deref().is_none_or(|s| s.login.authenticated())
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
        if self.client.killed() {
            tracing::info!(conn = self.id, "connection closed by CLIENT KILL");
            return Mail::Killed;
        }
        let mail = self.move_mail(out, budget);
        if mail == Mail::Overflowed {
            add(&self.ctx.stats.slow_consumers, 1);
            if self.client.mailbox.overflow() == Some(Overflow::Soft) {
                add(&self.ctx.stats.soft_limit_disconnections, 1);
                let limits = self.ctx.runtime.output_limits().pubsub;
                tracing::warn!(
                    conn = self.id,
                    soft = limits.soft,
                    seconds = limits.soft_seconds,
                    "slow subscriber disconnected: above the soft output buffer limit too long"
                );
            } else {
                tracing::warn!(
                    conn = self.id,
                    limit = self.ctx.runtime.output_limit(),
                    "slow subscriber disconnected: output buffer limit reached"
                );
            }
        }
        mail
    }

    /// [`Session::take_mail`] without acting on an overflow.
    fn move_mail(&mut self, out: &mut Vec<u8>, budget: usize) -> Mail {
        let mut first = VecDeque::new();
        let taken = self.in_flight.as_deref_mut().map_or(&mut first, |f| &mut f.taken);
        let Drained::Moved { messages, more } = self.client.mailbox.drain(taken, budget) else {
            return Mail::Overflowed;
        };
        if messages == 0 {
            return Mail::Taken { more };
        }
        self.unflushed_messages += messages as u64;
        let InFlight { taken, stamps } = &mut **self
            .in_flight
            .get_or_insert_with(|| Box::new(InFlight { taken: first, stamps: VecDeque::new() }));
        out.reserve(taken.iter().map(|(m, _)| m.len()).sum());
        for (message, published) in taken.drain(..) {
            out.extend_from_slice(&message);
            stamps.push_back((out.len(), published));
        }
        if taken.capacity() > 64 {
            *taken = VecDeque::new(); // a burst passed: do not keep its memory
        }
        Mail::Taken { more }
    }

    /// Returns true if and only if this subscriber passed its output limit: the next
    /// [`Session::take_mail`] says `Overflowed`.
    pub fn overflowed(&self) -> bool {
        self.client.mailbox.overflowed()
    }

    /// While the connection holds more than the soft output limit: when it will have held it
    /// too long (see [`Session::soft_limit_passed`]).
    pub fn soft_deadline(&self) -> Option<Instant> {
        self.client.mailbox.soft_deadline()
    }

    /// Returns true if and only if, at `now`, the connection passed an output limit (the soft
    /// one for longer than its seconds, checked here): the next [`Session::take_mail`] says
    /// `Overflowed`.
    pub fn soft_limit_passed(&self, now: Instant) -> bool {
        self.client.mailbox.soft_limit_passed(now)
    }

    /// Tells the mailbox how many bytes of output the connection holds unwritten: they count
    /// against the output limit together with the queued messages.
    pub fn set_output_held(&self, bytes: usize) {
        self.client.mailbox.set_held(bytes);
    }

    /// Returns true if and only if the connection subscribes to a channel or pattern, or
    /// monitors (such connections are exempt from the idle timeout, as Redis's replicas).
    pub fn is_subscribed(&self) -> bool {
        self.resp
            .as_deref()
            .is_some_and(|s| s.subscribed() || s.rare().is_some_and(|r| r.monitoring))
    }

    /// When the connection times out for idleness if the peer sends nothing more, given when
    /// it last sent something: `None` if it never does (no `--timeout`, or it subscribes, like
    /// Redis's `timeout`). Time is passed in: the session reads no clock.
    pub fn idle_deadline(&self, last_input: Instant) -> Option<Instant> {
        self.ctx.runtime.idle_timeout().filter(|_| !self.is_subscribed()).map(|t| last_input + t)
    }

    /// The driver's output was written up to `written` (an offset in its output buffer): the
    /// messages that ended there left the server, and the delivery clock records them.
    pub fn on_written(&mut self, written: usize) {
        let Some(InFlight { stamps, .. }) = self.in_flight.as_deref_mut() else { return };
        let gone = stamps.iter().take_while(|(end, _)| *end <= written).count();
        if gone > 0 {
            self.ctx.stats.delivery.record(stamps.drain(..gone).map(|(_, at)| at));
            if stamps.is_empty() && stamps.capacity() > 64 {
                *stamps = VecDeque::new(); // a burst passed: do not keep its memory
            }
        }
    }

    /// The driver cut the first `n` bytes (all written) off its output buffer.
    pub fn on_output_cut(&mut self, n: usize) {
        let Some(InFlight { stamps, .. }) = self.in_flight.as_deref_mut() else { return };
        for (end, _) in stamps {
            *end -= n;
        }
    }

    /// Tells the session that everything it put in the output buffer was written.
    pub fn on_flushed(&mut self) {
        add(&self.ctx.stats.delivered, std::mem::take(&mut self.unflushed_messages));
    }

    /// Takes the connection's user anew if the users changed, and says what that means for
    /// the connection: it ends if its user is gone, or no longer allows a channel or pattern
    /// it subscribes to (Redis 7 disconnects such subscribers; logged here). The driver asks
    /// at every mailbox wake-up, which a change of users sends, and so does every request.
    pub fn refresh_acl(&mut self) -> AclRefresh {
        let Some(state) = self.resp.as_deref_mut() else { return AclRefresh::Unchanged };
        let why = match state.login.refresh(&self.ctx.acl) {
            Refresh::Same => return AclRefresh::Unchanged,
            Refresh::Changed => {
                let Some(rare) = state.rare.as_deref() else { return AclRefresh::Updated };
                let keeps = state.login.user().keeps_subscriptions(
                    rare.channels.names().chain(rare.shard_channels.names()),
                    rare.patterns.names(),
                );
                if keeps {
                    return AclRefresh::Updated;
                }
                "its user lost access to a subscription"
            }
            Refresh::Gone => "its user was deleted",
        };
        let user = String::from_utf8_lossy(state.login.user().name()).into_owned();
        tracing::info!(conn = self.id, user, "disconnected: {why}");
        AclRefresh::Ended
    }

    /// Messages published before a subscription change (or a PUBLISH reply) must reach the
    /// client before that reply, as they would from Redis: move them into `out` first.
    fn drain_before_change(&mut self, out: &mut Vec<u8>) {
        // An overflow is acted on at the next mailbox wake-up, which the overflow triggered.
        let _ = self.move_mail(out, usize::MAX);
    }

    /// Leaves every channel and pattern without replying (RESET, shutdown, the end). Once it
    /// returns nothing more for them reaches the mailbox; what it holds already stays.
    pub fn leave_all(&mut self) {
        let Some(state) = self.resp.as_deref_mut() else { return };
        if state.rare.as_deref_mut().is_some_and(|r| std::mem::take(&mut r.monitoring)) {
            self.ctx.exchange.unmonitor(self.id);
        }
        let Some(rare) = state.rare.as_deref_mut() else { return };
        let channels = rare.channels.take_all();
        let patterns = rare.patterns.take_all();
        let shard_channels = rare.shard_channels.take_all();
        // Each takes no lock when given nothing: a connection without patterns leaves without
        // touching the pattern table.
        self.ctx.exchange.unsubscribe(&channels);
        self.ctx.exchange.punsubscribe(&patterns);
        self.ctx.exchange.sunsubscribe(&shard_channels);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.leave_all();
        // Whatever was never written is dropped, and counted as such.
        let lost = self.unflushed_messages + self.client.mailbox.close() as u64;
        add(&self.ctx.stats.dropped, lost);
        self.ctx.close_session(self.id);
    }
}

/// Appends an error reply. CR, LF and NUL in its text become spaces: an error is always one
/// protocol line.
fn error(out: &mut Vec<u8>, err: &ReplyError) {
    encode_error(out, err.to_string().as_bytes());
}

/// Sets the connection name like `CLIENT SETNAME`; an empty name clears it.
fn set_name(state: &mut RespState, name: Bytes) -> Result<(), ReplyError> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(ReplyError::BadClientName);
    }
    state.set_names(|names| names.name = (!name.is_empty()).then_some(name));
    Ok(())
}
