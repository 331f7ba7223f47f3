//! One table of the workload kinds mltrain knows: how to address each (API group, version, kind,
//! plural, and for a kind a CRD adds, the controller to install), where its pod templates live, and,
//! for the kinds a job's top object can be, how the day-2 commands tell that it is queued, done or
//! failed. Below it, the other kinds mltrain renders or reads ([`JOB_PARTS`], [`LOCAL_QUEUE`], the
//! Trainer's runtimes, ...), so every API name is spelled here once.
//!
//! The admission engine finds pod templates by walking this table ([`crate::engine::workload`]), and
//! the webhook configurations in `deploy/` must list exactly its kinds (a test compares them); the
//! renderers write `apiVersion` and `kind` from it; the plugin lists, applies and deletes a job's
//! objects by it, derives the job's phase from it, and its preflight asks the cluster whether each
//! kind is served. So a new workload kind is one more row here, not a lesson taught to four modules.
//!
//! Paths in the table are dotted field paths relative to the object (or to the element a wildcard
//! reached): `*` stands for every entry of a map, a `[*]` suffix for every item of a list
//! (`spec.replicatedJobs[*]`). Paths the table reads one value at must not hold wildcards (a test
//! checks). References: the API types named at each row.

use serde_json::Value;

use crate::engine::json::At;
use crate::vocab;

/// What a client needs to address one kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    /// The API group; empty for the core group.
    pub group: &'static str,
    /// The version mltrain renders and lists. The engine accepts every version of the group: a
    /// webhook rule with `apiVersions: ["*"]` sends them all.
    pub version: &'static str,
    pub kind: &'static str,
    /// The plural resource name, as REST paths and webhook rules spell it.
    pub plural: &'static str,
    /// For a kind a CRD adds, the controller that serves it: what preflight tells a user to install
    /// when the cluster does not serve the API. `None` for built-in kinds.
    pub controller: Option<Controller>,
}

/// A controller that serves kinds a CRD adds, and where its installation is documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Controller {
    /// How a sentence names it (`the MPI operator`).
    pub name: &'static str,
    /// Its installation guide.
    pub install: &'static str,
}

impl Resource {
    /// A built-in kind.
    pub const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Self {
        Resource {
            group,
            version,
            kind,
            plural,
            controller: None,
        }
    }

    /// The same kind, served by `controller` once its CRD is installed.
    pub const fn served_by(self, controller: Controller) -> Self {
        Resource {
            controller: Some(controller),
            ..self
        }
    }

    /// `group/version`, or the version alone for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether `obj` is of this kind at any version of this group (what the engine matches on).
    pub fn is_kind_of(&self, obj: &Value) -> bool {
        let (group, kind) = group_and_kind(obj);
        self.is(group, kind)
    }

    /// Whether this is the kind `kind` of the API group `group`, at any version.
    fn is(&self, group: &str, kind: &str) -> bool {
        self.kind == kind && self.group == group
    }

    /// Whether `obj` is of this kind at exactly this version (what the plugin renders).
    pub fn is_exactly(&self, obj: &Value) -> bool {
        obj.get("kind").and_then(Value::as_str) == Some(self.kind)
            && obj.get("apiVersion").and_then(Value::as_str) == Some(&self.api_version())
    }
}

/// One workload kind: a kind of object that makes pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadKind {
    pub api: Resource,
    /// Where its pod templates live.
    pub pods: Pods,
    /// Set for the kinds a job's top object can be (the object named after the job): how the
    /// day-2 commands read it.
    pub top: Option<Top>,
}

/// Where a workload keeps its pod templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pods {
    /// The object is a Pod: no template, and past the API server's Priority admission.
    Itself,
    /// Each object at `each` (a replica spec, a replicated job, or the workload's own spec) holds one
    /// pod template at `template`; together they run `pods` pods at once.
    Templates {
        each: &'static str,
        template: &'static str,
        pods: Count,
        /// Set when the templates are Trainer runtime patches rather than pod templates.
        trainer: Option<TrainerFields>,
    },
    /// Each object at this path is a workload of its own kind, walked by its own row (an AppWrapper's
    /// components); the wrapper's metadata encloses theirs.
    Components(&'static str),
}

