//! Talking to the cluster: connecting with kubectl's flags, reading the policy ConfigMap, OpenShift
//! discovery, and applying objects in order with server-side apply, removing what this call created
//! when a later object fails (nothing half-created).
//!
//! Tested against kube's mock service layer (`tests` below); no API server runs on the build machines.

use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use mltrain_shared::kinds::{self, Resource};
use serde_json::Value;
use thiserror::Error;

use crate::cli::ConnArgs;

/// Where the webhook's deployment keeps the policy.
pub const POLICY_NAMESPACE: &str = "mltrain-system";
pub const POLICY_CONFIGMAP: &str = "mltrain-policy";
pub const POLICY_KEY: &str = "policy.yaml";

/// What went wrong talking to the cluster; each keeps kube's error as its source.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// No kubeconfig, or one that names no usable cluster.
    #[error("no cluster configured: {0}")]
    NoConfig(#[source] KubeconfigError),
    /// A kubeconfig that does not make a client.
    #[error("no cluster configured: {0}")]
    Client(#[source] kube::Error),
    #[error("cannot reach the cluster: {0}")]
    Unreachable(#[source] kube::Error),
    /// A request the API server answered with an error.
    #[error("{0}")]
    Api(#[source] kube::Error),
    #[error("logs of pod {pod}: {source}")]
    Logs {
        pod: String,
        #[source]
        source: kube::Error,
    },
    /// A followed log stream broke.
    #[error("logs of pod {pod}: {source}")]
    LogStream {
        pod: String,
        #[source]
        source: std::io::Error,
    },
    #[error("deleting {kind} {name}: {source}")]
    Delete {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// An object of a kind the plugin has no REST resource for.
    #[error("unknown kind {0}")]
    UnknownKind(Value),
    /// The API server (or a webhook) refused an object; applied objects were rolled back.
    #[error("{object}: {}{rollback}", server_words(source))]
    Refused {
        object: String,
        #[source]
        source: kube::Error,
        rollback: String,
    },
}

impl ClusterError {
    /// The cluster said no to an object (as opposed to not being reachable or readable).
    pub fn is_refusal(&self) -> bool {
        matches!(self, ClusterError::Refused { .. })
    }

    /// No kubeconfig at all: kubectl's own "no configuration" case, in which a client dry-run
    /// previews offline as designed. Any other connection error is worth telling the user.
    pub fn is_unconfigured(&self) -> bool {
        match self {
            ClusterError::NoConfig(KubeconfigError::FindPath) => true,
            ClusterError::NoConfig(KubeconfigError::ReadConfig(e, _)) => {
                e.kind() == std::io::ErrorKind::NotFound
            }
            _ => false,
        }
    }
}

/// What the API server said, without kube's wrapping: its Status message when it sent one.
fn server_words(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// A connected client and the namespace jobs go to.
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
}

/// Resolve kubectl's connection flags into a client config.
pub async fn config(k: &ConnArgs) -> Result<Config, ClusterError> {
    let options = KubeConfigOptions {
        context: k.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &k.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(ClusterError::NoConfig)?;
            Config::from_custom_kubeconfig(kc, &options).await
        }
        None => Config::from_kubeconfig(&options).await,
    }
    .map_err(ClusterError::NoConfig)?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(30));
    if let Some(ns) = &k.namespace {
        config.default_namespace = ns.clone();
    }
    Ok(config)
}

impl Cluster {
    pub async fn connect(k: &ConnArgs) -> Result<Cluster, ClusterError> {
        let config = config(k).await?;
        let namespace = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(ClusterError::Client)?;
        Ok(Cluster { client, namespace })
    }

    /// Whether the cluster serves OpenShift's security API group.
    pub async fn is_openshift(&self) -> Result<bool, ClusterError> {
        let groups = self
            .client
            .list_api_groups()
            .await
            .map_err(ClusterError::Unreachable)?;
        Ok(groups
            .groups
            .iter()
            .any(|g| g.name == mltrain_shared::vocab::openshift::SECURITY_API_GROUP))
    }

    /// The cluster policy text, if the ConfigMap exists (and we may read it).
    pub async fn policy_text(&self) -> Result<Option<String>, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.client.clone(), POLICY_NAMESPACE);
        match api.get_opt(POLICY_CONFIGMAP).await {
            Ok(Some(cm)) => Ok(cm.data.and_then(|d| d.get(POLICY_KEY).cloned())),
            Ok(None) => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(ClusterError::Unreachable(e)),
        }
    }

    /// Server-side apply a job's objects: the workload (the last object of a kind in [`kinds::tops`])
    /// first, then every other object in order with an ownerReference to it, so deleting the workload
    /// by any means (kubectl delete, a TTL, Kueue) also removes its Service, ConfigMaps and the Secret
    /// holding the SSH key. Pods that start before their ConfigMap exists wait for it, as the kubelet
    /// retries volume mounts. On a failure, delete what this call created and report the server's
    /// words. With `dry_run`, the server checks everything and stores nothing.
    ///
    /// The reference is not a controller reference: Kueue treats a Job whose *controller* is another
    /// Kueue-managed kind as part of that owner's workload and would never admit it on its own
    /// (<https://kueue.sigs.k8s.io/docs/tasks/run/jobs/>); garbage collection follows any reference.
    /// `blockOwnerDeletion` is left out: setting it needs update rights on the owner's finalizers, which
    /// users commonly lack (OwnerReferencesPermissionEnforcement).
    pub async fn apply(
        &self,
        objects: &[Value],
        field_manager: &str,
        dry_run: bool,
    ) -> Result<Vec<Applied>, ClusterError> {
        let mut params = PatchParams::apply(field_manager);
        params.dry_run = dry_run;
        let owner_at = objects
            .iter()
            .rposition(|o| kinds::tops().any(|(k, _)| k.api.is_exactly(o)));
        let order: Vec<usize> = owner_at
            .into_iter()
            .chain((0..objects.len()).filter(|i| Some(*i) != owner_at))
            .collect();
        let mut owner_ref: Option<Value> = None;
        let mut done: Vec<Applied> = Vec::new();
        for i in order {
            let mut obj = objects[i].clone();
            if let Some(r) = &owner_ref {
                obj["metadata"]["ownerReferences"] = Value::Array(vec![r.clone()]);
            }
            let api = self.api_for(&obj)?;
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let label = crate::output::name_of(&obj);
            let result = async {
                let existed = api.get_opt(&name).await?.is_some();
                let applied = api.patch(&name, &params, &Patch::Apply(&obj)).await?;
                Ok::<_, kube::Error>((existed, applied))
            }
            .await;
            match result {
                Ok((existed, applied)) => {
                    let applied = serde_json::to_value(applied).unwrap_or(Value::Null);
                    if Some(i) == owner_at
                        && let Some(uid) = applied["metadata"]["uid"].as_str()
                    {
                        owner_ref = Some(serde_json::json!({
                            "apiVersion": obj["apiVersion"],
                            "kind": obj["kind"],
                            "name": name,
                            "uid": uid,
                        }));
                    }
                    done.push(Applied {
                        object: applied,
                        created: !existed,
                        name: label,
                    })
                }
                Err(e) => {
                    let rollback = if dry_run {
                        String::new()
                    } else {
                        self.roll_back(&done).await
                    };
                    return Err(ClusterError::Refused {
                        object: label,
                        source: e,
                        rollback,
                    });
                }
            }
        }
        Ok(done)
    }

    async fn roll_back(&self, done: &[Applied]) -> String {
        let mut notes = Vec::new();
        for a in done.iter().rev().filter(|a| a.created) {
            let outcome = match self.api_for(&a.object) {
                Ok(api) => {
                    let name = a.object["metadata"]["name"].as_str().unwrap_or_default();
                    match api.delete(name, &DeleteParams::background()).await {
                        Ok(_) => format!("deleted {}", a.name),
                        Err(e) => format!("could not delete {}: {e}; delete it by hand", a.name),
                    }
                }
                Err(e) => format!("could not delete {}: {e}", a.name),
            };
            notes.push(outcome);
        }
        if notes.is_empty() {
            String::new()
        } else {
            format!("\nrolled back what this call created: {}", notes.join(", "))
        }
    }

    fn api_for(&self, obj: &Value) -> Result<Api<DynamicObject>, ClusterError> {
        let ar = api_resource(obj).ok_or_else(|| ClusterError::UnknownKind(obj["kind"].clone()))?;
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&self.namespace);
        Ok(Api::namespaced_with(self.client.clone(), ns, &ar))
    }
}

