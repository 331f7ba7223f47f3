//! Kueue admits a job whole: with `--queue`, the one layout made of several Jobs (DeepSpeed over SSH:
//! workers + launcher) is rendered as one JobSet with a replicated job per role, which Kueue admits as a single Workload (one PodSet per replicated job)
//! or not at all. As separate Jobs, Kueue would admit each on its own: the launcher could start while
//! its workers wait for quota, or workers hold GPUs with no launcher
//! (<https://kueue.sigs.k8s.io/docs/tasks/run/jobsets/>; Kueue's pod groups exist only for plain Pods,
//! <https://kueue.sigs.k8s.io/docs/tasks/run/plain_pods/>).
//!
//! Host names follow JobSet's pattern `<jobset>-<replicatedJob>-<jobIndex>-<podIndex>` under the
//! JobSet's own headless Service (named after it, so ours is dropped); [`host`] gives them to the
//! DeepSpeed hostfile. (MXNet is one Indexed Job already, admitted whole as it is.)

use serde_json::{Value, json};

use super::pod::ROLE_LABEL;
use super::workload_metadata;
use crate::model::{Backend, Framework, Launcher, TrainingJob};

/// Whether this job is rendered as one JobSet so Kueue admits it whole.
pub fn grouped(job: &TrainingJob) -> bool {
    job.scheduling.queue.is_some()
        && job.backend == Backend::Job
        && match job.framework {
            Framework::DeepSpeed => job.options.launcher == Launcher::Ssh,
            Framework::MXNet | Framework::PyTorch => false,
        }
}

/// Pod `index` of role `role`'s DNS name: the Indexed Job's host name when the layout is separate
/// Jobs (`<job>-<role>-<i>`), JobSet's when it is grouped (`<job>-<role>-0-<i>`).
pub fn host(job: &TrainingJob, role: &str, index: u32) -> String {
    if grouped(job) {
        format!("{0}-{role}-0-{index}.{0}", job.name)
    } else {
        format!("{0}-{role}-{index}.{0}", job.name)
    }
}

/// Turn the separate-Jobs layout into one suspended, queue-labelled JobSet: every Job becomes a
/// replicated job named after its pod role; `decides` is the role whose completion completes the
/// JobSet (DeepSpeed's launcher). ConfigMaps and Secrets stay as they are.
pub fn as_jobset(job: &TrainingJob, objects: Vec<Value>, decides: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut replicated = Vec::new();
    for obj in objects {
        match obj["kind"].as_str() {
            // JobSet makes its own headless Service, named after the JobSet.
            Some("Service") => {}
            Some("Job") => {
                let role = obj["spec"]["template"]["metadata"]["labels"][ROLE_LABEL]
                    .as_str()
                    .unwrap_or("worker")
                    .to_string();
                let mut spec = obj["spec"].clone();
                if let Some(s) = spec.as_object_mut() {
                    // The JobSet is what is suspended and admitted.
                    s.remove("suspend");
                }
                let mut labels = obj["metadata"]["labels"].clone();
                if let Some(l) = labels.as_object_mut() {
                    // Only the JobSet is queued; its child Jobs belong to its Workload.
                    l.remove(super::QUEUE_LABEL);
                }
                replicated.push(json!({
                    "name": role,
                    "replicas": 1,
                    "template": {"metadata": {"labels": labels}, "spec": spec},
                }));
            }
            _ => out.push(obj),
        }
    }
    let mut meta = workload_metadata(job);
    if let Some(l) = meta["labels"].as_object_mut() {
        l.retain(|k, _| k != ROLE_LABEL);
    }
    out.push(json!({
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": meta,
        "spec": {
            "suspend": true,
            "network": {"enableDNSHostnames": true, "publishNotReadyAddresses": true},
            "successPolicy": {"operator": "All", "targetReplicatedJobs": [decides]},
            "replicatedJobs": replicated,
        },
    }));
    out
}
