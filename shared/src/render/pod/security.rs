//! The security settings the user asked for. The policy's security context is the engine's to add,
//! so the preview and the cluster agree.

use serde_json::{Map, Value, json};

use crate::model::TrainingJob;

/// The pod's `securityContext`: the user's uid, gid and fsGroup.
pub fn pod(job: &TrainingJob) -> Option<Value> {
    let sec = &job.security;
    let ids: Map<String, Value> = [
        ("runAsUser", sec.run_as_user),
        ("runAsGroup", sec.run_as_group),
        ("fsGroup", sec.fs_group),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), json!(v?))))
    .collect();
    (!ids.is_empty()).then_some(Value::Object(ids))
}

/// The training container's `securityContext`: RoCE GDR pins memory for RDMA, which needs `IPC_LOCK`.
pub fn container(job: &TrainingJob) -> Option<Value> {
    (job.networking.roce_gdr > 0).then(|| json!({"capabilities": {"add": ["IPC_LOCK"]}}))
}
