//! The admission entry point on the AdmissionReviews kube-apiserver really sends (`../shared/admission`):
//! objects are read without `status` and `managedFields` and otherwise as sent, every review is answered
//! with its own uid, and `/mutate`'s patch is the engine's own.

use mltrain_shared::Engine;
use mltrain_shared::admission::{Admission, AdmissionRequest, Endpoint, NamespaceLabels};
use serde_json::Value;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = mltrain_tests::shared_dir().join("admission");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 3, "the shared fixtures in {}", dir.display());
    out
}

#[test]
fn fixture_objects_are_read_without_status_and_managed_fields() {
    for (name, raw) in fixtures() {
        let full: Value = serde_json::from_slice(&raw).unwrap();
        let request = AdmissionRequest::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (key, got) in [
            ("object", &request.object),
            ("oldObject", &request.old_object),
        ] {
            let mut want = full["request"][key].clone();
            if let Some(o) = want.as_object_mut() {
                o.remove("status");
            }
            if let Some(m) = want.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
            assert_eq!(got.clone().unwrap_or(Value::Null), want, "{name}: {key}");
        }
    }
}

#[test]
fn every_fixture_is_answered_with_its_uid_and_the_engines_patch() {
    let engine = Engine::default();
    let admission = Admission {
        engine: &engine,
        namespace_labels: NamespaceLabels::Unknown,
        openshift: false,
    };
    for (name, raw) in fixtures() {
        for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
            let answer = admission.review(endpoint, &raw).unwrap();
            let body: Value = serde_json::from_slice(&answer.response.to_body()).unwrap();
            assert_eq!(
                body["response"]["uid"],
                answer.request.uid.as_str(),
                "{name}"
            );
            assert_eq!(body["response"]["allowed"], true, "{name}");
            let review = admission.decide(&answer.request).unwrap();
            assert_eq!(
                body["response"].get("patch").is_some(),
                endpoint == Endpoint::Mutate && !review.patch.0.is_empty(),
                "{name}: {endpoint:?}"
            );
            let subject = answer.request.subject().unwrap();
            review
                .mutated(subject)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
