//! Checkpoints by name, in the table `dvent_checkpoints` beside the events.

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteEventStore, backend};
use crate::store::StoreError;
use crate::store::commits::{check_checkpoint, may_name_a_checkpoint};

/// The checkpoints' table. Created with `IF NOT EXISTS` whenever a store
/// opens a file for writing, so that a file made by a release without it
/// (schema version 1 all the same) gets it, and older releases, which do
/// not read it, still open the file.
pub(super) const CHECKPOINTS: &str = "
CREATE TABLE IF NOT EXISTS dvent_checkpoints (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
);
";

impl<D> SqliteEventStore<D> {
    /// As [`EventStore::checkpoint`](crate::EventStore::checkpoint): one
    /// primary-key look-up under the connection's lock. A store opened
    /// read-only on a file without the table reads 0.
    pub(super) fn read_checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        if !may_name_a_checkpoint(name) {
            return Ok(0);
        }
        let connection = self.lock();
        if self.read_only && !has_checkpoints(&connection)? {
            return Ok(0);
        }
        checkpoint_in(&connection, name)
    }

    /// As [`EventStore::save_checkpoint`](crate::EventStore::save_checkpoint):
    /// one upsert, its own transaction (durable as a save is).
    pub(super) fn write_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        check_checkpoint(name, position)?;
        self.check_writable()?;
        save_checkpoint_in(&self.lock(), name, position)
    }
}

/// Whether the file has the checkpoints' table (a read-only store cannot
/// create it).
fn has_checkpoints(connection: &Connection) -> Result<bool, StoreError> {
    connection
        .prepare_cached(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dvent_checkpoints'",
        )
        .and_then(|mut s| s.exists([]))
        .map_err(backend)
}

/// The checkpoint `name` as stored (0 when there is none), read on
/// `connection` (or in a transaction on it).
pub(super) fn checkpoint_in(connection: &Connection, name: &str) -> Result<u64, StoreError> {
    let found: Option<i64> = connection
        .prepare_cached("SELECT position FROM dvent_checkpoints WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |row| row.get(0)).optional())
        .map_err(backend)?;
    match found {
        None => Ok(0),
        Some(position) => u64::try_from(position).map_err(|_| StoreError::Corrupt {
            stream_id: String::new(),
            position,
            reason: format!("checkpoint {name:?} should hold a whole number, found {position}"),
        }),
    }
}

/// Stores `position` under `name`, on `connection` (or in a transaction
/// on it); the caller has checked both.
pub(super) fn save_checkpoint_in(
    connection: &Connection,
    name: &str,
    position: u64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO dvent_checkpoints (name, position) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        )
        .and_then(|mut s| s.execute(params![name, crate::store::codec::sql_int(position)]))
        .map_err(backend)?;
    Ok(())
}
