//! The Kubeflow Trainer v2 controller for TrainJobs on a torch runtime (kubeflow/trainer v2.3.0:
//! `pkg/controller/trainjob_controller.go`, `pkg/runtime/core/trainingruntime.go`,
//! `pkg/runtime/framework/plugins/jobset/builder.go`, `plugins/torch/torch.go`):
//! - the TrainJob's `runtimeRef` (kind ClusterTrainingRuntime by default) names the runtime; a missing
//!   one leaves the TrainJob without a JobSet (reported here, the controller only logs it);
//! - one JobSet named after the TrainJob, owned by it, from the runtime's `spec.template`, with the
//!   TrainJob's `spec.runtimePatches` merged in (by replicated job name; containers, volumes and env by
//!   name, maps key by key) and `spec.suspend` copied;
//! - `Trainer`: the replicated job labelled `trainer.kubeflow.org/trainjob-ancestor-step: trainer` gets
//!   `replicas: 1` and `parallelism = completions = numNodes` (the runtime's `mlPolicy.numNodes` when
//!   the TrainJob has none); the container named `node` of every replicated job gets the trainer's
//!   `image`, `command`, `args`, `resourcesPerNode`, and its `env` upserted;
//! - the torch plugin upserts `PET_NNODES`, `PET_NPROC_PER_NODE` (numProcPerNode, default `auto`),
//!   `PET_NODE_RANK` (the completion index), `PET_MASTER_ADDR` = `<trainjob>-node-0-0.<trainjob>`,
//!   `PET_MASTER_PORT` = 29400 on the trainer's `node` container, and port 29400;
//! - the TrainJob is `Complete` when its JobSet is, `Failed` when it failed; a TrainJob unsuspended
//!   (by Kueue) unsuspends its JobSet.
//!
//! The MPI plugin (the deepspeed-distributed runtime) is not modelled: a TrainJob on such a runtime is
//! reported as a problem, never run half-way.

use serde_json::{Map, Value, json};

use super::{has_condition, set_condition};
use crate::behave::store::{self, Store};

const ANCESTOR: &str = "trainer.kubeflow.org/trainjob-ancestor-step";
const NODE: &str = "node";
const MASTER_PORT: u64 = 29400;

/// Whether a TrainJob is finished, and how.
pub fn finished(tj: &Value) -> Option<bool> {
    if has_condition(tj, "Complete") {
        Some(true)
    } else if has_condition(tj, "Failed") {
        Some(false)
    } else {
        None
    }
}

