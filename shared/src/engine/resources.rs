//! Resource refusals of DESIGN §4: GPU request ≠ limit, limits below requests, unreadable quantities,
//! and more GPUs per pod than the cluster allows.
//!
//! The API server refuses some of these too, but with messages that do not say what to change; a pod
//! template error there shows up only as pods that never appear.

use serde_json::Value;

use super::{Cx, Violation};
use crate::quantity::{self, Quantity};

pub fn validate(pod: &Value, cx: &Cx, out: &mut Vec<Violation>) {
    let Some(spec) = pod.get("spec") else { return };
    let gpu_names = &cx.policy.resources.gpu_resources;
    for (field, i, c) in super::json::containers(spec) {
        let Some(res) = c.get("resources") else {
            continue;
        };
        // Built only for a violation: this loop runs for every container of every pod.
        let path = || cx.path.key("spec").key(field).index(i).key("resources");
        let read = |kind: &str| -> Vec<(String, Result<Quantity, String>)> {
            res.get(kind)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), quantity::from_json(v).map_err(|e| e.to_string())))
                .collect()
        };
        let (requests, limits) = (read("requests"), read("limits"));
        for (kind, list) in [("requests", &requests), ("limits", &limits)] {
            for (name, q) in list {
                if let Err(e) = q {
                    out.push(Violation::new(path().key(kind).key(name), e.clone()));
                }
            }
        }
        let find = |list: &[(String, Result<Quantity, String>)], name: &str| {
            list.iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, q)| q.as_ref().ok().copied())
        };
        for (name, req) in &requests {
            let Ok(req) = req else { continue };
            let lim = find(&limits, name);
            let gpu = gpu_names.iter().any(|g| g == name);
            match lim {
                Some(lim) if gpu && lim != *req => out.push(Violation::new(
                    path().key("limits").key(name),
                    format!("{name} request {req} differs from its limit {lim}; GPUs cannot be shared, so set both to the same number"),
                )),
                Some(lim) if lim < *req => out.push(Violation::new(
                    path().key("limits").key(name),
                    format!("{name} limit {lim} is below its request {req}; raise the limit to at least the request"),
                )),
                None if gpu => out.push(Violation::new(
                    path().key("limits").key(name),
                    format!("{name} is requested ({req}) without a limit; set limits.{name} to {req}"),
                )),
                _ => {}
            }
        }
    }
    let max = cx.policy.resources.max_gpus_per_pod;
    if max > 0 && cx.facts.gpus > i128::from(max) {
        out.push(Violation::new(
            cx.path.key("spec"),
            format!(
                "the pod requests {} GPUs, more than the {max} per pod this cluster allows; use at most {max} GPUs per pod and more pods (--world-size)",
                cx.facts.gpus
            ),
        ));
    }
}
