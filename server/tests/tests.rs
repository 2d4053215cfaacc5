//! The integration suite: real sockets against servers started in-process on a free port.
//! Every test runs once per backend: `backend_tests!` expands each body into one `#[test]`
//! per backend, so a new backend joins the whole suite with one line in that macro.

/// Defines, for each `fn name(backend) { body }`, a module `name` holding one `#[test]` per
/// backend that runs `body` with that backend (`uring` where this machine allows io_uring;
/// elsewhere its tests print `SKIPPED: uring: <reason>`).
macro_rules! backend_tests {
    ($($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$meta])*
            fn run($backend: server::Backend) $body
            #[test] fn thread() { run(server::Backend::Thread) }
            #[test] fn pool() { run(server::Backend::Pool) }
            #[test] fn queue() { run(server::Backend::Queue) }
            #[test] fn event() { run(server::Backend::Event) }
            #[test] fn uring() {
                if crate::util::available(server::Backend::Uring, concat!(module_path!(), "::uring")) {
                    run(server::Backend::Uring)
                }
            }
        }
    )*};
}

mod util;

mod acl;
mod backpressure;
mod clients;
mod commands;
mod compat;
mod daemon;
mod delivery_clock;
mod echo;
mod errors;
mod faults;
mod introspection;
mod latency;
mod load;
mod monitor;
mod ops;
mod ordering;
mod pool;
mod pubsub;
mod queue;
mod relay;
mod scale;
mod security;
mod soft_limit;
mod stress;
mod tls;
mod uring;
