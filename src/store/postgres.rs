//! The PostgreSQL event store: one database shared by many application
//! instances.
//!
//! [`PostgresEventStore`] (cargo feature `postgres`) talks to a PostgreSQL
//! server (version 11 or later) through the synchronous `postgres` client,
//! with a small pool of connections (`r2d2`) per store, each keeping its
//! prepared statements. Connections are not encrypted (no TLS): reach the
//! server through a Unix socket, the loopback or a trusted network.
//!
//! # Schema (version 2)
//!
//! In the schema given with [`PostgresOptions::schema`], or else in the
//! first schema of the connection's `search_path` (usually `public`):
//!
//! ```sql
//! CREATE TABLE dvent_store (               -- one row: the marker and the append lock
//!     id             INTEGER PRIMARY KEY CHECK (id = 1),
//!     schema_version INTEGER NOT NULL      -- 2
//! );
//! CREATE TABLE events (
//!     position  BIGINT PRIMARY KEY,        -- global order: 1, 2, 3, … without gaps
//!     event_id  UUID   NOT NULL UNIQUE,
//!     stream_id TEXT   NOT NULL,
//!     version   BIGINT NOT NULL,           -- position in the stream: 1, 2, 3, …
//!     type      TEXT   NOT NULL,
//!     timestamp TEXT   NOT NULL,           -- RFC 3339, UTC, nanoseconds (exact)
//!     data      JSON   NOT NULL,           -- the payload, as written
//!     data_version INTEGER NOT NULL DEFAULT 1,    -- the payload's schema version (2)
//!     metadata  JSON   NOT NULL DEFAULT '{}',     -- the metadata, as written (2)
//!     UNIQUE (stream_id, version)
//! );
//! CREATE TABLE streams (
//!     number    BIGINT PRIMARY KEY,        -- creation order: 0, 1, 2, …
//!     stream_id TEXT   NOT NULL UNIQUE,
//!     timestamp TEXT   NOT NULL,           -- its first event's timestamp
//!     version   BIGINT NOT NULL            -- its last event's version
//! );
//! CREATE TABLE dvent_snapshots (           -- aggregates' states (snapshots)
//!     stream_id        TEXT   NOT NULL,
//!     kind             TEXT   NOT NULL,    -- the aggregate kind's name
//!     version          BIGINT NOT NULL,    -- the stream's version it is at
//!     snapshot_version BIGINT NOT NULL,    -- the state's shape
//!     state            TEXT   NOT NULL,    -- the state as JSON text
//!     taken_at         TEXT   NOT NULL,    -- RFC 3339
//!     PRIMARY KEY (stream_id, kind, version)
//! );
//! ```
//!
//! `dvent_snapshots` (like `dvent_checkpoints`) is created `IF NOT EXISTS`
//! on connecting, so a schema made before it gets it and stays at version
//! 1.
//!
//! The timestamp is text because PostgreSQL's `timestamptz` keeps only
//! microseconds; `data` is `json` rather than `jsonb` so that any payload
//! serde writes is kept as written (`jsonb` refuses `\u0000`). Text columns
//! cannot hold the NUL character: a stream id or event type containing one
//! is refused.
//!
//! Connecting creates the schema and tables when `dvent_store` is missing
//! (in one transaction, under an advisory lock, so that processes starting
//! together are safe); a `schema_version` of 1 (dvent 0.2) is migrated
//! to 2; any other than 1 or 2 is [`StoreError::UnsupportedSchema`].
//!
//! **Migration from version 1**: in one transaction, under the same
//! advisory lock and the lock on `dvent_store`'s row (so saves wait for it,
//! and two processes migrate once), the version checked again there:
//!
//! ```sql
//! ALTER TABLE events ADD COLUMN data_version INTEGER NOT NULL DEFAULT 1;
//! ALTER TABLE events ADD COLUMN metadata JSON NOT NULL DEFAULT '{}';
//! UPDATE dvent_store SET schema_version = 2 WHERE id = 1;
//! ```
//!
//! Every event keeps its position, stream, version, timestamp and payload;
//! old events read with no metadata at payload version 1. A column with a
//! constant default rewrites no row (PostgreSQL 11 or later). Should any
//! statement fail, the transaction is rolled back and the schema stays at
//! version 1 as it was. A user that may not create tables can
//! use a schema made beforehand by one that may. A schema the store creates
//! gets a comment saying so: [`PostgresEventStore::drop_schema`] drops only
//! such a schema (never `public`, nor one made beforehand).
//!
//! # Errors
//!
//! A server's error keeps its severity, SQLSTATE, message, detail and hint
//! in [`StoreError::Backend`]'s message (`PostgreSQL: FATAL 3D000: database
//! "x" does not exist`), and the client's `postgres::Error` as its source;
//! a failure to connect keeps the operating system's reason.
//!
//! # Guarantees
//!
//! - **Atomic batches.** A save is one transaction: the stream's version is
//!   read, the expectation checked and the batch written; on any error it
//!   is rolled back and nothing is written.
//! - **One order, and no reader misses an event.** Every transaction that
//!   writes events first locks the one row of `dvent_store` (`SELECT … FOR
//!   UPDATE`) and holds that lock until it commits. Writes are thereby
//!   serialised, across connections and processes: each one reads the
//!   largest position after the previous one has committed, and gives its
//!   events the next positions. So positions are given in commit order,
//!   without gaps, and a reader that sees position p sees every position
//!   before it: reading "all events after position p" can never miss an
//!   event that commits later with a smaller position, because there is
//!   none. Reads never wait for saves.
//! - **Group commit.** So that saves are not one at a time, each waiting for
//!   its own flush of the write-ahead log, the saves a process makes at the
//!   same moment (through a store and its clones) are written together:
//!   one call of the server-side function `dvent_append_v1`, one
//!   transaction, one flush, one round trip. Each save is still judged
//!   alone: the function writes only a save whose stream is at a version it
//!   accepts and whose ids are all new, and a caller gets its answer only
//!   after the commit; should the connection fail once the call was sent,
//!   every save of the group gets [`StoreError::OutcomeUnknown`] (each batch
//!   wholly stored or wholly absent). A leader waits for company only when
//!   the last group was larger than what is queued, for at most a quarter
//!   of that group's time and 0.5 ms; a save alone never waits. The
//!   function is created on
//!   connecting when it is missing, like the side tables; a user that may
//!   not create it gets saves written one at a time, five round trips each
//!   (begin, lock, read, write, commit), with the same guarantees. A save
//!   the function does not write (a conflict, a retry, a duplicate id, an
//!   empty batch) is saved that way too, so that it gets the same answer as
//!   ever.
//! - **Conflicts.** Two writers expecting the same version of a stream: the
//!   second to take the lock finds the stream moved on and gets
//!   [`StoreError::VersionConflict`]; nothing of its batch is written. A
//!   save's transaction is always read committed and read-write (set in its
//!   `START TRANSACTION`, whatever the database's or role's
//!   `default_transaction_isolation` or `default_transaction_read_only`),
//!   which the read after the lock needs. Should a race still reach the
//!   server (a unique violation, a serialization failure, a deadlock), it is
//!   a [`StoreError::VersionConflict`] too, or [`StoreError::DuplicateEvent`]
//!   when it was on an event id.
//! - **Time limits.** Every statement runs under a lock timeout (default
//!   5 s) and a statement timeout (default 30 s) of
//!   [`PostgresOptions`], set on every connection and again in every save's
//!   transaction (`SET LOCAL`), whatever the database's defaults: a session
//!   that holds the append lock and stalls makes saves fail with
//!   [`StoreError::Timeout`] instead of waiting for it.
//! - **An unknown outcome is said.** When the connection fails at or after
//!   the moment the `COMMIT` is sent (the server crashed, the network
//!   broke), the batch may have been committed: the save returns
//!   [`StoreError::OutcomeUnknown`], never a plain error. Every other error
//!   from a save means nothing was written. Saving the same batch again is
//!   safe either way: a batch found already stored is returned as stored
//!   and not written twice (judged under the append lock; see
//!   [`EventStore::append`]).
//! - **Durability** is the server's: with PostgreSQL's default
//!   `synchronous_commit = on`, a save that returned is on disk.
//!
//! # Example
//!
//! ```no_run
//! use dvent::{vector, Event, EventStore, ExpectedVersion, PostgresEventStore};
//!
//! let store = PostgresEventStore::connect("postgresql://dvent@localhost/dvent")?;
//! store.append("todo-1", &vector![Event::new("TodoAdded")], ExpectedVersion::NoStream)?;
//! assert_eq!(store.events(Some("todo-1"), 0)?.len(), 1);
//! # Ok::<(), dvent::StoreError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::postgres::error::{Severity, SqlState};
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::ToSql;
use ::postgres::{Client, Config, GenericClient, IsolationLevel, NoTls, Row, Statement};
use imbl::Vector;
use scheduled_thread_pool::ScheduledThreadPool;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Recorded;
use super::codec::{self, Decoder, StoredRow};
use super::{EventStore, StoreError, StreamInfo, admit, check_retry, place, prepare_batch};
use crate::data::Data;
use crate::event::Event;
use crate::expected_version::ExpectedVersion;
use crate::name::Name;
use crate::publisher::{PublishError, Publisher, publish_all};
use crate::upcast::Upcasters;

