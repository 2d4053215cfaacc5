//! The shootout's rules, on the rounds measured at each step: which steps can rank servers
//! (the threshold rule), and who wins, or whether it is a tie (the tie rule). Pure functions of
//! the figures: no clock, no socket.

use crate::units::fmt_rate;
use serde::{Deserialize, Serialize};

/// The rounds of one server at one step: the climb's and any repeated, interleaved with the
/// other servers'.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRounds {
    /// The offered rate (requests or publishes per second).
    pub rate: f64,
    /// Each round's p99, µs.
    pub p99_us: Vec<u64>,
    /// Each round's achieved rate (deliveries or requests per second).
    pub achieved: Vec<f64>,
    /// Each round: sustained the offered rate (not saturated).
    pub sustained: Vec<bool>,
}

/// The median of `v` (the mean of the middle two for an even count); 0 for none.
pub fn median_u64(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    match s.len() {
        0 => 0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2,
    }
}

impl StepRounds {
    /// Its rounds' median p99, µs.
    pub fn p99(&self) -> u64 {
        median_u64(&self.p99_us)
    }

    /// Most of its rounds sustained the offered rate.
    pub fn sustained(&self) -> bool {
        2 * self.sustained.iter().filter(|&&s| s).count() > self.sustained.len()
    }

    /// Held at `threshold_us`: sustained, with a median p99 within the threshold.
    pub fn held(&self, threshold_us: u64) -> bool {
        !self.p99_us.is_empty() && self.sustained() && self.p99() <= threshold_us
    }

    /// Every round held `threshold_us` on its own.
    fn every_round_held(&self, threshold_us: u64) -> bool {
        !self.p99_us.is_empty()
            && self.p99_us.iter().zip(&self.sustained).all(|(&p, &s)| s && p <= threshold_us)
    }

    /// No round held `threshold_us`.
    fn no_round_held(&self, threshold_us: u64) -> bool {
        self.p99_us.iter().zip(&self.sustained).all(|(&p, &s)| !s || p > threshold_us)
    }
}

/// The highest step of `steps` held at `threshold_us`, as an index.
pub fn top(steps: &[StepRounds], threshold_us: u64) -> Option<usize> {
    (0..steps.len()).rev().find(|&i| steps[i].held(threshold_us))
}

/// The threshold the shootout ranks at, and the offered rates at which the floor missed
/// `slo_us`: steps that cannot rank servers at `slo_us`, since the tool alone misses it there.
/// The threshold is `slo_us` when the floor held it at every step it sustained; else the
/// floor's worst median p99 over those steps, rounded up to 1, 2 or 5 times a power of ten
/// (µs): a threshold the floor holds wherever it keeps up.
pub fn threshold(floor: &[StepRounds], slo_us: u64) -> (u64, Vec<f64>) {
    let sustained: Vec<&StepRounds> = floor.iter().filter(|s| s.sustained()).collect();
    let misses: Vec<f64> = sustained.iter().filter(|s| s.p99() > slo_us).map(|s| s.rate).collect();
    let worst = sustained.iter().map(|s| s.p99()).max().unwrap_or(0);
    if worst <= slo_us {
        return (slo_us, misses);
    }
    let mut nice = 1u64;
    loop {
        for m in [1, 2, 5] {
            if nice * m >= worst {
                return (nice * m, misses);
            }
        }
        nice *= 10;
    }
}

/// Who won a workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The winner, when it beat the runner-up beyond the spread of their rounds.
    pub winner: Option<String>,
    /// The two leaders when neither beat the other beyond that spread.
    pub tie: Vec<String>,
    /// Why, in words.
    pub why: String,
}

impl Verdict {
    /// `event`, `tie: event, uring` or `none`.
    pub fn headline(&self) -> String {
        match (&self.winner, self.tie.as_slice()) {
            (Some(w), _) => w.clone(),
            (None, []) => "none".into(),
            (None, tie) => format!("tie: {}", tie.join(", ")),
        }
    }
}

