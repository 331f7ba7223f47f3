//! The one decision of which framework × backend × launcher combinations exist and what shape of
//! objects each becomes (DESIGN §3). Validation, rendering, the names controllers derive and the
//! plugin's SSH keys all match on [`Layout`], so a combination is added or refused here and nowhere
//! else; an exhaustive `match` then shows every place that must learn the new layout.

use thiserror::Error;

use super::{
    Backend, BackendSpec, DeepSpeedLauncher, DeepSpeedSpec, Framework, FrameworkSpec, ModelError,
    SshKeyPair, TrainerRuntime, TrainingJob,
};

/// The shape of a job's objects, with what that shape needs from the job's framework and backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout<'a> {
    /// torchrun in a headless Service + Indexed Job: PyTorch, or DeepSpeed with `--launcher torchrun`,
    /// on the `job` backend.
    TorchrunJob,
    /// torchrun in a JobSet with one replicated Indexed Job.
    TorchrunJobSet,
    /// torchrun in a training-operator PyTorchJob, which the operator retries.
    PyTorchJob,
    /// That PyTorchJob inside an MLBatch AppWrapper, which retries and queues it instead.
    AppWrapper,
    /// torchrun in a Kubeflow Trainer TrainJob referencing `runtime`.
    TrainJob { runtime: &'a TrainerRuntime },
    /// DeepSpeed's launcher over SSH on the `job` backend: an Indexed Job of sshd workers and a
    /// launcher Job, or with a queue one JobSet holding both (`grouped`), which Kueue admits whole.
    /// `keys` is the pair the plugin made (`None` until it has).
    DeepSpeedSsh {
        grouped: bool,
        slots: u32,
        keys: Option<&'a SshKeyPair>,
    },
    /// DeepSpeed's launcher in an MPI operator MPIJob, which makes the SSH keys and the hostfile.
    DeepSpeedMpiJob { slots: u32 },
    /// MXNet's scheduler, servers and workers in one Indexed Job (standalone with one pod).
    MxnetParameterServer { servers: u32 },
}

impl Layout<'_> {
    /// Whether the plugin must make an SSH key pair before rendering.
    pub fn needs_ssh_keys(&self) -> bool {
        matches!(self, Layout::DeepSpeedSsh { .. })
    }
}

/// A framework that does not run on a backend (with that launcher).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("--backend {:?}: does not run {framework}; {hint}", backend.as_str())]
pub struct UnsupportedLayout {
    pub framework: Framework,
    pub backend: Backend,
    /// The backends that framework runs on.
    pub hint: &'static str,
}

/// Reported with the other problems of a job, under `--backend`.
impl From<UnsupportedLayout> for ModelError {
    fn from(e: UnsupportedLayout) -> Self {
        ModelError {
            field: "--backend",
            value: e.backend.to_string(),
            message: format!("does not run {}; {}", e.framework, e.hint),
        }
    }
}

/// The layout of a job running under torchrun (PyTorch, DeepSpeed with `--launcher torchrun`) on
/// `backend`: every backend but the MPI operator's.
fn torchrun(backend: &BackendSpec) -> Option<Layout<'_>> {
    match backend {
        BackendSpec::Job => Some(Layout::TorchrunJob),
        BackendSpec::JobSet => Some(Layout::TorchrunJobSet),
        BackendSpec::PyTorchJob => Some(Layout::PyTorchJob),
        BackendSpec::AppWrapper => Some(Layout::AppWrapper),
        BackendSpec::TrainJob(runtime) => Some(Layout::TrainJob { runtime }),
        BackendSpec::MpiJob => None,
    }
}

