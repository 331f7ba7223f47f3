//! Every label, annotation and other well-known name mltrain sets on objects or reads from them, grouped
//! by who owns the name, so a name is spelled once and its doc says who writes it, who reads it and why
//! we care. A typo in a label key is not a compile error anywhere else: it is a selector that silently
//! matches nothing.
//!
//! Names of API groups, kinds and plural resources live in the table of workload kinds
//! ([`crate::kinds`]), not here. Reference for the Kubernetes-owned names:
//! <https://kubernetes.io/docs/reference/labels-annotations-taints/>.

/// Names mltrain owns (the `mltrain.io/` prefix, and the name we manage objects under).
pub mod mltrain {
    /// Label on every object and pod of a job, naming the job (DESIGN §3). The day-2 commands select a
    /// job's objects and pods by it; the engine treats a pod carrying it as a training pod even without
    /// GPUs (DESIGN §4 rule 3); pod anti-affinity spreads a job's pods by it.
    pub const JOB_NAME: &str = "mltrain.io/job-name";
    /// Label on every object and pod of a job: its number of pods (DESIGN §3). The engine counts a pod
    /// of a multi-pod job by it (NCCL and RoCE rules); `list` and `status` read the expected ranks
    /// from it.
    pub const WORLD_SIZE: &str = "mltrain.io/world-size";
    /// Label on a pod: its part in the job (`launcher`, `worker`, `scheduler`, `server`; none when
    /// every pod is a rank). Services select DeepSpeed workers by it; `status` and `logs` show it and
    /// choose the launcher's log by default.
    pub const ROLE: &str = "mltrain.io/role";
    /// The values of [`ROLE`].
    pub mod role {
        /// DeepSpeed's launcher pod: it runs no rank, and its log is the whole run's.
        pub const LAUNCHER: &str = "launcher";
        /// A pod that runs ranks, beside a launcher.
        pub const WORKER: &str = "worker";
        /// MXNet's scheduler and parameter servers, on the pods of earlier mltrain versions (today
        /// every MXNet pod runs its roles together and carries none); the day-2 commands still
        /// read them.
        pub const SCHEDULER: &str = "scheduler";
        pub const SERVER: &str = "server";
    }
    /// Annotation: a comma-separated list of nodes the job must avoid (`--host-ignore`). The engine
    /// turns it, with the policy's list, into `kubernetes.io/hostname NotIn [...]` (DESIGN §4 rule 5).
    pub const HOST_IGNORE_LIST: &str = "mltrain.io/host-ignore-list";
    /// Annotation: `"false"` opts a pod out of the engine's `/dev/shm` volume (DESIGN §4 rule 3).
    pub const SHARED_MEMORY: &str = "mltrain.io/shared-memory";
    /// Namespace label that approves high-priority classes: the key of the policy's default
    /// `priority.approval.namespaceLabel` (`mltrain.io/high-priority-approved=true`). Cluster admins
    /// set it; the webhook reads namespace labels to check it.
    pub const HIGH_PRIORITY_APPROVED: &str = "mltrain.io/high-priority-approved";
    /// Namespace label the webhook configurations select on (`deploy/base/webhooks.yaml`): `disabled`
    /// takes a namespace out of the policy; the opt-in component admits only `enabled` namespaces.
    /// The API server reads it, not our code.
    pub const POLICY: &str = "mltrain.io/policy";
    /// Who made an object: the value of [`super::kubernetes::APP_MANAGED_BY`] on everything we render,
    /// which `list` selects by, and the plugin's default server-side-apply field manager.
    pub const MANAGER: &str = "kubectl-mltrain";
    /// `spec.runtimePatches[].manager` of the patch we put in a TrainJob: it says who wrote the patch,
    /// so ours can be told from another tool's (kubeflow/trainer v2.3.0
    /// `pkg/apis/trainer/v1alpha1/trainjob_types.go`; docs/trainer.md).
    pub const PATCH_MANAGER: &str = "mltrain.io/kubectl-mltrain";
}

