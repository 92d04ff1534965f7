//! The SQLite event store: events on disk in one file, or in memory.
//!
//! [`SqliteEventStore`] keeps its events in an SQLite database through
//! `rusqlite` with its bundled SQLite, so it needs nothing installed. It is
//! the embedded default (cargo feature `sqlite`, on by default).
//!
//! # Schema (version 2)
//!
//! ```sql
//! CREATE TABLE events (
//!     position  INTEGER PRIMARY KEY,   -- global order: 1, 2, 3, … without gaps
//!     event_id  TEXT    NOT NULL UNIQUE,
//!     stream_id TEXT    NOT NULL,
//!     version   INTEGER NOT NULL,      -- position in the stream: 1, 2, 3, …
//!     type      TEXT    NOT NULL,
//!     timestamp TEXT    NOT NULL,      -- RFC 3339, UTC, nanoseconds
//!     data      TEXT    NOT NULL,      -- the payload as JSON
//!     data_version INTEGER NOT NULL DEFAULT 1,  -- the payload's schema version (2)
//!     metadata  TEXT    NOT NULL DEFAULT '{}',  -- the metadata as JSON (2)
//!     UNIQUE (stream_id, version)
//! );
//! CREATE TABLE streams (
//!     number    INTEGER PRIMARY KEY,   -- creation order: 0, 1, 2, …
//!     stream_id TEXT    NOT NULL UNIQUE,
//!     timestamp TEXT    NOT NULL,      -- its first event's timestamp
//!     version   INTEGER NOT NULL       -- its last event's version
//! );
//! CREATE TABLE dvent_checkpoints (     -- checkpoints by name (the read side)
//!     name      TEXT    PRIMARY KEY,
//!     position  INTEGER NOT NULL       -- a global position
//! );
//! CREATE TABLE dvent_snapshots (       -- aggregates' states (snapshots)
//!     stream_id        TEXT    NOT NULL,
//!     kind             TEXT    NOT NULL, -- the aggregate kind's name
//!     version          INTEGER NOT NULL, -- the stream's version it is at
//!     snapshot_version INTEGER NOT NULL, -- the state's shape
//!     state            TEXT    NOT NULL, -- the state as JSON
//!     taken_at         TEXT    NOT NULL, -- RFC 3339
//!     PRIMARY KEY (stream_id, kind, version)
//! );
//! PRAGMA user_version = 2;             -- the schema version
//! ```
//!
//! `dvent_checkpoints` and `dvent_snapshots` are created (`IF NOT EXISTS`)
//! whenever a store opens a file for writing, so a file made before they
//! existed gets them.
//!
//! **Migration from version 1** (dvent 0.2), when a store opens such a file
//! for writing: in one `BEGIN IMMEDIATE` transaction, checked again under
//! the write lock,
//!
//! ```sql
//! ALTER TABLE events ADD COLUMN data_version INTEGER NOT NULL DEFAULT 1;
//! ALTER TABLE events ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
//! PRAGMA user_version = 2;
//! ```
//!
//! Every event keeps its position, stream, version, timestamp and payload;
//! the old ones read with no metadata at payload version 1. Adding a column
//! with a constant default rewrites no row: O(1) whatever the file's size.
//! Should any statement fail, the transaction is rolled back and the file
//! stays at version 1 as it was. A file opened read-only
//! ([`SqliteEventStore::open_read_only`]) is never migrated: a version-1
//! file is read through a temporary view that gives those two columns
//! their defaults.
//!
//! The values are written as the [`codec`] module
//! describes. Positions and stream numbers are given inside the
//! writing transaction (the largest so far plus one: SQLite's own rule for
//! an `INTEGER PRIMARY KEY` left out of an `INSERT`, and a `MAX` in the
//! stream's `INSERT`), so they have no gaps:
//! reading all events from `start` reads positions after `start`.
//! `streams.version` makes the expected-version check and
//! [`last_event`](crate::EventStore::last_event) one index look-up
//! each.
//!
//! Opening a file whose `user_version` is 0 creates the schema (in one
//! transaction, so two processes opening a new file at once are safe);
//! version 1 is migrated (above); version 2 is used as it is; any other
//! version is
//! [`StoreError::UnsupportedSchema`], so that a file written by a later
//! release is never misread.
//!
//! # Guarantees
//!
//! - **Atomic batches.** A save is one `BEGIN IMMEDIATE` transaction (or,
//!   when saves through one handle's clones arrive at once, one savepoint in
//!   a transaction shared by the group: see *Group commit* below): the
//!   stream's version is read, the expectation checked, and the batch
//!   written, all under SQLite's write lock; on any error the transaction
//!   (the savepoint) is rolled back and nothing is written. A process killed in the middle
//!   leaves the batch wholly absent. Saving again a batch already stored
//!   is judged in the same transaction and returns it as stored, writing
//!   nothing (see [`EventStore::append`]): a retry after any error
//!   is safe.
//! - **Durability.** The database runs in WAL mode with
//!   `synchronous = FULL` by default: when a save returns, its batch is in
//!   the write-ahead log and synced to disk, and survives a crash of the
//!   process, the operating system or the power.
//!   [`Synchronous::Normal`] syncs only at checkpoints: a save that returned
//!   survives a crash of the process, but the last few may be lost (never
//!   torn) when the machine loses power.
//! - **Many writers.** A handle's clones share one connection, behind a
//!   mutex. Handles opened separately on one file (in one process or many)
//!   have their own connections; their writes are serialised by SQLite's
//!   write lock, waiting up to the busy timeout (5 s by default) for it.
//!   Readers never wait for writers (WAL). A long read waits for a save, and
//!   a save for it, one page at a time only: reads go page by page
//!   ([`read_all`](crate::EventStore::read_all),
//!   [`events`](crate::EventStore::events) in pages of 1,024),
//!   releasing the connection between pages.
//! - **A moved file.** A save on a store whose file was deleted, renamed or
//!   replaced since it was opened fails with [`StoreError::FileMoved`]
//!   instead of going to a file no longer at its path (the test of SQLite's
//!   `SQLITE_FCNTL_HAS_MOVED`: the path's device and inode against those
//!   the store opened; one `stat` per save).
//! - **Read-only.** [`SqliteEventStore::open_read_only`] reads a file it may
//!   not write, on a read-only file system too; its saves fail with
//!   [`StoreError::ReadOnly`].
//! - **Group commit.** Saves through the clones of one handle that wait
//!   for its connection at the same moment are committed together: one
//!   transaction, each save in a savepoint of its own (checked, and failing,
//!   on its own, seeing the saves before it), one `COMMIT` and one disk sync
//!   for all; each returns once that commit has. A save alone never waits
//!   for company. Threads saving single events at once thus share the cost
//!   of a sync instead of queueing for one each (see the `group_commit`
//!   module's source documentation for the details).
//!
//! # Example
//!
//! ```
//! use dvent::{vector, Event, EventStore, ExpectedVersion, SqliteEventStore};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("events.sqlite");
//! {
//!     let store = SqliteEventStore::open(&path)?;
//!     store.append("todo-1", &vector![Event::new("TodoAdded")], ExpectedVersion::NoStream)?;
//! }
//! let reopened: SqliteEventStore = SqliteEventStore::open(&path)?;
//! let events = reopened.events(Some("todo-1"), 0)?;
//! assert_eq!((events.len(), events[0].version()), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use imbl::Vector;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Recorded;
use super::codec::{self, Decoder, StoredRow};
use super::{EventStore, StoreError, StreamInfo, check_retry, place};
use crate::data::Data;
use crate::event::Event;
use crate::expected_version::ExpectedVersion;
use crate::name::Name;
use crate::publisher::{PublishError, Publisher};
use crate::upcast::Upcasters;

