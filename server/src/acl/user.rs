//! A user and Redis's rules for it: passwords, channel patterns, command and category rules.

use std::fmt::Write as _;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::errors::{ReplyError, RuleError};

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

/// The commands of `category` (`ACL CAT name`), or every category (`ACL CAT`); the error is
/// Redis's reply for a category it does not have. The table is
/// [`shared::command::COMMAND_TABLE`].
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

pub(super) fn sha256(password: &[u8]) -> Digest32 {
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
    pub(super) name: Bytes,
    pub(super) enabled: bool,
    /// Any password is accepted (`nopass`).
    pub(super) nopass: bool,
    /// SHA-256 digests of the accepted passwords, in the order they were added.
    pub(super) passwords: Vec<Digest32>,
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
    /// Which creation of this name the user is, given by the [`Acl`](super::Acl): changes keep
    /// it, a user deleted and created again (or new in a reloaded file) has another, so a
    /// connection logged in as the deleted one never becomes the new one.
    pub(super) serial: u64,
}

impl User {
    /// This user as the creation `serial` of its name.
    pub(super) fn with_serial(mut self, serial: u64) -> User {
        self.serial = serial;
        self
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::text;

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
}
