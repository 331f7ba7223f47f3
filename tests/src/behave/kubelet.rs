//! The kubelet: starts each Pod object of the store once its ConfigMaps and Secrets exist (until
//! then it stays in ContainerCreating, as `pkg/kubelet/volumemanager` keeps it), runs init containers
//! one at a time and in order, then the containers together, and writes the phase and container
//! statuses back to the store (`pkg/kubelet/kubelet_pods.go`, `getPhase`): Succeeded when every
//! container exited 0, Failed when one failed and `restartPolicy` is Never; with OnFailure a failed
//! container is restarted in place. A pod deleted from the store has its processes killed.
//! A container is ready while it runs and its readiness probe (if any, [`super::probe`]) succeeds;
//! the pod's Ready condition is True while it is Running and every container is ready
//! (`pkg/kubelet/status/generate.go`, `GeneratePodReadyCondition`).
//!
//! A pod's IP is in its status from when its volumes are set up (the sandbox's network comes before
//! its containers: `SyncPod` creates the sandbox, then starts containers), so the cluster's DNS
//! records of the pod exist before its containers run; how long CoreDNS takes to serve them is not
//! modelled.
//!
//! `/etc/hosts` is the kubelet's managed hosts file (`pkg/kubelet/kubelet_pods.go`,
//! `managedHostsFileContent`: localhost, then the pod's IP with `<hostname>.<subdomain>.<ns>.svc.<domain>`
//! and the hostname) followed by the cluster DNS records, rewritten in place as pods come and go.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Instant;

use serde_json::{Value, json};

use super::dns;
use super::env;
use super::image::{self, ImageUser};
use super::net::{Network, PodNet};
use super::probe;
use super::runtime::{self, Identity};
use super::store::{self, Store};
use super::volumes;

/// What one container did.
#[derive(Debug, Clone)]
pub struct ContainerLog {
    pub pod: String,
    pub container: String,
    pub init: bool,
    pub exit_code: Option<i32>,
    pub restarts: u32,
    pub log: String,
}

struct Running {
    name: String,
    init: bool,
    child: Option<Child>,
    exit: Option<i32>,
    restarts: u32,
    /// One log file per start.
    logs: Vec<PathBuf>,
    script: PathBuf,
    /// The readiness worker, when the container has a `readinessProbe`.
    readiness: Option<probe::Readiness>,
}

impl Running {
    /// Running, and its readiness probe (if any) has succeeded.
    fn ready(&self) -> bool {
        self.child.is_some() && self.readiness.as_ref().is_none_or(|r| r.ready)
    }
}

struct PodRun {
    net: PodNet,
    dir: PathBuf,
    hosts: PathBuf,
    /// When its volumes were set up and its containers could start: its probe workers tick from
    /// then.
    started: Option<Instant>,
    waiting_since: Instant,
    init_next: usize,
    containers: Vec<Running>,
    failed_to_start: Option<String>,
}

/// The node.
pub struct Kubelet {
    root: PathBuf,
    net: Network,
    pods: BTreeMap<String, PodRun>,
    /// What every container did, kept after its pod is deleted.
    pub finished: Vec<ContainerLog>,
    /// Problems the kubelet met: they fail the run.
    pub problems: Vec<String>,
    /// Overrides every image's own user model.
    image_user: Option<ImageUser>,
    /// The node runs CRI-O as OpenShift does.
    openshift: bool,
    resolv: PathBuf,
    namespace: String,
}

impl Kubelet {
    pub fn new(
        root: &Path,
        image_user: Option<ImageUser>,
        openshift: bool,
        namespace: &str,
    ) -> Result<Self, String> {
        let resolv = root.join("resolv.conf");
        // Cluster DNS search path as the kubelet writes it; no server answers inside the
        // namespaces, so only the hosts files resolve, and a name they lack fails fast.
        std::fs::write(
            &resolv,
            format!(
                "search {namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.53\noptions ndots:5 attempts:1 timeout:1\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            root: root.to_path_buf(),
            net: Network::new()?,
            pods: BTreeMap::new(),
            finished: Vec::new(),
            problems: Vec::new(),
            image_user,
            openshift,
            resolv,
            namespace: namespace.to_string(),
        })
    }

