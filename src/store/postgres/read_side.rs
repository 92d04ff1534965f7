//! The read side's tables and statements: checkpoints by name in
//! `dvent_checkpoints`, and the largest position.

use ::postgres::Client;

use super::{Connection, Limits, Missing, PostgresEventStore, create_missing, pg_error, prepared};
use crate::store::StoreError;
use crate::store::codec;
use crate::store::commits::{check_checkpoint, may_name_a_checkpoint};

/// The read side's SQL, with its table names.
pub(super) struct ReadSql {
    /// `dvent_checkpoints`, qualified, for `to_regclass`.
    checkpoints: String,
    create: String,
    /// The largest position.
    pub(super) last_position: String,
    get: String,
    pub(super) save: String,
    /// Locks a read model's checkpoint row (made at 0 when missing) for the
    /// transaction, and returns its position.
    pub(super) claim: String,
}

impl ReadSql {
    /// The statements for tables named with the prefix `p` (`"schema".` or
    /// nothing).
    pub(super) fn new(p: &str) -> Self {
        ReadSql {
            checkpoints: format!("{p}dvent_checkpoints"),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {p}dvent_checkpoints (
                    name     TEXT   PRIMARY KEY,
                    position BIGINT NOT NULL
                )"
            ),
            last_position: format!("SELECT COALESCE(MAX(position), 0)::bigint FROM {p}events"),
            get: format!("SELECT position FROM {p}dvent_checkpoints WHERE name = $1::text"),
            save: format!(
                "INSERT INTO {p}dvent_checkpoints (name, position) VALUES ($1::text, $2::bigint)
                 ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position"
            ),
            claim: format!(
                "INSERT INTO {p}dvent_checkpoints AS c (name, position) VALUES ($1::text, 0)
                 ON CONFLICT (name) DO UPDATE SET position = c.position
                 RETURNING position"
            ),
        }
    }
}

/// Creates `dvent_checkpoints` when it is missing (a schema made by a
/// release without it), under the set-up lock. A user that may not create
/// it is told in the log, and the store opens all the same (its
/// checkpoint operations then fail).
pub(super) fn create_tables(
    client: &mut Client,
    sql: &ReadSql,
    limits: Limits,
) -> Result<(), StoreError> {
    create_missing(
        client,
        Missing::Table(&sql.checkpoints),
        &sql.create,
        limits,
        "checkpoints and read models will fail",
    )
    .map(|_| ())
}

impl<D> PostgresEventStore<D> {
    /// As [`EventStore::checkpoint`](crate::EventStore::checkpoint): one
    /// primary-key look-up.
    pub(super) fn read_checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        if !may_name_a_checkpoint(name) {
            return Ok(0);
        }
        let mut pooled = self.connection()?;
        let Connection {
            client, statements, ..
        } = &mut *pooled;
        let fail = |e| pg_error(e, self.shared.limits);
        let statement =
            prepared(client, statements, &self.shared.sql.read_side.get).map_err(fail)?;
        let row = client.query_opt(&statement, &[&name]).map_err(fail)?;
        match row {
            None => Ok(0),
            Some(row) => position_of(name, row.try_get(0).map_err(fail)?),
        }
    }

    /// As [`EventStore::save_checkpoint`](crate::EventStore::save_checkpoint):
    /// one upsert, committed on its own.
    pub(super) fn write_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        check_checkpoint(name, position)?;
        let mut pooled = self.connection()?;
        let Connection {
            client, statements, ..
        } = &mut *pooled;
        let fail = |e| pg_error(e, self.shared.limits);
        let statement =
            prepared(client, statements, &self.shared.sql.read_side.save).map_err(fail)?;
        client
            .execute(&statement, &[&name, &codec::sql_int(position)])
            .map_err(fail)?;
        Ok(())
    }
}

/// A stored checkpoint's position, checked to be a whole number.
pub(super) fn position_of(name: &str, position: i64) -> Result<u64, StoreError> {
    u64::try_from(position).map_err(|_| StoreError::Corrupt {
        stream_id: String::new(),
        position,
        reason: format!("checkpoint {name:?} should hold a whole number, found {position}"),
    })
}
