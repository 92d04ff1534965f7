//! Aggregate ids: a UUID, given as a [`Uuid`] or as its text, and the error
//! for text that is not one.

use uuid::Uuid;

/// What can go wrong when making an aggregate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// The id given was not a UUID.
    #[error("aggregate id should be a UUID, found {given:?} ({reason})")]
    InvalidId {
        /// The text that was given.
        given: String,
        /// Why it is not a UUID.
        reason: String,
    },
}

/// An aggregate's id as a caller holds it: a [`Uuid`], or its text (as a
/// command or a URL carries it). Loading and executing take any of them.
///
/// Time: O(1) for a [`Uuid`]; parsing text is O(length).
///
/// # Example
///
/// ```
/// use dvent::{AggregateError, AggregateId};
///
/// let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
/// assert_eq!(id.to_uuid()?.to_string(), id);
/// assert!(matches!("todo-1".to_uuid(), Err(AggregateError::InvalidId { .. })));
/// # Ok::<(), AggregateError>(())
/// ```
pub trait AggregateId {
    /// The id as a [`Uuid`].
    ///
    /// # Errors
    ///
    /// [`AggregateError::InvalidId`] for text that is not a UUID, naming it.
    fn to_uuid(&self) -> Result<Uuid, AggregateError>;
}

impl AggregateId for Uuid {
    fn to_uuid(&self) -> Result<Uuid, AggregateError> {
        Ok(*self)
    }
}

impl AggregateId for &Uuid {
    fn to_uuid(&self) -> Result<Uuid, AggregateError> {
        Ok(**self)
    }
}

impl AggregateId for str {
    fn to_uuid(&self) -> Result<Uuid, AggregateError> {
        Uuid::parse_str(self).map_err(|e| AggregateError::InvalidId {
            given: self.to_string(),
            reason: e.to_string(),
        })
    }
}

impl AggregateId for &str {
    fn to_uuid(&self) -> Result<Uuid, AggregateError> {
        (**self).to_uuid()
    }
}

impl AggregateId for String {
    fn to_uuid(&self) -> Result<Uuid, AggregateError> {
        self.as_str().to_uuid()
    }
}

impl AggregateId for &String {
    fn to_uuid(&self) -> Result<Uuid, AggregateError> {
        self.as_str().to_uuid()
    }
}
