//! The MPI operator v2beta1 (kubeflow/mpi-operator `pkg/controller/mpi_job_controller.go`:
//! `newConfigMap`, `newSSHAuthSecret`, `newWorker`, `newLauncherJob`/`newLauncherPodTemplate`,
//! `setupSSHOnPod`, `newJobService`; `pkg/apis/kubeflow/v2beta1/default.go`):
//! - a headless Service `<job>` selecting the job's pods (`training.kubeflow.org/job-name` and
//!   `operator-name`), not publishing not-ready pods (a name resolves once its pod is Ready); workers are pods `<job>-worker-<i>` with `hostname` of that name and
//!   `subdomain: <job>`; a worker with neither command nor args runs `/usr/sbin/sshd -De`;
//! - ConfigMap `<job>-config` with `hostfile` (`<job>-worker-<i>.<job>.<ns>.svc slots=<slotsPerWorker>`
//!   for OpenMPI) and `discover_hosts.sh`, mounted at `/etc/mpi` in the launcher (modes 0444, 0555);
//! - Secret `<job>-ssh` (`kubernetes.io/ssh-auth`, an ECDSA P-521 pair) mounted in every pod's first
//!   container at `sshAuthMountPath` (default `/root/.ssh`) with items `ssh-privatekey`→`id_rsa`,
//!   `ssh-publickey`→`id_rsa.pub` and `authorized_keys`, mode 0600 only when the path is `/root/.ssh`;
//! - launcher Job `<job>-launcher` with env `OMPI_MCA_orte_keep_fqdn_hostnames=true`,
//!   `OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile`, `OMPI_MCA_plm_rsh_args=-o ConnectionAttempts=10`,
//!   `OMPI_MCA_orte_set_default_slots=<slots>`, `K_MPI_JOB_ROLE=launcher` (workers: `worker`);
//!   created at once (`launcherCreationPolicy: AtStartup`, the default);
//! - each pod's `restartPolicy` is its replica's (`setRestartPolicy`: ExitCode becomes Never; the
//!   launcher defaults to OnFailure, workers to Never); the launcher Job's `backoffLimit` is
//!   `runPolicy.backoffLimit`, else Kubernetes' default;
//! - Succeeded/Failed with the launcher Job; then workers are deleted per `runPolicy.cleanPodPolicy`
//!   (default None: they stay).

use serde_json::{Value, json};

use super::{Admission, create_pod, ended, phase, set_condition};
use super::{job, ssh_keys};
use crate::behave::store::{self, Store};

const L: &str = "training.kubeflow.org/";

pub fn finished(j: &Value) -> Option<bool> {
    super::outcome(j, "Succeeded", "Failed")
}

fn ssh_volume(t: &mut Value, job: &Value, name: &str) {
    let path = job["spec"]["sshAuthMountPath"]
        .as_str()
        .unwrap_or("/root/.ssh");
    let mut secret = json!({"secretName": format!("{name}-ssh"), "items": [
        {"key": "ssh-privatekey", "path": "id_rsa"},
        {"key": "ssh-publickey", "path": "id_rsa.pub"},
        {"key": "ssh-publickey", "path": "authorized_keys"}]});
    if path == "/root/.ssh" {
        secret["defaultMode"] = Value::from(0o600);
    }
    push(
        &mut t["spec"]["volumes"],
        json!({"name": "ssh-auth", "secret": secret}),
    );
    if let Some(c) = t["spec"]["containers"].get_mut(0) {
        push(
            &mut c["volumeMounts"],
            json!({"name": "ssh-auth", "mountPath": path}),
        );
    }
}

fn restart_policy(replica: &Value, default: &'static str) -> String {
    match replica["restartPolicy"].as_str() {
        Some("ExitCode") => "Never".into(),
        Some(p) => p.into(),
        None => default.into(),
    }
}

fn push(list: &mut Value, item: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut().expect("array").push(item);
}

fn env(t: &mut Value, vars: &[(&str, String)]) {
    for c in t["spec"]["containers"].as_array_mut().into_iter().flatten() {
        for (k, v) in vars {
            push(&mut c["env"], json!({"name": k, "value": v}));
        }
    }
}

