//! Object metadata every layout shares: our labels on every object and pod (DESIGN §3), the user's
//! labels and annotations, and Kueue's queue label on the one object Kueue admits.

use serde_json::{Map, Value, json};

use crate::engine::facts::{JOB_NAME_LABEL, WORLD_SIZE_LABEL};
use crate::model::TrainingJob;

/// Kueue's queue label.
pub const QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
/// Who made an object.
pub const MANAGED_BY: &str = "kubectl-mltrain";

/// Labels on every object and pod of a job (DESIGN §3).
pub fn object_labels(job: &TrainingJob) -> Map<String, Value> {
    let mut m = labels_map(&job.scheduling.labels);
    m.insert(
        "app.kubernetes.io/name".into(),
        json!(job.framework().as_str()),
    );
    m.insert("app.kubernetes.io/instance".into(), json!(job.name));
    m.insert("app.kubernetes.io/managed-by".into(), json!(MANAGED_BY));
    m.insert(JOB_NAME_LABEL.into(), json!(job.name));
    m.insert(WORLD_SIZE_LABEL.into(), json!(job.world_size.to_string()));
    m
}

/// [`object_labels`] plus the queue label: the labels of the object Kueue admits.
pub fn workload_labels(job: &TrainingJob) -> Map<String, Value> {
    let mut m = object_labels(job);
    if let Some(q) = &job.scheduling.queue {
        m.insert(QUEUE_LABEL.into(), json!(q));
    }
    m
}

/// `key: value` pairs as a JSON object.
pub fn labels_map(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
}

/// Metadata from its parts; no `annotations` when there are none.
pub fn object_metadata(
    name: &str,
    namespace: Option<&str>,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("labels".into(), Value::Object(labels));
    if let Some(ns) = namespace {
        m.insert("namespace".into(), json!(ns));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    Value::Object(m)
}

/// Metadata of a top-level object: name, namespace, labels, the user's annotations.
pub fn metadata(job: &TrainingJob, name: &str) -> Value {
    object_metadata(
        name,
        job.namespace.as_deref(),
        object_labels(job),
        labels_map(&job.scheduling.annotations),
    )
}

/// Metadata of an object Kueue admits: [`metadata`] plus the queue label.
pub fn workload_metadata(job: &TrainingJob, name: &str) -> Value {
    object_metadata(
        name,
        job.namespace.as_deref(),
        workload_labels(job),
        labels_map(&job.scheduling.annotations),
    )
}

/// Metadata of a workload inside an AppWrapper: no namespace and no queue label, which the
/// AppWrapper carries for it.
pub fn component_metadata(job: &TrainingJob) -> Value {
    object_metadata(
        &job.name,
        None,
        object_labels(job),
        labels_map(&job.scheduling.annotations),
    )
}
