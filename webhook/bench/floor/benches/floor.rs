//! What each part of `/mutate`'s in-process work costs at least, on the 8-GPU pod review
//! kube-apiserver sends (../shared/admission), side by side in one run:
//!
//! - `read/*`: the body read four ways. `ignored` only tokenises it with serde_json (no tree: the
//!   least any serde_json-based webhook pays); `value` builds serde_json's `Value` of all of it;
//!   `mltrain` is the webhook's parse (`Value` without `managedFields` and `status`); `sonic-dom` is
//!   sonic-rs's SIMD parser into its arena DOM, what a different JSON stack would pay.
//! - `tree/*`: what the engine's copy-then-diff design pays on serde_json's tree: a copy of the pod's
//!   `spec` and its drop, and the drop of the parsed request.
//! - `engine/decide`: the engine's decision with its patch diff, as the webhook runs it.
//! - `all/in-process`: body bytes to response bytes (the log line and metrics not included).
//!
//! Every case drops what it builds inside the timed loop, as the server does per request.

use std::hint::black_box as bb;

use criterion::{Criterion, criterion_group, criterion_main};
use mltrain_shared::admission::{Admission, AdmissionRequest, Endpoint, NamespaceLabels};
use mltrain_shared::{Engine, Policy};
use serde::de::IgnoredAny;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn floors(c: &mut Criterion) {
    let shared = std::env::var("MLTRAIN_SHARED_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../../shared").to_string()
    });
    let path = format!("{shared}/admission/pod-create-indexed-job-rank2-8gpu.json");
    let pretty = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: serde_json::Value = serde_json::from_slice(&pretty).unwrap();
    // Compact, as kube-apiserver sends it.
    let body = serde_json::to_string(&value).unwrap();
    let engine = Engine::new(Policy::default());
    let admission = Admission {
        engine: &engine,
        namespace_labels: NamespaceLabels::Unknown,
        openshift: false,
    };
    let request = AdmissionRequest::parse(body.as_bytes()).unwrap();
    let spec = value["request"]["object"]["spec"].clone();

    let mut g = c.benchmark_group("read");
    g.bench_function("ignored", |b| {
        b.iter(|| serde_json::from_str::<IgnoredAny>(bb(&body)).unwrap())
    });
    g.bench_function("value", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(bb(&body)).unwrap())
    });
    g.bench_function("mltrain", |b| {
        b.iter(|| AdmissionRequest::parse(bb(body.as_bytes())).unwrap())
    });
    g.bench_function("sonic-dom", |b| {
        b.iter(|| sonic_rs::from_str::<sonic_rs::Value>(bb(&body)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("tree");
    g.bench_function("copy-and-drop-spec", |b| b.iter(|| bb(&spec).clone()));
    g.bench_function("drop-request", |b| {
        b.iter_batched(
            || AdmissionRequest::parse(body.as_bytes()).unwrap(),
            drop,
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();

    c.bench_function("engine/decide", |b| {
        b.iter(|| admission.decide(bb(&request)))
    });
    c.bench_function("all/in-process", |b| {
        b.iter(|| {
            let answer = admission.review(Endpoint::Mutate, bb(body.as_bytes())).unwrap();
            answer.response.to_body()
        })
    });
}

criterion_group!(benches, floors);
criterion_main!(benches);
