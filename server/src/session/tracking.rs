//! `CLIENT TRACKING`'s state for one connection. There are no keys here, so nothing is ever
//! invalidated: the state is what `CLIENT TRACKINGINFO`, `GETREDIR`, `CACHING` and
//! `CLIENT LIST` show, checked as Redis 7.0 checks it. A connection that never asks for
//! tracking holds none of it (`RespState::tracking` is `None`).

use std::collections::BTreeSet;

use bytes::Bytes;
use shared::command::{is, parse_integer};
use shared::Frame;

use crate::errors::ReplyError;

/// A tracking connection's settings.
#[derive(Debug, Default)]
pub(super) struct Tracking {
    /// The connection invalidations would go to; 0 for this one.
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// `CLIENT CACHING yes|no`, valid until a command that is not a `CLIENT` one runs.
    pub caching: Option<bool>,
    /// The request count when a `CLIENT` command last ran (see [`Tracking::client_command`]).
    client_at: u64,
    /// The BCAST prefixes, in Redis's (byte) order; `""` for BCAST without prefixes.
    pub prefixes: BTreeSet<Bytes>,
}

/// What `CLIENT TRACKING on|off [option ...]` asks for.
#[derive(Debug, Default)]
pub(super) struct TrackingRequest {
    on: bool,
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    prefixes: Vec<Bytes>,
}

impl TrackingRequest {
    /// Reads `CLIENT TRACKING`'s arguments in Redis's order: options first (a `REDIRECT`
    /// target must exist when asked: `exists`), then `on` or `off`.
    pub fn parse(args: &[Bytes], exists: impl Fn(u64) -> bool) -> Result<Self, ReplyError> {
        let mut req = TrackingRequest::default();
        let mut j = 1;
        while j < args.len() {
            let (word, more) = (&args[j], j + 1 < args.len());
            if is(word, "redirect") && more {
                j += 1;
                if req.redirect != 0 {
                    return Err(ReplyError::TwoRedirects);
                }
                let id = parse_integer(&args[j]).ok_or(ReplyError::NotAnInteger)?;
                if id <= 0 || !exists(id as u64) {
                    return Err(ReplyError::NoRedirectTarget);
                }
                req.redirect = id as u64;
            } else if is(word, "bcast") {
                req.bcast = true;
            } else if is(word, "optin") {
                req.optin = true;
            } else if is(word, "optout") {
                req.optout = true;
            } else if is(word, "noloop") {
                req.noloop = true;
            } else if is(word, "prefix") && more {
                j += 1;
                req.prefixes.push(args[j].clone());
            } else {
                return Err(ReplyError::Syntax);
            }
            j += 1;
        }
        req.on = match &args[0] {
            w if is(w, "on") => true,
            w if is(w, "off") => false,
            _ => return Err(ReplyError::Syntax),
        };
        Ok(req)
    }

    /// Applies the request to the connection's state, with Redis's checks of the options
    /// against each other and against the current mode.
    pub fn apply(self, current: &mut Option<Box<Tracking>>) -> Result<(), ReplyError> {
        if !self.on {
            *current = None;
            return Ok(());
        }
        if !self.bcast && !self.prefixes.is_empty() {
            return Err(ReplyError::PrefixWithoutBcast);
        }
        if current.as_ref().is_some_and(|t| t.bcast != self.bcast) {
            return Err(ReplyError::BcastSwitch);
        }
        if self.bcast && (self.optin || self.optout) {
            return Err(ReplyError::OptWithBcast);
        }
        if self.optin && self.optout {
            return Err(ReplyError::OptinAndOptout);
        }
        if current.as_ref().is_some_and(|t| (self.optin && t.optout) || (self.optout && t.optin)) {
            return Err(ReplyError::OptSwitch);
        }
        let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        let overlap = |a: &Bytes, b: &Bytes| a.starts_with(b) || b.starts_with(a);
        if self.bcast {
            for (i, prefix) in self.prefixes.iter().enumerate() {
                let existing = current.iter().flat_map(|t| t.prefixes.iter());
                if let Some(old) = existing.into_iter().find(|old| overlap(prefix, old)) {
                    return Err(ReplyError::PrefixOverlapsExisting(text(prefix), text(old)));
                }
                if let Some(other) = self.prefixes[i + 1..].iter().find(|o| overlap(prefix, o)) {
                    return Err(ReplyError::PrefixOverlapsGiven(text(prefix), text(other)));
                }
            }
        }
        let t = current.get_or_insert_with(Box::default);
        t.redirect = self.redirect;
        t.bcast = self.bcast;
        t.optin = self.optin;
        t.optout = self.optout;
        t.noloop = self.noloop;
        if self.bcast && self.prefixes.is_empty() {
            t.prefixes.insert(Bytes::new());
        }
        t.prefixes.extend(self.prefixes);
        Ok(())
    }
}

impl Tracking {
    /// Notes that a `CLIENT` command runs as request number `request`: `CLIENT CACHING`'s
    /// answer lasts as long as only `CLIENT` commands follow it, as in Redis.
    pub fn client_command(&mut self, request: u64) {
        if self.client_at + 1 != request {
            self.caching = None;
        }
        self.client_at = request;
    }

    /// `CLIENT CACHING yes|no`.
    pub fn caching(&mut self, word: &[u8]) -> Result<(), ReplyError> {
        if is(word, "yes") {
            if !self.optin {
                return Err(ReplyError::CachingYesNotOptin);
            }
            self.caching = Some(true);
        } else if is(word, "no") {
            if !self.optout {
                return Err(ReplyError::CachingNoNotOptout);
            }
            self.caching = Some(false);
        } else {
            return Err(ReplyError::Syntax);
        }
        Ok(())
    }
}

/// `CLIENT TRACKINGINFO` of a connection whose tracking state is `tracking`.
pub(super) fn tracking_info(tracking: Option<&Tracking>) -> Frame {
    let mut flags = Vec::new();
    let (redirect, prefixes) = match tracking {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(t) => {
            flags.push("on");
            for (set, flag) in [(t.bcast, "bcast"), (t.optin, "optin"), (t.optout, "optout")] {
                if set {
                    flags.push(flag);
                }
            }
            match t.caching {
                Some(true) if t.optin => flags.push("caching-yes"),
                Some(false) if t.optout => flags.push("caching-no"),
                _ => {}
            }
            if t.noloop {
                flags.push("noloop");
            }
            (t.redirect as i64, t.prefixes.iter().cloned().map(Frame::Bulk).collect())
        }
    };
    Frame::Map(vec![
        (Frame::bulk("flags"), Frame::Set(flags.into_iter().map(Frame::bulk).collect())),
        (Frame::bulk("redirect"), Frame::Integer(redirect)),
        (Frame::bulk("prefixes"), Frame::Array(prefixes)),
    ])
}
