//! DeepSpeed (DESIGN §3): on the `job` backend, Bitnami's design done right. Workers run sshd (port
//! 2222, non-root) as an Indexed Job; a launcher Job waits until every worker answers, runs
//! `deepspeed --hostfile /job/hostfile`, and when it ends tells every worker to stop, so the launcher's
//! exit decides the job and nothing runs forever. The hostfile (`<worker-host> slots=<n>`) and both
//! scripts live in one ConfigMap; the SSH key pair (made by the plugin) in a Secret.
//! `--backend mpijob` renders a `kubeflow.org/v2beta1` MPIJob instead (the MPI operator does the SSH).
//! Reference: <https://www.deepspeed.ai/getting-started/#resource-configuration-multi-node>.

use serde_json::{Value, json};

use super::launch::{SMOKE_TEST, setup_lines, sh_join, sh_quote};
use super::{job::headless_service, job::indexed_job, metadata, pod, workload_metadata};
use crate::model::{Main, TrainingJob};

pub const SSH_PORT: u16 = 2222;

/// Worker `i`'s DNS name: the Indexed Job `<job>-worker` gives pods hostnames `<job>-worker-<i>`, the
/// headless Service `<job>` the subdomain.
pub fn worker_host(job: &TrainingJob, i: u32) -> String {
    super::group::host(job, "worker", i)
}

/// The launcher only runs the deepspeed CLI: Bitnami's "small" preset, no GPUs.
fn launcher_resources() -> Value {
    json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}})
}

/// Slots per worker: `--slots-per-node`, else processes per pod.
pub fn slots(job: &TrainingJob) -> u32 {
    job.options.slots_per_node.unwrap_or_else(|| job.nproc())
}

/// `<host> slots=<n>`, one line per worker.
pub fn hostfile(job: &TrainingJob) -> String {
    let slots = slots(job);
    let mut s = String::with_capacity(job.world_size as usize * (job.name.len() * 2 + 24));
    for i in 0..job.world_size {
        s += &format!("{} slots={slots}\n", worker_host(job, i));
    }
    s
}

const SSHD_CONFIG: &str = "Port 2222
HostKey /tmp/sshd/host_ed25519_key
PidFile /tmp/sshd/sshd.pid
AuthorizedKeysFile /job/ssh/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PermitUserEnvironment yes
AcceptEnv *
";

const SSH_CONFIG: &str = "Host *
  Port 2222
  IdentityFile ~/.ssh/id_ed25519
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
";

/// Shared by both scripts: sshd and ssh need a passwd entry for the running UID, which arbitrary-UID
/// images lack; nss_wrapper (in Bitnami's images) supplies one.
const NSS_WRAPPER: &str = r#"if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
  for lib in /opt/bitnami/common/lib/libnss_wrapper.so /usr/lib/x86_64-linux-gnu/libnss_wrapper.so /usr/lib64/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
    if [ -f "$lib" ]; then
      echo "mltrain:x:$(id -u):$(id -g)::${HOME:-/tmp}:/bin/bash" > /tmp/passwd
      export LD_PRELOAD="$lib" NSS_WRAPPER_PASSWD=/tmp/passwd NSS_WRAPPER_GROUP=/etc/group
      break
    fi
  done
fi
"#;

fn worker_script(job: &TrainingJob) -> String {
    format!(
        r#"#!/bin/bash
# A DeepSpeed worker: sshd until the launcher says the job is over.
set -e
export HOME=/tmp/home
mkdir -p /tmp/sshd "$HOME"
{NSS_WRAPPER}ssh-keygen -q -t ed25519 -N '' -f /tmp/sshd/host_ed25519_key
{setup}/usr/sbin/sshd -D -e -f /job/sshd_config &
sshd=$!
while kill -0 "$sshd" 2>/dev/null; do
  if [ -f /tmp/mltrain-done ]; then
    kill "$sshd"
    echo "launcher finished with exit code $(cat /tmp/mltrain-done)"
    exit 0
  fi
  sleep 1
done
echo "sshd stopped before the launcher finished" >&2
exit 1
"#,
        setup = setup_lines(job)
    )
}

