//! MULTI, EXEC, DISCARD, WATCH, UNWATCH, and the MULTI queue: commands a connection queued
//! for EXEC, bounded like one request.

use shared::command::TransactionCommand;
use shared::{Command, Limits};

use super::{ok, Run};
use crate::errors::ReplyError;
use crate::session::{error, Session, Status};

impl Run for TransactionCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let state = session.resp.as_deref_mut().expect("resp session");
        let reply = match self {
            TransactionCommand::Multi if state.multi.is_some() => {
                ReplyError::NestedMulti.frame()
            }
            TransactionCommand::Multi => {
                state.multi = Some(Transaction::default());
                ok()
            }
            TransactionCommand::Exec => return session.exec(out),
            TransactionCommand::Discard => match state.multi.take() {
                Some(_) => ok(),
                None => ReplyError::DiscardWithoutMulti.frame(),
            },
            TransactionCommand::Watch(_) if state.multi.is_some() => {
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
        let Some(transaction) = state.multi.take() else {
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

}

/// An open transaction (between MULTI and EXEC or DISCARD).
#[derive(Debug, Default)]
pub(in crate::session) struct Transaction {
    /// The commands queued so far, in order.
    pub(in crate::session) queued: Vec<Command>,
    /// The argument bytes of `queued`.
    bytes: usize,
    /// Set when a command was refused while queueing (unknown, wrong arity, queue full): EXEC
    /// then discards the transaction with `EXECABORT`, as Redis does.
    pub(in crate::session) failed: bool,
}

impl Transaction {
    /// Queues `cmd`, whose arguments take `bytes`. A transaction holds at most what one request
    /// may: `max_args` commands and `max_bulk_len` bytes of arguments; past either the command
    /// is refused with the error returned (and the transaction marked failed).
    pub(in crate::session) fn queue(
        &mut self,
        cmd: Command,
        bytes: usize,
        limits: &Limits,
    ) -> Result<(), ReplyError> {
        if self.queued.len() >= limits.max_args || self.bytes + bytes > limits.max_bulk_len {
            self.failed = true;
            return Err(ReplyError::MultiQueueFull {
                max_args: limits.max_args,
                max_bytes: limits.max_bulk_len,
            });
        }
        self.bytes += bytes;
        self.queued.push(cmd);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNWATCH: Command = Command::Transaction(TransactionCommand::Unwatch);

    #[test]
    fn the_queue_is_bounded_like_a_request() {
        let limits = Limits { max_inline_len: 64, max_bulk_len: 10, max_args: 2 };
        let mut t = Transaction::default();
        assert!(t.queue(UNWATCH, 4, &limits).is_ok());
        assert!(t.queue(UNWATCH, 7, &limits).is_err(), "11 bytes > 10");
        assert!(t.failed);
        let mut t = Transaction::default();
        t.queue(UNWATCH, 1, &limits).unwrap();
        t.queue(UNWATCH, 1, &limits).unwrap();
        let err = t.queue(UNWATCH, 1, &limits).unwrap_err().to_string();
        assert_eq!(
            err,
            "ERR MULTI queue full (at most 2 commands and 10 bytes of arguments): EXEC or DISCARD"
        );
        assert_eq!(t.queued.len(), 2);
    }
}
