//! `--policy-file`: the cluster policy from a file instead of the cluster, for `create` (preview and
//! preflight against another policy) and `policy check`. One loader, so both name the flag and the
//! file the same way.

use std::path::Path;

use mltrain_shared::Policy;

use crate::error::{FileError, Problem};

/// Read and parse a policy file; a problem names `--policy-file` and the path.
pub fn load(path: &Path) -> Result<Policy, Problem> {
    let problem = |source| Problem::File {
        flag: "--policy-file",
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|e| problem(FileError::Read(e)))?;
    Policy::from_yaml(&text).map_err(|e| problem(FileError::Policy(e)))
}
