//! What can go wrong in an event store.

use std::path::PathBuf;
use std::time::Duration;

use uuid::Uuid;

use crate::expected_version::ExpectedVersion;

/// The error a backend reports underneath a [`StoreError`]: the database
/// client's own error, kept whole.
type BackendSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An event store's error. Whenever one is returned from a save, nothing of
/// that batch was written, with one exception:
/// [`StoreError::OutcomeUnknown`], which says that the batch may or may not
/// have been written.
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
    /// batch), and the batch's first event is not stored, so the batch is
    /// not a retry of a save that happened: a batch overlaps stored events
    /// in part, or reuses an id. (A batch whose first event is stored is
    /// judged as a retry instead: see [`StoreError::RetryMismatch`].)
    #[error("event {event_id} is already stored; an event id must be unique")]
    DuplicateEvent {
        /// The id given twice.
        event_id: Uuid,
    },
    /// The batch's first event is already stored, so the save was taken for
    /// a retry of one that happened, but the batch is not exactly what is
    /// stored: `difference` says how event `event_id` of the batch differs.
    ///
    /// A retry succeeds only when every event of the batch is stored, in
    /// this stream, at consecutive versions, with the same id, type,
    /// timestamp and payload, each event's version 0 or its stored version,
    /// and where the expectation would have put the batch (see
    /// [`EventStore::append`](super::EventStore::append)).
    /// Nothing was written.
    #[error(
        "the batch for stream {stream_id:?} is not a retry of the events stored: its first event \
         is already stored, but event {event_id} {difference}"
    )]
    RetryMismatch {
        /// The stream written to.
        stream_id: String,
        /// The event of the batch that differs (the first one for
        /// [`RetryDifference::OtherStream`] and
        /// [`RetryDifference::Expectation`]).
        event_id: Uuid,
        /// How it differs.
        difference: RetryDifference,
    },
    /// A stream id was empty.
    #[error("a stream id should be non-empty text, found \"\"")]
    EmptyStreamId,
    /// A stream id that no store may hold (see
    /// [`admission`](super::admission)): one with a NUL character, or longer
    /// than [`MAX_NAME_BYTES`](super::admission::MAX_NAME_BYTES).
    #[error("stream id {stream_id:?} cannot be stored: it {problem}")]
    InvalidStreamId {
        /// The stream id, cut to its first 64 characters (with `…`) when
        /// longer.
        stream_id: String,
        /// What is wrong with it.
        problem: super::admission::NameProblem,
    },
    /// A checkpoint that no store may hold (see
    /// [`admission::check_checkpoint`](super::admission::check_checkpoint)):
    /// its name breaks the rule for stream ids, or its position is too
    /// large. Nothing was written.
    #[error("checkpoint {name:?} cannot be stored: {problem}")]
    InvalidCheckpoint {
        /// The name, cut to its first 64 characters (with `…`) when longer.
        name: String,
        /// What is wrong with it.
        problem: super::admission::CheckpointProblem,
    },
    /// An event that no store may hold, because it would not read back as
    /// written (see [`admission`](super::admission)): its type, its
    /// timestamp or its payload breaks the rule.
    #[error("event {event_id} cannot be stored: {problem}")]
    InvalidEvent {
        /// The event.
        event_id: Uuid,
        /// What is wrong with it.
        problem: super::admission::EventProblem,
    },
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
    /// A stored event could not be brought to its type's current payload
    /// version by the store's [`Upcasters`](crate::Upcasters): a step has no
    /// upcaster, the stored version is newer than the current one, or the
    /// upcast payload does not decode. The event is not skipped: the read
    /// fails. What is stored is unchanged.
    #[error(
        "stored event {event_id} at position {position} of stream {stream_id:?} could not be          upcast: {source}"
    )]
    Upcast {
        /// The stream it belongs to.
        stream_id: String,
        /// Its global position in the store.
        position: i64,
        /// The event.
        event_id: Uuid,
        /// What went wrong, naming the type and the versions.
        #[source]
        source: crate::upcast::UpcastError,
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
    /// A save on a store opened read-only (SQLite's `open_read_only`).
    /// Nothing was written.
    #[error(
        "the store at {path:?} was opened read-only: a save needs a store opened for writing, \
         found one opened with open_read_only; nothing was written"
    )]
    ReadOnly {
        /// The store's file.
        path: PathBuf,
    },
    /// The store's file was deleted, renamed or replaced by another file
    /// while the store had it open, so a save would go to a file no longer
    /// at its path and be lost on reopening. Nothing was written; every
    /// later save on this store fails alike. Reopen the store to write to
    /// whatever file is at the path now.
    #[error(
        "the store's file {path:?} was deleted, renamed or replaced while open: expected the file \
         the store opened at that path, found none or another; nothing was written (reopen the store)"
    )]
    FileMoved {
        /// The path the store opened.
        path: PathBuf,
    },
    /// The storage backend failed (I/O, database, connection).
    ///
    /// `message` says what failed; for a database error it holds the
    /// server's SQLSTATE, message, detail and hint. `source` is the client's
    /// own error when there is one, kept whole: for PostgreSQL a
    /// `postgres::Error` (its `as_db_error()` gives the server's fields), for
    /// SQLite a `rusqlite::Error`; reach it with
    /// [`std::error::Error::source`] and `downcast_ref`.
    #[error("storage backend failed: {message}")]
    Backend {
        /// What failed, in words.
        message: String,
        /// The underlying error, when the failure came from the database
        /// client (`None` for a failure the store itself detected).
        #[source]
        source: Option<BackendSource>,
    },
    /// An operation waited longer than its limit and was abandoned (for
    /// PostgreSQL: the `lock_timeout` or `statement_timeout` of
    /// `PostgresOptions`). A save that returns it wrote nothing; it may be
    /// retried.
    #[error("{what} took longer than its limit of {limit:?}, and was abandoned: {message}")]
    Timeout {
        /// What was waited for ("waiting for a lock", "a statement").
        what: String,
        /// The limit that was exceeded.
        limit: Duration,
        /// The server's report (SQLSTATE and message).
        message: String,
        /// The underlying error.
        #[source]
        source: BackendSource,
    },
    /// The connection failed at or after the moment the commit was sent, so
    /// the store cannot tell whether the batch was written: it is either
    /// wholly stored or wholly absent. Read the stream (for example the
    /// event ids of the batch) to find out before saving it again.
    #[error(
        "the outcome of the save to stream {stream_id:?} is unknown: the connection failed after \
         the commit was sent, so the batch is either wholly stored or wholly absent (read the \
         stream to find out): {message}"
    )]
    OutcomeUnknown {
        /// The stream written to.
        stream_id: String,
        /// What failed, in words.
        message: String,
        /// The underlying error.
        #[source]
        source: BackendSource,
    },
}

