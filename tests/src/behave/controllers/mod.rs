//! The controllers, each as its upstream code behaves (every module cites the files it follows).
//! They run one after another on every tick of the run loop, reading and writing the store as the
//! real ones read and write the API: a controller sees only objects, never our renderer's intent.

pub mod appwrapper;
pub mod job;
pub mod jobset;
pub mod kueue;
pub mod mpijob;
pub mod pytorchjob;
pub mod ssh_keys;
pub mod trainjob;

use serde_json::{Value, json};

use super::store::{self, Store};

/// The cluster's admission that controllers' pod creations pass through.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    /// OpenShift's restricted-v2 SCC with this namespace's uid range start
    /// (`openshift.io/sa.scc.uid-range: <start>/10000`).
    pub openshift_uid_start: Option<u64>,
    /// PriorityClasses that exist.
    pub priority_classes: Vec<String>,
}

/// Set a terminal or informational condition (`type` with status True).
pub fn set_condition(o: &mut Value, kind: &str, reason: &str) {
    let conds = o["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if conds.iter().any(|c| c["type"] == kind) {
        return;
    }
    let mut conds = conds;
    conds.push(json!({"type": kind, "status": "True", "reason": reason}));
    o["status"]["conditions"] = Value::from(conds);
}

/// How a workload ended, from its conditions: `Some(true)` with `success`, `Some(false)` with
/// `failure`, `None` while neither is True.
pub fn outcome(o: &Value, success: &str, failure: &str) -> Option<bool> {
    if has_condition(o, success) {
        Some(true)
    } else if has_condition(o, failure) {
        Some(false)
    } else {
        None
    }
}

/// Whether a condition is True.
pub fn has_condition(o: &Value, kind: &str) -> bool {
    o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// A pod's phase.
pub fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("Pending")
}

/// Whether a pod has ended.
pub fn ended(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// A five-character suffix like `generateName`'s, deterministic per run.
pub fn suffix(store: &Store) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = store.events.len() as u64 * 2_654_435_761 + 12345;
    (0..5)
        .map(|_| {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ALPHA[(n >> 33) as usize % ALPHA.len()] as char
        })
        .collect()
}

/// Create a pod from a template through the cluster's admission. A refusal is what the controller
/// would see as `FailedCreate`: returned as an error message.
pub fn create_pod(
    store: &mut Store,
    adm: &Admission,
    ns: &str,
    name: &str,
    template: &Value,
    owner: &Value,
) -> Result<(), String> {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template["metadata"].clone(),
        "spec": template["spec"].clone(),
    });
    if !pod["metadata"].is_object() {
        pod["metadata"] = json!({});
    }
    pod["metadata"]["name"] = Value::from(name);
    pod["metadata"]["ownerReferences"] = json!([store::controller_ref(owner)]);
    if let Some(class) = pod["spec"]["priorityClassName"].as_str()
        && !adm.priority_classes.iter().any(|c| c == class)
    {
        return Err(format!(
            "pods is forbidden: no PriorityClass with name {class} was found"
        ));
    }
    if let Some(start) = adm.openshift_uid_start {
        openshift_scc(&mut pod, start)?;
    }
    store.create(pod, ns).map(|_| ())
}

/// OpenShift's restricted-v2 SCC as its admission plugin applies it (openshift/apiserver-library-go
/// `pkg/securitycontextconstraints/sccadmission/admission.go` and `sccmatching/provider.go`): a
/// `runAsUser` or `fsGroup` outside the namespace's range is refused; missing ones are filled from
/// the range start (`MustRunAsRange`, `MustRunAs`); capabilities beyond NET_BIND_SERVICE are refused.
/// No `runAsGroup` is assigned, so a uid with no passwd entry runs with gid 0.
fn openshift_scc(pod: &mut Value, start: u64) -> Result<(), String> {
    let range = start..start + 10000;
    let forbidden = |what: &str, v: u64| {
        Err(format!(
            "pods is forbidden: unable to validate against any security context constraint: {what}: Invalid value: {v}: must be in the ranges: [{start}, {}]",
            start + 9999
        ))
    };
    let psc = &mut pod["spec"]["securityContext"];
    if !psc.is_object() {
        *psc = json!({});
    }
    if let Some(u) = psc["runAsUser"].as_u64()
        && !range.contains(&u)
    {
        return forbidden("spec.securityContext.runAsUser", u);
    }
    match psc["fsGroup"].as_u64() {
        Some(g) if !range.contains(&g) => return forbidden("spec.securityContext.fsGroup", g),
        Some(_) => {}
        None => psc["fsGroup"] = Value::from(start),
    }
    let pod_uid = psc["runAsUser"].as_u64();
    for section in ["initContainers", "containers"] {
        for c in pod["spec"][section].as_array_mut().into_iter().flatten() {
            let sc = &mut c["securityContext"];
            if !sc.is_object() {
                *sc = json!({});
            }
            match sc["runAsUser"].as_u64() {
                Some(u) if !range.contains(&u) => {
                    return forbidden("spec.containers[].securityContext.runAsUser", u);
                }
                Some(_) => {}
                None if pod_uid.is_none() => sc["runAsUser"] = Value::from(start),
                None => {}
            }
            for cap in sc["capabilities"]["add"].as_array().into_iter().flatten() {
                if cap != "NET_BIND_SERVICE" {
                    return Err(format!(
                        "pods is forbidden: unable to validate against any security context constraint: capabilities.add: Invalid value: {cap}: capability may not be added"
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(uid: Option<u64>) -> Value {
        let mut t = json!({"metadata": {}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        if let Some(u) = uid {
            t["spec"]["securityContext"] = json!({"runAsUser": u});
        }
        t
    }

    fn owner(store: &mut Store) -> Value {
        store
            .create(
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}}),
                "ns",
            )
            .unwrap();
        store.get("Job", "j").unwrap().clone()
    }

    #[test]
    fn openshift_assigns_the_range_start_and_refuses_other_uids() {
        let adm = Admission {
            openshift_uid_start: Some(1_000_650_000),
            priority_classes: vec![],
        };
        let mut store = Store::default();
        let job = owner(&mut store);
        create_pod(&mut store, &adm, "ns", "p", &template(None), &job).unwrap();
        let pod = store.get("Pod", "p").unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["securityContext"]["runAsUser"],
            1_000_650_000
        );
        assert_eq!(pod["spec"]["securityContext"]["fsGroup"], 1_000_650_000);
        let err = create_pod(&mut store, &adm, "ns", "q", &template(Some(1001)), &job).unwrap_err();
        assert!(
            err.contains("unable to validate against any security context constraint"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_priority_class_is_refused() {
        let adm = Admission::default();
        let mut store = Store::default();
        let job = owner(&mut store);
        let mut t = template(None);
        t["spec"]["priorityClassName"] = json!("default-priority");
        let err = create_pod(&mut store, &adm, "ns", "p", &t, &job).unwrap_err();
        assert_eq!(
            err,
            "pods is forbidden: no PriorityClass with name default-priority was found"
        );
    }
}
