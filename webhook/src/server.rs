//! Running the webhook: load certificate and policy (refusing to start without them), serve the
//! admission port over TLS and the probe port over HTTP, reload files, and shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use mltrain_shared::{OpenShiftMode, PolicyFileError};
use thiserror::Error;

use crate::config::Config;
use crate::state::State;
use crate::{cluster, handlers, reload, tls};

#[derive(Debug, Error)]
pub enum StartError {
    #[error("certificate: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("policy {0}")]
    Policy(#[from] PolicyFileError),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server, for tests and `main`.
pub struct Running {
    pub state: Arc<State>,
    pub handle: Handle<SocketAddr>,
    pub admission_addr: SocketAddr,
    pub probe_addr: SocketAddr,
}

/// Start everything; returns once both ports listen.
pub async fn start(
    config: Config,
) -> Result<(Running, tokio::task::JoinHandle<std::io::Result<()>>), StartError> {
    let started = Instant::now();
    let cert = tls::Certificate::new(tls::load(&config.tls_cert_file, &config.tls_key_file)?);
    let engine = reload::load_policy(config.policy_file.as_deref())?;
    let state = State::new(
        engine,
        config.openshift,
        config.max_body_bytes,
        config.request_timeout,
    );
    let rustls = RustlsConfig::from_config(Arc::new(tls::server_config(cert.clone())?));
    let probe_addr = serve_probes(config.probe_listen, state.clone()).await?;
    let handle = Handle::new();
    let (server, admission_addr) = admission_server(&config, rustls, handle.clone())?;
    let app = handlers::router(state.clone());
    #[cfg(feature = "stages")]
    let app = app.merge(crate::stages::router(state.clone()));
    let serving = tokio::spawn(async move { server.serve(app.into_make_service()).await });
    watch_in_background(&config, &state, cert);
    tracing::info!(
        admission = %admission_addr,
        probes = %probe_addr,
        openshift = state.openshift(),
        startup_ms = started.elapsed().as_secs_f64() * 1000.0,
        "ready"
    );
    let running = Running {
        state,
        handle,
        admission_addr,
        probe_addr,
    };
    Ok((running, serving))
}

/// Listen on the plain-HTTP probe port and serve it in the background; the address it listens on.
async fn serve_probes(addr: SocketAddr, state: Arc<State>) -> Result<SocketAddr, StartError> {
    let bind = |source| StartError::Bind { addr, source };
    let probe = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
    let local = probe.local_addr().map_err(bind)?;
    let app = handlers::probe_router(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(probe, app).await {
            tracing::error!(error = %e, "probe server stopped");
        }
    });
    Ok(local)
}

type AdmissionServer = axum_server::Server<SocketAddr, RustlsAcceptor<NoDelayAcceptor>>;

/// The TLS admission server, listening but not yet serving, and the address it listens on.
fn admission_server(
    config: &Config,
    rustls: RustlsConfig,
    handle: Handle<SocketAddr>,
) -> Result<(AdmissionServer, SocketAddr), StartError> {
    let bind = |source| StartError::Bind {
        addr: config.listen,
        source,
    };
    let listener = std::net::TcpListener::bind(config.listen).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let mut server = axum_server::from_tcp(listener)
        .map_err(bind)?
        .acceptor(
            // No Nagle delay: an answer goes out as TLS records in more than one write, and the
            // API server waits for all of it before sending the next review on the connection.
            RustlsAcceptor::new(rustls)
                .handshake_timeout(Duration::from_secs(10))
                .acceptor(NoDelayAcceptor::new()),
        )
        .handle(handle);
    server
        .http_builder()
        .http1()
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(config.request_timeout);
    server
        .http_builder()
        .http2()
        .timer(hyper_util::rt::TokioTimer::new());
    Ok((server, local))
}

/// The file reloads and, unless `--no-cluster`, the cluster refresh, until the process ends.
fn watch_in_background(config: &Config, state: &Arc<State>, cert: Arc<tls::Certificate>) {
    tokio::spawn(reload::watch(
        state.clone(),
        cert,
        config.tls_cert_file.clone(),
        config.tls_key_file.clone(),
        config.policy_file.clone(),
        config.reload_interval,
    ));
    if config.use_cluster {
        tokio::spawn(cluster::watch(state.clone()));
    } else if state.openshift_mode() == OpenShiftMode::Auto {
        tracing::info!(
            "openshift auto: cluster access disabled (--no-cluster); assuming not OpenShift"
        );
    }
}

/// The runtime for `workers` threads (0: one per CPU the process may use, which counts the cgroup CPU
/// limit and affinity). With one, the current-thread scheduler: a webhook pod limited to one CPU then
/// pays for no cross-thread wake-ups or work stealing on every request.
pub fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = match workers {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        n => n,
    };
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

/// Start, then serve until SIGTERM or SIGINT: readiness goes 503 first, keep-alive connections are
/// closed, and in-flight requests finish (up to the grace period).
pub async fn run(config: Config) -> Result<(), StartError> {
    let grace = config.shutdown_grace;
    let (running, serving) = start(config).await?;
    wait_for_signal().await;
    tracing::info!("shutting down: readiness is 503, finishing in-flight requests");
    running.state.begin_shutdown();
    running.handle.graceful_shutdown(Some(grace));
    let _ = serving.await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
