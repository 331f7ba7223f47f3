//! Cluster DNS as hosts-file lines, per the Kubernetes DNS specification
//! (kubernetes/dns `docs/specification.md`, "2.4 Records for a Headless Service"): a headless Service
//! `<svc>` has A records `<svc>.<ns>.svc.cluster.local` for the pods it selects (not-ready ones too when
//! `publishNotReadyAddresses`), and `<hostname>.<svc>.<ns>.svc.cluster.local` for each selected pod whose
//! `spec.subdomain` is the Service's name (the EndpointSlice controller sets the endpoint hostname only
//! then: `pkg/controller/endpointslice`, `podToEndpoint`). Each name is also written in the short forms
//! the pod's search path (`<ns>.svc.cluster.local svc.cluster.local cluster.local`) would expand, since
//! hosts files are matched as written. Services with a cluster IP are reported: kube-proxy is not
//! modelled.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::store::{self, Store};

fn selects(svc: &Value, pod: &Value) -> bool {
    let Some(sel) = svc["spec"]["selector"].as_object() else {
        return false;
    };
    !sel.is_empty()
        && sel
            .iter()
            .all(|(k, v)| pod["metadata"]["labels"][k.as_str()] == *v)
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn push(out: &mut String, ip: &str, rel: &str, ns: &str) {
    let _ = writeln!(
        out,
        "{ip}\t{rel}.{ns}.svc.cluster.local\t{rel}.{ns}.svc\t{rel}.{ns}\t{rel}"
    );
}

/// Every record, given the IPs of the pods that have one.
pub fn records(store: &Store, ips: &BTreeMap<String, String>, ns: &str) -> String {
    let mut out = String::new();
    for svc in store.list("Service") {
        let name = store::name(svc);
        if svc["spec"]["clusterIP"] != "None" {
            let _ = writeln!(out, "# Service {name} has a cluster IP: not modelled");
            continue;
        }
        let not_ready = svc["spec"]["publishNotReadyAddresses"] == true;
        for pod in store.list("Pod") {
            let Some(ip) = ips.get(store::name(pod)) else {
                continue;
            };
            // Terminal pods leave the EndpointSlice (`endpointslice` `ShouldPodBeInEndpoints`).
            let terminal = matches!(
                pod["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            );
            if terminal
                || pod["status"]["podIP"].is_null()
                || !selects(svc, pod)
                || !(not_ready || ready(pod))
            {
                continue;
            }
            push(&mut out, ip, name, ns);
            if pod["spec"]["subdomain"] == name
                && let Some(h) = pod["spec"]["hostname"].as_str()
            {
                push(&mut out, ip, &format!("{h}.{name}"), ns);
            }
        }
    }
    out
}

/// Services with a cluster IP, which the harness cannot serve.
pub fn unsupported(store: &Store) -> Vec<String> {
    store
        .list("Service")
        .into_iter()
        .filter(|s| s["spec"]["clusterIP"] != "None")
        .map(|s| {
            format!(
                "Service {} has a cluster IP: kube-proxy is not modelled",
                store::name(s)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headless_service_records_follow_the_dns_spec() {
        let mut store = Store::default();
        store
            .create(json!({"kind": "Service", "metadata": {"name": "svc"},
                "spec": {"clusterIP": "None", "selector": {"app": "a"}, "publishNotReadyAddresses": true}}), "ns")
            .unwrap();
        for (name, phase, sub) in [
            ("p0", "Running", "svc"),
            ("p1", "Succeeded", "svc"),
            ("p2", "Running", "other"),
        ] {
            store
                .create(
                    json!({"kind": "Pod", "metadata": {"name": name, "labels": {"app": "a"}},
                    "spec": {"hostname": name, "subdomain": sub},
                    "status": {"phase": phase, "podIP": "10.0.0.1"}}),
                    "ns",
                )
                .unwrap();
        }
        let ips: BTreeMap<String, String> =
            [("p0", "10.0.0.1"), ("p1", "10.0.0.2"), ("p2", "10.0.0.3")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .into();
        let text = records(&store, &ips, "ns");
        assert!(
            text.contains(
                "10.0.0.1\tp0.svc.ns.svc.cluster.local\tp0.svc.ns.svc\tp0.svc.ns\tp0.svc\n"
            )
        );
        assert!(text.contains("10.0.0.1\tsvc.ns.svc.cluster.local"));
        // A finished pod leaves the EndpointSlice; another subdomain gets no host record here.
        assert!(!text.contains("10.0.0.2"));
        assert!(!text.contains("p2.svc"));
        assert!(text.contains("10.0.0.3\tsvc.ns.svc.cluster.local"));
    }
}
