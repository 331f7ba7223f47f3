//! The pod template every backend shares: labels, the training container (image, command, resources,
//! env, mounts), code sources, volumes, scheduling and security settings the user asked for.
//!
//! Defaults the cluster policy owns (security context, `/dev/shm`, NCCL, host lists, priority) are not
//! written here: the engine adds them, locally for the preview and in the webhook for the cluster, so
//! both agree. The plugin only records the user's wishes (e.g. the host-ignore annotation).

use serde_json::{Map, Value, json};

use super::{labels_map, object_labels};
use crate::engine::facts::{HOST_IGNORE_ANNOTATION, SHARED_MEMORY_ANNOTATION};
use crate::model::{AntiAffinity, EnvFrom, EnvValue, TrainingJob};
use crate::quantity::Quantity;

/// Where code from `--git-repo` is cloned.
pub const SRC_DIR: &str = "/workspace/src";
/// The working copy of the `--from-file` files: a writable emptyDir, so a program may write beside
/// its files (a ConfigMap volume is read-only).
pub const FILES_DIR: &str = "/workspace/files";
/// Where the `--from-file` ConfigMap itself is mounted; the script copies it to [`FILES_DIR`].
pub const FILES_SOURCE_DIR: &str = "/mltrain/files";
/// Where MLBatch mounts the SSH key Secret and known_hosts ConfigMap by default.
pub const SSH_KEYS_DIR: &str = "/tmp/.ssh/keys";
pub const SSH_HOSTS_DIR: &str = "/tmp/.ssh/hosts";
/// The git image for the clone init container.
pub const GIT_IMAGE: &str = "docker.io/alpine/git:2.47.2";

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

/// Autopilot's pod label that asks for pre-flight health checks (MLBatch).
pub const AUTOPILOT_LABEL: &str = "autopilot";
/// Autopilot's node label of GPU health, and the values of nodes to avoid (MLBatch).
pub const GPU_HEALTH_LABEL: &str = "autopilot.ibm.com/gpuhealth";
pub const GPU_UNHEALTHY: [&str; 3] = ["ERR", "TESTING", "EVICT"];

/// Label of a pod's part in a job.
pub const ROLE_LABEL: &str = "mltrain.io/role";

/// The ConfigMap name for `--from-file` files.
pub fn files_config_map(job: &TrainingJob) -> String {
    format!("{}-files", job.name)
}

/// The default working directory: the cloned repository, else the packed files.
pub fn default_workdir(job: &TrainingJob) -> Option<&'static str> {
    if job.code.git.is_some() {
        Some(SRC_DIR)
    } else if !job.code.files.is_empty() {
        Some(FILES_DIR)
    } else {
        None
    }
}

fn env_var(name: &str, value: &EnvValue) -> Value {
    match value {
        EnvValue::Literal(v) => json!({"name": name, "value": v}),
        EnvValue::Secret { name: n, key } => {
            json!({"name": name, "valueFrom": {"secretKeyRef": {"name": n, "key": key}}})
        }
        EnvValue::ConfigMap { name: n, key } => {
            json!({"name": name, "valueFrom": {"configMapKeyRef": {"name": n, "key": key}}})
        }
    }
}

/// Requests and limits: explicit values, else the preset; limits default to requests (MLBatch), GPUs
/// always request = limit.
fn resources(job: &TrainingJob) -> Value {
    let r = &job.resources;
    let mut req = Map::new();
    let mut lim = Map::new();
    let explicit =
        r.cpus.is_some() || r.memory.is_some() || r.cpu_limit.is_some() || r.memory_limit.is_some();
    if let (Some(p), false) = (r.preset, explicit) {
        let v = p.values();
        for (i, k) in ["cpu", "memory", "ephemeral-storage"]
            .into_iter()
            .enumerate()
        {
            req.insert(k.into(), json!(v[i]));
            lim.insert(k.into(), json!(v[i + 3]));
        }
    }
    let mut put = |k: &str, request: &Option<String>, limit: &Option<String>| {
        if let Some(q) = request {
            req.insert(k.into(), json!(canonical(q)));
        }
        if let Some(q) = limit.as_ref().or(request.as_ref()) {
            lim.insert(k.into(), json!(canonical(q)));
        }
    };
    put("cpu", &r.cpus, &r.cpu_limit);
    put("memory", &r.memory, &r.memory_limit);
    if let Some(e) = &r.ephemeral_storage {
        req.insert("ephemeral-storage".into(), json!(canonical(e)));
    }
    if r.gpus > 0 {
        req.insert(r.gpu_resource.clone(), json!(r.gpus.to_string()));
        lim.insert(r.gpu_resource.clone(), json!(r.gpus.to_string()));
    }
    let n = &job.networking;
    if n.roce_gdr > 0 {
        req.insert(n.roce_gdr_resource.clone(), json!(n.roce_gdr.to_string()));
        lim.insert(n.roce_gdr_resource.clone(), json!(n.roce_gdr.to_string()));
    }
    let mut out = Map::new();
    if !req.is_empty() {
        out.insert("requests".into(), Value::Object(req));
    }
    if !lim.is_empty() {
        out.insert("limits".into(), Value::Object(lim));
    }
    Value::Object(out)
}

