//! CLIENT: the connection's name, library and reply mode, and the registry of connections
//! (`LIST`, `KILL`, `INFO`).

use bytes::Bytes;
use shared::command::{ClientCommand, ReplyMode};
use shared::resp::encode_integer;
use shared::Frame;

use super::{help, ok, Run};
use crate::clients::Filter;
use crate::errors::ReplyError;
use crate::session::tracking::{tracking_info, TrackingRequest};
use crate::session::{error, set_name, Session, Status};

impl Run for ClientCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let state = session.resp.as_deref_mut().expect("resp session");
        if let Some(tracking) = state.rare_tracking_mut() {
            tracking.client_command(session.requests);
        }
        let reply = match self {
            ClientCommand::SetInfo { lib_name, value } => {
                if value.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                    let what = if lib_name { "lib-name" } else { "lib-ver" };
                    ReplyError::BadClientInfo(what).frame()
                } else {
                    let value = (!value.is_empty()).then_some(value);
                    state.set_names(|names| {
                        if lib_name {
                            names.lib_name = value;
                        } else {
                            names.lib_ver = value;
                        }
                    });
                    ok()
                }
            }
            ClientCommand::Info => {
                session.update_snapshot();
                let mut line = String::new();
                session.client.list_line(&mut line);
                Frame::Bulk(line.into())
            }
            ClientCommand::List(args) => match parse_filter(&args, false) {
                Ok(filter) => {
                    session.update_snapshot();
                    let mut text = String::new();
                    for client in session.ctx.clients(&filter, session.id) {
                        client.list_line(&mut text);
                    }
                    Frame::Bulk(text.into())
                }
                Err(err) => err.frame(),
            },
            ClientCommand::Kill(args) => return session.kill(&args, out),
            ClientCommand::NoEvict(on) => {
                state.rare_mut().no_evict = on;
                ok()
            }
            ClientCommand::NoTouch(on) => {
                state.rare_mut().no_touch = on;
                ok()
            }
            ClientCommand::Reply(mode) => {
                state.reply_off = mode == ReplyMode::Off;
                state.skip_next = mode == ReplyMode::Skip;
                if mode != ReplyMode::On {
                    return Status::Open; // OFF and SKIP have no reply
                }
                ok()
            }
            ClientCommand::Help => help("CLIENT", CLIENT_HELP),
            ClientCommand::SetName(name) => match set_name(state, name) {
                Ok(()) => ok(),
                Err(err) => err.frame(),
            },
            ClientCommand::GetName => {
                state.names().and_then(|n| n.name.clone()).map_or(Frame::Null, Frame::Bulk)
            }
            ClientCommand::Id => Frame::Integer(session.id as i64),
            ClientCommand::Tracking(args) => {
                let ctx = &session.ctx;
                let exists = |id: u64| {
                    let filter = Filter { ids: Some(vec![id]), ..Filter::default() };
                    !ctx.clients(&filter, session.id).is_empty()
                };
                match TrackingRequest::parse(&args, exists)
                    .and_then(|req| state.set_tracking(|tracking| req.apply(tracking)))
                {
                    Ok(()) => ok(),
                    Err(err) => err.frame(),
                }
            }
            ClientCommand::TrackingInfo => tracking_info(state.tracking()),
            ClientCommand::GetRedir => {
                Frame::Integer(state.tracking().map_or(-1, |t| t.redirect as i64))
            }
            ClientCommand::Caching(word) => match state.rare_tracking_mut() {
                Some(tracking) => match tracking.caching(&word) {
                    Ok(()) => ok(),
                    Err(err) => err.frame(),
                },
                None => ReplyError::CachingNotTracking.frame(),
            },
        };
        session.reply(reply, out)
    }
}

