//! What can go wrong when a repository loads an aggregate.

use crate::aggregate_id::AggregateError;
use crate::store::StoreError;

/// Why [`Repository::load`](crate::Repository::load) returned no
/// aggregate: the id given was not one, or the store failed.
///
/// # Example
///
/// ```
/// use dvent::{AggregateKind, InMemoryEventStore, LoadError, Repository};
///
/// let repo = Repository::new(InMemoryEventStore::new());
/// let err = repo.load(&AggregateKind::new("Todo"), "todo-1").unwrap_err();
/// assert!(matches!(err, LoadError::InvalidId(_)));
/// assert!(err.to_string().contains("\"todo-1\""));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The id given is not a UUID; nothing was read.
    #[error(transparent)]
    InvalidId(#[from] AggregateError),
    /// The store failed while reading the aggregate's stream.
    #[error(transparent)]
    Store(#[from] StoreError),
}
