//! LOLWUT: the version this server reports, in Redis 7's words.

use shared::command::{parse_integer, CommandError, LolwutCommand};
use shared::Frame;

use super::{verbatim, Run};
use crate::info::REDIS_VERSION;
use crate::session::{Session, Status};

impl Run for LolwutCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        if self.version.is_some_and(|v| parse_integer(&v).is_none()) {
            return session.reply(Frame::Error(CommandError::NotAnInteger.to_string()), out);
        }
        // Redis answers every version but 5 and 6 (its art) with this text, the version being
        // its own, as a verbatim string (`txt`) in RESP3 and a bulk string in RESP2.
        let text = format!("Redis ver. {REDIS_VERSION}\n");
        verbatim(session, &text, out);
        Status::Open
    }
}
