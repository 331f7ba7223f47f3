//! Kueue admits a job whole: with a queue, every suspended object carries the queue label, and the
//! one layout made of several Jobs (DeepSpeed over SSH) becomes one JobSet, which Kueue admits as one
//! Workload (<https://kueue.sigs.k8s.io/docs/tasks/run/jobsets/>); MXNet is one Indexed Job.

use mltrain_shared::model::{Backend, Framework, Launcher, SshKeyPair, TrainingJob};
use mltrain_shared::render;
use mltrain_shared::vocab::kueue::QUEUE_NAME as QUEUE_LABEL;
use serde_json::Value;

fn queued(framework: Framework, backend: Backend) -> TrainingJob {
    let mut j = TrainingJob::new("j", framework);
    j.world_size = 3;
    j.backend = backend.into();
    j.scheduling.queue = Some("team-queue".into());
    // The plugin makes the SSH key pair before rendering DeepSpeed over SSH.
    if let Some(keys) = j.ssh_keys_slot() {
        *keys = Some(SshKeyPair {
            private: "private".into(),
            public: "public".into(),
        });
    }
    j
}

fn suspended(o: &Value) -> bool {
    o["spec"]["suspend"] == true || o["spec"]["runPolicy"]["suspend"] == true
}

#[test]
fn every_suspended_object_carries_the_queue_label_and_multi_part_layouts_are_one_jobset() {
    let mut cases = vec![
        queued(Framework::PyTorch, Backend::Job),
        queued(Framework::PyTorch, Backend::JobSet),
        queued(Framework::PyTorch, Backend::PyTorchJob),
        queued(Framework::PyTorch, Backend::AppWrapper),
        queued(Framework::DeepSpeed, Backend::Job),
        queued(Framework::DeepSpeed, Backend::MpiJob),
        queued(Framework::MXNet, Backend::Job),
    ];
    let mut torchrun = queued(Framework::DeepSpeed, Backend::Job);
    torchrun.framework.deepspeed_mut().unwrap().launcher = Launcher::Torchrun.into();
    cases.push(torchrun);
    for j in cases {
        let objects = render::render(&j).unwrap();
        let workloads: Vec<&Value> = objects
            .iter()
            .filter(|o| !matches!(o["kind"].as_str(), Some("Service" | "ConfigMap" | "Secret")))
            .collect();
        assert_eq!(
            workloads.len(),
            1,
            "{} on {}: Kueue must see one workload, got {}",
            j.framework(),
            j.backend(),
            workloads.len()
        );
        let w = workloads[0];
        assert_eq!(
            w["metadata"]["labels"][QUEUE_LABEL],
            "team-queue",
            "{}",
            j.framework()
        );
        if w["kind"] != "AppWrapper" {
            assert!(suspended(w), "{} on {}", j.framework(), j.backend());
        }
        for o in &objects {
            if suspended(o) {
                assert_eq!(o["metadata"]["labels"][QUEUE_LABEL], "team-queue");
            }
        }
    }
}

#[test]
fn grouped_layouts_use_jobset_host_names_and_complete_with_the_deciding_role() {
    let ds = render::render(&queued(Framework::DeepSpeed, Backend::Job)).unwrap();
    let js = ds.last().unwrap();
    assert_eq!(js["kind"], "JobSet");
    let roles: Vec<&str> = js["spec"]["replicatedJobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["worker", "launcher"]);
    assert_eq!(
        js["spec"]["successPolicy"]["targetReplicatedJobs"][0],
        "launcher"
    );
    assert_eq!(
        ds[0]["data"]["hostfile"],
        "j-worker-0-0.j slots=1\nj-worker-0-1.j slots=1\nj-worker-0-2.j slots=1\n"
    );
    for r in js["spec"]["replicatedJobs"].as_array().unwrap() {
        assert!(
            r["template"]["metadata"]["labels"]
                .get(QUEUE_LABEL)
                .is_none()
        );
        assert!(r["template"]["spec"].get("suspend").is_none());
    }
    // MXNet is one Indexed Job, queued as it is.
    let mx = render::render(&queued(Framework::MXNet, Backend::Job)).unwrap();
    let job = mx.iter().find(|o| o["kind"] == "Job").unwrap();
    assert_eq!(job["spec"]["suspend"], true);
    assert!(job["metadata"]["labels"].get(QUEUE_LABEL).is_some());
    assert!(mx.iter().all(|o| o["kind"] != "JobSet"));
}
