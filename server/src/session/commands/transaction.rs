//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use shared::command::TransactionCommand;

use super::{ok, Fate, Run, SlowArgs};
use crate::errors::ReplyError;
use crate::slowlog::ArgsCopy;
use crate::session::transaction::Transaction;
use crate::session::{error, Session, Status};

impl Run for TransactionCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let state = session.resp.as_deref_mut().expect("resp session");
        let reply = match self {
            TransactionCommand::Multi if state.multi().is_some() => {
                ReplyError::NestedMulti.frame()
            }
            TransactionCommand::Multi => {
                state.rare_mut().multi = Some(Transaction::default());
                ok()
            }
            TransactionCommand::Exec => return session.exec(out),
            TransactionCommand::Discard => match state.take_multi() {
                Some(_) => ok(),
                None => ReplyError::DiscardWithoutMulti.frame(),
            },
            TransactionCommand::Watch(_) if state.multi().is_some() => {
                ReplyError::WatchInsideMulti.frame()
            }
            // No keys, so nothing watched can change: EXEC never fails because of WATCH.
            TransactionCommand::Watch(_) | TransactionCommand::Unwatch => ok(),
        };
        session.reply(reply, out)
    }
}

impl Session {
    /// EXEC: runs the queued commands together, their replies in one array (a transaction
    /// that failed while queueing is discarded with `EXECABORT`).
    fn exec(&mut self, out: &mut Vec<u8>) -> Status {
        let state = self.resp.as_deref_mut().expect("resp session");
        let Some(transaction) = state.take_multi() else {
            error(out, &ReplyError::ExecWithoutMulti);
            return Status::Open;
        };
        if transaction.failed {
            error(out, &ReplyError::ExecAbort);
            return Status::Open;
        }
        // Each command appends its own reply, as from Redis: a queued SUBSCRIBE of several
        // channels appends one confirmation each, exactly as Redis's EXEC does.
        out.extend_from_slice(format!("*{}\r\n", transaction.queued.len()).as_bytes());
        state.rare_mut().executing = true;
        for (cmd, sent) in transaction.queued.into_iter().zip(transaction.sent) {
            // QUIT is never queued; a queued command that ends the connection (ACL DELUSER of
            // its own user) marks it closing, and the rest still run, as in Redis.
            // Each counted, timed and slow-logged as a command of its own, as by Redis, and
            // shown to monitors with its arguments as sent.
            let (name, mark, started) = (cmd.full_name(), out.len(), self.ctx.monotonic());
            let sent = if sent.is_empty() { cmd.to_args() } else { sent };
            let args = if self.ctx.slowlog.slower_than() >= 0 {
                SlowArgs::Owned(ArgsCopy::of(&sent))
            } else {
                SlowArgs::Off
            };
            let _ = self.run(cmd, out);
            self.record_command(started, Fate::Ran(name), args, &out[mark..]);
            if self.ctx.exchange.monitored() {
                self.feed_monitors(name, &sent);
            }
        }
        let state = self.resp.as_deref_mut().expect("resp session");
        state.rare_mut().executing = false;
        if state.closing {
            return Status::Close;
        }
        Status::Open
    }

}
