//! The Trainer's torch plugin (kubeflow/trainer `pkg/runtime/framework/plugins/torch/torch.go`,
//! `EnforceMLPolicy`): the trainer pod set counts the TrainJob's `numNodes` (else the runtime's),
//! and its `node` container gets the TrainJob's `env`, then `PET_NNODES`, `PET_NPROC_PER_NODE`
//! (`numProcPerNode`, default `auto`), `PET_NODE_RANK` (the completion index), `PET_MASTER_ADDR` =
//! `<trainjob>-node-0-0.<trainjob>` and `PET_MASTER_PORT`, and that port.

use serde_json::{Value, json};

use super::runtime_info::{Info, NODE, upsert};
use crate::behave::store;

const MASTER_PORT: u64 = 29400;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

pub fn enforce(info: &mut Info, tj: &Value) {
    let name = store::name(tj).to_string();
    let trainer = &tj["spec"]["trainer"];
    let Some(i) = info.trainer() else {
        return;
    };
    if let Some(n) = trainer["numNodes"].as_u64() {
        info.counts[i] = n;
    }
    let nodes = info.counts[i];
    let nproc = text(&trainer["numProcPerNode"])
        .or_else(|| text(&info.policy["torch"]["numProcPerNode"]))
        .unwrap_or_else(|| "auto".into());
    let env = trainer["env"].as_array().cloned().unwrap_or_default();
    for c in info.node_containers(i) {
        upsert(&mut c["env"], &env);
        upsert(
            &mut c["env"],
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
