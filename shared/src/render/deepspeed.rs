//! DeepSpeed (DESIGN §3): on the `job` backend, Bitnami's design done right. Workers run sshd (port
//! 2222, non-root) as an Indexed Job; a launcher Job waits until every worker answers, runs
//! `deepspeed --hostfile /job/hostfile` over SSH, and when it ends tells every worker to stop, so the
//! launcher's exit decides the job and nothing runs forever. The hostfile (`<worker-host> slots=<n>`)
//! and both scripts live in one ConfigMap; the SSH key pair (made by the plugin) in a Secret.
//! `--backend mpijob` renders a `kubeflow.org/v2beta1` MPIJob instead: the MPI operator makes the key
//! pair, the hostfile and the launcher Job, and our scripts make its workers' sshd run as non-root.
//!
//! SSH in a pod cannot lean on the image's user, because OpenSSH reads the passwd entry, never `$HOME`:
//! the client exits with "No user exists for uid" without one, and takes `~/.ssh/config` and keys from
//! its home (openssh `ssh.c` `main`, `misc.c` `tilde_expand`); sshd resolves a relative
//! `AuthorizedKeysFile` against it and starts sessions with a fresh environment (`session.c`
//! `do_setup_env`): `HOME` from passwd and a standard `PATH`, without the pod's variables. So every file
//! is named by an absolute path (`ssh -F`, pdsh's `PDSH_SSH_ARGS_APPEND`, OpenMPI's
//! `OMPI_MCA_plm_rsh_args`), a uid the image does not name (or names with no login shell, as CRI-O's
//! generated entry on OpenShift) gets one from nss_wrapper, and sshd's `ForceCommand` restores the
//! worker pod's environment in every session: the cluster's NCCL settings and the user's variables
//! reach each rank without DeepSpeed's launcher exporting (and logging) them.
//! Where the image has no pdsh (Kubeflow Trainer's DeepSpeed runtime image), the launcher uses
//! DeepSpeed's OpenMPI runner over the same SSH.
//! Reference: <https://www.deepspeed.ai/getting-started/#resource-configuration-multi-node>.

use serde_json::{Map, Value, json};

use super::group;
use super::job::{RoleJob, Shape, batch_job, headless_service, job_spec};
use super::launch::{SMOKE_TEST, setup_lines};
use super::meta::{metadata, workload_metadata};
use super::pod;
use super::shell::sh_join;
use crate::kinds::{CONFIG_MAP, MPI_JOB, SECRET};
use crate::model::{Main, SshKeyPair, TrainingJob};
use crate::vocab::mltrain::role::{LAUNCHER, WORKER};

pub const SSH_PORT: u16 = 2222;

/// Where each pod keeps its SSH files: private to the uid, on `/tmp` (writable, an emptyDir when the
/// policy makes root filesystems read-only).
const SSH_DIR: &str = "/tmp/mltrain-ssh";

/// Where the MPI operator mounts its key Secret (`sshAuthMountPath`): the operator's default,
/// `/root/.ssh`, is only readable by root.
pub const MPI_SSH_MOUNT: &str = "/mltrain/mpi-ssh";

/// Worker `i`'s DNS name: the Indexed Job `<job>-worker` gives pods hostnames `<job>-worker-<i>`, the
/// headless Service `<job>` the subdomain (the MPI operator names its workers the same way); JobSet's
/// pattern when the layout is `grouped`.
pub fn worker_host(job: &TrainingJob, grouped: bool, i: u32) -> String {
    group::host(job, grouped, WORKER, i)
}

/// The launcher only runs the deepspeed CLI: Bitnami's "small" preset, no GPUs.
fn launcher_resources() -> Value {
    json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}})
}

/// `<host> slots=<n>`, one line per worker.
pub fn hostfile(job: &TrainingJob, grouped: bool, slots: u32) -> String {
    let mut s = String::with_capacity(job.world_size as usize * (job.name.len() * 2 + 24));
    for i in 0..job.world_size {
        s += &format!("{} slots={slots}\n", worker_host(job, grouped, i));
    }
    s
}

