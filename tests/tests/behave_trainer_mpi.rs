//! The behavioural suite's model of the Kubeflow Trainer's MPI runtime (`deepspeed-distributed`),
//! driven by hand-written TrainJobs rather than by `kubectl mltrain`: the Trainer's MPI plugin
//! (keys, hostfile, OpenMPI variables), the JobSet's `dependsOn` (the launcher starts once every
//! node's sshd answers its readiness probe), the runtime image's SSH setup, and OpenMPI's `mpirun`
//! reaching the nodes over it, with ranks on the launcher too (`runLauncherAsNode`).
//!
//! Needs root and `tests/behave/install.sh`, as the rest of the suite. Cases run one at a time.

use std::sync::Mutex;

use mltrain_tests::behave::{self, Cluster, End, Outcome};
use serde_json::{Value, json};

/// One case at a time: each uses both cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Every rank: its rank, the host it runs on, what reached its environment, and an allreduce over
/// MPI, so the ranks must reach each other across pods.
const RANKS_PY: &str = r#"import os, socket, sys
from mpi4py import MPI
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
total = comm.allreduce(rank)
print(f"rank {rank}/{size} on {socket.gethostname()} ompi_rank={os.environ.get('OMPI_COMM_WORLD_RANK')} "
      f"forwarded={os.environ.get('GREETING')} unforwarded={os.environ.get('LAUNCHER_ONLY')} sum={total}", flush=True)
if os.environ.get("FAIL_RANK") == str(rank):
    print(f"rank {rank} fails on purpose", flush=True)
    sys.exit(3)
"#;

/// DeepSpeed on gloo: `init_distributed` finds rank, world and master from MPI (`mpi_discovery`:
/// rank 0's `hostname -I`) under its OpenMPI runner, then an allreduce.
const DS_PY: &str = r#"import os, socket, sys
import deepspeed, torch
import torch.distributed as dist
deepspeed.init_distributed(dist_backend="gloo")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([rank + 1.0])
dist.all_reduce(t)
ok = t.item() == world * (world + 1) / 2
print(f"deepspeed rank={rank}/{world} on {socket.gethostname()} allreduce={'ok' if ok else 'WRONG'} "
      f"forwarded={os.environ.get('GREETING')}", flush=True)
dist.barrier()
dist.destroy_process_group()
sys.stdout.flush()
sys.modules["mpi4py.MPI"].Finalize()  # mpirun counts a rank without it as failed
os._exit(0 if ok else 1)
"#;

/// The cluster: the Trainer's default runtimes and the programs' ConfigMap.
fn cluster() -> Cluster {
    let program = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ranks"},
        "data": {"ranks.py": RANKS_PY, "ds.py": DS_PY}});
    Cluster {
        existing: behave::trainer_runtimes()
            .into_iter()
            .chain([program])
            .collect(),
        ..Cluster::default()
    }
}

/// `mpirun` of the program over the runtime's hostfile; `GREETING` and `FAIL_RANK` forwarded to
/// every rank, `LAUNCHER_ONLY` not.
const MPIRUN: &str = "mpirun -x GREETING -x FAIL_RANK python3 /opt/ranks/ranks.py";

/// A TrainJob `name` on `deepspeed-distributed` with 3 nodes. `command` is the trainer's; the
/// program's ConfigMap reaches both replicated jobs through `runtimePatches`.
fn trainjob(name: &str, command: Value, fail_rank: &str) -> Value {
    let mount = |job: &str| {
        json!({"name": job, "template": {"spec": {"template": {"spec": {
            "volumes": [{"name": "ranks", "configMap": {"name": "ranks"}}],
            "containers": [{"name": "node", "volumeMounts": [{"name": "ranks", "mountPath": "/opt/ranks"}]}]}}}}})
    };
    json!({
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
        "metadata": {"name": name},
        "spec": {
            "runtimeRef": {"name": "deepspeed-distributed"},
            "trainer": {
                "numNodes": 3,
                "command": command,
                "env": [
                    {"name": "ROLE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['jobset.sigs.k8s.io/replicatedjob-name']"}}},
                    {"name": "GREETING", "value": "hello"},
                    {"name": "LAUNCHER_ONLY", "value": "yes"},
                    {"name": "FAIL_RANK", "value": fail_rank},
                ],
            },
            "runtimePatches": [{"manager": "mltrain.test/behave", "trainingRuntimeSpec": {"template": {"spec": {
                "replicatedJobs": [mount("node"), mount("launcher")]}}}}],
        },
    })
}

/// A trainer command that branches on the replicated job it lands in: sshd on the nodes (the
/// runtime's own command), `mpirun` on the launcher.
fn role_command() -> Value {
    json!([
        "bash",
        "-c",
        format!(
            r#"echo "trainer command on $ROLE"
case "$ROLE" in
  launcher) exec {MPIRUN} ;;
  *) exec /usr/sbin/sshd -De -f /home/mpiuser/.sshd_config ;;
esac"#
        )
    ])
}