fn launcher_script(job: &TrainingJob) -> String {
    // sshd sessions do not inherit the pod's environment; DeepSpeed exports `~/.deepspeed_env` to
    // every rank.
    let mut env_file = String::new();
    for e in &job.env {
        env_file += &format!(
            "echo \"{0}=${{{0}}}\" >> \"$HOME/.deepspeed_env\"\n",
            e.name
        );
    }
    let program = match &job.program.main {
        Main::SmokeTest => "/job/smoke.py".to_string(),
        Main::Command(cmd) => sh_join(cmd),
        Main::Shell(text) => text.clone(),
        Main::Nothing => String::new(),
    };
    let run = if program.is_empty() {
        "true".to_string()
    } else if matches!(&job.program.main, Main::Command(c) if !c[0].ends_with(".py")) {
        // Not a Python script: run it on every worker through DeepSpeed's launcher as given.
        format!(
            "deepspeed --hostfile /job/hostfile --master_port {} --no_python --no_local_rank {program}",
            job.networking.port
        )
    } else {
        format!(
            "deepspeed --hostfile /job/hostfile --master_port {} {program}",
            job.networking.port
        )
    };
    format!(
        r#"#!/bin/bash
# The DeepSpeed launcher: wait for every worker's sshd, run deepspeed, then release the workers.
set -e
export HOME=/tmp/home
mkdir -p "$HOME/.ssh"
cp /job/ssh/id_ed25519 "$HOME/.ssh/id_ed25519" && chmod 600 "$HOME/.ssh/id_ed25519"
cp /job/ssh_config "$HOME/.ssh/config"
{NSS_WRAPPER}hosts=$(awk '{{print $1}}' /job/hostfile)
deadline=$((SECONDS + 600))
for h in $hosts; do
  until ssh -o ConnectTimeout=3 -o BatchMode=yes "$h" true 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "worker $h did not answer on ssh port {SSH_PORT} within 10 minutes; see its pod's events and logs" >&2
      exit 1
    fi
    sleep 2
  done
done
echo "all $(echo $hosts | wc -w) workers answer; starting deepspeed"
finish() {{
  rc=$?
  for h in $hosts; do ssh -o ConnectTimeout=3 -o BatchMode=yes "$h" "echo $rc > /tmp/mltrain-done" || true; done
  exit $rc
}}
trap finish EXIT
: > "$HOME/.deepspeed_env"
{env_file}{setup}{run}
"#,
        setup = setup_lines(job)
    )
}

/// The DeepSpeed objects for the `job` backend, in apply order.
pub fn render_ssh(job: &TrainingJob) -> Vec<Value> {
    let cm_name = format!("{}-deepspeed", job.name);
    let secret_name = format!("{}-ssh", job.name);
    let mut data = json!({
        "hostfile": hostfile(job),
        "worker.sh": worker_script(job),
        "launcher.sh": launcher_script(job),
        "sshd_config": SSHD_CONFIG,
        "ssh_config": SSH_CONFIG,
    });
    if job.program.main == Main::SmokeTest {
        data["smoke.py"] = json!(SMOKE_TEST);
    }
    let keys = job
        .options
        .ssh_keys
        .clone()
        .unwrap_or_else(|| crate::model::SshKeyPair {
            private: String::new(),
            public: String::new(),
        });
    let volumes = vec![
        json!({"name": "mltrain-deepspeed", "configMap": {"name": cm_name}}),
        json!({"name": "mltrain-ssh", "secret": {"secretName": secret_name, "defaultMode": 0o400}}),
    ];
    let mounts = vec![
        json!({"name": "mltrain-deepspeed", "mountPath": "/job"}),
        json!({"name": "mltrain-ssh", "mountPath": "/job/ssh", "readOnly": true}),
    ];
    let worker = pod::template(
        job,
        pod::PodParts {
            subdomain: Some(job.name.clone()),
            restart_policy: Some("Never".into()),
            ports: vec![json!({"name": "ssh", "containerPort": SSH_PORT, "protocol": "TCP"})],
            role: Some("worker"),
            extra_volumes: volumes.clone(),
            extra_mounts: mounts.clone(),
            ..pod::PodParts::new("worker", "exec bash /job/worker.sh".into())
        },
    );
    let launcher = pod::template(
        job,
        pod::PodParts {
            restart_policy: Some("Never".into()),
            role: Some("launcher"),
            extra_volumes: volumes,
            extra_mounts: mounts,
            resources: Some(launcher_resources()),
            ..pod::PodParts::new("launcher", "exec bash /job/launcher.sh".into())
        },
    );
    let mut service = headless_service(
        job,
        json!([{"name": "ssh", "port": SSH_PORT, "targetPort": SSH_PORT, "protocol": "TCP"}]),
    );
    service["spec"]["selector"][pod::ROLE_LABEL] = json!("worker");
    let mut workers = indexed_job(job, &format!("{}-worker", job.name), job.world_size, worker);
    // Workers end when the launcher releases them; a retry of one worker would not rejoin the run.
    workers["spec"]["backoffLimit"] = json!(0);
    workers["metadata"]["labels"]
        .as_object_mut()
        .map(|l| l.remove(super::QUEUE_LABEL));
    let mut launcher_job = indexed_job(job, &job.name, 1, launcher);
    launcher_job["spec"]["completionMode"] = json!("NonIndexed");
    vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(job, &cm_name), "data": data}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata(job, &secret_name), "type": "Opaque",
               "stringData": {"id_ed25519": keys.private, "id_ed25519.pub": keys.public, "authorized_keys": keys.public}}),
        service,
        workers,
        launcher_job,
    ]
}

