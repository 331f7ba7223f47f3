//! `kubectl-mltrain`: parse, run one command, map the outcome to an exit code.

mod args;
mod cli;
mod cluster;
mod commands;
mod error;
mod jobs;
mod output;
mod preflight;
mod resolve;
mod settings;
mod sshkeys;

use std::process::ExitCode;

use clap::Parser;
use mltrain_shared::model::Framework;

use crate::cli::{Cli, Command};
use crate::error::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return Exit::Refused.into();
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Pytorch(args) => commands::create::run(Framework::PyTorch, args).await,
            Command::Deepspeed(args) => commands::create::run(Framework::DeepSpeed, args).await,
            Command::Mxnet(args) => commands::create::run(Framework::MXNet, args).await,
            Command::List(args) => commands::list::run(args).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::Logs(args) => commands::logs::run(args).await,
            Command::Delete(args) => commands::delete::run(args).await,
            Command::Policy(cli::PolicyCommand::Check(args)) => commands::policy::run(args),
            Command::Completion { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(
                    *shell,
                    &mut cmd,
                    "kubectl-mltrain",
                    &mut std::io::stdout(),
                );
                Ok(Exit::Ok)
            }
        }
    });
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            match &e {
                error::CommandError::Usage(lines) => {
                    for l in lines {
                        eprintln!("error: {l}");
                    }
                    eprintln!("\nSee 'kubectl mltrain --help' for usage.");
                }
                other => eprintln!("{other}"),
            }
            e.exit().into()
        }
    }
}
