//! The four scenarios and what they share: the settings of a run ([`Config`]), its timeline
//! ([`Plan`]), what workers count ([`Outcome`], [`Recorder`]) and the finished [`RunReport`].
//!
//! - [`echo`]: raw byte echo, C connections, S-byte messages.
//! - [`ping`]: RESP `PING` / `ECHO` round trips, optionally pipelined.
//! - [`pubsub`]: P publishers, S subscribers, T topics, loss/duplicate/reorder accounting.
//! - [`idle`]: many idle connections, latency on a few active ones, server memory per connection.
//!
//! Request/response scenarios run on [`engine`]: open-loop senders on a timetable and one
//! reader per connection.

pub mod echo;
pub mod engine;
pub mod idle;
pub mod ping;
pub mod pubsub;

pub use crate::model::{Config, IdleStats, PingCommand, PubsubStats, Rate, RunReport, Scenario};
pub use crate::record::{Extra, Outcome, Plan, Recorder, RunCtx};

use crate::units::fmt_us;
use crate::wire::Security;

/// Runs `cfg` once against `cfg.addr`, labelled `label` in reports and on the progress bar.
pub fn run(cfg: &Config, label: &str) -> anyhow::Result<RunReport> {
    let mut ctx = RunCtx::new(cfg, label);
    let result = match cfg.scenario {
        Scenario::Echo => echo::run(&mut ctx),
        Scenario::Ping => ping::run(&mut ctx),
        Scenario::Pubsub => pubsub::run(&mut ctx),
        Scenario::Idle => idle::run(&mut ctx),
    };
    let (out, extra) = anyhow::Context::with_context(result, || {
        format!("{} scenario against {}", cfg.scenario.name(), cfg.addr)
    })?;
    Ok(ctx.into_report(&out, extra))
}

/// The label of the floor's rows.
pub const FLOOR_LABEL: &str = "floor";

/// Runs `cfg` against an in-process [`Reflector`](crate::reflector::Reflector) instead of
/// `cfg.addr`: the latency and CPU the tool itself costs at this load, labelled `label`.
pub fn floor(cfg: &Config, label: &str) -> anyhow::Result<RunReport> {
    use crate::reflector::{Reflector, Speaks};
    let before = &cfg.security;
    let speaks = if cfg.scenario == Scenario::Echo { Speaks::Echo } else { Speaks::Resp };
    let reflector = Reflector::start_on(speaks, &cfg.server_cpus)?;
    let cfg = Config {
        addr: reflector.addr.clone(),
        server_pid: None,
        server_tid: Some(reflector.tid),
        // The reflector speaks clear text and asks for no password.
        security: Security::default(),
        ..cfg.clone()
    };
    let mut r = run(&cfg, label)?;
    r.server_threads = Some(1);
    r.notes.push(
        "the tool's floor: the same load against a minimal in-process server (one thread, \
         answers at once)"
            .into(),
    );
    if before.tls {
        r.notes.push(
            "the floor is clear text: the tool's own TLS cost is in the server's rows, not here"
                .into(),
        );
    }
    Ok(r)
}

/// Notes on `r` where its latency is within 2x of `floor`'s (the figure is then the tool's as
/// much as the server's); returns true if and only if there were any.
pub fn note_floor(r: &mut RunReport, floor: &RunReport) -> bool {
    let mut near = false;
    for (name, ours, base) in [
        ("p50", r.latency_us.p50, floor.latency_us.p50),
        ("p99", r.latency_us.p99, floor.latency_us.p99),
    ] {
        if ours < 2 * base.max(1) {
            near = true;
            r.notes.push(format!(
                "{name} {} is within 2x of the tool's floor at this load ({}): the figure is the \
                 load generator's as much as the server's",
                fmt_us(ours),
                fmt_us(base)
            ));
        }
    }
    r.near_floor = near;
    near
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_report;

    #[test]
    fn figures_within_twice_the_floor_are_noted() {
        let cfg = Config::default();
        let mut server = test_report("server", &cfg, &Outcome::default());
        let mut floor = server.clone();
        (floor.latency_us.p50, floor.latency_us.p99) = (100, 1000);
        (server.latency_us.p50, server.latency_us.p99) = (150, 5000);
        assert!(note_floor(&mut server, &floor));
        assert!(server.near_floor);
        assert_eq!(server.notes.len(), 1);
        assert!(server.notes[0].starts_with("p50 150µs is within 2x of the tool's floor"));
        (server.latency_us.p50, server.notes, server.near_floor) = (300, Vec::new(), false);
        assert!(!note_floor(&mut server, &floor) && server.notes.is_empty());
    }
}
