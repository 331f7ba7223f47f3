//! Preflight: before anything is applied (also for `--dry-run=server`), read the cluster for everything
//! the rendered objects depend on and stop, naming each missing thing and the fix, so nothing is
//! created for a job that could never start.
//!
//! What a job depends on: the backend's API (JobSet, PyTorchJob, MPIJob, AppWrapper served?), the
//! PriorityClass (the API server's Priority admission plugin refuses pods naming a missing class, and
//! the Job then sits at zero pods:
//! <https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#priority>), the Kueue
//! LocalQueue for `--queue`, and the Secrets, ConfigMaps, PVCs, ServiceAccount and image pull secrets
//! the pods reference (the kubelet waits forever for a missing one). Arena checks the PriorityClass
//! only; we check all of it, in one round of parallel requests.
//!
//! For a Kubeflow Trainer TrainJob, also the runtime it references: a missing (Cluster)TrainingRuntime
//! leaves the TrainJob without pods (the Trainer only logs it), and a runtime of another framework
//! (its `trainer.kubeflow.org/framework` label, as the Trainer's runtimes carry it) would run the
//! program under the wrong launcher. The env the TrainJob gives its trainer (`spec.trainer.env`)
//! is checked like a container's.
//!
//! A 403 (the user may not read that kind) is a warning, not a refusal: the job may still run.

use std::collections::BTreeSet;
use std::fmt;

use futures::future::join_all;
use kube::api::{Api, DynamicObject};
use mltrain_shared::engine::FieldPath;
use mltrain_shared::engine::workload::templates;
use mltrain_shared::kinds::{self, Resource};
use mltrain_shared::vocab;
use serde_json::Value;
use thiserror::Error;

use crate::cluster::{Cluster, api_resource_of};

/// One thing the job needs from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// The API group version serving a kind a CRD adds (a backend's, or Kueue's LocalQueue).
    Api {
        api: Resource,
        /// A JobSet the plugin made so Kueue admits a multi-part layout whole (`--queue`).
        grouped: bool,
    },
    PriorityClass(String),
    LocalQueue(String),
    Secret {
        name: String,
        used_as: String,
    },
    ConfigMap {
        name: String,
        used_as: String,
    },
    Claim(String),
    ServiceAccount(String),
    /// The Kubeflow Trainer runtime a TrainJob references, and the framework it must be for.
    Runtime {
        kind: String,
        name: String,
        framework: String,
    },
}

/// What the cluster said about one need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Present,
    Missing,
    /// Could not tell (403, or another error): a warning.
    Unknown(String),
    /// Present but unfit: the one line saying why and what to do.
    Unfit(String),
}

/// Preflight's refusal: what the cluster lacks, one line each with its fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the cluster lacks what this job needs:\n{}\nnothing was created", .0.iter().map(|l| format!("- {l}")).collect::<Vec<_>>().join("\n"))]
pub struct Lacking(pub Vec<String>);

/// The outcome of one preflight.
#[derive(Debug, Default)]
pub struct Report {
    pub missing: Vec<Need>,
    pub unknown: Vec<(Need, String)>,
    /// Present but unfit, with why (a runtime of another framework).
    pub unfit: Vec<String>,
}

impl Report {
    /// Whether `class` was found missing; forget it (the caller resolved it another way).
    pub fn take_missing_class(&mut self, class: &str) -> bool {
        let before = self.missing.len();
        self.missing
            .retain(|n| !matches!(n, Need::PriorityClass(c) if c == class));
        before != self.missing.len()
    }

    /// The refusal, one line per missing thing with its fix.
    pub fn refusal(&self, namespace: &str) -> Option<Lacking> {
        if self.missing.is_empty() && self.unfit.is_empty() {
            return None;
        }
        let lines = self
            .missing
            .iter()
            .map(|n| n.missing_message(namespace))
            .chain(self.unfit.iter().cloned())
            .collect();
        Some(Lacking(lines))
    }

    /// Warnings for what could not be checked.
    pub fn warnings(&self, namespace: &str) -> Vec<String> {
        self.unknown
            .iter()
            .map(|(n, why)| format!("could not check {}: {why}", n.describe(namespace)))
            .collect()
    }
}

