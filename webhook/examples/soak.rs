//! Soak client: `--count` admissions over `--connections` keep-alive HTTP/1.1 connections, mixing
//! valid reviews (each with its own uid) and malformed bodies. Every valid request must be answered
//! 200 with its own uid, every malformed one with its 400; any 5xx, wrong answer or dropped
//! connection is counted and makes the exit code 1.
//!
//!   cargo run --release -p mltrain-webhook --example soak -- --addr 127.0.0.1:8443 --ca ca.crt \
//!     --pod pod-review.json --job job-review.json --count 1000000 --connections 16

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

#[derive(Default)]
struct Counts {
    valid_ok: AtomicU64,
    malformed_ok: AtomicU64,
    wrong: AtomicU64,
    server_errors: AtomicU64,
    dropped: AtomicU64,
}

fn flag(args: &[String], name: &str) -> String {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| w[1].clone())
        .unwrap_or_else(|| panic!("{name} is required"))
}

fn connector(ca: &str) -> TlsConnector {
    let config = mltrain_webhook::tls::client_config(ca, &[b"http/1.1"]).expect("CA certificate");
    TlsConnector::from(Arc::new(config))
}

/// The i-th request: (path, body, expected status, expected uid).
fn request(i: u64, pod: &Value, job: &Value) -> (&'static str, Bytes, u16, Option<String>) {
    match i % 10 {
        0 => (
            "/mutate",
            Bytes::from_static(b"{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": "),
            400,
            None,
        ),
        1 => (
            "/validate",
            Bytes::from_static(
                b"{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\"}",
            ),
            400,
            None,
        ),
        2..=4 => {
            let uid = format!("job-{i}");
            let mut r = job.clone();
            r["request"]["uid"] = Value::from(uid.clone());
            (
                "/validate",
                Bytes::from(serde_json::to_vec(&r).unwrap()),
                200,
                Some(uid),
            )
        }
        _ => {
            let uid = format!("pod-{i}");
            let mut r = pod.clone();
            r["request"]["uid"] = Value::from(uid.clone());
            (
                "/mutate",
                Bytes::from(serde_json::to_vec(&r).unwrap()),
                200,
                Some(uid),
            )
        }
    }
}

async fn connection(
    addr: SocketAddr,
    tls: TlsConnector,
    pod: Arc<Value>,
    job: Arc<Value>,
    next: Arc<AtomicU64>,
    count: u64,
    c: Arc<Counts>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
    tokio::spawn(conn);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count {
            return;
        }
        let (path, body, want, uid) = request(i, &pod, &job);
        let req = hyper::Request::post(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(body))
            .unwrap();
        let answer = async {
            send.ready().await?;
            let resp = send.send_request(req).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        }
        .await;
        match answer {
            Err(_) => {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok((status, _)) if status >= 500 => {
                c.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, body)) if status == want => {
                let ok = match &uid {
                    Some(uid) => serde_json::from_slice::<Value>(&body)
                        .is_ok_and(|v| v["response"]["uid"] == uid.as_str()),
                    None => serde_json::from_slice::<Value>(&body).is_ok_and(|v| v["code"] == want),
                };
                let counter = if !ok {
                    &c.wrong
                } else if uid.is_some() {
                    &c.valid_ok
                } else {
                    &c.malformed_ok
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                c.wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = flag(&args, "--addr").parse().expect("--addr HOST:PORT");
    let ca = std::fs::read_to_string(flag(&args, "--ca")).expect("--ca file");
    let pod: Value =
        serde_json::from_str(&std::fs::read_to_string(flag(&args, "--pod")).expect("--pod"))
            .expect("pod review JSON");
    let job: Value =
        serde_json::from_str(&std::fs::read_to_string(flag(&args, "--job")).expect("--job"))
            .expect("job review JSON");
    let count: u64 = flag(&args, "--count").parse().expect("--count N");
    let conns: u64 = flag(&args, "--connections")
        .parse()
        .expect("--connections N");
    let (pod, job, next, counts) = (
        Arc::new(pod),
        Arc::new(job),
        Arc::new(AtomicU64::new(0)),
        Arc::new(Counts::default()),
    );
    let tls = connector(&ca);
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            tokio::spawn(connection(
                addr,
                tls.clone(),
                pod.clone(),
                job.clone(),
                next.clone(),
                count,
                counts.clone(),
            ))
        })
        .collect();
    for t in tasks {
        t.await.expect("connection task");
    }
    let secs = started.elapsed().as_secs_f64();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let bad = get(&counts.wrong) + get(&counts.server_errors) + get(&counts.dropped);
    println!(
        "{{\"requests\":{count},\"seconds\":{secs:.1},\"rps\":{:.0},\"valid_ok\":{},\"malformed_ok\":{},\"wrong\":{},\"server_errors\":{},\"dropped\":{}}}",
        count as f64 / secs,
        get(&counts.valid_ok),
        get(&counts.malformed_ok),
        get(&counts.wrong),
        get(&counts.server_errors),
        get(&counts.dropped)
    );
    if bad == 0 && get(&counts.valid_ok) + get(&counts.malformed_ok) == count {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    }
}
