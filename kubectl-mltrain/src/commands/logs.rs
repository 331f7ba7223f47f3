//! `kubectl mltrain logs NAME [--rank N | --all] [-f] [--previous]`: logs by rank, whatever the
//! backend; with `--all`, every rank's lines prefixed and interleaved by time. Works for failed pods
//! (their logs stay until the pod is deleted).

use mltrain_shared::vocab::mltrain::role::{LAUNCHER, SCHEDULER, SERVER};
use serde_json::Value;
use thiserror::Error;

use crate::cli::LogsArgs;
use crate::cluster::Cluster;
use crate::error::{CommandError, Exit};
use crate::jobs;

/// No pod for what `logs` was asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectError {
    #[error(
        "no pod for rank {rank} (the job has {training} training pods); see kubectl mltrain status"
    )]
    NoRank { rank: u32, training: usize },
    #[error("the job has no pods yet; see kubectl mltrain status")]
    NoPods,
}

/// The pods to read and their prefixes: one rank, every rank, or by default rank 0 (the launcher for
/// a DeepSpeed SSH job, since it prints the whole run).
pub fn select(
    pods: &[Value],
    rank: Option<u32>,
    all: bool,
) -> Result<Vec<(String, String)>, SelectError> {
    let mut ranks: Vec<jobs::Rank> = pods.iter().map(jobs::rank).collect();
    ranks.sort_by_key(|r| {
        (
            r.role != LAUNCHER,
            r.rank.unwrap_or(u32::MAX),
            r.pod.clone(),
        )
    });
    let label = |r: &jobs::Rank| match (r.role.as_str(), r.rank) {
        (SCHEDULER | SERVER, Some(n)) => format!("{} {n}", r.role),
        (LAUNCHER, _) => LAUNCHER.to_string(),
        (_, Some(n)) => format!("rank {n}"),
        _ => r.pod.clone(),
    };
    let chosen: Vec<&jobs::Rank> = match (rank, all) {
        (_, true) => ranks.iter().collect(),
        (Some(n), _) => ranks
            .iter()
            .filter(|r| jobs::is_training_rank(r) && r.rank == Some(n))
            .collect(),
        (None, _) => ranks.iter().take(1).collect(),
    };
    if chosen.is_empty() {
        return Err(match rank {
            Some(rank) => SelectError::NoRank {
                rank,
                training: ranks.iter().filter(|r| jobs::is_training_rank(r)).count(),
            },
            None => SelectError::NoPods,
        });
    }
    Ok(chosen
        .into_iter()
        .map(|r| (label(r), r.pod.clone()))
        .collect())
}

pub async fn run(a: &LogsArgs) -> Result<Exit, CommandError> {
    let cluster = Cluster::connect(&a.conn).await?;
    let ns = cluster.namespace.clone();
    let (_, pods) = crate::commands::status::fetch(&cluster, &ns, &a.name).await?;
    let chosen = select(&pods, a.rank, a.all)?;
    if a.follow {
        follow(cluster, &ns, chosen, a.previous).await?;
    } else {
        crate::output::print(&collect(&cluster, &ns, &chosen, a.all, a.previous).await?)?;
    }
    Ok(Exit::Ok)
}

/// Stream the chosen pods' lines as they come, prefixed. As `kubectl logs -f` does with several
/// pods, the first stream that breaks ends the command with its error.
async fn follow(
    cluster: Cluster,
    ns: &str,
    chosen: Vec<(String, String)>,
    previous: bool,
) -> Result<(), CommandError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1024);
    let cluster = std::sync::Arc::new(cluster);
    let mut streams = tokio::task::JoinSet::new();
    for (prefix, pod) in chosen {
        let (c, tx, ns) = (cluster.clone(), tx.clone(), ns.to_string());
        streams.spawn(async move { c.follow(&ns, &pod, previous, prefix, tx).await });
    }
    drop(tx);
    loop {
        tokio::select! {
            biased;
            Some(line) = rx.recv() => crate::output::print(&(line + "\n"))?,
            Some(ended) = streams.join_next() => ended.map_err(CommandError::LogTask)??,
            else => return Ok(()),
        }
    }
}

/// The logs of the chosen pods: one pod as it is, several interleaved by time with their prefixes.
pub async fn collect(
    cluster: &Cluster,
    ns: &str,
    chosen: &[(String, String)],
    all: bool,
    previous: bool,
) -> Result<String, CommandError> {
    let single = chosen.len() == 1 && !all;
    let mut texts = Vec::new();
    for (prefix, pod) in chosen {
        let text = cluster.logs(ns, pod, previous, !single).await?;
        texts.push((prefix.clone(), text));
    }
    Ok(if single {
        texts.remove(0).1
    } else {
        jobs::interleave(&texts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, rank: u32, role: Option<&str>) -> Value {
        let mut p = json!({"metadata": {"name": name, "labels": {"batch.kubernetes.io/job-completion-index": rank.to_string()}}, "status": {"phase": "Running"}});
        if let Some(r) = role {
            p["metadata"]["labels"]["mltrain.io/role"] = json!(r);
        }
        p
    }

    #[test]
    fn rank_zero_by_default_the_launcher_for_deepspeed_and_every_rank_with_all() {
        let pods = vec![pod("j-1-x", 1, None), pod("j-0-y", 0, None)];
        assert_eq!(
            select(&pods, None, false).unwrap(),
            [("rank 0".to_string(), "j-0-y".to_string())]
        );
        assert_eq!(
            select(&pods, Some(1), false).unwrap(),
            [("rank 1".to_string(), "j-1-x".to_string())]
        );
        assert_eq!(select(&pods, None, true).unwrap().len(), 2);
        assert_eq!(
            select(&pods, Some(7), false).unwrap_err(),
            SelectError::NoRank {
                rank: 7,
                training: 2
            }
        );
        assert!(
            select(&pods, Some(7), false)
                .unwrap_err()
                .to_string()
                .starts_with("no pod for rank 7 (the job has 2 training pods)")
        );
        let ds = vec![
            pod("ds-worker-0-a", 0, Some("worker")),
            pod("ds-b", 0, Some("launcher")),
        ];
        assert_eq!(
            select(&ds, None, false).unwrap(),
            [("launcher".to_string(), "ds-b".to_string())]
        );
        assert_eq!(
            select(&ds, Some(0), false).unwrap(),
            [("rank 0".to_string(), "ds-worker-0-a".to_string())]
        );
    }
}