/// The REST resource of a kind of the table.
pub fn api_resource_of(r: &Resource) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(r.group, r.version, r.kind), r.plural)
}

/// A list failed because the kind is not installed (404) or not ours to see (403): nothing to show.
fn absent(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 403)
}

impl Cluster {
    fn dynamic(&self, ar: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    /// Objects made by mltrain of the kinds a job's top can be, as JSON with their kind set (list
    /// items carry none). Kinds whose CRD is not installed are skipped.
    pub async fn workloads(
        &self,
        ns: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let mut out = Vec::new();
        for (k, _) in kinds::tops() {
            let api = self.dynamic(&api_resource_of(&k.api), ns);
            match api.list(&ListParams::default().labels(selector)).await {
                Ok(list) => {
                    for item in list.items {
                        let mut v = serde_json::to_value(item).unwrap_or(Value::Null);
                        v["kind"] = Value::from(k.api.kind);
                        v["apiVersion"] = Value::from(k.api.api_version());
                        out.push(v);
                    }
                }
                Err(e) if absent(&e) => {}
                Err(e) => return Err(ClusterError::Api(e)),
            }
        }
        Ok(out)
    }

    /// Pods with a label selector.
    pub async fn pods(&self, ns: Option<&str>, selector: &str) -> Result<Vec<Value>, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = match ns {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(ClusterError::Api)?;
        Ok(list
            .items
            .into_iter()
            .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
            .collect())
    }

    /// Events about one object, oldest first.
    pub async fn events(&self, ns: &str, name: &str) -> Result<Vec<Value>, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(self.client.clone(), ns);
        let list = api
            .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
            .await
            .map_err(ClusterError::Api)?;
        let mut events: Vec<Value> = list
            .items
            .into_iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect();
        let when = |e: &Value| {
            e["lastTimestamp"]
                .as_str()
                .or(e["eventTime"].as_str())
                .unwrap_or("")
                .to_string()
        };
        events.sort_by_key(when);
        Ok(events)
    }

