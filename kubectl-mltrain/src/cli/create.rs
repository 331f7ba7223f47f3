//! The flags every create command shares, one group per help heading. A framework's own flags (its
//! backends, sizes and launcher) live in [`super::frameworks`]; `crate::resolve` applies each group to
//! the job.

use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::{Args, ValueEnum};
use mltrain_shared::OpenShiftMode;
use mltrain_shared::model::{AntiAffinity, ResourcePreset};
use mltrain_shared::vocab;

use super::{ConnArgs, DryRun, OutputFormat};

/// The heading of the size flags, which frameworks also use for their own (`--world-size`, ...).
pub const SIZE: &str = "Size and resources";
/// The heading of the backend flags, which frameworks also use for their own (`--launcher`).
pub const BACKEND: &str = "Backend";

/// What the job runs and with what, whatever the framework: the shared groups, in help order.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// Job name (DNS-1035, at most 50 characters); default <framework>-<random>.
    pub name: Option<String>,
    #[command(flatten)]
    pub resources: ResourceArgs,
    #[command(flatten)]
    pub program: ProgramArgs,
    #[command(flatten)]
    pub code: CodeArgs,
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub scheduling: SchedulingArgs,
    #[command(flatten)]
    pub networking: NetworkingArgs,
    #[command(flatten)]
    pub fault_tolerance: FaultToleranceArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
    /// The program and its arguments (a .py file runs under the launcher); none runs the smoke test.
    #[arg(last = true, value_name = "PROGRAM [ARGS]")]
    pub command: Vec<String>,
}

/// Resources of every pod.
#[derive(Debug, Clone, Args)]
pub struct ResourceArgs {
    /// GPUs per pod.
    #[arg(long, value_name = "N", help_heading = SIZE)]
    pub gpus: Option<u32>,
    /// CPU request per pod (e.g. 500m, 8).
    #[arg(long, value_name = "QUANTITY", help_heading = SIZE)]
    pub cpus: Option<String>,
    /// Memory request per pod (e.g. 64Gi).
    #[arg(long, value_name = "QUANTITY", help_heading = SIZE)]
    pub memory: Option<String>,
    /// CPU limit (default: the request).
    #[arg(long, value_name = "QUANTITY", help_heading = SIZE)]
    pub cpu_limit: Option<String>,
    /// GPU limit; must equal --gpus.
    #[arg(long, value_name = "N", help_heading = SIZE)]
    pub gpu_limit: Option<u32>,
    /// Memory limit (default: the request).
    #[arg(long, value_name = "QUANTITY", help_heading = SIZE)]
    pub memory_limit: Option<String>,
    /// Ephemeral-storage request.
    #[arg(long, value_name = "QUANTITY", help_heading = SIZE)]
    pub ephemeral_storage: Option<String>,
    /// Bitnami resource preset; ignored when --cpus/--memory/limits are given.
    #[arg(
        long,
        value_name = "PRESET",
        help_heading = SIZE,
        value_parser = clap::builder::PossibleValuesParser::new(ResourcePreset::NAMES)
            .try_map(|s| s.parse::<ResourcePreset>())
    )]
    pub resources_preset: Option<ResourcePreset>,
}

/// The program and the image it runs in.
#[derive(Debug, Clone, Args)]
pub struct ProgramArgs {
    /// Command run before the program, in order, stopping at the first failure (repeatable).
    #[arg(long, value_name = "CMD", help_heading = "Program")]
    pub setup: Vec<String>,
    /// Working directory.
    #[arg(long, value_name = "DIR", help_heading = "Program")]
    pub workdir: Option<String>,
    /// Container image (default: the framework's image; see docs/images.md).
    #[arg(long, help_heading = "Program")]
    pub image: Option<String>,
    /// Always, IfNotPresent or Never.
    #[arg(long, value_name = "POLICY", help_heading = "Program")]
    pub image_pull_policy: Option<String>,
    /// Secret for pulling the image (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Program")]
    pub image_pull_secret: Vec<String>,
}