/// How a batch taken for a retry (its first event is already stored)
/// differs from the events stored: the detail of
/// [`StoreError::RetryMismatch`]. Each reads as the end of a sentence about
/// one event of the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RetryDifference {
    /// The event is stored in another stream.
    #[error("is stored in another stream")]
    OtherStream,
    /// The stream holds another event at the version this event would
    /// take, or none there: the batch overlaps the stored events only in
    /// part.
    #[error("is not the event stored at version {version} (another event, or none, is there)")]
    NotStoredAt {
        /// The version in the stream the batch puts the event at.
        version: u64,
    },
    /// The event carries a version other than 0 and its stored version.
    #[error("carries version {given}, but is stored at version {stored}")]
    Version {
        /// Its stored version.
        stored: u64,
        /// The version it carried.
        given: u64,
    },
    /// The stored event with this id has another type.
    #[error("has another type than the stored event with its id")]
    EventType,
    /// The stored event with this id has another timestamp.
    #[error("has another timestamp than the stored event with its id")]
    Timestamp,
    /// The stored event with this id has another payload (compared as
    /// JSON text).
    #[error("has another payload than the stored event with its id")]
    Payload,
    /// The stored event with this id has other metadata.
    #[error("has other metadata than the stored event with its id")]
    Metadata,
    /// The stored event with this id has another payload version.
    #[error("has payload version {given}, but the stored event with its id has version {stored}")]
    DataVersion {
        /// The stored event's payload version (as stored, not upcast).
        stored: u32,
        /// The version the event carried.
        given: u32,
    },
    /// The batch is stored after version `after` of the stream, which the
    /// expectation given does not accept: it is not the save that stored
    /// them.
    #[error("is stored after version {after}, which the expectation ({expected}) does not accept")]
    Expectation {
        /// What the retry expected.
        expected: ExpectedVersion,
        /// The stream's version just before the stored batch.
        after: u64,
    },
}
