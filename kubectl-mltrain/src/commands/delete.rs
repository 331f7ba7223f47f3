//! `kubectl mltrain delete NAME`: every object of the job (workloads, Services, Secrets, ConfigMaps),
//! found by its `mltrain.io/job-name` label, whatever the backend.

use crate::cli::TargetArgs;
use crate::cluster::Cluster;
use crate::error::{CommandError, Exit};

pub async fn run(a: &TargetArgs) -> Result<Exit, CommandError> {
    let cluster = Cluster::connect(&a.conn)
        .await
        .map_err(|e| CommandError::Failed(format!("error: {e}")))?;
    let deleted = cluster
        .delete_job(&cluster.namespace, &a.name)
        .await
        .map_err(|e| CommandError::Failed(format!("error: {e}")))?;
    if deleted.is_empty() {
        return Err(CommandError::Failed(format!(
            "error: no objects of job {:?} in namespace {}; see kubectl mltrain list",
            a.name, cluster.namespace
        )));
    }
    crate::output::print(
        &deleted
            .iter()
            .map(|d| format!("{d} deleted\n"))
            .collect::<String>(),
    );
    Ok(Exit::Ok)
}
