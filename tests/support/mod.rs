//! Shared test support.

pub mod stores;
