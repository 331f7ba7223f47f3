//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use mltrain_shared::{Engine, Policy, Request, Review, UserInfo};
use serde_json::Value;

/// Run `f` with a CREATE of `obj` by `alice` in namespace `ml-team`.
fn as_alice<T>(obj: &Value, openshift: bool, f: impl FnOnce(&Request<'_>) -> T) -> T {
    let user = UserInfo {
        username: "alice".into(),
        groups: vec![],
    };
    f(&Request::create(obj)
        .in_namespace("ml-team")
        .with_user(Some(&user))
        .with_openshift(openshift))
}

/// Admit `obj` as a CREATE by `alice` in namespace `ml-team`.
pub fn create(engine: &Engine, obj: &Value, openshift: bool) -> Review {
    as_alice(obj, openshift, |req| engine.admit(req))
}

/// The rules applied to a full copy (the independent reference for the patch).
pub fn full_copy(engine: &Engine, obj: &Value, openshift: bool) -> Value {
    as_alice(obj, openshift, |req| engine.mutate_full_copy(req))
}

/// The patch must apply to the input and give exactly what the rules produce when applied to a full
/// copy of the object (`full`, computed independently), and admitting the result again must change
/// nothing.
pub fn assert_patch_and_idempotence(
    input: &Value,
    review: &Review,
    full: &Value,
    readmit: &dyn Fn(&Value) -> Review,
    what: &str,
) {
    let mut patched = input.clone();
    json_patch::patch(&mut patched, &review.patch)
        .unwrap_or_else(|e| panic!("{what}: patch does not apply: {e}"));
    assert_eq!(
        &patched, full,
        "{what}: input + patch differs from the rules applied to a full copy"
    );
    assert_eq!(review.mutated(input).expect("the patch applies"), patched);
    let again = readmit(&patched);
    assert!(
        again.patch.0.is_empty(),
        "{what}: not idempotent, second pass patch: {}",
        serde_json::to_string(&again.patch).unwrap()
    );
    assert_eq!(
        again.violations, review.violations,
        "{what}: violations changed on the second pass"
    );
}

pub fn engine(policy_yaml: Option<&str>) -> Engine {
    Engine::new(Policy::from_yaml(policy_yaml.unwrap_or("")).expect("test policy"))
}

/// Parse YAML (with anchors) into JSON.
pub fn yaml(text: &str) -> Value {
    yaml_serde::from_str(text).expect("test YAML")
}
