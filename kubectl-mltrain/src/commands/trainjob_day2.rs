//! Day 2 for Kubeflow Trainer TrainJobs against kube's mock service layer: `list`, `status`,
//! `logs --rank`, `delete` and `--wait` find the TrainJob as the job's top object (not the JobSet of
//! the same name the Trainer makes from it), its phase from its `Complete`/`Failed` conditions and its
//! JobSet's pods, and ranks from the completion index of the `node` Job's pods.
//!
//! The recorded objects spell their API and label names out, as the Trainer, JobSet and the Job
//! controller write them: they stand for what a cluster sends, so they do not read `vocab`/`kinds`.

use serde_json::{Value, json};

use crate::error::Exit;

fn labels(job: &str) -> Value {
    json!({"mltrain.io/job-name": job, "app.kubernetes.io/name": "pytorch",
           "app.kubernetes.io/managed-by": "kubectl-mltrain", "mltrain.io/world-size": "2"})
}

fn pod(job: &str, i: u32, phase: &str, node: &str) -> Value {
    let mut l = labels(job);
    l["batch.kubernetes.io/job-completion-index"] = json!(i.to_string());
    l["jobset.sigs.k8s.io/jobset-name"] = json!(job);
    l["jobset.sigs.k8s.io/replicatedjob-name"] = json!("node");
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{job}-node-0-{i}-abcde"), "namespace": "ml", "labels": l},
        "spec": {"containers": [{"name": "node", "image": "x"}], "nodeName": node},
        "status": {"phase": phase, "containerStatuses": [{"name": "node", "ready": phase == "Running",
            "restartCount": 0, "image": "x", "imageID": "", "state": {}}]}})
}

/// A running TrainJob `tj` (2 nodes), a finished one `tj-done`, and the Trainer's JobSets, which
/// carry the TrainJob's labels.
fn state() -> Value {
    let tj = |name: &str, conds: Value| {
        json!({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "metadata": {"name": name, "namespace": "ml", "creationTimestamp": "2026-11-23T10:00:00Z", "labels": labels(name)},
            "spec": {"runtimeRef": {"name": "torch-distributed"}, "trainer": {"numNodes": 2}},
            "status": {"conditions": conds}})
    };
    let js = |name: &str| {
        json!({"metadata": {"name": name, "namespace": "ml", "creationTimestamp": "2026-11-23T10:00:01Z", "labels": labels(name)},
            "spec": {"replicatedJobs": [{"name": "node", "replicas": 1}]}, "status": {}})
    };
    json!({
        "trainjobs": [tj("tj", json!([])), tj("tj-done", json!([{"type": "Complete", "status": "True"}]))],
        "jobsets": [js("tj"), js("tj-done")],
        "jobs": [],
        "pods": [pod("tj", 0, "Running", "gpu-1"), pod("tj", 1, "Running", "gpu-2")],
        "configmaps": [{"metadata": {"name": "tj-files", "namespace": "ml", "labels": labels("tj")}}],
        "logs": {"tj-node-0-0-abcde": "2026-11-23T10:00:01.000000000Z rank 0 up\n",
                 "tj-node-0-1-abcde": "2026-11-23T10:00:02.000000000Z rank 1 up\n"},
        "events": {},
    })
}

#[tokio::test]
async fn mock_api_trainjob_list_and_status_show_the_trainjob_not_its_jobset() {
    let (cluster, server) = crate::cluster::mock::cluster(state());
    let rows = crate::commands::list::rows(&cluster, Some("ml"))
        .await
        .unwrap();
    let (top, pods) = crate::commands::status::fetch(&cluster, "ml", "tj")
        .await
        .unwrap();
    drop(cluster);
    let seen = server.await.unwrap();
    assert!(
        seen.contains(
            &"GET /apis/trainer.kubeflow.org/v1alpha1/namespaces/ml/trainjobs".to_string()
        ),
        "{seen:?}"
    );
    let now = 1_795_428_000; // 2026-11-23T10:00:00Z
    assert_eq!(
        crate::commands::list::render(&rows, None, false, now + 600),
        "NAME      FRAMEWORK   BACKEND    RANKS   PHASE       AGE\n\
         tj        pytorch     trainjob   2/2     Running     10m\n\
         tj-done   pytorch     trainjob   0/2     Succeeded   10m\n"
    );
    assert_eq!(top["kind"], "TrainJob");
    let report = crate::commands::status::render(&top, &pods, &[]);
    assert!(
        report.contains("Backend:    trainjob\nPhase:      Running\nRanks:      2/2 ready"),
        "{report}"
    );
    assert!(
        report.contains("1     -     tj-node-0-1-abcde  Running  yes    0         gpu-2"),
        "{report}"
    );
}

#[tokio::test]
async fn mock_api_trainjob_logs_by_rank_delete_and_wait() {
    let (cluster, server) = crate::cluster::mock::cluster(state());
    let (_, pods) = crate::commands::status::fetch(&cluster, "ml", "tj")
        .await
        .unwrap();
    let one = crate::commands::logs::select(&pods, Some(1), false).unwrap();
    assert_eq!(
        one,
        [("rank 1".to_string(), "tj-node-0-1-abcde".to_string())]
    );
    let text = crate::commands::logs::collect(&cluster, "ml", &one, false, false)
        .await
        .unwrap();
    assert!(text.ends_with("rank 1 up\n"), "{text}");
    let done = crate::commands::create::wait_for(
        &cluster,
        "ml",
        "tj-done",
        std::time::Duration::from_millis(10),
        None,
    )
    .await
    .unwrap();
    assert_eq!(done, Exit::Ok);
    let deleted = cluster.delete_job("ml", "tj").await.unwrap();
    drop(cluster);
    let seen = server.await.unwrap();
    assert_eq!(
        deleted,
        [
            "trainjob.trainer.kubeflow.org/tj",
            "jobset.jobset.x-k8s.io/tj",
            "configmap/tj-files"
        ],
        "the TrainJob first; its JobSet goes with it anyway"
    );
    assert!(
        seen.contains(
            &"DELETE /apis/trainer.kubeflow.org/v1alpha1/namespaces/ml/trainjobs/tj".to_string()
        ),
        "{seen:?}"
    );
}
