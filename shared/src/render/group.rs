//! Kueue admits a job whole: with `--queue`, the one layout made of several Jobs (DeepSpeed over SSH:
//! workers + launcher) is rendered as one JobSet with a replicated job per role, which Kueue admits as
//! a single Workload (one PodSet per replicated job) or not at all. As separate Jobs, Kueue would
//! admit each on its own: the launcher could start while its workers wait for quota, or workers hold
//! GPUs with no launcher (<https://kueue.sigs.k8s.io/docs/tasks/run/jobsets/>; Kueue's pod groups
//! exist only for plain Pods, <https://kueue.sigs.k8s.io/docs/tasks/run/plain_pods/>). Whether a
//! job is grouped is part of its [`Layout`](crate::model::Layout).
//!
//! Host names follow JobSet's pattern `<jobset>-<replicatedJob>-<jobIndex>-<podIndex>` under the
//! JobSet's own headless Service (named after it, so none of ours is rendered); [`host`] gives them to
//! the DeepSpeed hostfile. (MXNet is one Indexed Job already, admitted whole as it is.)

use serde_json::{Value, json};

use super::job::RoleJob;
use super::meta::{object_labels, workload_metadata};
use crate::kinds::JOB_SET;
use crate::model::TrainingJob;

/// Pod `index` of role `role`'s DNS name: the Indexed Job's host name when the layout is separate
/// Jobs (`<job>-<role>-<i>`), JobSet's when it is `grouped` (`<job>-<role>-0-<i>`).
pub fn host(job: &TrainingJob, grouped: bool, role: &str, index: u32) -> String {
    if grouped {
        format!("{0}-{role}-0-{index}.{0}", job.name)
    } else {
        format!("{0}-{role}-{index}.{0}", job.name)
    }
}

/// One suspended, queue-labelled JobSet with a replicated job per role; `decides` is the role whose
/// completion completes the JobSet (DeepSpeed's launcher). The roles' specs are unsuspended and their
/// labels carry no queue: the JobSet is what Kueue admits, and its child Jobs belong to its Workload.
pub fn jobset(job: &TrainingJob, roles: Vec<RoleJob>, decides: &str) -> Value {
    let replicated: Vec<Value> = roles
        .into_iter()
        .map(|r| {
            json!({
                "name": r.role,
                "replicas": 1,
                "template": {"metadata": {"labels": object_labels(job)}, "spec": r.spec},
            })
        })
        .collect();
    json!({
        "apiVersion": JOB_SET.api.api_version(),
        "kind": JOB_SET.api.kind,
        "metadata": workload_metadata(job, &job.name),
        "spec": {
            "suspend": true,
            "network": {"enableDNSHostnames": true, "publishNotReadyAddresses": true},
            "successPolicy": {"operator": "All", "targetReplicatedJobs": [decides]},
            "replicatedJobs": replicated,
        },
    })
}
