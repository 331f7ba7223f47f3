//! The behavioural suite's cluster: what the plugin renders is created in a model API server
//! ([`store`]), the controllers play their upstream code ([`controllers`]), and the kubelet runs
//! every pod for real ([`kubelet`]): processes in network, mount, UTS, IPC and PID namespaces of their
//! own, with real PyTorch, DeepSpeed and MXNet from the images modelled in [`image`].
//!
//! A run ends when every workload the user created has finished, or at the deadline (a hang is a
//! failure). Then any pod still running is a failure too ("nothing keeps running"): after a grace
//! period for controllers that clean up, the run reports it and kills it.
//!
//! Needs root (namespaces, mounts, uid switching) and the images of `tests/behave/install.sh`;
//! without them a run fails with that message: nothing is skipped.

pub mod controllers;
pub mod dns;
pub mod env;
pub mod image;
pub mod image_layer;
pub mod kubelet;
pub mod net;
pub mod probe;
pub mod runtime;
pub mod store;
pub mod volumes;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use image::ImageUser;
pub use kubelet::ContainerLog;

use controllers::{Admission, appwrapper, job, jobset, kueue, mpijob, pytorchjob, trainjob};

/// The cluster a case runs on.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub namespace: String,
    /// Overrides the images' own user models.
    pub image_user: Option<ImageUser>,
    /// PriorityClasses that exist (the API server's Priority admission plugin refuses pods naming
    /// any other: `plugin/pkg/admission/priority/admission.go`, "no PriorityClass with name ... was found").
    pub priority_classes: Vec<String>,
    /// OpenShift's restricted-v2 SCC with this uid range start.
    pub openshift_uid_start: Option<u64>,
    /// Kueue LocalQueues in the namespace.
    pub local_queues: Vec<String>,
    /// Objects already in the cluster (Secrets and ConfigMaps the job references).
    pub existing: Vec<Value>,
    /// A run still going after this is a hang.
    pub deadline: Duration,
    /// How long pods may outlive their workload (controllers clean up asynchronously).
    pub drain: Duration,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            namespace: "default".into(),
            image_user: None,
            priority_classes: vec![
                "system-cluster-critical".into(),
                "system-node-critical".into(),
            ],
            openshift_uid_start: None,
            local_queues: Vec::new(),
            existing: Vec::new(),
            // MLTRAIN_BEHAVE_DEADLINE (seconds) shortens it while debugging a hang.
            deadline: Duration::from_secs(
                std::env::var("MLTRAIN_BEHAVE_DEADLINE")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(150),
            ),
            drain: Duration::from_secs(15),
        }
    }
}

/// How a workload ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Succeeded,
    Failed,
    /// Still running (or never admitted) at the deadline.
    Hung,
}

/// What happened.
#[derive(Debug)]
pub struct Outcome {
    /// Every workload the user created: `Kind/name` and how it ended.
    pub workloads: Vec<(String, End)>,
    pub containers: Vec<ContainerLog>,
    /// Everything that should not happen in a cluster: refused pods, hangs, leftover pods,
    /// harness limits met.
    pub problems: Vec<String>,
    pub events: Vec<String>,
    pub seconds: f64,
}

impl Outcome {
    /// Every workload succeeded and nothing went wrong.
    pub fn succeeded(&self) -> bool {
        self.problems.is_empty() && self.workloads.iter().all(|(_, e)| *e == End::Succeeded)
    }

    /// At least one workload failed, none hung, and nothing was left running.
    pub fn failed_cleanly(&self) -> bool {
        self.problems.is_empty()
            && self.workloads.iter().any(|(_, e)| *e == End::Failed)
            && !self.workloads.iter().any(|(_, e)| *e == End::Hung)
    }