impl Need {
    fn describe(&self, ns: &str) -> String {
        match self {
            Need::Api { api, .. } => format!("the {} API ({})", api.kind, api.api_version()),
            Need::PriorityClass(c) => format!("PriorityClass {c}"),
            Need::LocalQueue(q) => format!("Kueue LocalQueue {q} in namespace {ns}"),
            Need::Secret { name, used_as } => {
                format!("Secret {name} ({used_as}) in namespace {ns}")
            }
            Need::ConfigMap { name, used_as } => {
                format!("ConfigMap {name} ({used_as}) in namespace {ns}")
            }
            Need::Claim(c) => format!("PersistentVolumeClaim {c} in namespace {ns}"),
            Need::ServiceAccount(s) => format!("ServiceAccount {s} in namespace {ns}"),
            Need::Runtime { kind, name, .. } if kind == kinds::TRAINING_RUNTIME.kind => {
                format!("{kind} {name} in namespace {ns}")
            }
            Need::Runtime { kind, name, .. } => format!("{kind} {name}"),
        }
    }

    /// The one line a user reads: what is missing and what to do.
    pub fn missing_message(&self, ns: &str) -> String {
        match self {
            Need::Api { api, grouped } => {
                let install = match api.controller {
                    Some(c) => format!("install {} ({})", c.name, c.install),
                    None => "install its controller".into(),
                };
                let instead = if *api == kinds::LOCAL_QUEUE {
                    "drop --queue"
                } else if *grouped {
                    // With --queue, DeepSpeed over SSH runs as one JobSet (render::group).
                    "drop --queue (with a queue, DeepSpeed over SSH runs as one JobSet: Kueue admits its workers and launcher together only that way)"
                } else {
                    "use --backend job, which needs nothing installed"
                };
                format!(
                    "the {} API ({}) is not served by this cluster: {install}, or {instead}",
                    api.kind,
                    api.api_version()
                )
            }
            Need::PriorityClass(c) => format!(
                "PriorityClass {c} does not exist, so the API server would refuse every pod: create it, or pass --priority with a class the cluster has (kubectl get {})",
                kinds::PRIORITY_CLASS.plural
            ),
            Need::LocalQueue(q) => format!(
                "Kueue LocalQueue {q} does not exist in namespace {ns}, so the job would stay suspended: create it, or pass --queue with an existing one (kubectl get {} -n {ns})",
                kinds::LOCAL_QUEUE.plural
            ),
            Need::Secret { name, used_as } => format!(
                "Secret {name} ({used_as}) does not exist in namespace {ns}: create it (kubectl create secret -n {ns} ...), or fix the name"
            ),
            Need::ConfigMap { name, used_as } => format!(
                "ConfigMap {name} ({used_as}) does not exist in namespace {ns}: create it (kubectl create configmap -n {ns} ...), or fix the name"
            ),
            Need::Claim(c) => format!(
                "PersistentVolumeClaim {c} (--volume) does not exist in namespace {ns}: create it, or fix the claim name"
            ),
            Need::ServiceAccount(s) => format!(
                "ServiceAccount {s} (--service-account) does not exist in namespace {ns}: create it (kubectl create serviceaccount -n {ns} {s}), or fix the name"
            ),
            Need::Runtime { kind, name, .. } => {
                let runtime = runtime_api(kind);
                let (list, where_) = if runtime == &kinds::TRAINING_RUNTIME {
                    (
                        format!("kubectl get {} -n {ns}", runtime.plural),
                        format!(" in namespace {ns}"),
                    )
                } else {
                    (format!("kubectl get {}", runtime.plural), String::new())
                };
                let trainer = kinds::TRAINER;
                format!(
                    "{kind} {name} does not exist{where_}, so the TrainJob would never get pods: install {}'s runtimes ({}), or pass --runtime with one the cluster has ({list})",
                    trainer.name, trainer.install
                )
            }
        }
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("<namespace>"))
    }
}

/// The Trainer runtime a TrainJob's `runtimeRef.kind` names: the namespaced one by its kind, the
/// cluster-scoped one otherwise (the Trainer's default when the kind is left out).
fn runtime_api(kind: &str) -> &'static Resource {
    if kind == kinds::TRAINING_RUNTIME.kind {
        &kinds::TRAINING_RUNTIME
    } else {
        &kinds::CLUSTER_TRAINING_RUNTIME
    }
}