mod checkpoint;
mod file;
mod group_commit;
mod read;
mod read_model;
mod snapshot;
mod watch;

pub use group_commit::GroupCommitStats;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 2;

/// How many prepared statements a connection keeps.
const STATEMENT_CACHE: usize = 64;

/// How long a write waits for another connection's write lock by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position  INTEGER PRIMARY KEY,
    event_id  TEXT    NOT NULL UNIQUE,
    stream_id TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    type      TEXT    NOT NULL,
    timestamp TEXT    NOT NULL,
    data      TEXT    NOT NULL,
    data_version INTEGER NOT NULL DEFAULT 1,
    metadata  TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS streams (
    number    INTEGER PRIMARY KEY,
    stream_id TEXT    NOT NULL UNIQUE,
    timestamp TEXT    NOT NULL,
    version   INTEGER NOT NULL
);
PRAGMA user_version = 2;
";

/// From version 1 to 2, in one transaction: the payload version, then the
/// metadata (no row is rewritten).
const MIGRATE_V1: &str = "
ALTER TABLE events ADD COLUMN data_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
PRAGMA user_version = 2;
";

/// What a read-only connection to a version-1 file reads `events` through
/// (SQLite looks up a name in `temp` first).
const V1_VIEW: &str = "
CREATE TEMP VIEW events AS
SELECT position, event_id, stream_id, version, type, timestamp, data,
       1 AS data_version, '{}' AS metadata
FROM main.events;
";

const EVENT_COLUMNS: &str =
    "position, event_id, stream_id, version, type, timestamp, data, metadata, data_version";

/// When SQLite syncs the database file to disk (`PRAGMA synchronous`), in WAL
/// mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Synchronous {
    /// Sync the write-ahead log at every commit: a saved batch survives a
    /// crash of the process, the system or the power. The default.
    #[default]
    Full,
    /// Sync only at checkpoints: faster; a saved batch survives a crash of
    /// the process, but the latest may be lost (never torn) on a power
    /// failure or a crash of the operating system.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// An event store in an SQLite database: a file, or memory.
///
/// - **Open:** [`open`](SqliteEventStore::open) a file (created with the
///   schema when new) or [`open_in_memory`](SqliteEventStore::open_in_memory);
///   both generic over the payload type, inferred from use ([`Data`] when
///   named alone: `let store: SqliteEventStore = ...`).
/// - **Thread-safe and cheap to share:** `Send + Sync`; a clone is another
///   handle on the same connection (O(1)).
/// - **Publisher:** [`with_publisher`](SqliteEventStore::with_publisher)
///   gives a handle that calls a function with each saved event, after the
///   commit and outside the lock; its failures and panics are logged and
///   never undo the write.
///
/// Costs, for a store of n events: save O(b log n) for a batch of b (plus
/// one disk sync with [`Synchronous::Full`], shared by the saves through
/// this handle's clones committed in the same group); reading a stream
/// O(k + log n) for its k events; reading all from `start` O((n − start) +
/// log n), holding all it returns; a page
/// ([`read_all`](EventStore::read_all),
/// [`read_stream`](EventStore::read_stream)) O(log n + limit), holding at
/// most one page; last event O(log n); streams O(s + log s).
///
/// See the [module docs](self) for the schema and the guarantees.
///
/// # Example
///
/// ```
/// use dvent::{vector, Event, EventStore, ExpectedVersion, SqliteEventStore, StoreError};
///
/// let store = SqliteEventStore::open_in_memory()?;
/// store.append("todo-1", &vector![Event::new("TodoAdded")], ExpectedVersion::NoStream)?;
///
/// // Saving "as new" again is a conflict, and nothing is written:
/// let err = store
///     .append("todo-1", &vector![Event::new("TodoAdded")], ExpectedVersion::NoStream)
///     .unwrap_err();
/// assert!(matches!(err, StoreError::VersionConflict { found: 1, .. }));
/// assert_eq!(store.events(Some("todo-1"), 0)?.len(), 1);
/// # Ok::<(), StoreError>(())
/// ```
pub struct SqliteEventStore<D = Data> {
    connection: Arc<Mutex<Connection>>,
    path: Option<Arc<Path>>,
    publisher: Option<Publisher<D>>,
    /// Opened with `open_read_only`: saves are refused.
    read_only: bool,
    /// The file the connection opened, to notice it being deleted or
    /// replaced (`None` in memory).
    file: Option<Arc<file::FileId>>,
    /// The connection `wait_for_commit` watches (see the `watch` module): a
    /// second one on a file opened for writing, else `connection` itself.
    watch: Arc<Mutex<Connection>>,
    /// Run on every read (see [`upcast`](crate::upcast)).
    upcasters: Option<Arc<Upcasters>>,
    /// The saves waiting for a commit on `connection`, shared by the
    /// handles that share it (see the [`group_commit`] module).
    group: Arc<group_commit::GroupCommit<D>>,
}

