//! `ACL LOG`: the latest refusals, grouped and bounded as Redis's.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;

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
    /// A key the user may not touch.
    Key,
}

impl LogReason {
    /// The entry's `reason` field, Redis's word.
    pub fn word(self) -> &'static str {
        match self {
            LogReason::Auth => "auth",
            LogReason::Command => "command",
            LogReason::Key => "key",
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
