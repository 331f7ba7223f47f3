//! MXNet's parameter server (DESIGN §3, Bitnami's `mode=distributed`) on the `job` backend: one
//! scheduler, `--servers` servers and `--world-size` workers, each an Indexed Job, wired with the DMLC
//! variables so every role finds the scheduler at `<job>-scheduler-0.<job>`. Every role runs the same
//! program (ps-lite decides the role from `DMLC_ROLE`); the Job named `<job>`, the workers, decides the
//! result, and scheduler and servers end when the workers finalize. `--world-size 1` is Bitnami's
//! standalone mode: one pod, no parameter server.
//! Reference: <https://mxnet.apache.org/versions/1.9.1/api/faq/distributed_training>.

use serde_json::{Value, json};

use super::launch::{setup_lines, sh_join, sh_quote};
use super::{job::headless_service, job::indexed_job, pod};
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

/// The scheduler's address, as every role sees it.
pub fn scheduler_host(job: &TrainingJob) -> String {
    super::group::host(job, "scheduler", 0)
}

pub fn servers(job: &TrainingJob) -> u32 {
    job.options.servers.unwrap_or(1)
}

fn script(job: &TrainingJob) -> String {
    let mut s = String::from("set -e\n");
    s += &setup_lines(job);
    match &job.program.main {
        Main::SmokeTest => s += &format!("exec python3 -c {}\n", sh_quote(SMOKE_TEST)),
        Main::Command(cmd) if cmd[0].ends_with(".py") => {
            s += &format!("exec python3 {}\n", sh_join(cmd))
        }
        Main::Command(cmd) => s += &format!("exec {}\n", sh_join(cmd)),
        Main::Shell(text) => s += &format!("exec python3 {text}\n"),
        Main::Nothing => {}
    }
    s
}

/// The DMLC variables of one role.
pub fn dmlc_env(job: &TrainingJob, role: &str) -> Vec<Value> {
    vec![
        json!({"name": "DMLC_ROLE", "value": role}),
        json!({"name": "DMLC_PS_ROOT_URI", "value": scheduler_host(job)}),
        json!({"name": "DMLC_PS_ROOT_PORT", "value": job.networking.port.to_string()}),
        json!({"name": "DMLC_NUM_SERVER", "value": servers(job).to_string()}),
        json!({"name": "DMLC_NUM_WORKER", "value": job.world_size.to_string()}),
    ]
}

fn role_job(job: &TrainingJob, role: &'static str, name: String, pods: u32) -> Value {
    let port = job.networking.port;
    let mut parts = pod::PodParts {
        env: dmlc_env(job, role),
        subdomain: Some(job.name.clone()),
        restart_policy: Some(job.fault_tolerance.restart_policy.clone()),
        role: Some(role),
        ..pod::PodParts::new("mxnet", script(job))
    };
    if role == "scheduler" {
        parts.ports = vec![json!({"name": "scheduler", "containerPort": port, "protocol": "TCP"})];
    }
    if role != "worker" {
        // Only workers compute: scheduler and servers get CPU and memory but no GPUs.
        parts.resources =
            Some(json!({"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}));
    }
    let template = pod::template(job, parts);
    let mut j = indexed_job(job, &name, pods, template);
    if role != "worker" {
        j["metadata"]["labels"]
            .as_object_mut()
            .map(|l| l.remove(super::QUEUE_LABEL));
    }
    j
}

/// The MXNet objects, in apply order.
pub fn render(job: &TrainingJob) -> Vec<Value> {
    if job.world_size == 1 {
        let template = pod::template(
            job,
            pod::PodParts {
                restart_policy: Some(job.fault_tolerance.restart_policy.clone()),
                ..pod::PodParts::new("mxnet", script(job))
            },
        );
        let mut j = indexed_job(job, &job.name, 1, template);
        j["spec"]["completionMode"] = json!("NonIndexed");
        return vec![j];
    }
    let port = job.networking.port;
    let mut service = headless_service(
        job,
        json!([{"name": "scheduler", "port": port, "targetPort": port, "protocol": "TCP"}]),
    );
    service["spec"]["selector"][pod::ROLE_LABEL] = json!("scheduler");
    vec![
        service,
        role_job(job, "scheduler", format!("{}-scheduler", job.name), 1),
        role_job(job, "server", format!("{}-server", job.name), servers(job)),
        role_job(job, "worker", job.name.clone(), job.world_size),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Framework;

    #[test]
    fn every_role_finds_the_scheduler() {
        let mut j = TrainingJob::new("mx", Framework::MXNet);
        j.world_size = 3;
        j.options.servers = Some(2);
        let objs = render(&j);
        assert_eq!(objs.len(), 4);
        let counts: Vec<(String, u64)> = objs[1..]
            .iter()
            .map(|o| {
                (
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                    o["spec"]["parallelism"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counts,
            [
                ("mx-scheduler".into(), 1),
                ("mx-server".into(), 2),
                ("mx".into(), 3)
            ]
        );
        for (o, role) in objs[1..].iter().zip(["scheduler", "server", "worker"]) {
            let env = &o["spec"]["template"]["spec"]["containers"][0]["env"];
            let get = |n: &str| {
                env.as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["name"] == n)
                    .unwrap()["value"]
                    .clone()
            };
            assert_eq!(get("DMLC_ROLE"), role);
            assert_eq!(get("DMLC_PS_ROOT_URI"), "mx-scheduler-0.mx");
            assert_eq!(get("DMLC_PS_ROOT_PORT"), "29500");
            assert_eq!(get("DMLC_NUM_SERVER"), "2");
            assert_eq!(get("DMLC_NUM_WORKER"), "3");
            assert_eq!(o["spec"]["template"]["spec"]["subdomain"], "mx");
        }
        assert_eq!(objs[0]["spec"]["selector"]["mltrain.io/role"], "scheduler");
    }

    #[test]
    fn world_size_one_is_standalone() {
        let j = TrainingJob::new("mx", Framework::MXNet);
        let objs = render(&j);
        assert_eq!(objs.len(), 1);
        assert!(
            objs[0]["spec"]["template"]["spec"]["containers"][0]
                .get("env")
                .is_none()
        );
    }
}
