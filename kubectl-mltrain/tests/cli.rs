//! The plugin binary as users run it, without a cluster: golden snapshots (exit code, stdout and stderr
//! together) for representative flag sets on every backend and for MLBatch settings files; every
//! rendered document checked by `validate-manifests`; world sizes 1, 2, 4 and 4096; every usage error
//! with its exact message; a policy refusal; discovery by the real kubectl.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mltrain");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn snapshot(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Run with no kubeconfig, so the result never depends on the machine's cluster.
fn run(args: &[&str]) -> Run {
    let home = std::env::temp_dir().join("mltrain-cli-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(BIN)
        .args(args)
        .current_dir(data(""))
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", &home)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn validate_yaml(text: &str) -> Vec<Value> {
    let docs = mltrain_tests::yaml_docs(text);
    assert!(!docs.is_empty(), "no documents in:\n{text}");
    let v = mltrain_tests::validate_manifests(&docs);
    assert!(v.ok, "{}\n{text}", v.output);
    docs
}

fn snap(name: &str, r: &Run) {
    insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, r.snapshot());
    });
}

const FULL: &[&str] = &[
    "--world-size",
    "4",
    "--gpus",
    "8",
    "--cpus",
    "16",
    "--memory",
    "128Gi",
    "--memory-limit",
    "160Gi",
    "--ephemeral-storage",
    "10Gi",
    "--env",
    "A=b=c,d",
    "--env",
    "HF_TOKEN=secret:hf/token",
    "--env",
    "CFG=configmap:cfg/key",
    "--env-from-secret",
    "s3-creds",
    "--env-from-configmap",
    "settings",
    "--volume",
    "datasets:/data:ro",
    "--volume",
    "ckpt:/ckpt",
    "--scratch",
    "500Gi:/scratch",
    "--scratch-storage-class",
    "local-nvme",
    "--shm-size",
    "64Gi",
    "--setup",
    "pip install -r requirements.txt",
    "--setup",
    "echo \"rank $RANK\"",
    "--from-file",
    "code",
    "--configmap",
    "extra",
    "--image",
    "ghcr.io/acme/train:1.2",
    "--image-pull-secret",
    "regcred",
    "--image-pull-policy",
    "Always",
    "--node-selector",
    "pool=a100",
    "--toleration",
    "nvidia.com/gpu:NoSchedule",
    "--toleration",
    "pool=a100:NoExecute",
    "--anti-affinity",
    "hard",
    "--label",
    "team=ml",
    "--annotation",
    "owner=alice",
    "--queue",
    "team-queue",
    "--priority",
    "low-priority",
    "--host-ignore",
    "gpu-node-7",
    "--host-ignore",
    "gpu-node-9",
    "--roce-gdr",
    "2",
    "--multi-nic-network",
    "roce-net",
    "--nccl-env-configmap",
    "nccl-env",
    "--topology-configmap",
    "topo",
    "--restart-policy",
    "OnFailure",
    "--max-restarts",
    "3",
    "--active-deadline",
    "2d",
    "--termination-grace-period",
    "60",
    "--run-as-user",
    "2000",
    "--service-account",
    "trainer",
    "-n",
    "ml-team",
    "--dry-run=client",
    "-o",
    "yaml",
];

fn full(name: &str, backend: &str) -> Vec<String> {
    let mut a: Vec<String> = ["pytorch", name, "--backend", backend]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(FULL.iter().map(|s| s.to_string()));
    if backend == "appwrapper" {
        a.extend(
            [
                "--failure-grace-period",
                "1d",
                "--retry-limit",
                "2",
                "--success-ttl",
                "90m",
            ]
            .map(String::from),
        );
    }
    a.extend(["--", "train.py", "--epochs", "3", "--note", "it's fine"].map(String::from));
    a
}

