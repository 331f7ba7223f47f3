//! The framework-neutral training job: what the user asked for, before any Kubernetes object exists.
//! Flags and MLBatch `settings.yaml` both resolve into a [`TrainingJob`]; the renderers turn it into
//! objects for a backend (DESIGN §2, §3).
//!
//! Each framework's and backend's options live in its own variant ([`FrameworkSpec`], [`BackendSpec`]),
//! and [`TrainingJob::layout`] is the one place that decides which combinations exist and what each
//! becomes. [`TrainingJob::validate`] checks what users get wrong (names, quantities, counts, combinations) and
//! reports every problem at once, each naming the flag, the value and the fix.

mod appwrapper;
mod backend;
pub mod derived;
mod framework;
mod layout;
mod validate;

use std::collections::BTreeMap;

use crate::policy::OpenShiftMode;
use crate::vocab;

pub use appwrapper::{AppWrapperSetting, SettingValue};
pub use backend::{Backend, BackendSpec, RuntimeKind, TrainerRuntime};
pub use framework::{
    DeepSpeedLauncher, DeepSpeedSpec, Framework, FrameworkSpec, Launcher, MxnetSpec, SshKeyPair,
};
pub use layout::{Layout, UnsupportedLayout};
pub use validate::ModelError;

/// The longest job name: derived pod (`<job>-<rank>-<suffix>`) and service names must fit 63.
pub const MAX_NAME: usize = 50;

/// Processes per pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NprocPerNode {
    /// One per GPU, or 1 without GPUs.
    #[default]
    Auto,
    Count(u32),
}

/// Bitnami's resource presets (requests; limits are 1.5× requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourcePreset {
    Nano,
    Micro,
    Small,
    Medium,
    Large,
    Xlarge,
    Xlarge2,
}

impl ResourcePreset {
    pub const NAMES: [&'static str; 7] = [
        "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge",
    ];

    /// (cpu request, memory request, ephemeral-storage request, cpu limit, memory limit,
    /// ephemeral-storage limit), as in Bitnami's common chart.
    pub fn values(self) -> [&'static str; 6] {
        match self {
            ResourcePreset::Nano => ["100m", "128Mi", "50Mi", "150m", "192Mi", "2Gi"],
            ResourcePreset::Micro => ["250m", "256Mi", "50Mi", "375m", "384Mi", "2Gi"],
            ResourcePreset::Small => ["500m", "512Mi", "50Mi", "750m", "768Mi", "2Gi"],
            ResourcePreset::Medium => ["500m", "1024Mi", "50Mi", "750m", "1536Mi", "2Gi"],
            ResourcePreset::Large => ["1", "2048Mi", "50Mi", "1.5", "3072Mi", "2Gi"],
            ResourcePreset::Xlarge => ["1", "3072Mi", "50Mi", "3", "6144Mi", "2Gi"],
            ResourcePreset::Xlarge2 => ["1", "3072Mi", "50Mi", "6", "12288Mi", "2Gi"],
        }
    }
}

impl std::str::FromStr for ResourcePreset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        use ResourcePreset::*;
        Ok(match s {
            "nano" => Nano,
            "micro" => Micro,
            "small" => Small,
            "medium" => Medium,
            "large" => Large,
            "xlarge" => Xlarge,
            "2xlarge" => Xlarge2,
            _ => {
                return Err(format!(
                    "{s:?} is not a preset; use one of: {}",
                    ResourcePreset::NAMES.join(", ")
                ));
            }
        })
    }
}

/// Per-pod resources. Quantities are kept as the user wrote them and checked by `validate`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub gpus: u32,
    pub cpus: Option<String>,
    pub memory: Option<String>,
    pub ephemeral_storage: Option<String>,
    pub gpu_limit: Option<u32>,
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
    pub preset: Option<ResourcePreset>,
    /// The GPU resource name.
    pub gpu_resource: String,
}

/// Where an env value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    Secret { name: String, key: String },
    ConfigMap { name: String, key: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

/// A whole Secret or ConfigMap as environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvFrom {
    Secret(String),
    ConfigMap(String),
}

/// What runs after the setup commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Main {
    /// The built-in distributed smoke test (no program given).
    #[default]
    SmokeTest,
    /// The trailing `-- PROGRAM ARGS`, each word quoted; a `.py` program runs under the launcher.
    Command(Vec<String>),
    /// MLBatch's `mainProgram`: shell text run under the launcher as written (`$VARS` expand).
    Shell(String),
    /// Only the setup commands run (MLBatch without `mainProgram`).
    Nothing,
}

