//! Read models in the store's own database, exactly once: see
//! [`read_model`](crate::store::read_model).

use ::postgres::{IsolationLevel, Transaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::read_side::position_of;
use super::{Connection, PostgresEventStore, event_from_row, pg_error, prepared};
use crate::stop::StopHandle;
use crate::store::codec;
use crate::store::commits::check_checkpoint;
use crate::store::read_model::{
    DEFAULT_READ_MODEL_PAGE, ReadModelError, ReadModelProgress, run_until_stopped,
};
use crate::store::{Recorded, StoreError};
use crate::subscription::check_runs_on;

impl<D> PostgresEventStore<D>
where
    D: Serialize + DeserializeOwned + Clone,
{
    /// One step of the read model `name`: in one transaction on a pooled
    /// connection, locks its checkpoint row (made at 0 when missing), reads
    /// at most `limit` events after it (0 is taken as 1), calls `handler`
    /// with the transaction and each event in order, stores the checkpoint
    /// at the last one, and commits. **The read model and its checkpoint
    /// move together**: a crash or a lost connection before the commit
    /// leaves both as they were, and the next step handles the page again;
    /// exactly once for what the handler writes through the transaction, at
    /// least once for anything else it does (see
    /// [`read_model`](crate::store::read_model)). When no event follows the
    /// checkpoint, nothing is written.
    ///
    /// The lock on the checkpoint's row makes two processes running the
    /// same read model take turns, a page each, never handling an event
    /// twice. Saves do not wait for it (they lock another row).
    ///
    /// The handler writes the user's own tables with the transaction (in
    /// the same database; name their schema); it must not end the
    /// transaction, nor write the store's tables.
    ///
    /// Costs: five round trips plus the handler's; the transaction runs
    /// under the store's lock and statement timeouts.
    ///
    /// # Errors
    ///
    /// [`ReadModelError::Handler`] with the handler's error (and the
    /// event's position) when it fails: the transaction is rolled back.
    /// [`ReadModelError::Store`]: [`StoreError::InvalidCheckpoint`] for a
    /// name that breaks the rule for stream ids, [`StoreError::Timeout`]
    /// when another process holds the read model's row too long, and
    /// backend errors. When the connection fails during the commit, the
    /// step may have been committed or not: the next step reads the
    /// checkpoint and goes on from wherever it is, so nothing is handled
    /// twice in the read model either way.
    pub fn update_read_model<E, F>(
        &self,
        name: &str,
        limit: usize,
        mut handler: F,
    ) -> Result<ReadModelProgress, ReadModelError<E>>
    where
        F: FnMut(&mut Transaction<'_>, &Recorded<D>) -> Result<(), E>,
    {
        check_checkpoint(name, 0)?;
        let fail = |e| pg_error(e, self.shared.limits);
        let mut pooled = self.connection()?;
        let Connection {
            client, statements, ..
        } = &mut *pooled;
        let sql = &self.shared.sql;
        let claim = prepared(client, statements, &sql.read_side.claim).map_err(fail)?;
        let page_sql = prepared(client, statements, &sql.all_page).map_err(fail)?;
        let save = prepared(client, statements, &sql.read_side.save).map_err(fail)?;
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .read_only(false)
            .start()
            .map_err(fail)?;
        let after = tx
            .query_one(&claim, &[&name])
            .and_then(|row| row.try_get::<_, i64>(0))
            .map_err(fail)?;
        let after = position_of(name, after)?;
        let rows = tx
            .query(
                &page_sql,
                &[&codec::sql_int(after), &codec::sql_int(limit.max(1))],
            )
            .map_err(fail)?;
        let mut decoder = self.decoder();
        let page = rows
            .iter()
            .map(|row| {
                let event = event_from_row(row, &mut decoder)?;
                codec::recorded(event, row.try_get(0).unwrap_or(0))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        check_runs_on(after, &page)?;
        let Some(last) = page.last().map(|r| r.position) else {
            // Nothing to handle: rolled back (the transaction's drop).
            return Ok(ReadModelProgress {
                handled: 0,
                position: after,
            });
        };
        for recorded in &page {
            handler(&mut tx, recorded).map_err(|source| ReadModelError::Handler {
                name: name.to_string(),
                position: recorded.position,
                source,
            })?;
        }
        tx.execute(&save, &[&name, &codec::sql_int(last)])
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(ReadModelProgress {
            handled: page.len(),
            position: last,
        })
    }

    /// Keeps the read model `name` up to date until `stop` is stopped:
    /// [`update_read_model`](Self::update_read_model) page after page
    /// ([`DEFAULT_READ_MODEL_PAGE`] events each) until it is up to date,
    /// then waits for new events ([`wait_for_commit`](crate::EventStore::wait_for_commit):
    /// `LISTEN`/`NOTIFY`, which sees every process's commits) and handles
    /// them as they come. Returns how many events it handled. Run it in a
    /// thread of its own; a stop is noticed within about
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
        F: FnMut(&mut Transaction<'_>, &Recorded<D>) -> Result<(), E>,
    {
        run_until_stopped(
            stop,
            |after, timeout| self.wait_commit(after, timeout),
            || self.update_read_model(name, DEFAULT_READ_MODEL_PAGE, &mut handler),
        )
    }
}