mod group;
mod read;
mod read_model;
mod read_side;
mod snapshot;
mod watch;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 2;

/// A key for `pg_advisory_xact_lock`, held while a store creates its tables.
const SETUP_LOCK: i64 = 0x6476_656e_7400;

/// The comment on a schema the store created: what lets
/// [`PostgresEventStore::drop_schema`] drop it.
const SCHEMA_MARKER: &str =
    "Created by the Dvent event store (PostgresEventStore::drop_schema may drop it)";

/// How a [`PostgresEventStore`] connects.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use dvent::store::postgres::PostgresOptions;
///
/// let options = PostgresOptions::new()
///     .with_schema("orders")
///     .with_max_connections(4)
///     .with_connection_timeout(Duration::from_secs(3))
///     .with_lock_timeout(Duration::from_secs(2));
/// assert_eq!(options.schema(), Some("orders"));
/// assert_eq!(options.lock_timeout(), Duration::from_secs(2));
/// assert_eq!(options.statement_timeout(), Duration::from_secs(30));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    schema: Option<String>,
    max_connections: u32,
    connection_timeout: Duration,
    lock_timeout: Duration,
    statement_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: None,
            max_connections: 8,
            connection_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

impl PostgresOptions {
    /// The defaults: no schema of its own (the connection's `search_path`
    /// decides), at most 8 connections, 10 s to get one, 5 s to wait for a
    /// lock, 30 s for a statement.
    #[must_use]
    pub fn new() -> Self {
        PostgresOptions::default()
    }

    /// How long a statement waits for a lock before it fails with
    /// [`StoreError::Timeout`] (PostgreSQL's `lock_timeout`; default 5 s).
    /// A save first waits for the append lock, held by the save before it
    /// for a few milliseconds, but for as long as it likes by a session that
    /// locks the row and stalls: this bounds that wait. Set for every save's
    /// transaction (`SET LOCAL`) and for every connection, whatever the
    /// database's default. Rounded up to whole milliseconds, at most about
    /// 24 days; [`Duration::ZERO`] waits without limit (not advised).
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long one statement may run before the server cancels it and it
    /// fails with [`StoreError::Timeout`] (PostgreSQL's `statement_timeout`;
    /// default 30 s). A read of the whole store is one statement: give a
    /// large store time to send it. Set as the lock timeout is; rounded up
    /// to whole milliseconds; [`Duration::ZERO`] is no limit.
    #[must_use]
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// The lock timeout (see [`lock_timeout`](PostgresOptions::with_lock_timeout)).
    #[must_use]
    pub fn lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// The statement timeout (see
    /// [`statement_timeout`](PostgresOptions::with_statement_timeout)).
    #[must_use]
    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// Keeps the store's tables in this schema (created when missing), so
    /// that several stores can share one database.
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// At most this many connections in the pool (at least 1).
    #[must_use]
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long an operation waits for a connection (and a new connection
    /// for the server) before it fails.
    #[must_use]
    pub fn with_connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The schema given, if any.
    #[must_use]
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The most connections in the pool.
    #[must_use]
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// How long an operation waits for a connection.
    #[must_use]
    pub fn connection_timeout(&self) -> Duration {
        self.connection_timeout
    }
}

/// An event store in a PostgreSQL database, shared safely by many writers in
/// many processes.
///
/// - **Connect:** [`connect`](PostgresEventStore::connect) with a URL
///   (`postgresql://user:password@host:port/database`, or `key=value`
///   pairs), [`connect_with_schema`](PostgresEventStore::connect_with_schema)
///   to keep the tables in a schema of their own, or
///   [`connect_with`](PostgresEventStore::connect_with) for all
///   [`PostgresOptions`]. Each is generic over the payload type, inferred
///   from use ([`Data`] when named alone).
/// - **Thread-safe and cheap to share:** `Send + Sync`; a clone is another
///   handle on the same pool (O(1)).
/// - **Publisher:** [`with_publisher`](PostgresEventStore::with_publisher)
///   gives a handle that calls a function with each saved event after the
///   commit; its failures and panics are logged and never undo the write.
///
/// A save is one round trip to the server, and the saves a process makes
/// at the same moment share it (group commit); see the [module docs](self)
/// for how, for the schema and for the guarantees.
pub struct PostgresEventStore<D = Data> {
    shared: Arc<Shared>,
    publisher: Option<Publisher<D>>,
    /// Run on every read (see [`upcast`](crate::upcast)).
    upcasters: Option<Arc<Upcasters>>,
}

struct Shared {
    pool: r2d2::Pool<Manager>,
    sql: Sql,
    schema: Option<String>,
    limits: Limits,
    connection_timeout: Duration,
    /// Noticing commits (see the `watch` module).
    watch: Arc<watch::Watch>,
    /// Saves waiting to be written together (see the `group` module); none
    /// when the server-side function is missing and may not be created
    /// (then every save is written alone).
    group: Option<group::Queue>,
}

/// The time limits a store's connections and transactions run under.
#[derive(Clone, Copy, Debug)]
struct Limits {
    lock: Duration,
    statement: Duration,
}

impl Limits {
    /// The settings, as `SET` statements (`local`: for the transaction only).
    fn settings(self, local: bool) -> String {
        let scope = if local { "SET LOCAL" } else { "SET" };
        format!(
            "{scope} lock_timeout = {}; {scope} statement_timeout = {}",
            millis(self.lock),
            millis(self.statement)
        )
    }
}

/// A duration in whole milliseconds for a PostgreSQL setting, rounded up (a
/// non-zero duration never becomes 0, which means "no limit"), at most the
/// largest the server takes.
fn millis(duration: Duration) -> i64 {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .min(i64::from(i32::MAX))
}

impl<D> PostgresEventStore<D> {
    /// Connects to the database at `url`, with the tables in the first
    /// schema of the connection's `search_path`, creating them when missing.
    /// Time: one connection and two to four round trips.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the server cannot be reached or refuses
    /// (its SQLSTATE, message, detail and hint are in the message, and the
    /// client's error is the source), [`StoreError::Timeout`] when setting
    /// up waits too long for a lock, [`StoreError::UnsupportedSchema`] for
    /// tables of another schema version.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        PostgresEventStore::connect_with(url, PostgresOptions::new())
    }

