//! What can go wrong when a repository executes a decision.

use crate::aggregate_id::AggregateError;
use crate::store::StoreError;

/// Why [`Repository::execute`](crate::Repository::execute) saved nothing
/// (or, for [`ExecuteError::Store`] with
/// [`StoreError::OutcomeUnknown`], may have saved the decision's events).
///
/// The domain's own error `E` comes back as the decision returned it, never
/// turned into text; store errors come back as the store reported them.
///
/// # Example
///
/// ```
/// use dvent::{ExecuteError, StoreError};
///
/// #[derive(Debug, PartialEq)]
/// enum TodoError { Removed }
/// impl std::fmt::Display for TodoError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("the todo is removed")
///     }
/// }
///
/// let err: ExecuteError<TodoError> = ExecuteError::Domain(TodoError::Removed);
/// assert_eq!(err.domain(), Some(&TodoError::Removed));
/// assert_eq!(err.to_string(), "the decision was refused: the todo is removed");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError<E> {
    /// The decision refused: its own error, untouched. Nothing was saved.
    #[error("the decision was refused: {0}")]
    Domain(E),
    /// Every attempt met a version conflict (other writers kept saving to
    /// the stream between a load and its save). Nothing of this decision
    /// was saved; executing it again decides on the newer state.
    #[error(
        "the decision met a version conflict on each of its {attempts} attempts, and was given up; \
         nothing was saved"
    )]
    Conflict {
        /// How many times it loaded, decided and tried to save.
        attempts: u32,
        /// The last conflict.
        #[source]
        source: StoreError,
    },
    /// The id given is not a UUID; nothing was read or decided.
    #[error(transparent)]
    InvalidId(#[from] AggregateError),
    /// The store failed while loading or saving; for
    /// [`StoreError::OutcomeUnknown`] the events may be saved (see
    /// [`Repository::execute`](crate::Repository::execute)); for any other
    /// error nothing was saved.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E> ExecuteError<E> {
    /// The domain's error, when the decision refused.
    #[must_use]
    pub fn domain(&self) -> Option<&E> {
        match self {
            ExecuteError::Domain(error) => Some(error),
            _ => None,
        }
    }

    /// The domain's error, when the decision refused; otherwise the
    /// execute error itself.
    ///
    /// # Errors
    ///
    /// `self` when it is not [`ExecuteError::Domain`].
    pub fn into_domain(self) -> Result<E, Self> {
        match self {
            ExecuteError::Domain(error) => Ok(error),
            other => Err(other),
        }
    }
}
