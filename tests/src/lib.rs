//! Helpers for mltrain's cross-crate integration tests: where the shared checkout is, and running
//! the real schema validator (`../shared/tools/validate-manifests`) on rendered objects.

pub mod behave;

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

/// `kubectl kustomize DIR` (a relative path is under the workspace), parsed.
pub fn kustomize(dir: impl AsRef<std::path::Path>) -> Vec<Value> {
    let dir = workspace_dir().join(dir.as_ref());
    let out = Command::new("kubectl")
        .args(["kustomize", dir.to_str().expect("path")])
        .output()
        .expect("kubectl is needed for kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
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

/// A small deterministic generator (xorshift64*) for the fuzzers: no dependency, replayable by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The fuzzers' seed: `MLTRAIN_FUZZ_SEED`, else the clock (printed, so a failure can be replayed).
pub fn fuzz_seed() -> u64 {
    std::env::var("MLTRAIN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// How long each fuzzer runs: `MLTRAIN_FUZZ_SECONDS` (CI sets it), else 3 seconds.
pub fn fuzz_budget() -> std::time::Duration {
    std::time::Duration::from_secs(
        std::env::var("MLTRAIN_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    )
}

/// Byte-level mutations: flip, insert, delete, duplicate or truncate.
pub fn mutate_bytes(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = b.len().max(1);
        match rng.below(5) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len);
                b.insert(i.min(b.len()), b"{}[]\",:0-9eE\\ \x00\xff"[rng.below(16)]);
            }
            2 if !b.is_empty() => {
                let i = rng.below(b.len());
                let n = rng.below(16).min(b.len() - i);
                b.drain(i..i + n);
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len());
                let n = rng.below(64).min(b.len() - i);
                let chunk = b[i..i + n].to_vec();
                b.splice(i..i, chunk);
            }
            _ => b.truncate(rng.below(len)),
        }
    }
    b
}

/// A random JSON value of a troublesome kind.
pub fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => serde_json::json!(-1),
        3 => serde_json::json!(u64::MAX),
        4 => serde_json::json!(1.5e300),
        5 => serde_json::json!(""),
        6 => serde_json::json!("8"),
        7 => serde_json::json!("1e99"),
        8 => serde_json::json!("-3Gi"),
        9 => serde_json::json!("a,,b,Bad_Host,"),
        10 => serde_json::json!([]),
        11 => serde_json::json!({}),
        12 => serde_json::json!([{"name": "x"}, null, 3]),
        _ => {
            let mut v = serde_json::json!("deep");
            for _ in 0..rng.below(100) {
                v = serde_json::json!([v]);
            }
            v
        }
    }
}

/// Structure-aware mutation: walk to a random node and replace, delete or duplicate it.
pub fn mutate_json(rng: &mut Rng, v: &mut Value) {
    // Choose the node with a shared borrow, then edit it through its JSON Pointer.
    let depth = rng.below(12);
    let mut pointer = String::new();
    let mut cur: &Value = v;
    for _ in 0..depth {
        let next = match cur {
            Value::Object(m) if !m.is_empty() => {
                let (k, n) = m.iter().nth(rng.below(m.len())).expect("index in range");
                Some((k.replace('~', "~0").replace('/', "~1"), n))
            }
            Value::Array(a) if !a.is_empty() => {
                let i = rng.below(a.len());
                Some((i.to_string(), &a[i]))
            }
            _ => None,
        };
        match next {
            Some((seg, n)) if rng.below(4) != 0 => {
                pointer.push('/');
                pointer.push_str(&seg);
                cur = n;
            }
            _ => break,
        }
    }
    let Some(cur) = v.pointer_mut(&pointer) else {
        return;
    };
    match (rng.below(4), &mut *cur) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let k = m
                .keys()
                .nth(rng.below(m.len()))
                .cloned()
                .unwrap_or_default();
            m.remove(&k);
        }
        (1, Value::Array(a)) if !a.is_empty() => {
            let i = rng.below(a.len());
            let dup = a[i].clone();
            a.push(dup);
        }
        (2, Value::Object(m)) => {
            let keys = [
                "nvidia.com/gpu",
                "securityContext",
                "volumeMounts",
                "annotations",
                "mltrain.io/host-ignore-list",
                "priorityClassName",
                "nodeName",
                "affinity",
                "resources",
                "containers",
                "spec",
                "template",
            ];
            m.insert(keys[rng.below(keys.len())].to_string(), odd_value(rng));
        }
        _ => *cur = odd_value(rng),
    }
}
