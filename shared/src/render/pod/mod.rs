//! The pod template every layout shares, put together from one piece per concern: [`code`] sources,
//! [`storage`], [`networking`], the training [`container`], [`scheduling`] and [`security`]. Each
//! piece reads the job and returns its part; [`template`] only assembles them, in the order the
//! rendered lists keep.
//!
//! Defaults the cluster policy owns (security context, `/dev/shm`, NCCL, host lists, priority) are not
//! written here: the engine adds them, locally for the preview and in the webhook for the cluster, so
//! both agree. The plugin only records the user's wishes (e.g. the host-ignore annotation).

pub mod code;
pub mod container;
pub mod networking;
pub mod scheduling;
pub mod security;
pub mod storage;
pub mod volumes;

use serde_json::{Map, Value, json};

use crate::model::TrainingJob;
use crate::render::meta::{labels_map, object_labels};
use crate::vocab::mltrain::ROLE;
use container::Container;
use volumes::Mounted;

/// What a backend adds to the shared template.
pub struct PodParts {
    pub container_name: &'static str,
    pub script: String,
    /// Rendezvous variables the backend provides itself (empty where an operator sets them).
    pub env: Vec<Value>,
    pub subdomain: Option<String>,
    pub restart_policy: Option<String>,
    pub ports: Vec<Value>,
    /// `mltrain.io/role` for jobs whose pods play different parts (launcher, worker, scheduler, ...).
    pub role: Option<&'static str>,
    pub extra_volumes: Vec<Value>,
    pub extra_mounts: Vec<Value>,
    /// Resources instead of the job's (a launcher that needs no GPUs).
    pub resources: Option<Value>,
}

impl PodParts {
    /// Parts with only the essentials set.
    pub fn new(container_name: &'static str, script: String) -> Self {
        PodParts {
            container_name,
            script,
            env: Vec::new(),
            subdomain: None,
            restart_policy: None,
            ports: Vec::new(),
            role: None,
            extra_volumes: Vec::new(),
            extra_mounts: Vec::new(),
            resources: None,
        }
    }
}

/// The pod template (`metadata` + `spec`).
pub fn template(job: &TrainingJob, parts: PodParts) -> Value {
    let backend = Mounted {
        volumes: parts.extra_volumes,
        mounts: parts.extra_mounts,
        env: parts
            .env
            .into_iter()
            .chain(container::user_env(job))
            .collect(),
    };
    let mounted = backend
        .and(code::sources(job))
        .and(storage::volumes(job))
        .and(code::ssh_clone(job))
        .and(networking::topology(job));
    let container = container::training(
        job,
        Container {
            name: parts.container_name,
            script: parts.script,
            ports: parts.ports,
            resources: parts.resources,
            mounts: mounted.mounts,
            env: mounted.env,
            security_context: security::container(job),
        },
    );
    let mut spec = Map::new();
    let init = code::init_containers(job);
    if !init.is_empty() {
        spec.insert("initContainers".into(), Value::Array(init));
    }
    spec.insert("containers".into(), json!([container]));
    if !mounted.volumes.is_empty() {
        spec.insert("volumes".into(), Value::Array(mounted.volumes));
    }
    let fields = [
        ("restartPolicy", parts.restart_policy.map(Value::from)),
        ("subdomain", parts.subdomain.map(Value::from)),
        ("imagePullSecrets", container::pull_secrets(job)),
        ("securityContext", security::pod(job)),
        (
            "terminationGracePeriodSeconds",
            job.fault_tolerance
                .termination_grace_seconds
                .map(Value::from),
        ),
    ];
    spec.extend(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?))),
    );
    spec.extend(scheduling::spec(job));
    json!({"metadata": metadata(job, parts.role), "spec": spec})
}

/// The pod's labels (ours, its role, Autopilot's checks) and annotations (the user's, then the
/// requests to the policy and the network).
fn metadata(job: &TrainingJob, role: Option<&str>) -> Value {
    let mut labels = object_labels(job);
    if let Some(role) = role {
        labels.insert(ROLE.into(), json!(role));
    }
    labels.extend(scheduling::labels(job));
    let mut annotations = labels_map(&job.scheduling.annotations);
    annotations.extend(scheduling::annotations(job));
    annotations.extend(storage::annotations(job));
    annotations.extend(networking::annotations(job));
    let mut metadata = Map::new();
    metadata.insert("labels".into(), Value::Object(labels));
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    Value::Object(metadata)
}
