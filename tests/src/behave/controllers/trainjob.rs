//! The Kubeflow Trainer v2 controller (kubeflow/trainer v2.3.0: `pkg/controller/trainjob_controller.go`,
//! `pkg/runtime/core/trainingruntime.go`, the framework's plugins under
//! `pkg/runtime/framework/plugins/`):
//! - the TrainJob's `runtimeRef` (kind ClusterTrainingRuntime by default) names the runtime; a missing
//!   one leaves the TrainJob without a JobSet (reported here, the controller only logs it);
//! - the runtime info ([`runtime_info`]), then the runtime's ML policy plugin: [`torch`] or [`mpi`]
//!   (a runtime with neither is reported: the PlainML plugin is not modelled), then the objects:
//!   the MPI plugin's Secret and ConfigMap, and one JobSet named after the TrainJob, owned by it,
//!   with `spec.suspend` copied;
//! - the TrainJob is `Complete` when its JobSet is, `Failed` when it failed (`plugins/jobset`
//!   `Status`); a TrainJob unsuspended (by Kueue) unsuspends its JobSet.

mod mpi;
mod runtime_info;
mod torch;

use std::path::Path;

use serde_json::{Value, json};

use super::{has_condition, set_condition};
use crate::behave::store::{self, Store};
use runtime_info::Info;

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

/// Everything the Trainer creates for `tj` on `runtime`, the JobSet last. `scratch` is where the
/// MPI plugin's key pair is made.
fn objects(
    store: &Store,
    tj: &Value,
    runtime: &Value,
    scratch: &Path,
) -> Result<Vec<Value>, String> {
    reserved_container_env(tj)?;
    let mut info = Info::new(tj, runtime)?;
    let mut out = Vec::new();
    if !info.policy["torch"].is_null() {
        torch::enforce(&mut info, tj);
    } else if !info.policy["mpi"].is_null() {
        let slots = mpi::enforce(&mut info, tj)?;
        if store.get("Secret", &mpi::secret_name(tj)).is_none() {
            out.push(mpi::ssh_auth_secret(tj, scratch)?);
        }
        out.push(mpi::hostfile(&info, tj, slots));
    } else {
        return Err(format!(
            "runtime {} has neither a torch nor an mpi policy: the Trainer's PlainML plugin is not modelled",
            store::name(runtime)
        ));
    }
    out.push(info.jobset(tj));
    Ok(out)
}

/// The TrainJob webhook's check of `spec.runtimePatches` (kubeflow/trainer
/// `pkg/runtime/framework/plugins/jobset/jobset.go`, `Validate`): env for the `node`,
/// `dataset-initializer` and `model-initializer` containers must come through `spec.trainer` (or the
/// initializer's own env), never a patch. The API server refuses such a TrainJob at creation; here it
/// is a problem of the run, reported before anything is made.
fn reserved_container_env(tj: &Value) -> Result<(), String> {
    const RESERVED: [&str; 3] = ["dataset-initializer", "model-initializer", "node"];
    let patches = tj["spec"]["runtimePatches"]
        .as_array()
        .into_iter()
        .flatten();
    let jobs = patches
        .flat_map(|p| p.pointer("/trainingRuntimeSpec/template/spec/replicatedJobs"))
        .filter_map(Value::as_array)
        .flatten();
    for rj in jobs {
        let containers = rj
            .pointer("/template/spec/template/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for c in containers {
            let reserved = c["name"].as_str().is_some_and(|n| RESERVED.contains(&n));
            if reserved && c["env"].as_array().is_some_and(|e| !e.is_empty()) {
                return Err(format!(
                    "admission webhook denied the request: spec.runtimePatches: must not have envs for the {} containers (replicated job {})",
                    RESERVED.join(", "),
                    rj["name"]
                ));
            }
        }
    }
    Ok(())
}

pub fn reconcile(store: &mut Store, ns: &str, scratch: &Path, problems: &mut Vec<String>) {
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
        match objects(store, &tj, &runtime, scratch) {
            Ok(objs) => {
                for o in objs {
                    if let Err(e) = store.create(o, ns) {
                        problems.push(format!("TrainJob {name}: {e}"));
                    }
                }
            }
            Err(e) => problems.push(format!("TrainJob {name}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::runtime_info::ANCESTOR;
    use super::*;

    fn env_names(c: &Value) -> Vec<&str> {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect()
    }

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
        let objs = objects(&Store::default(), &tj, &runtime, Path::new("/nonexistent")).unwrap();
        let js = &objs[0];
        let rj = &js["spec"]["replicatedJobs"][0];
        assert_eq!(rj["template"]["spec"]["parallelism"], 3);
        let c = &rj["template"]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "pytorch/pytorch:x");
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/v");
        assert_eq!(
            env_names(c),
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

    #[test]
    fn the_mpi_runtime_gets_keys_a_hostfile_and_the_trainer_only_on_the_launcher() {
        let runtime = crate::behave::trainer_runtimes()
            .into_iter()
            .find(|r| store::name(r) == "deepspeed-distributed")
            .unwrap();
        let tj = json!({"metadata": {"name": "ds", "uid": "u"}, "spec": {
            "runtimeRef": {"name": "deepspeed-distributed"},
            "trainer": {"numNodes": 3, "command": ["mpirun"], "env": [{"name": "A", "value": "1"}]}}});
        let scratch = crate::scratch_dir("mpi-unit");
        let objs = objects(&Store::default(), &tj, &runtime, &scratch).unwrap();
        let _ = std::fs::remove_dir_all(&scratch);
        let kinds: Vec<&str> = objs.iter().map(store::kind).collect();
        assert_eq!(kinds, ["Secret", "ConfigMap", "JobSet"]);
        assert_eq!(objs[0]["type"], "kubernetes.io/ssh-auth");
        assert_eq!(objs[0]["immutable"], true);
        assert_eq!(
            objs[1]["data"]["hostfile"],
            "ds-node-0-0.ds slots=1\nds-node-0-1.ds slots=1\nds-launcher-0-0.ds slots=1\n"
        );
        let rjs = &objs[2]["spec"]["replicatedJobs"];
        let pod = |i: usize| &rjs[i]["template"]["spec"]["template"]["spec"];
        assert_eq!(rjs[0]["name"], "node");
        assert_eq!(rjs[0]["template"]["spec"]["parallelism"], 2);
        assert_eq!(rjs[1]["template"]["spec"]["parallelism"], 1);
        let (node, launcher) = (&pod(0)["containers"][0], &pod(1)["containers"][0]);
        assert_eq!(node["command"], json!(["/usr/sbin/sshd"]));
        assert_eq!(
            node["volumeMounts"],
            json!([{"name": "mpi-ssh-auth", "mountPath": "/home/mpiuser/.ssh"}])
        );
        assert!(node["env"].is_null());
        assert_eq!(launcher["command"], json!(["mpirun"]));
        assert_eq!(
            env_names(launcher),
            [
                "OMPI_MCA_orte_default_hostfile",
                "OMPI_MCA_orte_keep_fqdn_hostnames",
                "OMPI_MCA_orte_set_default_slots",
                "OMPI_MCA_plm_rsh_args",
                "A"
            ]
        );
        assert_eq!(pod(1)["volumes"][1]["configMap"]["items"][0]["mode"], 0o444);
        assert_eq!(pod(0)["volumes"][0]["secret"]["defaultMode"], 0o640);
    }
}
