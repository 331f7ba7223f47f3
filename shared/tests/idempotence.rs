//! Property: for random pods, in every workload kind, under several policies, the engine's patch applies
//! to its input and yields its output, and admitting the output again adds nothing (DESIGN §4: "applying
//! the engine to its own output changes nothing").

mod common;

use proptest::prelude::*;
use serde_json::{Value, json};

fn container() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![None, Some("1"), Some("8")]),
        prop::sample::select(vec![None, Some("8Gi"), Some("3G")]),
        prop::option::of(prop::sample::select(vec![
            json!({}),
            json!({"runAsUser": 0}),
            json!({"privileged": true}),
            json!({"capabilities": {"add": ["IPC_LOCK"]}, "seLinuxOptions": {}}),
            json!({"readOnlyRootFilesystem": false, "runAsUser": 5}),
        ])),
        prop::sample::select(vec![
            json!([]),
            json!([{"name": "NCCL_DEBUG", "value": "INFO"}]),
            json!([{"name": "WORLD_SIZE", "value": "4"}]),
        ]),
        any::<bool>(),
    )
        .prop_map(|(gpu, mem, sc, env, shm)| {
            let mut c = json!({"name": "c", "image": "x", "env": env});
            if let Some(g) = gpu {
                c["resources"]["limits"]["nvidia.com/gpu"] = json!(g);
            }
            if let Some(m) = mem {
                c["resources"]["limits"]["memory"] = json!(m);
            }
            if let Some(sc) = sc {
                c["securityContext"] = sc;
            }
            if shm {
                c["volumeMounts"] = json!([{"name": "dshm", "mountPath": "/dev/shm"}]);
            }
            c
        })
}

fn pod() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 1..4),
        prop::option::of(prop::sample::select(vec![
            "default-priority",
            "low-priority",
            "high-priority",
            "urgent",
        ])),
        prop::option::of(prop::sample::select(vec!["n1,n2", "gpu-node-7", ",bad,", "n1"])),
        prop::sample::select(vec![
            json!(null),
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["n3"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n4"]}]}]}}}),
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
        ]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut containers, prio, hosts, affinity, labelled, opt_out)| {
            for (i, c) in containers.iter_mut().enumerate() {
                c["name"] = json!(format!("c{i}"));
            }
            let mut p = json!({"metadata": {"labels": {}, "annotations": {}}, "spec": {"containers": containers}});
            if let Some(prio) = prio {
                p["spec"]["priorityClassName"] = json!(prio);
            }
            if let Some(h) = hosts {
                p["metadata"]["annotations"]["mltrain.io/host-ignore-list"] = json!(h);
            }
            if opt_out {
                p["metadata"]["annotations"]["mltrain.io/shared-memory"] = json!("false");
            }
            if labelled {
                p["metadata"]["labels"]["mltrain.io/job-name"] = json!("j");
                p["metadata"]["labels"]["mltrain.io/world-size"] = json!("2");
            }
            if !affinity.is_null() {
                p["spec"]["affinity"] = affinity;
            }
            p
        })
}

/// Wrap a pod template in workload kind `k`.
fn wrap(k: usize, tpl: Value) -> Value {
    let mut bare = tpl.clone();
    bare["apiVersion"] = json!("v1");
    bare["kind"] = json!("Pod");
    bare["metadata"]["name"] = json!("p");
    let pytorch = json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "j"},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": tpl}, "Worker": {"replicas": 3, "template": tpl}}}});
    match k % 10 {
        0 => bare,
        9 => trainjob(tpl),
        1 => {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"parallelism": 4, "template": tpl}})
        }
        2 => {
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": tpl}}}})
        }
        3 => {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "j"}, "spec": {"replicas": 2, "template": tpl}})
        }
        4 => {
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "j"}, "spec": {"template": tpl}})
        }
        5 => pytorch,
        6 => {
            json!({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "j"},
            "spec": {"mpiReplicaSpecs": {"Launcher": {"template": tpl}, "Worker": {"replicas": 2, "template": tpl}}}})
        }
        7 => {
            json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": {"name": "j"},
            "spec": {"replicatedJobs": [{"name": "w", "replicas": 2, "template": {"spec": {"template": tpl}}}]}})
        }
        _ => {
            json!({"apiVersion": "workload.codeflare.dev/v1beta2", "kind": "AppWrapper", "metadata": {"name": "j"},
            "spec": {"components": [{"template": pytorch}]}})
        }
    }
}

/// A TrainJob whose `node` patch is the template cut to the patch schema (a real API server prunes
/// the rest), the first container as `node` with its resources in `spec.trainer`.
fn trainjob(mut tpl: Value) -> Value {
    let mut resources = Value::Null;
    if let Some(spec) = tpl["spec"].as_object_mut() {
        spec.remove("priorityClassName");
        for c in spec["containers"].as_array_mut().into_iter().flatten() {
            if c["name"] == "c0" {
                c["name"] = json!("node");
                resources = c["resources"].take();
            }
            if let Some(c) = c.as_object_mut() {
                c.retain(|k, _| {
                    ["name", "env", "securityContext", "volumeMounts"].contains(&k.as_str())
                });
            }
        }
    }
    let mut trainer = json!({"numNodes": 2, "env": [{"name": "NCCL_DEBUG", "value": "TRACE"}]});
    if resources.is_object() {
        trainer["resourcesPerNode"] = resources;
    }
    json!({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "j"},
        "spec": {"runtimeRef": {"name": "torch-distributed"}, "trainer": trainer, "runtimePatches": [
            {"manager": "m", "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [
                {"name": "node", "template": {"spec": {"template": tpl}}}]}}}}]}})
}

const POLICIES: [&str; 3] = [
    "",
    include_str!("data/policy-full.yaml"),
    "security: {readOnlyRootFilesystem: true, defaults: true}\nhosts: {ignore: [n1, n9], nodeHealth: {key: health, notIn: [bad]}}\nnccl: {roceGdr: {count: 1}, env: {NCCL_DEBUG: WARN}}",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn engine_is_idempotent_and_its_patch_is_exact(tpl in pod(), kind in 0usize..10, policy in 0usize..3, openshift in any::<bool>()) {
        let engine = common::engine(Some(POLICIES[policy]));
        let obj = wrap(kind, tpl);
        let review = common::create(&engine, &obj, openshift);
        let readmit = |o: &Value| common::create(&engine, o, openshift);
        let full = common::full_copy(&engine, &obj, openshift);
        common::assert_patch_and_idempotence(&obj, &review, &full, &readmit, &format!("kind {kind}, policy {policy}"));
    }
}
