//! The training container: image, command, the user's environment, and its requests and limits
//! (explicit values, else the Bitnami preset; GPUs and RoCE devices always request = limit).

use serde_json::{Map, Value, json};

use super::networking;
use crate::model::{EnvFrom, EnvValue, TrainingJob};
use crate::quantity::Quantity;

/// What a backend decides about the training container.
pub struct Container {
    pub name: &'static str,
    pub script: String,
    pub ports: Vec<Value>,
    /// Resources instead of the job's (a launcher that needs no GPUs).
    pub resources: Option<Value>,
    pub mounts: Vec<Value>,
    pub env: Vec<Value>,
    pub security_context: Option<Value>,
}

/// The container, with only the fields that have something in them.
pub fn training(job: &TrainingJob, c: Container) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(c.name));
    m.insert("image".into(), json!(job.image.name));
    m.insert("command".into(), json!(["/bin/bash", "-c", c.script]));
    if let Some(p) = &job.image.pull_policy {
        m.insert("imagePullPolicy".into(), json!(p));
    }
    let env_from = env_from(job);
    let resources = c.resources.unwrap_or_else(|| resources(job));
    for (k, list) in [
        ("ports", c.ports),
        ("env", c.env),
        ("envFrom", env_from),
        ("volumeMounts", c.mounts),
    ] {
        if !list.is_empty() {
            m.insert(k.into(), Value::Array(list));
        }
    }
    if resources.as_object().is_some_and(|r| !r.is_empty()) {
        m.insert("resources".into(), resources);
    }
    if let Some(sc) = c.security_context {
        m.insert("securityContext".into(), sc);
    }
    Value::Object(m)
}

/// The user's variables (`--env`).
pub fn user_env(job: &TrainingJob) -> impl Iterator<Item = Value> + '_ {
    job.env.iter().map(|e| match &e.value {
        EnvValue::Literal(v) => json!({"name": e.name, "value": v}),
        EnvValue::Secret { name, key } => {
            json!({"name": e.name, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}})
        }
        EnvValue::ConfigMap { name, key } => {
            json!({"name": e.name, "valueFrom": {"configMapKeyRef": {"name": name, "key": key}}})
        }
    })
}

/// Whole Secrets and ConfigMaps as environment: the user's, then the cluster's NCCL settings.
fn env_from(job: &TrainingJob) -> Vec<Value> {
    job.env_from
        .iter()
        .map(|f| match f {
            EnvFrom::Secret(n) => json!({"secretRef": {"name": n}}),
            EnvFrom::ConfigMap(n) => json!({"configMapRef": {"name": n}}),
        })
        .chain(networking::env_from(job))
        .collect()
}

/// The pod's `imagePullSecrets`.
pub fn pull_secrets(job: &TrainingJob) -> Option<Value> {
    let s = &job.image.pull_secrets;
    (!s.is_empty()).then(|| Value::Array(s.iter().map(|n| json!({"name": n})).collect()))
}

/// Requests and limits: explicit values, else the preset; limits default to requests (MLBatch), GPUs
/// always request = limit.
fn resources(job: &TrainingJob) -> Value {
    let r = &job.resources;
    let mut req = Map::new();
    let mut lim = Map::new();
    let explicit =
        r.cpus.is_some() || r.memory.is_some() || r.cpu_limit.is_some() || r.memory_limit.is_some();
    if let (Some(p), false) = (r.preset, explicit) {
        let v = p.values();
        for (i, k) in ["cpu", "memory", "ephemeral-storage"]
            .into_iter()
            .enumerate()
        {
            req.insert(k.into(), json!(v[i]));
            lim.insert(k.into(), json!(v[i + 3]));
        }
    }
    let mut put = |k: &str, request: &Option<String>, limit: &Option<String>| {
        if let Some(q) = request {
            req.insert(k.into(), json!(canonical(q)));
        }
        if let Some(q) = limit.as_ref().or(request.as_ref()) {
            lim.insert(k.into(), json!(canonical(q)));
        }
    };
    put("cpu", &r.cpus, &r.cpu_limit);
    put("memory", &r.memory, &r.memory_limit);
    if let Some(e) = &r.ephemeral_storage {
        req.insert("ephemeral-storage".into(), json!(canonical(e)));
    }
    let n = &job.networking;
    for (resource, count) in [
        (&r.gpu_resource, r.gpus),
        (&n.roce_gdr_resource, n.roce_gdr),
    ] {
        if count > 0 {
            req.insert(resource.clone(), json!(count.to_string()));
            lim.insert(resource.clone(), json!(count.to_string()));
        }
    }
    let mut out = Map::new();
    if !req.is_empty() {
        out.insert("requests".into(), Value::Object(req));
    }
    if !lim.is_empty() {
        out.insert("limits".into(), Value::Object(lim));
    }
    Value::Object(out)
}

/// Quantities as the user wrote them, unless they wrote a bare number with a decimal point the API
/// server would rewrite anyway (`1.5` → `1500m`).
fn canonical(q: &str) -> String {
    match q.parse::<Quantity>() {
        Ok(v) if q.contains('.') && !q.ends_with(|c: char| c.is_ascii_alphabetic()) => {
            v.to_string()
        }
        _ => q.to_string(),
    }
}
