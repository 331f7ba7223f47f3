//! Rendering: a [`TrainingJob`] becomes the Kubernetes objects of its [`Layout`] (DESIGN §3):
//! ConfigMaps and Secrets first, the workload last. The plugin applies the workload first and the
//! rest as its dependents (ownerReferences), so one delete cleans up.
//!
//! Renderers write what the user asked for; the admission engine adds the cluster's defaults. They
//! build in one direction: [`render`] picks one layout renderer ([`job`], [`jobset`], [`pytorchjob`],
//! [`trainjob`], [`deepspeed`], [`mxnet`], with [`group`] for a queued multi-Job layout), which builds
//! its pods with [`pod`] and its scripts with [`launch`]; all of them name objects with [`meta`] and
//! quote with [`shell`]. No object is changed after it is built.

pub mod deepspeed;
pub mod group;
pub mod job;
pub mod jobset;
pub mod launch;
pub mod meta;
pub mod mxnet;
pub mod pod;
pub mod pytorchjob;
pub mod shell;
pub mod trainjob;
pub mod trainjob_mpi;

use serde_json::Value;
use thiserror::Error;

use crate::model::{Layout, ModelError, TrainingJob};

/// Why a job cannot be rendered.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error("the job is invalid:\n{}", .0.iter().map(|e| format!("- {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ModelError>),
    /// DeepSpeed's SSH layout was rendered before its key pair was made.
    #[error(
        "job {job}: DeepSpeed's launcher over SSH needs a key pair to reach its workers; make one and put it in TrainingJob::ssh_keys_slot before rendering (kubectl mltrain does)"
    )]
    MissingSshKeys { job: String },
}

/// Render a job into objects, in apply order.
pub fn render(job: &TrainingJob) -> Result<Vec<Value>, RenderError> {
    job.validate().map_err(RenderError::Invalid)?;
    let layout = job
        .layout()
        .map_err(|e| RenderError::Invalid(vec![e.into()]))?;
    let mut out: Vec<Value> = pod::code::files_config_map(job).into_iter().collect();
    match layout {
        Layout::TorchrunJob => out.extend(job::render(job)),
        Layout::TorchrunJobSet => out.push(jobset::render(job)),
        Layout::PyTorchJob => out.push(pytorchjob::render(job)),
        Layout::AppWrapper => {
            out.push(pytorchjob::render_appwrapper(job).map_err(|e| RenderError::Invalid(vec![e]))?)
        }
        Layout::TrainJob { runtime } => out.push(trainjob::render(job, runtime)),
        Layout::DeepSpeedTrainJob { runtime, slots } => {
            out.extend(trainjob_mpi::render(job, runtime, slots))
        }
        Layout::DeepSpeedSsh {
            grouped,
            slots,
            keys,
        } => {
            let keys = keys.ok_or_else(|| RenderError::MissingSshKeys {
                job: job.name.clone(),
            })?;
            out.extend(deepspeed::render_ssh(job, grouped, slots, keys))
        }
        Layout::DeepSpeedMpiJob { slots } => out.push(deepspeed::render_mpijob(job, slots)),
        Layout::MxnetParameterServer { servers } => out.extend(mxnet::render(job, servers)),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backend, Framework, SshKeyPair};

    #[test]
    fn the_ssh_layout_without_keys_is_an_error_not_an_empty_secret() {
        let mut j = TrainingJob::new("ds", Framework::DeepSpeed);
        let e = render(&j).unwrap_err();
        assert!(matches!(&e, RenderError::MissingSshKeys { job } if job == "ds"));
        assert!(e.to_string().contains("ssh_keys_slot"), "{e}");
        *j.ssh_keys_slot().unwrap() = Some(SshKeyPair {
            private: "private".into(),
            public: "public".into(),
        });
        let objects = render(&j).unwrap();
        let secret = objects.iter().find(|o| o["kind"] == "Secret").unwrap();
        assert_eq!(secret["stringData"]["authorized_keys"], "public");
    }

    #[test]
    fn a_combination_that_does_not_exist_is_reported_with_the_other_problems() {
        let mut j = TrainingJob::new("mx", Framework::MXNet);
        j.backend = Backend::PyTorchJob.into();
        j.world_size = 0;
        let RenderError::Invalid(errors) = render(&j).unwrap_err() else {
            panic!("not invalid")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["--world-size", "--backend"]);
    }
}
