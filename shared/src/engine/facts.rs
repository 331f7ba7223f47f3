//! What the rules need to know about one pod template before changing it: GPUs, how many pods the job
//! runs, its memory limit, and the opt-outs and host lists its annotations carry.

use serde_json::Value;

use super::json::{self, At};
use super::workload::Template;
use crate::policy::Policy;
use crate::quantity::{self, Quantity};
use crate::vocab::mltrain::{HOST_IGNORE_LIST, JOB_NAME, SHARED_MEMORY, WORLD_SIZE};

/// Facts about one pod template.
#[derive(Debug, Clone, Default)]
pub struct PodFacts {
    pub bare_pod: bool,
    /// GPUs the pod requests (what the scheduler reserves: max of the largest init container and
    /// the sum of the app containers).
    pub gpus: i128,
    /// Pods the job runs at once, as far as the object tells.
    pub multi_pod: bool,
    /// A GPU pod or a pod the plugin made.
    pub training: bool,
    /// The sum of the app containers' memory limits; `None` when any container has none.
    pub memory_limit: Option<Quantity>,
    pub shm_opt_out: bool,
    /// Valid entries of the policy list and every host-ignore annotation on the way to this template.
    pub host_ignore: Vec<String>,
    /// Windows pods may not carry Linux security fields.
    pub windows: bool,
}

impl PodFacts {
    pub fn gather(root: &Value, t: &Template, policy: &Policy) -> PodFacts {
        let pod = root.at(t.path.pointer()).unwrap_or(&Value::Null);
        // A TrainJob's node patch: GPUs and memory are in `spec.trainer`.
        let viewed = t
            .runtime_patch
            .as_ref()
            .and_then(|rp| rp.trainer.as_ref())
            .map(|tp| {
                let tr = root.at(tp.pointer()).unwrap_or(&Value::Null);
                let mut m = pod.as_object().cloned().unwrap_or_default();
                super::trainjob::view(&mut m, tr);
                Value::Object(m)
            });
        let spec = viewed
            .as_ref()
            .unwrap_or(pod)
            .get("spec")
            .unwrap_or(&Value::Null);
        let meta_sites: Vec<&Value> = t
            .enclosing
            .iter()
            .filter_map(|m| root.at(m.pointer()))
            .chain(pod.get("metadata"))
            .collect();
        let annotation = |key: &'static str| {
            meta_sites
                .iter()
                .filter_map(move |m| json::str_at(m, &["annotations", key]))
        };
        let gpus = pod_gpus(spec, &policy.resources.gpu_resources);
        let labelled = |key| {
            pod.get("metadata")
                .and_then(|m| json::str_at(m, &["labels", key]))
        };
        let world = labelled(WORLD_SIZE)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        let pods = t
            .pods
            .unwrap_or_else(|| pods_from_pod_spec(spec))
            .max(world);
        let mut host_ignore: Vec<String> = policy.hosts.ignore.clone();
        for list in annotation(HOST_IGNORE_LIST) {
            for host in split_host_list(list) {
                if crate::names::dns1123_subdomain(host).is_ok()
                    && !host_ignore.iter().any(|h| h == host)
                {
                    host_ignore.push(host.to_string());
                }
            }
        }
        PodFacts {
            bare_pod: t.bare_pod,
            gpus,
            multi_pod: pods > 1,
            training: gpus > 0 || labelled(JOB_NAME).is_some(),
            memory_limit: memory_limit(spec),
            shm_opt_out: annotation(SHARED_MEMORY).any(|v| v.eq_ignore_ascii_case("false")),
            host_ignore,
            windows: json::str_at(spec, &["os", "name"]) == Some("windows"),
        }
    }
}

/// Entries of a comma-separated host list, trimmed; empty entries are kept so they can be reported.
pub fn split_host_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim)
}

/// A container's count of `resource`: its limit, or its request when it has no limit.
pub fn container_resource(c: &Value, resource: &str) -> Option<Quantity> {
    let r = c.get("resources")?;
    r.get("limits")
        .and_then(|l| l.get(resource))
        .or_else(|| r.get("requests").and_then(|l| l.get(resource)))
        .and_then(|q| quantity::from_json(q).ok())
}

