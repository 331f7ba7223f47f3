//! A Kubeflow Trainer v2 TrainJob, as the rules see it.
//!
//! A TrainJob has no pod template of its own: the pod-level settings sit in `spec.runtimePatches[]`
//! (v2.3.0), patches of the runtime's replicated jobs, and the trainer container's image, command,
//! env and resources in `spec.trainer`, which the Trainer merges into the `node` container of the
//! runtime's `node` job (kubeflow/trainer `pkg/apis/trainer/v1alpha1/trainjob_types.go`,
//! `pkg/runtime/framework/plugins/jobset/builder.go`,
//! <https://github.com/kubeflow/trainer/blob/master/pkg/apis/trainer/v1alpha1/trainjob_types.go>).
//!
//! So the rules run on a *view* of each patch template: for the `node` job, its `node` container with
//! `spec.trainer`'s resources and env, so GPU, memory and NCCL rules see the real pod. Afterwards the
//! template is cut back to what a runtime patch may hold ([`restrict`]); what cannot be said there
//! (a priority class, envFrom, extra resources) is still enforced when the Trainer's JobSet and its
//! pods are admitted, which the webhook handles like any other.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::json::At;
use crate::vocab::trainer::NODE;

/// Pod spec fields a runtime patch may set (`PodSpecPatch`, v2.3.0).
const POD_FIELDS: [&str; 11] = [
    "affinity",
    "containers",
    "imagePullSecrets",
    "initContainers",
    "nodeSelector",
    "schedulingGates",
    "securityContext",
    "serviceAccountName",
    "terminationGracePeriodSeconds",
    "tolerations",
    "volumes",
];

/// Container fields a runtime patch may set (`ContainerPatch`).
const CONTAINER_FIELDS: [&str; 4] = ["env", "name", "securityContext", "volumeMounts"];

fn names(env: Option<&Value>) -> BTreeSet<String> {
    env.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("name").and_then(Value::as_str).map(String::from))
        .collect()
}

/// The template as the pod will be: the `node` container gets `spec.trainer`'s resources, and its
/// env after the patch's own.
pub fn view(template: &mut Map<String, Value>, trainer: &Value) {
    let Some(spec) = super::json::child_obj(template, "spec") else {
        return;
    };
    let Some(cs) = super::json::child_arr(spec, "containers") else {
        return;
    };
    if !cs.iter().any(|c| c.get("name") == Some(&json!(NODE))) {
        cs.push(json!({"name": NODE}));
    }
    let Some(c) = cs
        .iter_mut()
        .find(|c| c.get("name") == Some(&json!(NODE)))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Some(r) = trainer.get("resourcesPerNode") {
        c.insert("resources".into(), r.clone());
    }
    let own = names(c.get("env"));
    if let Some(extra) = trainer.get("env").and_then(Value::as_array) {
        let extra: Vec<Value> = extra
            .iter()
            .filter(|e| {
                e.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !own.contains(n))
            })
            .cloned()
            .collect();
        if let Some(env) = super::json::child_arr(c, "env") {
            env.extend(extra);
        }
    }
}

/// Cut a (viewed, mutated) template back to what a runtime patch may hold: drop `spec.trainer`'s env
/// (it stays in `spec.trainer`) and every field the patch schema has no place for. The env the rules
/// added to the `node` container of the `node` job's patch is taken out and returned: the Trainer
/// refuses env there, so it goes to `spec.trainer.env` instead.
pub fn restrict(
    template: &mut Map<String, Value>,
    trainer: Option<&Value>,
    original: &Value,
) -> Vec<Value> {
    let mut moved = Vec::new();
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else {
        return moved;
    };
    spec.retain(|k, _| POD_FIELDS.contains(&k.as_str()));
    let trainer_env = names(trainer.and_then(|t| t.get("env")));
    for field in ["containers", "initContainers"] {
        let Some(cs) = spec.get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for (i, c) in cs.iter_mut().enumerate() {
            let Some(c) = c.as_object_mut() else { continue };
            c.retain(|k, _| CONTAINER_FIELDS.contains(&k.as_str()));
            if field != "containers" || c.get("name") != Some(&json!(NODE)) {
                continue;
            }
            let orig_env = names(
                original
                    .at(&format!("/spec/{field}/{i}/env"))
                    .filter(|_| trainer.is_some()),
            );
            if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
                env.retain(|e| {
                    e.get("name")
                        .and_then(Value::as_str)
                        .is_none_or(|n| !trainer_env.contains(n) || orig_env.contains(n))
                });
                if trainer.is_some() {
                    // What the rules added (neither the patch's own nor the trainer's) moves out.
                    let (own, added): (Vec<Value>, Vec<Value>) = env.drain(..).partition(|e| {
                        e.get("name")
                            .and_then(Value::as_str)
                            .is_none_or(|n| orig_env.contains(n))
                    });
                    *env = own;
                    moved.extend(added);
                }
                if env.is_empty() {
                    c.remove("env");
                }
            }
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_then_restrict_gives_back_a_patch() {
        let trainer = json!({"resourcesPerNode": {"limits": {"nvidia.com/gpu": "8"}},
            "env": [{"name": "A", "value": "1"}]});
        let original = json!({"spec": {"containers": [{"name": "node"}]}});
        let mut t = original.as_object().unwrap().clone();
        view(&mut t, &trainer);
        let c = &t["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "8");
        assert_eq!(c["env"][0]["name"], "A");
        t["spec"]["priorityClassName"] = json!("x");
        t["spec"]["containers"][0]["envFrom"] = json!([]);
        assert!(restrict(&mut t, Some(&trainer), &original).is_empty());
        assert_eq!(Value::Object(t), original);
    }

    #[test]
    fn env_the_rules_add_to_the_node_container_moves_to_the_trainer() {
        let trainer = json!({"env": [{"name": "A", "value": "1"}]});
        let original = json!({"spec": {"containers": [{"name": "node",
            "env": [{"name": "MINE", "value": "x"}]}]}});
        let mut t = original.as_object().unwrap().clone();
        view(&mut t, &trainer);
        t["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "NCCL_DEBUG", "value": "INFO"}));
        let moved = restrict(&mut t, Some(&trainer), &original);
        assert_eq!(moved, [json!({"name": "NCCL_DEBUG", "value": "INFO"})]);
        assert_eq!(Value::Object(t), original);
    }
}
