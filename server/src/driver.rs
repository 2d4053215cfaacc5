//! One connection's I/O policy, with no I/O: when it reads, writes, takes mail and closes.
//!
//! Every backend runs each connection through a [`Driver`], so the rules below exist once and
//! are tested in memory. The split is quinn-proto's: inputs are `handle_*` calls (bytes read,
//! bytes written, a mailbox wake-up, the end of input, shutdown, the time), outputs are
//! `poll_*` calls returning plain data (the bytes to write, the readiness to wait for, the
//! next deadline). A backend's loop is: wait for what [`Driver::wants`] (or the mailbox's
//! wake, or [`Driver::poll_deadline`]), feed what happened in, write [`Driver::poll_output`],
//! report how much went with [`Driver::handle_written`], and close once [`Driver::is_done`].
//! The driver never touches a socket and never reads the clock: time is passed in.
//!
//! The rules:
//! - Output waiting to be written is bounded by [`OUTPUT_HIGH_WATER`]: past it the driver
//!   stops running requests (the rest of the input waits unparsed in the session), stops
//!   asking for input and stops taking mail, and resumes each once the peer has read enough.
//! - Input is read only while [`Driver::wants`] asks for it. A completion-based backend has a
//!   receive in flight before it can know the answer: one that completes after the driver
//!   stopped wanting input is handed to [`Driver::handle_read`] all the same, which keeps it
//!   unparsed in the session (as it keeps the rest of a read past the high-water mark) and
//!   runs it once there is room. So input may exceed the bound by one receive, never more: a
//!   backend queues its next receive only while `wants().read`.
//! - A mailbox wake-up sets a latch that stays set until the mailbox has been drained empty,
//!   so messages left behind at the high-water mark are taken as soon as there is room,
//!   without waiting for another wake-up.
//! - The output limit (`--client-output-buffer-limit`) covers the mailbox and the output
//!   held here together: the driver tells the mailbox what it holds after every step. A
//!   subscriber past it is closed at once, its messages counted as dropped, nothing copied.
//! - Output is a buffer and a written offset; the written prefix is cut off only when it is
//!   at least half the buffer, so draining a large backlog costs linear time.
//! - `--timeout` closes a connection that sent nothing for that long (subscribers exempt) and
//!   one whose request has not completed for that long, however slowly its bytes trickle in.
//! - Shutdown leaves the subscriptions, delivers what the mailbox holds, then closes.
//! - An idle connection holds no output buffer.
//! - On a TLS connection the bytes in and out are ciphertext: a [`TlsLayer`] opens what is
//!   read into plaintext for the session and seals the session's output. Every rule above
//!   holds as is (the backlog counts ciphertext not yet written too). A handshake that fails
//!   (plain text on the TLS port, a bad certificate) is counted and logged at debug, its alert
//!   written, and the connection closed; one that does not finish within the handshake
//!   timeout is cut off. QUIT sends a close_notify after its reply.
//!
//! What a new backend writes per connection is this loop and nothing about protocol or
//! buffering (`backend/sock.rs` has the read and write calls):
//!
//! ```text
//! let mut driver = Driver::new(session, ctx, Instant::now());
//! loop {
//!     if shutdown.is_triggered() { driver.handle_shutdown() }
//!     flush(&mut socket, &mut driver)?;            // poll_output, write, handle_written
//!     if driver.is_done() { break }                // close the socket
//!     wait until: the socket has what driver.wants(), or the mailbox woke us,
//!                 or driver.poll_deadline() passed;
//!     on a mailbox wake-up:  driver.handle_mail();
//!     on the deadline:       driver.handle_timeout(Instant::now());
//!     on readable input:     read_into(&mut socket, &mut buf, &mut driver)?;  // handle_read / handle_eof
//! }
//! ```

use std::time::{Duration, Instant};

use crate::context::ServerContext;
use crate::session::{AclRefresh, Mail, Session, Status};
use crate::stats::add;
use crate::tls::{Opened, TlsLayer};

/// Output waiting to be written above which a connection stops running requests, reading and
/// taking messages: a peer that does not read its replies is not served more. (Messages then
/// wait in the mailbox, whose limit disconnects a slow subscriber.)
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// The written prefix of the output is only cut off once it is at least this long (and half
/// the buffer): fewer, larger moves.
const COMPACT_AT: usize = 64 * 1024;

/// Capacity given to an empty output buffer before a turn writes into it, so that small
/// replies do not grow it step by step.
const OUTPUT_START: usize = 1024;

/// Readiness a connection waits for on its socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Wants to read: open, under the high-water mark, no requests waiting unparsed.
    pub read: bool,
    /// Has output the socket has not taken yet.
    pub write: bool,
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Serving requests and messages.
    Open,
    /// Writing what is in the output, then done (QUIT, a protocol error).
    Flushing,
    /// Shutdown: no subscriptions left; taking the rest of the mailbox, writing it, then done.
    Draining,
    /// To be closed now.
    Done,
}

