//! The `jobset` backend: a `jobset.x-k8s.io/v1alpha2` JobSet with one replicated Indexed Job.
//! JobSet creates the headless Service itself; rank 0 is `<job>-workers-0-0.<job>`.
//! Reference: <https://jobset.sigs.k8s.io/docs/concepts/>.

use serde_json::{Value, json};

use super::launch::{rendezvous_env, script, torchrun};
use super::meta::workload_metadata;
use super::pod;
use crate::kinds::JOB_SET;
use crate::model::TrainingJob;

/// The replicated job's name.
pub const REPLICATED_JOB: &str = "workers";

pub fn render(job: &TrainingJob) -> Value {
    let ft = &job.fault_tolerance;
    let port = job.networking.port;
    let template = pod::template(
        job,
        pod::PodParts {
            env: rendezvous_env(job, format!("{0}-{REPLICATED_JOB}-0-0.{0}", job.name)),
            restart_policy: Some(ft.restart_policy.clone()),
            ports: vec![json!({"name": "rendezvous", "containerPort": port, "protocol": "TCP"})],
            ..pod::PodParts::new("trainer", script(job, &torchrun(job)))
        },
    );
    let mut job_spec = json!({
        "completionMode": "Indexed",
        "completions": job.world_size,
        "parallelism": job.world_size,
        "backoffLimit": 0,
        "template": template,
    });
    if let Some(d) = ft.active_deadline_seconds {
        job_spec["activeDeadlineSeconds"] = json!(d);
    }
    let mut spec = json!({
        "network": {"enableDNSHostnames": true},
        "replicatedJobs": [{"name": REPLICATED_JOB, "replicas": 1, "template": {"spec": job_spec}}],
    });
    if let Some(n) = ft.max_restarts {
        spec["failurePolicy"] = json!({"maxRestarts": n});
    }
    if job.scheduling.queue.is_some() {
        spec["suspend"] = json!(true);
    }
    json!({"apiVersion": JOB_SET.api.api_version(), "kind": JOB_SET.api.kind, "metadata": workload_metadata(job, &job.name), "spec": spec})
}
