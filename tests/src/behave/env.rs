//! A container's environment as the kubelet builds it (`pkg/kubelet/kubelet_pods.go`,
//! `makeEnvironmentVariables`): `envFrom` sources in order, then `env` in order, each value expanded
//! against what came before; `fieldRef`, `resourceFieldRef`, `secretKeyRef` and `configMapKeyRef`
//! resolved from the pod and the API. `$(VAR)` expansion follows
//! `third_party/forked/golang/expansion/expand.go`: `$(NAME)` is replaced when NAME is defined and
//! kept as written when not, `$$` is an escaped `$`, any other `$` is literal.
//!
//! Service links (`FOO_SERVICE_HOST`) are not added: the kubelet adds them only for Services with a
//! cluster IP (`getServiceEnvVarMap` skips `IsServiceIPSet` false), and every Service here is headless.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use super::store::Store;

/// Expand `$(VAR)` references (see the module header for the rules).
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    let mut plain = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            match b[i + 1] {
                b'$' => {
                    out.push_str(&input[plain..i]);
                    out.push('$');
                    i += 2;
                    plain = i;
                    continue;
                }
                b'(' => {
                    if let Some(close) = input[i + 2..].find(')') {
                        let name = &input[i + 2..i + 2 + close];
                        out.push_str(&input[plain..i]);
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => out.push_str(&input[i..i + 3 + close]),
                        }
                        i += 3 + close;
                        plain = i;
                        continue;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.push_str(&input[plain..]);
    out
}

/// The value of a `fieldRef` (`pkg/fieldpath/fieldpath.go`, `ExtractFieldPathAsString`, plus the
/// kubelet's `podFieldSelectorRuntimeValue` for `spec.*` and `status.*`).
pub fn field_ref(pod: &Value, pod_ip: &str, path: &str) -> Result<String, String> {
    let meta = &pod["metadata"];
    let sub = |prefix: &str| -> Option<String> {
        let rest = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(rest.to_string())
    };
    if let Some(k) = sub("metadata.annotations['") {
        return Ok(meta["annotations"][k.as_str()]
            .as_str()
            .unwrap_or("")
            .to_string());
    }
    if let Some(k) = sub("metadata.labels['") {
        return Ok(meta["labels"][k.as_str()]
            .as_str()
            .unwrap_or("")
            .to_string());
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    match path {
        "metadata.name" => Ok(s(&meta["name"])),
        "metadata.namespace" => Ok(s(&meta["namespace"])),
        "metadata.uid" => Ok(s(&meta["uid"])),
        "spec.nodeName" => Ok("node-1".into()),
        "spec.serviceAccountName" => Ok(pod["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_string()),
        "status.podIP" | "status.podIPs" | "status.hostIP" | "status.hostIPs" => {
            Ok(pod_ip.to_string())
        }
        other => Err(format!("fieldRef {other:?} is not modelled")),
    }
}

/// The modelled node: what `resourceFieldRef` reports for a resource with no limit (the kubelet
/// falls back to node allocatable).
const NODE_CPUS: f64 = 2.0;
const NODE_MEMORY: f64 = 24.0 * 1024.0 * 1024.0 * 1024.0;

fn quantity(q: &str) -> Result<f64, String> {
    let (num, mult) = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("m", 1e-3),
    ]
    .iter()
    .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
    .unwrap_or((q, 1.0));
    num.parse::<f64>()
        .map(|n| n * mult)
        .map_err(|_| format!("quantity {q:?} is not modelled"))
}

/// The value of a `resourceFieldRef` (`pkg/api/v1/resource/helpers.go`, `ExtractContainerResourceValue`:
/// the value divided by the divisor, rounded up).
pub fn resource_ref(container: &Value, r: &Value) -> Result<String, String> {
    let res = r["resource"].as_str().unwrap_or("");
    let (section, name) = res
        .split_once('.')
        .ok_or_else(|| format!("resourceFieldRef {res:?}"))?;
    let set = container["resources"][section][name].as_str().map(quantity);
    let value = match set {
        Some(v) => v?,
        None => match name {
            "cpu" => NODE_CPUS,
            "memory" => NODE_MEMORY,
            "ephemeral-storage" => 100.0 * 1024f64.powi(3),
            other => return Err(format!("resourceFieldRef {other:?} is not modelled")),
        },
    };
    let divisor = r["divisor"]
        .as_str()
        .map(quantity)
        .transpose()?
        .unwrap_or(1.0);
    Ok(format!("{}", (value / divisor).ceil() as i64))
}

/// A key of a ConfigMap or Secret, decoded.
pub fn object_key(store: &Store, kind: &str, name: &str, key: &str) -> Option<String> {
    let o = store.get(kind, name)?;
    if let Some(v) = o["stringData"][key].as_str() {
        return Some(v.to_string());
    }
    let raw = o["data"][key].as_str()?;
    if kind == "Secret" {
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
        String::from_utf8(bytes).ok()
    } else {
        Some(raw.to_string())
    }
}

/// Every key of a ConfigMap or Secret, decoded.
pub fn object_keys(store: &Store, kind: &str, name: &str) -> Option<BTreeMap<String, String>> {
    let o = store.get(kind, name)?;
    let mut out = BTreeMap::new();
    for section in ["data", "stringData", "binaryData"] {
        if let Some(m) = o[section].as_object() {
            for k in m.keys() {
                if let Some(v) = object_key(store, kind, name, k) {
                    out.insert(k.clone(), v);
                }
            }
        }
    }
    Some(out)
}

/// The container's variables from `envFrom` and `env`, in the order the kubelet applies them.
pub fn container_env(
    store: &Store,
    pod: &Value,
    pod_ip: &str,
    container: &Value,
) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| {
        vars.retain(|(n, _)| *n != k);
        vars.push((k, v));
    };
    for src in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = src["prefix"].as_str().unwrap_or("");
        let (kind, r) = if src["configMapRef"].is_object() {
            ("ConfigMap", &src["configMapRef"])
        } else {
            ("Secret", &src["secretRef"])
        };
        let name = r["name"].as_str().unwrap_or("");
        match object_keys(store, kind, name) {
            Some(keys) => {
                for (k, v) in keys {
                    set(&mut vars, format!("{prefix}{k}"), v);
                }
            }
            None if r["optional"] == true => {}
            None => return Err(format!("envFrom: {kind} {name:?} not found")),
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or("").to_string();
        let value = if let Some(v) = e["value"].as_str() {
            let known = vars.clone();
            expand(v, &|n| {
                known.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
            })
        } else if let Some(f) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field_ref(pod, pod_ip, f)?
        } else if e["valueFrom"]["resourceFieldRef"].is_object() {
            resource_ref(container, &e["valueFrom"]["resourceFieldRef"])?
        } else if let Some((kind, r)) = [
            ("Secret", &e["valueFrom"]["secretKeyRef"]),
            ("ConfigMap", &e["valueFrom"]["configMapKeyRef"]),
        ]
        .into_iter()
        .find(|(_, r)| r.is_object())
        {
            let (obj, key) = (
                r["name"].as_str().unwrap_or(""),
                r["key"].as_str().unwrap_or(""),
            );
            match object_key(store, kind, obj, key) {
                Some(v) => v,
                None if r["optional"] == true => continue,
                None => {
                    return Err(format!(
                        "env {name}: key {key:?} of {kind} {obj:?} not found (CreateContainerConfigError)"
                    ));
                }
            }
        } else if e.get("value").is_none() && e.get("valueFrom").is_none() {
            String::new()
        } else {
            return Err(format!(
                "env {name}: source not modelled: {}",
                e["valueFrom"]
            ));
        };
        set(&mut vars, name, value);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn env(n: &str) -> Option<String> {
        (n == "A").then(|| "x".to_string())
    }

    #[test]
    fn expansion_follows_upstream_rules() {
        assert_eq!(expand("$(A)-$(B)", &env), "x-$(B)");
        assert_eq!(expand("$$(A) $a $", &env), "$(A) $a $");
        assert_eq!(expand("${A} $(A", &env), "${A} $(A");
    }
}