    /// Whether any container process is still alive.
    pub fn any_running(&self) -> bool {
        self.pods
            .values()
            .any(|p| p.containers.iter().any(|c| c.child.is_some()))
    }

    /// Names of pods with live processes.
    pub fn running_pods(&self) -> Vec<String> {
        self.pods
            .iter()
            .filter(|(_, p)| p.containers.iter().any(|c| c.child.is_some()))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Pods that have waited for their volumes' sources.
    pub fn waiting(&self) -> Vec<(String, f64)> {
        self.pods
            .iter()
            .filter(|(_, p)| p.started.is_none())
            .map(|(n, p)| (n.clone(), p.waiting_since.elapsed().as_secs_f64()))
            .collect()
    }

    /// One pass: admit new pods, start what can start, reap exits, kill deleted pods, publish status.
    pub fn sync(&mut self, store: &mut Store) {
        let names = store.names("Pod");
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        for n in gone {
            if let Some(mut p) = self.pods.remove(&n) {
                self.kill(&n, &mut p);
            }
        }
        for n in &names {
            if !self.pods.contains_key(n) {
                match self.admit(n) {
                    Ok(p) => {
                        self.pods.insert(n.clone(), p);
                    }
                    Err(e) => {
                        self.problems.push(format!("pod {n}: {e}"));
                        set_status(store, n, json!({"phase": "Failed", "reason": e}));
                    }
                }
            }
        }
        self.write_hosts(store);
        let keys: Vec<String> = self.pods.keys().cloned().collect();
        for n in keys {
            let mut p = self.pods.remove(&n).expect("pod");
            self.step(store, &n, &mut p);
            self.pods.insert(n, p);
        }
    }

    fn admit(&mut self, name: &str) -> Result<PodRun, String> {
        let net = self.net.add_pod()?;
        let dir = self.root.join("pods").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, "").map_err(|e| e.to_string())?;
        Ok(PodRun {
            net,
            dir,
            hosts,
            started: None,
            waiting_since: Instant::now(),
            init_next: 0,
            containers: Vec::new(),
            failed_to_start: None,
        })
    }

    /// Each pod's hosts file: the kubelet's own lines, then every DNS record of the cluster.
    fn write_hosts(&self, store: &Store) {
        let ips: BTreeMap<String, String> = self
            .pods
            .iter()
            .map(|(n, p)| (n.clone(), p.net.ip.clone()))
            .collect();
        let records = dns::records(store, &ips, &self.namespace);
        for (n, p) in &self.pods {
            let pod = match store.get("Pod", n) {
                Some(p) => p,
                None => continue,
            };
            let host = hostname(pod);
            let mut own =
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_string();
            match pod["spec"]["subdomain"].as_str() {
                Some(sub) => own.push_str(&format!(
                    "{}\t{host}.{sub}.{}.svc.cluster.local\t{host}\n",
                    p.net.ip, self.namespace
                )),
                None => own.push_str(&format!("{}\t{host}\n", p.net.ip)),
            }
            let text = own + &records;
            // In place (same inode): running containers see it through their bind mount.
            if std::fs::read_to_string(&p.hosts).ok().as_deref() != Some(text.as_str()) {
                let _ = std::fs::write(&p.hosts, text);
            }
        }
    }

