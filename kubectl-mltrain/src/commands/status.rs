//! `kubectl mltrain status NAME`: the phase (as `list` derives it), every rank's pod, and the last
//! events of what is not running, which explain a stuck job (unschedulable, image pull errors, ...).

use mltrain_shared::vocab::kubernetes::APP_NAME;
use mltrain_shared::vocab::mltrain::role;
use serde_json::Value;

use crate::cli::TargetArgs;
use crate::cluster::Cluster;
use crate::error::{CommandError, Exit};
use crate::jobs::{self, Rank};

/// The job's top object and pods.
pub async fn fetch(
    cluster: &Cluster,
    ns: &str,
    name: &str,
) -> Result<(Value, Vec<Value>), CommandError> {
    let selector = format!("{}={name}", mltrain_shared::vocab::mltrain::JOB_NAME);
    let objects = cluster.workloads(Some(ns), &selector).await?;
    let wrapped = objects.iter().any(jobs::is_wrapper);
    let top = objects
        .into_iter()
        .find(|o| jobs::is_top(o, wrapped))
        .ok_or_else(|| CommandError::NoJob {
            name: name.into(),
            namespace: ns.into(),
        })?;
    let pods = cluster.pods(Some(ns), &selector).await?;
    Ok((top, pods))
}

/// The report, from the job, its pods and the events of the objects that need explaining.
pub fn render(top: &Value, pods: &[Value], events: &[(String, Vec<Value>)]) -> String {
    let phase = jobs::phase(top, pods);
    let (ready, total) = jobs::ranks_ready(top, pods);
    let labels = &top["metadata"]["labels"];
    let mut s = format!(
        "Name:       {}\nNamespace:  {}\nFramework:  {}\nBackend:    {}\nPhase:      {}\nRanks:      {ready}/{total} ready\n",
        top["metadata"]["name"].as_str().unwrap_or(""),
        top["metadata"]["namespace"].as_str().unwrap_or(""),
        labels[APP_NAME].as_str().unwrap_or(""),
        top["kind"].as_str().unwrap_or("").to_lowercase(),
        phase.as_str(),
    );
    s += &ranks_table(pods);
    s += &events_section(events);
    s
}

/// Every rank's pod, launcher and scheduler first, as a table; or why there is none.
fn ranks_table(pods: &[Value]) -> String {
    let mut ranks: Vec<Rank> = pods.iter().map(jobs::rank).collect();
    ranks.sort_by_key(|r| {
        (
            r.role != role::LAUNCHER && r.role != role::SCHEDULER,
            r.rank.unwrap_or(u32::MAX),
            r.pod.clone(),
        )
    });
    if ranks.is_empty() {
        return "\nNo pods yet.\n".into();
    }
    let mut rows = vec![
        [
            "RANK", "ROLE", "POD", "PHASE", "READY", "RESTARTS", "NODE", "REASON",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &ranks {
        rows.push(vec![
            r.rank.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            if r.role.is_empty() {
                "-".into()
            } else {
                r.role.clone()
            },
            r.pod.clone(),
            r.phase.clone(),
            if r.ready { "yes" } else { "no" }.into(),
            r.restarts.to_string(),
            if r.node.is_empty() {
                "<none>".into()
            } else {
                r.node.clone()
            },
            r.reason.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut s = String::from("\n");
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s += cells.join("  ").trim_end();
        s.push('\n');
    }
    s
}

/// The last events of each object that has any, oldest first.
fn events_section(events: &[(String, Vec<Value>)]) -> String {
    let shown: Vec<&(String, Vec<Value>)> = events.iter().filter(|(_, e)| !e.is_empty()).collect();
    if shown.is_empty() {
        return String::new();
    }
    let mut s = String::from("\nEvents (last 5 per object, oldest first):\n");
    for (object, evs) in shown {
        for e in evs.iter().rev().take(5).rev() {
            s += &format!(
                "  {}  {}  {}: {}\n",
                e["lastTimestamp"]
                    .as_str()
                    .or(e["eventTime"].as_str())
                    .unwrap_or(""),
                object,
                e["reason"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("").trim()
            );
        }
    }
    s
}

pub async fn run(a: &TargetArgs) -> Result<Exit, CommandError> {
    let cluster = Cluster::connect(&a.conn).await?;
    let ns = cluster.namespace.clone();
    let (top, pods) = fetch(&cluster, &ns, &a.name).await?;
    // Events explain what is not running: the workload itself (and a JobSet's child Jobs, where the
    // job controller records FailedCreate) and pods not (yet) running.
    let mut names = jobs::pod_creators(&top);
    for p in &pods {
        if !matches!(
            p.pointer("/status/phase").and_then(Value::as_str),
            Some("Running" | "Succeeded")
        ) {
            names.push(p["metadata"]["name"].as_str().unwrap_or("").to_string());
        }
    }
    let mut events = Vec::new();
    for n in names {
        let evs = cluster.events(&ns, &n).await.unwrap_or_default();
        events.push((n, evs));
    }
    crate::output::print(&render(&top, &pods, &events))?;
    Ok(if jobs::phase(&top, &pods) == jobs::Phase::Failed {
        Exit::JobFailed
    } else {
        Exit::Ok
    })
}
