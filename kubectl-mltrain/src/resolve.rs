//! Flags (and a settings file) resolved into a [`TrainingJob`] before anything runs. Every problem is
//! collected, so one run reports them all.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use mltrain_shared::model::{
    APPWRAPPER_ANNOTATIONS, AntiAffinity, Backend, EnvFrom, EnvVar, Framework, GitSource, Launcher,
    Main, NprocPerNode, PackedFile, RuntimeKind, TrainingJob,
};
use mltrain_shared::{OpenShiftMode, duration};

use crate::args;
use crate::cli::{
    AntiAffinityArg, BackendArg, CreateArgs, LauncherArg, OpenShiftArg, RestartPolicyArg,
    RuntimeKindArg,
};
use crate::error::{CommandError, UsageError};

/// The largest ConfigMap the API server stores (1 MiB), less room for metadata.
const MAX_PACKED_BYTES: usize = 1_000_000;

/// `<framework>-<5 random lowercase alphanumerics>`.
pub fn default_name(framework: Framework) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let mut x = h.finish();
    let suffix: String = (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect();
    format!("{}-{suffix}", framework.as_str())
}

/// Resolve flags into a job; `base` is the job a settings file produced, if any.
pub fn job_from_args(
    framework: Framework,
    a: &CreateArgs,
    base: Option<TrainingJob>,
) -> Result<TrainingJob, CommandError> {
    let mut errors: Vec<String> = Vec::new();
    let mut push = |e: UsageError| errors.push(e.to_string());
    let from_file = base.is_some();
    // What the settings file gets wrong on its own (before any flag), reported under its keys.
    let file_errors = base
        .as_ref()
        .and_then(|b| b.validate().err())
        .unwrap_or_default();
    let mut job = base.unwrap_or_else(|| {
        TrainingJob::new(
            a.name.clone().unwrap_or_else(|| default_name(framework)),
            framework,
        )
    });
    if let Some(n) = &a.name {
        job.name = n.clone();
    }
    if let Some(ns) = &a.kubectl.conn.namespace {
        job.namespace = Some(ns.clone());
    }
    if let Some(b) = a.backend {
        job.backend = match b {
            BackendArg::Job => Backend::Job,
            BackendArg::Jobset => Backend::JobSet,
            BackendArg::Pytorchjob => Backend::PyTorchJob,
            BackendArg::Appwrapper => Backend::AppWrapper,
            BackendArg::Mpijob => Backend::MpiJob,
            BackendArg::Trainjob => Backend::TrainJob,
        }
        .into();
    } else if from_file {
        job.backend = Backend::AppWrapper.into();
    }
    if let Some(n) = a.world_size {
        job.world_size = n;
    }
    for e in framework_and_backend_options(&mut job, a) {
        push(e);
    }
    if let Some(n) = &a.nproc_per_node {
        match n.as_str() {
            "auto" => job.nproc_per_node = NprocPerNode::Auto,
            s => match s.parse::<u32>() {
                Ok(n) => job.nproc_per_node = NprocPerNode::Count(n),
                Err(_) => push(UsageError {
                    flag: "--nproc-per-node",
                    value: s.into(),
                    message: "expected a whole number or auto".into(),
                }),
            },
        }
    }
    let r = &mut job.resources;
    if let Some(g) = a.gpus {
        r.gpus = g;
    }
    set(&mut r.cpus, &a.cpus);
    set(&mut r.memory, &a.memory);
    set(&mut r.cpu_limit, &a.cpu_limit);
    set(&mut r.memory_limit, &a.memory_limit);
    set(&mut r.ephemeral_storage, &a.ephemeral_storage);
    if a.gpu_limit.is_some() {
        r.gpu_limit = a.gpu_limit;
    }
    if let Some(p) = &a.resources_preset {
        r.preset = p.parse().ok();
    }

    if !a.setup.is_empty() {
        job.program.setup = a.setup.clone();
    }
    set(&mut job.program.workdir, &a.workdir);
    if !a.program.is_empty() {
        job.program.main = Main::Command(a.program.clone());
    }
    if let Some(i) = &a.image {
        job.image.name = i.clone();
    }
    set(&mut job.image.pull_policy, &a.image_pull_policy);
    job.image
        .pull_secrets
        .extend(a.image_pull_secret.iter().cloned());

    if let Some(url) = &a.git_repo {
        job.code.git = Some(GitSource {
            url: url.clone(),
            revision: a.git_revision.clone(),
            ssh_secret: a.git_ssh_secret.clone(),
        });
    }
    for p in &a.from_file {
        if let Err(e) = pack(p, &mut job.code.files) {
            push(e);
        }
    }
    let total: usize = job.code.files.iter().map(|f| f.content.len()).sum();
    if total > MAX_PACKED_BYTES {
        push(UsageError {
            flag: "--from-file",
            value: format!("{total} bytes"),
            message: "more than a ConfigMap holds (1 MiB); ship large files with --git-repo or a --volume".into(),
        });
    }
    job.code.config_maps.extend(a.configmap.iter().cloned());
    for v in &a.volume {
        match args::volume(v) {
            Ok(v) => job.storage.volumes.push(v),
            Err(e) => push(e),
        }
    }
    if let Some(s) = &a.scratch {
        match args::scratch(s, a.scratch_storage_class.clone()) {
            Ok(s) => job.storage.scratch = Some(s),
            Err(e) => push(e),
        }
    }
    set(&mut job.storage.shm_size, &a.shm_size);
    job.storage.no_shm |= a.no_shm;

    for e in &a.env {
        match args::env(e) {
            Ok((name, value)) => {
                job.env.retain(|v| v.name != name);
                job.env.push(EnvVar { name, value });
            }
            Err(e) => push(e),
        }
    }
    job.env_from
        .extend(a.env_from_secret.iter().cloned().map(EnvFrom::Secret));
    job.env_from
        .extend(a.env_from_configmap.iter().cloned().map(EnvFrom::ConfigMap));

    let s = &mut job.scheduling;
    set(&mut s.queue, &a.queue);
    set(&mut s.priority, &a.priority);
    s.host_ignore.extend(a.host_ignore.iter().cloned());
    for kv in &a.node_selector {
        match args::key_value("--node-selector", kv) {
            Ok(p) => s.node_selector.push(p),
            Err(e) => push(e),
        }
    }
    for t in &a.toleration {
        match args::toleration(t) {
            Ok(t) => s.tolerations.push(t),
            Err(e) => push(e),
        }
    }
    if let Some(aa) = a.anti_affinity {
        s.anti_affinity = Some(match aa {
            AntiAffinityArg::Soft => AntiAffinity::Soft,
            AntiAffinityArg::Hard => AntiAffinity::Hard,
        });
    }
    set(&mut s.scheduler, &a.scheduler);
    set(&mut s.service_account, &a.service_account);
    for kv in &a.label {
        match args::key_value("--label", kv) {
            Ok(p) => s.labels.push(p),
            Err(e) => push(e),
        }
    }
    for kv in &a.annotation {
        match args::key_value("--annotation", kv) {
            Ok(p) => s.annotations.push(p),
            Err(e) => push(e),
        }
    }

    let n = &mut job.networking;
    if let Some(p) = a.port {
        n.port = p;
    }
    if let Some(r) = a.roce_gdr {
        n.roce_gdr = r;
    }
    if let Some(r) = &a.roce_gdr_resource {
        n.roce_gdr_resource = r.clone();
    }
    set(&mut n.multi_nic_network, &a.multi_nic_network);
    set(&mut n.nccl_env_config_map, &a.nccl_env_configmap);
    set(&mut n.topology_config_map, &a.topology_configmap);

    let ft = &mut job.fault_tolerance;
    if let Some(r) = a.restart_policy {
        ft.restart_policy = match r {
            RestartPolicyArg::Never => "Never",
            RestartPolicyArg::OnFailure => "OnFailure",
        }
        .into();
    }
    if a.max_restarts.is_some() {
        ft.max_restarts = a.max_restarts;
    }
    if let Some(d) = &a.active_deadline {
        match duration::parse_seconds(d) {
            Ok(s) if s > 0 => ft.active_deadline_seconds = Some(s),
            Ok(_) => push(UsageError {
                flag: "--active-deadline",
                value: d.clone(),
                message: "must be longer than 0s".into(),
            }),
            Err(e) => push(UsageError {
                flag: "--active-deadline",
                value: d.clone(),
                message: e.reason.to_string() + "; write e.g. 12h or 2d",
            }),
        }
    }
    if a.termination_grace_period.is_some() {
        ft.termination_grace_seconds = a.termination_grace_period;
    }
    let aw = [
        &a.admission_grace_period,
        &a.warmup_grace_period,
        &a.failure_grace_period,
        &a.retry_pause_period,
        &a.retry_limit.map(|n| n.to_string()),
        &a.forceful_deletion_grace_period,
        &a.deletion_on_failure_grace_period,
        &a.success_ttl,
    ];
    for (key, value) in APPWRAPPER_ANNOTATIONS.iter().zip(aw) {
        if let Some(v) = value {
            ft.appwrapper.insert(key.to_string(), v.clone());
        }
    }

    if let Some(o) = a.openshift {
        job.security.openshift = match o {
            OpenShiftArg::Auto => OpenShiftMode::Auto,
            OpenShiftArg::Force => OpenShiftMode::Force,
            OpenShiftArg::Disabled => OpenShiftMode::Disabled,
        };
    }
    if a.run_as_user.is_some() {
        job.security.run_as_user = a.run_as_user;
    }
    if a.run_as_group.is_some() {
        job.security.run_as_group = a.run_as_group;
    }
    if a.fs_group.is_some() {
        job.security.fs_group = a.fs_group;
    }

    if let Err(model_errors) = job.validate() {
        errors.extend(model_errors.iter().map(|e| match &a.settings {
            Some(path) if file_errors.contains(e) => crate::settings::describe(path, e),
            _ => e.to_string(),
        }));
    }
    if errors.is_empty() {
        Ok(job)
    } else {
        Err(CommandError::Usage(errors))
    }
}

