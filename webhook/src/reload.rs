//! Hot reload of the certificate and the policy. Kubernetes updates mounted Secrets and ConfigMaps by
//! swapping a `..data` symlink, which inotify on the file itself misses; polling the content through
//! the path sees every update. A file that does not load is logged and the old one kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mltrain_shared::{Engine, Policy, PolicyFileError};

use crate::state::State;
use crate::tls::{self, Certificate};

/// The engine of a policy file, or of the default policy when there is none.
pub fn load_policy(path: Option<&Path>) -> Result<Engine, PolicyFileError> {
    let policy = match path {
        Some(p) => Policy::load(p)?,
        None => Policy::default(),
    };
    Ok(Engine::new(policy))
}

/// The files' bytes together, to tell when any changed; `None` while one cannot be read (a Secret's
/// `..data` link being swapped), which is looked at again on the next tick rather than reloaded.
fn read_all(paths: &[&Path]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(std::fs::read(p).ok()?);
        out.push(0);
    }
    Some(out)
}

/// Watch the files until the process ends.
///
/// The files are read for the baseline here, when it is called, not when the returned task first
/// runs: on a busy runtime that can be seconds after start, and a change made in between would
/// become the baseline and never be loaded.
pub fn watch(
    state: Arc<State>,
    cert: Arc<Certificate>,
    cert_file: PathBuf,
    key_file: PathBuf,
    policy_file: Option<PathBuf>,
    every: Duration,
) -> impl std::future::Future<Output = ()> {
    let last_tls = read_all(&[&cert_file, &key_file]);
    let last_policy = policy_file.as_deref().and_then(|p| read_all(&[p]));
    watch_from(
        state,
        cert,
        cert_file,
        key_file,
        policy_file,
        every,
        last_tls,
        last_policy,
    )
}

#[allow(clippy::too_many_arguments)]
async fn watch_from(
    state: Arc<State>,
    cert: Arc<Certificate>,
    cert_file: PathBuf,
    key_file: PathBuf,
    policy_file: Option<PathBuf>,
    every: Duration,
    mut last_tls: Option<Vec<u8>>,
    mut last_policy: Option<Vec<u8>>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = read_all(&[&cert_file, &key_file]);
        if now.is_some() && now != last_tls {
            last_tls = now;
            match tls::load(&cert_file, &key_file) {
                Ok(key) => {
                    cert.replace(key);
                    state.metrics.reload("certificate", "success");
                    tracing::info!(file = %cert_file.display(), "certificate reloaded");
                }
                Err(e) => {
                    state.metrics.reload("certificate", "failure");
                    tracing::error!(error = %e, "new certificate does not load; keeping the old one");
                }
            }
        }
        if let Some(p) = &policy_file {
            let now = read_all(&[p]);
            if now.is_some() && now != last_policy {
                last_policy = now;
                match load_policy(Some(p)) {
                    Ok(engine) => {
                        state.set_engine(engine);
                        state.metrics.reload("policy", "success");
                        tracing::info!(file = %p.display(), "policy reloaded");
                    }
                    Err(e) => {
                        state.metrics.reload("policy", "failure");
                        tracing::error!(error = %e, "new policy does not load; keeping the old one");
                    }
                }
            }
        }
    }
}
