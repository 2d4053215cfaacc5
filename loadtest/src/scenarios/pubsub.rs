//! `pubsub`: P publishers and S subscribers over T topics.
//!
//! Subscriber `j` subscribes to topic `j % T`; publisher `p` sends its `k`-th message to topic
//! `(p + k) % T`, all publishers together at `--rate` messages per second (open loop). Every
//! payload starts with a 32-byte header: publisher, topic, a sequence number per (publisher,
//! topic), and the scheduled and actual send times, so each subscriber measures
//! publish-to-delivery latency from the scheduled time and counts every lost, duplicated or
//! reordered message with a [`SeqTracker`] per publisher.
//!
//! At the end the counts must add up: the sum of `PUBLISH` replies (receivers per message) is
//! what subscribers received plus what the server reports it dropped (`INFO stats`
//! `pubsub_dropped`, taken as 0 when the server does not report it).

use super::engine::{self, Replies, Requests};
use crate::conn::{pubsub_counters, RespConn};
use crate::hist::Summary;
use crate::model::{PubsubStats, SubscriberStats};
use crate::mux::{Endpoint, Step};
use crate::progress::Live;
use crate::record::{Extra, Outcome, Plan, Recorder, RunCtx};
use crate::reply::{Incoming, ReplyBuf};
use crate::wire::{Security, Wire};
use shared::resp::encode_command;
use shared::Frame;
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Bytes of the header every payload starts with; the smallest allowed `--size`.
pub const HEADER_LEN: usize = 32;

/// The header of one published message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub publisher: u32,
    pub topic: u32,
    pub seq: u64,
    /// Scheduled send time, nanoseconds after the run's epoch.
    pub sched_ns: u64,
    /// Actual send time, nanoseconds after the run's epoch.
    pub sent_ns: u64,
}

impl Header {
    /// Appends this header, padded to `size` bytes, to `out`.
    pub fn encode(&self, size: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.publisher.to_le_bytes());
        out.extend_from_slice(&self.topic.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.sched_ns.to_le_bytes());
        out.extend_from_slice(&self.sent_ns.to_le_bytes());
        out.resize(out.len() + size.saturating_sub(HEADER_LEN), b'.');
    }

    /// Reads the header at the start of `payload`.
    pub fn decode(payload: &[u8]) -> Option<Header> {
        let u32_at = |i: usize| Some(u32::from_le_bytes(payload.get(i..i + 4)?.try_into().ok()?));
        let u64_at = |i: usize| Some(u64::from_le_bytes(payload.get(i..i + 8)?.try_into().ok()?));
        Some(Header {
            publisher: u32_at(0)?,
            topic: u32_at(4)?,
            seq: u64_at(8)?,
            sched_ns: u64_at(16)?,
            sent_ns: u64_at(24)?,
        })
    }
}

/// Tracks the sequence numbers of one stream (one publisher on one topic) as seen by one
/// subscriber, which expects `0, 1, 2, ...`.
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    /// One past the highest sequence number seen.
    next: u64,
    /// Gaps below `next` not filled yet: start -> end (exclusive), never overlapping.
    missing: BTreeMap<u64, u64>,
    /// Distinct sequence numbers seen.
    pub unique: u64,
    /// Sequence numbers seen again.
    pub duplicates: u64,
    /// Sequence numbers that arrived after a higher one (they filled a gap).
    pub reordered: u64,
}

impl SeqTracker {
    /// Notes that `seq` arrived.
    pub fn observe(&mut self, seq: u64) {
        if seq >= self.next {
            if seq > self.next {
                self.missing.insert(self.next, seq);
            }
            self.next = seq + 1;
            self.unique += 1;
            return;
        }
        if let Some((&start, &end)) = self.missing.range(..=seq).next_back() {
            if seq < end {
                self.missing.remove(&start);
                if start < seq {
                    self.missing.insert(start, seq);
                }
                if seq + 1 < end {
                    self.missing.insert(seq + 1, end);
                }
                self.unique += 1;
                self.reordered += 1;
                return;
            }
        }
        self.duplicates += 1;
    }

    /// Sequence numbers below the highest seen that have not arrived (yet).
    pub fn gaps(&self) -> u64 {
        self.missing.iter().map(|(s, e)| e - s).sum()
    }

    /// Messages lost if the publisher sent `sent` of them (`0..sent`), trailing ones included.
    pub fn lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique)
    }
}

/// `loadtest:TAG:topic:T`, where TAG is unique to one run, so that several load generators
/// (`loadtest merge`) can share a server without receiving each other's messages.
fn topic_name(tag: &str, t: usize) -> String {
    format!("loadtest:{tag}:topic:{t}")
}