/// How many pods a workload runs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Over every object at `each`, the product of these fields of it (each 1 when absent), summed.
    /// Saturating: a hostile count must not overflow (found by the fuzzer).
    PerTemplate(&'static [&'static str]),
    /// One field of the workload, 1 when absent.
    Field(&'static str),
}

/// A TrainJob's patch templates: the Trainer merges the fields at `fields` (image, command, env,
/// resources) into the replicated job named `job`, so the rules must see them there
/// ([`crate::engine::trainjob`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainerFields {
    pub fields: &'static str,
    pub job: &'static str,
}

/// How the day-2 commands read a job's top object of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Top {
    /// The flag Kueue sets while the job waits for quota.
    pub suspend: &'static str,
    /// How it says it is over.
    pub finished: Finished,
    /// The kind of the workload its controller makes under the same name (an AppWrapper's
    /// PyTorchJob, a TrainJob's JobSet): that one carries our labels too but is not the job's top.
    pub wraps: Option<&'static str>,
}

/// How a top object says it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// A `status.conditions` entry of this type with status `True`.
    Conditions {
        succeeded: &'static str,
        failed: &'static str,
    },
    /// The value at `field`; the values in `queued` (or none) mean the workload is not admitted yet.
    Phase {
        field: &'static str,
        succeeded: &'static str,
        failed: &'static str,
        queued: &'static [&'static str],
    },
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// The condition type every suspendable kind here reports while suspended (Job, JobSet, PyTorchJob,
/// MPIJob, TrainJob).
pub const SUSPENDED_CONDITION: &str = "Suspended";

impl Top {
    /// How the job ended, if it did; success wins when an object claims both.
    pub fn outcome(&self, obj: &Value) -> Option<Outcome> {
        let (succeeded, failed) = match self.finished {
            Finished::Conditions { succeeded, failed } => {
                (condition_true(obj, succeeded), condition_true(obj, failed))
            }
            Finished::Phase {
                field: at,
                succeeded,
                failed,
                ..
            } => {
                let phase = field(obj, at).and_then(Value::as_str);
                (phase == Some(succeeded), phase == Some(failed))
            }
        };
        match (succeeded, failed) {
            (true, _) => Some(Outcome::Succeeded),
            (_, true) => Some(Outcome::Failed),
            _ => None,
        }
    }

    /// Whether the job waits to be admitted: its suspend flag, a queued phase, or a `Suspended`
    /// condition.
    pub fn held(&self, obj: &Value) -> bool {
        let queued_phase = match self.finished {
            Finished::Phase {
                field: at, queued, ..
            } => field(obj, at)
                .and_then(Value::as_str)
                .is_none_or(|p| queued.contains(&p)),
            Finished::Conditions { .. } => false,
        };
        field(obj, self.suspend) == Some(&Value::Bool(true))
            || queued_phase
            || condition_true(obj, SUSPENDED_CONDITION)
    }
}

/// The Kubeflow Trainer (v2): TrainJobs and their runtimes.
pub const TRAINER: Controller = Controller {
    name: "the Kubeflow Trainer",
    install: "https://www.kubeflow.org/docs/components/trainer/operator-guides/installation/",
};
/// The AppWrapper controller (MLBatch).
pub const APP_WRAPPER_CONTROLLER: Controller = Controller {
    name: "the AppWrapper controller",
    install: "https://project-codeflare.github.io/appwrapper/",
};
/// The Kubeflow training operator (v1): PyTorchJobs.
pub const TRAINING_OPERATOR: Controller = Controller {
    name: "the Kubeflow training operator",
    install: "https://www.kubeflow.org/docs/components/trainer/legacy-v1/installation/",
};
/// The MPI operator (v2): MPIJobs.
pub const MPI_OPERATOR: Controller = Controller {
    name: "the MPI operator",
    install: "https://github.com/kubeflow/mpi-operator",
};
/// JobSet.
pub const JOB_SET_CONTROLLER: Controller = Controller {
    name: "JobSet",
    install: "https://jobset.sigs.k8s.io/docs/installation/",
};
/// Kueue.
pub const KUEUE: Controller = Controller {
    name: "Kueue",
    install: "https://kueue.sigs.k8s.io/docs/installation/",
};

