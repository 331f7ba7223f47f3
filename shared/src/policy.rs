//! The cluster policy: one YAML document a cluster admin writes (a ConfigMap in the cluster, or
//! `--policy-file`). Unknown keys are errors, every key has a default, so an empty policy is valid and
//! already useful: Bitnami's security defaults, shared memory, the standard priorities.
//!
//! `docs/policy.md` and [`Policy::documented_example`] show every key with its default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::names;
use crate::quantity::Quantity;
use crate::vocab;

/// Why a policy document was refused.
#[derive(Debug, Error)]
pub enum PolicyError {
    #[error("policy is not valid YAML for mltrain: {0}; see docs/policy.md for every key")]
    Parse(#[source] yaml_serde::Error),
    #[error("policy field {field}: {message}")]
    Invalid { field: String, message: String },
}

/// Why a policy file was not loaded: the file, and what is wrong with it.
#[derive(Debug, Error)]
#[error("{}: {problem}", path.display())]
pub struct PolicyFileError {
    pub path: PathBuf,
    #[source]
    pub problem: PolicyFileProblem,
}

/// What is wrong with a policy file.
#[derive(Debug, Error)]
pub enum PolicyFileProblem {
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Invalid(#[from] PolicyError),
}

/// Whether to adapt pods to OpenShift's restricted-v2 SCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum OpenShiftMode {
    /// Adapt when the cluster serves the `security.openshift.io` API group.
    #[default]
    Auto,
    /// Always adapt.
    Force,
    /// Never adapt.
    Disabled,
}

impl OpenShiftMode {
    /// Whether to adapt pods to OpenShift under this mode. `detected` is what the caller's discovery
    /// of the `security.openshift.io` API group found, `None` when it did not ask or could not tell:
    /// `auto` then adapts nothing, and the caller says so (the detection itself needs the cluster, so
    /// it stays with each caller).
    pub fn resolve(self, detected: Option<bool>) -> bool {
        match self {
            OpenShiftMode::Force => true,
            OpenShiftMode::Disabled => false,
            OpenShiftMode::Auto => detected.unwrap_or(false),
        }
    }
}

impl std::str::FromStr for OpenShiftMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "force" => Ok(Self::Force),
            "disabled" => Ok(Self::Disabled),
            other => Err(format!(
                "{other:?} is not an OpenShift mode; use auto, force or disabled"
            )),
        }
    }
}

/// The whole policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    pub security: SecurityPolicy,
    pub openshift: OpenShiftMode,
    pub shared_memory: SharedMemoryPolicy,
    pub nccl: NcclPolicy,
    pub hosts: HostPolicy,
    pub priority: PriorityPolicy,
    pub resources: ResourcePolicy,
}

/// Security-context defaults (Bitnami's; they also satisfy Pod Security "restricted") and the switches
/// for what is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SecurityPolicy {
    /// Fill missing security-context fields at all.
    pub defaults: bool,
    pub run_as_user: i64,
    pub run_as_group: i64,
    pub fs_group: i64,
    pub fs_group_change_policy: String,
    pub seccomp_profile: String,
    /// Make root filesystems read-only (a writable `/tmp` emptyDir is added).
    pub read_only_root_filesystem: bool,
    pub allow_privileged: bool,
    /// Allow `hostNetwork`, `hostPID` and `hostIPC`.
    pub allow_host_namespaces: bool,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        SecurityPolicy {
            defaults: true,
            run_as_user: 1001,
            run_as_group: 1001,
            fs_group: 1001,
            fs_group_change_policy: "OnRootMismatch".into(),
            seccomp_profile: "RuntimeDefault".into(),
            read_only_root_filesystem: false,
            allow_privileged: false,
            allow_host_namespaces: false,
        }
    }
}

/// The `/dev/shm` volume for training pods (PyTorch data loaders and NCCL need more than the 64 MiB
/// container default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SharedMemoryPolicy {
    pub enabled: bool,
    /// A fixed size limit; when unset, `memoryLimitPercent` of the pod's memory limit.
    pub size_limit: Option<String>,
    /// Percent of the pod's memory limit (1–100); no size limit when the pod has no memory limit.
    pub memory_limit_percent: u8,
}

impl Default for SharedMemoryPolicy {
    fn default() -> Self {
        SharedMemoryPolicy {
            enabled: true,
            size_limit: None,
            memory_limit_percent: 50,
        }
    }
}

