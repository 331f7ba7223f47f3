//! Running the real `mltrain-webhook` binary for tests: certificates made with rcgen, the process
//! started on free ports, and a TLS client (tokio-rustls + hyper) that speaks HTTP/1.1 keep-alive, as
//! kube-apiserver does, or HTTP/2.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// A CA and a serving certificate for localhost and 127.0.0.1, chained (leaf + CA) in `tls.crt`.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub fn new(ca_name: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "mltrain-webhook.mltrain-system.svc");
        let cert = params.signed_by(&key, &issuer).unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            cert_pem: format!("{}{}", cert.pem(), ca_cert.pem()),
            key_pem: key.serialize_pem(),
        }
    }

    /// Write `tls.crt` and `tls.key` into `dir`.
    pub fn write(&self, dir: &Path) {
        std::fs::write(dir.join("tls.crt"), &self.cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), &self.key_pem).unwrap();
    }
}

/// A running webhook process.
pub struct Webhook {
    pub child: Child,
    pub admission: SocketAddr,
    pub probes: SocketAddr,
    pub dir: PathBuf,
    pub ready_after: Duration,
    pub log: std::sync::mpsc::Receiver<String>,
}

impl Webhook {
    /// Start with the certificate in `dir` and extra flags.
    // The child is killed and reaped in `Drop`, which the lint cannot see.
    #[allow(clippy::zombie_processes)]
    pub fn start(dir: &Path, extra: &[&str]) -> Webhook {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mltrain-webhook"))
            .args(["--tls-cert-file", dir.join("tls.crt").to_str().unwrap()])
            .args(["--tls-key-file", dir.join("tls.key").to_str().unwrap()])
            .args([
                "--listen",
                "127.0.0.1:0",
                "--probe-listen",
                "127.0.0.1:0",
                "--no-cluster",
                "--reload-interval",
                "1",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mltrain-webhook");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("the webhook did not become ready");
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["message"] == "ready" {
                return Webhook {
                    child,
                    admission: v["admission"].as_str().unwrap().parse().unwrap(),
                    probes: v["probes"].as_str().unwrap().parse().unwrap(),
                    dir: dir.to_path_buf(),
                    ready_after: started.elapsed(),
                    log: rx,
                };
            }
        }
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Plain-HTTP GET on the probe port: (status, body).
    pub async fn probe(&self, path: &str) -> (u16, String) {
        let stream = TcpStream::connect(self.probes).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HTTP version for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    Http2,
}

/// One keep-alive TLS connection.
pub enum Client {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

pub fn tls_connector(ca_pem: &str, alpn: &[&[u8]]) -> TlsConnector {
    TlsConnector::from(Arc::new(
        mltrain_webhook::tls::client_config(ca_pem, alpn).expect("CA certificate"),
    ))
}

impl Client {
    pub async fn connect(addr: SocketAddr, ca_pem: &str, proto: Proto) -> Result<Client, String> {
        Client::connect_as(addr, ca_pem, proto, "localhost").await
    }

    /// Connect, verifying the server's certificate for `server_name` (SNI and name check).
    pub async fn connect_as(
        addr: SocketAddr,
        ca_pem: &str,
        proto: Proto,
        server_name: &str,
    ) -> Result<Client, String> {
        let alpn: &[&[u8]] = match proto {
            Proto::Http1 => &[b"http/1.1"],
            Proto::Http2 => &[b"h2"],
        };
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let tls = tls_connector(ca_pem, alpn)
            .connect(
                ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?,
                tcp,
            )
            .await
            .map_err(|e| e.to_string())?;
        let io = hyper_util::rt::TokioIo::new(tls);
        Ok(match proto {
            Proto::Http1 => {
                let (send, conn) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                Client::H1(send)
            }
            Proto::Http2 => {
                let (send, conn) =
                    hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                        .await
                        .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                Client::H2(send)
            }
        })
    }

    /// POST a body; (status, response body).
    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let req = Request::post(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = match self {
            Client::H1(s) => {
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await
            }
            Client::H2(s) => {
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await
            }
        }
        .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body.to_vec()))
    }
}

/// Wrap an object in an AdmissionReview request as kube-apiserver sends it.
pub fn review(uid: &str, operation: &str, object: &Value, old: Option<&Value>) -> Value {
    let api = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": object["kind"]},
            "resource": {"group": group, "version": version, "resource": "x"},
            "name": object["metadata"]["name"],
            "namespace": "ml-team",
            "operation": operation,
            "userInfo": {"username": "alice@example.com", "groups": ["system:authenticated"]},
            "object": if operation == "DELETE" { Value::Null } else { object.clone() },
            "oldObject": old.cloned().unwrap_or(Value::Null),
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// The `response` of an AdmissionReview body.
pub fn response(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    v["response"].clone()
}

/// Apply the response's base64 JSON Patch (if any) to `object`.
pub fn apply_patch(object: &Value, response: &Value) -> Value {
    let mut out = object.clone();
    if let Some(p) = response["patch"].as_str() {
        assert_eq!(response["patchType"], "JSONPatch");
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        json_patch::patch(&mut out, &patch).expect("the patch applies under RFC 6902");
    }
    out
}
