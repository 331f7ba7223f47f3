//! `kubectl mltrain <framework>`: resolve flags → render → run the cluster's admission engine locally
//! → print (client dry-run) or apply (server dry-run, or for real). A job the policy refuses is stopped
//! here with the webhook's own words, before anything is sent.

use std::time::Duration;

use mltrain_shared::model::{Layout, TrainerRuntime, TrainingJob};
use mltrain_shared::vocab::trainer;
use mltrain_shared::{Engine, OpenShiftMode, Policy, Request, render};
use serde_json::Value;

use crate::cli::{DryRun, KubectlArgs, OutputFormat, SubmitArgs};
use crate::cluster::{Applied, Cluster};
use crate::error::{CommandError, Exit, Problem, UsageError};
use crate::jobs::{self, Phase};
use crate::output;
use crate::resolve::{self, FrameworkArgs};

/// Where the policy comes from, and whether OpenShift adaptation is on.
struct Admission {
    engine: Engine,
    openshift: bool,
    notes: Vec<String>,
}

/// Flags (and the settings file) → the job and its rendered objects, in apply order.
fn build(args: &dyn FrameworkArgs) -> Result<(TrainingJob, Vec<Value>), CommandError> {
    let mut job = resolve::job_from_args(args)?;
    if let Some(w) = job.image_warning() {
        eprintln!("warning: {w}");
    }
    crate::sshkeys::provide(&mut job).map_err(CommandError::SshKey)?;
    let objects = render::render(&job).map_err(Problem::from)?;
    Ok((job, objects))
}

/// The cluster's policy, preflight (not for client dry-runs), and the engine's preview: the objects
/// exactly as they will be sent.
async fn prepare(
    job: &TrainingJob,
    objects: Vec<Value>,
    k: &KubectlArgs,
    cluster: Option<&Cluster>,
) -> Result<Vec<Value>, CommandError> {
    let offline = k.dry_run == DryRun::Client;
    let mut admission = admission(job, k, cluster, offline).await?;
    fits_openshift(job, admission.openshift)?;
    for n in &admission.notes {
        eprintln!("note: {n}");
    }
    if let (Some(c), false) = (cluster, offline) {
        preflight(c, job, &mut admission, &objects).await?;
    }
    preview(&admission, job, objects, cluster, true)
}

/// The Trainer's `deepspeed-distributed` runtime runs its pods as uid 1000 (`runAsUser` in the runtime
/// itself, where no patch of ours can remove it), and OpenShift's restricted-v2 SCC refuses a uid
/// outside the namespace's range: on OpenShift those pods would never be created. Said before anything
/// is sent; a runtime of the user's own (`--runtime`) is theirs to fit.
fn fits_openshift(job: &TrainingJob, openshift: bool) -> Result<(), CommandError> {
    let default_runtime = |rt: &TrainerRuntime| {
        rt.name
            .as_deref()
            .is_none_or(|n| n == trainer::DEEPSPEED_RUNTIME)
    };
    match job.layout() {
        Ok(Layout::DeepSpeedTrainJob { runtime, .. }) if openshift && default_runtime(runtime) => {
            Err(CommandError::Usage(vec![
                UsageError {
                    flag: "--backend",
                    value: "trainjob".into(),
                    message: format!(
                        "the Trainer's {} runtime runs its pods as uid 1000, which OpenShift's restricted-v2 SCC refuses, so on OpenShift its pods would never start; use --launcher torchrun (the {} runtime), or --runtime with a DeepSpeed runtime of your own that fixes no uid",
                        trainer::DEEPSPEED_RUNTIME,
                        trainer::TORCH_RUNTIME
                    ),
                }
                .into(),
            ]))
        }
        _ => Ok(()),
    }
}