/// Kubeflow Trainer v2 (kubeflow/trainer `pkg/apis/trainer/v1alpha1/trainjob_types.go`): no pod
/// template of its own; pod settings sit in runtime patches of the runtime's replicated jobs.
pub const TRAIN_JOB: WorkloadKind = WorkloadKind {
    api: Resource::new(TRAINER_GROUP, TRAINER_VERSION, "TrainJob", "trainjobs").served_by(TRAINER),
    pods: Pods::Templates {
        each: "spec.runtimePatches[*].trainingRuntimeSpec.template.spec.replicatedJobs[*]",
        template: "template.spec.template",
        pods: Count::Field("spec.trainer.numNodes"),
        trainer: Some(TrainerFields {
            fields: "spec.trainer",
            job: vocab::trainer::NODE,
        }),
    },
    top: Some(Top {
        suspend: "spec.suspend",
        finished: Finished::Conditions {
            succeeded: "Complete",
            failed: "Failed",
        },
        wraps: Some(JOB_SET.api.kind),
    }),
};

/// AppWrapper (project-codeflare/appwrapper `api/v1beta2/appwrapper_types.go`): wraps other
/// workloads and reports one `status.phase` for them.
pub const APP_WRAPPER: WorkloadKind = WorkloadKind {
    api: Resource::new(
        "workload.codeflare.dev",
        "v1beta2",
        "AppWrapper",
        "appwrappers",
    )
    .served_by(APP_WRAPPER_CONTROLLER),
    pods: Pods::Components("spec.components[*].template"),
    top: Some(Top {
        suspend: "spec.suspend",
        finished: Finished::Phase {
            field: "status.phase",
            succeeded: "Succeeded",
            failed: "Failed",
            queued: &["", "Suspended"],
        },
        wraps: Some(PYTORCH_JOB.api.kind),
    }),
};

/// The training operator's PyTorchJob (kubeflow/training-operator `pkg/apis/kubeflow.org/v1`).
pub const PYTORCH_JOB: WorkloadKind = WorkloadKind {
    api: Resource::new("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs")
        .served_by(TRAINING_OPERATOR),
    pods: Pods::Templates {
        each: "spec.pytorchReplicaSpecs.*",
        template: "template",
        pods: Count::PerTemplate(&["replicas"]),
        trainer: None,
    },
    top: Some(Top {
        suspend: "spec.runPolicy.suspend",
        finished: Finished::Conditions {
            succeeded: "Succeeded",
            failed: "Failed",
        },
        wraps: None,
    }),
};

/// The MPI operator's MPIJob (kubeflow/mpi-operator `pkg/apis/kubeflow/v2beta1/types.go`).
pub const MPI_JOB: WorkloadKind = WorkloadKind {
    api: Resource::new("kubeflow.org", "v2beta1", "MPIJob", "mpijobs").served_by(MPI_OPERATOR),
    pods: Pods::Templates {
        each: "spec.mpiReplicaSpecs.*",
        template: "template",
        pods: Count::PerTemplate(&["replicas"]),
        trainer: None,
    },
    top: Some(Top {
        suspend: "spec.runPolicy.suspend",
        finished: Finished::Conditions {
            succeeded: "Succeeded",
            failed: "Failed",
        },
        wraps: None,
    }),
};

/// JobSet (kubernetes-sigs/jobset `api/jobset/v1alpha2/jobset_types.go`): replicated Jobs, each run
/// `replicas` times.
pub const JOB_SET: WorkloadKind = WorkloadKind {
    api: Resource::new("jobset.x-k8s.io", "v1alpha2", "JobSet", "jobsets")
        .served_by(JOB_SET_CONTROLLER),
    pods: Pods::Templates {
        each: "spec.replicatedJobs[*]",
        template: "template.spec.template",
        pods: Count::PerTemplate(&["replicas", "template.spec.parallelism"]),
        trainer: None,
    },
    top: Some(Top {
        suspend: "spec.suspend",
        finished: Finished::Conditions {
            succeeded: "Completed",
            failed: "Failed",
        },
        wraps: None,
    }),
};