#[test]
fn golden_default_job() {
    let r = run(&[
        "pytorch",
        "demo",
        "--world-size",
        "4",
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    validate_yaml(&r.stdout);
    snap("default-job", &r);
}

#[test]
fn golden_every_flag_on_every_backend() {
    for backend in ["job", "jobset", "pytorchjob", "appwrapper"] {
        let args = full(&format!("full-{backend}"), backend);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        assert_eq!(r.code, 0, "{backend}: {}", r.stderr);
        validate_yaml(&r.stdout);
        snap(&format!("full-{backend}"), &r);
    }
}

#[test]
fn golden_mlbatch_settings() {
    for f in ["metadata-resources-env", "roce-topology-nvme", "minimal"] {
        let path = data(&format!("settings/{f}.yaml"));
        let r = run(&[
            "pytorch",
            "-f",
            path.to_str().unwrap(),
            "--dry-run=client",
            "-o",
            "yaml",
        ]);
        assert_eq!(r.code, 0, "{f}: {}", r.stderr);
        let docs = validate_yaml(&r.stdout);
        assert_eq!(
            docs.last().unwrap()["kind"],
            "AppWrapper",
            "{f}: settings files default to the AppWrapper backend"
        );
        snap(&format!("settings-{f}"), &r);
    }
}

#[test]
fn mlbatch_settings_render_what_the_generator_makes() {
    let r = run(&[
        "pytorch",
        "-f",
        data("settings/metadata-resources-env.yaml")
            .to_str()
            .unwrap(),
        "--dry-run=client",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let aw: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        aw["metadata"]["labels"]["kueue.x-k8s.io/queue-name"],
        "team-queue"
    );
    assert_eq!(aw["metadata"]["labels"]["cost-center"], "6");
    let pj = &aw["spec"]["components"][0]["template"];
    assert_eq!(pj["kind"], "PyTorchJob");
    assert_eq!(pj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"], 3);
    let c = &pj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0];
    assert_eq!(c["name"], "pytorch");
    assert_eq!(c["resources"]["requests"]["cpu"], "500m");
    assert_eq!(c["resources"]["limits"]["cpu"], "2");
    assert_eq!(c["resources"]["limits"]["memory"], "2Gi");
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "8");
    let env = c["env"].as_array().unwrap();
    assert!(env.contains(&serde_json::json!({"name": "EXAMPLE_VAR1", "value": "6"})));
    assert!(env.contains(&serde_json::json!({"name": "EXAMPLE_VAR3", "valueFrom": {"secretKeyRef": {"name": "my-secret-name", "key": "my-secret-key"}}})));
    assert!(env.contains(&serde_json::json!({"name": "GIT_SSH_COMMAND", "value": "ssh -i /tmp/.ssh/keys/id_rsa -o UserKnownHostsFile=/tmp/.ssh/hosts/known_hosts -vv"})));
    let script = c["command"][2].as_str().unwrap();
    assert!(
        script.contains(
            "git clone https://github.com/dbarnett/python-helloworld\ncd python-helloworld\n"
        ),
        "{script}"
    );
    assert!(
        script.contains("--nproc_per_node=8"),
        "numGpusPerPod is torchrun's --nproc_per_node"
    );
    assert!(
        script
            .trim_end()
            .ends_with("helloworld.py --name $EXAMPLE_VAR2"),
        "{script}"
    );

    let r = run(&[
        "pytorch",
        "-f",
        data("settings/roce-topology-nvme.yaml").to_str().unwrap(),
        "--dry-run=client",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let aw: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        aw["metadata"]["labels"]
            .get("kueue.x-k8s.io/queue-name")
            .is_none(),
        "queueName: null means no queue"
    );
    let ann = &aw["metadata"]["annotations"];
    for (k, v) in [
        ("admissionGracePeriodDuration", "1m"),
        ("warmupGracePeriodDuration", "24h"),
        ("failureGracePeriodDuration", "1h30m"),
        ("retryPausePeriodDuration", "30s"),
        ("retryLimit", "5"),
        ("forcefulDeletionGracePeriodDuration", "10m"),
        ("deletionOnFailureGracePeriodDuration", "0s"),
        ("successTTLDuration", "48h"),
    ] {
        assert_eq!(
            ann[format!("workload.codeflare.dev.appwrapper/{k}")],
            v,
            "{k}"
        );
    }
    let pod = &aw["spec"]["components"][0]["template"]["spec"]["pytorchReplicaSpecs"]["Master"]["template"];
    let spec = &pod["spec"];
    assert_eq!(spec["terminationGracePeriodSeconds"], 0);
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(
        pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"],
        "multi-nic-cni-operator-ipvlanl3"
    );
    let c = &spec["containers"][0];
    assert_eq!(c["resources"]["limits"]["nvidia.com/roce_gdr"], "2");
    assert_eq!(
        c["securityContext"]["capabilities"]["add"],
        serde_json::json!(["IPC_LOCK"])
    );
    assert!(c["env"].as_array().unwrap().contains(&serde_json::json!({"name": "NCCL_TOPO_FILE", "value": "/var/run/nvidia-topologyd/virtualTopology.xml"})));
    assert!(c["env"].as_array().unwrap().contains(
        &serde_json::json!({"name": "NVME_MOUNT_PATH", "value": "/workspace/scratch-nvme"})
    ));
    assert!(
        c["envFrom"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"configMapRef": {"name": "nccl-netwk-env-vars"}}))
    );
    let mounts = c["volumeMounts"].as_array().unwrap();
    assert!(
        !mounts.iter().any(|m| m["mountPath"] == "/dev/shm"),
        "disableSharedMemory"
    );
    assert_eq!(spec["initContainers"][0]["name"], "init-data");
    let exprs = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0]["matchExpressions"];
    // As the generator (1.1.12, templates/_helpers.tpl mlbatch.schedulingSpec): GPU health always,
    // the host list in the same term.
    assert_eq!(
        exprs[0],
        serde_json::json!({"key": "autopilot.ibm.com/gpuhealth", "operator": "NotIn", "values": ["ERR", "TESTING", "EVICT"]})
    );
    assert!(exprs.as_array().unwrap().contains(&serde_json::json!({"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["a100-13-node", "a100-14-node"]})));
    // autopilotHealthChecks are pod labels that make Autopilot run its pre-flight checks.
    assert_eq!(pod["metadata"]["labels"]["autopilot"], "");
    assert_eq!(pod["metadata"]["labels"]["pciebw"], "");
    // mountNVMe uses the generator's storage class.
    let nvme = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v.get("ephemeral").is_some())
        .unwrap();
    assert_eq!(
        nvme["ephemeral"]["volumeClaimTemplate"]["spec"]["storageClassName"],
        "odf-lvm-vg1"
    );
}

#[test]
fn settings_errors_name_the_file_and_the_key() {
    let dir = std::env::temp_dir().join("mltrain-settings-errors");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("settings.yaml"),
        "jobName: 123Job\ncontainerImage: busybox\nnumPods: 0\nautopilotHealthChecks: [bad key]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["pytorch", "-f", "settings.yaml", "--dry-run=client"])
        .current_dir(&dir)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    for line in [
        "error: settings.yaml: jobName: \"123Job\": a job name must be a DNS-1035 label",
        "error: settings.yaml: numPods: \"0\": must be at least 1",
        "error: settings.yaml: autopilotHealthChecks \"bad key\": not a label key",
    ] {
        assert!(err.contains(line), "{line}\nnot in\n{err}");
    }
    // A flag that fixes the file's value wins, and a flag's own error names the flag.
    let out = Command::new(BIN)
        .args([
            "pytorch",
            "-f",
            "settings.yaml",
            "good-name",
            "--world-size",
            "2",
            "--memory",
            "lots",
            "--dry-run=client",
        ])
        .current_dir(&dir)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !err.contains("jobName") && !err.contains("numPods"),
        "{err}"
    );
    assert!(
        err.contains("error: --memory \"lots\": not a quantity"),
        "{err}"
    );
}

/// A bad AppWrapper setting is reported under what the user wrote: the flag, or the settings
/// file's key (both come from the model's one table of the settings).
#[test]
fn appwrapper_settings_name_the_flag_or_the_files_key() {
    let r = run(&[
        "pytorch",
        "x",
        "--backend",
        "appwrapper",
        "--failure-grace-period",
        "1y",
        "--dry-run=client",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l
            == "error: --failure-grace-period \"1y\": not a duration: the unit is unknown; write e.g. 90s, 30m, 1h30m or 2d"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "pytorch",
        "-f",
        "settings/bad-appwrapper.yaml",
        "--dry-run=client",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for line in [
        "error: settings/bad-appwrapper.yaml: failureGracePeriodDuration: \"1y\": not a duration: the unit is unknown; write e.g. 90s, 30m, 1h30m or 2d",
        "error: settings/bad-appwrapper.yaml: retryLimit: \"many\": must be a whole number",
    ] {
        assert!(
            r.stderr.lines().any(|l| l == line),
            "{line}\nnot in\n{}",
            r.stderr
        );
    }
    // A flag's value replaces the file's, and is judged as the flag's.
    let r = run(&[
        "pytorch",
        "-f",
        "settings/bad-appwrapper.yaml",
        "--failure-grace-period",
        "2d",
        "--retry-limit",
        "2",
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = validate_yaml(&r.stdout);
    let ann = &docs.last().unwrap()["metadata"]["annotations"];
    assert_eq!(
        ann["workload.codeflare.dev.appwrapper/failureGracePeriodDuration"],
        "48h"
    );
    assert_eq!(ann["workload.codeflare.dev.appwrapper/retryLimit"], "2");
}

#[test]
fn flags_override_the_settings_file() {
    let path = data("settings/minimal.yaml");
    let r = run(&[
        "pytorch",
        "-f",
        path.to_str().unwrap(),
        "--world-size",
        "3",
        "--backend",
        "pytorchjob",
        "--dry-run=client",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pj: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(pj["kind"], "PyTorchJob");
    assert_eq!(pj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"], 2);
    assert_eq!(
        pj["metadata"]["labels"]["kueue.x-k8s.io/queue-name"],
        "default-queue"
    );
}

#[test]
fn world_sizes_on_every_backend() {
    for backend in ["job", "jobset", "pytorchjob", "appwrapper"] {
        for n in ["1", "2", "4", "4096"] {
            let r = run(&[
                "pytorch",
                "ws",
                "--backend",
                backend,
                "--world-size",
                n,
                "--gpus",
                "8",
                "--dry-run=client",
                "-o",
                "json",
            ]);
            assert_eq!(r.code, 0, "{backend} {n}: {}", r.stderr);
            let v: Value = serde_json::from_str(&r.stdout).unwrap();
            let docs = match v["kind"].as_str() {
                Some("List") => v["items"].as_array().unwrap().clone(),
                _ => vec![v],
            };
            let n: u64 = n.parse().unwrap();
            let work = docs.last().unwrap();
            let pods = match backend {
                "job" => work["spec"]["parallelism"].as_u64().unwrap(),
                "jobset" => work["spec"]["replicatedJobs"][0]["template"]["spec"]["parallelism"]
                    .as_u64()
                    .unwrap(),
                _ => {
                    let pj = if backend == "appwrapper" {
                        &work["spec"]["components"][0]["template"]
                    } else {
                        work
                    };
                    let specs = &pj["spec"]["pytorchReplicaSpecs"];
                    assert_eq!(
                        specs.get("Worker").is_some(),
                        n > 1,
                        "{backend} {n}: a Worker only with more than one pod"
                    );
                    specs
                        .as_object()
                        .unwrap()
                        .values()
                        .map(|r| r["replicas"].as_u64().unwrap())
                        .sum()
                }
            };
            assert_eq!(pods, n, "{backend}");
            validate_yaml(
                &serde_json::to_string(&docs.iter().collect::<Vec<_>>())
                    .map(|_| {
                        docs.iter()
                            .map(|d| serde_json::to_string(d).unwrap())
                            .collect::<Vec<_>>()
                            .join("\n---\n")
                    })
                    .unwrap(),
            );
        }
    }
}

#[test]
fn output_formats() {
    let r = run(&["pytorch", "fmt", "--dry-run=client", "-o", "name"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "service/fmt\njob.batch/fmt\n")
    );
    let r = run(&["pytorch", "fmt", "--dry-run=client"]);
    assert_eq!(
        r.stdout,
        "service/fmt created (dry run)\njob.batch/fmt created (dry run)\n"
    );
    let r = run(&["pytorch", "fmt", "--dry-run=client", "-o", "json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["kind"], "List");
    let r = run(&["pytorch", "--dry-run=client", "-o", "name"]);
    let name = r
        .stdout
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("service/")
        .to_string();
    assert!(
        name.starts_with("pytorch-") && name.len() == 13,
        "default name {name}"
    );
}

#[test]
fn every_usage_error_names_the_flag_the_value_and_the_fix() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["pytorch", "Bad_Name", "--dry-run=client"],
            "error: NAME \"Bad_Name\": a job name must be a DNS-1035 label of at most 50 characters (lowercase letters, digits, '-', starting with a letter): it contains 'B'; only lowercase letters, digits and '-' are allowed",
        ),
        (
            &["pytorch", "x", "--world-size", "0", "--dry-run=client"],
            "error: --world-size \"0\": must be at least 1",
        ),
        (
            &[
                "pytorch",
                "x",
                "--wait",
                "--timeout",
                "soon",
                "--dry-run=client",
            ],
            "error: --timeout \"soon\": each unit needs a whole number before it; use e.g. 90s, 10m or 2h",
        ),
        (
            &[
                "pytorch",
                "llama-3-70b-instruct-finetune-experiment-00042",
                "--backend",
                "jobset",
                "--world-size",
                "4",
                "--dry-run=client",
            ],
            "error: NAME \"llama-3-70b-instruct-finetune-experiment-00042\": too long for the jobset backend at world size 4: the JobSet's pod name (with its 5-character suffix) would be \"llama-3-70b-instruct-finetune-experiment-00042-workers-0-3-abcde\" (64 characters, more than 63); use a name of at most 45 characters",
        ),
        (
            &["pytorch", "x", "--memory", "lots", "--dry-run=client"],
            "error: --memory \"lots\": not a quantity: does not start with a number; use e.g. 500m, 2, 1.5Gi or 200M",
        ),
        (
            &[
                "pytorch",
                "x",
                "--cpus",
                "4",
                "--cpu-limit",
                "2",
                "--dry-run=client",
            ],
            "error: --cpu-limit \"2\": is below --cpus 4; raise it to at least 4",
        ),
        (
            &[
                "pytorch",
                "x",
                "--gpus",
                "8",
                "--gpu-limit",
                "4",
                "--dry-run=client",
            ],
            "error: --gpu-limit \"4\": must equal --gpus (8): GPUs cannot be shared, so request and limit are the same",
        ),
        (
            &[
                "pytorch",
                "x",
                "--nproc-per-node",
                "many",
                "--dry-run=client",
            ],
            "error: --nproc-per-node \"many\": expected a whole number or auto",
        ),
        (
            &["pytorch", "x", "--env", "=v", "--dry-run=client"],
            "error: --env \"=v\": expected KEY=VALUE",
        ),
        (
            &[
                "pytorch",
                "x",
                "--env",
                "T=secret:only-name",
                "--dry-run=client",
            ],
            "error: --env \"T=secret:only-name\": expected T=secret:NAME/KEY",
        ),
        (
            &["pytorch", "x", "--env", "1X=a", "--dry-run=client"],
            "error: --env \"1X\": not a variable name: it must not start with a digit",
        ),
        (
            &["pytorch", "x", "--volume", "data", "--dry-run=client"],
            "error: --volume \"data\": expected CLAIM:MOUNTPATH or CLAIM:MOUNTPATH:ro",
        ),
        (
            &["pytorch", "x", "--volume", "data:rel", "--dry-run=client"],
            "error: --volume \"rel\": must be an absolute path (start with /)",
        ),
        (
            &["pytorch", "x", "--toleration", "gpu", "--dry-run=client"],
            "error: --toleration \"gpu\": expected KEY[=VALUE]:EFFECT, e.g. nvidia.com/gpu:NoSchedule",
        ),
        (
            &[
                "pytorch",
                "x",
                "--toleration",
                "gpu:Sometimes",
                "--dry-run=client",
            ],
            "error: --toleration \"Sometimes\": the effect must be NoSchedule, PreferNoSchedule or NoExecute",
        ),
        (
            &[
                "pytorch",
                "x",
                "--host-ignore",
                "Node_1",
                "--dry-run=client",
            ],
            "error: --host-ignore \"Node_1\": not a valid node name: it contains 'N'; only lowercase letters, digits and '-' are allowed",
        ),
        (
            &[
                "pytorch",
                "x",
                "--roce-gdr",
                "2",
                "--gpus",
                "8",
                "--dry-run=client",
            ],
            "error: --roce-gdr \"2\": RoCE GDR only helps between pods; use --world-size 2 or more, or drop it",
        ),
        (
            &[
                "pytorch",
                "x",
                "--shm-size",
                "1Gi",
                "--no-shm",
                "--dry-run=client",
            ],
            "error: --shm-size \"1Gi\": conflicts with --no-shm; drop one of them",
        ),
        (
            &[
                "pytorch",
                "x",
                "--active-deadline",
                "soon",
                "--dry-run=client",
            ],
            "error: --active-deadline \"soon\": each unit needs a whole number before it; write e.g. 12h or 2d",
        ),
        (
            // PyTorch's --backend offers only its own backends, so clap refuses the rest.
            &["pytorch", "x", "--backend", "mpijob", "--dry-run=client"],
            "error: invalid value 'mpijob' for '--backend <BACKEND>'",
        ),
        (
            &[
                "pytorch",
                "x",
                "--from-file",
                "/nonexistent/dir",
                "--dry-run=client",
            ],
            "error: --from-file \"/nonexistent/dir\": cannot read it: No such file or directory (os error 2)",
        ),
        (
            &[
                "pytorch",
                "x",
                "--topology-configmap",
                "t",
                "--env",
                "NCCL_TOPO_FILE=/x",
                "--dry-run=client",
            ],
            "error: --env \"NCCL_TOPO_FILE\": conflicts with --topology-configmap, which sets NCCL_TOPO_FILE; drop one of them",
        ),
        (
            &[
                "pytorch",
                "x",
                "--policy-file",
                "/nonexistent/p.yaml",
                "--dry-run=client",
            ],
            "error: --policy-file \"/nonexistent/p.yaml\": cannot read it: No such file or directory (os error 2)",
        ),
    ];
    for (args, want) in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(
            r.stderr.lines().any(|l| l == *want),
            "{args:?}:\nwant {want}\ngot  {}",
            r.stderr
        );
    }
    // Several problems are reported together.
    let r = run(&[
        "pytorch",
        "x",
        "--world-size",
        "0",
        "--memory",
        "lots",
        "--dry-run=client",
    ]);
    assert_eq!(
        r.stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count(),
        2,
        "{}",
        r.stderr
    );
    // Settings files: an unknown key is an error that names it.
    let r = run(&[
        "pytorch",
        "-f",
        data("settings/unknown-key.yaml").to_str().unwrap(),
        "--dry-run=client",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown field `numGPUsPerPod`, expected one of"),
        "{}",
        r.stderr
    );
    // Clap's own errors also exit 2.
    let r = run(&["pytorch", "x", "--restart-policy", "Sometimes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("[possible values: Never, OnFailure]"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_job_the_policy_refuses_stops_here_with_exit_1() {
    let dir = mltrain_tests::scratch_dir("cli-policy");
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        "resources: {maxGpusPerPod: 4}\npriority: {allowed: [default-priority]}\n",
    )
    .unwrap();
    let r = run(&[
        "pytorch",
        "big",
        "--gpus",
        "8",
        "--priority",
        "low-priority",
        "--policy-file",
        policy.to_str().unwrap(),
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    snap("policy-refusal", &r);
}

/// `kubectl mltrain <framework> --help` offers that framework's flags and backends only (golden, at
/// 100 columns).
#[test]
fn help_offers_only_the_frameworks_flags_and_backends() {
    let help = |framework: &str| {
        let out = Command::new(BIN)
            .args([framework, "--help"])
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let (pytorch, deepspeed, mxnet) = (help("pytorch"), help("deepspeed"), help("mxnet"));
    for flag in ["--servers", "--launcher", "--slots-per-node", "- mpijob"] {
        assert!(!pytorch.contains(flag), "pytorch offers {flag}");
    }
    for flag in ["--servers", "--filename"] {
        assert!(!deepspeed.contains(flag), "deepspeed offers {flag}");
    }
    for flag in [
        "--launcher",
        "--slots-per-node",
        "--nproc-per-node",
        "--filename",
        "--runtime",
        "--retry-limit",
        "- jobset",
        "- pytorchjob",
        "- appwrapper",
        "- trainjob",
    ] {
        assert!(!mxnet.contains(flag), "mxnet offers {flag}");
    }
    assert!(deepspeed.contains("- mpijob") && deepspeed.contains("--launcher <LAUNCHER>"));
    assert!(mxnet.contains("--servers <N>") && mxnet.contains("[alias: --workers]"));
    for (name, text) in [
        ("help-pytorch", &pytorch),
        ("help-deepspeed", &deepspeed),
        ("help-mxnet", &mxnet),
    ] {
        insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(name, text);
        });
    }
}

/// A client dry-run previews offline when no kubeconfig exists (the notes say so), and says why when
/// one exists but cannot be used; anything else without a cluster fails, with the prefix once.
#[test]
fn connection_problems_are_reported() {
    let dir = mltrain_tests::scratch_dir("cli-kubeconfig");
    let config = dir.join("config");
    std::fs::write(
        &config,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n\
         users: [{name: u, user: {token: x}}]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "pytorch",
            "x",
            "--context",
            "nope",
            "--dry-run=client",
            "-o",
            "name",
        ])
        .env("KUBECONFIG", &config)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("note: previewing without the cluster: no cluster configured: failed to load current context: nope\n"),
        "{err}"
    );
    let r = run(&["pytorch", "x", "--dry-run=client", "-o", "name"]);
    assert!(
        !r.stderr.contains("previewing without the cluster"),
        "{}",
        r.stderr
    );
    let r = run(&["pytorch", "x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: no cluster configured: ")
            && r.stderr.ends_with(
                "; set up kubectl (kubectl config current-context) or use --dry-run=client\n"
            )
            && r.stderr.matches("error: ").count() == 1,
        "{}",
        r.stderr
    );
}

#[test]
fn help_reads_kubectl_mltrain() {
    let r = run(&["pytorch", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("Create a distributed PyTorch job (torchrun)\n\nUsage: kubectl mltrain pytorch [OPTIONS] [NAME] [-- <PROGRAM [ARGS]>...]"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("kubectl mltrain pytorch --world-size 4 --dry-run=client -o yaml")
    );
}

#[test]
fn from_file_packs_a_directory() {
    let r = run(&[
        "pytorch",
        "packed",
        "--from-file",
        "code",
        "--dry-run=client",
        "-o",
        "json",
        "--",
        "train.py",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let cm = &v["items"][0];
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "packed-files");
    assert_eq!(
        cm["data"]["train.py"],
        std::fs::read_to_string(data("code/train.py")).unwrap()
    );
    assert!(
        cm["data"]["lib_util.py"].is_string(),
        "nested files are flattened into keys: {}",
        cm["data"]
    );
    let script = v["items"][2]["spec"]["template"]["spec"]["containers"][0]["command"][2]
        .as_str()
        .unwrap();
    // The ConfigMap is copied to a writable working directory, which the script enters.
    assert!(
        script.contains("(cd /mltrain/files && find . -mindepth 1 -maxdepth 1 ! -name '..*' -exec cp -RL {} /workspace/files/ \\;)\ncd /workspace/files\n"),
        "{script}"
    );
}

#[test]
fn kubectl_finds_and_runs_the_plugin() {
    let kubectl = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output();
    assert!(kubectl.is_ok(), "kubectl is not installed");
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let list = Command::new("kubectl")
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains(&bin_dir.join("kubectl-mltrain").display().to_string()),
        "{listed}"
    );
    let out = Command::new("kubectl")
        .args([
            "mltrain",
            "pytorch",
            "via-kubectl",
            "--world-size",
            "2",
            "--dry-run=client",
            "-o",
            "name",
        ])
        .env("PATH", &path)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "service/via-kubectl\njob.batch/via-kubectl\n"
    );
}

/// `--max-restarts` renders what each backend's controller counts (docs/retries.md), and it passes the
/// real schemas (podFailurePolicy, failurePolicy, runPolicy, the retryLimit annotation).
#[test]
fn max_restarts_on_every_backend_passes_the_schemas() {
    for backend in ["job", "jobset", "pytorchjob", "appwrapper"] {
        let r = run(&[
            "pytorch",
            "demo",
            "--world-size",
            "4",
            "--max-restarts",
            "3",
            "--backend",
            backend,
            "--dry-run=client",
            "-o",
            "yaml",
        ]);
        assert_eq!(r.code, 0, "{backend}: {}", r.stderr);
        let docs = validate_yaml(&r.stdout);
        let text = serde_json::to_string(&docs).unwrap();
        assert!(text.contains("--rdzv_backend=c10d"), "{backend}");
        let expect = match backend {
            "job" => "\"podFailurePolicy\"",
            "jobset" => "\"maxRestarts\":3",
            "pytorchjob" => "\"restartPolicy\":\"OnFailure\"",
            _ => "\"workload.codeflare.dev.appwrapper/retryLimit\":\"3\"",
        };
        assert!(text.contains(expect), "{backend}: {expect}");
    }
    let r = run(&["deepspeed", "ds", "--max-restarts", "2", "--dry-run=client"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("error: --max-restarts \"2\": a retried SSH launcher finds its workers gone"),
        "{}",
        r.stderr
    );
}

/// Flags a TrainJob has no field for (spec.runtimePatches patches only env, mounts and security
/// context of containers); each is refused on trainjob, with the flag named.
const NOT_ON_TRAINJOB: &[&str] = &[
    "--env-from-secret",
    "--env-from-configmap",
    "--image-pull-policy",
    "--priority",
    "--nccl-env-configmap",
    "--restart-policy",
    "--max-restarts",
];

#[test]
fn golden_trainjob() {
    let r = run(&[
        "pytorch",
        "tj",
        "--world-size",
        "4",
        "--gpus",
        "8",
        "--backend",
        "trainjob",
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = validate_yaml(&r.stdout);
    let tj = docs.last().unwrap();
    assert_eq!(tj["kind"], "TrainJob");
    assert_eq!(tj["spec"]["runtimeRef"]["name"], "torch-distributed");
    assert_eq!(tj["spec"]["trainer"]["numNodes"], 4);
    assert_eq!(tj["spec"]["trainer"]["numProcPerNode"], 8);
    snap("trainjob-pytorch", &r);

    let args = full("full-trainjob", "trainjob");
    let mut kept: Vec<&str> = Vec::new();
    let mut it = args.iter().map(String::as_str).peekable();
    while let Some(a) = it.next() {
        if NOT_ON_TRAINJOB.contains(&a) {
            it.next();
        } else {
            kept.push(a);
        }
    }
    let r = run(&kept);
    assert_eq!(r.code, 0, "{}", r.stderr);
    validate_yaml(&r.stdout);
    snap("full-trainjob", &r);

    let r = run(&[
        "deepspeed",
        "ds",
        "--launcher",
        "torchrun",
        "--backend",
        "trainjob",
        "--runtime",
        "my-torch",
        "--runtime-kind",
        "TrainingRuntime",
        "-n",
        "ml",
        "--dry-run=client",
        "-o",
        "yaml",
        "--",
        "train.py",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = validate_yaml(&r.stdout);
    let rr = &docs.last().unwrap()["spec"]["runtimeRef"];
    assert_eq!(rr["name"], "my-torch");
    assert_eq!(rr["kind"], "TrainingRuntime");
}

#[test]
fn trainjob_usage_errors_name_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["pytorch", "--runtime", "x"],
            "--runtime \"x\": only with --backend trainjob",
        ),
        (
            &["pytorch", "--runtime-kind", "TrainingRuntime"],
            "--runtime-kind \"TrainingRuntime\": only with --backend trainjob",
        ),
        (
            &["mxnet", "--backend", "trainjob"],
            "invalid value 'trainjob' for '--backend <BACKEND>'\n  [possible values: job]",
        ),
        (
            &["deepspeed", "--backend", "trainjob", "--port", "1234"],
            "--port \"1234\": DeepSpeed under mpirun takes its rendezvous from MPI",
        ),
        (
            &["pytorch", "--backend", "trainjob", "--runtime", "Bad_Name"],
            "--runtime \"Bad_Name\": not a valid runtime name",
        ),
        (
            &["pytorch", "--backend", "trainjob", "--priority", "high"],
            "--priority \"high\": priorityClassName: the Kubeflow Trainer's TrainJob has no field for it",
        ),
        (
            &["pytorch", "--backend", "trainjob", "--port", "1234"],
            "--port \"1234\": the Trainer sets the rendezvous port itself",
        ),
        (
            &[
                "pytorch",
                "--backend",
                "trainjob",
                "--git-repo",
                "https://x/y.git",
            ],
            "--git-repo \"https://x/y.git\": needs an init container",
        ),
    ];
    for (args, want) in cases {
        let mut a = args.to_vec();
        a.push("--dry-run=client");
        let r = run(&a);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}
