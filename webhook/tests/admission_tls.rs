//! The real `mltrain-webhook` binary, called over real TLS with AdmissionReviews shaped as
//! kube-apiserver sends them: every shared fixture and a workload of every kind over HTTP/1.1
//! keep-alive and HTTP/2; every returned patch applied (RFC 6902) and the result validated against the
//! real schemas; the patched object sent again yields no patch; malformed input and the probe port.
//! What each body is answered, allowed, patched, refused or 400/413, is shown in-process by
//! `router.rs`.

mod common;

use std::path::PathBuf;

use common::{Client, Pki, Proto, Webhook, apply_patch, response, review};
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn start(extra: &[&str]) -> (Webhook, Pki) {
    let dir = mltrain_tests::scratch_dir("webhook");
    let pki = Pki::new("mltrain test CA");
    pki.write(&dir);
    let policy = workspace().join("webhook/tests/data/policy.yaml");
    let mut args = vec!["--policy-file", policy.to_str().unwrap()];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Webhook::start(&dir, &args), pki)
}

/// Every review the tests send: the shared fixtures, then a CREATE of every workload kind.
fn fixtures() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let dir = mltrain_tests::shared_dir().join("admission");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
    {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        out.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
    }
    assert!(
        out.len() >= 3,
        "the shared admission fixtures are missing from {}",
        dir.display()
    );
    let workloads =
        std::fs::read_to_string(workspace().join("shared/tests/data/objects/workloads.yaml"))
            .unwrap();
    for (i, obj) in mltrain_tests::yaml_docs(&workloads).into_iter().enumerate() {
        out.push((
            format!("{} CREATE", obj["kind"].as_str().unwrap()),
            review(&format!("uid-workload-{i}"), "CREATE", &obj, None),
        ));
    }
    out
}

async fn each_protocol_mutates_and_validates(proto: Proto) {
    let (wh, pki) = start(&[]);
    let mut client = Client::connect(wh.admission, &pki.ca_pem, proto)
        .await
        .unwrap();
    let mut patched_objects = Vec::new();
    let mut kinds_patched = 0;
    for (name, rev) in fixtures() {
        let uid = rev["request"]["uid"].as_str().unwrap().to_string();
        let body = serde_json::to_vec(&rev).unwrap();
        let (status, out) = client.post("/mutate", body.clone()).await.unwrap();
        assert_eq!(status, 200, "{name}");
        let resp = response(&out);
        assert_eq!(resp["uid"], uid, "{name}: uid echoed");
        assert_eq!(resp["allowed"], true, "{name}: {resp}");
        let op = rev["request"]["operation"].as_str().unwrap();
        let object = &rev["request"]["object"];
        if op != "CREATE" {
            assert!(
                resp.get("patch").is_none(),
                "{name}: only CREATE is mutated"
            );
        }
        let patched = apply_patch(object, &resp);
        if patched != *object {
            kinds_patched += 1;
        }
        let (status, out) = client
            .post("/validate", serde_json::to_vec(&rev).unwrap())
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            response(&out)["allowed"],
            true,
            "{name}: {}",
            String::from_utf8_lossy(&out)
        );
        // Sent again, the mutated object needs nothing more.
        let mut again = rev.clone();
        again["request"]["object"] = patched.clone();
        again["request"]["uid"] = json!(format!("{uid}-again"));
        let (_, out) = client
            .post("/mutate", serde_json::to_vec(&again).unwrap())
            .await
            .unwrap();
        let resp2 = response(&out);
        assert_eq!(resp2["uid"], format!("{uid}-again"));
        assert!(
            resp2.get("patch").is_none(),
            "{name}: second pass patched: {resp2}"
        );
        patched_objects.push(patched);
    }
    assert!(
        kinds_patched >= 10,
        "only {kinds_patched} fixtures were mutated"
    );
    let v = mltrain_tests::validate_manifests(&patched_objects);
    assert!(v.ok, "{}", v.output);
}

#[tokio::test]
async fn fixtures_over_http1_keep_alive() {
    each_protocol_mutates_and_validates(Proto::Http1).await;
}

#[tokio::test]
async fn fixtures_over_http2() {
    each_protocol_mutates_and_validates(Proto::Http2).await;
}

/// What each body gets is `router.rs`'s, in-process; over real TLS, a bad body and one over the size
/// limit (which may close its connection) get their status and the server goes on serving.
#[tokio::test]
async fn malformed_input_gets_its_status_and_the_server_keeps_serving() {
    let (wh, pki) = start(&[]);
    let valid = review(
        "ok-1",
        "CREATE",
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
        None,
    );
    let cases: [(&str, Vec<u8>, u16); 2] = [
        ("not JSON", b"hello".to_vec(), 400),
        ("over the size limit", vec![b' '; 9 * 1024 * 1024], 413),
    ];
    for (name, body, want) in cases {
        // A fresh connection each time: a 413 may close the connection it arrived on.
        let mut client = Client::connect(wh.admission, &pki.ca_pem, Proto::Http1)
            .await
            .unwrap();
        let (status, out) = client
            .post("/mutate", body)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status, want, "{name}: {}", String::from_utf8_lossy(&out));
        let v: Value =
            serde_json::from_slice(&out).unwrap_or_else(|_| panic!("{name}: answer is not JSON"));
        assert_eq!(v["code"], want, "{name}");
    }
    let mut client = Client::connect(wh.admission, &pki.ca_pem, Proto::Http1)
        .await
        .unwrap();
    assert_eq!(client.post("/nope", vec![]).await.unwrap().0, 404);
    let (status, out) = client
        .post("/mutate", serde_json::to_vec(&valid).unwrap())
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(response(&out)["uid"], "ok-1");
    assert_eq!(wh.probe("/healthz").await, (200, "ok".into()));
    let (_, metrics) = wh.probe("/metrics").await;
    assert!(
        metrics.contains("mltrain_webhook_bad_requests_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn probes_and_metrics() {
    let (wh, pki) = start(&[]);
    assert_eq!(wh.probe("/healthz").await.0, 200);
    assert_eq!(wh.probe("/readyz").await, (200, "ok".into()));
    let mut client = Client::connect(wh.admission, &pki.ca_pem, Proto::Http1)
        .await
        .unwrap();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}});
    for i in 0..3 {
        client
            .post(
                "/mutate",
                serde_json::to_vec(&review(&format!("m{i}"), "CREATE", &pod, None)).unwrap(),
            )
            .await
            .unwrap();
    }
    let (_, m) = wh.probe("/metrics").await;
    assert!(m.contains("mltrain_webhook_admission_requests_total{endpoint=\"mutate\",kind=\"Pod\",operation=\"CREATE\",result=\"patched\"} 3"), "{m}");
    assert!(
        m.contains("mltrain_webhook_admission_duration_seconds_count{endpoint=\"mutate\"} 3"),
        "{m}"
    );
    assert!(m.contains("mltrain_webhook_build_info"));
}