/// A tag for this run's topic names: the process id and the clock, in hex.
fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{:x}", nanos ^ (u64::from(std::process::id()) << 40))
}

/// Writes PUBLISH commands with numbered, timestamped payloads.
struct Publishers {
    /// Next sequence number per publisher and topic; publishers are disjoint between senders.
    next_seq: Arc<Vec<Vec<AtomicU64>>>,
    /// Messages each publisher has sent so far (to pick its next topic).
    count: Vec<u64>,
    topics: Vec<String>,
    size: usize,
    plan: Plan,
    payload: Vec<u8>,
}

impl Requests for Publishers {
    fn write(&mut self, publisher: usize, sched: Instant, out: &mut Vec<u8>) {
        let t = (publisher as u64 + self.count[publisher]) as usize % self.topics.len();
        self.count[publisher] += 1;
        let seq = self.next_seq[publisher][t].fetch_add(1, Ordering::Relaxed);
        let header = Header {
            publisher: publisher as u32,
            topic: t as u32,
            seq,
            sched_ns: self.plan.nanos(sched),
            sent_ns: self.plan.nanos(Instant::now()),
        };
        self.payload.clear();
        header.encode(self.size, &mut self.payload);
        encode_command(out, &[b"PUBLISH", self.topics[t].as_bytes(), &self.payload]);
    }
}

/// Checks PUBLISH replies and adds up the receiver counts.
struct PublishReplies(Arc<AtomicU64>);

