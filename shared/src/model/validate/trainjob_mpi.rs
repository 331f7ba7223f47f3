//! What a DeepSpeed TrainJob on a Kubeflow Trainer MPI runtime (`deepspeed-distributed`) cannot
//! carry to the ranks, refused before anything is created. In v2.3.0 the TrainJob's trainer fields
//! (image, command, env, `resourcesPerNode`) reach only the runtime's `launcher` job, while its
//! `node` pods keep the runtime's image, command (sshd as `mpiuser`, uid 1000, keys at
//! `/home/mpiuser/.ssh`) and resources; runtime patches add only volumes, mounts and security
//! context (kubeflow/trainer `pkg/runtime/framework/plugins/jobset/builder.go`, #2545; modelled in
//! `tests/src/behave/controllers/trainjob`). Variables reach every rank through `mpirun -x`, so none
//! is refused.

use super::Check;
use crate::model::{MPI_USER_UID, Networking, TrainingJob, default_image};

/// The fix for what only a runtime of the user's own can give the node pods.
const OWN_RUNTIME: &str = "a ClusterTrainingRuntime of your own whose node and launcher jobs have it, passed with --runtime, or --launcher torchrun";

impl TrainingJob {
    pub(super) fn check_trainjob_mpi(&self, c: &mut Check) {
        if self.image.name != default_image(self.framework()) {
            c.fail(
                "--image",
                &self.image.name,
                format!("the runtime's node pods keep the runtime's own image (spec.trainer.image reaches only its launcher), so the ranks would run in two images; use {OWN_RUNTIME}"),
            );
        }
        if let Some(first) = self.program.setup.first() {
            c.fail(
                "--setup",
                first,
                "would run on the launcher pod only (the runtime's node pods run its sshd, never our script); put the commands in your program or the image, or use --launcher torchrun",
            );
        }
        if let Some(uid) = self.security.run_as_user.filter(|u| *u != MPI_USER_UID) {
            c.fail(
                "--run-as-user",
                uid,
                format!("the runtime's sshd and SSH keys belong to its image's mpiuser (uid {MPI_USER_UID}); drop --run-as-user, or use {OWN_RUNTIME}"),
            );
        }
        if self.world_size > 1 && self.sets_resources() {
            c.fail(
                "--gpus/--cpus/--memory",
                self.resources.gpus,
                format!("spec.trainer.resourcesPerNode reaches only the runtime's launcher pod, not its node pods, so most ranks would run without them; use {OWN_RUNTIME}"),
            );
        }
        if self.networking.port != Networking::default().port {
            c.fail(
                "--port",
                self.networking.port,
                "DeepSpeed under mpirun takes its rendezvous from MPI (rank 0's address, its own default port); drop --port",
            );
        }
        if let Some(n) = self.fault_tolerance.max_restarts {
            c.fail(
                "--max-restarts",
                n,
                "an MPI run has no elastic restarts (the runtime restarts its launcher in place); drop --max-restarts",
            );
        }
        if self.fault_tolerance.restart_policy != "Never" {
            c.fail("--restart-policy", &self.fault_tolerance.restart_policy, "the runtime decides the restart policy of a TrainJob's pods; drop --restart-policy");
        }
    }

    /// Whether the user asked for any resources (none are rendered otherwise).
    fn sets_resources(&self) -> bool {
        let r = &self.resources;
        r.gpus > 0
            || r.cpus.is_some()
            || r.memory.is_some()
            || r.ephemeral_storage.is_some()
            || r.gpu_limit.is_some()
            || r.cpu_limit.is_some()
            || r.memory_limit.is_some()
            || r.preset.is_some()
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Backend, Framework, TrainingJob};

    fn job() -> TrainingJob {
        let mut j = TrainingJob::new("ds", Framework::DeepSpeed);
        j.backend = Backend::TrainJob.into();
        j.world_size = 3;
        j
    }

    #[test]
    fn what_cannot_reach_the_node_pods_is_refused_with_the_fix() {
        assert_eq!(job().validate(), Ok(()));
        let mut j = job();
        j.image.name = "my/deepspeed:1".into();
        j.program.setup.push("pip install x".into());
        j.security.run_as_user = Some(2000);
        j.resources.gpus = 8;
        j.networking.port = 1234;
        let errs = j.validate().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "--image",
                "--setup",
                "--run-as-user",
                "--gpus/--cpus/--memory",
                "--port"
            ]
        );
        assert!(errs.iter().all(|e| e.message.contains("drop")
            || e.message.contains("--runtime")
            || e.message.contains("--launcher torchrun")));
    }

    #[test]
    fn the_image_user_and_one_pod_of_resources_are_fine() {
        let mut j = job();
        j.security.run_as_user = Some(crate::model::MPI_USER_UID);
        assert_eq!(j.validate(), Ok(()));
        j.world_size = 1;
        j.resources.gpus = 1;
        assert_eq!(j.validate(), Ok(()));
    }
}
