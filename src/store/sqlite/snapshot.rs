//! Snapshots of aggregates' states, in the table `dvent_snapshots` beside
//! the events.

use jiff::Timestamp;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteEventStore, backend, integer_of, text_of};
use crate::snapshot::{self, Snapshot};
use crate::store::StoreError;
use crate::store::codec;

/// The snapshots' table. Created with `IF NOT EXISTS` whenever a store
/// opens a file for writing, as `dvent_checkpoints` is: a file made before
/// it gets it and stays at schema version 1 (releases that do not know the
/// table open the file as before, and never read it).
pub(super) const SNAPSHOTS: &str = "
CREATE TABLE IF NOT EXISTS dvent_snapshots (
    stream_id        TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    snapshot_version INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    taken_at         TEXT    NOT NULL,
    PRIMARY KEY (stream_id, kind, version)
);
";

impl<D> SqliteEventStore<D> {
    /// As [`EventStore::save_snapshot`](crate::EventStore::save_snapshot):
    /// one upsert, its own transaction, under the connection's lock.
    pub(super) fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        snapshot::check_names(snapshot)?;
        self.check_writable()?;
        self.lock()
            .prepare_cached(
                "INSERT INTO dvent_snapshots \
                 (stream_id, kind, version, snapshot_version, state, taken_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (stream_id, kind, version) DO UPDATE SET \
                 snapshot_version = excluded.snapshot_version, state = excluded.state, \
                 taken_at = excluded.taken_at",
            )
            .and_then(|mut s| {
                s.execute(params![
                    snapshot.stream_id,
                    snapshot.kind,
                    codec::sql_int(snapshot.version),
                    i64::from(snapshot.snapshot_version),
                    snapshot.state,
                    snapshot.taken_at.to_string(),
                ])
            })
            .map_err(backend)?;
        Ok(())
    }

    /// As [`EventStore::latest_snapshot`](crate::EventStore::latest_snapshot):
    /// one descending range of the primary key, under the connection's
    /// lock. A store opened read-only on a file without the table finds
    /// none.
    pub(super) fn read_snapshot(
        &self,
        stream_id: &str,
        kind: &str,
        snapshot_version: u32,
        max_version: u64,
    ) -> Result<Option<Snapshot>, StoreError> {
        if !snapshot::may_be_kept(stream_id, kind) {
            return Ok(None);
        }
        let connection = self.lock();
        if self.read_only && !has_snapshots(&connection)? {
            return Ok(None);
        }
        let mut statement = connection
            .prepare_cached(
                "SELECT version, snapshot_version, state, taken_at FROM dvent_snapshots \
                 WHERE stream_id = ?1 AND kind = ?2 AND version <= ?3 AND snapshot_version = ?4 \
                 ORDER BY version DESC LIMIT 1",
            )
            .map_err(backend)?;
        let found = statement
            .query_row(
                params![
                    stream_id,
                    kind,
                    codec::sql_int(max_version),
                    i64::from(snapshot_version)
                ],
                |row| {
                    Ok(decode(
                        row.get_ref(0)?,
                        row.get_ref(1)?,
                        row.get_ref(2)?,
                        row.get_ref(3)?,
                    ))
                },
            )
            .optional()
            .map_err(backend)?;
        let Some(decoded) = found else {
            return Ok(None);
        };
        let (version, shape, state, taken_at) =
            decoded.map_err(|reason| codec::corrupt(stream_id.as_bytes(), 0, reason))?;
        Ok(Some(Snapshot {
            stream_id: stream_id.to_string(),
            kind: kind.to_string(),
            version,
            snapshot_version: shape,
            state,
            taken_at,
        }))
    }
}

/// A row's version, snapshot version, state and time, or a reason saying
/// what was wrong.
fn decode(
    version: ValueRef<'_>,
    shape: ValueRef<'_>,
    state: ValueRef<'_>,
    taken_at: ValueRef<'_>,
) -> Result<(u64, u32, String, Timestamp), String> {
    let version = integer_of("dvent_snapshots.version", version).and_then(|v| {
        u64::try_from(v)
            .map_err(|_| format!("dvent_snapshots.version should be a whole number, found {v}"))
    })?;
    let shape = integer_of("dvent_snapshots.snapshot_version", shape).and_then(|v| {
        u32::try_from(v)
            .map_err(|_| format!("dvent_snapshots.snapshot_version should fit 32 bits, found {v}"))
    })?;
    let state = text_of("dvent_snapshots.state", state).and_then(|bytes| {
        String::from_utf8(bytes.to_vec())
            .map_err(|e| format!("dvent_snapshots.state should be UTF-8 text ({e})"))
    })?;
    let taken_at =
        text_of("dvent_snapshots.taken_at", taken_at).and_then(codec::decode_timestamp)?;
    Ok((version, shape, state, taken_at))
}

/// Whether the file has the snapshots' table (a read-only store cannot
/// create it).
fn has_snapshots(connection: &Connection) -> Result<bool, StoreError> {
    connection
        .prepare_cached(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dvent_snapshots'",
        )
        .and_then(|mut s| s.exists([]))
        .map_err(backend)
}