/// The smoke test as DeepSpeed runs it: `deepspeed.init_distributed` finds the rendezvous from the
/// launcher's variables, or from MPI under `mpirun`.
pub fn smoke_test() -> String {
    SMOKE_TEST.replace(
        "dist.init_process_group(backend)",
        "import deepspeed\ndeepspeed.init_distributed(dist_backend=backend)",
    )
}

/// Lines that give the uid a passwd entry with a login shell when the image has none (nss_wrapper),
/// and write this pod's SSH files: sshd's configuration, the client's, and the session script.
fn ssh_setup(authorized_keys: &str, identity: &str) -> String {
    SSH_SETUP
        .replace("@DIR@", SSH_DIR)
        .replace("@PORT@", &SSH_PORT.to_string())
        .replace("@AUTHORIZED_KEYS@", authorized_keys)
        .replace("@IDENTITY@", identity)
}

const SSH_SETUP: &str = r#"d=@DIR@
mkdir -p "$d" && chmod 700 "$d"
entry=$(getent passwd "$(id -u)" 2>/dev/null || true)
shell=${entry##*:}
case "$shell" in */nologin|*/false|"") shell="" ;; esac
if [ -z "$entry" ] || [ -z "$shell" ]; then
  lib=""
  for l in /usr/lib/x86_64-linux-gnu/libnss_wrapper.so /usr/lib/aarch64-linux-gnu/libnss_wrapper.so /usr/lib64/libnss_wrapper.so /usr/lib/libnss_wrapper.so /opt/bitnami/common/lib/libnss_wrapper.so; do
    if [ -f "$l" ]; then lib=$l; break; fi
  done
  if [ -z "$lib" ]; then
    echo "error: the image has no passwd entry with a login shell for uid $(id -u), which OpenSSH needs, and no libnss_wrapper.so to supply one: add either to the image (see docs/images.md)" >&2
    exit 1
  fi
  name=${entry%%:*}
  printf '%s:x:%s:%s:mltrain:%s:/bin/bash\n' "${name:-mltrain}" "$(id -u)" "$(id -g)" "$HOME" > "$d/passwd"
  export LD_PRELOAD="$lib" NSS_WRAPPER_PASSWD="$d/passwd" NSS_WRAPPER_GROUP=/etc/group
fi
cat > "$d/sshd_config" <<MLTRAIN_EOF
Port @PORT@
HostKey $d/host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile @AUTHORIZED_KEYS@
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
ForceCommand /bin/bash $d/session.sh
MLTRAIN_EOF
cat > "$d/ssh_config" <<MLTRAIN_EOF
Host *
  Port @PORT@
  IdentityFile $d/id
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
MLTRAIN_EOF
cat > "$d/session.sh" <<'MLTRAIN_EOF'
# An SSH session on this pod: the pod's environment, which sshd does not pass on, then the command.
. @DIR@/env
if [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"; fi
exec /bin/bash -l
MLTRAIN_EOF
if [ -r @IDENTITY@ ]; then cp @IDENTITY@ "$d/id" && chmod 600 "$d/id"; fi
"#;

/// Lines that start this pod's sshd in the background (`$sshd`), with the pod's environment saved
/// for its sessions.
const START_SSHD: &str = r#"rm -f "$d/host_ed25519_key" "$d/host_ed25519_key.pub"
ssh-keygen -q -t ed25519 -N '' -f "$d/host_ed25519_key"
export -p | grep -Ev '^declare -x (HOSTNAME|PWD|OLDPWD|SHLVL|_)=' > "$d/env"
chmod 600 "$d/env"
/usr/sbin/sshd -D -e -f "$d/sshd_config" &
sshd=$!
"#;

/// Lines that wait until every host of a hostfile answers over SSH (at most 10 minutes), setting
/// `$hosts`.
fn wait_for_workers(hostfile: &str) -> String {
    WAIT_FOR_WORKERS
        .replace("@HOSTFILE@", hostfile)
        .replace("@PORT@", &SSH_PORT.to_string())
}

const WAIT_FOR_WORKERS: &str = r#"hosts=$(awk '{print $1}' @HOSTFILE@)
deadline=$((SECONDS + 600))
for h in $hosts; do
  until ssh -F "$d/ssh_config" -o ConnectTimeout=3 "$h" true 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "worker $h did not answer on ssh port @PORT@ within 10 minutes; see its pod's events and logs" >&2
      exit 1
    fi
    sleep 2
  done
done
echo "all $(echo $hosts | wc -w) workers answer; starting deepspeed"
"#;

/// Where the smoke test is on every pod, when the job runs it.
fn smoke_file(job: &TrainingJob, dir: &str) -> Option<String> {
    (job.program.main == Main::SmokeTest).then(|| format!("{dir}/smoke.py"))
}

/// The program part of the `deepspeed` command line, and whether it is a Python script.
pub(super) fn program(job: &TrainingJob, smoke: Option<String>) -> (String, bool) {
    match (&job.program.main, smoke) {
        (Main::SmokeTest, Some(f)) => (f, true),
        (Main::Command(cmd), _) => (sh_join(cmd), cmd[0].ends_with(".py")),
        (Main::Shell(text), _) => (text.clone(), true),
        _ => (String::new(), true),
    }
}

/// How the launcher reaches the workers: pdsh where the image has it, else OpenMPI's mpirun.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runner {
    PdshOrOpenMpi,
    OpenMpi,
}

