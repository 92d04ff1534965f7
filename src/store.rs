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
//! format of the `codec` module (internal).
//!
//! For the read side every store also gives a commit hook
//! ([`EventStore::wait_for_commit`]) and checkpoints by name
//! ([`EventStore::checkpoint`], [`EventStore::save_checkpoint`]), on which
//! [`Subscription`] and
//! [`ProjectionRunner`](crate::ProjectionRunner) are built; every store
//! also keeps read models beside its checkpoints exactly once
//! ([`read_model`]: the SQL stores in their own database, the memory store
//! as a value by name).

pub mod admission;
pub(crate) mod commits;
// The row codec is the stores' own business, not part of the public API; it
// stays reachable (hidden from the docs) for the fuzz target in fuzz/.
#[doc(hidden)]
pub mod codec;
mod error;
mod forward;
mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod read;
pub mod read_model;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::time::Duration;

use imbl::Vector;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use error::{RetryDifference, StoreError};
pub use memory::InMemoryEventStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresEventStore;
pub use read::{Pages, Recorded};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteEventStore;

use crate::data::Data;
use crate::event::Event;
use crate::expected_version::ExpectedVersion;
use crate::snapshot::Snapshot;
use crate::subscription::Subscription;

/// One stream as listed by [`EventStore::streams`].
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
/// - **Atomic batches.** [`append`](EventStore::append) writes all
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
/// - **Idempotent appends.** Saving again a batch that is already stored,
///   the same events (ids, types, timestamps, payloads, metadata, payload
///   versions) at the same
///   versions of the same stream, succeeds and returns them as stored,
///   writing nothing (see [`append`](EventStore::append)); so a
///   save that failed with an unknown outcome
///   ([`StoreError::OutcomeUnknown`]), or any other error, is safe to
///   retry with the same events.
///
/// The payload type `D` defaults to [`Data`].
pub trait EventStore<D = Data>: Send + Sync {
    /// Appends `events` to `stream_id` if the stream meets `expected`, and
    /// returns them as stored (with stream id and version). Then calls the
    /// store's publisher, if any, with each.
    ///
    /// An empty batch writes nothing, but the expectation is still checked.
    ///
    /// **A retry is safe.** When the batch's first event id is already
    /// stored, the save is taken for a retry of the one that stored it
    /// (after an error whose outcome was unknown, say): if every event of
    /// the batch is stored, in this stream, at consecutive versions, with
    /// the same id, type, timestamp, payload, metadata and payload version
    /// (and a version of 0 or the
    /// stored one), and `expected` accepts the stream as it was just before
    /// them (`Exact(n)`: they are stored from version n + 1; `NoStream`: from
    /// 1; `StreamExists`: from 2 on; `Any`: anywhere), the save succeeds,
    /// writes nothing and returns the events as stored, whatever was saved
    /// to the stream since. The publisher is not called for them: only the
    /// save that writes a batch publishes it (so a batch whose first save
    /// committed but reported [`StoreError::OutcomeUnknown`] is published by
    /// neither; publishers are at most once, and reading the store from a
    /// position sees every event). This is judged in the same atomic step
    /// as a write, so retries racing each other store the batch once. Time:
    /// as a save, plus reading the b stored events of the batch.
    ///
    /// # Errors
    ///
    /// [`StoreError::VersionConflict`] when the stream is not as expected,
    /// [`StoreError::EventVersion`] when an event's version is not its
    /// position, [`StoreError::RetryMismatch`] when the batch's first event
    /// is stored but the batch is not exactly as stored (a partial overlap,
    /// an id stored in another stream, another payload under a stored id,
    /// another expectation), [`StoreError::DuplicateEvent`] when another of
    /// its event ids is already stored or one is given twice,
    /// [`StoreError::EmptyStreamId`], [`StoreError::InvalidStreamId`] and
    /// [`StoreError::InvalidEvent`] when the batch breaks the rule of
    /// [`admission`], and backend errors. In every case nothing was written,
    /// except for [`StoreError::OutcomeUnknown`] (a store that can lose its
    /// connection at commit), after which the batch is wholly stored or
    /// wholly absent: saving it again tells which, safely.
    fn append(
        &self,
        stream_id: &str,
        events: &Vector<Event<D>>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Event<D>>, StoreError>;

    /// The events of one stream (`Some(id)`) in the order saved, or of every
    /// stream (`None`) in the global order saved, skipping the first `start`.
    /// A stream that does not exist has no events; nor has a stream id that
    /// could never be stored (see [`admission`]).
    ///
    /// Memory: O(n) for the n events returned, all held at once. For a whole
    /// store or a long stream, read page by page instead
    /// ([`read_all`](EventStore::read_all),
    /// [`read_stream`](EventStore::read_stream), [`Pages`]), which holds at
    /// most one page.
    ///
    /// # Errors
    ///
    /// Backend errors, [`StoreError::Corrupt`] for a stored event that
    /// cannot be decoded, and [`StoreError::Upcast`] for one that the
    /// handle's upcasters cannot bring to its type's current payload version
    /// (see [`upcast`](crate::upcast)): an event is never skipped.
    fn events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event<D>>, StoreError>;

    /// At most `limit` events of every stream with a global position after
    /// `after`, in the global order saved, each with its position: one page
    /// of a bounded read of everything (see [`read`]). Start with
    /// `after = 0`; continue after the last position returned. A page
    /// shorter than `limit` (empty included) reached the end of what was
    /// stored; `limit = 0` reads nothing.
    ///
    /// Memory: O(limit), one page. The store holds its lock (if any) for
    /// this page only, so saves proceed between pages. Positions are 1, 2,
    /// 3, … in commit order without gaps, so a later page never repeats or
    /// skips an event.
    ///
    /// # Errors
    ///
    /// As [`events`](EventStore::events).
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
    ///
    /// let store = InMemoryEventStore::new();
    /// store.append("a", &vector![Event::new("A"), Event::new("B")], ExpectedVersion::Any)?;
    /// store.append("b", &vector![Event::new("C")], ExpectedVersion::Any)?;
    /// let first = store.read_all(0, 2)?;
    /// assert_eq!(first.iter().map(|r| r.position).collect::<Vec<_>>(), [1, 2]);
    /// let rest = store.read_all(first[1].position, 2)?;
    /// assert_eq!((rest.len(), rest[0].event.stream_id()), (1, "b"));
    /// assert!(store.read_all(3, 2)?.is_empty());
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded<D>>, StoreError>;

    /// At most `limit` events of `stream_id` with a version after `after`,
    /// in stream order, each with its global position: one page of a
    /// bounded read of a stream. Continue after the last event's version. A
    /// stream that does not exist, or an id that could never be stored,
    /// has no events.
    ///
    /// Memory: O(limit), one page; the store's lock (if any) is held for
    /// this page only.
    ///
    /// # Errors
    ///
    /// As [`events`](EventStore::events).
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
    ///
    /// let store = InMemoryEventStore::new();
    /// store.append("a", &vector![Event::new("A"), Event::new("B")], ExpectedVersion::Any)?;
    /// let page = store.read_stream("a", 1, 10)?;
    /// assert_eq!((page.len(), page[0].event.version(), page[0].position), (1, 2, 2));
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    fn read_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded<D>>, StoreError>;

    /// The same page as [`read_stream`](EventStore::read_stream), as a
    /// persistent vector of the events alone: what a
    /// [`Repository`](crate::Repository) load folds, and then keeps as the
    /// aggregate's [`events`](crate::Aggregate::events) without copying
    /// them again.
    ///
    /// Provided: [`read_stream`](EventStore::read_stream)'s page, each
    /// event moved into the vector (O(limit) more than that read). A store
    /// that can build the vector directly overrides it; the in-memory store
    /// does, cloning each event once (through its upcasters, if any).
    ///
    /// # Errors
    ///
    /// As [`read_stream`](EventStore::read_stream).
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
    ///
    /// let store = InMemoryEventStore::new();
    /// store.append("a", &vector![Event::new("A"), Event::new("B")], ExpectedVersion::Any)?;
    /// let page = store.read_stream_events("a", 1, 10)?;
    /// assert_eq!((page.len(), page[0].version(), page[0].event_type()), (1, 2, "B"));
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    fn read_stream_events(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vector<Event<D>>, StoreError>
    where
        D: Clone,
    {
        Ok(self
            .read_stream(stream_id, after, limit)?
            .into_iter()
            .map(|recorded| recorded.event)
            .collect())
    }

    /// Every event in the global order, read `page_size` at a time (see
    /// [`Pages`]): holds at most one page. On a trait object, use
    /// [`Pages::all`].
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
    ///
    /// let store = InMemoryEventStore::new();
    /// store.append("a", &vector![Event::new("A"), Event::new("B")], ExpectedVersion::Any)?;
    /// let mut count = 0;
    /// for recorded in store.iter_all(1_000) {
    ///     let recorded = recorded?;
    ///     count += 1;
    ///     assert_eq!(recorded.position, count);
    /// }
    /// assert_eq!(count, 2);
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    fn iter_all(&self, page_size: usize) -> Pages<'_, Self, D>
    where
        Self: Sized,
    {
        Pages::all(self, 0, page_size)
    }

    /// The last event of `stream_id`, or `None` when it has none (as for a
    /// stream id that could never be stored); without reading the rest of
    /// the stream.
    ///
    /// # Errors
    ///
    /// As [`events`](EventStore::events).
    fn last_event(&self, stream_id: &str) -> Result<Option<Event<D>>, StoreError>;

    /// The streams in the order they were created, skipping the first
    /// `start`.
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError>;

    /// Waits until the store holds an event after the global position
    /// `after`, or until `timeout` elapses, and returns the store's last
    /// global position then: greater than `after` as soon as an event after
    /// it is committed, by this process or (for the SQL stores) any other;
    /// at most `after` only when the wait timed out. A zero timeout asks
    /// for the last position at once. The read side's "notify me of
    /// commits" hook, under [`Subscription`]: read the events after `after`
    /// with [`read_all`](EventStore::read_all) once it returns more.
    ///
    /// How each store notices a commit, and the cost of a wait:
    /// [`InMemoryEventStore`]: a condition variable, woken by each save;
    /// [`SqliteEventStore`]: a connection of its own polls SQLite's
    /// `PRAGMA data_version` every 2 ms (it changes when any connection, in
    /// any process, commits to the file), then reads the largest position
    /// (an in-memory database polls the largest position);
    /// `PostgresEventStore`: `LISTEN` on a connection of its own, woken by
    /// a notification each save sends at its commit, with a poll every
    /// 500 ms should one be missed.
    ///
    /// A store may return a little after the event committed (the poll's
    /// interval), and may return early with no new event (a spurious
    /// wake-up): read, and wait again.
    ///
    /// # Errors
    ///
    /// Backend errors.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
    ///
    /// let store = InMemoryEventStore::new();
    /// assert_eq!(store.wait_for_commit(0, Duration::ZERO)?, 0);
    /// let writer = store.clone();
    /// let thread = std::thread::spawn(move || {
    ///     writer.append("s", &vector![Event::new("A")], ExpectedVersion::Any)
    /// });
    /// let mut last = 0;
    /// while last == 0 {
    ///     last = store.wait_for_commit(0, Duration::from_secs(5))?;
    /// }
    /// assert_eq!(last, 1);
    /// thread.join().unwrap()?;
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    fn wait_for_commit(&self, after: u64, timeout: Duration) -> Result<u64, StoreError>;

    /// The position stored under the checkpoint `name`, or 0 when there is
    /// none (nor can be: a name that breaks the rule of [`admission`] has
    /// none). A checkpoint is kept in the store itself, beside the events
    /// (the SQL stores: table `dvent_checkpoints`), so it lasts as long as
    /// they do. Time: one index look-up.
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn checkpoint(&self, name: &str) -> Result<u64, StoreError>;

    /// Stores `position` under the checkpoint `name`, replacing what was
    /// there (going back, to 0 say, is allowed: a rebuild does it).
    /// Durable as a save is. Time: one index look-up and write.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidCheckpoint`] for a name that breaks the rule
    /// for stream ids or a position above
    /// [`admission::MAX_CHECKPOINT_POSITION`], [`StoreError::ReadOnly`] on
    /// a store opened read-only, and backend errors. Nothing was written.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{EventStore, InMemoryEventStore};
    ///
    /// let store = InMemoryEventStore::new();
    /// assert_eq!(store.checkpoint("todo-list")?, 0);
    /// store.save_checkpoint("todo-list", 42)?;
    /// assert_eq!(store.checkpoint("todo-list")?, 42);
    /// assert!(store.save_checkpoint("", 1).is_err());
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError>;

    /// Keeps `snapshot`, replacing any kept for the same stream, kind and
    /// version (see [`crate::snapshot`]). Snapshots live beside the
    /// events, never among them (the SQL stores: table `dvent_snapshots`),
    /// and are never read as events. Time: one index look-up and write.
    ///
    /// The default keeps nothing and returns `Ok(())`: a store that keeps
    /// no snapshots is correct, loading then folds every event. Every store
    /// of Dvent keeps them.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidStreamId`] when the stream id or the kind's
    /// name breaks the rule for stream ids ([`admission::check_name`]),
    /// [`StoreError::ReadOnly`] on a store opened read-only, and backend
    /// errors. Nothing was written.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{EventStore, InMemoryEventStore, Snapshot};
    ///
    /// let store = InMemoryEventStore::new();
    /// let at = |version| Snapshot {
    ///     stream_id: "s".into(), kind: "Counter".into(), version, snapshot_version: 1,
    ///     state: version.to_string(), taken_at: dvent::jiff::Timestamp::now(),
    /// };
    /// store.save_snapshot(&at(10))?;
    /// store.save_snapshot(&at(20))?;
    /// assert_eq!(store.latest_snapshot("s", "Counter", 1, 15)?.map(|s| s.version), Some(10));
    /// assert_eq!(store.latest_snapshot("s", "Counter", 1, 99)?.map(|s| s.version), Some(20));
    /// assert!(store.latest_snapshot("s", "Counter", 2, 99)?.is_none());
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let _ = snapshot;
        Ok(())
    }

    /// The kept snapshot of `stream_id` for the kind named `kind` with the
    /// shape `snapshot_version` whose version is the largest at or below
    /// `max_version`; `None` when there is none (as for names that could
    /// never be stored). Time: one descending range of an index, skipping
    /// snapshots of other shapes.
    ///
    /// The default finds none.
    ///
    /// # Errors
    ///
    /// Backend errors, and [`StoreError::Corrupt`] for a row that cannot be
    /// read (not for its state, which is JSON text the caller parses).
    fn latest_snapshot(
        &self,
        stream_id: &str,
        kind: &str,
        snapshot_version: u32,
        max_version: u64,
    ) -> Result<Option<Snapshot>, StoreError> {
        let _ = (stream_id, kind, snapshot_version, max_version);
        Ok(None)
    }

    /// A [`Subscription`] to every event after the global position `after`
    /// (0: from the first), on a clone of this handle (for the stores of
    /// Dvent, O(1)): it reads what is stored page by page, then waits for
    /// new events. Reads nothing until the first call to `next`.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
    ///
    /// let store = InMemoryEventStore::new();
    /// store.append("s", &vector![Event::new("A"), Event::new("B")], ExpectedVersion::Any)?;
    /// let mut subscription = store.subscribe(1);
    /// let next = subscription.next().expect("B is stored")?;
    /// assert_eq!((next.position, next.event.event_type()), (2, "B"));
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    fn subscribe(&self, after: u64) -> Subscription<Self, D>
    where
        Self: Sized + Clone,
    {
        Subscription::new(self.clone(), after)
    }
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
/// A store judges a batch whose first event id is already stored with
/// [`check_retry`] instead of steps 3 and 4 (after steps 1 and 2), and
/// refuses any other stored id in a batch with
/// [`StoreError::DuplicateEvent`].
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
    events: &Vector<Event<D>>,
    expected: ExpectedVersion,
    current: u64,
) -> Result<Vec<Event<D>>, StoreError> {
    admit(stream_id, events)?;
    place(stream_id, stream_name, events, expected, current)
}

/// Steps 1 and 2 of [`prepare_batch`]: the stream id and every event by the
/// rule of [`admission`]. Time: O(total size of the payloads).
pub(crate) fn admit<D: Serialize>(
    stream_id: &str,
    events: &Vector<Event<D>>,
) -> Result<(), StoreError> {
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
    Ok(())
}

/// Steps 3 and 4 of [`prepare_batch`], for a batch already admitted: the
/// expectation, then each event's version; returns the events as they are
/// to be stored. Time: O(b) for b events, plus one clone of each.
pub(crate) fn place<D: Clone>(
    stream_id: &str,
    stream_name: &crate::Name,
    events: &Vector<Event<D>>,
    expected: ExpectedVersion,
    current: u64,
) -> Result<Vec<Event<D>>, StoreError> {
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

/// Judges a batch whose first event is already stored as a retry of the
/// save that stored it, and returns the stored events when it is one.
///
/// Shared by every store, which calls it, in the same atomic step as its
/// writes (under its lock or in its transaction), after the rule of
/// [`admission`] and before anything else, when the batch's first event id
/// is stored. `stored` holds the events of stream `stream_id` from the
/// version at which that first event is stored, in order (at most as many
/// as the batch has; fewer when the stream ends), or nothing when the
/// first event is stored in another stream.
///
/// The batch is a retry when, for every event in order, the stream holds
/// at the next version (from the first event's) the event with its id,
/// type, timestamp, payload (compared as JSON text), metadata and payload
/// version, as stored (never upcast: the same batch saved again is what
/// was stored, whatever upcasters a handle has), the event's
/// version being 0 or that version; and when `expected` accepts the
/// stream's version just before the first event (so that the save that
/// stored them could have been this one: with `Exact(n)` the batch is
/// stored from version n + 1, with `NoStream` from 1, with `StreamExists`
/// from 2 or later, with `Any` anywhere in the stream). Events stored
/// after the batch do not matter: a retry of an old batch still succeeds.
///
/// Time: O(b) for b events plus the JSON writing of their payloads and of
/// the stored ones'.
///
/// # Errors
///
/// [`StoreError::RetryMismatch`], naming the first event of the batch
/// that differs and how ([`RetryDifference`]).
pub fn check_retry<D: Serialize>(
    stream_id: &str,
    events: &Vector<Event<D>>,
    expected: ExpectedVersion,
    mut stored: Vec<Event<D>>,
) -> Result<Vec<Event<D>>, StoreError> {
    let mismatch = |event: &Event<D>, difference| StoreError::RetryMismatch {
        stream_id: shortened(stream_id),
        event_id: event.id(),
        difference,
    };
    let Some(first) = events.front() else {
        return Ok(Vec::new());
    };
    let Some(start) = stored
        .first()
        .filter(|s| s.id() == first.id() && s.stream_id() == stream_id)
        .map(Event::version)
    else {
        return Err(mismatch(first, RetryDifference::OtherStream));
    };
    for (event, version) in events.iter().zip(start..) {
        let index = usize::try_from(version - start).unwrap_or(usize::MAX);
        let Some(kept) = stored.get(index).filter(|s| {
            s.id() == event.id() && s.version() == version && s.stream_id() == stream_id
        }) else {
            return Err(mismatch(event, RetryDifference::NotStoredAt { version }));
        };
        let difference = if event.version() != 0 && event.version() != version {
            Some(RetryDifference::Version {
                stored: version,
                given: event.version(),
            })
        } else if event.event_type() != kept.event_type() {
            Some(RetryDifference::EventType)
        } else if event.timestamp() != kept.timestamp() {
            Some(RetryDifference::Timestamp)
        } else if !same_json(event.data(), kept.data()) {
            Some(RetryDifference::Payload)
        } else if event.metadata() != kept.metadata() {
            Some(RetryDifference::Metadata)
        } else if event.data_version() != kept.data_version() {
            Some(RetryDifference::DataVersion {
                stored: kept.data_version(),
                given: event.data_version(),
            })
        } else {
            None
        };
        if let Some(difference) = difference {
            return Err(mismatch(event, difference));
        }
    }
    let after = start.saturating_sub(1);
    if !expected.accepts(after) {
        return Err(mismatch(
            first,
            RetryDifference::Expectation { expected, after },
        ));
    }
    stored.truncate(events.len());
    Ok(stored)
}

/// Whether two payloads write the same JSON text (two that cannot be
/// written are not taken for the same).
fn same_json<D: Serialize>(a: &D, b: &D) -> bool {
    match (serde_json::to_string(a), serde_json::to_string(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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
