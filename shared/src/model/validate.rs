//! Model-level checks: everything about a job that can be wrong before any object exists.

use std::fmt;

use thiserror::Error;

use super::{Backend, EnvValue, Framework, Launcher, MAX_NAME, NprocPerNode, TrainingJob};

/// Kubernetes' limit on an Indexed Job's completions, which every backend's pods come down to.
pub const MAX_WORLD_SIZE: u32 = 100_000;
use crate::duration;
use crate::names;
use crate::quantity::Quantity;

/// One problem with a job: the flag (or argument) it came from, the value, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ModelError {
    /// The flag, e.g. `--memory`; settings-file loaders map it to their key.
    pub field: &'static str,
    pub value: String,
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: {}", self.field, self.value, self.message)
    }
}

struct Check(Vec<ModelError>);

impl Check {
    fn fail(&mut self, field: &'static str, value: impl ToString, message: impl Into<String>) {
        self.0.push(ModelError {
            field,
            value: value.to_string(),
            message: message.into(),
        });
    }

    fn name(
        &mut self,
        field: &'static str,
        value: &str,
        check: fn(&str) -> Result<(), String>,
        what: &str,
    ) {
        if let Err(p) = check(value) {
            self.fail(field, value, format!("not a valid {what}: {p}"));
        }
    }

    fn quantity(&mut self, field: &'static str, value: Option<&str>) -> Option<Quantity> {
        let v = value?;
        match v.parse::<Quantity>() {
            Ok(q) if q.nanos() > 0 => Some(q),
            Ok(_) => {
                self.fail(field, v, "must be greater than zero");
                None
            }
            Err(e) => {
                self.fail(
                    field,
                    v,
                    format!("not a quantity: {}", e.reason).replace("it ", "")
                        + "; use e.g. 500m, 2, 1.5Gi or 200M",
                );
                None
            }
        }
    }

    fn absolute(&mut self, field: &'static str, path: &str) {
        if !path.starts_with('/') {
            self.fail(field, path, "must be an absolute path (start with /)");
        }
    }
}

fn subdomain(s: &str) -> Result<(), String> {
    names::dns1123_subdomain(s)
}

impl TrainingJob {
    /// Every problem with the job, or `Ok`.
    pub fn validate(&self) -> Result<(), Vec<ModelError>> {
        let mut c = Check(Vec::new());
        if let Err(p) = names::dns1035_label(&self.name, MAX_NAME) {
            c.fail("NAME", &self.name, format!("a job name must be a DNS-1035 label of at most {MAX_NAME} characters (lowercase letters, digits, '-', starting with a letter): {p}"));
        }
        if let Err((longest, what, max)) = super::derived::check(self) {
            c.fail(
                "NAME",
                &self.name,
                format!(
                    "too long for the {} backend at world size {}: {what} would be {longest:?} ({} characters, more than {}); use a name of at most {max} characters",
                    self.backend,
                    self.world_size,
                    longest.len(),
                    super::derived::DNS_LABEL_MAX
                ),
            );
        }
        if let Some(ns) = &self.namespace {
            c.name("--namespace", ns, names::dns1123_label, "namespace name");
        }
        if self.world_size == 0 {
            c.fail("--world-size", 0, "must be at least 1");
        }
        if self.world_size > MAX_WORLD_SIZE {
            c.fail(
                "--world-size",
                self.world_size,
                format!("is more than Kubernetes allows an Indexed Job ({MAX_WORLD_SIZE} completions); use at most {MAX_WORLD_SIZE}"),
            );
        }
        if self.nproc_per_node == NprocPerNode::Count(0) {
            c.fail("--nproc-per-node", 0, "must be at least 1, or auto");
        }
        self.check_resources(&mut c);
        self.check_program(&mut c);
        self.check_env(&mut c);
        self.check_storage(&mut c);
        self.check_scheduling(&mut c);
        self.check_networking(&mut c);
        self.check_fault_tolerance(&mut c);
        self.check_backend(&mut c);
        self.check_trainjob(&mut c);
        if c.0.is_empty() { Ok(()) } else { Err(c.0) }
    }