impl<D> SqliteEventStore<D> {
    /// Opens the store in the file at `path`, creating the file and the
    /// schema when they do not exist.
    ///
    /// The payload type `D` is inferred from how the store is used (the
    /// events saved to it, the repository it is given to); [`Data`] is the
    /// default, so a store used alone (a notebook cell) is written
    /// `let store: SqliteEventStore = SqliteEventStore::open(path)?;`.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnsupportedSchema`] for a file of another schema
    /// version, [`StoreError::Backend`] when the file cannot be opened or is
    /// not an SQLite database.
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, SqliteEventStore};
    ///
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Added { description: String }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SqliteEventStore::open(dir.path().join("todos.sqlite"))?;
    /// let added = Event::typed("TodoAdded", Added { description: "Buy milk".into() });
    /// store.append("todo-1", &vector![added], ExpectedVersion::NoStream)?;
    /// assert_eq!(store.events(None, 0)?[0].data().description, "Buy milk");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let connection = Connection::open(path)
            .map_err(backend)
            .and_then(set_up)
            .map_err(|e| match e {
                StoreError::Backend { message, source } => StoreError::Backend {
                    message: format!("{message} ({})", path.display()),
                    source,
                },
                other => other,
            })?;
        let mut store = SqliteEventStore::make(connection, Some(Arc::from(path)));
        store.watch = Arc::new(Mutex::new(watch::open_watch(path)?));
        Ok(store)
    }

    /// Opens a new, empty store in memory; it lasts as long as its handles.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when SQLite cannot make the database.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let connection = Connection::open_in_memory()
            .map_err(backend)
            .and_then(set_up)?;
        Ok(SqliteEventStore::make(connection, None))
    }

    fn make(connection: Connection, path: Option<Arc<Path>>) -> Self {
        let connection = Arc::new(Mutex::new(connection));
        SqliteEventStore {
            watch: Arc::clone(&connection),
            connection,
            file: path.as_deref().and_then(file::FileId::of).map(Arc::new),
            path,
            publisher: None,
            read_only: false,
            upcasters: None,
            group: Arc::new(group_commit::GroupCommit::new()),
        }
    }

    /// This handle, reading every event through `upcasters`: a payload
    /// stored at an older version of its type is brought to the current
    /// one before it is decoded, in every read (see
    /// [`upcast`](crate::upcast)). Other handles keep their own. The same on
    /// every store. Nothing stored is changed.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::serde_json::json;
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, SqliteEventStore, Upcasters};
    ///
    /// let store: SqliteEventStore = SqliteEventStore::open_in_memory()?;
    /// store.append("s", &vector![Event::new("Paid").with_entry("amount", 5)], ExpectedVersion::Any)?;
    /// let upcasting = store.with_upcasters(Upcasters::new().on("Paid", 1, |v| json!({"cents": v["amount"]})));
    /// let event = upcasting.last_event("s")?.expect("saved");
    /// assert_eq!((event.data()["cents"].as_i64(), event.data_version()), (Some(5), 2));
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    #[must_use]
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = Some(Arc::new(upcasters));
        self
    }

    /// A decoder that runs this handle's upcasters.
    fn decoder(&self) -> Decoder {
        Decoder::with_upcasters(self.upcasters.clone())
    }

    /// This handle, calling `publisher` with each event it saves, after the
    /// commit. Other handles on the same database keep their own publisher.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, SqliteEventStore};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let store = SqliteEventStore::open_in_memory()?.with_publisher(move |e: &Event| {
    ///     log.lock().unwrap().push(e.version());
    ///     Ok(())
    /// });
    /// store.append("s", &vector![Event::new("A"), Event::new("B")], ExpectedVersion::Any)?;
    /// assert_eq!(*seen.lock().unwrap(), [1, 2]);
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    #[must_use]
    pub fn with_publisher<F>(mut self, publisher: F) -> Self
    where
        F: Fn(&Event<D>) -> Result<(), PublishError> + Send + Sync + 'static,
    {
        self.publisher = Some(Arc::new(publisher));
        self
    }

    /// Sets when SQLite syncs to disk, for this handle's connection (shared
    /// with its clones). See [`Synchronous`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when SQLite refuses the setting.
    pub fn with_synchronous(self, synchronous: Synchronous) -> Result<Self, StoreError> {
        self.lock()
            .pragma_update(None, "synchronous", synchronous.pragma())
            .map_err(backend)?;
        Ok(self)
    }

    /// Sets how long a save waits for another connection's write lock
    /// before it fails with [`StoreError::Backend`] ("database is locked"),
    /// for this handle's connection (shared with its clones). The default is
    /// [`DEFAULT_BUSY_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when SQLite refuses the setting.
    pub fn with_busy_timeout(self, timeout: Duration) -> Result<Self, StoreError> {
        self.lock().busy_timeout(timeout).map_err(backend)?;
        Ok(self)
    }

    /// How the saves through this handle's connection (this handle and its
    /// clones) were grouped by the group commit so far: how many groups,
    /// how many saves, and how many groups of each size (see
    /// [`GroupCommitStats`]). Time: O(1).
    #[must_use]
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        self.group.stats()
    }

    /// The file the store is in; `None` in memory.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic cannot leave the connection inside a transaction: rusqlite
        // rolls back a transaction that is dropped during unwinding.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Configures a new connection and makes sure it holds the schema.
