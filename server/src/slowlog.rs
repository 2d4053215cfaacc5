//! The slow log (`SLOWLOG GET|LEN|RESET`): the last `slowlog-max-len` commands that ran longer
//! than `slowlog-log-slower-than` microseconds, each with its arguments trimmed as Redis trims
//! them (at most 32, each at most 128 bytes) and secrets redacted, its client's address and
//! name. A ring: the oldest entry leaves when a new one would pass the length.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

/// At most this many arguments are kept; the last kept one then says how many more there were
/// (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
pub const MAX_ARGC: usize = 32;
/// Each argument is kept to this many bytes, followed by how many more there were (Redis's
/// `SLOWLOG_ENTRY_MAX_STRING`).
pub const MAX_STRING: usize = 128;

/// One slow command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Unique and growing for the server's life (`SLOWLOG RESET` does not restart it).
    pub id: u64,
    /// When it was logged, in seconds since the Unix epoch.
    pub unix_secs: u64,
    /// How long it ran, in microseconds.
    pub micros: u64,
    /// Its arguments, trimmed and redacted.
    pub args: Vec<Bytes>,
    /// The client's address, `ip:port`.
    pub peer: String,
    /// The client's name (empty if it has none).
    pub name: Bytes,
}

/// The slow log and its two parameters.
pub struct SlowLog {
    /// `slowlog-log-slower-than`, in microseconds: negative logs nothing, 0 everything.
    slower_than: AtomicI64,
    /// `slowlog-max-len`.
    max_len: AtomicUsize,
    next_id: AtomicU64,
    /// Newest first.
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    fn default() -> SlowLog {
        SlowLog {
            slower_than: AtomicI64::new(10_000),
            max_len: AtomicUsize::new(128),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl SlowLog {
    /// `slowlog-log-slower-than`.
    pub fn slower_than(&self) -> i64 {
        self.slower_than.load(Ordering::Relaxed)
    }

    /// Sets `slowlog-log-slower-than`.
    pub fn set_slower_than(&self, micros: i64) {
        self.slower_than.store(micros, Ordering::Relaxed);
    }

    /// `slowlog-max-len`.
    pub fn max_len(&self) -> usize {
        self.max_len.load(Ordering::Relaxed)
    }

    /// Sets `slowlog-max-len`, dropping the oldest entries past it.
    pub fn set_max_len(&self, len: usize) {
        self.max_len.store(len, Ordering::Relaxed);
        self.lock().truncate(len);
    }

    /// Returns true if and only if a command that ran `micros` belongs in the log.
    pub fn is_slow(&self, micros: u64) -> bool {
        let threshold = self.slower_than();
        threshold >= 0 && micros >= threshold as u64
    }

    /// Logs a command that ran `micros`, sent as `args` by the client at `peer` named `name`.
    pub fn add(&self, args: &[Bytes], micros: u64, unix_secs: u64, peer: String, name: Bytes) {
        let max_len = self.max_len();
        if max_len == 0 {
            return;
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs,
            micros,
            args: trimmed(&redacted(args)),
            peer,
            name,
        };
        let mut entries = self.lock();
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// The newest `count` entries (all with `None`), newest first.
    pub fn get(&self, count: Option<usize>) -> Vec<Entry> {
        let entries = self.lock();
        entries.iter().take(count.unwrap_or(usize::MAX)).cloned().collect()
    }

    /// How many entries the log holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Returns true if and only if the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the log.
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The arguments with their secrets replaced by `(redacted)`, as Redis 7.0 logs them:
/// `AUTH`'s arguments, `HELLO ... AUTH user pass`'s two, `ACL SETUSER`'s all after the
/// subcommand, and `CONFIG SET requirepass`'s value.
fn redacted(args: &[Bytes]) -> Vec<Bytes> {
    const REDACTED: Bytes = Bytes::from_static(b"(redacted)");
    let mut out = args.to_vec();
    let is =
        |i: usize, word: &str| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()));
    if is(0, "auth") {
        out[1..].fill(REDACTED);
    } else if is(0, "hello") {
        if let Some(at) = (2..args.len()).find(|&i| is(i, "auth")) {
            let end = (at + 3).min(args.len());
            out[at + 1..end].fill(REDACTED);
        }
    } else if is(0, "acl") && is(1, "setuser") {
        out[2..].fill(REDACTED);
    } else if is(0, "config") && is(1, "set") {
        for pair in (2..args.len()).step_by(2) {
            if is(pair, "requirepass") && pair + 1 < args.len() {
                out[pair + 1] = REDACTED;
            }
        }
    }
    out
}

/// The arguments trimmed as Redis trims them: at most [`MAX_ARGC`] (the last one kept then
/// says `... (N more arguments)`), each at most [`MAX_STRING`] bytes followed by
/// `... (N more bytes)`.
fn trimmed(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGC);
    let mut out: Vec<Bytes> = args[..kept]
        .iter()
        .map(|arg| {
            if arg.len() <= MAX_STRING {
                return arg.clone();
            }
            let mut cut = arg[..MAX_STRING].to_vec();
            cut.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - MAX_STRING).as_bytes(),
            );
            Bytes::from(cut)
        })
        .collect();
    if args.len() > MAX_ARGC {
        let more = args.len() - MAX_ARGC + 1;
        out[MAX_ARGC - 1] = Bytes::from(format!("... ({more} more arguments)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn secrets_are_redacted_as_redis_redacts_them() {
        assert_eq!(
            redacted(&args(&["AUTH", "u", "p"])),
            args(&["AUTH", "(redacted)", "(redacted)"])
        );
        assert_eq!(
            redacted(&args(&["hello", "3", "auth", "a", "b", "setname", "n"])),
            args(&["hello", "3", "auth", "(redacted)", "(redacted)", "setname", "n"])
        );
        assert_eq!(
            redacted(&args(&["acl", "setuser", "bob", "on", ">pw"])),
            args(&["acl", "setuser", "(redacted)", "(redacted)", "(redacted)"])
        );
        assert_eq!(
            redacted(&args(&["config", "set", "timeout", "0", "requirepass", "x"])),
            args(&["config", "set", "timeout", "0", "requirepass", "(redacted)"])
        );
        assert_eq!(redacted(&args(&["publish", "auth", "x"])), args(&["publish", "auth", "x"]));
    }

    #[test]
    fn long_arguments_and_long_commands_are_trimmed() {
        let long = Bytes::from(vec![b'x'; 200]);
        let out = trimmed(&[Bytes::from_static(b"publish"), long]);
        assert_eq!(out[1].len(), 128 + "... (72 more bytes)".len());
        assert!(out[1].ends_with(b"x... (72 more bytes)"));
        let many: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let out = trimmed(&many);
        assert_eq!(out.len(), 32);
        assert_eq!(out[30], "30");
        assert_eq!(out[31], "... (9 more arguments)");
    }

    #[test]
    fn the_log_is_a_ring_of_max_len_entries() {
        let log = SlowLog::default();
        log.set_max_len(3);
        for i in 0..5u64 {
            log.add(&args(&["ping"]), i, 0, "127.0.0.1:1".into(), Bytes::new());
        }
        let ids: Vec<u64> = log.get(None).iter().map(|e| e.id).collect();
        assert_eq!(ids, [4, 3, 2]);
        assert_eq!(log.get(Some(1)).len(), 1);
        log.set_max_len(1);
        assert_eq!(log.len(), 1);
        log.reset();
        assert!(log.is_empty());
        log.set_slower_than(-1);
        assert!(!log.is_slow(u64::MAX));
        log.set_slower_than(0);
        assert!(log.is_slow(0));
    }
}