    /// As [`connect`](PostgresEventStore::connect), with the tables in
    /// `schema` (created when missing, and then marked as Dvent's, so that
    /// [`drop_schema`](PostgresEventStore::drop_schema) may drop it).
    ///
    /// # Errors
    ///
    /// As [`connect`](PostgresEventStore::connect), and
    /// [`StoreError::Backend`] for a schema name that is empty, longer than
    /// 63 bytes or contains NUL.
    pub fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        PostgresEventStore::connect_with(url, PostgresOptions::new().with_schema(schema))
    }

    /// As [`connect`](PostgresEventStore::connect), with `options`.
    ///
    /// # Errors
    ///
    /// As [`connect_with_schema`](PostgresEventStore::connect_with_schema).
    pub fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let mut config: Config = url.parse().map_err(|e: ::postgres::Error| {
            StoreError::Backend {
                message: format!(
                    "PostgreSQL: the URL should be a postgresql:// URL or key=value pairs, found one that is not ({})",
                    describe(&e)
                ),
                source: Some(Box::new(e)),
            }
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connection_timeout);
        }
        if let Some(schema) = &options.schema {
            check_schema_name(schema)?;
        }
        let limits = Limits {
            lock: options.lock_timeout,
            statement: options.statement_timeout,
        };
        let sql = Sql::new(options.schema.as_deref(), limits);
        let listener_config = config.clone();
        let manager = Manager {
            config,
            // Statements outside an explicit transaction (reads, and the
            // group commit's one call) run read committed and read-write
            // whatever the database's or role's defaults: the group's
            // function reads after taking the lock.
            session: format!(
                "{}; SET default_transaction_isolation = 'read committed'; \
                 SET default_transaction_read_only = off",
                limits.settings(false)
            ),
        };
        // Set up on a connection of its own, so that a bad URL or password
        // fails at once with the server's message.
        let mut connection =
            r2d2::ManageConnection::connect(&manager).map_err(|e| pg_error(e, limits))?;
        set_up(
            &mut connection.client,
            options.schema.as_deref(),
            &sql,
            limits,
        )?;
        read_side::create_tables(&mut connection.client, &sql.read_side, limits)?;
        snapshot::create_table(&mut connection.client, &sql.snapshots, limits)?;
        let server_version: i32 = connection
            .client
            .query_one("SELECT current_setting('server_version_num')::integer", &[])
            .and_then(|row| row.try_get(0))
            .map_err(|e| pg_error(e, limits))?;
        let grouped = create_missing(
            &mut connection.client,
            Missing::Function(&sql.group.signature),
            &sql.group.create(server_version),
            limits,
            "saves are written one at a time, each in a transaction of its own,",
        )?;
        let schema = match &options.schema {
            Some(schema) => schema.clone(),
            None => {
                watch::current_schema(&mut connection.client).map_err(|e| pg_error(e, limits))?
            }
        };
        let watch = watch::Watch::new(
            listener_config,
            watch::channel(&schema),
            sql.read_side.last_position.clone(),
        );
        drop(connection);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .min_idle(Some(0))
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false)
            .connection_timeout(options.connection_timeout)
            .thread_pool(connector_threads())
            .build_unchecked(manager);
        Ok(PostgresEventStore {
            shared: Arc::new(Shared {
                pool,
                sql,
                schema: options.schema,
                limits,
                connection_timeout: options.connection_timeout,
                watch: Arc::new(watch),
                group: grouped.then(group::Queue::default),
            }),
            publisher: None,
            upcasters: None,
        })
    }

    /// This handle, reading every event through `upcasters`: a payload
    /// stored at an older version of its type is brought to the current
    /// one before it is decoded, in every read (see
    /// [`upcast`](crate::upcast)). Other handles keep their own. The same on
    /// every store. Nothing stored is changed.
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
    /// commit. Other handles keep their own publisher.
    #[must_use]
    pub fn with_publisher<F>(mut self, publisher: F) -> Self
    where
        F: Fn(&Event<D>) -> Result<(), PublishError> + Send + Sync + 'static,
    {
        self.publisher = Some(Arc::new(publisher));
        self
    }

    /// The schema the store's tables are in, when it was given one.
    #[must_use]
    pub fn schema(&self) -> Option<&str> {
        self.shared.schema.as_deref()
    }

    /// Drops what the store created, for good: for tests that made a schema
    /// of their own. The store (and its clones) can no longer be used.
    ///
    /// Only a schema the store created (marked so with a comment when it
    /// was created) is dropped: its three tables with every event in them,
    /// then the schema itself, unless someone put other objects in it, which
    /// are then kept, with the schema. A schema that existed before (such as
    /// `public`) is refused and nothing is dropped. One transaction: all of
    /// that, or nothing. A schema that is already gone is not an error.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the store was connected without a schema
    /// of its own, when the schema was not created by the store (nothing is
    /// dropped), when another object depends on the store's tables (a view
    /// on `events`, say; nothing is dropped), and database errors;
    /// [`StoreError::Timeout`] when a lock is not granted in time (another
    /// session using the tables).
    pub fn drop_schema(&self) -> Result<(), StoreError> {
        let Some(schema) = &self.shared.schema else {
            return Err(StoreError::Backend {
                message: "PostgreSQL: the store should have a schema of its own to drop, found none (it uses the search_path)"
                    .to_string(),
                source: None,
            });
        };
        let limits = self.shared.limits;
        let fail = |e| pg_error(e, limits);
        let mut pooled = self.connection()?;
        pooled.statements.clear();
        let mut tx = pooled
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .read_only(false)
            .start()
            .map_err(fail)?;
        let Some(row) = tx
            .query_opt(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
                &[schema],
            )
            .map_err(fail)?
        else {
            return Ok(());
        };
        let comment: Option<String> = row.try_get(0).map_err(fail)?;
        if comment.as_deref() != Some(SCHEMA_MARKER) {
            return Err(StoreError::Backend {
                message: format!(
                    "PostgreSQL: drop_schema drops only a schema the store created, marked with the comment {SCHEMA_MARKER:?}; \
                     schema {schema:?} has {}, so it was there before (or made by someone else) and nothing was dropped",
                    comment.map_or_else(
                        || "no comment".to_string(),
                        |c| format!("the comment {c:?}")
                    )
                ),
                source: None,
            });
        }
        let q = quote(schema);
        tx.batch_execute(&format!(
            "DROP TABLE IF EXISTS {q}.events, {q}.streams, {q}.dvent_store, {q}.dvent_checkpoints, {q}.dvent_snapshots; \
             DROP FUNCTION IF EXISTS {}; \
             SAVEPOINT dvent_tables",
            self.shared.sql.group.signature
        ))
        .map_err(fail)?;
        match tx.batch_execute(&format!("DROP SCHEMA {q}")) {
            Ok(()) => {}
            Err(e) if e.code() == Some(&SqlState::DEPENDENT_OBJECTS_STILL_EXIST) => {
                // Someone else's objects are in it: they stay, with the schema.
                tx.batch_execute("ROLLBACK TO SAVEPOINT dvent_tables")
                    .map_err(fail)?;
            }
            Err(e) => return Err(fail(e)),
        }
        tx.commit().map_err(fail)
    }

    fn connection(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.shared.pool.get().map_err(|e| StoreError::Backend {
            message: format!(
                "PostgreSQL: a connection should be ready within the connection timeout of {:?}, found none ({e})",
                self.shared.connection_timeout
            ),
            source: Some(Box::new(e)),
        })
    }
}

/// The threads that open pooled connections, shared by every store.
fn connector_threads() -> Arc<ScheduledThreadPool> {
    static THREADS: OnceLock<Arc<ScheduledThreadPool>> = OnceLock::new();
    THREADS
        .get_or_init(|| {
            Arc::new(
                ScheduledThreadPool::builder()
                    .num_threads(2)
                    .thread_name_pattern("dvent-postgres-{}")
                    .build(),
            )
        })
        .clone()
}

fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    if schema.is_empty() || schema.len() > 63 || schema.contains('\0') {
        return Err(StoreError::Backend {
            message: format!(
                "PostgreSQL: a schema name should be 1 to 63 bytes without NUL, found {schema:?}"
            ),
            source: None,
        });
    }
    Ok(())
}

/// A quoted SQL identifier.
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// A client error in words: for a server's error its severity, SQLSTATE,
/// message, detail and hint; for another its whole chain of causes.
fn describe(error: &::postgres::Error) -> String {
    use std::fmt::Write as _;
    let mut text = String::from("PostgreSQL: ");
    if let Some(db) = error.as_db_error() {
        let _ = write!(
            text,
            "{} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        );
        if let Some(detail) = db.detail() {
            let _ = write!(text, "; detail: {detail}");
        }
        if let Some(hint) = db.hint() {
            let _ = write!(text, "; hint: {hint}");
        }
        return text;
    }
    let _ = write!(text, "{error}");
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        let _ = write!(text, ": {e}");
        cause = e.source();
    }
    text
}

/// A client error as a store error: a lock or statement timeout is
/// [`StoreError::Timeout`], anything else [`StoreError::Backend`]; the
/// client's error is kept as the source.
fn pg_error(error: ::postgres::Error, limits: Limits) -> StoreError {
    let message = describe(&error);
    let timeout = match error.code() {
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => {
            Some(("waiting for a lock", limits.lock))
        }
        Some(code) if *code == SqlState::QUERY_CANCELED => Some(("a statement", limits.statement)),
        _ => None,
    };
    match timeout {
        Some((what, limit)) => StoreError::Timeout {
            what: what.to_string(),
            limit,
            message,
            source: Box::new(error),
        },
        None => StoreError::Backend {
            message,
            source: Some(Box::new(error)),
        },
    }
}

/// A client error that cannot be a timeout (decoding a column, say) as
/// [`StoreError::Backend`].
fn backend(error: ::postgres::Error) -> StoreError {
    StoreError::Backend {
        message: describe(&error),
        source: Some(Box::new(error)),
    }
}

