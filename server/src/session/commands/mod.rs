//! The commands a session runs. This module holds the checks that come before any command
//! (arity, the user's permissions, subscribed mode, queueing inside MULTI) and the one
//! dispatch by family; each family's module (named as in [`shared::command`]) runs its
//! commands against the connection state of the parent module.

use std::time::Instant;

use bytes::Bytes;
use shared::command::{in_category, subscribed_context_error, Command, CommandError};
use shared::resp::encode_error;
use shared::Frame;

use super::{error, AclRefresh, Session, Status};
use crate::acl::{Denied, LogReason};
use crate::errors::EXECABORT_BECAUSE;
use crate::latency::Outcome;
use crate::slowlog::ArgsCopy;
use crate::stats::add;

thread_local! {
    /// What the slow log can show of the arguments of the command this thread runs, copied
    /// while it is on (bounded, and holding no reference to the request's buffer).
    static KEPT_ARGS: std::cell::RefCell<ArgsCopy> = std::cell::RefCell::new(ArgsCopy::default());
}

/// Where a command's arguments are for the slow log.
pub(super) enum SlowArgs {
    /// Nowhere: the slow log is off.
    Off,
    /// In [`KEPT_ARGS`].
    Kept,
    /// Here (a command queued for EXEC, its arguments made back from it).
    Owned(ArgsCopy),
}

