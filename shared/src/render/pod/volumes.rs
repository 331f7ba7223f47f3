//! What a piece of the pod mounts: its volumes, with the training container's mounts and the
//! variables that point the program at them. Pieces are chained in a fixed order, which is the
//! order of the rendered lists.

use serde_json::Value;

/// Volumes, mounts and variables that go together.
#[derive(Debug, Default)]
pub struct Mounted {
    pub volumes: Vec<Value>,
    /// The training container's `volumeMounts`.
    pub mounts: Vec<Value>,
    /// The training container's `env`.
    pub env: Vec<Value>,
}

impl Mounted {
    /// One volume mounted in the training container.
    pub fn one(volume: Value, mount: Value) -> Self {
        Mounted {
            volumes: vec![volume],
            mounts: vec![mount],
            env: Vec::new(),
        }
    }

    /// These, then `next`'s.
    pub fn and(mut self, next: Mounted) -> Self {
        self.volumes.extend(next.volumes);
        self.mounts.extend(next.mounts);
        self.env.extend(next.env);
        self
    }
}