/// Everything `objects` (as they will be sent) need from the cluster, except what they create.
pub fn needs(objects: &[Value]) -> BTreeSet<Need> {
    let created: BTreeSet<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or("").to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut out = BTreeSet::new();
    // A kind a CRD adds must be served.
    let api = |o: &Value, out: &mut BTreeSet<Need>| {
        if let Some(k) = kinds::workload_of(o).filter(|k| k.api.controller.is_some()) {
            let grouped = o["spec"]["replicatedJobs"]
                .as_array()
                .is_some_and(|r| r.len() > 1);
            out.insert(Need::Api {
                api: k.api,
                grouped,
            });
        }
    };
    for obj in objects {
        api(obj, &mut out);
        // An AppWrapper's components are created by its controller: their APIs must be served too.
        for c in obj["spec"]["components"].as_array().into_iter().flatten() {
            api(&c["template"], &mut out);
        }
        if let Some(q) = obj["metadata"]["labels"][vocab::kueue::QUEUE_NAME].as_str() {
            out.insert(Need::Api {
                api: kinds::LOCAL_QUEUE,
                grouped: false,
            });
            out.insert(Need::LocalQueue(q.to_string()));
        }
        if kinds::TRAIN_JOB.api.is_kind_of(obj) {
            let r = &obj["spec"]["runtimeRef"];
            out.insert(Need::Runtime {
                kind: r["kind"]
                    .as_str()
                    .unwrap_or(kinds::CLUSTER_TRAINING_RUNTIME.kind)
                    .to_string(),
                name: r["name"].as_str().unwrap_or("").to_string(),
                framework: mltrain_shared::render::trainjob_mpi::runtime_framework(obj).to_string(),
            });
            // The trainer's env goes to the trainer's container.
            pod_needs(
                &serde_json::json!({"containers": [{"env": obj["spec"]["trainer"]["env"]}]}),
                &mut out,
            );
        }
        let mut found = Vec::new();
        templates(obj, &FieldPath::root(), &[], &mut found);
        for t in found {
            if let Some(pod) = obj.pointer(t.path.pointer()) {
                pod_needs(&pod["spec"], &mut out);
            }
        }
    }
    out.retain(|n| match n {
        Need::Secret { name, .. } => !created.contains(&(kinds::SECRET.kind.into(), name.clone())),
        Need::ConfigMap { name, .. } => {
            !created.contains(&(kinds::CONFIG_MAP.kind.into(), name.clone()))
        }
        _ => true,
    });
    out
}

/// What one pod spec references. References marked `optional: true` are skipped: the pod starts
/// without them.
fn pod_needs(spec: &Value, out: &mut BTreeSet<Need>) {
    let s = |v: &Value| v.as_str().map(String::from);
    let optional = |v: &Value| v["optional"].as_bool() == Some(true);
    if let Some(c) = s(&spec["priorityClassName"]) {
        out.insert(Need::PriorityClass(c));
    }
    if let Some(sa) = s(&spec["serviceAccountName"]).filter(|n| n != "default") {
        out.insert(Need::ServiceAccount(sa));
    }
    for p in spec["imagePullSecrets"].as_array().into_iter().flatten() {
        if let Some(name) = s(&p["name"]) {
            out.insert(Need::Secret {
                name,
                used_as: "image pull secret".into(),
            });
        }
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let vol = v["name"].as_str().unwrap_or("");
        if let Some(name) = s(&v["secret"]["secretName"]).filter(|_| !optional(&v["secret"])) {
            out.insert(Need::Secret {
                name,
                used_as: format!("volume {vol}"),
            });
        }
        if let Some(name) = s(&v["configMap"]["name"]).filter(|_| !optional(&v["configMap"])) {
            out.insert(Need::ConfigMap {
                name,
                used_as: format!("volume {vol}"),
            });
        }
        if let Some(name) = s(&v["persistentVolumeClaim"]["claimName"]) {
            out.insert(Need::Claim(name));
        }
    }
    let containers = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(spec["initContainers"].as_array().into_iter().flatten());
    for c in containers {
        for e in c["env"].as_array().into_iter().flatten() {
            let var = e["name"].as_str().unwrap_or("");
            let r = &e["valueFrom"]["secretKeyRef"];
            if let Some(name) = s(&r["name"]).filter(|_| !optional(r)) {
                out.insert(Need::Secret {
                    name,
                    used_as: format!("env {var}"),
                });
            }
            let r = &e["valueFrom"]["configMapKeyRef"];
            if let Some(name) = s(&r["name"]).filter(|_| !optional(r)) {
                out.insert(Need::ConfigMap {
                    name,
                    used_as: format!("env {var}"),
                });
            }
        }
        for e in c["envFrom"].as_array().into_iter().flatten() {
            if let Some(name) = s(&e["secretRef"]["name"]).filter(|_| !optional(&e["secretRef"])) {
                out.insert(Need::Secret {
                    name,
                    used_as: "envFrom".into(),
                });
            }
            if let Some(name) =
                s(&e["configMapRef"]["name"]).filter(|_| !optional(&e["configMapRef"]))
            {
                out.insert(Need::ConfigMap {
                    name,
                    used_as: "envFrom".into(),
                });
            }
        }
    }
}

