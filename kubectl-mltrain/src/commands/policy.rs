//! `kubectl mltrain policy check`: the admission engine offline on any manifests, like `kyverno apply`.
//! Each object is admitted as a CREATE (an AdmissionReview, read by the webhook's own parser, keeps its
//! own operation, user and old object), and the report says what the webhook would add, warn about and
//! refuse.

use std::collections::BTreeMap;
use std::io::Read;

use mltrain_shared::admission::{Admission, AdmissionRequest, NamespaceLabels};
use mltrain_shared::{Engine, Policy, Request, Review, UserInfo};
use serde_json::Value;

use crate::cli::PolicyCheckArgs;
use crate::error::{CommandError, Exit};
use crate::output;

fn read(path: &std::path::Path) -> Result<String, CommandError> {
    let usage =
        |m: String| CommandError::Usage(vec![format!("-f {:?}: {m}", path.display().to_string())]);
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read it: {e}")))
    }
}

/// One document to check.
enum Doc {
    /// A manifest: admitted as a CREATE in `-n`'s namespace, by `--as` when given.
    Object(Value),
    /// An AdmissionReview, read by the webhook's own parser: it brings its own operation, user,
    /// namespace and old object.
    Review(Box<AdmissionRequest>),
}

/// Every document of a YAML or JSON text; `v1 List`s are flattened.
fn documents(text: &str, name: &str) -> Result<Vec<Doc>, CommandError> {
    let mut out = Vec::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let usage = |e: &dyn std::fmt::Display| {
            CommandError::Usage(vec![format!("-f {name:?}: document {}: {e}", i + 1)])
        };
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| usage(&e))?;
        let values = match v {
            Value::Null => Vec::new(),
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => m
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            other => vec![other],
        };
        for v in values {
            out.push(if v["kind"] == "AdmissionReview" {
                Doc::Review(Box::new(
                    AdmissionRequest::from_value(v).map_err(|e| usage(&e))?,
                ))
            } else {
                Doc::Object(v)
            });
        }
    }
    Ok(out)
}

/// The engine's decision on one document, and the object it is about.
fn admit<'d>(
    engine: &Engine,
    a: &PolicyCheckArgs,
    labels: &BTreeMap<String, String>,
    user: Option<&UserInfo>,
    doc: &'d Doc,
) -> (Review, &'d Value) {
    match doc {
        Doc::Object(obj) => {
            let request = Request::create(obj)
                .in_namespace(&a.namespace)
                .with_namespace_labels(labels)
                .with_user(user)
                .with_openshift(a.openshift);
            (engine.admit(&request), obj)
        }
        Doc::Review(request) => {
            let admission = Admission {
                engine,
                namespace_labels: NamespaceLabels::Every(labels),
                openshift: a.openshift,
            };
            // A subresource request is one the webhook lets pass without asking the engine.
            let review = admission.decide(request).unwrap_or_default();
            (review, request.subject().unwrap_or(&Value::Null))
        }
    }
}

/// The report's lines for one object.
fn report(report: &mut String, obj: &Value, review: &Review, show_patch: bool) {
    let handled = mltrain_shared::engine::is_handled(obj);
    let verdict = match (handled, review.allowed(), review.patch.0.len()) {
        (false, _, _) => "not a kind the policy applies to: passes unchanged".to_string(),
        (true, true, 0) => "allowed, nothing to change".to_string(),
        (true, true, n) => format!("allowed, {n} change{}", if n == 1 { "" } else { "s" }),
        (true, false, 0) => "REFUSED".to_string(),
        (true, false, n) => format!(
            "REFUSED (after {n} change{})",
            if n == 1 { "" } else { "s" }
        ),
    };
    *report += &format!("{}: {verdict}\n", output::name_of(obj));
    if show_patch && !review.patch.0.is_empty() {
        *report += &format!(
            "  patch: {}\n",
            serde_json::to_string(&review.patch).unwrap_or_default()
        );
    }
    for w in &review.warnings {
        *report += &format!("  warning: {w}\n");
    }
    for v in &review.violations {
        *report += &format!("  - {v}\n");
    }
}

pub fn run(a: &PolicyCheckArgs) -> Result<Exit, CommandError> {
    let policy = match &a.policy_file {
        Some(p) => Policy::load(p).map_err(|e| {
            CommandError::Usage(vec![format!(
                "--policy-file {:?}: {}",
                e.path.display().to_string(),
                e.problem
            )])
        })?,
        None => Policy::default(),
    };
    let engine = Engine::new(policy);
    let mut labels = BTreeMap::new();
    for kv in &a.namespace_label {
        let (k, v) = crate::args::key_value("--namespace-label", kv)?;
        labels.insert(k, v);
    }
    let user = a.user.as_ref().map(|u| UserInfo {
        username: u.clone(),
        groups: a.groups.clone(),
    });
    let mut docs = Vec::new();
    for f in &a.files {
        docs.extend(documents(&read(f)?, &f.display().to_string())?);
    }
    let mut text = String::new();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for doc in &docs {
        let (review, obj) = admit(&engine, a, &labels, user.as_ref(), doc);
        report(&mut text, obj, &review, a.show_patch);
        if !review.allowed() {
            refused += 1;
        }
        admitted.push(
            review
                .mutated(obj)
                .map_err(|e| CommandError::Failed(format!("error: {e}")))?,
        );
    }
    if user.is_none() && docs.iter().all(|d| matches!(d, Doc::Object(_))) {
        text += "note: approvals of priority classes are left to the cluster; give --as USER to check them\n";
    }
    text += &format!(
        "{} object{} checked, {refused} refused\n",
        docs.len(),
        if docs.len() == 1 { "" } else { "s" }
    );
    match a.output {
        Some(fmt) => {
            output::print(&output::format(&admitted, fmt));
            eprint!("{text}");
        }
        None => output::print(&text),
    }
    Ok(if refused > 0 { Exit::Refused } else { Exit::Ok })
}
