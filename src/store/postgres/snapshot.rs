//! Snapshots of aggregates' states, in the table `dvent_snapshots` beside
//! the events.

use ::postgres::Client;

use super::{Connection, Limits, Missing, PostgresEventStore, create_missing, pg_error, prepared};
use crate::snapshot::{self, Snapshot};
use crate::store::StoreError;
use crate::store::codec;

/// The snapshots' SQL, with the table's name.
pub(super) struct SnapshotSql {
    /// `dvent_snapshots`, qualified, for `to_regclass` and `drop_schema`.
    pub(super) table: String,
    create: String,
    save: String,
    latest: String,
}

impl SnapshotSql {
    /// The statements for the table named with the prefix `p` (`"schema".`
    /// or nothing).
    pub(super) fn new(p: &str) -> Self {
        SnapshotSql {
            table: format!("{p}dvent_snapshots"),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {p}dvent_snapshots (
                    stream_id        TEXT   NOT NULL,
                    kind             TEXT   NOT NULL,
                    version          BIGINT NOT NULL,
                    snapshot_version BIGINT NOT NULL,
                    state            TEXT   NOT NULL,
                    taken_at         TEXT   NOT NULL,
                    PRIMARY KEY (stream_id, kind, version)
                )"
            ),
            save: format!(
                "INSERT INTO {p}dvent_snapshots
                     (stream_id, kind, version, snapshot_version, state, taken_at)
                 VALUES ($1::text, $2::text, $3::bigint, $4::bigint, $5::text, $6::text)
                 ON CONFLICT (stream_id, kind, version) DO UPDATE SET
                     snapshot_version = EXCLUDED.snapshot_version, state = EXCLUDED.state,
                     taken_at = EXCLUDED.taken_at"
            ),
            latest: format!(
                "SELECT version, snapshot_version, state, taken_at FROM {p}dvent_snapshots
                 WHERE stream_id = $1::text AND kind = $2::text AND version <= $3::bigint
                   AND snapshot_version = $4::bigint
                 ORDER BY version DESC LIMIT 1"
            ),
        }
    }
}

/// Creates `dvent_snapshots` when it is missing (a schema made by a release
/// without it), under the set-up lock, as `dvent_checkpoints` is. A user
/// that may not create it is told in the log, and the store opens all the
/// same (its snapshot operations then fail, and loading folds every event).
pub(super) fn create_table(
    client: &mut Client,
    sql: &SnapshotSql,
    limits: Limits,
) -> Result<(), StoreError> {
    create_missing(
        client,
        Missing::Table(&sql.table),
        &sql.create,
        limits,
        "snapshots will fail",
    )
    .map(|_| ())
}

impl<D> PostgresEventStore<D> {
    /// As [`EventStore::save_snapshot`](crate::EventStore::save_snapshot):
    /// one upsert, committed on its own.
    pub(super) fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        snapshot::check_names(snapshot)?;
        let mut pooled = self.connection()?;
        let Connection {
            client, statements, ..
        } = &mut *pooled;
        let fail = |e| pg_error(e, self.shared.limits);
        let statement =
            prepared(client, statements, &self.shared.sql.snapshots.save).map_err(fail)?;
        client
            .execute(
                &statement,
                &[
                    &snapshot.stream_id,
                    &snapshot.kind,
                    &codec::sql_int(snapshot.version),
                    &i64::from(snapshot.snapshot_version),
                    &snapshot.state,
                    &snapshot.taken_at.to_string(),
                ],
            )
            .map_err(fail)?;
        Ok(())
    }

    /// As [`EventStore::latest_snapshot`](crate::EventStore::latest_snapshot):
    /// one descending range of the primary key.
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
        let mut pooled = self.connection()?;
        let Connection {
            client, statements, ..
        } = &mut *pooled;
        let fail = |e| pg_error(e, self.shared.limits);
        let statement =
            prepared(client, statements, &self.shared.sql.snapshots.latest).map_err(fail)?;
        let row = client
            .query_opt(
                &statement,
                &[
                    &stream_id,
                    &kind,
                    &codec::sql_int(max_version),
                    &i64::from(snapshot_version),
                ],
            )
            .map_err(fail)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let corrupt = |reason: String| codec::corrupt(stream_id.as_bytes(), 0, reason);
        let version: i64 = row.try_get(0).map_err(fail)?;
        let shape: i64 = row.try_get(1).map_err(fail)?;
        let state: String = row.try_get(2).map_err(fail)?;
        let taken_at: String = row.try_get(3).map_err(fail)?;
        let version = u64::try_from(version).map_err(|_| {
            corrupt(format!(
                "dvent_snapshots.version should be a whole number, found {version}"
            ))
        })?;
        let shape = u32::try_from(shape).map_err(|_| {
            corrupt(format!(
                "dvent_snapshots.snapshot_version should fit 32 bits, found {shape}"
            ))
        })?;
        let taken_at = codec::decode_timestamp(taken_at.as_bytes()).map_err(corrupt)?;
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
