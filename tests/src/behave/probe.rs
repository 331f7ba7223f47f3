//! The kubelet's readiness prober for `tcpSocket` probes, as `pkg/kubelet/prober/worker.go` runs
//! them: a worker per container ticks every `periodSeconds` from the pod's start (its first tick at
//! once), skips ticks before the container has run `initialDelaySeconds`, and changes the result
//! only after `successThreshold` (default 1) successes or `failureThreshold` (default 3) failures in
//! a row; a readiness result starts as Failure and goes back to it for every new container (a
//! restart) and whenever the container is not running. The probe itself is `pkg/probe/tcp/tcp.go`
//! `DoTCPProbe`: a TCP connection to `host` (default the pod's IP) and `port` (a number or a name of
//! the container's ports) opened within `timeoutSeconds` (default 1) is Success.
//!
//! The kubelet dials from the node's network namespace; here the connection is opened from the
//! pod's own (`ip netns exec`), the only place the pod network is reachable from, by a short-lived
//! process so the node's loop never blocks on it. `exec`, `httpGet` and `grpc` readiness probes and
//! every liveness and startup probe are refused (see [`check`]): a pod using them fails loudly.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Why a container's probes cannot be modelled, if they cannot.
pub fn check(container: &Value) -> Result<(), String> {
    let name = container["name"].as_str().unwrap_or("");
    for key in ["livenessProbe", "startupProbe"] {
        if !container[key].is_null() {
            return Err(format!(
                "container {name}: {key} is not modelled by the harness"
            ));
        }
    }
    let p = &container["readinessProbe"];
    if p.is_null() {
        return Ok(());
    }
    for handler in ["exec", "httpGet", "grpc"] {
        if !p[handler].is_null() {
            return Err(format!(
                "container {name}: readinessProbe.{handler} is not modelled by the harness (tcpSocket is)"
            ));
        }
    }
    if !p["tcpSocket"].is_object() {
        return Err(format!(
            "container {name}: readinessProbe without a handler"
        ));
    }
    port(container).map(|_| ())
}

/// The probe's port: a number, or the name of one of the container's ports.
fn port(container: &Value) -> Result<u64, String> {
    let name = container["name"].as_str().unwrap_or("");
    match &container["readinessProbe"]["tcpSocket"]["port"] {
        Value::Number(n) => n
            .as_u64()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| format!("container {name}: readinessProbe port {n} is out of range")),
        Value::String(s) => container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == s.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .ok_or_else(|| {
                format!(
                    "container {name}: readinessProbe port {s:?} names no port of the container"
                )
            }),
        other => Err(format!(
            "container {name}: readinessProbe port {other} is neither a number nor a port name"
        )),
    }
}

fn seconds(probe: &Value, key: &str, default: u64) -> u64 {
    probe[key].as_u64().unwrap_or(default)
}

/// One container's readiness worker.
pub struct Readiness {
    host: String,
    port: u64,
    initial_delay: Duration,
    period: Duration,
    timeout: Duration,
    success_threshold: u32,
    failure_threshold: u32,
    /// The worker's start: ticks fall at `start + k * period`.
    start: Instant,
    next_tick: u64,
    container_started: Instant,
    inflight: Option<(Child, Instant)>,
    last: Option<bool>,
    run: u32,
    /// The published result.
    pub ready: bool,
}

impl Readiness {
    /// The worker for a container's `readinessProbe`, if it has one ([`check`] has accepted it),
    /// started with its pod at `pod_started`.
    pub fn of(
        container: &Value,
        pod_ip: &str,
        pod_started: Instant,
    ) -> Result<Option<Self>, String> {
        let p = &container["readinessProbe"];
        if p.is_null() {
            return Ok(None);
        }
        check(container)?;
        Ok(Some(Self {
            host: p["tcpSocket"]["host"]
                .as_str()
                .unwrap_or(pod_ip)
                .to_string(),
            port: port(container)?,
            initial_delay: Duration::from_secs(seconds(p, "initialDelaySeconds", 0)),
            period: Duration::from_secs(seconds(p, "periodSeconds", 10).max(1)),
            timeout: Duration::from_secs(seconds(p, "timeoutSeconds", 1).max(1)),
            success_threshold: seconds(p, "successThreshold", 1).max(1) as u32,
            failure_threshold: seconds(p, "failureThreshold", 3).max(1) as u32,
            start: pod_started,
            next_tick: 0,
            container_started: Instant::now(),
            inflight: None,
            last: None,
            run: 0,
            ready: false,
        }))
    }