    /// A pod's logs (with kubelet timestamps when asked).
    pub async fn logs(
        &self,
        ns: &str,
        pod: &str,
        previous: bool,
        timestamps: bool,
    ) -> Result<String, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        let params = kube::api::LogParams {
            previous,
            timestamps,
            ..Default::default()
        };
        api.logs(pod, &params)
            .await
            .map_err(|source| ClusterError::Logs {
                pod: pod.to_string(),
                source,
            })
    }

    /// Stream a pod's logs line by line into `tx`, each line prefixed.
    pub async fn follow(
        &self,
        ns: &str,
        pod: &str,
        previous: bool,
        prefix: String,
        tx: tokio::sync::mpsc::Sender<String>,
    ) -> Result<(), ClusterError> {
        use futures::{AsyncBufReadExt, TryStreamExt};
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        let params = kube::api::LogParams {
            follow: true,
            previous,
            ..Default::default()
        };
        let stream = api
            .log_stream(pod, &params)
            .await
            .map_err(|source| ClusterError::Logs {
                pod: pod.to_string(),
                source,
            })?;
        let mut lines = stream.lines();
        while let Some(line) = lines
            .try_next()
            .await
            .map_err(|source| ClusterError::LogStream {
                pod: pod.to_string(),
                source,
            })?
        {
            if tx.send(format!("[{prefix}] {line}")).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Delete every object of job `name` (all kinds; those whose CRD is absent are skipped). Returns
    /// what was deleted, as `kind.group/name`.
    pub async fn delete_job(&self, ns: &str, name: &str) -> Result<Vec<String>, ClusterError> {
        let selector = format!("{}={name}", mltrain_shared::vocab::mltrain::JOB_NAME);
        let mut deleted = Vec::new();
        for k in kinds::job_resources() {
            let api = self.dynamic(&api_resource_of(k), Some(ns));
            let list = match api.list(&ListParams::default().labels(&selector)).await {
                Ok(l) => l,
                Err(e) if absent(&e) => continue,
                Err(e) => return Err(ClusterError::Api(e)),
            };
            for item in list.items {
                let Some(obj_name) = item.metadata.name.clone() else {
                    continue;
                };
                match api.delete(&obj_name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(e) if matches!(&e, kube::Error::Api(s) if s.code == 404) => continue,
                    Err(source) => {
                        return Err(ClusterError::Delete {
                            kind: k.kind,
                            name: obj_name,
                            source,
                        });
                    }
                }
                let group = if k.group.is_empty() {
                    String::new()
                } else {
                    format!(".{}", k.group)
                };
                deleted.push(format!("{}{group}/{obj_name}", k.kind.to_lowercase()));
            }
        }
        Ok(deleted)
    }
}

/// One applied object.
#[derive(Debug, Clone)]
pub struct Applied {
    pub object: Value,
    pub created: bool,
    pub name: String,
}

/// The REST resource of an object the plugin renders (a kind of [`kinds::job_resources`]).
pub fn api_resource(obj: &Value) -> Option<ApiResource> {
    let api_version = obj["apiVersion"].as_str()?;
    let kind = obj["kind"].as_str()?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = kinds::job_resources().find(|r| r.kind == kind)?.plural;
    Some(ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, kind),
        plural,
    ))
}

