//! `kubectl mltrain delete NAME`: every object of the job (workloads, Services, Secrets, ConfigMaps),
//! found by its `mltrain.io/job-name` label, whatever the backend.

use crate::cli::TargetArgs;
use crate::cluster::Cluster;
use crate::error::{CommandError, Exit};

pub async fn run(a: &TargetArgs) -> Result<Exit, CommandError> {
    let cluster = Cluster::connect(&a.conn).await?;
    let deleted = cluster.delete_job(&cluster.namespace, &a.name).await?;
    if deleted.is_empty() {
        return Err(CommandError::NothingToDelete {
            name: a.name.clone(),
            namespace: cluster.namespace.clone(),
        });
    }
    crate::output::print(
        &deleted
            .iter()
            .map(|d| format!("{d} deleted\n"))
            .collect::<String>(),
    )?;
    Ok(Exit::Ok)
}