/// The flags only one framework or backend has, set where the job can carry them; given to another,
/// a usage error naming the flag.
fn framework_and_backend_options(job: &mut TrainingJob, a: &CreateArgs) -> Vec<UsageError> {
    let mut errors = Vec::new();
    let mut refuse = |flag: &'static str, value: String, message: &str| {
        errors.push(UsageError {
            flag,
            value,
            message: message.into(),
        })
    };
    let kind = a.runtime_kind.map(|k| match k {
        RuntimeKindArg::ClusterTrainingRuntime => RuntimeKind::Cluster,
        RuntimeKindArg::TrainingRuntime => RuntimeKind::Namespaced,
    });
    match job.backend.trainer_runtime_mut() {
        Some(rt) => {
            if a.runtime.is_some() {
                rt.name = a.runtime.clone();
            }
            if kind.is_some() {
                rt.kind = kind;
            }
        }
        None => {
            if let Some(n) = &a.runtime {
                let fix = "only with --backend trainjob; add --backend trainjob or drop --runtime";
                refuse("--runtime", n.clone(), fix);
            }
            if let Some(k) = kind {
                let fix =
                    "only with --backend trainjob; add --backend trainjob or drop --runtime-kind";
                refuse("--runtime-kind", k.as_str().into(), fix);
            }
        }
    }
    if let Some(n) = a.slots_per_node {
        match job.framework.deepspeed_mut() {
            Some(ds) => ds.slots_per_node = Some(n),
            None => refuse(
                "--slots-per-node",
                n.to_string(),
                "is for deepspeed; use --nproc-per-node",
            ),
        }
    }
    if let Some(n) = a.servers {
        match job.framework.mxnet_mut() {
            Some(mx) => mx.servers = Some(n),
            None => refuse(
                "--servers",
                n.to_string(),
                "is for mxnet's parameter servers",
            ),
        }
    }
    if let Some(l) = a.launcher {
        let launcher = match l {
            LauncherArg::Ssh => Launcher::Ssh,
            LauncherArg::Torchrun => Launcher::Torchrun,
        };
        match job.framework.deepspeed_mut() {
            Some(ds) => ds.launcher = launcher.into(),
            None => refuse(
                "--launcher",
                launcher.as_str().into(),
                "is for deepspeed; pytorch always uses torchrun",
            ),
        }
    }
    errors
}