    fn check_resources(&self, c: &mut Check) {
        let r = &self.resources;
        let cpus = c.quantity("--cpus", r.cpus.as_deref());
        let mem = c.quantity("--memory", r.memory.as_deref());
        c.quantity("--ephemeral-storage", r.ephemeral_storage.as_deref());
        let cpu_limit = c.quantity("--cpu-limit", r.cpu_limit.as_deref());
        let mem_limit = c.quantity("--memory-limit", r.memory_limit.as_deref());
        if let (Some(req), Some(lim)) = (cpus, cpu_limit)
            && lim < req
        {
            c.fail(
                "--cpu-limit",
                lim,
                format!("is below --cpus {req}; raise it to at least {req}"),
            );
        }
        if let (Some(req), Some(lim)) = (mem, mem_limit)
            && lim < req
        {
            c.fail(
                "--memory-limit",
                lim,
                format!("is below --memory {req}; raise it to at least {req}"),
            );
        }
        if let Some(l) = r.gpu_limit
            && l != r.gpus
        {
            c.fail("--gpu-limit", l, format!("must equal --gpus ({}): GPUs cannot be shared, so request and limit are the same", r.gpus));
        }
        if let Err(p) = names::qualified_name(&r.gpu_resource) {
            c.fail(
                "--gpu-resource",
                &r.gpu_resource,
                format!("not a resource name: {p}"),
            );
        }
    }

    fn check_program(&self, c: &mut Check) {
        if self.image.name.trim().is_empty() {
            c.fail("--image", &self.image.name, "must not be empty");
        }
        if let Some(p) = &self.image.pull_policy
            && !matches!(p.as_str(), "Always" | "IfNotPresent" | "Never")
        {
            c.fail(
                "--image-pull-policy",
                p,
                "use Always, IfNotPresent or Never",
            );
        }
        for s in &self.image.pull_secrets {
            c.name("--image-pull-secret", s, subdomain, "Secret name");
        }
        if let Some(w) = &self.program.workdir {
            c.absolute("--workdir", w);
        }
        for s in &self.program.setup {
            if s.trim().is_empty() {
                c.fail(
                    "--setup",
                    s,
                    "an empty setup command does nothing; remove it",
                );
            }
        }
        if let Some(g) = &self.code.git {
            if g.url.trim().is_empty() {
                c.fail("--git-repo", &g.url, "must not be empty");
            }
            if let Some(s) = &g.ssh_secret {
                c.name("--git-ssh-secret", s, subdomain, "Secret name");
            }
        }
        for cm in &self.code.config_maps {
            c.name("--configmap", cm, subdomain, "ConfigMap name");
        }
        for i in &self.init_containers {
            c.name(
                "initContainers",
                &i.name,
                names::dns1123_label,
                "container name",
            );
        }
    }

    fn check_env(&self, c: &mut Check) {
        for e in &self.env {
            if let Err(p) = names::env_var_name(&e.name) {
                c.fail("--env", &e.name, format!("not a variable name: {p}"));
            }
            match &e.value {
                EnvValue::Literal(_) => {}
                EnvValue::Secret { name, key } | EnvValue::ConfigMap { name, key } => {
                    c.name("--env", name, subdomain, "Secret or ConfigMap name");
                    if key.is_empty() {
                        c.fail(
                            "--env",
                            &e.name,
                            "names a Secret or ConfigMap but no key; write NAME=secret:OBJECT/KEY",
                        );
                    }
                }
            }
        }
        for f in &self.env_from {
            match f {
                super::EnvFrom::Secret(n) => {
                    c.name("--env-from-secret", n, subdomain, "Secret name")
                }
                super::EnvFrom::ConfigMap(n) => {
                    c.name("--env-from-configmap", n, subdomain, "ConfigMap name")
                }
            }
        }
        if self.networking.topology_config_map.is_some()
            && self.env.iter().any(|e| e.name == "NCCL_TOPO_FILE")
        {
            c.fail(
                "--env",
                "NCCL_TOPO_FILE",
                "conflicts with --topology-configmap, which sets NCCL_TOPO_FILE; drop one of them",
            );
        }
    }

