//! DeepSpeed on a Kubeflow Trainer MPI runtime (`deepspeed-distributed` by default): a TrainJob whose
//! trainer command is DeepSpeed's launcher with its OpenMPI runner, over the SSH keys and hostfile the
//! Trainer makes.
//!
//! Why it looks like this (kubeflow/trainer v2.3.0, as `tests/src/behave/controllers/trainjob` models
//! it):
//! - `spec.trainer`'s image, command, env and `resourcesPerNode` reach only the runtime's `launcher`
//!   job (the one labelled `trainer.kubeflow.org/trainjob-ancestor-step: trainer`); its `node` pods
//!   keep the runtime's image and run its sshd as `mpiuser` (kubeflow/trainer#2545). So every rank
//!   on a node is started by `mpirun` over SSH, in a session with sshd's fresh environment: our
//!   variables reach the ranks only as `mpirun -x NAME` (names, never values: DeepSpeed logs the
//!   `mpirun` line, and a secret's value would be in it).
//! - `numNodes` counts every pod, the launcher among them (`runLauncherAsNode`), and
//!   `numProcPerNode` is each hostfile entry's slots; the hostfile (`/etc/mpi/hostfile`) lists the
//!   nodes, then the launcher. The launcher starts once the nodes are Ready, but a host's DNS name
//!   may lag, so the command waits for every name first. With `numNodes: 1` the Trainer still makes
//!   one node besides the launcher: DeepSpeed gets a hostfile of the launcher alone (its OpenMPI
//!   runner refuses `--num_nodes`), and `--force_multi` keeps that runner for one host; as the
//!   launcher runs no sshd, DeepSpeed's SSH check and its `ssh <first host> hostname -I` for a master
//!   address are skipped there (`--no_ssh_check --master_addr 127.0.0.1`).
//! - No `--master_addr` (but at world size 1, below): under `mpirun`, DeepSpeed takes rank 0's
//!   address from MPI.
//! - Volumes, mounts and the security context reach both jobs through `spec.runtimePatches` (the
//!   runtime names both containers `node`), at the same paths; `--from-file` files are mounted in
//!   place (read-only) rather than copied, since nothing of ours runs on the nodes to copy them, and
//!   the smoke test comes in a ConfigMap of its own.
//!
//! What cannot reach the nodes is refused by the model's validation (`check_trainjob_mpi`).
//! References: <https://github.com/kubeflow/trainer/blob/master/pkg/runtime/framework/plugins/mpi/mpi.go>,
//! <https://github.com/kubeflow/trainer/blob/master/manifests/base/runtimes/deepspeed_distributed.yaml>,
//! <https://www.deepspeed.ai/getting-started/#resource-configuration-multi-node>.

use serde_json::{Value, json};

use super::deepspeed::{program, smoke_test};
use super::launch::USER_PRELUDE;
use super::meta::metadata;
use super::pod::code::{FILES_DIR, FILES_SOURCE_DIR, default_workdir};
use super::pod::{self, PodParts};
use super::shell::sh_quote;
use super::trainjob::{runtime_patch, trainer, trainjob};
use crate::model::{MPI_USER_UID, Main, TrainerRuntime, TrainingJob};
use crate::vocab::trainer::NODE as NODE_JOB;

pub use crate::vocab::trainer::DEEPSPEED_RUNTIME;
use crate::vocab::trainer::LAUNCHER as LAUNCHER_JOB;
/// Where the Trainer's MPI plugin mounts the hostfile on the launcher.
pub const HOSTFILE: &str = "/etc/mpi/hostfile";
/// World size 1: the hostfile's last line, the launcher's (the Trainer makes one node besides it
/// even for `numNodes: 1`, and DeepSpeed's OpenMPI runner refuses `--num_nodes`).
const ONE_HOST: &str = "/tmp/mltrain-hostfile";
/// Where the smoke test's ConfigMap is mounted on every pod.
const SMOKE_DIR: &str = "/mltrain/deepspeed";

/// The runtime framework a rendered TrainJob needs (its `trainer.kubeflow.org/framework` label):
/// `deepspeed` for the TrainJob this module renders (its runtime patch names the MPI runtime's
/// `launcher` job), else `torch`. For the preflight, which sees only the objects.
pub fn runtime_framework(trainjob: &Value) -> &'static str {
    let patches_launcher = trainjob["spec"]["runtimePatches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .any(|rj| rj["name"] == LAUNCHER_JOB);
    if patches_launcher {
        "deepspeed"
    } else {
        "torch"
    }
}