/// Names Kubernetes itself owns.
pub mod kubernetes {
    /// Recommended label: the application, for us the framework (`pytorch`, `deepspeed`, `mxnet`).
    /// Set on every object and pod (DESIGN §3); `list` and `status` show it as the framework
    /// (<https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/>).
    pub const APP_NAME: &str = "app.kubernetes.io/name";
    /// Recommended label: the instance, for us the job name.
    pub const APP_INSTANCE: &str = "app.kubernetes.io/instance";
    /// Recommended label: the tool that manages the object, for us [`super::mltrain::MANAGER`]. `list`
    /// selects our workloads by it.
    pub const APP_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// Well-known node label: the node's host name. Node affinity on it keeps pods off ignored hosts
    /// (DESIGN §4 rule 5); pod anti-affinity uses it as the topology key.
    pub const HOSTNAME: &str = "kubernetes.io/hostname";
    /// The rank of an Indexed Job's pod: an annotation, and since Kubernetes 1.28 also a label, that
    /// the Job controller sets (k8s.io/api `batch/v1/types.go`, `JobCompletionIndexAnnotation`).
    /// Renderers read the annotation through the downward API; the day-2 commands read the label as
    /// the rank on the job, jobset and trainjob backends.
    pub const JOB_COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
}

/// Names Kueue owns (kubernetes-sigs/kueue `pkg/controller/constants/constants.go`).
pub mod kueue {
    /// Label on a workload naming the LocalQueue it waits in. We set it on the top object only (an
    /// AppWrapper's PyTorchJob must not carry it, or Kueue would queue it twice); preflight checks
    /// that the queue exists; `list -o wide` shows it.
    pub const QUEUE_NAME: &str = "kueue.x-k8s.io/queue-name";
    /// Label on a workload naming its WorkloadPriorityClass. The engine holds it to the same allowed
    /// list and approval rule as `priorityClassName` (DESIGN §4).
    pub const PRIORITY_CLASS: &str = "kueue.x-k8s.io/priority-class";
}

/// Names of the Kubeflow training operator's pod labels (kubeflow/common
/// `pkg/apis/common/v1/constants.go`). The MPI operator (kubeflow/mpi-operator v2) labels its pods with
/// the same names, so the day-2 commands read ranks of PyTorchJob and MPIJob pods from them.
pub mod training_operator {
    /// The replica type of a pod (`master`, `worker`, `launcher`; case as the operator writes it).
    pub const REPLICA_TYPE: &str = "training.kubeflow.org/replica-type";
    /// The pod's index within its replica type.
    pub const REPLICA_INDEX: &str = "training.kubeflow.org/replica-index";
    /// The pod's job role; the training operator sets it on the PyTorchJob master only, the MPI
    /// operator on every pod. A PyTorchJob worker without it is rank `index + 1` (the master is 0).
    pub const JOB_ROLE: &str = "training.kubeflow.org/job-role";
    /// Which operator made the pod.
    pub const OPERATOR_NAME: &str = "training.kubeflow.org/operator-name";
    /// [`OPERATOR_NAME`] of the training operator's PyTorchJob controller
    /// (kubeflow/training-operator `pkg/controller.v1/pytorch/pytorchjob_controller.go`).
    pub const PYTORCHJOB_CONTROLLER: &str = "pytorchjob-controller";
}

/// Names the AppWrapper controller owns (project-codeflare/appwrapper
/// `api/v1beta2/appwrapper_types.go`): its fault-tolerance annotations, which MLBatch's settings file
/// also uses as keys. All but [`RETRY_LIMIT`] are durations, which the controller parses with Go's
/// `time.ParseDuration` and silently ignores when it cannot. Which flag sets each, and what its value
/// is, is [`crate::model::AppWrapperSetting`]'s table.
pub mod appwrapper {
    /// Prefix of the AppWrapper's fault-tolerance annotations; the key follows it
    /// (`workload.codeflare.dev.appwrapper/retryLimit`).
    pub const ANNOTATION_PREFIX: &str = "workload.codeflare.dev.appwrapper/";
    /// How long Kueue may take to admit the wrapped workload's pods.
    pub const ADMISSION_GRACE_PERIOD: &str = "admissionGracePeriodDuration";
    /// How long the pods may take to start before a failure counts.
    pub const WARMUP_GRACE_PERIOD: &str = "warmupGracePeriodDuration";
    /// How long a failed pod may stay failed before the controller resets the workload.
    pub const FAILURE_GRACE_PERIOD: &str = "failureGracePeriodDuration";
    /// The pause between a reset and the next try.
    pub const RETRY_PAUSE_PERIOD: &str = "retryPausePeriodDuration";
    /// How many times the controller resets the whole wrapped workload; a count, not a duration.
    pub const RETRY_LIMIT: &str = "retryLimit";
    /// How long a deletion may take before the controller forces it.
    pub const FORCEFUL_DELETION_GRACE_PERIOD: &str = "forcefulDeletionGracePeriodDuration";
    /// How long a failed workload's resources are kept before they are deleted.
    pub const DELETION_ON_FAILURE_GRACE_PERIOD: &str = "deletionOnFailureGracePeriodDuration";
    /// How long a succeeded AppWrapper is kept.
    pub const SUCCESS_TTL: &str = "successTTLDuration";
}

