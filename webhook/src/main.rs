//! `mltrain-webhook`: install the crypto provider, read the flags, start logging and the runtime, run.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use mltrain_webhook::config::{Args, Config};
use mltrain_webhook::{logging, server};

fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Config::from(Args::parse());
    let _log = match logging::init(config.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("mltrain-webhook: cannot start the logging thread: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = match server::runtime(config.worker_threads) {
        Ok(runtime) => runtime.block_on(server::run(config)),
        Err(e) => Err(server::StartError::Runtime(e)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("mltrain-webhook: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