/// Job (k8s.io/api `batch/v1/types.go`).
pub const JOB: WorkloadKind = WorkloadKind {
    api: Resource::new("batch", "v1", "Job", "jobs"),
    pods: Pods::Templates {
        each: "spec",
        template: "template",
        pods: Count::PerTemplate(&["parallelism"]),
        trainer: None,
    },
    top: Some(Top {
        suspend: "spec.suspend",
        finished: Finished::Conditions {
            succeeded: "Complete",
            failed: "Failed",
        },
        wraps: None,
    }),
};

/// CronJob: a Job template run on a schedule.
pub const CRON_JOB: WorkloadKind = WorkloadKind {
    api: Resource::new("batch", "v1", "CronJob", "cronjobs"),
    pods: Pods::Templates {
        each: "spec.jobTemplate.spec",
        template: "template",
        pods: Count::PerTemplate(&["parallelism"]),
        trainer: None,
    },
    top: None,
};

pub const DEPLOYMENT: WorkloadKind = WorkloadKind {
    api: Resource::new("apps", "v1", "Deployment", "deployments"),
    pods: Pods::Templates {
        each: "spec",
        template: "template",
        pods: Count::PerTemplate(&["replicas"]),
        trainer: None,
    },
    top: None,
};

pub const STATEFUL_SET: WorkloadKind = WorkloadKind {
    api: Resource::new("apps", "v1", "StatefulSet", "statefulsets"),
    pods: Pods::Templates {
        each: "spec",
        template: "template",
        pods: Count::PerTemplate(&["replicas"]),
        trainer: None,
    },
    top: None,
};

pub const POD: WorkloadKind = WorkloadKind {
    api: Resource::new("", "v1", "Pod", "pods"),
    pods: Pods::Itself,
    top: None,
};

/// Every workload kind. The kinds a job's top can be come first, wrappers before what they wrap:
/// the plugin lists and deletes in this order, so a wrapper is gone before its controller could
/// recreate what it wraps.
pub const WORKLOADS: &[WorkloadKind] = &[
    TRAIN_JOB,
    APP_WRAPPER,
    PYTORCH_JOB,
    MPI_JOB,
    JOB_SET,
    JOB,
    CRON_JOB,
    DEPLOYMENT,
    STATEFUL_SET,
    POD,
];

pub const SERVICE: Resource = Resource::new("", "v1", "Service", "services");
pub const SECRET: Resource = Resource::new("", "v1", "Secret", "secrets");
pub const CONFIG_MAP: Resource = Resource::new("", "v1", "ConfigMap", "configmaps");

/// The other kinds a job of ours consists of: rendered beside its workload, owned by it, deleted
/// after it.
pub const JOB_PARTS: [Resource; 3] = [SERVICE, SECRET, CONFIG_MAP];

/// The Kubeflow Trainer's API group and the version we render and read.
const TRAINER_GROUP: &str = "trainer.kubeflow.org";
const TRAINER_VERSION: &str = "v1alpha1";

// Kinds a job refers to but mltrain never creates: preflight checks that each one the job names
// exists.

/// The Trainer's cluster-scoped runtime (kubeflow/trainer
/// `pkg/apis/trainer/v1alpha1/trainingruntime_types.go`): what a TrainJob's `runtimeRef` means when
/// it names no kind.
pub const CLUSTER_TRAINING_RUNTIME: Resource = Resource::new(
    TRAINER_GROUP,
    TRAINER_VERSION,
    "ClusterTrainingRuntime",
    "clustertrainingruntimes",
)
.served_by(TRAINER);
/// The Trainer's namespaced runtime, in the TrainJob's namespace.
pub const TRAINING_RUNTIME: Resource = Resource::new(
    TRAINER_GROUP,
    TRAINER_VERSION,
    "TrainingRuntime",
    "trainingruntimes",
)
.served_by(TRAINER);
/// Kueue's LocalQueue (kubernetes-sigs/kueue `apis/kueue/v1beta1`, served by every Kueue release
/// since 0.3), which [`crate::vocab::kueue::QUEUE_NAME`] names.
pub const LOCAL_QUEUE: Resource =
    Resource::new("kueue.x-k8s.io", "v1beta1", "LocalQueue", "localqueues").served_by(KUEUE);
