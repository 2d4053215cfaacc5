//! SLOWLOG: the commands that ran longer than `slowlog-log-slower-than` (`crate::slowlog`).

use bytes::Bytes;
use shared::command::{parse_integer, SlowlogCommand};
use shared::Frame;

use super::{help, ok, Run};
use crate::errors::ReplyError;
use crate::session::{Session, Status};
use crate::slowlog::Entry;

/// Entries `SLOWLOG GET` gives without a count.
const DEFAULT_COUNT: usize = 10;

impl Run for SlowlogCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let log = &session.ctx.slowlog;
        let reply = match self {
            SlowlogCommand::Get(count) => {
                let count = match count.as_deref().map(parse_integer) {
                    None => Some(DEFAULT_COUNT),
                    Some(Some(-1)) => None,
                    Some(Some(n)) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    Some(_) => return session.reply(ReplyError::SlowlogCount.frame(), out),
                };
                Frame::Array(log.get(count).into_iter().map(entry).collect())
            }
            SlowlogCommand::Len => Frame::Integer(log.len() as i64),
            SlowlogCommand::Reset => {
                log.reset();
                ok()
            }
            SlowlogCommand::Help => help("SLOWLOG", SLOWLOG_HELP),
        };
        session.reply(reply, out)
    }
}

/// One entry as Redis replies it: id, unix time, microseconds, arguments, address, name.
fn entry(e: Entry) -> Frame {
    Frame::Array(vec![
        Frame::Integer(e.id as i64),
        Frame::Integer(e.unix_secs as i64),
        Frame::Integer(e.micros as i64),
        Frame::Array(e.args.into_iter().map(Frame::Bulk).collect()),
        Frame::Bulk(Bytes::from(e.peer)),
        Frame::Bulk(e.name),
    ])
}

const SLOWLOG_HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];
