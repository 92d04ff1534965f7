//! Read models kept in the store's own database, exactly once: what the
//! stores' `update_read_model` and `run_read_model` share.
//!
//! A read model here is tables of the user's in the same database as the
//! events (the same SQLite file, the same PostgreSQL database), and a
//! checkpoint by name in the store's `dvent_checkpoints` table. A step reads
//! the next page of events after the checkpoint and, in **one
//! transaction**, runs the user's handler on each (which writes the read
//! model through the transaction it is given) and moves the checkpoint to
//! the page's last position. The transaction commits both, or neither: a
//! crash, a failed commit or a handler's error leaves the read model and
//! its checkpoint as they were, and the next step does the page again. So:
//!
//! - **exactly once for the read model**: every event's changes are in the
//!   read model once, in position order, after any number of crashes and
//!   restarts;
//! - **at least once for anything else the handler does** (mail, HTTP, a
//!   file): that is not rolled back, and is done again when the page is.
//!
//! The stores' methods: `SqliteEventStore::update_read_model` and
//! `SqliteEventStore::run_read_model` (handler
//! `FnMut(&rusqlite::Transaction<'_>, &Recorded<D>) -> Result<(), E>`), and
//! the same on `PostgresEventStore` (handler
//! `FnMut(&mut postgres::Transaction<'_>, &Recorded<D>) -> Result<(), E>`).
//!
//! The memory store has the same concept with no database:
//! [`InMemoryEventStore::update_read_model`](crate::InMemoryEventStore::update_read_model)
//! and `run_read_model` keep the read model as a [`Data`](crate::Data)
//! value by name next to its checkpoint (handler
//! `FnMut(&mut Data, &Recorded<D>) -> Result<(), E>`, on a copy), and
//! replace both together; an error or a panic drops the copy, as a
//! rollback does. Read it with
//! [`InMemoryEventStore::read_model`](crate::InMemoryEventStore::read_model).

use std::time::Duration;

use crate::stop::StopHandle;
use crate::store::StoreError;

/// How many events a read model's step handles in one transaction unless
/// told otherwise.
pub const DEFAULT_READ_MODEL_PAGE: usize = 256;

/// What one step of a read model did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadModelProgress {
    /// How many events it handled and committed (0: it was up to date).
    pub handled: usize,
    /// The read model's checkpoint after the step: the position of the last
    /// event it has handled.
    pub position: u64,
}

/// Why a read model's step failed. In every case its transaction was rolled
/// back: the read model and its checkpoint are as they were before the
/// step, and the step may be run again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadModelError<E> {
    /// The store failed: reading, writing the checkpoint, or committing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The handler returned an error for the event at `position`; the
    /// handler's error is the source.
    #[error(
        "read model {name:?}: the handler failed on the event at position {position}; \
         the read model and its checkpoint were rolled back"
    )]
    Handler {
        /// The read model's name.
        name: String,
        /// The global position of the event it failed on.
        position: u64,
        /// The handler's own error.
        #[source]
        source: E,
    },
}

/// Runs `step` (one page in one transaction) until `stop` is stopped:
/// while a step finds nothing to handle, waits with `wait` (the store's
/// `wait_for_commit`) in slices of
/// [`STOP_LATENCY`](crate::subscription::STOP_LATENCY). Returns how many
/// events were handled.
pub(crate) fn run_until_stopped<E>(
    stop: &StopHandle,
    mut wait: impl FnMut(u64, Duration) -> Result<u64, StoreError>,
    mut step: impl FnMut() -> Result<ReadModelProgress, ReadModelError<E>>,
) -> Result<u64, ReadModelError<E>> {
    let mut handled = 0;
    while !stop.is_stopped() {
        let progress = step()?;
        handled += progress.handled as u64;
        if progress.handled == 0 {
            wait(progress.position, crate::subscription::STOP_LATENCY)?;
        }
    }
    Ok(handled)
}