    fn step(&mut self, store: &mut Store, name: &str, p: &mut PodRun) {
        let Some(pod) = store.get("Pod", name).cloned() else {
            return;
        };
        if p.failed_to_start.is_some() {
            return;
        }
        if p.started.is_none() {
            if !volumes::missing_sources(store, &pod).is_empty() {
                return;
            }
            if let Err(e) = self.start_pod(store, &pod, p) {
                self.problems.push(format!("pod {name}: {e}"));
                p.failed_to_start = Some(e.clone());
                set_status(store, name, json!({"phase": "Failed", "reason": e}));
                return;
            }
            // The sandbox has its IP before any container starts: the pod's DNS records are in
            // every hosts file (written at the start of the next pass) when its containers run.
            set_status(store, name, json!({"phase": "Pending", "podIP": p.net.ip}));
            return;
        }
        let restart = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
        reap(p);
        self.restart_failed(name, p, restart);
        for c in p.containers.iter_mut().filter(|c| !c.init) {
            if let Some(r) = c.readiness.as_mut()
                && let Err(e) = r.tick(&p.net.netns, c.child.is_some())
            {
                self.problems.push(format!("pod {name}: {e}"));
            }
        }
        let init_failed = p.containers.iter().any(|c| {
            c.init && c.child.is_none() && matches!(c.exit, Some(x) if x != 0) && restart == "Never"
        });
        if !init_failed && let Err(e) = self.start_next(store, &pod, p) {
            self.fail(store, name, p, e);
            return;
        }
        self.publish(store, name, p, restart, init_failed);
    }

    /// Restart failed containers in place (OnFailure, or Always): a new container, whose
    /// readiness starts over.
    fn restart_failed(&mut self, name: &str, p: &mut PodRun, restart: &str) {
        for c in p.containers.iter_mut() {
            let again = c.child.is_none()
                && matches!(c.exit, Some(code) if code != 0)
                && (restart == "OnFailure" || restart == "Always")
                && c.restarts < 20;
            if !again {
                continue;
            }
            c.restarts += 1;
            let log = c.script.with_extension(format!("log.{}", c.restarts));
            match runtime::start(&p.net.netns, &c.script, &log) {
                Ok(child) => {
                    c.child = Some(child);
                    c.exit = None;
                    c.logs.push(log);
                    if let Some(r) = c.readiness.as_mut() {
                        r.restarted();
                    }
                }
                Err(e) => self.problems.push(format!("pod {name}: {e}")),
            }
        }
    }

