//! What the Trainer makes of a TrainJob and its runtime before its plugins run, and the JobSet it
//! builds at the end (kubeflow/trainer v2.3.0):
//! - `pkg/runtime/core/trainingruntime.go` `newRuntimeInfo`: the runtime's JobSet template with the
//!   TrainJob's `spec.runtimePatches` merged in, replicated job by name (a strategic merge: maps key
//!   by key, containers, volumes and env by name), the patches' metadata labels and annotations over
//!   the template's; one pod set per replicated job, counting its `parallelism` (default 1), or the
//!   runtime's `mlPolicy.numNodes` for the one labelled `trainer.kubeflow.org/trainjob-ancestor-step:
//!   trainer`;
//! - `plugins/jobset/jobset.go` `IdentifyPodNetwork`: pod set endpoints
//!   `<trainjob>-<replicatedJob>-0-<i>.<subdomain>` (subdomain: `network.subdomain`, else the
//!   TrainJob's name), and `Build`: every replicated job's `parallelism = completions` = its pod set's
//!   count;
//! - `plugins/jobset/builder.go` `Trainer`: only replicated jobs whose template carries labels are
//!   touched; the ancestor `trainer` one gets `replicas: 1`, and the container named `node` of each
//!   of them gets the TrainJob's `image`, `command`, `args`, `resourcesPerNode` and its `env`
//!   upserted. A runtime's job without labels (the `node` workers of `deepspeed-distributed`) keeps
//!   its own image, command and environment: kubeflow/trainer#2545 ("node does not require config
//!   mutation. All things are done only by launcher"), #2825, #4030.

use serde_json::{Map, Value, json};

use crate::behave::store;

pub const ANCESTOR: &str = "trainer.kubeflow.org/trainjob-ancestor-step";
/// The name of the trainer's container, and of the MPI runtimes' worker job.
pub const NODE: &str = "node";
/// The MPI runtimes' launcher job.
pub const LAUNCHER: &str = "launcher";

/// The runtime info of one TrainJob.
pub struct Info {
    /// The JobSet spec: the runtime's template with the TrainJob's patches.
    pub spec: Value,
    /// The runtime's `mlPolicy`.
    pub policy: Value,
    /// Pods per replicated job (the pod sets' counts), in `spec.replicatedJobs` order.
    pub counts: Vec<u64>,
    /// The JobSet's labels and annotations.
    pub labels: Map<String, Value>,
    pub annotations: Map<String, Value>,
}

