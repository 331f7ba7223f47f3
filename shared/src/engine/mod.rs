//! The admission engine: one function, [`Engine::admit`], decides every default and every refusal, for
//! the webhook and for the plugin's local preview alike (DESIGN §1, §4).
//!
//! It takes any object, finds its pod templates ([`workload`]), fills what is missing on CREATE
//! ([`security`], [`shm`], [`nccl`], [`hosts`], [`priority`]), validates the result, and returns the
//! patch as the RFC 6902 difference between input and output, never hand-written paths.
//! Reference: <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/>.

pub mod diff;
pub mod facts;
pub mod hosts;
pub mod json;
pub mod nccl;
pub mod priority;
pub mod resources;
pub mod security;
pub mod shm;
pub mod trainjob;
pub mod workload;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::policy::Policy;
use facts::PodFacts;
use json::At;
pub use json::FieldPath;
pub use workload::is_handled;

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    /// As the API server spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the four admission operations.
#[derive(Debug, Error)]
#[error("unknown operation {0:?}; use CREATE, UPDATE, DELETE or CONNECT")]
pub struct UnknownOperation(pub String);

impl std::str::FromStr for Operation {
    type Err = UnknownOperation;
    fn from_str(s: &str) -> Result<Self, UnknownOperation> {
        Ok(match s {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            other => return Err(UnknownOperation(other.to_string())),
        })
    }
}

/// Who sent the request (`request.userInfo` of an AdmissionReview, of which only these are read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    pub username: String,
    pub groups: Vec<String>,
}

/// One admission request, as the engine needs it. Built with [`Request::new`] and the `with_*`
/// methods, which say what each caller knows (a namespace, its labels, the user) and default the rest,
/// so a new field is added in one place.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Request<'a> {
    pub operation: Operation,
    pub object: &'a Value,
    pub old_object: Option<&'a Value>,
    pub namespace: &'a str,
    pub namespace_labels: &'a BTreeMap<String, String>,
    /// Who asks; `None` when unknown (the plugin offline), so approval is left to the cluster.
    pub user: Option<&'a UserInfo>,
    /// Whether OpenShift adaptation is active (the caller resolves `auto`: see
    /// [`crate::OpenShiftMode::resolve`]).
    pub openshift: bool,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Request<'a> {
    /// `operation` on `object`, with nothing else known yet: no old object, no namespace and so no
    /// labels, an unknown user, no OpenShift adaptation.
    pub fn new(operation: Operation, object: &'a Value) -> Self {
        Request {
            operation,
            object,
            old_object: None,
            namespace: "",
            namespace_labels: &NO_LABELS,
            user: None,
            openshift: false,
        }
    }

    /// A CREATE of `object`: what the plugin previews.
    pub fn create(object: &'a Value) -> Self {
        Request::new(Operation::Create, object)
    }

    /// The same request about another object (admitting the engine's own output again).
    pub fn with_object(self, object: &'a Value) -> Self {
        Request { object, ..self }
    }

    pub fn with_old_object(self, old_object: Option<&'a Value>) -> Self {
        Request { old_object, ..self }
    }

    pub fn in_namespace(self, namespace: &'a str) -> Self {
        Request { namespace, ..self }
    }

    pub fn with_namespace_labels(self, namespace_labels: &'a BTreeMap<String, String>) -> Self {
        Request {
            namespace_labels,
            ..self
        }
    }

    pub fn with_user(self, user: Option<&'a UserInfo>) -> Self {
        Request { user, ..self }
    }

    pub fn with_openshift(self, openshift: bool) -> Self {
        Request { openshift, ..self }
    }
}

/// One reason to refuse: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// The field, dotted as the API server writes it (`spec.template.spec.containers[0].resources`).
    pub path: String,
    /// What is wrong, with the bad value and the fix.
    pub message: String,
}

