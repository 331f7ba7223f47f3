//! The container's command: setup commands with fail-fast semantics, then the program under the
//! framework's launcher, or the built-in distributed smoke test when there is no program.
//!
//! Rendezvous values come from the environment (`WORLD_SIZE`, `RANK`, `MASTER_ADDR`, `MASTER_PORT`),
//! which every backend provides (we set them on `job`/`jobset` with [`rendezvous_env`]; the training
//! operator sets them on PyTorchJob), so one script serves all backends. Shell `${VAR}` is used, not Kubernetes' `$(VAR)`,
//! so user setup commands with `$(...)` keep their shell meaning.

use serde_json::{Value, json};

use super::pod::code::{FILES_DIR, FILES_SOURCE_DIR, default_workdir};
use super::shell::sh_quote;
use crate::model::{Main, TrainingJob};

/// The distributed smoke test: initialise the process group (NCCL with GPUs, gloo without), all-reduce
/// a tensor, check the sum, print the bus bandwidth, exit 0. Proves a cluster's GPU networking works.
pub const SMOKE_TEST: &str = r#"import os, sys, time
import torch
import torch.distributed as dist
gpu = torch.cuda.is_available()
backend = "nccl" if gpu else "gloo"
dist.init_process_group(backend)
rank, world = dist.get_rank(), dist.get_world_size()
local = int(os.environ.get("LOCAL_RANK", "0"))
dev = torch.device("cuda", local) if gpu else torch.device("cpu")
if gpu:
    torch.cuda.set_device(dev)
n = (256 << 20) // 4 if gpu else (16 << 20) // 4
x = torch.ones(n, dtype=torch.float32, device=dev)
dist.all_reduce(x)
if gpu:
    torch.cuda.synchronize()
ok = bool((x == world).all().item())
iters = 5
t = time.perf_counter()
for _ in range(iters):
    dist.all_reduce(x)
if gpu:
    torch.cuda.synchronize()
dt = (time.perf_counter() - t) / iters
busbw = (n * 4) * 2 * (world - 1) / world / dt / 1e9
verdict = "ok" if ok else "WRONG SUM"
if rank == 0:
    print(f"mltrain smoke test: world={world} backend={backend} allreduce={verdict} busbw={busbw:.2f} GB/s", flush=True)
# Every rank is done with gloo before any tears it down: a rank that exits while a peer still
# talks to it aborts that peer ("terminate called without an active exception").
dist.barrier()
dist.destroy_process_group()
# Leave without the interpreter finalization: a gloo thread taking the GIL during it aborts the process
# (seen under the DeepSpeed launchers).
sys.stdout.flush()
if "mpi4py.MPI" in sys.modules:
    sys.modules["mpi4py.MPI"].Finalize()  # mpirun counts a rank without it as failed
os._exit(0 if ok else 1)
"#;

/// First lines of every script: images built for root run here as the policy's arbitrary uid, which
/// they have no passwd entry for, so the runtime set `HOME=/` (not writable: `~/.cache`, pip and
/// Hugging Face fail) and `getpass.getuser()` finds no name (`torch.compile` fails). A home that is
/// not writable is replaced by one under `/tmp` (an emptyDir when the root filesystem is read-only),
/// and `LOGNAME`/`USER`, which `getpass` reads first, are set when the image does not name the uid.
pub const USER_PRELUDE: &str = r#"if [ ! -w "${HOME:-/}" ]; then export HOME=/tmp/mltrain-home; mkdir -p "$HOME"; fi
if [ -z "${LOGNAME:-}" ]; then LOGNAME=$(id -un 2>/dev/null) || LOGNAME=mltrain; export LOGNAME USER="${USER:-$LOGNAME}"; fi
"#;

/// `cd` to the working directory (the user's, else the cloned repository or the packed files), then
/// the setup commands in order: the start of every role's script.
pub fn setup_lines(job: &TrainingJob) -> String {
    let mut s = String::from(USER_PRELUDE);
    if !job.code.files.is_empty() {
        s += &format!(
            "(cd {FILES_SOURCE_DIR} && find . -mindepth 1 -maxdepth 1 ! -name '..*' -exec cp -RL {{}} {FILES_DIR}/ \\;)\n",
        );
    }
    if let Some(dir) = job.program.workdir.as_deref().or(default_workdir(job)) {
        s += &format!("cd {}\n", sh_quote(dir));
    }
    for cmd in &job.program.setup {
        s += cmd;
        s.push('\n');
    }
    s
}

/// The rank's index from an Indexed Job's pod annotation.
pub fn completion_index_env(name: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}})
}

/// The rendezvous variables for backends where no operator sets them.
pub fn rendezvous_env(job: &TrainingJob, master_addr: String) -> Vec<Value> {
    vec![
        json!({"name": "WORLD_SIZE", "value": job.world_size.to_string()}),
        completion_index_env("RANK"),
        json!({"name": "MASTER_ADDR", "value": master_addr}),
        json!({"name": "MASTER_PORT", "value": job.networking.port.to_string()}),
    ]
}

