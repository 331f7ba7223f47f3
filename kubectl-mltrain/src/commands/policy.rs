//! `kubectl mltrain policy check`: the admission engine offline on any manifests, like `kyverno apply`.
//! Each object is admitted as a CREATE (an AdmissionReview, read by the webhook's own parser, keeps its
//! own operation, user and old object), and the report says what the webhook would add, warn about and
//! refuse.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use mltrain_shared::admission::{Admission, AdmissionRequest, NamespaceLabels};
use mltrain_shared::{Engine, Policy, Request, Review, UserInfo};
use serde_json::Value;

use crate::cli::PolicyCheckArgs;
use crate::error::{CommandError, Exit, FileError, Problem, UsageError};
use crate::output;

/// A problem with a `-f` file.
fn file_problem(path: &Path, source: FileError) -> Problem {
    Problem::File {
        flag: "-f",
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path) -> Result<String, Problem> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| file_problem(path, FileError::Stdin(e)))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| file_problem(path, FileError::Read(e)))
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
fn documents(text: &str, path: &Path) -> Result<Vec<Doc>, Problem> {
    let mut out = Vec::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let number = i + 1;
        let v: Value = serde::Deserialize::deserialize(doc)
            .map_err(|source| file_problem(path, FileError::Document { number, source }))?;
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
            out.push(if v["kind"] == mltrain_shared::admission::KIND {
                let request = AdmissionRequest::from_value(v)
                    .map_err(|source| file_problem(path, FileError::Review { number, source }))?;
                Doc::Review(Box::new(request))
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

pub fn run(a: &PolicyCheckArgs) -> Result<Exit, CommandError> {
    let policy = match &a.policy_file {
        Some(p) => crate::policy_file::load(p)?,
        None => Policy::default(),
    };
    let engine = Engine::new(policy);
    let labels = namespace_labels(&a.namespace_label)?;
    let user = a.user.as_ref().map(|u| UserInfo {
        username: u.clone(),
        groups: a.groups.clone(),
    });
    let docs = every_document(&a.files)?;
    let mut report = String::new();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for doc in &docs {
        let (review, obj) = admit(&engine, a, &labels, user.as_ref(), doc);
        report += &describe(obj, &review, a.show_patch);
        if !review.allowed() {
            refused += 1;
        }
        admitted.push(review.mutated(obj)?);
    }
    if user.is_none() && docs.iter().all(|d| matches!(d, Doc::Object(_))) {
        report += "note: approvals of priority classes are left to the cluster; give --as USER to check them\n";
    }
    report += &format!(
        "{} object{} checked, {refused} refused\n",
        docs.len(),
        if docs.len() == 1 { "" } else { "s" }
    );
    match a.output {
        Some(fmt) => {
            output::print(&output::format(&admitted, fmt))?;
            eprint!("{report}");
        }
        None => output::print(&report)?,
    }
    Ok(if refused > 0 { Exit::Refused } else { Exit::Ok })
}

/// `--namespace-label K=V`, repeated.
fn namespace_labels(flags: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    flags
        .iter()
        .map(|kv| crate::args::key_value("--namespace-label", kv))
        .collect()
}

/// The documents of every `-f` file, in order.
fn every_document(files: &[PathBuf]) -> Result<Vec<Doc>, Problem> {
    let mut docs = Vec::new();
    for f in files {
        docs.extend(documents(&read(f)?, f)?);
    }
    Ok(docs)
}

/// One object's part of the report: the verdict, the patch (with `--show-patch`), warnings and
/// violations.
fn describe(obj: &Value, review: &Review, show_patch: bool) -> String {
    let handled = mltrain_shared::engine::is_handled(obj);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let verdict = match (handled, review.allowed(), review.patch.0.len()) {
        (false, _, _) => "not a kind the policy applies to: passes unchanged".to_string(),
        (true, true, 0) => "allowed, nothing to change".to_string(),
        (true, true, n) => format!("allowed, {n} change{}", plural(n)),
        (true, false, 0) => "REFUSED".to_string(),
        (true, false, n) => format!("REFUSED (after {n} change{})", plural(n)),
    };
    let mut s = format!("{}: {verdict}\n", output::name_of(obj));
    if show_patch && !review.patch.0.is_empty() {
        s += &format!(
            "  patch: {}\n",
            serde_json::to_string(&review.patch).unwrap_or_default()
        );
    }
    for w in &review.warnings {
        s += &format!("  warning: {w}\n");
    }
    for v in &review.violations {
        s += &format!("  - {v}\n");
    }
    s
}
