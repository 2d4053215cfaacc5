//! COMMAND, INFO, DBSIZE, TIME, LASTSAVE: questions about the server.

use shared::command::ServerCommand;
use shared::Frame;

use super::{help, Run};
use crate::session::{Session, Status};

impl Run for ServerCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let now = session.now_ms();
        let ctx = &session.ctx;
        let is = |sub: &Option<bytes::Bytes>, word: &[u8]| {
            sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(word))
        };
        let reply = match self {
            ServerCommand::Command(sub) if is(&sub, b"count") => Frame::Integer(0),
            // An empty command table: interactive redis-cli starts without hints. DOCS is a
            // map (an empty array in RESP2), the other forms arrays, as from Redis.
            ServerCommand::Command(sub) if is(&sub, b"docs") => Frame::Map(Vec::new()),
            ServerCommand::Command(sub) if is(&sub, b"help") => help("COMMAND", COMMAND_HELP),
            ServerCommand::Command(_) => Frame::Array(Vec::new()),
            ServerCommand::Info(sections) => Frame::Bulk(ctx.info(&sections).into()),
            ServerCommand::DbSize => Frame::Integer(ctx.keyspace.counts(now).0 as i64),
            ServerCommand::LastSave => Frame::Integer(ctx.started_unix as i64),
            ServerCommand::Time => {
                // The wall clock, read by the server context (the session reads no clock).
                let (secs, micros) = ctx.unix_time();
                Frame::Array(vec![
                    Frame::Bulk(secs.to_string().into()),
                    Frame::Bulk(micros.to_string().into()),
                ])
            }
        };
        session.reply(reply, out)
    }
}

const COMMAND_HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all commands (an empty list here).",
    "COUNT",
    "    Return the total number of commands (0 here).",
];
