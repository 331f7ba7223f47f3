//! One create command per framework, each offering only its own flags and backends (as uv gives each
//! subcommand its own type): `kubectl mltrain pytorch --help` shows no `--servers`, and `mxnet` no
//! `--backend pytorchjob`. Each flattens the shared groups of [`super::create`].
//!
//! The `-f settings.yaml` file is MLBatch's *pytorchjob*-generator format, so only `pytorch` reads it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use mltrain_shared::model::{Backend, Launcher, RuntimeKind};

use super::appwrapper::AppWrapperArgs;
use super::create::{BACKEND, JobArgs, SIZE, SubmitArgs};

/// Also the top-level help's examples: PyTorch is where most users start.
pub const PYTORCH_EXAMPLES: &str = "Examples:
  # Check a cluster's GPU networking: 4 pods x 8 GPUs run the built-in all-reduce smoke test
  kubectl mltrain pytorch --world-size 4 --gpus 8

  # Train: torchrun launches train.py on every rank
  kubectl mltrain pytorch llama-ft --world-size 4 --gpus 8 --image ghcr.io/acme/train:1.2 -- train.py --epochs 3

  # Preview exactly what the cluster will run (after its admission policy)
  kubectl mltrain pytorch --world-size 4 --dry-run=client -o yaml

  # An MLBatch pytorchjob-generator settings file, as an AppWrapper
  kubectl mltrain pytorch -f settings.yaml";

pub const DEEPSPEED_EXAMPLES: &str = "Examples:
  # 4 SSH workers x 8 GPUs; the launcher runs deepspeed with the generated hostfile
  kubectl mltrain deepspeed bert --workers 4 --gpus 8 --image ghcr.io/acme/ds:1.0 -- train.py --deepspeed_config ds.json

  # The same script under torchrun, no SSH (any PyTorch backend)
  kubectl mltrain deepspeed bert --launcher torchrun --backend pytorchjob --world-size 4 --gpus 8 -- train.py

  # A Kubeflow MPIJob
  kubectl mltrain deepspeed bert --backend mpijob --workers 2 --slots-per-node 8 -- train.py";

pub const MXNET_EXAMPLES: &str = "Examples:
  # 3 worker pods; the first 2 also run a server, pod 0 the scheduler; every process runs train.py
  kubectl mltrain mxnet resnet --servers 2 --workers 3 --image ghcr.io/acme/mx:1.9 -- train.py

  # Standalone: one pod
  kubectl mltrain mxnet resnet --world-size 1 -- train.py";

// Each command's `--image` help names its own default (`mltrain_shared::model::default_image`).
const PYTORCH_IMAGE_HELP: &str =
    "Container image (default: PyTorch's pytorch/pytorch runtime image)";
const DEEPSPEED_IMAGE_HELP: &str =
    "Container image (default: Kubeflow Trainer's deepspeed-runtime)";
const MXNET_IMAGE_HELP: &str = "Container image. No maintained MXNet image exists (MXNet is retired), so the default is the frozen bitnamilegacy/mxnet:1.9.1, with a warning: build your own (docs/images.md)";

/// `kubectl mltrain pytorch`: torchrun on every pod.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("image", |a| a.help(PYTORCH_IMAGE_HELP)))]
pub struct PytorchArgs {
    /// MLBatch pytorchjob-generator settings.yaml; defaults --backend to appwrapper. Flags override it.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// What to create.
    #[arg(long, value_enum, help_heading = BACKEND)]
    pub backend: Option<PytorchBackend>,
    #[command(flatten)]
    pub trainer: TrainerArgs,
    /// Pods (ranks), master included (Bitnami worldSize, MLBatch numPods).
    #[arg(long, value_name = "N", help_heading = SIZE, alias = "workers")]
    pub world_size: Option<u32>,
    /// Processes per pod: a number, or auto (GPUs per pod, or 1).
    #[arg(long, value_name = "N|auto", help_heading = SIZE)]
    pub nproc_per_node: Option<String>,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub appwrapper: AppWrapperArgs,
    #[command(flatten)]
    pub submit: SubmitArgs,
}

/// What `pytorch --backend` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PytorchBackend {
    /// Headless Service + Indexed Job: any cluster.
    Job,
    /// JobSet (jobset.x-k8s.io).
    Jobset,
    /// Kubeflow PyTorchJob.
    Pytorchjob,
    /// MLBatch AppWrapper around a PyTorchJob.
    Appwrapper,
    /// Kubeflow Trainer v2 TrainJob.
    Trainjob,
}

