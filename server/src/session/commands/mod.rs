//! The commands a session runs. This module holds the checks that come before any command
//! (arity, the user's permissions, subscribed mode, queueing inside MULTI) and the one
//! dispatch by family; each family's module (named as in [`shared::command`]) runs its
//! commands against the connection state of the parent module.

use bytes::Bytes;
use shared::command::{subscribed_context_error, Command};
use shared::resp::encode_error;
use shared::Frame;

use super::{error, AclRefresh, Session, Status};
use crate::acl::{Denied, LogReason};
use crate::errors::EXECABORT_BECAUSE;
use crate::stats::add;

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
        // The MONITOR feed's copy of the arguments (handles only), while somebody monitors or
        // a transaction may queue the command (EXEC feeds them as sent).
        let monitored = self.ctx.exchange.monitored();
        let in_multi = self.resp.as_deref().is_some_and(|s| s.multi.is_some());
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
                return Status::Open;
            }
        };
        if self.refresh_acl() == AclRefresh::Ended {
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
            let sent = sent.unwrap_or_default();
            match transaction.queue(cmd, sent, bytes, &self.ctx.config.limits) {
                Ok(()) => out.extend_from_slice(b"+QUEUED\r\n"),
                Err(err) => error(out, &err),
            }
            return Status::Open;
        }
        let full_name = cmd.full_name();
        let status = self.run(cmd, out);
        if let Some(args) = sent.filter(|_| monitored) {
            // After it ran, as Redis: a monitor sees EXEC after the commands it ran.
            self.feed_monitors(full_name, &args);
        }
        status
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
            state.multi = None;
            let why = text.strip_prefix(b"ERR ").unwrap_or(text);
            let mut line = EXECABORT_BECAUSE.as_bytes().to_vec();
            line.extend_from_slice(why);
            encode_error(out, &line);
        } else {
            if let Some(transaction) = state.multi.as_mut() {
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
        let in_multi = state.multi.is_some() || state.executing;
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

/// `+OK`.
fn ok() -> Frame {
    Frame::Simple("OK".into())
}
