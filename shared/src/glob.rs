//! Redis-compatible glob matching for `PSUBSCRIBE` and `PUBSUB CHANNELS` patterns.
//!
//! An iterative, byte-wise port of Redis's `stringmatchlen` (util.c, `nocase = 0`): the same
//! answers, in O(pattern × subject) time and constant space, without recursion.

/// How many `*` runs deep Redis's recursive matcher may go before it gives up (`nesting > 1000`
/// in util.c). A pattern that needs more never matches, and we keep that answer.
const MAX_STAR_NESTING: usize = 1000;

/// Returns true if and only if `subject` matches the glob `pattern` (byte-wise, case-sensitive),
/// giving the same answer as Redis's `stringmatchlen(pattern, subject, nocase = 0)`.
///
/// Pattern syntax:
/// - `*` matches any run of bytes, including an empty one; consecutive stars act as one.
/// - `?` matches exactly one byte.
/// - `[abc]` matches one byte from the set, `[^abc]` one byte not in it, and `[a-z]` one byte in
///   the inclusive range (`[z-a]` is the same range). Inside a set, `\x` is a literal `x`.
/// - `\x` matches the byte `x` literally.
/// - Any other byte matches itself.
///
/// Redis quirks kept on purpose, so that every pattern behaves as it does against Redis:
/// - An empty subject matches only the empty pattern: not even `*` matches it.
/// - A `[` with no closing `]` makes a set that runs to the end of the pattern.
/// - A trailing lone `\` matches a literal backslash.
/// - In a set, `x-` followed by any byte (even `]`) is a range, so `[a-]` is an unterminated
///   set holding the range `]`..=`a`.
/// - A pattern whose match would have to pass more than 1000 `*` runs (not counting a final
///   one) never matches, as Redis stops recursing there.
///
/// Ranges compare bytes as unsigned values, as Redis does where C's `char` is unsigned (e.g.
/// arm64). Where `char` is signed (x86-64), Redis orders bytes `0x80..=0xff` before `0x00`, so a
/// range with one end below `0x80` and the other at or above it can differ there.
///
/// Never panics, and runs in O(`pattern.len()` × `subject.len()`) time.
pub fn glob_match(pattern: &[u8], subject: &[u8]) -> bool {
    // Redis only enters its matching loop while both sides are non-empty, and a non-empty
    // pattern never reduces to nothing without consuming a byte, so "" matches only "".
    if subject.is_empty() {
        return pattern.is_empty();
    }

    let mut p = 0; // next pattern byte
    let mut s = 0; // next subject byte

    // `*` runs passed on the way to `p`. A retry never goes back past a run, so this only grows.
    let mut stars = 0;

    // Where to retry after a mismatch: the pattern just past the latest `*` run, and the
    // subject byte that run's match currently ends before. Only the latest run matters: every
    // non-star token consumes exactly one byte, so if the rest of the pattern fails from every
    // later start, letting an earlier `*` eat more cannot help. That is Redis's
    // `skipLongerMatches` rule, and what bounds the work to O(n × m).
    let mut retry: Option<(usize, usize)> = None;

    loop {
        if pattern.get(p) == Some(&b'*') {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            stars += 1;
            // Redis would recurse one level deeper here, past its limit, and report no match
            // for the whole pattern; since any match must get through this run, so do we.
            if stars > MAX_STAR_NESTING {
                return false;
            }
            // Try the rest of the pattern with this run empty first, then longer.
            retry = Some((p, s));
            continue;
        }

        // `p` is at the end or at a one-byte token, and `s` is in bounds here.
        if let Some(next) = match_one(pattern, p, subject[s]) {
            p = next;
            s += 1;
            if s < subject.len() {
                continue;
            }
            // Subject used up: the match succeeds if only stars remain, each matching
            // nothing; otherwise it failed like any mismatch.
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
        }

        // Mismatch: let the latest `*` eat one more byte. Redis never tries the rest of the
        // pattern against an empty remainder, and it could not match one anyway.
        match retry {
            Some((after_star, start)) if start + 1 < subject.len() => {
                retry = Some((after_star, start + 1));
                p = after_star;
                s = start + 1;
            }
            _ => return false,
        }
    }
}

/// Matches the one-byte token at `pattern[p..]` (anything but `*`) against `byte`. Returns the
/// index just past the token if it matches, `None` if it does not or the pattern is used up.
fn match_one(pattern: &[u8], p: usize, byte: u8) -> Option<usize> {
    let (matched, next) = match pattern[p..] {
        [] => return None,
        [b'?', ..] => (true, p + 1),
        [b'[', ..] => match_set(pattern, p + 1, byte),
        [b'\\', escaped, ..] => (escaped == byte, p + 2),
        // Covers a trailing lone `\` too, which Redis compares as a literal backslash.
        [literal, ..] => (literal == byte, p + 1),
    };
    matched.then_some(next)
}