fn classify<T>(r: Result<T, kube::Error>) -> Found {
    match r {
        Ok(_) => Found::Present,
        Err(kube::Error::Api(s)) if s.code == 404 => Found::Missing,
        Err(kube::Error::Api(s)) if s.code == 403 => {
            Found::Unknown(format!("forbidden ({})", s.message))
        }
        Err(kube::Error::Api(s)) => Found::Unknown(format!("{} {}", s.code, s.message)),
        Err(e) => Found::Unknown(e.to_string()),
    }
}

/// Ask the cluster about one need.
async fn check_one(c: &Cluster, ns: &str, need: &Need) -> Found {
    let client = c.client.clone();
    let namespaced = |r: &Resource| -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), ns, &api_resource_of(r))
    };
    let cluster_wide =
        |r: &Resource| -> Api<DynamicObject> { Api::all_with(client.clone(), &api_resource_of(r)) };
    match need {
        Need::Api { api, .. } => match client.list_api_group_resources(&api.api_version()).await {
            Ok(list) if list.resources.iter().any(|r| r.name == api.plural) => Found::Present,
            Ok(_) => Found::Missing,
            Err(e) => classify::<()>(Err(e)),
        },
        Need::PriorityClass(name) => exists(cluster_wide(&kinds::PRIORITY_CLASS), name).await,
        Need::LocalQueue(name) => exists(namespaced(&kinds::LOCAL_QUEUE), name).await,
        Need::Secret { name, .. } => exists(namespaced(&kinds::SECRET), name).await,
        Need::ConfigMap { name, .. } => exists(namespaced(&kinds::CONFIG_MAP), name).await,
        Need::Claim(name) => exists(namespaced(&kinds::PERSISTENT_VOLUME_CLAIM), name).await,
        Need::ServiceAccount(name) => exists(namespaced(&kinds::SERVICE_ACCOUNT), name).await,
        Need::Runtime {
            kind,
            name,
            framework,
        } => {
            let runtime = runtime_api(kind);
            let api = if runtime == &kinds::TRAINING_RUNTIME {
                namespaced(runtime)
            } else {
                cluster_wide(runtime)
            };
            runtime_fits(api, kind, name, framework).await
        }
    }
}

/// Whether one object exists.
async fn exists(api: Api<DynamicObject>, name: &str) -> Found {
    classify(api.get_metadata(name).await)
}

