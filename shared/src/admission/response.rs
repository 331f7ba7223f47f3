//! The response half of an AdmissionReview, built only through methods (as kube-core's is), so a
//! response without the request's uid, or a patch without its type, cannot be made; and written once
//! into a buffer of the right size, the patch base64-encoded straight into it. Reference:
//! <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response>.

use base64::Engine as _;
use serde::Serialize;

use super::request::AdmissionRequest;
use super::{API_VERSION, Endpoint, KIND};
use crate::engine::Review;

#[derive(Debug, Serialize)]
struct Status {
    code: u16,
    reason: &'static str,
    message: String,
}

/// The answer to one request.
#[derive(Debug)]
pub struct AdmissionResponse {
    uid: String,
    allowed: bool,
    /// The JSON Patch as JSON; base64-encoded straight into the body when it is written.
    patch: Option<Vec<u8>>,
    status: Option<Status>,
    warnings: Vec<String>,
}

impl AdmissionResponse {
    pub fn allow(req: &AdmissionRequest) -> Self {
        AdmissionResponse {
            uid: req.uid.clone(),
            allowed: true,
            patch: None,
            status: None,
            warnings: Vec::new(),
        }
    }

    /// Refuse with HTTP-style 403 and the engine's message.
    pub fn deny(req: &AdmissionRequest, message: String) -> Self {
        AdmissionResponse {
            allowed: false,
            status: Some(Status {
                code: 403,
                reason: "Forbidden",
                message,
            }),
            ..AdmissionResponse::allow(req)
        }
    }

    /// The answer for the engine's decision (`None`: nothing to say, so allowed unchanged): the patch
    /// and defaulting warnings from `/mutate`, the verdict and validation warnings from `/validate`.
    // A stage of webhook/bench/stage-ir.sh, kept out of line so it can be counted (a call is a few
    // nanoseconds either way).
    #[inline(never)]
    pub fn of(endpoint: Endpoint, request: &AdmissionRequest, review: Option<&Review>) -> Self {
        let Some(review) = review else {
            return AdmissionResponse::allow(request);
        };
        match endpoint {
            Endpoint::Mutate => AdmissionResponse::allow(request)
                .with_patch(&review.patch)
                .with_warnings(review.defaulting_warnings()),
            Endpoint::Validate if review.allowed() => {
                AdmissionResponse::allow(request).with_warnings(review.validation_warnings())
            }
            Endpoint::Validate => AdmissionResponse::deny(request, review.message())
                .with_warnings(review.validation_warnings()),
        }
    }

    /// Attach a JSON Patch; an empty one is left out, as the API expects.
    pub fn with_patch(mut self, patch: &json_patch::Patch) -> Self {
        if !patch.0.is_empty() {
            let mut json = Vec::new();
            write_json(&mut json, patch);
            self.patch = Some(json);
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
        self.patch.as_ref().map_or(0, |p| base64_len(p.len()))
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
        write_json(&mut out, &self.uid);
        out.extend_from_slice(if self.allowed {
            b",\"allowed\":true"
        } else {
            b",\"allowed\":false"
        });
        if let Some(patch) = &self.patch {
            out.extend_from_slice(br#","patchType":"JSONPatch","patch":""#);
            let start = out.len();
            out.resize(start + patch_len, 0);
            let written =
                base64::engine::general_purpose::STANDARD.encode_slice(patch, &mut out[start..]);
            debug_assert_eq!(
                written.ok(),
                Some(patch_len),
                "the buffer was sized by base64's own length"
            );
            out.push(b'"');
        }
        if let Some(status) = &self.status {
            out.extend_from_slice(br#","status":"#);
            write_json(&mut out, status);
        }
        if !self.warnings.is_empty() {
            out.extend_from_slice(br#","warnings":"#);
            write_json(&mut out, &self.warnings);
        }
        out.extend_from_slice(b"}}");
        out
    }
}

/// Padded base64 length of `n` bytes; a patch is far below the size where this could overflow.
fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Append `value` as JSON. Writing into a `Vec` fails only when a `Serialize` impl does, and strings,
/// a JSON Patch and [`Status`] have none that can; a failure is a bug, not an answer to send.
fn write_json(out: &mut Vec<u8>, value: &impl Serialize) {
    let written = serde_json::to_writer(&mut *out, value);
    debug_assert!(written.is_ok(), "JSON into a Vec: {written:?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn request(uid: &str) -> AdmissionRequest {
        AdmissionRequest::from_value(json!({"apiVersion": API_VERSION, "kind": KIND,
            "request": {"uid": uid, "operation": "CREATE"}}))
        .unwrap()
    }

    #[test]
    fn responses_echo_the_uid_and_carry_patches_only_when_needed() {
        let req = request("u9");
        let empty: Value = serde_json::from_slice(
            &AdmissionResponse::allow(&req)
                .with_patch(&json_patch::Patch(vec![]))
                .to_body(),
        )
        .unwrap();
        assert_eq!(
            empty,
            json!({"apiVersion": API_VERSION, "kind": KIND, "response": {"uid": "u9", "allowed": true}})
        );
        let denied: Value =
            serde_json::from_slice(&AdmissionResponse::deny(&req, "no".into()).to_body()).unwrap();
        assert_eq!(
            denied["response"]["status"],
            json!({"code": 403, "reason": "Forbidden", "message": "no"})
        );
        let patch: json_patch::Patch =
            serde_json::from_value(json!([{"op": "add", "path": "/a", "value": 1}])).unwrap();
        let patched: Value =
            serde_json::from_slice(&AdmissionResponse::allow(&req).with_patch(&patch).to_body())
                .unwrap();
        assert_eq!(patched["response"]["patchType"], "JSONPatch");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(patched["response"]["patch"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&decoded).unwrap(),
            json!([{"op": "add", "path": "/a", "value": 1}])
        );
        // Byte for byte what serde wrote from the derived struct before the body was hand-written.
        let full = AdmissionResponse::deny(&req, "no \"quotes\"\n".into())
            .with_patch(&patch)
            .with_warnings(&["w1".into(), "w\u{e9}".into()]);
        assert_eq!(
            String::from_utf8(full.to_body()).unwrap(),
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u9","allowed":false,"patchType":"JSONPatch","patch":"W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d","status":{"code":403,"reason":"Forbidden","message":"no \"quotes\"\n"},"warnings":["w1","wé"]}}"#
        );
        assert_eq!(full.patch_len(), 48);
    }

    #[test]
    fn the_base64_length_is_padded() {
        for n in 0..64 {
            let encoded = base64::engine::general_purpose::STANDARD.encode(vec![0u8; n]);
            assert_eq!(base64_len(n), encoded.len(), "{n} bytes");
        }
    }
}
