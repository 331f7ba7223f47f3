//! The `trainjob` backend: a Kubeflow Trainer v2 `trainer.kubeflow.org/v1alpha1` TrainJob referencing
//! a ClusterTrainingRuntime (`torch-distributed` by default, `--runtime`, `--runtime-kind`).
//!
//! Why it looks like this (kubeflow/trainer v2.3.0):
//! - `spec.trainer` carries what the Trainer merges into the runtime's `node` container: `numNodes`,
//!   `numProcPerNode`, `image`, `command`, `env`, `resourcesPerNode`
//!   (`pkg/apis/trainer/v1alpha1/trainjob_types.go`).
//! - The torch plugin injects `PET_NNODES`, `PET_NPROC_PER_NODE`, `PET_NODE_RANK` (the completion
//!   index), `PET_MASTER_ADDR` (`<trainjob>-node-0-0.<trainjob>`) and `PET_MASTER_PORT` (29400), and
//!   refuses a TrainJob that sets them (`pkg/runtime/framework/plugins/torch/torch.go`). torchrun reads
//!   `PET_<FLAG>` as the default of each of its flags, so the script runs bare `torchrun` and passes
//!   none of those flags: nothing can contradict the Trainer.
//! - Everything else the pod needs (volumes, mounts, node selection, tolerations, affinity, service
//!   account, security context, labels and annotations) goes through `spec.runtimePatches`, applied to
//!   the runtime's `node` replicated job, whose container is named `node`
//!   (`pkg/runtime/framework/plugins/jobset/builder.go`). Its container patches hold only env, volume
//!   mounts and security context, so what needs more (init containers, envFrom) is refused by the
//!   model's validation.
//! - The Trainer names the JobSet after the TrainJob; Kueue's queue label goes on the TrainJob.
//!
//! References: <https://github.com/kubeflow/trainer/blob/master/pkg/runtime/framework/plugins/torch/torch.go>,
//! <https://github.com/kubeflow/trainer/blob/master/pkg/runtime/framework/plugins/jobset/builder.go>,
//! <https://github.com/kubeflow/trainer/blob/master/pkg/apis/trainer/v1alpha1/trainjob_types.go>.

use serde_json::{Map, Value, json};

use super::launch::script;
use super::meta::workload_metadata;
use super::pod;
use crate::kinds::TRAIN_JOB;
use crate::model::{TrainerRuntime, TrainingJob, default_image};
use crate::vocab::mltrain::PATCH_MANAGER;
use crate::vocab::trainer::NODE;

pub use crate::vocab::trainer::TORCH_RUNTIME;
/// The port the Trainer's torch plugin sets as `PET_MASTER_PORT`.
pub const MASTER_PORT: u16 = 29400;

/// Pod spec fields the runtime patch may carry (`PodSpecPatch` in v2.3.0).
const POD_PATCH_FIELDS: [&str; 9] = [
    "affinity",
    "imagePullSecrets",
    "nodeSelector",
    "securityContext",
    "serviceAccountName",
    "terminationGracePeriodSeconds",
    "tolerations",
    "volumes",
    "initContainers",
];

/// The TrainJob referencing `runtime` (by default the cluster's [`TORCH_RUNTIME`]). The pod is
/// built as for every backend, then read into the two places a TrainJob takes it: `spec.trainer` and
/// the `node` runtime patch.
pub fn render(job: &TrainingJob, runtime: &TrainerRuntime) -> Value {
    let script = script(job, &["torchrun".to_string()]);
    let template = pod::template(job, pod::PodParts::new(NODE, script));
    let trainer = trainer(job, &template, job.nproc());
    trainjob(
        job,
        runtime,
        TORCH_RUNTIME,
        trainer,
        runtime_patch(&template, &[NODE]),
    )
}

/// The TrainJob object: `runtime` (else `default_runtime`), the trainer, the one runtime patch, and
/// the run's deadline and Kueue's suspension.
pub(super) fn trainjob(
    job: &TrainingJob,
    runtime: &TrainerRuntime,
    default_runtime: &str,
    trainer: Value,
    patch: Value,
) -> Value {
    let name = runtime.name.as_deref().unwrap_or(default_runtime);
    let kind = runtime.kind.unwrap_or_default();
    let mut spec = Map::new();
    spec.insert(
        "runtimeRef".into(),
        json!({"apiGroup": kind.api().group, "kind": kind.api().kind, "name": name}),
    );
    spec.insert("trainer".into(), trainer);
    spec.insert("runtimePatches".into(), json!([patch]));
    if let Some(d) = job.fault_tolerance.active_deadline_seconds {
        spec.insert("activeDeadlineSeconds".into(), json!(d));
    }
    if job.scheduling.queue.is_some() {
        // Kueue admits the TrainJob by unsuspending it.
        spec.insert("suspend".into(), json!(true));
    }
    json!({"apiVersion": TRAIN_JOB.api.api_version(), "kind": TRAIN_JOB.api.kind, "metadata": workload_metadata(job, &job.name), "spec": spec})
}

