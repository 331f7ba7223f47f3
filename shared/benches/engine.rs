//! Engine speed: one admission of the 8-GPU training pod kube-apiserver sends (with its managedFields),
//! the same pod with a 64-entry host list, a PyTorchJob, and an AppWrapper wrapping one, under the full policy. Run: `cargo bench -p mltrain-shared`.

use criterion::{Criterion, criterion_group, criterion_main};
use mltrain_shared::{Engine, Policy, Request, UserInfo};
use serde_json::Value;

fn docs() -> Vec<(String, Value)> {
    let pod: Value =
        serde_json::from_str(include_str!("../tests/data/objects/pod-8gpu.json")).unwrap();
    // The same pod carrying a 64-entry host ignore list (the policy's default maximum).
    let mut hosts = pod.clone();
    let list: Vec<String> = (0..64)
        .map(|i| format!("gpu-node-{i:03}.cluster.example.com"))
        .collect();
    hosts["metadata"]["annotations"]["mltrain.io/host-ignore-list"] = Value::from(list.join(","));
    let mut out = vec![
        ("pod-8gpu".to_string(), pod),
        ("pod-8gpu-64-hosts".to_string(), hosts),
    ];
    for doc in
        yaml_serde::Deserializer::from_str(include_str!("../tests/data/objects/workloads.yaml"))
    {
        let v: Value = serde::Deserialize::deserialize(doc).unwrap();
        let kind = v["kind"].as_str().unwrap().to_lowercase();
        if kind == "pytorchjob" || kind == "appwrapper" {
            out.push((kind, v));
        }
    }
    out
}

fn admit(c: &mut Criterion) {
    let engine =
        Engine::new(Policy::from_yaml(include_str!("../tests/data/policy-full.yaml")).unwrap());
    let user = UserInfo::default();
    for (name, obj) in docs() {
        c.bench_function(&format!("engine/create/{name}"), |b| {
            b.iter(|| {
                engine.admit(
                    &Request::create(std::hint::black_box(&obj))
                        .in_namespace("ml-team")
                        .with_user(Some(&user)),
                )
            })
        });
    }
}

criterion_group!(benches, admit);
criterion_main!(benches);