/// The torchrun launcher with its rendezvous flags. With `--max-restarts`, torchrun's c10d rendezvous
/// (hosted on rank 0's host, `MASTER_ADDR:MASTER_PORT`) instead of the static one: a replaced or
/// restarted pod can then rejoin and the group re-forms, up to that many times
/// (<https://pytorch.org/docs/stable/elastic/run.html>); a static group cannot take a new member.
pub fn torchrun(job: &TrainingJob) -> Vec<String> {
    let head = std::iter::once("torchrun".to_string());
    match job.fault_tolerance.max_restarts {
        None => head.chain(torchrun_args(job.nproc())).collect(),
        Some(n) => head
            .chain([
                "--nnodes=${WORLD_SIZE}".to_string(),
                format!("--nproc_per_node={}", job.nproc()),
                "--rdzv_backend=c10d".into(),
                "--rdzv_endpoint=${MASTER_ADDR}:${MASTER_PORT}".into(),
                format!("--rdzv_id={}", job.name),
                format!("--max-restarts={n}"),
            ])
            .collect(),
    }
}

/// torchrun's rendezvous flags, read from the environment at run time.
pub fn torchrun_args(nproc: u32) -> Vec<String> {
    vec![
        "--nnodes=${WORLD_SIZE}".into(),
        "--node_rank=${RANK}".into(),
        format!("--nproc_per_node={nproc}"),
        "--master_addr=${MASTER_ADDR}".into(),
        "--master_port=${MASTER_PORT}".into(),
    ]
}

/// Quote for the script, keeping our own `${VAR}` references live.
fn word(s: &str) -> String {
    if s.starts_with("--") && s.contains("${") {
        format!("\"{s}\"")
    } else {
        sh_quote(s)
    }
}

/// The whole script: `set -e`, [`setup_lines`], then `exec` of `launcher` + program (the launcher is
/// omitted for non-Python programs, which run as given).
pub fn script(job: &TrainingJob, launcher: &[String]) -> String {
    let mut s = String::from("set -e\n");
    s += &setup_lines(job);
    let mut words: Vec<String> = Vec::new();
    match &job.program.main {
        Main::SmokeTest => {
            words.extend(launcher.iter().map(|w| word(w)));
            words.push("--no-python".into());
            words.extend(["python3", "-c"].map(String::from));
            words.push(sh_quote(SMOKE_TEST));
        }
        Main::Command(cmd) if cmd.first().is_some_and(|c| c.ends_with(".py")) => {
            words.extend(launcher.iter().map(|w| word(w)));
            words.extend(cmd.iter().map(|w| sh_quote(w)));
        }
        Main::Command(cmd) => words.extend(cmd.iter().map(|w| sh_quote(w))),
        Main::Shell(text) => {
            words.extend(launcher.iter().map(|w| word(w)));
            words.push(text.clone());
        }
        Main::Nothing => {}
    }
    if !words.is_empty() {
        s += "exec ";
        s += &words.join(" ");
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Framework, Main, TrainingJob};

    #[test]
    fn python_programs_run_under_the_launcher() {
        let mut j = TrainingJob::new("j", Framework::PyTorch);
        j.program.main = Main::Command(vec!["train.py".into(), "--epochs".into(), "3".into()]);
        j.program.setup = vec!["pip install -r requirements.txt".into()];
        j.program.workdir = Some("/work dir".into());
        let launcher: Vec<String> = ["torchrun".to_string()]
            .into_iter()
            .chain(torchrun_args(8))
            .collect();
        assert_eq!(
            script(&j, &launcher),
            "set -e\n".to_string()
                + USER_PRELUDE
                + "cd '/work dir'\npip install -r requirements.txt\nexec torchrun \"--nnodes=${WORLD_SIZE}\" \"--node_rank=${RANK}\" --nproc_per_node=8 \"--master_addr=${MASTER_ADDR}\" \"--master_port=${MASTER_PORT}\" train.py --epochs 3\n"
        );
    }

    #[test]
    fn other_programs_run_as_given() {
        let mut j = TrainingJob::new("j", Framework::PyTorch);
        j.program.main = Main::Command(vec!["bash".into(), "-c".into(), "echo $RANK".into()]);
        assert_eq!(
            script(&j, &["torchrun".into()]),
            format!("set -e\n{USER_PRELUDE}exec bash -c 'echo $RANK'\n")
        );
    }

    #[test]
    fn mlbatch_main_program_is_shell_text_and_setup_only_elides_the_launcher() {
        let mut j = TrainingJob::new("j", Framework::PyTorch);
        j.program.main = Main::Shell("train.py --out $OUT".into());
        assert!(script(&j, &["torchrun".into()]).ends_with("exec torchrun train.py --out $OUT\n"));
        j.program.main = Main::Nothing;
        j.program.setup = vec!["echo hi".into()];
        assert_eq!(
            script(&j, &["torchrun".into()]),
            format!("set -e\n{USER_PRELUDE}echo hi\n")
        );
    }

    #[test]
    fn no_program_runs_the_smoke_test() {
        let j = TrainingJob::new("j", Framework::PyTorch);
        let s = script(&j, &["torchrun".into()]);
        assert!(
            s.starts_with(&format!(
                "set -e\n{USER_PRELUDE}exec torchrun --no-python python3 -c 'import os"
            )),
            "{s}"
        );
        assert!(s.contains("dist.all_reduce(x)"));
        assert!(
            !SMOKE_TEST.contains('\''),
            "the script must need no shell escaping"
        );
    }
}
