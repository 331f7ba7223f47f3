//! The `pytorchjob` backend (Kubeflow training operator, `kubeflow.org/v1`: Master 1 + Worker N−1, a
//! container named `pytorch` as the operator requires) and the `appwrapper` backend that wraps it the
//! way MLBatch does (`workload.codeflare.dev/v1beta2`, Kueue queue label and fault-tolerance annotations
//! on the AppWrapper). The operator sets `MASTER_ADDR`, `MASTER_PORT`, `WORLD_SIZE` and `RANK`.
//! References: <https://www.kubeflow.org/docs/components/trainer/legacy-v1/user-guides/pytorch/>,
//! <https://project-codeflare.github.io/appwrapper/>.

use serde_json::{Map, Value, json};

use super::launch::{script, torchrun};
use super::meta::{
    component_metadata, labels_map, object_metadata, workload_labels, workload_metadata,
};
use super::pod;
use crate::kinds::{APP_WRAPPER, PYTORCH_JOB};
use crate::model::{AppWrapperSetting, ModelError, TrainingJob};
use crate::vocab::appwrapper::ANNOTATION_PREFIX;

/// Who owns the PyTorchJob, and so retries and queues it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The training operator: `runPolicy` retries (`backoffLimit`) and suspends it for Kueue.
    Operator,
    /// An AppWrapper, which carries the queue label and retries the whole PyTorchJob (`retryLimit`).
    AppWrapper,
}

/// The replicas' restart policy. The operator counts only container restarts of OnFailure (or
/// Always/ExitCode) replicas against `runPolicy.backoffLimit`; a failed `Never` replica fails the job
/// at once (kubeflow/training-operator `pkg/controller.v1/common/job.go`, `PastBackoffLimit`). So
/// `--max-restarts` on the pytorchjob backend restarts containers in place (same pod, same host name:
/// torchrun's c10d rendezvous takes them back). Inside an AppWrapper the AppWrapper retries instead
/// (`retryLimit`), resetting the whole PyTorchJob.
fn restart_policy(job: &TrainingJob, owner: Owner) -> &str {
    let ft = &job.fault_tolerance;
    if ft.max_restarts.is_some() && owner == Owner::Operator {
        "OnFailure"
    } else {
        &ft.restart_policy
    }
}

fn replica(job: &TrainingJob, owner: Owner, replicas: u32) -> Value {
    let template = pod::template(
        job,
        pod::PodParts {
            ports: vec![
                json!({"name": "pytorchjob-port", "containerPort": job.networking.port, "protocol": "TCP"}),
            ],
            // The operator requires the container to be named `pytorch`.
            ..pod::PodParts::new("pytorch", script(job, &torchrun(job)))
        },
    );
    json!({"replicas": replicas, "restartPolicy": restart_policy(job, owner), "template": template})
}

fn pytorchjob(job: &TrainingJob, owner: Owner) -> Value {
    let ft = &job.fault_tolerance;
    let mut specs = Map::new();
    specs.insert("Master".into(), replica(job, owner, 1));
    if job.world_size > 1 {
        specs.insert("Worker".into(), replica(job, owner, job.world_size - 1));
    }
    // A failed rank's peers are stopped rather than left holding GPUs (the operator's default is
    // None: keep every pod).
    let mut run_policy = Map::new();
    run_policy.insert("cleanPodPolicy".into(), json!("Running"));
    if let (Some(n), Owner::Operator) = (ft.max_restarts, owner) {
        run_policy.insert("backoffLimit".into(), json!(n));
    }
    if let Some(d) = ft.active_deadline_seconds {
        run_policy.insert("activeDeadlineSeconds".into(), json!(d));
    }
    if job.scheduling.queue.is_some() && owner == Owner::Operator {
        run_policy.insert("suspend".into(), json!(true));
    }
    let metadata = match owner {
        Owner::Operator => workload_metadata(job, &job.name),
        Owner::AppWrapper => component_metadata(job),
    };
    let spec = json!({"pytorchReplicaSpecs": specs, "runPolicy": run_policy});
    json!({"apiVersion": PYTORCH_JOB.api.api_version(), "kind": PYTORCH_JOB.api.kind, "metadata": metadata, "spec": spec})
}

/// The PyTorchJob the training operator runs and retries.
pub fn render(job: &TrainingJob) -> Value {
    pytorchjob(job, Owner::Operator)
}

/// The AppWrapper around the PyTorchJob.
pub fn render_appwrapper(job: &TrainingJob) -> Result<Value, ModelError> {
    let metadata = object_metadata(
        &job.name,
        job.namespace.as_deref(),
        workload_labels(job),
        appwrapper_annotations(job)?,
    );
    Ok(json!({
        "apiVersion": APP_WRAPPER.api.api_version(),
        "kind": APP_WRAPPER.api.kind,
        "metadata": metadata,
        "spec": {"components": [{"template": pytorchjob(job, Owner::AppWrapper)}]},
    }))
}

/// The user's annotations and the fault-tolerance ones. `--max-restarts` becomes `retryLimit`: the
/// AppWrapper resets the whole PyTorchJob up to that many times (an explicit retryLimit wins). Values
/// are said the way the controller reads them ([`AppWrapperSetting::annotation_value`]), so one it
/// could not read is an error here too (validation reports it first).
fn appwrapper_annotations(job: &TrainingJob) -> Result<Map<String, Value>, ModelError> {
    let mut ann = labels_map(&job.scheduling.annotations);
    let key = |s: AppWrapperSetting| format!("{ANNOTATION_PREFIX}{}", s.key());
    if let Some(n) = job.fault_tolerance.max_restarts {
        ann.insert(key(AppWrapperSetting::RetryLimit), json!(n.to_string()));
    }
    for (&setting, value) in &job.fault_tolerance.appwrapper {
        ann.insert(key(setting), json!(setting.annotation_value(value)?));
    }
    Ok(ann)
}