    /// Init containers one at a time and in order, once the previous one succeeded; then the
    /// containers together.
    fn start_next(&mut self, store: &Store, pod: &Value, p: &mut PodRun) -> Result<(), String> {
        let init_done = p
            .containers
            .iter()
            .filter(|c| c.init)
            .all(|c| c.exit == Some(0));
        if !init_done {
            return Ok(());
        }
        let inits = pod["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if p.init_next < inits.len() {
            let c = inits[p.init_next].clone();
            p.init_next += 1;
            return self.start_container(store, pod, p, &c, true);
        }
        if p.containers.iter().any(|c| !c.init) {
            return Ok(());
        }
        for c in pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            self.start_container(store, pod, p, &c, false)?;
        }
        Ok(())
    }

    fn fail(&mut self, store: &mut Store, name: &str, p: &mut PodRun, e: String) {
        self.problems.push(format!("pod {name}: {e}"));
        p.failed_to_start = Some(e.clone());
        self.kill(name, p);
        set_status(store, name, json!({"phase": "Failed", "reason": e}));
    }

    fn publish(&self, store: &mut Store, name: &str, p: &PodRun, restart: &str, init_failed: bool) {
        let main: Vec<&Running> = p.containers.iter().filter(|c| !c.init).collect();
        let running = main.iter().any(|c| c.child.is_some());
        let all_done = !main.is_empty() && main.iter().all(|c| c.child.is_none());
        let failed = main
            .iter()
            .any(|c| c.child.is_none() && matches!(c.exit, Some(x) if x != 0));
        let phase = if init_failed || (restart == "Never" && all_done && failed) {
            "Failed"
        } else if all_done && !failed {
            "Succeeded"
        } else if running {
            "Running"
        } else {
            "Pending"
        };
        let statuses: Vec<Value> = p
            .containers
            .iter()
            .map(|c| {
                let state = match (c.child.is_some(), c.exit) {
                    (true, _) => json!({"running": {}}),
                    (false, Some(code)) => json!({"terminated": {"exitCode": code}}),
                    _ => json!({"waiting": {}}),
                };
                json!({"name": c.name, "state": state, "restartCount": c.restarts, "ready": c.ready()})
            })
            .collect();
        let ready = phase == "Running" && main.iter().all(|c| c.ready());
        set_status(
            store,
            name,
            json!({
                "phase": phase,
                "podIP": p.net.ip,
                "containerStatuses": statuses,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            }),
        );
    }

    fn start_pod(&mut self, store: &Store, pod: &Value, p: &mut PodRun) -> Result<(), String> {
        unsupported(pod)?;
        let claims = self.root.join("claims");
        volumes::setup(store, pod, &p.net.ip, &p.dir, &claims)?;
        p.started = Some(Instant::now());
        Ok(())
    }

    fn start_container(
        &mut self,
        store: &Store,
        pod: &Value,
        p: &mut PodRun,
        c: &Value,
        init: bool,
    ) -> Result<(), String> {
        let cname = c["name"].as_str().unwrap_or("").to_string();
        let img = image::resolve(c["image"].as_str().unwrap_or(""))?;
        let user = self.image_user.clone().unwrap_or_else(|| img.user.clone());
        let mut id: Identity = runtime::identity(pod, c, &user)?;
        let host = hostname(pod);
        let vars = self.environment(store, pod, p, c, &img, &mut id)?;
        let lookup = |n: &str| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let mut argv: Vec<String> = Vec::new();
        for section in ["command", "args"] {
            for a in c[section].as_array().into_iter().flatten() {
                argv.push(env::expand(a.as_str().unwrap_or(""), &lookup));
            }
        }
        if c["command"].is_null() {
            return Err(format!(
                "container {cname}: no command, and the modelled images have no entrypoint"
            ));
        }
        let vols = volumes_of(&p.dir, pod);
        let cdir = p.dir.join(format!("c-{cname}"));
        let spec = runtime::Spec {
            pod,
            container: c,
            image: &img,
            user: &user,
            id: &id,
            env: &vars,
            argv: &argv,
            volumes: &vols,
            hostname: &host,
            hosts_file: &p.hosts,
            resolv_file: &self.resolv,
            dir: &cdir,
        };
        let text = runtime::script(&spec)?;
        let script = p.dir.join(format!("{cname}.sh"));
        std::fs::write(&script, text).map_err(|e| e.to_string())?;
        let log = p.dir.join(format!("{cname}.log"));
        let readiness = match init {
            true => None,
            false => probe::Readiness::of(c, &p.net.ip, p.started.unwrap_or_else(Instant::now))?,
        };
        let child = runtime::start(&p.net.netns, &script, &log)?;
        p.containers.push(Running {
            name: cname,
            init,
            child: Some(child),
            exit: None,
            restarts: 0,
            logs: vec![log],
            script,
            readiness,
        });
        Ok(())
    }

    /// The container's environment as the runtime assembles it: the image's `ENV` lines, the
    /// pod's variables over them, then the image's `PATH`, the passwd `HOME` and `HOSTNAME` where
    /// unset. On OpenShift, CRI-O first writes a passwd entry for a uid the image lacks (cri-o
    /// `internal/config/.../utils.go` `GeneratePasswd`): name = the uid, home = `HOME` or the
    /// working directory, shell /sbin/nologin.
    fn environment(
        &self,
        store: &Store,
        pod: &Value,
        p: &PodRun,
        c: &Value,
        img: &image::Image,
        id: &mut Identity,
    ) -> Result<Vec<(String, String)>, String> {
        let mut vars = env::container_env(store, pod, &p.net.ip, c)?;
        for (k, v) in img.env.iter().rev() {
            if !vars.iter().any(|(n, _)| n == k) {
                vars.insert(0, (k.clone(), v.clone()));
            }
        }
        if self.openshift && id.passwd.is_none() && id.uid != 0 {
            let home = match vars.iter().find(|(n, _)| n == "HOME") {
                Some((_, h)) => h.clone(),
                None => c["workingDir"].as_str().unwrap_or("/").to_string(),
            };
            id.passwd = Some(format!(
                "{0}:x:{0}:{1}:{0} user:{home}:/sbin/nologin",
                id.uid, id.gid
            ));
            id.home = home;
        }
        for (k, v) in [
            ("PATH", img.path.clone()),
            ("HOME", id.home.clone()),
            ("HOSTNAME", hostname(pod)),
        ] {
            if !vars.iter().any(|(n, _)| n == k) {
                vars.insert(0, (k.to_string(), v));
            }
        }
        Ok(vars)
    }

    fn kill(&mut self, name: &str, p: &mut PodRun) {
        for c in &mut p.containers {
            if let Some(mut child) = c.child.take() {
                let _ = child.kill();
                let _ = child.wait();
                c.exit = Some(137);
            }
        }
        self.record(name, p);
    }

    fn record(&mut self, name: &str, p: &PodRun) {
        for c in &p.containers {
            let log: String = c
                .logs
                .iter()
                .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                .collect();
            self.finished.push(ContainerLog {
                pod: name.to_string(),
                container: c.name.clone(),
                init: c.init,
                exit_code: c.exit,
                restarts: c.restarts,
                log,
            });
        }
    }

    /// Kill everything and record what every container did.
    pub fn shutdown(&mut self) {
        let pods = std::mem::take(&mut self.pods);
        for (n, mut p) in pods {
            self.kill(&n, &mut p);
        }
    }
}

