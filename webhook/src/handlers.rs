//! HTTP handlers: `/mutate` and `/validate` on the TLS port, probes and metrics on the plain port.
//! Handlers only read the body, hand it to the shared admission entry point
//! (`mltrain_shared::admission`) with a snapshot of the webhook's state, and map the outcome; they
//! never panic on input, and every outcome is an HTTP answer (400 for a body that is not a v1
//! AdmissionReview, 413 too large, 408 too slow).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request as HttpRequest, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use mltrain_shared::admission::{AdmissionRequest, AdmissionResponse, Endpoint, ReviewError};
use serde_json::json;

use crate::access_log;
use crate::state::State;

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
        json!({"error": message, "code": status.as_u16()}).to_string(),
    )
        .into_response()
}

async fn handle(state: Arc<State>, endpoint: Endpoint, req: HttpRequest) -> HttpResponse {
    let bytes = match read_body(&state, req.into_body()).await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let started = Instant::now();
    let answer = match state.snapshot().admission().review(endpoint, &bytes) {
        Ok(a) => a,
        Err(e) => return bad_review(&state, endpoint, &e),
    };
    let body = answer.response.to_body();
    let took = started.elapsed();
    record(&state, endpoint, &answer.request, &answer.response, took);
    json_ok(body)
}

/// The body, bounded in size ([`State::max_body_bytes`], else 413) and time (else 408).
pub async fn read_body(state: &State, body: Body) -> Result<Bytes, HttpResponse> {
    let read = tokio::time::timeout(
        state.request_timeout,
        axum::body::to_bytes(body, state.max_body_bytes),
    )
    .await;
    match read {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            state.metrics.bad_request();
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {} bytes", state.max_body_bytes),
                )
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                )
            })
        }
        Err(_) => {
            state.metrics.bad_request();
            Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time".into(),
            ))
        }
    }
}

/// A body that is not an AdmissionReview we can answer: counted, logged, 400.
pub fn bad_review(state: &State, endpoint: Endpoint, e: &ReviewError) -> HttpResponse {
    state.metrics.bad_request();
    tracing::warn!(endpoint = endpoint.as_str(), error = %e, "bad admission request");
    error(StatusCode::BAD_REQUEST, e.to_string())
}

/// 200 with a JSON body.
pub fn json_ok(body: Vec<u8>) -> HttpResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The log line and the metrics of one answered admission.
pub fn record(
    state: &State,
    endpoint: Endpoint,
    request: &AdmissionRequest,
    response: &AdmissionResponse,
    took: Duration,
) {
    log_line(endpoint, request, response, took);
    count(state, endpoint, request, response, took);
}

/// The one structured line per admission (DESIGN §5); see [`crate::access_log`]. Out of line so
/// `webhook/bench/stage-ir.sh` can count it.
#[inline(never)]
pub fn log_line(
    endpoint: Endpoint,
    request: &AdmissionRequest,
    response: &AdmissionResponse,
    took: Duration,
) {
    access_log::write(endpoint, request, response, took);
}

/// The admission counters and latency histogram. Out of line so `webhook/bench/stage-ir.sh` can
/// count it (it costs a few nanoseconds either way).
#[inline(never)]
pub fn count(
    state: &State,
    endpoint: Endpoint,
    request: &AdmissionRequest,
    response: &AdmissionResponse,
    took: Duration,
) {
    let result = match (response.allowed(), response.patch_len() > 0) {
        (false, _) => "denied",
        (true, true) => "patched",
        (true, false) => "allowed",
    };
    state.metrics.admission(
        endpoint.as_str(),
        &request.kind.kind,
        request.operation.as_str(),
        result,
        took,
    );
}
