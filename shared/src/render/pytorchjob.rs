//! The `pytorchjob` backend (Kubeflow training operator, `kubeflow.org/v1`: Master 1 + Worker N−1, a
//! container named `pytorch` as the operator requires) and the `appwrapper` backend that wraps it the
//! way MLBatch does (`workload.codeflare.dev/v1beta2`, Kueue queue label and fault-tolerance annotations
//! on the AppWrapper). The operator sets `MASTER_ADDR`, `MASTER_PORT`, `WORLD_SIZE` and `RANK`.
//! References: <https://www.kubeflow.org/docs/components/trainer/legacy-v1/user-guides/pytorch/>,
//! <https://project-codeflare.github.io/appwrapper/>.

use serde_json::{Map, Value, json};

use super::{QUEUE_LABEL, metadata, pod, torchrun, workload_metadata};
use crate::duration;
use crate::model::TrainingJob;

/// Prefix of the AppWrapper fault-tolerance annotations.
pub const APPWRAPPER_ANNOTATION_PREFIX: &str = "workload.codeflare.dev.appwrapper/";

/// The replicas' restart policy. The operator counts only container restarts of OnFailure (or
/// Always/ExitCode) replicas against `runPolicy.backoffLimit`; a failed `Never` replica fails the job
/// at once (kubeflow/training-operator `pkg/controller.v1/common/job.go`, `PastBackoffLimit`). So
/// `--max-restarts` on the pytorchjob backend restarts containers in place (same pod, same host name:
/// torchrun's c10d rendezvous takes them back). Inside an AppWrapper the AppWrapper retries instead
/// (`retryLimit`), resetting the whole PyTorchJob.
fn restart_policy(job: &TrainingJob) -> &str {
    let ft = &job.fault_tolerance;
    if ft.max_restarts.is_some() && job.backend == crate::model::Backend::PyTorchJob {
        "OnFailure"
    } else {
        &ft.restart_policy
    }
}

fn replica(job: &TrainingJob, replicas: u32) -> Value {
    let script = super::launch::script(job, &torchrun(job));
    let template = pod::template(
        job,
        pod::PodParts {
            ports: vec![
                json!({"name": "pytorchjob-port", "containerPort": job.networking.port, "protocol": "TCP"}),
            ],
            // The operator requires the container to be named `pytorch`.
            ..pod::PodParts::new("pytorch", script)
        },
    );
    json!({"replicas": replicas, "restartPolicy": restart_policy(job), "template": template})
}

pub fn render(job: &TrainingJob) -> Value {
    let ft = &job.fault_tolerance;
    let mut specs = Map::new();
    specs.insert("Master".into(), replica(job, 1));
    if job.world_size > 1 {
        specs.insert("Worker".into(), replica(job, job.world_size - 1));
    }
    // A failed rank's peers are stopped rather than left holding GPUs (the operator's default is
    // None: keep every pod).
    let mut run_policy = Map::new();
    run_policy.insert("cleanPodPolicy".into(), json!("Running"));
    if let Some(n) = ft.max_restarts
        && job.backend != crate::model::Backend::AppWrapper
    {
        run_policy.insert("backoffLimit".into(), json!(n));
    }
    if let Some(d) = ft.active_deadline_seconds {
        run_policy.insert("activeDeadlineSeconds".into(), json!(d));
    }
    if job.scheduling.queue.is_some() && job.backend != crate::model::Backend::AppWrapper {
        run_policy.insert("suspend".into(), json!(true));
    }
    let spec = json!({"pytorchReplicaSpecs": specs, "runPolicy": run_policy});
    json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": workload_metadata(job), "spec": spec})
}

/// The AppWrapper around the PyTorchJob. Durations are normalised so the controller reads them: `1d`
/// becomes `24h` (Go's parser has no days, and the controller silently ignores what it cannot parse).
pub fn render_appwrapper(job: &TrainingJob) -> Value {
    let mut inner = render(job);
    if let Some(m) = inner["metadata"].as_object_mut() {
        m.remove("namespace");
        if let Some(l) = m.get_mut("labels").and_then(Value::as_object_mut) {
            l.remove(QUEUE_LABEL);
        }
    }
    let mut meta = metadata(job, &job.name);
    if let Some(q) = &job.scheduling.queue {
        meta["labels"][QUEUE_LABEL] = json!(q);
    }
    let mut ann = meta["annotations"].as_object().cloned().unwrap_or_default();
    // --max-restarts: the AppWrapper resets the whole PyTorchJob up to that many times (an explicit
    // retryLimit annotation wins).
    if let Some(n) = job.fault_tolerance.max_restarts {
        ann.insert(
            format!("{APPWRAPPER_ANNOTATION_PREFIX}retryLimit"),
            json!(n.to_string()),
        );
    }
    for (key, value) in &job.fault_tolerance.appwrapper {
        let v = if key == "retryLimit" {
            value.clone()
        } else {
            duration::normalise(value).unwrap_or_else(|_| value.clone())
        };
        ann.insert(format!("{APPWRAPPER_ANNOTATION_PREFIX}{key}"), json!(v));
    }
    if !ann.is_empty() {
        meta["annotations"] = Value::Object(ann);
    }
    json!({
        "apiVersion": "workload.codeflare.dev/v1beta2",
        "kind": "AppWrapper",
        "metadata": meta,
        "spec": {"components": [{"template": inner}]},
    })
}
