//! Pod volumes as the kubelet sets them up, as directories under the pod's folder that the container
//! runtime bind-mounts: ConfigMap and Secret volumes (`pkg/volume/configmap`, `pkg/volume/secret`:
//! every key or the listed `items`, file mode from the item or `defaultMode`, 0644 by default),
//! emptyDir (mode 0777, `pkg/volume/emptydir/empty_dir.go`), PVCs (one directory per claim, shared by
//! every pod that mounts it) and generic ephemeral volumes (one per pod), then `fsGroup` ownership as
//! `pkg/volume/volume_linux.go` (`SetVolumeOwnership`) applies it: group set to `fsGroup`, mode
//! ORed with 0440 on read-only volumes (ConfigMap, Secret, downward API) or 0660 on writable ones,
//! and directories also get 0110 and setgid.
//!
//! What is not modelled fails the pod with a message: hostPath, NFS, CSI and other volume types.
//! Sizes (emptyDir `sizeLimit`, tmpfs) are not enforced.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::env::{self, object_keys};
use super::store::Store;

/// A volume ready to mount.
pub struct Volume {
    pub name: String,
    pub host_path: PathBuf,
}

/// Whether a pod's volumes can be set up yet: every non-optional ConfigMap and Secret exists (the
/// kubelet keeps the pod in ContainerCreating until they do).
pub fn missing_sources(store: &Store, pod: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        for (kind, name, optional) in sources(v) {
            if !optional && store.get(kind, &name).is_none() {
                missing.push(format!("{kind} {name}"));
            }
        }
    }
    missing
}

fn sources(v: &Value) -> Vec<(&'static str, String, bool)> {
    let mut out = Vec::new();
    let one = |out: &mut Vec<_>, kind, r: &Value, key: &str| {
        if let Some(n) = r[key].as_str() {
            out.push((kind, n.to_string(), r["optional"] == true));
        }
    };
    one(&mut out, "ConfigMap", &v["configMap"], "name");
    one(&mut out, "Secret", &v["secret"], "secretName");
    for s in v["projected"]["sources"].as_array().into_iter().flatten() {
        one(&mut out, "ConfigMap", &s["configMap"], "name");
        one(&mut out, "Secret", &s["secret"], "name");
    }
    out
}

/// Set up every volume of the pod under `pod_dir/volumes`; PVCs live under `claims_dir`.
pub fn setup(
    store: &Store,
    pod: &Value,
    pod_ip: &str,
    pod_dir: &Path,
    claims_dir: &Path,
) -> Result<Vec<Volume>, String> {
    let fs_group = pod["spec"]["securityContext"]["fsGroup"]
        .as_u64()
        .map(|g| g as u32);
    let mut out = Vec::new();
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or("").to_string();
        let dir = pod_dir.join("volumes").join(&name);
        let (path, read_only) = if v["emptyDir"].is_object() {
            mkdir(&dir, 0o777)?;
            (dir, false)
        } else if v["configMap"].is_object() || v["secret"].is_object() {
            let (kind, r, key) = if v["configMap"].is_object() {
                ("ConfigMap", &v["configMap"], "name")
            } else {
                ("Secret", &v["secret"], "secretName")
            };
            mkdir(&dir, 0o755)?;
            let obj = r[key].as_str().unwrap_or("");
            let keys = object_keys(store, kind, obj).unwrap_or_default();
            write_keys(
                &dir,
                &keys,
                r,
                r["defaultMode"].as_u64().unwrap_or(0o644) as u32,
            )?;
            (dir, true)
        } else if v["projected"].is_object() {
            mkdir(&dir, 0o755)?;
            let mode = v["projected"]["defaultMode"].as_u64().unwrap_or(0o644) as u32;
            for s in v["projected"]["sources"].as_array().into_iter().flatten() {
                if let Some(n) = s["configMap"]["name"].as_str() {
                    let keys = object_keys(store, "ConfigMap", n).unwrap_or_default();
                    write_keys(&dir, &keys, &s["configMap"], mode)?;
                } else if let Some(n) = s["secret"]["name"].as_str() {
                    let keys = object_keys(store, "Secret", n).unwrap_or_default();
                    write_keys(&dir, &keys, &s["secret"], mode)?;
                } else if s["downwardAPI"].is_object() {
                    downward(&dir, pod, pod_ip, &s["downwardAPI"], mode)?;
                } else {
                    return Err(format!("volume {name}: projected source not modelled: {s}"));
                }
            }
            (dir, true)
        } else if v["downwardAPI"].is_object() {
            mkdir(&dir, 0o755)?;
            let mode = v["downwardAPI"]["defaultMode"].as_u64().unwrap_or(0o644) as u32;
            downward(&dir, pod, pod_ip, &v["downwardAPI"], mode)?;
            (dir, true)
        } else if let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() {
            let dir = claims_dir.join(claim);
            if !dir.exists() {
                mkdir(&dir, 0o755)?;
            }
            (dir, false)
        } else if v["ephemeral"].is_object() {
            mkdir(&dir, 0o755)?;
            (dir, false)
        } else {
            return Err(format!(
                "volume {name}: type not modelled by the harness: {v}"
            ));
        };
        if let Some(g) = fs_group {
            set_ownership(&path, g, read_only)?;
        }
        out.push(Volume {
            name,
            host_path: path,
        });
    }
    Ok(out)
}