/// Names the Kubeflow Trainer (v2) owns (kubeflow/trainer; docs/trainer.md says how we use them).
pub mod trainer {
    /// Label on a (Cluster)TrainingRuntime naming its framework (`torch`, `deepspeed`, ...).
    /// Preflight refuses a runtime of another framework than the job's.
    pub const FRAMEWORK: &str = "trainer.kubeflow.org/framework";
    /// The runtime's replicated job, and its container, that the trainer runs in (`constants.Node`):
    /// `spec.trainer` is merged into it, and our runtime patch targets it.
    pub const NODE: &str = "node";
    /// The MPI runtimes' launcher replicated job (`constants.Launcher`): the trainer step there, and
    /// one of the hosts when `runLauncherAsNode`.
    pub const LAUNCHER: &str = "launcher";
    /// The Trainer's default torch runtime (its manifests' ClusterTrainingRuntime): torchrun jobs.
    pub const TORCH_RUNTIME: &str = "torch-distributed";
    /// The Trainer's default DeepSpeed runtime (MPI plugin, OpenMPI, launcher as a node).
    pub const DEEPSPEED_RUNTIME: &str = "deepspeed-distributed";
}

/// Names JobSet's controller sets (kubernetes-sigs/jobset `api/jobset/v1alpha2/jobset_types.go`).
pub mod jobset {
    /// Pod label: the replicated job a pod belongs to. On a Kubeflow Trainer MPI runtime it tells
    /// the launcher's pod (where every rank's output arrives) from the nodes' sshd pods.
    pub const REPLICATED_JOB_NAME: &str = "jobset.sigs.k8s.io/replicatedjob-name";
}

/// Names of the Multus CNI meta-plugin (Kubernetes Network Plumbing WG's network attachment spec).
pub mod multus {
    /// Pod annotation listing the extra networks to attach (`--multi-nic-network`, the policy's
    /// `nccl.multiNicNetwork`): the RoCE NICs NCCL uses (DESIGN §4 rule 4).
    pub const NETWORKS: &str = "k8s.v1.cni.cncf.io/networks";
}

/// Names of IBM Autopilot, the GPU health checker MLBatch clusters run (<https://github.com/IBM/autopilot>).
pub mod autopilot {
    /// Pod label asking Autopilot for pre-flight health checks; each check is one more label.
    pub const HEALTH_CHECKS: &str = "autopilot";
    /// Node label of GPU health; with an MLBatch settings file, pods keep off nodes whose value is
    /// one of [`GPU_UNHEALTHY`].
    pub const GPU_HEALTH: &str = "autopilot.ibm.com/gpuhealth";
    /// The values of [`GPU_HEALTH`] that mark a node's GPUs as failed or under test.
    pub const GPU_UNHEALTHY: [&str; 3] = ["ERR", "TESTING", "EVICT"];
}

/// Extended resource names of NVIDIA's device plugins: what a pod requests to get the devices.
pub mod nvidia {
    /// A GPU: the job's GPU resource and the first of the policy's `resources.gpuResources`, unless
    /// either says otherwise.
    pub const GPU: &str = "nvidia.com/gpu";
    /// A RoCE GPUDirect RDMA device (MLBatch `roceGdrResName`): the default of `--roce-gdr-resource`
    /// and of the policy's `nccl.roceGdr.resource`.
    pub const ROCE_GDR: &str = "nvidia.com/roce_gdr";
}

/// Names OpenShift owns.
pub mod openshift {
    /// The API group of Security Context Constraints: a cluster serving it is OpenShift, which is how
    /// `openshift: auto` decides (DESIGN §4 rule 2).
    pub const SECURITY_API_GROUP: &str = "security.openshift.io";
}
