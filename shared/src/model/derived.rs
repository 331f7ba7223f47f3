//! The names controllers derive from a job's name, per layout and world size, so a name that would
//! make one of them too long is refused here with that backend's limit, instead of by a controller's
//! webhook or, worse, by pod creation failing after the workload was accepted.
//!
//! What each controller derives (the longest one counts):
//! - `batch/v1` Indexed Job: pod hostname `<job>-<index>` (a DNS-1123 label, ≤ 63), which the job
//!   controller sets from the completion index (kubernetes `pkg/controller/job/indexed_job_utils.go`;
//!   <https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode>).
//! - JobSet: pod name `<jobset>-<replicatedJob>-<jobIndex>-<podIndex>-<5-char suffix>` must be a
//!   DNS-1035 label; the JobSet webhook refuses longer ones (kubernetes-sigs/jobset
//!   `pkg/webhooks/jobset_webhook.go`, `podNameTooLongErrorMsg`).
//! - Training operator (PyTorchJob, AppWrapper's PyTorchJob, MPIJob workers): pods and their Services
//!   named `<job>-<replica type>-<index>` (kubeflow/training-operator `pkg/common/util` `GenGeneralName`),
//!   Service names being DNS-1035 labels.

use super::{Layout, TrainingJob};

/// The longest a DNS label (host name, Service name, pod name checked as one) may be.
pub const DNS_LABEL_MAX: usize = 63;

/// The longest name a controller derives from this job in this layout, and what it is.
pub fn longest(job: &TrainingJob, layout: Layout) -> (String, &'static str) {
    let n = &job.name;
    let last = job.world_size.saturating_sub(1);
    match layout {
        Layout::DeepSpeedSsh { grouped: true, .. } => {
            // One JobSet, a replicated job per role (render::group): JobSet's pod names.
            let worker = format!("{n}-worker-0-{last}-abcde");
            let launcher = format!("{n}-launcher-0-0-abcde");
            let longest = if launcher.len() >= worker.len() {
                launcher
            } else {
                worker
            };
            (
                longest,
                "the JobSet's pod name (with its 5-character suffix; --queue runs this layout as one JobSet)",
            )
        }
        Layout::TorchrunJobSet => (
            format!(
                "{n}-{}-0-{last}-abcde",
                crate::render::jobset::REPLICATED_JOB
            ),
            "the JobSet's pod name (with its 5-character suffix)",
        ),
        Layout::PyTorchJob | Layout::AppWrapper => training_operator(job),
        Layout::TrainJob { .. } => (
            format!("{n}-{}-0-{last}-abcde", crate::vocab::trainer::NODE),
            "the pod name of the JobSet the Trainer creates (with its 5-character suffix)",
        ),
        Layout::DeepSpeedTrainJob { .. } => {
            // The nodes are `numNodes - 1` (at least one) besides the launcher.
            let last_node = job.world_size.saturating_sub(2);
            let node = format!("{n}-{}-0-{last_node}-abcde", crate::vocab::trainer::NODE);
            let launcher = format!("{n}-{}-0-0-abcde", crate::vocab::trainer::LAUNCHER);
            (
                if launcher.len() >= node.len() {
                    launcher
                } else {
                    node
                },
                "the pod name of the JobSet the Trainer creates (with its 5-character suffix)",
            )
        }
        Layout::DeepSpeedMpiJob { .. } => (
            format!("{n}-worker-{last}"),
            "the MPI operator's worker host name",
        ),
        Layout::DeepSpeedSsh { grouped: false, .. } => (
            format!("{n}-worker-{last}"),
            "the DeepSpeed worker host name",
        ),
        Layout::TorchrunJob | Layout::MxnetParameterServer { .. } => {
            (format!("{n}-{last}"), "the Indexed Job's pod host name")
        }
    }
}

/// The training operator's longest pod and Service name: the last worker's, or the master's.
fn training_operator(job: &TrainingJob) -> (String, &'static str) {
    let n = &job.name;
    let worker = format!("{n}-worker-{}", job.world_size.saturating_sub(2));
    let master = format!("{n}-master-0");
    if job.world_size > 1 && worker.len() >= master.len() {
        (
            worker,
            "the training operator's worker pod and Service name",
        )
    } else {
        (
            master,
            "the training operator's master pod and Service name",
        )
    }
}

/// `Err((longest name, what it is, the most characters NAME may have))` when a derived name is too
/// long for its controller.
pub fn check(job: &TrainingJob, layout: Layout) -> Result<(), (String, &'static str, usize)> {
    let (name, what) = longest(job, layout);
    if name.len() <= DNS_LABEL_MAX {
        return Ok(());
    }
    let overhead = name.len() - job.name.len();
    Err((name, what, DNS_LABEL_MAX.saturating_sub(overhead)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backend, Framework};

    fn job(name_len: usize, backend: Backend, world: u32) -> TrainingJob {
        let mut j = TrainingJob::new("a".repeat(name_len), Framework::PyTorch);
        j.backend = backend.into();
        j.world_size = world;
        j
    }

    fn check(job: &TrainingJob) -> Result<(), (String, &'static str, usize)> {
        super::check(job, job.layout().unwrap())
    }

    fn longest(job: &TrainingJob) -> (String, &'static str) {
        super::longest(job, job.layout().unwrap())
    }

    /// The limits per backend at world size 4 and 1000: what a 50-character name (the model's maximum)
    /// breaks.
    #[test]
    fn limits_per_backend() {
        // JobSet: "-workers-0-3-abcde" is 18 characters: 45 remain.
        assert!(check(&job(45, Backend::JobSet, 4)).is_ok());
        let (name, _, max) = check(&job(46, Backend::JobSet, 4)).unwrap_err();
        assert_eq!((name.len(), max), (64, 45));
        assert_eq!(check(&job(50, Backend::JobSet, 1000)).unwrap_err().2, 43);
        // Training operator: "-worker-2" (9) and "-master-0" (9): 54 remain, so 50 fits.
        assert!(check(&job(50, Backend::PyTorchJob, 4)).is_ok());
        assert!(check(&job(50, Backend::AppWrapper, 100_000)).is_ok());
        // Indexed Job: "-99999" for 100,000 ranks.
        assert!(check(&job(50, Backend::Job, 100_000)).is_ok());
    }

    #[test]
    fn deepspeed_and_mxnet_layouts() {
        let mut j = TrainingJob::new("a".repeat(50), Framework::DeepSpeed);
        j.world_size = 100_000;
        assert_eq!(longest(&j).0.len(), 50 + "-worker-99999".len());
        assert!(check(&j).is_ok(), "63 characters exactly");
        let mut m = TrainingJob::new("a".repeat(50), Framework::MXNet);
        m.world_size = 2;
        assert_eq!(longest(&m).0, format!("{}-1", "a".repeat(50)));
        assert!(check(&m).is_ok());
    }
}
