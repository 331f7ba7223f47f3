//! The access log: one line per answered admission (DESIGN §5), who, what, the outcome, never the
//! object. In JSON (the default) the line is written by hand into a reused per-thread buffer and handed
//! to the log writer ([`crate::log_writer`]): tracing's JSON formatter built a `String` per displayed field, a second for the
//! timestamp and a third for the line, about 23k instructions of a request's 340k
//! (`webhook/bench/stage-ir.sh`). The line is byte-for-byte what that formatter wrote (the test below
//! holds the two side by side), so log pipelines see no change. Text lines are for people at a terminal
//! and still go through tracing, colours and all.

use std::cell::RefCell;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use mltrain_shared::admission::{AdmissionRequest, AdmissionResponse, Endpoint};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

/// Where finished JSON lines go: the log writer's buffer ([`crate::log_writer`]), set once by
/// [`crate::logging`] when the format is JSON. Unset (text format, or no logging installed), lines go through tracing.
type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;
static JSON_SINK: OnceLock<Sink> = OnceLock::new();

/// The line's target for `RUST_LOG`, where the line was logged before it moved here, so filters that
/// name it keep working.
const TARGET: &str = "mltrain_webhook::handlers";

thread_local! {
    /// Reused across requests on a worker thread: a line is formatted without allocating.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Send JSON access lines to `sink` from now on. Called once; a second call is refused, so the sink a
/// running server writes to never changes under it.
pub(crate) fn send_json_to(sink: Sink) -> Result<(), Sink> {
    JSON_SINK.set(sink)
}

/// Log one answered admission, at INFO and subject to `RUST_LOG` like every other line.
pub fn write(
    endpoint: Endpoint,
    request: &AdmissionRequest,
    response: &AdmissionResponse,
    took: Duration,
) {
    let Some(sink) = JSON_SINK.get() else {
        return tracing_event(endpoint, request, response, took);
    };
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        json_line(line, endpoint, request, response, took);
        sink(line);
    });
}

/// The line through tracing's formatter (text format, and the reference the JSON line is tested against).
fn tracing_event(
    endpoint: Endpoint,
    request: &AdmissionRequest,
    response: &AdmissionResponse,
    took: Duration,
) {
    tracing::info!(
        target: TARGET,
        uid = %request.uid,
        endpoint = endpoint.as_str(),
        kind = %request.kind.kind,
        namespace = request.namespace.as_deref().unwrap_or(""),
        name = %request.display_name(),
        operation = %request.operation,
        dry_run = request.dry_run.unwrap_or(false),
        allowed = response.allowed(),
        patch_bytes = response.patch_len(),
        latency_us = took.as_micros() as u64,
        "admission"
    );
}

/// The JSON line, newline included, in the formatter's key order and with serde_json's escaping.
fn json_line(
    out: &mut Vec<u8>,
    endpoint: Endpoint,
    request: &AdmissionRequest,
    response: &AdmissionResponse,
    took: Duration,
) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    // RFC 3339 digits only: nothing to escape.
    SystemTime
        .format_time(&mut Writer::new(&mut Utf8Bytes(out)))
        .expect("writing to a Vec cannot fail");
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"admission\",\"uid\":");
    string(out, &request.uid);
    out.extend_from_slice(b",\"endpoint\":");
    string(out, endpoint.as_str());
    out.extend_from_slice(b",\"kind\":");
    string(out, &request.kind.kind);
    out.extend_from_slice(b",\"namespace\":");
    string(out, request.namespace.as_deref().unwrap_or(""));
    out.extend_from_slice(b",\"name\":");
    display(out, format_args!("{}", request.display_name()));
    out.extend_from_slice(b",\"operation\":");
    string(out, request.operation.as_str());
    out.extend_from_slice(b",\"dry_run\":");
    out.extend_from_slice(bool_text(request.dry_run.unwrap_or(false)));
    out.extend_from_slice(b",\"allowed\":");
    out.extend_from_slice(bool_text(response.allowed()));
    out.extend_from_slice(b",\"patch_bytes\":");
    number(out, response.patch_len() as u64);
    out.extend_from_slice(b",\"latency_us\":");
    number(out, took.as_micros() as u64);
    out.extend_from_slice(b"}\n");
}

/// A JSON string with serde_json's escaping (the formatter's), written straight into the line.
fn string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("a string serialises into a Vec");
}

/// A displayed value as a JSON string, escaped as it is written, without a `String` of its own.
fn display(out: &mut Vec<u8>, value: std::fmt::Arguments<'_>) {
    serde_json::to_writer(out, &value).expect("a Display value serialises into a Vec");
}

fn number(out: &mut Vec<u8>, n: u64) {
    write!(out, "{n}").expect("writing to a Vec cannot fail");
}

fn bool_text(b: bool) -> &'static [u8] {
    if b { b"true" } else { b"false" }
}

/// `fmt::Write` over the line's bytes, for the timestamp formatter.
struct Utf8Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Utf8Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use mltrain_shared::admission::{AdmissionRequest, AdmissionResponse, Endpoint};
    use mltrain_shared::{Engine, Policy};
    use serde_json::{Value, json};
    use tracing_subscriber::EnvFilter;

    use crate::state::State;

    /// What tracing's JSON formatter writes, collected.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The line with its timestamp checked for tracing's shape (`2026-11-24T09:11:14.123456Z`) and
    /// then blanked, since the two lines are written microseconds apart.
    fn without_timestamp(line: &str) -> String {
        let (head, rest) = line.split_at(line.find("\"timestamp\":\"").unwrap() + 13);
        let (ts, tail) = rest.split_at(rest.find('"').unwrap());
        assert_eq!(ts.len(), 27, "{ts}");
        assert!(ts.ends_with('Z') && &ts[10..11] == "T", "{ts}");
        format!("{head}{tail}")
    }

    fn review(request: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request
        }))
        .unwrap()
    }

    #[test]
    fn the_json_line_is_what_the_tracing_formatter_wrote() {
        let fixture =
            mltrain_tests::shared_dir().join("admission/pod-create-indexed-job-rank2-8gpu.json");
        let gpu_pod = std::fs::read(fixture).expect("the shared fixture");
        // A name to escape (quote, backslash, control character, non-ASCII), no namespace, a dry run.
        let odd = review(json!({
            "uid": "u-\"odd\"", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "userInfo": {"username": "a"}, "dryRun": true,
            "object": {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"generateName": "p\\\"\u{1}é-"},
                       "spec": {"containers": [{"name": "c", "image": "x"}]}}
        }));
        let state = State::new(
            Engine::new(Policy::default()),
            None,
            8 << 20,
            Duration::from_secs(10),
        );
        for (body, endpoint) in [(gpu_pod, Endpoint::Mutate), (odd, Endpoint::Validate)] {
            let request = AdmissionRequest::parse(&body).unwrap();
            let review = state.snapshot().admission().decide(&request);
            let response = AdmissionResponse::of(endpoint, &request, review.as_ref());
            let took = Duration::from_micros(1234);

            let captured = Captured::default();
            let writer = captured.clone();
            let reference =
                super::super::logging::builder(EnvFilter::new("info"), move || writer.clone())
                    .with_ansi(false)
                    .json()
                    .flatten_event(true)
                    .finish();
            tracing::subscriber::with_default(reference, || {
                super::tracing_event(endpoint, &request, &response, took)
            });
            let mut ours = Vec::new();
            super::json_line(&mut ours, endpoint, &request, &response, took);

            let theirs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            let ours = String::from_utf8(ours).unwrap();
            assert_eq!(without_timestamp(&ours), without_timestamp(&theirs));
        }
    }
}
