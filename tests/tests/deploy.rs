//! `deploy/`: every manifest of the base, each overlay and the opt-in component, rendered by
//! `kubectl kustomize`, passes the real schemas; the webhook's own Deployment passes the admission
//! engine unchanged under the policy it ships with; the webhook rules cover exactly the engine's kinds.

use std::collections::BTreeSet;

use mltrain_shared::kinds::WORKLOADS;
use mltrain_shared::{Engine, Policy, Request, UserInfo};
use mltrain_tests::{kustomize, validate_manifests, validate_manifests_with, workspace_dir};
use serde_json::Value;

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn base_and_openshift_overlay_pass_the_schemas() {
    for dir in ["deploy/base", "deploy/overlays/openshift"] {
        let docs = kustomize(dir);
        assert!(docs.len() >= 12, "{dir}: {} documents", docs.len());
        let v = validate_manifests(&docs);
        assert!(v.ok, "{dir}:\n{}", v.output);
    }
    let os = kustomize("deploy/overlays/openshift");
    assert_eq!(
        find(&os, "Service")["metadata"]["annotations"]["service.beta.openshift.io/serving-cert-secret-name"],
        "mltrain-webhook-tls"
    );
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        assert_eq!(
            find(&os, kind)["metadata"]["annotations"]["service.beta.openshift.io/inject-cabundle"],
            "true"
        );
    }
}

#[test]
fn cert_manager_overlay_passes_the_schemas() {
    let docs = kustomize("deploy/overlays/cert-manager");
    // No cert-manager CRD is among the schemas here, so its two kinds are skipped by the validator
    // and checked field by field below; everything else is validated strictly.
    let v = validate_manifests_with(&docs, &["--allow-unknown-kinds"]);
    assert!(v.ok, "{}", v.output);
    let certs: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Certificate").collect();
    let serving = certs
        .iter()
        .find(|c| c["metadata"]["name"] == "mltrain-webhook")
        .expect("serving certificate");
    assert_eq!(serving["apiVersion"], "cert-manager.io/v1");
    assert_eq!(serving["spec"]["secretName"], "mltrain-webhook-tls");
    assert!(
        serving["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .contains(&Value::from("mltrain-webhook.mltrain-system.svc"))
    );
    assert_eq!(serving["spec"]["issuerRef"]["name"], "mltrain-ca");
    assert!(docs.iter().any(|d| d["kind"] == "Issuer"
        && d["metadata"]["name"] == "mltrain-ca"
        && d["spec"]["ca"]["secretName"] == "mltrain-webhook-ca"));
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        assert_eq!(
            find(&docs, kind)["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "mltrain-system/mltrain-webhook"
        );
    }
}

#[test]
fn opt_in_component_and_self_signed_script_pass_the_schemas() {
    let dir = mltrain_tests::scratch_dir("optin");
    let rel = pathdiff(&workspace_dir().join("deploy"), &dir);
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("resources: [{rel}/base]\ncomponents: [{rel}/components/opt-in]\n"),
    )
    .unwrap();
    let docs = kustomize(&dir);
    let v = validate_manifests(&docs);
    assert!(v.ok, "{}", v.output);
    let m = find(&docs, "MutatingWebhookConfiguration");
    assert_eq!(
        m["webhooks"][0]["namespaceSelector"],
        serde_json::json!({"matchLabels": {"mltrain.io/policy": "enabled"}})
    );

    let certs = mltrain_tests::scratch_dir("selfsigned");
    let out = std::process::Command::new("bash")
        .arg(workspace_dir().join("deploy/tls/self-signed.sh"))
        .args(["--dry-run", "--out-dir", certs.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = mltrain_tests::yaml_docs(&String::from_utf8_lossy(&out.stdout));
    let v = validate_manifests(&docs);
    assert!(v.ok, "{}", v.output);
    let secret = find(&docs, "Secret");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let ca = std::fs::read_to_string(certs.join("ca.crt")).unwrap();
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let b64 = find(&docs, kind)["webhooks"][0]["clientConfig"]["caBundle"]
            .as_str()
            .unwrap()
            .to_string();
        let decoded = std::process::Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b64.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&decoded.stdout),
            ca,
            "{kind}: caBundle is the generated CA"
        );
    }
}

/// Classes every cluster has (the API server creates them), which a policy may name without shipping.
const BUILT_IN_CLASSES: [&str; 2] = ["system-cluster-critical", "system-node-critical"];

/// The classes a policy document names as a default, as allowed, or as needing approval.
fn named_classes(docs: &[Value]) -> BTreeSet<String> {
    let text = find(docs, "ConfigMap")["data"]["policy.yaml"]
        .as_str()
        .unwrap()
        .to_string();
    let p = Policy::from_yaml(&text).expect("the shipped policy is valid");
    let mut names: BTreeSet<String> = p.priority.allowed.iter().cloned().collect();
    names.extend(p.priority.approval.classes.iter().cloned());
    if !p.priority.default.is_empty() {
        names.insert(p.priority.default.clone());
    }
    names
}