/// Quantities as the user wrote them, unless they wrote a bare number with a decimal point the API
/// server would rewrite anyway (`1.5` → `1500m`).
fn canonical(q: &str) -> String {
    match q.parse::<Quantity>() {
        Ok(v) if q.contains('.') && !q.ends_with(|c: char| c.is_ascii_alphabetic()) => {
            v.to_string()
        }
        _ => q.to_string(),
    }
}

/// The pod template (`metadata` + `spec`).
pub fn template(job: &TrainingJob, parts: PodParts) -> Value {
    let mut annotations = Map::new();
    for (k, v) in &job.scheduling.annotations {
        annotations.insert(k.clone(), json!(v));
    }
    if !job.scheduling.host_ignore.is_empty() {
        annotations.insert(
            HOST_IGNORE_ANNOTATION.into(),
            json!(job.scheduling.host_ignore.join(",")),
        );
    }
    if job.storage.no_shm {
        annotations.insert(SHARED_MEMORY_ANNOTATION.into(), json!("false"));
    }
    if let Some(net) = &job.networking.multi_nic_network {
        annotations.insert(crate::engine::nccl::MULTUS_ANNOTATION.into(), json!(net));
    }
    let mut labels = object_labels(job);
    if let Some(role) = parts.role {
        labels.insert(ROLE_LABEL.into(), json!(role));
    }
    if !job.scheduling.health_checks.is_empty() {
        labels.insert(AUTOPILOT_LABEL.into(), json!(""));
        for check in &job.scheduling.health_checks {
            labels.insert(check.clone(), json!(""));
        }
    }

    let mut env: Vec<Value> = parts.env;
    env.extend(job.env.iter().map(|e| env_var(&e.name, &e.value)));
    let mut env_from: Vec<Value> = job
        .env_from
        .iter()
        .map(|f| match f {
            EnvFrom::Secret(n) => json!({"secretRef": {"name": n}}),
            EnvFrom::ConfigMap(n) => json!({"configMapRef": {"name": n}}),
        })
        .collect();
    if let Some(cm) = &job.networking.nccl_env_config_map {
        env_from.push(json!({"configMapRef": {"name": cm}}));
    }
    let mut volumes: Vec<Value> = parts.extra_volumes;
    let mut mounts: Vec<Value> = parts.extra_mounts;
    let mut init: Vec<Value> = Vec::new();

    if let Some(g) = &job.code.git {
        volumes.push(json!({"name": "mltrain-src", "emptyDir": {}}));
        mounts.push(json!({"name": "mltrain-src", "mountPath": SRC_DIR}));
        let mut clone = format!(
            "set -e\ngit clone --no-checkout {} {SRC_DIR}\ncd {SRC_DIR}\n",
            super::launch::sh_quote(&g.url)
        );
        clone += &format!(
            "git checkout {}\n",
            super::launch::sh_quote(g.revision.as_deref().unwrap_or("HEAD"))
        );
        let mut git_env = vec![json!({"name": "HOME", "value": "/tmp"})];
        let mut git_mounts = vec![json!({"name": "mltrain-src", "mountPath": SRC_DIR})];
        if let Some(secret) = &g.ssh_secret {
            volumes.push(json!({"name": "mltrain-git-ssh", "secret": {"secretName": secret, "defaultMode": 0o400}}));
            git_mounts.push(
                json!({"name": "mltrain-git-ssh", "mountPath": SSH_KEYS_DIR, "readOnly": true}),
            );
            git_env.push(json!({"name": "GIT_SSH_COMMAND", "value": format!("ssh -i {SSH_KEYS_DIR}/ssh-privatekey -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/tmp/known_hosts")}));
        }
        init.push(json!({
            "name": "git-clone",
            "image": GIT_IMAGE,
            "command": ["sh", "-c", clone],
            "env": git_env,
            "volumeMounts": git_mounts,
        }));
    }
    if !job.code.files.is_empty() {
        let items: Vec<Value> = job
            .code
            .files
            .iter()
            .map(|f| json!({"key": f.key, "path": f.path}))
            .collect();
        volumes.push(json!({"name": "mltrain-files", "configMap": {"name": files_config_map(job), "items": items}}));
        mounts.push(
            json!({"name": "mltrain-files", "mountPath": FILES_SOURCE_DIR, "readOnly": true}),
        );
        volumes.push(json!({"name": "mltrain-workdir", "emptyDir": {}}));
        mounts.push(json!({"name": "mltrain-workdir", "mountPath": FILES_DIR}));
    }
    for (i, cm) in job.code.config_maps.iter().enumerate() {
        let name = format!("mltrain-configmap-{i}");
        volumes.push(json!({"name": name, "configMap": {"name": cm}}));
        mounts.push(json!({"name": name, "mountPath": format!("/workspace/configmaps/{cm}")}));
    }
    for (i, v) in job.storage.volumes.iter().enumerate() {
        let name = v
            .name
            .clone()
            .unwrap_or_else(|| format!("mltrain-volume-{i}"));
        volumes.push(json!({"name": name, "persistentVolumeClaim": {"claimName": v.claim}}));
        let mut m = json!({"name": name, "mountPath": v.mount_path});
        if v.read_only {
            m["readOnly"] = json!(true);
        }
        mounts.push(m);
    }
    if let Some(s) = &job.storage.scratch {
        let mut claim = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": s.size}}});
        if let Some(sc) = &s.storage_class {
            claim["storageClassName"] = json!(sc);
        }
        volumes.push(json!({"name": "mltrain-scratch", "ephemeral": {"volumeClaimTemplate": {"spec": claim}}}));
        mounts.push(json!({"name": "mltrain-scratch", "mountPath": s.mount_path}));
        env.push(json!({"name": "NVME_MOUNT_PATH", "value": s.mount_path}));
    }
    if let Some(size) = &job.storage.shm_size {
        volumes.push(
            json!({"name": "mltrain-shm", "emptyDir": {"medium": "Memory", "sizeLimit": size}}),
        );
        mounts.push(json!({"name": "mltrain-shm", "mountPath": "/dev/shm"}));
    }
    if let Some(ssh) = &job.code.ssh_clone {
        volumes.push(json!({"name": "mltrain-ssh-key", "secret": {"secretName": ssh.secret, "defaultMode": 0o400}}));
        volumes.push(json!({"name": "mltrain-ssh-hosts", "configMap": {"name": ssh.config_map}}));
        mounts.push(json!({"name": "mltrain-ssh-key", "mountPath": ssh.secret_mount_path, "readOnly": true}));
        mounts.push(json!({"name": "mltrain-ssh-hosts", "mountPath": ssh.config_map_mount_path, "readOnly": true}));
        env.push(json!({"name": "GIT_SSH_COMMAND", "value": ssh.ssh_command}));
    }
    if let Some(cm) = &job.networking.topology_config_map {
        volumes.push(json!({"name": "mltrain-topology", "configMap": {"name": cm}}));
        mounts.push(json!({"name": "mltrain-topology", "mountPath": crate::engine::nccl::TOPOLOGY_DIR, "readOnly": true}));
        env.push(json!({"name": "NCCL_TOPO_FILE", "value": crate::engine::nccl::TOPOLOGY_FILE}));
    }
    for ic in &job.init_containers {
        init.push(json!({"name": ic.name, "image": ic.image, "command": ic.command}));
    }

    let mut container = json!({
        "name": parts.container_name,
        "image": job.image.name,
        "command": ["/bin/bash", "-c", parts.script],
    });
    let c = container.as_object_mut().expect("object");
    if let Some(p) = &job.image.pull_policy {
        c.insert("imagePullPolicy".into(), json!(p));
    }
    if !parts.ports.is_empty() {
        c.insert("ports".into(), Value::Array(parts.ports));
    }
    if !env.is_empty() {
        c.insert("env".into(), Value::Array(env));
    }
    if !env_from.is_empty() {
        c.insert("envFrom".into(), Value::Array(env_from));
    }
    let res = parts.resources.unwrap_or_else(|| resources(job));
    if res.as_object().is_some_and(|m| !m.is_empty()) {
        c.insert("resources".into(), res);
    }
    if !mounts.is_empty() {
        c.insert("volumeMounts".into(), Value::Array(mounts));
    }
    if job.networking.roce_gdr > 0 {
        c.insert(
            "securityContext".into(),
            json!({"capabilities": {"add": ["IPC_LOCK"]}}),
        );
    }

    let mut spec = Map::new();
    if !init.is_empty() {
        spec.insert("initContainers".into(), Value::Array(init));
    }
    spec.insert("containers".into(), json!([container]));
    if !volumes.is_empty() {
        spec.insert("volumes".into(), Value::Array(volumes));
    }
    if let Some(r) = parts.restart_policy {
        spec.insert("restartPolicy".into(), json!(r));
    }
    if let Some(s) = parts.subdomain {
        spec.insert("subdomain".into(), json!(s));
    }
    let s = &job.scheduling;
    if let Some(p) = &s.priority {
        spec.insert("priorityClassName".into(), json!(p));
    }
    if let Some(n) = &s.scheduler {
        spec.insert("schedulerName".into(), json!(n));
    }
    if let Some(n) = &s.service_account {
        spec.insert("serviceAccountName".into(), json!(n));
    }
    if !s.node_selector.is_empty() {
        spec.insert(
            "nodeSelector".into(),
            Value::Object(labels_map(&s.node_selector)),
        );
    }
    if !s.tolerations.is_empty() {
        let t: Vec<Value> = s
            .tolerations
            .iter()
            .map(|t| {
                let mut v = json!({"key": t.key, "effect": t.effect});
                match &t.value {
                    Some(val) => {
                        v["operator"] = json!("Equal");
                        v["value"] = json!(val);
                    }
                    None => v["operator"] = json!("Exists"),
                }
                v
            })
            .collect();
        spec.insert("tolerations".into(), Value::Array(t));
    }
    let mut affinity = Map::new();
    if s.avoid_unhealthy_gpus {
        affinity.insert(
            "nodeAffinity".into(),
            json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": GPU_HEALTH_LABEL, "operator": "NotIn", "values": GPU_UNHEALTHY}
            ]}]}}),
        );
    }
    if let Some(a) = s.anti_affinity {
        let term = json!({
            "labelSelector": {"matchLabels": {crate::engine::facts::JOB_NAME_LABEL: job.name}},
            "topologyKey": "kubernetes.io/hostname",
        });
        let aff = match a {
            AntiAffinity::Hard => json!({"requiredDuringSchedulingIgnoredDuringExecution": [term]}),
            AntiAffinity::Soft => {
                json!({"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term}]})
            }
        };
        affinity.insert("podAntiAffinity".into(), aff);
    }
    if !affinity.is_empty() {
        spec.insert("affinity".into(), Value::Object(affinity));
    }
    if !job.image.pull_secrets.is_empty() {
        let secrets: Vec<Value> = job
            .image
            .pull_secrets
            .iter()
            .map(|n| json!({"name": n}))
            .collect();
        spec.insert("imagePullSecrets".into(), Value::Array(secrets));
    }
    let sec = &job.security;
    let mut psc = Map::new();
    for (k, v) in [
        ("runAsUser", sec.run_as_user),
        ("runAsGroup", sec.run_as_group),
        ("fsGroup", sec.fs_group),
    ] {
        if let Some(v) = v {
            psc.insert(k.into(), json!(v));
        }
    }
    if !psc.is_empty() {
        spec.insert("securityContext".into(), Value::Object(psc));
    }
    if let Some(t) = job.fault_tolerance.termination_grace_seconds {
        spec.insert("terminationGracePeriodSeconds".into(), json!(t));
    }

    let mut metadata = json!({"labels": labels});
    if !annotations.is_empty() {
        metadata["annotations"] = Value::Object(annotations);
    }
    json!({"metadata": metadata, "spec": spec})
}
