//! Kubeflow training-operator v1's PyTorchJob controller (kubeflow/training-operator
//! `pkg/controller.v1/pytorch/pytorchjob_controller.go`, `envvar.go`, `master.go`;
//! `pkg/controller.v1/common/pod.go`, `service.go`, `job.go`; `pkg/core/pod.go`, `job.go`):
//! - one pod per replica, named `<job>-<type>-<index>` (`common.GenGeneralName`), labelled
//!   `training.kubeflow.org/job-name`, `operator-name`, `replica-type`, `replica-index`, and
//!   `job-role: master` on the master; the replica's `restartPolicy` on the pod (ExitCode → Never);
//! - one headless Service per pod, of the same name, selecting it by those labels, with the ports of
//!   the container port named `pytorchjob-port`;
//! - env on every container (`setPodEnv`): `PYTHONUNBUFFERED=1`, `MASTER_ADDR`/`PET_MASTER_ADDR` =
//!   `<job>-master-0`, `MASTER_PORT`/`PET_MASTER_PORT` = the master's `pytorchjob-port` (default 23456),
//!   `WORLD_SIZE` = replicas × nprocPerNode, `RANK` = master 0, worker index + 1, `PET_NNODES` = replicas,
//!   `PET_NODE_RANK` = RANK, `PET_NPROC_PER_NODE` = `nprocPerNode` (default 1, "auto" kept);
//! - Succeeded when the master succeeded; Failed when a replica's pod failed and its restart policy
//!   does not restart it; `backoffLimit` counts container restarts only for OnFailure/Always
//!   (`pastBackoffLimit`), so a Never replica's failure fails the job at once;
//! - when finished, pods are deleted per `runPolicy.cleanPodPolicy` (None by default: nothing is
//!   deleted; Running: the running ones; All: every one) with their Services;
//! - a suspended job (`runPolicy.suspend`) creates nothing.

use serde_json::{Value, json};

use super::{Admission, create_pod, ended, phase, set_condition};
use crate::behave::store::{self, Store};

const L: &str = "training.kubeflow.org/";

pub fn finished(j: &Value) -> Option<bool> {
    super::outcome(j, "Succeeded", "Failed")
}

fn nproc(job: &Value) -> (u64, String) {
    match &job["spec"]["nprocPerNode"] {
        Value::String(s) => (s.parse().unwrap_or(1), s.clone()),
        Value::Number(n) => (n.as_u64().unwrap_or(1), n.to_string()),
        _ => (1, "1".into()),
    }
}

fn master_port(job: &Value) -> u64 {
    job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .find(|p| p["name"] == "pytorchjob-port")
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or(23456)
}

pub fn reconcile(store: &mut Store, adm: &Admission, ns: &str, problems: &mut Vec<String>) {
    for name in store.names("PyTorchJob") {
        let job = store.get("PyTorchJob", &name).cloned().expect("job");
        let uid = store::uid(&job).to_string();
        let pods: Vec<Value> = store.owned("Pod", &uid).into_iter().cloned().collect();
        if let Some(_done) = finished(&job) {
            clean(store, &job, &pods);
            continue;
        }
        if job["spec"]["runPolicy"]["suspend"] == true {
            continue;
        }
        let specs = job["spec"]["pytorchReplicaSpecs"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let replicas: u64 = specs
            .values()
            .map(|s| s["replicas"].as_u64().unwrap_or(1))
            .sum();
        let (np, np_text) = nproc(&job);
        let shape = Shape {
            replicas,
            np,
            np_text,
            port: master_port(&job),
            master_addr: format!("{name}-master-0"),
        };
        let mut failed = false;
        for (rtype, spec) in &specs {
            let lower = rtype.to_lowercase();
            let restart = match spec["restartPolicy"].as_str().unwrap_or("Never") {
                "ExitCode" => "Never",
                other => other,
            };
            for i in 0..spec["replicas"].as_u64().unwrap_or(1) {
                let pname = format!("{name}-{lower}-{i}");
                if let Some(p) = pods.iter().find(|p| store::name(p) == pname) {
                    failed |= phase(p) == "Failed";
                    continue;
                }
                let replica = Replica {
                    job: &job,
                    spec,
                    lower: &lower,
                    index: i,
                    restart,
                };
                let (t, labels) = replica.template(&shape);
                if let Err(e) = create_pod(store, adm, ns, &pname, &t, &job) {
                    problems.push(format!("PyTorchJob {name}: FailedCreate: {e}"));
                    continue;
                }
                if let Err(e) = store.create(replica.service(&pname, &t, &labels), ns) {
                    problems.push(format!("PyTorchJob {name}: {e}"));
                }
            }
        }
        let j = store.get_mut("PyTorchJob", &name).expect("job");
        if failed {
            set_condition(j, "Failed", "ReplicaFailed");
        } else if pods.iter().any(|p| {
            store::label(p, &format!("{L}replica-type")) == Some("master")
                && phase(p) == "Succeeded"
        }) {
            set_condition(j, "Succeeded", "MasterSucceeded");
        }
    }
}

/// What every replica's pod is told about the job as a whole.
struct Shape {
    replicas: u64,
    np: u64,
    np_text: String,
    port: u64,
    master_addr: String,
}

/// One replica of one replica type.
struct Replica<'a> {
    job: &'a Value,
    /// The replica type's spec (`pytorchReplicaSpecs.<type>`).
    spec: &'a Value,
    lower: &'a str,
    index: u64,
    restart: &'a str,
}