/// Creates the schema when missing and checks its version.
fn set_up(
    client: &mut Client,
    schema: Option<&str>,
    sql: &Sql,
    limits: Limits,
) -> Result<(), StoreError> {
    let fail = |e| pg_error(e, limits);
    if !marker_exists(client, sql).map_err(fail)? {
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .read_only(false)
            .start()
            .map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
            .map_err(fail)?;
        if !marker_exists(&mut tx, sql).map_err(fail)? {
            if let Some(schema) = schema {
                let exists = tx
                    .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
                    .map_err(fail)?
                    .is_some();
                if !exists {
                    let q = quote(schema);
                    tx.batch_execute(&format!(
                        "CREATE SCHEMA {q}; COMMENT ON SCHEMA {q} IS '{SCHEMA_MARKER}'"
                    ))
                    .map_err(fail)?;
                }
            }
            tx.batch_execute(&sql.create).map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
    }
    let mut found: i32 = client
        .query_one(&sql.version, &[])
        .and_then(|row| row.try_get(0))
        .map_err(fail)?;
    if found == 1 {
        found = migrate_v1(client, sql, limits)?;
    }
    if i64::from(found) != SCHEMA_VERSION {
        return Err(StoreError::UnsupportedSchema {
            found: found.into(),
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Migrates a version-1 schema to version 2 in one transaction, under the
/// setup lock and the append lock, checking the version again there; returns
/// the version found after. On any error it is rolled back: the schema is
/// as it was.
fn migrate_v1(client: &mut Client, sql: &Sql, limits: Limits) -> Result<i32, StoreError> {
    let fail = |e| pg_error(e, limits);
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .read_only(false)
        .start()
        .map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
        .map_err(fail)?;
    let found: i32 = tx
        .query_one(&format!("{} FOR UPDATE", sql.version), &[])
        .and_then(|row| row.try_get(0))
        .map_err(fail)?;
    if found != 1 {
        return Ok(found);
    }
    tx.batch_execute(&sql.migrate_v1).map_err(|e| {
        let error = fail(e);
        match error {
            StoreError::Backend { message, source } => StoreError::Backend {
                message: format!(
                    "{message} (migrating the schema from version 1 to 2; nothing was changed)"
                ),
                source,
            },
            other => other,
        }
    })?;
    tx.commit().map_err(fail)?;
    log::info!("PostgreSQL: migrated an event store from schema version 1 to 2");
    Ok(2)
}

fn marker_exists(client: &mut impl GenericClient, sql: &Sql) -> Result<bool, ::postgres::Error> {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&sql.marker])
        .and_then(|row| row.try_get(0))
}

/// The store's SQL, with its table names.
struct Sql {
    /// Opens a save's transaction: isolation and limits whatever the
    /// database's defaults.
    begin: String,
    marker: String,
    create: String,
    /// From schema version 1 to 2.
    migrate_v1: String,
    version: String,
    current_version: String,
    lock: String,
    state: String,
    write: String,
    /// A retry's stored events: the stream's from the batch's first event.
    retry: String,
    stream_events: String,
    all_events: String,
    /// One page of `all_events`: `$2` rows at most.
    all_page: String,
    /// One page of `stream_events`: `$3` rows at most.
    stream_page: String,
    last_event: String,
    streams: String,
    /// The read side's: checkpoints, the largest position.
    read_side: read_side::ReadSql,
    /// Snapshots of aggregates' states.
    snapshots: snapshot::SnapshotSql,
    /// Group commit's function.
    group: group::GroupSql,
}

impl Sql {
    fn new(schema: Option<&str>, limits: Limits) -> Self {
        let p = schema.map(|s| format!("{}.", quote(s))).unwrap_or_default();
        let columns = "position, event_id::text, stream_id, version, type, timestamp, data::text, \
                       metadata::text, data_version::bigint";
        Sql {
            // Read committed: the read after the lock must see every save
            // committed before it took the lock (a repeatable read snapshot,
            // taken before the wait, would not).
            begin: format!(
                "START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE; {}",
                limits.settings(true)
            ),
            marker: format!("{p}dvent_store"),
            create: format!(
                "CREATE TABLE {p}dvent_store (
                    id             INTEGER PRIMARY KEY CHECK (id = 1),
                    schema_version INTEGER NOT NULL
                );
                CREATE TABLE IF NOT EXISTS {p}events (
                    position  BIGINT PRIMARY KEY,
                    event_id  UUID   NOT NULL UNIQUE,
                    stream_id TEXT   NOT NULL,
                    version   BIGINT NOT NULL,
                    type      TEXT   NOT NULL,
                    timestamp TEXT   NOT NULL,
                    data      JSON   NOT NULL,
                    data_version INTEGER NOT NULL DEFAULT 1,
                    metadata  JSON   NOT NULL DEFAULT '{{}}',
                    UNIQUE (stream_id, version)
                );
                CREATE TABLE IF NOT EXISTS {p}streams (
                    number    BIGINT PRIMARY KEY,
                    stream_id TEXT   NOT NULL UNIQUE,
                    timestamp TEXT   NOT NULL,
                    version   BIGINT NOT NULL
                );
                INSERT INTO {p}dvent_store (id, schema_version) VALUES (1, {SCHEMA_VERSION});"
            ),
            // The payload version first, then the metadata: the test of an
            // interrupted migration makes the second fail.
            migrate_v1: format!(
                "ALTER TABLE {p}events ADD COLUMN data_version INTEGER NOT NULL DEFAULT 1;
                 ALTER TABLE {p}events ADD COLUMN metadata JSON NOT NULL DEFAULT '{{}}';
                 UPDATE {p}dvent_store SET schema_version = 2 WHERE id = 1;"
            ),
            read_side: read_side::ReadSql::new(&p),
            snapshots: snapshot::SnapshotSql::new(&p),
            group: group::GroupSql::new(&p),
            version: format!("SELECT schema_version FROM {p}dvent_store WHERE id = 1"),
            current_version: format!("SELECT version FROM {p}streams WHERE stream_id = $1::text"),
            lock: format!("SELECT id FROM {p}dvent_store WHERE id = 1 FOR UPDATE"),
            // Run after the lock is taken, as a statement of its own, so that
            // its snapshot holds every save committed before.
            state: format!(
                "SELECT (SELECT version FROM {p}streams WHERE stream_id = $1::text),
                        (SELECT COALESCE(MAX(position), 0) FROM {p}events),
                        (SELECT COALESCE(MAX(number) + 1, 0) FROM {p}streams),
                        ARRAY(SELECT event_id::text FROM {p}events
                              WHERE event_id = ANY($2::text[]::uuid[]))"
            ),
            // Also notifies the store's channel ($11) with the batch's last
            // position: delivered at the commit (see the `watch` module).
            write: format!(
                "WITH stream AS (
                    INSERT INTO {p}streams (number, stream_id, timestamp, version)
                    VALUES ($1::bigint, $2::text, $3::text, $4::bigint)
                    ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version
                ), written AS (
                    INSERT INTO {p}events (position, event_id, stream_id, version, type, timestamp, data,
                                           metadata, data_version)
                    SELECT b.position, b.event_id::uuid, $2::text, b.version, b.type, b.timestamp, b.data::json,
                           b.metadata::json, b.data_version::integer
                    FROM UNNEST($5::bigint[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[],
                                $12::text[], $13::bigint[])
                        AS b(position, event_id, version, type, timestamp, data, metadata, data_version)
                    RETURNING position
                )
                SELECT pg_notify($11::text, MAX(position)::text) FROM written"
            ),
            // The events of the stream from the one with the batch's first
            // id (none when another stream holds it): two index look-ups
            // and a range of the (stream_id, version) index.
            retry: format!(
                "SELECT {columns} FROM {p}events
                 WHERE stream_id = $1::text
                   AND version >= (SELECT version FROM {p}events
                                   WHERE event_id = $2::text::uuid AND stream_id = $1::text)
                 ORDER BY version LIMIT $3::bigint"
            ),
            // Rows with a version below 1 are damaged: they are read too
            // (they come first), so that the read fails instead of
            // silently leaving them out.
            stream_events: format!(
                "SELECT {columns} FROM {p}events
                 WHERE stream_id = $1::text AND (version > $2::bigint OR version < 1)
                 ORDER BY version"
            ),
            all_events: format!(
                "SELECT {columns} FROM {p}events WHERE position > $1::bigint ORDER BY position"
            ),
            all_page: format!(
                "SELECT {columns} FROM {p}events WHERE position > $1::bigint ORDER BY position
                 LIMIT $2::bigint"
            ),
            // Two ranges of the (stream_id, version) index, not one `OR`
            // (which may be answered by walking the stream from its start
            // on every page): the damaged rows below version 1, then the
            // page itself.
            stream_page: format!(
                "(SELECT {columns} FROM {p}events WHERE stream_id = $1::text AND version < 1)
                 UNION ALL
                 (SELECT {columns} FROM {p}events WHERE stream_id = $1::text AND version > $2::bigint
                  ORDER BY version LIMIT $3::bigint)
                 ORDER BY version LIMIT $3::bigint"
            ),
            last_event: format!(
                "SELECT {columns} FROM {p}events WHERE stream_id = $1::text
                 ORDER BY version DESC LIMIT 1"
            ),
            streams: format!(
                "SELECT number, stream_id, timestamp FROM {p}streams
                 WHERE number >= $1::bigint ORDER BY number"
            ),
        }
    }
}

/// A pooled connection with its prepared statements.
struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
    /// Set when the connection's state is unknown (a rollback failed): the
    /// pool then closes it instead of handing it out again.
    broken: bool,
}

struct Manager {
    config: Config,
    /// The session's limits, set on every new connection (reads run under
    /// them; a save sets them again for its transaction).
    session: String,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Connection;
    type Error = ::postgres::Error;

    fn connect(&self) -> Result<Connection, ::postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&self.session)?;
        Ok(Connection {
            client,
            statements: HashMap::new(),
            broken: false,
        })
    }

    fn is_valid(&self, connection: &mut Connection) -> Result<(), ::postgres::Error> {
        connection.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, connection: &mut Connection) -> bool {
        connection.broken || connection.client.is_closed()
    }
}