impl Violation {
    pub fn new(path: FieldPath, message: String) -> Self {
        Violation {
            path: path.dotted().to_string(),
            message,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The engine's patch did not apply to the object it was computed from.
#[derive(Debug, Error)]
#[error(
    "the engine's patch does not apply to the object it was made from; this is an mltrain bug, please report it with the object: {0}"
)]
pub struct PatchError(#[from] json_patch::PatchError);

/// What the engine decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Review {
    /// The RFC 6902 patch from the request's object to the mutated object; empty when nothing changed.
    pub patch: json_patch::Patch,
    /// Allowed but worth saying; each under 120 characters, as admission warnings must be. The first
    /// [`Review::mutation_warnings`] come from defaulting, the rest from validation, so a mutating and a
    /// validating webhook can each send their own without showing the user the same line twice.
    pub warnings: Vec<String>,
    pub mutation_warnings: usize,
    /// Every reason to refuse, all at once.
    pub violations: Vec<Violation>,
}

impl Review {
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The mutated object: the request's object with the patch applied. The patch was computed from
    /// that object, so it applies; when it does not, that is an engine bug, and it is said so rather
    /// than answered with the unchanged object.
    pub fn mutated(&self, input: &Value) -> Result<Value, PatchError> {
        let mut out = input.clone();
        if !self.patch.0.is_empty() {
            json_patch::patch(&mut out, &self.patch)?;
        }
        Ok(out)
    }

    /// Warnings about what defaulting did.
    pub fn defaulting_warnings(&self) -> &[String] {
        &self.warnings[..self.mutation_warnings.min(self.warnings.len())]
    }

    /// Warnings about what validation found.
    pub fn validation_warnings(&self) -> &[String] {
        &self.warnings[self.mutation_warnings.min(self.warnings.len())..]
    }

    /// The refusal message: every violation, one a line.
    pub fn message(&self) -> String {
        let mut m = format!(
            "mltrain policy refused this object ({} problem{}):",
            self.violations.len(),
            if self.violations.len() == 1 { "" } else { "s" }
        );
        for v in &self.violations {
            m.push_str("\n- ");
            m.push_str(&v.to_string());
        }
        m
    }
}

/// Per-template context handed to the rules.
pub struct Cx<'a> {
    pub policy: &'a Policy,
    pub request: &'a Request<'a>,
    pub facts: &'a PodFacts,
    pub path: &'a FieldPath,
    pub openshift: bool,
    warnings: &'a mut Vec<String>,
}

/// Longest admission warning the API server passes on unchanged.
const MAX_WARNING: usize = 120;

impl<'a> Cx<'a> {
    pub fn new(
        policy: &'a Policy,
        request: &'a Request<'a>,
        facts: &'a PodFacts,
        path: &'a FieldPath,
        warnings: &'a mut Vec<String>,
    ) -> Self {
        Cx {
            policy,
            request,
            facts,
            path,
            openshift: request.openshift,
            warnings,
        }
    }
}

impl Cx<'_> {
    /// Warn about this template: the message first, so truncation only ever cuts the path.
    pub fn warn(&mut self, message: &str) {
        self.warn_at(message, self.path.dotted());
    }

    /// Warn about a field.
    pub fn warn_at(&mut self, message: &str, path: &str) {
        let w = if path.is_empty() {
            message.to_string()
        } else {
            format!("{message} (at {path})")
        };
        push_warning(self.warnings, w);
    }
}

fn push_warning(warnings: &mut Vec<String>, mut w: String) {
    if w.chars().count() > MAX_WARNING {
        w = w.chars().take(MAX_WARNING - 3).collect::<String>() + "...";
    }
    if !warnings.contains(&w) {
        warnings.push(w);
    }
}

/// The engine: a checked policy, ready to admit.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    policy: Policy,
}

type Found = Vec<(workload::Template, PodFacts)>;

/// One template after the rules: the template, and for a TrainJob's `node` patch the env the rules
/// added to the trainer's container, which belongs in `spec.trainer.env` (the Trainer refuses env on
/// the `node` container of a runtime patch: kubeflow/trainer
/// `pkg/runtime/framework/plugins/jobset/jobset.go`, "must not have envs for the ... node containers").
struct Mutated {
    pod: Value,
    trainer_env: Vec<Value>,
}