    /// Every container's output, each line prefixed with `pod/container: `.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for c in &self.containers {
            for line in c.log.lines() {
                out.push_str(&format!("{}/{}: {line}\n", c.pod, c.container));
            }
        }
        out
    }

    /// A report for assertion messages.
    pub fn report(&self) -> String {
        format!(
            "workloads: {:?}\nproblems:\n  {}\ncontainers:\n{}\nevents: {}\nlogs:\n{}",
            self.workloads,
            self.problems.join("\n  "),
            self.containers
                .iter()
                .map(|c| format!(
                    "  {}/{} exit {:?} restarts {}",
                    c.pod, c.container, c.exit_code, c.restarts
                ))
                .collect::<Vec<_>>()
                .join("\n"),
            self.events.join(", "),
            self.logs()
        )
    }

    /// Lines of all logs that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.logs()
            .lines()
            .filter(|l| l.contains(needle))
            .map(String::from)
            .collect()
    }

    /// How often `needle` occurs in all logs. (mpirun forwards its ranks' output and may join two
    /// ranks' lines into one, so occurrences, not lines, are what ranks printed.)
    pub fn count(&self, needle: &str) -> usize {
        self.containers
            .iter()
            .map(|c| c.log.matches(needle).count())
            .sum()
    }
}

const WORKLOADS: &[&str] = &[
    "Job",
    "JobSet",
    "PyTorchJob",
    "MPIJob",
    "AppWrapper",
    "TrainJob",
];

fn end_of(o: &Value) -> Option<bool> {
    match store::kind(o) {
        "Job" => job::finished(o),
        "JobSet" => jobset::finished(o),
        "PyTorchJob" => pytorchjob::finished(o),
        "MPIJob" => mpijob::finished(o),
        "AppWrapper" => appwrapper::finished(o),
        "TrainJob" => trainjob::finished(o),
        _ => None,
    }
}

/// The Kubeflow Trainer's default ClusterTrainingRuntimes (`torch-distributed`,
/// `deepspeed-distributed`), as the Trainer's manifests install them, for [`Cluster::existing`].
pub fn trainer_runtimes() -> Vec<Value> {
    let dir = crate::shared_dir().join("schemas/runtimes");
    let mut out = Vec::new();
    for f in ["torch_distributed.yaml", "deepspeed_distributed.yaml"] {
        let text = std::fs::read_to_string(dir.join(f))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()));
        out.extend(crate::yaml_docs(&text));
    }
    out
}