/// A save's open transaction on a pooled connection, rolled back when it is
/// dropped before [`Open::commit`] (an error, an early return, a panic), so
/// that no connection goes back to the pool inside a transaction.
struct Open<'a> {
    connection: &'a mut Connection,
    finished: bool,
}

/// How a commit ended, when it did not succeed.
enum CommitFailure {
    /// The server refused it (an `ERROR`): the transaction was rolled back.
    Refused(::postgres::Error),
    /// The connection was closed before the commit was sent: nothing was
    /// written.
    NotSent(::postgres::Error),
    /// The connection failed once the commit was sent: the outcome is not
    /// known.
    Unknown(::postgres::Error),
}

impl<'a> Open<'a> {
    /// Opens the transaction (one round trip): read committed and read-write
    /// whatever the database's defaults, with the store's limits.
    fn begin(connection: &'a mut Connection, begin: &str) -> Result<Self, ::postgres::Error> {
        let open = Open {
            connection,
            finished: false,
        };
        // On an error the guard rolls back whatever part of it ran.
        open.connection.client.batch_execute(begin)?;
        Ok(open)
    }

    /// The statement for `sql`, prepared once per connection.
    fn prepared(&mut self, sql: &str) -> Result<Statement, ::postgres::Error> {
        let Connection {
            client, statements, ..
        } = &mut *self.connection;
        prepared(client, statements, sql)
    }

    fn client(&mut self) -> &mut Client {
        &mut self.connection.client
    }

    /// Commits: `Ok` only once the server confirmed it.
    fn commit(mut self) -> Result<(), CommitFailure> {
        self.finished = true;
        let connection = &mut *self.connection;
        if connection.client.is_closed() {
            connection.broken = true;
            // Sends nothing (the client knows the connection is closed);
            // called for the client's error.
            return connection
                .client
                .batch_execute("COMMIT")
                .map_err(CommitFailure::NotSent);
        }
        match connection.client.batch_execute("COMMIT") {
            Ok(()) => Ok(()),
            // An ERROR (not FATAL or PANIC) to a COMMIT: the server ended
            // the transaction without committing, and the session goes on.
            Err(e)
                if e.as_db_error()
                    .is_some_and(|db| db.parsed_severity() == Some(Severity::Error)) =>
            {
                Err(CommitFailure::Refused(e))
            }
            // The connection failed, or the server ended the session: the
            // commit may have happened before it did.
            Err(e) => {
                connection.broken = true;
                Err(CommitFailure::Unknown(e))
            }
        }
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if !self.finished && self.connection.client.batch_execute("ROLLBACK").is_err() {
            self.connection.broken = true;
        }
    }
}

/// The statement for `sql`, prepared once per connection.
fn prepared(
    client: &mut impl GenericClient,
    statements: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, ::postgres::Error> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    statements.insert(sql.to_string(), statement.clone());
    Ok(statement)
}