/// The program: setup commands run in order with `set -e`, then the main part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    pub main: Main,
    pub setup: Vec<String>,
    pub workdir: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    pub pull_policy: Option<String>,
    pub pull_secrets: Vec<String>,
}

/// Code cloned by an init container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    pub url: String,
    pub revision: Option<String>,
    /// A Secret with an SSH key (`ssh-privatekey`) for private repositories.
    pub ssh_secret: Option<String>,
}

/// Local files packed into a ConfigMap created with the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedFile {
    /// ConfigMap key (file name, flattened).
    pub key: String,
    /// Relative path under the code directory.
    pub path: String,
    pub content: String,
}

/// MLBatch's `sshGitCloneConfig`: an SSH key Secret and a known_hosts ConfigMap mounted in the training
/// container, with `GIT_SSH_COMMAND` set, so setup commands can clone private repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshClone {
    pub secret: String,
    pub config_map: String,
    pub secret_mount_path: String,
    pub config_map_mount_path: String,
    pub ssh_command: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Code {
    pub git: Option<GitSource>,
    pub ssh_clone: Option<SshClone>,
    pub files: Vec<PackedFile>,
    /// Existing ConfigMaps mounted as code.
    pub config_maps: Vec<String>,
}

/// A PersistentVolumeClaim mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub name: Option<String>,
    pub claim: String,
    pub mount_path: String,
    pub read_only: bool,
}

