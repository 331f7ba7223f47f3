//! Offline day-2 commands: `policy check` on the shared AdmissionReviews and on the plugin's own
//! output (golden), completion scripts generated and syntax-checked, the krew manifest template.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-mltrain");

fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn snap(name: &str, code: i32, out: &str, err: &str) {
    insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, format!("exit: {code}\n--- stdout\n{out}--- stderr\n{err}"));
    });
}

#[test]
fn policy_check_on_the_shared_admission_reviews() {
    let dir = mltrain_tests::shared_dir().join("admission");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/data/policy-full.yaml");
    let mut args = vec![
        "policy".to_string(),
        "check".into(),
        "--policy-file".into(),
        policy.display().to_string(),
        "--show-patch".into(),
    ];
    for f in &files {
        args.push("-f".into());
        args.push(f.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run(&args, None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with(&format!("{} objects checked, 0 refused\n", files.len())),
        "{out}"
    );
    snap("policy-check-shared-admission", code, &out, &err);
}

#[test]
fn policy_check_on_the_plugins_own_output() {
    let (code, manifests, _) = run(
        &[
            "pytorch",
            "demo",
            "--world-size",
            "2",
            "--gpus",
            "8",
            "--priority",
            "high-priority",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        None,
    );
    assert_eq!(code, 0);
    // Refused for a user without approval, with the webhook's words; allowed for an approver. The
    // built-in policy names no class, so this runs with an MLBatch cluster's policy.
    let mlbatch = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/policy/mlbatch.yaml"
    );
    let (code, out, err) = run(
        &[
            "policy",
            "check",
            "-f",
            "-",
            "--policy-file",
            mlbatch,
            "--as",
            "alice",
            "-n",
            "ml-team",
        ],
        Some(&manifests),
    );
    assert_eq!(code, 1, "{out}{err}");
    snap("policy-check-plugin-output-refused", code, &out, &err);
    let (code, out, _) = run(
        &[
            "policy",
            "check",
            "-f",
            "-",
            "--policy-file",
            mlbatch,
            "--as",
            "bob",
            "--as-group",
            "system:masters",
        ],
        Some(&manifests),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(
        &[
            "policy",
            "check",
            "-f",
            "-",
            "--policy-file",
            mlbatch,
            "--as",
            "carol",
            "-n",
            "ml-team",
            "--namespace-label",
            "mltrain.io/high-priority-approved=true",
        ],
        Some(&manifests),
    );
    assert_eq!(code, 0, "{out}");
    // The plugin's output is what the engine returns: checking it again changes nothing.
    assert!(
        out.contains("job.batch/demo: allowed, nothing to change"),
        "{out}"
    );
    // -o yaml prints the admitted objects, which pass the real schemas.
    let (code, out, err) = run(
        &["policy", "check", "-f", "-", "-o", "yaml"],
        Some(&manifests),
    );
    assert_eq!(code, 0, "{err}");
    let docs = mltrain_tests::yaml_docs(&out);
    let v = mltrain_tests::validate_manifests(&docs);
    assert!(v.ok, "{}", v.output);
    assert!(err.contains("2 objects checked, 0 refused"), "{err}");
}

#[test]
fn policy_check_usage_errors() {
    let (code, _, err) = run(&["policy", "check", "-f", "/nonexistent.yaml"], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("error: -f \"/nonexistent.yaml\": cannot read it: No such file or directory"),
        "{err}"
    );
    let (code, _, err) = run(&["policy", "check", "-f", "-"], Some("a: [unclosed"));
    assert_eq!(code, 2);
    assert!(err.contains("error: -f \"-\": document 1:"), "{err}");
}

#[test]
fn completion_scripts_are_generated_and_parse() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completion", shell], None);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(
            out.contains("pytorch") && out.contains("deepspeed") && out.contains("world-size"),
            "{shell}"
        );
        if shell == "bash" {
            let dir = mltrain_tests::scratch_dir("completion");
            let f = dir.join("kubectl-mltrain.bash");
            std::fs::write(&f, &out).unwrap();
            let check = Command::new("bash").arg("-n").arg(&f).output().unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
}

#[test]
fn krew_manifest_template_is_complete() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/krew/mltrain.yaml"),
    )
    .unwrap();
    let docs = mltrain_tests::yaml_docs(&text);
    let p = &docs[0];
    assert_eq!(
        p["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(p["kind"], "Plugin");
    assert_eq!(p["metadata"]["name"], "mltrain");
    for platform in p["spec"]["platforms"].as_array().unwrap() {
        assert_eq!(platform["bin"], "kubectl-mltrain");
        assert!(platform["uri"].as_str().unwrap().starts_with("https://"));
        assert!(
            platform["sha256"].as_str().unwrap().starts_with("SHA256_"),
            "placeholders until release"
        );
    }
}