/// Where the code and data come from.
#[derive(Debug, Clone, Args)]
pub struct CodeArgs {
    /// Clone this repository in an init container; the program runs in it.
    #[arg(long, value_name = "URL", help_heading = "Code and data")]
    pub git_repo: Option<String>,
    /// Branch, tag or commit to check out.
    #[arg(
        long,
        value_name = "REV",
        requires = "git_repo",
        help_heading = "Code and data"
    )]
    pub git_revision: Option<String>,
    /// Secret with an SSH key (key ssh-privatekey) for a private repository.
    #[arg(
        long,
        value_name = "NAME",
        requires = "git_repo",
        help_heading = "Code and data"
    )]
    pub git_ssh_secret: Option<String>,
    /// Local file or directory to ship in a ConfigMap created with the job (repeatable).
    #[arg(long, value_name = "PATH", help_heading = "Code and data")]
    pub from_file: Vec<PathBuf>,
    /// Existing ConfigMap mounted at /workspace/configmaps/NAME (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Code and data")]
    pub configmap: Vec<String>,
    /// PersistentVolumeClaim mount CLAIM:MOUNTPATH[:ro] (repeatable).
    #[arg(long, value_name = "CLAIM:PATH[:ro]", help_heading = "Code and data")]
    pub volume: Vec<String>,
    /// Per-pod scratch volume SIZE[:PATH] (default path /workspace/scratch).
    #[arg(long, value_name = "SIZE[:PATH]", help_heading = "Code and data")]
    pub scratch: Option<String>,
    /// StorageClass of the scratch volume.
    #[arg(
        long,
        value_name = "NAME",
        requires = "scratch",
        help_heading = "Code and data"
    )]
    pub scratch_storage_class: Option<String>,
    /// Size of /dev/shm (default: from the cluster policy).
    #[arg(long, value_name = "SIZE", help_heading = "Code and data")]
    pub shm_size: Option<String>,
    /// No memory-backed /dev/shm.
    #[arg(long, help_heading = "Code and data")]
    pub no_shm: bool,
}

/// The program's environment variables.
#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// K=V, K=secret:NAME/KEY or K=configmap:NAME/KEY (repeatable).
    #[arg(long, value_name = "K=V", help_heading = "Environment")]
    pub env: Vec<String>,
    /// Every key of a Secret as variables (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Environment")]
    pub env_from_secret: Vec<String>,
    /// Every key of a ConfigMap as variables (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Environment")]
    pub env_from_configmap: Vec<String>,
}

/// Where and when the pods run, and what they carry for the schedulers.
#[derive(Debug, Clone, Args)]
pub struct SchedulingArgs {
    /// Kueue LocalQueue.
    #[arg(long, value_name = "NAME", help_heading = "Scheduling")]
    pub queue: Option<String>,
    /// PriorityClass.
    #[arg(long, value_name = "NAME", help_heading = "Scheduling")]
    pub priority: Option<String>,
    /// Node to avoid (repeatable).
    #[arg(long, value_name = "HOST", help_heading = "Scheduling")]
    pub host_ignore: Vec<String>,
    /// Node label K=V the pods need (repeatable).
    #[arg(long, value_name = "K=V", help_heading = "Scheduling")]
    pub node_selector: Vec<String>,
    /// Tolerate a taint KEY[=VALUE]:EFFECT (repeatable).
    #[arg(long, value_name = "KEY[=VALUE]:EFFECT", help_heading = "Scheduling")]
    pub toleration: Vec<String>,
    /// Spread pods over nodes: soft (preferred) or hard (required).
    #[arg(long, value_enum, help_heading = "Scheduling")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Scheduler name.
    #[arg(long, value_name = "NAME", help_heading = "Scheduling")]
    pub scheduler: Option<String>,
    /// ServiceAccount the pods run as.
    #[arg(long, value_name = "NAME", help_heading = "Scheduling")]
    pub service_account: Option<String>,
    /// Label K=V on every object and pod (repeatable).
    #[arg(long, value_name = "K=V", help_heading = "Scheduling")]
    pub label: Vec<String>,
    /// Annotation K=V on every object and pod (repeatable).
    #[arg(long, value_name = "K=V", help_heading = "Scheduling")]
    pub annotation: Vec<String>,
}

