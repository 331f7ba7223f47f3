//! The webhook's life: certificate rotation while requests flow (Kubernetes' symlink swap of a mounted
//! Secret), policy reload with a broken file kept out, stalled clients timed out, and SIGTERM while
//! requests are in flight: readiness goes 503, in-flight requests are answered, nothing is lost.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Client, Pki, Proto, Webhook, response, review, tls_connector};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

/// Publish files the way the kubelet updates a mounted Secret or ConfigMap: a new timestamped
/// directory, then an atomic rename of the `..data` symlink.
fn publish(dir: &Path, version: u32, files: &[(&str, &str)]) {
    let v = dir.join(format!("..v{version}"));
    std::fs::create_dir_all(&v).unwrap();
    for (name, content) in files {
        std::fs::write(v.join(name), content).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..v{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

fn pod(gpus: u32) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": gpus.to_string()}}}]}})
}

#[tokio::test]
async fn certificate_rotation_while_requests_flow() {
    let dir = mltrain_tests::scratch_dir("rotate");
    let old = Pki::new("old CA");
    publish(
        &dir,
        1,
        &[("tls.crt", &old.cert_pem), ("tls.key", &old.key_pem)],
    );
    let wh = Webhook::start(&dir, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // A kube-apiserver-like client on one keep-alive connection, sending all the time.
    let flow = {
        let (stop, ok, failed, ca, addr) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            old.ca_pem.clone(),
            wh.admission,
        );
        tokio::spawn(async move {
            let mut c = Client::connect(addr, &ca, Proto::Http1).await.unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let uid = format!("flow-{i}");
                match c
                    .post(
                        "/mutate",
                        serde_json::to_vec(&review(&uid, "CREATE", &pod(1), None)).unwrap(),
                    )
                    .await
                {
                    Ok((200, body)) if response(&body)["uid"] == uid => {
                        ok.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let new = Pki::new("new CA");
    publish(
        &dir,
        2,
        &[("tls.crt", &new.cert_pem), ("tls.key", &new.key_pem)],
    );
    // New connections get the new certificate once the poll sees it.
    let mut rotated = false;
    for _ in 0..100 {
        if Client::connect(wh.admission, &new.ca_pem, Proto::Http1)
            .await
            .is_ok()
        {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rotated, "the new certificate was never served");
    assert!(
        Client::connect(wh.admission, &old.ca_pem, Proto::Http1)
            .await
            .is_err(),
        "old certificate still served"
    );
    stop.store(true, Ordering::Relaxed);
    flow.await.unwrap();
    assert!(ok.load(Ordering::Relaxed) > 10);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during rotation"
    );
    // A broken certificate is refused and the current one kept.
    publish(
        &dir,
        3,
        &[("tls.crt", "not a certificate"), ("tls.key", &new.key_pem)],
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        Client::connect(wh.admission, &new.ca_pem, Proto::Http1)
            .await
            .is_ok()
    );
    let (_, m) = wh.probe("/metrics").await;
    assert!(
        m.contains("mltrain_webhook_reloads_total{what=\"certificate\",result=\"success\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("mltrain_webhook_reloads_total{what=\"certificate\",result=\"failure\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn policy_reload_and_a_broken_policy_is_kept_out() {
    let dir = mltrain_tests::scratch_dir("policy");
    let pki = Pki::new("ca");
    pki.write(&dir);
    let pdir = dir.join("policy");
    std::fs::create_dir_all(&pdir).unwrap();
    publish(
        &pdir,
        1,
        &[("policy.yaml", "resources: {maxGpusPerPod: 8}\n")],
    );
    let policy = pdir.join("policy.yaml");
    let wh = Webhook::start(&dir, &["--policy-file", policy.to_str().unwrap()]);
    let mut c = Client::connect(wh.admission, &pki.ca_pem, Proto::Http1)
        .await
        .unwrap();
    let allowed = |body: Vec<u8>| response(&body)["allowed"].as_bool().unwrap();
    let send = |uid: &str| serde_json::to_vec(&review(uid, "CREATE", &pod(4), None)).unwrap();
    assert!(allowed(c.post("/validate", send("a")).await.unwrap().1));
    publish(
        &pdir,
        2,
        &[("policy.yaml", "resources: {maxGpusPerPod: 2}\n")],
    );
    let mut refused = false;
    for i in 0..100 {
        if !allowed(c.post("/validate", send(&format!("b{i}"))).await.unwrap().1) {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the new policy never took effect");
    publish(
        &pdir,
        3,
        &[(
            "policy.yaml",
            "resources: {maxGpusPerPod: 2}\nunknownKey: 1\n",
        )],
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        !allowed(c.post("/validate", send("c")).await.unwrap().1),
        "the broken policy replaced the good one"
    );
    let (_, m) = wh.probe("/metrics").await;
    assert!(
        m.contains("mltrain_webhook_reloads_total{what=\"policy\",result=\"failure\"} 1"),
        "{m}"
    );
    let log: Vec<String> = wh.log.try_iter().collect();
    assert!(
        log.iter().any(
            |l| l.contains("new policy does not load; keeping the old one")
                && l.contains("unknownKey")
        ),
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_stalled_client_gets_408() {
    let dir = mltrain_tests::scratch_dir("slow");
    let pki = Pki::new("ca");
    pki.write(&dir);
    let wh = Webhook::start(&dir, &["--request-timeout", "1"]);
    let tcp = tokio::net::TcpStream::connect(wh.admission).await.unwrap();
    let mut tls = tls_connector(&pki.ca_pem, &[b"http/1.1"])
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"apiVersion\":")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("the body did not arrive in time"));
}

/// Write a request's head and half its body, and return the stream and the rest.
async fn half_sent(
    wh: &Webhook,
    ca: &str,
    uid: &str,
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Vec<u8>,
) {
    let body = serde_json::to_vec(&review(uid, "CREATE", &pod(8), None)).unwrap();
    let tcp = tokio::net::TcpStream::connect(wh.admission).await.unwrap();
    let mut tls = tls_connector(ca, &[b"http/1.1"])
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let head = format!(
        "POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let half = body.len() / 2;
    tls.write_all(&body[..half]).await.unwrap();
    tls.flush().await.unwrap();
    (tls, body[half..].to_vec())
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_loses_none() {
    let dir = mltrain_tests::scratch_dir("term");
    let pki = Pki::new("ca");
    pki.write(&dir);
    let mut wh = Webhook::start(&dir, &[]);
    // Load: keep-alive clients sending as fast as they can until their connection closes.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for n in 0..4 {
        let (stop, answered, wrong, ca, addr) = (
            stop.clone(),
            answered.clone(),
            wrong.clone(),
            pki.ca_pem.clone(),
            wh.admission,
        );
        load.push(tokio::spawn(async move {
            let mut c = Client::connect(
                addr,
                &ca,
                if n % 2 == 0 {
                    Proto::Http1
                } else {
                    Proto::Http2
                },
            )
            .await
            .unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let uid = format!("load-{n}-{i}");
                match c
                    .post(
                        "/mutate",
                        serde_json::to_vec(&review(&uid, "CREATE", &pod(1), None)).unwrap(),
                    )
                    .await
                {
                    Ok((200, body)) if response(&body)["uid"] == uid => {
                        answered.fetch_add(1, Ordering::Relaxed)
                    }
                    // A response that is not a correct answer is a lost request.
                    Ok(_) => wrong.fetch_add(1, Ordering::Relaxed),
                    // The connection was closed by the shutdown: nothing was answered wrongly.
                    Err(_) => break,
                };
            }
        }));
    }
    // Requests in flight: head and half the body sent before SIGTERM.
    let mut in_flight = Vec::new();
    for i in 0..4 {
        in_flight.push((
            format!("inflight-{i}"),
            half_sent(&wh, &pki.ca_pem, &format!("inflight-{i}")).await,
        ));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    wh.terminate();
    let mut not_ready = false;
    for _ in 0..50 {
        if wh.probe("/readyz").await.0 == 503 {
            not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(not_ready, "readiness did not go 503 on SIGTERM");
    for (uid, (mut tls, rest)) in in_flight {
        tls.write_all(&rest).await.unwrap();
        tls.flush().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains(&uid) {
            let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(
                n > 0,
                "{uid}: connection closed before the answer: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
            "{uid}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert!(answered.load(Ordering::Relaxed) > 0);
    assert_eq!(wrong.load(Ordering::Relaxed), 0);
    let status = tokio::task::spawn_blocking(move || wh.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}
