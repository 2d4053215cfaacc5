//! What the Switchboard server, client and load generator all speak, with no I/O in it.
//!
//! - [`resp`]: RESP2/RESP3 frames: the incremental request parser, the reply parser, the encoder.
//! - [`command`]: typed commands parsed from requests, a module per family of commands.
//! - [`glob`]: Redis-compatible glob matching for `PSUBSCRIBE` and `PUBSUB CHANNELS`.
//! - [`prefix_index`]: glob patterns indexed by their literal prefix, for the exchange.
//! - [`limits`]: protocol limits both sides agree on.

pub mod command;
pub mod glob;
pub mod limits;
pub mod prefix_index;
pub mod resp;

pub use command::{Command, ReplyMode};
pub use limits::Limits;
pub use resp::{Frame, ProtocolError, RequestParser, RespVersion};
