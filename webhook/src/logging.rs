//! Logging: JSON or text lines on stdout, written by a thread of their own in batches. Under load the
//! webhook logs one line per admission; writing each line with its own `write(2)` on the request's
//! thread cost more than the rest of the log line, and a batch is one system call however many lines
//! it holds. Lines are never dropped: when the writer falls behind, requests wait for it.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

use crate::config::LogFormat;

/// Install the global subscriber (level from `RUST_LOG`, default `info`). Keep the guard until exit:
/// dropping it writes what is still queued.
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("mltrain-webhook-log")
        // Flushed whenever the queue runs empty, so a quiet webhook's lines are not held back.
        .finish(BufWriter::new(std::io::stdout()));
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    guard
}