/// NCCL and RoCE settings for GPU pods of multi-pod jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NcclPolicy {
    /// Literal variables; a variable the user set wins.
    pub env: BTreeMap<String, String>,
    /// A ConfigMap of NCCL variables added as `envFrom`.
    pub env_config_map: Option<String>,
    /// A ConfigMap holding `virtualTopology.xml`, mounted at `/var/run/nvidia-topologyd`.
    pub topology_config_map: Option<String>,
    pub roce_gdr: RocePolicy,
    /// Multus network for `k8s.v1.cni.cncf.io/networks`.
    pub multi_nic_network: Option<String>,
}

/// GPUDirect RDMA over RoCE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RocePolicy {
    pub resource: String,
    /// How many to add per GPU container; 0 adds none (but requests are still validated).
    pub count: u32,
}

impl Default for RocePolicy {
    fn default() -> Self {
        RocePolicy {
            resource: vocab::nvidia::ROCE_GDR.into(),
            count: 0,
        }
    }
}

/// Nodes training pods must avoid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HostPolicy {
    /// Cluster-wide faulty nodes (`kubernetes.io/hostname` values).
    pub ignore: Vec<String>,
    /// The most entries one host list may have.
    pub max_entries: usize,
    /// A node-health label rule, e.g. `{key: autopilot.ibm.com/gpuhealth, notIn: [ERR, TESTING, EVICT]}`.
    pub node_health: Option<NodeHealthRule>,
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy {
            ignore: Vec::new(),
            max_entries: 64,
            node_health: None,
        }
    }
}

/// Nodes whose label `key` has one of `notIn` are avoided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeHealthRule {
    pub key: String,
    pub not_in: Vec<String>,
}

/// Priority classes: the default for workloads, what is allowed, and who may use the approved ones.
///
/// The built-in policy names no class at all: a plain cluster (kind, a fresh managed cluster) has no
/// `default-priority`, and the API server's Priority admission plugin refuses every pod that names a
/// class it does not have, so a default here would make every job hang at zero pods. Clusters that have
/// the classes (MLBatch's `default-priority`, `low-priority`, `high-priority`) configure them; see
/// `deploy/components/mlbatch-priorities`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PriorityPolicy {
    /// Set on workload pod templates that name none; empty (the default) sets none.
    pub default: String,
    /// Allowed `priorityClassName`s and `kueue.x-k8s.io/priority-class` values; empty allows any.
    pub allowed: Vec<String>,
    pub approval: ApprovalPolicy,
}

/// Who may use the priority classes that need approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalPolicy {
    pub classes: Vec<String>,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    /// `key=value`: namespaces carrying this label are approved.
    pub namespace_label: String,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            // None by default: approval only guards classes the admin configured.
            classes: Vec::new(),
            users: Vec::new(),
            groups: vec!["system:masters".into()],
            namespace_label: format!("{}=true", vocab::mltrain::HIGH_PRIORITY_APPROVED),
        }
    }
}

/// Resource rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourcePolicy {
    /// Extended resources that are GPUs.
    pub gpu_resources: Vec<String>,
    /// The most GPUs one pod may request; 0 means no maximum.
    pub max_gpus_per_pod: u32,
}

impl Default for ResourcePolicy {
    fn default() -> Self {
        ResourcePolicy {
            gpu_resources: vec![
                vocab::nvidia::GPU.into(),
                "amd.com/gpu".into(),
                "gpu.intel.com/i915".into(),
                "gpu.intel.com/xe".into(),
            ],
            max_gpus_per_pod: 8,
        }
    }
}