/// Whether a Trainer runtime exists and is for `framework` (its framework label, as the Trainer's
/// runtimes carry it).
async fn runtime_fits(api: Api<DynamicObject>, kind: &str, name: &str, framework: &str) -> Found {
    use vocab::trainer::FRAMEWORK as FRAMEWORK_LABEL;
    match api.get_metadata(name).await {
        Ok(m) => match m
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(FRAMEWORK_LABEL))
        {
            Some(got) if got != framework => {
                // DeepSpeed runs on a torch runtime too, under torchrun.
                let or = match (framework, got.as_str()) {
                    ("deepspeed", "torch") => ", or --launcher torchrun to run DeepSpeed on it",
                    _ => "",
                };
                Found::Unfit(format!(
                    "{kind} {name} is a runtime for {got} ({FRAMEWORK_LABEL}={got}), not {framework}: pass --runtime with a {framework} runtime (kubectl get {} -L {FRAMEWORK_LABEL}){or}",
                    kinds::CLUSTER_TRAINING_RUNTIME.plural
                ))
            }
            _ => Found::Present,
        },
        Err(e) => classify::<()>(Err(e)),
    }
}

/// Check every need at once (one round of parallel requests) and sort the answers. When Kueue's API is
/// not served, the LocalQueue is not reported separately: installing Kueue is the fix.
pub async fn check(c: &Cluster, ns: &str, needs: &BTreeSet<Need>) -> Report {
    let answers = join_all(needs.iter().map(|n| check_one(c, ns, n))).await;
    let mut report = Report::default();
    let kueue_missing = needs.iter().zip(&answers).any(|(n, f)| {
        matches!(n, Need::Api { api, .. } if *api == kinds::LOCAL_QUEUE) && *f == Found::Missing
    });
    for (need, found) in needs.iter().zip(answers) {
        match found {
            Found::Present => {}
            Found::Missing if kueue_missing && matches!(need, Need::LocalQueue(_)) => {}
            Found::Missing => report.missing.push(need.clone()),
            Found::Unknown(why) => report.unknown.push((need.clone(), why)),
            Found::Unfit(why) => report.unfit.push(why),
        }
    }
    report
}

#[cfg(test)]
mod mock_api_trainjob_tests {
    //! A TrainJob's runtime, against kube's mock service layer and a recorded Trainer cluster
    //! (`tests/data/cluster/preflight/trainer.json`).
    use mltrain_shared::model::{
        BackendSpec, EnvValue, EnvVar, Framework, RuntimeKind, TrainerRuntime, TrainingJob,
    };

    use super::*;

    fn state() -> Value {
        serde_json::from_str(include_str!("../tests/data/cluster/preflight/trainer.json")).unwrap()
    }

    fn trainjob(runtime: Option<&str>, kind: Option<RuntimeKind>) -> Vec<Value> {
        trainjob_of(Framework::PyTorch, runtime, kind)
    }

    fn trainjob_of(
        framework: Framework,
        runtime: Option<&str>,
        kind: Option<RuntimeKind>,
    ) -> Vec<Value> {
        let mut j = TrainingJob::new("tj", framework);
        j.backend = BackendSpec::TrainJob(TrainerRuntime {
            name: runtime.map(String::from),
            kind,
        });
        j.world_size = 2;
        j.env.push(EnvVar {
            name: "TOKEN".into(),
            value: EnvValue::Secret {
                name: "creds".into(),
                key: "token".into(),
            },
        });
        mltrain_shared::render::render(&j).unwrap()
    }

    async fn report(objects: &[Value]) -> (Report, Vec<String>) {
        let (c, server) = crate::cluster::mock::recorded(state(), vec![]);
        let r = check(&c, "ml", &needs(objects)).await;
        drop(c);
        (r, server.await.unwrap())
    }

    #[tokio::test]
    async fn mock_api_trainjob_default_runtime_and_trainer_env_are_checked() {
        let objects = trainjob(None, None);
        let (r, seen) = report(&objects).await;
        assert_eq!(r.refusal("ml"), None, "{:?}", r.missing);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        for path in [
            "/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/torch-distributed",
            "/api/v1/namespaces/ml/secrets/creds",
            "/apis/trainer.kubeflow.org/v1alpha1",
        ] {
            assert!(
                seen.iter().any(|s| s == &format!("GET {path}")),
                "{path} in {seen:?}"
            );
        }
        let (r, _) = report(&trainjob(Some("my-torch"), Some(RuntimeKind::Namespaced))).await;
        assert_eq!(r.refusal("ml"), None);
    }