fn set_up(mut connection: Connection) -> Result<Connection, StoreError> {
    connection
        .busy_timeout(DEFAULT_BUSY_TIMEOUT)
        .map_err(backend)?;
    // Room for every statement a save and the reads run (rusqlite keeps 16
    // by default), so that none is prepared again.
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Refuse an unknown schema before changing anything in the file.
    check_schema_version(&connection)?;
    // In memory the journal mode stays "memory"; a file goes to WAL.
    let _mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(backend)?;
    connection
        .pragma_update(None, "synchronous", Synchronous::Full.pragma())
        .map_err(backend)?;
    // A larger page cache (64 MiB, SQLite's default is 2 MiB) keeps the
    // indexes' hot pages in memory instead of re-reading them from the OS on
    // every save.
    connection
        .pragma_update(None, "cache_size", -65_536)
        .map_err(backend)?;
    if check_schema_version(&connection)? == 0 {
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        // Checked again under the write lock: another process may have just
        // created it.
        if check_schema_version(&tx)? == 0 {
            tx.execute_batch(SCHEMA).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
    }
    if check_schema_version(&connection)? == 1 {
        migrate_v1(&mut connection)?;
    }
    connection
        .execute_batch(checkpoint::CHECKPOINTS)
        .map_err(backend)?;
    connection
        .execute_batch(snapshot::SNAPSHOTS)
        .map_err(backend)?;
    Ok(connection)
}

/// Migrates a version-1 file to version 2 in one transaction under the
/// write lock (checked again there: another process may have just done
/// it). On any error the transaction is rolled back: the file is as it was.
fn migrate_v1(connection: &mut Connection) -> Result<(), StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    if check_schema_version(&tx)? == 1 {
        tx.execute_batch(MIGRATE_V1)
            .map_err(|e| StoreError::Backend {
                message: format!(
                    "SQLite: {e} (migrating the schema from version 1 to 2; nothing was changed)"
                ),
                source: Some(Box::new(e)),
            })?;
        log::info!("SQLite: migrated an event store from schema version 1 to 2");
    }
    tx.commit().map_err(backend)
}

/// Makes a read-only connection to a version-1 file read as version 2 (a
/// temporary view, written to no file).
fn read_v1(connection: &Connection) -> Result<(), StoreError> {
    connection.execute_batch(V1_VIEW).map_err(backend)
}

/// The file's schema version: 0 (none yet), 1 (to migrate) or
/// [`SCHEMA_VERSION`].
fn check_schema_version(connection: &Connection) -> Result<i64, StoreError> {
    let found: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(backend)?;
    if (0..=SCHEMA_VERSION).contains(&found) {
        Ok(found)
    } else {
        Err(StoreError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        })
    }
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend {
        message: format!("SQLite: {error}"),
        source: Some(Box::new(error)),
    }
}

/// The text (or blob) in a column, or a reason saying what was there.
fn text_of<'a>(column: &str, value: ValueRef<'a>) -> Result<&'a [u8], String> {
    match value {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Ok(bytes),
        other => Err(format!(
            "{column} should be text, found {}",
            describe(other)
        )),
    }
}

/// The integer in a column, or a reason saying what was there.
fn integer_of(column: &str, value: ValueRef<'_>) -> Result<i64, String> {
    match value {
        ValueRef::Integer(n) => Ok(n),
        other => Err(format!(
            "{column} should be an integer, found {}",
            describe(other)
        )),
    }
}

fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_string(),
        ValueRef::Integer(n) => format!("the integer {n}"),
        ValueRef::Real(x) => format!("the real number {x}"),
        ValueRef::Text(t) => format!("the text {:?}", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

/// Decodes a row selected with [`EVENT_COLUMNS`].
fn event_from_row<D: DeserializeOwned>(
    row: &Row<'_>,
    decoder: &mut Decoder,
) -> Result<Event<D>, StoreError> {
    let get = |i: usize| row.get_ref(i).map_err(backend);
    let position = match get(0)? {
        ValueRef::Integer(n) => n,
        // An INTEGER PRIMARY KEY is always an integer.
        other => {
            return Err(StoreError::Backend {
                message: format!("SQLite: position is {}", describe(other)),
                source: None,
            });
        }
    };
    let stream_id = text_of("stream_id", get(2)?).map_err(|r| codec::corrupt(b"", position, r))?;
    let fail = |reason: String| codec::corrupt(stream_id, position, reason);
    let stored = StoredRow {
        position,
        event_id: text_of("event_id", get(1)?).map_err(fail)?,
        stream_id,
        version: integer_of("version", get(3)?).map_err(fail)?,
        event_type: text_of("type", get(4)?).map_err(fail)?,
        timestamp: text_of("timestamp", get(5)?).map_err(fail)?,
        data: text_of("data", get(6)?).map_err(fail)?,
        metadata: text_of("metadata", get(7)?).map_err(fail)?,
        data_version: integer_of("data_version", get(8)?).map_err(fail)?,
    };
    decoder.decode(&stored)
}

impl<D> SqliteEventStore<D>
where
    D: Serialize + DeserializeOwned + Clone,
{
    /// Saves a batch through the group commit (see the [`group_commit`]
    /// module): returns the events as stored, and whether this call wrote
    /// them (not when it found them stored by an earlier save of the same
    /// batch, or the batch is empty), once the commit that holds them has
    /// returned; their publisher has been called by then.
    fn write_batch(
        &self,
        stream_id: &str,
        events: &Vector<Event<D>>,
        expected: ExpectedVersion,
    ) -> Result<(Vec<Event<D>>, bool), StoreError> {
        let request =
            group_commit::Request::new(stream_id, events, expected, self.publisher.clone());
        self.group.save(&self.connection, request)
    }
}

/// Writes one batch inside the transaction (or savepoint) open on `tx`,
/// under the write lock, without committing: returns the events as stored,
/// and whether they were written now (not when they were found stored by an
/// earlier save of the same batch, or the batch is empty; then nothing was
/// written). On an error, what it wrote must be rolled back by the caller.
///
/// Statements, for a batch of b events to a stream: one look-up of the
/// stream's version and of the first event's id together, one write of the
/// stream's row, b inserts (positions and stream numbers given by SQLite as
/// the largest plus one; no `MAX` read); all prepared once per connection.
/// What depends on the batch alone (its admission, the events' values but
/// for their versions) was worked out by the caller (see
/// [`group_commit::Prepared`]) and is taken here where it was needed.
fn write_one<D>(
    tx: &Connection,
    request: &mut group_commit::Request<D>,
) -> Result<(Vec<Event<D>>, bool), StoreError>
where
    D: Serialize + DeserializeOwned + Clone,
{
    let stream_id = request.stream_id.as_str();
    let events = &request.events;
    let expected = request.expected;
    let prepared = std::mem::replace(&mut request.prepared, group_commit::Prepared::Taken);
    let mut id_buffer = uuid::Uuid::encode_buffer();
    let first_id = events
        .front()
        .map(|first| &*first.id().hyphenated().encode_lower(&mut id_buffer));
    let (current, first_is_stored): (Option<i64>, bool) = match (&prepared, first_id) {
        (group_commit::Prepared::Admitted(_), Some(first_id)) => tx
            .prepare_cached(
                "SELECT (SELECT version FROM streams WHERE stream_id = ?1), \
                 EXISTS (SELECT 1 FROM events WHERE event_id = ?2)",
            )
            .and_then(|mut s| {
                s.query_row([stream_id, first_id], |row| Ok((row.get(0)?, row.get(1)?)))
            })
            .map_err(backend)?,
        _ => {
            let current = tx
                .prepare_cached("SELECT version FROM streams WHERE stream_id = ?1")
                .and_then(|mut s| s.query_row([stream_id], |row| row.get(0)).optional())
                .map_err(backend)?;
            (current, false)
        }
    };
    let current_version = codec::stream_version(stream_id, current)?;
    let encoded = match prepared {
        group_commit::Prepared::Admitted(encoded) => encoded,
        group_commit::Prepared::Refused(e) => return Err(e),
        group_commit::Prepared::Taken => {
            return Err(StoreError::Backend {
                message: "SQLite: a save was written twice".into(),
                source: None,
            });
        }
    };
    if let Some(first_id) = first_id
        && first_is_stored
    {
        // A retry of a save that happened, or a mistake: judged in
        // this transaction, under the write lock; nothing is
        // written (the caller rolls back). The
        // stored events are compared as stored, not upcast.
        let kept = stored_from(tx, stream_id, first_id, events.len())?;
        return check_retry(stream_id, events, expected, kept).map(|kept| (kept, false));
    }
    let name = Name::from(stream_id);
    let stored = place(stream_id, &name, events, expected, current_version)?;
    if stored.is_empty() {
        // Nothing to write (the caller rolls back).
        return Ok((stored, false));
    }
    // The values as `codec::encode` gives them for the stored events (with
    // its errors, in its order: each event's version, then the rest).
    let failed_at = encoded.as_ref().err().map_or(usize::MAX, |(i, _)| *i);
    let mut versions = Vec::with_capacity(stored.len());
    for (i, event) in stored.iter().enumerate() {
        versions.push(codec::sql_version(event.id(), event.version())?);
        if i == failed_at {
            break;
        }
    }
    let encoded = encoded.map_err(|(_, e)| e)?;
    let new_version = versions.last().copied().unwrap_or(0);
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO events (event_id, stream_id, version, type, timestamp, data, \
                 metadata, data_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(backend)?;
        let mut in_batch = HashSet::with_capacity(stored.len());
        for ((event, values), version) in stored.iter().zip(&encoded).zip(&versions) {
            let duplicate = StoreError::DuplicateEvent {
                event_id: event.id(),
            };
            if stored.len() > 1 && !in_batch.insert(event.id()) {
                return Err(duplicate);
            }
            let outcome = insert.execute(params![
                values.event_id,
                stream_id,
                version,
                &*values.event_type,
                values.timestamp,
                values.data,
                values.metadata,
                values.data_version,
            ]);
            match outcome {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation
                        && id_is_stored(tx, &values.event_id)? =>
                {
                    return Err(duplicate);
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }
    if current.is_none() {
        let first_timestamp = &encoded[0].timestamp;
        tx.prepare_cached(
            "INSERT INTO streams (number, stream_id, timestamp, version) VALUES \
             ((SELECT COALESCE(MAX(number) + 1, 0) FROM streams), ?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![stream_id, first_timestamp, new_version]))
        .map_err(backend)?;
    } else {
        tx.prepare_cached("UPDATE streams SET version = ?1 WHERE stream_id = ?2")
            .and_then(|mut s| s.execute(params![new_version, stream_id]))
            .map_err(backend)?;
    }
    Ok((stored, true))
}

/// The events of stream `stream_id` from the one whose id is `first_id`,
/// at most `count` of them, in version order; none when the stream does
/// not hold it. Two index look-ups and one range of the
/// `(stream_id, version)` index.
fn stored_from<D: DeserializeOwned>(
    connection: &Connection,
    stream_id: &str,
    first_id: &str,
    count: usize,
) -> Result<Vec<Event<D>>, StoreError> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ?1 AND version >= \
             (SELECT version FROM events WHERE event_id = ?2 AND stream_id = ?1) \
             ORDER BY version LIMIT ?3"
        ))
        .map_err(backend)?;
    let limit = i64::try_from(count).unwrap_or(i64::MAX);
    let mut rows = statement
        .query(params![stream_id, first_id, limit])
        .map_err(backend)?;
    let mut decoder = Decoder::new();
    let mut events = Vec::with_capacity(count);
    while let Some(row) = rows.next().map_err(backend)? {
        events.push(event_from_row(row, &mut decoder)?);
    }
    Ok(events)
}

fn id_is_stored(connection: &Connection, event_id: &str) -> Result<bool, StoreError> {
    connection
        .prepare_cached("SELECT 1 FROM events WHERE event_id = ?1")
        .and_then(|mut s| s.exists([event_id]))
        .map_err(backend)
}

impl<D> EventStore<D> for SqliteEventStore<D>
where
    D: Serialize + DeserializeOwned + Clone + Send + Sync,
{
    fn append(
        &self,
        stream_id: &str,
        events: &Vector<Event<D>>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Event<D>>, StoreError> {
        // `append` checks the batch with the shared `prepare_batch`, as every
        // store does (an empty stream id included).
        self.check_writable()?;
        // The publisher has been called with the events written, after the
        // commit, by the time this returns.
        let (stored, _written) = self.write_batch(stream_id, events, expected)?;
        Ok(stored)
    }

    /// As [`EventStore::events`], read in pages of 1,024 events: the
    /// connection's lock is released between pages, so a save on a clone
    /// waits for at most one page's read. The events saved meanwhile that
    /// follow what was read are included (a stream or the log is only ever
    /// appended to, so the result is still a run of it without gaps).
    ///
    /// # Errors
    ///
    /// As [`EventStore::events`].
    fn events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event<D>>, StoreError> {
        self.read_everything(stream_id, start)
    }

    /// As [`EventStore::read_all`]: one query with `LIMIT`, under the
    /// connection's lock for this page only. Time: O(log n + limit).
    ///
    /// # Errors
    ///
    /// As [`EventStore::read_all`].
    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded<D>>, StoreError> {
        self.page_all(after, limit)
    }

    /// As [`EventStore::read_stream`]: one query with `LIMIT` on the
    /// stream's index, under the connection's lock for this page only.
    /// Time: O(log n + limit).
    ///
    /// # Errors
    ///
    /// As [`EventStore::read_stream`].
    fn read_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded<D>>, StoreError> {
        self.page_stream(stream_id, after, limit)
    }

    fn last_event(&self, stream_id: &str) -> Result<Option<Event<D>>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ?1 ORDER BY version DESC LIMIT 1"
            ))
            .map_err(backend)?;
        let mut rows = statement.query([stream_id]).map_err(backend)?;
        match rows.next().map_err(backend)? {
            Some(row) => event_from_row(row, &mut self.decoder()).map(Some),
            None => Ok(None),
        }
    }

    fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "SELECT number, stream_id, timestamp FROM streams WHERE number >= ?1 ORDER BY number",
            )
            .map_err(backend)?;
        let mut rows = statement.query([codec::sql_int(start)]).map_err(backend)?;
        let mut streams = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let get = |i: usize| row.get_ref(i).map_err(backend);
            let stream_id =
                text_of("streams.stream_id", get(1)?).map_err(|r| codec::corrupt(b"", 0, r))?;
            let fail = |reason: String| codec::corrupt(stream_id, 0, reason);
            let number = integer_of("streams.number", get(0)?)
                .and_then(|n| {
                    u64::try_from(n)
                        .map_err(|_| format!("streams.number should be a whole number, found {n}"))
                })
                .map_err(fail)?;
            let timestamp = text_of("streams.timestamp", get(2)?)
                .and_then(codec::decode_timestamp)
                .map_err(fail)?;
            let stream_id = std::str::from_utf8(stream_id)
                .map_err(|e| fail(format!("streams.stream_id should be UTF-8 text ({e})")))?;
            streams.push(StreamInfo {
                number,
                stream_id: stream_id.to_string(),
                timestamp,
            });
        }
        Ok(streams)
    }

    /// As [`EventStore::wait_for_commit`]: on a file, a connection of its
    /// own polls `PRAGMA data_version` every 2 ms, which sees the commits of
    /// every connection in every process; in memory, the largest position
    /// is polled. Time: per poll, one pragma (plus one index look-up when
    /// something was committed); saves never wait for it on a file.
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn wait_for_commit(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        self.wait_commit(after, timeout)
    }

    /// As [`EventStore::checkpoint`]: one primary-key look-up in
    /// `dvent_checkpoints`.
    ///
    /// # Errors
    ///
    /// Backend errors, [`StoreError::Corrupt`] for a stored position below 0.
    fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        self.read_checkpoint(name)
    }

    /// As [`EventStore::save_checkpoint`]: one upsert in
    /// `dvent_checkpoints`, durable as a save is.
    ///
    /// # Errors
    ///
    /// As [`EventStore::save_checkpoint`], [`StoreError::ReadOnly`] on a
    /// store opened read-only and [`StoreError::FileMoved`] as for a save.
    fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.write_checkpoint(name, position)
    }

    /// As [`EventStore::save_snapshot`]: one upsert in `dvent_snapshots`,
    /// durable as a save is.
    ///
    /// # Errors
    ///
    /// As [`EventStore::save_snapshot`], and [`StoreError::FileMoved`] as
    /// for a save.
    fn save_snapshot(&self, snapshot: &crate::Snapshot) -> Result<(), StoreError> {
        self.write_snapshot(snapshot)
    }

    /// As [`EventStore::latest_snapshot`]: one descending range of
    /// `dvent_snapshots`' primary key. Time: O(log s) for s snapshots, plus
    /// those of other shapes skipped.
    ///
    /// # Errors
    ///
    /// As [`EventStore::latest_snapshot`].
    fn latest_snapshot(
        &self,
        stream_id: &str,
        kind: &str,
        snapshot_version: u32,
        max_version: u64,
    ) -> Result<Option<crate::Snapshot>, StoreError> {
        self.read_snapshot(stream_id, kind, snapshot_version, max_version)
    }
}