impl Policy {
    /// Parse and check a policy document. An empty document is the default policy.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = if text.trim().is_empty() {
            Policy::default()
        } else {
            yaml_serde::from_str::<Option<Policy>>(text)
                .map_err(PolicyError::Parse)?
                .unwrap_or_default()
        };
        policy.check()?;
        Ok(policy)
    }

    /// Read, parse and check a policy file: every loader (the webhook, at start and on reload, and
    /// the plugin's `--policy-file`) goes through here, so they refuse the same files with the same
    /// words.
    pub fn load(path: &Path) -> Result<Policy, PolicyFileError> {
        let fail = |problem| PolicyFileError {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(PolicyFileProblem::Read(e)))?;
        Policy::from_yaml(&text).map_err(|e| fail(PolicyFileProblem::Invalid(e)))
    }

    /// The approval namespace label split into key and value.
    pub fn approval_label(&self) -> Option<(&str, &str)> {
        let l = self.priority.approval.namespace_label.as_str();
        if l.is_empty() {
            return None;
        }
        Some(l.split_once('=').unwrap_or((l, "true")))
    }

    /// Drop the default priority class when the cluster does not have it, returning its name.
    ///
    /// Used by the webhook and the plugin's preview with the classes read from the cluster: the API
    /// server's Priority admission plugin refuses a pod whose class does not exist, so defaulting one
    /// would turn every job into one that never gets a pod
    /// (<https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#priority>).
    pub fn drop_missing_default_priority(
        &mut self,
        exists: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let d = &self.priority.default;
        if d.is_empty() || exists(d) {
            return None;
        }
        Some(std::mem::take(&mut self.priority.default))
    }

    /// The fixed shared-memory size limit, if the policy sets one.
    pub fn shm_size_limit(&self) -> Option<Quantity> {
        self.shared_memory
            .size_limit
            .as_deref()
            .and_then(|s| s.parse().ok())
    }

    /// Every rule a document can break beyond its shape, section by section.
    fn check(&self) -> Result<(), PolicyError> {
        self.check_shared_memory()?;
        self.check_hosts()?;
        self.check_nccl()?;
        self.check_priority()?;
        if self.resources.gpu_resources.is_empty() {
            return Err(invalid(
                "resources.gpuResources",
                "is empty; list at least nvidia.com/gpu".into(),
            ));
        }
        Ok(())
    }

    fn check_shared_memory(&self) -> Result<(), PolicyError> {
        if let Some(s) = &self.shared_memory.size_limit {
            s.parse::<Quantity>()
                .map_err(|e| invalid("sharedMemory.sizeLimit", e.to_string()))?;
        }
        let pct = self.shared_memory.memory_limit_percent;
        if !(1..=100).contains(&pct) {
            return Err(invalid(
                "sharedMemory.memoryLimitPercent",
                format!("{pct} is out of range; use a whole percent from 1 to 100"),
            ));
        }
        Ok(())
    }

    fn check_hosts(&self) -> Result<(), PolicyError> {
        for (i, host) in self.hosts.ignore.iter().enumerate() {
            names::dns1123_subdomain(host).map_err(|p| {
                invalid(
                    &format!("hosts.ignore[{i}]"),
                    format!("{host:?} is not a node name: {p}"),
                )
            })?;
        }
        if self.hosts.ignore.len() > self.hosts.max_entries {
            return Err(invalid(
                "hosts.ignore",
                format!(
                    "{} entries exceed hosts.maxEntries ({}); raise the maximum or shorten the list",
                    self.hosts.ignore.len(),
                    self.hosts.max_entries
                ),
            ));
        }
        if let Some(rule) = &self.hosts.node_health {
            names::qualified_name(&rule.key).map_err(|p| {
                invalid(
                    "hosts.nodeHealth.key",
                    format!("{:?} is not a label key: {p}", rule.key),
                )
            })?;
            if rule.not_in.is_empty() {
                return Err(invalid(
                    "hosts.nodeHealth.notIn",
                    "is empty; list the label values of unhealthy nodes".into(),
                ));
            }
        }
        Ok(())
    }

    fn check_nccl(&self) -> Result<(), PolicyError> {
        for name in self.nccl.env.keys() {
            names::env_var_name(name).map_err(|p| {
                invalid(
                    &format!("nccl.env.{name}"),
                    format!("{name:?} is not a variable name: {p}"),
                )
            })?;
        }
        let resource = &self.nccl.roce_gdr.resource;
        names::qualified_name(resource).map_err(|p| {
            invalid(
                "nccl.roceGdr.resource",
                format!("{resource:?} is not a resource name: {p}"),
            )
        })?;
        Ok(())
    }

    fn check_priority(&self) -> Result<(), PolicyError> {
        let p = &self.priority;
        if !p.default.is_empty() && !p.allowed.is_empty() && !p.allowed.contains(&p.default) {
            return Err(invalid(
                "priority.default",
                format!(
                    "{:?} is not in priority.allowed ({}); add it there or pick one of them",
                    p.default,
                    p.allowed.join(", ")
                ),
            ));
        }
        if let Some((k, v)) = self.approval_label() {
            names::qualified_name(k)
                .and_then(|_| names::label_value(v))
                .map_err(|e| {
                    invalid(
                        "priority.approval.namespaceLabel",
                        format!("{:?} is not key=value: {e}", p.approval.namespace_label),
                    )
                })?;
        }
        Ok(())
    }

    /// Every key with its default, as YAML: the body of the documented example policy.
    pub fn documented_example() -> String {
        yaml_serde::to_string(&Policy::default()).unwrap_or_default()
    }
}

