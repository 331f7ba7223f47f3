//! The webhook's settings: flags, each also read from `MLTRAIN_WEBHOOK_<FLAG>`. Tests build [`Config`]
//! directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mltrain_shared::OpenShiftMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// mltrain admission webhook: security defaults, shared memory, NCCL settings and policy checks for
/// training pods, over HTTPS.
#[derive(Debug, Parser)]
#[command(name = "mltrain-webhook", version)]
pub struct Args {
    /// PEM certificate (chain) for the admission port.
    #[arg(long, env = "MLTRAIN_WEBHOOK_TLS_CERT_FILE")]
    pub tls_cert_file: PathBuf,
    /// PEM private key for the admission port.
    #[arg(long, env = "MLTRAIN_WEBHOOK_TLS_KEY_FILE")]
    pub tls_key_file: PathBuf,
    /// HTTPS address for /mutate and /validate.
    #[arg(long, env = "MLTRAIN_WEBHOOK_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Plain-HTTP address for /healthz, /readyz and /metrics.
    #[arg(
        long,
        env = "MLTRAIN_WEBHOOK_PROBE_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub probe_listen: SocketAddr,
    /// Cluster policy (YAML); none means the default policy.
    #[arg(long, env = "MLTRAIN_WEBHOOK_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// OpenShift adaptation; overrides the policy's `openshift`.
    #[arg(long, env = "MLTRAIN_WEBHOOK_OPENSHIFT", value_enum)]
    pub openshift: Option<OpenShiftMode>,
    #[arg(
        long,
        env = "MLTRAIN_WEBHOOK_LOG_FORMAT",
        value_enum,
        default_value = "json"
    )]
    pub log_format: LogFormat,
    /// How often to look for new certificate and policy files (seconds).
    #[arg(long, env = "MLTRAIN_WEBHOOK_RELOAD_INTERVAL", default_value = "2")]
    pub reload_interval: u64,
    /// Largest request body accepted (bytes); larger gets 413.
    #[arg(
        long,
        env = "MLTRAIN_WEBHOOK_MAX_BODY_BYTES",
        default_value = "8388608"
    )]
    pub max_body_bytes: usize,
    /// Time allowed to receive one request (seconds); slower clients get 408.
    #[arg(long, env = "MLTRAIN_WEBHOOK_REQUEST_TIMEOUT", default_value = "10")]
    pub request_timeout: u64,
    /// Longest wait for in-flight requests on SIGTERM (seconds).
    #[arg(long, env = "MLTRAIN_WEBHOOK_SHUTDOWN_GRACE", default_value = "25")]
    pub shutdown_grace: u64,
    /// Do not contact the Kubernetes API (no OpenShift discovery, no namespace labels).
    #[arg(long, env = "MLTRAIN_WEBHOOK_NO_CLUSTER")]
    pub no_cluster: bool,
    /// Threads serving requests; 0 means one per CPU the process may use (its cgroup CPU limit and
    /// affinity included). One thread runs tokio's current-thread scheduler.
    #[arg(long, env = "MLTRAIN_WEBHOOK_WORKER_THREADS", default_value = "0")]
    pub worker_threads: usize,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub tls_cert_file: PathBuf,
    pub tls_key_file: PathBuf,
    pub listen: SocketAddr,
    pub probe_listen: SocketAddr,
    pub policy_file: Option<PathBuf>,
    /// `None`: take the policy's mode.
    pub openshift: Option<OpenShiftMode>,
    pub log_format: LogFormat,
    pub reload_interval: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub use_cluster: bool,
    /// 0: one per usable CPU.
    pub worker_threads: usize,
}

impl From<Args> for Config {
    fn from(a: Args) -> Self {
        Config {
            tls_cert_file: a.tls_cert_file,
            tls_key_file: a.tls_key_file,
            listen: a.listen,
            probe_listen: a.probe_listen,
            policy_file: a.policy_file,
            openshift: a.openshift,
            log_format: a.log_format,
            reload_interval: Duration::from_secs(a.reload_interval.max(1)),
            max_body_bytes: a.max_body_bytes,
            request_timeout: Duration::from_secs(a.request_timeout.max(1)),
            shutdown_grace: Duration::from_secs(a.shutdown_grace),
            use_cluster: !a.no_cluster,
            worker_threads: a.worker_threads,
        }
    }
}
