//! The backend a job renders to (DESIGN §3) and what only that backend has: the Kubeflow Trainer
//! runtime a TrainJob references. [`BackendSpec`] carries the runtime in the TrainJob variant, so no
//! other backend can be given one; [`Backend`] is the plain name that flags and messages use.

use std::fmt;

use crate::kinds::{self, Resource};

/// What the job renders to, by name (see [`BackendSpec`] for what each carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Headless Service + Indexed `batch/v1` Job: works on any cluster ≥ 1.27.
    Job,
    JobSet,
    PyTorchJob,
    AppWrapper,
    MpiJob,
    /// Kubeflow Trainer v2 `TrainJob` referencing a (Cluster)TrainingRuntime.
    TrainJob,
}

impl Backend {
    pub const ALL: [Backend; 6] = [
        Backend::Job,
        Backend::JobSet,
        Backend::PyTorchJob,
        Backend::AppWrapper,
        Backend::MpiJob,
        Backend::TrainJob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Job => "job",
            Backend::JobSet => "jobset",
            Backend::PyTorchJob => "pytorchjob",
            Backend::AppWrapper => "appwrapper",
            Backend::MpiJob => "mpijob",
            Backend::TrainJob => "trainjob",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Backend::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Backend::ALL.iter().map(|b| b.as_str()).collect();
                format!("{s:?} is not a backend; use one of: {}", names.join(", "))
            })
    }
}

/// A backend with its own options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BackendSpec {
    #[default]
    Job,
    JobSet,
    PyTorchJob,
    AppWrapper,
    MpiJob,
    /// A TrainJob and the runtime it references (`--runtime`, `--runtime-kind`).
    TrainJob(TrainerRuntime),
}

impl BackendSpec {
    /// The backend's name.
    pub fn tag(&self) -> Backend {
        match self {
            BackendSpec::Job => Backend::Job,
            BackendSpec::JobSet => Backend::JobSet,
            BackendSpec::PyTorchJob => Backend::PyTorchJob,
            BackendSpec::AppWrapper => Backend::AppWrapper,
            BackendSpec::MpiJob => Backend::MpiJob,
            BackendSpec::TrainJob(_) => Backend::TrainJob,
        }
    }

    /// The TrainJob's runtime, to set it; `None` on another backend.
    pub fn trainer_runtime_mut(&mut self) -> Option<&mut TrainerRuntime> {
        match self {
            BackendSpec::TrainJob(rt) => Some(rt),
            _ => None,
        }
    }
}

/// A backend with its defaults (a TrainJob references the framework's default runtime).
impl From<Backend> for BackendSpec {
    fn from(backend: Backend) -> Self {
        match backend {
            Backend::Job => BackendSpec::Job,
            Backend::JobSet => BackendSpec::JobSet,
            Backend::PyTorchJob => BackendSpec::PyTorchJob,
            Backend::AppWrapper => BackendSpec::AppWrapper,
            Backend::MpiJob => BackendSpec::MpiJob,
            Backend::TrainJob => BackendSpec::TrainJob(TrainerRuntime::default()),
        }
    }
}

/// Which kind of Kubeflow Trainer runtime a TrainJob references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RuntimeKind {
    /// Cluster-scoped `ClusterTrainingRuntime` (the Trainer's defaults are these).
    #[default]
    #[cfg_attr(feature = "clap", value(name = kinds::CLUSTER_TRAINING_RUNTIME.kind))]
    Cluster,
    /// Namespaced `TrainingRuntime`, in the TrainJob's namespace.
    #[cfg_attr(feature = "clap", value(name = kinds::TRAINING_RUNTIME.kind))]
    Namespaced,
}

impl RuntimeKind {
    /// The runtime's kind, as the table of kinds addresses it.
    pub fn api(self) -> &'static Resource {
        match self {
            RuntimeKind::Cluster => &kinds::CLUSTER_TRAINING_RUNTIME,
            RuntimeKind::Namespaced => &kinds::TRAINING_RUNTIME,
        }
    }

    /// The `kind` of the runtime object.
    pub fn as_str(self) -> &'static str {
        self.api().kind
    }
}

/// The runtime a TrainJob references; `name: None` means the framework's default runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrainerRuntime {
    pub name: Option<String>,
    /// Set only by `--runtime-kind`.
    pub kind: Option<RuntimeKind>,
}
