//! The real `mltrain-webhook` binary, called over real TLS with AdmissionReviews shaped as
//! kube-apiserver sends them: every shared fixture and a workload of every kind over HTTP/1.1
//! keep-alive and HTTP/2; every returned patch applied (RFC 6902) and the result validated against the
//! real schemas; the patched object sent again yields no patch; every rejection; malformed input.

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

#[tokio::test]
async fn every_rejection_is_a_403_with_the_engines_words() {
    let (wh, pki) = start(&[]);
    let cases = mltrain_tests::yaml_docs(include_str!("data/rejections.yaml"));
    let cases = cases[0].as_array().unwrap().clone();
    assert!(cases.len() >= 14);
    let mut client = Client::connect(wh.admission, &pki.ca_pem, Proto::Http1)
        .await
        .unwrap();
    for (i, case) in cases.iter().enumerate() {
        let uid = format!("reject-{i}");
        let rev = review(&uid, "CREATE", &case["object"], None);
        let (status, out) = client
            .post("/validate", serde_json::to_vec(&rev).unwrap())
            .await
            .unwrap();
        assert_eq!(status, 200);
        let resp = response(&out);
        assert_eq!(resp["uid"], uid);
        assert_eq!(resp["allowed"], false, "{}", case["expect"]);
        assert_eq!(resp["status"]["code"], 403);
        let msg = resp["status"]["message"].as_str().unwrap();
        assert!(
            msg.contains(case["expect"].as_str().unwrap()),
            "want {} in {msg}",
            case["expect"]
        );
        // The mutating webhook never refuses; it leaves that to /validate.
        let (_, out) = client
            .post("/mutate", serde_json::to_vec(&rev).unwrap())
            .await
            .unwrap();
        assert_eq!(response(&out)["allowed"], true);
    }
}

#[tokio::test]
async fn malformed_input_gets_its_status_and_the_server_keeps_serving() {
    let (wh, pki) = start(&[]);
    let valid = review(
        "ok-1",
        "CREATE",
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
        None,
    );
    let mut deep = String::new();
    for _ in 0..10_000 {
        deep.push('[');
    }
    let big = vec![b' '; 9 * 1024 * 1024];
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = valid.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("empty body", "/mutate", vec![], 400),
        ("not JSON", "/mutate", b"hello".to_vec(), 400),
        ("a JSON array", "/validate", b"[1,2]".to_vec(), 400),
        ("JSON null", "/mutate", b"null".to_vec(), 400),
        ("no apiVersion", "/mutate", b"{}".to_vec(), 400),
        (
            "v1beta1",
            "/mutate",
            with(&|v| v["apiVersion"] = json!("admission.k8s.io/v1beta1")),
            400,
        ),
        (
            "wrong kind",
            "/validate",
            with(&|v| v["kind"] = json!("Pod")),
            400,
        ),
        (
            "no request",
            "/mutate",
            with(&|v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("request")
                    .map(|_| ())
                    .unwrap()
            }),
            400,
        ),
        (
            "no uid",
            "/mutate",
            with(&|v| {
                v["request"]
                    .as_object_mut()
                    .unwrap()
                    .remove("uid")
                    .map(|_| ())
                    .unwrap()
            }),
            400,
        ),
        (
            "empty uid",
            "/mutate",
            with(&|v| v["request"]["uid"] = json!("")),
            400,
        ),
        (
            "unknown operation",
            "/validate",
            with(&|v| v["request"]["operation"] = json!("PATCH")),
            400,
        ),
        (
            "uid of the wrong type",
            "/mutate",
            with(&|v| v["request"]["uid"] = json!(7)),
            400,
        ),
        (
            "truncated JSON",
            "/mutate",
            serde_json::to_vec(&valid).unwrap()[..100].to_vec(),
            400,
        ),
        (
            "invalid UTF-8",
            "/mutate",
            vec![b'{', 0xff, 0xfe, b'}'],
            400,
        ),
        ("nested too deep", "/mutate", deep.into_bytes(), 400),
        ("over the size limit", "/mutate", big, 413),
        (
            "object is a string",
            "/mutate",
            with(&|v| v["request"]["object"] = json!("x")),
            200,
        ),
        (
            "fields of the wrong type",
            "/validate",
            with(&|v| {
                v["request"]["object"]["spec"] = json!({"containers": "x", "securityContext": 5})
            }),
            200,
        ),
        (
            "unknown kind",
            "/mutate",
            with(&|v| v["request"]["object"]["kind"] = json!("Banana")),
            200,
        ),
        (
            "no object on CREATE",
            "/mutate",
            with(&|v| v["request"]["object"] = Value::Null),
            200,
        ),
    ];
    assert!(cases.len() >= 15);
    for (name, path, body, want) in cases {
        // A fresh connection each time: a 413 may close the connection it arrived on.
        let mut client = Client::connect(wh.admission, &pki.ca_pem, Proto::Http1)
            .await
            .unwrap();
        let (status, out) = client
            .post(path, body)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status, want, "{name}: {}", String::from_utf8_lossy(&out));
        let v: Value =
            serde_json::from_slice(&out).unwrap_or_else(|_| panic!("{name}: answer is not JSON"));
        if want != 200 {
            assert_eq!(v["code"], want, "{name}");
            assert!(
                v["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{name}: {v}"
            );
        } else {
            assert_eq!(v["response"]["allowed"], true, "{name}");
        }
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
        metrics.contains("mltrain_webhook_bad_requests_total 16"),
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
