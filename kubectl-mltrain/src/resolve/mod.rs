//! Flags (and a settings file) resolved into a [`TrainingJob`] before anything runs. Each group of
//! flags applies itself ([`Apply`], in [`groups`]); each framework applies its own flags in one place
//! ([`frameworks`]). Every problem is collected, so one run reports them all.

mod frameworks;
mod groups;
mod pack;

use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use mltrain_shared::model::{Framework, TrainingJob};

use crate::cli::{JobArgs, SubmitArgs};
use crate::error::{CommandError, Problem};
use crate::settings::{self, SettingsError};

/// A group of flags that sets its part of the job. Problems are pushed, not returned, so that one run
/// reports every one of them.
pub trait Apply {
    fn apply(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>);
}

/// A framework's create command, as resolving and submitting see it.
pub trait FrameworkArgs {
    fn framework(&self) -> Framework;
    /// The flags every framework shares.
    fn job(&self) -> &JobArgs;
    /// How to submit: kubectl's flags and `--wait`.
    fn submit(&self) -> &SubmitArgs;
    /// The MLBatch settings file the job starts from (only `pytorch` has one).
    fn settings(&self) -> Option<&Path>;
    /// The framework's own flags (backend, sizes, launcher, options) onto the job.
    fn apply_own(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>);
}

/// `<framework>-<5 random lowercase alphanumerics>`.
pub fn default_name(framework: Framework) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let mut x = h.finish();
    let suffix: String = (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect();
    format!("{}-{suffix}", framework.as_str())
}

/// Resolve a create command into a valid job: the settings file (if any), then the framework's own
/// flags, then the shared groups, then the model's validation. A problem the settings file has on its
/// own is reported under the file's key; everything else under its flag.
pub fn job_from_args(a: &dyn FrameworkArgs) -> Result<TrainingJob, CommandError> {
    let framework = a.framework();
    let base = match a.settings() {
        Some(path) => Some((path, settings::load(path, framework)?)),
        None => None,
    };
    let file_errors = base
        .as_ref()
        .and_then(|(_, job)| job.validate().err())
        .unwrap_or_default();
    let mut job = match base {
        Some((_, job)) => job,
        None => TrainingJob::new(default_name(framework), framework),
    };
    let mut problems = Vec::new();
    if let Some(ns) = &a.submit().kubectl.conn.namespace {
        job.namespace = Some(ns.clone());
    }
    a.apply_own(&mut job, &mut problems);
    a.job().apply(&mut job, &mut problems);
    if let Err(errors) = job.validate() {
        problems.extend(errors.into_iter().map(|e| match a.settings() {
            Some(path) if file_errors.contains(&e) => Problem::Settings {
                path: path.to_path_buf(),
                source: SettingsError::Invalid(e),
            },
            _ => Problem::Job(e),
        }));
    }
    if problems.is_empty() {
        Ok(job)
    } else {
        Err(CommandError::Usage(problems))
    }
}

/// Overwrite `slot` when the flag was given; a settings file's value stays otherwise.
fn set(slot: &mut Option<String>, value: &Option<String>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn job(argv: &[&str]) -> Result<TrainingJob, CommandError> {
        let cli =
            Cli::try_parse_from(std::iter::once("kubectl-mltrain").chain(argv.iter().copied()))
                .expect("valid flags");
        match &cli.command {
            Command::Pytorch(a) => job_from_args(a.as_ref()),
            Command::Deepspeed(a) => job_from_args(a.as_ref()),
            Command::Mxnet(a) => job_from_args(a.as_ref()),
            _ => panic!("not a create command"),
        }
    }

    #[test]
    fn default_names_are_valid_and_vary() {
        let a = default_name(Framework::PyTorch);
        assert!(a.starts_with("pytorch-") && a.len() == 13, "{a}");
        assert!(mltrain_shared::names::dns1035_label(&a, 50).is_ok());
    }

    #[test]
    fn each_framework_sets_its_own_options() {
        use mltrain_shared::model::{Backend, Launcher};
        let ds = job(&[
            "deepspeed",
            "ds",
            "--launcher",
            "ssh",
            "--backend",
            "mpijob",
            "--slots-per-node",
            "4",
        ])
        .unwrap();
        let mut ds = ds;
        let (launcher, slots) = ds
            .framework
            .deepspeed_mut()
            .map(|d| (d.launcher.tag(), d.slots_per_node))
            .unwrap();
        assert_eq!(
            (ds.backend(), launcher, slots),
            (Backend::MpiJob, Launcher::Ssh, Some(4))
        );
        let mut mx = job(&["mxnet", "mx", "--workers", "3", "--servers", "2"]).unwrap();
        let servers = mx.framework.mxnet_mut().and_then(|m| m.servers);
        assert_eq!((mx.world_size, servers), (3, Some(2)));
        let mut pt = job(&["pytorch", "pt", "--backend", "trainjob", "--runtime", "r"]).unwrap();
        let runtime = pt
            .backend
            .trainer_runtime_mut()
            .and_then(|r| r.name.clone());
        assert_eq!(runtime.as_deref(), Some("r"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let Err(CommandError::Usage(problems)) = job(&[
            "pytorch",
            "x",
            "--nproc-per-node",
            "many",
            "--env",
            "=v",
            "--world-size",
            "0",
        ]) else {
            panic!("usage error expected");
        };
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "--nproc-per-node \"many\": expected a whole number or auto",
                "--env \"=v\": expected KEY=VALUE",
                "--world-size \"0\": must be at least 1",
            ]
        );
    }
}