/// The ConfigMap with the smoke test (when the job runs it), then the TrainJob on `runtime` with
/// `slots` processes per pod.
pub fn render(job: &TrainingJob, runtime: &TrainerRuntime, slots: u32) -> Vec<Value> {
    let job = &as_mpi_user(job);
    let smoke = job.program.main == Main::SmokeTest;
    let mut parts = PodParts::new(NODE_JOB, launcher_script(job));
    parts.extra_volumes = vec![json!({"name": "mltrain-home", "emptyDir": {}})];
    parts.extra_mounts = vec![json!({"name": "mltrain-home", "mountPath": RANK_HOME})];
    let mut out = Vec::new();
    if smoke {
        let cm = format!("{}-deepspeed", job.name);
        out.push(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(job, &cm),
                        "data": {"smoke.py": smoke_test()}}),
        );
        parts
            .extra_volumes
            .push(json!({"name": "mltrain-deepspeed", "configMap": {"name": cm}}));
        parts
            .extra_mounts
            .push(json!({"name": "mltrain-deepspeed", "mountPath": SMOKE_DIR, "readOnly": true}));
    }
    let mut template = pod::template(job, parts);
    files_in_place(&mut template);
    let trainer = trainer(job, &template, slots);
    let patch = runtime_patch(&template, &[NODE_JOB, LAUNCHER_JOB]);
    out.push(trainjob(job, runtime, DEEPSPEED_RUNTIME, trainer, patch));
    out
}

/// The job with the uid, gid and fsGroup of the runtime image's `mpiuser` where the user set none:
/// the runtime's sshd, its SSH keys and `/home/mpiuser` belong to it, and the cluster policy would
/// otherwise give the pods its own default uid, which the runtime image does not know.
fn as_mpi_user(job: &TrainingJob) -> TrainingJob {
    let mut job = job.clone();
    let s = &mut job.security;
    s.run_as_user.get_or_insert(MPI_USER_UID);
    s.run_as_group.get_or_insert(MPI_USER_UID);
    s.fs_group.get_or_insert(MPI_USER_UID);
    job
}

/// Mount the `--from-file` ConfigMap at [`FILES_DIR`] itself instead of the writable copy the other
/// layouts make: the copy is made by our script, which runs on the launcher only.
fn files_in_place(template: &mut Value) {
    let spec = &mut template["spec"];
    if let Some(volumes) = spec["volumes"].as_array_mut() {
        volumes.retain(|v| v["name"] != "mltrain-workdir");
    }
    if let Some(mounts) = spec["containers"][0]["volumeMounts"].as_array_mut() {
        mounts.retain(|m| m["mountPath"] != FILES_DIR);
        for m in mounts.iter_mut() {
            if m["mountPath"] == FILES_SOURCE_DIR {
                m["mountPath"] = json!(FILES_DIR);
            }
        }
    }
}

/// A writable home for every rank, at the same path on the launcher and the nodes (an emptyDir in
/// both jobs' patch). Ranks on the nodes start from the runtime sshd's session, whose `HOME`
/// (`/home/mpiuser`) is read-only under a read-only root filesystem; the launcher's `HOME` is
/// forwarded to them, so it must exist there too.
const RANK_HOME: &str = "/mltrain/home";

/// The names of the job's variables, and `HOME`, as `mpirun -x` flags.
fn forwarded(job: &TrainingJob) -> String {
    let flags: Vec<String> = pod::container::user_env(job)
        .filter_map(|e| e["name"].as_str().map(|n| format!("-x {n}")))
        .chain(std::iter::once("-x HOME".to_string()))
        .collect();
    flags.join(" ")
}

/// The launcher's command: wait for every hostfile host's DNS name, then `deepspeed` with its
/// OpenMPI runner over the hostfile.
fn launcher_script(job: &TrainingJob) -> String {
    let mut s = format!(
        "set -e\nif [ ! -w \"${{HOME:-/}}\" ]; then export HOME={RANK_HOME}; fi\n{USER_PRELUDE}"
    );
    if let Some(dir) = job.program.workdir.as_deref().or(default_workdir(job)) {
        s += &format!("cd {}\n", sh_quote(dir));
    }
    let hostfile = if job.world_size == 1 {
        s += &format!("tail -n 1 {HOSTFILE} > {ONE_HOST}\n");
        ONE_HOST
    } else {
        HOSTFILE
    };
    s += &WAIT_FOR_HOSTS.replace("@HOSTFILE@", hostfile);
    let smoke = (job.program.main == Main::SmokeTest).then(|| format!("{SMOKE_DIR}/smoke.py"));
    let (program, python) = program(job, smoke);
    if program.is_empty() {
        return s + "true\n";
    }
    let mut line = format!("exec deepspeed --hostfile {hostfile} --launcher openmpi --force_multi");
    if job.world_size == 1 {
        // DeepSpeed would ssh to its one host, the launcher, which runs no sshd; the rank takes its
        // rendezvous from MPI whatever this says.
        line += " --no_ssh_check --master_addr 127.0.0.1";
    }
    let x = forwarded(job);
    if !x.is_empty() {
        line += &format!(" --launcher_args {}", sh_quote(&x));
    }
    if !python {
        line += " --no_python --no_local_rank";
    }
    s + &line + " " + &program + "\n"
}

