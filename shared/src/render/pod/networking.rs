//! The pod's side of GPU networking: a secondary network (Multus), the cluster's NCCL settings from a
//! ConfigMap, and an NCCL topology file. RoCE GDR devices are resources ([`super::container`]) and
//! need `IPC_LOCK` ([`super::security`]).

use serde_json::{Map, Value, json};

use super::volumes::Mounted;
use crate::engine::nccl::{TOPOLOGY_DIR, TOPOLOGY_FILE};
use crate::model::TrainingJob;
use crate::vocab::multus::NETWORKS;

/// The topology ConfigMap mounted where NCCL is told to read it.
pub fn topology(job: &TrainingJob) -> Mounted {
    let Some(cm) = &job.networking.topology_config_map else {
        return Mounted::default();
    };
    Mounted {
        volumes: vec![json!({"name": "mltrain-topology", "configMap": {"name": cm}})],
        mounts: vec![
            json!({"name": "mltrain-topology", "mountPath": TOPOLOGY_DIR, "readOnly": true}),
        ],
        env: vec![json!({"name": "NCCL_TOPO_FILE", "value": TOPOLOGY_FILE})],
    }
}

/// The NCCL settings ConfigMap as environment.
pub fn env_from(job: &TrainingJob) -> Option<Value> {
    let cm = job.networking.nccl_env_config_map.as_ref()?;
    Some(json!({"configMapRef": {"name": cm}}))
}

/// The Multus network the pod attaches to.
pub fn annotations(job: &TrainingJob) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(net) = &job.networking.multi_nic_network {
        m.insert(NETWORKS.into(), json!(net));
    }
    m
}
