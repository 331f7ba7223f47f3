//! Object metadata every layout shares: our labels on every object and pod (DESIGN §3), the user's
//! labels and annotations, and Kueue's queue label on the one object Kueue admits.

use serde_json::{Map, Value, json};

use crate::model::TrainingJob;
use crate::vocab::kubernetes::{APP_INSTANCE, APP_MANAGED_BY, APP_NAME};
use crate::vocab::kueue::QUEUE_NAME;
use crate::vocab::mltrain::{JOB_NAME, MANAGER, WORLD_SIZE};

/// Labels on every object and pod of a job (DESIGN §3).
pub fn object_labels(job: &TrainingJob) -> Map<String, Value> {
    let mut m = labels_map(&job.scheduling.labels);
    m.insert(APP_NAME.into(), json!(job.framework().as_str()));
    m.insert(APP_INSTANCE.into(), json!(job.name));
    m.insert(APP_MANAGED_BY.into(), json!(MANAGER));
    m.insert(JOB_NAME.into(), json!(job.name));
    m.insert(WORLD_SIZE.into(), json!(job.world_size.to_string()));
    m
}

/// [`object_labels`] plus the queue label: the labels of the object Kueue admits.
pub fn workload_labels(job: &TrainingJob) -> Map<String, Value> {
    let mut m = object_labels(job);
    if let Some(q) = &job.scheduling.queue {
        m.insert(QUEUE_NAME.into(), json!(q));
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