/// Lines that wait until every host of the hostfile resolves (at most 10 minutes).
const WAIT_FOR_HOSTS: &str = r#"hosts=$(awk '{print $1}' @HOSTFILE@)
deadline=$((SECONDS + 600))
for h in $hosts; do
  until getent hosts "$h" >/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "host $h of @HOSTFILE@ has no DNS name after 10 minutes; see its pod's events" >&2
      exit 1
    fi
    sleep 2
  done
done
echo "all $(echo $hosts | wc -w) hosts resolve; starting deepspeed"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backend, EnvValue, EnvVar, Framework};

    fn job(world: u32) -> TrainingJob {
        let mut j = TrainingJob::new("ds", Framework::DeepSpeed);
        j.backend = Backend::TrainJob.into();
        j.world_size = world;
        j
    }

    fn tj(j: &TrainingJob) -> Value {
        render(j, &TrainerRuntime::default(), 1).pop().unwrap()
    }

    #[test]
    fn the_launcher_runs_deepspeed_over_the_hostfile_forwarding_names_only() {
        let mut j = job(3);
        j.program.main = Main::Command(vec!["train.py".into(), "--epochs".into(), "2".into()]);
        j.env.push(EnvVar {
            name: "TOKEN".into(),
            value: EnvValue::Secret {
                name: "creds".into(),
                key: "token".into(),
            },
        });
        j.env.push(EnvVar {
            name: "GREETING".into(),
            value: EnvValue::Literal("hello".into()),
        });
        let objs = render(&j, &TrainerRuntime::default(), 1);
        assert_eq!(objs.len(), 1, "no smoke-test ConfigMap for a program");
        let t = &objs[0];
        assert_eq!(t["spec"]["runtimeRef"]["name"], DEEPSPEED_RUNTIME);
        assert_eq!(t["spec"]["trainer"]["numNodes"], 3);
        assert_eq!(t["spec"]["trainer"]["numProcPerNode"], 1);
        assert!(t["spec"]["trainer"].get("image").is_none());
        let cmd = t["spec"]["trainer"]["command"][2].as_str().unwrap();
        assert!(cmd.contains("until getent hosts \"$h\""), "{cmd}");
        assert!(
            cmd.trim_end().ends_with("exec deepspeed --hostfile /etc/mpi/hostfile --launcher openmpi --force_multi --launcher_args '-x TOKEN -x GREETING -x HOME' train.py --epochs 2"),
            "{cmd}"
        );
        assert!(!cmd.contains("hello") && !cmd.contains("--master_addr"));
        assert_eq!(runtime_framework(t), "deepspeed");
        let ok = std::process::Command::new("bash")
            .args(["-n", "-c", cmd])
            .status()
            .unwrap();
        assert!(ok.success(), "{cmd}");
    }

    #[test]
    fn files_and_the_smoke_test_reach_both_jobs_at_the_same_paths() {
        let mut j = job(2);
        j.code.files.push(crate::model::PackedFile {
            key: "train.py".into(),
            path: "train.py".into(),
            content: "print(1)".into(),
        });
        let objs = render(&j, &TrainerRuntime::default(), 1);
        assert_eq!(objs[0]["data"]["smoke.py"], json!(smoke_test()));
        let t = &objs[1];
        let rjs = &t["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"];
        let names: Vec<&str> = rjs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, [NODE_JOB, LAUNCHER_JOB]);
        assert_eq!(rjs[0]["template"], rjs[1]["template"]);
        let mounts =
            &rjs[0]["template"]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
        let paths: Vec<&str> = mounts
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap())
            .collect();
        assert_eq!(paths, [RANK_HOME, SMOKE_DIR, FILES_DIR]);
        let cmd = t["spec"]["trainer"]["command"][2].as_str().unwrap();
        assert!(cmd.contains("cd /workspace/files\n") && !cmd.contains("cp -RL"));
        assert!(
            cmd.trim_end()
                .ends_with("--force_multi --launcher_args '-x HOME' /mltrain/deepspeed/smoke.py")
        );
    }

    #[test]
    fn the_torch_trainjob_needs_a_torch_runtime() {
        let mut j = job(2);
        j.framework = Framework::PyTorch.into();
        let t = super::super::trainjob::render(&j, &TrainerRuntime::default());
        assert_eq!(runtime_framework(&t), "torch");
        let one = tj(&job(1));
        assert_eq!(runtime_framework(&one), "deepspeed");
        let cmd = one["spec"]["trainer"]["command"][2].as_str().unwrap();
        assert!(cmd.contains("tail -n 1 /etc/mpi/hostfile > /tmp/mltrain-hostfile\n"));
        assert!(cmd.contains("exec deepspeed --hostfile /tmp/mltrain-hostfile --launcher openmpi --force_multi --no_ssh_check --master_addr 127.0.0.1 --launcher_args '-x HOME' /mltrain/deepspeed/smoke.py"));
    }
}
