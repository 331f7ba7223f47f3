//! Rule 5 of DESIGN §4: keep pods off faulty nodes, and refuse malformed host lists.
//!
//! The policy's cluster-wide list, the job's `mltrain.io/host-ignore-list` annotation and the optional
//! node-health rule become `NotIn` requirements ANDed into *every* required node-selector term: terms
//! are ORed, so adding the requirement to one term only would let the pod escape through another.
//! Reference: <https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#node-affinity>.

use serde_json::{Map, Value, json};

use super::facts::split_host_list;
use super::json::{At, FieldPath, child_arr, child_obj};
use super::{Cx, Violation};
use crate::names;
use crate::vocab::kubernetes::HOSTNAME;
use crate::vocab::mltrain::HOST_IGNORE_LIST;

pub fn mutate(pod: &mut Map<String, Value>, cx: &mut Cx) {
    let mut requirements: Vec<(&str, &[String])> = Vec::new();
    if !cx.facts.host_ignore.is_empty() {
        requirements.push((HOSTNAME, &cx.facts.host_ignore));
    }
    if let Some(rule) = &cx.policy.hosts.node_health {
        requirements.push((&rule.key, &rule.not_in));
    }
    if requirements.is_empty() {
        return;
    }
    let Some(required) = child_obj(pod, "spec")
        .and_then(|s| child_obj(s, "affinity"))
        .and_then(|a| child_obj(a, "nodeAffinity"))
        .and_then(|n| child_obj(n, "requiredDuringSchedulingIgnoredDuringExecution"))
    else {
        return;
    };
    let Some(terms) = child_arr(required, "nodeSelectorTerms") else {
        return;
    };
    if terms.is_empty() {
        terms.push(json!({}));
    }
    for term in terms.iter_mut().filter_map(Value::as_object_mut) {
        let Some(exprs) = child_arr(term, "matchExpressions") else {
            continue;
        };
        for (key, values) in &requirements {
            add_not_in(exprs, key, values);
        }
    }
}

/// Merge `values` into the term's `key NotIn` expression, or add one. An expression on the same key
/// with another operator is the user's choice and stays as it is beside ours.
fn add_not_in(exprs: &mut Vec<Value>, key: &str, values: &[String]) {
    let existing = exprs.iter_mut().find(|e| {
        e.get("key").and_then(Value::as_str) == Some(key)
            && e.get("operator").and_then(Value::as_str) == Some("NotIn")
    });
    match existing
        .and_then(|e| e.as_object_mut())
        .and_then(|e| child_arr(e, "values"))
    {
        Some(have) => {
            for v in values {
                if !have.iter().any(|h| h.as_str() == Some(v)) {
                    have.push(json!(v));
                }
            }
        }
        None => exprs.push(json!({"key": key, "operator": "NotIn", "values": values})),
    }
}

pub fn validate(pod: &Value, cx: &mut Cx, out: &mut Vec<Violation>) {
    let max = cx.policy.hosts.max_entries;
    let spec_path = || cx.path.key("spec");
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    if let Some(node) = spec.get("nodeName").and_then(Value::as_str)
        && cx.facts.host_ignore.iter().any(|h| h == node)
    {
        out.push(Violation::new(
            spec_path().key("nodeName"),
            format!("nodeName {node:?} is on the host ignore list (a faulty node); remove nodeName and let the scheduler pick a healthy node"),
        ));
    }
    let terms = spec
        .at("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array);
    let terms_path = || {
        spec_path()
            .key("affinity")
            .key("nodeAffinity")
            .key("requiredDuringSchedulingIgnoredDuringExecution")
            .key("nodeSelectorTerms")
    };
    for (t, term) in terms.into_iter().flatten().enumerate() {
        let exprs = term.get("matchExpressions").and_then(Value::as_array);
        for (e, expr) in exprs.into_iter().flatten().enumerate() {
            if expr.get("key").and_then(Value::as_str) != Some(HOSTNAME) {
                continue;
            }
            let path = terms_path()
                .index(t)
                .key("matchExpressions")
                .index(e)
                .key("values");
            let values: Vec<&str> = expr
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            check_hosts(
                &path,
                values.iter().copied(),
                &cx.facts.host_ignore,
                max,
                out,
            );
            if expr.get("operator").and_then(Value::as_str) == Some("In") {
                for v in &values {
                    if cx.facts.host_ignore.iter().any(|h| h == v) {
                        cx.warn_at(
                            &format!("node {v} is on the host ignore list"),
                            path.dotted(),
                        );
                    }
                }
            }
        }
    }
}

/// Check the `mltrain.io/host-ignore-list` annotation of one metadata object.
pub fn validate_annotation(meta: &Value, meta_path: &FieldPath, cx: &Cx, out: &mut Vec<Violation>) {
    let Some(list) = super::json::str_at(meta, &["annotations", HOST_IGNORE_LIST]) else {
        return;
    };
    let path = meta_path.key("annotations").key(HOST_IGNORE_LIST);
    if list.trim().is_empty() {
        return;
    }
    check_hosts(
        &path,
        split_host_list(list),
        &[],
        cx.policy.hosts.max_entries,
        out,
    );
}

/// Every entry a node name, none empty, at most `max` of them. Entries in `known` (the policy's list and
/// the annotations, checked where they are written) do not count again: the engine copies them into
/// node affinity itself.
fn check_hosts<'a>(
    path: &FieldPath,
    hosts: impl Iterator<Item = &'a str>,
    known: &[String],
    max: usize,
    out: &mut Vec<Violation>,
) {
    let mut n = 0;
    for (i, host) in hosts.enumerate() {
        if known.iter().any(|h| h == host) {
            continue;
        }
        n += 1;
        if host.is_empty() {
            out.push(Violation::new(
                path.clone(),
                format!("entry {i} of the host list is empty; remove the extra comma"),
            ));
        } else if let Err(problem) = names::dns1123_subdomain(host) {
            out.push(Violation::new(
                path.clone(),
                format!("{host:?} is not a valid node name ({problem}); use the node's name as `kubectl get nodes` shows it"),
            ));
        }
    }
    if n > max {
        out.push(Violation::new(
            path.clone(),
            format!("the host list has {n} entries, more than the cluster maximum of {max}; ask an admin to cordon nodes instead"),
        ));
    }
}