/// `--timeout`, checked before anything is sent.
fn timeout(submit: &SubmitArgs) -> Result<Option<Timeout>, UsageError> {
    let Some(text) = &submit.timeout else {
        return Ok(None);
    };
    let usage = |message: String| UsageError {
        flag: "--timeout",
        value: text.clone(),
        message,
    };
    match mltrain_shared::duration::parse_seconds(text) {
        Ok(secs) if secs > 0 => Ok(Some(Timeout {
            text: text.clone(),
            after: Duration::from_secs(secs),
        })),
        Ok(_) => Err(usage(
            "must be longer than 0s; use e.g. 90s, 10m or 2h, or leave it out to wait as long as it takes".into(),
        )),
        Err(e) => Err(usage(format!("{}; use e.g. 90s, 10m or 2h", e.reason))),
    }
}

/// How long `--wait` waits, as the user wrote it.
#[derive(Debug, Clone)]
pub struct Timeout {
    pub text: String,
    pub after: Duration,
}

pub async fn run(args: &dyn FrameworkArgs) -> Result<Exit, CommandError> {
    let submit = args.submit();
    let timeout = timeout(submit)?;
    let (job, objects) = build(args)?;
    let cluster = connect(&submit.kubectl).await?;
    let objects = prepare(&job, objects, &submit.kubectl, cluster.as_ref()).await?;
    match cluster.as_ref() {
        Some(c) if submit.kubectl.dry_run != DryRun::Client => {
            apply(c, &job, &objects, submit, timeout).await
        }
        _ => {
            print_preview(&objects, submit.kubectl.output)?;
            Ok(Exit::Ok)
        }
    }
}

/// The cluster, if one is configured. A client dry-run works without one; everything else needs it.
async fn connect(k: &KubectlArgs) -> Result<Option<Cluster>, CommandError> {
    match Cluster::connect(&k.conn).await {
        Ok(c) => Ok(Some(c)),
        Err(e) if k.dry_run == DryRun::Client => {
            // No kubeconfig at all is the offline preview working as designed (the admission notes
            // say so); any other reason is one the user will want to fix.
            if !e.is_unconfigured() {
                eprintln!("note: previewing without the cluster: {e}");
            }
            Ok(None)
        }
        Err(e) => Err(CommandError::Connect(e)),
    }
}

/// A client dry-run's output: the objects, or a line per object.
fn print_preview(objects: &[Value], fmt: Option<OutputFormat>) -> Result<(), CommandError> {
    match fmt {
        Some(fmt) => output::print(&output::format(objects, fmt)),
        None => output::print(
            &objects
                .iter()
                .map(|o| format!("{} created (dry run)\n", output::name_of(o)))
                .collect::<String>(),
        ),
    }
}

/// Apply the objects (with `--dry-run=server`, let the API server check them), say what happened,
/// and with `--wait` watch the job.
async fn apply(
    c: &Cluster,
    job: &TrainingJob,
    objects: &[Value],
    submit: &SubmitArgs,
    timeout: Option<Timeout>,
) -> Result<Exit, CommandError> {
    let server_dry = submit.kubectl.dry_run == DryRun::Server;
    let applied = c
        .apply(objects, &submit.kubectl.field_manager, server_dry)
        .await?;
    match submit.kubectl.output {
        Some(fmt) => {
            let objs: Vec<Value> = applied.iter().map(|a| a.object.clone()).collect();
            output::print(&output::format(&objs, fmt))?;
        }
        None => output::print(&summary(&applied, server_dry))?,
    }
    if submit.wait && !server_dry {
        let ns = job.namespace.clone().unwrap_or_else(|| c.namespace.clone());
        return wait_for(c, &ns, &job.name, Duration::from_secs(2), timeout).await;
    }
    Ok(Exit::Ok)
}

/// A line per applied object, as kubectl apply writes them.
fn summary(applied: &[Applied], server_dry: bool) -> String {
    let suffix = if server_dry { " (server dry run)" } else { "" };
    applied
        .iter()
        .map(|a| {
            let verb = if a.created { "created" } else { "configured" };
            format!("{} {verb}{suffix}\n", a.name)
        })
        .collect()
}

