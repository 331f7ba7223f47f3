//! Each framework's own flags onto the job. The `*_options` functions and [`TrainerArgs`]' `apply` are
//! the only places where framework and backend options reach the model (its `FrameworkSpec` and
//! `BackendSpec`), so a change of how the model holds them touches only this file.

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
        match (self.backend, &self.settings) {
            (Some(b), _) => job.backend = Backend::from(b).into(),
            (None, Some(_)) => job.backend = Backend::AppWrapper.into(),
            (None, None) => {}
        }
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
            job.backend = Backend::from(b).into();
        }
        world_size(job, self.world_size);
        nproc_per_node(job, &self.nproc_per_node, problems);
        self.deepspeed_options(job);
        self.trainer.apply(job, problems);
        self.appwrapper.apply(job, problems);
    }
}

impl DeepspeedArgs {
    /// DeepSpeed's launcher and hostfile slots. The job was made for DeepSpeed (`framework()`), so
    /// its spec is DeepSpeed's.
    fn deepspeed_options(&self, job: &mut TrainingJob) {
        let spec = job.framework.deepspeed_mut();
        debug_assert!(spec.is_some(), "a deepspeed job without a DeepSpeed spec");
        if let Some(ds) = spec {
            if let Some(l) = self.launcher {
                ds.launcher = l.into();
            }
            if self.slots_per_node.is_some() {
                ds.slots_per_node = self.slots_per_node;
            }
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
            job.backend = Backend::from(b).into();
        }
        world_size(job, self.world_size);
        self.mxnet_options(job);
    }
}

impl MxnetArgs {
    /// MXNet's parameter servers. The job was made for MXNet (`framework()`), so its spec is MXNet's.
    fn mxnet_options(&self, job: &mut TrainingJob) {
        let spec = job.framework.mxnet_mut();
        debug_assert!(spec.is_some(), "an mxnet job without an MXNet spec");
        if let (Some(mx), Some(n)) = (spec, self.servers) {
            mx.servers = Some(n);
        }
    }
}

impl Apply for TrainerArgs {
    /// The Kubeflow Trainer runtime a TrainJob references. Only the trainjob backend can hold one,
    /// so on any other backend the flags are refused (applied after `--backend`).
    fn apply(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>) {
        if let Some(rt) = job.backend.trainer_runtime_mut() {
            if self.runtime.is_some() {
                rt.name = self.runtime.clone();
            }
            if self.runtime_kind.is_some() {
                rt.kind = self.runtime_kind;
            }
            return;
        }
        let mut refuse = |flag: &'static str, value: String, fix: &str| {
            problems.push(
                UsageError {
                    flag,
                    value,
                    message: fix.into(),
                }
                .into(),
            )
        };
        if let Some(n) = &self.runtime {
            let fix = "only with --backend trainjob; add --backend trainjob or drop --runtime";
            refuse("--runtime", n.clone(), fix);
        }
        if let Some(k) = self.runtime_kind {
            let fix = "only with --backend trainjob; add --backend trainjob or drop --runtime-kind";
            refuse("--runtime-kind", k.as_str().into(), fix);
        }
    }
}
