//! The behavioural suite: what `kubectl mltrain` renders (after its local admission preview, exactly
//! what it would apply) is run by the model cluster of `mltrain_tests::behave`, pods as real processes
//! with real PyTorch, DeepSpeed and MXNet, and each case checks what the ranks print.
//!
//! Needs root and `tests/behave/install.sh` (`.ci/run` does both). Cases run one at a time: each
//! uses both cores.

use std::process::Command;
use std::sync::Mutex;

use mltrain_tests::behave::{self, Cluster, Outcome};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mltrain");

/// One case at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// What the plugin would apply, with `--dry-run=client -o json` added before any `--`.
fn render(args: &[&str]) -> Vec<Value> {
    let mut a: Vec<&str> = args.to_vec();
    let at = a.iter().position(|w| *w == "--").unwrap_or(a.len());
    a.splice(at..at, ["--dry-run=client", "-o", "json"]);
    let out = Command::new(BIN)
        .args(&a)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run kubectl-mltrain");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    match v["kind"].as_str() {
        Some("List") => v["items"].as_array().expect("items").clone(),
        _ => vec![v],
    }
}

fn run_on(cluster: &Cluster, args: &[&str]) -> Outcome {
    let objects = render(args);
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = behave::run(cluster, &objects);
    eprintln!("{args:?}: {:.1}s\n{}", out.seconds, out.logs());
    out
}

fn run(args: &[&str]) -> Outcome {
    run_on(&Cluster::default(), args)
}

#[test]
fn pytorch_job_smoke_test_world_2() {
    let out = run(&["pytorch", "smoke", "--world-size", "2"]);
    assert!(out.succeeded(), "{}", out.report());
    let lines = out.lines_with("mltrain smoke test: world=2 backend=gloo allreduce=ok");
    assert_eq!(lines.len(), 1, "{}", out.report());
}
