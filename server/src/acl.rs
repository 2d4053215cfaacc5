//! Users, passwords and permissions: Redis's ACL for the subset a pub/sub server needs.
//!
//! An [`Acl`] holds every [`User`] by name. A user is on or off, has SHA-256 digests of its
//! passwords (or `nopass`), the channel patterns it may touch (`&pattern`, or `allchannels`),
//! key patterns (`~pattern`, kept only so `ACL LIST` shows them: there are no keys here) and
//! command rules (`+@all`, `-@all`, `+cmd`, `-cmd`, `+cmd|sub`). Rules are Redis's ACL
//! syntax, given by `ACL SETUSER`, read from an ACL file (`user NAME rule ...` per line), or
//! made from `--requirepass` (the `default` user's password).
//!
//! Passwords are stored as their SHA-256 digest and compared in constant time, as Redis does.
//! Sessions hold an `Arc<User>` snapshot and the [`Acl::epoch`] it came from: every change
//! bumps the epoch, so a session notices with one atomic load and takes the new user.
//! Channel checks are [`User::channel_allowed`], one function for every command that names a
//! channel (channels and shard channels alike) or a pattern.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::errors::ReplyError;
pub use crate::errors::{AclError, FileSyntax, RuleError};
use crate::throttled_log::ThrottledLog;

/// Why [`User::permits`] refuses a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// The command itself, by Redis's full name.
    Command(&'static str),
    /// The first channel or pattern named that the user may not touch.
    Channel(&'a [u8]),
}

impl Refusal<'_> {
    /// `ACL DRYRUN`'s answer, Redis's text: it names the command or the channel.
    pub fn dry_run_text(&self) -> Vec<u8> {
        match self {
            Refusal::Command(name) => {
                format!("This user has no permissions to run the '{name}' command").into_bytes()
            }
            Refusal::Channel(channel) => {
                let mut text = b"This user has no permissions to access the '".to_vec();
                text.extend_from_slice(channel);
                text.extend_from_slice(b"' channel");
                text
            }
        }
    }
}

/// Returns true if and only if protected mode refuses a connection from `peer`: it is on, the
/// default user has no password (`nopass`, with `--requirepass` and `--aclfile` alike), and
/// `peer` is not a loopback address (an IPv4 address mapped into IPv6 counts as the IPv4 one).
pub fn protected_mode_refuses(protected_mode: bool, default_nopass: bool, peer: IpAddr) -> bool {
    protected_mode && default_nopass && !peer.to_canonical().is_loopback()
}

/// The commands of `category` (`ACL CAT name`), or every category (`ACL CAT`); the error is
/// Redis's reply for a category it does not have. The table is
/// [`shared::command::COMMAND_CATEGORIES`].
pub fn category(category: Option<&[u8]>) -> Result<Vec<&'static str>, ReplyError> {
    use shared::command::{category_commands, is_category, CATEGORIES};
    let Some(wanted) = category else { return Ok(CATEGORIES.to_vec()) };
    let name = String::from_utf8_lossy(wanted).to_ascii_lowercase();
    if !is_category(&name) {
        let shown = String::from_utf8_lossy(&wanted[..wanted.len().min(128)]).into_owned();
        return Err(ReplyError::UnknownCategory(shown));
    }
    Ok(category_commands(&name).collect())
}

/// The name of the user every connection starts as.
pub const DEFAULT_USER: &str = "default";

/// A SHA-256 digest of a password.
type Digest32 = [u8; 32];

fn sha256(password: &[u8]) -> Digest32 {
    Sha256::digest(password).into()
}

/// Compares two digests in time that does not depend on where they differ.
fn same_digest(a: &Digest32, b: &Digest32) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// One user: whether it may log in, how, and what it may touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    name: Bytes,
    enabled: bool,
    /// Any password is accepted (`nopass`).
    nopass: bool,
    /// SHA-256 digests of the accepted passwords, in the order they were added.
    passwords: Vec<Digest32>,
    /// Every channel and pattern is allowed (`allchannels`, `&*`).
    all_channels: bool,
    /// The `&` patterns, in the order they were added, each once.
    channels: Vec<Bytes>,
    /// Every key (`allkeys`, `~*`); shown by ACL LIST only, there are no keys.
    all_keys: bool,
    /// The `~` patterns; shown by ACL LIST only.
    keys: Vec<Bytes>,
    /// The command base: `+@all` (true) or `-@all` (false).
    all_commands: bool,
    /// `+cmd` / `-cmd` / `+@category` / `-@category` rules after the base, in order, names
    /// in lower case (`cmd`, `cmd|sub` or `@category`); the last rule that matches a command
    /// decides, as Redis's bitmap of commands set rule after rule would.
    command_rules: Vec<(String, bool)>,
    /// Which creation of this name the user is, given by the [`Acl`]: changes keep it, a user
    /// deleted and created again (or new in a reloaded file) has another, so a connection
    /// logged in as the deleted one never becomes the new one.
    serial: u64,
}

