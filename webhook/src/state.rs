//! What every request reads: the engine (swapped on policy reload), OpenShift status, cached namespace
//! labels, readiness and metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use mltrain_shared::{Engine, OpenShiftMode};

use crate::metrics::Metrics;

pub struct State {
    engine: RwLock<Arc<Engine>>,
    /// The `--openshift` flag, which overrides the policy's mode.
    openshift_flag: Option<OpenShiftMode>,
    /// What `auto` found in the cluster (false when it could not tell).
    cluster_is_openshift: AtomicBool,
    namespaces: RwLock<Arc<HashMap<String, BTreeMap<String, String>>>>,
    shutting_down: AtomicBool,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
    pub request_timeout: std::time::Duration,
}

impl State {
    pub fn new(
        engine: Engine,
        openshift_flag: Option<OpenShiftMode>,
        max_body_bytes: usize,
        request_timeout: std::time::Duration,
    ) -> Arc<Self> {
        Arc::new(State {
            engine: RwLock::new(Arc::new(engine)),
            openshift_flag,
            cluster_is_openshift: AtomicBool::new(false),
            namespaces: RwLock::new(Arc::new(HashMap::new())),
            shutting_down: AtomicBool::new(false),
            metrics: Metrics::new(),
            max_body_bytes,
            request_timeout,
        })
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_engine(&self, engine: Engine) {
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(engine);
    }

    /// The mode in force: the flag, else the policy's.
    pub fn openshift_mode(&self) -> OpenShiftMode {
        self.openshift_flag
            .unwrap_or_else(|| self.engine().policy().openshift)
    }

    /// Whether to adapt pods to OpenShift now.
    pub fn openshift(&self) -> bool {
        match self.openshift_mode() {
            OpenShiftMode::Force => true,
            OpenShiftMode::Disabled => false,
            OpenShiftMode::Auto => self.cluster_is_openshift.load(Ordering::Relaxed),
        }
    }

    pub fn set_cluster_is_openshift(&self, v: bool) {
        self.cluster_is_openshift.store(v, Ordering::Relaxed);
    }

    pub fn namespaces(&self) -> Arc<HashMap<String, BTreeMap<String, String>>> {
        self.namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_namespaces(&self, n: HashMap<String, BTreeMap<String, String>>) {
        *self.namespaces.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(n);
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn ready(&self) -> bool {
        !self.shutting_down.load(Ordering::SeqCst)
    }
}
