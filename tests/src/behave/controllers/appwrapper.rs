//! The AppWrapper controller (project-codeflare/appwrapper `internal/controller/appwrapper/
//! appwrapper_controller.go`, `resource_management.go`; defaults in `pkg/config/config.go`):
//! - when not suspended, each component's embedded object is created as written, labelled
//!   `workload.codeflare.dev/appwrapper: <name>` (pod templates too) and owned by the AppWrapper
//!   (`createComponent`);
//! - Succeeded when the wrapped workload succeeded; when it fails, the AppWrapper waits
//!   `failureGracePeriodDuration` (default 1m), then deletes its components and, while fewer than
//!   `retryLimit` (default 3) retries were made, recreates them after `retryPausePeriodDuration`
//!   (default 90s); after the last retry it is Failed. Durations come from the
//!   `workload.codeflare.dev.appwrapper/*` annotations.
//!
//! The wrapped workload's outcome is read from its own controller's conditions (the real controller
//! reads pod phases of the components' pod sets; for one PyTorchJob they agree).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Admission, pytorchjob};
use crate::behave::store::{self, Store};

const ANN: &str = "workload.codeflare.dev.appwrapper/";
const LABEL: &str = "workload.codeflare.dev/appwrapper";

pub fn finished(aw: &Value) -> Option<bool> {
    match aw["status"]["phase"].as_str() {
        Some("Succeeded") => Some(true),
        Some("Failed") => Some(false),
        _ => None,
    }
}

fn duration(aw: &Value, key: &str, default: Duration) -> Duration {
    let Some(v) = aw["metadata"]["annotations"][format!("{ANN}{key}")].as_str() else {
        return default;
    };
    let (mut total, mut num) = (0f64, String::new());
    for ch in v.chars() {
        match ch {
            '0'..='9' | '.' => num.push(ch),
            'h' | 'm' | 's' => {
                let n: f64 = num.parse().unwrap_or(0.0);
                total += n * match ch {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                num.clear();
            }
            _ => {}
        }
    }
    Duration::from_secs_f64(total)
}

/// When a component failed or a retry pause started, per AppWrapper.
#[derive(Default)]
pub struct Timers(std::collections::BTreeMap<String, Instant>);

pub fn reconcile(
    store: &mut Store,
    _adm: &Admission,
    ns: &str,
    timers: &mut Timers,
    problems: &mut Vec<String>,
) {
    for name in store.names("AppWrapper") {
        let aw = store.get("AppWrapper", &name).cloned().expect("aw");
        if finished(&aw).is_some() || aw["spec"]["suspend"] == true {
            continue;
        }
        let comps: Vec<Value> = aw["spec"]["components"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["template"].clone())
            .collect();
        let live: Vec<Value> = comps
            .iter()
            .filter_map(|t| store.get(store::kind(t), store::name(t)).cloned())
            .collect();
        if aw["status"]["phase"] == "Paused" {
            let pause = duration(&aw, "retryPausePeriodDuration", Duration::from_secs(90));
            if timers.0.get(&name).is_some_and(|t| t.elapsed() >= pause) && live.is_empty() {
                timers.0.remove(&name);
                store.get_mut("AppWrapper", &name).expect("aw")["status"]["phase"] =
                    Value::from("Resuming");
            }
            continue;
        }
        if live.is_empty() {
            for e in deploy(store, &aw, &comps, ns) {
                problems.push(format!("AppWrapper {name}: {e}"));
            }
            continue;
        }
        let outcome: Vec<Option<bool>> = live
            .iter()
            .map(|o| match store::kind(o) {
                "PyTorchJob" => pytorchjob::finished(o),
                _ => None,
            })
            .collect();
        if !outcome.is_empty() && outcome.iter().all(|o| *o == Some(true)) {
            store.get_mut("AppWrapper", &name).expect("aw")["status"]["phase"] =
                Value::from("Succeeded");
        } else if outcome.contains(&Some(false)) {
            component_failed(store, &aw, &live, timers);
        }
    }
}

/// Create the components, labelled and owned by the AppWrapper, and mark it Running; the
/// components that could not be created.
fn deploy(store: &mut Store, aw: &Value, comps: &[Value], ns: &str) -> Vec<String> {
    let name = store::name(aw).to_string();
    let mut errors = Vec::new();
    for t in comps {
        let mut o = t.clone();
        o["metadata"]["labels"][LABEL] = Value::from(name.clone());
        o["metadata"]["ownerReferences"] = json!([store::controller_ref(aw)]);
        label_templates(&mut o, &name);
        if let Err(e) = store.create(o, ns) {
            errors.push(e);
        }
    }
    store.get_mut("AppWrapper", &name).expect("aw")["status"]["phase"] = Value::from("Running");
    errors
}

/// A component failed: after the failure grace period, delete the components and pause for a
/// retry while `retryLimit` allows, else fail.
fn component_failed(store: &mut Store, aw: &Value, live: &[Value], timers: &mut Timers) {
    let name = store::name(aw).to_string();
    let retries = aw["status"]["retries"].as_u64().unwrap_or(0);
    let limit = aw["metadata"]["annotations"][format!("{ANN}retryLimit")]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3u64);
    let grace = duration(aw, "failureGracePeriodDuration", Duration::from_secs(60));
    let since = *timers.0.entry(name.clone()).or_insert_with(Instant::now);
    if since.elapsed() < grace {
        return;
    }
    for o in live {
        store.delete(store::kind(o), store::name(o));
    }
    let aw = store.get_mut("AppWrapper", &name).expect("aw");
    if retries < limit {
        aw["status"]["retries"] = Value::from(retries + 1);
        aw["status"]["phase"] = Value::from("Paused");
        timers.0.insert(name.clone(), Instant::now());
    } else {
        aw["status"]["phase"] = Value::from("Failed");
        timers.0.remove(&name);
    }
}

/// The AppWrapper label on every pod template of a component (PyTorchJob replica specs).
fn label_templates(o: &mut Value, name: &str) {
    if let Some(specs) = o["spec"]["pytorchReplicaSpecs"].as_object_mut() {
        for s in specs.values_mut() {
            s["template"]["metadata"]["labels"][LABEL] = Value::from(name);
        }
    }
}
