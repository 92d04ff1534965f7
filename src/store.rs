//! Event stores: append-only, ordered sets of events per stream.
//!
//! [`EventStore`] is the one trait in Dvent, because stores really have
//! several implementations, which all pass the same Gherkin features:
//!
//! | store | cargo feature | for |
//! |---|---|---|
//! | [`InMemoryEventStore`] | always | tests, notebooks, reference |
//! | [`SqliteEventStore`] | `sqlite` (default) | one machine: events in a file |
//! | `PostgresEventStore` (module `postgres`) | `postgres` | many application instances sharing one database server |
//!
//! Every store accepts the same events, by the rule of [`admission`], so
//! that what one accepted reads back equal; the SQL stores share the row
//! format of [`codec`].

pub mod admission;
pub mod codec;
mod error;
mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use error::StoreError;
pub use memory::InMemoryEventStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresEventStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteEventStore;

use crate::data::Data;
use crate::event::Event;
use crate::expected_version::ExpectedVersion;

/// One stream as listed by [`EventStore::get_streams`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Its position in creation order, from 0.
    pub number: u64,
    /// The stream's id.
    pub stream_id: String,
    /// The timestamp of its first event.
    pub timestamp: Timestamp,
}

/// An append-only event store with optimistic concurrency.
///
/// Every implementation guarantees:
///
/// - **Atomic batches.** [`save_events`](EventStore::save_events) writes all
///   of a batch or none of it; on any error nothing was written.
/// - **Checked expectations.** The [`ExpectedVersion`] is checked against the
///   stream before anything is written, in the same atomic step as the
///   write.
/// - **Positions.** Each saved event carries its stream id and its version
///   (its position in the stream, from 1). An event given with version 0 is
///   numbered by the store; any other version must equal the position.
/// - **Order.** Reading a stream gives its events in the order saved; reading
///   everything gives all events in the one global order they were saved in.
/// - **Nothing is updated or deleted.**
/// - **One rule for what may be stored** ([`admission`]): a batch whose
///   stream id, event types, timestamps or payloads could not be read back
///   as given is refused before anything is written, alike in every store,
///   so that what a store accepted reads back equal. A stream id that could
///   never be stored (empty, with a NUL, longer than
///   [`admission::MAX_NAME_BYTES`]) names no stream: reading it gives no
///   events and no last event (never an error), in every store.
///
/// The payload type `D` defaults to [`Data`].
pub trait EventStore<D = Data>: Send + Sync {
    /// Appends `events` to `stream_id` if the stream meets `expected`, and
    /// returns them as stored (with stream id and version). Then calls the
    /// store's publisher, if any, with each.
    ///
    /// An empty batch writes nothing, but the expectation is still checked.
    ///
    /// # Errors
    ///
    /// [`StoreError::VersionConflict`] when the stream is not as expected,
    /// [`StoreError::EventVersion`] when an event's version is not its
    /// position, [`StoreError::DuplicateEvent`] when an event id is already
    /// stored, [`StoreError::EmptyStreamId`],
    /// [`StoreError::InvalidStreamId`] and [`StoreError::InvalidEvent`] when
    /// the batch breaks the rule of [`admission`], and backend errors. In
    /// every case nothing was written.
    fn save_events(
        &self,
        stream_id: &str,
        events: &[Event<D>],
        expected: ExpectedVersion,
    ) -> Result<Vec<Event<D>>, StoreError>;

    /// The events of one stream (`Some(id)`) in the order saved, or of every
    /// stream (`None`) in the global order saved, skipping the first `start`.
    /// A stream that does not exist has no events; nor has a stream id that
    /// could never be stored (see [`admission`]).
    ///
    /// # Errors
    ///
    /// Backend errors, and [`StoreError::Corrupt`] for a stored event that
    /// cannot be decoded.
    fn get_events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event<D>>, StoreError>;

    /// The last event of `stream_id`, or `None` when it has none (as for a
    /// stream id that could never be stored); without reading the rest of
    /// the stream.
    ///
    /// # Errors
    ///
    /// As [`get_events`](EventStore::get_events).
    fn get_last_event(&self, stream_id: &str) -> Result<Option<Event<D>>, StoreError>;

    /// The streams in the order they were created, skipping the first
    /// `start`.
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn get_streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError>;
}

/// Checks a batch against a stream at version `current` and returns the
/// events as they are to be stored: with the stream id and their positions.
///
/// Shared by every store, which calls it before writing anything, so that
/// they judge a batch alike. In order, it checks:
///
/// 1. the stream id: non-empty, then the rest of the rule of [`admission`]
///    (no NUL, at most [`admission::MAX_NAME_BYTES`] bytes);
/// 2. every event by that rule ([`admission::check_event`]: its type, its
///    timestamp, its payload), in batch order, whatever the stream's state;
/// 3. the expected version against `current`;
/// 4. every event's version against its position.
///
/// Time: O(total size of the payloads), a walk of each through its
/// `Serialize` that writes nothing, plus one clone of each event.
///
/// # Errors
///
/// [`StoreError::EmptyStreamId`], [`StoreError::InvalidStreamId`],
/// [`StoreError::InvalidEvent`] (naming the first event that breaks the
/// rule, and how), [`StoreError::VersionConflict`] and
/// [`StoreError::EventVersion`].
pub fn prepare_batch<D: Clone + Serialize>(
    stream_id: &str,
    stream_name: &crate::Name,
    events: &[Event<D>],
    expected: ExpectedVersion,
    current: u64,
) -> Result<Vec<Event<D>>, StoreError> {
    match admission::check_name(stream_id) {
        Ok(()) => {}
        Err(admission::NameProblem::Empty) => return Err(StoreError::EmptyStreamId),
        Err(problem) => {
            return Err(StoreError::InvalidStreamId {
                stream_id: shortened(stream_id),
                problem,
            });
        }
    }
    for event in events {
        admission::check_event(event).map_err(|problem| StoreError::InvalidEvent {
            event_id: event.id(),
            problem,
        })?;
    }
    if !expected.accepts(current) {
        return Err(StoreError::VersionConflict {
            stream_id: stream_id.to_string(),
            expected,
            found: current,
        });
    }
    events
        .iter()
        .zip(current + 1..)
        .map(|(event, position)| {
            if event.version() != 0 && event.version() != position {
                return Err(StoreError::EventVersion {
                    stream_id: stream_id.to_string(),
                    event_id: event.id(),
                    expected: position,
                    found: event.version(),
                });
            }
            Ok(event
                .clone()
                .with_stream_id(stream_name.clone())
                .with_version(position))
        })
        .collect()
}

/// At most the first 64 characters of `text`, with `…` when cut: for an
/// error that names a stream id that may be very long.
fn shortened(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
