//! Command-line types (clap derive). Doc comments here are the help text. kubectl hands argv to the
//! plugin unparsed, so kubectl's own flags (`-n`, `--context`, `-o`, `--dry-run`) are implemented here
//! with kubectl's meanings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "Examples:
  # Check a cluster's GPU networking: 4 pods x 8 GPUs run the built-in all-reduce smoke test
  kubectl mltrain pytorch --world-size 4 --gpus 8

  # Train: torchrun launches train.py on every rank
  kubectl mltrain pytorch llama-ft --world-size 4 --gpus 8 --image ghcr.io/acme/train:1.2 -- train.py --epochs 3

  # Preview exactly what the cluster will run (after its admission policy)
  kubectl mltrain pytorch --world-size 4 --dry-run=client -o yaml

  # An MLBatch pytorchjob-generator settings file, as an AppWrapper
  kubectl mltrain pytorch -f settings.yaml";

/// Distributed training jobs on Kubernetes, from flags.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl mltrain",
    bin_name = "kubectl mltrain",
    version,
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a distributed PyTorch job (torchrun).
    #[command(after_help = EXAMPLES)]
    Pytorch(Box<CreateArgs>),
    /// Create a distributed DeepSpeed job: SSH workers and a launcher, or torchrun, or an MPIJob.
    #[command(after_help = DEEPSPEED_EXAMPLES)]
    Deepspeed(Box<CreateArgs>),
    /// Create an MXNet parameter-server job (scheduler, servers, workers), or a standalone one.
    #[command(after_help = MXNET_EXAMPLES)]
    Mxnet(Box<CreateArgs>),
    /// List the training jobs made by mltrain: ranks ready, phase, age.
    List(ListArgs),
    /// A job's phase, every rank's pod, and the events that explain a stuck job.
    Status(TargetArgs),
    /// A job's logs: rank 0, one rank, or every rank interleaved with prefixes.
    Logs(LogsArgs),
    /// Delete every object of a job, whatever its backend.
    Delete(TargetArgs),
    /// Try the cluster policy on manifests, offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  source <(kubectl mltrain completion bash)\n  kubectl mltrain completion zsh > \"${fpath[1]}/_kubectl-mltrain\"\n  kubectl mltrain completion fish > ~/.config/fish/completions/kubectl-mltrain.fish"
    )]
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the admission engine on manifests (or AdmissionReviews) as the webhook would, without a
    /// cluster: show what it adds and what it refuses. Exit 1 when anything would be refused.
    #[command(
        after_help = "Examples:\n  kubectl mltrain policy check -f job.yaml --policy-file policy.yaml\n  kubectl mltrain pytorch demo --dry-run=client -o yaml | kubectl mltrain policy check -f - -o yaml"
    )]
    Check(PolicyCheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PolicyCheckArgs {
    /// Manifests (YAML or JSON, several documents allowed; AdmissionReviews too), or - for stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The cluster policy (default: the default policy).
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,
    /// Adapt to OpenShift as the webhook would on an OpenShift cluster.
    #[arg(long)]
    pub openshift: bool,
    /// Check approvals as this user (default: approvals are left to the cluster).
    #[arg(long = "as", value_name = "USER")]
    pub user: Option<String>,
    /// A group of that user (repeatable).
    #[arg(long = "as-group", value_name = "GROUP", requires = "user")]
    pub groups: Vec<String>,
    /// Namespace the objects are checked in (labels approve high priority: --namespace-label).
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// A label of that namespace, K=V (repeatable).
    #[arg(long, value_name = "K=V")]
    pub namespace_label: Vec<String>,
    /// Print the objects as admitted instead of the report.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    /// With the report, print each RFC 6902 patch.
    #[arg(long)]
    pub show_patch: bool,
}

const DEEPSPEED_EXAMPLES: &str = "Examples:
  # 4 SSH workers x 8 GPUs; the launcher runs deepspeed with the generated hostfile
  kubectl mltrain deepspeed bert --workers 4 --gpus 8 --image ghcr.io/acme/ds:1.0 -- train.py --deepspeed_config ds.json

  # The same script under torchrun, no SSH (any PyTorch backend)
  kubectl mltrain deepspeed bert --launcher torchrun --backend pytorchjob --world-size 4 --gpus 8 -- train.py

  # A Kubeflow MPIJob
  kubectl mltrain deepspeed bert --backend mpijob --workers 2 --slots-per-node 8 -- train.py";

const MXNET_EXAMPLES: &str = "Examples:
  # 3 worker pods; the first 2 also run a server, pod 0 the scheduler; every process runs train.py
  kubectl mltrain mxnet resnet --servers 2 --workers 3 --image ghcr.io/acme/mx:1.9 -- train.py

  # Standalone: one pod
  kubectl mltrain mxnet resnet --world-size 1 -- train.py";

/// Output formats, as kubectl names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
    /// `kind.group/name`, one per line.
    Name,
}