/// deploy/ installs every PriorityClass its policy names (or the policy names only built-in ones): the
/// API server refuses pods naming a missing class, so a policy naming one would stop every job.
#[test]
fn the_shipped_policies_name_only_classes_that_exist() {
    let installed = |docs: &[Value]| -> BTreeSet<String> {
        docs.iter()
            .filter(|d| d["kind"] == "PriorityClass")
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .chain(BUILT_IN_CLASSES.map(String::from))
            .collect()
    };
    let base = kustomize("deploy/base");
    assert!(
        named_classes(&base).is_subset(&installed(&base)),
        "base names {:?}",
        named_classes(&base)
    );
    let text = find(&base, "ConfigMap")["data"]["policy.yaml"]
        .as_str()
        .unwrap();
    assert!(Policy::from_yaml(text).unwrap().priority.default.is_empty());

    let dir = mltrain_tests::scratch_dir("mlbatch-priorities");
    let rel = pathdiff(&workspace_dir().join("deploy"), &dir);
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("resources: [{rel}/base]\ncomponents: [{rel}/components/mlbatch-priorities]\n"),
    )
    .unwrap();
    let docs = kustomize(&dir);
    let v = validate_manifests(&docs);
    assert!(v.ok, "{}", v.output);
    let named = named_classes(&docs);
    assert!(named.contains("default-priority"), "{named:?}");
    assert!(named.is_subset(&installed(&docs)), "{named:?}");
    // The component replaces only the priority block of the base policy.
    let p = |d: &[Value]| {
        let mut p = Policy::from_yaml(
            find(d, "ConfigMap")["data"]["policy.yaml"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        p.priority = Default::default();
        p
    };
    assert_eq!(p(&docs), p(&base));
}

/// `to` relative to `from` (both absolute, no symlinks involved).
fn pathdiff(to: &std::path::Path, from: &std::path::Path) -> String {
    let to = to.canonicalize().unwrap();
    let from = from.canonicalize().unwrap();
    let common = to
        .components()
        .zip(from.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut p: Vec<String> = vec!["..".into(); ups];
    p.extend(
        to.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    p.join("/")
}

fn admit(engine: &Engine, obj: &Value, openshift: bool) -> mltrain_shared::Review {
    let admin = UserInfo {
        username: "kubernetes-admin".into(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
    };
    engine.admit(
        &Request::create(obj)
            .in_namespace("mltrain-system")
            .with_user(Some(&admin))
            .with_openshift(openshift),
    )
}

#[test]
fn the_webhook_deployment_passes_its_own_policy_unchanged() {
    for (dir, openshift) in [("deploy/base", false), ("deploy/overlays/openshift", true)] {
        let docs = kustomize(dir);
        let policy_text = find(&docs, "ConfigMap")["data"]["policy.yaml"]
            .as_str()
            .unwrap()
            .to_string();
        let engine =
            Engine::new(Policy::from_yaml(&policy_text).expect("the shipped policy is valid"));
        let deployment = find(&docs, "Deployment");
        let review = admit(&engine, deployment, openshift);
        assert!(review.allowed(), "{dir}: {}", review.message());
        assert!(
            review.patch.0.is_empty(),
            "{dir}: the engine would change the webhook's own Deployment: {}",
            serde_json::to_string(&review.patch).unwrap()
        );
        assert!(review.warnings.is_empty(), "{dir}: {:?}", review.warnings);
    }
}

#[test]
fn webhook_rules_cover_exactly_the_kinds_the_engine_handles() {
    let docs = kustomize("deploy/base");
    let engine_kinds: BTreeSet<(String, String)> = WORKLOADS
        .iter()
        .map(|k| (k.api.group.to_string(), k.api.plural.to_string()))
        .collect();
    for (kind, ops) in [
        ("MutatingWebhookConfiguration", vec!["CREATE"]),
        ("ValidatingWebhookConfiguration", vec!["CREATE", "UPDATE"]),
    ] {
        let wh = &find(&docs, kind)["webhooks"][0];
        let mut listed = BTreeSet::new();
        for rule in wh["rules"].as_array().unwrap() {
            let ops_here: Vec<&str> = rule["operations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap())
                .collect();
            assert_eq!(ops_here, ops, "{kind}");
            for g in rule["apiGroups"].as_array().unwrap() {
                for r in rule["resources"].as_array().unwrap() {
                    listed.insert((
                        g.as_str().unwrap().to_string(),
                        r.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
        assert_eq!(
            listed, engine_kinds,
            "{kind}: rules and engine kinds differ"
        );
        assert_eq!(wh["sideEffects"], "None");
        assert_eq!(wh["admissionReviewVersions"], serde_json::json!(["v1"]));
        assert!(wh["timeoutSeconds"].as_u64().unwrap() <= 10);
        let excluded = &wh["namespaceSelector"]["matchExpressions"][0]["values"];
        for ns in ["kube-system", "mltrain-system"] {
            assert!(
                excluded.as_array().unwrap().contains(&Value::from(ns)),
                "{kind}: {ns} not excluded"
            );
        }
        assert_eq!(
            wh["namespaceSelector"]["matchExpressions"][1],
            serde_json::json!({"key": "mltrain.io/policy", "operator": "NotIn", "values": ["disabled"]})
        );
        assert!(
            wh["matchConditions"][0]["expression"]
                .as_str()
                .unwrap()
                .contains("openshift-")
        );
    }
    assert_eq!(
        find(&docs, "MutatingWebhookConfiguration")["webhooks"][0]["reinvocationPolicy"],
        "IfNeeded"
    );
}