pub fn reconcile(
    store: &mut Store,
    adm: &Admission,
    ns: &str,
    scratch: &std::path::Path,
    problems: &mut Vec<String>,
) {
    for name in store.names("MPIJob") {
        let job = store.get("MPIJob", &name).cloned().expect("job");
        let uid = store::uid(&job).to_string();
        let pods: Vec<Value> = store.owned("Pod", &uid).into_iter().cloned().collect();
        if finished(&job).is_some() {
            clean_pods(store, &job, &pods);
            continue;
        }
        if job["spec"]["runPolicy"]["suspend"] == true {
            continue;
        }
        let mut errors = shared_objects(store, &job, ns, scratch);
        errors.extend(
            workers(store, adm, ns, &job, &pods)
                .into_iter()
                .map(|e| format!("FailedCreate: {e}")),
        );
        if let Err(e) = launcher(store, ns, &job, &pods) {
            errors.push(e);
        }
        problems.extend(errors.into_iter().map(|e| format!("MPIJob {name}: {e}")));
    }
}

/// `runPolicy.cleanPodPolicy` once the job finished (default None: pods stay).
fn clean_pods(store: &mut Store, job: &Value, pods: &[Value]) {
    let policy = job["spec"]["runPolicy"]["cleanPodPolicy"]
        .as_str()
        .unwrap_or("None");
    for p in pods {
        if policy == "All" || (policy == "Running" && !ended(p)) {
            store.delete("Pod", store::name(p));
        }
    }
}

fn workers_of(job: &Value) -> u64 {
    job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"]
        .as_u64()
        .unwrap_or(0)
}

/// The headless Service, the hostfile ConfigMap and the SSH Secret, each once; the errors of those
/// that could not be made.
fn shared_objects(
    store: &mut Store,
    job: &Value,
    ns: &str,
    scratch: &std::path::Path,
) -> Vec<String> {
    let name = store::name(job).to_string();
    let slots = job["spec"]["slotsPerWorker"].as_u64().unwrap_or(1);
    let workers = workers_of(job);
    let owner = json!([store::controller_ref(job)]);
    let mut wanted = Vec::new();
    if store.get("Service", &name).is_none() {
        wanted.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "ownerReferences": owner},
            "spec": {"clusterIP": "None",
                     "selector": {format!("{L}job-name"): name, format!("{L}operator-name"): "mpi-operator"}}}));
    }
    if store.get("ConfigMap", &format!("{name}-config")).is_none() {
        let hostfile: String = (0..workers)
            .map(|i| format!("{name}-worker-{i}.{name}.{ns}.svc slots={slots}\n"))
            .collect();
        let discover: String = std::iter::once("#!/bin/sh\n".to_string())
            .chain((0..workers).map(|i| format!("echo {name}-worker-{i}.{name}.{ns}.svc\n")))
            .collect();
        wanted.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{name}-config"), "ownerReferences": owner},
            "data": {"hostfile": hostfile, "discover_hosts.sh": discover}}));
    }
    let mut errors = Vec::new();
    if store.get("Secret", &format!("{name}-ssh")).is_none() {
        match ssh_keys::keypair(scratch) {
            Ok((private, public)) => wanted.push(json!({"apiVersion": "v1", "kind": "Secret",
                "type": "kubernetes.io/ssh-auth",
                "metadata": {"name": format!("{name}-ssh"), "ownerReferences": owner},
                "stringData": {"ssh-privatekey": private, "ssh-publickey": public}})),
            Err(e) => errors.push(e),
        }
    }
    for o in wanted {
        if let Err(e) = store.create(o, ns) {
            errors.push(e);
        }
    }
    errors
}

fn role_labels(t: &mut Value, name: &str, role: &str) {
    t["metadata"]["labels"][format!("{L}job-name")] = Value::from(name);
    t["metadata"]["labels"][format!("{L}operator-name")] = Value::from("mpi-operator");
    t["metadata"]["labels"][format!("{L}job-role")] = Value::from(role);
}

