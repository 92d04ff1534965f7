//! Why a command was not carried out: the errors of commands and their
//! handlers, in a module of their own so that commands and handlers both use
//! them without importing each other.

use crate::aggregate_id::AggregateError;
use crate::repository::LoadError;
use crate::store::StoreError;

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No function handles commands of this type.
    #[error("no function handles command type `{command_type}` (handled: {handled})")]
    Unhandled {
        /// The command's type.
        command_type: String,
        /// The types that are handled, comma-separated.
        handled: String,
    },
    /// The command's data lacks a key it needs.
    #[error("command `{command_type}`: data `{key}` is required but missing")]
    MissingData {
        /// The command's type.
        command_type: String,
        /// The missing key.
        key: String,
    },
    /// A value in the command's data is not what it should be.
    #[error("command `{command_type}`: data `{key}` should be {expected}, found {found}")]
    InvalidData {
        /// The command's type.
        command_type: String,
        /// The key.
        key: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// The domain refused the command (a business rule).
    #[error("command rejected: {0}")]
    Rejected(String),
    /// An aggregate could not be made.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
    /// The event store failed or reported a conflict.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LoadError> for CommandError {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::InvalidId(error) => CommandError::Aggregate(error),
            LoadError::Store(error) => CommandError::Store(error),
        }
    }
}