fn mkdir(dir: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn write_file(dir: &Path, rel: &str, content: &[u8], mode: u32) -> Result<(), String> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

/// Every key, or only the `items` (each with its own path and mode).
fn write_keys(
    dir: &Path,
    keys: &std::collections::BTreeMap<String, String>,
    r: &Value,
    default_mode: u32,
) -> Result<(), String> {
    match r["items"].as_array() {
        Some(items) => {
            for it in items {
                let key = it["key"].as_str().unwrap_or("");
                let content = keys.get(key).ok_or_else(|| {
                    format!("item key {key:?} not found (the kubelet fails the mount)")
                })?;
                let mode = it["mode"]
                    .as_u64()
                    .map(|m| m as u32)
                    .unwrap_or(default_mode);
                write_file(
                    dir,
                    it["path"].as_str().unwrap_or(key),
                    content.as_bytes(),
                    mode,
                )?;
            }
        }
        None => {
            for (k, v) in keys {
                write_file(dir, k, v.as_bytes(), default_mode)?;
            }
        }
    }
    Ok(())
}

fn downward(dir: &Path, pod: &Value, ip: &str, d: &Value, mode: u32) -> Result<(), String> {
    for it in d["items"].as_array().into_iter().flatten() {
        let path = it["path"].as_str().unwrap_or("");
        let value = match it["fieldRef"]["fieldPath"].as_str() {
            Some("metadata.labels") | Some("metadata.annotations") => {
                let key = it["fieldRef"]["fieldPath"].as_str().unwrap_or("");
                let section = key.trim_start_matches("metadata.");
                pod["metadata"][section]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}\n"))
                            .collect::<String>()
                    })
                    .unwrap_or_default()
            }
            Some(f) => env::field_ref(pod, ip, f)?,
            None => {
                return Err(format!(
                    "downwardAPI item {path}: only fieldRef is modelled"
                ));
            }
        };
        let mode = it["mode"].as_u64().map(|m| m as u32).unwrap_or(mode);
        write_file(dir, path, value.as_bytes(), mode)?;
    }
    Ok(())
}

/// `SetVolumeOwnership`: group to `fsGroup`, group bits ORed in, setgid on directories.
fn set_ownership(root: &Path, group: u32, read_only: bool) -> Result<(), String> {
    let mask = if read_only { 0o440 } else { 0o660 };
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = fs::symlink_metadata(&p).map_err(|e| e.to_string())?;
        chown(&p, None, Some(group)).map_err(|e| format!("chown {}: {e}", p.display()))?;
        let mut mode = meta.permissions().mode() & 0o7777;
        mode |= mask;
        if meta.is_dir() {
            mode |= 0o110 | 0o2000;
            for e in fs::read_dir(&p).map_err(|e| e.to_string())? {
                stack.push(e.map_err(|e| e.to_string())?.path());
            }
        }
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
    }
    Ok(())
}
