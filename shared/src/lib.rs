//! mltrain's one engine, shared by the kubectl plugin and the admission webhook so that the plugin's
//! dry-run shows exactly what the cluster will run (DESIGN §1).
//!
//! Pure: no async runtime, no network, no CLI. Modules, from the bottom up: [`quantity`], [`names`],
//! [`duration`] (value syntax); [`vocab`] (every label and annotation name) and [`kinds`] (the table of
//! workload kinds); [`policy`] (the cluster policy); [`engine`] (admission: defaulting and validation
//! of any workload); [`admission`] (AdmissionReviews in and out of the engine); [`model`] (the
//! framework-neutral training job).

pub mod admission;
pub mod duration;
pub mod engine;
pub mod kinds;
pub mod model;
pub mod names;
pub mod policy;
pub mod quantity;
pub mod render;
pub mod vocab;

pub use engine::{Engine, Operation, PatchError, Request, Review, UserInfo, Violation};
pub use policy::{OpenShiftMode, Policy, PolicyError, PolicyFileError};
