//! The MULTI queue: commands a connection queued for EXEC, bounded like one request.

use bytes::Bytes;
use shared::{Command, Limits};

use crate::errors::ReplyError;

/// An open transaction (between MULTI and EXEC or DISCARD).
#[derive(Debug, Default)]
pub(super) struct Transaction {
    /// The commands queued so far, in order.
    pub(super) queued: Vec<Command>,
    /// Their arguments as sent (handles to the same bytes), for the MONITOR lines EXEC feeds.
    pub(super) sent: Vec<Vec<Bytes>>,
    /// The argument bytes of `queued`.
    bytes: usize,
    /// Set when a command was refused while queueing (unknown, wrong arity, queue full): EXEC
    /// then discards the transaction with `EXECABORT`, as Redis does.
    pub(super) failed: bool,
}

impl Transaction {
    /// Queues `cmd`, whose arguments take `bytes`. A transaction holds at most what one request
    /// may: `max_args` commands and `max_bulk_len` bytes of arguments; past either the command
    /// is refused with the error returned (and the transaction marked failed).
    pub(super) fn queue(
        &mut self,
        cmd: Command,
        sent: Vec<Bytes>,
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
        self.sent.push(sent);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::command::TransactionCommand;

    const UNWATCH: Command = Command::Transaction(TransactionCommand::Unwatch);

    #[test]
    fn the_queue_is_bounded_like_a_request() {
        let limits = Limits { max_inline_len: 64, max_bulk_len: 10, max_args: 2 };
        let mut t = Transaction::default();
        assert!(t.queue(UNWATCH, Vec::new(), 4, &limits).is_ok());
        assert!(t.queue(UNWATCH, Vec::new(), 7, &limits).is_err(), "11 bytes > 10");
        assert!(t.failed);
        let mut t = Transaction::default();
        t.queue(UNWATCH, Vec::new(), 1, &limits).unwrap();
        t.queue(UNWATCH, Vec::new(), 1, &limits).unwrap();
        let err = t.queue(UNWATCH, Vec::new(), 1, &limits).unwrap_err().to_string();
        assert_eq!(
            err,
            "ERR MULTI queue full (at most 2 commands and 10 bytes of arguments): EXEC or DISCARD"
        );
        assert_eq!(t.queued.len(), 2);
    }
}
