//! The Job controller (kubernetes/kubernetes `pkg/controller/job/job_controller.go` `manageJob`,
//! `pkg/controller/job/indexed_job_utils.go`):
//! - a suspended Job creates no pods;
//! - Indexed mode: one pod per missing index, named `<job>-<index>-<5 chars>`
//!   (`podGenerateNameWithIndex`), with the annotation and label `batch.kubernetes.io/job-completion-index`
//!   (`addCompletionIndexAnnotation`, `addCompletionIndexLabel`), the env `JOB_COMPLETION_INDEX` from
//!   that annotation (`addCompletionIndexEnvVariable`), and `spec.hostname = <job>-<index>` when the
//!   template has none;
//! - NonIndexed: `<job>-<5 chars>` until `completions` pods succeeded;
//! - pods carry `batch.kubernetes.io/controller-uid` and `batch.kubernetes.io/job-name` (the API's
//!   defaulting of the template labels, `pkg/apis/batch/v1/defaults.go` and the strategy's
//!   `generateSelector`);
//! - a failed pod counts against `backoffLimit` (default 6), and with `restartPolicy: OnFailure` so
//!   do the container restarts of its running pods (`pastBackoffLimitOnFailure`); past it the Job
//!   gets `Failed` (BackoffLimitExceeded) and its active pods are deleted (`deleteActivePods`); a
//!   `podFailurePolicy` rule with `FailJob` on a matching exit code fails it at once; `Ignore` does not
//!   count the failure;
//! - Indexed: Complete when every index succeeded; NonIndexed: when `completions` pods did;
//! - `status.active`, `ready` (active pods whose Ready condition is True), `succeeded`, `failed`.

use serde_json::{Value, json};

use super::{Admission, create_pod, ended, phase, set_condition, suffix};
use crate::behave::store::{self, Store};

const INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// Whether a Job is finished, and how.
pub fn finished(job: &Value) -> Option<bool> {
    super::outcome(job, "Complete", "Failed")
}

fn pod_index(pod: &Value) -> Option<u64> {
    pod["metadata"]["annotations"][INDEX].as_str()?.parse().ok()
}

fn exit_codes(pod: &Value) -> Vec<i64> {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["state"]["terminated"]["exitCode"].as_i64())
        .filter(|c| *c != 0)
        .collect()
}

/// What a `podFailurePolicy` says about a failed pod: Some("FailJob"|"Ignore"|"Count").
fn policy_action(job: &Value, pod: &Value) -> &'static str {
    for rule in job["spec"]["podFailurePolicy"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let on = &rule["onExitCodes"];
        if on.is_object() {
            let values: Vec<i64> = on["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect();
            let hit = exit_codes(pod).iter().any(|c| {
                let inside = values.contains(c);
                if on["operator"] == "NotIn" {
                    !inside
                } else {
                    inside
                }
            });
            if hit {
                return match rule["action"].as_str() {
                    Some("FailJob") => "FailJob",
                    Some("Ignore") => "Ignore",
                    _ => "Count",
                };
            }
        }
        // onPodConditions (DisruptionTarget) never match: nothing disrupts pods here.
    }
    "Count"
}

/// `pastBackoffLimitOnFailure`: with `restartPolicy: OnFailure` a failing container restarts in
/// place and its pod never fails, so the restarts of running and pending pods count against
/// `backoffLimit` instead.
fn past_backoff_limit_on_failure(job: &Value, pods: &[Value], backoff: u64) -> bool {
    if job["spec"]["template"]["spec"]["restartPolicy"] != "OnFailure" {
        return false;
    }
    let restarts: u64 = pods
        .iter()
        .filter(|p| matches!(phase(p), "Running" | "Pending"))
        .flat_map(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c["restartCount"].as_u64())
        .sum();
    if backoff == 0 {
        restarts > 0
    } else {
        restarts >= backoff
    }
}

fn is_ready(pod: &Value) -> bool {
    super::has_condition(pod, "Ready")
}

/// The Job's status counts (`syncJob`): active pods, those of them Ready (`countReadyPods`, which
/// the JobSet controller reads), succeeded and failed pods.
fn publish_status(store: &mut Store, name: &str, pods: &[Value]) {
    let active: Vec<&Value> = pods.iter().filter(|p| !ended(p)).collect();
    let count = |ph: &str| pods.iter().filter(|p| phase(p) == ph).count();
    let status = json!({
        "active": active.len(),
        "ready": active.iter().filter(|p| is_ready(p)).count(),
        "succeeded": count("Succeeded"),
        "failed": count("Failed"),
    });
    let job = store.get_mut("Job", name).expect("job");
    for (k, v) in status.as_object().expect("object") {
        job["status"][k] = v.clone();
    }
}

