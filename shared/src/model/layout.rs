//! The one decision of which framework × backend × launcher combinations exist and what shape of
//! objects each becomes (DESIGN §3). Validation, rendering, the names controllers derive and the
//! plugin's SSH keys all match on [`Layout`], so a combination is added or refused here and nowhere
//! else; an exhaustive `match` then shows every place that must learn the new layout.

use thiserror::Error;

use crate::vocab::trainer;

use super::{
    Backend, BackendSpec, DeepSpeedLauncher, DeepSpeedSpec, Framework, FrameworkSpec, Launcher,
    ModelError, SshKeyPair, TrainerRuntime, TrainingJob,
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
    /// torchrun in a Kubeflow Trainer TrainJob referencing `runtime` (a torch runtime,
    /// `torch-distributed` by default).
    TrainJob { runtime: &'a TrainerRuntime },
    /// DeepSpeed's launcher over the SSH and hostfile of a Kubeflow Trainer MPI runtime
    /// (`deepspeed-distributed` by default): a TrainJob whose trainer command runs on the runtime's
    /// launcher pod, `slots` processes per pod.
    DeepSpeedTrainJob {
        runtime: &'a TrainerRuntime,
        slots: u32,
    },
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

    /// The Kubeflow Trainer runtime framework (its `trainer.kubeflow.org/framework` label) a TrainJob
    /// of this layout needs, and the runtime referenced when the user names none; `None` for the
    /// layouts that render no TrainJob.
    pub fn trainer_runtime(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Layout::TrainJob { .. } => Some(("torch", trainer::TORCH_RUNTIME)),
            Layout::DeepSpeedTrainJob { .. } => Some(("deepspeed", trainer::DEEPSPEED_RUNTIME)),
            _ => None,
        }
    }
}

/// A framework that does not run on a backend (with that launcher).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("--backend {:?}: does not run {framework}; {hint}", backend.as_str())]
pub struct UnsupportedLayout {
    pub framework: Framework,
    pub backend: Backend,
    /// The backends that framework runs on.
    pub hint: String,
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

/// The table: the layout of `framework` on `backend`, if that combination exists. `queued` and
/// `nproc` only fill in the layout's details (grouping, default slots).
fn decide<'a>(
    framework: &'a FrameworkSpec,
    backend: &'a BackendSpec,
    queued: bool,
    nproc: u32,
) -> Option<Layout<'a>> {
    use BackendSpec as B;
    use DeepSpeedLauncher as L;
    let slots = |ds: &DeepSpeedSpec| ds.slots_per_node.unwrap_or(nproc);
    match (framework, backend) {
        (FrameworkSpec::PyTorch, b) => torchrun(b),
        (FrameworkSpec::DeepSpeed(ds), b) => match (&ds.launcher, b) {
            (L::Torchrun, b) => torchrun(b),
            (L::Ssh { keys }, B::Job) => Some(Layout::DeepSpeedSsh {
                grouped: queued,
                slots: slots(ds),
                keys: keys.as_ref(),
            }),
            (L::Ssh { .. }, B::MpiJob) => Some(Layout::DeepSpeedMpiJob { slots: slots(ds) }),
            (L::Ssh { .. }, B::TrainJob(runtime)) => Some(Layout::DeepSpeedTrainJob {
                runtime,
                slots: slots(ds),
            }),
            (L::Ssh { .. }, _) => None,
        },
        (FrameworkSpec::MXNet(mx), B::Job) => Some(Layout::MxnetParameterServer {
            servers: mx.servers(),
        }),
        (FrameworkSpec::MXNet(_), _) => None,
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

/// The backends `framework` runs on, read from the table, in [`Backend::ALL`] order.
fn backends(framework: &FrameworkSpec) -> Vec<Backend> {
    Backend::ALL
        .into_iter()
        .filter(|&b| decide(framework, &b.into(), false, 1).is_some())
        .collect()
}

/// `a, b or c`.
fn or_list(backends: &[Backend]) -> String {
    let names: Vec<&str> = backends.iter().map(|b| b.as_str()).collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// What to use instead: the backends the framework runs on, per launcher for DeepSpeed.
fn hint(framework: Framework) -> String {
    let runs_on = |spec: FrameworkSpec| or_list(&backends(&spec));
    match framework {
        Framework::PyTorch => format!("use {}", runs_on(FrameworkSpec::PyTorch)),
        Framework::DeepSpeed => {
            let with = |launcher: Launcher| {
                backends(&FrameworkSpec::DeepSpeed(DeepSpeedSpec {
                    launcher: launcher.into(),
                    slots_per_node: None,
                }))
            };
            let ssh = with(Launcher::Ssh);
            let torchrun_only: Vec<Backend> = with(Launcher::Torchrun)
                .into_iter()
                .filter(|b| !ssh.contains(b))
                .collect();
            format!(
                "use {}, or --launcher torchrun for {}",
                or_list(&ssh),
                or_list(&torchrun_only)
            )
        }
        Framework::MXNet => format!(
            "MXNet's parameter server runs on the {} backend only",
            runs_on(FrameworkSpec::from(Framework::MXNet))
        ),
    }
}

impl TrainingJob {
    /// The job's layout, or why its framework does not run on its backend.
    pub fn layout(&self) -> Result<Layout<'_>, UnsupportedLayout> {
        let queued = self.scheduling.queue.is_some();
        decide(&self.framework, &self.backend, queued, self.nproc()).ok_or_else(|| {
            UnsupportedLayout {
                framework: self.framework(),
                backend: self.backend(),
                hint: hint(self.framework()),
            }
        })
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
            ds(TrainJob, Launcher::Ssh).layout(),
            Ok(Layout::DeepSpeedTrainJob { slots: 1, .. })
        ));
        assert_eq!(
            ds(TrainJob, Launcher::Ssh)
                .layout()
                .unwrap()
                .trainer_runtime(),
            Some(("deepspeed", "deepspeed-distributed"))
        );
        assert_eq!(
            ds(TrainJob, Launcher::Torchrun)
                .layout()
                .unwrap()
                .trainer_runtime(),
            Some(("torch", "torch-distributed"))
        );
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

    /// The hints are read from the table, in the words users have seen so far.
    #[test]
    fn hints_name_the_backends_each_framework_runs_on() {
        assert_eq!(
            hint(Framework::PyTorch),
            "use job, jobset, pytorchjob, appwrapper or trainjob"
        );
        assert_eq!(
            hint(Framework::DeepSpeed),
            "use job, mpijob or trainjob, or --launcher torchrun for jobset, pytorchjob or appwrapper"
        );
        assert_eq!(
            hint(Framework::MXNet),
            "MXNet's parameter server runs on the job backend only"
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
