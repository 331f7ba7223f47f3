//! `kubectl-mltrain` as a library: the command-line types ([`cli`]), their resolution into a job
//! ([`resolve`]), one module per command ([`commands`]), and [`run`], which `main` calls. Tests drive
//! the same parts in-process.

pub mod args;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod error;
pub mod jobs;
pub mod output;
pub mod policy_file;
pub mod preflight;
pub mod resolve;
pub mod settings;
pub mod sshkeys;

use crate::cli::{Cli, Command, PolicyCommand};
use crate::error::{CommandError, Exit};

/// Run a parsed command line to its exit status. One thread is enough: a command waits on the
/// cluster, it never needs parallel CPU.
pub fn run(cli: &Cli) -> Result<Exit, CommandError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Runtime)?
        .block_on(dispatch(cli))
}

/// The command the command line names.
pub async fn dispatch(cli: &Cli) -> Result<Exit, CommandError> {
    match &cli.command {
        Command::Pytorch(args) => commands::create::run(args.as_ref()).await,
        Command::Deepspeed(args) => commands::create::run(args.as_ref()).await,
        Command::Mxnet(args) => commands::create::run(args.as_ref()).await,
        Command::List(args) => commands::list::run(args).await,
        Command::Status(args) => commands::status::run(args).await,
        Command::Logs(args) => commands::logs::run(args).await,
        Command::Delete(args) => commands::delete::run(args).await,
        Command::Policy(PolicyCommand::Check(args)) => commands::policy::run(args),
        Command::Completion { shell } => commands::completion::run(*shell),
    }
}
