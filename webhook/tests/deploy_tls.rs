//! deploy/tls/self-signed.sh, run here: the certificate it makes is served by the real webhook binary,
//! and a client that trusts only the generated CA verifies it under the in-cluster service name, as
//! kube-apiserver does with the caBundle.

mod common;

use common::{Client, Proto, Webhook, response, review};
use serde_json::json;

#[tokio::test]
async fn the_script_certificate_is_served_and_verified_with_its_ca() {
    let dir = mltrain_tests::scratch_dir("selfsigned-tls");
    let script = mltrain_tests::workspace_dir().join("deploy/tls/self-signed.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .args(["--dry-run", "--out-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wh = Webhook::start(&dir, &[]);
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    for name in [
        "mltrain-webhook.mltrain-system.svc",
        "mltrain-webhook.mltrain-system.svc.cluster.local",
    ] {
        for proto in [Proto::Http1, Proto::Http2] {
            let mut c = Client::connect_as(wh.admission, &ca, proto, name)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
            let (status, body) = c
                .post(
                    "/mutate",
                    serde_json::to_vec(&review("tls-1", "CREATE", &pod, None)).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(status, 200);
            assert_eq!(response(&body)["uid"], "tls-1");
        }
    }
    // A name the certificate does not carry is refused, and so is a client trusting another CA.
    assert!(
        Client::connect_as(wh.admission, &ca, Proto::Http1, "other.example.com")
            .await
            .is_err()
    );
    let other = common::Pki::new("another CA");
    assert!(
        Client::connect_as(
            wh.admission,
            &other.ca_pem,
            Proto::Http1,
            "mltrain-webhook.mltrain-system.svc"
        )
        .await
        .is_err()
    );
}