/// `deepspeed ...` over our SSH files. `--force_multi`: with one host DeepSpeed would run the ranks
/// on the launcher itself (`runner.py`: multi-node only for more than one host), which has no GPUs. OpenMPI shortens host names to their first label unless told
/// not to (`orte_keep_fqdn_hostnames`, which the MPI operator sets too); `<worker>.<service>` needs
/// its second label to resolve.
fn deepspeed_line(
    job: &TrainingJob,
    hostfile: &str,
    smoke: Option<String>,
    runner: Runner,
    master: &str,
) -> String {
    let (program, python) = program(job, smoke);
    if program.is_empty() {
        return "true\n".into();
    }
    let no_python = if python {
        ""
    } else {
        " --no_python --no_local_rank"
    };
    let choose = match runner {
        Runner::PdshOrOpenMpi => {
            "if command -v pdsh >/dev/null; then launcher=pdsh; else launcher=openmpi; fi\n"
        }
        Runner::OpenMpi => "launcher=openmpi\n",
    };
    format!(
        r#"export PDSH_SSH_ARGS_APPEND="-F $d/ssh_config" OMPI_MCA_plm_rsh_args="-F $d/ssh_config -o ConnectionAttempts=10" OMPI_MCA_orte_keep_fqdn_hostnames=true
{choose}if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
deepspeed --hostfile {hostfile} --launcher "$launcher" --force_multi --no_ssh_check --master_addr {master} --master_port {port}{no_python} {program}
"#,
        port = job.networking.port,
    )
}

fn worker_script(job: &TrainingJob) -> String {
    format!(
        r#"#!/bin/bash
# A DeepSpeed worker: sshd until the launcher says the job is over.
set -e
{setup}{ssh}{start}while kill -0 "$sshd" 2>/dev/null; do
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
        setup = setup_lines(job),
        ssh = ssh_setup("/job/ssh/authorized_keys", "/job/ssh/id_ed25519"),
        start = START_SSHD,
    )
}

fn launcher_script(job: &TrainingJob, grouped: bool) -> String {
    format!(
        r#"#!/bin/bash
# The DeepSpeed launcher: wait for every worker's sshd, run deepspeed over SSH, then release the workers.
set -e
{setup}{ssh}{wait}finish() {{
  rc=$?
  for h in $hosts; do ssh -F "$d/ssh_config" -o ConnectTimeout=3 "$h" "echo $rc > /tmp/mltrain-done" || true; done
  exit $rc
}}
trap finish EXIT
{run}"#,
        setup = setup_lines(job),
        ssh = ssh_setup("/job/ssh/authorized_keys", "/job/ssh/id_ed25519"),
        wait = wait_for_workers("/job/hostfile"),
        run = deepspeed_line(
            job,
            "/job/hostfile",
            smoke_file(job, "/job"),
            Runner::PdshOrOpenMpi,
            &worker_host(job, grouped, 0),
        ),
    )
}

