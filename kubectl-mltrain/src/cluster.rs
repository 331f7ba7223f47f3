//! Talking to the cluster: connecting with kubectl's flags, reading the policy ConfigMap, OpenShift
//! discovery, and applying objects in order with server-side apply, removing what this call created
//! when a later object fails (nothing half-created).
//!
//! Tested against kube's mock service layer (`tests` below); no API server runs on the build machines.

use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::Value;
use thiserror::Error;

use crate::cli::KubectlArgs;

/// Where the webhook's deployment keeps the policy.
pub const POLICY_NAMESPACE: &str = "mltrain-system";
pub const POLICY_CONFIGMAP: &str = "mltrain-policy";
pub const POLICY_KEY: &str = "policy.yaml";

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("no cluster configured: {0}")]
    NoConfig(String),
    #[error("cannot reach the cluster: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Api(String),
    /// The API server (or a webhook) refused an object; applied objects were rolled back.
    #[error("{object}: {message}{rollback}")]
    Refused {
        object: String,
        message: String,
        rollback: String,
    },
}

/// A connected client and the namespace jobs go to.
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
}

/// Resolve kubectl's connection flags into a client config.
pub async fn config(k: &KubectlArgs) -> Result<Config, ClusterError> {
    let options = KubeConfigOptions {
        context: k.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &k.kubeconfig {
        Some(path) => {
            let kc =
                Kubeconfig::read_from(path).map_err(|e| ClusterError::NoConfig(e.to_string()))?;
            Config::from_custom_kubeconfig(kc, &options).await
        }
        None => Config::from_kubeconfig(&options).await,
    }
    .map_err(|e| ClusterError::NoConfig(e.to_string()))?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(30));
    if let Some(ns) = &k.namespace {
        config.default_namespace = ns.clone();
    }
    Ok(config)
}

impl Cluster {
    pub async fn connect(k: &KubectlArgs) -> Result<Cluster, ClusterError> {
        let config = config(k).await?;
        let namespace = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(|e| ClusterError::NoConfig(e.to_string()))?;
        Ok(Cluster { client, namespace })
    }

    /// Whether the cluster serves OpenShift's security API group.
    pub async fn is_openshift(&self) -> Result<bool, ClusterError> {
        let groups = self
            .client
            .list_api_groups()
            .await
            .map_err(|e| ClusterError::Unreachable(e.to_string()))?;
        Ok(groups
            .groups
            .iter()
            .any(|g| g.name == "security.openshift.io"))
    }

    /// The cluster policy text, if the ConfigMap exists (and we may read it).
    pub async fn policy_text(&self) -> Result<Option<String>, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.client.clone(), POLICY_NAMESPACE);
        match api.get_opt(POLICY_CONFIGMAP).await {
            Ok(Some(cm)) => Ok(cm.data.and_then(|d| d.get(POLICY_KEY).cloned())),
            Ok(None) => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(ClusterError::Unreachable(e.to_string())),
        }
    }

    /// Server-side apply every object in order. On a failure, delete what this call created and
    /// report the server's words. With `dry_run`, the server checks everything and stores nothing.
    pub async fn apply(
        &self,
        objects: &[Value],
        field_manager: &str,
        dry_run: bool,
    ) -> Result<Vec<Applied>, ClusterError> {
        let mut params = PatchParams::apply(field_manager);
        params.dry_run = dry_run;
        let mut done: Vec<Applied> = Vec::new();
        for obj in objects {
            let api = self.api_for(obj)?;
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let label = crate::output::name_of(obj);
            let result = async {
                let existed = api.get_opt(&name).await?.is_some();
                let applied = api.patch(&name, &params, &Patch::Apply(obj)).await?;
                Ok::<_, kube::Error>((existed, applied))
            }
            .await;
            match result {
                Ok((existed, applied)) => done.push(Applied {
                    object: serde_json::to_value(applied).unwrap_or(Value::Null),
                    created: !existed,
                    name: label,
                }),
                Err(e) => {
                    let rollback = if dry_run {
                        String::new()
                    } else {
                        self.roll_back(&done).await
                    };
                    let message = match e {
                        kube::Error::Api(s) => s.message,
                        other => other.to_string(),
                    };
                    return Err(ClusterError::Refused {
                        object: label,
                        message,
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
        let ar = api_resource(obj)
            .ok_or_else(|| ClusterError::Api(format!("unknown kind {}", obj["kind"])))?;
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&self.namespace);
        Ok(Api::namespaced_with(self.client.clone(), ns, &ar))
    }
}

/// One applied object.
#[derive(Debug, Clone)]
pub struct Applied {
    pub object: Value,
    pub created: bool,
    pub name: String,
}

/// The REST resource of an object the plugin renders.
pub fn api_resource(obj: &Value) -> Option<ApiResource> {
    let api_version = obj["apiVersion"].as_str()?;
    let kind = obj["kind"].as_str()?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "ConfigMap" => "configmaps",
        "Secret" => "secrets",
        "Service" => "services",
        "Job" => "jobs",
        "JobSet" => "jobsets",
        "PyTorchJob" => "pytorchjobs",
        "MPIJob" => "mpijobs",
        "AppWrapper" => "appwrappers",
        _ => return None,
    };
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

    #[tokio::test]
    async fn mock_api_applies_in_order_with_the_field_manager() {
        let (c, handle) = cluster();
        let server = tokio::spawn(serve(handle, |m, _, body| match m {
            "GET" => not_found(),
            _ => respond(StatusCode::CREATED, body.clone()),
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
                "GET /api/v1/namespaces/ml-team/services/j",
                "PATCH /api/v1/namespaces/ml-team/services/j?&fieldManager=kubectl-mltrain",
                "GET /apis/batch/v1/namespaces/ml-team/jobs/j",
                "PATCH /apis/batch/v1/namespaces/ml-team/jobs/j?&fieldManager=kubectl-mltrain",
            ]
        );
    }

    #[tokio::test]
    async fn mock_api_rolls_back_what_it_created_when_a_later_object_is_refused() {
        let (c, handle) = cluster();
        let server = tokio::spawn(serve(handle, |m, uri, body| {
            match (m, uri.contains("/jobs/")) {
                ("GET", _) => not_found(),
                ("PATCH", true) => respond(
                    StatusCode::FORBIDDEN,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden",
                       "message": "admission webhook \"validate.mltrain.io\" denied the request: mltrain policy refused this object"}),
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
            msg.starts_with(
                "job.batch/j: admission webhook \"validate.mltrain.io\" denied the request"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("rolled back what this call created: deleted service/j"),
            "{msg}"
        );
        assert!(
            seen.last()
                .unwrap()
                .starts_with("DELETE /api/v1/namespaces/ml-team/services/j"),
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
