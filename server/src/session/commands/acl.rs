//! ACL: users, their rules and the log of refusals, on the server's [`crate::acl::Acl`].

use bytes::Bytes;
use shared::command::{AclCommand, Command, CommandError};
use shared::resp::encode_integer;
use shared::Frame;

use super::{help, ok, Run};
use crate::acl::{self, Refresh, Refusal};
use crate::errors::ReplyError;
use crate::session::{error, Session, Status};

impl Run for AclCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        match self {
            AclCommand::DelUser(names) => session.delete_users(&names, out),
            sub => {
                let reply = session.acl_command(sub);
                session.reply(reply, out)
            }
        }
    }
}

impl Session {
    /// `ACL DELUSER`: the number of users deleted. Every other connection of a deleted user
    /// ends at its next wake-up (sent here); this one, if its own user went, after the reply,
    /// as from Redis.
    fn delete_users(&mut self, names: &[Bytes], out: &mut Vec<u8>) -> Status {
        let deleted = match self.ctx.acl.delete_users(names) {
            Ok(deleted) => deleted,
            Err(err) => {
                error(out, &err);
                return Status::Open;
            }
        };
        encode_integer(out, deleted as i64);
        if deleted == 0 {
            return Status::Open;
        }
        let names: Vec<_> = names.iter().map(|n| String::from_utf8_lossy(n)).collect();
        tracing::info!(conn = self.id, "users deleted: {names:?}");
        self.ctx.wake_all();
        let state = self.resp.as_deref_mut().expect("resp session");
        if state.login.refresh(&self.ctx.acl) == Refresh::Gone {
            state.closing = true;
            return Status::Close;
        }
        Status::Open
    }

    /// Every ACL subcommand but DELUSER: its reply.
    fn acl_command(&mut self, sub: AclCommand) -> Frame {
        let acl = &self.ctx.acl;
        let changed = match sub {
            AclCommand::WhoAmI => {
                let state = self.resp.as_deref().expect("resp session");
                return Frame::Bulk(Bytes::copy_from_slice(state.login.user().name()));
            }
            AclCommand::List => {
                return Frame::Array(
                    acl.list().into_iter().map(|l| Frame::Bulk(l.into())).collect(),
                )
            }
            AclCommand::Users => {
                return Frame::Array(acl.names().into_iter().map(Frame::Bulk).collect())
            }
            AclCommand::Cat(category) => {
                return match acl::category(category.as_deref()) {
                    Ok(names) => Frame::Array(names.into_iter().map(Frame::bulk).collect()),
                    Err(err) => err.frame(),
                }
            }
            AclCommand::SetUser { name, rules } => {
                acl.set_user(&name, &rules).map_err(Frame::from)
            }
            AclCommand::GetUser(name) => {
                return acl.get(&name).map_or(Frame::Null, |u| getuser(&u))
            }
            AclCommand::DryRun { name, args } => return dry_run(acl, &name, args),
            AclCommand::Save => {
                return match acl.save() {
                    Ok(()) => ok(),
                    Err(err) => {
                        if let acl::AclError::Write { path, source } = &err {
                            tracing::warn!("ACL SAVE: cannot write {}: {source}", path.display());
                        }
                        ReplyError::AclFile(err).frame()
                    }
                }
            }
            AclCommand::Help => return help("ACL", ACL_HELP),
            AclCommand::GenPass(bits) => return generate_password(bits),
            AclCommand::Log(arg) => return self.acl_log(arg.as_deref()),
            AclCommand::DelUser(_) => unreachable!("ACL DELUSER runs apart"),
            AclCommand::Load => acl.load().map_err(|e| ReplyError::AclFile(e).frame()),
        };
        match changed {
            Ok(change) => {
                tracing::info!(conn = self.id, "users changed: {change:?}");
                // Every connection looks at its user again: those subscribed to what their
                // user lost end (see `Session::refresh_acl`).
                self.ctx.wake_all();
                ok()
            }
            Err(reply) => reply,
        }
    }