/// One reconcile of every Job.
pub fn reconcile(store: &mut Store, adm: &Admission, ns: &str, problems: &mut Vec<String>) {
    for name in store.names("Job") {
        let job = store.get("Job", &name).cloned().expect("job");
        if finished(&job).is_some() {
            continue;
        }
        let uid = store::uid(&job).to_string();
        let pods: Vec<Value> = store.owned("Pod", &uid).into_iter().cloned().collect();
        publish_status(store, &name, &pods);
        if job["spec"]["suspend"] == true {
            for p in pods.iter().filter(|p| !ended(p)) {
                store.delete("Pod", store::name(p));
            }
            continue;
        }
        if let Some(reason) = failure(&job, &pods) {
            for p in pods.iter().filter(|p| !ended(p)) {
                store.delete("Pod", store::name(p));
            }
            set_condition(store.get_mut("Job", &name).expect("job"), "Failed", reason);
            continue;
        }
        let created = if job["spec"]["completionMode"] == "Indexed" {
            indexed(store, adm, ns, &job, &pods)
        } else {
            non_indexed(store, adm, ns, &job, &pods)
        };
        if let Err(e) = created {
            problems.push(format!("Job {name}: FailedCreate: {e}"));
        }
    }
}

/// Why the Job fails now, if it does.
fn failure(job: &Value, pods: &[Value]) -> Option<&'static str> {
    let backoff = job["spec"]["backoffLimit"].as_u64().unwrap_or(6);
    let mut failures = 0;
    for p in pods.iter().filter(|p| phase(p) == "Failed") {
        match policy_action(job, p) {
            "FailJob" => return Some("PodFailurePolicy"),
            "Ignore" => {}
            _ => failures += 1,
        }
    }
    (failures > backoff || past_backoff_limit_on_failure(job, pods, backoff))
        .then_some("BackoffLimitExceeded")
}

/// Indexed mode: Complete when every index succeeded, else a pod for every index with none.
fn indexed(
    store: &mut Store,
    adm: &Admission,
    ns: &str,
    job: &Value,
    pods: &[Value],
) -> Result<(), String> {
    let name = store::name(job).to_string();
    let uid = store::uid(job).to_string();
    let completions = job["spec"]["completions"].as_u64().unwrap_or(1);
    let done: std::collections::BTreeSet<u64> = pods
        .iter()
        .filter(|p| phase(p) == "Succeeded")
        .filter_map(pod_index)
        .collect();
    if done.len() as u64 >= completions {
        set_condition(store.get_mut("Job", &name).expect("job"), "Complete", "");
        return Ok(());
    }
    for i in 0..completions {
        let active = pods.iter().any(|p| pod_index(p) == Some(i) && !ended(p));
        if done.contains(&i) || active {
            continue;
        }
        let mut t = job["spec"]["template"].clone();
        labels(&mut t, &name, &uid);
        t["metadata"]["annotations"][INDEX] = Value::from(i.to_string());
        t["metadata"]["labels"][INDEX] = Value::from(i.to_string());
        if t["spec"]["hostname"].is_null() {
            t["spec"]["hostname"] = Value::from(format!("{name}-{i}"));
        }
        for section in ["initContainers", "containers"] {
            for c in t["spec"][section].as_array_mut().into_iter().flatten() {
                let env = c["env"].as_array().cloned().unwrap_or_default();
                if !env.iter().any(|e| e["name"] == "JOB_COMPLETION_INDEX") {
                    let mut env = env;
                    env.push(json!({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": format!("metadata.annotations['{INDEX}']")}}}));
                    c["env"] = Value::from(env);
                }
            }
        }
        let pod = format!("{name}-{i}-{}", suffix(store));
        create_pod(store, adm, ns, &pod, &t, job)?;
    }
    Ok(())
}

/// NonIndexed mode: Complete when `completions` pods succeeded, else up to `parallelism` active.
fn non_indexed(
    store: &mut Store,
    adm: &Admission,
    ns: &str,
    job: &Value,
    pods: &[Value],
) -> Result<(), String> {
    let name = store::name(job).to_string();
    let uid = store::uid(job).to_string();
    let completions = job["spec"]["completions"].as_u64().unwrap_or(1);
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as u64;
    if succeeded >= completions {
        set_condition(store.get_mut("Job", &name).expect("job"), "Complete", "");
        return Ok(());
    }
    let active = pods.iter().filter(|p| !ended(p)).count() as u64;
    let parallelism = job["spec"]["parallelism"].as_u64().unwrap_or(1);
    for _ in active..parallelism.min(completions - succeeded) {
        let mut t = job["spec"]["template"].clone();
        labels(&mut t, &name, &uid);
        let pod = format!("{name}-{}", suffix(store));
        create_pod(store, adm, ns, &pod, &t, job)?;
    }
    Ok(())
}

fn labels(t: &mut Value, name: &str, uid: &str) {
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("job-name", name),
    ] {
        t["metadata"]["labels"][k] = Value::from(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: &str, restarts: u64) -> Value {
        json!({"status": {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": restarts}]}})
    }

    #[test]
    fn on_failure_restarts_of_live_pods_count_against_the_backoff_limit() {
        let job = |policy: &str| json!({"spec": {"template": {"spec": {"restartPolicy": policy}}}});
        let pods = [pod("Running", 4), pod("Pending", 2), pod("Failed", 9)];
        assert!(past_backoff_limit_on_failure(&job("OnFailure"), &pods, 6));
        assert!(!past_backoff_limit_on_failure(&job("OnFailure"), &pods, 7));
        assert!(!past_backoff_limit_on_failure(&job("Never"), &pods, 6));
        assert!(past_backoff_limit_on_failure(
            &job("OnFailure"),
            &pods[1..2],
            0
        ));
        assert_eq!(
            failure(&job("OnFailure"), &pods),
            Some("BackoffLimitExceeded")
        );
    }
}
