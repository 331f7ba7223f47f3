//! The log's one writer: every line, from any thread, is appended to one shared buffer, and a thread
//! of its own writes the buffer to stdout in batches.
//!
//! Why not `tracing_appender::non_blocking`: it sends each line as its own allocation over a channel
//! and wakes its thread for it. Under load the webhook logs a line per admission, and on the one core
//! of a small pod that wake-up (a futex call and two context switches) cost the request more than
//! formatting the line did (`webhook/bench/breakdown.sh`, stage `log`). Here a request copies its line
//! into the buffer, and wakes the writer only when the buffer was empty; the writer then waits
//! [`BATCH_DELAY`] for more lines to arrive before it writes them all with one `write(2)`. A quiet
//! webhook's lines appear within that delay; under load there are a few hundred wake-ups a second, not
//! one per request.
//!
//! Lines are never dropped: when the buffer holds [`MAX_BUFFERED`] bytes (stdout blocked), requests
//! wait for the writer, as they did with the lossless channel before. Each line is appended whole, so
//! lines from different threads never interleave.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer gathers lines after the first one of a batch arrives.
pub const BATCH_DELAY: Duration = Duration::from_millis(5);

/// Bytes held before appending waits for the writer: about 4,000 access lines.
pub const MAX_BUFFERED: usize = 4 << 20;

/// A cheap handle that appends lines; clone it freely. Give it to tracing as its writer.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes what is still buffered and stops the writer thread when dropped. Keep it until exit.
#[must_use = "dropping the guard stops the log writer"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How long exiting waits for the last lines: a stdout nobody reads must not keep the process from
/// ending (tracing-appender's guard waited as long).
pub const EXIT_WAIT: Duration = Duration::from_secs(1);

struct Shared {
    state: Mutex<State>,
    /// The writer waits here for a first line, and appenders wait here for room.
    changed: Condvar,
}

struct State {
    buf: Vec<u8>,
    closed: bool,
    /// The writer has written everything and stopped.
    finished: bool,
}

impl LogWriter {
    /// A writer to `out` and the thread that drains it into `out`.
    pub fn spawn<W: Write + Send + 'static>(out: W) -> std::io::Result<(LogWriter, FlushGuard)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buf: Vec::with_capacity(64 << 10),
                closed: false,
                finished: false,
            }),
            changed: Condvar::new(),
        });
        let drain = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("mltrain-webhook-log".into())
            .spawn(move || {
                drain.run(out);
                drain.lock().finished = true;
                drain.changed.notify_all();
            })?;
        Ok((
            LogWriter {
                shared: Arc::clone(&shared),
            },
            FlushGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }

    /// Append one whole line (or several); waits while the buffer is full.
    pub fn append(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        while state.buf.len() >= MAX_BUFFERED && !state.closed {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = state.buf.is_empty();
        state.buf.extend_from_slice(line);
        drop(state);
        if was_empty {
            self.shared.changed.notify_all();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked while appending left whole bytes behind; keep logging.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: wait for a first line, let a batch gather, write it, repeat; on close, write
    /// what is left and stop.
    fn run<W: Write>(&self, mut out: W) {
        let mut batch = Vec::with_capacity(64 << 10);
        loop {
            let mut state = self.lock();
            while state.buf.is_empty() && !state.closed {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let closed = state.closed;
            drop(state);
            if !closed {
                std::thread::sleep(BATCH_DELAY);
            }
            let mut state = self.lock();
            std::mem::swap(&mut state.buf, &mut batch);
            let closed = state.closed;
            drop(state);
            // Appenders waiting for room may go on.
            self.changed.notify_all();
            if let Err(e) = out.write_all(&batch).and_then(|()| out.flush()) {
                // As tracing's formatter does with a line it cannot write: say so, carry on.
                eprintln!("mltrain-webhook: cannot write log lines: {e}");
            }
            batch.clear();
            if closed && self.lock().buf.is_empty() {
                return;
            }
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(self.shared.lock(), EXIT_WAIT, |s| !s.finished)
            .unwrap_or_else(PoisonError::into_inner);
        let finished = state.finished;
        drop(state);
        if let (true, Some(t)) = (finished, self.thread.take()) {
            let _ = t.join();
        }
    }
}

/// What tracing writes one event through: its formatter hands over each whole line in one
/// `write_all`, which becomes one [`LogWriter::append`].
pub struct EventWriter<'a>(&'a LogWriter);

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.append(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` the test can read back, that counts its `write_all`s.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut c = self.0.lock().unwrap();
            c.0.extend_from_slice(buf);
            c.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_arrives_whole_and_in_few_writes() {
        let out = Capture::default();
        let (writer, guard) = LogWriter::spawn(out.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        w.append(
                            format!("thread {t} line {i} {}\n", "x".repeat(i % 50)).as_bytes(),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let (bytes, writes) = out.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8_000);
        for t in 0..4 {
            // Each thread's lines in its own order, none torn.
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            assert_eq!(mine.len(), 2_000);
            for (i, l) in mine.iter().enumerate() {
                assert_eq!(*l, format!("thread {t} line {i} {}", "x".repeat(i % 50)));
            }
        }
        assert!(
            writes < 8_000,
            "{writes} writes for 8,000 lines: not batched"
        );
    }

    #[test]
    fn a_quiet_line_is_written_without_waiting_for_more() {
        let out = Capture::default();
        let (writer, _guard) = LogWriter::spawn(out.clone()).unwrap();
        writer.append(b"ready\n");
        // Bounded: 200 polls of 10 ms; the line is due after BATCH_DELAY.
        for _ in 0..200 {
            if out.0.lock().unwrap().0 == b"ready\n" {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the line was not written within 2 s");
    }

    #[test]
    fn exiting_waits_for_a_blocked_stdout_no_longer_than_exit_wait() {
        /// Stdout that never returns.
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                loop {
                    std::thread::park();
                }
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (writer, guard) = LogWriter::spawn(Stuck).unwrap();
        writer.append(b"never written\n");
        let started = std::time::Instant::now();
        drop(guard);
        // It returned: a stuck stdout does not keep the process from exiting. And it gave the
        // writer its time first.
        let waited = started.elapsed();
        assert!(waited >= EXIT_WAIT, "gave up after {waited:?}");
    }

    #[test]
    fn a_full_buffer_makes_appenders_wait_and_loses_nothing() {
        /// Stdout that blocks until the test lets it go.
        struct Gate(Arc<(Mutex<bool>, Condvar)>, Capture);
        impl Write for Gate {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let (open, cv) = &*self.0;
                let mut o = open.lock().unwrap();
                while !*o {
                    o = cv.wait(o).unwrap();
                }
                self.1.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = Capture::default();
        let (writer, guard) = LogWriter::spawn(Gate(Arc::clone(&gate), out.clone())).unwrap();
        let line = vec![b'a'; 1 << 20];
        let w = writer.clone();
        let appender = std::thread::spawn(move || {
            for _ in 0..12 {
                w.append(&line);
            }
        });
        // Blocked stdout: the appender fills the buffer (and the writer's batch) and waits.
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !appender.is_finished(),
            "appending went on past a full buffer"
        );
        {
            let (open, cv) = &*gate;
            *open.lock().unwrap() = true;
            cv.notify_all();
        }
        appender.join().unwrap();
        drop(guard);
        assert_eq!(out.0.lock().unwrap().0.len(), 12 << 20);
    }
}
