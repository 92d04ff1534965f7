//! Step definitions for the Gherkin features, one file per concept.

pub mod aggregate;
pub mod board;
pub mod checkpoint;
pub mod command;
pub mod command_handler;
pub mod event;
pub mod event_store;
pub mod metadata;
pub mod migration;
pub mod projection;
pub mod read_model;
pub mod repository;
pub mod snapshot;
pub mod subscription;
pub mod todo;
pub mod upcasting;
pub mod world;

use dvent::jiff::{SignedDuration, Timestamp};

/// Whether `t` is the current time: not in the future, and at most a minute
/// old (generous, for slow machines).
pub fn is_now(t: Timestamp) -> bool {
    let now = Timestamp::now();
    t <= now && now.duration_since(t) < SignedDuration::from_secs(60)
}