/// A generic ephemeral volume (NVMe scratch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scratch {
    pub size: String,
    pub mount_path: String,
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Storage {
    pub volumes: Vec<VolumeMount>,
    pub scratch: Option<Scratch>,
    /// `None`: let the policy size it.
    pub shm_size: Option<String>,
    pub no_shm: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum AntiAffinity {
    Soft,
    Hard,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scheduling {
    pub queue: Option<String>,
    pub priority: Option<String>,
    pub host_ignore: Vec<String>,
    pub node_selector: Vec<(String, String)>,
    pub tolerations: Vec<Toleration>,
    pub anti_affinity: Option<AntiAffinity>,
    pub scheduler: Option<String>,
    pub service_account: Option<String>,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    /// Autopilot pre-flight health checks (MLBatch `autopilotHealthChecks`): the pod labels
    /// `autopilot: ""` and `<check>: ""`, which make Autopilot run those checks before the pod starts
    /// (pytorchjob-generator `templates/_helpers.tpl`, `mlbatch.container.metadata`).
    pub health_checks: Vec<String>,
    /// Keep off nodes Autopilot marked unhealthy: `autopilot.ibm.com/gpuhealth NotIn [ERR, TESTING,
    /// EVICT]` in the required node affinity, which the MLBatch generator always renders
    /// (`mlbatch.schedulingSpec`).
    pub avoid_unhealthy_gpus: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networking {
    pub port: u16,
    pub roce_gdr: u32,
    pub roce_gdr_resource: String,
    pub multi_nic_network: Option<String>,
    pub nccl_env_config_map: Option<String>,
    pub topology_config_map: Option<String>,
}

impl Default for Networking {
    fn default() -> Self {
        Networking {
            port: 29500,
            roce_gdr: 0,
            roce_gdr_resource: vocab::nvidia::ROCE_GDR.into(),
            multi_nic_network: None,
            nccl_env_config_map: None,
            topology_config_map: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultTolerance {
    pub restart_policy: String,
    pub max_restarts: Option<u32>,
    pub active_deadline_seconds: Option<u64>,
    pub termination_grace_seconds: Option<u64>,
    /// The AppWrapper's fault-tolerance settings, values as written.
    pub appwrapper: BTreeMap<AppWrapperSetting, String>,
}

impl Default for FaultTolerance {
    fn default() -> Self {
        FaultTolerance {
            restart_policy: "Never".into(),
            max_restarts: None,
            active_deadline_seconds: None,
            termination_grace_seconds: None,
            appwrapper: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    pub openshift: OpenShiftMode,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub fs_group: Option<i64>,
}

/// An extra init container (MLBatch `initContainers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitContainer {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
}

/// One distributed training job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingJob {
    pub name: String,
    pub namespace: Option<String>,
    /// The framework and its options; [`TrainingJob::framework`] is its name.
    pub framework: FrameworkSpec,
    /// The backend and its options; [`TrainingJob::backend`] is its name.
    pub backend: BackendSpec,
    /// Pods (ranks), master included.
    pub world_size: u32,
    pub nproc_per_node: NprocPerNode,
    pub resources: Resources,
    pub image: Image,
    pub program: Program,
    pub code: Code,
    pub env: Vec<EnvVar>,
    pub env_from: Vec<EnvFrom>,
    pub storage: Storage,
    pub scheduling: Scheduling,
    pub networking: Networking,
    pub fault_tolerance: FaultTolerance,
    pub security: Security,
    pub init_containers: Vec<InitContainer>,
}

impl TrainingJob {
    /// A job with every default, ready for flags to fill.
    pub fn new(name: impl Into<String>, framework: Framework) -> Self {
        TrainingJob {
            name: name.into(),
            namespace: None,
            framework: framework.into(),
            backend: BackendSpec::Job,
            world_size: 1,
            nproc_per_node: NprocPerNode::Auto,
            resources: Resources {
                gpu_resource: vocab::nvidia::GPU.into(),
                ..Resources::default()
            },
            image: Image {
                name: default_image(framework).into(),
                ..Image::default()
            },
            program: Program::default(),
            code: Code::default(),
            env: Vec::new(),
            env_from: Vec::new(),
            storage: Storage::default(),
            scheduling: Scheduling::default(),
            networking: Networking::default(),
            fault_tolerance: FaultTolerance::default(),
            security: Security::default(),
            init_containers: Vec::new(),
        }
    }

    /// The framework's name (for labels, messages and the default image).
    pub fn framework(&self) -> Framework {
        self.framework.tag()
    }

    /// The backend's name.
    pub fn backend(&self) -> Backend {
        self.backend.tag()
    }

    /// Processes per pod, resolved: one per GPU, or 1 without GPUs.
    pub fn nproc(&self) -> u32 {
        match self.nproc_per_node {
            NprocPerNode::Count(n) => n,
            NprocPerNode::Auto => self.resources.gpus.max(1),
        }
    }
}

/// The image used when none is given: one that has the framework and its launcher, exists, and is
/// maintained. Bitnami moved every versioned tag to the unmaintained `bitnamilegacy` repository in
/// September 2025 (bitnami/containers#83267), so none of its images is a default.
/// - PyTorch: the PyTorch project's runtime image.
/// - DeepSpeed: Kubeflow Trainer's DeepSpeed runtime image, as its `deepspeed-distributed`
///   ClusterTrainingRuntime names it (torch, DeepSpeed, mpi4py, OpenSSH, OpenMPI; no pdsh, so our
///   launcher uses DeepSpeed's OpenMPI runner there).
/// - MXNet: Apache MXNet was retired to the Apache Attic in 2023 and no maintained image exists; the
///   default is Bitnami's last one, and [`TrainingJob::image_warning`] says so on every use.
pub fn default_image(framework: Framework) -> &'static str {
    match framework {
        Framework::PyTorch => "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        Framework::DeepSpeed => "ghcr.io/kubeflow/trainer/deepspeed-runtime",
        Framework::MXNet => MXNET_LEGACY_IMAGE,
    }
}

/// The uid (and gid) of `mpiuser`, whom the Kubeflow Trainer's DeepSpeed runtime image runs sshd as
/// and who owns `/home/mpiuser`, where the Trainer mounts the SSH keys.
pub const MPI_USER_UID: i64 = 1000;

/// Bitnami's last MXNet image, frozen in the `bitnamilegacy` repository: pullable, never updated.
pub const MXNET_LEGACY_IMAGE: &str = "docker.io/bitnamilegacy/mxnet:1.9.1";

impl TrainingJob {
    /// A warning about the image, printed before anything is created: the MXNet default is
    /// unmaintained (MXNet itself is retired).
    pub fn image_warning(&self) -> Option<String> {
        (self.framework() == Framework::MXNet && self.image.name == MXNET_LEGACY_IMAGE).then(|| {
            format!(
                "MXNet has no maintained image (Apache MXNet was retired to the Attic in 2023); using {MXNET_LEGACY_IMAGE}, which gets no updates; build your own (docs/images.md) and pass --image"
            )
        })
    }
}
