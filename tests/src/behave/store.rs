//! The harness's API server: a typed-less object store (every object is its JSON, as the API serves
//! it), with uids, owner references and the garbage collector's cascading delete.
//!
//! Controllers and the kubelet read and write only through it, as they do through the real API, so
//! a controller model sees exactly what the plugin rendered and what other controllers made.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Every object, keyed by kind and name (one namespace per run, as the plugin creates one job).
#[derive(Default)]
pub struct Store {
    objects: BTreeMap<(String, String), Value>,
    next_uid: u64,
    /// What was created or deleted, in order: the run's event log.
    pub events: Vec<String>,
}

/// An object's kind.
pub fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or("")
}

/// An object's name.
pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

/// An object's uid (set by [`Store::create`]).
pub fn uid(o: &Value) -> &str {
    o["metadata"]["uid"].as_str().unwrap_or("")
}

/// A label's value.
pub fn label<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o["metadata"]["labels"][key].as_str()
}

/// An owner reference to `owner`, marked as its controller (what `metav1.NewControllerRef` makes).
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether `o` is controlled by the object with uid `owner`.
pub fn owned_by(o: &Value, owner: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner))
}

impl Store {
    /// Create an object: the API server assigns a uid; a second object of the same kind and name is
    /// refused, as `AlreadyExists` would be.
    pub fn create(&mut self, mut o: Value, namespace: &str) -> Result<String, String> {
        let key = (kind(&o).to_string(), name(&o).to_string());
        if key.1.is_empty() {
            return Err(format!("{} without a name", key.0));
        }
        if self.objects.contains_key(&key) {
            return Err(format!("{}/{} already exists", key.0, key.1));
        }
        self.next_uid += 1;
        let uid = format!("uid-{:06}", self.next_uid);
        o["metadata"]["uid"] = Value::from(uid.clone());
        o["metadata"]["namespace"] = Value::from(namespace);
        self.events.push(format!("created {}/{}", key.0, key.1));
        self.objects.insert(key, o);
        Ok(uid)
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects.get(&(kind.to_string(), name.to_string()))
    }

    pub fn get_mut(&mut self, kind: &str, name: &str) -> Option<&mut Value> {
        self.objects.get_mut(&(kind.to_string(), name.to_string()))
    }

    /// Every object of a kind, in name order.
    pub fn list(&self, kind: &str) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|(_, v)| v)
            .collect()
    }

    /// Names of every object of a kind.
    pub fn names(&self, kind: &str) -> Vec<String> {
        self.list(kind)
            .iter()
            .map(|o| name(o).to_string())
            .collect()
    }

    /// Objects of `kind` controlled by the object with uid `owner`.
    pub fn owned(&self, kind: &str, owner: &str) -> Vec<&Value> {
        self.list(kind)
            .into_iter()
            .filter(|o| owned_by(o, owner))
            .collect()
    }

    /// Delete an object; the garbage collector ([`Store::collect_garbage`]) removes what it owned.
    pub fn delete(&mut self, kind: &str, name: &str) {
        if self
            .objects
            .remove(&(kind.to_string(), name.to_string()))
            .is_some()
        {
            self.events.push(format!("deleted {kind}/{name}"));
        }
    }

    /// Background cascading deletion: objects whose owners are all gone are deleted, repeatedly.
    pub fn collect_garbage(&mut self) {
        loop {
            let live: std::collections::BTreeSet<String> =
                self.objects.values().map(|o| uid(o).to_string()).collect();
            let orphans: Vec<(String, String)> = self
                .objects
                .iter()
                .filter(|(_, o)| {
                    o["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| {
                            !refs.is_empty()
                                && refs
                                    .iter()
                                    .all(|r| !live.contains(r["uid"].as_str().unwrap_or("")))
                        })
                })
                .map(|(k, _)| k.clone())
                .collect();
            if orphans.is_empty() {
                return;
            }
            for (k, n) in orphans {
                self.delete(&k, &n);
            }
        }
    }
}
