//! The users of a running server, their epoch, and the ACL file they are read from and saved
//! to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::log::AclLog;
use super::user::{sha256, User, DEFAULT_USER};
use crate::errors::{AclError, FileSyntax, ReplyError};
use crate::throttled_log::ThrottledLog;

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
    pub(super) wrong_passwords: ThrottledLog,
    /// The latest refusals (`ACL LOG`).
    pub log: AclLog,
}

impl Acl {
    /// The users at start: the default user, with `requirepass` as its password if given
    /// (replacing `nopass`, as Redis's `requirepass` does). An ACL file is read by
    /// [`Acl::load`].
    pub fn new(requirepass: Option<&[u8]>, file: Option<PathBuf>) -> Acl {
        let mut default = User::default_user().with_serial(1);
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
            || User::new(name).with_serial(self.next_serial.fetch_add(1, Ordering::Relaxed)),
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
    use crate::test_util::text;

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
