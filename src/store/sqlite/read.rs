//! Reading the SQLite store page by page: one short query per page, under
//! the connection's lock for that page only.

use rusqlite::{Row, params};
use serde::de::DeserializeOwned;

use super::{EVENT_COLUMNS, SqliteEventStore, backend, event_from_row};
use crate::event::Event;
use crate::store::codec::{self, Decoder};
use crate::store::{Recorded, StoreError};

/// How many events [`events`](crate::EventStore::events) reads per
/// query: between two, the connection's lock is released, so a save on a
/// clone waits for at most one page's read.
pub(super) const GET_EVENTS_PAGE: usize = 1_024;

/// A row selected with [`EVENT_COLUMNS`], with its position.
fn recorded_from_row<D: DeserializeOwned>(
    row: &Row<'_>,
    decoder: &mut Decoder,
) -> Result<Recorded<D>, StoreError> {
    let event = event_from_row(row, decoder)?;
    let position: i64 = row.get(0).map_err(backend)?;
    codec::recorded(event, position)
}

impl<D: DeserializeOwned> SqliteEventStore<D> {
    /// At most `limit` events after the global position `after`, in order:
    /// one query with `LIMIT`, an index range on the primary key, under the
    /// lock for this page only. Time: O(log n + limit).
    pub(super) fn page_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded<D>>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
            ))
            .map_err(backend)?;
        let mut rows = statement
            .query(params![codec::sql_int(after), codec::sql_int(limit)])
            .map_err(backend)?;
        let mut decoder = self.decoder();
        let mut page = Vec::with_capacity(limit.min(GET_EVENTS_PAGE));
        while let Some(row) = rows.next().map_err(backend)? {
            page.push(recorded_from_row(row, &mut decoder)?);
        }
        Ok(page)
    }

    /// At most `limit` events of `stream_id` after its version `after`, in
    /// order, checked to run on without a gap: one query on the
    /// `(stream_id, version)` index, under the lock for this page only.
    /// Time: O(log n + limit).
    pub(super) fn page_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded<D>>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let connection = self.lock();
        // Rows with a version below 1 are damaged: they are read too (they
        // sort first), so that the read fails instead of silently leaving
        // them out. Two ranges of the (stream_id, version) index merged in
        // order (not one `OR`, which SQLite would answer by walking the
        // stream from its first version on every page).
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ?1 AND version < 1 \
                 UNION ALL \
                 SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ?1 AND version > ?2 \
                 ORDER BY version LIMIT ?3"
            ))
            .map_err(backend)?;
        let mut rows = statement
            .query(params![
                stream_id,
                codec::sql_int(after),
                codec::sql_int(limit)
            ])
            .map_err(backend)?;
        let mut decoder = self.decoder();
        let mut page: Vec<Recorded<D>> = Vec::with_capacity(limit.min(GET_EVENTS_PAGE));
        while let Some(row) = rows.next().map_err(backend)? {
            let recorded = recorded_from_row(row, &mut decoder)?;
            let expected = after.saturating_add(page.len() as u64 + 1);
            if recorded.event.version() != expected {
                return Err(StoreError::Corrupt {
                    stream_id: stream_id.to_string(),
                    position: row.get(0).unwrap_or(0),
                    reason: format!(
                        "the stream's versions should run on without a gap: expected version {expected}, found {}",
                        recorded.event.version()
                    ),
                });
            }
            page.push(recorded);
        }
        Ok(page)
    }

    /// Every event of one stream (`Some`) or of all, after `start`, read
    /// [`GET_EVENTS_PAGE`] at a time, releasing the lock between pages.
    /// Memory: O(n) for the n events returned (that is what it returns).
    pub(super) fn read_everything(
        &self,
        stream_id: Option<&str>,
        start: u64,
    ) -> Result<Vec<Event<D>>, StoreError> {
        let mut events = Vec::new();
        let mut after = start;
        loop {
            let page = match stream_id {
                None => self.page_all(after, GET_EVENTS_PAGE)?,
                Some(id) => self.page_stream(id, after, GET_EVENTS_PAGE)?,
            };
            let full = page.len() == GET_EVENTS_PAGE;
            if let Some(last) = page.last() {
                after = match stream_id {
                    None => last.position,
                    Some(_) => last.event.version(),
                };
            }
            events.extend(page.into_iter().map(|recorded| recorded.event));
            if !full {
                return Ok(events);
            }
        }
    }
}
