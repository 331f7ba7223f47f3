//! What a training job looks like in the cluster, whatever its backend: the top object (the one named
//! after the job: a Job, JobSet, PyTorchJob, MPIJob, AppWrapper or TrainJob), its pods and their
//! ranks, and one phase derived the same way for `list`, `status` and `--wait`.
//!
//! A Kubeflow Trainer TrainJob (`Complete`/`Failed` conditions,
//! <https://github.com/kubeflow/trainer/blob/master/pkg/apis/trainer/v1alpha1/trainjob_types.go>)
//! runs as a JobSet of the same name whose `node` Job is Indexed, so a pod's rank is its
//! `batch.kubernetes.io/job-completion-index` like on the job and jobset backends. On an MPI runtime
//! (`deepspeed-distributed`) the JobSet's `launcher` pod runs mpirun and receives every rank's output,
//! as the launcher of a DeepSpeed SSH job does: it is the launcher, and `logs` shows it by default.

use serde_json::Value;

use mltrain_shared::kinds::{self, Outcome};
use mltrain_shared::vocab::jobset::REPLICATED_JOB_NAME;
use mltrain_shared::vocab::kubernetes::JOB_COMPLETION_INDEX;
use mltrain_shared::vocab::mltrain::{JOB_NAME, ROLE, WORLD_SIZE, role};
use mltrain_shared::vocab::{trainer, training_operator};

/// A job's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Suspended: waiting for Kueue (or an admin) to admit it.
    Queued,
    /// Some rank cannot start (unschedulable, image pull error, ...).
    Pending,
    /// Ranks are starting.
    Starting,
    /// Every rank runs.
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "Queued",
            Phase::Pending => "Pending",
            Phase::Starting => "Starting",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    /// Whether the job is over.
    pub fn finished(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// One rank's pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rank {
    pub rank: Option<u32>,
    /// `launcher`, `worker`, `scheduler`, `server`, or empty.
    pub role: String,
    pub pod: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: u64,
    pub node: String,
    /// Why it is not running, when it is not (Unschedulable, ImagePullBackOff, Error, ...).
    pub reason: String,
}

/// The rank of a pod, from the labels each backend sets.
pub fn rank_of(pod: &Value) -> Option<u32> {
    let labels = &pod["metadata"]["labels"];
    let num = |k: &str| labels[k].as_str().and_then(|v| v.parse::<u32>().ok());
    if let Some(i) = num(JOB_COMPLETION_INDEX) {
        return Some(i);
    }
    let index = num(training_operator::REPLICA_INDEX)?;
    match labels[training_operator::REPLICA_TYPE].as_str()? {
        "master" | "Master" => Some(0),
        "worker" | "Worker"
            if labels[training_operator::JOB_ROLE].is_null() && pod_is_pytorch(pod) =>
        {
            Some(index + 1)
        }
        _ => Some(index),
    }
}

fn pod_is_pytorch(pod: &Value) -> bool {
    pod["metadata"]["labels"][training_operator::OPERATOR_NAME]
        == training_operator::PYTORCHJOB_CONTROLLER
}

/// A pod's role: our role label, else the launcher of a Kubeflow Trainer MPI runtime (a JobSet's
/// `launcher` replicated job, where mpirun runs and every rank's output arrives), else none (a rank).
fn role_of(pod: &Value) -> &str {
    let labels = &pod["metadata"]["labels"];
    match labels[ROLE].as_str() {
        Some(r) => r,
        None if labels[REPLICATED_JOB_NAME] == trainer::LAUNCHER => role::LAUNCHER,
        None => "",
    }
}

/// A pod's state for `status`.
pub fn rank(pod: &Value) -> Rank {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let waiting = statuses
        .iter()
        .find_map(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str));
    let terminated = statuses.iter().find_map(|s| {
        s.pointer("/state/terminated/reason")
            .and_then(Value::as_str)
    });
    let unschedulable = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
        })
        .and_then(|c| c["reason"].as_str());
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let reason = match phase {
        "Running" => waiting.unwrap_or(""),
        "Pending" => unschedulable.or(waiting).unwrap_or("ContainerCreating"),
        "Failed" => terminated
            .or(pod.pointer("/status/reason").and_then(Value::as_str))
            .unwrap_or("Error"),
        _ => "",
    };
    Rank {
        rank: rank_of(pod),
        role: role_of(pod).to_string(),
        pod: pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
        phase: phase.to_string(),
        ready: statuses.iter().all(|s| s["ready"] == true) && !statuses.is_empty(),
        restarts: statuses
            .iter()
            .filter_map(|s| s["restartCount"].as_u64())
            .sum(),
        node: pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        reason: reason.to_string(),
    }
}