impl User {
    /// A user as `ACL SETUSER` creates it: off, no password, no channels, no commands.
    pub fn new(name: &[u8]) -> User {
        User {
            name: Bytes::copy_from_slice(name),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
            all_keys: false,
            keys: Vec::new(),
            all_commands: false,
            command_rules: Vec::new(),
            serial: 0,
        }
    }

    /// Redis's default user: `on nopass ~* &* +@all`.
    pub fn default_user() -> User {
        User {
            enabled: true,
            nopass: true,
            all_channels: true,
            all_keys: true,
            all_commands: true,
            ..User::new(DEFAULT_USER.as_bytes())
        }
    }

    /// The user's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The user's name, shared (a reference count, no copy).
    pub fn name_bytes(&self) -> Bytes {
        self.name.clone()
    }

    /// Returns true if and only if the user accepts any password (`nopass`).
    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// Returns true if and only if the user is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Returns true if and only if `password` logs this user in: it is on, and has `nopass`
    /// or a password whose digest matches. Every stored digest is compared, in constant time.
    pub fn check_password(&self, password: &[u8]) -> bool {
        let digest = sha256(password);
        let matched = self.passwords.iter().fold(false, |found, p| same_digest(p, &digest) | found);
        self.enabled && (self.nopass || matched)
    }

    /// Returns true if and only if the user may run the command Redis calls `full_name`
    /// (`ping`, `pubsub|numsub`).
    pub fn command_allowed(&self, full_name: &str) -> bool {
        let parent = full_name.split('|').next().unwrap_or(full_name);
        let covers = |rule: &str| match rule.strip_prefix('@') {
            Some(category) => shared::command::in_category(full_name, category),
            None => rule == full_name || rule == parent,
        };
        self.command_rules
            .iter()
            .rev()
            .find(|(rule, _)| covers(rule))
            .map_or(self.all_commands, |&(_, allow)| allow)
    }

