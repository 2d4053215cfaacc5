//! A connection's login: its user, whether it authenticated, and the gate every command
//! passes before it runs.

use std::sync::Arc;

use bytes::Bytes;

use super::registry::Acl;
use super::user::{Refusal, User, DEFAULT_USER};
use crate::errors::ReplyError;

/// Why [`Login::gate`] refused a command; `Display` is the reply text (without `-`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Not authenticated yet.
    #[error("{}", ReplyError::NoAuth)]
    NoAuth,
    /// The user may not run this command.
    #[error("{}", ReplyError::NoPermCommand(.0))]
    Command(&'static str),
    /// The user may not touch one of the channels or patterns named (the first such).
    #[error("{}", ReplyError::NoPermChannel)]
    Channel(Bytes),
}

/// What [`Login::refresh`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// No user changed.
    Same,
    /// Some user changed: the login holds its user's current version.
    Changed,
    /// The login's user no longer exists: the connection must end.
    Gone,
}

/// One connection's login: which user it runs as, and whether it has authenticated. Part of
/// the connection's [`Session`](crate::session::Session) state.
pub struct Login {
    user: Arc<User>,
    authenticated: bool,
    /// The [`Acl::epoch`] `user` was taken at.
    epoch: u64,
}

impl Login {
    /// A new connection's login: the default user, authenticated if and only if that user
    /// needs no password.
    pub fn new(acl: &Acl) -> Login {
        let epoch = acl.epoch();
        let user = acl.get(DEFAULT_USER.as_bytes()).unwrap_or_else(|| Arc::new(User::new(b"")));
        Login { authenticated: !acl.auth_required(), user, epoch }
    }

    /// The user the connection runs as.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The user it runs as, shared (for the registry's snapshot).
    pub fn shared_user(&self) -> Arc<User> {
        self.user.clone()
    }

    /// Takes the current version of the user if the users changed since it was taken (one
    /// atomic load when they did not).
    pub fn refresh(&mut self, acl: &Acl) -> Refresh {
        let epoch = acl.epoch();
        if epoch == self.epoch {
            return Refresh::Same;
        }
        self.epoch = epoch;
        match acl.get(&self.user.name) {
            Some(user) if user.serial == self.user.serial => {
                self.user = user;
                Refresh::Changed
            }
            // Deleted, or deleted and created anew since: not the user it logged in as.
            _ => Refresh::Gone,
        }
    }

    /// Whether the connection may run `cmd` now: authenticated (or `cmd` is one a connection
    /// may send before: AUTH, HELLO, QUIT, RESET), allowed to run it, and allowed to touch
    /// every channel it names. Redis's order of checks, after arity and before the
    /// subscribed-mode rule.
    pub fn gate(&self, cmd: &shared::Command) -> Result<(), Denied> {
        if cmd.allowed_before_auth() {
            return Ok(());
        }
        if !self.authenticated {
            return Err(Denied::NoAuth);
        }
        self.user.permits(cmd).map_err(|refusal| match refusal {
            Refusal::Command(name) => Denied::Command(name),
            Refusal::Channel(channel) => Denied::Channel(Bytes::copy_from_slice(channel)),
        })
    }

    /// What [`Login::gate`] says of a request that failed to parse with `err`, when it comes
    /// first. Redis checks a command's name and its table arity (`ECHO` takes exactly one
    /// argument), then authentication and permissions, then the rest of the arguments (`PING`
    /// takes at most one, but its table says "at least none"): so only errors of the last kind
    /// are answered NOAUTH or NOPERM instead.
    pub fn gate_malformed(&self, err: &shared::command::CommandError) -> Option<Denied> {
        match permission_first(err) {
            Some(name) => {
                if !self.authenticated {
                    Some(Denied::NoAuth)
                } else if !self.user.command_allowed(name) {
                    Some(Denied::Command(name))
                } else {
                    None
                }
            }
            None => None,
        }
    }

    /// AUTH and HELLO AUTH: logs in as `name` (default: `default`) with `password`. The error
    /// is the reply text. A wrong password is logged (throttled) and counted by the caller.
    pub fn authenticate(
        &mut self,
        acl: &Acl,
        name: Option<&[u8]>,
        password: &[u8],
        conn: u64,
    ) -> Result<(), ReplyError> {
        let name = name.unwrap_or(DEFAULT_USER.as_bytes());
        match acl.authenticate(name, password) {
            Some(user) => {
                self.user = user;
                self.authenticated = true;
                self.epoch = acl.epoch();
                Ok(())
            }
            None => {
                let user = String::from_utf8_lossy(&name[..name.len().min(128)]).into_owned();
                acl.wrong_passwords.warn(|| {
                    format!("connection {conn}: wrong password or disabled user '{user}'")
                });
                Err(ReplyError::WrongPass)
            }
        }
    }

    /// Returns true if and only if the connection has authenticated (or needed not).
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// RESET: back to the default user, authenticated only if that needs no password.
    pub fn reset(&mut self, acl: &Acl) {
        *self = Login::new(acl);
    }
}

/// The command a request names if Redis would check its permissions before finding what
/// `err` says is wrong: a wrong argument count that Redis finds only when running the command
/// (its table says "at least none": `PING a b`, `PUBSUB CHANNELS a b`, `ACL CAT a b`), where
/// the parser here finds it at once.
pub fn permission_first(err: &shared::command::CommandError) -> Option<&'static str> {
    use shared::command::CommandError as E;
    match err {
        E::Arity("ping") => Some("ping"),
        E::SubcommandSyntax { command, sub } => shared::command::subcommand_name(command, sub),
        _ => None,
    }
}
