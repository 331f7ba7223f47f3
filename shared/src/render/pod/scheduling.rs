//! Where and when the pods run: priority, scheduler, service account, node selection, tolerations,
//! affinity (anti-affinity between the job's pods, MLBatch's avoidance of unhealthy GPUs), and the
//! pod's requests to Autopilot and to the policy's host lists.

use serde_json::{Map, Value, json};

use crate::model::{AntiAffinity, Toleration, TrainingJob};
use crate::render::meta::labels_map;
use crate::vocab::autopilot::{GPU_HEALTH, GPU_UNHEALTHY, HEALTH_CHECKS};
use crate::vocab::kubernetes::HOSTNAME;
use crate::vocab::mltrain::{HOST_IGNORE_LIST, JOB_NAME};

/// `autopilot` and one label per health check, which make Autopilot run them before the pod starts.
pub fn labels(job: &TrainingJob) -> Map<String, Value> {
    let checks = &job.scheduling.health_checks;
    if checks.is_empty() {
        return Map::new();
    }
    std::iter::once(HEALTH_CHECKS)
        .chain(checks.iter().map(String::as_str))
        .map(|k| (k.to_string(), json!("")))
        .collect()
}

/// The nodes the policy's host list must leave out for this job.
pub fn annotations(job: &TrainingJob) -> Map<String, Value> {
    let mut m = Map::new();
    if !job.scheduling.host_ignore.is_empty() {
        m.insert(
            HOST_IGNORE_LIST.into(),
            json!(job.scheduling.host_ignore.join(",")),
        );
    }
    m
}

/// The pod spec's scheduling fields.
pub fn spec(job: &TrainingJob) -> Map<String, Value> {
    let s = &job.scheduling;
    let mut spec = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            spec.insert(k.into(), v);
        }
    };
    put("priorityClassName", s.priority.as_ref().map(|p| json!(p)));
    put("schedulerName", s.scheduler.as_ref().map(|n| json!(n)));
    put(
        "serviceAccountName",
        s.service_account.as_ref().map(|n| json!(n)),
    );
    put(
        "nodeSelector",
        (!s.node_selector.is_empty()).then(|| Value::Object(labels_map(&s.node_selector))),
    );
    put(
        "tolerations",
        (!s.tolerations.is_empty())
            .then(|| Value::Array(s.tolerations.iter().map(toleration).collect())),
    );
    put("affinity", affinity(job));
    spec
}

fn toleration(t: &Toleration) -> Value {
    match &t.value {
        Some(val) => json!({"key": t.key, "effect": t.effect, "operator": "Equal", "value": val}),
        None => json!({"key": t.key, "effect": t.effect, "operator": "Exists"}),
    }
}

/// Keep off unhealthy GPUs (node affinity) and spread or pack the job's pods (pod anti-affinity).
fn affinity(job: &TrainingJob) -> Option<Value> {
    let s = &job.scheduling;
    let mut affinity = Map::new();
    if s.avoid_unhealthy_gpus {
        affinity.insert(
            "nodeAffinity".into(),
            json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": GPU_HEALTH, "operator": "NotIn", "values": GPU_UNHEALTHY}
            ]}]}}),
        );
    }
    if let Some(a) = s.anti_affinity {
        let term = json!({
            "labelSelector": {"matchLabels": {JOB_NAME: job.name}},
            "topologyKey": HOSTNAME,
        });
        let aff = match a {
            AntiAffinity::Hard => json!({"requiredDuringSchedulingIgnoredDuringExecution": [term]}),
            AntiAffinity::Soft => {
                json!({"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term}]})
            }
        };
        affinity.insert("podAntiAffinity".into(), aff);
    }
    (!affinity.is_empty()).then_some(Value::Object(affinity))
}
