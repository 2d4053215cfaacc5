//! What the run shows while it runs: every worker feeds a [`LiveSlot`], and a ticker thread
//! swaps them out a few times a second to draw an `indicatif` bar on stderr with the current
//! rate and p99. The bar hides itself when stderr is not a terminal.

use crate::hist::{merge, new_hist, record, Hist};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One worker's latest latencies, taken by the ticker. Only its owner and the ticker touch it,
/// so the lock is almost never contended.
#[derive(Debug)]
pub struct LiveSlot {
    hist: Mutex<Hist>,
    count: AtomicU64,
}

impl LiveSlot {
    /// Notes one completed request with latency `d`.
    pub fn record(&self, d: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        record(&mut self.hist.lock().expect("live slot"), d);
    }
}

/// Every worker's slot.
#[derive(Debug, Default)]
pub struct Live {
    slots: Mutex<Vec<Arc<LiveSlot>>>,
}

impl Live {
    /// A new slot for one worker.
    pub fn slot(&self) -> Arc<LiveSlot> {
        let slot = Arc::new(LiveSlot { hist: Mutex::new(new_hist()), count: AtomicU64::new(0) });
        self.slots.lock().expect("live slots").push(slot.clone());
        slot
    }

    /// The total count so far, and the latencies recorded since the last call.
    pub fn take(&self) -> (u64, Hist) {
        let slots = self.slots.lock().expect("live slots");
        let mut parts = Vec::with_capacity(slots.len());
        let mut count = 0;
        for slot in slots.iter() {
            count += slot.count.load(Ordering::Relaxed);
            let mut h = slot.hist.lock().expect("live slot");
            parts.push(std::mem::replace(&mut *h, new_hist()));
        }
        (count, merge(parts.iter()))
    }
}

/// A running progress bar; stops when dropped.
pub struct Progress {
    stop: Option<Sender<()>>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Draws a bar labelled `label` for a run of `total` that starts now.
    pub fn start(label: &str, total: Duration, live: Arc<Live>) -> Progress {
        let bar = ProgressBar::with_draw_target(
            Some(total.as_millis() as u64),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {elapsed:>4} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        let (stop, stopped) = bounded::<()>(0);
        let ticker = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let start = Instant::now();
                let (mut last_count, mut last_at) = (0, start);
                // A timer that wakes on the stop signal at once (the periodic-timer recipe).
                while let Err(RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Duration::from_millis(500))
                {
                    let (count, recent) = live.take();
                    let now = Instant::now();
                    let rate = (count - last_count) as f64 / (now - last_at).as_secs_f64();
                    (last_count, last_at) = (count, now);
                    let p99 = recent.value_at_quantile(0.99);
                    bar.set_position((now - start).as_millis() as u64);
                    bar.set_message(format!("{:>9.0}/s  p99 {}", rate, crate::units::fmt_us(p99)));
                }
                bar.finish_and_clear();
            })
            .expect("spawn progress thread");
        Progress { stop: Some(stop), ticker: Some(ticker) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}