    #[tokio::test]
    async fn mock_api_trainjob_missing_runtime_and_wrong_framework_are_refused() {
        let (r, _) = report(&trainjob(Some("nope"), None)).await;
        assert_eq!(
            r.refusal("ml").unwrap().to_string(),
            "the cluster lacks what this job needs:\n- ClusterTrainingRuntime nope does not exist, so the TrainJob would never get pods: install the Kubeflow Trainer's runtimes (https://www.kubeflow.org/docs/components/trainer/operator-guides/installation/), or pass --runtime with one the cluster has (kubectl get clustertrainingruntimes)\nnothing was created"
        );
        let (r, _) = report(&trainjob(Some("deepspeed-distributed"), None)).await;
        assert_eq!(
            r.refusal("ml").unwrap().to_string(),
            "the cluster lacks what this job needs:\n- ClusterTrainingRuntime deepspeed-distributed is a runtime for deepspeed (trainer.kubeflow.org/framework=deepspeed), not torch: pass --runtime with a torch runtime (kubectl get clustertrainingruntimes -L trainer.kubeflow.org/framework)\nnothing was created"
        );
        let (r, _) = report(&trainjob(Some("my-torch"), None)).await;
        assert!(
            r.refusal("ml")
                .unwrap()
                .to_string()
                .contains("ClusterTrainingRuntime my-torch does not exist"),
            "a namespaced runtime is not a cluster one"
        );
    }

    /// DeepSpeed's default launcher needs an MPI runtime labelled `deepspeed`.
    #[tokio::test]
    async fn mock_api_trainjob_deepspeed_needs_a_deepspeed_runtime() {
        let objects = trainjob_of(Framework::DeepSpeed, None, None);
        let (r, seen) = report(&objects).await;
        assert_eq!(r.refusal("ml"), None, "{:?}", r.missing);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        for path in [
            "/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/deepspeed-distributed",
            "/api/v1/namespaces/ml/secrets/creds",
        ] {
            assert!(
                seen.iter().any(|s| s == &format!("GET {path}")),
                "{path} in {seen:?}"
            );
        }
        let (r, _) = report(&trainjob_of(
            Framework::DeepSpeed,
            Some("torch-distributed"),
            None,
        ))
        .await;
        assert_eq!(
            r.refusal("ml").unwrap().to_string(),
            "the cluster lacks what this job needs:\n- ClusterTrainingRuntime torch-distributed is a runtime for torch (trainer.kubeflow.org/framework=torch), not deepspeed: pass --runtime with a deepspeed runtime (kubectl get clustertrainingruntimes -L trainer.kubeflow.org/framework), or --launcher torchrun to run DeepSpeed on it\nnothing was created"
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn what_the_call_creates_and_optional_references_are_not_needed() {
        let objects = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j-deepspeed"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j-ssh"}}),
            json!({"apiVersion": "workload.codeflare.dev/v1beta2", "kind": "AppWrapper",
                "metadata": {"name": "j", "labels": {"kueue.x-k8s.io/queue-name": "q"}},
                "spec": {"components": [{"template": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                    "spec": {"pytorchReplicaSpecs": {"Master": {"template": {"spec": {
                        "priorityClassName": "default-priority",
                        "volumes": [
                            {"name": "a", "configMap": {"name": "j-deepspeed"}},
                            {"name": "b", "secret": {"secretName": "j-ssh"}},
                            {"name": "c", "secret": {"secretName": "maybe", "optional": true}},
                            {"name": "d", "configMap": {"name": "nvidia-topo-gdr"}}],
                        "containers": [{"name": "pytorch", "image": "x",
                            "envFrom": [{"configMapRef": {"name": "nccl-env"}}]}]}}}}}}}]}}),
        ];
        let needs: Vec<String> = needs(&objects).iter().map(|n| n.to_string()).collect();
        assert_eq!(
            needs,
            [
                "the PyTorchJob API (kubeflow.org/v1)",
                "the LocalQueue API (kueue.x-k8s.io/v1beta1)",
                "the AppWrapper API (workload.codeflare.dev/v1beta2)",
                "PriorityClass default-priority",
                "Kueue LocalQueue q in namespace <namespace>",
                "ConfigMap nccl-env (envFrom) in namespace <namespace>",
                "ConfigMap nvidia-topo-gdr (volume d) in namespace <namespace>",
            ]
        );
    }
}
