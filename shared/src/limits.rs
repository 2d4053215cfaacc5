//! Protocol limits shared by the server, the client and the load generator.
//!
//! The defaults follow Redis: a request line (inline command, or a `*`/`$` header) may be at
//! most 64 KiB, a bulk string at most 512 MiB, and a request at most 1024*1024 arguments.

/// Longest inline request or `*`/`$` header line, in bytes (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;

/// Default longest bulk string, in bytes (Redis's `proto-max-bulk-len`).
pub const DEFAULT_MAX_BULK_LEN: usize = 512 * 1024 * 1024;

/// Default largest argument count in one multibulk request.
pub const DEFAULT_MAX_ARGS: usize = 1024 * 1024;

/// Largest argument count a request may declare before the connection has authenticated
/// (Redis's threshold for `Protocol error: unauthenticated multibulk length`).
pub const UNAUTHENTICATED_MAX_ARGS: usize = 10;

/// Longest bulk string a request may declare before the connection has authenticated (Redis's
/// threshold for `Protocol error: unauthenticated bulk length`).
pub const UNAUTHENTICATED_MAX_BULK_LEN: usize = 16 * 1024;

/// The limits one request parser enforces. Every limit is checked before the bytes it guards
/// are buffered or allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest inline request line, and longest `*N` / `$N` header line.
    pub max_inline_len: usize,
    /// Longest bulk string a request may declare.
    pub max_bulk_len: usize,
    /// Largest argument count a multibulk request may declare.
    pub max_args: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_inline_len: MAX_INLINE_LEN,
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            max_args: DEFAULT_MAX_ARGS,
        }
    }
}
