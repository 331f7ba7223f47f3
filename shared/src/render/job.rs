//! The `job` backend: a headless Service and an Indexed `batch/v1` Job (any cluster ≥ 1.27).
//!
//! Rank i runs in pod `<job>-i` with the stable DNS name `<job>-i.<job>` (the Job sets each pod's
//! hostname from its completion index; the Service gives the subdomain). The Job completes when every
//! rank exits 0: unlike the Bitnami chart, it neither starts too few pods nor runs forever.
//! Reference: <https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode>.

use serde_json::{Value, json};

use super::{metadata, pod, rendezvous_env, torchrun, workload_metadata};
use crate::engine::facts::JOB_NAME_LABEL;
use crate::model::TrainingJob;

/// The headless Service that gives every rank a DNS name; ready or not, since rank 0 must be
/// reachable while the others start.
pub fn headless_service(job: &TrainingJob, ports: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(job, &job.name),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": {JOB_NAME_LABEL: job.name},
            "ports": ports,
        }
    })
}

/// An Indexed Job running `template` on `ranks` pods.
pub fn indexed_job(job: &TrainingJob, name: &str, ranks: u32, template: Value) -> Value {
    let ft = &job.fault_tolerance;
    let mut spec = json!({
        "completionMode": "Indexed",
        "completions": ranks,
        "parallelism": ranks,
        "backoffLimit": ft.max_restarts.unwrap_or(0),
        "template": template,
    });
    if let Some(d) = ft.active_deadline_seconds {
        spec["activeDeadlineSeconds"] = json!(d);
    }
    // With retries asked for, a pod evicted by a node drain or preemption (condition DisruptionTarget)
    // is replaced without using one up. Only valid with restartPolicy Never, which the Job API
    // requires for podFailurePolicy
    // (<https://kubernetes.io/docs/concepts/workloads/controllers/job/#pod-failure-policy>).
    if ft.max_restarts.is_some() && spec["template"]["spec"]["restartPolicy"] == "Never" {
        spec["podFailurePolicy"] = json!({"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
        ]});
    }
    if job.scheduling.queue.is_some() {
        // Kueue admits the job by unsuspending it.
        spec["suspend"] = json!(true);
    }
    let mut meta = workload_metadata(job);
    meta["name"] = json!(name);
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec})
}

pub fn render(job: &TrainingJob) -> Vec<Value> {
    let port = job.networking.port;
    let script = super::launch::script(job, &torchrun(job));
    let template = pod::template(
        job,
        pod::PodParts {
            container_name: "trainer",
            script,
            env: rendezvous_env(job, format!("{0}-0.{0}", job.name)),
            subdomain: Some(job.name.clone()),
            restart_policy: Some(job.fault_tolerance.restart_policy.clone()),
            ports: vec![json!({"name": "rendezvous", "containerPort": port, "protocol": "TCP"})],
            role: None,
            extra_volumes: Vec::new(),
            extra_mounts: Vec::new(),
            resources: None,
        },
    );
    vec![
        headless_service(
            job,
            json!([{"name": "rendezvous", "port": port, "targetPort": port, "protocol": "TCP"}]),
        ),
        indexed_job(job, &job.name, job.world_size, template),
    ]
}
