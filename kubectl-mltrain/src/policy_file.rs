//! `--policy-file`: the cluster policy from a file instead of the cluster, for `create` (preview and
//! preflight against another policy) and `policy check`. One loader, so both name the flag and the
//! file the same way.

use std::path::Path;

use mltrain_shared::Policy;
use mltrain_shared::policy::PolicyFileProblem;

use crate::error::{FileError, Problem};

/// Read and parse a policy file ([`Policy::load`]); a problem names `--policy-file` and the path.
pub fn load(path: &Path) -> Result<Policy, Problem> {
    Policy::load(path).map_err(|e| Problem::File {
        flag: "--policy-file",
        path: e.path,
        source: match e.problem {
            PolicyFileProblem::Read(io) => FileError::Read(io),
            PolicyFileProblem::Invalid(p) => FileError::Policy(p),
        },
    })
}
