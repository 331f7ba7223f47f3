//! Each framework's own flags onto the job. The `*_options` functions and [`TrainerArgs`]' `apply` are
//! the only places where framework options reach the model (`TrainingJob::options` today), so a
//! change of how the model holds them touches only this file.

use std::path::Path;

use mltrain_shared::model::{Backend, Framework, NprocPerNode, TrainingJob};

use super::{Apply, FrameworkArgs};
use crate::cli::frameworks::TrainerArgs;
use crate::cli::{DeepspeedArgs, JobArgs, MxnetArgs, PytorchArgs, SubmitArgs};
use crate::error::{Problem, UsageError};

fn world_size(job: &mut TrainingJob, n: Option<u32>) {
    if let Some(n) = n {
        job.world_size = n;
    }
}

/// `--nproc-per-node N|auto`.
fn nproc_per_node(job: &mut TrainingJob, value: &Option<String>, problems: &mut Vec<Problem>) {
    match value.as_deref() {
        None => {}
        Some("auto") => job.nproc_per_node = NprocPerNode::Auto,
        Some(s) => match s.parse::<u32>() {
            Ok(n) => job.nproc_per_node = NprocPerNode::Count(n),
            Err(_) => problems.push(
                UsageError {
                    flag: "--nproc-per-node",
                    value: s.into(),
                    message: "expected a whole number or auto".into(),
                }
                .into(),
            ),
        },
    }
}

impl FrameworkArgs for PytorchArgs {
    fn framework(&self) -> Framework {
        Framework::PyTorch
    }
    fn job(&self) -> &JobArgs {
        &self.job
    }
    fn submit(&self) -> &SubmitArgs {
        &self.submit
    }
    fn settings(&self) -> Option<&Path> {
        self.settings.as_deref()
    }
    fn apply_own(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>) {
        // A settings file describes an MLBatch AppWrapper unless --backend says otherwise.
        job.backend = match (self.backend, &self.settings) {
            (Some(b), _) => b.into(),
            (None, Some(_)) => Backend::AppWrapper,
            (None, None) => job.backend,
        };
        world_size(job, self.world_size);
        nproc_per_node(job, &self.nproc_per_node, problems);
        self.trainer.apply(job, problems);
        self.appwrapper.apply(job, problems);
    }
}

impl FrameworkArgs for DeepspeedArgs {
    fn framework(&self) -> Framework {
        Framework::DeepSpeed
    }
    fn job(&self) -> &JobArgs {
        &self.job
    }
    fn submit(&self) -> &SubmitArgs {
        &self.submit
    }
    fn settings(&self) -> Option<&Path> {
        None
    }
    fn apply_own(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>) {
        if let Some(b) = self.backend {
            job.backend = b.into();
        }
        world_size(job, self.world_size);
        nproc_per_node(job, &self.nproc_per_node, problems);
        self.deepspeed_options(job);
        self.trainer.apply(job, problems);
        self.appwrapper.apply(job, problems);
    }
}

impl DeepspeedArgs {
    /// DeepSpeed's launcher and hostfile slots.
    fn deepspeed_options(&self, job: &mut TrainingJob) {
        if let Some(l) = self.launcher {
            job.options.launcher = l;
        }
        if self.slots_per_node.is_some() {
            job.options.slots_per_node = self.slots_per_node;
        }
    }
}

impl FrameworkArgs for MxnetArgs {
    fn framework(&self) -> Framework {
        Framework::MXNet
    }
    fn job(&self) -> &JobArgs {
        &self.job
    }
    fn submit(&self) -> &SubmitArgs {
        &self.submit
    }
    fn settings(&self) -> Option<&Path> {
        None
    }
    fn apply_own(&self, job: &mut TrainingJob, _: &mut Vec<Problem>) {
        if let Some(b) = self.backend {
            job.backend = b.into();
        }
        world_size(job, self.world_size);
        self.mxnet_options(job);
    }
}

impl MxnetArgs {
    /// MXNet's parameter servers.
    fn mxnet_options(&self, job: &mut TrainingJob) {
        if self.servers.is_some() {
            job.options.servers = self.servers;
        }
    }
}

impl Apply for TrainerArgs {
    /// The Kubeflow Trainer runtime a TrainJob references.
    fn apply(&self, job: &mut TrainingJob, _: &mut Vec<Problem>) {
        if self.runtime.is_some() {
            job.options.runtime.name = self.runtime.clone();
        }
        if let Some(k) = self.runtime_kind {
            job.options.runtime.kind = Some(k);
        }
    }
}
