//! The admission engine: one function, [`Engine::admit`], decides every default and every refusal, for
//! the webhook and for the plugin's local preview alike (DESIGN §1, §4).
//!
//! It takes any object, finds its pod templates ([`workload`]), fills what is missing on CREATE
//! ([`security`], [`shm`], [`nccl`], [`hosts`], [`priority`]), validates the result, and returns the
//! patch as the RFC 6902 difference between input and output, never hand-written paths.
//! Reference: <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/>.

pub mod facts;
pub mod hosts;
pub mod json;
pub mod nccl;
pub mod priority;
pub mod resources;
pub mod security;
pub mod shm;
pub mod workload;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::policy::Policy;
use facts::PodFacts;
pub use json::FieldPath;
pub use workload::{HANDLED_KINDS, is_handled};

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl std::str::FromStr for Operation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            other => return Err(format!("unknown operation {other:?}")),
        })
    }
}

/// Who sent the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub groups: Vec<String>,
}

/// One admission request, as the engine needs it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub operation: Operation,
    pub object: &'a Value,
    pub old_object: Option<&'a Value>,
    pub namespace: &'a str,
    pub namespace_labels: &'a BTreeMap<String, String>,
    /// Who asks; `None` when unknown (the plugin offline), so approval is left to the cluster.
    pub user: Option<&'a UserInfo>,
    /// Whether OpenShift adaptation is active (the caller resolves `auto`).
    pub openshift: bool,
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

/// What the engine decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Review {
    /// The mutated object, when the engine changed anything.
    pub object: Option<Value>,
    /// The RFC 6902 patch from the request's object to `object`; empty when nothing changed.
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
                let mut obj = req.object.clone();
                let found = self.mutate(&mut obj, req, &mut warnings);
                let mutation_warnings = warnings.len();
                let violations = self.validate(&obj, &found, req, &mut warnings);
                let patch = json_patch::diff(req.object, &obj);
                let changed = !patch.0.is_empty();
                Review {
                    object: changed.then_some(obj),
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
    fn survey(&self, obj: &Value) -> Vec<(workload::Template, PodFacts)> {
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

    fn mutate(
        &self,
        obj: &mut Value,
        req: &Request<'_>,
        warnings: &mut Vec<String>,
    ) -> Vec<(workload::Template, PodFacts)> {
        let found = self.survey(obj);
        for (t, facts) in &found {
            let Some(pod) = obj
                .pointer_mut(t.path.pointer())
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let mut cx = Cx {
                policy: &self.policy,
                request: req,
                facts,
                path: &t.path,
                openshift: req.openshift,
                warnings,
            };
            security::mutate(pod, &mut cx);
            shm::mutate(pod, &mut cx);
            nccl::mutate(pod, &mut cx);
            hosts::mutate(pod, &mut cx);
            priority::mutate(pod, &mut cx);
        }
        found
    }

    fn validate_object(
        &self,
        obj: &Value,
        req: &Request<'_>,
        warnings: &mut Vec<String>,
    ) -> Vec<Violation> {
        let found = self.survey(obj);
        self.validate(obj, &found, req, warnings)
    }

    fn validate(
        &self,
        obj: &Value,
        found: &[(workload::Template, PodFacts)],
        req: &Request<'_>,
        warnings: &mut Vec<String>,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        // Metadata sites: the object, every embedded object, every template; each checked once.
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
            let Some(meta) = obj.pointer(site.pointer()) else {
                continue;
            };
            let owner_ptr = site.pointer().strip_suffix("/metadata").unwrap_or("");
            let owner = obj.pointer(owner_ptr).unwrap_or(&Value::Null);
            let cx = Cx {
                policy: &self.policy,
                request: req,
                facts: &no_facts,
                path: site,
                openshift: req.openshift,
                warnings,
            };
            hosts::validate_annotation(meta, site, &cx, &mut out);
            priority::validate_label(owner, site, &cx, &mut out);
        }
        for (t, facts) in found {
            let Some(pod) = obj.pointer(t.path.pointer()) else {
                continue;
            };
            let mut cx = Cx {
                policy: &self.policy,
                request: req,
                facts,
                path: &t.path,
                openshift: req.openshift,
                warnings,
            };
            priority::validate(pod, &cx, &mut out);
            hosts::validate(pod, &mut cx, &mut out);
            nccl::validate(pod, &cx, &mut out);
            resources::validate(pod, &cx, &mut out);
            security::validate(pod, &mut cx, &mut out);
        }
        out
    }
}