fn invalid(field: &str, message: String) -> PolicyError {
    PolicyError::Invalid {
        field: field.into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_policy_is_the_default() {
        assert_eq!(Policy::from_yaml("").unwrap(), Policy::default());
        assert_eq!(Policy::from_yaml("# nothing\n").unwrap(), Policy::default());
        assert_eq!(Policy::from_yaml("{}").unwrap(), Policy::default());
    }

    #[test]
    fn defaults_round_trip() {
        let text = Policy::documented_example();
        assert_eq!(Policy::from_yaml(&text).unwrap(), Policy::default());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Policy::from_yaml("sharedMemory:\n  sizelimit: 1Gi\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `sizelimit`"), "{e}");
        let e = Policy::from_yaml("colour: blue\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn checks_values_and_names_the_field() {
        let cases = [
            (
                "sharedMemory:\n  sizeLimit: lots\n",
                "sharedMemory.sizeLimit",
            ),
            (
                "sharedMemory:\n  memoryLimitPercent: 0\n",
                "sharedMemory.memoryLimitPercent",
            ),
            ("hosts:\n  ignore: [Bad_Host]\n", "hosts.ignore[0]"),
            (
                "hosts:\n  ignore: [a, b]\n  maxEntries: 1\n",
                "hosts.ignore",
            ),
            (
                "hosts:\n  nodeHealth: {key: x, notIn: []}\n",
                "hosts.nodeHealth.notIn",
            ),
            ("nccl:\n  env: {1BAD: x}\n", "nccl.env.1BAD"),
            (
                "priority:\n  default: urgent\n  allowed: [low-priority]\n",
                "priority.default",
            ),
            (
                "priority:\n  approval: {namespaceLabel: 'a b=c'}\n",
                "priority.approval.namespaceLabel",
            ),
            ("resources:\n  gpuResources: []\n", "resources.gpuResources"),
        ];
        for (doc, field) in cases {
            let e = Policy::from_yaml(doc).unwrap_err().to_string();
            assert!(e.contains(field), "{doc}: {e}");
        }
    }

    #[test]
    fn the_built_in_policy_names_no_priority_class() {
        let p = Policy::default();
        assert!(p.priority.default.is_empty());
        assert!(p.priority.allowed.is_empty());
        assert!(p.priority.approval.classes.is_empty());
    }

    #[test]
    fn a_default_class_the_cluster_lacks_is_dropped() {
        let mut p = Policy::from_yaml("priority: {default: default-priority}\n").unwrap();
        assert_eq!(
            p.clone()
                .drop_missing_default_priority(|c| c == "default-priority"),
            None
        );
        assert_eq!(
            p.drop_missing_default_priority(|_| false).as_deref(),
            Some("default-priority")
        );
        assert!(p.priority.default.is_empty());
    }

    #[test]
    fn a_policy_file_error_names_the_file_and_keeps_its_cause() {
        let dir = std::env::temp_dir().join(format!("mltrain-policy-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.yaml");
        let e = Policy::load(&missing).unwrap_err();
        assert_eq!(e.path, missing);
        assert!(matches!(e.problem, PolicyFileProblem::Read(_)));
        assert!(
            e.to_string()
                .starts_with(&format!("{}: cannot read it: ", missing.display())),
            "{e}"
        );
        let bad = dir.join("bad.yaml");
        std::fs::write(&bad, "colour: blue\n").unwrap();
        let e = Policy::load(&bad).unwrap_err();
        assert!(
            matches!(
                &e.problem,
                PolicyFileProblem::Invalid(PolicyError::Parse(_))
            ),
            "{e:?}"
        );
        assert!(std::error::Error::source(&e).is_some());
        let good = dir.join("good.yaml");
        std::fs::write(&good, "openshift: force\n").unwrap();
        assert_eq!(Policy::load(&good).unwrap().openshift, OpenShiftMode::Force);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn openshift_modes_resolve_with_what_detection_found() {
        use OpenShiftMode::*;
        for (mode, detected, want) in [
            (Force, None, true),
            (Force, Some(false), true),
            (Disabled, Some(true), false),
            (Auto, Some(true), true),
            (Auto, Some(false), false),
            (Auto, None, false),
        ] {
            assert_eq!(mode.resolve(detected), want, "{mode:?} {detected:?}");
        }
    }

    #[test]
    fn parses_every_knob() {
        let p = Policy::from_yaml(include_str!("../tests/data/policy-full.yaml")).unwrap();
        assert!(p.security.read_only_root_filesystem);
        assert_eq!(p.openshift, OpenShiftMode::Force);
        assert_eq!(p.nccl.roce_gdr.count, 2);
        assert_eq!(p.hosts.ignore, ["gpu-node-13", "gpu-node-14"]);
        assert_eq!(
            p.approval_label(),
            Some(("mltrain.io/high-priority-approved", "true"))
        );
        assert_eq!(p.shm_size_limit().unwrap().to_binary_string(), "32Gi");
    }
}
