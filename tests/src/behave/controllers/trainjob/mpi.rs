//! The Trainer's MPI plugin (kubeflow/trainer `pkg/runtime/framework/plugins/mpi/mpi.go`; names and
//! values from `pkg/constants/constants.go`), for runtimes with `mlPolicy.mpi` such as
//! `deepspeed-distributed`:
//! - `Validate`: `numNodes >= 2` with `runLauncherAsNode` needs both a `launcher` and a `node` job;
//! - `EnforceMLPolicy`: with the TrainJob's `numNodes`, the `node` pod set counts `numNodes - 1` (at
//!   least 1) when `runLauncherAsNode`, else `numNodes` (the launcher's count stays the runtime's
//!   `numNodes`); `numProcPerNode` is the TrainJob's, else the runtime's, and a runtime value of 1
//!   becomes the GPUs per node (`GetNumGPUPerNode`: the first resource whose name has `gpu`, from
//!   requests else limits, of the TrainJob's `resourcesPerNode` else the runtime's trainer
//!   container) when more than 1; the `node` and `launcher` pod sets get volume `mpi-ssh-auth`
//!   (Secret `<trainjob>-mpi-ssh-auth`, `defaultMode` 0640, `ssh-privatekey` as `id_rsa`,
//!   `ssh-publickey` as `id_rsa.pub` and `authorized_keys`) mounted at `mpi.sshAuthMountPath` in
//!   their containers named `node`; the launcher also gets volume `mpi-hostfile` (ConfigMap
//!   `<trainjob>-mpi-hostfile`, item `hostfile` mode 0444) at `/etc/mpi`, and for OpenMPI (the only
//!   implementation) `OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile`,
//!   `OMPI_MCA_orte_keep_fqdn_hostnames=true`, `OMPI_MCA_orte_set_default_slots=<numProcPerNode>` and
//!   `OMPI_MCA_plm_rsh_args=-o ConnectionAttempts=10`;
//! - `Build`: the Secret (type `kubernetes.io/ssh-auth`, immutable, made once: an existing one is
//!   kept) and the ConfigMap with `hostfile`: `<endpoint> slots=<numProcPerNode>` for each pod of the
//!   pod sets in the runtime's order, the launcher's only with `runLauncherAsNode`; both owned by the
//!   TrainJob.

use base64::Engine as _;
use serde_json::{Value, json};

use super::runtime_info::{Info, LAUNCHER, NODE, upsert};
use crate::behave::controllers::ssh_keys;
use crate::behave::store;

const SSH_VOLUME: &str = "mpi-ssh-auth";
const HOSTFILE_VOLUME: &str = "mpi-hostfile";
const HOSTFILE_DIR: &str = "/etc/mpi";

pub fn secret_name(tj: &Value) -> String {
    format!("{}-mpi-ssh-auth", store::name(tj))
}

fn hostfile_name(tj: &Value) -> String {
    format!("{}-mpi-hostfile", store::name(tj))
}

fn launcher_as_node(info: &Info) -> bool {
    info.policy["mpi"]["runLauncherAsNode"] == true
}

