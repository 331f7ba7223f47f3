//! Table-driven engine tests: every mutation and refusal of DESIGN §4, one YAML case file per rule
//! in `tests/data/cases/`. Every CREATE case also checks that the patch applies to the input and yields
//! the engine's object, and that admitting that object again changes nothing.

mod common;

use std::collections::BTreeMap;

use mltrain_shared::{Operation, Request, UserInfo};
use serde_json::Value;

const FILES: &[(&str, &str)] = &[
    ("security", include_str!("data/cases/security.yaml")),
    ("shm", include_str!("data/cases/shm.yaml")),
    ("nccl", include_str!("data/cases/nccl.yaml")),
    ("hosts", include_str!("data/cases/hosts.yaml")),
    ("priority", include_str!("data/cases/priority.yaml")),
    ("resources", include_str!("data/cases/resources.yaml")),
    ("operations", include_str!("data/cases/operations.yaml")),
    ("trainjob", include_str!("data/cases/trainjob.yaml")),
];

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// Each expected text must be found in a distinct actual entry, and the counts must match.
fn match_all(kind: &str, case: &str, expected: &[String], actual: &[String]) {
    assert_eq!(
        expected.len(),
        actual.len(),
        "{case}: {kind}: expected {expected:#?}\n got {actual:#?}"
    );
    let mut used = vec![false; actual.len()];
    for e in expected {
        let hit = actual
            .iter()
            .enumerate()
            .find(|(i, a)| !used[*i] && a.contains(e.as_str()));
        match hit {
            Some((i, _)) => used[i] = true,
            None => panic!("{case}: {kind}: nothing matches {e:?} in {actual:#?}"),
        }
    }
}

fn run_case(file: &str, case: &Value) {
    let name = format!("{file}: {}", case["name"].as_str().expect("case name"));
    let engine = common::engine(case.get("policy").and_then(Value::as_str));
    let req = case.get("request").cloned().unwrap_or(Value::Null);
    let op: Operation = req
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("CREATE")
        .parse()
        .unwrap();
    let labels: BTreeMap<String, String> = req
        .get("namespaceLabels")
        .map(|l| serde_json::from_value(l.clone()).unwrap())
        .unwrap_or_default();
    let user = UserInfo {
        username: req
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or("alice")
            .into(),
        groups: strings(req.get("groups").unwrap_or(&Value::Null)),
    };
    let openshift = case
        .get("openshift")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let object = &case["object"];
    // `user: null` in a case: the identity is unknown (the plugin offline).
    let known_user = (req.get("user") != Some(&Value::Null)).then_some(&user);
    let request = Request::new(op, object)
        .with_old_object(case.get("old"))
        .in_namespace(
            req.get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("ml-team"),
        )
        .with_namespace_labels(&labels)
        .with_user(known_user)
        .with_openshift(openshift);
    let review = engine.admit(&request);
    let out = review
        .mutated(object)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let expect = &case["expect"];
    if let Some(set) = expect.get("set").and_then(Value::as_object) {
        for (ptr, want) in set {
            assert_eq!(out.pointer(ptr), Some(want), "{name}: {ptr} in {out:#}");
        }
    }
    for ptr in strings(expect.get("absent").unwrap_or(&Value::Null)) {
        assert!(
            out.pointer(&ptr).is_none(),
            "{name}: {ptr} should be absent in {out:#}"
        );
    }
    if let Some(v) = expect.get("violations") {
        let actual: Vec<String> = review.violations.iter().map(ToString::to_string).collect();
        match_all("violations", &name, &strings(v), &actual);
        if !actual.is_empty() {
            assert!(!review.allowed());
            for a in &actual {
                assert!(
                    review.message().contains(a.as_str()),
                    "{name}: message lacks {a}"
                );
            }
        }
    }
    if let Some(w) = expect.get("warnings") {
        match_all("warnings", &name, &strings(w), &review.warnings);
    }
    for w in &review.warnings {
        assert!(w.chars().count() <= 120, "{name}: warning too long: {w}");
    }
    if expect.get("patch_empty") == Some(&Value::Bool(true)) {
        assert!(review.patch.0.is_empty(), "{name}: patch should be empty");
    }
    if op == Operation::Create {
        let readmit = |o: &Value| engine.admit(&request.with_object(o));
        let full = engine.mutate_full_copy(&request);
        common::assert_patch_and_idempotence(object, &review, &full, &readmit, &name);
    }
}

#[test]
fn every_case_file() {
    let mut n = 0;
    let mut failed = Vec::new();
    for (file, text) in FILES {
        let cases = common::yaml(text);
        for case in cases.as_array().expect("a list of cases") {
            // Run every case and report all failures together, not the first only.
            if std::panic::catch_unwind(|| run_case(file, case)).is_err() {
                failed.push(format!("{file}: {}", case["name"]));
            }
            n += 1;
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {n} cases failed: {failed:#?}",
        failed.len()
    );
    assert!(n >= 60, "only {n} cases ran");
}
