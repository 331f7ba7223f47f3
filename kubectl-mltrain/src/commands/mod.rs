//! One file per command.
pub mod completion;
pub mod create;
pub mod delete;
pub mod list;
pub mod logs;
pub mod policy;
pub mod status;
#[cfg(test)]
mod trainjob_day2;
