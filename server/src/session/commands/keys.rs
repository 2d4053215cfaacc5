//! DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, FLUSHALL, FLUSHDB, EXPIRE, PEXPIRE, TTL, PTTL,
//! PERSIST: keys of any type, in the keyspace.

use shared::command::{ExpireIf, KeysCommand};
use shared::glob::glob_match;
use shared::Frame;

use super::{ok, Run};
use crate::errors::ReplyError;
use crate::session::{Session, Status};

impl Run for KeysCommand {
    fn run(self, session: &mut Session, out: &mut Vec<u8>) -> Status {
        let now = session.now_ms();
        let ks = &session.ctx.keyspace;
        let count = |n: usize| Frame::Integer(n as i64);
        let reply = match self {
            // UNLINK frees in the background in Redis; a stream here is freed at once.
            KeysCommand::Del(keys) | KeysCommand::Unlink(keys) => {
                count(keys.iter().filter(|k| ks.remove(k, now)).count())
            }
            KeysCommand::Exists(keys) => count(keys.iter().filter(|k| ks.exists(k, now)).count()),
            KeysCommand::Type(key) => {
                let mut slot = ks.slot(&key[0], now);
                let name = slot.get().map_or("none", |e| e.value.type_name());
                Frame::Simple(name.into())
            }
            KeysCommand::Keys(pattern) => {
                Frame::Array(ks.keys(&pattern, now).into_iter().map(Frame::Bulk).collect())
            }
            KeysCommand::Scan { cursor, pattern, count, kind, .. } => {
                let (next, keys) = ks.scan(cursor, count, now, |key, entry| {
                    pattern.as_ref().is_none_or(|p| glob_match(p, key))
                        && kind
                            .as_ref()
                            .is_none_or(|t| t.eq_ignore_ascii_case(entry.value.type_name().as_bytes()))
                });
                Frame::Array(vec![
                    Frame::Bulk(next.to_string().into()),
                    Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
                ])
            }
            KeysCommand::Flush { .. } => {
                ks.flush();
                ok()
            }
            KeysCommand::Expire { key, amount, millis, when, .. } => {
                let name = if millis { "pexpire" } else { "expire" };
                let ms = if millis { Some(amount) } else { amount.checked_mul(1000) };
                match ms.and_then(|ms| ms.checked_add(now as i64)) {
                    None => Frame::Error(ReplyError::InvalidExpireTime(name).to_string()),
                    Some(at) => {
                        let mut slot = ks.slot(&key[0], now);
                        match slot.get().map(|e| e.expires_at()) {
                            None => Frame::Integer(0),
                            Some(current) => {
                                // No expiry counts as infinite for GT and LT, as in Redis.
                                let infinite = i64::MAX;
                                let cur = current.map_or(infinite, |c| c as i64);
                                let applies = match when {
                                    ExpireIf::Always => true,
                                    ExpireIf::NoExpiry => current.is_none(),
                                    ExpireIf::HasExpiry => current.is_some(),
                                    ExpireIf::Later => current.is_some() && at > cur,
                                    ExpireIf::Earlier => at < cur,
                                    ExpireIf::EarlierWithExpiry => current.is_some() && at < cur,
                                };
                                if !applies {
                                    Frame::Integer(0)
                                } else if at <= now as i64 {
                                    slot.remove();
                                    Frame::Integer(1)
                                } else {
                                    slot.set_expiry(Some(at as u64));
                                    Frame::Integer(1)
                                }
                            }
                        }
                    }
                }
            }
            KeysCommand::Ttl { key, millis } => match ks.slot(&key[0], now).get() {
                None => Frame::Integer(-2),
                Some(entry) => match entry.expires_at() {
                    None => Frame::Integer(-1),
                    Some(at) => {
                        let left = at.saturating_sub(now);
                        Frame::Integer(if millis { left } else { (left + 500) / 1000 } as i64)
                    }
                },
            },
            KeysCommand::Persist(key) => {
                let mut slot = ks.slot(&key[0], now);
                match slot.get().map(|e| e.expires_at()) {
                    Some(Some(_)) => {
                        slot.set_expiry(None);
                        Frame::Integer(1)
                    }
                    _ => Frame::Integer(0),
                }
            }
        };
        session.reply(reply, out)
    }
}
