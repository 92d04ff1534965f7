//! Noticing commits: [`EventStore::wait_for_commit`](crate::EventStore::wait_for_commit)
//! for the SQLite store.
//!
//! A store on a file keeps a second connection to it, which never writes:
//! SQLite's `PRAGMA data_version` on that connection changes whenever any
//! other connection commits to the file, in this process or another. A
//! wait polls it every [`POLL`] (a read of the shared WAL index, no disk
//! access), and reads the largest position when it changed. A store opened
//! read-only uses its own connection (it never writes either); an in-memory
//! database, which only this store's handles can reach, polls the largest
//! position on the store's connection.

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{SqliteEventStore, backend};
use crate::store::StoreError;
use crate::store::commits::sleep_until;

/// How often a wait looks for a commit.
pub(super) const POLL: Duration = Duration::from_millis(2);

impl<D> SqliteEventStore<D> {
    /// As [`EventStore::wait_for_commit`](crate::EventStore::wait_for_commit):
    /// each round holds the watching connection's lock for one pragma (and
    /// one index look-up when something changed), never the store's lock
    /// (for a file store), so saves do not wait for it.
    pub(super) fn wait_commit(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let (version, last) = self.probe()?;
            if last > after || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(last);
            }
            loop {
                let timed_out = sleep_until(deadline, POLL);
                if timed_out || self.path.is_none() || self.data_version()? != version {
                    break;
                }
            }
        }
    }

    /// The watching connection's data version and the largest position, in
    /// that order (a commit after the version is read changes it).
    fn probe(&self) -> Result<(i64, u64), StoreError> {
        let watch = self.watch_lock();
        let version = data_version(&watch)?;
        let last: i64 = watch
            .prepare_cached("SELECT COALESCE(MAX(position), 0) FROM events")
            .and_then(|mut s| s.query_row([], |row| row.get(0)))
            .map_err(backend)?;
        Ok((version, u64::try_from(last).unwrap_or(0)))
    }

    fn data_version(&self) -> Result<i64, StoreError> {
        data_version(&self.watch_lock())
    }

    fn watch_lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.watch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `PRAGMA data_version`: changes when another connection commits.
fn data_version(connection: &Connection) -> Result<i64, StoreError> {
    connection
        .pragma_query_value(None, "data_version", |row| row.get(0))
        .map_err(backend)
}

/// A connection of its own on the file at `path`, to watch for commits: it
/// never writes (opened for writing all the same, so that whichever of the
/// store's connections closes last may clean up the write-ahead log).
pub(super) fn open_watch(path: &std::path::Path) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    connection
        .busy_timeout(super::DEFAULT_BUSY_TIMEOUT)
        .map_err(backend)?;
    Ok(connection)
}
