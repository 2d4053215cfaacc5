//! MONITOR, and the feed behind it: after each command runs, one line in Redis's format to
//! every monitoring connection, through its mailbox (the exchange's tap).

use bytes::Bytes;
use shared::command::{in_category, MonitorCommand};

use super::Run;
use crate::errors::ReplyError;
use crate::session::{error, Session, Status};
use crate::stats::add;

impl Run for MonitorCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let state = session.resp.as_deref_mut().expect("resp session");
        if state.rare().is_some_and(|r| r.executing) {
            error(out, &ReplyError::MonitorInExec);
            return Status::Open;
        }
        // A second MONITOR is not answered, as by Redis.
        if session.ctx.exchange.monitor(session.id, session.client.mailbox.clone()) {
            state.rare_mut().monitoring = true;
            out.extend_from_slice(b"+OK\r\n");
        }
        Status::Open
    }
}

impl Session {
    /// Feeds the monitors the command `args` (Redis's `full_name`) that just ran, as Redis
    /// does: not the administrative ones (`@admin`: MONITOR, CONFIG, CLIENT LIST, ACL SETUSER,
    /// ...), and with passwords redacted. The caller checks that somebody monitors.
    pub(super) fn feed_monitors(&self, full_name: &str, args: &[Bytes]) {
        if in_category(full_name, "admin") {
            return;
        }
        let state = self.resp.as_deref().expect("resp session");
        let (secs, micros) = self.ctx.unix_time();
        let addr = self.client.peer().map_or_else(String::new, |a| a.to_string());
        let line = monitor_line(secs, micros, i64::from(state.db), &addr, args);
        let fed = self.ctx.exchange.feed_monitors(&line);
        add(&self.ctx.stats.published_receivers, fed.receivers as u64);
        add(&self.ctx.stats.dropped, fed.dropped as u64);
    }
}

/// One MONITOR line: `+<secs>.<micros> [<db> <addr>] "<arg>" ...` and CRLF, each argument
/// quoted as Redis quotes it, passwords as `(redacted)`.
fn monitor_line(secs: u64, micros: u32, db: i64, addr: &str, args: &[Bytes]) -> Bytes {
    let mut line = format!("+{secs}.{micros:06} [{db} {addr}]").into_bytes();
    let redacted = redacted(args);
    for (i, arg) in args.iter().enumerate() {
        line.push(b' ');
        if redacted(i) {
            line.extend_from_slice(b"\"(redacted)\"");
        } else {
            quote(arg, &mut line);
        }
    }
    line.extend_from_slice(b"\r\n");
    line.into()
}

/// Which arguments Redis hides: everything after AUTH, and the two after HELLO's `AUTH`.
fn redacted(args: &[Bytes]) -> impl Fn(usize) -> bool {
    let name = |w: &str| args.first().is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()));
    let auth = name("auth");
    let hello_auth = if name("hello") {
        args.iter().skip(2).position(|a| a.eq_ignore_ascii_case(b"auth")).map(|p| p + 2)
    } else {
        None
    };
    move |i| (auth && i > 0) || hello_auth.is_some_and(|at| i == at + 1 || i == at + 2)
}

/// Appends `arg` in double quotes as Redis's `sdscatrepr` writes it: backslash escapes for
/// `\\`, `"`, newline, carriage return, tab, bell and backspace, printable ASCII as is, any
/// other byte as `\xhh`.
fn quote(arg: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            b' '..=b'~' => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&[u8]]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
    }

    #[test]
    fn lines_quote_and_redact_as_redis() {
        let line = |w: &[&[u8]]| monitor_line(1339518083, 7412, 3, "127.0.0.1:60866", &args(w));
        assert_eq!(
            line(&[b"publish", b"ch an\"x", b"a\\b\nc"]),
            &b"+1339518083.007412 [3 127.0.0.1:60866] \"publish\" \"ch an\\\"x\" \"a\\\\b\\nc\"\r\n"[..]
        );
        assert_eq!(
            line(&[b"echo", b"\x01\xff\xc3\xa9 \t\r\x07\x08"]),
            &b"+1339518083.007412 [3 127.0.0.1:60866] \"echo\" \"\\x01\\xff\\xc3\\xa9 \\t\\r\\a\\b\"\r\n"[..]
        );
        assert!(line(&[b"AUTH", b"u", b"p"]).ends_with(b"\"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"));
        assert!(line(&[b"hello", b"3", b"auth", b"u", b"p", b"setname", b"n"])
            .ends_with(b"\"hello\" \"3\" \"auth\" \"(redacted)\" \"(redacted)\" \"setname\" \"n\"\r\n"));
        assert!(line(&[b"echo", b"auth", b"x"]).ends_with(b"\"echo\" \"auth\" \"x\"\r\n"));
    }
}
