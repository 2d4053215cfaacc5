//! A row of the command table: what `COMMAND INFO`, `COMMAND DOCS`, `ACL CAT` and the ACL's
//! category rules know about one command or subcommand. Each family lists its rows
//! ([`super::Family::TABLE`]), next to its syntax.

/// One command (`publish`) or subcommand (`pubsub|channels`) as Redis 7 describes it. Words
/// lists are space-separated, in the order Redis 7.0's `COMMAND INFO` gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// The full name, lower case (`pubsub|channels`).
    pub name: &'static str,
    /// Redis's arity: the exact argument count (name included), or its negation for "at
    /// least".
    pub arity: i32,
    /// Redis's command flags (`pubsub loading stale fast`).
    pub flags: &'static str,
    /// Redis 7's ACL categories, without `@`, in `ACL CAT`'s order.
    pub categories: &'static str,
    /// Redis's command tips (`nondeterministic_output`).
    pub tips: &'static str,
    /// The one key specification, if any: every one served begins at argument 1 and is a
    /// range of step 1 with no limit.
    pub keys: Option<KeySpec>,
    /// The Redis version that brought the command (`COMMAND DOCS`'s `since`).
    pub since: &'static str,
    /// Redis's documentation group (`pubsub`, `connection`, `server`, `transactions`).
    pub group: &'static str,
    /// What the command does, in a line.
    pub summary: &'static str,
    /// What it costs; empty for none.
    pub complexity: &'static str,
    /// Its arguments as `COMMAND DOCS` lists them, written compactly (see [`Row::arguments`]).
    pub args: &'static str,
}

/// A key specification that begins at argument 1 and takes a range of step 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// Redis's key-spec flags (`RO`, `not_key`).
    pub flags: &'static str,
    /// The last key, relative to the first (0: one key; -1: every argument to the end).
    pub last: i32,
}

impl Row {
    /// A row with no tips, no keys and no documentation yet.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: &'static str,
        categories: &'static str,
    ) -> Row {
        Row {
            name,
            arity,
            flags,
            categories,
            tips: "",
            keys: None,
            since: "",
            group: "",
            summary: "",
            complexity: "",
            args: "",
        }
    }

    /// The row with these command tips.
    pub const fn tips(self, tips: &'static str) -> Row {
        Row { tips, ..self }
    }

    /// The row with a key specification from argument 1 to `last` (see [`KeySpec`]).
    pub const fn keys(self, flags: &'static str, last: i32) -> Row {
        Row { keys: Some(KeySpec { flags, last }), ..self }
    }

    /// The row with its documentation.
    pub const fn doc(
        self,
        since: &'static str,
        group: &'static str,
        summary: &'static str,
        complexity: &'static str,
    ) -> Row {
        Row { since, group, summary, complexity, ..self }
    }

    /// The row with its arguments, written as [`Row::arguments`] reads them.
    pub const fn args(self, args: &'static str) -> Row {
        Row { args, ..self }
    }

    /// The arguments `COMMAND DOCS` lists (what `redis-cli` shows as hints). Each is written
    /// `name:type`, then any of `=TOKEN`, `%key-spec-index`, `~flags` (`o` optional, `m`
    /// multiple, `t` multiple token), `#since`, `!deprecated-since`, and `{...}` the
    /// arguments of a `block` or `oneof`; arguments are separated by spaces.
    pub fn arguments(&self) -> Vec<Arg> {
        let mut rest = self.args;
        let args = parse_args(&mut rest);
        debug_assert!(rest.is_empty(), "{}: arguments left: {rest}", self.name);
        args
    }

    /// Returns true if and only if the row is a subcommand (`pubsub|channels`).
    pub fn is_subcommand(&self) -> bool {
        self.name.contains('|')
    }

    /// `COMMAND INFO`'s first key, last key and step (Redis's legacy triple): zeros for a
    /// command without keys, the last negative when counted from the end.
    pub fn key_range(&self) -> (i64, i64, i64) {
        match self.keys {
            None => (0, 0, 0),
            Some(KeySpec { last, .. }) if last < 0 => (1, last as i64, 1),
            Some(KeySpec { last, .. }) => (1, 1 + last as i64, 1),
        }
    }

    /// The positions (1-based, after the name) of the keys among `argc` arguments (the name
    /// included), as `COMMAND GETKEYS` extracts them; empty for a command without keys or
    /// whose "keys" are not keys (shard channels).
    pub fn key_positions(&self, argc: usize) -> std::ops::Range<usize> {
        match self.keys {
            Some(spec) if !spec.flags.split(' ').any(|f| f == "not_key") => {
                let end = if spec.last < 0 {
                    argc as i64 + spec.last as i64
                } else {
                    1 + spec.last as i64
                };
                1..(end.clamp(0, argc as i64 - 1) as usize + 1).max(1)
            }
            _ => 0..0,
        }
    }

    /// Returns true if and only if the command has keys `COMMAND GETKEYS` can extract.
    pub fn has_keys(&self) -> bool {
        !self.key_positions(usize::MAX / 2).is_empty()
    }

    /// Returns true if and only if `argc` arguments (the name included) fit the arity.
    pub fn arity_fits(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

/// One argument of a command, as `COMMAND DOCS` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arg {
    pub name: &'static str,
    /// `string`, `integer`, `key`, `pattern`, `pure-token`, `block`, `oneof`...
    pub kind: &'static str,
    pub token: Option<&'static str>,
    pub key_spec_index: Option<i64>,
    pub optional: bool,
    pub multiple: bool,
    pub multiple_token: bool,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    /// The arguments of a `block` or a `oneof`.
    pub arguments: Vec<Arg>,
}

/// Reads arguments from `text` up to its end or a closing `}` (left in `text`).
fn parse_args(text: &mut &'static str) -> Vec<Arg> {
    let mut args = Vec::new();
    loop {
        *text = text.trim_start_matches(' ');
        if text.is_empty() || text.starts_with('}') {
            return args;
        }
        args.push(parse_arg(text));
    }
}

/// Reads one argument from `text` (see [`Row::arguments`]).
fn parse_arg(text: &mut &'static str) -> Arg {
    const MARKS: [char; 7] = ['=', '%', '~', '#', '!', '{', ' '];
    let field = |text: &mut &'static str| -> &'static str {
        let end = text.find(|c: char| MARKS.contains(&c) || c == '}').unwrap_or(text.len());
        let (value, rest) = text.split_at(end);
        *text = rest;
        value
    };
    let head = field(text);
    let (name, kind) = head.rsplit_once(':').unwrap_or((head, "string"));
    let mut arg = Arg { name, kind, ..Arg::default() };
    while let Some(mark) = text.chars().next().filter(|c| *c != ' ' && *c != '}') {
        *text = &text[1..];
        match mark {
            '=' => arg.token = Some(field(text)),
            '%' => arg.key_spec_index = field(text).parse().ok(),
            '~' => {
                let flags = field(text);
                arg.optional = flags.contains('o');
                arg.multiple = flags.contains('m');
                arg.multiple_token = flags.contains('t');
            }
            '#' => arg.since = Some(field(text)),
            '!' => arg.deprecated_since = Some(field(text)),
            '{' => {
                arg.arguments = parse_args(text);
                *text = text.strip_prefix('}').unwrap_or(text);
            }
            _ => {}
        }
    }
    arg
}