    /// A new container replaced the old one: its readiness starts again as Failure.
    pub fn restarted(&mut self) {
        self.stop();
        self.container_started = Instant::now();
        self.ready = false;
    }

    /// One pass of the node's loop: collect a finished probe, start one when a tick is due.
    pub fn tick(&mut self, netns: &str, running: bool) -> Result<(), String> {
        if !running {
            self.stop();
            self.ready = false;
            return Ok(());
        }
        if let Some(result) = self.collect() {
            self.record(result);
        }
        let due = self.start + self.period * self.next_tick as u32;
        if Instant::now() < due {
            return Ok(());
        }
        self.next_tick += 1;
        // `int32(time.Since(StartedAt).Seconds()) < InitialDelaySeconds`: whole seconds.
        let ran = Duration::from_secs(self.container_started.elapsed().as_secs());
        if ran < self.initial_delay || self.inflight.is_some() {
            return Ok(());
        }
        let child = Command::new("ip")
            .args(["netns", "exec", netns, "bash", "-c"])
            .arg(r#"exec 3<>"/dev/tcp/$0/$1""#)
            .arg(&self.host)
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start a readiness probe: {e}"))?;
        self.inflight = Some((child, Instant::now()));
        Ok(())
    }

    /// The result of the probe in flight, once it has one: connected, refused, or out of time.
    fn collect(&mut self) -> Option<bool> {
        let (child, since) = self.inflight.as_mut()?;
        let result = match child.try_wait() {
            Ok(Some(status)) => status.success(),
            Ok(None) if since.elapsed() < self.timeout => return None,
            _ => false,
        };
        self.stop();
        Some(result)
    }

    fn record(&mut self, success: bool) {
        if self.last == Some(success) {
            self.run += 1;
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success {
            self.success_threshold
        } else {
            self.failure_threshold
        };
        if self.run >= threshold {
            self.ready = success;
        }
    }

    fn stop(&mut self) {
        if let Some((mut child, _)) = self.inflight.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_tcp_readiness_probes_are_accepted() {
        let c = |probe: Value| json!({"name": "node", "ports": [{"name": "ssh", "containerPort": 2222}], "readinessProbe": probe});
        assert!(check(&c(json!({"tcpSocket": {"port": 2222}}))).is_ok());
        assert_eq!(port(&c(json!({"tcpSocket": {"port": "ssh"}}))), Ok(2222));
        for (probe, err) in [
            (
                json!({"exec": {"command": ["true"]}}),
                "readinessProbe.exec",
            ),
            (json!({"httpGet": {"port": 80}}), "readinessProbe.httpGet"),
            (json!({"tcpSocket": {"port": "http"}}), "names no port"),
            (json!({"tcpSocket": {"port": 0}}), "out of range"),
        ] {
            let e = check(&c(probe)).unwrap_err();
            assert!(e.contains(err), "{e}");
        }
        let live = json!({"name": "node", "livenessProbe": {"tcpSocket": {"port": 1}}});
        assert!(check(&live).unwrap_err().contains("livenessProbe"));
    }

    #[test]
    fn results_change_only_past_their_threshold() {
        let c = json!({"name": "n", "readinessProbe": {"tcpSocket": {"port": 1}, "successThreshold": 2}});
        let mut r = Readiness::of(&c, "10.0.0.1", Instant::now())
            .unwrap()
            .unwrap();
        r.record(true);
        assert!(!r.ready);
        r.record(true);
        assert!(r.ready);
        r.record(false);
        r.record(false);
        assert!(r.ready);
        r.record(false);
        assert!(!r.ready);
        r.record(true);
        r.restarted();
        assert!(!r.ready);
    }
}
