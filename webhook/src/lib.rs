//! mltrain-webhook: the HTTPS admission server around the shared engine (DESIGN §5).
//!
//! [`handlers::router`] is exposed so tests can drive the handlers without sockets; [`server::start`]
//! runs the real thing.

pub mod cluster;
pub mod config;
pub mod handlers;
pub mod logging;
pub mod metrics;
pub mod reload;
pub mod review;
pub mod server;
#[cfg(feature = "stages")]
pub mod stages;
pub mod state;
pub mod tls;