fn run(tj: Value) -> Outcome {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = behave::run(&cluster(), &[tj]);
    eprintln!("{:.1}s\n{}", out.seconds, out.logs());
    out
}

fn expect_count(out: &Outcome, needle: &str, n: usize) {
    assert_eq!(
        out.count(needle),
        n,
        "{needle:?} expected {n} times, got {:#?}\n{}",
        out.lines_with(needle),
        out.report()
    );
}

/// Three ranks, one on each pod (the launcher among them), that reached each other; what the
/// TrainJob's `env` gives only the launcher, `-x` carries to every rank.
fn expect_three_ranks(out: &Outcome, name: &str) {
    assert!(
        out.succeeded(),
        "the TrainJob did not complete:\n{}",
        out.report()
    );
    assert_eq!(
        out.workloads,
        [(format!("TrainJob/{name}"), End::Succeeded)]
    );
    expect_count(out, " sum=3", 3);
    expect_count(out, "forwarded=hello", 3);
    for host in [
        format!("{name}-node-0-0"),
        format!("{name}-node-0-1"),
        format!("{name}-launcher-0-0"),
    ] {
        expect_count(out, &format!("/3 on {host} "), 1);
    }
    // mpirun's own node comes first in OpenMPI's node pool, whatever the hostfile's order (nodes
    // first, as the runtime lists them): rank 0 is the launcher's, with the launcher's environment;
    // the other ranks have only what `-x` sent.
    expect_count(
        out,
        &format!("rank 0/3 on {name}-launcher-0-0 ompi_rank=0 forwarded=hello unforwarded=yes"),
        1,
    );
    expect_count(out, "unforwarded=None", 2);
}

#[test]
fn trainjob_mpi_runtime_command_branching_on_role() {
    let out = run(trainjob("dsr", role_command(), ""));
    expect_three_ranks(&out, "dsr");
    // The trainer's command reaches the launcher only: the nodes keep the runtime's sshd.
    expect_count(&out, "trainer command on launcher", 1);
    expect_count(&out, "trainer command on node", 0);
}

#[test]
fn trainjob_mpi_runtime_plain_mpirun() {
    let words: Vec<&str> = MPIRUN.split(' ').collect();
    let out = run(trainjob("dsp", json!(words), ""));
    expect_three_ranks(&out, "dsp");
    // The runtime's sshd, as mpi-operator's base image configures it, on each node.
    expect_count(&out, "Server listening on 0.0.0.0 port 2222", 2);
}

#[test]
fn trainjob_mpi_runtime_failing_rank_fails_the_trainjob() {
    let out = run(trainjob("dsf", role_command(), "1"));
    assert!(
        out.failed_cleanly(),
        "the TrainJob did not fail cleanly:\n{}",
        out.report()
    );
    assert_eq!(out.workloads, [("TrainJob/dsf".to_string(), End::Failed)]);
    // The launcher's container restarts in place (the JobSet's default `restartPolicy: OnFailure`)
    // until its restarts reach the Job's default `backoffLimit` of 6; the seventh run is cut short.
    let launcher: Vec<u32> = out
        .containers
        .iter()
        .filter(|c| c.pod.starts_with("dsf-launcher-0-0-"))
        .map(|c| c.restarts)
        .collect();
    assert_eq!(launcher, [6], "{}", out.report());
    let failures = out.count("rank 1 fails on purpose");
    assert!(
        (6..=7).contains(&failures),
        "{failures} failures\n{}",
        out.report()
    );
}

/// DeepSpeed's own OpenMPI runner as the trainer's command: it runs `mpirun` over the runtime's
/// hostfile, forwarding only the variables it knows (`PYTHON*`, `NCCL*`, `UCX*`, ...) and what
/// `--launcher_args` adds.
#[test]
fn trainjob_mpi_runtime_deepspeed_openmpi_runner() {
    let command = json!([
        "deepspeed",
        "--hostfile",
        "/etc/mpi/hostfile",
        "--launcher",
        "openmpi",
        "--launcher_args",
        "-x GREETING",
        "/opt/ranks/ds.py"
    ]);
    let out = run(trainjob("dso", command, ""));
    assert!(
        out.succeeded(),
        "the TrainJob did not complete:\n{}",
        out.report()
    );
    expect_count(&out, "/3 on dso-", 3);
    expect_count(&out, "allreduce=ok forwarded=hello", 3);
    expect_count(&out, "deepspeed rank=0/3 on dso-launcher-0-0 ", 1);
    // DeepSpeed's runner asks the hostfile's first host (a node: the runtime lists nodes first)
    // for an address over ssh; the ranks take theirs from MPI instead.
    expect_count(&out, "cmd = mpirun -n 3 -hostfile /etc/mpi/hostfile", 1);
}