fn set(slot: &mut Option<String>, value: &Option<String>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}

/// Pack a file, or a directory's files, into ConfigMap entries.
fn pack(path: &Path, out: &mut Vec<PackedFile>) -> Result<(), UsageError> {
    let err = |m: String| UsageError {
        flag: "--from-file",
        value: path.display().to_string(),
        message: m,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read it: {e}")))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        walk(path, path, &mut files).map_err(|e| err(format!("cannot read the directory: {e}")))?;
        files.sort();
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        files.push((path.to_path_buf(), name));
    }
    for (file, rel) in files {
        let bytes = std::fs::read(&file)
            .map_err(|e| err(format!("cannot read {}: {e}", file.display())))?;
        let content = String::from_utf8(bytes).map_err(|_| {
            err(format!(
                "{} is not UTF-8 text; ship binary files with --git-repo or a --volume",
                file.display()
            ))
        })?;
        let key: String = rel
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-._".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if out.iter().any(|f| f.key == key) {
            return Err(err(format!(
                "two files map to the ConfigMap key {key:?}; rename one"
            )));
        }
        out.push(PackedFile {
            key,
            path: rel,
            content,
        });
    }
    Ok(())
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(std::path::PathBuf, String)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out)?;
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((p, rel));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid_and_vary() {
        let a = default_name(Framework::PyTorch);
        assert!(a.starts_with("pytorch-") && a.len() == 13, "{a}");
        assert!(mltrain_shared::names::dns1035_label(&a, 50).is_ok());
    }
}
