//! Rule 1 and 2 of DESIGN §4: security-context defaults (Bitnami's, which satisfy Pod Security
//! "restricted") and the OpenShift restricted-v2 adaptation; and the refusals of privileged containers
//! and host namespaces.
//!
//! Defaults only fill what is missing, and are skipped where they would contradict what the user set
//! (the API server refuses `allowPrivilegeEscalation: false` beside `privileged: true` or
//! `CAP_SYS_ADMIN`; `runAsNonRoot: true` beside `runAsUser: 0` never starts).
//! Reference: <https://kubernetes.io/docs/concepts/security/pod-security-standards/>.

use serde_json::{Map, Value, json};

use super::json::{At, child_arr, child_obj, map_mounts_at, set_default};
use super::{Cx, Violation};

const TMP_VOLUME: &str = "mltrain-tmp";

pub fn mutate(pod: &mut Map<String, Value>, cx: &mut Cx) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let sec = &cx.policy.security;
    if sec.defaults && !cx.facts.windows {
        pod_defaults(spec, cx);
        let mut needs_tmp = false;
        for field in ["initContainers", "containers"] {
            let Some(cs) = spec.get_mut(field).and_then(Value::as_array_mut) else {
                continue;
            };
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                container_defaults(c, cx.policy.security.read_only_root_filesystem);
                let read_only = c
                    .get("securityContext")
                    .and_then(|s| s.get("readOnlyRootFilesystem"))
                    == Some(&Value::Bool(true));
                // Only the policy switch adds /tmp: a user who made a root read-only chose its mounts.
                if read_only
                    && sec.read_only_root_filesystem
                    && field == "containers"
                    && !map_mounts_at(c, "/tmp")
                {
                    needs_tmp = true;
                    if let Some(mounts) = child_arr(c, "volumeMounts") {
                        mounts.push(json!({"name": TMP_VOLUME, "mountPath": "/tmp"}));
                    }
                }
            }
        }
        if needs_tmp {
            let has_volume = spec
                .get("volumes")
                .and_then(Value::as_array)
                .is_some_and(|vs| {
                    vs.iter()
                        .any(|v| v.get("name").and_then(Value::as_str) == Some(TMP_VOLUME))
                });
            if !has_volume && let Some(vs) = child_arr(spec, "volumes") {
                vs.push(json!({"name": TMP_VOLUME, "emptyDir": {}}));
            }
        }
    }
    if cx.openshift {
        adapt_openshift(spec, cx);
    }
}

fn runs_as_root(spec: &Map<String, Value>) -> bool {
    let root =
        |sc: Option<&Value>| sc.and_then(|s| s.get("runAsUser")).and_then(Value::as_i64) == Some(0);
    root(spec.get("securityContext"))
        || ["initContainers", "containers"].iter().any(|f| {
            spec.get(*f)
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| root(c.get("securityContext"))))
        })
}

fn pod_defaults(spec: &mut Map<String, Value>, cx: &Cx) {
    let sec = &cx.policy.security;
    // On OpenShift a root runAsUser is removed below and the SCC assigns a non-root UID, so the pod
    // will not run as root: checking for root there would make the engine's output change on a
    // second pass.
    let as_root = !cx.openshift && runs_as_root(spec);
    let Some(psc) = child_obj(spec, "securityContext") else {
        return;
    };
    drop_empty_selinux(psc);
    let root_allowed = psc.get("runAsNonRoot") == Some(&Value::Bool(false));
    if !as_root {
        set_default(psc, "runAsNonRoot", json!(true));
    }
    // On OpenShift the SCC assigns the IDs; a fixed one would be refused there.
    if !cx.openshift && !root_allowed && !as_root {
        set_default(psc, "runAsUser", json!(sec.run_as_user));
        set_default(psc, "runAsGroup", json!(sec.run_as_group));
    }
    if !cx.openshift {
        set_default(psc, "fsGroup", json!(sec.fs_group));
    }
    set_default(
        psc,
        "fsGroupChangePolicy",
        json!(sec.fs_group_change_policy),
    );
    set_default(psc, "seccompProfile", json!({"type": sec.seccomp_profile}));
}

