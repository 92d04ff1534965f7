//! Shared test support.

pub mod stores;
pub mod v1;
