//! The per-request cost breakdown (issue 15): `POST /stage/{name}` runs `/mutate`'s own pipeline up to
//! the named stage and answers a constant AdmissionReview for the rest, so load runs against each stage,
//! side by side in one run, show what every stage costs on the real server stack (TLS, HTTP, routing).
//! Built only with `--features stages` (by `webhook/bench/breakdown.sh`); the production binary has no
//! such route.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Request as HttpRequest, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::post;

use mltrain_shared::admission::{AdmissionRequest, AdmissionResponse, Endpoint};

use crate::handlers;
use crate::state::State;

/// The stages in pipeline order; `/stage/metrics` is the whole of `/mutate`.
pub const STAGES: [&str; 8] = [
    "routing",
    "body",
    "parse",
    "engine",
    "patch",
    "serialise",
    "log",
    "metrics",
];

/// The body file whose answer the early stages send, so every stage sends the same bytes.
pub const BODY_ENV: &str = "MLTRAIN_WEBHOOK_STAGE_BODY";

struct Stages {
    state: Arc<State>,
    constant: Vec<u8>,
}

/// The `/stage/{name}` routes. The constant answer is `/mutate`'s answer to the review in
/// `$MLTRAIN_WEBHOOK_STAGE_BODY` (a bare allow without it).
pub fn router(state: Arc<State>) -> Router {
    let constant = match std::env::var_os(BODY_ENV) {
        Some(path) => constant_answer(&state, std::path::Path::new(&path)),
        None => br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"stage","allowed":true}}"#.to_vec(),
    };
    Router::new()
        .route("/stage/{name}", post(stage))
        .with_state(Arc::new(Stages { state, constant }))
}

/// `/mutate`'s answer to the review in `path`. The bench names the file on purpose, so one that does
/// not load stops the server rather than measuring the wrong thing.
fn constant_answer(state: &State, path: &std::path::Path) -> Vec<u8> {
    let body = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{BODY_ENV}={}: cannot read it: {e}", path.display()));
    match state.snapshot().admission().review(Endpoint::Mutate, &body) {
        Ok(answer) => answer.response.to_body(),
        Err(e) => panic!("{BODY_ENV}={}: {e}", path.display()),
    }
}

async fn stage(
    Extract(s): Extract<Arc<Stages>>,
    Path(name): Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let Some(upto) = STAGES.iter().position(|n| *n == name) else {
        return (StatusCode::NOT_FOUND, "unknown stage").into_response();
    };
    let constant = || handlers::json_ok(s.constant.clone());
    if upto == 0 {
        return constant();
    }
    let state = &s.state;
    let bytes = match handlers::read_body(state, req.into_body()).await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    if upto == 1 {
        return constant();
    }
    let started = Instant::now();
    let request = match AdmissionRequest::parse(&bytes) {
        Ok(r) => r,
        Err(e) => return handlers::bad_review(state, Endpoint::Mutate, &e),
    };
    if upto == 2 {
        return constant();
    }
    let snapshot = state.snapshot();
    let review = std::hint::black_box(snapshot.admission().decide(&request));
    if upto == 3 {
        return constant();
    }
    let response = AdmissionResponse::of(Endpoint::Mutate, &request, review.as_ref());
    if upto == 4 {
        std::hint::black_box(&response);
        return constant();
    }
    let body = response.to_body();
    let took = started.elapsed();
    if upto >= 6 {
        handlers::log_line(Endpoint::Mutate, &request, &response, took);
    }
    if upto >= 7 {
        handlers::count(state, Endpoint::Mutate, &request, &response, took);
    }
    handlers::json_ok(body)
}
