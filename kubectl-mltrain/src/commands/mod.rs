//! One file per command.
pub mod create;
