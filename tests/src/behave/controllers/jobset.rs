//! The JobSet controller (kubernetes-sigs/jobset `pkg/controllers/jobset_controller.go`,
//! `constructJob`, `labelAndAnnotateObject`, `pkg/controllers/pod_controller.go`;
//! `api/jobset/v1alpha2/jobset_types.go` for the label keys):
//! - each replicated job makes `replicas` Jobs named `<jobset>-<replicatedJob>-<jobIndex>`
//!   (`placement.GenJobName`), their pod templates labelled and annotated with
//!   `jobset.sigs.k8s.io/jobset-name`, `replicatedjob-name`, `replicatedjob-replicas`, `job-index`,
//!   `job-global-index`, `global-replicas`, `restart-attempt`, `job-key`;
//! - with DNS hostnames enabled (the default) the templates get `subdomain` = `spec.network.subdomain`
//!   or the JobSet's name, and a headless Service of that name selects
//!   `jobset.sigs.k8s.io/jobset-name=<jobset>` with `publishNotReadyAddresses: true`
//!   (`controllers.constructHeadlessService`); the Job controller then names pod hosts
//!   `<jobset>-<replicatedJob>-<jobIndex>-<podIndex>`;
//! - a failed child Job restarts the whole set while `failurePolicy.maxRestarts` allows
//!   (delete every Job, recreate with `restart-attempt` + 1), else the JobSet fails and its active
//!   Jobs are deleted;
//! - Completed per `successPolicy` (`executeSuccessPolicy`): operator All (the default) when every Job
//!   of the targeted replicated jobs (all, when none are named) completed, Any when one did; a finished
//!   JobSet deletes its remaining active Jobs (`deleteJobs(ownedJobs.active)`);
//! - a suspended JobSet creates no Jobs;
//! - `status.replicatedJobsStatus` counts each replicated job's ready, succeeded, failed and active
//!   Jobs (`calculateReplicatedJobStatuses`), and a replicated job with `dependsOn` gets its Jobs only
//!   once the replicated jobs it names are Ready or Complete (`pkg/controllers/depends_on.go`,
//!   `dependencyReachedStatus`; the webhook requires them to come earlier in the list);
//! - the JobSet webhook (`pkg/webhooks/jobset_webhook.go`, `Default`) defaults each replicated job's
//!   `completionMode` to Indexed and its pods' `restartPolicy` to OnFailure.

use serde_json::{Value, json};

use super::job;
use super::{Admission, set_condition};
use crate::behave::store::{self, Store};

const L: &str = "jobset.sigs.k8s.io/";

/// Whether a JobSet is finished, and how.
pub fn finished(js: &Value) -> Option<bool> {
    super::outcome(js, "Completed", "Failed")
}

pub fn reconcile(store: &mut Store, _adm: &Admission, ns: &str, problems: &mut Vec<String>) {
    for name in store.names("JobSet") {
        let js = store.get("JobSet", &name).cloned().expect("jobset");
        let uid = store::uid(&js).to_string();
        let children: Vec<Value> = store.owned("Job", &uid).into_iter().cloned().collect();
        store.get_mut("JobSet", &name).expect("jobset")["status"]["replicatedJobsStatus"] =
            Value::from(replicated_job_statuses(&js, &children));
        if finished(&js).is_some() {
            for j in children.iter().filter(|j| job::finished(j).is_none()) {
                store.delete("Job", store::name(j));
            }
            continue;
        }
        if js["spec"]["suspend"] == true {
            continue;
        }
        if children.iter().any(|j| job::finished(j) == Some(false)) {
            fail_or_restart(store, &name, &children);
            continue;
        }
        if succeeded(&js, &children) {
            set_condition(
                store.get_mut("JobSet", &name).expect("jobset"),
                "Completed",
                "AllJobsCompleted",
            );
            continue;
        }
        if let Err(e) = headless_service(store, &js, ns) {
            problems.push(format!("JobSet {name}: {e}"));
        }
        let js = store.get("JobSet", &name).cloned().expect("jobset");
        for e in create_jobs(store, &js, &children, ns) {
            problems.push(format!("JobSet {name}: {e}"));
        }
    }
}

/// `createHeadlessSvcIfNecessary`: with DNS hostnames (the default), a headless Service named
/// after the subdomain selects every pod of the JobSet.
fn headless_service(store: &mut Store, js: &Value, ns: &str) -> Result<(), String> {
    let dns = js["spec"]["network"]["enableDNSHostnames"]
        .as_bool()
        .unwrap_or(true);
    let subdomain = subdomain(js);
    if !dns || store.get("Service", &subdomain).is_some() {
        return Ok(());
    }
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": subdomain, "ownerReferences": [store::controller_ref(js)]},
        "spec": {"clusterIP": "None", "selector": {format!("{L}jobset-name"): store::name(js)},
                  "publishNotReadyAddresses": js["spec"]["network"]["publishNotReadyAddresses"].as_bool().unwrap_or(true)},
    });
    store.create(svc, ns).map(|_| ())
}

