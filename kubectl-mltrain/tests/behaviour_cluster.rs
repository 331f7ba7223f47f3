//! Behavioural cases for issue 12 (cluster-facing behaviour), on the model cluster of
//! `mltrain_tests::behave` (pods as real processes, real PyTorch and DeepSpeed): `--max-restarts`
//! really retries (torchrun's c10d rendezvous re-forms the group after a rank fails), and a queued
//! DeepSpeed-over-SSH job runs as the one JobSet Kueue admits whole.
//!
//! Needs root and `tests/behave/install.sh`, like `behaviour.rs`.

use std::sync::Mutex;

use mltrain_tests::behave::{self, Cluster, Outcome};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mltrain");

/// One case at a time: each uses both cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn data(name: &str) -> String {
    format!("{}/tests/data/behave/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// What the plugin would apply (`--dry-run=client -o json`), run on a plain cluster with Kueue's
/// LocalQueue `q`.
fn run(args: &[&str]) -> (Vec<Value>, Outcome) {
    let objects = behave::render_with(BIN, args);
    let cluster = Cluster {
        local_queues: vec!["q".into()],
        ..Cluster::default()
    };
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let outcome = behave::run(&cluster, &objects);
    eprintln!("{args:?}: {:.1}s\n{}", outcome.seconds, outcome.logs());
    (objects, outcome)
}

fn retry_case(backend: &str) {
    let script = data("fail_once.py");
    let (_, out) = run(&[
        "pytorch",
        "retry",
        "--backend",
        backend,
        "--world-size",
        "2",
        "--max-restarts",
        "2",
        "--from-file",
        &script,
        "--",
        "fail_once.py",
    ]);
    assert!(
        out.succeeded(),
        "{backend}: did not succeed:\n{}",
        out.report()
    );
    assert!(
        !out.lines_with("rank 1 fails once on purpose").is_empty(),
        "{backend}: no failure happened:\n{}",
        out.report()
    );
    assert_eq!(
        out.lines_with("allreduce=ok").len(),
        2,
        "{backend}: every rank finishes after the group re-forms:\n{}",
        out.report()
    );
}

#[test]
fn max_restarts_re_forms_the_group_on_the_job_backend() {
    retry_case("job");
}

#[test]
fn max_restarts_re_forms_the_group_on_the_pytorchjob_backend() {
    retry_case("pytorchjob");
}

#[test]
fn max_restarts_re_forms_the_group_on_the_jobset_backend() {
    retry_case("jobset");
}

/// DeepSpeed's SSH layout with a queue: one JobSet (render::group), JobSet host names in the hostfile.
#[test]
fn queued_deepspeed_over_ssh_runs_as_one_jobset() {
    let (objects, out) = run(&["deepspeed", "dsq", "--workers", "2", "--queue", "q"]);
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "Secret", "JobSet"]);
    assert!(out.succeeded(), "did not succeed:\n{}", out.report());
    assert_eq!(
        out.lines_with("mltrain smoke test: world=2 backend=gloo allreduce=ok")
            .len(),
        1,
        "{}",
        out.report()
    );
}