/// How the ranks reach each other.
#[derive(Debug, Clone, Args)]
pub struct NetworkingArgs {
    /// Rendezvous port.
    #[arg(long, value_name = "PORT", help_heading = "Networking")]
    pub port: Option<u16>,
    /// RoCE GDR devices per pod (multi-pod GPU jobs).
    #[arg(long, value_name = "N", help_heading = "Networking")]
    pub roce_gdr: Option<u32>,
    /// RoCE GDR resource name.
    #[arg(long, value_name = "NAME", help_heading = "Networking")]
    pub roce_gdr_resource: Option<String>,
    /// Multus network for the pods.
    #[arg(long, value_name = "NAME", help_heading = "Networking")]
    pub multi_nic_network: Option<String>,
    /// ConfigMap of NCCL variables.
    #[arg(long, value_name = "NAME", help_heading = "Networking")]
    pub nccl_env_configmap: Option<String>,
    /// ConfigMap with virtualTopology.xml (sets NCCL_TOPO_FILE).
    #[arg(long, value_name = "NAME", help_heading = "Networking")]
    pub topology_configmap: Option<String>,
}

/// Pod restart policies. The model keeps the Kubernetes string, as settings files write it; this
/// enum only makes clap offer the two valid ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RestartPolicy {
    #[value(name = "Never", alias = "never")]
    Never,
    #[value(name = "OnFailure", alias = "on-failure", alias = "onfailure")]
    OnFailure,
}

impl RestartPolicy {
    /// The pod spec's `restartPolicy` value.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Never => "Never",
            RestartPolicy::OnFailure => "OnFailure",
        }
    }
}

/// Retries, deadlines and grace periods every backend has.
#[derive(Debug, Clone, Args)]
pub struct FaultToleranceArgs {
    /// Never or OnFailure.
    #[arg(long, value_enum, help_heading = "Fault tolerance")]
    pub restart_policy: Option<RestartPolicy>,
    /// Retries, as the backend's controller counts them (docs/retries.md); torchrun then uses its c10d
    /// rendezvous so a restarted group re-forms.
    #[arg(long, value_name = "N", help_heading = "Fault tolerance")]
    pub max_restarts: Option<u32>,
    /// Stop the job after this long (e.g. 12h, 2d).
    #[arg(long, value_name = "DURATION", help_heading = "Fault tolerance")]
    pub active_deadline: Option<String>,
    /// Seconds pods get to stop.
    #[arg(long, value_name = "SECONDS", help_heading = "Fault tolerance")]
    pub termination_grace_period: Option<u64>,
}

/// Who the containers run as.
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// Adapt to OpenShift's restricted-v2 SCC: auto (ask the cluster), force, disabled.
    #[arg(long, value_enum, help_heading = "Security")]
    pub openshift: Option<OpenShiftMode>,
    /// User ID the containers run as (default: the cluster policy's).
    #[arg(long, value_name = "UID", help_heading = "Security")]
    pub run_as_user: Option<i64>,
    /// Group ID the containers run as (default: the cluster policy's).
    #[arg(long, value_name = "GID", help_heading = "Security")]
    pub run_as_group: Option<i64>,
    /// Group that owns mounted volumes (default: the cluster policy's).
    #[arg(long, value_name = "GID", help_heading = "Security")]
    pub fs_group: Option<i64>,
}

/// How the job is submitted and watched: kubectl's flags and `--wait`.
#[derive(Debug, Clone, Args)]
pub struct SubmitArgs {
    /// After submitting, watch until every rank runs or the job ends (exit 1 if it fails).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 90s, 10m, 2h) with exit 1; the job keeps running.
    /// Default: wait as long as it takes.
    #[arg(long, value_name = "DURATION", requires = "wait")]
    pub timeout: Option<String>,
    #[command(flatten)]
    pub kubectl: KubectlArgs,
}

/// kubectl's connection and output flags.
#[derive(Debug, Clone, Args)]
pub struct KubectlArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print the objects instead of a summary.
    #[arg(short = 'o', long, value_enum, help_heading = "kubectl")]
    pub output: Option<OutputFormat>,
    /// none: submit; client: render and check locally, send nothing; server: let the API server check.
    #[arg(long, value_enum, default_value = "none", default_missing_value = "client", num_args = 0..=1, require_equals = true, help_heading = "kubectl")]
    pub dry_run: DryRun,
    /// Field manager for server-side apply.
    #[arg(long, default_value = vocab::mltrain::MANAGER, help_heading = "kubectl")]
    pub field_manager: String,
    /// Cluster policy file (default: the mltrain-policy ConfigMap in mltrain-system, if reachable).
    #[arg(long, help_heading = "kubectl")]
    pub policy_file: Option<PathBuf>,
}