/// What became of a request, for its figures (`INFO commandstats`).
pub(super) enum Fate {
    /// Nothing to count: an unknown command, or one queued for EXEC.
    Unknown,
    /// The command was refused before it ran.
    Rejected(&'static str),
    /// The command ran.
    Ran(&'static str),
}

/// How the session runs the commands of one family.
trait Run {
    /// Runs `self` on `session`, appending its reply (if it has one) to `out`.
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status;
}

/// Declares each family's module (named as in `shared::command`) and dispatches a command to
/// it, for the families [`shared::for_each_family!`] lists: a family's run is one file here.
macro_rules! run_families {
    ($($module:ident::$family:ident => $variant:ident,)*) => {
        $(mod $module;)*

        impl Session {
            /// Runs one command (a request, or a command queued for EXEC).
            fn run(&mut self, cmd: Command, out: &mut Vec<u8>) -> Status {
                match cmd {
                    $(Command::$variant(cmd) => cmd.run(self, out),)*
                }
            }
        }
    };
}

shared::for_each_family!(run_families);

impl Session {
    /// Runs one request, then holds back its reply if `CLIENT REPLY` says so. (A reply in
    /// whose making messages moved into the output is sent anyway: cutting it would cut the
    /// messages, which count as delivered once written.) `clock` is when the previous command
    /// of the batch ended (`None` for the first): the start of this one's timing, so that each
    /// command reads the clock once; it is left holding when this one ended.
    pub(super) fn execute(
        &mut self,
        args: Vec<Bytes>,
        out: &mut Vec<u8>,
        clock: &mut Option<Instant>,
    ) -> Status {
        add(&self.ctx.stats.commands, 1);
        self.requests += 1;
        let (mark, messages) = (out.len(), self.unflushed_messages);
        let skip_this = std::mem::take(&mut self.resp.as_deref_mut().expect("resp").skip_this);
        // The slow log needs the arguments after the command has taken them: kept (in this
        // thread's reused buffer, so no allocation) only while it is on.
        let kept = if self.ctx.slowlog.slower_than() >= 0 {
            KEPT_ARGS.with_borrow_mut(|kept| kept.copy(&args));
            SlowArgs::Kept
        } else {
            SlowArgs::Off
        };
        let started = clock.take().unwrap_or_else(|| self.ctx.monotonic());
        let (status, ran) = self.check_and_run(args, out);
        *clock = Some(self.record_command(started, ran, kept, &out[mark..]));
        let state = self.resp.as_deref_mut().expect("resp session");
        if (state.reply_off || skip_this) && self.unflushed_messages == messages {
            out.truncate(mark);
        }
        state.skip_this = std::mem::take(&mut state.skip_next);
        status
    }

    /// Counts and times a command that began at `started` (`INFO commandstats`, latency
    /// histograms, the latency monitor) and, with its arguments, puts it into the slow log if
    /// it was slow (taking them from [`KEPT_ARGS`] if they are there); `reply` is what it
    /// appended. Returns when the command ended.
    pub(super) fn record_command(
        &mut self,
        started: Instant,
        ran: Fate,
        args: SlowArgs,
        reply: &[u8],
    ) -> Instant {
        let ended = self.ctx.monotonic();
        let nanos = ended.duration_since(started).as_nanos().min(u128::from(u64::MAX)) as u64;
        let timed = match ran {
            Fate::Unknown => None,
            Fate::Rejected(name) => Some((name, Outcome::Rejected)),
            Fate::Ran(name) if reply.first() == Some(&b'-') => Some((name, Outcome::Failed)),
            Fate::Ran(name) => Some((name, Outcome::Ok)),
        };
        if let Some((name, outcome)) = timed {
            self.ctx.commands.record(name, nanos, outcome);
            let millis = nanos / 1_000_000;
            let monitor = &self.ctx.commands.monitor;
            if outcome != Outcome::Rejected && monitor.passes(millis) {
                let event = if in_category(name, "fast") { "fast-command" } else { "command" };
                monitor.add(event, millis, self.ctx.unix_time().0);
            }
        }
        let micros = nanos / 1000;
        // Logged: what ran (not a refusal, nor EXEC, whose commands are logged each), and was
        // slow.
        let logged = timed
            .filter(|&(name, outcome)| outcome != Outcome::Rejected && name != "exec")
            .is_some_and(|_| self.ctx.slowlog.is_slow(micros));
        let args = match args {
            SlowArgs::Off => return ended,
            SlowArgs::Owned(args) => args,
            // Left in the buffer (copied over by the next command): it refers to nothing.
            SlowArgs::Kept if logged => KEPT_ARGS.with_borrow_mut(std::mem::take),
            SlowArgs::Kept => return ended,
        };
        if logged {
            let state = self.resp.as_deref().expect("resp session");
            let client_name = state.names().and_then(|n| n.name.clone()).unwrap_or_default();
            let (secs, _) = self.ctx.unix_time();
            let peer = self.client.peer().map_or_else(String::new, |a| a.to_string());
            self.ctx.slowlog.add(&args, micros, secs, peer, client_name);
        }
        ended
    }

    /// The checks that come before any command runs (arity, the user's permissions, subscribed
    /// mode, queueing inside MULTI), then [`Session::run`]; and what became of the command.
    fn check_and_run(&mut self, args: Vec<Bytes>, out: &mut Vec<u8>) -> (Status, Fate) {
        let is_exec = args[0].eq_ignore_ascii_case(b"exec");
        let bytes = args.iter().map(Bytes::len).sum();
        // The MONITOR feed's copy of the arguments (handles only), while somebody monitors or
        // a transaction may queue the command (EXEC feeds them as sent).
        let monitored = self.ctx.exchange.monitored();
        let in_multi = self.resp.as_deref().is_some_and(|s| s.multi().is_some());
        let sent = (monitored || in_multi).then(|| args.clone());
        let cmd = match Command::parse(args) {
            Ok(cmd) => cmd,
            Err(err) => {
                // Before authenticating, Redis answers NOAUTH to a command its table knows even
                // when the arguments are wrong.
                match self.resp.as_deref().expect("resp session").login.gate_malformed(&err) {
                    Some(denied) => self.deny(denied, is_exec, out),
                    None => self.refuse(is_exec, &err.to_bytes(), out),
                }
                let ran = match err {
                    CommandError::Arity(name) => Fate::Rejected(name),
                    _ => Fate::Unknown,
                };
                return (Status::Open, ran);
            }
        };
        let name = cmd.full_name();
        if self.refresh_acl() == AclRefresh::Ended {
            return (Status::Abort, Fate::Unknown);
        }
        let state = self.resp.as_deref_mut().expect("resp session");
        // Named before the checks, as by Redis: CLIENT LIST and the ACL log show the command
        // even when it is refused.
        state.last_cmd = name;
        if let Err(denied) = state.login.gate(&cmd) {
            self.deny(denied, is_exec, out);
            return (Status::Open, Fate::Rejected(name));
        }
        let state = self.resp.as_deref_mut().expect("resp session");
        if state.resp2_subscribed() && !cmd.allowed_when_subscribed() {
            self.refuse(is_exec, subscribed_context_error(name).as_bytes(), out);
            return (Status::Open, Fate::Rejected(name));
        }
        if let Some(transaction) = state.multi_mut().filter(|_| cmd.is_queued_in_multi()) {
            let sent = sent.unwrap_or_default();
            match transaction.queue(cmd, sent, bytes, &self.ctx.config.limits) {
                Ok(()) => out.extend_from_slice(b"+QUEUED\r\n"),
                Err(err) => error(out, &err),
            }
            // Queued, not run: Redis counts it when EXEC runs it.
            return (Status::Open, Fate::Unknown);
        }
        let status = self.run(cmd, out);
        if let Some(args) = sent.filter(|_| monitored) {
            // After it ran, as Redis: a monitor sees EXEC after the commands it ran.
            self.feed_monitors(name, &args);
        }
        (status, Fate::Ran(name))
    }

    /// Appends `reply`, in the connection's RESP version.
    fn reply(&self, reply: Frame, out: &mut Vec<u8>) -> Status {
        reply.encode(self.resp.as_deref().expect("resp session").version, out);
        Status::Open
    }

    /// Answers a request refused before it ran. As in Redis, a refused EXEC discards the
    /// transaction with `EXECABORT`, and any other refusal inside MULTI makes EXEC fail.
    fn refuse(&mut self, is_exec: bool, text: &[u8], out: &mut Vec<u8>) {
        let state = self.resp.as_deref_mut().expect("resp session");
        if is_exec {
            state.take_multi();
            let why = text.strip_prefix(b"ERR ").unwrap_or(text);
            let mut line = EXECABORT_BECAUSE.as_bytes().to_vec();
            line.extend_from_slice(why);
            encode_error(out, &line);
        } else {
            if let Some(transaction) = state.multi_mut() {
                transaction.failed = true;
            }
            encode_error(out, text);
        }
    }

    /// Refuses a command the login does not allow (as any refusal, inside MULTI too), and
    /// counts it.
    fn deny(&mut self, denied: Denied, is_exec: bool, out: &mut Vec<u8>) {
        let stats = &self.ctx.stats;
        let (counter, logged) = match &denied {
            Denied::NoAuth => (&stats.acl_denied_auth, None),
            Denied::Command(name) => {
                (&stats.acl_denied_command, Some((LogReason::Command, Bytes::from(*name))))
            }
            Denied::Channel(channel) => {
                (&stats.acl_denied_channel, Some((LogReason::Channel, channel.clone())))
            }
            Denied::Key(key) => (&stats.acl_denied_key, Some((LogReason::Key, key.clone()))),
        };
        add(counter, 1);
        if let Some((reason, object)) = logged {
            let user = self.resp.as_deref().expect("resp session").login.user().name();
            self.log_refusal(reason, object, Bytes::copy_from_slice(user));
        }
        self.refuse(is_exec, denied.to_string().as_bytes(), out);
    }

    /// Puts a refusal into the ACL log, with this connection's `CLIENT LIST` line.
    fn log_refusal(&mut self, reason: LogReason, object: Bytes, user: Bytes) {
        let state = self.resp.as_deref().expect("resp session");
        let in_multi = state.multi().is_some() || state.rare().is_some_and(|r| r.executing);
        self.update_snapshot();
        let mut info = String::new();
        self.client.list_line(&mut info);
        let info = info.trim_end().to_string();
        let now_ms = self.now_ms();
        self.ctx.acl.log.add(reason, in_multi, object, user, info, now_ms);
    }

    /// The wall clock in milliseconds, read by the server context (the session reads no
    /// clock).
    fn now_ms(&self) -> u64 {
        let (secs, micros) = self.ctx.unix_time();
        secs * 1000 + u64::from(micros) / 1000
    }
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

/// Appends `text` as a verbatim string (`txt`) in RESP3 and a bulk string in RESP2, as Redis
/// sends `LOLWUT`, `LATENCY DOCTOR` and `GRAPH`.
fn verbatim(session: &Session, text: &str, out: &mut Vec<u8>) {
    if session.resp.as_deref().expect("resp session").version == shared::RespVersion::Resp3 {
        shared::resp::encode_verbatim_text(out, text.as_bytes());
    } else {
        shared::resp::encode_bulk(out, text.as_bytes());
    }
}

/// `+OK`.
fn ok() -> Frame {
    Frame::Simple("OK".into())
}