impl Session {
    /// `CLIENT KILL`: the old form (`ip:port`, `+OK` or an error) or filters (the number
    /// killed). Killing itself, a connection answers first, then closes.
    fn kill(&mut self, args: &[Bytes], out: &mut Vec<u8>) -> Status {
        let old_form = args.len() == 1;
        let filter = if old_form {
            Ok(Filter {
                addr: Some(String::from_utf8_lossy(&args[0]).into_owned()),
                ..Filter::default()
            })
        } else {
            parse_filter(args, true)
        };
        let filter = match filter {
            Ok(filter) => filter,
            Err(err) => {
                error(out, &err);
                return Status::Open;
            }
        };
        let victims = self.ctx.clients(&filter, self.id);
        let mut me = false;
        for client in &victims {
            if client.id == self.id {
                me = true;
            } else {
                client.kill();
            }
        }
        match (old_form, victims.len()) {
            (true, 0) => error(out, &ReplyError::NoSuchClient),
            (true, _) => out.extend_from_slice(b"+OK\r\n"),
            (false, n) => encode_integer(out, n as i64),
        }
        if me {
            self.resp.as_deref_mut().expect("resp session").closing = true;
            return Status::Close;
        }
        Status::Open
    }
}

/// Reads `CLIENT LIST`'s filters (`kill` false: `TYPE`, `ID`) or `CLIENT KILL`'s (`kill`
/// true: `ID`, `ADDR`, `LADDR`, `TYPE`, `SKIPME`, `MAXAGE`), with Redis's errors.
fn parse_filter(args: &[Bytes], kill: bool) -> Result<Filter, ReplyError> {
    let mut filter = Filter { skip_me: kill, ..Filter::default() };
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let mut i = 0;
    while i < args.len() {
        let option = text(&args[i]).to_ascii_lowercase();
        if !kill && option == "id" {
            let ids: Option<Vec<u64>> =
                args[i + 1..].iter().map(|a| text(a).parse().ok().filter(|&n| n > 0)).collect();
            match ids {
                Some(ids) if !ids.is_empty() => filter.ids = Some(ids),
                _ => return Err(ReplyError::InvalidClientId),
            }
            break;
        }
        let Some(value) = args.get(i + 1) else { return Err(ReplyError::Syntax) };
        match option.as_str() {
            "type" => {
                filter.pubsub = match text(value).to_ascii_lowercase().as_str() {
                    "normal" => Some(false),
                    "pubsub" => Some(true),
                    // No replicas and no primary here: nothing is of those types.
                    "master" | "replica" | "slave" => {
                        filter.ids = Some(Vec::new());
                        None
                    }
                    _ => return Err(ReplyError::UnknownClientType(clean(value))),
                }
            }
            "id" if kill => match text(value).parse::<u64>() {
                Ok(id) if id > 0 => filter.ids = Some(vec![id]),
                _ => return Err(ReplyError::ClientIdNotPositive),
            },
            "addr" if kill => filter.addr = Some(text(value)),
            "laddr" if kill => filter.laddr = Some(text(value)),
            "maxage" if kill => {
                filter.max_age = Some(text(value).parse().map_err(|_| ReplyError::Syntax)?);
            }
            "skipme" if kill => {
                filter.skip_me = match text(value).to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(ReplyError::Syntax),
                }
            }
            _ => return Err(ReplyError::Syntax),
        }
        i += 2;
    }
    Ok(filter)
}

/// `b` as text for an error line: CR, LF and NUL become spaces.
fn clean(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n', '\0'], " ")
}

const CLIENT_HELP: &[&str] = &[
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID <client-id>, ADDR <ip:port>, LADDR <ip:port>,",
    "    TYPE (NORMAL|PUBSUB|MASTER|REPLICA), SKIPME (YES|NO) (default YES),",
    "    MAXAGE <seconds>.",
    "LIST [TYPE (NORMAL|PUBSUB|MASTER|REPLICA)] [ID <client-id> ...]",
    "    Return information about client connections.",
    "NO-EVICT (ON|OFF)",
    "    Mark the connection as exempt from eviction (nothing is evicted here).",
    "NO-TOUCH (ON|OFF)",
    "    Mark the connection as not touching keys (there are no keys here).",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set the client library's name or version, shown by CLIENT LIST.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
    "    Turn client-side caching invalidations on or off (there are no keys here: none is",
    "    ever sent).",
    "TRACKINGINFO",
    "    Describe this connection's tracking settings.",
    "GETREDIR",
    "    Return the id invalidations are redirected to (0 none, -1 when not tracking).",
    "CACHING (YES|NO)",
    "    Say whether the next command's reads are tracked (OPTIN or OPTOUT mode).",
];

