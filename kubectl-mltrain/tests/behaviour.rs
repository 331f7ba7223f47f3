//! The behavioural suite: what `kubectl mltrain` renders (after its local admission preview, exactly
//! what it would apply) is run by the model cluster of `mltrain_tests::behave`, pods as real processes
//! with real PyTorch, DeepSpeed and MXNet, and each case checks what the ranks print.
//!
//! Needs root and `tests/behave/install.sh` (`.ci/run` does both). Cases run one at a time: each
//! uses both cores.

use std::sync::Mutex;

use mltrain_tests::behave::{self, Cluster, Outcome};
use serde_json::Value;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mltrain");

/// One case at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// What the plugin would apply.
fn render(args: &[&str]) -> Vec<Value> {
    behave::render_with(BIN, args)
}

fn run_on(cluster: &Cluster, args: &[&str]) -> Outcome {
    let objects = render(args);
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = behave::run(cluster, &objects);
    eprintln!("{args:?}: {:.1}s\n{}", out.seconds, out.logs());
    out
}

fn run(args: &[&str]) -> Outcome {
    run_on(&cluster(), args)
}

/// A plain cluster with Kueue's LocalQueues `q` and `default-queue`, the Secret `creds` (key
/// `token`, six characters) that `--env TOKEN=secret:creds/token` names, and the Kubeflow Trainer's
/// default ClusterTrainingRuntimes.
fn cluster() -> Cluster {
    Cluster {
        local_queues: vec!["q".into(), "default-queue".into()],
        existing: [
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                              "stringData": {"token": "s3cret"}}),
        ]
        .into_iter()
        .chain(behave::trainer_runtimes())
        .collect(),
        ..Cluster::default()
    }
}

/// An MLBatch cluster: Kueue and the PriorityClasses MLBatch installs.
fn mlbatch() -> Cluster {
    let mut c = cluster();
    c.priority_classes
        .extend(["default-priority", "low-priority", "high-priority"].map(String::from));
    c
}

/// OpenShift: restricted-v2 with the namespace's uid range starting at 1000650000.
fn openshift() -> Cluster {
    Cluster {
        openshift_uid_start: Some(1_000_650_000),
        ..cluster()
    }
}

