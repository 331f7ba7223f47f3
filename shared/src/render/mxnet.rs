//! MXNet's parameter server (DESIGN §3, Bitnami's `mode=distributed`) on the `job` backend, laid out
//! as MXNet's own launcher (`tools/launch.py`) lays it out: every worker pod also runs a server (the
//! first `--servers` of them) and pod 0 the scheduler, all in one Indexed Job `<job>` behind a headless
//! Service. One Job means one result and one Kueue workload: when any process fails its pod fails,
//! and the Job controller (`backoffLimit: 0`) ends every other pod, so no scheduler or server is left
//! waiting for a worker that died. Every process runs the same program; ps-lite takes the role from
//! `DMLC_ROLE`, and `import mxnet` runs a server's or the scheduler's loop until the workers finalize.
//!
//! ps-lite's scheduler binds its own address (`DMLC_PS_ROOT_URI`) unless `DMLC_USE_KUBERNETES` is set,
//! when it binds 0.0.0.0 (dmlc/ps-lite `src/zmq_van.h`, `ZMQVan::Bind`); ZeroMQ cannot bind a DNS name,
//! so the variable is always set, as Kubeflow's MXJob controller sets it. Servers and workers
//! advertise their pod IP (the first non-loopback interface, `src/van.cc`, `Van::Start`).
//! `--world-size 1` is Bitnami's standalone mode: one pod, no parameter server.
//! Reference: <https://mxnet.apache.org/versions/1.9.1/api/faq/distributed_training>.

use serde_json::{Value, json};

use super::job::{Shape, batch_job, headless_service, job_spec};
use super::launch::setup_lines;
use super::pod;
use super::shell::{sh_join, sh_quote};
use crate::model::{Main, TrainingJob};

/// The distributed smoke test: every worker pushes ones to a dist_sync key-value store; the pulled sum
/// must equal the number of workers. Scheduler and servers block in `import mxnet` until it is over.
pub const SMOKE_TEST: &str = r#"import os, sys
import mxnet as mx
if os.environ.get("DMLC_ROLE", "worker") != "worker":
    sys.exit(0)
kv = mx.kv.create("dist_sync" if "DMLC_PS_ROOT_URI" in os.environ else "local")
shape = (2, 3)
kv.init(3, mx.nd.zeros(shape))
kv.push(3, mx.nd.ones(shape))
out = mx.nd.zeros(shape)
kv.pull(3, out=out)
want = float(kv.num_workers)
ok = bool((out.asnumpy() == want).all())
if kv.rank == 0:
    verdict = "ok" if ok else "WRONG SUM"
    print(f"mltrain smoke test: workers={kv.num_workers} kvstore={kv.type} push/pull={verdict}", flush=True)
sys.exit(0 if ok else 1)
"#;

/// The scheduler's address, as every role sees it: pod 0 of the Indexed Job.
pub fn scheduler_host(job: &TrainingJob) -> String {
    format!("{0}-0.{0}", job.name)
}

/// The program, as one shell command line.
fn program(job: &TrainingJob) -> String {
    match &job.program.main {
        Main::SmokeTest => format!("python3 -c {}", sh_quote(SMOKE_TEST)),
        Main::Command(cmd) if cmd[0].ends_with(".py") => format!("python3 {}", sh_join(cmd)),
        Main::Command(cmd) => sh_join(cmd),
        Main::Shell(text) => format!("python3 {text}"),
        Main::Nothing => "true".into(),
    }
}

/// Start this pod's roles and wait for them; the first one to fail stops the others and the pod.
const ROLES: &str = r#"index=${JOB_COMPLETION_INDEX:?the Job controller sets JOB_COMPLETION_INDEX}
pids=()
role() {
  ( export DMLC_ROLE=$1; program ) &
  pids+=("$!")
  echo "mltrain: pod $index runs the $1"
}
[ "$index" = 0 ] && role scheduler
[ "$index" -lt "$DMLC_NUM_SERVER" ] && role server
role worker
status=0
while [ "${#pids[@]}" -gt 0 ]; do
  left=()
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then left+=("$p"); else wait "$p" || status=$?; fi
  done
  pids=("${left[@]}")
  if [ "$status" != 0 ]; then
    [ "${#pids[@]}" -gt 0 ] && kill "${pids[@]}" 2>/dev/null
    echo "mltrain: a process of pod $index exited with $status; stopping the pod" >&2
    exit "$status"
  fi
  sleep 1
