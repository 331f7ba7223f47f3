//! The `job` backend's building blocks: a headless Service and Indexed `batch/v1` Jobs (any cluster
//! ≥ 1.27), and the torchrun layout made of them.
//!
//! Rank i runs in pod `<job>-i` with the stable DNS name `<job>-i.<job>` (the Job sets each pod's
//! hostname from its completion index; the Service gives the subdomain). The Job completes when every
//! rank exits 0: unlike the Bitnami chart, it neither starts too few pods nor runs forever.
//! Reference: <https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode>.

use serde_json::{Map, Value, json};

use super::launch::{rendezvous_env, script, torchrun};
use super::meta::{metadata, workload_metadata};
use super::pod;
use crate::kinds::{JOB, SERVICE};
use crate::model::TrainingJob;
use crate::vocab::mltrain::{JOB_NAME, ROLE};

/// The headless Service that gives every rank (of `role`, when the job's pods play several) a DNS
/// name; ready or not, since rank 0 must be reachable while the others start.
pub fn headless_service(job: &TrainingJob, ports: Value, role: Option<&str>) -> Value {
    let mut selector = Map::new();
    selector.insert(JOB_NAME.into(), json!(job.name));
    if let Some(role) = role {
        selector.insert(ROLE.into(), json!(role));
    }
    json!({
        "apiVersion": SERVICE.api_version(),
        "kind": SERVICE.kind,
        "metadata": metadata(job, &job.name),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": selector,
            "ports": ports,
        }
    })
}

/// How a Job runs its pods.
pub struct Shape {
    pub ranks: u32,
    /// `false`: one pod that needs no index (a launcher, a standalone process).
    pub indexed: bool,
    /// Pod failures the Job retries.
    pub backoff_limit: u32,
    /// Created suspended, for Kueue to admit by unsuspending it; `false` for a Job that is part of
    /// something Kueue admits whole.
    pub suspend: bool,
}

impl Shape {
    /// `ranks` indexed pods, retried `--max-restarts` times, suspended when queued: a Job that is
    /// the whole workload.
    pub fn workload(job: &TrainingJob, ranks: u32) -> Self {
        Shape {
            ranks,
            indexed: true,
            backoff_limit: job.fault_tolerance.max_restarts.unwrap_or(0),
            suspend: job.scheduling.queue.is_some(),
        }
    }
}

/// A Job's `spec`: `template` on `shape.ranks` pods.
pub fn job_spec(job: &TrainingJob, shape: Shape, template: Value) -> Value {
    let ft = &job.fault_tolerance;
    let mut spec = Map::new();
    let mode = if shape.indexed {
        "Indexed"
    } else {
        "NonIndexed"
    };
    spec.insert("completionMode".into(), json!(mode));
    spec.insert("completions".into(), json!(shape.ranks));
    spec.insert("parallelism".into(), json!(shape.ranks));
    spec.insert("backoffLimit".into(), json!(shape.backoff_limit));
    if let Some(d) = ft.active_deadline_seconds {
        spec.insert("activeDeadlineSeconds".into(), json!(d));
    }
    // With retries asked for, a pod evicted by a node drain or preemption (condition DisruptionTarget)
    // is replaced without using one up. Only valid with restartPolicy Never, which the Job API
    // requires for podFailurePolicy
    // (<https://kubernetes.io/docs/concepts/workloads/controllers/job/#pod-failure-policy>).
    if ft.max_restarts.is_some() && template["spec"]["restartPolicy"] == "Never" {
        spec.insert(
            "podFailurePolicy".into(),
            json!({"rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
            ]}),
        );
    }
    if shape.suspend {
        spec.insert("suspend".into(), json!(true));
    }
    spec.insert("template".into(), template);
    Value::Object(spec)
}

/// A `batch/v1` Job named `name`, with the workload's labels.
pub fn batch_job(job: &TrainingJob, name: &str, spec: Value) -> Value {
    json!({"apiVersion": JOB.api.api_version(), "kind": JOB.api.kind, "metadata": workload_metadata(job, name), "spec": spec})
}

/// One Job of a layout whose pods play different parts: the Job's name, its pods' role (the
/// replicated job's name when the layout is one JobSet), and its spec.
pub struct RoleJob {
    pub name: String,
    pub role: &'static str,
    pub spec: Value,
}

/// torchrun on every rank: the Service and the Indexed Job.
pub fn render(job: &TrainingJob) -> Vec<Value> {
    let port = job.networking.port;
    let template = pod::template(
        job,
        pod::PodParts {
            env: rendezvous_env(job, format!("{0}-0.{0}", job.name)),
            subdomain: Some(job.name.clone()),
            restart_policy: Some(job.fault_tolerance.restart_policy.clone()),
            ports: vec![json!({"name": "rendezvous", "containerPort": port, "protocol": "TCP"})],
            ..pod::PodParts::new("trainer", script(job, &torchrun(job)))
        },
    );
    let spec = job_spec(job, Shape::workload(job, job.world_size), template);
    vec![
        headless_service(
            job,
            json!([{"name": "rendezvous", "port": port, "targetPort": port, "protocol": "TCP"}]),
            None,
        ),
        batch_job(job, &job.name, spec),
    ]
}
