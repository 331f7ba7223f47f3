//! The plugin's errors and exit statuses (DESIGN §2, README: 0 ok, 1 refused or failed, 2 usage).
//!
//! Every way a command ends early is a [`CommandError`] variant that keeps its source error; messages
//! carry no `error: ` prefix, because [`report`] is the one place that writes it, once, as kubectl
//! does.

use std::path::PathBuf;
use std::process::ExitCode;

use mltrain_shared::PolicyError;
use mltrain_shared::model::ModelError;
use mltrain_shared::render::RenderError;
use thiserror::Error;

use crate::cluster::ClusterError;
use crate::commands::logs::SelectError;
use crate::preflight::Lacking;
use crate::settings::SettingsError;

/// How a command ended, named by what happened; [`Exit::code`] is what the shell sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done as asked.
    Ok,
    /// The flags, a file, or the job they describe cannot be used; nothing was sent.
    Usage,
    /// Refused: by the cluster policy (run here as the webhook would, or by `policy check`), the
    /// webhook, the API server, or preflight (the cluster lacks what the job needs).
    Refused,
    /// The command could not finish: no cluster, an API or I/O error, `--wait --timeout` expired.
    Failed,
    /// The job ran and failed (`--wait`, `status`).
    JobFailed,
}

impl Exit {
    /// The exit code DESIGN §2 and the README promise: 0 ok, 1 refused or failed, 2 usage.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Refused | Exit::Failed | Exit::JobFailed => 1,
            Exit::Usage => 2,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// A flag value that cannot be used: the flag, the value as written, and the expected form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{flag} {value:?}: {message}")]
pub struct UsageError {
    pub flag: &'static str,
    pub value: String,
    pub message: String,
}

/// One thing wrong with what the user wrote; [`report`] prints each on its own `error: ` line.
#[derive(Debug, Error)]
pub enum Problem {
    /// A flag's value.
    #[error(transparent)]
    Flag(#[from] UsageError),
    /// The job the flags describe, named by the flag its value came from.
    #[error(transparent)]
    Job(#[from] ModelError),
    /// A settings file (`-f settings.yaml`), named as the user wrote it.
    #[error("{}: {source}", path.display())]
    Settings {
        path: PathBuf,
        #[source]
        source: SettingsError,
    },
    /// A file a flag names (`--policy-file`, `policy check -f`).
    #[error("{flag} {:?}: {source}", path.display().to_string())]
    File {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: FileError,
    },
    /// The job cannot be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Why a file a flag names cannot be used.
#[derive(Debug, Error)]
pub enum FileError {
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error("cannot read stdin: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("document {number}: {source}")]
    Document {
        /// 1-based, as editors count.
        number: usize,
        #[source]
        source: yaml_serde::Error,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// An AdmissionReview the webhook's parser does not take.
    #[error("document {number}: {source}")]
    Review {
        /// 1-based, as editors count.
        number: usize,
        #[source]
        source: mltrain_shared::admission::ReviewError,
    },
}

/// Everything that ends a command early.
#[derive(Debug, Error)]
pub enum CommandError {
    /// Every problem with the flags, files and job at once.
    #[error("{}", lines(.0))]
    Usage(Vec<Problem>),
    /// The cluster policy, run here as the webhook would, refuses objects (each line names one).
    #[error("{}\nnothing was sent to the cluster", .0.join("\n"))]
    PolicyRefused(Vec<String>),
    /// Preflight: the cluster lacks what the job needs.
    #[error(transparent)]
    Lacking(#[from] Lacking),
    /// A command that needs a cluster has none.
    #[error("{0}; set up kubectl (kubectl config current-context) or use --dry-run=client")]
    Connect(#[source] ClusterError),
    /// Talking to the cluster failed, or the API server (or a webhook) refused an object.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The policy ConfigMap in the cluster does not parse.
    #[error("the cluster's policy ConfigMap is invalid: {0}")]
    ClusterPolicy(#[source] PolicyError),
    /// The engine's own patch does not apply to the object it was made for: a bug in the engine,
    /// reported rather than papered over.
    #[error("the admission engine's patch does not apply: {0}")]
    Patch(#[from] mltrain_shared::PatchError),
    /// The SSH key pair DeepSpeed's launcher needs could not be made.
    #[error("{0}")]
    SshKey(String),
    /// `--wait`: the job failed.
    #[error(
        "job {name} failed; see kubectl mltrain status {name} and kubectl mltrain logs {name} --all"
    )]
    JobFailed { name: String },
    /// `--wait --timeout`: the job was not running in time (it keeps running).
    #[error(
        "--timeout {timeout} expired: {progress}\nthe job keeps running; see kubectl mltrain status {name}, or kubectl mltrain delete {name}"
    )]
    WaitTimedOut {
        /// As the user wrote it.
        timeout: String,
        /// The last progress line.
        progress: String,
        name: String,
    },
    /// `status`, `logs`: no job of that name.
    #[error("no job {name:?} in namespace {namespace}; see kubectl mltrain list")]
    NoJob { name: String, namespace: String },
    /// `delete`: no object of that job.
    #[error("no objects of job {name:?} in namespace {namespace}; see kubectl mltrain list")]
    NothingToDelete { name: String, namespace: String },
    /// `logs`: no pod for what was asked.
    #[error(transparent)]
    Logs(#[from] SelectError),
    /// `logs -f`: a stream's task ended without an answer.
    #[error("a log stream stopped: {0}")]
    LogTask(#[source] tokio::task::JoinError),
    /// Standard output cannot be written (other than a closed pipe, which ends quietly).
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    /// The async runtime cannot start.
    #[error("cannot start: {0}")]
    Runtime(#[source] std::io::Error),
}

fn lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl CommandError {
    /// What happened, for the exit status.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Usage(_) => Exit::Usage,
            CommandError::PolicyRefused(_) | CommandError::Lacking(_) => Exit::Refused,
            CommandError::Cluster(e) if e.is_refusal() => Exit::Refused,
            CommandError::JobFailed { .. } => Exit::JobFailed,
            CommandError::Connect(_)
            | CommandError::Cluster(_)
            | CommandError::ClusterPolicy(_)
            | CommandError::Patch(_)
            | CommandError::SshKey(_)
            | CommandError::WaitTimedOut { .. }
            | CommandError::NoJob { .. }
            | CommandError::NothingToDelete { .. }
            | CommandError::Logs(_)
            | CommandError::LogTask(_)
            | CommandError::Output(_)
            | CommandError::Runtime(_) => Exit::Failed,
        }
    }
}

impl From<Problem> for CommandError {
    fn from(p: Problem) -> Self {
        CommandError::Usage(vec![p])
    }
}

impl From<UsageError> for CommandError {
    fn from(e: UsageError) -> Self {
        Problem::from(e).into()
    }
}

/// What the user reads on stderr for an error: kubectl's `error: ` prefix, once per problem, and for
/// usage errors the pointer to `--help`.
pub fn report(e: &CommandError) -> String {
    match e {
        CommandError::Usage(problems) => {
            let mut s: String = problems.iter().map(|p| format!("error: {p}\n")).collect();
            s += "\nSee 'kubectl mltrain --help' for usage.\n";
            s
        }
        other => format!("error: {other}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let codes = [
            Exit::Ok,
            Exit::Usage,
            Exit::Refused,
            Exit::Failed,
            Exit::JobFailed,
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 2, 1, 1, 1]);
    }

    #[test]
    fn the_prefix_is_written_once_per_problem() {
        let e = CommandError::Usage(vec![
            Problem::Flag(UsageError {
                flag: "--env",
                value: "=x".into(),
                message: "expected KEY=VALUE".into(),
            }),
            Problem::File {
                flag: "--policy-file",
                path: "/p.yaml".into(),
                source: FileError::Read(std::io::Error::from(std::io::ErrorKind::NotFound)),
            },
        ]);
        assert_eq!(
            report(&e),
            "error: --env \"=x\": expected KEY=VALUE\nerror: --policy-file \"/p.yaml\": cannot read it: entity not found\n\nSee 'kubectl mltrain --help' for usage.\n"
        );
        let e = CommandError::JobFailed { name: "j".into() };
        assert_eq!(e.exit(), Exit::JobFailed);
        assert!(report(&e).starts_with("error: job j failed; "));
        assert_eq!(report(&e).matches("error: ").count(), 1);
    }
}
