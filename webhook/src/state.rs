//! What every request reads: the engine (swapped on policy reload), OpenShift status, cached namespace
//! labels, readiness and metrics.
//!
//! The engine requests use is the configured one with its default priority class dropped unless the
//! cluster is known to have that class (DESIGN §4 item 6): the API server's Priority admission plugin
//! refuses pods naming a missing class, so defaulting one would stop every job. Until the first
//! successful PriorityClass list, no class counts as existing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use mltrain_shared::admission::{Admission, NamespaceLabels};
use mltrain_shared::{Engine, OpenShiftMode};

use crate::metrics::Metrics;

pub struct State {
    /// The engine of the loaded policy, as written.
    configured: RwLock<Arc<Engine>>,
    /// What requests use: `configured`, minus a default priority class the cluster lacks.
    engine: RwLock<Arc<Engine>>,
    /// PriorityClass names in the cluster; `None` until they could be read.
    priority_classes: RwLock<Option<BTreeSet<String>>>,
    /// The `--openshift` flag, which overrides the policy's mode.
    openshift_flag: Option<OpenShiftMode>,
    /// What discovery found for `auto`: [`UNKNOWN`] until the cluster could be asked.
    detected_openshift: AtomicU8,
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
        let configured = Arc::new(engine);
        Arc::new(State {
            engine: RwLock::new(effective(&configured, None)),
            configured: RwLock::new(configured),
            priority_classes: RwLock::new(None),
            openshift_flag,
            detected_openshift: AtomicU8::new(UNKNOWN),
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
        let engine = Arc::new(engine);
        *self.configured.write().unwrap_or_else(|p| p.into_inner()) = engine.clone();
        self.recompute(engine);
    }

    /// Record the cluster's PriorityClass names and re-derive the engine requests use (only when they
    /// changed: the list is re-read every refresh, and the log says each decision once).
    pub fn set_priority_classes(&self, classes: BTreeSet<String>) {
        {
            let mut known = self
                .priority_classes
                .write()
                .unwrap_or_else(|p| p.into_inner());
            if known.as_ref() == Some(&classes) {
                return;
            }
            *known = Some(classes);
        }
        let configured = self
            .configured
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.recompute(configured);
    }

    fn recompute(&self, configured: Arc<Engine>) {
        let classes = self
            .priority_classes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) =
            effective(&configured, classes.as_ref());
    }

    /// The mode in force: the flag, else the policy's.
    pub fn openshift_mode(&self) -> OpenShiftMode {
        self.openshift_flag
            .unwrap_or_else(|| self.engine().policy().openshift)
    }

    /// Whether to adapt pods to OpenShift now.
    pub fn openshift(&self) -> bool {
        self.openshift_mode().resolve(self.detected_openshift())
    }

    /// What discovery found: `None` until the cluster could be asked.
    pub fn detected_openshift(&self) -> Option<bool> {
        match self.detected_openshift.load(Ordering::Relaxed) {
            UNKNOWN => None,
            v => Some(v == OPENSHIFT),
        }
    }

    pub fn set_cluster_is_openshift(&self, v: bool) {
        let v = if v { OPENSHIFT } else { NOT_OPENSHIFT };
        self.detected_openshift.store(v, Ordering::Relaxed);
    }

    /// What one request reads, taken together once: the engine in force, the namespace labels and
    /// whether OpenShift adaptation is on.
    pub fn snapshot(&self) -> Snapshot {
        let engine = self.engine();
        let mode = self
            .openshift_flag
            .unwrap_or_else(|| engine.policy().openshift);
        Snapshot {
            openshift: mode.resolve(self.detected_openshift()),
            namespaces: self.namespaces(),
            engine,
        }
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

const UNKNOWN: u8 = 0;
const NOT_OPENSHIFT: u8 = 1;
const OPENSHIFT: u8 = 2;

/// See [`State::snapshot`].
pub struct Snapshot {
    engine: Arc<Engine>,
    namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    openshift: bool,
}

impl Snapshot {
    /// The shared admission entry point, with what the webhook knows of the cluster.
    pub fn admission(&self) -> Admission<'_> {
        Admission {
            engine: &self.engine,
            namespace_labels: NamespaceLabels::PerNamespace(&self.namespaces),
            openshift: self.openshift,
        }
    }
}

/// `configured`, or a copy without its default priority class when the cluster is not known to have it.
fn effective(configured: &Arc<Engine>, classes: Option<&BTreeSet<String>>) -> Arc<Engine> {
    let mut policy = configured.policy().clone();
    match policy.drop_missing_default_priority(|c| classes.is_some_and(|s| s.contains(c))) {
        None => configured.clone(),
        Some(class) => {
            match classes {
                Some(_) => tracing::warn!(
                    class,
                    "the policy's default priority class does not exist in the cluster; not setting it (create the PriorityClass or change priority.default)"
                ),
                None => tracing::info!(
                    class,
                    "PriorityClasses not read yet; not setting the policy's default priority class until the cluster is known to have it"
                ),
            }
            Arc::new(Engine::new(policy))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mltrain_shared::Policy;

    fn state(policy: &str) -> Arc<State> {
        State::new(
            Engine::new(Policy::from_yaml(policy).unwrap()),
            None,
            1 << 20,
            std::time::Duration::from_secs(5),
        )
    }

    #[test]
    fn the_default_class_is_used_only_once_the_cluster_is_known_to_have_it() {
        let st = state("priority: {default: default-priority}\n");
        assert_eq!(st.engine().policy().priority.default, "");
        st.set_priority_classes(BTreeSet::from(["low-priority".to_string()]));
        assert_eq!(st.engine().policy().priority.default, "");
        st.set_priority_classes(BTreeSet::from(["default-priority".to_string()]));
        assert_eq!(st.engine().policy().priority.default, "default-priority");
        // A reloaded policy is checked against the classes already known.
        st.set_engine(Engine::new(
            Policy::from_yaml("priority: {default: urgent}\n").unwrap(),
        ));
        assert_eq!(st.engine().policy().priority.default, "");
    }
}
