//! Prometheus metrics in the text exposition format, kept with atomics so the hot path takes no lock
//! after a label set's first request. Label values are bounded: kinds the engine does not handle are
//! counted as `other`, so a client cannot grow the label space.
//! Reference: <https://prometheus.io/docs/instrumenting/exposition_formats/>.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

type Key = (&'static str, String, String, &'static str);

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Every metric the webhook exports.
#[derive(Default)]
pub struct Metrics {
    requests: RwLock<BTreeMap<Key, Arc<AtomicU64>>>,
    latency: BTreeMap<&'static str, Histogram>,
    bad_requests: AtomicU64,
    reloads: RwLock<BTreeMap<(&'static str, &'static str), Arc<AtomicU64>>>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut latency = BTreeMap::new();
        latency.insert("mutate", Histogram::default());
        latency.insert("validate", Histogram::default());
        Metrics {
            latency,
            ..Metrics::default()
        }
    }

    /// Count one admission.
    pub fn admission(
        &self,
        endpoint: &'static str,
        kind: &str,
        operation: &str,
        result: &'static str,
        took: Duration,
    ) {
        let kind = if mltrain_shared::kinds::WORKLOADS
            .iter()
            .any(|k| k.api.kind == kind)
        {
            kind
        } else {
            "other"
        };
        let key = (endpoint, kind.to_string(), operation.to_string(), result);
        let counter = self.requests.read().ok().and_then(|m| m.get(&key).cloned());
        let counter = counter.unwrap_or_else(|| {
            let mut m = self.requests.write().unwrap_or_else(|p| p.into_inner());
            m.entry(key).or_default().clone()
        });
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = self.latency.get(endpoint) {
            let secs = took.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.buckets[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            h.sum_micros
                .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Count a body that was not an AdmissionReview, or too large, or too slow.
    pub fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a reload attempt of `what` (`certificate`, `policy`) with `result` (`success`, `failure`).
    pub fn reload(&self, what: &'static str, result: &'static str) {
        let mut m = self.reloads.write().unwrap_or_else(|p| p.into_inner());
        m.entry((what, result))
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s += "# HELP mltrain_webhook_build_info Build information.\n# TYPE mltrain_webhook_build_info gauge\n";
        let _ = writeln!(
            s,
            "mltrain_webhook_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        s += "# HELP mltrain_webhook_admission_requests_total Admission requests answered.\n# TYPE mltrain_webhook_admission_requests_total counter\n";
        for ((endpoint, kind, op, result), c) in self
            .requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "mltrain_webhook_admission_requests_total{{endpoint=\"{endpoint}\",kind=\"{kind}\",operation=\"{op}\",result=\"{result}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        s += "# HELP mltrain_webhook_bad_requests_total Bodies refused before admission (not a v1 AdmissionReview, too large, too slow).\n# TYPE mltrain_webhook_bad_requests_total counter\n";
        let _ = writeln!(
            s,
            "mltrain_webhook_bad_requests_total {}",
            self.bad_requests.load(Ordering::Relaxed)
        );
        s += "# HELP mltrain_webhook_admission_duration_seconds Time to answer one admission, body parse to response.\n# TYPE mltrain_webhook_admission_duration_seconds histogram\n";
        for (endpoint, h) in &self.latency {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "mltrain_webhook_admission_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{b}\"}} {}",
                    h.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "mltrain_webhook_admission_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                s,
                "mltrain_webhook_admission_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                s,
                "mltrain_webhook_admission_duration_seconds_count{{endpoint=\"{endpoint}\"}} {count}"
            );
        }
        s += "# HELP mltrain_webhook_reloads_total Certificate and policy reloads.\n# TYPE mltrain_webhook_reloads_total counter\n";
        for ((what, result), c) in self
            .reloads
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "mltrain_webhook_reloads_total{{what=\"{what}\",result=\"{result}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_bounds_labels() {
        let m = Metrics::new();
        m.admission(
            "mutate",
            "Pod",
            "CREATE",
            "patched",
            Duration::from_micros(300),
        );
        m.admission(
            "mutate",
            "Pod",
            "CREATE",
            "patched",
            Duration::from_micros(300),
        );
        m.admission(
            "validate",
            "Banana",
            "CREATE",
            "allowed",
            Duration::from_millis(3),
        );
        m.reload("policy", "failure");
        let t = m.render();
        assert!(t.contains("mltrain_webhook_admission_requests_total{endpoint=\"mutate\",kind=\"Pod\",operation=\"CREATE\",result=\"patched\"} 2"), "{t}");
        assert!(t.contains("kind=\"other\""), "{t}");
        assert!(t.contains("mltrain_webhook_admission_duration_seconds_bucket{endpoint=\"mutate\",le=\"0.0005\"} 2"), "{t}");
        assert!(t.contains("mltrain_webhook_admission_duration_seconds_bucket{endpoint=\"validate\",le=\"0.0025\"} 0"), "{t}");
        assert!(t.contains("mltrain_webhook_reloads_total{what=\"policy\",result=\"failure\"} 1"));
        assert!(t.contains("mltrain_webhook_build_info{version="));
    }
}