/// Merge `patch` into `base` as a strategic merge patch does for these types: maps key by key,
/// lists of objects with a `name` by name, other lists replaced.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (Value::Array(b), Value::Array(p))
            if p.iter()
                .all(|x| x.get("name").is_some_and(Value::is_string)) =>
        {
            for item in p {
                match b.iter_mut().find(|x| x.get("name") == item.get("name")) {
                    Some(existing) => merge(existing, item),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// `apply.Upsert*` by name: replace the item of the same name in place, else append.
pub fn upsert(list: &mut Value, items: &[Value]) {
    if !list.is_array() {
        *list = json!([]);
    }
    let list = list.as_array_mut().expect("array");
    for v in items {
        match list.iter_mut().find(|e| e["name"] == v["name"]) {
            Some(e) => *e = v.clone(),
            None => list.push(v.clone()),
        }
    }
}

impl Info {
    /// `newRuntimeInfo` (see the module header).
    pub fn new(tj: &Value, runtime: &Value) -> Result<Self, String> {
        let template = &runtime["spec"]["template"];
        let mut spec = template["spec"].clone();
        let mut labels = template["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut annotations = template["metadata"]["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for p in tj["spec"]["runtimePatches"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let t = &p["trainingRuntimeSpec"]["template"];
            for (to, from) in [(&mut labels, "labels"), (&mut annotations, "annotations")] {
                for (k, v) in t["metadata"][from].as_object().into_iter().flatten() {
                    to.insert(k.clone(), v.clone());
                }
            }
            for pr in t["spec"]["replicatedJobs"].as_array().into_iter().flatten() {
                let rjs = spec["replicatedJobs"].as_array_mut();
                match rjs.and_then(|r| r.iter_mut().find(|rj| rj["name"] == pr["name"])) {
                    Some(rj) => merge(&mut rj["template"], &pr["template"]),
                    None => {
                        return Err(format!(
                            "runtime patch for unknown replicated job {}",
                            pr["name"]
                        ));
                    }
                }
            }
        }
        let policy = runtime["spec"]["mlPolicy"].clone();
        let counts = spec["replicatedJobs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|rj| match is_trainer(rj) {
                true => policy["numNodes"].as_u64().unwrap_or(1),
                false => rj["template"]["spec"]["parallelism"].as_u64().unwrap_or(1),
            })
            .map(|n| n.max(1))
            .collect();
        let mut info = Self {
            spec,
            policy,
            counts,
            labels,
            annotations,
        };
        if let Some(res) = tj["spec"]["trainer"]["resourcesPerNode"].as_object()
            && let Some(i) = info.trainer()
        {
            for c in info.node_containers(i) {
                c["resources"] = Value::Object(res.clone());
            }
        }
        Ok(info)
    }

    /// The index of a replicated job.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.rjobs().iter().position(|rj| rj["name"] == name)
    }

    /// The index of the replicated job labelled as the trainer.
    pub fn trainer(&self) -> Option<usize> {
        self.rjobs().iter().position(is_trainer)
    }

    fn rjobs(&self) -> Vec<Value> {
        self.spec["replicatedJobs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The pod spec of replicated job `i`.
    pub fn pod_spec(&mut self, i: usize) -> &mut Value {
        &mut self.spec["replicatedJobs"][i]["template"]["spec"]["template"]["spec"]
    }

    /// The containers named `node` of replicated job `i`.
    pub fn node_containers(&mut self, i: usize) -> impl Iterator<Item = &mut Value> {
        self.pod_spec(i)["containers"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == NODE)
    }

    /// `IdentifyPodNetwork`: the DNS names of replicated job `i`'s pods.
    pub fn endpoints(&self, tj: &Value, i: usize) -> Vec<String> {
        let name = store::name(tj);
        let sub = self.spec["network"]["subdomain"].as_str().unwrap_or(name);
        let rjob = self.spec["replicatedJobs"][i]["name"]
            .as_str()
            .unwrap_or("");
        (0..self.counts[i])
            .map(|p| format!("{name}-{rjob}-0-{p}.{sub}"))
            .collect()
    }

    /// `Build` and the builder's `Trainer` (see the module header): the JobSet named after the
    /// TrainJob and owned by it.
    pub fn jobset(mut self, tj: &Value) -> Value {
        let trainer = &tj["spec"]["trainer"];
        let trainer_count = self.trainer().map(|i| self.counts[i]);
        for (i, n) in self.counts.clone().into_iter().enumerate() {
            let job = &mut self.spec["replicatedJobs"][i]["template"]["spec"];
            job["parallelism"] = json!(n);
            job["completions"] = json!(n);
        }
        for rj in self.spec["replicatedJobs"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if !rj["template"]["metadata"]["labels"].is_object() {
                continue;
            }
            if is_trainer(rj) {
                rj["replicas"] = json!(1);
                rj["template"]["spec"]["parallelism"] = json!(trainer_count);
                rj["template"]["spec"]["completions"] = json!(trainer_count);
            }
            let containers = &mut rj["template"]["spec"]["template"]["spec"]["containers"];
            for c in containers.as_array_mut().into_iter().flatten() {
                if c["name"] != NODE {
                    continue;
                }
                for f in ["image", "command", "args"] {
                    if !trainer[f].is_null() {
                        c[f] = trainer[f].clone();
                    }
                }
                if trainer["resourcesPerNode"].is_object() {
                    c["resources"] = trainer["resourcesPerNode"].clone();
                }
                upsert(
                    &mut c["env"],
                    trainer["env"].as_array().map_or(&[], Vec::as_slice),
                );
            }
        }
        if tj["spec"]["suspend"] == true {
            self.spec["suspend"] = json!(true);
        }
        let mut meta = Map::new();
        meta.insert("name".into(), json!(store::name(tj)));
        if !self.labels.is_empty() {
            meta.insert("labels".into(), Value::Object(self.labels));
        }
        if !self.annotations.is_empty() {
            meta.insert("annotations".into(), Value::Object(self.annotations));
        }
        meta.insert("ownerReferences".into(), json!([store::controller_ref(tj)]));
        json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": meta, "spec": self.spec})
    }
}

fn is_trainer(rj: &Value) -> bool {
    rj["template"]["metadata"]["labels"][ANCESTOR] == "trainer"
}
