//! Users, passwords and permissions: Redis's ACL for the subset a pub/sub server needs.
//!
//! An [`Acl`] holds every [`User`] by name. A user is on or off, has SHA-256 digests of its
//! passwords (or `nopass`), the channel patterns it may touch (`&pattern`, or `allchannels`),
//! key patterns (`~pattern`, or `allkeys`: a command naming another key is refused) and
//! command rules (`+@all`, `-@all`, `+cmd`, `-cmd`, `+cmd|sub`). Rules are Redis's ACL
//! syntax, given by `ACL SETUSER`, read from an ACL file (`user NAME rule ...` per line), or
//! made from `--requirepass` (the `default` user's password).
//!
//! Passwords are stored as their SHA-256 digest and compared in constant time, as Redis does.
//! Sessions hold an `Arc<User>` snapshot and the [`Acl::epoch`] it came from: every change
//! bumps the epoch, so a session notices with one atomic load and takes the new user.
//! Channel checks are [`User::channel_allowed`], one function for every command that names a
//! channel (channels and shard channels alike) or a pattern.
//!
//! - `user`: [`User`] and its rules, [`Refusal`], `ACL CAT`'s [`category`].
//! - `registry`: [`Acl`], every user by name, its epoch, the ACL file.
//! - `log`: [`AclLog`], the refusals `ACL LOG` shows.
//! - `login`: [`Login`], a connection's user and the gate before each command ([`Denied`]).
//! - `protected`: [`protected_mode_refuses`].
//!
//! Each imports only from those above it in this list (and `crate::errors`).

mod log;
mod login;
mod protected;
mod registry;
mod user;

pub use crate::errors::{AclError, FileSyntax, RuleError};
pub use log::{AclLog, LogEntry, LogReason, LOG_MAX_LEN};
pub use login::{permission_first, Denied, Login, Refresh};
pub use protected::protected_mode_refuses;
pub use registry::{Acl, Change};
pub use user::{category, Refusal, User, DEFAULT_USER};