/// kubectl's dry-run modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Submit for real.
    None,
    /// Render and check locally; nothing is sent.
    Client,
    /// Send with dryRun=All: the API server and its webhooks check it, nothing is stored.
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OpenShiftArg {
    Auto,
    Force,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LauncherArg {
    Ssh,
    Torchrun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AntiAffinityArg {
    Soft,
    Hard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RestartPolicyArg {
    #[value(name = "Never", alias = "never")]
    Never,
    #[value(name = "OnFailure", alias = "on-failure", alias = "onfailure")]
    OnFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Headless Service + Indexed Job: any cluster.
    Job,
    /// JobSet (jobset.x-k8s.io).
    Jobset,
    /// Kubeflow PyTorchJob.
    Pytorchjob,
    /// MLBatch AppWrapper around a PyTorchJob.
    Appwrapper,
    /// Kubeflow MPIJob (DeepSpeed).
    Mpijob,
    /// Kubeflow Trainer v2 TrainJob (PyTorch; DeepSpeed with --launcher torchrun).
    Trainjob,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKindArg {
    /// Cluster-scoped (the Trainer's default runtimes).
    #[value(name = "ClusterTrainingRuntime")]
    ClusterTrainingRuntime,
    /// Namespaced, in the job's namespace.
    #[value(name = "TrainingRuntime")]
    TrainingRuntime,
}

/// kubectl's connection flags.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Namespace of the job (default: the kubeconfig context's).
    #[arg(short = 'n', long, help_heading = "kubectl")]
    pub namespace: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, help_heading = "kubectl")]
    pub context: Option<String>,
    /// Path to the kubeconfig file.
    #[arg(long, help_heading = "kubectl")]
    pub kubeconfig: Option<PathBuf>,
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
    #[arg(long, default_value = "kubectl-mltrain", help_heading = "kubectl")]
    pub field_manager: String,
    /// Cluster policy file (default: the mltrain-policy ConfigMap in mltrain-system, if reachable).
    #[arg(long, help_heading = "kubectl")]
    pub policy_file: Option<PathBuf>,
}

/// Everything a create command takes.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Job name (DNS-1035, at most 50 characters); default <framework>-<random>.
    pub name: Option<String>,

    /// MLBatch pytorchjob-generator settings.yaml; defaults --backend to appwrapper. Flags override it.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// What to create.
    #[arg(long, value_enum, help_heading = "Backend")]
    pub backend: Option<BackendArg>,

    // ---- size and resources
    /// Pods (ranks), master included (Bitnami worldSize, MLBatch numPods); DeepSpeed and MXNet: workers.
    #[arg(
        long,
        value_name = "N",
        help_heading = "Size and resources",
        alias = "workers"
    )]
    pub world_size: Option<u32>,
    /// DeepSpeed: slots per worker in the hostfile (default: processes per pod).
    #[arg(long, value_name = "N", help_heading = "Size and resources")]
    pub slots_per_node: Option<u32>,
    /// MXNet: parameter servers (default 1).
    #[arg(long, value_name = "N", help_heading = "Size and resources")]
    pub servers: Option<u32>,
    /// --backend trainjob: the Kubeflow Trainer runtime to reference (default torch-distributed).
    #[arg(long, value_name = "NAME", help_heading = "Backend")]
    pub runtime: Option<String>,
    /// --backend trainjob: the runtime's kind (default ClusterTrainingRuntime).
    #[arg(long, value_enum, value_name = "KIND", help_heading = "Backend")]
    pub runtime_kind: Option<RuntimeKindArg>,
    /// DeepSpeed: ssh (hostfile + SSH workers, or MPI for --backend mpijob) or torchrun.
    #[arg(long, value_enum, help_heading = "Backend")]
    pub launcher: Option<LauncherArg>,
    /// Processes per pod: a number, or auto (GPUs per pod, or 1).
    #[arg(long, value_name = "N|auto", help_heading = "Size and resources")]
    pub nproc_per_node: Option<String>,
    /// GPUs per pod.
    #[arg(long, value_name = "N", help_heading = "Size and resources")]
    pub gpus: Option<u32>,
    /// CPU request per pod (e.g. 500m, 8).
    #[arg(long, value_name = "QUANTITY", help_heading = "Size and resources")]
    pub cpus: Option<String>,
    /// Memory request per pod (e.g. 64Gi).
    #[arg(long, value_name = "QUANTITY", help_heading = "Size and resources")]
    pub memory: Option<String>,
    /// CPU limit (default: the request).
    #[arg(long, value_name = "QUANTITY", help_heading = "Size and resources")]
    pub cpu_limit: Option<String>,
    /// GPU limit; must equal --gpus.
    #[arg(long, value_name = "N", help_heading = "Size and resources")]
    pub gpu_limit: Option<u32>,
    /// Memory limit (default: the request).
    #[arg(long, value_name = "QUANTITY", help_heading = "Size and resources")]
    pub memory_limit: Option<String>,
    /// Ephemeral-storage request.
    #[arg(long, value_name = "QUANTITY", help_heading = "Size and resources")]
    pub ephemeral_storage: Option<String>,
    /// Bitnami resource preset; ignored when --cpus/--memory/limits are given.
    #[arg(long, value_name = "PRESET", value_parser = ["nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"], help_heading = "Size and resources")]
    pub resources_preset: Option<String>,

    // ---- program
    /// Command run before the program, in order, stopping at the first failure (repeatable).
    #[arg(long, value_name = "CMD", help_heading = "Program")]
    pub setup: Vec<String>,
    /// Working directory.
    #[arg(long, value_name = "DIR", help_heading = "Program")]
    pub workdir: Option<String>,
    /// Container image. Defaults: PyTorch's pytorch/pytorch runtime image; DeepSpeed: Kubeflow
    /// Trainer's deepspeed-runtime; MXNet: no maintained image exists (MXNet is retired), so the default is
    /// the frozen bitnamilegacy/mxnet:1.9.1, with a warning: build your own (docs/images.md).
    #[arg(long, help_heading = "Program")]
    pub image: Option<String>,
    /// Always, IfNotPresent or Never.
    #[arg(long, value_name = "POLICY", help_heading = "Program")]
    pub image_pull_policy: Option<String>,
    /// Secret for pulling the image (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Program")]
    pub image_pull_secret: Vec<String>,

    // ---- code and data
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

    // ---- environment
    /// K=V, K=secret:NAME/KEY or K=configmap:NAME/KEY (repeatable).
    #[arg(long, value_name = "K=V", help_heading = "Environment")]
    pub env: Vec<String>,
    /// Every key of a Secret as variables (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Environment")]
    pub env_from_secret: Vec<String>,
    /// Every key of a ConfigMap as variables (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Environment")]
    pub env_from_configmap: Vec<String>,

    // ---- scheduling
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
    pub anti_affinity: Option<AntiAffinityArg>,
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

    // ---- networking
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

    // ---- fault tolerance
    /// Never or OnFailure.
    #[arg(long, value_enum, help_heading = "Fault tolerance")]
    pub restart_policy: Option<RestartPolicyArg>,
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
    /// AppWrapper admissionGracePeriodDuration.
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = "Fault tolerance (AppWrapper)"
    )]
    pub admission_grace_period: Option<String>,
    /// AppWrapper warmupGracePeriodDuration.
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = "Fault tolerance (AppWrapper)"
    )]
    pub warmup_grace_period: Option<String>,
    /// AppWrapper failureGracePeriodDuration.
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = "Fault tolerance (AppWrapper)"
    )]
    pub failure_grace_period: Option<String>,
    /// AppWrapper retryPausePeriodDuration.
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = "Fault tolerance (AppWrapper)"
    )]
    pub retry_pause_period: Option<String>,
    /// AppWrapper retryLimit.
    #[arg(long, value_name = "N", help_heading = "Fault tolerance (AppWrapper)")]
    pub retry_limit: Option<u32>,
    /// AppWrapper forcefulDeletionGracePeriodDuration.
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = "Fault tolerance (AppWrapper)"
    )]
    pub forceful_deletion_grace_period: Option<String>,
    /// AppWrapper deletionOnFailureGracePeriodDuration.
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = "Fault tolerance (AppWrapper)"
    )]
    pub deletion_on_failure_grace_period: Option<String>,
    /// AppWrapper successTTLDuration.
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = "Fault tolerance (AppWrapper)"
    )]
    pub success_ttl: Option<String>,

    // ---- security
    /// Adapt to OpenShift's restricted-v2 SCC: auto (ask the cluster), force, disabled.
    #[arg(long, value_enum, help_heading = "Security")]
    pub openshift: Option<OpenShiftArg>,
    #[arg(long, value_name = "UID", help_heading = "Security")]
    pub run_as_user: Option<i64>,
    #[arg(long, value_name = "GID", help_heading = "Security")]
    pub run_as_group: Option<i64>,
    #[arg(long, value_name = "GID", help_heading = "Security")]
    pub fs_group: Option<i64>,

    /// After submitting, watch until every rank runs or the job ends (exit 1 if it fails).
    #[arg(long)]
    pub wait: bool,

    /// With --wait: give up after this long (e.g. 90s, 10m, 2h) with exit 1; the job keeps running.
    /// Default: wait as long as it takes.
    #[arg(long, value_name = "DURATION", requires = "wait")]
    pub timeout: Option<String>,

    #[command(flatten)]
    pub kubectl: KubectlArgs,

    /// The program and its arguments (a .py file runs under the launcher); none runs the smoke test.
    #[arg(last = true, value_name = "PROGRAM [ARGS]")]
    pub program: Vec<String>,
}

/// Output formats of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Wide,
    Yaml,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Jobs of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<ListFormat>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The job's name.
    pub name: String,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The job's name.
    pub name: String,
    /// This rank only (default: rank 0; the launcher for DeepSpeed over SSH).
    #[arg(long, conflicts_with = "all")]
    pub rank: Option<u32>,
    /// Every rank, lines prefixed with their rank and interleaved by time.
    #[arg(long)]
    pub all: bool,
    /// Keep streaming.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The previous container's logs (after a restart).
    #[arg(long)]
    pub previous: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}