/// Why a save's transaction stopped.
enum Failure {
    /// The store decided (a conflict, a bad batch): said as it is.
    Store(StoreError),
    /// The client or the server failed: see
    /// [`PostgresEventStore::save_error`].
    Client(::postgres::Error),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

impl From<::postgres::Error> for Failure {
    fn from(error: ::postgres::Error) -> Self {
        Failure::Client(error)
    }
}

/// A save as group commit's function takes it, or `None` when it is to be
/// saved alone: an empty batch, one no stream version can accept (its
/// expectation against the versions its events name), one naming an id
/// twice or that cannot be encoded. Saved alone, each of those gets its
/// answer (or its error) as it always did.
fn group_request<D: Serialize>(
    stream_id: &str,
    events: &Vector<Event<D>>,
    ids: &[String],
    expected: ExpectedVersion,
) -> Option<group::Request> {
    if events.is_empty() {
        return None;
    }
    // The stream versions the save accepts: lo..=hi.
    let (mut lo, mut hi) = match expected {
        ExpectedVersion::Any => (0, i64::MAX),
        ExpectedVersion::NoStream => (0, 0),
        ExpectedVersion::StreamExists => (1, i64::MAX),
        ExpectedVersion::Exact(n) => {
            let n = i64::try_from(n).ok()?;
            (n, n)
        }
    };
    for (i, event) in events.iter().enumerate() {
        if event.version() != 0 {
            // The i-th event (from 0) may name the version current + i + 1.
            let at = i64::try_from(event.version())
                .ok()?
                .checked_sub(i64::try_from(i).ok()?.checked_add(1)?)?;
            lo = lo.max(at);
            hi = hi.min(at);
        }
    }
    if lo > hi || lo < 0 {
        return None;
    }
    let mut seen = HashSet::with_capacity(ids.len());
    if !ids.iter().all(|id| seen.insert(id.as_str())) {
        return None;
    }
    let n = events.len();
    let mut request = group::Request {
        stream_id: stream_id.to_string(),
        lo,
        hi,
        event_ids: ids.to_vec(),
        types: Vec::with_capacity(n),
        timestamps: Vec::with_capacity(n),
        data: Vec::with_capacity(n),
        metadata: Vec::with_capacity(n),
        data_versions: Vec::with_capacity(n),
    };
    for event in events {
        let values = codec::encode(event).ok()?;
        if values.event_type.contains('\0') {
            return None;
        }
        request.types.push(values.event_type.to_string());
        request.timestamps.push(values.timestamp);
        request.data.push(values.data);
        request.metadata.push(values.metadata);
        request.data_versions.push(values.data_version);
    }
    Some(request)
}

/// Decodes a row selected with the event columns.
fn event_from_row<D: DeserializeOwned>(
    row: &Row,
    decoder: &mut Decoder,
) -> Result<Event<D>, StoreError> {
    let position: i64 = row.try_get(0).map_err(backend)?;
    let stream_id: &str = row
        .try_get(2)
        .map_err(|e| codec::corrupt(b"", position, format!("stream_id: {e}")))?;
    let fail = |column: &str, e: ::postgres::Error| {
        codec::corrupt(stream_id.as_bytes(), position, format!("{column}: {e}"))
    };
    let text = |i: usize, column: &str| row.try_get::<_, &str>(i).map_err(|e| fail(column, e));
    let stored = StoredRow {
        position,
        event_id: text(1, "event_id")?.as_bytes(),
        stream_id: stream_id.as_bytes(),
        version: row.try_get(3).map_err(|e| fail("version", e))?,
        event_type: text(4, "type")?.as_bytes(),
        timestamp: text(5, "timestamp")?.as_bytes(),
        data: text(6, "data")?.as_bytes(),
        metadata: text(7, "metadata")?.as_bytes(),
        data_version: row.try_get(8).map_err(|e| fail("data_version", e))?,
    };
    decoder.decode(&stored)
}

impl<D> PostgresEventStore<D>
where
    D: Serialize + DeserializeOwned + Clone,
{
    /// A client error as a store error, under this store's limits.
    fn fail(&self, error: ::postgres::Error) -> StoreError {
        pg_error(error, self.shared.limits)
    }

    /// Saves the batch in one transaction; returns the events as stored,
    /// and whether this call wrote them (not when it found them stored by
    /// an earlier save of the same batch, or the batch is empty).
    fn write_batch(
        &self,
        stream_id: &str,
        events: &Vector<Event<D>>,
        expected: ExpectedVersion,
    ) -> Result<(Vec<Event<D>>, bool), StoreError> {
        if stream_id.contains('\0') {
            // PostgreSQL's text cannot hold it: the shared check refuses it
            // (as every store does) before anything is sent.
            prepare_batch(stream_id, &Name::from(stream_id), events, expected, 0)?;
            return Err(StoreError::Backend {
                message: format!(
                    "PostgreSQL: a stream id should have no NUL character to be stored in PostgreSQL, found {stream_id:?}"
                ),
                source: None,
            });
        }
        let ids: Vec<String> = events
            .iter()
            .map(|e| e.id().hyphenated().to_string())
            .collect();
        if let Some(queue) = &self.shared.group {
            admit(stream_id, events)?;
            if let Some(request) = group_request(stream_id, events, &ids, expected) {
                let channel = self.shared.watch.channel();
                match queue.save(request, &self.shared.sql.group, channel, || {
                    self.connection()
                }) {
                    group::Outcome::Written { base } => {
                        let batch =
                            place(stream_id, &Name::from(stream_id), events, expected, base)?;
                        return Ok((batch, true));
                    }
                    group::Outcome::Failed(error) => return Err(error),
                    group::Outcome::Alone => {}
                }
            }
        }
        let mut pooled = self.connection()?;
        let connection = &mut *pooled;
        // The stream's version as read in the transaction.
        let mut current = 0;
        let mut open = Open::begin(connection, &self.shared.sql.begin).map_err(|e| self.fail(e))?;
        let batch = match self.write(&mut open, stream_id, events, &ids, expected, &mut current) {
            // Nothing written (an empty batch, a retry): nothing to commit;
            // the guard rolls the transaction back.
            Ok((batch, false)) => return Ok((batch, false)),
            Ok((batch, true)) => batch,
            Err(Failure::Store(error)) => return Err(error),
            Err(Failure::Client(error)) => {
                drop(open);
                return Err(self.save_error(connection, error, stream_id, &ids, expected, current));
            }
        };
        match open.commit() {
            Ok(()) => Ok((batch, true)),
            Err(CommitFailure::Refused(error)) => {
                Err(self.save_error(connection, error, stream_id, &ids, expected, current))
            }
            Err(CommitFailure::NotSent(error)) => Err(self.fail(error)),
            Err(CommitFailure::Unknown(error)) => Err(StoreError::OutcomeUnknown {
                stream_id: stream_id.to_string(),
                message: describe(&error),
                source: Box::new(error),
            }),
        }
    }

    /// Within the open transaction: takes the append lock, reads the
    /// stream's state, checks the batch and writes it. Returns the events
    /// as stored, and whether it wrote them: not for an empty batch, nor for
    /// a retry of a batch already stored (then there is nothing to commit).
    fn write(
        &self,
        open: &mut Open<'_>,
        stream_id: &str,
        events: &Vector<Event<D>>,
        ids: &[String],
        expected: ExpectedVersion,
        current_out: &mut u64,
    ) -> Result<(Vec<Event<D>>, bool), Failure> {
        let sql = &self.shared.sql;
        // The rule of what may be stored needs no lock.
        admit(stream_id, events)?;
        let lock = open.prepared(&sql.lock)?;
        if open.client().query(&lock, &[])?.len() != 1 {
            return Err(Failure::Store(StoreError::Backend {
                message: "PostgreSQL: the row of dvent_store (the append lock) should be there, found none"
                    .to_string(),
                source: None,
            }));
        }
        let state = open.prepared(&sql.state)?;
        let row = open.client().query_one(&state, &[&stream_id, &ids])?;
        let current: Option<i64> = row.try_get(0)?;
        let last_position: i64 = row.try_get(1)?;
        let next_number: i64 = row.try_get(2)?;
        let stored_ids: Vec<String> = row.try_get(3)?;

        let current = codec::stream_version(stream_id, current)?;
        *current_out = current;
        let stored_ids: HashSet<&str> = stored_ids.iter().map(String::as_str).collect();
        if let Some(first_id) = ids.first().filter(|id| stored_ids.contains(id.as_str())) {
            // A retry of a save that happened, or a mistake: judged under
            // the append lock; nothing is written.
            let retry = open.prepared(&sql.retry)?;
            let limit = i64::try_from(events.len()).unwrap_or(i64::MAX);
            let rows = open
                .client()
                .query(&retry, &[&stream_id, first_id, &limit])?;
            // Compared as stored, not upcast.
            let mut decoder = Decoder::new();
            let kept = rows
                .iter()
                .map(|row| event_from_row(row, &mut decoder))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok((check_retry(stream_id, events, expected, kept)?, false));
        }
        let batch = place(stream_id, &Name::from(stream_id), events, expected, current)?;
        if batch.is_empty() {
            return Ok((batch, false));
        }
        let mut in_batch = HashSet::with_capacity(batch.len());
        for (event, id) in batch.iter().zip(ids) {
            if stored_ids.contains(id.as_str()) || !in_batch.insert(event.id()) {
                return Err(Failure::Store(StoreError::DuplicateEvent {
                    event_id: event.id(),
                }));
            }
        }
        let encoded = batch
            .iter()
            .map(|event| {
                let values = codec::encode(event)?;
                if values.event_type.contains('\0') {
                    return Err(StoreError::Encode {
                        event_id: event.id(),
                        reason: format!(
                            "an event type should have no NUL character to be stored in PostgreSQL, found {:?}",
                            values.event_type
                        ),
                    });
                }
                Ok(values)
            })
            .collect::<Result<Vec<_>, _>>()?;

        let positions: Vec<i64> = (last_position + 1..).take(batch.len()).collect();
        let versions: Vec<i64> = encoded.iter().map(|v| v.version).collect();
        let types: Vec<&str> = encoded.iter().map(|v| &*v.event_type).collect();
        let timestamps: Vec<&str> = encoded.iter().map(|v| v.timestamp.as_str()).collect();
        let data: Vec<&str> = encoded.iter().map(|v| v.data.as_str()).collect();
        let event_ids: Vec<&str> = encoded.iter().map(|v| v.event_id.as_str()).collect();
        let metadata: Vec<&str> = encoded.iter().map(|v| v.metadata.as_str()).collect();
        let data_versions: Vec<i64> = encoded.iter().map(|v| v.data_version).collect();
        let new_version = versions.last().copied().unwrap_or_default();
        let write = open.prepared(&sql.write)?;
        let channel = self.shared.watch.channel();
        let params: [&(dyn ToSql + Sync); 13] = [
            &next_number,
            &stream_id,
            &timestamps[0],
            &new_version,
            &positions,
            &event_ids,
            &versions,
            &types,
            &timestamps,
            &data,
            &channel,
            &metadata,
            &data_versions,
        ];
        open.client().execute(&write, &params)?;
        Ok((batch, true))
    }

    /// The store error for a save the server refused (its transaction is
    /// over): a race another writer won (a unique violation, a
    /// serialization failure, a deadlock) is a [`StoreError::VersionConflict`]
    /// naming the stream's version now, or [`StoreError::DuplicateEvent`]
    /// when it was on an event id; anything else is as
    /// [`pg_error`] says.
    fn save_error(
        &self,
        connection: &mut Connection,
        error: ::postgres::Error,
        stream_id: &str,
        ids: &[String],
        expected: ExpectedVersion,
        current: u64,
    ) -> StoreError {
        let Some(db) = error.as_db_error() else {
            return self.fail(error);
        };
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION
            && db.constraint().is_some_and(|c| c.ends_with("event_id_key"))
        {
            let detail = db.detail().unwrap_or_default();
            if let Some(event_id) = ids
                .iter()
                .filter(|id| detail.contains(id.as_str()))
                .find_map(|id| uuid::Uuid::parse_str(id).ok())
            {
                return StoreError::DuplicateEvent { event_id };
            }
            return self.fail(error);
        }
        if *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            // Another writer got there first: the stream's version now (one
            // more round trip, on this rare path), or as read before.
            let found = connection
                .client
                .query_opt(&self.shared.sql.current_version, &[&stream_id])
                .ok()
                .flatten()
                .and_then(|row| row.try_get::<_, i64>(0).ok())
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(current);
            log::debug!(
                "PostgreSQL: a save to {stream_id:?} lost a race: {}",
                describe(&error)
            );
            return StoreError::VersionConflict {
                stream_id: stream_id.to_string(),
                expected,
                found,
            };
        }
        self.fail(error)
    }