/// Pods that are ranks of the training itself (not a DeepSpeed launcher or MXNet scheduler/server).
pub fn is_training_rank(r: &Rank) -> bool {
    matches!(r.role.as_str(), "" | role::WORKER)
}

/// The job's size, from the label every object carries.
pub fn world_size(top: &Value) -> u64 {
    top["metadata"]["labels"][WORLD_SIZE]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The phase of a job from its top object (how its kind ends and waits is in the table of
/// workload kinds) and its pods.
pub fn phase(top: &Value, pods: &[Value]) -> Phase {
    let how = kinds::by_kind(top["kind"].as_str().unwrap_or("")).and_then(|k| k.top);
    match how.and_then(|t| t.outcome(top)) {
        Some(Outcome::Succeeded) => return Phase::Succeeded,
        Some(Outcome::Failed) => return Phase::Failed,
        None => {}
    }
    if how.is_some_and(|t| t.held(top)) {
        return Phase::Queued;
    }
    let ranks: Vec<Rank> = pods.iter().map(rank).filter(is_training_rank).collect();
    if ranks.iter().any(|r| r.phase == "Failed") {
        return Phase::Failed;
    }
    let stuck = ranks.iter().any(|r| {
        r.phase == "Pending" && r.reason != "ContainerCreating" && r.reason != "PodInitializing"
            || r.reason.contains("BackOff")
            || r.reason.contains("ErrImage")
    });
    if stuck {
        return Phase::Pending;
    }
    let want = world_size(top).max(1) as usize;
    let running = ranks
        .iter()
        .filter(|r| r.phase == "Running" || r.phase == "Succeeded")
        .count();
    if running >= want {
        Phase::Running
    } else {
        Phase::Starting
    }
}

/// Why a job has fewer pods than it should, from the events of its workload (newest Warning): a
/// controller that cannot create pods says so only there, e.g. `FailedCreate: pods "demo-0-x" is
/// forbidden: no PriorityClass with name default-priority was found`.
pub fn explain(events: &[Value]) -> Option<String> {
    events
        .iter()
        .rev()
        .find(|e| e["type"] == "Warning")
        .map(|e| {
            format!(
                "{}: {}",
                e["reason"].as_str().unwrap_or("Warning"),
                e["message"].as_str().unwrap_or("").trim()
            )
        })
}

/// The objects whose events explain missing pods: the workload, and for a JobSet its child Jobs
/// (`<jobset>-<replicatedJob>-<index>`), where the job controller records FailedCreate.
pub fn pod_creators(top: &Value) -> Vec<String> {
    let name = top["metadata"]["name"].as_str().unwrap_or("").to_string();
    let mut out = vec![name.clone()];
    if top["kind"] == kinds::TRAIN_JOB.api.kind {
        // The Trainer's JobSet (same name, already listed) and its `node` Job.
        out.push(format!("{name}-{}-0", mltrain_shared::vocab::trainer::NODE));
    }
    for rj in top
        .pointer("/spec/replicatedJobs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let replicas = rj["replicas"].as_u64().unwrap_or(1);
        for i in 0..replicas.min(8) {
            out.push(format!("{name}-{}-{i}", rj["name"].as_str().unwrap_or("")));
        }
    }
    out
}

/// (ready, total) training ranks.
pub fn ranks_ready(top: &Value, pods: &[Value]) -> (usize, u64) {
    let ready = pods
        .iter()
        .map(rank)
        .filter(|r| is_training_rank(r) && r.phase == "Running" && r.ready)
        .count();
    (ready, world_size(top))
}

/// The job a (top or inner) object belongs to.
pub fn job_name(obj: &Value) -> Option<&str> {
    obj["metadata"]["labels"][JOB_NAME].as_str()
}

/// Whether `obj` is its job's top object: named after the job and not the inner workload of a
/// wrapper of the same name (`wrapped` says whether one exists): an AppWrapper's PyTorchJob, a
/// TrainJob's JobSet.
pub fn is_top(obj: &Value, wrapped: bool) -> bool {
    let named = job_name(obj).is_some_and(|j| obj["metadata"]["name"] == j);
    named && !(wrapped && kinds::is_wrapped_kind(obj["kind"].as_str().unwrap_or("")))
}

/// Whether `obj` wraps another workload of its name (an AppWrapper, a TrainJob).
pub fn is_wrapper(obj: &Value) -> bool {
    kinds::by_kind(obj["kind"].as_str().unwrap_or(""))
        .and_then(|k| k.top)
        .is_some_and(|t| t.wraps.is_some())
}

/// Interleave lines of several ranks by their kubelet timestamp (`2026-...Z text`), prefixing each
/// with its rank; lines without a timestamp keep their place after the previous one.
pub fn interleave(logs: &[(String, String)]) -> String {
    let mut lines: Vec<(&str, usize, usize, &str)> = Vec::new();
    for (i, (_, text)) in logs.iter().enumerate() {
        let mut last = "";
        for (n, line) in text.lines().enumerate() {
            let (ts, rest) = match line.split_once(' ') {
                Some((ts, rest))
                    if ts.len() >= 20 && ts.as_bytes()[4] == b'-' && ts.ends_with('Z') =>
                {
                    (ts, rest)
                }
                _ => (last, line),
            };
            last = ts;
            lines.push((ts, i, n, rest));
        }
    }
    // RFC 3339 timestamps in UTC sort as strings; ties keep rank, then line order.
    lines.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut out = String::new();
    for (_, i, _, text) in lines {
        out += &format!("[{}] {text}\n", logs[i].0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, index: u32, phase: &str, extra: Value) -> Value {
        let mut p = json!({"metadata": {"name": name, "labels": {"mltrain.io/job-name": "j", "batch.kubernetes.io/job-completion-index": index.to_string()}},
            "spec": {"nodeName": "n1"}, "status": {"phase": phase, "containerStatuses": [{"ready": phase == "Running", "restartCount": 0, "state": {}}]}});
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                p["status"][k] = v.clone();
            }
        }
        p
    }

    fn job(status: Value) -> Value {
        json!({"kind": "Job", "metadata": {"name": "j", "labels": {"mltrain.io/job-name": "j", "mltrain.io/world-size": "2"}}, "spec": {}, "status": status})
    }

    #[test]
    fn phases() {
        let running = [
            pod("j-0", 0, "Running", json!({})),
            pod("j-1", 1, "Running", json!({})),
        ];
        assert_eq!(phase(&job(json!({})), &running), Phase::Running);
        assert_eq!(phase(&job(json!({})), &running[..1]), Phase::Starting);
        let done = job(json!({"conditions": [{"type": "Complete", "status": "True"}]}));
        assert_eq!(phase(&done, &[]), Phase::Succeeded);
        let failed_rank = [
            pod("j-0", 0, "Running", json!({})),
            pod("j-1", 1, "Failed", json!({})),
        ];
        assert_eq!(phase(&job(json!({})), &failed_rank), Phase::Failed);
        let unschedulable = pod(
            "j-1",
            1,
            "Pending",
            json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}),
        );
        assert_eq!(
            phase(
                &job(json!({})),
                &[running[0].clone(), unschedulable.clone()]
            ),
            Phase::Pending
        );
        assert_eq!(rank(&unschedulable).reason, "Unschedulable");
        let mut suspended = job(json!({}));
        suspended["spec"]["suspend"] = json!(true);
        assert_eq!(phase(&suspended, &[]), Phase::Queued);
        let pj = json!({"kind": "PyTorchJob", "metadata": {"labels": {"mltrain.io/world-size": "2"}}, "spec": {}, "status": {"conditions": [
            {"type": "Created", "status": "True"}, {"type": "Succeeded", "status": "True"}]}});
        assert_eq!(phase(&pj, &[]), Phase::Succeeded);
        let aw = json!({"kind": "AppWrapper", "metadata": {"labels": {}}, "spec": {}, "status": {"phase": "Failed"}});
        assert_eq!(phase(&aw, &[]), Phase::Failed);
    }

    #[test]
    fn ranks_from_every_backend() {
        let indexed =
            json!({"metadata": {"labels": {"batch.kubernetes.io/job-completion-index": "3"}}});
        assert_eq!(rank_of(&indexed), Some(3));
        let master = json!({"metadata": {"labels": {"training.kubeflow.org/replica-type": "master", "training.kubeflow.org/replica-index": "0",
            "training.kubeflow.org/operator-name": "pytorchjob-controller"}}});
        assert_eq!(rank_of(&master), Some(0));
        let worker = json!({"metadata": {"labels": {"training.kubeflow.org/replica-type": "worker", "training.kubeflow.org/replica-index": "2",
            "training.kubeflow.org/operator-name": "pytorchjob-controller"}}});
        assert_eq!(rank_of(&worker), Some(3), "PyTorchJob worker i is rank i+1");
    }

    #[test]
    fn the_trainer_mpi_launcher_is_the_launcher() {
        // What the Trainer's JobSet gives the pods of a deepspeed-distributed TrainJob.
        let pod = |rjob: &str| {
            json!({"metadata": {"name": format!("tj-{rjob}-0-0-x"), "labels": {
                "jobset.sigs.k8s.io/replicatedjob-name": rjob,
                "batch.kubernetes.io/job-completion-index": "0"}}})
        };
        let (launcher, node) = (rank(&pod("launcher")), rank(&pod("node")));
        assert_eq!(launcher.role, "launcher");
        assert!(!is_training_rank(&launcher));
        assert_eq!((node.role.as_str(), node.rank), ("", Some(0)));
        let both = [pod("node"), pod("launcher")];
        let chosen = crate::commands::logs::select(&both, None, false).unwrap();
        assert_eq!(
            chosen,
            [("launcher".to_string(), "tj-launcher-0-0-x".to_string())]
        );
    }

    #[test]
    fn logs_interleave_by_time_with_rank_prefixes() {
        let logs = vec![
            ("rank 0".to_string(), "2026-11-23T10:00:00.000000001Z start\n2026-11-23T10:00:02.000000000Z step 1\n".to_string()),
            ("rank 1".to_string(), "2026-11-23T10:00:01.000000000Z start\n  continued\n2026-11-23T10:00:03.000000000Z step 1\n".to_string()),
        ];
        assert_eq!(
            interleave(&logs),
            "[rank 0] start\n[rank 1] start\n[rank 1]   continued\n[rank 0] step 1\n[rank 1] step 1\n"
        );
    }

    #[test]
    fn tops() {
        let aw = json!({"kind": "AppWrapper", "metadata": {"name": "j", "labels": {"mltrain.io/job-name": "j"}}});
        let pj = json!({"kind": "PyTorchJob", "metadata": {"name": "j", "labels": {"mltrain.io/job-name": "j"}}});
        let workers = json!({"kind": "Job", "metadata": {"name": "j-worker", "labels": {"mltrain.io/job-name": "j"}}});
        assert!(is_top(&aw, true));
        assert!(!is_top(&pj, true));
        assert!(is_top(&pj, false));
        assert!(!is_top(&workers, false));
        let js = json!({"kind": "JobSet", "metadata": {"name": "j", "labels": {"mltrain.io/job-name": "j"}}});
        assert!(!is_top(&js, true), "a TrainJob's JobSet");
        assert!(is_top(&js, false));
    }

    #[test]
    fn trainjob_phase_and_ranks() {
        let tj = |conds: Value| json!({"kind": "TrainJob", "metadata": {"name": "j", "labels": {"mltrain.io/world-size": "2"}}, "spec": {}, "status": {"conditions": conds}});
        assert_eq!(
            phase(&tj(json!([{"type": "Complete", "status": "True"}])), &[]),
            Phase::Succeeded
        );
        assert_eq!(
            phase(&tj(json!([{"type": "Failed", "status": "True"}])), &[]),
            Phase::Failed
        );
        let mut queued = tj(json!([]));
        queued["spec"]["suspend"] = json!(true);
        assert_eq!(phase(&queued, &[]), Phase::Queued);
        let running = [
            pod("j-node-0-0-a", 0, "Running", json!({})),
            pod("j-node-0-1-b", 1, "Running", json!({})),
        ];
        assert_eq!(phase(&tj(json!([])), &running), Phase::Running);
        assert_eq!(rank(&running[1]).rank, Some(1));
        assert_eq!(pod_creators(&tj(json!([]))), ["j", "j-node-0"]);
    }
}
