//! Running the webhook: load certificate and policy (refusing to start without them), serve the
//! admission port over TLS and the probe port over HTTP, reload files, and shut down gracefully.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use thiserror::Error;

use crate::config::Config;
use crate::state::State;
use crate::{cluster, handlers, reload, tls};

#[derive(Debug, Error)]
pub enum StartError {
    #[error("certificate: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("policy: {0}")]
    Policy(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// A running server, for tests and `main`.
pub struct Running {
    pub state: Arc<State>,
    pub handle: Handle<std::net::SocketAddr>,
    pub admission_addr: std::net::SocketAddr,
    pub probe_addr: std::net::SocketAddr,
}

/// Start everything; returns once both ports listen.
pub async fn start(
    config: Config,
) -> Result<(Running, tokio::task::JoinHandle<std::io::Result<()>>), StartError> {
    let started = Instant::now();
    let cert = tls::Certificate::new(tls::load(&config.tls_cert_file, &config.tls_key_file)?);
    let engine = reload::load_policy(config.policy_file.as_deref()).map_err(StartError::Policy)?;
    let state = State::new(
        engine,
        config.openshift,
        config.max_body_bytes,
        config.request_timeout,
    );
    let rustls = RustlsConfig::from_config(Arc::new(tls::server_config(cert.clone())?));

    let probe = tokio::net::TcpListener::bind(config.probe_listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.probe_listen,
            source,
        })?;
    let probe_addr = probe.local_addr().map_err(|source| StartError::Bind {
        addr: config.probe_listen,
        source,
    })?;
    let probe_app = handlers::probe_router(state.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(probe, probe_app).await {
            tracing::error!(error = %e, "probe server stopped");
        }
    });

    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let admission_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let handle = Handle::new();
    let mut server = axum_server::from_tcp(listener)
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?
        .acceptor(
            // No Nagle delay: an answer goes out as TLS records in more than one write, and the
            // API server waits for all of it before sending the next review on the connection.
            RustlsAcceptor::new(rustls)
                .handshake_timeout(Duration::from_secs(10))
                .acceptor(NoDelayAcceptor::new()),
        )
        .handle(handle.clone());
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
    let app = handlers::router(state.clone());
    #[cfg(feature = "stages")]
    let app = app.merge(crate::stages::router(state.clone()));
    let serving = tokio::spawn(async move { server.serve(app.into_make_service()).await });

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
    } else if state.openshift_mode() == mltrain_shared::OpenShiftMode::Auto {
        tracing::info!(
            "openshift auto: cluster access disabled (--no-cluster); assuming not OpenShift"
        );
    }
    tracing::info!(
        admission = %admission_addr,
        probes = %probe_addr,
        openshift = state.openshift(),
        startup_ms = started.elapsed().as_secs_f64() * 1000.0,
        "ready"
    );
    Ok((
        Running {
            state,
            handle,
            admission_addr,
            probe_addr,
        },
        serving,
    ))
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