/// Merge `patch` into `base` as server-side apply merges a patch: maps key by key, lists of objects
/// with a `name` by name, other lists replaced.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (Value::Array(b), Value::Array(p))
            if p.iter()
                .all(|x| x.get("name").is_some_and(Value::is_string)) =>
        {
            for item in p {
                match b.iter_mut().find(|x| x.get("name") == item.get("name")) {
                    Some(existing) => merge(existing, item),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn upsert_env(container: &mut Value, vars: &[Value]) {
    if !container["env"].is_array() {
        container["env"] = json!([]);
    }
    let env = container["env"].as_array_mut().expect("array");
    for v in vars {
        match env.iter_mut().find(|e| e["name"] == v["name"]) {
            Some(e) => *e = v.clone(),
            None => env.push(v.clone()),
        }
    }
}

/// The JobSet the Trainer makes of `tj` on `runtime`.
fn jobset(tj: &Value, runtime: &Value) -> Result<Value, String> {
    let name = store::name(tj).to_string();
    let policy = &runtime["spec"]["mlPolicy"];
    if policy.get("torch").is_none() {
        return Err(format!(
            "runtime {} is not a torch runtime: only the Trainer's torch plugin is modelled",
            store::name(runtime)
        ));
    }
    let mut spec = runtime["spec"]["template"]["spec"].clone();
    for p in tj["spec"]["runtimePatches"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let patched = &p["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"];
        for pr in patched.as_array().into_iter().flatten() {
            let rjs = spec["replicatedJobs"].as_array_mut();
            match rjs.and_then(|r| r.iter_mut().find(|rj| rj["name"] == pr["name"])) {
                Some(rj) => merge(&mut rj["template"], &pr["template"]),
                None => {
                    return Err(format!(
                        "runtime patch for unknown replicated job {}",
                        pr["name"]
                    ));
                }
            }
        }
    }
    let trainer = &tj["spec"]["trainer"];
    let nodes = trainer["numNodes"]
        .as_u64()
        .or_else(|| policy["numNodes"].as_u64())
        .unwrap_or(1);
    let nproc = match &trainer["numProcPerNode"] {
        Value::Null => match &policy["torch"]["numProcPerNode"] {
            Value::Null => "auto".to_string(),
            v => v
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string()),
        },
        v => v
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string()),
    };
    for rj in spec["replicatedJobs"].as_array_mut().into_iter().flatten() {
        let is_trainer = rj["template"]["metadata"]["labels"][ANCESTOR] == "trainer";
        if is_trainer {
            rj["replicas"] = json!(1);
            rj["template"]["spec"]["parallelism"] = json!(nodes);
            rj["template"]["spec"]["completions"] = json!(nodes);
        }
        let pod_spec = &mut rj["template"]["spec"]["template"]["spec"];
        for c in pod_spec["containers"].as_array_mut().into_iter().flatten() {
            if c["name"] != NODE {
                continue;
            }
            for f in ["image", "command", "args"] {
                if !trainer[f].is_null() {
                    c[f] = trainer[f].clone();
                }
            }
            if trainer["resourcesPerNode"].is_object() {
                c["resources"] = trainer["resourcesPerNode"].clone();
            }
            upsert_env(c, trainer["env"].as_array().map_or(&[], Vec::as_slice));
            if is_trainer {
                upsert_env(
                    c,
                    &[
                        json!({"name": "PET_NNODES", "value": nodes.to_string()}),
                        json!({"name": "PET_NPROC_PER_NODE", "value": nproc}),
                        json!({"name": "PET_NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}),
                        json!({"name": "PET_MASTER_ADDR", "value": format!("{name}-{NODE}-0-0.{name}")}),
                        json!({"name": "PET_MASTER_PORT", "value": MASTER_PORT.to_string()}),
                    ],
                );
                let ports = c["ports"].as_array().cloned().unwrap_or_default();
                if !ports.iter().any(|p| p["containerPort"] == MASTER_PORT) {
                    let mut ports = ports;
                    ports.push(json!({"containerPort": MASTER_PORT}));
                    c["ports"] = Value::from(ports);
                }
            }
        }
    }
    if tj["spec"]["suspend"] == true {
        spec["suspend"] = json!(true);
    }
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    if let Some(l) = runtime["spec"]["template"]["metadata"]["labels"].as_object() {
        meta.insert("labels".into(), Value::Object(l.clone()));
    }
    meta.insert("ownerReferences".into(), json!([store::controller_ref(tj)]));
    Ok(
        json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": meta, "spec": spec}),
    )
}

pub fn reconcile(store: &mut Store, ns: &str, problems: &mut Vec<String>) {
    for name in store.names("TrainJob") {
        let tj = store.get("TrainJob", &name).cloned().expect("trainjob");
        if finished(&tj).is_some() {
            continue;
        }
        if let Some(js) = store.get("JobSet", &name).cloned() {
            let suspended = tj["spec"]["suspend"] == true;
            if js["spec"]["suspend"] == true && !suspended {
                store.get_mut("JobSet", &name).expect("jobset")["spec"]["suspend"] = json!(false);
            }
            let tj = store.get_mut("TrainJob", &name).expect("trainjob");
            match super::jobset::finished(&js) {
                Some(true) => set_condition(tj, "Complete", "JobSetCompleted"),
                Some(false) => set_condition(tj, "Failed", "JobSetFailed"),
                None => {}
            }
            continue;
        }
        let r = &tj["spec"]["runtimeRef"];
        let kind = r["kind"].as_str().unwrap_or("ClusterTrainingRuntime");
        let rname = r["name"].as_str().unwrap_or("");
        let Some(runtime) = store.get(kind, rname).cloned() else {
            problems.push(format!("TrainJob {name}: {kind} {rname:?} not found"));
            continue;
        };
        match jobset(&tj, &runtime) {
            Ok(js) => {
                if let Err(e) = store.create(js, ns) {
                    problems.push(format!("TrainJob {name}: {e}"));
                }
            }
            Err(e) => problems.push(format!("TrainJob {name}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_merge_by_name_and_the_trainer_gets_pet_env() {
        let runtime = json!({"metadata": {"name": "torch-distributed"}, "spec": {"mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {"spec": {"replicatedJobs": [{"name": "node", "template": {
                "metadata": {"labels": {ANCESTOR: "trainer"}},
                "spec": {"template": {"spec": {"containers": [{"name": "node", "image": "pytorch/pytorch:x"}]}}}}}]}}}});
        let tj = json!({"metadata": {"name": "tj", "uid": "u"}, "spec": {
            "trainer": {"numNodes": 3, "numProcPerNode": 2, "command": ["torchrun"]},
            "runtimePatches": [{"manager": "m", "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [
                {"name": "node", "template": {"spec": {"template": {"spec": {
                    "containers": [{"name": "node", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                    "volumes": [{"name": "v", "emptyDir": {}}]}}}}}]}}}}]}});
        let js = jobset(&tj, &runtime).unwrap();
        let rj = &js["spec"]["replicatedJobs"][0];
        assert_eq!(rj["template"]["spec"]["parallelism"], 3);
        let c = &rj["template"]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "pytorch/pytorch:x");
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/v");
        let env: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            env,
            [
                "PET_NNODES",
                "PET_NPROC_PER_NODE",
                "PET_NODE_RANK",
                "PET_MASTER_ADDR",
                "PET_MASTER_PORT"
            ]
        );
        assert_eq!(c["env"][3]["value"], "tj-node-0-0.tj");
    }
}