    /// Returns true if and only if the user may touch `channel` (PUBLISH, SUBSCRIBE, and the
    /// shard-channel commands alike: the channel must match one of the user's `&` patterns),
    /// or, with `literal`, subscribe to the pattern `channel` (PSUBSCRIBE: the pattern must be
    /// one of the user's `&` patterns, byte for byte, as Redis 7 rules).
    pub fn channel_allowed(&self, channel: &[u8], literal: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|pattern| {
                if literal {
                    pattern[..] == *channel
                } else {
                    shared::glob::glob_match(pattern, channel)
                }
            })
    }

    /// Applies one ACL rule (`on`, `>pass`, `&chan*`, `+@all`, ...). On error nothing changed
    /// and the text says why, in Redis's words.
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let text = std::str::from_utf8(rule).map_err(|_| RuleError::Syntax)?;
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allchannels" => self.allow_all_channels(),
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allkeys" => {
                self.all_keys = true;
                self.keys.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            "allcommands" | "+@all" => {
                self.all_commands = true;
                self.command_rules.clear();
            }
            "nocommands" | "-@all" => {
                self.all_commands = false;
                self.command_rules.clear();
            }
            "reset" => *self = User { serial: self.serial, ..User::new(&self.name) },
            _ => return self.apply_with_argument(rule),
        }
        Ok(())
    }

    fn apply_with_argument(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let (&kind, arg) = rule.split_first().ok_or(RuleError::Syntax)?;
        match kind {
            b'>' => {
                let digest = sha256(arg);
                if !self.passwords.contains(&digest) {
                    self.passwords.push(digest);
                }
                self.nopass = false;
            }
            b'<' => {
                let digest = sha256(arg);
                let before = self.passwords.len();
                self.passwords.retain(|p| *p != digest);
                if self.passwords.len() == before {
                    return Err(RuleError::NoSuchPassword);
                }
            }
            b'#' | b'!' => {
                let digest = parse_hash(arg).ok_or(RuleError::BadHash)?;
                if kind == b'#' {
                    if !self.passwords.contains(&digest) {
                        self.passwords.push(digest);
                    }
                    self.nopass = false;
                } else {
                    let before = self.passwords.len();
                    self.passwords.retain(|p| *p != digest);
                    if self.passwords.len() == before {
                        return Err(RuleError::NoSuchPassword);
                    }
                }
            }
            b'&' if arg == b"*" => self.allow_all_channels(),
            b'&' => {
                if !self.all_channels && !self.channels.iter().any(|c| c[..] == *arg) {
                    self.channels.push(Bytes::copy_from_slice(arg));
                }
            }
            b'~' if arg == b"*" => {
                self.all_keys = true;
                self.keys.clear();
            }
            b'~' => {
                if !self.all_keys && !self.keys.iter().any(|k| k[..] == *arg) {
                    self.keys.push(Bytes::copy_from_slice(arg));
                }
            }
            b'+' | b'-' => {
                let name = std::str::from_utf8(arg).map_err(|_| RuleError::Syntax)?;
                let name = name.to_ascii_lowercase();
                let known = match name.strip_prefix('@') {
                    Some(category) => shared::command::is_category(category),
                    None => is_command(&name),
                };
                if !known {
                    return Err(RuleError::UnknownName);
                }
                let allow = kind == b'+';
                // A later rule for the same command or category replaces an earlier one, and a
                // rule for `cmd` also covers its subcommands, as Redis 7.2 keeps its rules: the
                // earlier ones no longer matter.
                let sub_prefix = format!("{name}|");
                self.command_rules.retain(|(r, _)| *r != name && !r.starts_with(&sub_prefix));
                self.command_rules.push((name, allow));
            }
            _ => return Err(RuleError::Syntax),
        }
        Ok(())
    }

    fn allow_all_channels(&mut self) {
        self.all_channels = true;
        self.channels.clear();
    }

    /// The rules that make this user, as `ACL LIST` shows them (`user NAME on nopass ...`).
    pub fn describe(&self) -> String {
        let mut out = format!("user {}", String::from_utf8_lossy(&self.name));
        for flag in self.flags() {
            let _ = write!(out, " {flag}");
        }
        for digest in self.password_digests() {
            let _ = write!(out, " #{digest}");
        }
        let keys = self.keys_text();
        if !keys.is_empty() {
            let _ = write!(out, " {keys}");
        }
        if !self.all_channels {
            out.push_str(" resetchannels");
        }
        let channels = self.channels_text();
        if !channels.is_empty() {
            let _ = write!(out, " {channels}");
        }
        let _ = write!(out, " {}", self.command_rules_text());
        out
    }

    /// The user's flags, as `ACL GETUSER` lists them: `on` or `off`, then `nopass` if set.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        flags
    }

    /// The SHA-256 digests of the user's passwords, in lower-case hex.
    pub fn password_digests(&self) -> Vec<String> {
        self.passwords
            .iter()
            .map(|digest| {
                digest.iter().fold(String::new(), |mut hex, byte| {
                    let _ = write!(hex, "{byte:02x}");
                    hex
                })
            })
            .collect()
    }

    /// The command rules, as `ACL GETUSER` shows them: `+@all` or `-@all`, then each rule in
    /// the order it applies.
    pub fn command_rules_text(&self) -> String {
        let mut out = String::from(if self.all_commands { "+@all" } else { "-@all" });
        for (name, allow) in &self.command_rules {
            let _ = write!(out, " {}{name}", if *allow { '+' } else { '-' });
        }
        out
    }

    /// The key patterns (`~*`, `~a ~b`, or nothing), as `ACL GETUSER` shows them.
    pub fn keys_text(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let keys: Vec<String> =
            self.keys.iter().map(|k| format!("~{}", String::from_utf8_lossy(k))).collect();
        keys.join(" ")
    }

    /// The channel patterns (`&*`, `&a &b`, or nothing), as `ACL GETUSER` shows them.
    pub fn channels_text(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let channels: Vec<String> =
            self.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))).collect();
        channels.join(" ")
    }

    /// Whether this user may run `cmd`: the command itself, then every channel or pattern it
    /// names, in Redis's order (the first channel refused is the one named).
    pub fn permits<'a>(&self, cmd: &'a shared::Command) -> Result<(), Refusal<'a>> {
        let name = cmd.full_name();
        if !self.command_allowed(name) {
            return Err(Refusal::Command(name));
        }
        let (names, literal) = cmd.channels();
        match names.iter().find(|c| !self.channel_allowed(c, literal)) {
            Some(channel) => Err(Refusal::Channel(channel)),
            None => Ok(()),
        }
    }

    /// Returns true if and only if a connection subscribed to `channels` and `patterns` may
    /// keep every one of them under this user.
    pub fn keeps_subscriptions<'a>(
        &self,
        mut channels: impl Iterator<Item = &'a [u8]>,
        mut patterns: impl Iterator<Item = &'a [u8]>,
    ) -> bool {
        self.all_channels
            || (channels.all(|c| self.channel_allowed(c, false))
                && patterns.all(|p| self.channel_allowed(p, true)))
    }
}

/// Returns true if and only if `name` (`cmd` or `cmd|sub`, lower case) is a command the server
/// knows: asked of the command parser, so every command it learns is known here too.
fn is_command(name: &str) -> bool {
    use shared::command::{Command, CommandError};
    let args: Vec<Bytes> = name.split('|').map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
    if args.len() > 2 || args.iter().any(|a| a.is_empty()) {
        return false;
    }
    let subcommand = args.len() == 2;
    match Command::parse(args) {
        Err(CommandError::Unknown { .. }) => false,
        Err(CommandError::UnknownSubcommand { .. }) => false,
        // `cmd|sub` of a command that takes no subcommands parses as `cmd arg`: only a
        // container's subcommand parses to a full name with a `|`.
        Ok(cmd) if subcommand => cmd.full_name().contains('|'),
        _ => true,
    }
}

