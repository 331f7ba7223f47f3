//! Rule 4 of DESIGN §4: NCCL and RoCE settings for GPU pods of multi-pod jobs, and the refusals of
//! RoCE GDR where it cannot work (one pod, or a container without GPUs).
//!
//! A variable, mount or resource the user set always wins: the policy only fills gaps. `IPC_LOCK` (needed
//! to pin RDMA memory) is outside Pod Security "restricted"; validation warns wherever it is present.

use serde_json::{Map, Value, json};

use super::facts::container_gpus;
use super::json::{child_arr, child_obj, free_volume_name, has_env, map_mounts_at};
use super::{Cx, Violation};

/// Where the topology ConfigMap is mounted (what NVIDIA's topology daemon uses).
pub const TOPOLOGY_DIR: &str = "/var/run/nvidia-topologyd";
/// The file in it that NCCL reads.
pub const TOPOLOGY_FILE: &str = "/var/run/nvidia-topologyd/virtualTopology.xml";

pub fn mutate(pod: &mut Map<String, Value>, cx: &mut Cx) {
    let n = &cx.policy.nccl;
    if cx.facts.gpus == 0 || !cx.facts.multi_pod {
        return;
    }
    if let Some(net) = &n.multi_nic_network
        && let Some(meta) = child_obj(pod, "metadata")
        && let Some(ann) = child_obj(meta, "annotations")
    {
        super::json::set_default(ann, crate::vocab::multus::NETWORKS, json!(net));
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let topo_volume = n
        .topology_config_map
        .as_ref()
        .map(|_| free_volume_name(spec, "mltrain-topology"));
    let mut mounted_topology = false;
    let gpu_resources = &cx.policy.resources.gpu_resources;
    if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
        for c in cs.iter_mut() {
            if container_gpus(c, gpu_resources) == 0 {
                continue;
            }
            let Some(c) = c.as_object_mut() else { continue };
            let mut new_env: Vec<Value> = n
                .env
                .iter()
                .filter(|(k, _)| !has_env(c, k))
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect();
            if let Some(vol) = &topo_volume {
                if !map_mounts_at(c, TOPOLOGY_DIR) {
                    if let Some(ms) = child_arr(c, "volumeMounts") {
                        ms.push(json!({"name": vol, "mountPath": TOPOLOGY_DIR, "readOnly": true}));
                    }
                    mounted_topology = true;
                }
                if !has_env(c, "NCCL_TOPO_FILE") {
                    new_env.push(json!({"name": "NCCL_TOPO_FILE", "value": TOPOLOGY_FILE}));
                }
            }
            if !new_env.is_empty()
                && let Some(env) = child_arr(c, "env")
            {
                env.extend(new_env);
            }
            if let Some(cm) = &n.env_config_map
                && let Some(from) = child_arr(c, "envFrom")
            {
                let present = from.iter().any(|e| {
                    e.get("configMapRef")
                        .and_then(|r| r.get("name"))
                        .and_then(Value::as_str)
                        == Some(cm.as_str())
                });
                if !present {
                    from.push(json!({"configMapRef": {"name": cm}}));
                }
            }
            if n.roce_gdr.count > 0 && add_roce(c, &n.roce_gdr.resource, n.roce_gdr.count) {
                add_ipc_lock(c);
            }
        }
    }
    if mounted_topology
        && let (Some(cm), Some(vol)) = (&n.topology_config_map, topo_volume)
        && let Some(vs) = child_arr(spec, "volumes")
    {
        vs.push(json!({"name": vol, "configMap": {"name": cm}}));
    }
}

/// Request RoCE GDR devices (requests = limits, as for every extended resource) unless the user
/// asked for any; returns whether the container now uses them.
fn add_roce(c: &mut Map<String, Value>, resource: &str, count: u32) -> bool {
    let Some(res) = child_obj(c, "resources") else {
        return false;
    };
    let set_by_user = ["requests", "limits"]
        .iter()
        .any(|k| res.get(*k).and_then(|m| m.get(resource)).is_some());
    if set_by_user {
        return true;
    }
    for k in ["requests", "limits"] {
        if let Some(m) = child_obj(res, k) {
            m.insert(resource.to_string(), json!(count.to_string()));
        }
    }
    true
}

fn add_ipc_lock(c: &mut Map<String, Value>) -> bool {
    let Some(add) = child_obj(c, "securityContext")
        .and_then(|sc| child_obj(sc, "capabilities"))
        .and_then(|caps| child_arr(caps, "add"))
    else {
        return false;
    };
    if add
        .iter()
        .any(|v| matches!(v.as_str(), Some("IPC_LOCK" | "CAP_IPC_LOCK")))
    {
        return false;
    }
    add.push(json!("IPC_LOCK"));
    true
}

pub fn validate(pod: &Value, cx: &Cx, out: &mut Vec<Violation>) {
    let Some(spec) = pod.get("spec") else { return };
    let resource = cx.policy.nccl.roce_gdr.resource.as_str();
    for (field, i, c) in super::json::containers(spec) {
        let Some(n) = super::facts::container_resource(c, resource) else {
            continue;
        };
        if n.is_zero() {
            continue;
        }
        let path = cx.path.key("spec").key(field).index(i).key("resources");
        if !cx.facts.multi_pod {
            out.push(Violation::new(
                path.clone(),
                format!("{resource} is requested by a single-pod job; GPUDirect RDMA only helps between pods: remove it or run more than one pod"),
            ));
        }
        if container_gpus(c, &cx.policy.resources.gpu_resources) == 0 {
            out.push(Violation::new(
                path,
                format!("{resource} is requested by a container without GPUs; request GPUs in the same container or remove it"),
            ));
        }
    }
}
