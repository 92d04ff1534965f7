//! Reading the PostgreSQL store page by page: one query with `LIMIT` per
//! page.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PostgresEventStore;
use crate::event::Event;
use crate::store::{Recorded, StoreError, codec};

/// Pairs each event with the position its row gave.
fn recorded<D>(events: Vec<Event<D>>, positions: Vec<i64>) -> Result<Vec<Recorded<D>>, StoreError> {
    events
        .into_iter()
        .zip(positions)
        .map(|(event, position)| codec::recorded(event, position))
        .collect()
}

impl<D> PostgresEventStore<D>
where
    D: Serialize + DeserializeOwned + Clone,
{
    /// At most `limit` events after the global position `after`.
    pub(super) fn page_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded<D>>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut positions = Vec::new();
        let events = self.read_events(
            &self.shared.sql.all_page,
            &[&codec::sql_int(after), &codec::sql_int(limit)],
            |_, position| {
                positions.push(position);
                Ok(())
            },
        )?;
        recorded(events, positions)
    }

    /// At most `limit` events of `stream_id` after its version `after`,
    /// checked to run on without a gap.
    pub(super) fn page_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded<D>>, StoreError> {
        if limit == 0 || stream_id.contains('\0') {
            // No stream id with NUL can be stored (saves refuse it).
            return Ok(Vec::new());
        }
        let mut positions = Vec::new();
        let mut expected = after;
        let events = self.read_events(
            &self.shared.sql.stream_page,
            &[&stream_id, &codec::sql_int(after), &codec::sql_int(limit)],
            |event, position| {
                expected = expected.saturating_add(1);
                if event.version() != expected {
                    return Err(StoreError::Corrupt {
                        stream_id: stream_id.to_string(),
                        position,
                        reason: format!(
                            "the stream's versions should run on without a gap: expected version {expected}, found {}",
                            event.version()
                        ),
                    });
                }
                positions.push(position);
                Ok(())
            },
        )?;
        recorded(events, positions)
    }
}