/// The SSH layout: the scripts and hostfile, the key pair, and the worker and launcher Jobs, as
/// separate Jobs behind a headless Service or, `grouped`, as one JobSet.
pub fn render_ssh(job: &TrainingJob, grouped: bool, slots: u32, keys: &SshKeyPair) -> Vec<Value> {
    let cm_name = format!("{}-deepspeed", job.name);
    let secret_name = format!("{}-ssh", job.name);
    let mut data = json!({
        "hostfile": hostfile(job, grouped, slots),
        "worker.sh": worker_script(job),
        "launcher.sh": launcher_script(job, grouped),
    });
    if job.program.main == Main::SmokeTest {
        data["smoke.py"] = json!(smoke_test());
    }
    let mut out = vec![
        json!({"apiVersion": CONFIG_MAP.api_version(), "kind": CONFIG_MAP.kind, "metadata": metadata(job, &cm_name), "data": data}),
        json!({"apiVersion": SECRET.api_version(), "kind": SECRET.kind, "metadata": metadata(job, &secret_name), "type": "Opaque",
               "stringData": {"id_ed25519": keys.private, "id_ed25519.pub": keys.public, "authorized_keys": keys.public}}),
    ];
    let roles = ssh_roles(job, &cm_name, &secret_name);
    if grouped {
        out.push(group::jobset(job, roles.into(), LAUNCHER));
    } else {
        out.push(headless_service(
            job,
            json!([{"name": "ssh", "port": SSH_PORT, "targetPort": SSH_PORT, "protocol": "TCP"}]),
            Some(WORKER),
        ));
        out.extend(roles.map(|r| batch_job(job, &r.name, r.spec)));
    }
    out
}

/// The sshd workers (a failed worker fails the job: no retries) and the one launcher, each with the
/// scripts and the key pair mounted. Neither is suspended: ungrouped there is no queue, grouped the
/// JobSet is what Kueue admits.
fn ssh_roles(job: &TrainingJob, cm_name: &str, secret_name: &str) -> [RoleJob; 2] {
    let volumes = vec![
        json!({"name": "mltrain-deepspeed", "configMap": {"name": cm_name}}),
        // Group-readable: the key's group is the pod's fsGroup; the scripts copy it to a 0600 file.
        json!({"name": "mltrain-ssh", "secret": {"secretName": secret_name, "defaultMode": 0o440}}),
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
            role: Some(WORKER),
            extra_volumes: volumes.clone(),
            extra_mounts: mounts.clone(),
            ..pod::PodParts::new("worker", "exec bash /job/worker.sh".into())
        },
    );
    let launcher = pod::template(
        job,
        pod::PodParts {
            restart_policy: Some("Never".into()),
            role: Some(LAUNCHER),
            extra_volumes: volumes,
            extra_mounts: mounts,
            resources: Some(launcher_resources()),
            ..pod::PodParts::new("launcher", "exec bash /job/launcher.sh".into())
        },
    );
    let workers = Shape {
        ranks: job.world_size,
        indexed: true,
        backoff_limit: 0,
        suspend: false,
    };
    let one = Shape {
        ranks: 1,
        indexed: false,
        backoff_limit: job.fault_tolerance.max_restarts.unwrap_or(0),
        suspend: false,
    };
    [
        RoleJob {
            name: format!("{}-worker", job.name),
            role: WORKER,
            spec: job_spec(job, workers, worker),
        },
        RoleJob {
            name: job.name.clone(),
            role: LAUNCHER,
            spec: job_spec(job, one, launcher),
        },
    ]
}

/// Lines that write the smoke test where every pod finds it (an MPIJob has no ConfigMap of ours).
fn write_smoke(job: &TrainingJob) -> String {
    match smoke_file(job, SSH_DIR) {
        Some(f) => format!(
            "cat > {f} <<'MLTRAIN_SMOKE'\n{}MLTRAIN_SMOKE\n",
            smoke_test()
        ),
        None => String::new(),
    }
}

/// The MPIJob: our launcher script and sshd workers under the MPI operator, which makes the key pair
/// and the hostfile.
pub fn render_mpijob(job: &TrainingJob, slots: u32) -> Value {
    let (launcher, worker) = mpi_pods(job);
    json!({
        "apiVersion": MPI_JOB.api.api_version(),
        "kind": MPI_JOB.api.kind,
        "metadata": workload_metadata(job, &job.name),
        "spec": {
            "slotsPerWorker": slots,
            "mpiImplementation": "OpenMPI",
            "sshAuthMountPath": MPI_SSH_MOUNT,
            "runPolicy": mpi_run_policy(job),
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "Never", "template": launcher},
                "Worker": {"replicas": job.world_size, "restartPolicy": "Never", "template": worker},
            }
        }
    })
}

