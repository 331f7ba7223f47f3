//! What the webhook reads from the Kubernetes API: whether the cluster is OpenShift (for `auto`), and
//! namespace labels (for high-priority approval), refreshed in the background so no request waits on
//! the API server. When no cluster is reachable, the log says what was decided and why.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::{Client, Config};
use mltrain_shared::OpenShiftMode;

use crate::state::State;

/// How often namespace labels and discovery are refreshed.
pub const REFRESH: Duration = Duration::from_secs(30);

async fn client() -> Result<Client, String> {
    let mut config = Config::infer().await.map_err(|e| e.to_string())?;
    config.connect_timeout = Some(Duration::from_secs(3));
    config.read_timeout = Some(Duration::from_secs(10));
    Client::try_from(config).map_err(|e| e.to_string())
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
        let found = client
            .list_api_groups()
            .await
            .map(|g| g.groups.iter().any(|g| g.name == "security.openshift.io"))
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
            reported = Some(found);
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
            Err(e) => {
                tracing::warn!(error = %e, "cannot list namespaces; keeping the cached labels")
            }
        }
        tokio::time::sleep(REFRESH).await;
    }
}
