//! Where pods hide: finds every pod template in an object, for each workload kind the engine knows,
//! recursing into AppWrapper components.
//!
//! Policy is applied to templates, not only to Pods, so `kubectl apply` of a Job or a PyTorchJob gets an
//! immediate, explained refusal instead of pods that silently never appear.

use serde_json::Value;

use super::json::FieldPath;

/// A kind the engine applies to: (API group, kind, plural resource). The webhook configurations in
/// `deploy/` must list exactly these (a test compares them).
pub const HANDLED_KINDS: &[(&str, &str, &str)] = &[
    ("", "Pod", "pods"),
    ("batch", "Job", "jobs"),
    ("batch", "CronJob", "cronjobs"),
    ("apps", "Deployment", "deployments"),
    ("apps", "StatefulSet", "statefulsets"),
    ("kubeflow.org", "PyTorchJob", "pytorchjobs"),
    ("kubeflow.org", "MPIJob", "mpijobs"),
    ("jobset.x-k8s.io", "JobSet", "jobsets"),
    ("workload.codeflare.dev", "AppWrapper", "appwrappers"),
    ("trainer.kubeflow.org", "TrainJob", "trainjobs"),
];

/// One pod template (or a bare Pod) found in an object.
#[derive(Debug, Clone)]
pub struct Template {
    /// The template object itself: it has `metadata` and `spec`.
    pub path: FieldPath,
    /// A Pod, not a template: its spec is mostly immutable and already past priority admission.
    pub bare_pod: bool,
    /// How many pods the enclosing workload runs at once; `None` when the object does not say
    /// (a bare Pod).
    pub pods: Option<u64>,
    /// The metadata objects enclosing this template, outermost first (an AppWrapper, its PyTorchJob).
    pub enclosing: Vec<FieldPath>,
    /// Set for a TrainJob's runtime patch template: rules run on a view with the trainer fields and
    /// the result is cut back to the patch schema ([`super::trainjob`]).
    pub runtime_patch: Option<RuntimePatch>,
}

/// Where a runtime patch template's trainer fields are.
#[derive(Debug, Clone)]
pub struct RuntimePatch {
    /// `spec.trainer` of the TrainJob, when this patch targets the `node` job.
    pub trainer: Option<FieldPath>,
}

/// The API group and kind of an object.
pub fn group_kind(obj: &Value) -> (&str, &str) {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    (group, obj.get("kind").and_then(Value::as_str).unwrap_or(""))
}

/// Whether the engine knows this object's kind.
pub fn is_handled(obj: &Value) -> bool {
    let (g, k) = group_kind(obj);
    HANDLED_KINDS.iter().any(|(hg, hk, _)| *hg == g && *hk == k)
}

fn count(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_u64).unwrap_or(1)
}

