//! `loadtest`: parse the command line and hand over to the library. A failure is one
//! `loadtest: ...` line on stderr (the causes joined with `: `) and exit code 1.

use clap::Parser;
use loadtest::cli::Cli;

fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    match loadtest::app::run(Cli::parse(), &argv) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
