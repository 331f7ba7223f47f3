//! `kubectl mltrain <framework>`: resolve flags → render → run the cluster's admission engine locally
//! → print (client dry-run) or apply (server dry-run, or for real). A job the policy refuses is stopped
//! here with the webhook's own words, before anything is sent.

use std::collections::BTreeMap;

use mltrain_shared::model::{Framework, TrainingJob};
use mltrain_shared::{Engine, OpenShiftMode, Operation, Policy, Request, UserInfo, render};
use serde_json::Value;

use crate::cli::{CreateArgs, DryRun};
use crate::cluster::{Cluster, ClusterError};
use crate::error::{CommandError, Exit};
use crate::output;

/// Where the policy comes from, and whether OpenShift adaptation is on.
struct Admission {
    engine: Engine,
    openshift: bool,
    notes: Vec<String>,
}

pub async fn run(framework: Framework, args: &CreateArgs) -> Result<Exit, CommandError> {
    let base = match &args.settings {
        Some(path) => Some(crate::settings::load(path, framework)?),
        None => None,
    };
    let mut job = crate::resolve::job_from_args(framework, args, base)?;
    if crate::sshkeys::needed(&job) {
        job.options.ssh_keys =
            Some(crate::sshkeys::generate(&job.name).map_err(CommandError::Failed)?);
    }
    let objects = render::render(&job).map_err(|e| CommandError::Usage(vec![e.to_string()]))?;
    let dry = args.kubectl.dry_run;

    // Offline client dry-runs must work without a cluster; everything else needs one.
    let cluster = match Cluster::connect(&args.kubectl.conn).await {
        Ok(c) => Some(c),
        Err(e) if dry == DryRun::Client => {
            let _ = e;
            None
        }
        Err(e) => {
            return Err(CommandError::Failed(format!(
                "{e}; set up kubectl (kubectl config current-context) or use --dry-run=client"
            )));
        }
    };
    let admission = admission(&job, args, cluster.as_ref(), dry == DryRun::Client).await?;
    for n in &admission.notes {
        eprintln!("note: {n}");
    }
    let objects = preview(&admission, &job, objects, cluster.as_ref())?;

    match (dry, &cluster) {
        (DryRun::Client, _) => {
            match args.kubectl.output {
                Some(fmt) => output::print(&output::format(&objects, fmt)),
                None => output::print(
                    &objects
                        .iter()
                        .map(|o| format!("{} created (dry run)\n", output::name_of(o)))
                        .collect::<String>(),
                ),
            }
            Ok(Exit::Ok)
        }
        (_, Some(c)) => {
            let server_dry = dry == DryRun::Server;
            let applied = c
                .apply(&objects, &args.kubectl.field_manager, server_dry)
                .await
                .map_err(|e| match e {
                    ClusterError::Refused { .. } => CommandError::Refused(format!("error: {e}")),
                    other => CommandError::Failed(format!("error: {other}")),
                })?;
            let suffix = if server_dry { " (server dry run)" } else { "" };
            let wait = args.wait && !server_dry;
            match args.kubectl.output {
                Some(fmt) => {
                    let objs: Vec<Value> = applied.iter().map(|a| a.object.clone()).collect();
                    output::print(&output::format(&objs, fmt));
                }
                None => output::print(
                    &applied
                        .iter()
                        .map(|a| {
                            format!(
                                "{} {}{suffix}\n",
                                a.name,
                                if a.created { "created" } else { "configured" }
                            )
                        })
                        .collect::<String>(),
                ),
            }
            if wait {
                let ns = job.namespace.clone().unwrap_or_else(|| c.namespace.clone());
                return wait_for(c, &ns, &job.name, std::time::Duration::from_secs(2)).await;
            }
            Ok(Exit::Ok)
        }
        (_, None) => unreachable!("connect failures return above unless dry-run=client"),
    }
}