/// Parses 64 lowercase hex digits into a digest.
fn parse_hash(hex: &[u8]) -> Option<Digest32> {
    if hex.len() != 64 || !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// What happened to the users: who is affected by a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// One user was created or changed (`ACL SETUSER`).
    User(Bytes),
    /// Every user was replaced (`ACL LOAD`).
    All,
}

/// Every user of a running server.
pub struct Acl {
    users: RwLock<HashMap<Bytes, Arc<User>>>,
    /// Bumped by every change; sessions compare it with the one their user came from.
    epoch: AtomicU64,
    /// The next [`User::serial`] to give.
    next_serial: AtomicU64,
    /// `--aclfile`, read at start and by `ACL LOAD`.
    file: Option<PathBuf>,
    /// Wrong passwords, logged at most once per interval.
    wrong_passwords: ThrottledLog,
    /// The latest refusals (`ACL LOG`).
    pub log: AclLog,
}

impl Acl {
    /// The users at start: the default user, with `requirepass` as its password if given
    /// (replacing `nopass`, as Redis's `requirepass` does). An ACL file is read by
    /// [`Acl::load`].
    pub fn new(requirepass: Option<&[u8]>, file: Option<PathBuf>) -> Acl {
        let mut default = User { serial: 1, ..User::default_user() };
        if let Some(pass) = requirepass {
            default.nopass = false;
            default.passwords = vec![sha256(pass)];
        }
        let users = HashMap::from([(default.name.clone(), Arc::new(default))]);
        Acl {
            users: RwLock::new(users),
            epoch: AtomicU64::new(0),
            next_serial: AtomicU64::new(2),
            file,
            wrong_passwords: ThrottledLog::new("wrong passwords"),
            log: AclLog::default(),
        }
    }

    /// Returns true if and only if the default user accepts any password: protected mode
    /// then applies.
    pub fn default_nopass(&self) -> bool {
        self.get(DEFAULT_USER.as_bytes()).is_some_and(|u| u.nopass)
    }

    /// Returns true if and only if connections must authenticate before running commands:
    /// the default user has a password, or is off.
    pub fn auth_required(&self) -> bool {
        self.get(DEFAULT_USER.as_bytes()).is_none_or(|u| !u.enabled || !u.nopass)
    }