    fn check_storage(&self, c: &mut Check) {
        let s = &self.storage;
        let mut paths: Vec<&str> = Vec::new();
        for v in &s.volumes {
            c.name(
                "--volume",
                &v.claim,
                subdomain,
                "PersistentVolumeClaim name",
            );
            c.absolute("--volume", &v.mount_path);
            if paths.contains(&v.mount_path.as_str()) {
                c.fail(
                    "--volume",
                    &v.mount_path,
                    "two volumes are mounted at the same path; give each its own",
                );
            }
            paths.push(&v.mount_path);
        }
        if let Some(x) = &s.scratch {
            c.quantity("--scratch", Some(&x.size));
            c.absolute("--scratch", &x.mount_path);
            if let Some(sc) = &x.storage_class {
                c.name(
                    "--scratch-storage-class",
                    sc,
                    subdomain,
                    "StorageClass name",
                );
            }
        }
        c.quantity("--shm-size", s.shm_size.as_deref());
        if s.no_shm && s.shm_size.is_some() {
            c.fail(
                "--shm-size",
                s.shm_size.as_deref().unwrap_or(""),
                "conflicts with --no-shm; drop one of them",
            );
        }
    }

    fn check_scheduling(&self, c: &mut Check) {
        for check in &self.scheduling.health_checks {
            if let Err(p) = names::qualified_name(check) {
                c.fail(
                    "autopilotHealthChecks",
                    check,
                    format!("not a label key (each check becomes a pod label): {p}"),
                );
            }
        }
        let s = &self.scheduling;
        if let Some(q) = &s.queue {
            c.name("--queue", q, subdomain, "LocalQueue name");
        }
        if let Some(p) = &s.priority {
            c.name("--priority", p, subdomain, "PriorityClass name");
        }
        for h in &s.host_ignore {
            c.name("--host-ignore", h, subdomain, "node name");
        }
        for (k, v) in &s.node_selector {
            c.name("--node-selector", k, names::qualified_name, "label key");
            c.name("--node-selector", v, names::label_value, "label value");
        }
        for t in &s.tolerations {
            if !t.key.is_empty() {
                c.name("--toleration", &t.key, names::qualified_name, "taint key");
            }
            if !matches!(
                t.effect.as_str(),
                "NoSchedule" | "PreferNoSchedule" | "NoExecute"
            ) {
                c.fail(
                    "--toleration",
                    &t.effect,
                    "the effect must be NoSchedule, PreferNoSchedule or NoExecute",
                );
            }
        }
        for (k, v) in &s.labels {
            c.name("--label", k, names::qualified_name, "label key");
            c.name("--label", v, names::label_value, "label value");
        }
        for (k, _) in &s.annotations {
            c.name("--annotation", k, names::qualified_name, "annotation key");
        }
        if let Some(n) = &s.scheduler {
            c.name("--scheduler", n, subdomain, "scheduler name");
        }
        if let Some(n) = &s.service_account {
            c.name("--service-account", n, subdomain, "ServiceAccount name");
        }
    }

