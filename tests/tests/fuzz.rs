//! Bounded in-tree fuzzing of AdmissionReview parsing and the engine (no nightly toolchain can be
//! fetched here, so no cargo-fuzz): byte-level and structure-aware mutations of real reviews go through
//! the admission entry point the webhook and `policy check` use (`mltrain_shared::admission`: parse →
//! engine → response body). Properties: nothing panics; every answer is a complete AdmissionReview
//! with the request's uid; every patch applies to its object.
//! `MLTRAIN_FUZZ_SECONDS` bounds the run (CI sets it), `MLTRAIN_FUZZ_SEED` replays one. Inputs that
//! ever failed are kept in `tests/data/fuzz-regressions/` and replayed on every run.

use std::time::Instant;

use mltrain_shared::admission::{Admission, AdmissionRequest, Endpoint, NamespaceLabels};
use mltrain_shared::{Engine, Policy};
use mltrain_tests::{
    Rng, fuzz_budget, fuzz_seed, mutate_bytes, mutate_json, shared_dir, yaml_docs,
};
use serde_json::Value;

const FULL_POLICY: &str = include_str!("../../shared/tests/data/policy-full.yaml");

fn seeds() -> Vec<Value> {
    let mut out = Vec::new();
    for f in std::fs::read_dir(shared_dir().join("admission")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            out.push(serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap());
        }
    }
    let workloads = include_str!("../../shared/tests/data/objects/workloads.yaml");
    for obj in yaml_docs(workloads) {
        out.push(serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "fuzz", "kind": {"group": "", "version": "v1", "kind": obj["kind"]}, "namespace": "ml-team",
            "operation": "CREATE", "userInfo": {"username": "alice", "groups": ["g"]}, "object": obj}}));
    }
    out
}

/// One input through the whole path; a panic propagates to the caller.
fn check(engines: &[(Engine, bool)], body: &[u8]) {
    let Ok(request) = AdmissionRequest::parse(body) else {
        return;
    };
    for (engine, openshift) in engines {
        let admission = Admission {
            engine,
            namespace_labels: NamespaceLabels::Unknown,
            openshift: *openshift,
        };
        for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
            let resp = admission.respond(endpoint, &request);
            let out: Value = serde_json::from_slice(&resp.to_body()).expect("the answer is JSON");
            assert_eq!(out["response"]["uid"], request.uid.as_str());
            assert!(out["response"]["allowed"].is_boolean());
        }
        if let (Some(review), Some(subject)) = (admission.decide(&request), request.subject()) {
            review
                .mutated(subject)
                .expect("the engine's patch applies to its object");
        }
    }
}

/// The default policy, the full one with its `openshift: force`, and the full one with OpenShift
/// adaptation off (as the webhook's `--openshift disabled` resolves it).
fn engines() -> Vec<(Engine, bool)> {
    [("", false), (FULL_POLICY, true), (FULL_POLICY, false)]
        .into_iter()
        .map(|(p, openshift)| (Engine::new(Policy::from_yaml(p).unwrap()), openshift))
        .collect()
}

#[test]
fn regressions_replay() {
    let engines = engines();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fuzz-regressions");
    for f in std::fs::read_dir(dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            check(&engines, &std::fs::read(&p).unwrap());
        }
    }
}

#[test]
fn fuzz_admission_reviews() {
    let seed = fuzz_seed();
    let budget = fuzz_budget();
    eprintln!("fuzz_admission_reviews: seed {seed}, {budget:?} (replay: MLTRAIN_FUZZ_SEED={seed})");
    let mut rng = Rng::new(seed);
    let engines = engines();
    let seeds = seeds();
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget {
        let base = &seeds[rng.below(seeds.len())];
        let body = if rng.below(3) == 0 {
            mutate_bytes(&mut rng, &serde_json::to_vec(base).unwrap())
        } else {
            let mut v = base.clone();
            for _ in 0..=rng.below(3) {
                mutate_json(&mut rng, &mut v);
            }
            serde_json::to_vec(&v).unwrap()
        };
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&engines, &body)));
        if outcome.is_err() {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fuzz-regressions");
            let file = dir.join(format!("crash-{seed}-{runs}.json"));
            std::fs::write(&file, &body).unwrap();
            panic!(
                "input {runs} of seed {seed} failed; kept as {} for replay",
                file.display()
            );
        }
        runs += 1;
    }
    eprintln!("fuzz_admission_reviews: {runs} inputs, no failure");
    assert!(runs > 0);
}