/// Every pod template in `obj`, which sits at `at` inside the request's object.
pub fn templates(obj: &Value, at: &FieldPath, enclosing: &[FieldPath], out: &mut Vec<Template>) {
    let (group, kind) = group_kind(obj);
    let spec = obj.get("spec");
    let mut inner = enclosing.to_vec();
    inner.push(at.key("metadata"));
    let mut push = |path: FieldPath, pods: Option<u64>| {
        out.push(Template {
            path,
            bare_pod: false,
            pods,
            enclosing: inner.clone(),
            runtime_patch: None,
        })
    };
    match (group, kind) {
        ("", "Pod") => out.push(Template {
            path: at.clone(),
            bare_pod: true,
            pods: None,
            enclosing: enclosing.to_vec(),
            runtime_patch: None,
        }),
        ("batch", "Job") => push(
            at.key("spec").key("template"),
            Some(count(spec.and_then(|s| s.get("parallelism")))),
        ),
        ("batch", "CronJob") => {
            let job = spec
                .and_then(|s| s.get("jobTemplate"))
                .and_then(|t| t.get("spec"));
            push(
                at.key("spec")
                    .key("jobTemplate")
                    .key("spec")
                    .key("template"),
                Some(count(job.and_then(|j| j.get("parallelism")))),
            )
        }
        ("apps", "Deployment" | "StatefulSet") => push(
            at.key("spec").key("template"),
            Some(count(spec.and_then(|s| s.get("replicas")))),
        ),
        ("kubeflow.org", "PyTorchJob" | "MPIJob") => {
            let field = if kind == "PyTorchJob" {
                "pytorchReplicaSpecs"
            } else {
                "mpiReplicaSpecs"
            };
            if let Some(specs) = spec.and_then(|s| s.get(field)).and_then(Value::as_object) {
                // Saturating: a hostile count must not overflow (a panic in debug builds, a wrong
                // answer in release); found by the fuzzer.
                let total = specs
                    .values()
                    .map(|r| count(r.get("replicas")))
                    .fold(0u64, u64::saturating_add);
                for name in specs.keys() {
                    push(
                        at.key("spec").key(field).key(name).key("template"),
                        Some(total),
                    );
                }
            }
        }
        ("jobset.x-k8s.io", "JobSet") => {
            if let Some(rjs) = spec
                .and_then(|s| s.get("replicatedJobs"))
                .and_then(Value::as_array)
            {
                let parallel = |rj: &Value| {
                    count(
                        rj.get("template")
                            .and_then(|t| t.get("spec"))
                            .and_then(|s| s.get("parallelism")),
                    )
                };
                let total = rjs
                    .iter()
                    .map(|rj| count(rj.get("replicas")).saturating_mul(parallel(rj)))
                    .fold(0u64, u64::saturating_add);
                for i in 0..rjs.len() {
                    push(
                        at.key("spec")
                            .key("replicatedJobs")
                            .index(i)
                            .key("template")
                            .key("spec")
                            .key("template"),
                        Some(total),
                    );
                }
            }
        }
        ("trainer.kubeflow.org", "TrainJob") => {
            let pods = Some(super::trainjob::num_nodes(obj));
            let patches = spec
                .and_then(|s| s.get("runtimePatches"))
                .and_then(Value::as_array);
            for (i, p) in patches.into_iter().flatten().enumerate() {
                let rjs = p
                    .pointer("/trainingRuntimeSpec/template/spec/replicatedJobs")
                    .and_then(Value::as_array);
                for (j, rj) in rjs.into_iter().flatten().enumerate() {
                    let node =
                        rj.get("name").and_then(Value::as_str) == Some(super::trainjob::NODE);
                    out.push(Template {
                        path: at
                            .key("spec")
                            .key("runtimePatches")
                            .index(i)
                            .key("trainingRuntimeSpec")
                            .key("template")
                            .key("spec")
                            .key("replicatedJobs")
                            .index(j)
                            .key("template")
                            .key("spec")
                            .key("template"),
                        bare_pod: false,
                        pods,
                        enclosing: inner.clone(),
                        runtime_patch: Some(RuntimePatch {
                            trainer: node.then(|| at.key("spec").key("trainer")),
                        }),
                    });
                }
            }
        }
        ("workload.codeflare.dev", "AppWrapper") => {
            if let Some(components) = spec
                .and_then(|s| s.get("components"))
                .and_then(Value::as_array)
            {
                for (i, c) in components.iter().enumerate() {
                    if let Some(t) = c.get("template") {
                        let path = at.key("spec").key("components").index(i).key("template");
                        templates(t, &path, &inner, out);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(obj: Value) -> Vec<(String, bool, Option<u64>, usize)> {
        let mut out = Vec::new();
        templates(&obj, &FieldPath::root(), &[], &mut out);
        out.into_iter()
            .map(|t| {
                (
                    t.path.dotted().to_string(),
                    t.bare_pod,
                    t.pods,
                    t.enclosing.len(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_templates_in_every_kind() {
        let tpl = json!({"spec": {"containers": []}});
        let cases = [
            (
                json!({"apiVersion": "v1", "kind": "Pod"}),
                vec![("", true, None, 0)],
            ),
            (
                json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 4, "template": tpl}}),
                vec![("spec.template", false, Some(4), 1)],
            ),
            (
                json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": tpl}}}}),
                vec![("spec.jobTemplate.spec.template", false, Some(1), 1)],
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": 3, "template": tpl}}),
                vec![("spec.template", false, Some(3), 1)],
            ),
            (
                json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {
                    "Master": {"replicas": 1, "template": tpl}, "Worker": {"replicas": 3, "template": tpl}}}}),
                vec![
                    (
                        "spec.pytorchReplicaSpecs.Master.template",
                        false,
                        Some(4),
                        1,
                    ),
                    (
                        "spec.pytorchReplicaSpecs.Worker.template",
                        false,
                        Some(4),
                        1,
                    ),
                ],
            ),
            (
                json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "spec": {"replicatedJobs": [
                    {"name": "w", "replicas": 2, "template": {"spec": {"parallelism": 4, "template": tpl}}}]}}),
                vec![(
                    "spec.replicatedJobs[0].template.spec.template",
                    false,
                    Some(8),
                    1,
                )],
            ),
            (json!({"apiVersion": "v1", "kind": "ConfigMap"}), vec![]),
        ];
        for (obj, want) in cases {
            let want: Vec<_> = want
                .into_iter()
                .map(|(p, b, n, e)| (p.to_string(), b, n, e))
                .collect();
            assert_eq!(find(obj), want);
        }
    }

    #[test]
    fn recurses_into_appwrapper_components() {
        let obj = json!({"apiVersion": "workload.codeflare.dev/v1beta2", "kind": "AppWrapper", "spec": {"components": [
            {"template": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {
                "Master": {"template": {}}}}}},
            {"template": {"apiVersion": "v1", "kind": "Service"}}
        ]}});
        assert_eq!(
            find(obj),
            vec![(
                "spec.components[0].template.spec.pytorchReplicaSpecs.Master.template".to_string(),
                false,
                Some(1),
                2
            )]
        );
    }
}