    fn check_networking(&self, c: &mut Check) {
        let n = &self.networking;
        if self.framework != Framework::DeepSpeed && self.options.slots_per_node.is_some() {
            c.fail(
                "--slots-per-node",
                self.options.slots_per_node.unwrap_or(0),
                "is for deepspeed; use --nproc-per-node",
            );
        }
        if self.options.slots_per_node == Some(0) {
            c.fail("--slots-per-node", 0, "must be at least 1");
        }
        if self.framework != Framework::MXNet && self.options.servers.is_some() {
            c.fail(
                "--servers",
                self.options.servers.unwrap_or(0),
                "is for mxnet's parameter servers",
            );
        }
        if self.options.servers == Some(0) {
            c.fail(
                "--servers",
                0,
                "must be at least 1 (a distributed MXNet job needs a parameter server)",
            );
        }
        if let Some(servers) = self.options.servers
            && self.framework == Framework::MXNet
            && self.world_size > 1
            && servers > self.world_size
        {
            c.fail(
                "--servers",
                servers,
                format!(
                    "must be at most --workers ({}): each server runs in a worker's pod",
                    self.world_size
                ),
            );
        }
        if self.framework != Framework::DeepSpeed && self.options.launcher == Launcher::Torchrun {
            c.fail(
                "--launcher",
                "torchrun",
                "is for deepspeed; pytorch always uses torchrun",
            );
        }
        if n.port == 0 {
            c.fail("--port", 0, "use a port from 1 to 65535");
        }
        if n.roce_gdr > 0 && self.world_size < 2 {
            c.fail(
                "--roce-gdr",
                n.roce_gdr,
                "RoCE GDR only helps between pods; use --world-size 2 or more, or drop it",
            );
        }
        if n.roce_gdr > 0 && self.resources.gpus == 0 {
            c.fail("--roce-gdr", n.roce_gdr, "RoCE GDR needs GPUs; add --gpus");
        }
        c.name(
            "--roce-gdr-resource",
            &n.roce_gdr_resource,
            names::qualified_name,
            "resource name",
        );
        for (flag, v) in [
            ("--nccl-env-configmap", &n.nccl_env_config_map),
            ("--topology-configmap", &n.topology_config_map),
            ("--multi-nic-network", &n.multi_nic_network),
        ] {
            if let Some(v) = v {
                c.name(flag, v, subdomain, "object name");
            }
        }
    }

    fn check_fault_tolerance(&self, c: &mut Check) {
        let f = &self.fault_tolerance;
        if !matches!(f.restart_policy.as_str(), "Never" | "OnFailure") {
            c.fail(
                "--restart-policy",
                &f.restart_policy,
                "use Never or OnFailure",
            );
        }
        // A restarted pod must be able to rejoin the group. DeepSpeed's SSH launcher releases its
        // workers when it exits, so a retried launcher finds none; ps-lite (MXNet) has no way for a
        // restarted scheduler, server or worker to rejoin.
        if f.max_restarts.is_some_and(|n| n > 0) && self.backend == Backend::Job {
            let fix = match (self.framework, self.options.launcher) {
                (Framework::DeepSpeed, Launcher::Ssh) => Some(
                    "a retried SSH launcher finds its workers gone; use --launcher torchrun (a restarted group re-forms through torchrun's c10d rendezvous) or --backend mpijob",
                ),
                (Framework::MXNet, _) => Some(
                    "a restarted MXNet scheduler, server or worker cannot rejoin ps-lite's group; drop --max-restarts",
                ),
                _ => None,
            };
            if let Some(fix) = fix {
                c.fail("--max-restarts", f.max_restarts.unwrap_or(0), fix);
            }
        }
        for (key, value) in &f.appwrapper {
            if key == "retryLimit" {
                if value.parse::<u32>().is_err() {
                    c.fail("--retry-limit", value, "must be a whole number");
                }
            } else if let Err(e) = duration::parse_seconds(value) {
                c.fail("--appwrapper-annotation", value, format!("{key}: {}", e));
            }
        }
    }