done
"#;

fn script(job: &TrainingJob) -> String {
    let mut s = String::from("set -e\n");
    s += &setup_lines(job);
    if job.world_size == 1 {
        s += &format!("exec {}\n", program(job));
    } else {
        s += &format!("program() {{ {}; }}\n", program(job));
        s += ROLES;
    }
    s
}

/// The DMLC variables every process shares (`DMLC_ROLE` is set per process).
pub fn dmlc_env(job: &TrainingJob, servers: u32) -> Vec<Value> {
    vec![
        json!({"name": "DMLC_PS_ROOT_URI", "value": scheduler_host(job)}),
        json!({"name": "DMLC_PS_ROOT_PORT", "value": job.networking.port.to_string()}),
        json!({"name": "DMLC_NUM_SERVER", "value": servers.to_string()}),
        json!({"name": "DMLC_NUM_WORKER", "value": job.world_size.to_string()}),
        json!({"name": "DMLC_USE_KUBERNETES", "value": "1"}),
    ]
}

/// The MXNet objects with `servers` parameter servers, in apply order.
pub fn render(job: &TrainingJob, servers: u32) -> Vec<Value> {
    if job.world_size == 1 {
        return vec![standalone(job)];
    }
    let port = job.networking.port;
    let template = pod::template(
        job,
        pod::PodParts {
            env: dmlc_env(job, servers),
            subdomain: Some(job.name.clone()),
            // A failed process must fail its pod, so the Job ends every other pod.
            restart_policy: Some("Never".into()),
            ports: vec![json!({"name": "scheduler", "containerPort": port, "protocol": "TCP"})],
            ..pod::PodParts::new("mxnet", script(job))
        },
    );
    let shape = Shape {
        // No retries: ps-lite has no way for a restarted process to rejoin.
        backoff_limit: 0,
        ..Shape::workload(job, job.world_size)
    };
    let service = headless_service(
        job,
        json!([{"name": "scheduler", "port": port, "targetPort": port, "protocol": "TCP"}]),
        None,
    );
    vec![
        service,
        batch_job(job, &job.name, job_spec(job, shape, template)),
    ]
}

/// Bitnami's standalone mode: one pod, no parameter server.
fn standalone(job: &TrainingJob) -> Value {
    let template = pod::template(
        job,
        pod::PodParts {
            restart_policy: Some(job.fault_tolerance.restart_policy.clone()),
            ..pod::PodParts::new("mxnet", script(job))
        },
    );
    let shape = Shape {
        indexed: false,
        ..Shape::workload(job, 1)
    };
    batch_job(job, &job.name, job_spec(job, shape, template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Framework;

    #[test]
    fn every_process_finds_the_scheduler_in_pod_0() {
        let mut j = TrainingJob::new("mx", Framework::MXNet);
        j.world_size = 3;
        let objs = render(&j, 2);
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1]["metadata"]["name"], "mx");
        assert_eq!(objs[1]["spec"]["parallelism"], 3);
        assert_eq!(objs[1]["spec"]["backoffLimit"], 0);
        let env = &objs[1]["spec"]["template"]["spec"]["containers"][0]["env"];
        let get = |n: &str| {
            env.as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == n)
                .unwrap()["value"]
                .clone()
        };
        assert_eq!(get("DMLC_PS_ROOT_URI"), "mx-0.mx");
        assert_eq!(get("DMLC_PS_ROOT_PORT"), "29500");
        assert_eq!(get("DMLC_NUM_SERVER"), "2");
        assert_eq!(get("DMLC_NUM_WORKER"), "3");
        assert_eq!(get("DMLC_USE_KUBERNETES"), "1");
        assert_eq!(objs[1]["spec"]["template"]["spec"]["subdomain"], "mx");
        let script = objs[1]["spec"]["template"]["spec"]["containers"][0]["command"][2]
            .as_str()
            .unwrap();
        assert!(script.contains("role scheduler") && script.contains("role server"));
        let check = std::process::Command::new("bash")
            .args(["-n", "-c", script])
            .status()
            .unwrap();
        assert!(check.success());
    }

    #[test]
    fn world_size_one_is_standalone() {
        let j = TrainingJob::new("mx", Framework::MXNet);
        let objs = render(&j, 1);
        assert_eq!(objs.len(), 1);
        assert!(
            objs[0]["spec"]["template"]["spec"]["containers"][0]
                .get("env")
                .is_none()
        );
    }
}
