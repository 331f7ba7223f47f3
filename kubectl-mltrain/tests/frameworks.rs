//! `kubectl mltrain deepspeed` and `mxnet`, run as users run them (no cluster): golden snapshots per
//! backend and launcher, every document through `validate-manifests`, hostfiles for 1, 3 and 512
//! workers, the generated SSH key pair checked by `ssh-keygen`, DMLC wiring, and usage errors.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mltrain");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The objects of a `-o json` run.
fn objects(args: &[&str]) -> Vec<Value> {
    let mut a = args.to_vec();
    // Before `--`: after it, everything belongs to the program.
    let at = a.iter().position(|w| *w == "--").unwrap_or(a.len());
    a.splice(at..at, ["--dry-run=client", "-o", "json"]);
    let (code, out, err) = run(&a);
    assert_eq!(code, 0, "{args:?}: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let docs = match v["kind"].as_str() {
        Some("List") => v["items"].as_array().unwrap().clone(),
        _ => vec![v],
    };
    let check = mltrain_tests::validate_manifests(&docs);
    assert!(check.ok, "{args:?}:\n{}", check.output);
    docs
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

/// The random key pair would make every snapshot differ.
fn redact(mut docs: Vec<Value>) -> String {
    for d in &mut docs {
        if d["kind"] == "Secret"
            && let Some(data) = d["stringData"].as_object_mut()
        {
            for v in data.values_mut() {
                *v = Value::from("<generated>");
            }
        }
    }
    serde_json::to_string_pretty(&docs).unwrap() + "\n"
}

fn snap(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn golden_per_backend_and_launcher() {
    let cases: &[(&str, &[&str])] = &[
        (
            "deepspeed-ssh-job",
            &[
                "deepspeed",
                "bert",
                "--workers",
                "3",
                "--gpus",
                "8",
                "--memory",
                "64Gi",
                "--env",
                "HF_HOME=/data/hf",
                "--setup",
                "pip install -e .",
                "--image",
                "ghcr.io/acme/ds:1.0",
                "--",
                "train.py",
                "--deepspeed_config",
                "ds.json",
            ],
        ),
        (
            "deepspeed-smoke-test",
            &["deepspeed", "smoke", "--workers", "2", "--gpus", "1"],
        ),
        (
            "deepspeed-mpijob",
            &[
                "deepspeed",
                "bert",
                "--backend",
                "mpijob",
                "--workers",
                "2",
                "--slots-per-node",
                "8",
                "--gpus",
                "8",
                "--",
                "train.py",
            ],
        ),
        (
            "deepspeed-torchrun-pytorchjob",
            &[
                "deepspeed",
                "bert",
                "--launcher",
                "torchrun",
                "--backend",
                "pytorchjob",
                "--world-size",
                "2",
                "--gpus",
                "8",
                "--",
                "train.py",
            ],
        ),
        (
            "deepspeed-torchrun-job",
            &[
                "deepspeed",
                "bert",
                "--launcher",
                "torchrun",
                "--world-size",
                "2",
                "--",
                "train.py",
            ],
        ),
        (
            "deepspeed-trainjob",
            &[
                "deepspeed",
                "bert",
                "--backend",
                "trainjob",
                "--world-size",
                "3",
                "--slots-per-node",
                "2",
                "--from-file",
                "tests/data/behave/ds_train.py",
                "--env",
                "TOKEN=secret:creds/token",
                "--env",
                "HF_HOME=/data/hf",
                "--queue",
                "q",
                "--",
                "ds_train.py",
                "--epochs",
                "2",
            ],
        ),
        (
            "deepspeed-trainjob-smoke-world-1",
            &[
                "deepspeed",
                "smoke",
                "--backend",
                "trainjob",
                "--world-size",
                "1",
                "--gpus",
                "1",
            ],
        ),
        (
            "mxnet-distributed",
            &[
                "mxnet",
                "resnet",
                "--servers",
                "2",
                "--workers",
                "3",
                "--gpus",
                "1",
                "--",
                "train.py",
                "--epochs",
                "2",
            ],
        ),
        (
            "mxnet-standalone",
            &["mxnet", "resnet", "--world-size", "1", "--", "train.py"],
        ),
    ];
    for (name, args) in cases {
        snap(name, &redact(objects(args)));
    }
}

#[test]
fn hostfiles_for_1_3_and_512_workers() {
    for n in [1u32, 3, 512] {
        let docs = objects(&[
            "deepspeed",
            "ds",
            "--workers",
            &n.to_string(),
            "--gpus",
            "4",
        ]);
        let hostfile = find(&docs, "ConfigMap", "ds-deepspeed")["data"]["hostfile"]
            .as_str()
            .unwrap()
            .to_string();
        let lines: Vec<&str> = hostfile.lines().collect();
        assert_eq!(lines.len(), n as usize);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(*l, format!("ds-worker-{i}.ds slots=4"));
        }
        assert_eq!(find(&docs, "Job", "ds-worker")["spec"]["parallelism"], n);
        assert_eq!(
            find(&docs, "Job", "ds")["spec"]["completions"],
            1,
            "one launcher"
        );
    }
    let docs = objects(&[
        "deepspeed",
        "ds",
        "--workers",
        "2",
        "--slots-per-node",
        "2",
        "--gpus",
        "8",
    ]);
    assert_eq!(
        find(&docs, "ConfigMap", "ds-deepspeed")["data"]["hostfile"],
        "ds-worker-0.ds slots=2\nds-worker-1.ds slots=2\n"
    );
}

#[test]
fn the_generated_ssh_key_pair_is_valid_openssh() {
    let docs = objects(&["deepspeed", "ds", "--workers", "2"]);
    let secret = find(&docs, "Secret", "ds-ssh");
    let data = &secret["stringData"];
    assert_eq!(data["authorized_keys"], data["id_ed25519.pub"]);
    let dir = mltrain_tests::scratch_dir("sshkey");
    let private = dir.join("id_ed25519");
    let public = dir.join("id_ed25519.pub");
    std::fs::write(&private, data["id_ed25519"].as_str().unwrap()).unwrap();
    std::fs::write(&public, data["id_ed25519.pub"].as_str().unwrap()).unwrap();
    std::process::Command::new("chmod")
        .arg("600")
        .arg(&private)
        .status()
        .unwrap();
    let fp = Command::new("ssh-keygen")
        .args(["-l", "-f"])
        .arg(&public)
        .output()
        .expect("ssh-keygen");
    assert!(
        fp.status.success(),
        "{}",
        String::from_utf8_lossy(&fp.stderr)
    );
    let fp = String::from_utf8_lossy(&fp.stdout);
    assert!(
        fp.starts_with("256 SHA256:") && fp.trim_end().ends_with("mltrain-ds (ED25519)"),
        "{fp}"
    );
    // The private key yields the same public key.
    let derived = Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(&private)
        .output()
        .unwrap();
    assert!(
        derived.status.success(),
        "{}",
        String::from_utf8_lossy(&derived.stderr)
    );
    let derived = String::from_utf8_lossy(&derived.stdout);
    let want = data["id_ed25519.pub"].as_str().unwrap();
    assert_eq!(
        derived.split_whitespace().take(2).collect::<Vec<_>>(),
        want.split_whitespace().take(2).collect::<Vec<_>>()
    );
    // Two jobs never share a key.
    let other = objects(&["deepspeed", "ds", "--workers", "2"]);
    assert_ne!(
        find(&other, "Secret", "ds-ssh")["stringData"]["id_ed25519"],
        data["id_ed25519"]
    );
}

#[test]
fn ssh_workers_and_launcher_are_wired() {
    let docs = objects(&["deepspeed", "ds", "--workers", "2", "--gpus", "8"]);
    let svc = find(&docs, "Service", "ds");
    assert_eq!(svc["spec"]["selector"]["mltrain.io/role"], "worker");
    assert_eq!(svc["spec"]["ports"][0]["port"], 2222);
    let worker = &find(&docs, "Job", "ds-worker")["spec"]["template"]["spec"];
    assert_eq!(worker["subdomain"], "ds");
    assert_eq!(
        worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"],
        "8"
    );
    assert_eq!(
        worker["securityContext"]["runAsNonRoot"], true,
        "sshd runs as non-root"
    );
    let launcher = &find(&docs, "Job", "ds")["spec"]["template"]["spec"];
    assert!(
        launcher["containers"][0]["resources"]["limits"]
            .get("nvidia.com/gpu")
            .is_none(),
        "the launcher needs no GPUs"
    );
    let cm = &find(&docs, "ConfigMap", "ds-deepspeed")["data"];
    for script in ["worker.sh", "launcher.sh"] {
        let s = cm[script].as_str().unwrap();
        assert!(
            s.contains("Port 2222\n"),
            "{script}: sshd and ssh on port 2222"
        );
        assert!(
            s.contains("ForceCommand /bin/bash $d/session.sh"),
            "{script}"
        );
    }
    assert!(
        cm["smoke.py"]
            .as_str()
            .unwrap()
            .contains("deepspeed.init_distributed"),
        "no program: the smoke test, under DeepSpeed's own initialisation"
    );
    assert!(cm["launcher.sh"].as_str().unwrap().contains(
        "deepspeed --hostfile /job/hostfile --launcher \"$launcher\" --force_multi --no_ssh_check --master_addr ds-worker-0.ds --master_port 29500 /job/smoke.py"
    ));
    for script in ["worker.sh", "launcher.sh"] {
        let dir = mltrain_tests::scratch_dir("bash-n");
        let file = dir.join(script);
        std::fs::write(&file, cm[script].as_str().unwrap()).unwrap();
        let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
        assert!(
            check.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn dmlc_wiring_for_1_scheduler_2_servers_3_workers() {
    let docs = objects(&["mxnet", "mx", "--servers", "2", "--workers", "3"]);
    // One Indexed Job: pod i runs worker i, server i for i < 2, and pod 0 the scheduler.
    let job = find(&docs, "Job", "mx");
    assert_eq!(job["spec"]["parallelism"], 3);
    assert_eq!(job["spec"]["backoffLimit"], 0);
    let env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let get = |n: &str| {
        env.iter()
            .find(|e| e["name"] == n)
            .unwrap_or_else(|| panic!("no {n}"))["value"]
            .clone()
    };
    assert_eq!(get("DMLC_PS_ROOT_URI"), "mx-0.mx");
    assert_eq!(get("DMLC_PS_ROOT_PORT"), "29500");
    assert_eq!(get("DMLC_NUM_SERVER"), "2");
    assert_eq!(get("DMLC_NUM_WORKER"), "3");
    assert_eq!(get("DMLC_USE_KUBERNETES"), "1");
    assert_eq!(
        find(&docs, "Service", "mx")["spec"]["selector"]["mltrain.io/job-name"],
        "mx"
    );
    let (code, _, err) = run(&[
        "mxnet",
        "x",
        "--servers",
        "4",
        "--workers",
        "3",
        "--dry-run=client",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "--servers \"4\": must be at most --workers (3): each server runs in a worker's pod"
        ),
        "{err}"
    );
}

#[test]
fn usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        // Another framework's flags and backends are not offered at all: clap refuses them.
        (
            &["pytorch", "x", "--servers", "2"],
            "error: unexpected argument '--servers' found",
        ),
        (
            &["mxnet", "x", "--slots-per-node", "2"],
            "error: unexpected argument '--slots-per-node' found",
        ),
        (
            &["mxnet", "x", "--launcher", "torchrun"],
            "error: unexpected argument '--launcher' found",
        ),
        (
            &["deepspeed", "x", "-f", "settings.yaml"],
            "error: unexpected argument '-f' found",
        ),
        // The Trainer's deepspeed-distributed runtime fixes uid 1000, which restricted-v2 refuses.
        (
            &[
                "deepspeed",
                "x",
                "--backend",
                "trainjob",
                "--openshift",
                "force",
            ],
            "error: --backend \"trainjob\": the Trainer's deepspeed-distributed runtime runs its pods as uid 1000, which OpenShift's restricted-v2 SCC refuses, so on OpenShift its pods would never start; use --launcher torchrun (the torch-distributed runtime), or --runtime with a DeepSpeed runtime of your own that fixes no uid",
        ),
        (
            &["mxnet", "x", "--servers", "0"],
            "error: --servers \"0\": must be at least 1 (a distributed MXNet job needs a parameter server)",
        ),
        (
            &["mxnet", "x", "--backend", "pytorchjob"],
            "error: invalid value 'pytorchjob' for '--backend <BACKEND>'",
        ),
        (
            &["deepspeed", "x", "--backend", "jobset"],
            "error: --backend \"jobset\": does not run deepspeed; use job, mpijob or trainjob, or --launcher torchrun for jobset, pytorchjob or appwrapper",
        ),
        (
            &[
                "deepspeed",
                "x",
                "--backend",
                "mpijob",
                "--launcher",
                "torchrun",
            ],
            "error: --backend \"mpijob\": does not run deepspeed; use job, mpijob or trainjob, or --launcher torchrun for jobset, pytorchjob or appwrapper",
        ),
        (
            &[
                "deepspeed",
                "x",
                "--backend",
                "trainjob",
                "--image",
                "ghcr.io/acme/ds:1",
            ],
            "error: --image \"ghcr.io/acme/ds:1\": the runtime's node pods keep the runtime's own image (spec.trainer.image reaches only its launcher), so the ranks would run in two images; use a ClusterTrainingRuntime of your own whose node and launcher jobs have it, passed with --runtime, or --launcher torchrun",
        ),
        (
            &[
                "deepspeed",
                "x",
                "--backend",
                "trainjob",
                "--setup",
                "pip install x",
            ],
            "error: --setup \"pip install x\": would run on the launcher pod only (the runtime's node pods run its sshd, never our script); put the commands in your program or the image, or use --launcher torchrun",
        ),
        (
            &[
                "deepspeed",
                "x",
                "--backend",
                "trainjob",
                "--run-as-user",
                "0",
            ],
            "error: --run-as-user \"0\": the runtime's sshd and SSH keys belong to its image's mpiuser (uid 1000); drop --run-as-user, or use a ClusterTrainingRuntime of your own whose node and launcher jobs have it, passed with --runtime, or --launcher torchrun",
        ),
        (
            &[
                "deepspeed",
                "x",
                "--backend",
                "trainjob",
                "--world-size",
                "2",
                "--gpus",
                "8",
            ],
            "error: --gpus/--cpus/--memory \"8\": spec.trainer.resourcesPerNode reaches only the runtime's launcher pod, not its node pods, so most ranks would run without them; use a ClusterTrainingRuntime of your own whose node and launcher jobs have it, passed with --runtime, or --launcher torchrun",
        ),
        (
            &["deepspeed", "x", "--slots-per-node", "0"],
            "error: --slots-per-node \"0\": must be at least 1",
        ),
    ];
    for (args, want) in cases {
        let mut a = args.to_vec();
        a.push("--dry-run=client");
        let (code, out, err) = run(&a);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(
            err.lines().any(|l| l == *want),
            "{args:?}:\nwant {want}\ngot  {err}"
        );
    }
}
