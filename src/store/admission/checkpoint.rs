//! What a store accepts as a checkpoint: a name by the rule for stream ids,
//! and a position an SQL `BIGINT` holds.

use super::{NameProblem, check_name};

/// The largest position a checkpoint may hold: the largest SQL `BIGINT`
/// (no store holds that many events).
pub const MAX_CHECKPOINT_POSITION: u64 = i64::MAX as u64;

/// Why a checkpoint may not be stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointProblem {
    /// Its name breaks the rule for names (the same as for stream ids).
    #[error("its name {0}")]
    Name(NameProblem),
    /// Its position is larger than [`MAX_CHECKPOINT_POSITION`].
    #[error("its position should be at most {MAX_CHECKPOINT_POSITION}, found {found}")]
    Position {
        /// The position given.
        found: u64,
    },
}

/// Checks a checkpoint's name by the rule for stream ids
/// ([`check_name`]: non-empty, no NUL, at most
/// [`MAX_NAME_BYTES`](super::MAX_NAME_BYTES) bytes) and its position
/// (at most [`MAX_CHECKPOINT_POSITION`]). Every store applies it before it
/// saves a checkpoint, so that every store keeps the same checkpoints.
///
/// Time: O(the name's length).
///
/// # Errors
///
/// The first problem found, the name's first.
///
/// # Example
///
/// ```
/// use dvent::store::admission::{check_checkpoint, CheckpointProblem, NameProblem};
///
/// assert_eq!(check_checkpoint("todo-list", 42), Ok(()));
/// assert_eq!(check_checkpoint("", 1), Err(CheckpointProblem::Name(NameProblem::Empty)));
/// assert!(matches!(check_checkpoint("x", u64::MAX), Err(CheckpointProblem::Position { .. })));
/// ```
pub fn check_checkpoint(name: &str, position: u64) -> Result<(), CheckpointProblem> {
    check_name(name).map_err(CheckpointProblem::Name)?;
    if position > MAX_CHECKPOINT_POSITION {
        return Err(CheckpointProblem::Position { found: position });
    }
    Ok(())
}
