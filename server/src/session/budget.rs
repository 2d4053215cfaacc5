//! Guards of an idle connection's memory (ARCHITECTURE.md "What an idle connection costs"):
//! each fails when a block every connection holds grows past its budget. State that most
//! connections never use goes into [`Rare`], made on first use, which has no budget.

use std::mem::size_of;

use super::{RespState, Session};
use crate::clients::{ClientEntry, ClientState, Endpoints};

/// The heap block of `T` as glibc's allocator holds it: the size plus 8, rounded up to 16.
fn resident<T>() -> usize {
    (size_of::<T>() + 8).div_ceil(16) * 16
}

#[test]
fn the_session_state_of_every_connection_stays_small() {
    // Parser 80, input 32, login 24, last command 16, the rare part's box 8, flags.
    assert!(size_of::<RespState>() <= 176, "RespState: {}", size_of::<RespState>());
    assert!(resident::<RespState>() <= 192);
    assert!(size_of::<Session>() <= 64, "Session: {}", size_of::<Session>());
}

#[test]
fn the_registry_entry_of_every_connection_stays_small() {
    assert!(size_of::<ClientState>() <= 56, "ClientState: {}", size_of::<ClientState>());
    assert!(size_of::<Endpoints>() <= 24, "Endpoints: {}", size_of::<Endpoints>());
    // Behind an `Arc`: its two counts (16) come on top.
    let entry = size_of::<ClientEntry>();
    assert!(entry + 16 <= 152, "ClientEntry: {entry}");
}
