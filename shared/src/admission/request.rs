//! AdmissionReview `admission.k8s.io/v1`: parsing what kube-apiserver sends, and building the answer
//! only through methods, so a response without the request's uid, or a patch without its type, cannot
//! be made. Reference:
//! <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request>.

use std::fmt;

use base64::Engine as _;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// Why a body is not an AdmissionReview we can answer (HTTP 400).
#[derive(Debug, Error)]
pub enum ReviewError {
    #[error("the body is not JSON of an AdmissionReview: {0}")]
    Json(String),
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: Option<Request>,
}

/// The parts of `request.kind` the webhook reads.
#[derive(Debug, Default, Deserialize)]
pub struct Gvk {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct User {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The request, with the objects kept as JSON (the engine works on JSON; see shared::engine::json).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub uid: String,
    #[serde(default)]
    pub kind: Gvk,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    pub operation: String,
    #[serde(default)]
    pub user_info: User,
    #[serde(default, deserialize_with = "pruned")]
    pub object: Option<Value>,
    #[serde(default, deserialize_with = "pruned")]
    pub old_object: Option<Value>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub sub_resource: Option<String>,
}

impl Request {
    /// Parse and check a body.
    pub fn parse(body: &[u8]) -> Result<Request, ReviewError> {
        let env: Envelope =
            serde_json::from_slice(body).map_err(|e| ReviewError::Json(e.to_string()))?;
        if env.api_version.is_empty() {
            return Err(ReviewError::NoVersion);
        }
        if env.api_version != API_VERSION {
            return Err(ReviewError::Version(env.api_version));
        }
        if env.kind != KIND {
            return Err(ReviewError::Kind(env.kind));
        }
        let req = env.request.ok_or(ReviewError::NoRequest)?;
        if req.uid.is_empty() {
            return Err(ReviewError::NoUid);
        }
        if !matches!(
            req.operation.as_str(),
            "CREATE" | "UPDATE" | "DELETE" | "CONNECT"
        ) {
            return Err(ReviewError::Operation(req.operation));
        }
        Ok(req)
    }

    /// The object's name for logs: `name`, else `generateName` + `*`; written straight into the log
    /// line, without a string of its own.
    pub fn display_name(&self) -> DisplayName<'_> {
        DisplayName(self)
    }
}

/// See [`Request::display_name`].
pub struct DisplayName<'a>(&'a Request);

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

/// An object as the engine reads it: the JSON value minus `status` and `metadata.managedFields`, which
/// no rule reads (and no patch touches) and which are a quarter of a pod's bytes; they are skipped
/// without being built. Anything else, of any shape, comes out as `serde_json` would build it.
fn pruned<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    match Prune::OBJECT.deserialize(d)? {
        Value::Null => Ok(None),
        v => Ok(Some(v)),
    }
}

/// Build a value, skipping the key `skip` of a top-level map and, when `metadata`, pruning the map
/// under `metadata` the same way (of `managedFields`).
#[derive(Clone, Copy)]
struct Prune {
    skip: &'static str,
    metadata: bool,
}

impl Prune {
    const OBJECT: Prune = Prune {
        skip: "status",
        metadata: true,
    };
    const METADATA: Prune = Prune {
        skip: "managedFields",
        metadata: false,
    };
}

impl<'de> DeserializeSeed<'de> for Prune {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Prune {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == self.skip {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = if self.metadata && key == "metadata" {
                map.next_value_seed(Prune::METADATA)?
            } else {
                map.next_value::<Value>()?
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    // Everything else as serde_json's own visitor builds it.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
}

#[derive(Debug, Serialize)]
struct Status {
    code: u16,
    reason: &'static str,
    message: String,
}

/// The answer to one request.
#[derive(Debug)]
pub struct Response {
    uid: String,
    allowed: bool,
    /// The JSON Patch as JSON; base64-encoded straight into the body when it is written.
    patch: Option<Vec<u8>>,
    status: Option<Status>,
    warnings: Vec<String>,
}

impl Response {
    pub fn allow(req: &Request) -> Self {
        Response {
            uid: req.uid.clone(),
            allowed: true,
            patch: None,
            status: None,
            warnings: Vec::new(),
        }
    }

    /// Refuse with HTTP-style 403 and the engine's message.
    pub fn deny(req: &Request, message: String) -> Self {
        Response {
            allowed: false,
            status: Some(Status {
                code: 403,
                reason: "Forbidden",
                message,
            }),
            ..Response::allow(req)
        }
    }

    /// Attach a JSON Patch; an empty one is left out, as the API expects.
    pub fn with_patch(mut self, patch: &json_patch::Patch) -> Self {
        if !patch.0.is_empty() {
            self.patch = serde_json::to_vec(patch).ok();
        }
        self
    }

    pub fn with_warnings(mut self, warnings: &[String]) -> Self {
        self.warnings.extend_from_slice(warnings);
        self
    }

    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// Size of the base64 patch, for the log line.
    pub fn patch_len(&self) -> usize {
        self.patch
            .as_ref()
            .and_then(|p| base64::encoded_len(p.len(), true))
            .unwrap_or(0)
    }

