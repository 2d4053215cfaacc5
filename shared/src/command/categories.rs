//! Redis's ACL categories, and the table of every command served with its categories, made
//! from each family's own rows.

use super::COMMAND_CATEGORIES;

/// Redis's command categories, in the order `ACL CAT` lists them.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The rows of `tables`, one after the other, in an array of exactly `N` (checked when
/// compiling): how [`COMMAND_CATEGORIES`] is made from each family's rows.
pub(super) const fn concat<const N: usize>(
    tables: &[&[(&'static str, &'static str)]],
) -> [(&'static str, &'static str); N] {
    let mut out = [("", ""); N];
    let (mut t, mut n) = (0, 0);
    while t < tables.len() {
        let mut r = 0;
        while r < tables[t].len() {
            out[n] = tables[t][r];
            n += 1;
            r += 1;
        }
        t += 1;
    }
    assert!(n == N, "the table's length is the sum of its parts");
    out
}

/// The full name of `sub` of the container `command` (any case) as the table spells it
/// (`pubsub|channels`), if it is served.
pub fn subcommand_name(command: &str, sub: &[u8]) -> Option<&'static str> {
    let wanted = format!("{}|{}", command, String::from_utf8_lossy(sub)).to_ascii_lowercase();
    COMMAND_CATEGORIES.iter().map(|(name, _)| *name).find(|name| *name == wanted)
}

/// Returns true if and only if `category` (lower case, without `@`) is one of Redis's.
pub fn is_category(category: &str) -> bool {
    CATEGORIES.contains(&category)
}

/// Returns true if and only if a `+@category` rule covers the command Redis calls
/// `full_name`: the command is in the category, or is a subcommand of a container that is.
pub fn in_category(full_name: &str, category: &str) -> bool {
    let of = |name: &str| {
        COMMAND_CATEGORIES
            .iter()
            .find(|(n, _)| *n == name)
            .is_some_and(|(_, cats)| cats.split(' ').any(|c| c == category))
    };
    of(full_name) || full_name.split_once('|').is_some_and(|(parent, _)| of(parent))
}

/// The commands in `category` (`ACL CAT category`): those filed in it, in the table's order.
pub fn category_commands(category: &str) -> impl Iterator<Item = &'static str> + '_ {
    COMMAND_CATEGORIES
        .iter()
        .filter(move |(_, cats)| cats.split(' ').any(|c| c == category))
        .map(|(name, _)| *name)
}
