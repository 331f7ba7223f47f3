//! mltrain-webhook: the HTTPS admission server around the shared engine (DESIGN §5). Reviews are
//! parsed, decided and answered by `mltrain_shared::admission`; this crate adds HTTP, TLS, reloads,
//! the cluster's state, logs and metrics.
//!
//! [`handlers::router`] is exposed so tests drive the handlers in-process (`tests/router.rs`);
//! [`server::start`] runs the real thing.

pub mod access_log;
pub mod cluster;
pub mod config;
pub mod handlers;
pub mod log_writer;
pub mod logging;
pub mod metrics;
pub mod reload;
pub mod server;
#[cfg(feature = "stages")]
pub mod stages;
pub mod state;
pub mod tls;