    fn check_backend(&self, c: &mut Check) {
        let ok = match (self.framework, self.backend) {
            (_, Backend::Job) => true,
            (Framework::PyTorch, Backend::JobSet | Backend::PyTorchJob | Backend::AppWrapper) => {
                true
            }
            (Framework::DeepSpeed, Backend::MpiJob) => self.options.launcher == Launcher::Ssh,
            (Framework::PyTorch, Backend::TrainJob) => true,
            (
                Framework::DeepSpeed,
                Backend::JobSet | Backend::PyTorchJob | Backend::AppWrapper | Backend::TrainJob,
            ) => self.options.launcher == Launcher::Torchrun,
            _ => false,
        };
        if !ok {
            let hint = match self.framework {
                Framework::PyTorch => "use job, jobset, pytorchjob, appwrapper or trainjob",
                Framework::DeepSpeed => {
                    "use job or mpijob, or --launcher torchrun for jobset, pytorchjob, appwrapper or trainjob (the deepspeed-distributed MPI runtime is not supported yet)"
                }
                Framework::MXNet => "MXNet's parameter server runs on the job backend only",
            };
            c.fail(
                "--backend",
                self.backend,
                format!("does not run {}; {hint}", self.framework),
            );
        }
    }
}

impl TrainingJob {
    /// `--runtime` belongs to the trainjob backend, and a TrainJob carries only what the Trainer's
    /// API can express: `spec.trainer` and `spec.runtimePatches` (v2.3.0), whose container patches
    /// hold env, volume mounts and security context only (no image, command or envFrom), so init
    /// containers, envFrom, pull policy, priority class and scheduler cannot be set through it
    /// (kubeflow/trainer `pkg/apis/trainer/v1alpha1/trainjob_types.go`).
    fn check_trainjob(&self, c: &mut Check) {
        let rt = &self.options.runtime;
        if self.backend != Backend::TrainJob {
            if let Some(n) = &rt.name {
                c.fail(
                    "--runtime",
                    n,
                    "only with --backend trainjob; add --backend trainjob or drop --runtime",
                );
            }
            if let Some(k) = rt.kind {
                c.fail(
                    "--runtime-kind",
                    k.as_str(),
                    "only with --backend trainjob; add --backend trainjob or drop --runtime-kind",
                );
            }
            return;
        }
        if let Some(n) = &rt.name {
            c.name("--runtime", n, subdomain, "runtime name");
        }
        let unsupported = "the Kubeflow Trainer's TrainJob has no field for it (spec.runtimePatches patches only env, volume mounts and security context of containers); drop it, or use another --backend";
        if self.code.git.is_some() {
            c.fail(
                "--git-repo",
                self.code
                    .git
                    .as_ref()
                    .map(|g| g.url.as_str())
                    .unwrap_or_default(),
                format!("needs an init container, which {unsupported}"),
            );
        }
        for ic in &self.init_containers {
            c.fail(
                "initContainers",
                &ic.name,
                format!("an init container: {unsupported}"),
            );
        }
        for e in &self.env_from {
            let v = match e {
                super::EnvFrom::Secret(n) | super::EnvFrom::ConfigMap(n) => n,
            };
            c.fail(
                "--env-from-secret/--env-from-configmap",
                v,
                format!("envFrom: {unsupported}; use --env K=secret:NAME/KEY"),
            );
        }
        if let Some(cm) = &self.networking.nccl_env_config_map {
            c.fail(
                "--nccl-env-configmap",
                cm,
                format!("envFrom: {unsupported}; use --env K=configmap:NAME/KEY"),
            );
        }
        if let Some(p) = &self.image.pull_policy {
            c.fail(
                "--image-pull-policy",
                p,
                format!("imagePullPolicy: {unsupported}"),
            );
        }
        if let Some(p) = &self.scheduling.priority {
            c.fail("--priority", p, format!("priorityClassName: {unsupported}"));
        }
        if let Some(s) = &self.scheduling.scheduler {
            c.fail("--scheduler", s, format!("schedulerName: {unsupported}"));
        }
        if self.networking.port != super::Networking::default().port {
            c.fail(
                "--port",
                self.networking.port,
                "the Trainer sets the rendezvous port itself (PET_MASTER_PORT=29400); drop --port",
            );
        }
        if let Some(n) = self.fault_tolerance.max_restarts {
            c.fail("--max-restarts", n, "the Trainer's torch runtime has no elastic restarts yet; drop --max-restarts, or use --backend jobset or pytorchjob");
        }
        if self.fault_tolerance.restart_policy != "Never" {
            c.fail("--restart-policy", &self.fault_tolerance.restart_policy, "the runtime decides the restart policy of a TrainJob's pods; drop --restart-policy");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::MAX_WORLD_SIZE;

    fn job() -> TrainingJob {
        TrainingJob::new("llama-ft", Framework::PyTorch)
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(job().validate(), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_with_flag_value_and_fix() {
        let mut j = job();
        j.name = "Llama_FT".into();
        j.world_size = 0;
        j.resources.memory = Some("lots".into());
        j.resources.cpus = Some("2".into());
        j.resources.cpu_limit = Some("1".into());
        j.resources.gpus = 8;
        j.resources.gpu_limit = Some(4);
        j.networking.roce_gdr = 2;
        j.storage.volumes.push(VolumeMount {
            name: None,
            claim: "data".into(),
            mount_path: "relative".into(),
            read_only: false,
        });
        j.fault_tolerance
            .appwrapper
            .insert("failureGracePeriodDuration".into(), "1 day".into());
        j.backend = Backend::MpiJob;
        let errs: Vec<String> = j
            .validate()
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        let want = [
            "NAME \"Llama_FT\": a job name must be a DNS-1035 label",
            "--world-size \"0\": must be at least 1",
            "--memory \"lots\": not a quantity",
            "--cpu-limit \"1\": is below --cpus 2; raise it to at least 2",
            "--gpu-limit \"4\": must equal --gpus (8)",
            "--volume \"relative\": must be an absolute path",
            "--roce-gdr \"2\": RoCE GDR only helps between pods",
            "--appwrapper-annotation \"1 day\": failureGracePeriodDuration:",
            "--backend \"mpijob\": does not run pytorch; use job, jobset, pytorchjob, appwrapper or trainjob",
        ];
        for w in want {
            assert!(
                errs.iter().any(|e| e.contains(w)),
                "missing {w:?} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
    }

    #[test]
    fn world_size_stays_within_what_an_indexed_job_allows() {
        let mut j = job();
        j.world_size = MAX_WORLD_SIZE;
        assert!(j.validate().is_ok());
        j.world_size = MAX_WORLD_SIZE + 1;
        let e = j.validate().unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "--world-size \"100001\": is more than Kubernetes allows an Indexed Job (100000 completions); use at most 100000"
        );
    }

    #[test]
    fn name_length_leaves_room_for_derived_names() {
        let mut j = job();
        j.name = "a".repeat(MAX_NAME);
        assert!(j.validate().is_ok());
        j.name = "a".repeat(MAX_NAME + 1);
        assert!(j.validate().is_err());
    }

    #[test]
    fn nproc_auto_follows_gpus() {
        let mut j = job();
        assert_eq!(j.nproc(), 1);
        j.resources.gpus = 8;
        assert_eq!(j.nproc(), 8);
        j.nproc_per_node = NprocPerNode::Count(2);
        assert_eq!(j.nproc(), 2);
    }

    #[test]
    fn topology_file_and_user_variable_conflict() {
        let mut j = job();
        j.networking.topology_config_map = Some("topo".into());
        j.env.push(EnvVar {
            name: "NCCL_TOPO_FILE".into(),
            value: EnvValue::Literal("/x".into()),
        });
        let e = j.validate().unwrap_err();
        assert!(
            e[0].to_string()
                .contains("conflicts with --topology-configmap")
        );
    }

    #[test]
    fn framework_backend_pairs() {
        let mut j = TrainingJob::new("ds", Framework::DeepSpeed);
        j.backend = Backend::MpiJob;
        assert!(j.validate().is_ok());
        j.backend = Backend::PyTorchJob;
        assert!(j.validate().is_err());
        j.options.launcher = Launcher::Torchrun;
        assert!(j.validate().is_ok());
        let mut m = TrainingJob::new("mx", Framework::MXNet);
        m.backend = Backend::JobSet;
        assert!(m.validate().is_err());
    }
}
