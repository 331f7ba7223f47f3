//! `kubectl mltrain completion SHELL`: the shell completion script, generated from the command-line
//! types, so it always offers each framework's own flags.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{CommandError, Exit};

pub fn run(shell: clap_complete::Shell) -> Result<Exit, CommandError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "kubectl-mltrain", &mut script);
    crate::output::print(&String::from_utf8_lossy(&script))?;
    Ok(Exit::Ok)
}
