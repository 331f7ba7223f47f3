//! Rendering: a [`TrainingJob`] becomes the Kubernetes objects of its backend (DESIGN §3): ConfigMaps
//! and Secrets first, the workload last. The plugin applies the workload first and the rest as its
//! dependents (ownerReferences), so one delete cleans up.
//!
//! Renderers write what the user asked for; the admission engine adds the cluster's defaults.

pub mod deepspeed;
pub mod group;
pub mod job;
pub mod jobset;
pub mod launch;
pub mod mxnet;
pub mod pod;
pub mod pytorchjob;
pub mod trainjob;

use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::engine::facts::{JOB_NAME_LABEL, WORLD_SIZE_LABEL};
use crate::model::{Backend, Framework, ModelError, TrainingJob};

/// Kueue's queue label.
pub const QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
/// Who made an object.
pub const MANAGED_BY: &str = "kubectl-mltrain";

/// Why a job cannot be rendered.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error("the job is invalid:\n{}", .0.iter().map(|e| format!("- {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ModelError>),
    #[error("{framework} does not run on the {backend} backend; use {hint}")]
    Unsupported {
        framework: Framework,
        backend: Backend,
        hint: &'static str,
    },
}

/// Render a job into objects, in apply order.
pub fn render(job: &TrainingJob) -> Result<Vec<Value>, RenderError> {
    job.validate().map_err(RenderError::Invalid)?;
    let mut out = Vec::new();
    if !job.code.files.is_empty() {
        let data: Map<String, Value> = job
            .code
            .files
            .iter()
            .map(|f| (f.key.clone(), json!(f.content)))
            .collect();
        out.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(job, &pod::files_config_map(job)),
            "data": data,
        }));
    }
    use crate::model::Launcher;
    match (job.framework, job.backend) {
        (Framework::PyTorch, Backend::Job) | (Framework::DeepSpeed, Backend::Job)
            if torchrun_based(job) =>
        {
            out.extend(job::render(job))
        }
        (Framework::DeepSpeed, Backend::Job) if group::grouped(job) => {
            out = group::as_jobset(
                job,
                out.into_iter().chain(deepspeed::render_ssh(job)).collect(),
                "launcher",
            )
        }
        (Framework::DeepSpeed, Backend::Job) => out.extend(deepspeed::render_ssh(job)),
        (Framework::DeepSpeed, Backend::MpiJob) if job.options.launcher == Launcher::Ssh => {
            out.push(deepspeed::render_mpijob(job))
        }
        (Framework::MXNet, Backend::Job) => out.extend(mxnet::render(job)),
        (Framework::PyTorch | Framework::DeepSpeed, Backend::JobSet) if torchrun_based(job) => {
            out.push(jobset::render(job))
        }
        (Framework::PyTorch | Framework::DeepSpeed, Backend::PyTorchJob) if torchrun_based(job) => {
            out.push(pytorchjob::render(job))
        }
        (Framework::PyTorch | Framework::DeepSpeed, Backend::AppWrapper) if torchrun_based(job) => {
            out.push(pytorchjob::render_appwrapper(job))
        }
        (Framework::PyTorch | Framework::DeepSpeed, Backend::TrainJob) if torchrun_based(job) => {
            out.push(trainjob::render(job))
        }
        (framework, backend) => {
            return Err(RenderError::Unsupported {
                framework,
                backend,
                hint: "job; see --help for the backends of each framework",
            });
        }
    }
    Ok(out)
}

/// PyTorch, and DeepSpeed scripts run under torchrun (`--launcher torchrun`), share the torchrun
/// renderers.
fn torchrun_based(job: &TrainingJob) -> bool {
    job.framework == Framework::PyTorch || job.options.launcher == crate::model::Launcher::Torchrun
}

/// Labels on every object and pod of a job (DESIGN §3).
pub fn object_labels(job: &TrainingJob) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in &job.scheduling.labels {
        m.insert(k.clone(), json!(v));
    }
    m.insert(
        "app.kubernetes.io/name".into(),
        json!(job.framework.as_str()),
    );
    m.insert("app.kubernetes.io/instance".into(), json!(job.name));
    m.insert("app.kubernetes.io/managed-by".into(), json!(MANAGED_BY));
    m.insert(JOB_NAME_LABEL.into(), json!(job.name));
    m.insert(WORLD_SIZE_LABEL.into(), json!(job.world_size.to_string()));
    m
}

/// `key: value` pairs as a JSON object.
pub fn labels_map(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
}

/// Metadata of a top-level object: name, namespace, labels, the user's annotations.
pub fn metadata(job: &TrainingJob, name: &str) -> Value {
    let mut m = json!({"name": name, "labels": object_labels(job)});
    if let Some(ns) = &job.namespace {
        m["namespace"] = json!(ns);
    }
    if !job.scheduling.annotations.is_empty() {
        m["annotations"] = Value::Object(labels_map(&job.scheduling.annotations));
    }
    m
}

/// Metadata of the workload object: [`metadata`] plus the Kueue queue label.
pub fn workload_metadata(job: &TrainingJob) -> Value {
    let mut m = metadata(job, &job.name);
    if let Some(q) = &job.scheduling.queue {
        m["labels"][QUEUE_LABEL] = json!(q);
    }
    m
}

/// The rank's index from an Indexed Job's pod annotation.
pub fn completion_index_env(name: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}})
}

/// The rendezvous variables for backends where no operator sets them.
pub fn rendezvous_env(job: &TrainingJob, master_addr: String) -> Vec<Value> {
    vec![
        json!({"name": "WORLD_SIZE", "value": job.world_size.to_string()}),
        completion_index_env("RANK"),
        json!({"name": "MASTER_ADDR", "value": master_addr}),
        json!({"name": "MASTER_PORT", "value": job.networking.port.to_string()}),
    ]
}

/// The torchrun launcher with its rendezvous flags. With `--max-restarts`, torchrun's c10d rendezvous
/// (hosted on rank 0's host, `MASTER_ADDR:MASTER_PORT`) instead of the static one: a replaced or
/// restarted pod can then rejoin and the group re-forms, up to that many times
/// (<https://pytorch.org/docs/stable/elastic/run.html>); a static group cannot take a new member.
pub fn torchrun(job: &TrainingJob) -> Vec<String> {
    let head = std::iter::once("torchrun".to_string());
    match job.fault_tolerance.max_restarts {
        None => head.chain(launch::torchrun_args(job.nproc())).collect(),
        Some(n) => head
            .chain([
                "--nnodes=${WORLD_SIZE}".to_string(),
                format!("--nproc_per_node={}", job.nproc()),
                "--rdzv_backend=c10d".into(),
                "--rdzv_endpoint=${MASTER_ADDR}:${MASTER_PORT}".into(),
                format!("--rdzv_id={}", job.name),
                format!("--max-restarts={n}"),
            ])
            .collect(),
    }
}
