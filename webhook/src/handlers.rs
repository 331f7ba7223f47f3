//! HTTP handlers: `/mutate` and `/validate` on the TLS port, probes and metrics on the plain port.
//! Handlers only read the body, call the engine and map the outcome; they never panic on input, and
//! every outcome is an HTTP answer (400 for a body that is not a v1 AdmissionReview, 413 too large,
//! 408 too slow).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request as HttpRequest, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use mltrain_shared::{Operation, Request as EngineRequest, UserInfo};
use serde_json::json;

use crate::review::{Request, Response};
use crate::state::State;

/// Which webhook is being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Mutate,
    Validate,
}

impl Endpoint {
    fn as_str(self) -> &'static str {
        match self {
            Endpoint::Mutate => "mutate",
            Endpoint::Validate => "validate",
        }
    }
}

/// The admission router (served over TLS).
pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/validate", post(validate))
        .with_state(state)
}

/// The probe router (plain HTTP).
pub fn probe_router(state: Arc<State>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(Extract(state): Extract<Arc<State>>) -> HttpResponse {
    if state.ready() {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    }
}

async fn metrics(Extract(state): Extract<Arc<State>>) -> HttpResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn mutate(Extract(state): Extract<Arc<State>>, req: HttpRequest) -> HttpResponse {
    handle(state, Endpoint::Mutate, req).await
}

async fn validate(Extract(state): Extract<Arc<State>>, req: HttpRequest) -> HttpResponse {
    handle(state, Endpoint::Validate, req).await
}

fn error(status: StatusCode, message: String) -> HttpResponse {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&json!({"error": message, "code": status.as_u16()})).unwrap_or_default(),
    )
        .into_response()
}

async fn handle(state: Arc<State>, endpoint: Endpoint, req: HttpRequest) -> HttpResponse {
    let body: Body = req.into_body();
    let read = tokio::time::timeout(
        state.request_timeout,
        axum::body::to_bytes(body, state.max_body_bytes),
    )
    .await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            state.metrics.bad_request();
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {} bytes", state.max_body_bytes),
                )
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                )
            };
        }
        Err(_) => {
            state.metrics.bad_request();
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time".into(),
            );
        }
    };
    let started = Instant::now();
    let request = match Request::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            state.metrics.bad_request();
            tracing::warn!(endpoint = endpoint.as_str(), error = %e, "bad admission request");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let response = admit(&state, endpoint, &request);
    let took = started.elapsed();
    let result = match (response.allowed(), response.patch_len() > 0) {
        (false, _) => "denied",
        (true, true) => "patched",
        (true, false) => "allowed",
    };
    state.metrics.admission(
        endpoint.as_str(),
        &request.kind.kind,
        &request.operation,
        result,
        took,
    );
    tracing::info!(
        uid = %request.uid,
        endpoint = endpoint.as_str(),
        kind = %request.kind.kind,
        namespace = request.namespace.as_deref().unwrap_or(""),
        name = %request.display_name(),
        operation = %request.operation,
        dry_run = request.dry_run.unwrap_or(false),
        allowed = response.allowed(),
        patch_bytes = response.patch_len(),
        latency_us = took.as_micros() as u64,
        "admission"
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        response.to_body(),
    )
        .into_response()
}

/// Run the engine for one request. Subresources and objects of unknown kinds pass unchanged.
pub fn admit(state: &State, endpoint: Endpoint, req: &Request) -> Response {
    let op: Operation = match req.operation.parse() {
        Ok(op) => op,
        Err(_) => return Response::allow(req),
    };
    if req.sub_resource.as_deref().is_some_and(|s| !s.is_empty()) {
        return Response::allow(req);
    }
    let null = serde_json::Value::Null;
    let object = match op {
        Operation::Delete => req.old_object.as_ref().unwrap_or(&null),
        _ => req.object.as_ref().unwrap_or(&null),
    };
    let namespaces = state.namespaces();
    let empty = BTreeMap::new();
    let namespace = req.namespace.as_deref().unwrap_or("");
    let user = UserInfo {
        username: req.user_info.username.clone(),
        groups: req.user_info.groups.clone(),
    };
    let engine = state.engine();
    let review = engine.admit(&EngineRequest {
        operation: op,
        object,
        old_object: req.old_object.as_ref(),
        namespace,
        namespace_labels: namespaces.get(namespace).unwrap_or(&empty),
        user: Some(&user),
        openshift: state.openshift(),
    });
    match endpoint {
        Endpoint::Mutate => Response::allow(req)
            .with_patch(&review.patch)
            .with_warnings(review.defaulting_warnings()),
        Endpoint::Validate if review.allowed() => {
            Response::allow(req).with_warnings(review.validation_warnings())
        }
        Endpoint::Validate => {
            Response::deny(req, review.message()).with_warnings(review.validation_warnings())
        }
    }
}
