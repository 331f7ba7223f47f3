//! `kubectl-mltrain`: parse, run one command, print its error once, exit with its status.

use std::process::ExitCode;

use clap::Parser;
use kubectl_mltrain::cli::Cli;
use kubectl_mltrain::error;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match kubectl_mltrain::run(&cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprint!("{}", error::report(&e));
            e.exit().into()
        }
    }
}