    /// The current epoch: it changes whenever a user does.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The user called `name`, as it is now.
    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.read().get(name).cloned()
    }

    /// The user `name` if `password` logs it in.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        self.get(name).filter(|u| u.check_password(password))
    }

    /// Creates or changes user `name` with `rules`, all or nothing (`ACL SETUSER`). The error
    /// is Redis's reply text.
    pub fn set_user(&self, name: &[u8], rules: &[Bytes]) -> Result<Change, ReplyError> {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let mut user = users.get(name).map_or_else(
            || User { serial: self.next_serial.fetch_add(1, Ordering::Relaxed), ..User::new(name) },
            |u| (**u).clone(),
        );
        for rule in rules {
            user.apply(rule).map_err(|why| ReplyError::SetUser {
                rule: String::from_utf8_lossy(rule).into_owned(),
                why,
            })?;
        }
        users.insert(user.name.clone(), Arc::new(user));
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(Change::User(Bytes::copy_from_slice(name)))
    }

    /// Reads the ACL file and replaces every user with its users, all or nothing (at start
    /// and `ACL LOAD`). A file that does not declare `default` gets Redis's default user.
    pub fn load(&self) -> Result<Change, AclError> {
        let path = self.file.as_deref().ok_or(AclError::NoFile)?;
        let text = std::fs::read(path)
            .map_err(|source| AclError::Read { path: path.to_owned(), source })?;
        let mut users = parse_file(path, &text)?;
        users
            .entry(Bytes::from_static(DEFAULT_USER.as_bytes()))
            .or_insert_with(|| Arc::new(User::default_user()));
        let mut current = self.users.write().unwrap_or_else(|e| e.into_inner());
        // A name the server had keeps its serial: its connections stay its own.
        for (name, user) in users.iter_mut() {
            let serial = current
                .get(name)
                .map_or_else(|| self.next_serial.fetch_add(1, Ordering::Relaxed), |u| u.serial);
            Arc::make_mut(user).serial = serial;
        }
        *current = users;
        drop(current);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(Change::All)
    }

    /// Deletes the users `names` that exist and says how many there were (`ACL DELUSER`);
    /// refuses, deleting none, if `default` is among them (Redis's text). The connections
    /// logged in as a deleted user notice at their next wake-up and end.
    pub fn delete_users(&self, names: &[Bytes]) -> Result<usize, ReplyError> {
        if names.iter().any(|n| n[..] == *DEFAULT_USER.as_bytes()) {
            return Err(ReplyError::DeleteDefaultUser);
        }
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let deleted = names.iter().filter(|n| users.remove(&n[..]).is_some()).count();
        if deleted > 0 {
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(deleted)
    }

    /// Writes every user to the ACL file, one `ACL LIST` line each, sorted by name
    /// (`ACL SAVE`): into a new file beside it, then renamed over it, so that a reader never
    /// sees half a file.
    pub fn save(&self) -> Result<(), AclError> {
        let path = self.file.as_deref().ok_or(AclError::NoFile)?;
        let mut text = self.list().join("\n");
        text.push('\n');
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
        written.map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            AclError::Write { path: path.to_owned(), source }
        })
    }

    /// The users' names, sorted (`ACL USERS`).
    pub fn names(&self) -> Vec<Bytes> {
        let mut names: Vec<Bytes> = self.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// Every user's rules, sorted by name (`ACL LIST`).
    pub fn list(&self) -> Vec<String> {
        let users = self.read();
        let mut all: Vec<&Arc<User>> = users.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all.iter().map(|u| u.describe()).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Bytes, Arc<User>>> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The most entries `ACL LOG` keeps (Redis's `acllog-max-len` default); older ones go.
pub const LOG_MAX_LEN: usize = 128;

/// Events this close together (and alike) are one entry with a count, as in Redis.
const LOG_GROUPING_MS: u64 = 60_000;

/// How many of the newest entries a search for a like one looks at, as Redis.
const LOG_GROUPING_SCAN: usize = 10;

/// Why an event went into the ACL log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogReason {
    /// A wrong password, or a disabled or unknown user (AUTH, HELLO AUTH).
    Auth,
    /// A command the user may not run.
    Command,
    /// A channel or pattern the user may not touch.
    Channel,
}

impl LogReason {
    /// The entry's `reason` field, Redis's word.
    pub fn word(self) -> &'static str {
        match self {
            LogReason::Auth => "auth",
            LogReason::Command => "command",
            LogReason::Channel => "channel",
        }
    }
}

/// One `ACL LOG` entry: an event, or several alike within a minute of each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// How many events it stands for.
    pub count: u64,
    /// Why they were refused.
    pub reason: LogReason,
    /// `toplevel`, or `multi` inside a transaction.
    pub context: &'static str,
    /// The command (by full name), the channel, or for AUTH the command name as sent.
    pub object: Bytes,
    /// The user the connection ran as, or the one AUTH named.
    pub username: Bytes,
    /// The `CLIENT LIST` line of the latest connection refused.
    pub client_info: String,
    /// The entry's number, from 0, never reused while the server runs.
    pub entry_id: u64,
    /// Unix time in milliseconds of the first event.
    pub created_ms: u64,
    /// Unix time in milliseconds of the latest event.
    pub updated_ms: u64,
}

/// The latest ACL refusals, newest first, at most [`LOG_MAX_LEN`] of them.
#[derive(Default)]
pub struct AclLog {
    inner: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    /// Newest first.
    entries: VecDeque<LogEntry>,
    next_id: u64,
}

impl AclLog {
    /// Logs an event at `now_ms` (Unix milliseconds): one of the newest entries with the same
    /// reason, context, object and user updated within the last minute counts it (and moves
    /// to the front), else it is a new entry, as in Redis.
    pub fn add(
        &self,
        reason: LogReason,
        in_multi: bool,
        object: Bytes,
        username: Bytes,
        client_info: String,
        now_ms: u64,
    ) {
        let context = if in_multi { "multi" } else { "toplevel" };
        let mut log = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let alike = log.entries.iter().take(LOG_GROUPING_SCAN).position(|e| {
            e.reason == reason
                && e.context == context
                && e.updated_ms.abs_diff(now_ms) <= LOG_GROUPING_MS
                && e.object == object
                && e.username == username
        });
        if let Some(at) = alike {
            let mut entry = log.entries.remove(at).expect("found above");
            entry.count += 1;
            entry.updated_ms = now_ms;
            entry.client_info = client_info;
            log.entries.push_front(entry);
            return;
        }
        let entry_id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            client_info,
            entry_id,
            created_ms: now_ms,
            updated_ms: now_ms,
        });
        log.entries.truncate(LOG_MAX_LEN);
    }

    /// The newest `count` entries, newest first.
    pub fn newest(&self, count: usize) -> Vec<LogEntry> {
        let log = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        log.entries.iter().take(count).cloned().collect()
    }

    /// Forgets every entry (`ACL LOG RESET`); entry numbers go on from where they were.
    pub fn reset(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).entries.clear();
    }
}

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

