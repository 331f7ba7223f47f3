//! Kueue, as far as admission goes (kubernetes-sigs/kueue `pkg/controller/jobframework/reconciler.go`,
//! `ReconcileGenericJob`; site docs "Run a Job", "Run a JobSet", "Run a Kubeflow Job", "Run a TrainJob",
//! "Run an AppWrapper"): only a workload labelled `kueue.x-k8s.io/queue-name` is managed; when the
//! named LocalQueue exists in the namespace it is admitted and unsuspended (quota is not modelled:
//! every queue has room). A suspended workload without the label, or whose queue does not exist,
//! is never admitted: the run will report it as a hang.

use serde_json::Value;

use crate::behave::store::{self, Store};

const QUEUE: &str = "kueue.x-k8s.io/queue-name";

/// Where each kind keeps its suspend flag.
fn suspend_path(kind: &str) -> &'static str {
    match kind {
        "PyTorchJob" | "MPIJob" => "/spec/runPolicy/suspend",
        _ => "/spec/suspend",
    }
}

/// The kinds Kueue manages here.
const KINDS: [&str; 6] = [
    "Job",
    "JobSet",
    "AppWrapper",
    "PyTorchJob",
    "MPIJob",
    "TrainJob",
];

pub fn reconcile(store: &mut Store, local_queues: &[String]) {
    for kind in KINDS {
        for name in store.names(kind) {
            let o = store.get(kind, &name).expect("object");
            let Some(queue) = store::label(o, QUEUE).map(str::to_string) else {
                continue;
            };
            // Objects made by another workload's controller are admitted through their owner.
            if o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                continue;
            }
            if !local_queues.contains(&queue) {
                continue;
            }
            let o = store.get_mut(kind, &name).expect("object");
            if let Some(flag) = o.pointer_mut(suspend_path(kind))
                && *flag == true
            {
                *flag = Value::from(false);
            }
        }
    }
}

/// Suspended workloads that Kueue will never admit, with the reason.
pub fn stuck(store: &Store, local_queues: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for kind in KINDS {
        for o in store.list(kind) {
            if o.pointer(suspend_path(kind)) != Some(&Value::Bool(true)) {
                continue;
            }
            let name = store::name(o);
            match store::label(o, QUEUE) {
                None => out.push(format!(
                    "{kind} {name} is suspended without the {QUEUE} label: Kueue never admits it"
                )),
                Some(q) if !local_queues.iter().any(|l| l == q) => out.push(format!(
                    "{kind} {name} names LocalQueue {q:?}, which does not exist"
                )),
                Some(_) => {}
            }
        }
    }
    out
}