fn scratch() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    PathBuf::from(format!(
        "/dev/shm/mltrain-behave-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// What `kubectl mltrain` (the binary at `bin`) would apply for `args`: its `--dry-run=client -o json`
/// output (after the local admission preview), with the flags added before any `--`. Panics with the
/// plugin's own words when it refuses.
pub fn render_with(bin: &str, args: &[&str]) -> Vec<Value> {
    let mut a: Vec<&str> = args.to_vec();
    let at = a.iter().position(|w| *w == "--").unwrap_or(a.len());
    a.splice(at..at, ["--dry-run=client", "-o", "json"]);
    let out = std::process::Command::new(bin)
        .args(&a)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run kubectl-mltrain");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    match v["kind"].as_str() {
        Some("List") => v["items"].as_array().expect("items").clone(),
        _ => vec![v],
    }
}

/// Run the objects on the cluster and report what happened.
pub fn run(cluster: &Cluster, objects: &[Value]) -> Outcome {
    let started = Instant::now();
    let root = scratch();
    let mut problems = Vec::new();
    if let Err(e) = std::fs::create_dir_all(&root) {
        problems.push(format!("{}: {e}", root.display()));
    }
    let mut st = store::Store::default();
    let top = create(&mut st, cluster, objects, &mut problems);
    problems.extend(dns::unsupported(&st));
    let ns = cluster.namespace.as_str();
    let openshift = cluster.openshift_uid_start.is_some();
    let mut kubelet = match kubelet::Kubelet::new(&root, cluster.image_user.clone(), openshift, ns)
    {
        Ok(k) => k,
        Err(e) => {
            problems.push(format!(
                "cannot start the node: {e} (the suite needs root and iproute2)"
            ));
            return Outcome {
                workloads: Vec::new(),
                containers: Vec::new(),
                problems,
                events: st.events,
                seconds: 0.0,
            };
        }
    };
    run_until_done(cluster, &root, &top, &mut st, &mut kubelet, &mut problems);
    kubelet.shutdown();
    problems.append(&mut kubelet.problems);
    // Controllers retry each tick: say each problem once.
    let mut seen = std::collections::BTreeSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    let workloads = top
        .iter()
        .map(|(k, n)| {
            let end = match st.get(k, n).and_then(end_of) {
                Some(true) => End::Succeeded,
                Some(false) => End::Failed,
                None => End::Hung,
            };
            (format!("{k}/{n}"), end)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&root);
    Outcome {
        workloads,
        containers: std::mem::take(&mut kubelet.finished),
        problems,
        events: st.events,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Create what exists already, then the user's objects as the API server admits them; the
/// workloads among them (`Kind`, `name`).
fn create(
    st: &mut store::Store,
    cluster: &Cluster,
    objects: &[Value],
    problems: &mut Vec<String>,
) -> Vec<(String, String)> {
    let ns = cluster.namespace.as_str();
    for o in cluster.existing.iter() {
        if let Err(e) = st.create(o.clone(), ns) {
            problems.push(e);
        }
    }
    let mut top = Vec::new();
    for o in objects {
        let mut o = o.clone();
        if store::kind(&o) == "AppWrapper" && o["spec"]["suspend"].is_null() {
            // The AppWrapper webhook suspends every AppWrapper for Kueue to admit
            // (appwrapper `internal/webhook/appwrapper_webhook.go`, `Default`:
            // `jobframework.ApplyDefaultForSuspend`, with Kueue integration on by default).
            o["spec"]["suspend"] = Value::from(true);
        }
        if WORKLOADS.contains(&store::kind(&o)) {
            top.push((store::kind(&o).to_string(), store::name(&o).to_string()));
        }
        if let Err(e) = st.create(o, ns) {
            problems.push(e);
        }
    }
    top
}

/// The cluster's loop: every controller, the garbage collector and the node, ten times a second,
/// until every workload ended and its pods are gone (or the drain period is over), or the deadline.
fn run_until_done(
    cluster: &Cluster,
    root: &std::path::Path,
    top: &[(String, String)],
    st: &mut store::Store,
    kubelet: &mut kubelet::Kubelet,
    problems: &mut Vec<String>,
) {
    let started = Instant::now();
    let ns = cluster.namespace.as_str();
    let adm = Admission {
        openshift_uid_start: cluster.openshift_uid_start,
        priority_classes: cluster.priority_classes.clone(),
    };
    let mut timers = appwrapper::Timers::default();
    let mut ended_at: Option<Instant> = None;
    loop {
        kueue::reconcile(st, &cluster.local_queues);
        appwrapper::reconcile(st, &adm, ns, &mut timers, problems);
        trainjob::reconcile(st, ns, root, problems);
        jobset::reconcile(st, &adm, ns, problems);
        pytorchjob::reconcile(st, &adm, ns, problems);
        mpijob::reconcile(st, &adm, ns, root, problems);
        job::reconcile(st, &adm, ns, problems);
        st.collect_garbage();
        kubelet.sync(st);
        let all_done = top
            .iter()
            .all(|(k, n)| st.get(k, n).and_then(end_of).is_some());
        if all_done {
            let at = *ended_at.get_or_insert_with(Instant::now);
            if !kubelet.any_running() {
                return;
            }
            if at.elapsed() > cluster.drain {
                for p in kubelet.running_pods() {
                    problems.push(format!(
                        "pod {p} still running {}s after its job ended",
                        cluster.drain.as_secs()
                    ));
                }
                return;
            }
        }
        if started.elapsed() > cluster.deadline {
            problems.push(format!(
                "deadline: after {}s the job has not ended; running pods: {:?}",
                cluster.deadline.as_secs(),
                kubelet.running_pods()
            ));
            for (pod, secs) in kubelet.waiting() {
                problems.push(format!(
                    "pod {pod} waited {secs:.0}s for its volumes' ConfigMaps and Secrets"
                ));
            }
            problems.extend(kueue::stuck(st, &cluster.local_queues));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