/// A `kubeflow.org/v2beta1` MPIJob: the MPI operator writes `/etc/mpi/hostfile` and sets up SSH;
/// workers run sshd, the launcher runs deepspeed over OpenMPI.
/// Reference: <https://github.com/kubeflow/mpi-operator>.
pub fn render_mpijob(job: &TrainingJob) -> Value {
    let program = match &job.program.main {
        Main::SmokeTest => format!("python3 -c {}", sh_quote(SMOKE_TEST)),
        Main::Command(cmd) => sh_join(cmd),
        Main::Shell(text) => text.clone(),
        Main::Nothing => "true".into(),
    };
    let launch = format!(
        "set -e\n{}exec deepspeed --hostfile /etc/mpi/hostfile --launcher openmpi --master_port {} {program}\n",
        setup_lines(job),
        job.networking.port
    );
    let launcher = pod::template(
        job,
        pod::PodParts {
            role: Some("launcher"),
            resources: Some(launcher_resources()),
            ..pod::PodParts::new("launcher", launch)
        },
    );
    let mut worker = pod::template(
        job,
        pod::PodParts {
            role: Some("worker"),
            ..pod::PodParts::new(
                "worker",
                format!("set -e\n{}exec /usr/sbin/sshd -De", setup_lines(job)),
            )
        },
    );
    worker["spec"]
        .as_object_mut()
        .map(|s| s.remove("restartPolicy"));
    let ft = &job.fault_tolerance;
    let mut run_policy = json!({"cleanPodPolicy": "Running"});
    if let Some(n) = ft.max_restarts {
        run_policy["backoffLimit"] = json!(n);
    }
    if let Some(d) = ft.active_deadline_seconds {
        run_policy["activeDeadlineSeconds"] = json!(d);
    }
    if job.scheduling.queue.is_some() {
        run_policy["suspend"] = json!(true);
    }
    json!({
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": workload_metadata(job),
        "spec": {
            "slotsPerWorker": slots(job),
            "mpiImplementation": "OpenMPI",
            "runPolicy": run_policy,
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "Never", "template": launcher},
                "Worker": {"replicas": job.world_size, "restartPolicy": "Never", "template": worker},
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Framework;

    fn job(workers: u32) -> TrainingJob {
        let mut j = TrainingJob::new("ds", Framework::DeepSpeed);
        j.world_size = workers;
        j.resources.gpus = 8;
        j
    }

    #[test]
    fn hostfile_lists_every_worker_with_its_slots() {
        assert_eq!(hostfile(&job(1)), "ds-worker-0.ds slots=8\n");
        assert_eq!(
            hostfile(&job(3)),
            "ds-worker-0.ds slots=8\nds-worker-1.ds slots=8\nds-worker-2.ds slots=8\n"
        );
        let big = hostfile(&job(512));
        assert_eq!(big.lines().count(), 512);
        assert_eq!(big.lines().last(), Some("ds-worker-511.ds slots=8"));
        let mut j = job(2);
        j.options.slots_per_node = Some(4);
        assert_eq!(
            hostfile(&j),
            "ds-worker-0.ds slots=4\nds-worker-1.ds slots=4\n"
        );
    }

    #[test]
    fn launcher_waits_for_workers_releases_them_and_keeps_the_exit_code() {
        let mut j = job(2);
        j.program.main = Main::Command(vec![
            "train.py".into(),
            "--deepspeed_config".into(),
            "ds.json".into(),
        ]);
        j.env.push(crate::model::EnvVar {
            name: "HF_HOME".into(),
            value: crate::model::EnvValue::Literal("/data".into()),
        });
        let s = launcher_script(&j);
        assert!(s.contains("until ssh -o ConnectTimeout=3 -o BatchMode=yes \"$h\" true"));
        assert!(s.contains("trap finish EXIT"));
        assert!(s.contains("echo \"HF_HOME=${HF_HOME}\" >> \"$HOME/.deepspeed_env\""));
        assert!(s.trim_end().ends_with("deepspeed --hostfile /job/hostfile --master_port 29500 train.py --deepspeed_config ds.json"));
        let w = worker_script(&j);
        assert!(w.contains("/usr/sbin/sshd -D -e -f /job/sshd_config &"));
    }
}
