//! Admission reviews (`admission.k8s.io/v1`): the one way a review reaches the [`Engine`]. The webhook,
//! `kubectl mltrain policy check` and the fuzzers all parse with [`AdmissionRequest`], decide with
//! [`Admission`] and answer with [`AdmissionResponse`], so what the plugin previews and what the fuzzers
//! exercise is what the cluster runs. Reference:
//! <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/>.
//!
//! These are our own types rather than `kube::core::admission`'s, on purpose: kube-core would bring
//! `k8s-openapi` into this dependency-light crate, its `DynamicObject` would type `metadata` where the
//! engine wants the JSON as sent (a typed round-trip drops fields it does not know), and its request
//! cannot skip `status` and `managedFields` while parsing, which is most of the webhook's parse cost.
//! The shape of the API follows kube-core's (`allow`, `deny`, `with_patch`, built only via methods).

mod prune;
mod request;
mod response;

use std::collections::{BTreeMap, HashMap};

pub use request::{AdmissionRequest, DisplayName, Gvk, ReviewError};
pub use response::AdmissionResponse;

use crate::engine::{Engine, Request, Review};

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// Which of the two webhooks answers: `/mutate` sends the patch and what defaulting warns about,
/// `/validate` the verdict and what validation warns about, so the user never sees a line twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Mutate,
    Validate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Mutate => "mutate",
            Endpoint::Validate => "validate",
        }
    }
}

/// Namespace labels, as far as the caller knows them (approval of a priority class by namespace label
/// reads the request's namespace's).
#[derive(Debug, Clone, Copy, Default)]
pub enum NamespaceLabels<'a> {
    /// None known: the plugin offline, a webhook that has not read the cluster yet.
    #[default]
    Unknown,
    /// Every namespace's labels, as read from the cluster (the webhook).
    PerNamespace(&'a HashMap<String, BTreeMap<String, String>>),
    /// The same labels whatever the namespace (`policy check --namespace-label`).
    Every(&'a BTreeMap<String, String>),
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> NamespaceLabels<'a> {
    pub fn of(&self, namespace: &str) -> &'a BTreeMap<String, String> {
        match *self {
            NamespaceLabels::Unknown => &NO_LABELS,
            NamespaceLabels::PerNamespace(all) => all.get(namespace).unwrap_or(&NO_LABELS),
            NamespaceLabels::Every(labels) => labels,
        }
    }
}

/// What an admission needs besides the review: the engine, and what the caller found out about the
/// cluster (the namespaces' labels, and whether OpenShift adaptation is on; see
/// [`crate::OpenShiftMode::resolve`]).
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    pub engine: &'a Engine,
    pub namespace_labels: NamespaceLabels<'a>,
    pub openshift: bool,
}

/// A review answered: the request (for the caller's log line and metrics) and the response.
#[derive(Debug)]
pub struct Answer {
    pub request: AdmissionRequest,
    pub response: AdmissionResponse,
}