/// Load the policy (file, else the cluster's ConfigMap, else the defaults) and settle OpenShift.
async fn admission(
    job: &TrainingJob,
    args: &CreateArgs,
    cluster: Option<&Cluster>,
    offline_ok: bool,
) -> Result<Admission, CommandError> {
    let mut notes = Vec::new();
    let policy = match &args.kubectl.policy_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CommandError::Usage(vec![format!(
                    "--policy-file {:?}: cannot read it: {e}",
                    path.display().to_string()
                )])
            })?;
            Policy::from_yaml(&text).map_err(|e| {
                CommandError::Usage(vec![format!(
                    "--policy-file {:?}: {e}",
                    path.display().to_string()
                )])
            })?
        }
        None => match cluster {
            Some(c) => match c.policy_text().await {
                Ok(Some(text)) => Policy::from_yaml(&text).map_err(|e| {
                    CommandError::Failed(format!("the cluster's policy ConfigMap is invalid: {e}"))
                })?,
                Ok(None) => Policy::default(),
                Err(e) if offline_ok => {
                    notes.push(format!("using the default cluster policy ({e})"));
                    Policy::default()
                }
                Err(e) => return Err(CommandError::Failed(format!("error: {e}"))),
            },
            None => {
                notes.push(
                    "no cluster configured: previewing with the default cluster policy".into(),
                );
                Policy::default()
            }
        },
    };
    let mode = match job.security.openshift {
        OpenShiftMode::Auto => policy.openshift,
        explicit => explicit,
    };
    let openshift = match (mode, cluster) {
        (OpenShiftMode::Force, _) => true,
        (OpenShiftMode::Disabled, _) => false,
        (OpenShiftMode::Auto, Some(c)) => match c.is_openshift().await {
            Ok(v) => v,
            Err(e) if offline_ok => {
                notes.push(format!("OpenShift auto-detection failed ({e}); assuming not OpenShift, use --openshift force|disabled"));
                false
            }
            Err(e) => return Err(CommandError::Failed(format!("error: {e}"))),
        },
        (OpenShiftMode::Auto, None) => false,
    };
    Ok(Admission {
        engine: Engine::new(policy),
        openshift,
        notes,
    })
}

/// Run the engine on every object as the webhook would on CREATE; refuse with its words.
fn preview(
    a: &Admission,
    job: &TrainingJob,
    objects: Vec<Value>,
    cluster: Option<&Cluster>,
) -> Result<Vec<Value>, CommandError> {
    let labels = BTreeMap::new();
    let namespace = job
        .namespace
        .clone()
        .or_else(|| cluster.map(|c| c.namespace.clone()))
        .unwrap_or_default();
    let user: Option<&UserInfo> = None;
    let mut out = Vec::with_capacity(objects.len());
    let mut refusals = Vec::new();
    for obj in objects {
        let review = a.engine.admit(&Request {
            operation: Operation::Create,
            object: &obj,
            old_object: None,
            namespace: &namespace,
            namespace_labels: &labels,
            user,
            openshift: a.openshift,
        });
        for w in &review.warnings {
            eprintln!("Warning: {w}");
        }
        if !review.allowed() {
            refusals.push(format!("{}: {}", output::name_of(&obj), review.message()));
        }
        out.push(review.mutated(&obj));
    }
    let approval = &a.engine.policy().priority.approval.classes;
    if let Some(p) = &job.scheduling.priority
        && approval.contains(p)
    {
        eprintln!(
            "note: priority class {p} needs approval; the cluster checks it when the job is submitted"
        );
    }
    if refusals.is_empty() {
        Ok(out)
    } else {
        Err(CommandError::Refused(format!(
            "error: {}\nnothing was sent to the cluster",
            refusals.join("\n")
        )))
    }
}

/// Watch a job until every rank runs or it ends, with a live progress line on a terminal and a line
/// per change otherwise. Exit 1 if it fails.
pub async fn wait_for(
    c: &Cluster,
    ns: &str,
    name: &str,
    every: std::time::Duration,
) -> Result<Exit, CommandError> {
    use crate::jobs::{self, Phase};
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last = String::new();
    loop {
        let line = match crate::commands::status::fetch(c, ns, name).await {
            Ok((top, pods)) => {
                let phase = jobs::phase(&top, &pods);
                let (ready, total) = jobs::ranks_ready(&top, &pods);
                let why = pods
                    .iter()
                    .map(jobs::rank)
                    .find(|r| !r.reason.is_empty() && r.reason != "ContainerCreating")
                    .map(|r| format!(" ({}: {})", r.pod, r.reason))
                    .unwrap_or_default();
                let line = format!(
                    "{name}: {ready}/{total} ranks ready, {}{why}",
                    phase.as_str()
                );
                match phase {
                    p if p == Phase::Running || p.finished() => {
                        if tty {
                            eprintln!("\r\x1b[2K{line}");
                        } else {
                            eprintln!("{line}");
                        }
                        if phase == Phase::Failed {
                            return Err(CommandError::Refused(format!(
                                "error: job {name} failed; see kubectl mltrain status {name} and kubectl mltrain logs {name} --all"
                            )));
                        }
                        return Ok(Exit::Ok);
                    }
                    _ => line,
                }
            }
            // Just created: the objects may not be listed yet.
            Err(_) => format!("{name}: waiting for the job to appear"),
        };
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else if line != last {
            eprintln!("{line}");
        }
        last = line;
        tokio::time::sleep(every).await;
    }
}
