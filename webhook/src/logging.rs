//! Logging: JSON or text lines on stdout, written by a thread of their own in batches
//! ([`crate::log_writer`]). Under load the webhook logs one line per admission; writing each line with
//! its own `write(2)` on the request's thread, or waking a thread for each, cost more than the rest of
//! the log line, and a batch is one system call however many lines it holds. Lines are never dropped:
//! when the writer falls behind, requests wait for it. The access line itself is written by
//! [`crate::access_log`] into the same buffer.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Format};
use tracing_subscriber::fmt::{MakeWriter, SubscriberBuilder};

use crate::access_log;
use crate::config::LogFormat;
use crate::log_writer::{FlushGuard, LogWriter};

/// Install the global subscriber (level from `RUST_LOG`, default `info`) writing to stdout through
/// the logging thread. Keep the guard until exit: dropping it writes what is still buffered.
pub fn init(format: LogFormat) -> std::io::Result<FlushGuard> {
    let (writer, guard) = LogWriter::spawn(std::io::stdout())?;
    install(format, writer);
    Ok(guard)
}

/// Install the global subscriber and the access log's sink on `writer` (the bench passes a sink).
/// Called once per process: tracing refuses a second global subscriber, and so does the access log.
pub fn install<W>(format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = builder(filter, writer.clone()).with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Json => {
            builder.json().flatten_event(true).init();
            let sent = access_log::send_json_to(Box::new(move |line: &[u8]| {
                // As tracing's formatter does with a line it cannot write: say so, carry on.
                if let Err(e) = writer.make_writer().write_all(line) {
                    eprintln!("mltrain-webhook: cannot write an access log line: {e}");
                }
            }));
            assert!(sent.is_ok(), "logging::install is called once per process");
        }
        LogFormat::Text => builder.init(),
    }
}

/// The settings both formats share; the access log's test builds its reference formatter from it.
pub(crate) fn builder<W>(
    filter: EnvFilter,
    writer: W,
) -> SubscriberBuilder<DefaultFields, Format, EnvFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
}