/// `newWorker` for each missing worker pod; the pods that could not be created.
fn workers(
    store: &mut Store,
    adm: &Admission,
    ns: &str,
    job: &Value,
    pods: &[Value],
) -> Vec<String> {
    let name = store::name(job).to_string();
    let wspec = &job["spec"]["mpiReplicaSpecs"]["Worker"];
    let mut errors = Vec::new();
    for i in 0..workers_of(job) {
        let pname = format!("{name}-worker-{i}");
        if pods.iter().any(|p| store::name(p) == pname) {
            continue;
        }
        let mut t = wspec["template"].clone();
        t["spec"]["restartPolicy"] = Value::from(restart_policy(wspec, "Never"));
        role_labels(&mut t, &name, "worker");
        t["metadata"]["labels"][format!("{L}replica-index")] = Value::from(i.to_string());
        t["spec"]["hostname"] = Value::from(pname.clone());
        t["spec"]["subdomain"] = Value::from(name.clone());
        if let Some(c) = t["spec"]["containers"].get_mut(0)
            && c["command"].is_null()
            && c["args"].is_null()
        {
            c["command"] = json!(["/usr/sbin/sshd", "-De"]);
        }
        ssh_volume(&mut t, job, &name);
        env(&mut t, &[("K_MPI_JOB_ROLE", "worker".into())]);
        if let Err(e) = create_pod(store, adm, ns, &pname, &t, job) {
            errors.push(e);
        }
    }
    errors
}

/// The launcher Job (`newLauncherJob`) once; then the job's conditions from it and the workers.
fn launcher(store: &mut Store, ns: &str, job: &Value, pods: &[Value]) -> Result<(), String> {
    let name = store::name(job).to_string();
    let lname = format!("{name}-launcher");
    let Some(lj) = store.get("Job", &lname).cloned() else {
        let lj = launcher_job(job);
        return store.create(lj, ns).map(|_| ());
    };
    let worker_failed = pods.iter().any(|p| {
        store::label(p, &format!("{L}job-role")) == Some("worker") && phase(p) == "Failed"
    });
    let j = store.get_mut("MPIJob", &name).expect("job");
    match job::finished(&lj) {
        Some(true) => set_condition(j, "Succeeded", "LauncherSucceeded"),
        Some(false) => set_condition(j, "Failed", "LauncherFailed"),
        None if worker_failed => set_condition(j, "Failed", "WorkerFailed"),
        None => {}
    }
    Ok(())
}

fn launcher_job(job: &Value) -> Value {
    let name = store::name(job).to_string();
    let lname = format!("{name}-launcher");
    let slots = job["spec"]["slotsPerWorker"].as_u64().unwrap_or(1);
    let lspec = &job["spec"]["mpiReplicaSpecs"]["Launcher"];
    let mut t = lspec["template"].clone();
    t["spec"]["restartPolicy"] = Value::from(restart_policy(lspec, "OnFailure"));
    role_labels(&mut t, &name, "launcher");
    t["spec"]["hostname"] = Value::from(lname.clone());
    t["spec"]["subdomain"] = Value::from(name.clone());
    ssh_volume(&mut t, job, &name);
    push(
        &mut t["spec"]["volumes"],
        json!({"name": "mpi-job-config", "configMap": {
        "name": format!("{name}-config"),
        "items": [{"key": "hostfile", "path": "hostfile", "mode": 0o444},
                  {"key": "discover_hosts.sh", "path": "discover_hosts.sh", "mode": 0o555}]}}),
    );
    if let Some(c) = t["spec"]["containers"].get_mut(0) {
        push(
            &mut c["volumeMounts"],
            json!({"name": "mpi-job-config", "mountPath": "/etc/mpi"}),
        );
    }
    env(
        &mut t,
        &[
            ("OMPI_MCA_orte_keep_fqdn_hostnames", "true".into()),
            ("OMPI_MCA_orte_default_hostfile", "/etc/mpi/hostfile".into()),
            ("OMPI_MCA_plm_rsh_args", "-o ConnectionAttempts=10".into()),
            ("OMPI_MCA_orte_set_default_slots", slots.to_string()),
            ("K_MPI_JOB_ROLE", "launcher".into()),
        ],
    );
    let backoff = job["spec"]["runPolicy"]["backoffLimit"]
        .as_u64()
        .unwrap_or(6);
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": lname, "ownerReferences": [store::controller_ref(job)]},
        "spec": {"backoffLimit": backoff, "template": t}})
}
