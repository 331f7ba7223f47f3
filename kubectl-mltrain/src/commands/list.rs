//! `kubectl mltrain list`: every job mltrain made in the namespace (or `-A`): framework, backend, ranks
//! ready, phase (derived as in `status` and `--wait`), age.

use std::collections::BTreeMap;

use mltrain_shared::vocab::{kubernetes, kueue, mltrain};
use serde_json::{Value, json};

use crate::cli::{ListArgs, ListFormat};
use crate::cluster::Cluster;
use crate::error::{CommandError, Exit};
use crate::jobs;
use crate::output;

/// One row.
pub fn summary(top: &Value, pods: &[Value]) -> Value {
    let (ready, total) = jobs::ranks_ready(top, pods);
    let labels = &top["metadata"]["labels"];
    json!({
        "namespace": top["metadata"]["namespace"],
        "name": top["metadata"]["name"],
        "framework": labels[kubernetes::APP_NAME],
        "backend": top["kind"].as_str().unwrap_or("").to_lowercase(),
        "ranksReady": ready,
        "ranks": total,
        "phase": jobs::phase(top, pods).as_str(),
        "created": top["metadata"]["creationTimestamp"],
        "queue": labels[kueue::QUEUE_NAME],
    })
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp (`2026-11-23T10:00:00Z`).
fn epoch(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// kubectl's age: `45s`, `12m`, `5h`, `3d`.
pub fn age(created: &str, now: i64) -> String {
    let Some(t) = epoch(created) else {
        return "<unknown>".into();
    };
    let s = (now - t).max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The table (or YAML/JSON) for some jobs.
pub fn render(
    rows: &[Value],
    format: Option<ListFormat>,
    all_namespaces: bool,
    now: i64,
) -> String {
    match format {
        Some(ListFormat::Json) => {
            serde_json::to_string_pretty(&json!({"items": rows})).unwrap_or_default() + "\n"
        }
        Some(ListFormat::Yaml) => {
            yaml_serde::to_string(&json!({"items": rows})).unwrap_or_default()
        }
        _ => {
            let wide = format == Some(ListFormat::Wide);
            let mut table: Vec<Vec<String>> = Vec::new();
            let mut head = vec!["NAME", "FRAMEWORK", "BACKEND", "RANKS", "PHASE", "AGE"];
            if all_namespaces {
                head.insert(0, "NAMESPACE");
            }
            if wide {
                head.push("QUEUE");
            }
            table.push(head.iter().map(|s| s.to_string()).collect());
            for r in rows {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                let mut row = vec![
                    s("name"),
                    s("framework"),
                    s("backend"),
                    format!("{}/{}", r["ranksReady"], r["ranks"]),
                    s("phase"),
                    age(&s("created"), now),
                ];
                if all_namespaces {
                    row.insert(0, s("namespace"));
                }
                if wide {
                    row.push(r["queue"].as_str().unwrap_or("<none>").to_string());
                }
                table.push(row);
            }
            let widths: Vec<usize> = (0..table[0].len())
                .map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0))
                .collect();
            table
                .iter()
                .map(|r| {
                    let cells: Vec<String> = r
                        .iter()
                        .zip(&widths)
                        .map(|(c, w)| format!("{c:<w$}"))
                        .collect();
                    cells.join("   ").trim_end().to_string() + "\n"
                })
                .collect()
        }
    }
}

/// Rows for every job in `ns` (or every namespace).
pub async fn rows(cluster: &Cluster, ns: Option<&str>) -> Result<Vec<Value>, CommandError> {
    let managed = format!("{}={}", kubernetes::APP_MANAGED_BY, mltrain::MANAGER);
    let objects = cluster.workloads(ns, &managed).await?;
    let pods = cluster.pods(ns, mltrain::JOB_NAME).await?;
    let mut by_job: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for p in pods {
        let key = (
            p["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            jobs::job_name(&p).unwrap_or("").to_string(),
        );
        by_job.entry(key).or_default().push(p);
    }
    let wrapped = |o: &Value| {
        objects.iter().any(|a| {
            jobs::is_wrapper(a)
                && a["metadata"]["name"] == o["metadata"]["name"]
                && a["metadata"]["namespace"] == o["metadata"]["namespace"]
        })
    };
    let mut rows: Vec<Value> = objects
        .iter()
        .filter(|o| jobs::is_top(o, wrapped(o)))
        .map(|top| {
            let key = (
                top["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                top["metadata"]["name"].as_str().unwrap_or("").to_string(),
            );
            summary(top, by_job.get(&key).map(Vec::as_slice).unwrap_or(&[]))
        })
        .collect();
    rows.sort_by_key(|r| {
        (
            r["namespace"].as_str().unwrap_or("").to_string(),
            r["name"].as_str().unwrap_or("").to_string(),
        )
    });
    Ok(rows)
}

pub async fn run(a: &ListArgs) -> Result<Exit, CommandError> {
    let cluster = Cluster::connect(&a.conn).await?;
    let ns = (!a.all_namespaces).then(|| cluster.namespace.clone());
    let rows = rows(&cluster, ns.as_deref()).await?;
    if rows.is_empty() && a.output.is_none() {
        eprintln!(
            "No mltrain jobs found{}.",
            ns.map(|n| format!(" in namespace {n}")).unwrap_or_default()
        );
        return Ok(Exit::Ok);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    output::print(&render(&rows, a.output, a.all_namespaces, now))?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_like_kubectl() {
        let t = epoch("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(epoch("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(age("2026-11-23T10:00:00Z", t + 45), "45s");
        assert_eq!(age("2026-11-23T10:00:00Z", t + 600), "10m");
        assert_eq!(age("2026-11-23T10:00:00Z", t + 5 * 3600), "5h");
        assert_eq!(age("2026-11-23T10:00:00Z", t + 3 * 86_400), "3d");
    }
}

#[cfg(test)]
mod mock_api_tests {
    //! Against kube's mock service layer with recorded API responses for every backend.
    use super::*;

    fn state() -> Value {
        serde_json::from_str(include_str!("../../tests/data/cluster/state.json")).unwrap()
    }

    #[tokio::test]
    async fn mock_api_list_derives_phases_for_every_backend() {
        let (cluster, server) = crate::cluster::mock::cluster(state());
        let rows = rows(&cluster, Some("ml")).await.unwrap();
        drop(cluster);
        let seen = server.await.unwrap();
        assert!(
            seen.contains(&"GET /apis/kubeflow.org/v2beta1/namespaces/ml/mpijobs".to_string()),
            "every top kind is listed"
        );
        let now = epoch("2026-11-23T10:30:00Z").unwrap();
        assert_eq!(
            render(&rows, None, false, now),
            "NAME      FRAMEWORK   BACKEND      RANKS   PHASE       AGE\n\
             aw        pytorch     appwrapper   2/2     Running     3h\n\
             ds-mpi    deepspeed   mpijob       0/2     Queued      10m\n\
             js-done   pytorch     jobset       0/4     Succeeded   90m\n\
             pj-fail   pytorch     pytorchjob   1/2     Failed      2h\n\
             pt-run    pytorch     job          1/2     Pending     30m\n"
        );
        let wide = render(&rows, Some(ListFormat::Wide), true, now);
        assert!(
            wide.starts_with(
                "NAMESPACE   NAME      FRAMEWORK   BACKEND      RANKS   PHASE       AGE   QUEUE\n"
            ),
            "{wide}"
        );
        assert!(wide.contains("team-q"));
        let json: Value =
            serde_json::from_str(&render(&rows, Some(ListFormat::Json), false, now)).unwrap();
        assert_eq!(json["items"][4]["phase"], "Pending");
        let yaml = render(&rows, Some(ListFormat::Yaml), false, now);
        assert!(yaml.contains("phase: Failed"));
    }

    #[tokio::test]
    async fn mock_api_a_kind_whose_crd_is_absent_is_skipped() {
        let mut st = state();
        st.as_object_mut().unwrap().remove("mpijobs");
        let (cluster, server) = crate::cluster::mock::cluster(st);
        let rows = rows(&cluster, Some("ml")).await.unwrap();
        drop(cluster);
        server.await.unwrap();
        assert_eq!(rows.len(), 4);
    }

    #[tokio::test]
    async fn mock_api_logs_of_every_rank_interleaved_with_prefixes() {
        let (cluster, server) = crate::cluster::mock::cluster(state());
        let (_, pods) = crate::commands::status::fetch(&cluster, "ml", "pt-run")
            .await
            .unwrap();
        let chosen = crate::commands::logs::select(&pods, None, true).unwrap();
        let text = crate::commands::logs::collect(&cluster, "ml", &chosen, true, false)
            .await
            .unwrap();
        assert_eq!(
            text,
            "[rank 0] rank 0 starting\n[rank 1] rank 1 starting\n[rank 0] rank 0 step 1\n"
        );
        let one = crate::commands::logs::collect(&cluster, "ml", &chosen[1..], false, false)
            .await
            .unwrap();
        assert!(one.ends_with("rank 1 starting\n"), "{one}");
        drop(cluster);
        let seen = server.await.unwrap();
        assert!(
            seen.contains(&"GET /api/v1/namespaces/ml/pods/pt-run-1-fghij/log".to_string()),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn mock_api_follow_streams_prefixed_lines() {
        let (cluster, server) = crate::cluster::mock::cluster(state());
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        cluster
            .follow("ml", "pt-run-1-fghij", false, "rank 1".into(), tx)
            .await
            .unwrap();
        let mut lines = Vec::new();
        while let Ok(l) = rx.try_recv() {
            lines.push(l);
        }
        assert_eq!(
            lines,
            ["[rank 1] 2026-11-23T10:00:02.000000000Z rank 1 starting"]
        );
        drop(cluster);
        let seen = server.await.unwrap();
        assert_eq!(seen, ["GET /api/v1/namespaces/ml/pods/pt-run-1-fghij/log"]);
    }

    #[tokio::test]
    async fn mock_api_status_explains_a_stuck_job_and_a_failed_rank() {
        let (cluster, server) = crate::cluster::mock::cluster(state());
        let (top, pods) = crate::commands::status::fetch(&cluster, "ml", "pt-run")
            .await
            .unwrap();
        let events = vec![(
            "pt-run-1-fghij".to_string(),
            cluster.events("ml", "pt-run-1-fghij").await.unwrap(),
        )];
        let report = crate::commands::status::render(&top, &pods, &events);
        assert_eq!(
            report,
            "Name:       pt-run\nNamespace:  ml\nFramework:  pytorch\nBackend:    job\nPhase:      Pending\nRanks:      1/2 ready\n\n\
             RANK  ROLE  POD             PHASE    READY  RESTARTS  NODE    REASON\n\
             0     -     pt-run-0-abcde  Running  yes    0         gpu-1\n\
             1     -     pt-run-1-fghij  Pending  no     0         <none>  Unschedulable\n\n\
             Events (last 5 per object, oldest first):\n  2026-11-23T10:00:05Z  pt-run-1-fghij  FailedScheduling: 0/8 nodes are available: 8 Insufficient nvidia.com/gpu.\n"
        );
        let (top, pods) = crate::commands::status::fetch(&cluster, "ml", "pj-fail")
            .await
            .unwrap();
        let report = crate::commands::status::render(&top, &pods, &[]);
        assert!(report.contains("Phase:      Failed"), "{report}");
        assert!(
            report.contains("1     -     pj-fail-worker-0  Failed   no     0         gpu-1  Error"),
            "{report}"
        );
        assert!(
            crate::commands::status::fetch(&cluster, "ml", "nope")
                .await
                .is_err()
        );
        drop(cluster);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn mock_api_delete_removes_every_object_of_the_job() {
        let mut st = state();
        let label = serde_json::json!({"mltrain.io/job-name": "pt-run"});
        st["services"] = serde_json::json!([{"metadata": {"name": "pt-run", "namespace": "ml", "labels": label}},
                                            {"metadata": {"name": "other", "namespace": "ml", "labels": {"mltrain.io/job-name": "other"}}}]);
        st["configmaps"] = serde_json::json!([{"metadata": {"name": "pt-run-files", "namespace": "ml", "labels": label}}]);
        st["secrets"] = serde_json::json!([]);
        let (cluster, server) = crate::cluster::mock::cluster(st);
        let deleted = cluster.delete_job("ml", "pt-run").await.unwrap();
        drop(cluster);
        let seen = server.await.unwrap();
        assert_eq!(
            deleted,
            [
                "job.batch/pt-run",
                "service/pt-run",
                "configmap/pt-run-files"
            ]
        );
        assert!(
            seen.contains(&"DELETE /apis/batch/v1/namespaces/ml/jobs/pt-run".to_string()),
            "{seen:?}"
        );
    }

    /// A Job whose controller cannot create pods (the PriorityClass is missing): --wait says why,
    /// from the Job's events, and --timeout ends the wait with exit 1.
    #[tokio::test]
    async fn mock_api_wait_explains_a_job_without_pods_and_times_out() {
        let mut st = state();
        st["jobs"].as_array_mut().unwrap().push(serde_json::json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "stuck", "namespace": "ml", "creationTimestamp": "2026-11-23T10:00:00Z",
                "labels": {"mltrain.io/job-name": "stuck", "mltrain.io/world-size": "4", "app.kubernetes.io/name": "pytorch"}},
            "spec": {"parallelism": 4, "completions": 4},
            "status": {"active": 0}
        }));
        st["events"]["stuck"] = serde_json::json!([
            {"metadata": {"name": "stuck.1", "namespace": "ml"}, "involvedObject": {"kind": "Job", "name": "stuck"},
             "reason": "SuccessfulCreate", "message": "Created pod: stuck-0-abcde", "type": "Normal", "lastTimestamp": "2026-11-23T10:00:01Z"},
            {"metadata": {"name": "stuck.2", "namespace": "ml"}, "involvedObject": {"kind": "Job", "name": "stuck"},
             "reason": "FailedCreate", "message": "Error creating: pods \"stuck-1-fghij\" is forbidden: no PriorityClass with name default-priority was found",
             "type": "Warning", "lastTimestamp": "2026-11-23T10:00:02Z"}
        ]);
        let (cluster, server) = crate::cluster::mock::cluster(st);
        let err = crate::commands::create::wait_for(
            &cluster,
            "ml",
            "stuck",
            std::time::Duration::from_millis(10),
            Some(crate::commands::create::Timeout {
                text: "50ms".into(),
                after: std::time::Duration::from_millis(50),
            }),
        )
        .await
        .unwrap_err();
        drop(cluster);
        let seen = server.await.unwrap();
        print!("{}", crate::error::report(&err));
        assert_eq!(err.exit(), Exit::Failed);
        assert_eq!(
            err.to_string(),
            "--timeout 50ms expired: stuck: 0/4 ranks ready, Starting (FailedCreate: Error creating: pods \"stuck-1-fghij\" is forbidden: no PriorityClass with name default-priority was found)\n\
             the job keeps running; see kubectl mltrain status stuck, or kubectl mltrain delete stuck"
        );
        assert!(
            seen.iter().any(|s| s == "GET /api/v1/namespaces/ml/events"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn mock_api_wait_ends_on_the_phase() {
        let (cluster, server) = crate::cluster::mock::cluster(state());
        let ok = crate::commands::create::wait_for(
            &cluster,
            "ml",
            "aw",
            std::time::Duration::from_millis(10),
            None,
        )
        .await
        .unwrap();
        assert_eq!(ok, Exit::Ok, "every rank runs");
        let failed = crate::commands::create::wait_for(
            &cluster,
            "ml",
            "pj-fail",
            std::time::Duration::from_millis(10),
            None,
        )
        .await;
        assert!(
            failed
                .unwrap_err()
                .to_string()
                .contains("job pj-fail failed; see kubectl mltrain status pj-fail")
        );
        drop(cluster);
        server.await.unwrap();
    }
}