/// A file of `tests/data/behave`.
fn data(name: &str) -> String {
    format!("{}/tests/data/behave/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The run succeeded and each needle is in exactly `n` log lines.
fn expect_ok(out: &Outcome, needles: &[(&str, usize)]) {
    assert!(
        out.succeeded(),
        "the job did not succeed:\n{}",
        out.report()
    );
    expect_lines(out, needles);
}

/// The job failed, every pod ended, nothing hung, and each needle is in exactly `n` lines.
fn expect_failed(out: &Outcome, needles: &[(&str, usize)]) {
    assert!(
        out.failed_cleanly(),
        "the job did not fail cleanly:\n{}",
        out.report()
    );
    expect_lines(out, needles);
}

fn expect_lines(out: &Outcome, needles: &[(&str, usize)]) {
    for (needle, n) in needles {
        assert_eq!(
            out.count(needle),
            *n,
            "{needle:?} printed {n} times expected, got {:#?}\n{}",
            out.lines_with(needle),
            out.report()
        );
    }
}

/// The smoke test of `args` at each world size (`size_flag N`): rank 0 prints its line once.
fn expect_smoke(args: &[&str], size_flag: &str, sizes: &[&str]) {
    for n in sizes {
        let mut a = args.to_vec();
        a.extend([size_flag, n]);
        let out = run(&a);
        expect_ok(
            &out,
            &[(
                &format!("mltrain smoke test: world={n} backend=gloo allreduce=ok"),
                1,
            )],
        );
    }
}

// ---- PyTorch: the smoke test on every backend at world sizes 1, 2, 3

#[test]
fn pytorch_job_world_1() {
    expect_smoke(&["pytorch", "p1"], "--world-size", &["1"]);
}

#[test]
fn pytorch_job_world_2() {
    expect_smoke(&["pytorch", "p2"], "--world-size", &["2"]);
}

#[test]
fn pytorch_job_world_3() {
    expect_smoke(&["pytorch", "p3"], "--world-size", &["3"]);
}

#[test]
fn pytorch_jobset_world_1_and_3() {
    expect_smoke(
        &["pytorch", "js", "--backend", "jobset"],
        "--world-size",
        &["1", "3"],
    );
}

#[test]
fn pytorch_pytorchjob_world_1_and_2() {
    expect_smoke(
        &["pytorch", "ptj", "--backend", "pytorchjob"],
        "--world-size",
        &["1", "2"],
    );
}

#[test]
fn pytorch_appwrapper_world_2() {
    let out = run(&[
        "pytorch",
        "aw",
        "--backend",
        "appwrapper",
        "--queue",
        "q",
        "--world-size",
        "2",
    ]);
    expect_ok(
        &out,
        &[("mltrain smoke test: world=2 backend=gloo allreduce=ok", 1)],
    );
}

// ---- PyTorch: a user program (DDP) with --nproc-per-node 2, --from-file, --setup, --env secret

fn ddp(backend: &str, nproc: &str) -> Vec<String> {
    [
        "pytorch",
        "ddp",
        "--backend",
        backend,
        "--world-size",
        "2",
        "--nproc-per-node",
        nproc,
        "--from-file",
        &data("ddp_train.py"),
        "--setup",
        "echo setup ran on $(hostname)",
        "--env",
        "TOKEN=secret:creds/token",
        "--queue",
        "q",
        "--",
        "ddp_train.py",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn words(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn pytorch_ddp_program_job_nproc_2() {
    let out = run(&words(&ddp("job", "2")));
    expect_ok(
        &out,
        &[
            ("allreduce=ok", 4),
            ("/4 allreduce=ok user=", 4),
            ("token_len=6", 4),
            ("home_writable=True", 4),
            ("setup ran on ddp-", 2),
        ],
    );
}

#[test]
fn pytorch_ddp_program_pytorchjob_nproc_2() {
    let out = run(&words(&ddp("pytorchjob", "2")));
    expect_ok(
        &out,
        &[
            ("/4 allreduce=ok", 4),
            ("token_len=6", 4),
            ("home_writable=True", 4),
        ],
    );
}

#[test]
fn pytorch_ddp_program_jobset_and_appwrapper() {
    for backend in ["jobset", "appwrapper"] {
        let out = run(&words(&ddp(backend, "1")));
        expect_ok(
            &out,
            &[
                ("/2 allreduce=ok", 2),
                ("token_len=6", 2),
                ("home_writable=True", 2),
            ],
        );
    }
}

// ---- Policies and image models

/// The DDP program on `backend` with one GPU per pod under the hardened policy (read-only root,
/// NCCL_DEBUG): the policy's NCCL env and a writable home reach both ranks.
fn hardened_policy_reaches_every_rank(backend: &str) {
    let mut args = ddp(backend, "1");
    args.splice(
        1..1,
        [
            "--gpus".to_string(),
            "1".into(),
            "--policy-file".into(),
            data("policy-hardened.yaml"),
        ],
    );
    let out = run(&words(&args));
    expect_ok(
        &out,
        &[
            ("/2 allreduce=ok", 2),
            ("nccl=INFO", 2),
            ("home_writable=True", 2),
        ],
    );
}

#[test]
fn pytorch_hardened_policy_reaches_every_rank() {
    hardened_policy_reaches_every_rank("job");
}

/// The policy's NCCL env on a TrainJob goes to `spec.trainer.env` (the Trainer refuses env on the
/// `node` container of a runtime patch, which the Trainer model enforces) and reaches every rank.
#[test]
fn trainjob_hardened_policy_nccl_reaches_every_rank() {
    hardened_policy_reaches_every_rank("trainjob");
}

#[test]
fn pytorch_on_openshift() {
    let mut args = ddp("job", "1");
    args.splice(1..1, ["--openshift".to_string(), "force".into()]);
    let out = run_on(&openshift(), &words(&args));
    expect_ok(&out, &[("/2 allreduce=ok", 2), ("home_writable=True", 2)]);
}

#[test]
fn pytorch_image_that_names_the_uid() {
    let mut args = ddp("job", "1");
    args.splice(
        1..1,
        ["--image".to_string(), "mltrain.test/torch-named:1".into()],
    );
    let out = run(&words(&args));
    expect_ok(
        &out,
        &[
            ("/2 allreduce=ok user=deepspeed", 2),
            ("home_writable=True", 2),
        ],
    );
}

#[test]
fn mlbatch_settings_file() {
    // The chart's `priority` defaults to default-priority, which an MLBatch cluster has.
    let out = run_on(&mlbatch(), &["pytorch", "-f", &data("settings.yaml")]);
    expect_ok(
        &out,
        &[
            ("mlbatch rank", 2),
            ("of 2 hello", 2),
            ("setup ran on mlbatch-demo-", 2),
        ],
    );
}

// ---- A failing rank ends every layout: the job fails, every pod ends

fn failing(framework: &str, extra: &[&str]) -> Outcome {
    let mut args = vec![
        framework,
        "fails",
        "--world-size",
        "3",
        "--from-file",
        &data_fail(),
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "bash", "fail.sh"]);
    run(&args)
}

fn data_fail() -> &'static str {
    Box::leak(data("fail.sh").into_boxed_str())
}

#[test]
fn pytorch_failing_rank_on_every_backend() {
    for backend in [
        &["--backend", "job"][..],
        &["--backend", "jobset"],
        &["--backend", "pytorchjob"],
        &[
            "--backend",
            "appwrapper",
            "--queue",
            "q",
            "--failure-grace-period",
            "0s",
            "--retry-limit",
            "0",
        ],
    ] {
        let out = failing("pytorch", backend);
        expect_failed(&out, &[("rank 1 fails on purpose", 1)]);
    }
}

// ---- DeepSpeed: SSH launcher (job), torchrun, MPIJob

fn ds(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "deepspeed",
        "ds",
        "--workers",
        "2",
        "--from-file",
        &data("ds_train.py"),
        "--env",
        "TOKEN=secret:creds/token",
        "--setup",
        "echo setup ran on $(hostname)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend(["--".to_string(), "ds_train.py".into()]);
    v
}

#[test]
fn deepspeed_ssh_smoke_test() {
    expect_smoke(&["deepspeed", "dss"], "--workers", &["2"]);
}

#[test]
fn deepspeed_ssh_smoke_test_world_1_and_3() {
    expect_smoke(&["deepspeed", "dss"], "--workers", &["1", "3"]);
}

#[test]
fn deepspeed_ssh_program_default_image() {
    let out = run(&words(&ds(&[])));
    expect_ok(
        &out,
        &[
            ("deepspeed rank=", 2),
            ("/2 allreduce=ok", 2),
            ("token_len=6", 2),
            ("setup ran on ds-worker-", 2),
            ("setup ran on ds-", 3),
        ],
    );
    assert!(
        !out.logs().contains("s3cret"),
        "a secret value reached the logs:\n{}",
        out.logs()
    );
}

#[test]
fn deepspeed_ssh_program_every_image_model() {
    for image in [
        "mltrain.test/torch:1",
        "docker.io/bitnamilegacy/deepspeed:0.16.2",
        "ghcr.io/kubeflow/trainer/deepspeed-runtime",
    ] {
        let out = run(&words(&ds(&["--image", image])));
        expect_ok(
            &out,
            &[
                ("/2 allreduce=ok", 2),
                ("token_len=6", 2),
                ("home_writable=True", 2),
            ],
        );
    }
}

#[test]
fn deepspeed_ssh_hardened_policy_nccl_reaches_ranks() {
    let out = run(&words(&ds(&[
        "--gpus",
        "1",
        "--policy-file",
        &data("policy-hardened.yaml"),
    ])));
    expect_ok(&out, &[("/2 allreduce=ok", 2), ("nccl=INFO", 2)]);
}

#[test]
fn deepspeed_ssh_on_openshift() {
    let out = run_on(&openshift(), &words(&ds(&["--openshift", "force"])));
    expect_ok(&out, &[("/2 allreduce=ok", 2), ("home_writable=True", 2)]);
}

#[test]
fn deepspeed_torchrun() {
    let out = run(&words(&ds(&["--launcher", "torchrun"])));
    expect_ok(&out, &[("/2 allreduce=ok", 2), ("token_len=6", 2)]);
    let out = run(&[
        "deepspeed",
        "dst",
        "--workers",
        "2",
        "--launcher",
        "torchrun",
    ]);
    expect_ok(
        &out,
        &[("mltrain smoke test: world=2 backend=gloo allreduce=ok", 1)],
    );
}

#[test]
fn deepspeed_torchrun_on_jobset_pytorchjob_appwrapper() {
    for backend in ["jobset", "pytorchjob", "appwrapper"] {
        let out = run(&words(&ds(&[
            "--launcher",
            "torchrun",
            "--backend",
            backend,
            "--queue",
            "q",
            "--nproc-per-node",
            "2",
        ])));
        expect_ok(
            &out,
            &[
                ("/4 allreduce=ok", 4),
                ("token_len=6", 4),
                ("home_writable=True", 4),
            ],
        );
    }
}

#[test]
fn deepspeed_mpijob() {
    let out = run(&words(&ds(&["--backend", "mpijob"])));
    expect_ok(&out, &[("/2 allreduce=ok", 2), ("token_len=6", 2)]);
    let out = run(&["deepspeed", "dsm", "--workers", "2", "--backend", "mpijob"]);
    expect_ok(
        &out,
        &[("mltrain smoke test: world=2 backend=gloo allreduce=ok", 1)],
    );
}

#[test]
fn deepspeed_failing_rank_on_every_layout() {
    for extra in [
        &[][..],
        &["--launcher", "torchrun"],
        &["--backend", "mpijob"],
    ] {
        let mut args = vec![
            "deepspeed",
            "dsf",
            "--workers",
            "2",
            "--from-file",
            data_ds(),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--env", "FAIL_RANK=1", "--", "ds_train.py"]);
        let out = run(&args);
        expect_failed(&out, &[("rank 1 fails on purpose", 1)]);
    }
}

fn data_ds() -> &'static str {
    Box::leak(data("ds_train.py").into_boxed_str())
}

// ---- MXNet: parameter server (and standalone)

#[test]
fn mxnet_parameter_server_smoke_test() {
    let out = run(&["mxnet", "mx", "--workers", "2", "--servers", "1"]);
    expect_ok(
        &out,
        &[(
            "mltrain smoke test: workers=2 kvstore=dist_sync push/pull=ok",
            1,
        )],
    );
}

#[test]
fn mxnet_parameter_server_program() {
    let out = run(&[
        "mxnet",
        "mxp",
        "--workers",
        "3",
        "--servers",
        "2",
        "--from-file",
        &data("kv_train.py"),
        "--env",
        "TOKEN=secret:creds/token",
        "--",
        "kv_train.py",
    ]);
    expect_ok(&out, &[("/3 servers=2 sum=ok", 3), ("token_len=6", 3)]);
}

#[test]
fn mxnet_hardened_policy_on_openshift() {
    let out = run_on(
        &openshift(),
        &[
            "mxnet",
            "mxh",
            "--workers",
            "2",
            "--servers",
            "2",
            "--openshift",
            "force",
            "--policy-file",
            &data("policy-hardened.yaml"),
            "--from-file",
            &data("kv_train.py"),
            "--",
            "kv_train.py",
        ],
    );
    expect_ok(&out, &[("/2 servers=2 sum=ok", 2)]);
}

#[test]
fn mxnet_standalone() {
    let out = run(&["mxnet", "mx1", "--workers", "1"]);
    expect_ok(
        &out,
        &[(
            "mltrain smoke test: workers=1 kvstore=local push/pull=ok",
            1,
        )],
    );
}

#[test]
fn mxnet_failing_worker() {
    let out = run(&[
        "mxnet",
        "mxf",
        "--workers",
        "2",
        "--from-file",
        &data("kv_train.py"),
        "--env",
        "FAIL_RANK=1",
        "--",
        "kv_train.py",
    ]);
    expect_failed(&out, &[("worker 1 fails on purpose", 1)]);
}

// ---- Kubeflow Trainer v2: TrainJobs on the torch-distributed runtime

#[test]
fn trainjob_pytorch_smoke_world_1_to_3() {
    expect_smoke(
        &["pytorch", "tj", "--backend", "trainjob"],
        "--world-size",
        &["1", "2", "3"],
    );
}

#[test]
fn trainjob_pytorch_ddp_program_world_1_to_3() {
    for (n, nproc) in [("1", "2"), ("2", "1"), ("3", "1")] {
        let mut args = ddp("trainjob", nproc);
        let at = args.iter().position(|a| a == "--world-size").unwrap() + 1;
        args[at] = n.to_string();
        let ranks = n.parse::<usize>().unwrap() * nproc.parse::<usize>().unwrap();
        let out = run(&words(&args));
        expect_ok(
            &out,
            &[
                (&format!("/{ranks} allreduce=ok user="), ranks),
                ("token_len=6", ranks),
                ("home_writable=True", ranks),
                ("setup ran on ddp-node-0-", n.parse().unwrap()),
            ],
        );
    }
}

#[test]
fn trainjob_deepspeed_torchrun() {
    let out = run(&words(&ds(&[
        "--launcher",
        "torchrun",
        "--backend",
        "trainjob",
        "--queue",
        "q",
    ])));
    expect_ok(
        &out,
        &[
            ("/2 allreduce=ok", 2),
            ("token_len=6", 2),
            ("home_writable=True", 2),
        ],
    );
}

// ---- Kubeflow Trainer v2: DeepSpeed on the deepspeed-distributed (MPI) runtime

/// `ds_train.py` on `deepspeed-distributed` at world size `n`, with the secret `TOKEN`.
fn ds_mpi(n: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "deepspeed",
        "dsm",
        "--backend",
        "trainjob",
        "--world-size",
        n,
        "--from-file",
        data_ds(),
        "--env",
        "TOKEN=secret:creds/token",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend(["--".to_string(), "ds_train.py".into()]);
    v
}

#[test]
fn trainjob_deepspeed_mpi_smoke_world_1_to_3() {
    expect_smoke(
        &["deepspeed", "tjd", "--backend", "trainjob"],
        "--world-size",
        &["1", "2", "3"],
    );
}

#[test]
fn trainjob_deepspeed_mpi_program_secret_reaches_every_rank() {
    for n in ["1", "3"] {
        let out = run(&words(&ds_mpi(n, &[])));
        let ranks = n.parse().unwrap();
        expect_ok(
            &out,
            &[
                (&format!("/{n} allreduce=ok user=mpiuser"), ranks),
                ("token_len=6", ranks),
                ("home_writable=True", ranks),
            ],
        );
        // DeepSpeed logs its mpirun line: the secret is forwarded by name only.
        expect_lines(&out, &[("-x TOKEN", 1)]);
        assert!(
            !out.logs().contains("s3cret"),
            "a secret value reached the logs:\n{}",
            out.logs()
        );
    }
}

/// A read-only root filesystem (the hardened policy) on the runtime's sshd pods and the launcher.
#[test]
fn trainjob_deepspeed_mpi_hardened_policy() {
    let policy = data("policy-hardened.yaml");
    let out = run(&words(&ds_mpi("2", &["--policy-file", &policy])));
    expect_ok(
        &out,
        &[
            ("/2 allreduce=ok user=mpiuser", 2),
            ("token_len=6", 2),
            ("home_writable=True", 2),
        ],
    );
}

#[test]
fn trainjob_deepspeed_mpi_failing_rank_fails_the_trainjob() {
    let out = run(&words(&ds_mpi("2", &["--env", "FAIL_RANK=1"])));
    assert!(
        out.failed_cleanly(),
        "the TrainJob did not fail cleanly:\n{}",
        out.report()
    );
    assert_eq!(
        out.workloads,
        [("TrainJob/dsm".to_string(), behave::End::Failed)]
    );
    // The runtime restarts its launcher in place until the Job's backoffLimit: one failure a run.
    assert!(
        out.count("rank 1 fails on purpose") >= 1,
        "{}",
        out.report()
    );
}
