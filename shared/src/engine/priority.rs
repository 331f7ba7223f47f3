//! Rule 6 of DESIGN §4 and the priority refusals: the default priority class for workloads, the
//! allowed classes (also Kueue's `kueue.x-k8s.io/priority-class` label), and approval for the classes
//! that need it.
//!
//! Bare Pods are validated but never defaulted: the API server's Priority admission plugin runs before
//! webhooks and has already resolved the class into `spec.priority`, so a name added now would not take
//! effect (<https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#priority>).

use serde_json::{Map, Value, json};

use super::json::{At, FieldPath, child_obj, has};
use super::{Cx, Violation};
use crate::vocab::kueue::PRIORITY_CLASS;

pub fn mutate(pod: &mut Map<String, Value>, cx: &mut Cx) {
    let default = &cx.policy.priority.default;
    if cx.facts.bare_pod || default.is_empty() {
        return;
    }
    let Some(spec) = child_obj(pod, "spec") else {
        return;
    };
    // A template that pins a numeric priority would be refused beside a class of another value.
    if has(spec, "priorityClassName") || has(spec, "priority") {
        return;
    }
    spec.insert("priorityClassName".into(), json!(default));
}

pub fn validate(pod: &Value, cx: &Cx, out: &mut Vec<Violation>) {
    if let Some(class) = pod
        .get("spec")
        .and_then(|s| s.get("priorityClassName"))
        .and_then(Value::as_str)
    {
        check_class(
            || cx.path.key("spec").key("priorityClassName"),
            class,
            pod,
            cx,
            out,
        );
    }
}

/// Check the Kueue priority label on one metadata object.
pub fn validate_label(obj: &Value, meta_path: &FieldPath, cx: &Cx, out: &mut Vec<Violation>) {
    let meta = obj.get("metadata").unwrap_or(&Value::Null);
    if let Some(class) = super::json::str_at(meta, &["labels", PRIORITY_CLASS]) {
        check_class(
            || meta_path.key("labels").key(PRIORITY_CLASS),
            class,
            obj,
            cx,
            out,
        );
    }
}

fn check_class(
    path: impl Fn() -> FieldPath,
    class: &str,
    obj: &Value,
    cx: &Cx,
    out: &mut Vec<Violation>,
) {
    let p = &cx.policy.priority;
    if !p.allowed.is_empty() && !p.allowed.iter().any(|a| a == class) {
        out.push(Violation::new(
            path(),
            format!(
                "priority class {class:?} is not allowed in this cluster; use one of: {}",
                p.allowed.join(", ")
            ),
        ));
        return;
    }
    if !p.approval.classes.iter().any(|c| c == class) {
        return;
    }
    let Some(user) = cx.request.user else {
        // Offline (the plugin without a cluster): who asks, and the namespace's labels, are unknown.
        return;
    };
    if !approved(obj, user, cx) {
        let how = match cx.policy.approval_label() {
            Some((k, v)) => format!(
                "ask a cluster admin to label namespace {} with {k}={v}, or ",
                cx.request.namespace
            ),
            None => "ask a cluster admin for approval, or ".into(),
        };
        let fallback = if p.default.is_empty() {
            "another class"
        } else {
            p.default.as_str()
        };
        out.push(Violation::new(
            path(),
            format!("priority class {class:?} needs approval and user {:?} has none; {how}use {fallback}", user.username),
        ));
    }
}

/// Approved: a listed user or group, a labelled namespace, or a controller acting for an owner that
/// was itself admitted (pods of an approved Job are created by the job controller's service account).
fn approved(obj: &Value, user: &crate::engine::UserInfo, cx: &Cx) -> bool {
    let a = &cx.policy.priority.approval;
    if a.users.contains(&user.username) || user.groups.iter().any(|g| a.groups.contains(g)) {
        return true;
    }
    if let Some((k, v)) = cx.policy.approval_label()
        && cx.request.namespace_labels.get(k).map(String::as_str) == Some(v)
    {
        return true;
    }
    let controlled = obj
        .at("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("controller") == Some(&Value::Bool(true)))
        });
    controlled && user.username.starts_with("system:serviceaccount:")
}