/// The tie rule over `contenders` (name and rounds per step, lowest rate first, the same
/// ladder for all) at `threshold_us`. The leader holds the highest step (then the lowest
/// median p99 there). It wins only beyond the spread of the rounds:
/// - holding a higher step than the runner-up: at the step above the runner-up's highest, every
///   round of the leader held and no round of the runner-up did (two or more steps higher: the
///   leader's rounds there are enough);
/// - holding the same step: every round of the leader's p99 there is below every round of the
///   runner-up's.
///
/// Otherwise it is a tie of the two.
pub fn decide(contenders: &[(String, Vec<StepRounds>)], threshold_us: u64) -> Verdict {
    let mut ranked: Vec<(&String, &Vec<StepRounds>, Option<usize>)> =
        contenders.iter().map(|(n, s)| (n, s, top(s, threshold_us))).collect();
    ranked.retain(|r| r.2.is_some());
    ranked.sort_by(|a, b| {
        let p99 = |r: &(&String, &Vec<StepRounds>, Option<usize>)| r.1[r.2.unwrap()].p99();
        b.2.cmp(&a.2).then(p99(a).cmp(&p99(b)))
    });
    let Some(&(a_name, a, Some(ta))) = ranked.first() else {
        return Verdict {
            why: "no server held the threshold at any step".into(),
            ..Verdict::default()
        };
    };
    let Some(&(b_name, b, Some(tb))) = ranked.get(1) else {
        return Verdict {
            winner: Some(a_name.clone()),
            why: "the only server that held the threshold".into(),
            ..Verdict::default()
        };
    };
    let tie = |why: String| Verdict {
        tie: vec![a_name.clone(), b_name.clone()],
        why,
        ..Verdict::default()
    };
    let win = |why: String| Verdict { winner: Some(a_name.clone()), why, ..Verdict::default() };
    if ta > tb {
        let above = tb + 1;
        let rate = fmt_rate(a[above].rate);
        if ta > above {
            return win(format!("held two or more steps above {b_name}"));
        }
        if a[above].every_round_held(threshold_us)
            && b.get(above).is_none_or(|s| s.no_round_held(threshold_us))
        {
            return win(format!("held {rate}/s offered in every round, {b_name} in none"));
        }
        return tie(format!("at {rate}/s offered the rounds of {a_name} and {b_name} overlap"));
    }
    let (pa, pb) = (&a[ta].p99_us, &b[tb].p99_us);
    let (a_max, b_min) =
        (pa.iter().max().copied().unwrap_or(0), pb.iter().min().copied().unwrap_or(0));
    if a_max < b_min {
        return win(format!(
            "both held {}/s offered; every round's p99 of {a_name} below every round's of {b_name}",
            fmt_rate(a[ta].rate)
        ));
    }
    tie(format!(
        "both held {}/s offered with overlapping p99s over their rounds",
        fmt_rate(a[ta].rate)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step at `rate` with one round per p99 (0: not sustained).
    fn step(rate: f64, p99s: &[u64]) -> StepRounds {
        StepRounds {
            rate,
            p99_us: p99s.iter().map(|&p| if p == 0 { u64::MAX } else { p }).collect(),
            achieved: p99s.iter().map(|&p| if p == 0 { rate / 2.0 } else { rate }).collect(),
            sustained: p99s.iter().map(|&p| p != 0).collect(),
        }
    }

    fn named(name: &str, steps: Vec<StepRounds>) -> (String, Vec<StepRounds>) {
        (name.to_string(), steps)
    }

    #[test]
    fn a_higher_step_held_in_every_round_wins() {
        let a = named("a", vec![step(1.0, &[100]), step(2.0, &[200, 210, 190]), step(4.0, &[0])]);
        let b = named("b", vec![step(1.0, &[100]), step(2.0, &[0, 0, 0])]);
        let v = decide(&[b, a], 1000);
        assert_eq!(v.winner.as_deref(), Some("a"), "{v:?}");
        assert_eq!(v.headline(), "a");
    }

    #[test]
    fn overlapping_rounds_are_a_tie() {
        // a holds 2/s by its median, but b held it in one round of three.
        let a = named("a", vec![step(1.0, &[100]), step(2.0, &[200, 900, 1500])]);
        let b = named("b", vec![step(1.0, &[100]), step(2.0, &[800, 1200, 1300])]);
        let v = decide(&[a, b], 1000);
        assert_eq!(v.winner, None);
        assert_eq!(v.headline(), "tie: a, b");
    }

    #[test]
    fn the_same_step_is_won_only_by_separate_p99s() {
        let a = named("a", vec![step(1.0, &[300, 320, 310]), step(2.0, &[0])]);
        let b = named("b", vec![step(1.0, &[400, 420, 450]), step(2.0, &[0])]);
        assert_eq!(decide(&[b.clone(), a.clone()], 1000).winner.as_deref(), Some("a"));
        let c = named("c", vec![step(1.0, &[310, 500, 330]), step(2.0, &[0])]);
        assert_eq!(decide(&[a, c], 1000).headline(), "tie: a, c");
    }

    #[test]
    fn two_steps_ahead_wins_and_a_lone_server_wins() {
        let a = named("a", vec![step(1.0, &[100]), step(2.0, &[100]), step(4.0, &[100, 100, 100])]);
        let b = named("b", vec![step(1.0, &[100, 100, 100]), step(2.0, &[0, 0, 0])]);
        assert_eq!(decide(&[a.clone(), b.clone()], 1000).winner.as_deref(), Some("a"));
        assert_eq!(decide(&[a], 1000).winner.as_deref(), Some("a"));
        let none = named("n", vec![step(1.0, &[5000])]);
        assert_eq!(decide(&[none], 1000).headline(), "none");
    }

    #[test]
    fn steps_the_floor_misses_cannot_rank_and_the_threshold_rises_to_what_it_holds() {
        let floor = vec![
            step(1.0, &[1130, 1200, 1100]),
            step(2.0, &[400, 380, 420]),
            step(4.0, &[1800]),
            step(8.0, &[0]),
        ];
        let (t, misses) = threshold(&floor, 1000);
        assert_eq!(misses, vec![1.0, 4.0]);
        assert_eq!(t, 2000);
        assert!(floor[..3].iter().all(|s| s.held(t)));
        assert_eq!(threshold(&floor[1..2], 1000), (1000, vec![]));
        // A server that held 2/s at 1 ms holds nothing new at the raised threshold; one whose
        // p99 was 1.5 ms at 4/s now ranks there.
        let a =
            named("a", vec![step(1.0, &[900]), step(2.0, &[900]), step(4.0, &[1500, 1400, 1600])]);
        let b =
            named("b", vec![step(1.0, &[900]), step(2.0, &[900, 950, 990]), step(4.0, &[0, 0, 0])]);
        assert_eq!(decide(&[a.clone(), b.clone()], 1000).headline(), "tie: a, b");
        let v = decide(&[a, b], t);
        assert_eq!(v.winner.as_deref(), Some("a"), "{v:?}");
    }
}