impl Replica<'_> {
    /// The pod template with the operator's labels, restart policy and rendezvous variables
    /// (workers' ranks follow the master's), and its labels.
    fn template(&self, shape: &Shape) -> (Value, Vec<(String, String)>) {
        let name = store::name(self.job).to_string();
        let (lower, i) = (self.lower, self.index);
        let rank = if lower == "worker" { i + 1 } else { i };
        let mut t = self.spec["template"].clone();
        let mut labels = vec![
            (format!("{L}job-name"), name.clone()),
            (format!("{L}operator-name"), "pytorchjob-controller".into()),
            (format!("{L}replica-type"), lower.to_string()),
            (format!("{L}replica-index"), i.to_string()),
        ];
        if lower == "master" {
            labels.push((format!("{L}job-role"), "master".into()));
        }
        for (k, v) in &labels {
            t["metadata"]["labels"][k.as_str()] = Value::from(v.clone());
        }
        t["spec"]["restartPolicy"] = Value::from(self.restart);
        let env = [
            ("PYTHONUNBUFFERED", "1".to_string()),
            ("MASTER_PORT", shape.port.to_string()),
            ("PET_MASTER_PORT", shape.port.to_string()),
            ("MASTER_ADDR", shape.master_addr.clone()),
            ("PET_MASTER_ADDR", shape.master_addr.clone()),
            ("WORLD_SIZE", (shape.replicas * shape.np).to_string()),
            ("RANK", rank.to_string()),
            ("PET_NPROC_PER_NODE", shape.np_text.clone()),
            ("PET_NODE_RANK", rank.to_string()),
            ("PET_NNODES", shape.replicas.to_string()),
        ];
        for c in t["spec"]["containers"].as_array_mut().into_iter().flatten() {
            let mut list = c["env"].as_array().cloned().unwrap_or_default();
            for (k, v) in &env {
                list.push(json!({"name": k, "value": v}));
            }
            c["env"] = Value::from(list);
        }
        (t, labels)
    }

    /// The replica's headless Service, selecting it by the first four labels.
    fn service(&self, pname: &str, t: &Value, labels: &[(String, String)]) -> Value {
        let ports: Vec<Value> = t["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .filter(|p| p["name"] == "pytorchjob-port")
            .map(|p| json!({"name": p["name"], "port": p["containerPort"]}))
            .collect();
        let sel: serde_json::Map<String, Value> = labels
            .iter()
            .take(4)
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": pname, "ownerReferences": [store::controller_ref(self.job)]},
            "spec": {"clusterIP": "None", "selector": sel, "ports": ports}})
    }
}

/// `cleanPodPolicy` once the job has finished.
fn clean(store: &mut Store, job: &Value, pods: &[Value]) {
    let policy = job["spec"]["runPolicy"]["cleanPodPolicy"]
        .as_str()
        .unwrap_or("None");
    for p in pods {
        let delete = match policy {
            "All" => true,
            "Running" => !ended(p),
            _ => false,
        };
        if delete {
            store.delete("Pod", store::name(p));
            store.delete("Service", store::name(p));
        }
    }
}