/// Collect the exit codes of containers that ended.
fn reap(p: &mut PodRun) {
    for c in &mut p.containers {
        if let Some(child) = c.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            c.child = None;
            c.exit = Some(status.code().unwrap_or(128 + 9));
        }
    }
}

/// What the kubelet model does not do fails the pod loudly rather than being ignored.
fn unsupported(pod: &Value) -> Result<(), String> {
    let spec = &pod["spec"];
    for key in ["hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"] {
        if spec[key] == true {
            return Err(format!("spec.{key} is not modelled by the harness"));
        }
    }
    if spec["ephemeralContainers"].is_array() {
        return Err("ephemeral containers are not modelled by the harness".into());
    }
    for section in ["initContainers", "containers"] {
        for c in spec[section].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("");
            if !c["lifecycle"].is_null() {
                return Err(format!(
                    "container {name}: lifecycle is not modelled by the harness"
                ));
            }
            probe::check(c)?;
            if section == "initContainers" && c["restartPolicy"] == "Always" {
                return Err(format!(
                    "init container {name}: sidecars are not modelled by the harness"
                ));
            }
        }
    }
    Ok(())
}

fn volumes_of(pod_dir: &Path, pod: &Value) -> Vec<volumes::Volume> {
    // Set up once in `start_pod`; here only the paths are looked up again.
    pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let name = v["name"].as_str().unwrap_or("").to_string();
            let host_path = match v["persistentVolumeClaim"]["claimName"].as_str() {
                Some(claim) => pod_dir.join("../../claims").join(claim),
                None => pod_dir.join("volumes").join(&name),
            };
            volumes::Volume { name, host_path }
        })
        .collect()
}

/// The pod's hostname: `spec.hostname`, else the pod name (`pkg/kubelet/kubelet_pods.go`,
/// `GeneratePodHostNameAndDomain`, truncated to 63 characters).
pub fn hostname(pod: &Value) -> String {
    let h = pod["spec"]["hostname"]
        .as_str()
        .unwrap_or_else(|| store::name(pod));
    h.chars().take(63).collect()
}

fn set_status(store: &mut Store, name: &str, status: Value) {
    if let Some(p) = store.get_mut("Pod", name) {
        p["status"] = status;
    }
}
