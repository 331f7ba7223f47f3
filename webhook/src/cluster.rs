//! What the webhook reads from the Kubernetes API: whether the cluster is OpenShift (for `auto`),
//! namespace labels (for high-priority approval) and PriorityClass names (so the policy's default class
//! is only set when it exists), refreshed in the background so no request waits on the API server.
//! When no cluster is reachable, the log says what was decided and why.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, ListParams};
use kube::{Client, Config};
use mltrain_shared::OpenShiftMode;
use thiserror::Error;

use crate::state::State;

/// How often namespace labels and discovery are refreshed.
pub const REFRESH: Duration = Duration::from_secs(30);

/// Why there is no client for the Kubernetes API.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("no kubeconfig or in-cluster configuration: {0}")]
    Config(#[from] kube::config::InferConfigError),
    #[error("cannot make a Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

async fn client() -> Result<Client, ClientError> {
    let mut config = Config::infer().await?;
    config.connect_timeout = Some(Duration::from_secs(3));
    config.read_timeout = Some(Duration::from_secs(10));
    Ok(Client::try_from(config)?)
}

/// Refresh OpenShift status and namespace labels until the process ends.
pub async fn watch(state: Arc<State>) {
    let client = match client().await {
        Ok(c) => c,
        Err(e) => {
            if state.openshift_mode() == OpenShiftMode::Auto {
                tracing::warn!(reason = %e, "openshift auto: no Kubernetes API reachable; assuming not OpenShift (set --openshift force|disabled to decide)");
            }
            tracing::warn!(reason = %e, "no Kubernetes API: namespace labels unknown, so high-priority approval by namespace label is unavailable");
            return;
        }
    };
    let mut reported: Option<Result<bool, String>> = None;
    loop {
        refresh(&client, &state, &mut reported).await;
        tokio::time::sleep(REFRESH).await;
    }
}

/// One refresh: API discovery for OpenShift, then every namespace's labels. Failures keep what was
/// known before. `reported` remembers the last discovery outcome so the log says each change once.
pub async fn refresh(client: &Client, state: &State, reported: &mut Option<Result<bool, String>>) {
    let found = client
        .list_api_groups()
        .await
        .map(|g| {
            g.groups
                .iter()
                .any(|g| g.name == mltrain_shared::vocab::openshift::SECURITY_API_GROUP)
        })
        .map_err(|e| e.to_string());
    if let Ok(v) = &found {
        state.set_cluster_is_openshift(*v);
    }
    if reported.as_ref() != Some(&found) {
        match (&found, state.openshift_mode()) {
            (Ok(v), OpenShiftMode::Auto) => tracing::info!(
                openshift = v,
                "openshift auto: decided from the API group security.openshift.io"
            ),
            (Err(e), OpenShiftMode::Auto) => {
                tracing::warn!(reason = %e, "openshift auto: API discovery failed; keeping the last decision")
            }
            (_, mode) => tracing::info!(?mode, "openshift mode set explicitly"),
        }
        *reported = Some(found);
    }
    let api: Api<Namespace> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => {
            let map: HashMap<String, BTreeMap<String, String>> = list
                .items
                .into_iter()
                .filter_map(|n| Some((n.metadata.name?, n.metadata.labels.unwrap_or_default())))
                .collect();
            state.set_namespaces(map);
        }
        Err(e) => tracing::warn!(error = %e, "cannot list namespaces; keeping the cached labels"),
    }
    let api: Api<PriorityClass> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => state.set_priority_classes(
            list.items
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .collect::<BTreeSet<_>>(),
        ),
        Err(kube::Error::Api(s)) if s.code == 403 => tracing::warn!(
            error = %s.message,
            "cannot list PriorityClasses (grant list on priorityclasses.scheduling.k8s.io, as deploy/base/rbac.yaml does); the policy's default priority class is not set"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list PriorityClasses; keeping the cached names")
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against kube's mock service layer: a fake API server answering discovery and namespace lists.
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use mltrain_shared::{Engine, Policy};
    use serde_json::json;
    use tower_test::mock;

    fn state() -> Arc<State> {
        State::new(
            Engine::new(Policy::from_yaml("priority: {default: default-priority}").unwrap()),
            None,
            1 << 20,
            Duration::from_secs(5),
        )
    }

    #[tokio::test]
    async fn mock_api_discovers_openshift_and_caches_namespace_labels() {
        let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(svc, "default");
        let server = tokio::spawn(async move {
            let mut paths = Vec::new();
            while let Some((req, send)) = handle.next_request().await {
                let path = req.uri().path().to_string();
                let body = if path == "/apis" {
                    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                        {"name": "security.openshift.io", "versions": [{"groupVersion": "security.openshift.io/v1", "version": "v1"}]}]})
                } else if path.ends_with("/priorityclasses") {
                    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": [
                        {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "default-priority"}},
                        {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "system-cluster-critical"}}]})
                } else {
                    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": [
                        {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": {"name": "ml-team", "labels": {"mltrain.io/high-priority-approved": "true"}}},
                        {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "other"}}]})
                };
                paths.push(path);
                send.send_response(
                    Response::builder()
                        .body(Body::from(serde_json::to_vec(&body).unwrap()))
                        .unwrap(),
                );
            }
            paths
        });
        let st = state();
        assert!(!st.openshift());
        let mut reported = None;
        refresh(&client, &st, &mut reported).await;
        drop(client);
        assert_eq!(
            server.await.unwrap(),
            [
                "/apis",
                "/api/v1/namespaces",
                "/apis/scheduling.k8s.io/v1/priorityclasses"
            ]
        );
        assert!(st.openshift(), "auto follows discovery");
        let ns = st.namespaces();
        assert_eq!(ns["ml-team"]["mltrain.io/high-priority-approved"], "true");
        assert!(ns["other"].is_empty());
        assert_eq!(
            st.engine().policy().priority.default,
            "default-priority",
            "the class exists, so it is the default"
        );
    }

    /// An MLBatch policy on a plain cluster: `default-priority` is not there, so it is not set; a 403
    /// (RBAC without `list priorityclasses`) keeps it unset too.
    #[tokio::test]
    async fn mock_api_plain_cluster_and_forbidden_priority_classes_set_no_default() {
        for (code, body) in [
            (
                200,
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": [
                    {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "system-cluster-critical"}}]}),
            ),
            (
                403,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden",
                       "message": "priorityclasses.scheduling.k8s.io is forbidden: User \"system:serviceaccount:mltrain-system:mltrain-webhook\" cannot list resource \"priorityclasses\""}),
            ),
        ] {
            let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
            let client = Client::new(svc, "default");
            let server = tokio::spawn(async move {
                while let Some((req, send)) = handle.next_request().await {
                    let (status, b) = if req.uri().path().ends_with("/priorityclasses") {
                        (code, body.clone())
                    } else if req.uri().path() == "/apis" {
                        (
                            200,
                            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
                        )
                    } else {
                        (
                            200,
                            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": []}),
                        )
                    };
                    send.send_response(
                        Response::builder()
                            .status(status)
                            .body(Body::from(serde_json::to_vec(&b).unwrap()))
                            .unwrap(),
                    );
                }
            });
            let st = state();
            refresh(&client, &st, &mut None).await;
            drop(client);
            server.await.unwrap();
            assert_eq!(st.engine().policy().priority.default, "", "answer {code}");
        }
    }

    #[tokio::test]
    async fn mock_api_failures_keep_what_was_known() {
        let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(svc, "default");
        let server = tokio::spawn(async move {
            while let Some((_, send)) = handle.next_request().await {
                send.send_response(
                    Response::builder()
                        .status(500)
                        .body(Body::from(br#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,"message":"etcd down"}"#.to_vec()))
                        .unwrap(),
                );
            }
        });
        let st = state();
        st.set_cluster_is_openshift(true);
        let mut cached = HashMap::new();
        cached.insert(
            "ml-team".to_string(),
            BTreeMap::from([("a".to_string(), "b".to_string())]),
        );
        st.set_namespaces(cached);
        let mut reported = None;
        refresh(&client, &st, &mut reported).await;
        drop(client);
        server.await.unwrap();
        assert!(st.openshift());
        assert_eq!(st.namespaces()["ml-team"]["a"], "b");
        assert!(matches!(reported, Some(Err(_))));
    }
}