fn subdomain(js: &Value) -> String {
    js["spec"]["network"]["subdomain"]
        .as_str()
        .unwrap_or(store::name(js))
        .to_string()
}

fn replicas(rjob: &Value) -> u64 {
    rjob["replicas"].as_u64().unwrap_or(1)
}

/// `calculateReplicatedJobStatuses`: per replicated job, its Jobs that are ready (active, with
/// `succeeded + ready` pods at least `min(parallelism, completions)`), succeeded, failed, active.
fn replicated_job_statuses(js: &Value, children: &[Value]) -> Vec<Value> {
    let rjobs = js["spec"]["replicatedJobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    rjobs
        .iter()
        .map(|r| {
            let rname = r["name"].as_str().unwrap_or("");
            let mine: Vec<&Value> = children
                .iter()
                .filter(|j| store::label(j, &format!("{L}replicatedjob-name")) == Some(rname))
                .collect();
            let n = |f: &dyn Fn(&Value) -> bool| mine.iter().filter(|j| f(j)).count();
            let ready = n(&|j| {
                let pods = j["spec"]["parallelism"].as_u64().unwrap_or(1).min(
                    j["spec"]["completions"].as_u64().unwrap_or(u64::MAX),
                );
                let s = &j["status"];
                job::finished(j).is_none()
                    && s["succeeded"].as_u64().unwrap_or(0) + s["ready"].as_u64().unwrap_or(0)
                        >= pods
            });
            json!({
                "name": rname,
                "ready": ready,
                "succeeded": n(&|j| job::finished(j) == Some(true)),
                "failed": n(&|j| job::finished(j) == Some(false)),
                "active": n(&|j| job::finished(j).is_none() && j["status"]["active"].as_u64().unwrap_or(0) > 0),
                "suspended": n(&|j| job::finished(j).is_none() && j["spec"]["suspend"] == true),
            })
        })
        .collect()
}

/// `dependencyReachedStatus` for every entry of the replicated job's `dependsOn`: Ready when
/// `ready + failed + succeeded` Jobs of the other replicated job equal its replicas, Complete when
/// `succeeded` does.
fn dependencies_reached(js: &Value, rjob: &Value) -> bool {
    let statuses = js["status"]["replicatedJobsStatus"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let rjobs = js["spec"]["replicatedJobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    rjob["dependsOn"].as_array().into_iter().flatten().all(|d| {
        let Some(st) = statuses.iter().find(|s| s["name"] == d["name"]) else {
            return false;
        };
        let Some(other) = rjobs.iter().find(|r| r["name"] == d["name"]) else {
            return false;
        };
        let count = |k: &str| st[k].as_u64().unwrap_or(0);
        match d["status"].as_str() {
            Some("Complete") => count("succeeded") == replicas(other),
            Some("Ready") => {
                count("ready") + count("failed") + count("succeeded") == replicas(other)
            }
            _ => false,
        }
    })
}

/// A failed child Job restarts the whole set while `failurePolicy.maxRestarts` allows, else the
/// JobSet fails.
fn fail_or_restart(store: &mut Store, name: &str, children: &[Value]) {
    for j in children {
        store.delete("Job", store::name(j));
    }
    let js = store.get_mut("JobSet", name).expect("jobset");
    let attempt = js["status"]["restarts"].as_u64().unwrap_or(0);
    let max = js["spec"]["failurePolicy"]["maxRestarts"]
        .as_u64()
        .unwrap_or(0);
    if attempt < max {
        js["status"]["restarts"] = Value::from(attempt + 1);
    } else {
        set_condition(js, "Failed", "FailedJobs");
    }
}

/// `executeSuccessPolicy`: operator All (the default) when every Job of the targeted replicated
/// jobs (all, when none are named) completed, Any when one did.
fn succeeded(js: &Value, children: &[Value]) -> bool {
    let targets: Vec<&str> = js["spec"]["successPolicy"]["targetReplicatedJobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let targeted = |rname: &str| targets.is_empty() || targets.contains(&rname);
    let rjobs = js["spec"]["replicatedJobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let done = children
        .iter()
        .filter(|j| job::finished(j) == Some(true))
        .filter(|j| targeted(store::label(j, &format!("{L}replicatedjob-name")).unwrap_or("")))
        .count() as u64;
    let expected: u64 = if js["spec"]["successPolicy"]["operator"] == "Any" {
        1
    } else {
        rjobs
            .iter()
            .filter(|r| targeted(r["name"].as_str().unwrap_or("")))
            .map(replicas)
            .sum()
    };
    !rjobs.is_empty() && done >= expected
}

/// `reconcileReplicatedJobs`: the missing Jobs of every replicated job whose dependencies are
/// reached; the errors of those that could not be created.
fn create_jobs(store: &mut Store, js: &Value, children: &[Value], ns: &str) -> Vec<String> {
    let rjobs = js["spec"]["replicatedJobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let global: u64 = rjobs.iter().map(replicas).sum();
    let mut errors = Vec::new();
    let mut global_index = 0u64;
    for r in &rjobs {
        let reached = dependencies_reached(js, r);
        for i in 0..replicas(r) {
            let jname = format!(
                "{}-{}-{i}",
                store::name(js),
                r["name"].as_str().unwrap_or("")
            );
            if reached && !children.iter().any(|j| store::name(j) == jname) {
                let job = construct_job(js, r, i, global_index, global, ns);
                if let Err(e) = store.create(job, ns) {
                    errors.push(e);
                }
            }
            global_index += 1;
        }
    }
    errors
}

/// `constructJob`: the replicated job's template, labelled and annotated on the Job and its pod
/// template, with the JobSet webhook's defaults (`Default`: Indexed completion, restart policy
/// OnFailure) and the subdomain.
fn construct_job(js: &Value, r: &Value, i: u64, global_index: u64, global: u64, ns: &str) -> Value {
    let name = store::name(js);
    let rname = r["name"].as_str().unwrap_or("");
    let jname = format!("{name}-{rname}-{i}");
    let attempt = js["status"]["restarts"].as_u64().unwrap_or(0);
    let mut j = r["template"].clone();
    let mut meta = j["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    let marks = [
        ("jobset-name", name.to_string()),
        ("replicatedjob-name", rname.to_string()),
        ("replicatedjob-replicas", replicas(r).to_string()),
        ("job-index", i.to_string()),
        ("job-global-index", global_index.to_string()),
        ("global-replicas", global.to_string()),
        ("restart-attempt", attempt.to_string()),
        ("job-key", format!("{ns}/{jname}")),
    ];
    for (k, v) in &marks {
        meta["labels"][format!("{L}{k}")] = Value::from(v.clone());
        meta["annotations"][format!("{L}{k}")] = Value::from(v.clone());
        j["spec"]["template"]["metadata"]["labels"][format!("{L}{k}")] = Value::from(v.clone());
        j["spec"]["template"]["metadata"]["annotations"][format!("{L}{k}")] =
            Value::from(v.clone());
    }
    meta["name"] = Value::from(jname);
    meta["ownerReferences"] = json!([store::controller_ref(js)]);
    if j["spec"]["completionMode"].is_null() {
        j["spec"]["completionMode"] = Value::from("Indexed");
    }
    if j["spec"]["template"]["spec"]["restartPolicy"].is_null() {
        j["spec"]["template"]["spec"]["restartPolicy"] = Value::from("OnFailure");
    }
    if js["spec"]["network"]["enableDNSHostnames"]
        .as_bool()
        .unwrap_or(true)
    {
        j["spec"]["template"]["spec"]["subdomain"] = Value::from(subdomain(js));
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": j["spec"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(rjob: &str, i: u64, status: Value, condition: Option<&str>) -> Value {
        let mut j = json!({"metadata": {"name": format!("js-{rjob}-{i}"),
                "labels": {format!("{L}replicatedjob-name"): rjob}},
            "spec": {"parallelism": 2, "completions": 2}, "status": status});
        if let Some(c) = condition {
            set_condition(&mut j, c, "");
        }
        j
    }

    fn launcher_waits_for_nodes() -> Value {
        json!({"metadata": {"name": "js"}, "spec": {"replicatedJobs": [
            {"name": "node", "replicas": 2, "template": {"spec": {}}},
            {"name": "launcher", "dependsOn": [{"name": "node", "status": "Ready"}],
             "template": {"spec": {}}}]}})
    }

    #[test]
    fn a_job_is_ready_when_its_ready_and_succeeded_pods_cover_its_parallelism() {
        let js = launcher_waits_for_nodes();
        let children = [
            child(
                "node",
                0,
                json!({"active": 2, "ready": 1, "succeeded": 1}),
                None,
            ),
            child("node", 1, json!({"active": 2, "ready": 1}), None),
        ];
        let st = replicated_job_statuses(&js, &children);
        assert_eq!(
            st[0],
            json!({"name": "node", "ready": 1, "succeeded": 0, "failed": 0, "active": 2, "suspended": 0})
        );
        assert_eq!(st[1]["ready"], 0);
    }

    #[test]
    fn a_dependent_job_waits_until_every_job_it_depends_on_is_ready_or_done() {
        let mut js = launcher_waits_for_nodes();
        let rjobs = js["spec"]["replicatedJobs"].clone();
        let children = |second: Value, cond| {
            [
                child("node", 0, json!({"active": 2, "ready": 2}), None),
                child("node", 1, second, cond),
            ]
        };
        for (second, cond, reached) in [
            (json!({"active": 2, "ready": 1}), None, false),
            (json!({"active": 2, "ready": 2}), None, true),
            (json!({}), Some("Failed"), true),
        ] {
            js["status"]["replicatedJobsStatus"] =
                Value::from(replicated_job_statuses(&js, &children(second, cond)));
            assert_eq!(dependencies_reached(&js, &rjobs[1]), reached);
        }
        assert!(dependencies_reached(&js, &rjobs[0]));
    }
}