impl From<PytorchBackend> for Backend {
    fn from(b: PytorchBackend) -> Backend {
        match b {
            PytorchBackend::Job => Backend::Job,
            PytorchBackend::Jobset => Backend::JobSet,
            PytorchBackend::Pytorchjob => Backend::PyTorchJob,
            PytorchBackend::Appwrapper => Backend::AppWrapper,
            PytorchBackend::Trainjob => Backend::TrainJob,
        }
    }
}

/// `kubectl mltrain deepspeed`: SSH workers and a launcher, torchrun, or an MPIJob.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("image", |a| a.help(DEEPSPEED_IMAGE_HELP)))]
pub struct DeepspeedArgs {
    /// What to create; jobset, pytorchjob, appwrapper and trainjob need --launcher torchrun.
    #[arg(long, value_enum, help_heading = BACKEND)]
    pub backend: Option<DeepspeedBackend>,
    /// ssh (hostfile + SSH workers, or MPI for --backend mpijob) or torchrun.
    #[arg(long, value_enum, help_heading = BACKEND)]
    pub launcher: Option<Launcher>,
    #[command(flatten)]
    pub trainer: TrainerArgs,
    /// Worker pods; --launcher ssh adds a launcher pod.
    #[arg(long, value_name = "N", help_heading = SIZE, visible_alias = "workers")]
    pub world_size: Option<u32>,
    /// Slots per worker in the hostfile (default: processes per pod).
    #[arg(long, value_name = "N", help_heading = SIZE)]
    pub slots_per_node: Option<u32>,
    /// Processes per pod: a number, or auto (GPUs per pod, or 1).
    #[arg(long, value_name = "N|auto", help_heading = SIZE)]
    pub nproc_per_node: Option<String>,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub appwrapper: AppWrapperArgs,
    #[command(flatten)]
    pub submit: SubmitArgs,
}

/// What `deepspeed --backend` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeepspeedBackend {
    /// Headless Service + Indexed Jobs: any cluster.
    Job,
    /// JobSet (jobset.x-k8s.io), with --launcher torchrun.
    Jobset,
    /// Kubeflow PyTorchJob, with --launcher torchrun.
    Pytorchjob,
    /// MLBatch AppWrapper around a PyTorchJob, with --launcher torchrun.
    Appwrapper,
    /// Kubeflow MPIJob, with --launcher ssh.
    Mpijob,
    /// Kubeflow Trainer v2 TrainJob, with --launcher torchrun.
    Trainjob,
}

impl From<DeepspeedBackend> for Backend {
    fn from(b: DeepspeedBackend) -> Backend {
        match b {
            DeepspeedBackend::Job => Backend::Job,
            DeepspeedBackend::Jobset => Backend::JobSet,
            DeepspeedBackend::Pytorchjob => Backend::PyTorchJob,
            DeepspeedBackend::Appwrapper => Backend::AppWrapper,
            DeepspeedBackend::Mpijob => Backend::MpiJob,
            DeepspeedBackend::Trainjob => Backend::TrainJob,
        }
    }
}

/// `kubectl mltrain mxnet`: a parameter server (scheduler, servers, workers) or one standalone pod.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("image", |a| a.help(MXNET_IMAGE_HELP)))]
pub struct MxnetArgs {
    /// What to create: MXNet's parameter server runs on the job backend only.
    #[arg(long, value_enum, help_heading = BACKEND)]
    pub backend: Option<MxnetBackend>,
    /// Worker pods; 1 runs standalone, without scheduler and servers.
    #[arg(long, value_name = "N", help_heading = SIZE, visible_alias = "workers")]
    pub world_size: Option<u32>,
    /// Parameter servers, each in a worker's pod (default 1).
    #[arg(long, value_name = "N", help_heading = SIZE)]
    pub servers: Option<u32>,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub submit: SubmitArgs,
}

/// What `mxnet --backend` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MxnetBackend {
    /// Headless Service + one Indexed Job: any cluster.
    Job,
}

impl From<MxnetBackend> for Backend {
    fn from(b: MxnetBackend) -> Backend {
        match b {
            MxnetBackend::Job => Backend::Job,
        }
    }
}

/// The Kubeflow Trainer runtime a `--backend trainjob` references (PyTorch and DeepSpeed).
#[derive(Debug, Clone, Args)]
pub struct TrainerArgs {
    /// --backend trainjob: the Kubeflow Trainer runtime to reference (default torch-distributed;
    /// deepspeed-distributed for DeepSpeed's own launcher).
    #[arg(long, value_name = "NAME", help_heading = BACKEND)]
    pub runtime: Option<String>,
    /// --backend trainjob: the runtime's kind (default ClusterTrainingRuntime).
    #[arg(long, value_enum, value_name = "KIND", help_heading = BACKEND)]
    pub runtime_kind: Option<RuntimeKind>,
}