pub const PRIORITY_CLASS: Resource = Resource::new(
    "scheduling.k8s.io",
    "v1",
    "PriorityClass",
    "priorityclasses",
);
pub const PERSISTENT_VOLUME_CLAIM: Resource =
    Resource::new("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims");
pub const SERVICE_ACCOUNT: Resource = Resource::new("", "v1", "ServiceAccount", "serviceaccounts");

/// The kinds a job's top object can be, in [`WORKLOADS`] order.
pub fn tops() -> impl Iterator<Item = (&'static WorkloadKind, &'static Top)> {
    WORKLOADS
        .iter()
        .filter_map(|k| k.top.as_ref().map(|t| (k, t)))
}

/// Every kind of object a job of ours may consist of: its possible tops, then [`JOB_PARTS`].
pub fn job_resources() -> impl Iterator<Item = &'static Resource> {
    tops().map(|(k, _)| &k.api).chain(JOB_PARTS.iter())
}

/// The row of an object's kind, matched on API group and kind at any version.
pub fn workload_of(obj: &Value) -> Option<&'static WorkloadKind> {
    // The object's group and kind are read once, not once per row: the engine asks this of every
    // admitted object, and per row it was 6% of the engine's instructions (`webhook/bench/stage-ir.sh`).
    let (group, kind) = group_and_kind(obj);
    WORKLOADS.iter().find(|k| k.api.is(group, kind))
}

/// The row of a kind by its name alone, for objects that arrive without their `apiVersion` (list
/// items); kind names are unique in the table (a test checks).
pub fn by_kind(kind: &str) -> Option<&'static WorkloadKind> {
    WORKLOADS.iter().find(|k| k.api.kind == kind)
}

/// Whether a workload of this kind may be another top's inner workload of the same name.
pub fn is_wrapped_kind(kind: &str) -> bool {
    tops().any(|(_, t)| t.wraps == Some(kind))
}

/// The API group and kind of an object (the group is empty for the core group).
fn group_and_kind(obj: &Value) -> (&str, &str) {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    (group, obj.get("kind").and_then(Value::as_str).unwrap_or(""))
}

/// One step of a table path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// A field of an object.
    Key(&'a str),
    /// Every entry of a map (`*`).
    Entries,
    /// Every item of a list (a `[*]` suffix).
    Items,
}

/// The steps of a table path.
pub fn steps(path: &str) -> impl Iterator<Item = Step<'_>> {
    path.split('.').flat_map(|segment| {
        let (key, items) = match segment.strip_suffix("[*]") {
            Some(key) => (key, true),
            None => (segment, false),
        };
        let first = if key == "*" {
            Step::Entries
        } else {
            Step::Key(key)
        };
        std::iter::once(first).chain(items.then_some(Step::Items))
    })
}

/// The value at a table path without wildcards.
pub fn field<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    steps(path).try_fold(obj, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Entries | Step::Items => {
            debug_assert!(false, "{path}: a wildcard where the table reads one value");
            None
        }
    })
}

