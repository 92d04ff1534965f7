//! Step definitions for the Gherkin features, one file per concept.

pub mod aggregate;
pub mod command;
pub mod command_handler;
pub mod event;
pub mod event_store;
pub mod repository;
pub mod todo;
pub mod world;

use dvent::chrono::{DateTime, Duration, Utc};

/// Whether `t` is the current time: not in the future, and at most a minute
/// old (generous, for slow machines).
pub fn is_now(t: DateTime<Utc>) -> bool {
    let now = Utc::now();
    t <= now && now - t < Duration::minutes(1)
}
