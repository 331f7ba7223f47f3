//! `--max-restarts` per backend, as each controller implements retries (docs/retries.md has the
//! table): the Job's backoffLimit with disruptions not counted, JobSet's failurePolicy.maxRestarts,
//! the training operator's counted OnFailure restarts, the AppWrapper's retryLimit; torchrun's c10d
//! rendezvous whenever restarts are asked for, so a restarted group re-forms.

use mltrain_shared::model::{AppWrapperSetting, Backend, Framework, Launcher, TrainingJob};
use mltrain_shared::render;
use serde_json::{Value, json};

fn job(backend: Backend, restarts: Option<u32>) -> TrainingJob {
    let mut j = TrainingJob::new("j", Framework::PyTorch);
    j.world_size = 4;
    j.backend = backend.into();
    j.fault_tolerance.max_restarts = restarts;
    j
}

fn workload(j: &TrainingJob) -> Value {
    render::render(j).unwrap().pop().unwrap()
}

fn script(pod: &Value) -> String {
    pod["spec"]["containers"][0]["command"][2]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn job_counts_failures_but_not_disruptions_and_uses_c10d() {
    let w = workload(&job(Backend::Job, Some(3)));
    assert_eq!(w["spec"]["backoffLimit"], 3);
    assert_eq!(
        w["spec"]["podFailurePolicy"],
        json!({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]})
    );
    let s = script(&w["spec"]["template"]);
    assert!(s.contains("--rdzv_backend=c10d \"--rdzv_endpoint=${MASTER_ADDR}:${MASTER_PORT}\" --rdzv_id=j --max-restarts=3"), "{s}");
    assert!(!s.contains("--node_rank"), "{s}");
    // No restarts asked for: the static rendezvous, no failure policy, no retry.
    let w = workload(&job(Backend::Job, None));
    assert_eq!(w["spec"]["backoffLimit"], 0);
    assert!(w["spec"].get("podFailurePolicy").is_none());
    assert!(script(&w["spec"]["template"]).contains("--master_addr"));
}

#[test]
fn jobset_restarts_the_whole_group() {
    let w = workload(&job(Backend::JobSet, Some(2)));
    assert_eq!(w["spec"]["failurePolicy"]["maxRestarts"], 2);
    assert_eq!(
        w["spec"]["replicatedJobs"][0]["template"]["spec"]["backoffLimit"],
        0
    );
}

#[test]
fn pytorchjob_restarts_are_counted_by_the_operator() {
    let w = workload(&job(Backend::PyTorchJob, Some(3)));
    assert_eq!(
        w["spec"]["runPolicy"],
        json!({"cleanPodPolicy": "Running", "backoffLimit": 3})
    );
    for r in ["Master", "Worker"] {
        assert_eq!(
            w["spec"]["pytorchReplicaSpecs"][r]["restartPolicy"],
            "OnFailure"
        );
    }
    let w = workload(&job(Backend::PyTorchJob, None));
    assert_eq!(w["spec"]["runPolicy"], json!({"cleanPodPolicy": "Running"}));
    assert_eq!(
        w["spec"]["pytorchReplicaSpecs"]["Master"]["restartPolicy"],
        "Never"
    );
}

#[test]
fn appwrapper_retries_the_whole_pytorchjob() {
    let w = workload(&job(Backend::AppWrapper, Some(3)));
    assert_eq!(
        w["metadata"]["annotations"]["workload.codeflare.dev.appwrapper/retryLimit"],
        "3"
    );
    let inner = &w["spec"]["components"][0]["template"];
    assert_eq!(
        inner["spec"]["runPolicy"],
        json!({"cleanPodPolicy": "Running"})
    );
    assert_eq!(
        inner["spec"]["pytorchReplicaSpecs"]["Worker"]["restartPolicy"],
        "Never"
    );
    // An explicit retryLimit annotation wins.
    let mut j = job(Backend::AppWrapper, Some(3));
    j.fault_tolerance
        .appwrapper
        .insert(AppWrapperSetting::RetryLimit, "1".into());
    assert_eq!(
        workload(&j)["metadata"]["annotations"]["workload.codeflare.dev.appwrapper/retryLimit"],
        "1"
    );
}

#[test]
fn layouts_that_cannot_rejoin_refuse_restarts() {
    let mut ds = TrainingJob::new("j", Framework::DeepSpeed);
    ds.fault_tolerance.max_restarts = Some(2);
    let e = render::render(&ds).unwrap_err().to_string();
    assert!(e.contains("--max-restarts \"2\": a retried SSH launcher finds its workers gone; use --launcher torchrun"), "{e}");
    ds.framework.deepspeed_mut().unwrap().launcher = Launcher::Torchrun.into();
    assert!(render::render(&ds).is_ok());
    let mut mx = TrainingJob::new("j", Framework::MXNet);
    mx.world_size = 2;
    mx.fault_tolerance.max_restarts = Some(1);
    let e = render::render(&mx).unwrap_err().to_string();
    assert!(
        e.contains("cannot rejoin ps-lite's group; drop --max-restarts"),
        "{e}"
    );
}
