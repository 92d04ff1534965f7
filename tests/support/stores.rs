//! The event stores the Gherkin features and reliability tests run against.
//!
//! Every store the build has is listed by [`store_kinds`]; the features about
//! the event store and the repository run once per kind, each scenario on a
//! fresh, isolated store from [`open_store`].

use std::sync::Arc;

use dvent::{Event, EventStore, InMemoryEventStore, PublishError};

/// A kind of event store under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// [`InMemoryEventStore`].
    Memory,
}

impl StoreKind {
    /// The name printed in reports (`memory`, `sqlite`, `postgres`).
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
        }
    }
}

/// The store kinds to run, in order.
///
/// # Errors
///
/// A message when a store that must run cannot (for example PostgreSQL
/// under `CI=true` without `DVENT_POSTGRES_URL`).
pub fn store_kinds() -> Result<Vec<StoreKind>, String> {
    Ok(vec![StoreKind::Memory])
}

/// A fresh, empty store of `kind`, isolated from every other one.
pub fn open_store(kind: StoreKind) -> Arc<dyn EventStore> {
    match kind {
        StoreKind::Memory => Arc::new(InMemoryEventStore::new()),
    }
}

/// A fresh, empty store of `kind` that calls `publisher` with each saved
/// event.
pub fn open_store_with_publisher<F>(kind: StoreKind, publisher: F) -> Arc<dyn EventStore>
where
    F: Fn(&Event) -> Result<(), PublishError> + Send + Sync + 'static,
{
    match kind {
        StoreKind::Memory => Arc::new(InMemoryEventStore::with_publisher(publisher)),
    }
}
