//! What a writer expects a stream to be at, for optimistic concurrency.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The version a writer expects a stream to have before its events are
/// appended. A store checks it before writing anything.
///
/// # Example
///
/// ```
/// use dvent::ExpectedVersion;
/// assert!(ExpectedVersion::Any.accepts(5));
/// assert!(ExpectedVersion::NoStream.accepts(0));
/// assert!(!ExpectedVersion::NoStream.accepts(2));
/// assert!(ExpectedVersion::StreamExists.accepts(1));
/// assert!(ExpectedVersion::Exact(3).accepts(3));
/// assert_eq!(ExpectedVersion::after(0), ExpectedVersion::NoStream);
/// assert_eq!(ExpectedVersion::after(4), ExpectedVersion::Exact(4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check: append whatever the stream holds.
    Any,
    /// The stream must have no events.
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have this version (0: no events).
    Exact(u64),
}

impl ExpectedVersion {
    /// What to expect of a stream when the writer has seen `version` of it:
    /// [`NoStream`](ExpectedVersion::NoStream) for 0, otherwise
    /// [`Exact`](ExpectedVersion::Exact).
    #[must_use]
    pub fn after(version: u64) -> Self {
        if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        }
    }

    /// Whether a stream whose last version is `current` (0 when it has no
    /// events) meets this expectation.
    #[must_use]
    pub fn accepts(self, current: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::StreamExists => current > 0,
            ExpectedVersion::Exact(n) => current == n,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(n) => write!(f, "version {n}"),
        }
    }
}
