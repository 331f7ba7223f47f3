//! One file per command.
pub mod create;
pub mod policy;
