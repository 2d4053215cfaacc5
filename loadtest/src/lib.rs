//! Switchboard's load generator. It speaks RESP through `shared`, so it measures any RESP
//! server (redis-server included) the same way it measures our backends.
//!
//! - [`cli`]: the command line (`compare`, `run`, `merge`).
//! - [`pacing`]: the open-loop timetable and the precise wait for each slot.
//! - [`scenarios`]: `echo`, `ping`, `pubsub`, `idle`, and the request/response engine.
//! - [`hist`]: HdrHistograms per worker, merging, summaries, the V2 base64 form.
//! - [`conn`]: blocking RESP connections, the reply buffer and `INFO` parsing.
//! - [`mux`]: every connection's reading side multiplexed over a few poller threads.
//! - [`progress`]: the live progress bar.
//! - [`reflector`]: the tool's floor, a minimal in-process server.
//! - [`report`]: the table, CSV, JSON, histogram files, merged reports, `report.md`.
//! - [`plot`]: the SVG charts.
//! - [`compare`]: starting servers per backend and writing the report directory.
//! - [`exchange`]: the exchange at scale next to redis-server (crowds, channels, patterns).
//! - [`sys`]: CPU time, resident memory, file-descriptor limit, machine description.
//! - [`wire`]: a connection's socket and TLS state; TLS and `AUTH` for every connection.

pub mod cli;
pub mod compare;
pub mod conn;
pub mod exchange;
pub mod hist;
pub mod mux;
pub mod pacing;
pub mod plot;
pub mod progress;
pub mod reflector;
pub mod report;
pub mod scenarios;
pub mod sys;
pub mod wire;