    /// Runs a read of events and decodes the rows as they arrive.
    fn read_events(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        mut check: impl FnMut(&Event<D>, i64) -> Result<(), StoreError>,
    ) -> Result<Vec<Event<D>>, StoreError> {
        let mut pooled = self.connection()?;
        let Connection {
            client, statements, ..
        } = &mut *pooled;
        let statement = prepared(client, statements, sql).map_err(|e| self.fail(e))?;
        let mut rows = client
            .query_raw(&statement, params.iter().copied())
            .map_err(|e| self.fail(e))?;
        let mut decoder = self.decoder();
        let mut events = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.fail(e))? {
            let event = event_from_row(&row, &mut decoder)?;
            check(&event, row.try_get(0).unwrap_or(0))?;
            events.push(event);
        }
        Ok(events)
    }
}

impl<D> EventStore<D> for PostgresEventStore<D>
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
        let (stored, written) = self.write_batch(stream_id, events, expected)?;
        if written {
            publish_all(self.publisher.as_ref(), &stored);
        }
        Ok(stored)
    }

    fn events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event<D>>, StoreError> {
        let from = codec::sql_int(start);
        if stream_id.is_some_and(|id| id.contains('\0')) {
            // No stream id with NUL can be stored (saves refuse it).
            return Ok(Vec::new());
        }
        let Some(stream_id) = stream_id else {
            // Positions run 1, 2, 3, … without gaps: skipping `start` events
            // is reading the positions after `start`.
            return self.read_events(&self.shared.sql.all_events, &[&from], |_, _| Ok(()));
        };
        let mut expected = start;
        self.read_events(
            &self.shared.sql.stream_events,
            &[&stream_id, &from],
            |event, position| {
                expected = expected.saturating_add(1);
                if event.version() == expected {
                    return Ok(());
                }
                Err(StoreError::Corrupt {
                    stream_id: stream_id.to_string(),
                    position,
                    reason: format!(
                        "the stream's versions should run on without a gap: expected version {expected}, found {}",
                        event.version()
                    ),
                })
            },
        )
    }

    /// As [`EventStore::read_all`]: one query with `LIMIT` on the primary
    /// key, on a pooled connection. Time: O(log n + limit).
    ///
    /// # Errors
    ///
    /// As [`EventStore::read_all`].
    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded<D>>, StoreError> {
        self.page_all(after, limit)
    }

    /// As [`EventStore::read_stream`]: one query with `LIMIT` on the
    /// stream's index. Time: O(log n + limit).
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
        if stream_id.contains('\0') {
            // No stream id with NUL can be stored (saves refuse it).
            return Ok(None);
        }
        let events = self.read_events(&self.shared.sql.last_event, &[&stream_id], |_, _| Ok(()))?;
        Ok(events.into_iter().next())
    }

    fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
        let mut pooled = self.connection()?;
        let Connection {
            client, statements, ..
        } = &mut *pooled;
        let statement =
            prepared(client, statements, &self.shared.sql.streams).map_err(|e| self.fail(e))?;
        let rows = client
            .query(&statement, &[&codec::sql_int(start)])
            .map_err(|e| self.fail(e))?;
        rows.iter()
            .map(|row| {
                let stream_id: &str = row.try_get(1).map_err(backend)?;
                let fail = |reason: String| codec::corrupt(stream_id.as_bytes(), 0, reason);
                let number: i64 = row.try_get(0).map_err(backend)?;
                let number = u64::try_from(number).map_err(|_| {
                    fail(format!(
                        "streams.number should be a whole number, found {number}"
                    ))
                })?;
                let timestamp: &str = row.try_get(2).map_err(backend)?;
                let timestamp = codec::decode_timestamp(timestamp.as_bytes()).map_err(fail)?;
                Ok(StreamInfo {
                    number,
                    stream_id: stream_id.to_string(),
                    timestamp,
                })
            })
            .collect()
    }

    /// As [`EventStore::wait_for_commit`]: `LISTEN` on a connection of its
    /// own (one thread for the store and its clones, started by the first
    /// wait), woken by the `pg_notify` every save sends at its commit, with
    /// a read of the largest position every 500 ms should a notification be
    /// missed; waits poll through the pool while that connection is down.
    /// Time: no round trip while listening (the position known may lag a
    /// notification's delay behind the server's).
    ///
    /// # Errors
    ///
    /// Backend errors of the polls made while not listening.
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
    /// `dvent_checkpoints`, committed on its own.
    ///
    /// # Errors
    ///
    /// As [`EventStore::save_checkpoint`].
    fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.write_checkpoint(name, position)
    }

    /// As [`EventStore::save_snapshot`]: one upsert in `dvent_snapshots`,
    /// committed on its own.
    ///
    /// # Errors
    ///
    /// As [`EventStore::save_snapshot`].
    fn save_snapshot(&self, snapshot: &crate::Snapshot) -> Result<(), StoreError> {
        self.write_snapshot(snapshot)
    }

    /// As [`EventStore::latest_snapshot`]: one descending range of
    /// `dvent_snapshots`' primary key.
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

impl<D> Clone for PostgresEventStore<D> {
    /// Another handle on the same pool, with the same publisher. Time: O(1).
    fn clone(&self) -> Self {
        PostgresEventStore {
            shared: Arc::clone(&self.shared),
            publisher: self.publisher.clone(),
            upcasters: self.upcasters.clone(),
        }
    }
}

impl<D> fmt::Debug for PostgresEventStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresEventStore")
            .field("schema", &self.shared.schema)
            .field("publisher", &self.publisher.is_some())
            .finish_non_exhaustive()
    }
}

/// A schema object the store may create on connecting when it is missing.
#[derive(Clone, Copy)]
enum Missing<'a> {
    /// A table, qualified.
    Table(&'a str),
    /// A function's signature, qualified (`schema.name(types)`).
    Function(&'a str),
}

impl Missing<'_> {
    fn exists(self, client: &mut impl GenericClient) -> Result<bool, ::postgres::Error> {
        let (probe, name) = match self {
            Missing::Table(table) => ("SELECT to_regclass($1) IS NOT NULL", table),
            Missing::Function(signature) => ("SELECT to_regprocedure($1) IS NOT NULL", signature),
        };
        client
            .query_one(probe, &[&name])
            .and_then(|row| row.try_get(0))
    }

    fn name(self) -> &'static str {
        match self {
            Missing::Table(_) => "table",
            Missing::Function(_) => "function",
        }
    }

    fn qualified(&self) -> &str {
        match self {
            Missing::Table(name) | Missing::Function(name) => name,
        }
    }
}

