//! Read models in the store's own file, exactly once: see
//! [`read_model`](crate::store::read_model).

use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use serde::de::DeserializeOwned;

use super::checkpoint::{checkpoint_in, save_checkpoint_in};
use super::{EVENT_COLUMNS, SqliteEventStore, backend, event_from_row};
use crate::stop::StopHandle;
use crate::store::codec::{self, Decoder};
use crate::store::commits::check_checkpoint;
use crate::store::read_model::{
    DEFAULT_READ_MODEL_PAGE, ReadModelError, ReadModelProgress, run_until_stopped,
};
use crate::store::{Recorded, StoreError};
use crate::subscription::check_runs_on;

impl<D: DeserializeOwned> SqliteEventStore<D> {
    /// One step of the read model `name`: in one write transaction on the
    /// store's own connection, reads its checkpoint and at most `limit`
    /// events after it (0 is taken as 1), calls `handler` with the
    /// transaction and each event in order, stores the checkpoint at the
    /// last one, and commits. **The read model and its checkpoint move
    /// together**: a crash before the commit leaves both as they were, and
    /// the next step handles the page again; exactly once for what the
    /// handler writes through the transaction, at least once for anything
    /// else it does (see [`read_model`](crate::store::read_model)). When
    /// no event follows the checkpoint, nothing is written.
    ///
    /// The handler writes the user's own tables with the transaction (a
    /// `rusqlite::Transaction` derefs to a `Connection`); it must not end
    /// the transaction, nor write the store's tables.
    ///
    /// Costs: the transaction holds SQLite's write lock (and this handle's
    /// connection) while the page is read and handled: saves on this file
    /// wait that long, so keep the handler quick or the page small. One
    /// disk sync per step with [`Synchronous::Full`](super::Synchronous).
    ///
    /// # Errors
    ///
    /// [`ReadModelError::Handler`] with the handler's error (and the
    /// event's position) when it fails: the transaction is rolled back.
    /// [`ReadModelError::Store`]: [`StoreError::InvalidCheckpoint`] for a
    /// name that breaks the rule for stream ids, [`StoreError::ReadOnly`]
    /// on a store opened read-only, [`StoreError::FileMoved`], and backend
    /// errors (a busy timeout included); nothing was committed.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, SqliteEventStore};
    ///
    /// let store = SqliteEventStore::open_in_memory()?;
    /// store.with_connection(|c| c.execute_batch("CREATE TABLE counts (type TEXT PRIMARY KEY, n INTEGER)"))?;
    /// store.append("s", &vector![Event::new("A"), Event::new("B"), Event::new("A")], ExpectedVersion::Any)?;
    ///
    /// let progress = store.update_read_model("counts", 100, |tx, recorded| {
    ///     tx.execute(
    ///         "INSERT INTO counts VALUES (?1, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1",
    ///         [recorded.event.event_type()],
    ///     )
    ///     .map(|_| ())
    /// })?;
    /// assert_eq!((progress.handled, progress.position), (3, 3));
    /// assert_eq!(store.checkpoint("counts")?, 3);
    /// let a: i64 = store.with_connection(|c| c.query_row("SELECT n FROM counts WHERE type = 'A'", [], |r| r.get(0)))?;
    /// assert_eq!(a, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_read_model<E, F>(
        &self,
        name: &str,
        limit: usize,
        mut handler: F,
    ) -> Result<ReadModelProgress, ReadModelError<E>>
    where
        F: FnMut(&Transaction<'_>, &Recorded<D>) -> Result<(), E>,
    {
        check_checkpoint(name, 0)?;
        self.check_writable()?;
        let mut connection = self.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let after = checkpoint_in(&tx, name)?;
        let page = page_in(&tx, after, limit.max(1), self.decoder())?;
        check_runs_on(after, &page)?;
        let Some(last) = page.last().map(|r| r.position) else {
            // Nothing to handle: the transaction is rolled back on drop.
            return Ok(ReadModelProgress {
                handled: 0,
                position: after,
            });
        };
        for recorded in &page {
            handler(&tx, recorded).map_err(|source| ReadModelError::Handler {
                name: name.to_string(),
                position: recorded.position,
                source,
            })?;
        }
        save_checkpoint_in(&tx, name, last)?;
        tx.commit().map_err(backend)?;
        Ok(ReadModelProgress {
            handled: page.len(),
            position: last,
        })
    }

    /// Keeps the read model `name` up to date until `stop` is stopped:
    /// [`update_read_model`](Self::update_read_model) page after page
    /// ([`DEFAULT_READ_MODEL_PAGE`] events each) until it is up to date,
    /// then waits for new events ([`wait_for_commit`](crate::EventStore::wait_for_commit),
    /// which sees other processes' commits) and handles them as they come.
    /// Returns how many events it handled. Run it in a thread of its own;
    /// a stop is noticed within about
    /// [`STOP_LATENCY`](crate::subscription::STOP_LATENCY) while it waits.
    /// Exactly once for the read model, at least once for anything else
    /// the handler does.
    ///
    /// # Errors
    ///
    /// As [`update_read_model`](Self::update_read_model); the loop ends at
    /// the first error (what was committed before stays). Run it again to
    /// go on.
    pub fn run_read_model<E, F>(
        &self,
        name: &str,
        stop: &StopHandle,
        mut handler: F,
    ) -> Result<u64, ReadModelError<E>>
    where
        F: FnMut(&Transaction<'_>, &Recorded<D>) -> Result<(), E>,
    {
        run_until_stopped(
            stop,
            |after, timeout| self.wait_commit(after, timeout),
            || self.update_read_model(name, DEFAULT_READ_MODEL_PAGE, &mut handler),
        )
    }
}

impl<D> SqliteEventStore<D> {
    /// Runs `f` with the store's connection, under its lock: to create or
    /// query a read model's tables, in the file or in an in-memory
    /// database (which no other connection can reach). Saves on this handle
    /// and its clones wait meanwhile.
    ///
    /// Do not write the store's own tables (`events`, `streams`,
    /// `dvent_checkpoints`) through it: what the store guarantees rests on
    /// writing them itself. Leave no transaction open.
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.lock())
    }
}

/// At most `limit` events after `after`, read in the open transaction.
fn page_in<D: DeserializeOwned>(
    connection: &Connection,
    after: u64,
    limit: usize,
    mut decoder: Decoder,
) -> Result<Vec<Recorded<D>>, StoreError> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
        ))
        .map_err(backend)?;
    let mut rows = statement
        .query(params![codec::sql_int(after), codec::sql_int(limit)])
        .map_err(backend)?;
    let mut page = Vec::with_capacity(limit.min(DEFAULT_READ_MODEL_PAGE));
    while let Some(row) = rows.next().map_err(backend)? {
        let event = event_from_row(row, &mut decoder)?;
        let position: i64 = row.get(0).map_err(backend)?;
        page.push(codec::recorded(event, position)?);
    }
    Ok(page)
}
