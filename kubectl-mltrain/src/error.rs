//! The plugin's errors and exit codes (DESIGN §2): 0 ok, 1 refused or failed, 2 usage.

use std::process::ExitCode;

use thiserror::Error;

/// A flag value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{flag} {value:?}: {message}")]
pub struct UsageError {
    pub flag: &'static str,
    pub value: String,
    pub message: String,
}

/// Exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Refused by policy, the webhook or the API server, or failed under --wait.
    Refused = 1,
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Everything that ends a command early.
#[derive(Debug, Error)]
pub enum CommandError {
    #[error("{}", join(.0))]
    Usage(Vec<String>),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

fn join(v: &[String]) -> String {
    v.join("\n")
}

impl CommandError {
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Usage(_) => Exit::Usage,
            CommandError::Refused(_) | CommandError::Failed(_) => Exit::Refused,
        }
    }
}

impl From<UsageError> for CommandError {
    fn from(e: UsageError) -> Self {
        CommandError::Usage(vec![e.to_string()])
    }
}