impl Engine {
    pub fn new(policy: Policy) -> Self {
        Engine { policy }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Admit one request: mutate on CREATE, validate always, and say why when refusing.
    pub fn admit(&self, req: &Request<'_>) -> Review {
        if !is_handled(req.object) {
            return Review::default();
        }
        let mut warnings = Vec::new();
        match req.operation {
            Operation::Create => {
                let found = self.survey(req.object);
                let mut pods = self.mutate_templates(req.object, &found, req, &mut warnings);
                let mutation_warnings = warnings.len();
                let mut violations = Vec::new();
                self.validate_sites(req.object, &found, req, &mut warnings, &mut violations);
                for ((t, facts), m) in found.iter().zip(&pods) {
                    if let Some(Mutated { pod, .. }) = m {
                        self.validate_template(
                            req.object,
                            pod,
                            t,
                            facts,
                            req,
                            &mut warnings,
                            &mut violations,
                        );
                    }
                }
                let patch = template_patch(req.object, &found, &mut pods);
                Review {
                    patch,
                    warnings,
                    mutation_warnings,
                    violations,
                }
            }
            Operation::Update => {
                let new = self.validate_object(req.object, req, &mut warnings);
                // What was already there when the object was admitted is not this update's fault:
                // a label change on a running pod must not fail because the policy changed since.
                let old = req
                    .old_object
                    .filter(|o| is_handled(o))
                    .map(|o| self.validate_object(o, req, &mut Vec::new()))
                    .unwrap_or_default();
                Review {
                    violations: new.into_iter().filter(|v| !old.contains(v)).collect(),
                    warnings,
                    ..Review::default()
                }
            }
            Operation::Delete | Operation::Connect => Review::default(),
        }
    }

    /// Every template and its facts, gathered before any change.
    fn survey(&self, obj: &Value) -> Found {
        let mut found = Vec::new();
        workload::templates(obj, &FieldPath::root(), &[], &mut found);
        found
            .into_iter()
            .map(|t| {
                let f = PodFacts::gather(obj, &t, &self.policy);
                (t, f)
            })
            .collect()
    }

    /// Apply the rules to a copy of what they may change in each template: `spec` and
    /// `metadata.annotations` (with `ownerReferences`, which approval reads). Copying only these keeps
    /// the large parts of a Pod (`managedFields`, `status`) out of the hot path.
    fn mutate_templates(
        &self,
        obj: &Value,
        found: &Found,
        req: &Request<'_>,
        warnings: &mut Vec<String>,
    ) -> Vec<Option<Mutated>> {
        found
            .iter()
            .map(|(t, facts)| {
                let orig = obj.at(t.path.pointer()).filter(|v| v.is_object())?;
                let mut meta = Map::new();
                for key in ["annotations", "ownerReferences"] {
                    if let Some(v) = orig.get("metadata").and_then(|m| m.get(key)) {
                        meta.insert(key.into(), v.clone());
                    }
                }
                let mut pod = Map::new();
                pod.insert("metadata".into(), Value::Object(meta));
                if let Some(spec) = orig.get("spec") {
                    pod.insert("spec".into(), spec.clone());
                }
                let trainer_env = self.apply_rules_on(obj, &mut pod, t, facts, req, warnings);
                Some(Mutated {
                    pod: Value::Object(pod),
                    trainer_env,
                })
            })
            .collect()
    }

    /// [`Self::apply_rules`], through a TrainJob's view of a runtime patch where there is one; returns
    /// the env the rules gave the trainer's container (see [`Mutated`]).
    fn apply_rules_on(
        &self,
        obj: &Value,
        pod: &mut Map<String, Value>,
        t: &workload::Template,
        facts: &PodFacts,
        req: &Request<'_>,
        warnings: &mut Vec<String>,
    ) -> Vec<Value> {
        let Some(rp) = &t.runtime_patch else {
            self.apply_rules(pod, t, facts, req, warnings);
            return Vec::new();
        };
        let original = Value::Object(pod.clone());
        // The `node` job's patch: `spec.trainer` (or nothing, when the TrainJob has none) is merged in.
        let trainer = rp
            .trainer
            .as_ref()
            .map(|p| obj.at(p.pointer()).unwrap_or(&Value::Null));
        if let Some(trainer) = trainer {
            trainjob::view(pod, trainer);
        }
        self.apply_rules(pod, t, facts, req, warnings);
        trainjob::restrict(pod, trainer, &original)
    }

    fn apply_rules(
        &self,
        pod: &mut Map<String, Value>,
        t: &workload::Template,
        facts: &PodFacts,
        req: &Request<'_>,
        warnings: &mut Vec<String>,
    ) {
        let mut cx = Cx::new(&self.policy, req, facts, &t.path, warnings);
        security::mutate(pod, &mut cx);
        shm::mutate(pod, &mut cx);
        nccl::mutate(pod, &mut cx);
        hosts::mutate(pod, &mut cx);
        priority::mutate(pod, &mut cx);
    }

    /// The plain way to mutate: the rules applied in place to a full copy of the object. The engine
    /// does not use it; its tests compare it with `input + patch` to check the subtree patch
    /// independently, which is why it exists only with the `test-support` feature.
    #[cfg(feature = "test-support")]
    pub fn mutate_full_copy(&self, req: &Request<'_>) -> Value {
        let mut obj = req.object.clone();
        if req.operation != Operation::Create || !is_handled(req.object) {
            return obj;
        }
        let found = self.survey(req.object);
        let mut warnings = Vec::new();
        for (t, facts) in &found {
            let mut pod = match obj.at(t.path.pointer()).and_then(Value::as_object) {
                Some(p) => p.clone(),
                None => continue,
            };
            let trainer_env =
                self.apply_rules_on(req.object, &mut pod, t, facts, req, &mut warnings);
            if let Some(slot) = obj.at_mut(t.path.pointer()) {
                *slot = Value::Object(pod);
            }
            let trainer = t.runtime_patch.as_ref().and_then(|rp| rp.trainer.as_ref());
            if let (Some(tp), false) = (trainer, trainer_env.is_empty()) {
                append_trainer_env(&mut obj, tp, trainer_env);
            }
        }
        obj
    }

    fn validate_object(
        &self,
        obj: &Value,
        req: &Request<'_>,
        warnings: &mut Vec<String>,
    ) -> Vec<Violation> {
        let found = self.survey(obj);
        let mut out = Vec::new();
        self.validate_sites(obj, &found, req, warnings, &mut out);
        for (t, facts) in &found {
            if let Some(pod) = obj.at(t.path.pointer()) {
                self.validate_template(obj, pod, t, facts, req, warnings, &mut out);
            }
        }
        out
    }

    /// Checks of metadata: the object, every embedded object and every template, each once.
    fn validate_sites(
        &self,
        obj: &Value,
        found: &Found,
        req: &Request<'_>,
        warnings: &mut Vec<String>,
        out: &mut Vec<Violation>,
    ) {
        let mut sites: Vec<FieldPath> = vec![FieldPath::root().key("metadata")];
        for (t, _) in found {
            for m in t
                .enclosing
                .iter()
                .chain(std::iter::once(&t.path.key("metadata")))
            {
                if !sites.contains(m) {
                    sites.push(m.clone());
                }
            }
        }
        let no_facts = PodFacts::default();
        for site in &sites {
            let Some(meta) = obj.at(site.pointer()) else {
                continue;
            };
            let owner_ptr = site.pointer().strip_suffix("/metadata").unwrap_or("");
            let owner = obj.at(owner_ptr).unwrap_or(&Value::Null);
            let cx = Cx::new(&self.policy, req, &no_facts, site, warnings);
            hosts::validate_annotation(meta, site, &cx, out);
            priority::validate_label(owner, site, &cx, out);
        }
    }

    /// Checks of one pod template (or Pod).
    #[allow(clippy::too_many_arguments)]
    fn validate_template(
        &self,
        root: &Value,
        pod: &Value,
        t: &workload::Template,
        facts: &PodFacts,
        req: &Request<'_>,
        warnings: &mut Vec<String>,
        out: &mut Vec<Violation>,
    ) {
        let viewed;
        let pod = match t.runtime_patch.as_ref().and_then(|rp| rp.trainer.as_ref()) {
            Some(tp) => {
                let mut m = pod.as_object().cloned().unwrap_or_default();
                trainjob::view(&mut m, root.at(tp.pointer()).unwrap_or(&Value::Null));
                viewed = Value::Object(m);
                &viewed
            }
            None => pod,
        };
        let mut cx = Cx::new(&self.policy, req, facts, &t.path, warnings);
        priority::validate(pod, &cx, out);
        hosts::validate(pod, &mut cx, out);
        nccl::validate(pod, &cx, out);
        resources::validate(pod, &cx, out);
        security::validate(pod, &mut cx, out);
    }
}

/// The RFC 6902 patch from the request's object to the mutated templates, over the only subtrees the
/// rules change (`spec` and `metadata.annotations`). Diffing the whole object would also walk
/// `managedFields` and `status`, which dominated the webhook's profile.
fn template_patch(
    before: &Value,
    found: &Found,
    pods: &mut [Option<Mutated>],
) -> json_patch::Patch {
    let mut ops = Vec::new();
    // Env for `spec.trainer`, once per name however many of the TrainJob's patches target `node`.
    let mut trainer_envs: Vec<(&FieldPath, Vec<Value>)> = Vec::new();
    for ((t, _), m) in found.iter().zip(pods.iter_mut()) {
        let Some(Mutated { pod, trainer_env }) = m.as_mut() else {
            continue;
        };
        if let Some(tp) = t.runtime_patch.as_ref().and_then(|rp| rp.trainer.as_ref()) {
            let at = match trainer_envs
                .iter()
                .position(|(p, _)| p.pointer() == tp.pointer())
            {
                Some(i) => i,
                None => {
                    trainer_envs.push((tp, Vec::new()));
                    trainer_envs.len() - 1
                }
            };
            extend_env(&mut trainer_envs[at].1, std::mem::take(trainer_env));
        }
        let orig = before.at(t.path.pointer());
        let spec_path = t.path.key("spec");
        match (orig.and_then(|o| o.get("spec")), pod.get_mut("spec")) {
            (Some(b), Some(a)) => diff::diff_into(&mut ops, b, a, spec_path.pointer()),
            (None, Some(a)) => add_op(&mut ops, &spec_path, a.take()),
            _ => {}
        }
        let meta_path = t.path.key("metadata");
        let orig_meta = orig.and_then(|o| o.get("metadata"));
        match (
            orig_meta.and_then(|m| m.get("annotations")),
            pod.at_mut("/metadata/annotations"),
        ) {
            (Some(b), Some(a)) => {
                diff::diff_into(&mut ops, b, a, meta_path.key("annotations").pointer())
            }
            (None, Some(a)) if orig_meta.is_some_and(Value::is_object) => {
                add_op(&mut ops, &meta_path.key("annotations"), a.take())
            }
            (None, Some(a)) if orig_meta.is_none() => {
                add_op(&mut ops, &meta_path, json!({"annotations": a.take()}))
            }
            // `metadata` of the wrong type: the API server refuses the object; leave it as it is
            // (found by the fuzzer).
            _ => {}
        }
    }
    for (tp, env) in trainer_envs {
        trainer_env_ops(&mut ops, before, tp, env);
    }
    json_patch::Patch(ops)
}

/// `more` appended to `env`, but for the names `env` already has.
fn extend_env(env: &mut Vec<Value>, more: Vec<Value>) {
    for e in more {
        if !env.iter().any(|x| x.get("name") == e.get("name")) {
            env.push(e);
        }
    }
}

/// The reference for [`trainer_env_ops`]: `env` appended to `spec.trainer.env` of a full copy.
#[cfg(any(test, feature = "test-support"))]
fn append_trainer_env(obj: &mut Value, trainer: &FieldPath, env: Vec<Value>) {
    let Some((parent, key)) = trainer.pointer().rsplit_once('/') else {
        return;
    };
    let Some(spec) = obj.at_mut(parent).and_then(Value::as_object_mut) else {
        return;
    };
    let t = spec
        .entry(key.replace("~1", "/").replace("~0", "~"))
        .or_insert_with(|| json!({}));
    if let Some(t) = t.as_object_mut()
        && let Value::Array(a) = t.entry("env").or_insert_with(|| json!([]))
    {
        extend_env(a, env);
    }
}

/// `env` appended to a TrainJob's `spec.trainer.env` (at `trainer`), creating what is missing.
fn trainer_env_ops(
    ops: &mut Vec<json_patch::PatchOperation>,
    before: &Value,
    trainer: &FieldPath,
    env: Vec<Value>,
) {
    if env.is_empty() {
        return;
    }
    match before.at(trainer.pointer()) {
        Some(t) if t.get("env").is_some_and(Value::is_array) => {
            for e in env {
                add_op(ops, &trainer.key("env").key("-"), e);
            }
        }
        Some(t) if t.is_object() => add_op(ops, &trainer.key("env"), Value::Array(env)),
        None => add_op(ops, trainer, json!({"env": env})),
        // `spec.trainer` of the wrong type: the API server refuses the object; leave it.
        Some(_) => {}
    }
}

fn add_op(ops: &mut Vec<json_patch::PatchOperation>, path: &FieldPath, value: Value) {
    match json_patch::jsonptr::PointerBuf::parse(path.pointer()) {
        Ok(path) => ops.push(json_patch::PatchOperation::Add(json_patch::AddOperation {
            path,
            value,
        })),
        // A FieldPath escapes every token as RFC 6901 says, so its pointer always parses.
        Err(e) => debug_assert!(
            false,
            "FieldPath {:?} made a bad pointer: {e}",
            path.pointer()
        ),
    }
}
