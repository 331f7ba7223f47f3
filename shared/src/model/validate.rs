//! Model-level checks: everything about a job that can be wrong before any object exists. Checks that
//! depend on the combination (restarts, what a TrainJob can carry, derived name lengths) match on the
//! job's [`Layout`](super::Layout), and a combination that does not exist is reported as one problem
//! among the others.

use std::fmt;

use thiserror::Error;

use super::{
    DeepSpeedLauncher, EnvFrom, EnvValue, FrameworkSpec, Layout, MAX_NAME, NprocPerNode,
    TrainerRuntime, TrainingJob,
};
mod trainjob_mpi;

use crate::names;
use crate::quantity::Quantity;

/// Kubernetes' limit on an Indexed Job's completions, which every backend's pods come down to.
pub const MAX_WORLD_SIZE: u32 = 100_000;

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
        let layout = self.layout();
        self.check_identity(&mut c, layout.as_ref().ok());
        self.check_resources(&mut c);
        self.check_program(&mut c);
        self.check_env(&mut c);
        self.check_storage(&mut c);
        self.check_scheduling(&mut c);
        self.check_framework(&mut c);
        self.check_networking(&mut c);
        self.check_fault_tolerance(&mut c, layout.as_ref().ok());
        match layout {
            Err(unsupported) => c.0.push(unsupported.into()),
            Ok(Layout::TrainJob { runtime }) => {
                self.check_trainjob(&mut c, runtime);
                self.check_trainjob_run(&mut c);
            }
            Ok(Layout::DeepSpeedTrainJob { runtime, .. }) => {
                self.check_trainjob(&mut c, runtime);
                self.check_trainjob_mpi(&mut c);
            }
            Ok(_) => {}
        }
        if c.0.is_empty() { Ok(()) } else { Err(c.0) }
    }

    /// Name, namespace and counts; the names controllers derive only when the layout exists.
    fn check_identity(&self, c: &mut Check, layout: Option<&Layout>) {
        if let Err(p) = names::dns1035_label(&self.name, MAX_NAME) {
            c.fail("NAME", &self.name, format!("a job name must be a DNS-1035 label of at most {MAX_NAME} characters (lowercase letters, digits, '-', starting with a letter): {p}"));
        }
        if let Some(Err((longest, what, max))) = layout.map(|l| super::derived::check(self, *l)) {
            c.fail(
                "NAME",
                &self.name,
                format!(
                    "too long for the {} backend at world size {}: {what} would be {longest:?} ({} characters, more than {}); use a name of at most {max} characters",
                    self.backend(),
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
                EnvFrom::Secret(n) => c.name("--env-from-secret", n, subdomain, "Secret name"),
                EnvFrom::ConfigMap(n) => {
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

    /// The options only one framework has.
    fn check_framework(&self, c: &mut Check) {
        match &self.framework {
            FrameworkSpec::PyTorch => {}
            FrameworkSpec::DeepSpeed(ds) => {
                if ds.slots_per_node == Some(0) {
                    c.fail("--slots-per-node", 0, "must be at least 1");
                }
                if let (Some(n), DeepSpeedLauncher::Torchrun) = (ds.slots_per_node, &ds.launcher) {
                    c.fail(
                        "--slots-per-node",
                        n,
                        "only with --launcher ssh, whose hostfile it writes; torchrun starts --nproc-per-node processes per pod, so use that",
                    );
                }
            }
            FrameworkSpec::MXNet(mx) => match mx.servers {
                Some(0) => c.fail(
                    "--servers",
                    0,
                    "must be at least 1 (a distributed MXNet job needs a parameter server)",
                ),
                Some(servers) if self.world_size > 1 && servers > self.world_size => c.fail(
                    "--servers",
                    servers,
                    format!(
                        "must be at most --workers ({}): each server runs in a worker's pod",
                        self.world_size
                    ),
                ),
                _ => {}
            },
        }
    }

    fn check_networking(&self, c: &mut Check) {
        let n = &self.networking;
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

    fn check_fault_tolerance(&self, c: &mut Check, layout: Option<&Layout>) {
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
        if let Some(n) = f.max_restarts.filter(|&n| n > 0) {
            let fix = match layout {
                Some(Layout::DeepSpeedSsh { .. }) => Some(
                    "a retried SSH launcher finds its workers gone; use --launcher torchrun (a restarted group re-forms through torchrun's c10d rendezvous) or --backend mpijob",
                ),
                Some(Layout::MxnetParameterServer { .. }) => Some(
                    "a restarted MXNet scheduler, server or worker cannot rejoin ps-lite's group; drop --max-restarts",
                ),
                _ => None,
            };
            if let Some(fix) = fix {
                c.fail("--max-restarts", n, fix);
            }
        }
        for (setting, value) in &f.appwrapper {
            if let Err(e) = setting.annotation_value(value) {
                c.0.push(e);
            }
        }
    }
}

/// What the Kubeflow Trainer's TrainJob has no field for.
const NOT_IN_TRAINJOB: &str = "the Kubeflow Trainer's TrainJob has no field for it (spec.runtimePatches patches only env, volume mounts and security context of containers); drop it, or use another --backend";

impl TrainingJob {
    /// A TrainJob carries only what the Trainer's API can express: `spec.trainer` and
    /// `spec.runtimePatches` (v2.3.0), whose container patches hold env, volume mounts and security
    /// context only (no image, command or envFrom), so init containers, envFrom, pull policy, priority
    /// class and scheduler cannot be set through it (kubeflow/trainer
    /// `pkg/apis/trainer/v1alpha1/trainjob_types.go`).
    fn check_trainjob(&self, c: &mut Check, runtime: &TrainerRuntime) {
        if let Some(n) = &runtime.name {
            c.name("--runtime", n, subdomain, "runtime name");
        }
        self.check_trainjob_pod(c);
    }

    /// Pod settings a runtime patch cannot carry.
    fn check_trainjob_pod(&self, c: &mut Check) {
        if let Some(g) = &self.code.git {
            c.fail(
                "--git-repo",
                &g.url,
                format!("needs an init container, which {NOT_IN_TRAINJOB}"),
            );
        }
        for ic in &self.init_containers {
            c.fail(
                "initContainers",
                &ic.name,
                format!("an init container: {NOT_IN_TRAINJOB}"),
            );
        }
        for e in &self.env_from {
            let (EnvFrom::Secret(v) | EnvFrom::ConfigMap(v)) = e;
            c.fail(
                "--env-from-secret/--env-from-configmap",
                v,
                format!("envFrom: {NOT_IN_TRAINJOB}; use --env K=secret:NAME/KEY"),
            );
        }
        if let Some(cm) = &self.networking.nccl_env_config_map {
            c.fail(
                "--nccl-env-configmap",
                cm,
                format!("envFrom: {NOT_IN_TRAINJOB}; use --env K=configmap:NAME/KEY"),
            );
        }
        if let Some(p) = &self.image.pull_policy {
            c.fail(
                "--image-pull-policy",
                p,
                format!("imagePullPolicy: {NOT_IN_TRAINJOB}"),
            );
        }
        if let Some(p) = &self.scheduling.priority {
            c.fail(
                "--priority",
                p,
                format!("priorityClassName: {NOT_IN_TRAINJOB}"),
            );
        }
        if let Some(s) = &self.scheduling.scheduler {
            c.fail(
                "--scheduler",
                s,
                format!("schedulerName: {NOT_IN_TRAINJOB}"),
            );
        }
    }

    /// What the Trainer and its torch runtime decide themselves.
    fn check_trainjob_run(&self, c: &mut Check) {
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
            .insert(AppWrapperSetting::FailureGracePeriod, "1 day".into());
        j.backend = Backend::MpiJob.into();
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
            "--failure-grace-period \"1 day\": not a duration:",
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
        j.backend = Backend::MpiJob.into();
        assert!(j.validate().is_ok());
        j.backend = Backend::PyTorchJob.into();
        assert!(j.validate().is_err());
        j.framework.deepspeed_mut().unwrap().launcher = Launcher::Torchrun.into();
        assert!(j.validate().is_ok());
        let mut m = TrainingJob::new("mx", Framework::MXNet);
        m.backend = Backend::JobSet.into();
        assert!(m.validate().is_err());
    }

    /// The options of one framework, checked where that framework has them.
    #[test]
    fn framework_options() {
        let mut ds = TrainingJob::new("ds", Framework::DeepSpeed);
        let spec = ds.framework.deepspeed_mut().unwrap();
        spec.slots_per_node = Some(0);
        assert_eq!(
            ds.validate().unwrap_err()[0].to_string(),
            "--slots-per-node \"0\": must be at least 1"
        );
        let spec = ds.framework.deepspeed_mut().unwrap();
        spec.slots_per_node = Some(4);
        spec.launcher = Launcher::Torchrun.into();
        assert!(
            ds.validate().unwrap_err()[0]
                .message
                .contains("only with --launcher ssh")
        );
        let mut mx = TrainingJob::new("mx", Framework::MXNet);
        mx.world_size = 3;
        mx.framework.mxnet_mut().unwrap().servers = Some(4);
        assert_eq!(
            mx.validate().unwrap_err()[0].to_string(),
            "--servers \"4\": must be at most --workers (3): each server runs in a worker's pod"
        );
        mx.framework.mxnet_mut().unwrap().servers = Some(0);
        assert!(
            mx.validate().unwrap_err()[0]
                .message
                .starts_with("must be at least 1")
        );
    }

    /// A layout whose pods cannot rejoin a group refuses restarts; the others take them.
    #[test]
    fn restarts_per_layout() {
        let mut ds = TrainingJob::new("ds", Framework::DeepSpeed);
        ds.fault_tolerance.max_restarts = Some(2);
        assert!(
            ds.validate().unwrap_err()[0]
                .message
                .starts_with("a retried SSH launcher")
        );
        ds.backend = Backend::MpiJob.into();
        assert!(ds.validate().is_ok());
        let mut mx = TrainingJob::new("mx", Framework::MXNet);
        mx.fault_tolerance.max_restarts = Some(1);
        assert!(mx.validate().unwrap_err()[0].message.contains("ps-lite"));
    }
}