impl Replies for PublishReplies {
    fn take(&mut self, buf: &mut ReplyBuf) -> io::Result<Option<Result<(), String>>> {
        Ok(buf.next_frame()?.map(|frame| match frame {
            Frame::Integer(n) if n >= 0 => {
                self.0.fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            Frame::Error(e) => Err(format!("PUBLISH error reply: {e}")),
            other => Err(format!("unexpected PUBLISH reply: {other:?}")),
        }))
    }
}

/// The server's `(delivered, dropped)` counters, when it reports them.
type Counters = (Option<u64>, Option<u64>);

/// Runs the scenario.
pub fn run(ctx: &mut RunCtx) -> io::Result<(Outcome, Extra)> {
    let cfg = ctx.cfg.clone();
    let (p, s, t) = (cfg.publishers.max(1), cfg.subscribers, cfg.topics.max(1));
    if cfg.size < HEADER_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("pubsub payloads need --size >= {HEADER_LEN}"),
        ));
    }
    let mut notes = Vec::new();
    let tag = run_tag();
    // Subscribe everybody before anything is published, so every message has its receivers.
    let subs = subscribe_all(&cfg.addr, &cfg.security, &tag, s, t)?;
    let pubs = super::ping::open(&cfg.addr, &cfg.security, p)?;
    let before = pubsub_counters(&cfg.addr, &cfg.security).ok();

    let plan = ctx.begin();
    let expected_per_topic: Arc<OnceLock<Vec<u64>>> = Arc::new(OnceLock::new());
    let endpoints: Vec<SubEnd> = subs
        .into_iter()
        .enumerate()
        .map(|(j, (wire, buf))| SubEnd {
            wire,
            buf,
            topic: j % t,
            trackers: vec![SeqTracker::default(); p],
            unique: 0,
            disconnected: false,
            expected: expected_per_topic.clone(),
            plan,
        })
        .collect();
    // The subscribers are read by the poller threads while this thread publishes.
    let (plan_c, live, readers) = (plan, ctx.live.clone(), cfg.readers);
    let reading = std::thread::Builder::new()
        .name("subscribers".into())
        .spawn(move || crate::mux::run(endpoints, readers, &plan_c, &live))?;
    let next_seq: Arc<Vec<Vec<AtomicU64>>> =
        Arc::new((0..p).map(|_| (0..t).map(|_| AtomicU64::new(0)).collect()).collect());
    let replies_sum = Arc::new(AtomicU64::new(0));
    // PUBLISH round trips are not what the progress bar shows: give them their own live slots.
    let publish_live = Live::default();
    let publish = engine::drive(
        pubs,
        |_| Publishers {
            next_seq: next_seq.clone(),
            count: vec![0; p],
            topics: (0..t).map(|t| topic_name(&tag, t)).collect(),
            size: cfg.size,
            plan,
            payload: Vec::with_capacity(cfg.size),
        },
        |_| PublishReplies(replies_sum.clone()),
        &plan,
        &publish_live,
        cfg.reconnect.then_some((cfg.addr.as_str(), &cfg.security)),
    );
    // Even if publishing failed, tell the subscribers what was sent so they can stop.
    let sent: Vec<Vec<u64>> = next_seq
        .iter()
        .map(|row| row.iter().map(|a| a.load(Ordering::Relaxed)).collect())
        .collect();
    let per_topic: Vec<u64> = (0..t).map(|topic| sent.iter().map(|row| row[topic]).sum()).collect();
    let _ = expected_per_topic.set(per_topic.clone());
    let (subscribers, deliveries) = reading.join().expect("subscriber pollers panicked")?;
    let mut per_subscriber = Vec::with_capacity(s);
    for (trackers, disconnected, topic) in subscribers {
        let mut st = SubscriberStats {
            topic,
            expected: per_topic[topic],
            disconnected,
            ..Default::default()
        };
        for (publisher, tr) in trackers.iter().enumerate() {
            st.received += tr.unique;
            st.lost += tr.lost(sent[publisher][topic]);
            st.duplicates += tr.duplicates;
            st.reordered += tr.reordered;
        }
        per_subscriber.push(st);
    }
    ctx.finish();
    let publish = publish?;

    let after = pubsub_counters(&cfg.addr, &cfg.security).ok();
    let delta = |f: fn(&Counters) -> Option<u64>| match (&before, &after) {
        (Some(b), Some(a)) => Some(f(a)?.saturating_sub(f(b)?)),
        _ => None,
    };
    let server_delivered = delta(|c| c.0);
    let server_dropped = delta(|c| c.1);
    if server_dropped.is_none() {
        notes.push(
            "the server's INFO stats has no pubsub_dropped: the accounting takes its drops as 0"
                .to_string(),
        );
    }
    let received: u64 = per_subscriber.iter().map(|s| s.received).sum();
    let replies = replies_sum.load(Ordering::Relaxed);
    let stats = PubsubStats {
        publishers: p,
        subscribers: s,
        topics: t,
        published: publish.sent,
        publish_replies_sum: replies,
        received,
        lost: per_subscriber.iter().map(|s| s.lost).sum(),
        duplicates: per_subscriber.iter().map(|s| s.duplicates).sum(),
        reordered: per_subscriber.iter().map(|s| s.reordered).sum(),
        server_delivered,
        server_dropped,
        accounting_ok: replies == received + server_dropped.unwrap_or(0),
        publish_rtt_us: Summary::of(&publish.latency),
        per_subscriber,
    };
    if !stats.accounting_ok {
        notes.push(format!(
            "accounting mismatch: PUBLISH replies sum {} != received {} + dropped {}",
            replies,
            received,
            server_dropped.unwrap_or(0)
        ));
    }
    // The run's latency is publish-to-delivery; its counts and lag are the publishers'.
    let fanout = if t == 0 { 0.0 } else { s as f64 / t as f64 };
    let out = Outcome {
        latency: deliveries.latency,
        uncorrected: deliveries.uncorrected,
        lag: publish.lag,
        sent: publish.sent,
        replies: publish.replies,
        errors: publish.errors + deliveries.errors,
        unanswered: publish.unanswered,
        samples: publish.samples.into_iter().chain(deliveries.samples).take(5).collect(),
        reconnects: publish.reconnects,
    };
    Ok((
        out,
        Extra { pubsub: Some(stats), idle: None, notes, fanout: Some(fanout), ops: Some(received) },
    ))
}

/// Opens `s` subscriber connections, subscriber `j` to topic `j % t`: every SUBSCRIBE is sent
/// before any confirmation is awaited, so thousands subscribe in a few round trips.
fn subscribe_all(
    addr: &str,
    security: &Security,
    tag: &str,
    s: usize,
    t: usize,
) -> io::Result<Vec<(Wire, ReplyBuf)>> {
    if s > 500 {
        // Thousands of subscribers need thousands of descriptors.
        let _ = crate::sys::raise_fd_limit();
    }
    let mut conns = Vec::with_capacity(s);
    for j in 0..s {
        let mut conn = RespConn::open(addr, security)?;
        conn.send(&["SUBSCRIBE", topic_name(tag, j % t).as_str()])?;
        conns.push(conn);
    }
    let mut subs = Vec::with_capacity(s);
    for mut conn in conns {
        match conn.read_frame()? {
            Frame::Array(items) | Frame::Push(items)
                if items.first() == Some(&Frame::bulk("subscribe")) => {}
            other => {
                return Err(io::Error::other(format!("SUBSCRIBE answered {other:?}")));
            }
        }
        subs.push(conn.into_parts());
    }
    Ok(subs)
}

