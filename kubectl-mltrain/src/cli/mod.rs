//! Command-line types (clap derive). Doc comments here are the help text. kubectl hands argv to the
//! plugin unparsed, so kubectl's own flags (`-n`, `--context`, `-o`, `--dry-run`) are implemented here
//! with kubectl's meanings.
//!
//! Each framework has its own create command type ([`frameworks`]) offering only its own flags and
//! backends, built from the groups every framework shares ([`create`]), one per help heading.
//! `crate::resolve` applies each group to the job.

pub mod appwrapper;
pub mod create;
pub mod frameworks;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use self::appwrapper::AppWrapperArgs;
pub use self::create::{JobArgs, KubectlArgs, SubmitArgs};
pub use self::frameworks::{DeepspeedArgs, MxnetArgs, PytorchArgs};

/// Distributed training jobs on Kubernetes, from flags.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl mltrain",
    bin_name = "kubectl mltrain",
    version,
    after_help = frameworks::PYTORCH_EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a distributed PyTorch job (torchrun).
    #[command(after_help = frameworks::PYTORCH_EXAMPLES)]
    Pytorch(Box<PytorchArgs>),
    /// Create a distributed DeepSpeed job: SSH workers and a launcher, or torchrun, or an MPIJob.
    #[command(after_help = frameworks::DEEPSPEED_EXAMPLES)]
    Deepspeed(Box<DeepspeedArgs>),
    /// Create an MXNet parameter-server job (scheduler, servers, workers), or a standalone one.
    #[command(after_help = frameworks::MXNET_EXAMPLES)]
    Mxnet(Box<MxnetArgs>),
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