    /// `ACL LOG [count | RESET]`: the newest entries (10 by default), each a map of Redis
    /// 7.2's fields in its order, or `+OK` after forgetting them.
    fn acl_log(&self, arg: Option<&[u8]>) -> Frame {
        let log = &self.ctx.acl.log;
        let count = match arg {
            None => 10,
            Some(a) if a.eq_ignore_ascii_case(b"reset") => {
                log.reset();
                return ok();
            }
            Some(a) => match shared::command::parse_integer(a) {
                Some(n) => usize::try_from(n).unwrap_or(0),
                None => return Frame::Error(CommandError::NotAnInteger.to_string()),
            },
        };
        let now_ms = self.now_ms();
        let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
        let entries = log.newest(count).into_iter().map(|e| {
            let age = now_ms.saturating_sub(e.updated_ms) as f64 / 1000.0;
            Frame::Map(vec![
                pair("count", Frame::Integer(e.count as i64)),
                pair("reason", Frame::bulk(e.reason.word())),
                pair("context", Frame::bulk(e.context)),
                pair("object", Frame::Bulk(e.object)),
                pair("username", Frame::Bulk(e.username)),
                pair("age-seconds", Frame::Double(age.to_string())),
                pair("client-info", Frame::Bulk(e.client_info.into())),
                pair("entry-id", Frame::Integer(e.entry_id as i64)),
                pair("timestamp-created", Frame::Integer(e.created_ms as i64)),
                pair("timestamp-last-updated", Frame::Integer(e.updated_ms as i64)),
            ])
        });
        Frame::Array(entries.collect())
    }
}

/// `ACL GETUSER`'s reply: a map in RESP3 (the flags a set), a flat array of names and values
/// in RESP2, with Redis 7's fields in its order.
fn getuser(user: &acl::User) -> Frame {
    let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
    Frame::Map(vec![
        pair("flags", Frame::Set(user.flags().into_iter().map(Frame::bulk).collect())),
        pair(
            "passwords",
            Frame::Array(user.password_digests().into_iter().map(Frame::bulk).collect()),
        ),
        pair("commands", Frame::bulk(user.command_rules_text())),
        pair("keys", Frame::bulk(user.keys_text())),
        pair("channels", Frame::bulk(user.channels_text())),
        pair("selectors", Frame::Array(Vec::new())),
    ])
}

/// `ACL DRYRUN name command [arg ...]`: `+OK` if the user may run the command, else a bulk
/// string saying why (naming the command or the channel), Redis's texts. The command is
/// checked as Redis checks it: it must exist, with its table arity.
fn dry_run(acl: &acl::Acl, name: &[u8], args: Vec<Bytes>) -> Frame {
    let Some(user) = acl.get(name) else {
        return ReplyError::NoSuchUser(String::from_utf8_lossy(name).into_owned()).frame();
    };
    let first = String::from_utf8_lossy(&args[0]).into_owned();
    let refusal = match Command::parse(args) {
        Ok(cmd) => user.permits(&cmd).err().map(|r| r.dry_run_text()),
        Err(CommandError::Unknown { .. } | CommandError::UnknownSubcommand { .. }) => {
            return ReplyError::NoSuchCommand(first).frame();
        }
        // The commands whose argument count Redis checks only when running them.
        Err(err) => match acl::permission_first(&err) {
            Some(name) => {
                (!user.command_allowed(name)).then(|| Refusal::Command(name).dry_run_text())
            }
            None => return Frame::Error(String::from_utf8_lossy(&err.to_bytes()).into_owned()),
        },
    };
    refusal.map_or(ok(), |text| Frame::Bulk(text.into()))
}

/// `ACL GENPASS`: `bits` random bits from the kernel's generator, as Redis prints them: a
/// hexadecimal digit per 4 bits, rounded up.
fn generate_password(bits: u32) -> Frame {
    let mut random = vec![0u8; bits.div_ceil(8) as usize];
    let mut filled = 0;
    while filled < random.len() {
        let rest = &mut random[filled..];
        // SAFETY: writes at most `rest.len()` bytes into `rest`, which is valid for them.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("ACL GENPASS: no random bytes: {e}");
            return ReplyError::NoRandom(e).frame();
        }
        filled += n as usize;
    }
    let mut hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(bits.div_ceil(4) as usize);
    Frame::Bulk(hex.into())
}

const ACL_HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

