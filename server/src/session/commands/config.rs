//! CONFIG: the parameters the server changes while it runs (`config::PARAMETERS`).

use shared::command::ConfigCommand;
use shared::Frame;

use super::{help, ok, Run};
use crate::session::{Session, Status};

impl Run for ConfigCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let ctx = &session.ctx;
        let reply = match self {
            // A map in RESP3, a flat array of names and values in RESP2, as from Redis.
            ConfigCommand::Get(patterns) => Frame::Map(
                ctx.config_get(&patterns)
                    .into_iter()
                    .map(|(name, value)| (Frame::bulk(name), Frame::Bulk(value.into())))
                    .collect(),
            ),
            ConfigCommand::Set(pairs) => match ctx.config_set(&pairs) {
                Ok(()) => ok(),
                Err(err) => err.frame(),
            },
            ConfigCommand::ResetStat => {
                ctx.stats.reset();
                ctx.commands.reset();
                ok()
            }
            ConfigCommand::Help => help("CONFIG", CONFIG_HELP),
        };
        session.reply(reply, out)
    }
}

const CONFIG_HELP: &[&str] = &[
    "GET <pattern> [<pattern> ...]",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value> [<directive> <value> ...]",
    "    Set the configuration <directive> to <value> (timeout, maxclients,",
    "    client-output-buffer-limit).",
    "RESETSTAT",
    "    Reset the statistics reported by the INFO command.",
];

