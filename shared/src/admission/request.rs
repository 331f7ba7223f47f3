//! The request half of an AdmissionReview: what kube-apiserver sends, checked before anything reads it
//! (a v1 review, with a request, a uid and an operation the engine knows), so every later step works on
//! a request that can be answered. Reference:
//! <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request>.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use super::prune::pruned;
use super::{API_VERSION, KIND};
use crate::engine::{Operation, UserInfo};

/// Why a body is not an AdmissionReview that can be answered (the webhook's HTTP 400).
#[derive(Debug, Error)]
pub enum ReviewError {
    #[error("the body is not JSON of an AdmissionReview: {0}")]
    Json(#[source] serde_json::Error),
    #[error(
        "apiVersion {0:?} is not supported; send admission.k8s.io/v1 (admissionReviewVersions: [v1])"
    )]
    Version(String),
    #[error("the body has no apiVersion; send an admission.k8s.io/v1 AdmissionReview")]
    NoVersion,
    #[error("kind {0:?} is not AdmissionReview")]
    Kind(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
    #[error("request.uid is empty")]
    NoUid,
    #[error("request.operation {0:?} is not CREATE, UPDATE, DELETE or CONNECT")]
    Operation(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: Option<Raw>,
}

/// `request` as sent, before its operation is checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    uid: String,
    #[serde(default)]
    kind: Gvk,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    operation: String,
    #[serde(default)]
    user_info: UserInfo,
    #[serde(default, deserialize_with = "pruned")]
    object: Option<Value>,
    #[serde(default, deserialize_with = "pruned")]
    old_object: Option<Value>,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    sub_resource: Option<String>,
}

/// The parts of `request.kind` that are read (for logs and metrics).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Gvk {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub kind: String,
}

/// One checked admission request, its objects kept as JSON without `status` and `managedFields` (the
/// engine works on JSON; see [`crate::engine::json`]).
#[derive(Debug, Clone)]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: Gvk,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub operation: Operation,
    pub user_info: UserInfo,
    pub object: Option<Value>,
    pub old_object: Option<Value>,
    pub dry_run: Option<bool>,
    pub sub_resource: Option<String>,
}

impl AdmissionRequest {
    /// Parse and check a review's body.
    // A stage of webhook/bench/stage-ir.sh, kept out of line so it can be counted (a call is a few
    // nanoseconds either way).
    #[inline(never)]
    pub fn parse(body: &[u8]) -> Result<AdmissionRequest, ReviewError> {
        // Read from bytes, serde_json checks each string it builds is UTF-8, one call per string (~200
        // in a pod, 7% of the parse); one check of the whole body lets it read a `str` and skip those.
        // A body that is not UTF-8 throughout is read from bytes as before, so its answer is unchanged:
        // the same error at the same position, or a review if the bad bytes are only in `status` or
        // `managedFields`, which are skipped unread.
        let envelope = match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(body),
        };
        Self::check(envelope.map_err(ReviewError::Json)?)
    }

    /// Check a review already read as a value (a document of `kubectl mltrain policy check`).
    pub fn from_value(review: Value) -> Result<AdmissionRequest, ReviewError> {
        Self::check(serde_json::from_value(review).map_err(ReviewError::Json)?)
    }

    fn check(env: Envelope) -> Result<AdmissionRequest, ReviewError> {
        if env.api_version.is_empty() {
            return Err(ReviewError::NoVersion);
        }
        if env.api_version != API_VERSION {
            return Err(ReviewError::Version(env.api_version));
        }
        if env.kind != KIND {
            return Err(ReviewError::Kind(env.kind));
        }
        let raw = env.request.ok_or(ReviewError::NoRequest)?;
        if raw.uid.is_empty() {
            return Err(ReviewError::NoUid);
        }
        let operation = raw
            .operation
            .parse()
            .map_err(|_| ReviewError::Operation(raw.operation))?;
        Ok(AdmissionRequest {
            uid: raw.uid,
            kind: raw.kind,
            name: raw.name,
            namespace: raw.namespace,
            operation,
            user_info: raw.user_info,
            object: raw.object,
            old_object: raw.old_object,
            dry_run: raw.dry_run,
            sub_resource: raw.sub_resource,
        })
    }

    /// The object the operation is about: `oldObject` on DELETE (the API server sends no `object`
    /// then), else `object`.
    pub fn subject(&self) -> Option<&Value> {
        match self.operation {
            Operation::Delete => self.old_object.as_ref(),
            _ => self.object.as_ref(),
        }
    }

    /// Whether the request is for a subresource (`pods/status`, `pods/exec`), which the engine leaves
    /// alone: the rules are about the object, and a subresource request does not change it.
    pub fn is_subresource(&self) -> bool {
        self.sub_resource.as_deref().is_some_and(|s| !s.is_empty())
    }

    /// The object's name for logs: `name`, else `generateName` + `*`; written straight into the log
    /// line, without a string of its own.
    pub fn display_name(&self) -> DisplayName<'_> {
        DisplayName(self)
    }
}