/// One subscriber: reads `message` deliveries until it has every message published on its
/// topic or the drain deadline passes.
struct SubEnd {
    wire: Wire,
    buf: ReplyBuf,
    topic: usize,
    /// One per publisher.
    trackers: Vec<SeqTracker>,
    /// Distinct messages received (the sum of the trackers' `unique`).
    unique: u64,
    disconnected: bool,
    /// Messages published per topic, set once publishing has ended.
    expected: Arc<OnceLock<Vec<u64>>>,
    plan: Plan,
}

impl SubEnd {
    /// Returns true if and only if it has everything that was published on its topic.
    fn complete(&self) -> bool {
        self.expected.get().is_some_and(|per_topic| self.unique >= per_topic[self.topic])
    }
}

impl Endpoint for SubEnd {
    type Done = (Vec<SeqTracker>, bool, usize);

    fn wire(&self) -> &Wire {
        &self.wire
    }

    fn input(&mut self) -> (&Wire, &mut ReplyBuf) {
        (&self.wire, &mut self.buf)
    }

    fn on_input(&mut self, now: Instant, rec: &mut Recorder) -> Step {
        let publishers = self.trackers.len();
        loop {
            let header = match self.buf.next_incoming() {
                Ok(Some(Incoming::Message { payload, .. })) => Header::decode(payload),
                Ok(Some(Incoming::Other(frame))) => {
                    rec.out.error(format!("unexpected frame while subscribed: {frame:?}"));
                    continue;
                }
                Ok(None) => break,
                Err(e) => {
                    rec.out.error(format!("unreadable message: {e}"));
                    return Step::Done;
                }
            };
            match header {
                Some(h)
                    if h.topic as usize == self.topic && (h.publisher as usize) < publishers =>
                {
                    rec.delivery(self.plan.instant(h.sched_ns), self.plan.instant(h.sent_ns), now);
                    let tr = &mut self.trackers[h.publisher as usize];
                    let before = tr.unique;
                    tr.observe(h.seq);
                    self.unique += tr.unique - before;
                }
                _ => rec.out.error("a message that no publisher of this run sent"),
            }
        }
        if self.complete() {
            Step::Done
        } else {
            Step::Continue
        }
    }

    fn on_tick(&mut self, now: Instant, _rec: &mut Recorder) -> Step {
        if self.complete() || now >= self.plan.drain_until {
            Step::Done
        } else {
            Step::Continue
        }
    }

    fn on_closed(&mut self, why: String, rec: &mut Recorder) -> Step {
        rec.out.error(if why.starts_with("connection closed") {
            "subscriber disconnected by the server".to_string()
        } else {
            format!("subscriber {why}")
        });
        self.disconnected = true;
        Step::Done
    }

    fn finish(self, _rec: &mut Recorder) -> Self::Done {
        (self.trackers, self.disconnected, self.topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_stream_has_nothing_to_report() {
        let mut t = SeqTracker::default();
        (0..100).for_each(|s| t.observe(s));
        assert_eq!((t.unique, t.duplicates, t.reordered, t.gaps(), t.lost(100)), (100, 0, 0, 0, 0));
    }

    #[test]
    fn gaps_duplicates_and_reordering_are_told_apart() {
        let mut t = SeqTracker::default();
        for s in [0, 1, 4, 5, 2, 5, 9, 3, 0] {
            t.observe(s);
        }
        // 6, 7, 8 never came; 2 and 3 came late; 5 and 0 came twice.
        assert_eq!(t.unique, 7);
        assert_eq!(t.reordered, 2);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.gaps(), 3);
        // 10 and 11 were sent too but never arrived: trailing losses count.
        assert_eq!(t.lost(12), 5);
    }

    #[test]
    fn a_late_message_inside_a_gap_splits_it() {
        let mut t = SeqTracker::default();
        t.observe(10); // 0..10 missing
        t.observe(5);
        assert_eq!(t.gaps(), 9);
        t.observe(0);
        t.observe(9);
        t.observe(5); // now a duplicate
        assert_eq!((t.unique, t.reordered, t.duplicates, t.gaps()), (4, 3, 1, 7));
    }

    #[test]
    fn headers_round_trip_and_pad_to_size() {
        let h = Header { publisher: 3, topic: 7, seq: 1 << 40, sched_ns: 123, sent_ns: 456 };
        let mut out = Vec::new();
        h.encode(100, &mut out);
        assert_eq!(out.len(), 100);
        assert_eq!(Header::decode(&out), Some(h));
        assert_eq!(Header::decode(&out[..31]), None);
    }
}