fn condition_true(obj: &Value, kind: &str) -> bool {
    obj.at("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(path: &str) -> bool {
        steps(path).all(|s| matches!(s, Step::Key(_)))
    }

    #[test]
    fn kind_names_are_unique_and_tops_come_first() {
        let resources: Vec<&Resource> =
            WORKLOADS.iter().map(|k| &k.api).chain(&JOB_PARTS).collect();
        for (i, r) in resources.iter().enumerate() {
            assert!(
                resources[..i].iter().all(|o| o.kind != r.kind),
                "{} twice",
                r.kind
            );
        }
        let first_other = WORKLOADS.iter().position(|k| k.top.is_none()).unwrap();
        assert!(WORKLOADS[first_other..].iter().all(|k| k.top.is_none()));
    }

    #[test]
    fn paths_read_as_one_value_have_no_wildcards() {
        for k in WORKLOADS {
            if let Pods::Templates {
                template,
                pods,
                trainer,
                ..
            } = k.pods
            {
                assert!(plain(template), "{}", k.api.kind);
                match pods {
                    Count::Field(f) => assert!(plain(f)),
                    Count::PerTemplate(fs) => assert!(fs.iter().all(|f| plain(f))),
                }
                assert!(trainer.is_none_or(|t| plain(t.fields)));
            }
            if let Some(t) = k.top {
                assert!(plain(t.suspend), "{}", k.api.kind);
                if let Finished::Phase { field, .. } = t.finished {
                    assert!(plain(field));
                }
                assert!(t.wraps.is_none_or(|w| by_kind(w).is_some()));
            }
        }
    }

    #[test]
    fn path_steps() {
        assert_eq!(
            steps("spec.replicatedJobs[*].template").collect::<Vec<_>>(),
            [
                Step::Key("spec"),
                Step::Key("replicatedJobs"),
                Step::Items,
                Step::Key("template")
            ]
        );
        assert_eq!(
            steps("spec.pytorchReplicaSpecs.*").collect::<Vec<_>>(),
            [
                Step::Key("spec"),
                Step::Key("pytorchReplicaSpecs"),
                Step::Entries
            ]
        );
    }

    #[test]
    fn objects_match_their_row() {
        let pj = json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob"});
        assert_eq!(workload_of(&pj), Some(&PYTORCH_JOB));
        assert!(PYTORCH_JOB.api.is_exactly(&pj));
        let other_version = json!({"apiVersion": "kubeflow.org/v2", "kind": "PyTorchJob"});
        assert_eq!(workload_of(&other_version), Some(&PYTORCH_JOB));
        assert!(!PYTORCH_JOB.api.is_exactly(&other_version));
        let pod = json!({"apiVersion": "v1", "kind": "Pod"});
        assert_eq!(workload_of(&pod), Some(&POD));
        assert_eq!(POD.api.api_version(), "v1");
        let wrong_group = json!({"apiVersion": "example.com/v1", "kind": "Job"});
        assert_eq!(workload_of(&wrong_group), None);
    }

    #[test]
    fn tops_say_how_they_end() {
        let cond = |t: &str| json!({"status": {"conditions": [{"type": t, "status": "True"}]}});
        let cases = [
            (JOB, cond("Complete"), Some(Outcome::Succeeded)),
            (JOB, cond("Failed"), Some(Outcome::Failed)),
            (JOB_SET, cond("Completed"), Some(Outcome::Succeeded)),
            (JOB_SET, cond("Complete"), None),
            (PYTORCH_JOB, cond("Succeeded"), Some(Outcome::Succeeded)),
            (MPI_JOB, cond("Failed"), Some(Outcome::Failed)),
            (TRAIN_JOB, cond("Complete"), Some(Outcome::Succeeded)),
            (
                APP_WRAPPER,
                json!({"status": {"phase": "Failed"}}),
                Some(Outcome::Failed),
            ),
            (APP_WRAPPER, json!({"status": {"phase": "Running"}}), None),
        ];
        for (kind, obj, want) in cases {
            assert_eq!(
                kind.top.unwrap().outcome(&obj),
                want,
                "{}: {obj}",
                kind.api.kind
            );
        }
    }

    #[test]
    fn tops_say_when_they_wait() {
        let cases = [
            (JOB, json!({"spec": {"suspend": true}}), true),
            (JOB, json!({"spec": {"suspend": false}}), false),
            (
                PYTORCH_JOB,
                json!({"spec": {"runPolicy": {"suspend": true}}}),
                true,
            ),
            (
                JOB_SET,
                json!({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}}),
                true,
            ),
            (APP_WRAPPER, json!({}), true),
            (APP_WRAPPER, json!({"status": {"phase": "Suspended"}}), true),
            (APP_WRAPPER, json!({"status": {"phase": "Running"}}), false),
        ];
        for (kind, obj, want) in cases {
            assert_eq!(
                kind.top.unwrap().held(&obj),
                want,
                "{}: {obj}",
                kind.api.kind
            );
        }
    }

    #[test]
    fn a_job_consists_of_its_tops_then_its_parts() {
        let kinds: Vec<&str> = job_resources().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                "TrainJob",
                "AppWrapper",
                "PyTorchJob",
                "MPIJob",
                "JobSet",
                "Job",
                "Service",
                "Secret",
                "ConfigMap"
            ]
        );
        assert!(is_wrapped_kind("PyTorchJob") && is_wrapped_kind("JobSet"));
        assert!(!is_wrapped_kind("Job"));
    }
}