    /// The whole AdmissionReview to send back, written once into a buffer of the right size: the
    /// patch goes in as base64 without an intermediate string, and the fields come in the order
    /// `serde` wrote them before (`uid`, `allowed`, `patchType`, `patch`, `status`, `warnings`).
    pub fn to_body(&self) -> Vec<u8> {
        let patch_len = self.patch_len();
        let mut out = Vec::with_capacity(
            160 + self.uid.len()
                + patch_len
                + self.status.as_ref().map_or(0, |s| s.message.len() + 64)
                + self.warnings.iter().map(|w| w.len() + 4).sum::<usize>(),
        );
        out.extend_from_slice(br#"{"apiVersion":""#);
        out.extend_from_slice(API_VERSION.as_bytes());
        out.extend_from_slice(br#"","kind":""#);
        out.extend_from_slice(KIND.as_bytes());
        out.extend_from_slice(br#"","response":{"uid":"#);
        // Writing JSON into a Vec fails only on a serializer error, which strings cannot cause.
        let _ = serde_json::to_writer(&mut out, &self.uid);
        out.extend_from_slice(if self.allowed {
            b",\"allowed\":true"
        } else {
            b",\"allowed\":false"
        });
        if let Some(patch) = &self.patch {
            out.extend_from_slice(br#","patchType":"JSONPatch","patch":""#);
            let start = out.len();
            out.resize(start + patch_len, 0);
            let _ =
                base64::engine::general_purpose::STANDARD.encode_slice(patch, &mut out[start..]);
            out.push(b'"');
        }
        if let Some(status) = &self.status {
            out.extend_from_slice(br#","status":"#);
            let _ = serde_json::to_writer(&mut out, status);
        }
        if !self.warnings.is_empty() {
            out.extend_from_slice(br#","warnings":"#);
            let _ = serde_json::to_writer(&mut out, &self.warnings);
        }
        out.extend_from_slice(b"}}");
        out
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
        let r = Request::parse(&body(json!({"apiVersion": API_VERSION, "kind": KIND, "request": {
            "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "name": "", "namespace": "ml",
            "operation": "CREATE", "userInfo": {"username": "a", "groups": ["g"]},
            "object": {"metadata": {"generateName": "x-"}}, "oldObject": null, "dryRun": false}})))
        .unwrap();
        assert_eq!(r.uid, "u1");
        assert_eq!(r.kind.kind, "Pod");
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
            let r = Request::parse(&body(
                json!({"apiVersion": API_VERSION, "kind": KIND, "request": {
                "uid": "u", "operation": "UPDATE", "object": object, "oldObject": object}}),
            ))
            .unwrap();
            assert_eq!(r.object.as_ref(), Some(&want));
            assert_eq!(r.old_object.as_ref(), Some(&want));
        }
        let fixture =
            mltrain_tests::shared_dir().join("admission/pod-create-indexed-job-rank2-8gpu.json");
        let raw = std::fs::read(fixture).unwrap();
        let full: Value = serde_json::from_slice(&raw).unwrap();
        let mut want = full["request"]["object"].clone();
        want.as_object_mut().unwrap().remove("status");
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(Request::parse(&raw).unwrap().object, Some(want));
    }

    #[test]
    fn refuses_what_is_not_a_v1_review() {
        let cases = [
            (
                json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": KIND}),
                "admission.k8s.io/v1beta1",
            ),
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
            let e = Request::parse(&body(v)).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn responses_echo_the_uid_and_carry_patches_only_when_needed() {
        let req = Request::parse(&body(json!({"apiVersion": API_VERSION, "kind": KIND, "request": {"uid": "u9", "operation": "CREATE"}}))).unwrap();
        let empty: Value = serde_json::from_slice(
            &Response::allow(&req)
                .with_patch(&json_patch::Patch(vec![]))
                .to_body(),
        )
        .unwrap();
        assert_eq!(
            empty,
            json!({"apiVersion": API_VERSION, "kind": KIND, "response": {"uid": "u9", "allowed": true}})
        );
        let denied: Value =
            serde_json::from_slice(&Response::deny(&req, "no".into()).to_body()).unwrap();
        assert_eq!(
            denied["response"]["status"],
            json!({"code": 403, "reason": "Forbidden", "message": "no"})
        );
        let patch: json_patch::Patch =
            serde_json::from_value(json!([{"op": "add", "path": "/a", "value": 1}])).unwrap();
        let patched: Value =
            serde_json::from_slice(&Response::allow(&req).with_patch(&patch).to_body()).unwrap();
        assert_eq!(patched["response"]["patchType"], "JSONPatch");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(patched["response"]["patch"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&decoded).unwrap(),
            json!([{"op": "add", "path": "/a", "value": 1}])
        );
        // Byte for byte what serde wrote from the derived struct before the body was hand-written.
        let full = Response::deny(&req, "no \"quotes\"\n".into())
            .with_patch(&patch)
            .with_warnings(&["w1".into(), "w\u{e9}".into()]);
        assert_eq!(
            String::from_utf8(full.to_body()).unwrap(),
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u9","allowed":false,"patchType":"JSONPatch","patch":"W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d","status":{"code":403,"reason":"Forbidden","message":"no \"quotes\"\n"},"warnings":["w1","wé"]}}"#
        );
        assert_eq!(full.patch_len(), 48);
    }
}
