//! Helpers for mltrain's cross-crate integration tests: where the shared checkout is, and running
//! the real schema validator (`../shared/tools/validate-manifests`) on rendered objects.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// The project's `shared/` folder beside the checkout (schemas, admission fixtures, tools); override
/// with `MLTRAIN_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MLTRAIN_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The workspace root.
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mltrain-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The validator's verdict on some documents.
#[derive(Debug)]
pub struct Validation {
    pub ok: bool,
    pub output: String,
}

/// Run `validate-manifests` on the given documents (written as one multi-document file).
pub fn validate_manifests(docs: &[Value]) -> Validation {
    validate_manifests_with(docs, &[])
}

/// [`validate_manifests`] with extra flags (e.g. `--allow-unknown-kinds`).
pub fn validate_manifests_with(docs: &[Value], flags: &[&str]) -> Validation {
    let dir = scratch_dir("validate");
    let file = dir.join("docs.yaml");
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_json::to_string_pretty(d).expect("json"))
        .collect();
    std::fs::write(&file, text.join("\n---\n")).expect("write docs");
    let out = validate_file_with(&file, flags);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// Run `validate-manifests` on a file of documents.
pub fn validate_file(file: &std::path::Path) -> Validation {
    validate_file_with(file, &[])
}

fn validate_file_with(file: &std::path::Path, flags: &[&str]) -> Validation {
    let tool = shared_dir().join("tools/validate-manifests");
    let out = Command::new("python3")
        .arg(&tool)
        .args(flags)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(3),
        "validate-manifests lacks its Python packages: pip install -r {}/tools/requirements.txt\n{output}",
        shared_dir().display()
    );
    Validation {
        ok: out.status.success(),
        output,
    }
}

/// `kubectl kustomize DIR` (a path under the workspace), parsed.
pub fn kustomize(dir: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .args([
            "kustomize",
            workspace_dir().join(dir).to_str().expect("path"),
        ])
        .output()
        .expect("kubectl is needed for kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_docs(&String::from_utf8_lossy(&out.stdout))
}

/// Parse every document of a multi-document YAML text into JSON.
pub fn yaml_docs(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc).expect("YAML document");
        if !v.is_null() {
            out.push(v);
        }
    }
    out
}