/// `spec.trainer`: sizes (`num_proc_per_node` processes in each of the world size's pods), and the
/// training container's image (the runtime's own unless the user chose one), command, env and
/// resources.
pub(super) fn trainer(job: &TrainingJob, template: &Value, num_proc_per_node: u32) -> Value {
    let container = &template["spec"]["containers"][0];
    let mut trainer = Map::new();
    trainer.insert("numNodes".into(), json!(job.world_size));
    trainer.insert("numProcPerNode".into(), json!(num_proc_per_node));
    if job.image.name != default_image(job.framework()) {
        trainer.insert("image".into(), container["image"].clone());
    }
    trainer.insert("command".into(), container["command"].clone());
    for (from, to) in [("env", "env"), ("resources", "resourcesPerNode")] {
        if let Some(v) = container.get(from) {
            trainer.insert(to.into(), v.clone());
        }
    }
    Value::Object(trainer)
}

/// The runtime patch of the replicated `jobs`, the same for each: the pod's metadata, the fields a
/// pod patch may carry, and the container's mounts and security context.
pub(super) fn runtime_patch(template: &Value, jobs: &[&str]) -> Value {
    let container = &template["spec"]["containers"][0];
    let mut node_container = Map::new();
    node_container.insert("name".into(), json!(NODE));
    for k in ["volumeMounts", "securityContext"] {
        if let Some(v) = container.get(k) {
            node_container.insert(k.into(), v.clone());
        }
    }
    let mut pod_spec = Map::new();
    if node_container.len() > 1 {
        pod_spec.insert("containers".into(), json!([node_container]));
    }
    for k in POD_PATCH_FIELDS {
        if let Some(v) = template["spec"].get(k) {
            pod_spec.insert(k.into(), v.clone());
        }
    }
    let mut pod_template = Map::new();
    pod_template.insert("metadata".into(), template["metadata"].clone());
    if !pod_spec.is_empty() {
        pod_template.insert("spec".into(), Value::Object(pod_spec));
    }
    let pod_template = Value::Object(pod_template);
    let replicated: Vec<Value> = jobs
        .iter()
        .map(|name| json!({"name": name, "template": {"spec": {"template": pod_template.clone()}}}))
        .collect();
    json!({
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": replicated}}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backend, Framework, Main, RuntimeKind};

    fn job() -> TrainingJob {
        let mut j = TrainingJob::new("tj", Framework::PyTorch);
        j.backend = Backend::TrainJob.into();
        j.world_size = 3;
        j
    }

    fn render(j: &TrainingJob) -> Value {
        super::render(j, &TrainerRuntime::default())
    }

    #[test]
    fn torchrun_gets_no_flags_the_trainer_sets() {
        let mut j = job();
        j.program.main = Main::Command(vec!["train.py".into()]);
        let tj = render(&j);
        let cmd = tj["spec"]["trainer"]["command"][2].as_str().unwrap();
        assert!(cmd.ends_with("exec torchrun train.py\n"), "{cmd}");
        assert!(!cmd.contains("PET_") && !cmd.contains("--nnodes"));
        assert_eq!(tj["spec"]["trainer"]["numNodes"], 3);
        assert_eq!(tj["spec"]["runtimeRef"]["name"], "torch-distributed");
        assert!(tj["spec"]["trainer"].get("image").is_none());
    }

    #[test]
    fn runtime_choice_and_kind() {
        let rt = TrainerRuntime {
            name: Some("my-torch".into()),
            kind: Some(RuntimeKind::Namespaced),
        };
        let tj = super::render(&job(), &rt);
        assert_eq!(tj["spec"]["runtimeRef"]["name"], "my-torch");
        assert_eq!(tj["spec"]["runtimeRef"]["kind"], "TrainingRuntime");
    }

    #[test]
    fn pod_settings_go_through_the_node_patch() {
        let mut j = job();
        j.storage.shm_size = Some("8Gi".into());
        j.scheduling.service_account = Some("trainer".into());
        let tj = render(&j);
        let p = &tj["spec"]["runtimePatches"][0];
        assert_eq!(p["manager"], PATCH_MANAGER);
        let rj = &p["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0];
        assert_eq!(rj["name"], "node");
        let spec = &rj["template"]["spec"]["template"]["spec"];
        assert_eq!(spec["serviceAccountName"], "trainer");
        assert_eq!(spec["containers"][0]["name"], "node");
        assert_eq!(
            spec["containers"][0]["volumeMounts"][0]["mountPath"],
            "/dev/shm"
        );
    }
}