/// A TLS connection's layer, and its handshake deadline.
struct Tls {
    layer: TlsLayer,
    /// While the handshake has not completed: when it is cut off.
    handshake_deadline: Option<Instant>,
}

/// One connection's session plus everything about when its bytes move.
pub struct Driver {
    session: Session,
    ctx: std::sync::Arc<ServerContext>,
    /// Output for the peer; `out[written..]` is still to be written.
    out: Vec<u8>,
    /// Invariant: `written <= out.len()`.
    written: usize,
    /// The mail latch: set by a wake-up, cleared only by a drain that left the mailbox empty.
    mail: bool,
    phase: Phase,
    /// When input last arrived.
    last_input: Instant,
    /// When the request now arriving began, while one is incomplete.
    request_since: Option<Instant>,
    /// The TLS layer of a connection that came in on the TLS port (boxed: most connections
    /// have none, and an idle connection's driver is in its backend's table).
    tls: Option<Box<Tls>>,
    /// Bytes moved by cutting off written prefixes, for the test that draining is linear.
    #[cfg(test)]
    moved: usize,
}

impl Driver {
    /// Drives `session`, a connection that opened at `now`.
    pub fn new(session: Session, ctx: std::sync::Arc<ServerContext>, now: Instant) -> Driver {
        let mut phase = Phase::Open;
        let tls = match (session.tls(), &ctx.tls) {
            (false, _) => None,
            (true, Some(config)) => match TlsLayer::new(config.clone()) {
                Ok(layer) => Some(Box::new(Tls {
                    layer,
                    handshake_deadline: Some(now + ctx.config.tls_handshake_timeout),
                })),
                Err(e) => {
                    tracing::warn!(conn = session.id(), "cannot start TLS: {e}");
                    phase = Phase::Done;
                    None
                }
            },
            (true, None) => {
                phase = Phase::Done; // cannot happen: TLS connections exist only with TLS set up
                None
            }
        };
        Driver {
            session,
            ctx,
            out: Vec::new(),
            written: 0,
            mail: false,
            phase,
            last_input: now,
            request_since: None,
            tls,
            #[cfg(test)]
            moved: 0,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> u64 {
        self.session.id()
    }

    /// Bytes read from the peer, at `now`.
    pub fn handle_read(&mut self, input: &[u8], now: Instant) {
        if self.phase != Phase::Open {
            return; // closing: later input means nothing
        }
        self.last_input = now;
        self.session.note_input(now);
        let plain;
        let input = match self.open_tls(input) {
            Some(Ok(opened)) => {
                plain = opened;
                &plain[..]
            }
            Some(Err(())) => return, // closed or failed: the driver knows what to do
            None => input,
        };
        self.prepare_output();
        let stop_at = self.stop_at();
        let before = self.session.requests();
        let status = self.session.on_bytes(input, &mut self.out, stop_at);
        self.apply(status);
        self.note_partial(before != self.session.requests(), now);
        self.pump();
    }

    /// The peer closed its side: the connection is done (as with Redis).
    pub fn handle_eof(&mut self) {
        if self.handshake_deadline().is_some() && self.phase != Phase::Done {
            self.handshake_failed("the peer closed the connection");
        }
        self.phase = Phase::Done;
    }

    /// Opens TLS input into plaintext: `None` for a plain connection, `Some(Err(()))` when the
    /// input ended the connection (the peer's close_notify, or a failed handshake).
    fn open_tls(&mut self, input: &[u8]) -> Option<Result<Vec<u8>, ()>> {
        let tls = self.tls.as_mut()?;
        let mut plain = Vec::new();
        let opened = tls.layer.open(input, &mut plain);
        if tls.layer.newly_established() {
            tls.handshake_deadline = None;
            add(&self.ctx.stats.tls_handshakes, 1);
        }
        Some(match opened {
            Opened::Plain => Ok(plain),
            Opened::Closed => {
                self.phase = Phase::Done;
                Err(())
            }
            Opened::Failed(why) => {
                if self.handshake_deadline().is_some() {
                    self.handshake_failed(&why);
                } else {
                    tracing::debug!(conn = self.id(), "TLS error: {why}");
                }
                // The alert rustls queued goes out, then the connection closes.
                self.phase = Phase::Flushing;
                self.pump();
                Err(())
            }
        })
    }

    /// While a TLS handshake has not completed: when it is cut off.
    fn handshake_deadline(&self) -> Option<Instant> {
        self.tls.as_ref()?.handshake_deadline
    }

    fn handshake_failed(&mut self, why: &str) {
        if let Some(tls) = self.tls.as_mut() {
            tls.handshake_deadline = None;
        }
        add(&self.ctx.stats.tls_handshake_failures, 1);
        tracing::debug!(conn = self.id(), "TLS handshake failed: {why}");
    }

    /// Where the session must stop adding output: the high-water mark over everything not
    /// yet written (ciphertext included).
    fn stop_at(&self) -> usize {
        self.out.len() + OUTPUT_HIGH_WATER.saturating_sub(self.backlog())
    }

    /// The mailbox woke the connection.
    pub fn handle_mail(&mut self) {
        if self.session.refresh_acl() == AclRefresh::Ended {
            // Its user lost a channel it subscribes to (or is gone): closed at once, as Redis.
            self.phase = Phase::Done;
            return;
        }
        if self.session.overflowed() {
            // Past the output limit, even while the backlog keeps us from taking messages.
            let _ = self.session.take_mail(&mut self.out, 0); // counts and logs it
            self.phase = Phase::Done;
            return;
        }
        self.mail = true;
        self.pump();
    }

    /// The socket took the first `n` bytes of [`Driver::poll_output`].
    pub fn handle_written(&mut self, n: usize) {
        debug_assert!(n <= self.poll_output().len());
        if n == 0 {
            return;
        }
        add(&self.ctx.stats.bytes_out, n as u64);
        if let Some(tls) = self.tls.as_mut() {
            // Plaintext is sealed as soon as it is made: all of it went once the ciphertext did.
            if tls.layer.written(n) && self.out.is_empty() {
                self.session.on_flushed();
            }
            self.pump();
            return;
        }
        self.written += n;
        self.session.on_written(self.written);
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            self.session.on_flushed();
        } else if self.written >= COMPACT_AT && self.written * 2 >= self.out.len() {
            // What is left is at most what was written since the last cut: linear overall.
            #[cfg(test)]
            {
                self.moved += self.out.len() - self.written;
            }
            self.out.drain(..self.written);
            self.session.on_output_cut(self.written);
            self.written = 0;
        }
        self.pump();
    }

    /// Shutdown began: leave every subscription, deliver what the mailbox holds, then close.
    pub fn handle_shutdown(&mut self) {
        if matches!(self.phase, Phase::Open | Phase::Flushing) {
            self.session.leave_all();
            self.phase = Phase::Draining;
            self.mail = true;
            self.pump();
        }
    }

    /// The time is `now`. Past the idle deadline the connection is done, silently (as Redis's
    /// `timeout`); past the deadline of an incomplete request it is told why, then closed once
    /// that is written (or after one more timeout if the peer does not read it).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Done {
            return;
        }
        if self.session.soft_deadline().is_some_and(|at| now >= at)
            && self.session.soft_limit_passed(now)
        {
            // Above the soft output limit for too long, and nothing pushed since to notice.
            let _ = self.session.take_mail(&mut self.out, 0); // counts and logs it
            self.phase = Phase::Done;
            return;
        }
        if self.other_deadline().is_none_or(|at| now < at) {
            return;
        }
        if self.handshake_deadline().is_some_and(|at| now >= at) {
            self.handshake_failed("timed out");
            self.phase = Phase::Done;
            return;
        }
        let timeout = self.request_timeout();
        let request_late = self.request_since.zip(timeout).is_some_and(|(at, t)| now >= at + t);
        if self.phase == Phase::Open && request_late {
            tracing::debug!(conn = self.id(), "timeout: request incomplete");
            let secs = timeout.unwrap_or_default().as_secs_f64();
            let line = format!("-ERR request not completed within the timeout ({secs}s)\r\n");
            self.out.extend_from_slice(line.as_bytes());
            self.phase = Phase::Flushing;
            self.request_since = Some(now); // the time it has to read that
            self.pump();
        } else {
            tracing::debug!(conn = self.id(), "timeout: idle");
            self.phase = Phase::Done;
        }
    }

    /// The bytes to write next (empty when there are none).
    pub fn poll_output(&self) -> &[u8] {
        match &self.tls {
            Some(tls) => tls.layer.output(),
            None => &self.out[self.written..],
        }
    }

    /// The readiness to wait for.
    pub fn wants(&self) -> Interest {
        Interest {
            read: self.phase == Phase::Open
                && self.backlog() < OUTPUT_HIGH_WATER
                && !self.session.stalled(),
            write: self.backlog() > 0 && self.phase != Phase::Done,
        }
    }

    /// When the connection must be looked at again if nothing happens: the idle timeout, the
    /// deadline of an incomplete request, or the moment it will have held more than the soft
    /// output limit too long, whichever is first; `None` for never.
    pub fn poll_deadline(&self) -> Option<Instant> {
        if self.phase == Phase::Done {
            return None;
        }
        self.other_deadline().into_iter().chain(self.session.soft_deadline()).min()
    }

    /// [`Driver::poll_deadline`] but for the soft output limit's clock.
    fn other_deadline(&self) -> Option<Instant> {
        let idle = self.session.idle_deadline(self.last_input);
        let unauthenticated = self.unauthenticated_timeout().map(|t| self.last_input + t);
        let request = self.request_since.and_then(|since| Some(since + self.request_timeout()?));
        idle.into_iter()
            .chain(unauthenticated)
            .chain(request)
            .chain(self.handshake_deadline())
            .min()
    }

    /// `--auth-timeout` while the connection must still authenticate, else `None`.
    fn unauthenticated_timeout(&self) -> Option<Duration> {
        (!self.session.authenticated()).then_some(self.ctx.config.auth_timeout)
    }

    /// How long one request may take to arrive: `--timeout`, shortened to `--auth-timeout`
    /// before the connection has authenticated.
    fn request_timeout(&self) -> Option<Duration> {
        let idle = self.ctx.runtime.idle_timeout();
        idle.into_iter().chain(self.unauthenticated_timeout()).min()
    }

    /// Returns true if and only if the connection must be closed now.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The connection's protocol state.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Output bytes not yet written (plaintext, and on TLS ciphertext).
    fn backlog(&self) -> usize {
        self.out.len() - self.written + self.tls.as_ref().map_or(0, |t| t.layer.output().len())
    }

    /// On TLS: seals the plaintext output into ciphertext, and after the last reply of a
    /// closing connection, the close_notify.
    fn seal(&mut self) {
        let Some(tls) = self.tls.as_mut().map(|tls| &mut tls.layer) else { return };
        if self.written < self.out.len() {
            tls.seal(&self.out[self.written..]);
            // On TLS the delivery clock stops when a message is sealed.
            self.session.on_written(self.out.len());
            self.out.clear();
            self.written = 0;
        }
        if self.phase == Phase::Flushing {
            tls.close();
        }
    }

    /// Starts or stops the clock of an incomplete request after input arrived at `now`;
    /// `completed` says whether a request completed meanwhile (the one now partial, if any,
    /// then began in this read).
    fn note_partial(&mut self, completed: bool, now: Instant) {
        if !self.session.has_partial_request() {
            self.request_since = None;
        } else if completed || self.request_since.is_none() {
            self.request_since = Some(now);
        }
    }

    /// Gives an empty, unallocated output buffer a starting capacity.
    fn prepare_output(&mut self) {
        if self.out.capacity() == 0 {
            self.out.reserve(OUTPUT_START);
        }
    }

    fn apply(&mut self, status: Status) {
        match status {
            Status::Open => {}
            Status::Close => {
                if self.phase == Phase::Open {
                    self.phase = Phase::Flushing;
                }
            }
            Status::Abort => self.phase = Phase::Done,
        }
    }

    /// Does what there is room for: requests left waiting, then mail, while the backlog is
    /// under the high-water mark; then settles the phase and the buffer.
    fn pump(&mut self) {
        loop {
            let room = OUTPUT_HIGH_WATER.saturating_sub(self.backlog());
            if room == 0 {
                break;
            }
            if self.phase == Phase::Open && self.session.stalled() {
                self.prepare_output();
                let stop_at = self.stop_at();
                let status = self.session.resume(&mut self.out, stop_at);
                self.apply(status);
                continue;
            }
            if self.mail && matches!(self.phase, Phase::Open | Phase::Draining) {
                self.prepare_output();
                match self.session.take_mail(&mut self.out, room) {
                    Mail::Taken { more } => self.mail = more,
                    Mail::Overflowed | Mail::Killed => self.phase = Phase::Done,
                }
                continue;
            }
            break;
        }
        self.seal();
        let backlog = self.backlog();
        if backlog == 0 {
            match self.phase {
                Phase::Flushing => self.phase = Phase::Done,
                Phase::Draining if !self.mail => self.phase = Phase::Done,
                _ => {}
            }
            if self.out.capacity() > 0 {
                self.out = Vec::new(); // idle: hold no buffer
            }
        }
        self.session.set_output_held(backlog);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::NoWake;
    use crate::{Config, Protocol};
    use bytes::Bytes;
    use shared::resp::encode_command;
    use std::sync::Arc;
    use std::time::Duration;

    fn context(change: impl FnOnce(&mut Config)) -> Arc<ServerContext> {
        let mut config = Config::default();
        change(&mut config);
        Arc::new(ServerContext::new(config, "127.0.0.1:0".parse().unwrap()))
    }

    fn driver(ctx: &Arc<ServerContext>, now: Instant) -> Driver {
        Driver::new(ctx.open_session_unchecked(Arc::new(NoWake)).unwrap(), ctx.clone(), now)
    }

    fn cmd(args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        out
    }

    /// Writes everything the driver has, like a peer that reads all; returns it.
    fn write_all(d: &mut Driver) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let out = d.poll_output().to_vec();
            if out.is_empty() {
                return got;
            }
            got.extend_from_slice(&out);
            d.handle_written(out.len());
        }
    }

    /// Writes at most `n` bytes, like a socket that takes only that much.
    fn write_some(d: &mut Driver, n: usize) -> Vec<u8> {
        let out = d.poll_output();
        let n = n.min(out.len());
        let got = out[..n].to_vec();
        d.handle_written(n);
        got
    }

    fn publish(ctx: &ServerContext, channel: &str, message: &[u8]) -> usize {
        let published = ctx
            .exchange
            .publish(&Bytes::copy_from_slice(channel.as_bytes()), &message.to_vec().into());
        ctx.stats.published_receivers.add(published.receivers as u64);
        ctx.stats.dropped.add(published.dropped as u64);
        published.receivers
    }

    fn subscribed(ctx: &Arc<ServerContext>, now: Instant) -> Driver {
        let mut d = driver(ctx, now);
        d.handle_read(&cmd(&[b"SUBSCRIBE", b"ch"]), now);
        assert_eq!(write_all(&mut d), b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
        d
    }

    fn message(i: usize) -> Vec<u8> {
        format!("{i:0>1000}").into_bytes()
    }

    fn accounted(ctx: &ServerContext) -> (u64, u64) {
        let s = &ctx.stats;
        let (receivers, delivered, dropped) =
            (s.published_receivers.get(), s.delivered.get(), s.dropped.get());
        assert_eq!(receivers, delivered + dropped);
        (delivered, dropped)
    }

    #[test]
    fn a_subscriber_that_lags_past_the_high_water_mark_then_reads_gets_everything() {
        let ctx = context(|_| {});
        let now = Instant::now();
        let mut d = subscribed(&ctx, now);
        // 2 MB published while the peer reads nothing: far past the high-water mark.
        const COUNT: usize = 2000;
        let mut wakes = 0;
        for i in 0..COUNT {
            assert_eq!(publish(&ctx, "ch", &message(i)), 1);
            if i % 100 == 0 {
                d.handle_mail(); // only some wake-ups reach it, as when pushes coalesce
                wakes += 1;
            }
        }
        assert!(wakes < COUNT);
        assert!(d.poll_output().len() <= OUTPUT_HIGH_WATER + 2000, "the backlog is bounded");
        assert!(!d.wants().read, "past the mark it reads nothing");
        // The peer now reads in small pieces; no further wake-up comes.
        let mut got = Vec::new();
        while !d.poll_output().is_empty() {
            got.extend(write_some(&mut d, 4096));
        }
        let mut expected = Vec::new();
        for i in 0..COUNT {
            Frame::Array(vec![Frame::bulk("message"), Frame::bulk("ch"), Frame::bulk(message(i))])
                .encode(RespVersion::Resp2, &mut expected);
        }
        assert!(got == expected, "every message, in order");
        assert!(d.wants().read);
        drop(d);
        assert_eq!(accounted(&ctx), (COUNT as u64, 0));
        assert_eq!(ctx.stats.slow_consumers.get(), 0);
    }

    use shared::{Frame, RespVersion};

    #[test]
    fn past_the_output_limit_a_subscriber_is_closed_without_copying() {
        let ctx = context(|c| c.client_output_buffer_limit = 600 * 1024);
        let now = Instant::now();
        let mut d = subscribed(&ctx, now);
        let mut receivers = 0;
        for i in 0..1000 {
            receivers += publish(&ctx, "ch", &message(i));
            if i == 0 {
                d.handle_mail();
            }
        }
        assert_eq!(receivers, 1000);
        // What the driver holds counts: the mailbox overflowed below 600 KB queued.
        assert!(ctx.stats.dropped.get() > 1000 - 600);
        let held = d.poll_output().len();
        d.handle_mail();
        assert!(d.is_done());
        assert_eq!(d.poll_output().len(), held, "nothing more was copied");
        assert_eq!(ctx.stats.slow_consumers.get(), 1);
        drop(d);
        assert_eq!(accounted(&ctx).0, 0);
    }

    fn soft_limited(soft: usize, seconds: u64) -> Arc<ServerContext> {
        context(|c| {
            c.output_limits.pubsub = crate::config::ClassLimit {
                hard: c.client_output_buffer_limit as u64,
                soft: soft as u64,
                soft_seconds: seconds,
            }
        })
    }

    #[test]
    fn above_the_soft_limit_past_its_seconds_a_subscriber_is_cut_at_its_deadline() {
        let ctx = soft_limited(20 * 1024, 2);
        let t0 = Instant::now();
        let mut d = subscribed(&ctx, t0);
        // Every message is taken into the output, none written: the peer does not read.
        for i in 0..30 {
            publish(&ctx, "ch", &message(i));
            d.handle_mail();
        }
        let deadline = d.poll_deadline().expect("above soft: the clock's deadline");
        assert!(deadline > t0 && deadline <= Instant::now() + Duration::from_secs(3));
        d.handle_timeout(deadline - Duration::from_millis(2));
        assert!(!d.is_done(), "not yet past the seconds");
        d.handle_timeout(deadline);
        assert!(d.is_done(), "held above soft too long, with nothing more pushed");
        assert_eq!(ctx.stats.slow_consumers.get(), 1);
        assert_eq!(ctx.stats.soft_limit_disconnections.get(), 1);
        drop(d);
        assert_eq!(accounted(&ctx), (0, 30), "every message it never wrote is dropped");
    }

    #[test]
    fn a_burst_above_the_soft_limit_shorter_than_its_seconds_loses_nothing() {
        let ctx = soft_limited(20 * 1024, 2);
        let t0 = Instant::now();
        let mut d = subscribed(&ctx, t0);
        for i in 0..30 {
            publish(&ctx, "ch", &message(i));
            d.handle_mail();
        }
        assert!(d.poll_deadline().is_some());
        write_all(&mut d);
        assert_eq!(d.poll_deadline(), None, "back under soft: no clock, no deadline");
        d.handle_timeout(t0 + Duration::from_secs(60));
        assert!(!d.is_done());
        assert_eq!(ctx.stats.soft_limit_disconnections.get(), 0);
        drop(d);
        assert_eq!(accounted(&ctx), (30, 0));
    }

    #[test]
    fn the_delivery_clock_counts_each_message_once_its_last_byte_is_written() {
        let ctx = context(|_| {});
        let t0 = Instant::now();
        let mut d = subscribed(&ctx, t0);
        for i in 0..200 {
            publish(&ctx, "ch", &message(i));
        }
        d.handle_mail();
        let frame = d.poll_output().len() / 200;
        let count = |ctx: &ServerContext| ctx.stats.delivery.snapshot().count;
        write_some(&mut d, frame - 1);
        assert_eq!(count(&ctx), 0, "the first message is not written in full yet");
        write_some(&mut d, 1);
        assert_eq!(count(&ctx), 1);
        // Past the compaction point (64 KB): the offsets move with the buffer.
        write_some(&mut d, 100 * frame);
        assert_eq!(count(&ctx), 101);
        write_some(&mut d, frame / 2);
        assert_eq!(count(&ctx), 101);
        write_all(&mut d);
        assert_eq!(count(&ctx), 200);
        let snapshot = ctx.stats.delivery.snapshot();
        assert_eq!(snapshot.buckets.iter().sum::<u64>(), 200);
        drop(d);
        assert_eq!(accounted(&ctx), (200, 0));
    }

    #[test]
    fn shutdown_delivers_the_mail_pending_then_closes() {
        let ctx = context(|_| {});
        let now = Instant::now();
        let mut d = subscribed(&ctx, now);
        for i in 0..600 {
            publish(&ctx, "ch", &message(i));
        }
        // The wake-up was never handled: shutdown must find the messages by itself.
        d.handle_shutdown();
        assert_eq!(publish(&ctx, "ch", b"late"), 0, "no subscription survives shutdown");
        assert!(!d.wants().read);
        let mut got = 0;
        while !d.is_done() {
            got += write_some(&mut d, 64 * 1024).len();
            assert!(got < 10_000_000, "shutdown never finished");
        }
        assert!(got > 600 * 1000);
        drop(d);
        assert_eq!(accounted(&ctx), (600, 0));
    }

    #[test]
    fn a_half_written_output_followed_by_more_mail_keeps_the_order() {
        let ctx = context(|_| {});
        let now = Instant::now();
        let mut d = subscribed(&ctx, now);
        publish(&ctx, "ch", b"first");
        d.handle_mail();
        let mut got = write_some(&mut d, 10);
        publish(&ctx, "ch", b"second");
        d.handle_mail();
        got.extend(write_all(&mut d));
        let want: Vec<u8> = [&b"first"[..], b"second"]
            .iter()
            .flat_map(|m| {
                Frame::Array(vec![Frame::bulk("message"), Frame::bulk("ch"), Frame::bulk(*m)])
                    .to_bytes(RespVersion::Resp2)
            })
            .collect();
        assert_eq!(got, want);
        drop(d);
        assert_eq!(accounted(&ctx), (2, 0));
    }

    #[test]
    fn quit_with_output_pending_writes_it_then_closes() {
        let ctx = context(|_| {});
        let now = Instant::now();
        let mut d = driver(&ctx, now);
        d.handle_read(&[cmd(&[b"ECHO", b"hello"]), cmd(&[b"QUIT"]), cmd(&[b"PING"])].concat(), now);
        assert!(!d.is_done());
        assert!(!d.wants().read, "nothing is read after QUIT");
        let mut got = write_some(&mut d, 3);
        assert!(!d.is_done());
        got.extend(write_all(&mut d));
        assert_eq!(got, b"$5\r\nhello\r\n+OK\r\n");
        assert!(d.is_done());
    }

    #[test]
    fn requests_stop_at_the_high_water_mark_and_resume_as_the_peer_reads() {
        let ctx = context(|_| {});
        let now = Instant::now();
        let mut d = driver(&ctx, now);
        // One read carrying far more replies than the mark: 64 KB echoed 16 times.
        let big = vec![b'x'; 64 * 1024];
        let one = cmd(&[b"ECHO", &big]);
        d.handle_read(&one.repeat(16), now);
        let reply_len = big.len() + 10; // `$65536\r\n` and `\r\n`
        assert!(d.poll_output().len() <= OUTPUT_HIGH_WATER + reply_len);
        assert!(!d.wants().read, "requests wait: read nothing more");
        let mut got = 0;
        while !d.poll_output().is_empty() {
            got += write_some(&mut d, 10_000).len();
            assert!(d.poll_output().len() <= OUTPUT_HIGH_WATER + reply_len);
        }
        assert_eq!(got, 16 * reply_len, "every request ran once there was room");
        assert!(d.wants().read);
    }

    #[test]
    fn password_guesses_are_answered_only_as_fast_as_the_guesser_reads() {
        let ctx = context(|c| c.requirepass = Some("pw".into()));
        let now = Instant::now();
        let mut d = driver(&ctx, now);
        let guesses = 100_000;
        d.handle_read(&cmd(&[b"AUTH", b"wrong"]).repeat(guesses), now);
        let wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
        // The replies stop at the high-water mark, and so do the guesses: nothing more is
        // read or tried until the peer reads.
        assert!(d.poll_output().len() <= OUTPUT_HIGH_WATER + wrongpass.len());
        assert!(!d.wants().read);
        let tried = ctx.stats.acl_denied_auth.get();
        assert_eq!(tried as usize, d.poll_output().len() / wrongpass.len());
        assert!(tried < guesses as u64 / 10, "{tried} guesses tried before any was read");
        let mut got = 0;
        while !d.poll_output().is_empty() {
            got += write_some(&mut d, 64 * 1024).len();
            assert!(d.poll_output().len() <= OUTPUT_HIGH_WATER + wrongpass.len());
        }
        assert_eq!(got, guesses * wrongpass.len());
        assert_eq!(ctx.stats.acl_denied_auth.get(), guesses as u64);
    }

    #[test]
    fn a_read_that_arrives_after_input_was_refused_is_kept_and_run_once_there_is_room() {
        let ctx = context(|_| {});
        let now = Instant::now();
        let mut d = driver(&ctx, now);
        let big = vec![b'x'; 64 * 1024];
        d.handle_read(&cmd(&[b"ECHO", &big]).repeat(16), now);
        assert!(!d.wants().read);
        // The receive that was already in flight completes now.
        d.handle_read(&cmd(&[b"ECHO", b"late"]), now);
        assert!(!d.wants().read, "still refusing more input");
        let got = write_all(&mut d);
        assert_eq!(got.len(), 16 * (big.len() + 10) + b"$4\r\nlate\r\n".len());
        assert!(got.ends_with(b"$4\r\nlate\r\n"), "the late input ran last, once");
        assert!(d.wants().read);
    }

    #[test]
    fn the_idle_timeout_spares_subscribers_but_not_a_trickled_request() {
        let ctx = context(|c| c.idle_timeout = Some(Duration::from_secs(10)));
        let t0 = Instant::now();
        let mut idle = driver(&ctx, t0);
        assert_eq!(idle.poll_deadline(), Some(t0 + Duration::from_secs(10)));
        idle.handle_timeout(t0 + Duration::from_secs(9));
        assert!(!idle.is_done());
        idle.handle_timeout(t0 + Duration::from_secs(10));
        assert!(idle.is_done());
        assert_eq!(idle.poll_output(), b"", "an idle connection is closed silently");

        let sub = subscribed(&ctx, t0);
        assert_eq!(sub.poll_deadline(), None);

        // One byte of a request every second: input never stops, the request never completes.
        let mut trickle = driver(&ctx, t0);
        let request = cmd(&[b"PING"]);
        let mut at = t0;
        for (i, byte) in request.iter().take(request.len() - 1).enumerate() {
            at = t0 + Duration::from_secs(i as u64 + 1);
            trickle.handle_timeout(at);
            if !trickle.poll_output().is_empty() {
                break;
            }
            trickle.handle_read(&[*byte], at);
        }
        assert_eq!(at, t0 + Duration::from_secs(11), "ten seconds after the request began");
        assert!(!trickle.wants().read);
        let told = write_all(&mut trickle);
        assert_eq!(told, b"-ERR request not completed within the timeout (10s)\r\n");
        assert!(trickle.is_done());
        // One that does not read even that is closed one timeout later.
        let mut deaf = driver(&ctx, t0);
        deaf.handle_read(b"*1\r\n", t0);
        deaf.handle_timeout(t0 + Duration::from_secs(10));
        assert!(!deaf.is_done() && !deaf.poll_output().is_empty());
        deaf.handle_timeout(t0 + Duration::from_secs(20));
        assert!(deaf.is_done());
        drop(sub);
    }

    #[test]
    fn an_idle_connection_holds_no_output_buffer() {
        let ctx = context(|c| c.protocol = Protocol::Resp);
        let now = Instant::now();
        let mut d = driver(&ctx, now);
        d.handle_read(&cmd(&[b"PING"]), now);
        assert_eq!(write_all(&mut d), b"+PONG\r\n");
        assert_eq!(d.out.capacity(), 0);
    }

    #[test]
    fn draining_a_large_backlog_in_small_writes_is_linear() {
        let ctx = context(|_| {});
        let now = Instant::now();
        let mut d = subscribed(&ctx, now);
        for i in 0..3000 {
            publish(&ctx, "ch", &message(i));
        }
        d.handle_mail();
        let mut written = 0;
        while !d.poll_output().is_empty() {
            written += write_some(&mut d, 4096).len();
        }
        assert!(written >= 3000 * 1000);
        // Every cut of the written prefix moves at most what was written since the last one.
        assert!(d.moved <= written, "moved {} bytes to write {written}", d.moved);
    }

    #[test]
    fn a_pipelining_peer_whose_reads_end_mid_request_is_not_timed_out() {
        let ctx = context(|c| c.idle_timeout = Some(Duration::from_secs(10)));
        let t0 = Instant::now();
        let mut d = driver(&ctx, t0);
        let stream = cmd(&[b"PING"]).repeat(100);
        // Every read ends inside a request, one second apart, for far longer than the timeout.
        for (i, chunk) in stream.chunks(9).enumerate() {
            let at = t0 + Duration::from_secs(i as u64);
            d.handle_timeout(at);
            assert!(!d.is_done() && d.poll_output().is_empty(), "timed out at read {i}");
            d.handle_read(chunk, at);
            write_all(&mut d);
        }
    }

    /// A rustls client and a TLS driver in memory: the handshake, a request and its reply, a
    /// publish reaching the TLS subscriber, and QUIT's close_notify.
    #[test]
    fn tls_runs_between_the_bytes_and_the_session() {
        use std::io::{Read, Write};
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let dir = std::env::temp_dir().join(format!("driver-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, cert.cert.pem()).unwrap();
        std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
        let settings = crate::tls::TlsSettings {
            cert_file,
            key_file,
            ca_cert_file: None,
            auth_clients: crate::tls::AuthClients::No,
        };
        let mut ctx = ServerContext::new(Config::default(), "127.0.0.1:0".parse().unwrap());
        ctx.tls = Some(crate::tls::server_config(&settings).unwrap());
        let ctx = Arc::new(ctx);
        let now = Instant::now();
        let mut d = Driver::new(ctx.open(Arc::new(NoWake), true, None).unwrap(), ctx.clone(), now);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        // Moves bytes both ways until neither side has anything to say; returns the plaintext
        // the client received.
        let exchange = |client: &mut rustls::ClientConnection, d: &mut Driver| {
            let mut plain = Vec::new();
            loop {
                let mut to_server = Vec::new();
                while client.wants_write() {
                    client.write_tls(&mut to_server).unwrap();
                }
                if !to_server.is_empty() {
                    d.handle_read(&to_server, now);
                }
                let to_client = write_all(d);
                if to_client.is_empty() && to_server.is_empty() {
                    return plain;
                }
                let mut input = &to_client[..];
                while !input.is_empty() {
                    client.read_tls(&mut input).unwrap();
                    client.process_new_packets().unwrap();
                }
                let _ = client.reader().read_to_end(&mut plain);
            }
        };
        client.writer().write_all(&cmd(&[b"SUBSCRIBE", b"ch"])).unwrap();
        let got = exchange(&mut client, &mut d);
        assert!(!client.is_handshaking());
        assert_eq!(got, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
        assert_eq!(ctx.stats.tls_handshakes.get(), 1);
        assert_eq!(publish(&ctx, "ch", b"hi"), 1);
        d.handle_mail();
        let got = exchange(&mut client, &mut d);
        assert_eq!(got, b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
        assert_eq!(accounted(&ctx), (1, 0));
        client.writer().write_all(&cmd(&[b"QUIT"])).unwrap();
        let got = exchange(&mut client, &mut d);
        assert_eq!(got, b"+OK\r\n");
        assert!(d.is_done());
        let mut rest = Vec::new();
        assert_eq!(client.reader().read_to_end(&mut rest).unwrap(), 0, "close_notify received");
        // A peer that never finishes its handshake is cut off at the deadline.
        let mut stalled =
            Driver::new(ctx.open(Arc::new(NoWake), true, None).unwrap(), ctx.clone(), now);
        let deadline = stalled.poll_deadline().expect("a handshake deadline");
        assert_eq!(deadline, now + ctx.config.tls_handshake_timeout);
        stalled.handle_timeout(deadline);
        assert!(stalled.is_done());
        assert_eq!(ctx.stats.tls_handshake_failures.get(), 1);
        // Plain text: an alert, then closed.
        let mut plain =
            Driver::new(ctx.open(Arc::new(NoWake), true, None).unwrap(), ctx.clone(), now);
        plain.handle_read(b"PING\r\n", now);
        let alert = write_all(&mut plain);
        assert_eq!(alert.first(), Some(&0x15));
        assert!(plain.is_done());
        assert_eq!(ctx.stats.tls_handshake_failures.get(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