/// GPUs one container uses, over every GPU resource name.
pub fn container_gpus(c: &Value, gpu_resources: &[String]) -> i128 {
    gpu_resources
        .iter()
        .filter_map(|r| container_resource(c, r))
        .map(Quantity::ceil_units)
        .fold(0i128, i128::saturating_add)
}

fn pod_gpus(spec: &Value, gpu_resources: &[String]) -> i128 {
    let (mut init_max, mut app_sum) = (0, 0);
    for (field, _, c) in json::containers(spec) {
        let g = container_gpus(c, gpu_resources);
        if field == "initContainers" {
            init_max = init_max.max(g);
        } else {
            app_sum = g.saturating_add(app_sum);
        }
    }
    init_max.max(app_sum)
}

fn memory_limit(spec: &Value) -> Option<Quantity> {
    let cs = spec.get("containers")?.as_array()?;
    let mut total = Quantity::from_units(0);
    for c in cs {
        let l = c.get("resources")?.get("limits")?.get("memory")?;
        total = total.checked_add(quantity::from_json(l).ok()?)?;
    }
    (!cs.is_empty()).then_some(total)
}

/// How many pods a bare Pod's job has, read from what launchers and operators put in the pod: the
/// `WORLD_SIZE`/`PET_NNODES` variables and torchrun's `--nnodes`.
fn pods_from_pod_spec(spec: &Value) -> u64 {
    let mut pods = 1;
    let parse = |s: &str| {
        // elastic ranges `MIN:MAX` count as MAX
        s.rsplit(':')
            .next()
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    for (_, _, c) in json::containers(spec) {
        for var in ["WORLD_SIZE", "PET_NNODES"] {
            if let Some(n) = json::env_value(c, var).and_then(parse) {
                pods = pods.max(n);
            }
        }
        let words = ["command", "args"]
            .into_iter()
            .filter_map(|f| c.get(f).and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .flat_map(str::split_whitespace);
        let mut prev_nnodes = false;
        for w in words {
            let value = if prev_nnodes {
                Some(w)
            } else {
                w.strip_prefix("--nnodes=")
            };
            prev_nnodes = w == "--nnodes";
            if let Some(n) = value.and_then(parse) {
                pods = pods.max(n);
            }
        }
    }
    pods
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_of_a_bare_pod_come_from_its_launcher() {
        let cases = [
            (
                json!({"containers": [{"args": ["--nnodes=4", "train.py"]}]}),
                4,
            ),
            (
                json!({"containers": [{"command": ["sh", "-c", "torchrun --nnodes 2:8 x.py"]}]}),
                8,
            ),
            (
                json!({"containers": [{"env": [{"name": "WORLD_SIZE", "value": "16"}]}]}),
                16,
            ),
            (
                json!({"containers": [{"env": [{"name": "PET_NNODES", "value": "3"}]}]}),
                3,
            ),
            (json!({"containers": [{"args": ["python", "x.py"]}]}), 1),
        ];
        for (spec, want) in cases {
            assert_eq!(pods_from_pod_spec(&spec), want, "{spec}");
        }
    }

    #[test]
    fn gpus_count_like_the_scheduler() {
        let gpus = vec!["nvidia.com/gpu".to_string()];
        let spec = json!({
            "initContainers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}],
            "containers": [
                {"resources": {"limits": {"nvidia.com/gpu": "4"}}},
                {"resources": {"requests": {"nvidia.com/gpu": 2}}}
            ]
        });
        assert_eq!(pod_gpus(&spec, &gpus), 6);
    }

    #[test]
    fn memory_limit_needs_every_container() {
        let both = json!({"containers": [
            {"resources": {"limits": {"memory": "1Gi"}}},
            {"resources": {"limits": {"memory": "1Gi"}}}]});
        assert_eq!(memory_limit(&both).unwrap().to_binary_string(), "2Gi");
        let one = json!({"containers": [{"resources": {"limits": {"memory": "1Gi"}}}, {}]});
        assert!(memory_limit(&one).is_none());
    }
}
