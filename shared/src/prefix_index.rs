//! An index of glob patterns by their literal prefix: which patterns may match a subject,
//! without trying every one. The exchange matches `PSUBSCRIBE` patterns through it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::glob::glob_match;

/// A pattern, shared with whoever else holds it.
pub type Pattern = Arc<[u8]>;

/// The bytes every subject matching `pattern` starts with: those before its first `*`, `?`,
/// `[` or `\`. (Each of those bytes in the prefix matches only itself in [`glob_match`], so a
/// subject that does not start with the prefix cannot match.)
pub fn literal_prefix(pattern: &[u8]) -> &[u8] {
    let end = pattern
        .iter()
        .position(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
        .unwrap_or(pattern.len());
    &pattern[..end]
}

/// Patterns grouped by [`literal_prefix`], each with a value: a subject is tried only against
/// the patterns whose prefix it starts with, one hash lookup per distinct prefix length no
/// longer than the subject, instead of against every pattern. Immutable once built.
pub struct PrefixIndex<T> {
    /// The distinct prefix lengths, ascending.
    lengths: Vec<usize>,
    groups: HashMap<Box<[u8]>, Vec<(Pattern, T)>>,
}

impl<T> PrefixIndex<T> {
    /// An index of `patterns` (each once).
    pub fn new(patterns: impl IntoIterator<Item = (Pattern, T)>) -> PrefixIndex<T> {
        let mut groups: HashMap<Box<[u8]>, Vec<(Pattern, T)>> = HashMap::new();
        for (pattern, value) in patterns {
            groups.entry(literal_prefix(&pattern).into()).or_default().push((pattern, value));
        }
        let lengths: BTreeSet<usize> = groups.keys().map(|prefix| prefix.len()).collect();
        PrefixIndex { lengths: lengths.into_iter().collect(), groups }
    }

    /// The patterns `subject` matches, exactly those for which [`glob_match`] says so.
    pub fn matching<'a>(&'a self, subject: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a T)> {
        self.lengths
            .iter()
            .take_while(move |&&len| len <= subject.len())
            .filter_map(move |&len| self.groups.get(&subject[..len]))
            .flatten()
            .filter(move |(pattern, _)| glob_match(pattern, subject))
            .map(|(pattern, value)| (&pattern[..], value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn literal_prefixes_stop_at_the_first_special_byte() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"news.*", b"news."),
            (b"*", b""),
            (b"", b""),
            (b"plain", b"plain"),
            (b"a?c", b"a"),
            (b"ab[cd]", b"ab"),
            (b"a\\*b", b"a"),
            (b"x]^-y*", b"x]^-y"),
            (b"\\", b""),
        ];
        for (pattern, prefix) in cases {
            assert_eq!(literal_prefix(pattern), prefix, "{:?}", String::from_utf8_lossy(pattern));
        }
    }

    #[test]
    fn the_prefix_index_tries_only_patterns_whose_prefix_starts_the_subject() {
        let patterns = ["news.*", "news.uk", "new?", "*", "sport.[a-z]", "a\\*b", "", "n"];
        let index =
            PrefixIndex::new(patterns.iter().map(|p| (Arc::<[u8]>::from(p.as_bytes()), *p)));
        let hits = |s: &str| {
            let mut v: Vec<&str> = index.matching(s.as_bytes()).map(|(_, p)| *p).collect();
            v.sort();
            v
        };
        assert_eq!(hits("news.uk"), ["*", "news.*", "news.uk"]);
        assert_eq!(hits("news"), ["*", "new?"]);
        assert_eq!(hits("n"), ["*", "n"]);
        assert_eq!(hits("sport.x"), ["*", "sport.[a-z]"]);
        assert_eq!(hits("a*b"), ["*", "a\\*b"]);
        assert_eq!(hits("axb"), ["*"]);
        // Redis: an empty subject matches only the empty pattern, not even `*`.
        assert_eq!(hits(""), [""]);
    }

    /// Pattern-ish byte strings: mostly literals from a small alphabet, with every special byte.
    fn glob_text() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            6 => prop::sample::select(b"ab".to_vec()),
            1 => prop::sample::select(b"*?[]\\^-".to_vec()),
        ];
        prop::collection::vec(byte, 0..7)
    }

    fn subject_text() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            8 => prop::sample::select(b"ab".to_vec()),
            1 => prop::sample::select(b"*?[]\\^-".to_vec()),
        ];
        prop::collection::vec(byte, 0..8)
    }

    proptest! {
        /// The index finds exactly the patterns `glob_match` says match, whatever the
        /// patterns: with and without literal prefixes, escapes, sets, stars, empty ones.
        #[test]
        fn the_prefix_index_matches_exactly_what_glob_match_says(
            patterns in prop::collection::hash_set(glob_text(), 0..40),
            subjects in prop::collection::vec(subject_text(), 1..20),
        ) {
            let index = PrefixIndex::new(patterns.iter().map(|p| (Arc::<[u8]>::from(&p[..]), ())));
            for subject in &subjects {
                let mut indexed: Vec<&[u8]> = index.matching(subject).map(|(p, _)| p).collect();
                let mut every: Vec<&[u8]> = patterns.iter().map(|p| &p[..]).filter(|p| glob_match(p, subject)).collect();
                indexed.sort();
                every.sort();
                prop_assert_eq!(indexed, every);
            }
        }
    }
}