#[cfg(test)]
mod tests {
    //! Against kube's mock service layer: a fake API server answering the requests the plugin sends.
    use super::*;
    use http::{Request, Response, StatusCode};
    use kube::client::Body;
    use serde_json::json;
    use tower_test::mock;

    type Handle = mock::Handle<Request<Body>, Response<Body>>;

    fn cluster() -> (Cluster, Handle) {
        let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(svc, "ml-team");
        (
            Cluster {
                client,
                namespace: "ml-team".into(),
            },
            handle,
        )
    }

    fn respond(code: StatusCode, body: Value) -> Response<Body> {
        Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap()
    }

    fn not_found() -> Response<Body> {
        respond(
            StatusCode::NOT_FOUND,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404}),
        )
    }

    fn objects() -> Vec<Value> {
        vec![
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}, "spec": {}}),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {}}),
        ]
    }

    /// Records (method, path+query) and answers like the API server would.
    async fn serve(
        mut handle: Handle,
        mut answer: impl FnMut(&str, &str, &Value) -> Response<Body>,
    ) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().to_string();
            let uri = req.uri().to_string();
            let body = http_body_util::BodyExt::collect(req.into_body())
                .await
                .unwrap()
                .to_bytes();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.push(format!("{method} {uri}"));
            send.send_response(answer(&method, &uri, &body));
        }
        seen
    }

    /// The workload is applied first; every other object then carries an ownerReference to it (with
    /// the uid the API server gave it), so any delete of the workload cleans up.
    #[tokio::test]
    async fn mock_api_applies_the_workload_first_and_its_parts_owned_by_it() {
        let (c, handle) = cluster();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let b2 = bodies.clone();
        let server = tokio::spawn(serve(handle, move |m, _, body| match m {
            "GET" => not_found(),
            _ => {
                b2.lock().unwrap().push(body.clone());
                let mut created = body.clone();
                created["metadata"]["uid"] = json!("0b8c7e9a-uid-of-j");
                respond(StatusCode::CREATED, created)
            }
        }));
        let applied = c.apply(&objects(), "kubectl-mltrain", false).await.unwrap();
        drop(c);
        let seen = server.await.unwrap();
        assert_eq!(
            applied.iter().map(|a| a.created).collect::<Vec<_>>(),
            [true, true]
        );
        assert_eq!(
            seen,
            [
                "GET /apis/batch/v1/namespaces/ml-team/jobs/j",
                "PATCH /apis/batch/v1/namespaces/ml-team/jobs/j?&fieldManager=kubectl-mltrain",
                "GET /api/v1/namespaces/ml-team/services/j",
                "PATCH /api/v1/namespaces/ml-team/services/j?&fieldManager=kubectl-mltrain",
            ]
        );
        let bodies = bodies.lock().unwrap();
        assert!(bodies[0]["metadata"].get("ownerReferences").is_none());
        assert_eq!(
            bodies[1]["metadata"]["ownerReferences"],
            json!([{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "0b8c7e9a-uid-of-j"}])
        );
    }

    #[tokio::test]
    async fn mock_api_rolls_back_what_it_created_when_a_later_object_is_refused() {
        let (c, handle) = cluster();
        let server = tokio::spawn(serve(handle, |m, uri, body| {
            match (m, uri.contains("/services/")) {
                ("GET", _) => not_found(),
                ("PATCH", true) => respond(
                    StatusCode::FORBIDDEN,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden",
                       "message": "services \"j\" is forbidden: exceeded quota: team-quota, requested: services=1, used: services=10, limited: services=10"}),
                ),
                ("PATCH", false) => respond(StatusCode::CREATED, body.clone()),
                _ => respond(
                    StatusCode::OK,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                ),
            }
        }));
        let err = c
            .apply(&objects(), "kubectl-mltrain", false)
            .await
            .unwrap_err();
        drop(c);
        let seen = server.await.unwrap();
        let msg = err.to_string();
        assert!(
            msg.starts_with("service/j: services \"j\" is forbidden: exceeded quota"),
            "{msg}"
        );
        assert!(
            msg.contains("rolled back what this call created: deleted job.batch/j"),
            "{msg}"
        );
        assert!(
            seen.last()
                .unwrap()
                .starts_with("DELETE /apis/batch/v1/namespaces/ml-team/jobs/j"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn mock_api_server_dry_run_sends_dry_run_all_and_deletes_nothing() {
        let (c, handle) = cluster();
        let server = tokio::spawn(serve(handle, |m, uri, body| {
            match (m, uri.contains("/jobs/")) {
                ("GET", _) => not_found(),
                ("PATCH", true) => respond(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422, "reason": "Invalid", "message": "Job.batch \"j\" is invalid"}),
                ),
                _ => respond(StatusCode::OK, body.clone()),
            }
        }));
        let err = c.apply(&objects(), "fm", true).await.unwrap_err();
        drop(c);
        let seen = server.await.unwrap();
        assert!(
            seen.iter()
                .filter(|s| s.starts_with("PATCH"))
                .all(|s| s.contains("dryRun=All")),
            "{seen:?}"
        );
        assert!(!seen.iter().any(|s| s.starts_with("DELETE")));
        assert_eq!(err.to_string(), "job.batch/j: Job.batch \"j\" is invalid");
    }

    #[tokio::test]
    async fn mock_api_existing_objects_are_not_deleted_on_rollback() {
        let (c, handle) = cluster();
        let server = tokio::spawn(serve(handle, |m, uri, body| {
            match (m, uri.contains("/jobs/")) {
                ("GET", false) => respond(
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}}),
                ),
                ("GET", true) => not_found(),
                ("PATCH", true) => respond(
                    StatusCode::FORBIDDEN,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "message": "no"}),
                ),
                _ => respond(StatusCode::OK, body.clone()),
            }
        }));
        let err = c.apply(&objects(), "fm", false).await.unwrap_err();
        drop(c);
        let seen = server.await.unwrap();
        assert!(!seen.iter().any(|s| s.starts_with("DELETE")), "{seen:?}");
        assert_eq!(err.to_string(), "job.batch/j: no");
    }

    #[tokio::test]
    async fn mock_api_openshift_discovery_and_policy() {
        let (c, handle) = cluster();
        let server = tokio::spawn(serve(handle, |_, uri, _| {
            if uri.starts_with("/apis") && !uri.contains("configmaps") {
                respond(
                    StatusCode::OK,
                    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                    {"name": "security.openshift.io", "versions": [{"groupVersion": "security.openshift.io/v1", "version": "v1"}]}]}),
                )
            } else {
                respond(
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mltrain-policy"},
                    "data": {"policy.yaml": "openshift: force\n"}}),
                )
            }
        }));
        assert!(c.is_openshift().await.unwrap());
        assert_eq!(
            c.policy_text().await.unwrap().as_deref(),
            Some("openshift: force\n")
        );
        drop(c);
        let seen = server.await.unwrap();
        assert_eq!(
            seen[1],
            "GET /api/v1/namespaces/mltrain-system/configmaps/mltrain-policy"
        );
    }
}