/// The launcher's and the workers' pod templates, with the operator's key Secret as our SSH files'
/// source. No restartPolicy in either: the replica specs carry it.
fn mpi_pods(job: &TrainingJob) -> (Value, Value) {
    let keys = format!("{MPI_SSH_MOUNT}/authorized_keys");
    let identity = format!("{MPI_SSH_MOUNT}/id_rsa");
    let launch = format!(
        "set -e\n{setup}{ssh}{smoke}{wait}{run}",
        setup = setup_lines(job),
        ssh = ssh_setup(&keys, &identity),
        smoke = write_smoke(job),
        wait = wait_for_workers("/etc/mpi/hostfile"),
        run = deepspeed_line(
            job,
            "/etc/mpi/hostfile",
            smoke_file(job, SSH_DIR),
            Runner::OpenMpi,
            &worker_host(job, false, 0),
        ),
    );
    let serve = format!(
        "set -e\n{setup}{ssh}{smoke}{start}wait \"$sshd\"\n",
        setup = setup_lines(job),
        ssh = ssh_setup(&keys, &identity),
        smoke = write_smoke(job),
        start = START_SSHD,
    );
    let launcher = pod::template(
        job,
        pod::PodParts {
            role: Some(LAUNCHER),
            resources: Some(launcher_resources()),
            ..pod::PodParts::new("launcher", launch)
        },
    );
    let worker = pod::template(
        job,
        pod::PodParts {
            role: Some(WORKER),
            ..pod::PodParts::new("worker", serve)
        },
    );
    (launcher, worker)
}

/// Stop a failed run's pods, retry the launcher `--max-restarts` times (unset, the operator would
/// leave Kubernetes' default of 6 retries), and suspend for Kueue when queued.
fn mpi_run_policy(job: &TrainingJob) -> Value {
    let ft = &job.fault_tolerance;
    let mut run_policy = Map::new();
    run_policy.insert("cleanPodPolicy".into(), json!("Running"));
    run_policy.insert("backoffLimit".into(), json!(ft.max_restarts.unwrap_or(0)));
    if let Some(d) = ft.active_deadline_seconds {
        run_policy.insert("activeDeadlineSeconds".into(), json!(d));
    }
    if job.scheduling.queue.is_some() {
        run_policy.insert("suspend".into(), json!(true));
    }
    Value::Object(run_policy)
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
        assert_eq!(hostfile(&job(1), false, 8), "ds-worker-0.ds slots=8\n");
        assert_eq!(
            hostfile(&job(3), false, 8),
            "ds-worker-0.ds slots=8\nds-worker-1.ds slots=8\nds-worker-2.ds slots=8\n"
        );
        let big = hostfile(&job(512), false, 8);
        assert_eq!(big.lines().count(), 512);
        assert_eq!(big.lines().last(), Some("ds-worker-511.ds slots=8"));
        assert_eq!(
            hostfile(&job(2), true, 4),
            "ds-worker-0-0.ds slots=4\nds-worker-0-1.ds slots=4\n"
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
        let s = launcher_script(&j, false);
        assert!(s.contains("until ssh -F \"$d/ssh_config\" -o ConnectTimeout=3 \"$h\" true"));
        assert!(s.contains("trap finish EXIT"));
        // The user's variables reach ranks through the workers' sessions, never DeepSpeed's exports.
        assert!(!s.contains("deepspeed_env") && !s.contains("HF_HOME"));
        assert!(s.trim_end().ends_with("deepspeed --hostfile /job/hostfile --launcher \"$launcher\" --force_multi --no_ssh_check --master_addr ds-worker-0.ds --master_port 29500 train.py --deepspeed_config ds.json"));
        let w = worker_script(&j);
        assert!(w.contains("/usr/sbin/sshd -D -e -f \"$d/sshd_config\" &"));
        for script in [s, w] {
            let ok = std::process::Command::new("bash")
                .args(["-n", "-c", &script])
                .status()
                .unwrap();
            assert!(ok.success(), "{script}");
        }
    }
}
