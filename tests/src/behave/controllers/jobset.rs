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
//! - the JobSet webhook defaults each replicated job's `completionMode` to Indexed.

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
        if finished(&js).is_some() {
            let active: Vec<String> = store
                .owned("Job", &uid)
                .into_iter()
                .filter(|j| job::finished(j).is_none())
                .map(|j| store::name(j).to_string())
                .collect();
            for j in active {
                store.delete("Job", &j);
            }
            continue;
        }
        if js["spec"]["suspend"] == true {
            continue;
        }
        let attempt = js["status"]["restarts"].as_u64().unwrap_or(0);
        let subdomain = js["spec"]["network"]["subdomain"]
            .as_str()
            .unwrap_or(&name)
            .to_string();
        let dns = js["spec"]["network"]["enableDNSHostnames"]
            .as_bool()
            .unwrap_or(true);
        if dns && store.get("Service", &subdomain).is_none() {
            let svc = json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": subdomain, "ownerReferences": [store::controller_ref(&js)]},
                "spec": {"clusterIP": "None", "selector": {format!("{L}jobset-name"): name},
                          "publishNotReadyAddresses": js["spec"]["network"]["publishNotReadyAddresses"].as_bool().unwrap_or(true)},
            });
            if let Err(e) = store.create(svc, ns) {
                problems.push(format!("JobSet {name}: {e}"));
            }
        }
        let rjobs = js["spec"]["replicatedJobs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let global: u64 = rjobs
            .iter()
            .map(|r| r["replicas"].as_u64().unwrap_or(1))
            .sum();
        let children: Vec<Value> = store.owned("Job", &uid).into_iter().cloned().collect();
        if children.iter().any(|j| job::finished(j) == Some(false)) {
            let max = js["spec"]["failurePolicy"]["maxRestarts"]
                .as_u64()
                .unwrap_or(0);
            for j in &children {
                store.delete("Job", store::name(j));
            }
            let js = store.get_mut("JobSet", &name).expect("jobset");
            if attempt < max {
                js["status"]["restarts"] = Value::from(attempt + 1);
            } else {
                set_condition(js, "Failed", "FailedJobs");
            }
            continue;
        }
        let targets: Vec<String> = js["spec"]["successPolicy"]["targetReplicatedJobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        let any = js["spec"]["successPolicy"]["operator"] == "Any";
        let (mut all_done, mut one_done) = (true, false);
        let mut global_index = 0u64;
        for r in &rjobs {
            let rname = r["name"].as_str().unwrap_or("");
            let replicas = r["replicas"].as_u64().unwrap_or(1);
            for i in 0..replicas {
                let jname = format!("{name}-{rname}-{i}");
                let targeted = targets.is_empty() || targets.iter().any(|t| t == rname);
                match store.get("Job", &jname) {
                    Some(j) => {
                        let done = job::finished(j) == Some(true);
                        if targeted {
                            all_done &= done;
                            one_done |= done;
                        }
                    }
                    None => {
                        all_done &= !targeted;
                        let mut j = r["template"].clone();
                        let mut meta = j["metadata"].clone();
                        if !meta.is_object() {
                            meta = json!({});
                        }
                        let marks = [
                            ("jobset-name", name.clone()),
                            ("replicatedjob-name", rname.to_string()),
                            ("replicatedjob-replicas", replicas.to_string()),
                            ("job-index", i.to_string()),
                            ("job-global-index", global_index.to_string()),
                            ("global-replicas", global.to_string()),
                            ("restart-attempt", attempt.to_string()),
                            ("job-key", format!("{ns}/{jname}")),
                        ];
                        for (k, v) in &marks {
                            meta["labels"][format!("{L}{k}")] = Value::from(v.clone());
                            meta["annotations"][format!("{L}{k}")] = Value::from(v.clone());
                            j["spec"]["template"]["metadata"]["labels"][format!("{L}{k}")] =
                                Value::from(v.clone());
                            j["spec"]["template"]["metadata"]["annotations"][format!("{L}{k}")] =
                                Value::from(v.clone());
                        }
                        meta["name"] = Value::from(jname.clone());
                        meta["ownerReferences"] = json!([store::controller_ref(&js)]);
                        // The JobSet webhook's defaulting (`pkg/webhooks/jobset_webhook.go`,
                        // `Default`): replicated jobs are Indexed unless they say otherwise.
                        if j["spec"]["completionMode"].is_null() {
                            j["spec"]["completionMode"] = Value::from("Indexed");
                        }
                        if dns {
                            j["spec"]["template"]["spec"]["subdomain"] =
                                Value::from(subdomain.clone());
                        }
                        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": j["spec"]});
                        if let Err(e) = store.create(job, ns) {
                            problems.push(format!("JobSet {name}: {e}"));
                        }
                    }
                }
                global_index += 1;
            }
        }
        if (any && one_done) || (!any && all_done && !rjobs.is_empty()) {
            set_condition(
                store.get_mut("JobSet", &name).expect("jobset"),
                "Completed",
                "AllJobsCompleted",
            );
        }
    }
}
