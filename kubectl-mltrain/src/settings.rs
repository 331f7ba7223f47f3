//! MLBatch `pytorchjob-generator` settings files (`-f settings.yaml`): every key the chart documents
//! (../shared/seeds/003), unknown keys are errors, and the result is the job that generator produces,
//! except where DESIGN §2a improves on it (durations with `d`, host names validated).

use std::path::Path;

use mltrain_shared::model::{
    AppWrapperSetting, EnvFrom, EnvValue, EnvVar, Framework, InitContainer, Main, ModelError,
    Scratch, SshClone, TrainingJob, VolumeMount,
};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::error::Problem;

/// A scalar that may be written as a number or a string (`numCpusPerPod: 8` or `"500m"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s.clone(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyValue {
    key: String,
    value: Scalar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameRef {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectKey {
    name: String,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvSetting {
    name: String,
    value: Option<Scalar>,
    secret: Option<ObjectKey>,
    configmap: Option<ObjectKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SshGitCloneConfig {
    secret_name: String,
    config_map_name: String,
    secret_mount_path: Option<String>,
    config_map_mount_path: Option<String>,
    ssh_cmd: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VolumeSetting {
    name: String,
    claim_name: String,
    mount_path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MountNvme {
    storage: String,
    mount_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitContainerSetting {
    name: String,
    image: String,
    #[serde(default)]
    command: Vec<String>,
}

/// Every key of the chart's values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    job_name: Option<String>,
    namespace: Option<String>,
    /// Missing: `default-queue`; `null`: no queue label.
    #[serde(default, deserialize_with = "present")]
    queue_name: Option<Option<String>>,
    priority: Option<String>,
    custom_labels: Option<Vec<KeyValue>>,
    container_image: Option<String>,
    image_pull_secrets: Option<Vec<NameRef>>,
    image_pull_policy: Option<String>,
    num_pods: Option<u32>,
    num_cpus_per_pod: Option<Scalar>,
    num_gpus_per_pod: Option<u32>,
    total_memory_per_pod: Option<Scalar>,
    limit_cpus_per_pod: Option<Scalar>,
    limit_gpus_per_pod: Option<u32>,
    limit_memory_per_pod: Option<Scalar>,
    environment_variables: Option<Vec<EnvSetting>>,
    env_from: Option<Vec<Value>>,
    ssh_git_clone_config: Option<SshGitCloneConfig>,
    setup_commands: Option<Vec<String>>,
    main_program: Option<String>,
    volumes: Option<Vec<VolumeSetting>>,
    roce_gdr_res_name: Option<String>,
    num_roce_gdr: Option<u32>,
    topology_file_config_map: Option<String>,
    nccl_gdr_env_config_map: Option<String>,
    multi_nic_network_name: Option<String>,
    disable_shared_memory: Option<bool>,
    #[serde(rename = "mountNVMe")]
    mount_nvme: Option<MountNvme>,
    init_containers: Option<Vec<InitContainerSetting>>,
    autopilot_health_checks: Option<Vec<String>>,
    host_ignore_list: Option<Vec<String>>,
    scheduler_name: Option<String>,
    bypass_coscheduler: Option<bool>,
    service_account_name: Option<String>,
    admission_grace_period_duration: Option<Scalar>,
    warmup_grace_period_duration: Option<Scalar>,
    failure_grace_period_duration: Option<Scalar>,
    retry_pause_period_duration: Option<Scalar>,
    retry_limit: Option<Scalar>,
    forceful_deletion_grace_period_duration: Option<Scalar>,
    deletion_on_failure_grace_period_duration: Option<Scalar>,
    #[serde(rename = "successTTLDuration")]
    success_ttl_duration: Option<Scalar>,
    restart_policy: Option<String>,
    termination_grace_period_seconds: Option<u64>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

impl Settings {
    /// The value of an AppWrapper setting. The file's key is the field's name, which the test
    /// `each_appwrapper_key_lands_under_itself` holds to [`AppWrapperSetting::key`].
    fn appwrapper(&self, setting: AppWrapperSetting) -> Option<&Scalar> {
        match setting {
            AppWrapperSetting::AdmissionGracePeriod => {
                self.admission_grace_period_duration.as_ref()
            }
            AppWrapperSetting::WarmupGracePeriod => self.warmup_grace_period_duration.as_ref(),
            AppWrapperSetting::FailureGracePeriod => self.failure_grace_period_duration.as_ref(),
            AppWrapperSetting::RetryPausePeriod => self.retry_pause_period_duration.as_ref(),
            AppWrapperSetting::RetryLimit => self.retry_limit.as_ref(),
            AppWrapperSetting::ForcefulDeletionGracePeriod => {
                self.forceful_deletion_grace_period_duration.as_ref()
            }
            AppWrapperSetting::DeletionOnFailureGracePeriod => {
                self.deletion_on_failure_grace_period_duration.as_ref()
            }
            AppWrapperSetting::SuccessTtl => self.success_ttl_duration.as_ref(),
        }
    }
}

/// What is wrong with a settings file; shown after the file's path.
#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error("{0}; the keys are those of the MLBatch pytorchjob-generator's settings.yaml")]
    Parse(#[source] yaml_serde::Error),
    #[error("{key} is required: {what}")]
    Required {
        key: &'static str,
        what: &'static str,
    },
    #[error("environmentVariables {name}: give exactly one of value, secret or configmap")]
    EnvValue { name: String },
    #[error("envFrom[{index}]: expected {{configMapRef: {{name}}}} or {{secretRef: {{name}}}}")]
    EnvFrom { index: usize },
    /// The job the file describes is invalid, named by the file's key when the job field has one.
    #[error("{}", located(.0))]
    Invalid(ModelError),
}

fn located(e: &ModelError) -> String {
    match key_for(e.field) {
        Some(key) => format!("{key}: {:?}: {}", e.value, e.message),
        None => e.to_string(),
    }
}

/// The settings key a job field (as [`ModelError`] names it, by its flag) comes from, so a problem
/// in the file is reported under the key the user wrote. The AppWrapper settings' keys are their
/// annotation keys ([`AppWrapperSetting`]).
pub fn key_for(field: &str) -> Option<&'static str> {
    if let Some(setting) = AppWrapperSetting::from_flag(field) {
        return Some(setting.key());
    }
    Some(match field {
        "NAME" => "jobName",
        "--namespace" => "namespace",
        "--queue" => "queueName",
        "--priority" => "priority",
        "--label" => "customLabels",
        "--image" => "containerImage",
        "--image-pull-secret" => "imagePullSecrets",
        "--image-pull-policy" => "imagePullPolicy",
        "--world-size" => "numPods",
        "--cpus" => "numCpusPerPod",
        "--gpus" => "numGpusPerPod",
        "--memory" => "totalMemoryPerPod",
        "--cpu-limit" => "limitCpusPerPod",
        "--gpu-limit" => "limitGpusPerPod",
        "--memory-limit" => "limitMemoryPerPod",
        "--env" => "environmentVariables",
        "--env-from-secret" | "--env-from-configmap" => "envFrom",
        "--setup" => "setupCommands",
        "--volume" => "volumes",
        "--scratch" => "mountNVMe",
        "--roce-gdr" => "numRoceGdr",
        "--roce-gdr-resource" => "roceGdrResName",
        "--topology-configmap" => "topologyFileConfigMap",
        "--nccl-env-configmap" => "ncclGdrEnvConfigMap",
        "--multi-nic-network" => "multiNicNetworkName",
        "--host-ignore" => "hostIgnoreList",
        "--scheduler" => "schedulerName",
        "--service-account" => "serviceAccountName",
        "--restart-policy" => "restartPolicy",
        "--termination-grace-period" => "terminationGracePeriodSeconds",
        _ => return None,
    })
}

/// Read a settings file into a job (flags are applied on top by the caller).
pub fn load(path: &Path, framework: Framework) -> Result<TrainingJob, Problem> {
    let bad = |source| Problem::Settings {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(SettingsError::Read(e)))?;
    parse(&text, framework).map_err(bad)
}

/// A settings document into a job.
pub fn parse(text: &str, framework: Framework) -> Result<TrainingJob, SettingsError> {
    let s: Settings = if text.trim().is_empty() {
        Settings::default()
    } else {
        yaml_serde::from_str::<Option<Settings>>(text)
            .map_err(SettingsError::Parse)?
            .unwrap_or_default()
    };
    to_job(&s, framework)
}

/// The job the MLBatch generator makes of these settings, key group by key group.
fn to_job(s: &Settings, framework: Framework) -> Result<TrainingJob, SettingsError> {
    let name = s.job_name.clone().ok_or(SettingsError::Required {
        key: "jobName",
        what: "the name of the AppWrapper and the PyTorchJob",
    })?;
    let mut j = TrainingJob::new(name, framework);
    metadata(s, &mut j);
    j.image.name = s.container_image.clone().ok_or(SettingsError::Required {
        key: "containerImage",
        what: "the image every pod runs",
    })?;
    j.image.pull_secrets = s
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|n| n.name.clone())
        .collect();
    j.image.pull_policy = Some(
        s.image_pull_policy
            .clone()
            .unwrap_or_else(|| "IfNotPresent".into()),
    );
    resources(s, &mut j);
    environment(s, &mut j)?;
    program(s, &mut j);
    storage(s, &mut j);
    networking(s, &mut j);
    scheduling(s, &mut j);
    fault_tolerance(s, &mut j);
    Ok(j)
}

/// Namespace, queue, priority and labels.
fn metadata(s: &Settings, j: &mut TrainingJob) {
    j.namespace.clone_from(&s.namespace);
    j.scheduling.queue = match &s.queue_name {
        None => Some("default-queue".into()),
        Some(q) => q.clone(),
    };
    // The chart writes `default-priority` when the key is absent. We leave the class to the cluster's
    // policy instead: an MLBatch cluster's policy (deploy/components/mlbatch-priorities) sets
    // default-priority, and on a cluster without that class an invented one would make the API
    // server refuse every pod. `priority: default-priority` in the file still asks for it.
    j.scheduling.priority.clone_from(&s.priority);
    for l in s.custom_labels.iter().flatten() {
        j.scheduling.labels.push((l.key.clone(), l.value.text()));
    }
}

/// Pods, and each pod's requests and limits (the chart's defaults: 1 CPU, 1Gi).
fn resources(s: &Settings, j: &mut TrainingJob) {
    j.world_size = s.num_pods.unwrap_or(1);
    let r = &mut j.resources;
    r.cpus = Some(s.num_cpus_per_pod.as_ref().map_or("1".into(), Scalar::text));
    r.gpus = s.num_gpus_per_pod.unwrap_or(0);
    r.memory = Some(
        s.total_memory_per_pod
            .as_ref()
            .map_or("1Gi".into(), Scalar::text),
    );
    r.cpu_limit = s.limit_cpus_per_pod.as_ref().map(Scalar::text);
    r.gpu_limit = s.limit_gpus_per_pod;
    r.memory_limit = s.limit_memory_per_pod.as_ref().map(Scalar::text);
}

/// `environmentVariables` and `envFrom`.
fn environment(s: &Settings, j: &mut TrainingJob) -> Result<(), SettingsError> {
    for e in s.environment_variables.iter().flatten() {
        let value = match (&e.value, &e.secret, &e.configmap) {
            (Some(v), None, None) => EnvValue::Literal(v.text()),
            (None, Some(o), None) => EnvValue::Secret {
                name: o.name.clone(),
                key: o.key.clone(),
            },
            (None, None, Some(o)) => EnvValue::ConfigMap {
                name: o.name.clone(),
                key: o.key.clone(),
            },
            _ => {
                return Err(SettingsError::EnvValue {
                    name: e.name.clone(),
                });
            }
        };
        j.env.push(EnvVar {
            name: e.name.clone(),
            value,
        });
    }
    for (index, f) in s.env_from.iter().flatten().enumerate() {
        let name = |k: &str| {
            f.get(k)
                .and_then(|r| r.get("name"))
                .and_then(Value::as_str)
                .map(String::from)
        };
        match (name("configMapRef"), name("secretRef")) {
            (Some(n), None) => j.env_from.push(EnvFrom::ConfigMap(n)),
            (None, Some(n)) => j.env_from.push(EnvFrom::Secret(n)),
            _ => return Err(SettingsError::EnvFrom { index }),
        }
    }
    Ok(())
}

/// The code clone, setup commands, main program and extra init containers.
fn program(s: &Settings, j: &mut TrainingJob) {
    if let Some(c) = &s.ssh_git_clone_config {
        let keys = c
            .secret_mount_path
            .clone()
            .unwrap_or_else(|| "/tmp/.ssh/keys".into());
        let hosts = c
            .config_map_mount_path
            .clone()
            .unwrap_or_else(|| "/tmp/.ssh/hosts".into());
        let cmd = c.ssh_cmd.clone().unwrap_or_else(|| {
            format!("ssh -i {keys}/id_rsa -o UserKnownHostsFile={hosts}/known_hosts -vv")
        });
        j.code.ssh_clone = Some(SshClone {
            secret: c.secret_name.clone(),
            config_map: c.config_map_name.clone(),
            secret_mount_path: keys,
            config_map_mount_path: hosts,
            ssh_command: cmd,
        });
    }
    j.program.setup = s.setup_commands.clone().unwrap_or_default();
    j.program.main = match &s.main_program {
        Some(p) => Main::Shell(p.clone()),
        None => Main::Nothing,
    };
    for ic in s.init_containers.iter().flatten() {
        j.init_containers.push(InitContainer {
            name: ic.name.clone(),
            image: ic.image.clone(),
            command: ic.command.clone(),
        });
    }
}

/// Volumes, NVMe scratch, shared memory.
fn storage(s: &Settings, j: &mut TrainingJob) {
    for v in s.volumes.iter().flatten() {
        j.storage.volumes.push(VolumeMount {
            name: Some(v.name.clone()),
            claim: v.claim_name.clone(),
            mount_path: v.mount_path.clone(),
            read_only: false,
        });
    }
    j.storage.no_shm = s.disable_shared_memory.unwrap_or(false);
    if let Some(m) = &s.mount_nvme {
        j.storage.scratch = Some(Scratch {
            size: m.storage.clone(),
            mount_path: m
                .mount_path
                .clone()
                .unwrap_or_else(|| "/workspace/scratch-nvme".into()),
            // The generator's NVMe storage class (templates/_helpers.tpl, mlbatch.volumes).
            storage_class: Some("odf-lvm-vg1".into()),
        });
    }
}

/// RoCE GDR, NCCL and Multus.
fn networking(s: &Settings, j: &mut TrainingJob) {
    let n = &mut j.networking;
    if let Some(r) = &s.roce_gdr_res_name {
        n.roce_gdr_resource.clone_from(r);
    }
    n.roce_gdr = s.num_roce_gdr.unwrap_or(0);
    n.topology_config_map
        .clone_from(&s.topology_file_config_map);
    n.nccl_env_config_map.clone_from(&s.nccl_gdr_env_config_map);
    n.multi_nic_network.clone_from(&s.multi_nic_network_name);
}

/// Autopilot health checks, nodes to avoid, scheduler and service account.
fn scheduling(s: &Settings, j: &mut TrainingJob) {
    j.scheduling.health_checks = s.autopilot_health_checks.clone().unwrap_or_default();
    // The generator always keeps pods off GPUs Autopilot marked unhealthy.
    j.scheduling.avoid_unhealthy_gpus = true;
    j.scheduling.host_ignore = s.host_ignore_list.clone().unwrap_or_default();
    j.scheduling.scheduler = match (&s.scheduler_name, s.bypass_coscheduler) {
        (Some(n), _) => Some(n.clone()),
        (None, Some(true)) => Some("default-scheduler".into()),
        _ => None,
    };
    j.scheduling
        .service_account
        .clone_from(&s.service_account_name);
}

/// The AppWrapper settings, restart policy and termination grace period.
fn fault_tolerance(s: &Settings, j: &mut TrainingJob) {
    for setting in AppWrapperSetting::ALL {
        if let Some(v) = s.appwrapper(setting) {
            j.fault_tolerance.appwrapper.insert(setting, v.text());
        }
    }
    if let Some(r) = &s.restart_policy {
        j.fault_tolerance.restart_policy.clone_from(r);
    }
    j.fault_tolerance.termination_grace_seconds = s.termination_grace_period_seconds;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every AppWrapper setting of the table is read from the file under its own key.
    #[test]
    fn each_appwrapper_key_lands_under_itself() {
        for (i, setting) in AppWrapperSetting::ALL.into_iter().enumerate() {
            let doc = format!(
                "jobName: j\ncontainerImage: i\n{}: \"{i}\"\n",
                setting.key()
            );
            let job = parse(&doc, Framework::PyTorch).unwrap();
            assert_eq!(
                job.fault_tolerance.appwrapper,
                [(setting, i.to_string())].into(),
                "{}",
                setting.key()
            );
        }
    }

    #[test]
    fn problems_name_the_key() {
        let e = parse("containerImage: i\n", Framework::PyTorch).unwrap_err();
        assert_eq!(
            e.to_string(),
            "jobName is required: the name of the AppWrapper and the PyTorchJob"
        );
        let e = parse(
            "jobName: j\ncontainerImage: i\nenvFrom: [{}]\n",
            Framework::PyTorch,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "envFrom[0]: expected {configMapRef: {name}} or {secretRef: {name}}"
        );
    }
}

#[cfg(test)]
mod fuzz {
    //! Bounded fuzzing of settings files (`MLTRAIN_FUZZ_SECONDS`, `MLTRAIN_FUZZ_SEED`): line- and
    //! byte-level mutations of the example files. Properties: parsing never panics, and a job that
    //! parses and validates always renders.
    use super::*;
    use mltrain_tests::{Rng, fuzz_budget, fuzz_seed, mutate_bytes};

    const SEEDS: [&str; 3] = [
        include_str!("../tests/data/settings/metadata-resources-env.yaml"),
        include_str!("../tests/data/settings/roce-topology-nvme.yaml"),
        include_str!("../tests/data/settings/minimal.yaml"),
    ];

    const ODD_LINES: [&str; 14] = [
        "numPods: -1",
        "numPods: 99999999999",
        "numGpusPerPod: 1.5",
        "totalMemoryPerPod: lots",
        "queueName: ~",
        "hostIgnoreList: [\"\", Bad_Node]",
        "mountNVMe: {}",
        "environmentVariables: [{name: X}]",
        "jobName: 9bad",
        "retryLimit: forever",
        "warmupGracePeriodDuration: 1y",
        "  - {}",
        "envFrom: [{}]",
        "customLabels: [{key: k, value: [1]}]",
    ];

    fn mutate_lines(rng: &mut Rng, text: &str) -> String {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        for _ in 0..=rng.below(3) {
            if lines.is_empty() {
                break;
            }
            let i = rng.below(lines.len());
            match rng.below(4) {
                0 => {
                    lines.remove(i);
                }
                1 => lines.insert(i, ODD_LINES[rng.below(ODD_LINES.len())].to_string()),
                2 => {
                    let dup = lines[i].clone();
                    lines.insert(i, dup);
                }
                _ => lines[i] = format!("  {}", lines[i]),
            }
        }
        lines.join("\n")
    }

    #[test]
    fn fuzz_settings_files() {
        let seed = fuzz_seed();
        let budget = fuzz_budget();
        eprintln!(
            "fuzz_settings_files: seed {seed}, {budget:?} (replay: MLTRAIN_FUZZ_SEED={seed})"
        );
        let mut rng = Rng::new(seed);
        let started = std::time::Instant::now();
        let (mut runs, mut rendered) = (0u64, 0u64);
        while started.elapsed() < budget {
            let base = SEEDS[rng.below(SEEDS.len())];
            let text = if rng.below(2) == 0 {
                mutate_lines(&mut rng, base)
            } else {
                String::from_utf8_lossy(&mutate_bytes(&mut rng, base.as_bytes())).into_owned()
            };
            let outcome = std::panic::catch_unwind(|| match parse(&text, Framework::PyTorch) {
                Ok(mut job) => {
                    job.backend = mltrain_shared::model::Backend::AppWrapper.into();
                    if job.validate().is_ok() {
                        mltrain_shared::render::render(&job).expect("a valid job renders");
                        return true;
                    }
                    false
                }
                Err(_) => false,
            });
            match outcome {
                Ok(r) => rendered += u64::from(r),
                Err(_) => panic!("settings input {runs} of seed {seed} failed:\n{text}"),
            }
            runs += 1;
        }
        eprintln!("fuzz_settings_files: {runs} inputs, {rendered} rendered, no failure");
        assert!(
            runs > 0 && rendered > 0,
            "no mutation produced a valid job: rendering was not exercised"
        );
    }
}
