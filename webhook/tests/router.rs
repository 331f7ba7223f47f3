//! The admission router in-process (`tower`'s `oneshot`, no sockets, no TLS): the least powerful test
//! that shows each HTTP outcome: 400 for what is not a v1 AdmissionReview, 413 for a body over the
//! limit, and 200 answers that allow, patch or deny with the engine's words. The real server over real
//! TLS is `admission_tls.rs` (HTTP/1.1 and HTTP/2) and `lifecycle.rs` (reloads, timeouts, shutdown).

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use common::{apply_patch, response, review};
use mltrain_shared::{Engine, Policy};
use mltrain_webhook::handlers;
use mltrain_webhook::state::State;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Small enough that the 413 case needs no megabytes.
const MAX_BODY: usize = 64 * 1024;

fn state() -> Arc<State> {
    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policy.yaml");
    State::new(
        Engine::new(Policy::load(&policy).unwrap()),
        None,
        MAX_BODY,
        Duration::from_secs(5),
    )
}

/// POST `body` to `path` of the admission router: (status, body as JSON).
async fn post(state: &Arc<State>, path: &str, body: Vec<u8>) -> (u16, Value) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let answer = handlers::router(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

#[tokio::test]
async fn a_gpu_pod_is_patched_by_mutate_and_allowed_by_validate() {
    let st = state();
    let object = pod(
        json!({"containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}),
    );
    let body = serde_json::to_vec(&review("u-patch", "CREATE", &object, None)).unwrap();
    let (status, out) = post(&st, "/mutate", body.clone()).await;
    assert_eq!(status, 200);
    let resp = response(&serde_json::to_vec(&out).unwrap());
    assert_eq!(
        (&resp["uid"], &resp["allowed"]),
        (&json!("u-patch"), &json!(true))
    );
    let patched = apply_patch(&object, &resp);
    assert_ne!(patched, object, "defaults were added: {resp}");
    let (status, out) = post(&st, "/validate", body).await;
    assert_eq!(status, 200);
    assert_eq!(out["response"], json!({"uid": "u-patch", "allowed": true}));
    // Sent again, the mutated object needs nothing more: allowed with no patch.
    let again = serde_json::to_vec(&review("u-again", "CREATE", &patched, None)).unwrap();
    let (_, out) = post(&st, "/mutate", again).await;
    assert_eq!(out["response"], json!({"uid": "u-again", "allowed": true}));
}

#[tokio::test]
async fn what_the_engine_does_not_handle_is_allowed_unchanged() {
    let st = state();
    let service =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}});
    let delete = review("u-delete", "DELETE", &pod(json!({"containers": []})), None);
    let mut subresource = review("u-status", "UPDATE", &pod(json!({"containers": []})), None);
    subresource["request"]["subResource"] = json!("status");
    for (name, rev) in [
        ("a Service", review("u-svc", "CREATE", &service, None)),
        ("a DELETE", delete),
        ("a status update", subresource),
    ] {
        let uid = rev["request"]["uid"].clone();
        for path in ["/mutate", "/validate"] {
            let (status, out) = post(&st, path, serde_json::to_vec(&rev).unwrap()).await;
            assert_eq!(status, 200, "{name} {path}");
            assert_eq!(
                out["response"],
                json!({"uid": uid, "allowed": true}),
                "{name} {path}"
            );
        }
    }
}

#[tokio::test]
async fn every_rejection_is_a_403_with_the_engines_words() {
    let st = state();
    let cases = mltrain_tests::yaml_docs(include_str!("data/rejections.yaml"));
    let cases = cases[0].as_array().unwrap().clone();
    assert!(cases.len() >= 14);
    for (i, case) in cases.iter().enumerate() {
        let uid = format!("reject-{i}");
        let body = serde_json::to_vec(&review(&uid, "CREATE", &case["object"], None)).unwrap();
        let (status, out) = post(&st, "/validate", body.clone()).await;
        assert_eq!(status, 200);
        let resp = &out["response"];
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
        let (_, out) = post(&st, "/mutate", body).await;
        assert_eq!(out["response"]["allowed"], true);
    }
}

#[tokio::test]
async fn bodies_that_are_not_a_v1_review_get_400_and_too_large_ones_413() {
    let st = state();
    let valid = review(
        "ok-1",
        "CREATE",
        &pod(json!({"containers": [{"name": "c", "image": "x"}]})),
        None,
    );
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = valid.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let deep = "[".repeat(10_000).into_bytes();
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
                v.as_object_mut().unwrap().remove("request");
            }),
            400,
        ),
        (
            "no uid",
            "/mutate",
            with(&|v| {
                v["request"].as_object_mut().unwrap().remove("uid");
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
        ("nested too deep", "/mutate", deep, 400),
        (
            "over the size limit",
            "/mutate",
            vec![b' '; MAX_BODY + 1],
            413,
        ),
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
    let refused = cases.iter().filter(|c| c.3 != 200).count();
    for (name, path, body, want) in cases {
        let (status, out) = post(&st, path, body).await;
        assert_eq!(status, want, "{name}: {out}");
        if want == 200 {
            assert_eq!(out["response"]["allowed"], true, "{name}");
        } else {
            assert_eq!(out["code"], want, "{name}");
            assert!(
                out["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{name}: {out}"
            );
        }
    }
    assert!(
        st.metrics
            .render()
            .contains(&format!("mltrain_webhook_bad_requests_total {refused}\n")),
        "every refused body is counted once"
    );
}

#[tokio::test]
async fn answers_are_counted_by_outcome() {
    let st = state();
    let gpu = pod(
        json!({"containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}),
    );
    for i in 0..3 {
        let body = serde_json::to_vec(&review(&format!("m{i}"), "CREATE", &gpu, None)).unwrap();
        post(&st, "/mutate", body).await;
    }
    let m = st.metrics.render();
    assert!(m.contains("mltrain_webhook_admission_requests_total{endpoint=\"mutate\",kind=\"Pod\",operation=\"CREATE\",result=\"patched\"} 3"), "{m}");
}