/// Matches `byte` against the set whose body starts at `pattern[start..]` (just past the `[`).
/// Returns whether it matched and the index just past the closing `]`, or the pattern's end if
/// the set is unterminated.
fn match_set(pattern: &[u8], start: usize, byte: u8) -> (bool, usize) {
    let mut i = start;
    let negated = pattern.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    // The arms are in Redis's order, which decides the odd cases: an escape beats `]`, `]`
    // closes the set before anything can make it part of a range, and a range is tried before
    // a plain byte (so `[a-]` is a range ending in `]`).
    loop {
        match pattern[i..] {
            [b'\\', escaped, ..] => {
                matched |= escaped == byte;
                i += 2;
            }
            [b']', ..] => return (matched != negated, i + 1),
            [] => return (matched != negated, i),
            [from, b'-', to, ..] => {
                // Redis swaps reversed ends, so `[z-a]` is `[a-z]`.
                matched |= (from.min(to)..=from.max(to)).contains(&byte);
                i += 3;
            }
            [literal, ..] => {
                matched |= literal == byte;
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A direct transcription of Redis 7's recursive `stringmatchlen_impl` (`nocase = 0`, bytes
    /// compared unsigned), used as an oracle. Reads past the end see C's NUL terminator.
    fn redis_reference(pattern: &[u8], subject: &[u8]) -> bool {
        fn at(p: &[u8], i: usize) -> u8 {
            p.get(i).copied().unwrap_or(0)
        }
        fn imp(mut pat: &[u8], mut s: &[u8], skip_longer: &mut bool, nesting: usize) -> bool {
            if nesting > 1000 {
                return false;
            }
            while !pat.is_empty() && !s.is_empty() {
                match pat[0] {
                    b'*' => {
                        while !pat.is_empty() && at(pat, 1) == b'*' {
                            pat = &pat[1..];
                        }
                        if pat.len() == 1 {
                            return true;
                        }
                        while !s.is_empty() {
                            if imp(&pat[1..], s, skip_longer, nesting + 1) {
                                return true;
                            }
                            if *skip_longer {
                                return false;
                            }
                            s = &s[1..];
                        }
                        *skip_longer = true;
                        return false;
                    }
                    b'?' => s = &s[1..],
                    b'[' => {
                        let mut i = 1;
                        let not = at(pat, i) == b'^';
                        if not {
                            i += 1;
                        }
                        let mut matched = false;
                        loop {
                            let len = pat.len() - i;
                            if at(pat, i) == b'\\' && len >= 2 {
                                i += 1;
                                matched |= pat[i] == s[0];
                            } else if at(pat, i) == b']' {
                                break;
                            } else if len == 0 {
                                i -= 1;
                                break;
                            } else if len >= 3 && pat[i + 1] == b'-' {
                                let (lo, hi) = (pat[i].min(pat[i + 2]), pat[i].max(pat[i + 2]));
                                i += 2;
                                matched |= lo <= s[0] && s[0] <= hi;
                            } else {
                                matched |= pat[i] == s[0];
                            }
                            i += 1;
                        }
                        if matched == not {
                            return false;
                        }
                        s = &s[1..];
                        pat = &pat[i..];
                    }
                    b'\\' => {
                        if pat.len() >= 2 {
                            pat = &pat[1..];
                        }
                        if pat[0] != s[0] {
                            return false;
                        }
                        s = &s[1..];
                    }
                    c => {
                        if c != s[0] {
                            return false;
                        }
                        s = &s[1..];
                    }
                }
                pat = &pat[1..];
                if s.is_empty() {
                    while at(pat, 0) == b'*' {
                        pat = &pat[1..];
                    }
                    break;
                }
            }
            pat.is_empty() && s.is_empty()
        }
        imp(pattern, subject, &mut false, 0)
    }

    #[test]
    fn table() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            // Empty pattern and empty subject.
            (b"", b"", true),
            (b"", b"a", false),
            (b"a", b"", false),
            (b"*", b"", false), // Redis: nothing but "" matches ""
            (b"**", b"", false),
            (b"?", b"", false),
            // Literals: exact, byte-wise, case-sensitive.
            (b"news", b"news", true),
            (b"news", b"News", false),
            (b"news", b"new", false),
            (b"news", b"newss", false),
            // `*`.
            (b"*", b"a", true),
            (b"*", b"any channel at all", true),
            (b"*", b"\x00\xff", true),
            (b"**", b"x", true),
            (b"news.*", b"news.tech", true),
            (b"news.*", b"news.", true),
            (b"news.*", b"news", false),
            (b"*.tech", b"news.tech", true),
            (b"*.tech", b"news.techs", false),
            (b"h*o", b"ho", true),
            (b"h*o", b"hello", true),
            (b"h*o", b"hellx", false),
            (b"a***b", b"ab", true),
            (b"a***b", b"axyzb", true),
            (b"a*b*c", b"aXbYc", true),
            (b"a*b*c", b"aXcYb", false),
            (b"a*", b"a", true),
            (b"a**", b"a", true),
            (b"*ab", b"aab", true), // the star must give back a byte it first skipped past
            (b"*a?", b"aab", true),
            (b"*a?", b"aba", false),
            (b"*?", b"a", true),
            (b"*??", b"a", false),
            // `?`.
            (b"?", b"a", true),
            (b"?", b"ab", false),
            (b"h?llo", b"hallo", true),
            (b"h?llo", b"hllo", false),
            (b"??", b"\xff\x80", true),
            // Sets, negated sets, ranges.
            (b"h[ae]llo", b"hello", true),
            (b"h[ae]llo", b"hallo", true),
            (b"h[ae]llo", b"hillo", false),
            (b"h[^e]llo", b"hallo", true),
            (b"h[^e]llo", b"hello", false),
            (b"h[a-b]llo", b"hbllo", true),
            (b"h[a-b]llo", b"hcllo", false),
            (b"[a-cx-z]", b"y", true),
            (b"[a-cx-z]", b"d", false),
            (b"[^a-c]", b"d", true),
            (b"[^a-c]", b"b", false),
            (b"[z-a]", b"m", true), // reversed range
            (b"[z-a]", b"a", true),
            (b"[z-a]", b"A", false),
            (b"[a-a]", b"a", true),
            (b"[-a]", b"-", true), // a leading `-` is literal
            (b"[-a]", b"b", false),
            (b"[ab]", b"ab", false), // a set is one byte
            (b"[*?]", b"*", true),   // no specials inside a set
            (b"[*?]", b"x", false),
            (b"x[^^]", b"x^", false),
            // Empty and degenerate sets.
            (b"[]", b"a", false),
            (b"[]", b"]", false),
            (b"[]]", b"]", false), // `[]` matches nothing, then a literal `]`
            (b"[^]", b"a", true),  // a negated empty set matches any one byte
            (b"[^]", b"]", true),
            (b"[^]", b"ab", false),
            (b"[a-]", b"a", true), // a range from `a` down to `]`, unterminated
            (b"[a-]", b"]", true),
            (b"[a-]", b"_", true),
            (b"[a-]", b"-", false),
            (b"[a-]", b"b", false),
            (b"[a-]b", b"b", true), // ...so the `b` is in the set, not after it
            (b"[a-]b", b"ab", false),
            // Unterminated sets run to the end of the pattern.
            (b"[abc", b"b", true),
            (b"[abc", b"d", false),
            (b"[ab", b"ab", false),
            (b"[a-z", b"q", true),
            (b"[", b"[", false),
            (b"[", b"a", false),
            (b"[^", b"x", true),
            (b"a[", b"a", false),
            (b"a[", b"a[", false),
            // Escapes.
            (b"\\*", b"*", true),
            (b"\\*", b"a", false),
            (b"\\?", b"?", true),
            (b"\\?", b"x", false),
            (b"\\[a]", b"[a]", true),
            (b"\\[a]", b"a", false),
            (b"\\a", b"a", true),
            (b"\\\\", b"\\", true),
            (b"a\\*b", b"a*b", true),
            (b"a\\*b", b"axb", false),
            (b"*\\*", b"abc*", true),
            (b"\\", b"\\", true), // a trailing lone backslash is literal
            (b"\\", b"a", false),
            (b"a\\", b"a\\", true),
            (b"a\\", b"a", false),
            // Escapes inside sets.
            (b"[\\]]", b"]", true),
            (b"[\\]]", b"\\", false),
            (b"[\\^a]", b"^", true), // an escaped `^` does not negate
            (b"[\\^a]", b"b", false),
            (b"[a\\-z]", b"-", true), // an escaped `-` is no range
            (b"[a\\-z]", b"b", false),
            (b"[\\]", b"]", true), // unterminated: the escaped `]` does not close
            (b"[\\]", b"\\", false),
            (b"[\\", b"\\", true), // a lone backslash at the end of a set is literal
            (b"[\\a-c]", b"b", false), // the escape takes `a`, leaving `-` and `c` literal
            (b"[\\a-c]", b"-", true),
            // Bytes >= 0x80 and NUL: matched as bytes, no UTF-8 assumption.
            (b"caf\xc3\xa9", b"caf\xc3\xa9", true),
            (b"caf?", b"caf\xc3\xa9", false),
            (b"caf??", b"caf\xc3\xa9", true),
            (b"\xff*", b"\xff\xfe", true),
            (b"[\x80-\xff]", b"\xc3", true),
            (b"[\xff-\x80]", b"\x80", true),
            (b"[\x80-\xff]", b"a", false),
            (b"[^\x80-\xff]", b"a", true),
            (b"[\x00-\xff]", b"\x7f", true),
            (b"\\\xff", b"\xff", true),
            (b"a\x00b", b"a\x00b", true),
            (b"a\x00b", b"a", false),
            (b"*\x00", b"x\x00", true),
        ];
        for &(pattern, subject, want) in cases {
            assert_eq!(
                glob_match(pattern, subject),
                want,
                "pattern {:?} subject {:?}",
                pattern.escape_ascii().to_string(),
                subject.escape_ascii().to_string()
            );
            assert_eq!(redis_reference(pattern, subject), want, "reference disagrees");
        }
    }

    #[test]
    fn pathological_patterns_finish() {
        let subject = vec![b'a'; 20_000];
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*b", &subject));
        assert!(glob_match(b"a*a*a*a*a*a*a*a*a", &subject));
        let many_stars = [b"*a".repeat(500), b"*b".to_vec()].concat();
        assert!(!glob_match(&many_stars, &subject));
        assert!(!glob_match(b"*[a]*[^b]*?*\\a*[b-c]", &subject));
        // An unterminated set swallows the final `*b`, leaving one byte to match.
        assert!(glob_match(b"*[a]*[^b]*?*\\a*[a-a*b", &subject));
    }

    #[test]
    fn star_nesting_limit_matches_redis() {
        let subject = vec![b'a'; 1100];
        // 1000 `*` runs that each need something after them are fine...
        let ok = b"*a".repeat(1000);
        assert!(glob_match(&ok, &subject));
        // ...and a final run does not count...
        let trailing = [ok.as_slice(), b"*"].concat();
        assert!(glob_match(&trailing, &subject));
        // ...but Redis gives up on the 1001st.
        let too_deep = b"*a".repeat(1001);
        assert!(!glob_match(&too_deep, &subject));
        assert!(!redis_reference(&too_deep, &subject));
        // Consecutive stars count as one run.
        assert!(glob_match(&b"**a".repeat(1000), &subject));
    }

    /// Patterns and subjects over a small alphabet rich in metacharacters, so that sets,
    /// ranges, escapes and stars combine often.
    fn glob_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            Just(b'*'),
            Just(b'?'),
            Just(b'['),
            Just(b']'),
            Just(b'^'),
            Just(b'-'),
            Just(b'\\'),
            Just(b'a'),
            Just(b'b'),
            Just(b'z'),
            Just(b'\x00'),
            Just(b'\xff'),
            any::<u8>(),
        ];
        proptest::collection::vec(byte, 0..max_len)
    }

    fn literal_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()]
                .prop_filter("not a metacharacter", |b| !b"*?[\\".contains(b)),
            0..12,
        )
    }

    proptest! {
        #[test]
        fn literal_pattern_matches_only_itself(lit in literal_bytes(), other in literal_bytes()) {
            prop_assert!(glob_match(&lit, &lit));
            prop_assert_eq!(glob_match(&lit, &other), lit == other);
        }

        #[test]
        fn star_matches_every_nonempty_subject(
            subject in proptest::collection::vec(any::<u8>(), 1..64),
            stars in 1..4usize,
        ) {
            prop_assert!(glob_match(&b"*".repeat(stars), &subject));
        }

        #[test]
        fn random_inputs_never_panic_and_agree_with_redis(
            pattern in glob_bytes(24),
            subject in glob_bytes(24),
        ) {
            prop_assert_eq!(glob_match(&pattern, &subject), redis_reference(&pattern, &subject));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            pattern in proptest::collection::vec(any::<u8>(), 0..64),
            subject in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let _ = glob_match(&pattern, &subject);
        }
    }
}
