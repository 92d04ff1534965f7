//! What can go wrong in an event store.

use uuid::Uuid;

use crate::expected_version::ExpectedVersion;

/// An event store's error. Whenever one is returned from a save, nothing of
/// that batch was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stream was not at the version the writer expected.
    #[error("version conflict on stream {stream_id:?}: expected {expected}, found version {found}")]
    VersionConflict {
        /// The stream written to.
        stream_id: String,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's last version (0: no events).
        found: u64,
    },
    /// An event in the batch carried a version that is not its position.
    #[error(
        "event {event_id} for stream {stream_id:?} should have version {expected} (or 0), found {found}"
    )]
    EventVersion {
        /// The stream written to.
        stream_id: String,
        /// The event.
        event_id: Uuid,
        /// The position it would take in the stream.
        expected: u64,
        /// The version it carried.
        found: u64,
    },
    /// An event with this id is already stored (or appears twice in the
    /// batch).
    #[error("event {event_id} is already stored; an event id must be unique")]
    DuplicateEvent {
        /// The id given twice.
        event_id: Uuid,
    },
    /// A stream id was empty.
    #[error("a stream id should be non-empty text, found \"\"")]
    EmptyStreamId,
    /// A stored event could not be decoded.
    #[error("stored event at position {position} of stream {stream_id:?} is corrupt: {reason}")]
    Corrupt {
        /// The stream it belongs to, as stored.
        stream_id: String,
        /// Its global position in the store (0 for a damaged row of an SQL
        /// store's `streams` table).
        position: i64,
        /// What was wrong.
        reason: String,
    },
    /// An event could not be encoded for storage.
    #[error("event {event_id} could not be encoded: {reason}")]
    Encode {
        /// The event.
        event_id: Uuid,
        /// What went wrong.
        reason: String,
    },
    /// The stored schema is of a version this build does not know.
    #[error("store schema version {found} is not supported (this build reads up to {supported})")]
    UnsupportedSchema {
        /// The schema version found.
        found: i64,
        /// The newest this build supports.
        supported: i64,
    },
    /// The storage backend failed (I/O, database, connection).
    #[error("storage backend failed: {0}")]
    Backend(String),
}