/// Parses an ACL file: one `user NAME rule ...` per line; blank lines and lines starting with
/// `#` are skipped.
fn parse_file(path: &Path, text: &[u8]) -> Result<HashMap<Bytes, Arc<User>>, AclError> {
    let mut users = HashMap::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let syntax = |why| AclError::Syntax { path: path.to_owned(), line: i + 1, why };
        let mut words = line.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
        let Some(first) = words.next() else { continue };
        if first.starts_with(b"#") {
            continue;
        }
        if first != b"user" {
            return Err(syntax(FileSyntax::NotUser));
        }
        let name = words.next().ok_or_else(|| syntax(FileSyntax::NoName))?;
        if users.contains_key(name) {
            return Err(syntax(FileSyntax::Duplicate(String::from_utf8_lossy(name).into_owned())));
        }
        let mut user = User::new(name);
        for rule in words {
            user.apply(rule).map_err(|why| {
                syntax(FileSyntax::Rule { rule: String::from_utf8_lossy(rule).into_owned(), why })
            })?;
        }
        users.insert(user.name.clone(), Arc::new(user));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result with its error as the reply text.
    fn text<T>(result: Result<T, impl std::fmt::Display>) -> Result<T, String> {
        result.map_err(|e| e.to_string())
    }

    fn user(rules: &str) -> User {
        let mut user = User::new(b"u");
        for rule in rules.split_whitespace() {
            user.apply(rule.as_bytes()).unwrap();
        }
        user
    }

    #[test]
    fn passwords_are_stored_as_sha256_and_checked() {
        let u = user("on >secret");
        assert!(u
            .describe()
            .contains("#2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"));
        assert!(u.check_password(b"secret"));
        assert!(!u.check_password(b"Secret"));
        assert!(!u.check_password(b""));
        let off = user("off >secret");
        assert!(!off.check_password(b"secret"), "a disabled user never logs in");
        let hashed = user("on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
        assert!(hashed.check_password(b"secret"));
        assert!(user("on nopass").check_password(b"anything"));
        assert!(!user("on >a resetpass").check_password(b"a"));
        assert!(user("on >a >b").check_password(b"b"));
        assert!(!user("on >a >b <a").check_password(b"a"));
    }

    #[test]
    fn bad_rules_say_why_in_redis_words() {
        let mut u = User::new(b"u");
        assert_eq!(text(u.apply(b"bogus")), Err("Syntax error".into()));
        assert!(u
            .apply(b"#abc")
            .unwrap_err()
            .to_string()
            .starts_with("The password hash must be exactly 64"));
        assert_eq!(
            text(u.apply(b"+nosuch")),
            Err("Unknown command or category name in ACL".into())
        );
        assert_eq!(
            text(u.apply(b"+@nosuch")),
            Err("Unknown command or category name in ACL".into())
        );
        assert_eq!(
            text(u.apply(b"+ping|x")),
            Err("Unknown command or category name in ACL".into())
        );
        assert_eq!(text(u.apply(b"<nope")), Err("no such password".into()));
        assert_eq!(u, User::new(b"u"), "a failed rule changes nothing");
    }

    #[test]
    fn command_rules_apply_in_order_and_cover_subcommands() {
        let u = user("-@all +ping +pubsub -pubsub|numpat");
        assert!(u.command_allowed("ping"));
        assert!(!u.command_allowed("publish"));
        assert!(u.command_allowed("pubsub|numsub"));
        assert!(!u.command_allowed("pubsub|numpat"));
        let u = user("+@all -publish");
        assert!(!u.command_allowed("publish"));
        assert!(u.command_allowed("subscribe"));
        assert!(!user("+@all -pubsub|numpat +ping -@all").command_allowed("ping"));
        assert_eq!(user("-@all +pubsub|numpat +pubsub").command_rules.len(), 1);
    }

    #[test]
    fn category_rules_apply_in_order_with_the_command_rules() {
        let u = user("-@all +@pubsub");
        assert!(u.command_allowed("publish") && u.command_allowed("pubsub|numsub"));
        assert!(!u.command_allowed("pubsub|help"), "pubsub|help is @slow only");
        assert!(!u.command_allowed("ping"));
        let u = user("-@all +@pubsub -@slow");
        assert!(u.command_allowed("publish") && u.command_allowed("spublish"));
        assert!(!u.command_allowed("subscribe"));
        let u = user("-@all +@pubsub -@slow +subscribe");
        assert!(u.command_allowed("subscribe") && !u.command_allowed("psubscribe"));
        // The container `config` is @slow: +@slow covers every subcommand, as in Redis.
        let u = user("-@all +@slow");
        assert!(u.command_allowed("config|set") && u.command_allowed("client|kill"));
        assert!(!u.command_allowed("ping"));
        let u = user("+@all -@admin");
        assert!(!u.command_allowed("config|get") && u.command_allowed("config|help"));
        assert!(!u.command_allowed("acl|setuser") && u.command_allowed("acl|whoami"));
        assert!(u.command_allowed("publish"));
        // A rule given again moves to the end; +@all forgets every rule before it.
        assert_eq!(
            user("-@all +@pubsub -@slow +@PubSub").command_rules_text(),
            "-@all -@slow +@pubsub"
        );
        assert_eq!(user("-@all +@pubsub +@all").command_rules_text(), "+@all");
        assert!(user("-@all +@pubsub -@slow +@PubSub").command_allowed("subscribe"));
    }

    #[test]
    fn channels_match_patterns_and_psubscribe_needs_the_pattern_itself() {
        let u = user("resetchannels &news.* &chat");
        assert!(u.channel_allowed(b"news.sport", false));
        assert!(u.channel_allowed(b"chat", false));
        assert!(!u.channel_allowed(b"other", false));
        // PSUBSCRIBE: the pattern must be one of the user's, literally.
        assert!(u.channel_allowed(b"news.*", true));
        assert!(!u.channel_allowed(b"news.s*", true));
        assert!(!u.channel_allowed(b"*", true));
        let all = user("allchannels");
        assert!(all.channel_allowed(b"*", true) && all.channel_allowed(b"x", false));
        assert!(user("&*").all_channels);
        assert!(!user("&* resetchannels").channel_allowed(b"x", false));
        let subs = [&b"news.a"[..]];
        assert!(u.keeps_subscriptions(subs.into_iter(), [&b"news.*"[..]].into_iter()));
        assert!(!u.keeps_subscriptions(subs.into_iter(), [&b"n*"[..]].into_iter()));
    }

    #[test]
    fn describe_reads_like_redis_acl_list() {
        assert_eq!(User::default_user().describe(), "user default on nopass ~* &* +@all");
        assert_eq!(
            user("on >secret resetchannels &news* +@all").describe(),
            "user u on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b \
             resetchannels &news* +@all"
        );
        assert_eq!(user("-@all +ping").describe(), "user u off resetchannels -@all +ping");
    }

    #[test]
    fn getuser_fields_read_like_redis() {
        let u = user("on >secret ~k* &news.* &chat -@all +@pubsub -publish");
        assert_eq!(u.flags(), ["on"]);
        assert_eq!(u.keys_text(), "~k*");
        assert_eq!(u.channels_text(), "&news.* &chat");
        assert_eq!(u.command_rules_text(), "-@all +@pubsub -publish");
        assert_eq!(
            u.password_digests(),
            ["2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"]
        );
        let d = User::default_user();
        assert_eq!(
            (d.flags(), d.keys_text(), d.channels_text()),
            (vec!["on", "nopass"], "~*".into(), "&*".into())
        );
        let empty = User::new(b"x");
        assert_eq!(
            (empty.flags(), empty.keys_text(), empty.channels_text()),
            (vec!["off"], "".into(), "".into())
        );
    }

    #[test]
    fn deleting_users_spares_default_and_saving_writes_acl_list() {
        let dir = std::env::temp_dir().join(format!("acl-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.acl");
        std::fs::write(&path, "user alice on >pw &a* +@all\nuser bob off\n").unwrap();
        let acl = Acl::new(None, Some(path.clone()));
        acl.load().unwrap();
        let before = acl.epoch();
        let both = [Bytes::from("bob"), Bytes::from("default")];
        assert_eq!(
            text(acl.delete_users(&both)),
            Err("ERR The 'default' user cannot be removed".into())
        );
        assert!(acl.get(b"bob").is_some(), "nothing deleted");
        assert_eq!(text(acl.delete_users(&[Bytes::from("nosuch")])), Ok(0));
        assert_eq!(acl.epoch(), before, "nothing changed");
        let twice = [Bytes::from("bob"), Bytes::from("bob")];
        assert_eq!(text(acl.delete_users(&twice)), Ok(1));
        assert_ne!(acl.epoch(), before);
        acl.set_user(b"carol", &[Bytes::from("on"), Bytes::from("-@all"), Bytes::from("+@pubsub")])
            .unwrap();
        acl.save().unwrap();
        let saved = std::fs::read_to_string(&path).unwrap();
        assert_eq!(saved, acl.list().join("\n") + "\n");
        assert!(saved.contains("user carol on resetchannels -@all +@pubsub\n"), "{saved}");
        let reloaded = Acl::new(None, Some(path.clone()));
        reloaded.load().unwrap();
        assert_eq!(reloaded.list(), acl.list(), "a saved file loads back the same users");
        assert!(matches!(Acl::new(None, None).save(), Err(AclError::NoFile)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_log_groups_alike_events_within_a_minute() {
        let log = AclLog::default();
        let add = |reason, multi, object: &str, user: &str, at| {
            let (object, user) = (
                Bytes::copy_from_slice(object.as_bytes()),
                Bytes::copy_from_slice(user.as_bytes()),
            );
            log.add(reason, multi, object, user, format!("at={at}"), at)
        };
        add(LogReason::Auth, false, "AUTH", "alice", 1_000);
        add(LogReason::Command, false, "ping", "bob", 2_000);
        add(LogReason::Auth, false, "AUTH", "alice", 3_000);
        let entries = log.newest(10);
        assert_eq!(entries.len(), 2);
        let auth = &entries[0];
        assert_eq!((auth.count, auth.reason.word(), auth.context), (2, "auth", "toplevel"));
        assert_eq!((auth.entry_id, auth.created_ms, auth.updated_ms), (0, 1_000, 3_000));
        assert_eq!(auth.client_info, "at=3000", "the latest connection's");
        assert_eq!(entries[1].object, "ping");
        // Inside MULTI, later than a minute, or another object: new entries.
        add(LogReason::Auth, true, "AUTH", "alice", 4_000);
        add(LogReason::Auth, false, "AUTH", "alice", 64_000);
        add(LogReason::Channel, false, "news", "bob", 64_000);
        let ids: Vec<u64> = log.newest(10).iter().map(|e| e.entry_id).collect();
        assert_eq!(ids, [4, 3, 2, 0, 1]);
        assert_eq!(log.newest(2).len(), 2);
        for i in 0..2 * LOG_MAX_LEN as u64 {
            add(LogReason::Command, false, &format!("c{i}"), "bob", 100_000);
        }
        assert_eq!(log.newest(usize::MAX).len(), LOG_MAX_LEN);
        log.reset();
        assert!(log.newest(10).is_empty());
        add(LogReason::Command, false, "ping", "bob", 200_000);
        assert_eq!(log.newest(1)[0].entry_id, 5 + 2 * LOG_MAX_LEN as u64, "numbers go on");
    }

    #[test]
    fn files_load_all_or_nothing_and_report_the_line() {
        let dir = std::env::temp_dir().join(format!("acl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.acl");
        std::fs::write(&path, "# users\nuser alice on >pw &a* +@all\n\nuser bob off\n").unwrap();
        let acl = Acl::new(None, Some(path.clone()));
        acl.load().unwrap();
        assert_eq!(acl.names(), vec![Bytes::from("alice"), "bob".into(), "default".into()]);
        assert!(acl.authenticate(b"alice", b"pw").is_some());
        assert!(acl.authenticate(b"bob", b"").is_none());
        assert!(!acl.auth_required(), "the default user was not declared: nopass");
        std::fs::write(&path, "user alice on\nuser carol on >x +nosuch\n").unwrap();
        let err = acl.load().unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:2: Error in user declaration '+nosuch': Unknown command or category name \
                 in ACL",
                path.display()
            )
        );
        assert!(acl.authenticate(b"alice", b"pw").is_some(), "nothing changed");
        std::fs::write(&path, "user default on >pw ~* &* +@all\n").unwrap();
        acl.load().unwrap();
        assert!(acl.auth_required());
        assert!(acl.get(b"alice").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn protected_mode_refuses_only_outsiders_while_there_is_no_password() {
        let outside: IpAddr = "192.0.2.7".parse().unwrap();
        let v6_outside: IpAddr = "2001:db8::1".parse().unwrap();
        for inside in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(!protected_mode_refuses(true, true, inside.parse().unwrap()), "{inside}");
        }
        assert!(protected_mode_refuses(true, true, outside));
        assert!(protected_mode_refuses(true, true, v6_outside));
        assert!(protected_mode_refuses(true, true, "::ffff:192.0.2.7".parse().unwrap()));
        assert!(!protected_mode_refuses(false, true, outside), "--protected-mode no");
        assert!(!protected_mode_refuses(true, false, outside), "a password is set");
        assert!(Acl::new(None, None).default_nopass());
        assert!(!Acl::new(Some(b"pw"), None).default_nopass());
    }

    #[test]
    fn requirepass_gives_the_default_user_a_password() {
        let acl = Acl::new(Some(b"pw"), None);
        assert!(acl.auth_required());
        assert!(acl.authenticate(b"default", b"pw").is_some());
        assert!(acl.authenticate(b"default", b"no").is_none());
        assert!(!Acl::new(None, None).auth_required());
        let before = acl.epoch();
        acl.set_user(b"x", &[Bytes::from("on"), Bytes::from("nopass")]).unwrap();
        assert_ne!(acl.epoch(), before);
        assert_eq!(
            text(acl.set_user(b"x", &[Bytes::from("off"), Bytes::from("bad")])),
            Err("ERR Error in ACL SETUSER modifier 'bad': Syntax error".into())
        );
        assert!(acl.get(b"x").unwrap().enabled(), "all or nothing");
        assert!(matches!(acl.load(), Err(AclError::NoFile)));
    }
}
