//! The pod's storage: PersistentVolumeClaims, NVMe scratch as a generic ephemeral volume, and the
//! `/dev/shm` size. Without a size, `/dev/shm` is the policy's to set; `--no-shm` asks it not to.

use serde_json::{Map, Value, json};

use super::volumes::Mounted;
use crate::model::TrainingJob;
use crate::vocab::mltrain::SHARED_MEMORY;

/// The claims, the scratch volume (with `NVME_MOUNT_PATH`) and `/dev/shm`.
pub fn volumes(job: &TrainingJob) -> Mounted {
    let s = &job.storage;
    let mut m = Mounted::default();
    for (i, v) in s.volumes.iter().enumerate() {
        let name = v
            .name
            .clone()
            .unwrap_or_else(|| format!("mltrain-volume-{i}"));
        let mut mount = json!({"name": name, "mountPath": v.mount_path});
        if v.read_only {
            mount["readOnly"] = json!(true);
        }
        m = m.and(Mounted::one(
            json!({"name": name, "persistentVolumeClaim": {"claimName": v.claim}}),
            mount,
        ));
    }
    if let Some(x) = &s.scratch {
        let mut claim = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": x.size}}});
        if let Some(sc) = &x.storage_class {
            claim["storageClassName"] = json!(sc);
        }
        m = m.and(Mounted {
            volumes: vec![
                json!({"name": "mltrain-scratch", "ephemeral": {"volumeClaimTemplate": {"spec": claim}}}),
            ],
            mounts: vec![json!({"name": "mltrain-scratch", "mountPath": x.mount_path})],
            env: vec![json!({"name": "NVME_MOUNT_PATH", "value": x.mount_path})],
        });
    }
    if let Some(size) = &s.shm_size {
        m = m.and(Mounted::one(
            json!({"name": "mltrain-shm", "emptyDir": {"medium": "Memory", "sizeLimit": size}}),
            json!({"name": "mltrain-shm", "mountPath": "/dev/shm"}),
        ));
    }
    m
}

/// `--no-shm`: the policy leaves `/dev/shm` alone.
pub fn annotations(job: &TrainingJob) -> Map<String, Value> {
    let mut m = Map::new();
    if job.storage.no_shm {
        m.insert(SHARED_MEMORY.into(), json!("false"));
    }
    m
}
