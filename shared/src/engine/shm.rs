//! Rule 3 of DESIGN §4: a memory-backed `/dev/shm` for training pods.
//!
//! Containers get 64 MiB of `/dev/shm` by default; PyTorch's DataLoader workers and NCCL's shared-memory
//! transport need far more and crash with "bus error" without it. The size limit defaults to half the
//! pod's memory limit because tmpfs pages count against that limit.

use serde_json::{Map, Value, json};

use super::Cx;
use super::json::{child_arr, free_volume_name, mounts_at};

pub fn mutate(pod: &mut Map<String, Value>, cx: &mut Cx) {
    let f = cx.facts;
    if !cx.policy.shared_memory.enabled || !f.training || f.shm_opt_out {
        return;
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(containers) = spec.get("containers").and_then(Value::as_array) else {
        return;
    };
    if containers.is_empty() || containers.iter().any(|c| mounts_at(c, "/dev/shm")) {
        return;
    }
    let size = cx.policy.shm_size_limit().or_else(|| {
        f.memory_limit.map(|m| {
            m.scale_floor_units(u64::from(cx.policy.shared_memory.memory_limit_percent), 100)
        })
    });
    let name = free_volume_name(spec, "mltrain-shm");
    let mut empty_dir = json!({"medium": "Memory"});
    match size {
        Some(s) if !s.is_zero() => empty_dir["sizeLimit"] = json!(s.to_binary_string()),
        _ => cx.warn("/dev/shm has no size limit because the pod has no memory limit"),
    }
    if let Some(vs) = child_arr(spec, "volumes") {
        vs.push(json!({"name": name, "emptyDir": empty_dir}));
    }
    if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(ms) = child_arr(c, "volumeMounts") {
                ms.push(json!({"name": name, "mountPath": "/dev/shm"}));
            }
        }
    }
}
