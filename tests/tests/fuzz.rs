//! Bounded in-tree fuzzing of AdmissionReview parsing and the engine (no nightly toolchain can be
//! fetched here, so no cargo-fuzz): byte-level and structure-aware mutations of real reviews go through
//! the webhook's own path (parse → engine → response body). Properties: nothing panics; every answer is
//! a complete AdmissionReview with the request's uid; every CREATE patch applies to its object.
//! `MLTRAIN_FUZZ_SECONDS` bounds the run (CI sets it), `MLTRAIN_FUZZ_SEED` replays one. Inputs that
//! ever failed are kept in `tests/data/fuzz-regressions/` and replayed on every run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mltrain_shared::{Engine, Operation, Policy, Request, UserInfo};
use mltrain_tests::{
    Rng, fuzz_budget, fuzz_seed, mutate_bytes, mutate_json, shared_dir, yaml_docs,
};
use mltrain_webhook::handlers::{Endpoint, admit};
use mltrain_webhook::review::Request as Review;
use mltrain_webhook::state::State;
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
fn check(states: &[State], body: &[u8]) {
    let Ok(req) = Review::parse(body) else { return };
    for state in states {
        for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
            let resp = admit(state, endpoint, &req);
            let out: Value = serde_json::from_slice(&resp.to_body()).expect("the answer is JSON");
            assert_eq!(out["response"]["uid"], req.uid.as_str());
            assert!(out["response"]["allowed"].is_boolean());
        }
        if req.operation == "CREATE"
            && let Some(obj) = &req.object
        {
            let labels = BTreeMap::new();
            let user = UserInfo::default();
            let r = state.engine().admit(&Request {
                operation: Operation::Create,
                object: obj,
                old_object: None,
                namespace: "ml-team",
                namespace_labels: &labels,
                user: Some(&user),
                openshift: state.openshift(),
            });
            let mut patched = obj.clone();
            json_patch::patch(&mut patched, &r.patch)
                .expect("a CREATE patch applies to its object");
        }
    }
}

fn states() -> Vec<State> {
    [
        ("", None),
        (FULL_POLICY, None),
        (FULL_POLICY, Some(mltrain_shared::OpenShiftMode::Disabled)),
    ]
    .into_iter()
    .map(|(p, os)| {
        let s = State::new(
            Engine::new(Policy::from_yaml(p).unwrap()),
            os,
            8 << 20,
            Duration::from_secs(1),
        );
        std::sync::Arc::try_unwrap(s).unwrap_or_else(|_| unreachable!())
    })
    .collect()
}

#[test]
fn regressions_replay() {
    let states = states();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fuzz-regressions");
    for f in std::fs::read_dir(dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            check(&states, &std::fs::read(&p).unwrap());
        }
    }
}

#[test]
fn fuzz_admission_reviews() {
    let seed = fuzz_seed();
    let budget = fuzz_budget();
    eprintln!("fuzz_admission_reviews: seed {seed}, {budget:?} (replay: MLTRAIN_FUZZ_SEED={seed})");
    let mut rng = Rng::new(seed);
    let states = states();
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
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&states, &body)));
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