/// Creates `object` with `create` when it is missing (a schema made by a
/// release without it), under the set-up lock, checked again inside.
/// Returns whether it is there now. A user that may not create it is told
/// in the log (what `fails` then), and the store opens all the same. Shared
/// by the read side's and the snapshots' tables and the group commit's
/// function.
fn create_missing(
    client: &mut Client,
    object: Missing<'_>,
    create: &str,
    limits: Limits,
    fails: &str,
) -> Result<bool, StoreError> {
    let fail = |e| pg_error(e, limits);
    if object.exists(client).map_err(fail)? {
        return Ok(true);
    }
    let outcome = (|| {
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .read_only(false)
            .start()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])?;
        if !object.exists(&mut tx)? {
            tx.batch_execute(create)?;
        }
        tx.commit()
    })();
    match outcome {
        Ok(()) => Ok(true),
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            log::warn!(
                target: "dvent::postgres",
                "the {} {} is missing and this user may not create it: {fails} until someone who \
                 may opens the store once ({})",
                object.name(),
                object.qualified(),
                describe(&e)
            );
            Ok(false)
        }
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imbl::vector;

    /// The versions of the stream a save accepts, as the group commit's
    /// function gets them, or `None` for a save to be written alone.
    fn accepted(events: &Vector<Event>, expected: ExpectedVersion) -> Option<(i64, i64)> {
        let ids: Vec<String> = events.iter().map(|e| e.id().to_string()).collect();
        group_request("s", events, &ids, expected).map(|r| (r.lo, r.hi))
    }

    #[test]
    fn a_grouped_save_accepts_the_versions_a_save_alone_would() {
        let one = vector![Event::new("E")];
        assert_eq!(accepted(&one, ExpectedVersion::Any), Some((0, i64::MAX)));
        assert_eq!(accepted(&one, ExpectedVersion::NoStream), Some((0, 0)));
        assert_eq!(
            accepted(&one, ExpectedVersion::StreamExists),
            Some((1, i64::MAX))
        );
        assert_eq!(accepted(&one, ExpectedVersion::Exact(7)), Some((7, 7)));
        // Events naming their versions pin the stream's: the second event
        // at version 5 means the stream is at 3.
        let named = vector![Event::new("E"), Event::new("E").with_version(5)];
        assert_eq!(accepted(&named, ExpectedVersion::Any), Some((3, 3)));
        assert_eq!(accepted(&named, ExpectedVersion::Exact(3)), Some((3, 3)));
        // Saved alone (to get their errors or answers as ever): no version
        // fits, an impossible one, an empty batch, an id twice.
        assert_eq!(accepted(&named, ExpectedVersion::Exact(4)), None);
        assert_eq!(accepted(&named, ExpectedVersion::NoStream), None);
        let too_low = vector![Event::new("E"), Event::new("E").with_version(1)];
        assert_eq!(accepted(&too_low, ExpectedVersion::Any), None);
        assert_eq!(accepted(&vector![], ExpectedVersion::Any), None);
        let twice = Event::new("E");
        assert_eq!(
            accepted(&vector![twice.clone(), twice], ExpectedVersion::Any),
            None
        );
        assert_eq!(
            accepted(&one, ExpectedVersion::Exact(u64::MAX)),
            None,
            "beyond PostgreSQL's bigint"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        let limits = Limits {
            lock: Duration::from_secs(5),
            statement: Duration::from_micros(1),
        };
        assert!(
            Sql::new(Some("x"), limits)
                .lock
                .contains("\"x\".dvent_store")
        );
        assert!(Sql::new(None, limits).lock.contains(" dvent_store "));
        assert_eq!(
            Sql::new(None, limits).begin,
            "START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE; \
             SET LOCAL lock_timeout = 5000; SET LOCAL statement_timeout = 1"
        );
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_secs(u64::MAX)), i64::from(i32::MAX));
    }

    #[test]
    fn a_bad_schema_name_is_refused() {
        assert!(check_schema_name("").is_err());
        assert!(check_schema_name(&"s".repeat(64)).is_err());
        assert!(check_schema_name("ok_name").is_ok());
    }

    #[test]
    fn the_store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PostgresEventStore>();
    }

    #[test]
    fn an_unreachable_server_fails_at_once_with_its_reason() {
        let started = std::time::Instant::now();
        let err =
            PostgresEventStore::<crate::Data>::connect("postgresql://nobody@127.0.0.1:1/none")
                .unwrap_err();
        assert!(
            matches!(err, StoreError::Backend { ref message, source: Some(_) }
                if message.starts_with("PostgreSQL: error connecting to server: ")),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let err = PostgresEventStore::<crate::Data>::connect("not a url at all ===").unwrap_err();
        assert!(err.to_string().contains("URL"), "{err}");
    }

    /// The test database, or `None` (said plainly) when there is none; under
    /// `CI=true` there must be one.
    fn test_url() -> Option<String> {
        match std::env::var("DVENT_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("postgres: DVENT_POSTGRES_URL is not set, and CI=true needs it")
            }
            _ => {
                use std::io::Write;
                // Past the harness's capture, so that the skip shows.
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "postgres: DVENT_POSTGRES_URL is not set, skipping the postgres store"
                );
                None
            }
        }
    }

    /// A store in a schema of its own, with two events in "s" and one in
    /// "t"; and a plain client whose search_path is that schema. The schema
    /// is dropped when the guard is.
    struct Damaged {
        url: String,
        schema: String,
        client: Client,
    }

    impl Damaged {
        fn new(url: String) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let schema = format!(
                "dvent_unit_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let store = PostgresEventStore::connect_with_schema(&url, &schema).unwrap();
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
            let mut client = Client::connect(&url, NoTls).unwrap();
            client
                .batch_execute(&format!("SET search_path TO {}", quote(&schema)))
                .unwrap();
            Damaged {
                url,
                schema,
                client,
            }
        }

        fn damage(&mut self, sql: &str) {
            self.client.batch_execute(sql).unwrap();
        }

        fn store<D>(&self) -> PostgresEventStore<D> {
            PostgresEventStore::connect_with(
                &self.url,
                PostgresOptions::new().with_schema(&self.schema),
            )
            .unwrap()
        }
    }

    impl Drop for Damaged {
        fn drop(&mut self) {
            let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(&self.schema));
            let _ = self.client.batch_execute(&sql);
        }
    }

    fn assert_corrupt(err: StoreError, reason_contains: &str) {
        match err {
            StoreError::Corrupt {
                stream_id,
                position,
                reason,
            } => {
                assert_eq!((stream_id.as_str(), position), ("s", 2), "{reason}");
                assert!(reason.contains(reason_contains), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    /// Every read that meets the damaged row (position 2, of "s") says so.
    fn assert_reads_fail(store: &PostgresEventStore, reason_contains: &str) {
        assert_corrupt(store.events(Some("s"), 0).unwrap_err(), reason_contains);
        assert_corrupt(store.events(None, 0).unwrap_err(), reason_contains);
        assert_eq!(store.events(Some("t"), 0).unwrap().len(), 1);
    }

    #[test]
    fn damaged_rows_are_corrupt_naming_stream_and_position() {
        let Some(url) = test_url() else { return };
        let mut db = Damaged::new(url);
        db.damage("UPDATE events SET version = -1 WHERE position = 2");
        assert_reads_fail(&db.store(), "found -1");
        assert_corrupt(
            db.store::<Data>().events(Some("s"), 1).unwrap_err(),
            "found -1",
        );

        let mut db = Damaged::new(db.url.clone());
        db.damage("UPDATE events SET timestamp = 'yesterday' WHERE position = 2");
        assert_reads_fail(&db.store(), "RFC 3339");
        assert_corrupt(db.store::<Data>().last_event("s").unwrap_err(), "RFC 3339");

        // The column types keep out invalid JSON and UUIDs; should someone
        // change them, the store still refuses such rows plainly.
        let mut db = Damaged::new(db.url.clone());
        db.damage(
            "ALTER TABLE events ALTER COLUMN data TYPE TEXT;
             UPDATE events SET data = '{\"a\":' WHERE position = 2",
        );
        assert_reads_fail(&db.store(), "data should be JSON");

        let mut db = Damaged::new(db.url.clone());
        db.damage(
            "ALTER TABLE events ALTER COLUMN event_id TYPE TEXT;
             UPDATE events SET event_id = 'not-a-uuid' WHERE position = 2",
        );
        assert_reads_fail(&db.store(), "event_id should be a UUID");
    }

    #[test]
    fn json_of_the_wrong_type_is_corrupt() {
        #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
        struct Added {
            description: String,
        }
        let Some(url) = test_url() else { return };
        let mut db = Damaged::new(url);
        db.damage("UPDATE events SET data = '{\"description\":\"x\"}' WHERE position <> 2");
        let store: PostgresEventStore<Added> = db.store();
        match store.events(None, 0).unwrap_err() {
            StoreError::Corrupt {
                stream_id,
                position,
                reason,
            } => {
                assert_eq!((stream_id.as_str(), position), ("s", 2));
                assert!(reason.contains("Added"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(
            store.events(Some("t"), 0).unwrap()[0].data().description,
            "x"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let Some(url) = test_url() else { return };
        let mut db = Damaged::new(url);
        db.damage("UPDATE dvent_store SET schema_version = 3");
        let err = PostgresEventStore::<crate::Data>::connect_with_schema(&db.url, &db.schema)
            .unwrap_err();
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
    fn a_new_connection_gives_back_everything_and_drop_schema_removes_it() {
        let Some(url) = test_url() else { return };
        let db = Damaged::new(url);
        let store: PostgresEventStore = db.store();
        let all = store.events(None, 0).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(store.events(None, 1).unwrap(), all[1..]);
        let streams = store.streams(0).unwrap();
        assert_eq!((streams[1].number, streams[1].stream_id.as_str()), (1, "t"));
        assert_eq!(streams[1].timestamp, all[2].timestamp());
        assert_eq!(store.last_event("s").unwrap(), Some(all[1].clone()));
        store.drop_schema().unwrap();
        assert!(store.events(None, 0).is_err());
        let err = PostgresEventStore::<crate::Data>::connect(&db.url)
            .map(|s| s.drop_schema().unwrap_err())
            .unwrap_or_else(|e| e);
        assert!(matches!(err, StoreError::Backend { .. }), "{err}");
    }
}