impl TrainingJob {
    /// The job's layout, or why its framework does not run on its backend.
    pub fn layout(&self) -> Result<Layout<'_>, UnsupportedLayout> {
        use BackendSpec as B;
        use FrameworkSpec as F;
        let layout = match (&self.framework, &self.backend) {
            (F::PyTorch, b) => torchrun(b),
            (F::DeepSpeed(ds), b) => match (&ds.launcher, b) {
                (DeepSpeedLauncher::Torchrun, b) => torchrun(b),
                (DeepSpeedLauncher::Ssh { keys }, B::Job) => Some(Layout::DeepSpeedSsh {
                    grouped: self.scheduling.queue.is_some(),
                    slots: self.slots(ds),
                    keys: keys.as_ref(),
                }),
                (DeepSpeedLauncher::Ssh { .. }, B::MpiJob) => Some(Layout::DeepSpeedMpiJob {
                    slots: self.slots(ds),
                }),
                (DeepSpeedLauncher::Ssh { .. }, _) => None,
            },
            (F::MXNet(mx), B::Job) => Some(Layout::MxnetParameterServer {
                servers: mx.servers(),
            }),
            (F::MXNet(_), _) => None,
        };
        layout.ok_or_else(|| self.unsupported())
    }

    /// DeepSpeed's slots per worker: `--slots-per-node`, else processes per pod.
    fn slots(&self, ds: &DeepSpeedSpec) -> u32 {
        ds.slots_per_node.unwrap_or_else(|| self.nproc())
    }

    fn unsupported(&self) -> UnsupportedLayout {
        let framework = self.framework();
        UnsupportedLayout {
            framework,
            backend: self.backend(),
            hint: match framework {
                Framework::PyTorch => "use job, jobset, pytorchjob, appwrapper or trainjob",
                Framework::DeepSpeed => {
                    "use job or mpijob, or --launcher torchrun for jobset, pytorchjob, appwrapper or trainjob (the deepspeed-distributed MPI runtime is not supported yet)"
                }
                Framework::MXNet => "MXNet's parameter server runs on the job backend only",
            },
        }
    }

    /// Where the plugin puts the SSH key pair the job's layout needs; `None` when it needs none
    /// (torchrun needs no SSH, the MPI operator makes its own keys).
    pub fn ssh_keys_slot(&mut self) -> Option<&mut Option<SshKeyPair>> {
        if !self.layout().is_ok_and(|l| l.needs_ssh_keys()) {
            return None;
        }
        match &mut self.framework {
            FrameworkSpec::DeepSpeed(DeepSpeedSpec {
                launcher: DeepSpeedLauncher::Ssh { keys },
                ..
            }) => Some(keys),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Launcher;

    fn job(framework: Framework, backend: Backend) -> TrainingJob {
        let mut j = TrainingJob::new("j", framework);
        j.backend = backend.into();
        j
    }

    /// Every framework × backend × launcher: which exist, and the one message for those that do not.
    #[test]
    fn the_table_of_layouts() {
        use Backend::*;
        let ds = |backend: Backend, launcher: Launcher| {
            let mut j = job(Framework::DeepSpeed, backend);
            j.framework.deepspeed_mut().expect("deepspeed").launcher = launcher.into();
            j
        };
        for (b, want) in [
            (Job, "TorchrunJob"),
            (JobSet, "TorchrunJobSet"),
            (PyTorchJob, "PyTorchJob"),
            (AppWrapper, "AppWrapper"),
            (TrainJob, "TrainJob"),
        ] {
            for j in [job(Framework::PyTorch, b), ds(b, Launcher::Torchrun)] {
                assert!(format!("{:?}", j.layout().unwrap()).starts_with(want));
            }
        }
        assert!(matches!(
            ds(Job, Launcher::Ssh).layout(),
            Ok(Layout::DeepSpeedSsh {
                grouped: false,
                slots: 1,
                keys: None
            })
        ));
        assert!(matches!(
            ds(MpiJob, Launcher::Ssh).layout(),
            Ok(Layout::DeepSpeedMpiJob { slots: 1 })
        ));
        assert!(matches!(
            job(Framework::MXNet, Job).layout(),
            Ok(Layout::MxnetParameterServer { servers: 1 })
        ));
        let refused = [
            job(Framework::PyTorch, MpiJob),
            ds(MpiJob, Launcher::Torchrun),
            ds(JobSet, Launcher::Ssh),
            ds(PyTorchJob, Launcher::Ssh),
            ds(AppWrapper, Launcher::Ssh),
            ds(TrainJob, Launcher::Ssh),
            job(Framework::MXNet, JobSet),
            job(Framework::MXNet, PyTorchJob),
            job(Framework::MXNet, AppWrapper),
            job(Framework::MXNet, MpiJob),
            job(Framework::MXNet, TrainJob),
        ];
        for j in refused {
            let e = ModelError::from(j.layout().unwrap_err());
            assert_eq!(e.field, "--backend");
            assert_eq!(e.value, j.backend().as_str());
            assert!(
                e.message
                    .starts_with(&format!("does not run {}; ", j.framework()))
            );
        }
        assert_eq!(
            ModelError::from(job(Framework::PyTorch, MpiJob).layout().unwrap_err()).to_string(),
            job(Framework::PyTorch, MpiJob)
                .layout()
                .unwrap_err()
                .to_string()
        );
    }

    #[test]
    fn only_the_ssh_layout_on_the_job_backend_takes_keys() {
        let mut j = job(Framework::DeepSpeed, Backend::Job);
        assert!(j.ssh_keys_slot().is_some());
        j.backend = Backend::MpiJob.into();
        assert!(j.ssh_keys_slot().is_none());
        assert!(
            job(Framework::PyTorch, Backend::Job)
                .ssh_keys_slot()
                .is_none()
        );
    }
}