/// Load the policy (file, else the cluster's ConfigMap, else the defaults) and settle OpenShift.
async fn admission(
    job: &TrainingJob,
    k: &KubectlArgs,
    cluster: Option<&Cluster>,
    offline_ok: bool,
) -> Result<Admission, CommandError> {
    let mut notes = Vec::new();
    let policy = match &k.policy_file {
        Some(path) => crate::policy_file::load(path)?,
        None => cluster_policy(cluster, offline_ok, &mut notes).await?,
    };
    let openshift = openshift(job, &policy, cluster, offline_ok, &mut notes).await?;
    Ok(Admission {
        engine: Engine::new(policy),
        openshift,
        notes,
    })
}

/// The policy ConfigMap of the cluster, else the default policy (with a note saying why).
async fn cluster_policy(
    cluster: Option<&Cluster>,
    offline_ok: bool,
    notes: &mut Vec<String>,
) -> Result<Policy, CommandError> {
    let Some(c) = cluster else {
        notes.push("no cluster configured: previewing with the default cluster policy".into());
        return Ok(Policy::default());
    };
    match c.policy_text().await {
        Ok(Some(text)) => Policy::from_yaml(&text).map_err(CommandError::ClusterPolicy),
        Ok(None) => Ok(Policy::default()),
        Err(e) if offline_ok => {
            notes.push(format!("using the default cluster policy ({e})"));
            Ok(Policy::default())
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether to adapt to OpenShift: the job's `--openshift`, else the policy's, and `auto` asks the
/// cluster.
async fn openshift(
    job: &TrainingJob,
    policy: &Policy,
    cluster: Option<&Cluster>,
    offline_ok: bool,
    notes: &mut Vec<String>,
) -> Result<bool, CommandError> {
    let mode = match job.security.openshift {
        OpenShiftMode::Auto => policy.openshift,
        explicit => explicit,
    };
    let detected = match (mode, cluster) {
        (OpenShiftMode::Auto, Some(c)) => match c.is_openshift().await {
            Ok(v) => Some(v),
            Err(e) if offline_ok => {
                notes.push(format!("OpenShift auto-detection failed ({e}); assuming not OpenShift, use --openshift force|disabled"));
                None
            }
            Err(e) => return Err(e.into()),
        },
        _ => None,
    };
    Ok(mode.resolve(detected))
}

/// Read the cluster for everything the objects (as the engine will send them) depend on, in one round,
/// and stop before anything is created when something is missing. The policy's default priority class
/// is dropped, as the webhook drops it, when the cluster lacks it and the user did not ask for it.
async fn preflight(
    c: &Cluster,
    job: &TrainingJob,
    admission: &mut Admission,
    objects: &[Value],
) -> Result<(), CommandError> {
    let Ok(probe) = preview(admission, job, objects.to_vec(), Some(c), false) else {
        // The policy refuses the job: the preview says why, without asking the cluster anything.
        return Ok(());
    };
    let ns = job.namespace.clone().unwrap_or_else(|| c.namespace.clone());
    let mut report = crate::preflight::check(c, &ns, &crate::preflight::needs(&probe)).await;
    let mut policy = admission.engine.policy().clone();
    let default = policy.priority.default.clone();
    if !default.is_empty()
        && job.scheduling.priority.as_deref() != Some(default.as_str())
        && report.take_missing_class(&default)
    {
        eprintln!(
            "note: the policy's default priority class {default} does not exist in this cluster; the webhook does not set it, and this job runs without it"
        );
        policy.drop_missing_default_priority(|_| false);
        admission.engine = Engine::new(policy);
    }
    for w in report.warnings(&ns) {
        eprintln!("warning: {w}");
    }
    match report.refusal(&ns) {
        Some(lacking) => Err(lacking.into()),
        None => Ok(()),
    }
}

/// Run the engine on every object as the webhook would on CREATE; refuse with its words.
fn preview(
    a: &Admission,
    job: &TrainingJob,
    objects: Vec<Value>,
    cluster: Option<&Cluster>,
    print_warnings: bool,
) -> Result<Vec<Value>, CommandError> {
    let namespace = job
        .namespace
        .clone()
        .or_else(|| cluster.map(|c| c.namespace.clone()))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(objects.len());
    let mut refusals = Vec::new();
    for obj in objects {
        // Who submits and the namespace's labels are the cluster's to know: approval is left to it.
        let review = a.engine.admit(
            &Request::create(&obj)
                .in_namespace(&namespace)
                .with_openshift(a.openshift),
        );
        for w in review.warnings.iter().filter(|_| print_warnings) {
            eprintln!("Warning: {w}");
        }
        if !review.allowed() {
            refusals.push(format!("{}: {}", output::name_of(&obj), review.message()));
        }
        out.push(review.mutated(&obj)?);
    }
    let approval = &a.engine.policy().priority.approval.classes;
    if let Some(p) = &job.scheduling.priority
        && print_warnings
        && approval.contains(p)
    {
        eprintln!(
            "note: priority class {p} needs approval; the cluster checks it when the job is submitted"
        );
    }
    if refusals.is_empty() {
        Ok(out)
    } else {
        Err(CommandError::PolicyRefused(refusals))
    }
}

/// Watch a job until every rank runs or it ends, with a live progress line on a terminal and a line
/// per change otherwise. Fails when the job fails, or when `timeout` expires (the job keeps running).
pub async fn wait_for(
    c: &Cluster,
    ns: &str,
    name: &str,
    every: Duration,
    timeout: Option<Timeout>,
) -> Result<Exit, CommandError> {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let deadline = timeout
        .as_ref()
        .map(|t| tokio::time::Instant::now() + t.after);
    let mut last = String::new();
    loop {
        let (phase, line) = match crate::commands::status::fetch(c, ns, name).await {
            Ok((top, pods)) => {
                let phase = jobs::phase(&top, &pods);
                (Some(phase), progress(c, ns, name, &top, &pods, phase).await)
            }
            // Just created: the objects may not be listed yet.
            Err(_) => (None, format!("{name}: waiting for the job to appear")),
        };
        if let Some(phase) = phase.filter(|p| *p == Phase::Running || p.finished()) {
            if tty {
                eprintln!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            return match phase {
                Phase::Failed => Err(CommandError::JobFailed { name: name.into() }),
                _ => Ok(Exit::Ok),
            };
        }
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else if line != last {
            eprintln!("{line}");
        }
        if let (Some(d), Some(t)) = (deadline, &timeout)
            && tokio::time::Instant::now() + every > d
        {
            if tty {
                eprintln!();
            }
            return Err(CommandError::WaitTimedOut {
                timeout: t.text.clone(),
                progress: line,
                name: name.into(),
            });
        }
        last = line;
        tokio::time::sleep(every).await;
    }
}

/// One progress line: ranks ready, the phase, and why a rank is not running. A job with fewer pods
/// than ranks is explained from its workload's events (a controller that cannot create pods says why
/// only there).
async fn progress(
    c: &Cluster,
    ns: &str,
    name: &str,
    top: &Value,
    pods: &[Value],
    phase: Phase,
) -> String {
    let (ready, total) = jobs::ranks_ready(top, pods);
    let mut why = pods
        .iter()
        .map(jobs::rank)
        .find(|r| !r.reason.is_empty() && r.reason != "ContainerCreating")
        .map(|r| format!(" ({}: {})", r.pod, r.reason))
        .unwrap_or_default();
    if why.is_empty() && phase == Phase::Starting && (pods.len() as u64) < total {
        let mut events = Vec::new();
        for creator in jobs::pod_creators(top) {
            events.extend(c.events(ns, &creator).await.unwrap_or_default());
        }
        if let Some(e) = jobs::explain(&events) {
            why = format!(" ({e})");
        }
    }
    format!(
        "{name}: {ready}/{total} ranks ready, {}{why}",
        phase.as_str()
    )
}

#[cfg(test)]
mod mock_api_tests {
    //! `kubectl mltrain <framework> ...` against kube's mock service layer answering from recorded
    //! cluster states (`tests/data/cluster/preflight/`): a plain cluster, one with Kueue and JobSet, an
    //! MLBatch cluster; and 403, 404 and 422 answers. Run with `--nocapture` to read what a user sees.
    use clap::Parser;
    use serde_json::Value;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::cluster::mock::{Refuse, recorded};

    fn parse(argv: &[&str]) -> Box<dyn FrameworkArgs> {
        let cli =
            Cli::try_parse_from(std::iter::once("kubectl-mltrain").chain(argv.iter().copied()))
                .expect("valid flags");
        match cli.command {
            Command::Pytorch(a) => a,
            Command::Deepspeed(a) => a,
            Command::Mxnet(a) => a,
            _ => panic!("not a create command"),
        }
    }

    fn state(name: &str) -> Value {
        let text = match name {
            "plain" => include_str!("../../tests/data/cluster/preflight/plain.json"),
            "kueue-jobset" => include_str!("../../tests/data/cluster/preflight/kueue-jobset.json"),
            "mlbatch" => include_str!("../../tests/data/cluster/preflight/mlbatch.json"),
            "trainer" => include_str!("../../tests/data/cluster/preflight/trainer.json"),
            other => panic!("no state {other}"),
        };
        serde_json::from_str(text).unwrap()
    }

    struct Outcome {
        result: Result<Vec<crate::cluster::Applied>, CommandError>,
        seen: Vec<String>,
    }

    impl Outcome {
        fn applied(&self) -> Vec<Value> {
            match &self.result {
                Ok(a) => a.iter().map(|a| a.object.clone()).collect(),
                Err(e) => panic!("refused: {e}"),
            }
        }
        fn names(&self) -> Vec<String> {
            self.applied().iter().map(output::name_of).collect()
        }
        fn refusal(&self) -> String {
            match &self.result {
                Ok(a) => panic!("applied {} objects", a.len()),
                Err(e) => {
                    assert_eq!(e.exit(), Exit::Refused);
                    e.to_string()
                }
            }
        }
        fn wrote(&self) -> bool {
            self.seen
                .iter()
                .any(|s| s.starts_with("PATCH") || s.starts_with("DELETE"))
        }
    }

    /// What `run` does with a cluster, against a recorded one; prints what the user would read.
    async fn submit(st: Value, refuse: Vec<Refuse>, argv: &[&str]) -> Outcome {
        let args = parse(argv);
        let k = &args.submit().kubectl;
        let (job, objects) = build(args.as_ref()).expect("renders");
        let (c, server) = recorded(st, refuse);
        let result = async {
            let objects = prepare(&job, objects, k, Some(&c)).await?;
            let applied = c
                .apply(&objects, &k.field_manager, k.dry_run == DryRun::Server)
                .await?;
            Ok(applied)
        }
        .await;
        drop(c);
        let seen = server.await.unwrap();
        println!("$ kubectl mltrain {}", argv.join(" "));
        match &result {
            Ok(applied) => {
                for a in applied {
                    let o = &a.object;
                    let owner = o["metadata"]["ownerReferences"][0]["name"]
                        .as_str()
                        .map(|n| format!(", owned by {n}"))
                        .unwrap_or_default();
                    let mut classes = Vec::new();
                    let mut found = Vec::new();
                    mltrain_shared::engine::workload::templates(
                        o,
                        &mltrain_shared::engine::FieldPath::root(),
                        &[],
                        &mut found,
                    );
                    for t in found {
                        let c = o
                            .pointer(t.path.pointer())
                            .and_then(|p| p["spec"]["priorityClassName"].as_str())
                            .unwrap_or("none");
                        classes.push(format!("priorityClassName: {c}"));
                    }
                    classes.dedup();
                    let extra = if classes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", classes.join(", "))
                    };
                    println!("{} created{extra}{owner}", a.name);
                }
            }
            Err(e) => print!("{}", crate::error::report(e)),
        }
        Outcome { result, seen }
    }

    fn pod_spec(obj: &Value) -> &Value {
        &obj["spec"]["template"]["spec"]
    }

    #[tokio::test]
    async fn mock_api_trainer_cluster_applies_a_trainjob_and_refuses_a_missing_runtime() {
        let o = submit(
            state("trainer"),
            vec![],
            &[
                "pytorch",
                "tj",
                "--backend",
                "trainjob",
                "--world-size",
                "2",
            ],
        )
        .await;
        assert_eq!(o.names(), ["trainjob.trainer.kubeflow.org/tj"]);
        let o = submit(
            state("plain"),
            vec![],
            &["pytorch", "tj", "--backend", "trainjob"],
        )
        .await;
        let msg = o.refusal();
        assert!(
            msg.contains("the TrainJob API (trainer.kubeflow.org/v1alpha1) is not served by this cluster: install the Kubeflow Trainer"),
            "{msg}"
        );
        assert!(!o.wrote(), "{:?}", o.seen);
    }

    #[tokio::test]
    async fn mock_api_plain_cluster_pytorch_world_size_4_applies_a_job_and_its_service() {
        let o = submit(
            state("plain"),
            vec![],
            &["pytorch", "demo", "--world-size", "4"],
        )
        .await;
        assert_eq!(o.names(), ["job.batch/demo", "service/demo"]);
        let applied = o.applied();
        assert!(pod_spec(&applied[0]).get("priorityClassName").is_none());
        assert_eq!(
            applied[1]["metadata"]["ownerReferences"][0]["uid"],
            "uid-demo"
        );
        // Built-in policy, nothing to check beyond it: no preflight reads at all.
        assert!(
            !o.seen.iter().any(|s| s.contains("priorityclasses")),
            "{:?}",
            o.seen
        );
    }

    #[tokio::test]
    async fn mock_api_plain_cluster_names_every_missing_dependency_and_creates_nothing() {
        let o = submit(
            state("plain"),
            vec![],
            &[
                "pytorch",
                "demo",
                "--world-size",
                "4",
                "--backend",
                "pytorchjob",
                "--priority",
                "high-priority",
                "--queue",
                "team-queue",
                "--image-pull-secret",
                "regcred",
                "--env-from-secret",
                "wandb",
                "--env",
                "HF_TOKEN=secret:hf/token",
                "--configmap",
                "train-config",
                "--volume",
                "datasets:/data:ro",
                "--service-account",
                "trainer",
            ],
        )
        .await;
        let msg = o.refusal();
        for line in [
            "the PyTorchJob API (kubeflow.org/v1) is not served by this cluster: install the Kubeflow training operator",
            "the LocalQueue API (kueue.x-k8s.io/v1beta1) is not served by this cluster: install Kueue (https://kueue.sigs.k8s.io/docs/installation/), or drop --queue",
            "PriorityClass high-priority does not exist, so the API server would refuse every pod",
            "Secret regcred (image pull secret) does not exist in namespace ml",
            "Secret wandb (envFrom) does not exist in namespace ml",
            "Secret hf (env HF_TOKEN) does not exist in namespace ml",
            "ConfigMap train-config (volume mltrain-configmap-0) does not exist in namespace ml",
            "PersistentVolumeClaim datasets (--volume) does not exist in namespace ml",
            "ServiceAccount trainer (--service-account) does not exist in namespace ml",
        ] {
            assert!(msg.contains(line), "{line}\nnot in\n{msg}");
        }
        assert!(
            !msg.contains("LocalQueue team-queue"),
            "Kueue itself is missing: {msg}"
        );
        assert!(msg.ends_with("nothing was created"), "{msg}");
        assert!(!o.wrote(), "{:?}", o.seen);
    }

    #[tokio::test]
    async fn mock_api_preflight_reads_everything_in_one_round_also_for_server_dry_run() {
        let o = submit(
            state("plain"),
            vec![],
            &[
                "pytorch",
                "demo",
                "--backend",
                "jobset",
                "--priority",
                "default-priority",
                "--dry-run=server",
            ],
        )
        .await;
        let msg = o.refusal();
        assert!(msg.contains("the JobSet API (jobset.x-k8s.io/v1alpha2) is not served by this cluster: install JobSet (https://jobset.sigs.k8s.io/docs/installation/), or use --backend job, which needs nothing installed"), "{msg}");
        assert!(
            msg.contains("PriorityClass default-priority does not exist"),
            "{msg}"
        );
        assert!(
            o.seen
                .contains(&"GET /apis/jobset.x-k8s.io/v1alpha2".to_string()),
            "{:?}",
            o.seen
        );
        assert!(!o.wrote());
    }

    #[tokio::test]
    async fn mock_api_kueue_and_jobset_cluster_admits_a_queued_jobset() {
        let argv = [
            "pytorch",
            "demo",
            "--world-size",
            "4",
            "--backend",
            "jobset",
            "--queue",
            "team-queue",
        ];
        let o = submit(state("kueue-jobset"), vec![], &argv).await;
        assert_eq!(o.names(), ["jobset.jobset.x-k8s.io/demo"]);
        let js = &o.applied()[0];
        assert_eq!(
            js["metadata"]["labels"]["kueue.x-k8s.io/queue-name"],
            "team-queue"
        );
        assert_eq!(js["spec"]["suspend"], true);
        assert!(
            o.seen
                .iter()
                .any(|s| s
                    == "GET /apis/kueue.x-k8s.io/v1beta1/namespaces/ml/localqueues/team-queue"),
            "{:?}",
            o.seen
        );

        let mut other = argv.to_vec();
        other[7] = "research";
        let o = submit(state("kueue-jobset"), vec![], &other).await;
        let msg = o.refusal();
        assert!(msg.contains("Kueue LocalQueue research does not exist in namespace ml, so the job would stay suspended: create it, or pass --queue with an existing one (kubectl get localqueues -n ml)"), "{msg}");
        assert!(!o.wrote());
    }

    /// Kueue admits DeepSpeed's SSH layout whole: one queued JobSet, its ConfigMap and Secret owned
    /// by it. On a cluster without JobSet, preflight says so before anything is created.
    #[tokio::test]
    async fn mock_api_queued_deepspeed_is_one_jobset_admitted_whole() {
        let argv = [
            "deepspeed",
            "ds",
            "--world-size",
            "4",
            "--queue",
            "team-queue",
        ];
        let o = submit(state("kueue-jobset"), vec![], &argv).await;
        assert_eq!(
            o.names(),
            [
                "jobset.jobset.x-k8s.io/ds",
                "configmap/ds-deepspeed",
                "secret/ds-ssh"
            ]
        );
        let applied = o.applied();
        let js = &applied[0];
        assert_eq!(
            js["metadata"]["labels"]["kueue.x-k8s.io/queue-name"],
            "team-queue"
        );
        assert_eq!(js["spec"]["suspend"], true);
        for part in &applied[1..] {
            assert_eq!(part["metadata"]["ownerReferences"][0]["kind"], "JobSet");
        }
        let o = submit(state("plain"), vec![], &argv).await;
        let msg = o.refusal();
        assert!(
            msg.contains("the JobSet API (jobset.x-k8s.io/v1alpha2) is not served"),
            "{msg}"
        );
        assert!(!o.wrote());
    }

    #[tokio::test]
    async fn mock_api_mlbatch_cluster_gets_default_priority_from_its_policy() {
        let o = submit(
            state("mlbatch"),
            vec![],
            &["pytorch", "demo", "--world-size", "4"],
        )
        .await;
        assert_eq!(o.names(), ["job.batch/demo", "service/demo"]);
        assert_eq!(
            pod_spec(&o.applied()[0])["priorityClassName"],
            "default-priority"
        );
        assert!(
            o.seen
                .iter()
                .any(|s| s == "GET /apis/scheduling.k8s.io/v1/priorityclasses/default-priority"),
            "{:?}",
            o.seen
        );
        let o = submit(
            state("mlbatch"),
            vec![],
            &[
                "pytorch",
                "demo",
                "--world-size",
                "4",
                "--backend",
                "appwrapper",
                "--queue",
                "default-queue",
            ],
        )
        .await;
        assert_eq!(o.names(), ["appwrapper.workload.codeflare.dev/demo"]);
        let aw = &o.applied()[0];
        let inner = &aw["spec"]["components"][0]["template"];
        assert_eq!(
            inner["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["priorityClassName"],
            "default-priority"
        );
    }

    /// An MLBatch cluster has the training operator, AppWrappers, Kueue and its classes, but no JobSet:
    /// what it lacks is named, nothing is created.
    #[tokio::test]
    async fn mock_api_mlbatch_cluster_names_what_it_lacks() {
        let o = submit(
            state("mlbatch"),
            vec![],
            &[
                "pytorch",
                "demo",
                "--world-size",
                "4",
                "--backend",
                "jobset",
                "--queue",
                "research",
                "--priority",
                "low-priority",
                "--image-pull-secret",
                "regcred",
            ],
        )
        .await;
        let msg = o.refusal();
        assert!(
            msg.contains("the JobSet API (jobset.x-k8s.io/v1alpha2) is not served"),
            "{msg}"
        );
        assert!(
            msg.contains("Kueue LocalQueue research does not exist in namespace ml"),
            "{msg}"
        );
        assert!(
            msg.contains("Secret regcred (image pull secret) does not exist"),
            "{msg}"
        );
        assert!(!msg.contains("PriorityClass"), "low-priority exists: {msg}");
        assert!(!o.wrote());
    }

    #[tokio::test]
    async fn mock_api_mlbatch_policy_on_a_cluster_without_its_classes_sets_no_default() {
        let mut st = state("plain");
        let ml = state("mlbatch");
        let policy = "/api/v1/namespaces/mltrain-system/configmaps/mltrain-policy";
        st["objects"][policy] = ml["objects"][policy].clone();
        let o = submit(st, vec![], &["pytorch", "demo", "--world-size", "4"]).await;
        assert!(pod_spec(&o.applied()[0]).get("priorityClassName").is_none());
    }

    #[tokio::test]
    async fn mock_api_forbidden_reads_warn_and_a_422_creates_nothing() {
        let o = submit(
            state("plain"),
            vec![Refuse {
                method: "GET",
                path: "/secrets/",
                code: 403,
                message: "secrets \"regcred\" is forbidden: User \"alice\" cannot get resource \"secrets\" in API group \"\" in the namespace \"ml\"",
            }],
            &["pytorch", "demo", "--image-pull-secret", "regcred"],
        )
        .await;
        assert_eq!(o.names(), ["job.batch/demo", "service/demo"]);

        let o = submit(
            state("plain"),
            vec![Refuse {
                method: "PATCH",
                path: "/jobs/demo",
                code: 422,
                message: "Job.batch \"demo\" is invalid: spec.template.spec.containers[0].image: Required value",
            }],
            &["pytorch", "demo"],
        )
        .await;
        assert_eq!(
            o.refusal(),
            "job.batch/demo: Job.batch \"demo\" is invalid: spec.template.spec.containers[0].image: Required value"
        );
        // The workload goes first: nothing else was created, so nothing is rolled back.
        assert!(
            !o.seen.iter().any(|s| s.contains("/services/")),
            "{:?}",
            o.seen
        );
    }

    #[tokio::test]
    async fn mock_api_a_refused_dependent_rolls_back_the_workload() {
        let o = submit(
            state("plain"),
            vec![Refuse {
                method: "PATCH",
                path: "/services/demo",
                code: 403,
                message: "services \"demo\" is forbidden: exceeded quota: team, requested: services=1, used: services=10, limited: services=10",
            }],
            &["pytorch", "demo"],
        )
        .await;
        let msg = o.refusal();
        assert!(
            msg.contains("rolled back what this call created: deleted job.batch/demo"),
            "{msg}"
        );
        assert!(
            o.seen
                .last()
                .unwrap()
                .starts_with("DELETE /apis/batch/v1/namespaces/ml/jobs/demo"),
            "{:?}",
            o.seen
        );
    }
}
