//! A fixed-rate (open-loop) HTTPS load generator for the webhook benchmarks.
//!
//! Each of `--connections` keep-alive HTTP/1.1 connections sends on a fixed schedule. When a request is
//! due while the connection still waits for the previous answer, its latency counts from when it was
//! *scheduled*, so a slow server cannot hide its queueing delay (no coordinated omission); when the
//! connection was idle, it counts from the actual send, so the client's timer slack (tokio's timer has
//! millisecond resolution) is not blamed on the server. With `--rate 0` it sends as fast as it can. Debian's `hey` cannot be used
//! against rustls (its old Go sends the port inside SNI), and wrk has no fixed-rate mode.
//!
//!   cargo run --release -p mltrain-webhook --example loadgen -- \
//!     --addr 127.0.0.1:8443 --path /mutate --body review.json --ca tls.crt --rate 5000 --seconds 10

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

struct Args {
    addr: SocketAddr,
    path: String,
    body: Bytes,
    ca: String,
    rate: u64,
    connections: u64,
    seconds: u64,
}

fn args() -> Args {
    let mut a = std::env::args().skip(1);
    let mut out = Args {
        addr: "127.0.0.1:8443".parse().unwrap(),
        path: "/mutate".into(),
        body: Bytes::new(),
        ca: String::new(),
        rate: 0,
        connections: 16,
        seconds: 10,
    };
    while let Some(flag) = a.next() {
        let v = a.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => out.addr = v.parse().expect("--addr HOST:PORT"),
            "--path" => out.path = v,
            "--body" => out.body = Bytes::from(std::fs::read(&v).expect("--body file")),
            "--ca" => out.ca = std::fs::read_to_string(&v).expect("--ca file"),
            "--rate" => out.rate = v.parse().expect("--rate N"),
            "--connections" => out.connections = v.parse().expect("--connections N"),
            "--seconds" => out.seconds = v.parse().expect("--seconds N"),
            other => panic!("unknown flag {other}"),
        }
    }
    out
}

fn connector(ca: &str) -> TlsConnector {
    let config = mltrain_webhook::tls::client_config(ca, &[b"http/1.1"]).expect("CA certificate");
    TlsConnector::from(Arc::new(config))
}

/// One connection: (latencies in µs, non-200 answers, transport errors).
async fn run_connection(
    a: Arc<Args>,
    tls: TlsConnector,
    start: Instant,
    interval: Option<Duration>,
    end: Instant,
) -> (Vec<u32>, u64, u64) {
    let tcp = tokio::net::TcpStream::connect(a.addr)
        .await
        .expect("connect");
    tcp.set_nodelay(true).ok();
    let stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
    tokio::spawn(conn);
    let (mut lat, mut bad, mut errors) = (Vec::new(), 0, 0);
    let mut k: u32 = 0;
    let mut prev_done = start;
    loop {
        let scheduled = match interval {
            Some(iv) => start + iv * k,
            None => Instant::now(),
        };
        if scheduled >= end {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        k += 1;
        let sent = Instant::now();
        let from = if prev_done > scheduled {
            scheduled
        } else {
            sent
        };
        let req = hyper::Request::post(a.path.as_str())
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(a.body.clone()))
            .unwrap();
        if send.ready().await.is_err() {
            errors += 1;
            break;
        }
        match send.send_request(req).await {
            Ok(resp) => {
                let ok = resp.status() == 200;
                let body = resp.into_body().collect().await;
                if body.is_err() {
                    errors += 1;
                } else if !ok {
                    bad += 1;
                }
                prev_done = Instant::now();
                lat.push((prev_done - from).as_micros().min(u32::MAX as u128) as u32);
            }
            Err(_) => errors += 1,
        }
    }
    (lat, bad, errors)
}

#[tokio::main]
async fn main() {
    let a = Arc::new(args());
    let tls = connector(&a.ca);
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs(a.seconds);
    let interval =
        (a.rate > 0).then(|| Duration::from_nanos(1_000_000_000 * a.connections / a.rate));
    let tasks: Vec<_> = (0..a.connections)
        .map(|i| {
            // Spread the connections' schedules over one interval.
            let offset = interval.map_or(Duration::ZERO, |iv| iv * i as u32 / a.connections as u32);
            tokio::spawn(run_connection(
                a.clone(),
                tls.clone(),
                start + offset,
                interval,
                end,
            ))
        })
        .collect();
    let (mut all, mut bad, mut errors) = (Vec::new(), 0, 0);
    for t in tasks {
        let (l, b, e) = t.await.expect("connection task");
        all.extend(l);
        bad += b;
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "{{\"requests\":{},\"rps\":{:.0},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},\"non_200\":{bad},\"errors\":{errors}}}",
        all.len(),
        all.len() as f64 / a.seconds as f64,
        pct(0.50),
        pct(0.99),
        pct(0.999),
        all.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
}
