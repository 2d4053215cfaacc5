//! PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT: the connection's own state.

use bytes::Bytes;
use shared::command::{parse_db_index, ConnectionCommand};
use shared::resp::encode_bulk;
use shared::{Frame, RespVersion};

use super::{ok, Run};
use crate::acl;
use crate::errors::ReplyError;
use crate::info::REDIS_VERSION;
use crate::session::{error, set_name, Session, Status};
use crate::stats::add;

impl Run for ConnectionCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let state = session.resp.as_deref_mut().expect("resp session");
        let reply = match self {
            ConnectionCommand::Ping(msg) if state.resp2_subscribed() => {
                Frame::Array(vec![Frame::bulk("pong"), Frame::Bulk(msg.unwrap_or_default())])
            }
            ConnectionCommand::Ping(None) => {
                out.extend_from_slice(b"+PONG\r\n");
                return Status::Open;
            }
            ConnectionCommand::Ping(Some(msg)) | ConnectionCommand::Echo(msg) => {
                encode_bulk(out, &msg);
                return Status::Open;
            }
            ConnectionCommand::Quit => {
                out.extend_from_slice(b"+OK\r\n");
                state.closing = true;
                return Status::Close;
            }
            ConnectionCommand::Hello { version, name, auth } => {
                return session.hello(version, name, auth, out)
            }
            ConnectionCommand::Auth { user, password } => {
                let default = session.ctx.acl.get(acl::DEFAULT_USER.as_bytes());
                if user.is_none() && default.is_some_and(|u| u.nopass()) {
                    ReplyError::AuthWithoutPassword.frame()
                } else {
                    match session.authenticate("AUTH", user.as_deref(), &password) {
                        Ok(()) => ok(),
                        Err(err) => err.frame(),
                    }
                }
            }
            ConnectionCommand::Select(index) => match parse_db_index(&index) {
                Ok(db) => {
                    state.db = db as u8; // 0 to 15
                    ok()
                }
                Err(err) => Frame::Error(err.to_string()),
            },
            ConnectionCommand::Reset => {
                // Left first, then drained: nothing for the old subscriptions follows the reply.
                session.leave_all();
                session.drain_before_change(out);
                let state = session.resp.as_deref_mut().expect("resp session");
                state.version = RespVersion::Resp2;
                state.set_names(|names| names.name = None);
                state.db = 0;
                state.take_multi();
                state.tracking = None;
                state.login.reset(&session.ctx.acl);
                session.client.mailbox.set_version(RespVersion::Resp2);
                Frame::Simple("RESET".into())
            }
        };
        session.reply(reply, out)
    }
}

impl Session {
    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`: logs in, names the
    /// connection and switches its protocol, in Redis's order, then describes the server.
    fn hello(
        &mut self,
        version: Option<i64>,
        name: Option<Bytes>,
        auth: Option<(Bytes, Bytes)>,
        out: &mut Vec<u8>,
    ) -> Status {
        if let Some((user, password)) = auth {
            if let Err(err) = self.authenticate("HELLO", Some(&user), &password) {
                error(out, &err);
                return Status::Open;
            }
        }
        let state = self.resp.as_deref_mut().expect("resp session");
        if !state.login.authenticated() {
            error(out, &ReplyError::NoAuthHello);
            return Status::Open;
        }
        if let Some(name) = name {
            if let Err(err) = set_name(state, name) {
                error(out, &err);
                return Status::Open;
            }
        }
        if let Some(asked) = version {
            state.version = if asked == 3 { RespVersion::Resp3 } else { RespVersion::Resp2 };
            self.client.mailbox.set_version(state.version);
        }
        let proto = if state.version == RespVersion::Resp3 { 3 } else { 2 };
        let pair = |k: &str, v: Frame| (Frame::bulk(k), v);
        let reply = Frame::Map(vec![
            pair("server", Frame::bulk("switchboard")),
            pair("version", Frame::bulk(REDIS_VERSION)),
            pair("proto", Frame::Integer(proto)),
            pair("id", Frame::Integer(self.id as i64)),
            pair("mode", Frame::bulk("standalone")),
            pair("role", Frame::bulk("master")),
            pair("modules", Frame::Array(Vec::new())),
        ]);
        self.reply(reply, out)
    }

    /// AUTH and HELLO AUTH (`command`, as it goes into the ACL log); a wrong password is
    /// counted and logged.
    fn authenticate(
        &mut self,
        command: &'static str,
        user: Option<&[u8]>,
        password: &[u8],
    ) -> Result<(), ReplyError> {
        let state = self.resp.as_deref_mut().expect("resp session");
        let done = state.login.authenticate(&self.ctx.acl, user, password, self.id);
        if done.is_err() {
            add(&self.ctx.stats.acl_denied_auth, 1);
            let user = Bytes::copy_from_slice(user.unwrap_or(acl::DEFAULT_USER.as_bytes()));
            self.log_refusal(acl::LogReason::Auth, Bytes::from_static(command.as_bytes()), user);
        }
        done
    }
}
