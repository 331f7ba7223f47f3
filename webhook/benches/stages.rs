//! The in-process half of the per-request cost breakdown (issue 15): each stage of `/mutate` after the
//! body has arrived, on the 8-GPU pod review kube-apiserver sends (../shared/admission), under the
//! default policy as `webhook/bench/load.sh` runs it. The log line is the production JSON line
//! (`logging::install`, as the binary does) into a sink. The network half is `webhook/bench/breakdown.sh`.
//!
//!   cargo bench -p mltrain-webhook --bench stages

use std::hint::black_box as bb;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mltrain_shared::admission::{AdmissionRequest, AdmissionResponse, Endpoint};
use mltrain_shared::{Engine, Policy};
use mltrain_webhook::config::LogFormat;
use mltrain_webhook::state::State;
use mltrain_webhook::{handlers, logging};

// As in the binary: the allocator is a large share of every stage.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn stages(c: &mut Criterion) {
    logging::install(LogFormat::Json, std::io::sink);
    let path = mltrain_tests::shared_dir().join("admission/pod-create-indexed-job-rank2-8gpu.json");
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the shared fixture")).unwrap();
    // Compact, as kube-apiserver sends it.
    let body = serde_json::to_vec(&value).unwrap();
    let state = State::new(
        Engine::new(Policy::default()),
        None,
        8 << 20,
        Duration::from_secs(10),
    );
    let request = AdmissionRequest::parse(&body).unwrap();
    let review = state.snapshot().admission().decide(&request);
    let response = AdmissionResponse::of(Endpoint::Mutate, &request, review.as_ref());
    let took = Duration::from_micros(40);

    c.bench_function("stage/parse", |b| {
        b.iter(|| AdmissionRequest::parse(bb(&body)))
    });
    c.bench_function("stage/engine", |b| {
        b.iter(|| state.snapshot().admission().decide(bb(&request)))
    });
    c.bench_function("stage/patch", |b| {
        b.iter(|| AdmissionResponse::of(Endpoint::Mutate, bb(&request), review.as_ref()))
    });
    c.bench_function("stage/serialise", |b| b.iter(|| bb(&response).to_body()));
    c.bench_function("stage/log", |b| {
        b.iter(|| handlers::log_line(Endpoint::Mutate, bb(&request), &response, took))
    });
    c.bench_function("stage/metrics", |b| {
        b.iter(|| handlers::count(&state, Endpoint::Mutate, bb(&request), &response, took))
    });
    c.bench_function("stage/all", |b| {
        b.iter(|| {
            let answer = state
                .snapshot()
                .admission()
                .review(Endpoint::Mutate, bb(&body))
                .unwrap();
            let out = answer.response.to_body();
            handlers::record(
                &state,
                Endpoint::Mutate,
                &answer.request,
                &answer.response,
                took,
            );
            out
        })
    });
}

criterion_group!(benches, stages);
criterion_main!(benches);