impl<D> Clone for SqliteEventStore<D> {
    /// Another handle on the same connection, with the same publisher.
    /// Time: O(1).
    fn clone(&self) -> Self {
        SqliteEventStore {
            connection: Arc::clone(&self.connection),
            path: self.path.clone(),
            publisher: self.publisher.clone(),
            read_only: self.read_only,
            file: self.file.clone(),
            watch: Arc::clone(&self.watch),
            upcasters: self.upcasters.clone(),
            group: Arc::clone(&self.group),
        }
    }
}

impl<D> fmt::Debug for SqliteEventStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field("path", &self.path.as_deref().map(PathBuf::from))
            .field("publisher", &self.publisher.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use imbl::vector;
    use std::sync::Mutex;

    use super::*;

    fn file_store() -> (tempfile::TempDir, PathBuf, SqliteEventStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        let store = SqliteEventStore::open(&path).unwrap();
        (dir, path, store)
    }

    /// Saves two events to "s" and one to "t", then runs `damage` on the
    /// file through a connection of its own.
    fn damaged(damage: &str) -> (tempfile::TempDir, PathBuf) {
        let (dir, path, store) = file_store();
        store
            .append(
                "s",
                &vector![Event::new("A"), Event::new("B")],
                ExpectedVersion::NoStream,
            )
            .unwrap();
        store
            .append("t", &vector![Event::new("C")], ExpectedVersion::NoStream)
            .unwrap();
        drop(store);
        Connection::open(&path)
            .unwrap()
            .execute_batch(damage)
            .unwrap();
        (dir, path)
    }

    fn corrupt_parts(err: StoreError) -> (String, i64, String) {
        match err {
            StoreError::Corrupt {
                stream_id,
                position,
                reason,
            } => (stream_id, position, reason),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    /// Every read that meets the damaged row at position 2 of "s" says so.
    fn assert_reads_fail(path: &Path, reason_contains: &str) {
        let store = SqliteEventStore::<crate::Data>::open(path).unwrap();
        for err in [
            store.events(Some("s"), 0).unwrap_err(),
            store.events(None, 0).unwrap_err(),
            store.last_event("s").unwrap_err(),
        ] {
            let (stream_id, position, reason) = corrupt_parts(err);
            assert_eq!((stream_id.as_str(), position), ("s", 2), "{reason}");
            assert!(reason.contains(reason_contains), "{reason}");
        }
        // The rows around it still read.
        assert_eq!(store.events(Some("t"), 0).unwrap().len(), 1);
        assert_eq!(store.events(None, 2).unwrap().len(), 1);
    }

    #[test]
    fn invalid_json_is_corrupt() {
        let (_dir, path) = damaged("UPDATE events SET data = '{\"a\":' WHERE position = 2");
        assert_reads_fail(&path, "data should be JSON");
    }

    #[test]
    fn json_of_the_wrong_type_is_corrupt() {
        #[derive(Clone, Debug, Serialize, serde::Deserialize)]
        struct Added {
            description: String,
        }
        let (_dir, path) =
            damaged("UPDATE events SET data = '{\"description\":\"x\"}' WHERE position <> 2");
        let store = SqliteEventStore::<Added>::open(&path).unwrap();
        let (stream_id, position, reason) = corrupt_parts(store.events(None, 0).unwrap_err());
        assert_eq!((stream_id.as_str(), position), ("s", 2));
        assert!(reason.contains("Added"), "{reason}");
        assert_eq!(
            store.events(Some("t"), 0).unwrap()[0].data().description,
            "x"
        );
    }

    #[test]
    fn a_negative_or_overflowing_version_is_corrupt() {
        let (_dir, path) = damaged("UPDATE events SET version = -1 WHERE position = 2");
        let store = SqliteEventStore::<crate::Data>::open(&path).unwrap();
        for err in [
            store.events(None, 0).unwrap_err(),
            store.events(Some("s"), 0).unwrap_err(),
            store.events(Some("s"), 1).unwrap_err(),
        ] {
            let (stream_id, position, reason) = corrupt_parts(err);
            assert_eq!((stream_id.as_str(), position), ("s", 2));
            assert!(reason.contains("found -1"), "{reason}");
        }

        for too_big in ["18446744073709551616", "'18446744073709551616'", "1.5"] {
            let (_dir, path) = damaged(&format!(
                "UPDATE events SET version = {too_big} WHERE position = 2"
            ));
            assert_reads_fail(&path, "version should be an integer");
        }
    }

    #[test]
    fn an_invalid_uuid_timestamp_text_or_version_is_corrupt() {
        let (_dir, path) = damaged("UPDATE events SET event_id = 'not-a-uuid' WHERE position = 2");
        assert_reads_fail(&path, "event_id should be a UUID");
        let (_dir, path) = damaged("UPDATE events SET timestamp = 'yesterday' WHERE position = 2");
        assert_reads_fail(&path, "RFC 3339");
        let (_dir, path) = damaged("UPDATE events SET type = x'ff' WHERE position = 2");
        assert_reads_fail(&path, "type should be UTF-8 text");
        let (_dir, path) = damaged("UPDATE events SET version = 'two' WHERE position = 2");
        assert_reads_fail(
            &path,
            "version should be an integer, found the text \"two\"",
        );
        let (_dir, path) =
            damaged("UPDATE events SET data = CAST(x'ff00' AS TEXT) WHERE position = 2");
        assert_reads_fail(&path, "data should be JSON");
    }

    #[test]
    fn a_gap_in_a_stream_is_corrupt() {
        let (_dir, path) = damaged("UPDATE events SET version = 5 WHERE position = 2");
        let store = SqliteEventStore::<crate::Data>::open(&path).unwrap();
        let (stream_id, position, reason) = corrupt_parts(store.events(Some("s"), 0).unwrap_err());
        assert_eq!((stream_id.as_str(), position), ("s", 2));
        assert!(reason.contains("expected version 2, found 5"), "{reason}");
    }

    #[test]
    fn a_damaged_streams_row_is_corrupt() {
        let (_dir, path) = damaged("UPDATE streams SET timestamp = 'soon' WHERE stream_id = 't'");
        let store = SqliteEventStore::<crate::Data>::open(&path).unwrap();
        let (stream_id, _, reason) = corrupt_parts(store.streams(0).unwrap_err());
        assert_eq!(stream_id, "t");
        assert!(reason.contains("RFC 3339"), "{reason}");
    }

    #[test]
    fn a_newer_schema_is_refused_and_the_file_left_alone() {
        let (_dir, path, store) = file_store();
        drop(store);
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 3)
            .unwrap();
        let err = SqliteEventStore::<crate::Data>::open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::UnsupportedSchema {
                    found: 3,
                    supported: 2
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_backend_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.sqlite");
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        let err = SqliteEventStore::<crate::Data>::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::Backend { ref message, source: Some(_) } if message.contains("junk.sqlite")),
            "{err}"
        );
    }

    /// `Data` was once `imbl::OrdMap<String, Value>` itself: it writes the
    /// very same text, and rows written as that map's JSON read back.
    #[test]
    fn data_rows_are_the_ordmap_json_and_old_rows_read_back() {
        use crate::data::Value;
        use imbl::OrdMap;

        let pairs = [
            ("status", serde_json::json!("Queued")),
            ("n", serde_json::json!(-1.25)),
            ("nested", serde_json::json!({"b": [1, null], "a": "é"})),
        ];
        let map: OrdMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        let old_json = serde_json::to_string(&map).unwrap();

        let (_dir, path, store) = file_store();
        let saved = store
            .append(
                "s",
                &vector![Event::new("A").with_data(crate::data(pairs.clone()))],
                ExpectedVersion::NoStream,
            )
            .unwrap();
        store
            .append("old", &vector![Event::new("B")], ExpectedVersion::NoStream)
            .unwrap();
        drop(store);
        let connection = Connection::open(&path).unwrap();
        let written: String = connection
            .query_row("SELECT data FROM events WHERE stream_id = 's'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(written, old_json);
        // A row as an older version wrote it:
        connection
            .execute(
                "UPDATE events SET data = ?1 WHERE stream_id = 'old'",
                [&old_json],
            )
            .unwrap();
        drop(connection);

        let store = SqliteEventStore::open(&path).unwrap();
        assert_eq!(store.events(Some("s"), 0).unwrap(), saved);
        let old = store.events(Some("old"), 0).unwrap();
        assert_eq!(old[0].data(), &Data::from(map));
        assert_eq!(old[0].data().get_str("status"), Some("Queued"));
    }

    #[test]
    fn reopening_gives_back_everything_exactly() {
        let (_dir, path, store) = file_store();
        let a = store
            .append(
                "s",
                &vector![Event::new("A").with_entry("n", 1), Event::new("B")],
                ExpectedVersion::NoStream,
            )
            .unwrap();
        let b = store
            .append(
                "t",
                &vector![Event::new("C").with_entry("x", "y")],
                ExpectedVersion::Any,
            )
            .unwrap();
        let c = store
            .append("s", &vector![Event::new("D")], ExpectedVersion::Exact(2))
            .unwrap();
        let streams = store.streams(0).unwrap();
        drop(store);
        let store = SqliteEventStore::open(&path).unwrap();
        let all: Vec<Event> = a.iter().chain(&b).chain(&c).cloned().collect();
        assert_eq!(store.events(None, 0).unwrap(), all);
        assert_eq!(store.events(None, 3).unwrap(), all[3..]);
        assert_eq!(
            store.events(Some("s"), 1).unwrap(),
            [a[1].clone(), c[0].clone()]
        );
        assert_eq!(store.last_event("s").unwrap(), Some(c[0].clone()));
        assert_eq!(store.streams(0).unwrap(), streams);
        assert_eq!(streams[1].number, 1);
        assert_eq!(streams[1].timestamp, b[0].timestamp());
        assert_eq!(store.streams(1).unwrap(), streams[1..]);
    }

    #[test]
    fn a_duplicate_id_is_refused_and_nothing_is_written() {
        let store = SqliteEventStore::open_in_memory().unwrap();
        let event = Event::new("X");
        store
            .append("a", &vector![event.clone()], ExpectedVersion::Any)
            .unwrap();
        for (stream, batch) in [
            ("b", vec![Event::new("Y"), event.clone()]),
            ("a", vec![Event::new("Y"), event.clone()]),
        ] {
            let err = store
                .append(
                    stream,
                    &batch.iter().cloned().collect(),
                    ExpectedVersion::Any,
                )
                .unwrap_err();
            assert!(
                matches!(err, StoreError::DuplicateEvent { event_id } if event_id == event.id())
            );
        }
        let twice = Event::new("Z");
        let err = store
            .append(
                "c",
                &vector![twice.clone(), twice.clone()],
                ExpectedVersion::Any,
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::DuplicateEvent { event_id } if event_id == twice.id()));
        assert_eq!(store.events(None, 0).unwrap().len(), 1);
        assert_eq!(store.streams(0).unwrap().len(), 1);
        assert_eq!(store.last_event("a").unwrap().unwrap().version(), 1);
    }

    #[test]
    fn an_empty_batch_checks_the_expectation_and_writes_nothing() {
        let store = SqliteEventStore::<crate::Data>::open_in_memory().unwrap();
        assert!(
            store
                .append("a", &vector![], ExpectedVersion::NoStream)
                .unwrap()
                .is_empty()
        );
        assert!(store.streams(0).unwrap().is_empty());
        let err = store
            .append("a", &vector![], ExpectedVersion::Exact(3))
            .unwrap_err();
        assert!(matches!(err, StoreError::VersionConflict { found: 0, .. }));
        assert!(matches!(
            store
                .append("", &vector![], ExpectedVersion::Any)
                .unwrap_err(),
            StoreError::EmptyStreamId
        ));
    }

    #[test]
    fn a_failing_publisher_never_undoes_the_write() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let store = SqliteEventStore::open_in_memory()
            .unwrap()
            .with_publisher(move |e: &Event| {
                log.lock().unwrap().push(e.version());
                if e.version() == 1 {
                    panic!("publisher bug");
                }
                Err("broker down".into())
            });
        let reader = store.clone();
        store
            .append(
                "s",
                &vector![Event::new("A"), Event::new("B")],
                ExpectedVersion::Any,
            )
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
        assert_eq!(reader.events(None, 0).unwrap().len(), 2);
    }

    #[test]
    fn the_last_event_and_the_expectation_are_index_look_ups() {
        let store = SqliteEventStore::<crate::Data>::open_in_memory().unwrap();
        let connection = store.lock();
        let plan = |sql: &str| -> String {
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = statement
                .query_map([], |row| row.get::<_, String>(3))
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let last = plan(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = 's' ORDER BY version DESC LIMIT 1"
        ));
        assert!(last.contains("USING INDEX"), "{last}");
        assert!(!last.contains("TEMP B-TREE"), "{last}");
        let stream = plan(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = 's' AND (version > 5 OR version < 1) ORDER BY version"
        ));
        assert!(stream.contains("USING INDEX"), "{stream}");
        assert!(!stream.contains("SCAN events"), "{stream}");
        let version = plan("SELECT version FROM streams WHERE stream_id = 's'");
        assert!(version.contains("USING INDEX"), "{version}");
        let all = plan(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE position > 5 ORDER BY position"
        ));
        assert!(all.contains("INTEGER PRIMARY KEY"), "{all}");
    }

    #[test]
    fn handles_on_one_file_see_each_other() {
        let (_dir, path, one) = file_store();
        let two = SqliteEventStore::open(&path).unwrap();
        one.append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
            .unwrap();
        let err = two
            .append("s", &vector![Event::new("B")], ExpectedVersion::NoStream)
            .unwrap_err();
        assert!(matches!(err, StoreError::VersionConflict { found: 1, .. }));
        two.append("s", &vector![Event::new("B")], ExpectedVersion::Exact(1))
            .unwrap();
        assert_eq!(one.events(None, 0).unwrap().len(), 2);
        assert_eq!(one.path(), Some(path.as_path()));
    }

    #[test]
    fn the_store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SqliteEventStore>();
    }
}