/// `GetNumGPUPerNode` of a `resources` object.
fn gpus(resources: &Value) -> u64 {
    let of = |section: &str| {
        resources[section]
            .as_object()
            .into_iter()
            .flatten()
            .find(|(k, _)| k.to_lowercase().contains("gpu"))
            .and_then(|(_, v)| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(0)
    };
    match of("requests") {
        0 => of("limits"),
        n => n,
    }
}

/// `ExtractResourcePerNodeFromRuntime`: the resources of the first `node` container that has them,
/// in the replicated jobs named `node` or labelled as the trainer.
fn runtime_resources(info: &mut Info) -> Value {
    let candidates: Vec<usize> = (0..info.counts.len())
        .filter(|i| Some(*i) == info.index_of(NODE) || Some(*i) == info.trainer())
        .collect();
    for i in candidates {
        if let Some(r) = info
            .node_containers(i)
            .find(|c| c["resources"].is_object())
            .map(|c| c["resources"].clone())
        {
            return r;
        }
    }
    Value::Null
}

/// `EnforceMLPolicy` (see the module header); the slots per node.
pub fn enforce(info: &mut Info, tj: &Value) -> Result<u64, String> {
    let trainer = &tj["spec"]["trainer"];
    let (node, launcher) = (info.index_of(NODE), info.index_of(LAUNCHER));
    if trainer["numNodes"].as_u64().unwrap_or(1) >= 2
        && launcher_as_node(info)
        && (node.is_none() || launcher.is_none())
    {
        return Err("spec.trainer.numNodes: must have 1 when MPI trainingRuntime with enabled runLauncherAsNode does not have either launcher and node".into());
    }
    if let (Some(n), Some(i)) = (trainer["numNodes"].as_u64(), node) {
        info.counts[i] = match launcher_as_node(info) {
            true => n.saturating_sub(1).max(1),
            false => n,
        };
    }
    let mpi = info.policy["mpi"].clone();
    let mut slots = mpi["numProcPerNode"].as_u64().unwrap_or(1);
    if let Some(n) = trainer["numProcPerNode"].as_u64() {
        slots = n;
    } else if slots == 1 {
        let resources = match &trainer["resourcesPerNode"] {
            r if r.is_object() => r.clone(),
            _ => runtime_resources(info),
        };
        if gpus(&resources) > 1 {
            slots = gpus(&resources);
        }
    }
    if mpi["mpiImplementation"].as_str().unwrap_or("OpenMPI") != "OpenMPI" {
        return Err(format!(
            "MPI implementation for {} doesn't supported",
            mpi["mpiImplementation"]
        ));
    }
    let mount = mpi["sshAuthMountPath"]
        .as_str()
        .unwrap_or("/root/.ssh")
        .to_string();
    let ssh = json!({"name": SSH_VOLUME, "secret": {"secretName": secret_name(tj), "defaultMode": 0o640, "items": [
        {"key": "ssh-privatekey", "path": "id_rsa"},
        {"key": "ssh-publickey", "path": "id_rsa.pub"},
        {"key": "ssh-publickey", "path": "authorized_keys"}]}});
    for i in [node, launcher].into_iter().flatten() {
        upsert(&mut info.pod_spec(i)["volumes"], std::slice::from_ref(&ssh));
        for c in info.node_containers(i) {
            upsert(
                &mut c["volumeMounts"],
                &[json!({"name": SSH_VOLUME, "mountPath": mount})],
            );
        }
    }
    if let Some(i) = launcher {
        let hostfile = json!({"name": HOSTFILE_VOLUME, "configMap": {"name": hostfile_name(tj),
            "items": [{"key": "hostfile", "path": "hostfile", "mode": 0o444}]}});
        upsert(&mut info.pod_spec(i)["volumes"], &[hostfile]);
        for c in info.node_containers(i) {
            upsert(
                &mut c["volumeMounts"],
                &[json!({"name": HOSTFILE_VOLUME, "mountPath": HOSTFILE_DIR})],
            );
            upsert(
                &mut c["env"],
                &[
                    json!({"name": "OMPI_MCA_orte_default_hostfile", "value": format!("{HOSTFILE_DIR}/hostfile")}),
                    json!({"name": "OMPI_MCA_orte_keep_fqdn_hostnames", "value": "true"}),
                    json!({"name": "OMPI_MCA_orte_set_default_slots", "value": slots.to_string()}),
                    json!({"name": "OMPI_MCA_plm_rsh_args", "value": "-o ConnectionAttempts=10"}),
                ],
            );
        }
    }
    Ok(slots)
}

/// The SSH auth Secret `Build` makes once per TrainJob, with a key pair made in `scratch`.
pub fn ssh_auth_secret(tj: &Value, scratch: &std::path::Path) -> Result<Value, String> {
    let (private, public) = ssh_keys::keypair(scratch)?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    Ok(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/ssh-auth", "immutable": true,
        "metadata": {"name": secret_name(tj), "ownerReferences": [store::controller_ref(tj)]},
        "data": {"ssh-privatekey": b64(&private), "ssh-publickey": b64(&ssh_keys::authorized_key(&public))},
    }))
}

/// The hostfile ConfigMap `Build` makes.
pub fn hostfile(info: &Info, tj: &Value, slots: u64) -> Value {
    let mut text = String::new();
    for (i, rj) in info.spec["replicatedJobs"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let is_node = rj["name"] == NODE || (launcher_as_node(info) && rj["name"] == LAUNCHER);
        if is_node {
            for e in info.endpoints(tj, i) {
                text.push_str(&format!("{e} slots={slots}\n"));
            }
        }
    }
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": hostfile_name(tj), "ownerReferences": [store::controller_ref(tj)]},
        "data": {"hostfile": text},
    })
}
