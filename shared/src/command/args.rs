//! A request's arguments as the command parsers read them, and Redis's readings of integers.

use bytes::Bytes;

use super::error::CommandError;

/// The arguments after a command's name (or after a container's subcommand), read in order.
#[derive(Debug)]
pub struct Args {
    rest: std::vec::IntoIter<Bytes>,
}

impl Args {
    pub(super) fn new(rest: std::vec::IntoIter<Bytes>) -> Args {
        Args { rest }
    }

    /// How many arguments are left.
    pub fn len(&self) -> usize {
        self.rest.len()
    }

    /// Returns true if and only if no argument is left.
    pub fn is_empty(&self) -> bool {
        self.rest.len() == 0
    }

    /// The next argument, empty if none is left (after an arity check that guarantees one).
    pub fn take(&mut self) -> Bytes {
        self.rest.next().unwrap_or_default()
    }

    /// Every argument left.
    pub fn rest(&mut self) -> Vec<Bytes> {
        self.rest.by_ref().collect()
    }

    /// Checks an argument count: `ok`, or Redis's arity error naming `full_name`.
    pub fn need(&self, ok: bool, full_name: &'static str) -> Result<(), CommandError> {
        if ok {
            Ok(())
        } else {
            Err(CommandError::Arity(full_name))
        }
    }

    /// The subcommand of the container `container` (`pubsub` in `PUBSUB CHANNELS`), which
    /// must have one: the word as sent, and its lower case form in `buf` (empty for a word
    /// longer than any subcommand, which then matches none).
    pub fn subcommand<'b>(
        &mut self,
        container: &'static str,
        buf: &'b mut [u8; NAME_MAX],
    ) -> Result<(Bytes, &'b [u8]), CommandError> {
        self.need(!self.is_empty(), container)?;
        let sub = self.take();
        let lower = lower_case(&sub, buf);
        Ok((sub, lower))
    }
}

impl Iterator for Args {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        self.rest.next()
    }
}

/// The longest command or subcommand name served, rounded up.
pub const NAME_MAX: usize = 16;

/// `word` in lower case, in `buf`; empty if it does not fit (no name served is that long, and
/// none is empty).
pub fn lower_case<'b>(word: &[u8], buf: &'b mut [u8; NAME_MAX]) -> &'b [u8] {
    let Some(lower) = buf.get_mut(..word.len()) else { return &[] };
    lower.copy_from_slice(word);
    lower.make_ascii_lowercase();
    lower
}

/// Returns true if and only if `arg` is `word` (lower case) in any case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// `ON` or `OFF`, any case.
pub fn on_off(arg: &[u8]) -> Result<bool, CommandError> {
    match arg {
        a if is(a, "on") => Ok(true),
        a if is(a, "off") => Ok(false),
        _ => Err(CommandError::Syntax),
    }
}

/// The words that send a command: `head` (its name, and subcommand) then `rest`.
pub fn words(head: &[&'static str], rest: &[Bytes]) -> Vec<Bytes> {
    head.iter().map(|s| Bytes::from_static(s.as_bytes())).chain(rest.iter().cloned()).collect()
}

/// The databases `SELECT` accepts, as a Redis with its default `databases 16`.
pub const DATABASES: i64 = 16;

/// Parses a database index for `SELECT` as Redis does: a decimal 64-bit integer that fits a C
/// `int`, then within `0..DATABASES`.
pub fn parse_db_index(arg: &[u8]) -> Result<i64, CommandError> {
    let index = parse_integer(arg).ok_or(CommandError::NotAnInteger)?;
    if i32::try_from(index).is_err() {
        Err(CommandError::IntOutOfRange)
    } else if (0..DATABASES).contains(&index) {
        Ok(index)
    } else {
        Err(CommandError::DbIndexOutOfRange)
    }
}

/// A decimal 64-bit integer written as Redis's `string2ll` accepts it: an optional `-`, digits,
/// no leading zeros, no spaces or `+`.
pub fn parse_integer(arg: &[u8]) -> Option<i64> {
    let digits = arg.strip_prefix(b"-").unwrap_or(arg);
    let canonical = !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
        && arg != b"-0";
    if !canonical {
        return None;
    }
    std::str::from_utf8(arg).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_db_indexes_as_redis_reads_them() {
        assert_eq!(parse_integer(b"15"), Some(15));
        assert_eq!(parse_integer(b"-1"), Some(-1));
        for bad in [&b""[..], b"+1", b" 1", b"01", b"-0", b"1.0", b"x", b"99999999999999999999"] {
            assert_eq!(parse_integer(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_db_index(b"0"), Ok(0));
        assert_eq!(parse_db_index(b"16"), Err(CommandError::DbIndexOutOfRange));
        assert_eq!(parse_db_index(b"-1"), Err(CommandError::DbIndexOutOfRange));
        assert_eq!(parse_db_index(b"abc"), Err(CommandError::NotAnInteger));
        assert_eq!(parse_db_index(b"9223372036854775807"), Err(CommandError::IntOutOfRange));
    }
}