/// See [`AdmissionRequest::display_name`].
pub struct DisplayName<'a>(&'a AdmissionRequest);

impl fmt::Display for DisplayName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.0.name.as_deref().filter(|n| !n.is_empty()) {
            return f.write_str(n);
        }
        let generate = self
            .0
            .object
            .as_ref()
            .and_then(|o| o.get("metadata"))
            .and_then(|m| m.get("generateName"))
            .and_then(Value::as_str);
        match generate {
            Some(g) => write!(f, "{g}*"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn parses_the_shared_fixture_shape() {
        let r = AdmissionRequest::parse(&body(json!({"apiVersion": API_VERSION, "kind": KIND, "request": {
            "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "name": "", "namespace": "ml",
            "operation": "CREATE", "userInfo": {"username": "a", "groups": ["g"]},
            "object": {"metadata": {"generateName": "x-"}}, "oldObject": null, "dryRun": false}})))
        .unwrap();
        assert_eq!(r.uid, "u1");
        assert_eq!(r.kind.kind, "Pod");
        assert_eq!(r.operation, Operation::Create);
        assert_eq!(r.user_info.groups, ["g"]);
        assert_eq!(r.display_name().to_string(), "x-*");
        assert!(r.old_object.is_none());
    }

    #[test]
    fn objects_are_built_without_status_and_managed_fields_and_otherwise_as_they_are() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Pending"},
            "metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}], "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "status": 1, "managedFields": 2}]}, "x": [1.5, -2, null, "s"]});
        let mut want = pod.clone();
        want.as_object_mut().unwrap().remove("status");
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let odd = [
            json!(7),
            json!("text"),
            json!([{"status": 1}]),
            json!({"metadata": "m"}),
            json!(-1.25),
        ];
        for (object, want) in
            std::iter::once((pod, want)).chain(odd.iter().map(|v| (v.clone(), v.clone())))
        {
            let review = json!({"apiVersion": API_VERSION, "kind": KIND, "request": {
                "uid": "u", "operation": "UPDATE", "object": object, "oldObject": object}});
            // Bytes and an already-read value are pruned alike.
            for r in [
                AdmissionRequest::parse(&body(review.clone())).unwrap(),
                AdmissionRequest::from_value(review).unwrap(),
            ] {
                assert_eq!(r.object.as_ref(), Some(&want));
                assert_eq!(r.old_object.as_ref(), Some(&want));
            }
        }
    }

    #[test]
    fn bodies_that_are_not_utf8_are_read_as_bytes_were() {
        let review = |object: &[u8]| {
            [
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":"#.as_slice(),
                object,
                b"}}",
            ]
            .concat()
        };
        // Bad bytes where nothing reads them: still a review.
        let skipped = review(b"{\"kind\":\"Pod\",\"status\":{\"m\":\"\xff\"}}");
        let r = AdmissionRequest::parse(&skipped).unwrap();
        assert_eq!(r.object, Some(json!({"kind": "Pod"})));
        // Bad bytes in a string that is built: serde_json's own error, as from bytes.
        let kept = review(b"{\"kind\":\"P\xffd\"}");
        let want = serde_json::from_slice::<Value>(&kept)
            .unwrap_err()
            .to_string();
        let got = AdmissionRequest::parse(&kept).unwrap_err().to_string();
        assert!(got.ends_with(&want), "{got} / {want}");
    }

    #[test]
    fn refuses_what_is_not_a_v1_review() {
        let cases = [
            (
                json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": KIND}),
                "admission.k8s.io/v1beta1",
            ),
            (json!({"kind": KIND}), "has no apiVersion"),
            (
                json!({"apiVersion": API_VERSION, "kind": "Pod"}),
                "is not AdmissionReview",
            ),
            (
                json!({"apiVersion": API_VERSION, "kind": KIND}),
                "has no request",
            ),
            (
                json!({"apiVersion": API_VERSION, "kind": KIND, "request": {"uid": "", "operation": "CREATE"}}),
                "uid is empty",
            ),
            (
                json!({"apiVersion": API_VERSION, "kind": KIND, "request": {"uid": "u", "operation": "PATCH"}}),
                "\"PATCH\"",
            ),
            (json!([1, 2]), "not JSON of an AdmissionReview"),
        ];
        for (v, want) in cases {
            let e = AdmissionRequest::parse(&body(v)).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let e = AdmissionRequest::parse(b"{").unwrap_err();
        assert!(
            std::error::Error::source(&e).is_some(),
            "the JSON error is kept"
        );
    }

    #[test]
    fn the_subject_of_a_delete_is_the_old_object() {
        let r = AdmissionRequest::parse(&body(
            json!({"apiVersion": API_VERSION, "kind": KIND, "request": {
            "uid": "u", "operation": "DELETE", "object": null, "oldObject": {"kind": "Pod"},
            "subResource": ""}}),
        ))
        .unwrap();
        assert_eq!(r.subject(), Some(&json!({"kind": "Pod"})));
        assert!(!r.is_subresource());
    }
}
