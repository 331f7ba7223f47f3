//! Where pods hide: finds every pod template in an object by walking the table of workload kinds
//! ([`crate::kinds`]), recursing into AppWrapper components.
//!
//! Policy is applied to templates, not only to Pods, so `kubectl apply` of a Job or a PyTorchJob gets an
//! immediate, explained refusal instead of pods that silently never appear.

use serde_json::Value;

use super::json::FieldPath;
use crate::kinds::{self, Count, Pods, Step};

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

/// Whether the engine knows this object's kind.
pub fn is_handled(obj: &Value) -> bool {
    kinds::workload_of(obj).is_some()
}

/// Every pod template in `obj`, which sits at `at` inside the request's object.
pub fn templates(obj: &Value, at: &FieldPath, enclosing: &[FieldPath], out: &mut Vec<Template>) {
    let Some(kind) = kinds::workload_of(obj) else {
        return;
    };
    let mut inner = enclosing.to_vec();
    inner.push(at.key("metadata"));
    match kind.pods {
        Pods::Itself => out.push(Template {
            path: at.clone(),
            bare_pod: true,
            pods: None,
            enclosing: enclosing.to_vec(),
            runtime_patch: None,
        }),
        Pods::Templates {
            each,
            template,
            pods,
            trainer,
        } => {
            let holders = reach(at, Some(obj), each);
            let pods = Some(count(obj, &holders, pods));
            for (path, holder) in holders {
                let runtime_patch = trainer.map(|t| RuntimePatch {
                    trainer: named(holder, t.job).then(|| follow(at, t.fields)),
                });
                out.push(Template {
                    path: follow(&path, template),
                    bare_pod: false,
                    pods,
                    enclosing: inner.clone(),
                    runtime_patch,
                });
            }
        }
        Pods::Components(components) => {
            for (path, component) in reach(at, Some(obj), components) {
                if let Some(c) = component {
                    templates(c, &path, &inner, out);
                }
            }
        }
    }
}

/// Whether `holder` (a replicated job) has this name.
fn named(holder: Option<&Value>, name: &str) -> bool {
    holder.and_then(|h| h.get("name")).and_then(Value::as_str) == Some(name)
}

/// How many pods the templates at `holders` run at once.
fn count(obj: &Value, holders: &[(FieldPath, Option<&Value>)], pods: Count) -> u64 {
    let number = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(1);
    match pods {
        Count::Field(f) => number(kinds::field(obj, f)),
        Count::PerTemplate(factors) => holders
            .iter()
            .map(|(_, h)| {
                factors
                    .iter()
                    .map(|f| number(h.and_then(|h| kinds::field(h, f))))
                    .fold(1u64, u64::saturating_mul)
            })
            .fold(0u64, u64::saturating_add),
    }
}

/// Every place a table path leads from `value` at `at`: a field leads on even when it is absent (a
/// Job without `spec` still has its one template, found empty), a wildcard only to entries that
/// exist.
fn reach<'v>(
    at: &FieldPath,
    value: Option<&'v Value>,
    path: &str,
) -> Vec<(FieldPath, Option<&'v Value>)> {
    let mut here = vec![(at.clone(), value)];
    for step in kinds::steps(path) {
        here = here
            .into_iter()
            .flat_map(|(p, v)| -> Vec<(FieldPath, Option<&'v Value>)> {
                match step {
                    Step::Key(k) => vec![(p.key(k), v.and_then(|v| v.get(k)))],
                    Step::Entries => v
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                        .map(|(k, child)| (p.key(k), Some(child)))
                        .collect(),
                    Step::Items => v
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, item)| (p.index(i), Some(item)))
                        .collect(),
                }
            })
            .collect();
    }
    here
}

/// The field path at a table path without wildcards (the table's own test checks that those are).
fn follow(at: &FieldPath, path: &str) -> FieldPath {
    kinds::steps(path).fold(at.clone(), |p, step| match step {
        Step::Key(k) => p.key(k),
        Step::Entries | Step::Items => {
            debug_assert!(false, "{path}: a wildcard where one field is meant");
            p
        }
    })
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
    fn finds_operator_templates_counting_every_replica() {
        let tpl = json!({"spec": {"containers": []}});
        let mpi = json!({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "spec": {"mpiReplicaSpecs": {
            "Launcher": {"replicas": 1, "template": tpl}, "Worker": {"replicas": 4, "template": tpl}}}});
        assert_eq!(
            find(mpi),
            [
                (
                    "spec.mpiReplicaSpecs.Launcher.template".to_string(),
                    false,
                    Some(5),
                    1
                ),
                (
                    "spec.mpiReplicaSpecs.Worker.template".to_string(),
                    false,
                    Some(5),
                    1
                ),
            ]
        );
        let deploy =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": tpl}});
        assert_eq!(
            find(deploy),
            [("spec.template".to_string(), false, Some(1), 1)]
        );
        let no_spec = json!({"apiVersion": "batch/v1", "kind": "Job"});
        assert_eq!(
            find(no_spec),
            [("spec.template".to_string(), false, Some(1), 1)]
        );
    }

    #[test]
    fn trainjob_patches_see_the_trainer_only_in_the_node_job() {
        let obj = json!({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "spec": {
            "trainer": {"numNodes": 3},
            "runtimePatches": [{"trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [
                {"name": "dataset-initializer", "template": {}}, {"name": "node", "template": {}}]}}}}]}});
        let mut out = Vec::new();
        templates(&obj, &FieldPath::root(), &[], &mut out);
        let seen: Vec<_> = out
            .iter()
            .map(|t| {
                let trainer = t
                    .runtime_patch
                    .as_ref()
                    .map(|p| p.trainer.as_ref().map(|f| f.dotted().to_string()));
                (t.path.dotted().to_string(), t.pods, trainer)
            })
            .collect();
        let path = |j: usize| {
            format!(
                "spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[{j}].template.spec.template"
            )
        };
        assert_eq!(
            seen,
            [
                (path(0), Some(3), Some(None)),
                (path(1), Some(3), Some(Some("spec.trainer".to_string()))),
            ]
        );
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
