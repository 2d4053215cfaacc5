//! Switchboard's load generator. It speaks RESP through `shared`, so it measures any RESP
//! server (redis-server included) the same way it measures our backends.
//!
//! The modules stand in layers; each imports only from the layers below it.
//!
//! 1. Leaves: [`units`] (latencies, rates and dates as people read them), [`hist`]
//!    (HdrHistograms, merging, summaries), [`pacing`] (the open-loop timetable), [`sys`] (CPU
//!    time, memory, limits, the machine), [`reply`] (the reading side of a RESP connection).
//! 2. The run model: [`verdict`] (a server's rounds per step, and the shootout's threshold and
//!    tie rules on them), [`model`] (settings, `RunReport`, what a comparison and a shootout
//!    found).
//! 3. The runners: [`wire`] and [`conn`] (sockets, TLS, `AUTH`, setup requests), [`progress`]
//!    (the live bar), [`record`] (a run's timeline and counts), [`mux`] (reading many
//!    connections on a few poller threads), [`reflector`] (the tool's floor), [`scenarios`]
//!    (`echo`, `ping`, `pubsub`, `idle`), [`servers`] (the servers under test as child
//!    processes).
//! 4. The presenters: [`table`] (terminal, Markdown and CSV tables), [`histfile`] (JSON,
//!    histogram files, merging runs), [`plot`] (SVG charts), [`documents`] (the `report.md`s).
//! 5. The commands: [`cli`] (flags), [`compare`] (the shootout), [`scale`] (`loadtest
//!    exchange`: pub/sub at scale beside redis-server), [`app`] (what `main` calls).

pub mod app;
pub mod cli;
pub mod compare;
pub mod conn;
pub mod documents;
pub mod hist;
pub mod histfile;
pub mod model;
pub mod mux;
pub mod pacing;
pub mod plot;
pub mod progress;
pub mod record;
pub mod reflector;
pub mod reply;
pub mod scale;
pub mod scenarios;
pub mod servers;
pub mod sys;
pub mod table;
pub mod units;
pub mod verdict;
pub mod wire;