fn container_defaults(c: &mut Map<String, Value>, read_only_root: bool) {
    let Some(sc) = child_obj(c, "securityContext") else {
        return;
    };
    drop_empty_selinux(sc);
    let privileged = sc.get("privileged") == Some(&Value::Bool(true));
    let sys_admin = sc
        .get("capabilities")
        .and_then(|c| c.get("add"))
        .and_then(Value::as_array)
        .is_some_and(|add| {
            add.iter()
                .any(|c| matches!(c.as_str(), Some("SYS_ADMIN" | "CAP_SYS_ADMIN")))
        });
    set_default(sc, "privileged", json!(false));
    if !privileged && !sys_admin {
        set_default(sc, "allowPrivilegeEscalation", json!(false));
    }
    if !privileged && let Some(caps) = child_obj(sc, "capabilities") {
        set_default(caps, "drop", json!(["ALL"]));
    }
    if read_only_root && !privileged {
        set_default(sc, "readOnlyRootFilesystem", json!(true));
    }
}

/// `seLinuxOptions: {}` says nothing, and some SCCs refuse it; non-empty ones are the user's.
fn drop_empty_selinux(sc: &mut Map<String, Value>) {
    if sc
        .get("seLinuxOptions")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        sc.remove("seLinuxOptions");
    }
}

/// restricted-v2 assigns UIDs, GIDs and fsGroup from the namespace's range and refuses others.
fn adapt_openshift(spec: &mut Map<String, Value>, cx: &mut Cx) {
    let mut removed = Vec::new();
    let mut strip = |sc: Option<&mut Value>| {
        if let Some(sc) = sc.and_then(Value::as_object_mut) {
            for f in ["runAsUser", "runAsGroup", "fsGroup"] {
                if let Some(v) = sc.remove(f) {
                    removed.push(format!("{f}={v}"));
                }
            }
        }
    };
    strip(spec.get_mut("securityContext"));
    for field in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(field).and_then(Value::as_array_mut) {
            for c in cs {
                strip(c.get_mut("securityContext"));
            }
        }
    }
    if !removed.is_empty() {
        removed.dedup();
        cx.warn(&format!(
            "OpenShift assigns IDs; removed {}",
            removed.join(", ")
        ));
    }
}

pub fn validate(pod: &Value, cx: &mut Cx, out: &mut Vec<Violation>) {
    let Some(spec) = pod.get("spec") else { return };
    let sec = &cx.policy.security;
    let spec_path = || cx.path.key("spec");
    if !sec.allow_host_namespaces {
        for f in ["hostNetwork", "hostPID", "hostIPC"] {
            if spec.get(f) == Some(&Value::Bool(true)) {
                out.push(Violation::new(
                    spec_path().key(f),
                    format!("{f}: true is not allowed by the cluster policy; remove it (training pods talk over the pod network), or ask an admin to set security.allowHostNamespaces"),
                ));
            }
        }
    }
    let ipc_lock = super::json::containers(spec).any(|(_, _, c)| {
        c.at("/securityContext/capabilities/add")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|v| matches!(v.as_str(), Some("IPC_LOCK" | "CAP_IPC_LOCK")))
            })
    });
    if ipc_lock {
        cx.warn(
            "IPC_LOCK (for RDMA) is outside Pod Security restricted; the namespace needs baseline",
        );
    }
    if !sec.allow_privileged {
        for (field, i, c) in super::json::containers(spec) {
            let sc = c.get("securityContext");
            if sc.and_then(|s| s.get("privileged")) == Some(&Value::Bool(true)) {
                out.push(Violation::new(
                    spec_path().key(field).index(i).key("securityContext").key("privileged"),
                    "privileged: true is not allowed by the cluster policy; remove it and add only the capabilities the program needs (e.g. IPC_LOCK for RDMA)".into(),
                ));
            }
        }
    }
}
