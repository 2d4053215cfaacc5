//! INFO, DBSIZE, TIME, LASTSAVE: questions about the server.

use shared::command::ServerCommand;
use shared::Frame;

use super::Run;
use crate::session::{Session, Status};

impl Run for ServerCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let ctx = &session.ctx;
        let reply = match self {
            ServerCommand::Info(sections) => Frame::Bulk(ctx.info(&sections).into()),
            ServerCommand::DbSize => Frame::Integer(0),
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