impl Admission<'_> {
    /// The entry point: a review's body in, the answer out, or why the body cannot be answered.
    pub fn review(&self, endpoint: Endpoint, body: &[u8]) -> Result<Answer, ReviewError> {
        let request = AdmissionRequest::parse(body)?;
        let response = self.respond(endpoint, &request);
        Ok(Answer { request, response })
    }

    /// The engine's decision on a request; `None` when the engine has nothing to say about it (a
    /// subresource). Objects of kinds the engine does not handle get an empty decision from it.
    // A stage of webhook/bench/stage-ir.sh, kept out of line so it can be counted (a call is a few
    // nanoseconds either way).
    #[inline(never)]
    pub fn decide(&self, request: &AdmissionRequest) -> Option<Review> {
        if request.is_subresource() {
            return None;
        }
        let null = serde_json::Value::Null;
        let namespace = request.namespace.as_deref().unwrap_or("");
        let engine_request = Request::new(request.operation, request.subject().unwrap_or(&null))
            .with_old_object(request.old_object.as_ref())
            .in_namespace(namespace)
            .with_namespace_labels(self.namespace_labels.of(namespace))
            .with_user(Some(&request.user_info))
            .with_openshift(self.openshift);
        Some(self.engine.admit(&engine_request))
    }

    /// The engine's decision on `request`, answered as `endpoint` answers it.
    pub fn respond(&self, endpoint: Endpoint, request: &AdmissionRequest) -> AdmissionResponse {
        AdmissionResponse::of(endpoint, request, self.decide(request).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;
    use serde_json::{Value, json};

    fn body(operation: &str, object: Value, extra: Value) -> Vec<u8> {
        let mut request = json!({"uid": "u1", "operation": operation, "namespace": "ml-team",
            "userInfo": {"username": "alice"}, "object": object});
        request
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::to_vec(&json!({"apiVersion": API_VERSION, "kind": KIND, "request": request}))
            .unwrap()
    }

    fn answer(admission: &Admission, endpoint: Endpoint, body: &[u8]) -> Value {
        let a = admission.review(endpoint, body).unwrap();
        serde_json::from_slice::<Value>(&a.response.to_body()).unwrap()["response"].clone()
    }

    #[test]
    fn mutate_patches_validate_refuses_and_subresources_pass() {
        let engine = Engine::new(
            Policy::from_yaml("priority: {approval: {classes: [high-priority]}}").unwrap(),
        );
        let admission = Admission {
            engine: &engine,
            namespace_labels: NamespaceLabels::Unknown,
            openshift: false,
        };
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"priorityClassName": "high-priority", "containers": [{"name": "c", "image": "x"}]}});
        let create = body("CREATE", pod.clone(), json!({}));
        let mutated = answer(&admission, Endpoint::Mutate, &create);
        assert_eq!(
            (&mutated["uid"], &mutated["allowed"]),
            (&json!("u1"), &json!(true))
        );
        assert_eq!(mutated["patchType"], "JSONPatch");
        let validated = answer(&admission, Endpoint::Validate, &create);
        assert_eq!(validated["allowed"], false);
        assert!(
            validated["status"]["message"]
                .as_str()
                .unwrap()
                .contains("needs approval"),
            "{validated}"
        );
        let sub = body("CREATE", pod, json!({"subResource": "status"}));
        assert_eq!(
            answer(&admission, Endpoint::Validate, &sub),
            json!({"uid": "u1", "allowed": true})
        );
    }

    #[test]
    fn namespace_labels_approve_by_the_requests_namespace() {
        let engine = Engine::new(
            Policy::from_yaml("priority: {approval: {classes: [high-priority]}}").unwrap(),
        );
        let approved = BTreeMap::from([(
            "mltrain.io/high-priority-approved".to_string(),
            "true".to_string(),
        )]);
        let cluster = HashMap::from([("ml-team".to_string(), approved.clone())]);
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"priorityClassName": "high-priority", "containers": [{"name": "c", "image": "x"}]}});
        for (labels, allowed) in [
            (NamespaceLabels::Unknown, false),
            (NamespaceLabels::PerNamespace(&cluster), true),
            (NamespaceLabels::Every(&approved), true),
        ] {
            let admission = Admission {
                engine: &engine,
                namespace_labels: labels,
                openshift: false,
            };
            let out = answer(
                &admission,
                Endpoint::Validate,
                &body("CREATE", pod.clone(), json!({})),
            );
            assert_eq!(out["allowed"], allowed, "{labels:?}");
        }
        let elsewhere = HashMap::from([("other".to_string(), approved)]);
        assert!(
            NamespaceLabels::PerNamespace(&elsewhere)
                .of("ml-team")
                .is_empty()
        );
    }

    #[test]
    fn bad_bodies_are_errors_not_answers() {
        let engine = Engine::default();
        let admission = Admission {
            engine: &engine,
            namespace_labels: NamespaceLabels::Unknown,
            openshift: false,
        };
        assert!(matches!(
            admission.review(Endpoint::Mutate, b"[]"),
            Err(ReviewError::Json(_))
        ));
    }
}
