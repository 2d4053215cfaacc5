//! Redis's ACL categories, and how the table of every command served with its categories is
//! made from each family's own rows.

use super::table::Row;

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
/// compiling): how [`super::COMMAND_TABLE`] is made from each family's rows.
pub(super) const fn concat<const N: usize>(tables: &[&[Row]]) -> [Row; N] {
    let mut out = [Row::new("", 0, "", ""); N];
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

/// Returns true if and only if `category` (lower case, without `@`) is one of Redis's.
pub fn is_category(category: &str) -> bool {
    CATEGORIES.contains(&category)
}