/// A fake API server over kube's mock service layer, answering from recorded cluster state
/// (`tests/data/cluster/state.json`): lists by resource, pods, events, deletes. For the day-2 tests.
#[cfg(test)]
pub mod mock {
    use http::{Request, Response, StatusCode};
    use kube::client::Body;
    use serde_json::{Value, json};
    use tower_test::mock;

    use super::Cluster;

    fn list(kind: &str, items: &Value) -> Value {
        json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {}, "items": items})
    }

    fn decode(s: &str) -> String {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Items matching the request's `labelSelector` (`k=v` and `k` terms, comma-separated).
    fn select(items: &Value, query: &str) -> Value {
        let selector = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("labelSelector="))
            .map(decode)
            .unwrap_or_default();
        let matches = |item: &Value| {
            selector.split(',').filter(|t| !t.is_empty()).all(|term| {
                let labels = &item["metadata"]["labels"];
                match term.split_once('=') {
                    Some((k, v)) => labels[k] == v,
                    None => !labels[term].is_null(),
                }
            })
        };
        Value::Array(
            items
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| matches(i))
                .cloned()
                .collect(),
        )
    }

    /// An answer the recorded cluster gives instead of its state: to `method` on a path containing
    /// `path`, status `code` with `message` (403 Forbidden, 422 Invalid, ...).
    pub struct Refuse {
        pub method: &'static str,
        pub path: &'static str,
        pub code: u16,
        pub message: &'static str,
    }

    fn status(code: u16, message: &str) -> Value {
        let reason = match code {
            403 => "Forbidden",
            404 => "NotFound",
            409 => "AlreadyExists",
            422 => "Invalid",
            _ => "InternalError",
        };
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
    }

    /// A cluster answering GETs from recorded objects (`tests/data/cluster/preflight/*.json`: `objects`
    /// by request path; anything else is 404), applying PATCHes (echoing the object with a uid, as the
    /// API server returns it) and accepting DELETEs, except where `refuse` says otherwise. Returns the
    /// requests it saw (`METHOD path?query`) once the cluster is dropped.
    pub fn recorded(
        state: Value,
        refuse: Vec<Refuse>,
    ) -> (Cluster, tokio::task::JoinHandle<Vec<String>>) {
        let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some((req, send)) = handle.next_request().await {
                let (method, uri) = (req.method().to_string(), req.uri().clone());
                let path = uri.path().to_string();
                seen.push(format!("{method} {uri}"));
                let body = http_body_util::BodyExt::collect(req.into_body())
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (code, answer) = if let Some(r) = refuse
                    .iter()
                    .find(|r| r.method == method && path.contains(r.path))
                {
                    (r.code, status(r.code, r.message))
                } else {
                    match method.as_str() {
                        "GET" => match state["objects"].get(&path) {
                            Some(obj) => (200, obj.clone()),
                            None => (
                                404,
                                status(404, "the server could not find the requested resource"),
                            ),
                        },
                        "PATCH" => {
                            let mut obj = body;
                            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
                            obj["metadata"]["uid"] = json!(format!("uid-{name}"));
                            (201, obj)
                        }
                        _ => (
                            200,
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                        ),
                    }
                };
                send.send_response(
                    Response::builder()
                        .status(
                            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        )
                        .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                        .unwrap(),
                );
            }
            seen
        });
        (
            Cluster {
                client: kube::Client::new(svc, "ml"),
                namespace: "ml".into(),
            },
            server,
        )
    }

    /// A cluster answering from `state`; returns the requests it saw once the cluster is dropped.
    pub fn cluster(state: Value) -> (Cluster, tokio::task::JoinHandle<Vec<String>>) {
        let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some((req, send)) = handle.next_request().await {
                let (method, uri) = (req.method().to_string(), req.uri().clone());
                let path = uri.path().to_string();
                let query = uri.query().unwrap_or("").to_string();
                seen.push(format!("{method} {path}"));
                let resource = path.rsplit('/').next().unwrap_or("");
                if resource == "log" {
                    let pod = path.rsplit('/').nth(1).unwrap_or("");
                    let text = state["logs"][pod].as_str().unwrap_or("").to_string();
                    send.send_response(
                        Response::builder()
                            .body(Body::from(text.into_bytes()))
                            .unwrap(),
                    );
                    continue;
                }
                let (code, body) = if method == "DELETE" {
                    (
                        StatusCode::OK,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                    )
                } else if resource == "events" {
                    let name = query
                        .split("involvedObject.name%3D")
                        .nth(1)
                        .or_else(|| query.split("involvedObject.name=").nth(1))
                        .unwrap_or("");
                    let name = name.split('&').next().unwrap_or("");
                    (
                        StatusCode::OK,
                        list(
                            "Event",
                            &state["events"].get(name).cloned().unwrap_or(json!([])),
                        ),
                    )
                } else {
                    match state.get(resource) {
                        Some(items) => (StatusCode::OK, list("X", &select(items, &query))),
                        None => (
                            StatusCode::NOT_FOUND,
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": "the server could not find the requested resource"}),
                        ),
                    }
                };
                send.send_response(
                    Response::builder()
                        .status(code)
                        .body(Body::from(serde_json::to_vec(&body).unwrap()))
                        .unwrap(),
                );
            }
            seen
        });
        (
            Cluster {
                client: kube::Client::new(svc, "ml"),
                namespace: "ml".into(),
            },
            server,
        )
    }
}
