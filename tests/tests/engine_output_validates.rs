//! The engine's output must still be valid Kubernetes: every workload kind it handles, mutated under
//! the default policy, the full policy and with OpenShift adaptation, passes the real schemas
//! (`validate-manifests`). Also runs the engine on the AdmissionReview objects in `../shared/admission/`.

use mltrain_shared::admission::{Admission, AdmissionRequest, NamespaceLabels};
use mltrain_shared::{Engine, Operation, Policy, Request, UserInfo};
use mltrain_tests::{shared_dir, validate_manifests, yaml_docs};
use serde_json::Value;

const WORKLOADS: &str = include_str!("../../shared/tests/data/objects/workloads.yaml");
const FULL_POLICY: &str = include_str!("../../shared/tests/data/policy-full.yaml");

fn create(engine: &Engine, obj: &Value, openshift: bool) -> mltrain_shared::Review {
    let user = UserInfo::default();
    engine.admit(
        &Request::create(obj)
            .in_namespace("ml-team")
            .with_user(Some(&user))
            .with_openshift(openshift),
    )
}

#[test]
fn mutated_workloads_of_every_kind_pass_the_schemas() {
    let inputs = yaml_docs(WORKLOADS);
    assert_eq!(inputs.len(), mltrain_shared::kinds::WORKLOADS.len());
    let mut outputs = Vec::new();
    for (policy, openshift) in [("", false), (FULL_POLICY, false), (FULL_POLICY, true)] {
        let engine = Engine::new(Policy::from_yaml(policy).unwrap());
        for obj in &inputs {
            let review = create(&engine, obj, openshift);
            assert!(review.allowed(), "{}: {}", obj["kind"], review.message());
            assert!(
                !review.patch.0.is_empty(),
                "{}: every fixture is mutated",
                obj["kind"]
            );
            let mut patched = obj.clone();
            json_patch::patch(&mut patched, &review.patch).unwrap();
            outputs.push(patched);
        }
    }
    let v = validate_manifests(&outputs);
    assert!(v.ok, "{}", v.output);
    assert_eq!(
        v.output.matches("\nOK ").count() + 1,
        outputs.len(),
        "{}",
        v.output
    );
}

#[test]
fn admission_fixture_objects_mutate_into_valid_objects() {
    let dir = shared_dir().join("admission");
    let engine = Engine::new(Policy::from_yaml(FULL_POLICY).unwrap());
    let mut outputs = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("shared/admission") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        seen += 1;
        let request = AdmissionRequest::parse(&std::fs::read(&path).unwrap()).unwrap();
        let admission = Admission {
            engine: &engine,
            namespace_labels: NamespaceLabels::Unknown,
            openshift: false,
        };
        let r = admission.decide(&request).unwrap();
        let op = request.operation;
        assert!(r.allowed(), "{}: {}", path.display(), r.message());
        if op == Operation::Update {
            assert!(
                r.patch.0.is_empty(),
                "{}: UPDATE must not mutate",
                path.display()
            );
        }
        outputs.push(r.mutated(request.subject().unwrap()).unwrap());
    }
    assert!(
        seen >= 3,
        "expected the shared admission fixtures in {}",
        dir.display()
    );
    let v = validate_manifests(&outputs);
    assert!(v.ok, "{}", v.output);
}
