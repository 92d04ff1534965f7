//! The in-memory event store.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use imbl::shared_ptr::DefaultSharedPtr;
use imbl::{GenericHashMap, Vector};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::commits::{CommitSignal, check_checkpoint, may_name_a_checkpoint};
use super::{EventStore, Recorded, StoreError, StreamInfo, admit, check_retry, place};
use crate::data::Data;
use crate::event::Event;
use crate::expected_version::ExpectedVersion;
use crate::name::Name;
use crate::publisher::{PublishError, Publisher, publish_all};
use crate::snapshot::{self, Snapshot as StateSnapshot};
use crate::upcast::{UpcastError, Upcasters};

/// How a handle reads an event through its upcasters (the payload type's
/// serde bounds are captured when they are given).
type ReadAs<D> = Arc<dyn Fn(Event<D>) -> Result<Event<D>, UpcastError> + Send + Sync>;

mod read_model;

/// An event store held in memory: for tests, notebooks and reference.
///
/// - **Thread-safe and cheap to share:** it is `Send + Sync`, and a clone is
///   another handle on the same store (O(1)).
/// - **Snapshots:** its contents are persistent collections, so a reader
///   takes an O(1) snapshot and reads it without holding any lock; writers
///   never disturb a reader's snapshot.
/// - **Atomic:** a batch is checked in full (the rule of
///   [`admission`](super::admission), expected version, positions, unique
///   ids) before anything is added; on error nothing is. Every payload
///   clone a save makes happens before the store is touched; the store's
///   collections hold each event behind an [`Arc`], so changing them
///   afterwards clones only pointers and cannot panic: a batch is all or
///   nothing even when cloning a payload panics.
/// - **In place when it can:** a save changes the contents in place when no
///   reader holds a snapshot of them, and otherwise copies only the few
///   nodes it changes (pointers, never events).
/// - **The same as every store:** it accepts exactly what the SQL stores
///   accept (the shared [`prepare_batch`](super::prepare_batch)), so saving
///   needs `D: Serialize` to check payloads, though it writes none. A
///   stream id that could never be stored (see
///   [`admission`](super::admission)) has no events.
/// - **Publisher:** the optional publisher is called after the write, outside
///   the lock; its failures and panics are logged and never undo the write.
/// - **Idempotent:** a retry of a stored batch is judged under the write
///   lock, returns the stored events and writes and publishes nothing (see
///   [`EventStore::append`]).
///
/// Costs, for n events in the store: save O(b log n + s) for a batch of b
/// whose payloads total s in size (the rule's walk of each payload, under
/// the write lock), plus a copy of up to 64 pointers of the log's last
/// chunk when a reader holds the snapshot it changes; a retry the same, plus O(k log n) to find its first
/// event in a stream of k events when that event carries no version;
/// reading a stream O(k log n) for its k events; reading all from a
/// position O(log n) plus O(1) an event; last event O(log n).
///
/// # Example
///
/// ```
/// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
///
/// let store = InMemoryEventStore::new();
/// let saved = store.append("todo-1", &vector![Event::new("TodoAdded")], ExpectedVersion::NoStream)?;
/// assert_eq!((saved[0].stream_id(), saved[0].version()), ("todo-1", 1));
///
/// // Saving "as new" again is a conflict, and nothing is written:
/// assert!(store.append("todo-1", &vector![Event::new("TodoAdded")], ExpectedVersion::NoStream).is_err());
/// assert_eq!(store.events(Some("todo-1"), 0)?.len(), 1);
/// # Ok::<(), dvent::StoreError>(())
/// ```
pub struct InMemoryEventStore<D = Data> {
    shared: Arc<Shared<D>>,
    publisher: Option<Publisher<D>>,
    upcast: Option<ReadAs<D>>,
}

struct Shared<D> {
    state: RwLock<State<D>>,
    /// The last position committed, for `wait_for_commit`.
    commits: CommitSignal,
    /// The checkpoints by name.
    checkpoints: Mutex<std::collections::HashMap<String, u64>>,
    /// The read models by name, each moving with its checkpoint.
    read_models: read_model::ReadModels,
    /// The snapshots by stream id and kind, by version.
    snapshots: Mutex<SnapshotMap>,
}

/// Snapshots by (stream id, kind name), then by version.
type SnapshotMap =
    std::collections::HashMap<(String, String), std::collections::BTreeMap<u64, StateSnapshot>>;

struct State<D> {
    /// Shared with readers: taking it is one reference count. A writer
    /// changes it in place when no reader holds it ([`Arc::make_mut`]).
    snapshot: Arc<Snapshot<D>>,
    /// Every stored event id, to refuse duplicates (writers only).
    event_ids: HashSet<u128, KeyedHashing>,
}

/// Hashing for event ids and stream ids: one keyed multiply-and-fold per
/// 64-bit word (two for an event id, about 10 instructions, where SipHash
/// takes a few hundred), with keys drawn at random per store so that ids
/// chosen on purpose cannot be made to collide without knowing them.
#[derive(Clone, Copy)]
struct KeyedHashing {
    keys: [u64; 2],
}

impl KeyedHashing {
    /// Keys from the standard library's random hasher seeds.
    fn new() -> Self {
        let seed = std::collections::hash_map::RandomState::new();
        KeyedHashing {
            keys: [seed.hash_one(0x9e37_u64), seed.hash_one(0x7f4a_u64) | 1],
        }
    }
}

impl BuildHasher for KeyedHashing {
    type Hasher = KeyedHasher;

    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            keys: self.keys,
            hash: 0,
        }
    }
}

/// The hasher of [`KeyedHashing`].
struct KeyedHasher {
    keys: [u64; 2],
    hash: u64,
}

impl KeyedHasher {
    /// Mixes in 64 bits: the keyed 128-bit product, folded.
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.hash ^ word ^ self.keys[0]) * u128::from(self.keys[1]);
        self.hash = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.mix(value as u64);
        self.mix((value >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// What a reader sees: persistent, so cloning it is O(1), and cloning it
/// or any of its nodes never clones an event (they are behind [`Arc`]s).
///
/// Events are held once, in the global log, whose chunks fill densely; a
/// stream keeps the positions of its events in the log (a short stream's
/// positions fit inline, with no allocation of their own).
struct Snapshot<D> {
    streams: Streams,
    /// Stream ids with their first event's timestamp, in creation order.
    created: Vector<(Name, Timestamp)>,
    /// Every event, in the global order saved.
    log: Vector<Arc<Event<D>>>,
}

/// The streams by id, hashed with the store's keys.
type Streams = GenericHashMap<Name, Stream, KeyedHashing, DefaultSharedPtr>;

#[derive(Clone)]
struct Stream {
    /// Where its events are in the log, in stream order.
    positions: Vector<u64>,
}

impl InMemoryEventStore<Data> {
    /// An empty store of [`Data`] events, with no publisher.
    #[must_use]
    pub fn new() -> Self {
        InMemoryEventStore::default()
    }
}

impl<D: Clone> InMemoryEventStore<D> {
    /// This handle, calling `publisher` with each event it saves, after the
    /// write; other handles (clones made before) keep their own publisher.
    /// The same on every store.
    ///
    /// A publisher is in-process and runs after the commit: it sees only the
    /// saves made through this handle, and nothing written by another
    /// process or while this one was down. Subscriptions read from the
    /// store and are the durable way to follow it.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let store = InMemoryEventStore::new().with_publisher(move |e| {
    ///     log.lock().unwrap().push(e.version());
    ///     Ok(())
    /// });
    /// store.append("s", &vector![Event::new("A"), Event::new("B")], ExpectedVersion::Any)?;
    /// assert_eq!(*seen.lock().unwrap(), [1, 2]);
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    #[must_use]
    pub fn with_publisher<F>(mut self, publisher: F) -> Self
    where
        F: Fn(&Event<D>) -> Result<(), PublishError> + Send + Sync + 'static,
    {
        self.publisher = Some(Arc::new(publisher));
        self
    }

    /// This handle, reading every event through `upcasters`: an event whose
    /// payload version is older than its type's current one is written as
    /// JSON, upcast and decoded again, in every read (see
    /// [`upcast`](crate::upcast)); the store keeps the values as saved.
    /// Other handles keep their own. The same on every store.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::serde_json::json;
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore, Upcasters};
    ///
    /// let store = InMemoryEventStore::new();
    /// store.append("s", &vector![Event::new("Paid").with_entry("amount", 5)], ExpectedVersion::Any)?;
    /// let upcasting = store.clone().with_upcasters(Upcasters::new().on("Paid", 1, |v| json!({"cents": v["amount"]})));
    /// assert_eq!(upcasting.events(None, 0)?[0].data()["cents"], 5);
    /// assert_eq!(store.events(None, 0)?[0].data()["amount"], 5);
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    #[must_use]
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self
    where
        D: Serialize + DeserializeOwned + 'static,
    {
        self.upcast = Some(Arc::new(move |event| upcasters.upcast_event(event)));
        self
    }

    fn make() -> Self {
        let hashing = KeyedHashing::new();
        InMemoryEventStore {
            shared: Arc::new(Shared {
                state: RwLock::new(State {
                    snapshot: Arc::new(Snapshot {
                        streams: Streams::with_hasher(hashing),
                        created: Vector::new(),
                        log: Vector::new(),
                    }),
                    event_ids: HashSet::with_hasher(hashing),
                }),
                commits: CommitSignal::default(),
                checkpoints: Mutex::new(std::collections::HashMap::new()),
                read_models: read_model::ReadModels::default(),
                snapshots: Mutex::new(std::collections::HashMap::new()),
            }),
            publisher: None,
            upcast: None,
        }
    }

    /// An event as this handle reads it: through its upcasters, if any.
    /// Time: O(1) for an event at its type's current payload version; else
    /// writing the payload as JSON, the upcasters, and decoding it again.
    fn read_as(&self, event: Event<D>, position: u64) -> Result<Event<D>, StoreError> {
        let Some(upcast) = &self.upcast else {
            return Ok(event);
        };
        let stream_id = event.stream_id().to_string();
        let event_id = event.id();
        upcast(event).map_err(|source| StoreError::Upcast {
            stream_id,
            position: i64::try_from(position).unwrap_or(i64::MAX),
            event_id,
            source,
        })
    }

    /// How many events the store holds. Time: O(1).
    #[must_use]
    pub fn len(&self) -> usize {
        self.snapshot().log.len()
    }

    /// Whether the store holds no events. Time: O(1).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An O(1) snapshot of the store's contents (one reference count).
    fn snapshot(&self) -> Arc<Snapshot<D>> {
        let state = self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        state.snapshot.clone()
    }
}

/// O(1), and clones no event (so it cannot panic).
impl<D> Clone for Snapshot<D> {
    fn clone(&self) -> Self {
        Snapshot {
            streams: self.streams.clone(),
            created: self.created.clone(),
            log: self.log.clone(),
        }
    }
}

impl<D: Clone> Default for InMemoryEventStore<D> {
    fn default() -> Self {
        InMemoryEventStore::make()
    }
}

impl<D> Clone for InMemoryEventStore<D> {
    /// Another handle on the same store. Time: O(1).
    fn clone(&self) -> Self {
        InMemoryEventStore {
            shared: Arc::clone(&self.shared),
            publisher: self.publisher.clone(),
            upcast: self.upcast.clone(),
        }
    }
}

impl<D: Clone> fmt::Debug for InMemoryEventStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("InMemoryEventStore")
            .field("streams", &snapshot.created.len())
            .field("events", &snapshot.log.len())
            .field("publisher", &self.publisher.is_some())
            .field("upcasters", &self.upcast.is_some())
            .finish()
    }
}

impl<D> Snapshot<D> {
    /// The events of stream `stream_id` from the one whose id is `first`'s,
    /// at most `count` of them; none when the stream does not hold it.
    ///
    /// Time: O(log n) to find it when `first` carries its version (as an
    /// aggregate's events do), else O(k log n) for a stream of k events
    /// (searched from its end, where a retry's events usually are); then
    /// O(log n) an event returned.
    fn stored_from(&self, stream_id: &str, first: &Event<D>, count: usize) -> Vec<Event<D>>
    where
        D: Clone,
    {
        let Some(stream) = self.streams.get(stream_id) else {
            return Vec::new();
        };
        let holds = |index: usize| {
            stream
                .positions
                .get(index)
                .and_then(|&p| self.log.get(p as usize))
                .is_some_and(|e| e.id() == first.id())
        };
        let hinted = usize::try_from(first.version())
            .ok()
            .and_then(|v| v.checked_sub(1))
            .filter(|&index| holds(index));
        let Some(start) = hinted.or_else(|| {
            (0..stream.positions.len())
                .rev()
                .find(|&index| holds(index))
        }) else {
            return Vec::new();
        };
        stream
            .positions
            .iter()
            .skip(start)
            .take(count)
            .filter_map(|&p| self.log.get(p as usize).map(|e| Event::clone(e)))
            .collect()
    }

    /// Appends `batch` (the store's own copies of the events) to the stream
    /// `name` (created when new), in place: nodes shared with a reader's
    /// snapshot are copied first, which clones pointers only, so this never
    /// panics (but for running out of memory, which aborts).
    ///
    /// Time: O(b log n) for b events.
    fn append(&mut self, name: &Name, batch: Vec<Arc<Event<D>>>) {
        let Some(first) = batch.first() else {
            return;
        };
        let start = self.log.len() as u64;
        let positions = start..start + batch.len() as u64;
        match self.streams.get_mut(name) {
            Some(stream) => stream.positions.extend(positions),
            None => {
                self.created.push_back((name.clone(), first.timestamp()));
                self.streams.insert(
                    name.clone(),
                    Stream {
                        positions: positions.collect(),
                    },
                );
            }
        }
        self.log.extend(batch);
    }
}

/// Saving requires `D: Serialize`: the store checks each payload by the
/// rule of [`admission`](super::admission), as the stores that write JSON
/// do, so that every store accepts the same events (it never writes the
/// payload anywhere).
impl<D: Clone + Serialize + Send + Sync> EventStore<D> for InMemoryEventStore<D> {
    /// As [`EventStore::append`]; all or nothing even when cloning a
    /// payload panics (the panic reaches the caller, and the store is as it
    /// was).
    ///
    /// # Errors
    ///
    /// As [`EventStore::append`]; a backend error never.
    fn append(
        &self,
        stream_id: &str,
        events: &Vector<Event<D>>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Event<D>>, StoreError> {
        let (stored, last) = {
            // Every payload clone (which may panic) is made before the state
            // is touched, and what changes it after clones only pointers
            // (below). So a writer that panicked while holding the lock (a
            // payload's clone or `Serialize` may) left the state exactly as
            // it was, and the data of a poisoned lock is consistent: taking
            // it with `into_inner` is sound.
            let mut guard = self
                .shared
                .state
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let state = &mut *guard;
            let snapshot = &state.snapshot;
            let existing = snapshot.streams.get(stream_id);
            let current = existing.map_or(0, |s| s.positions.len() as u64);
            let name = existing
                .and_then(|s| s.positions.front())
                .and_then(|&p| snapshot.log.get(p as usize))
                .map_or_else(|| Name::from(stream_id), |e| e.stream_id_name().clone());
            admit(stream_id, events)?;
            if let Some(first) = events
                .front()
                .filter(|e| state.event_ids.contains(&e.id().as_u128()))
            {
                // A retry of a save that happened, or a mistake: judged
                // under the lock, and nothing is written or published.
                // Compared as stored, not upcast.
                let kept = snapshot.stored_from(stream_id, first, events.len());
                return check_retry(stream_id, events, expected, kept);
            }
            let stored = place(stream_id, &name, events, expected, current)?;
            check_unique_ids(&state.event_ids, &stored)?;
            if stored.is_empty() {
                return Ok(stored);
            }

            // Everything is checked. Make the store's own copies of the
            // events first (this clones payloads, and may panic: nothing is
            // changed yet) ...
            let copies: Vec<Arc<Event<D>>> = stored.iter().cloned().map(Arc::new).collect();
            state.event_ids.reserve(stored.len());
            // ... then add them: in place when no reader holds the snapshot,
            // else beside it, copying only the nodes that change (pointers,
            // never events). Neither step can panic, nor can inserting into
            // reserved room, so the batch is added whole. Nothing the store
            // held is dropped here (a payload's drop runs no code under the
            // lock): a reader's snapshot is dropped by that reader.
            let snapshot = Arc::make_mut(&mut state.snapshot);
            snapshot.append(&name, copies);
            state
                .event_ids
                .extend(stored.iter().map(|e| e.id().as_u128()));
            (stored, snapshot.log.len() as u64)
        };
        self.shared.commits.publish(last);
        publish_all(self.publisher.as_ref(), &stored);
        Ok(stored)
    }

    fn events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event<D>>, StoreError> {
        let snapshot = self.snapshot();
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let Some(stream_id) = stream_id else {
            if start >= snapshot.log.len() {
                return Ok(Vec::new());
            }
            return snapshot
                .log
                .skip(start)
                .iter()
                .zip(start as u64 + 1..)
                .map(|(event, position)| self.read_as(Event::clone(event), position))
                .collect();
        };
        let Some(stream) = snapshot.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        // A focus remembers the chunk it last read: a stream's events sit
        // close together in the log (a batch is contiguous), so reading them
        // in order costs O(1) each rather than a walk from the root.
        let mut focus = snapshot.log.focus();
        let mut events = Vec::with_capacity(stream.positions.len().saturating_sub(start));
        for &position in stream.positions.iter().skip(start) {
            if let Some(event) = focus.get(position as usize) {
                events.push(self.read_as(Event::clone(event), position + 1)?);
            }
        }
        Ok(events)
    }

    /// As [`EventStore::read_all`]. Time: O(log n + limit), on an O(1)
    /// snapshot taken under the read lock, which is released before the
    /// events are cloned.
    ///
    /// # Errors
    ///
    /// [`StoreError::Upcast`] through the handle's upcasters; else never.
    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded<D>>, StoreError> {
        let snapshot = self.snapshot();
        let Ok(after) = usize::try_from(after) else {
            return Ok(Vec::new());
        };
        if after >= snapshot.log.len() || limit == 0 {
            return Ok(Vec::new());
        }
        // The log's index i holds the event at position i + 1.
        snapshot
            .log
            .skip(after)
            .iter()
            .take(limit)
            .zip(after as u64 + 1..)
            .map(|(event, position)| {
                Ok(Recorded {
                    position,
                    event: self.read_as(Event::clone(event), position)?,
                })
            })
            .collect()
    }

    /// As [`EventStore::read_stream`]. Time: O((log n + limit) log n), on
    /// an O(1) snapshot.
    ///
    /// # Errors
    ///
    /// [`StoreError::Upcast`] through the handle's upcasters; else never.
    fn read_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded<D>>, StoreError> {
        let snapshot = self.snapshot();
        let Some(stream) = snapshot.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        let after = usize::try_from(after).unwrap_or(usize::MAX);
        let mut focus = snapshot.log.focus();
        let mut page = Vec::with_capacity(limit.min(stream.positions.len().saturating_sub(after)));
        for &index in stream.positions.iter().skip(after).take(limit) {
            if let Some(event) = focus.get(index as usize) {
                page.push(Recorded {
                    position: index + 1,
                    event: self.read_as(Event::clone(event), index + 1)?,
                });
            }
        }
        Ok(page)
    }

    /// As [`EventStore::read_stream_events`], built straight from the log:
    /// each event cloned once into the vector. Time: O(log n + limit) on
    /// an O(1) snapshot (a stream's events sit close together in the log).
    ///
    /// # Errors
    ///
    /// [`StoreError::Upcast`] through the handle's upcasters; else never.
    fn read_stream_events(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vector<Event<D>>, StoreError> {
        let snapshot = self.snapshot();
        let Some(stream) = snapshot.streams.get(stream_id) else {
            return Ok(Vector::new());
        };
        let after = usize::try_from(after).unwrap_or(usize::MAX);
        let mut focus = snapshot.log.focus();
        let mut events = Vector::new();
        let positions = stream.positions.iter().skip(after).take(limit);
        if self.upcast.is_none() {
            // Nothing to read through: each event cloned straight in.
            for &index in positions {
                if let Some(event) = focus.get(index as usize) {
                    events.push_back(Event::clone(event));
                }
            }
            return Ok(events);
        }
        for &index in positions {
            if let Some(event) = focus.get(index as usize) {
                events.push_back(self.read_as(Event::clone(event), index + 1)?);
            }
        }
        Ok(events)
    }

    fn last_event(&self, stream_id: &str) -> Result<Option<Event<D>>, StoreError> {
        let snapshot = self.snapshot();
        snapshot
            .streams
            .get(stream_id)
            .and_then(|stream| stream.positions.back())
            .and_then(|&p| Some((p + 1, Event::clone(snapshot.log.get(p as usize)?))))
            .map(|(position, event)| self.read_as(event, position))
            .transpose()
    }

    fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
        let snapshot = self.snapshot();
        Ok(snapshot
            .created
            .iter()
            .enumerate()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .map(|(number, (name, timestamp))| StreamInfo {
                number: number as u64,
                stream_id: name.to_string(),
                timestamp: *timestamp,
            })
            .collect())
    }

    /// As [`EventStore::wait_for_commit`]: a condition variable that every
    /// save on this store (any handle) wakes after its write. Time: O(1)
    /// when an event is there; otherwise the wait.
    ///
    /// # Errors
    ///
    /// Never.
    fn wait_for_commit(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        Ok(self.shared.commits.wait_after(after, timeout))
    }

    /// As [`EventStore::checkpoint`], kept in memory with the events.
    /// Time: O(1).
    ///
    /// # Errors
    ///
    /// Never.
    fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        if !may_name_a_checkpoint(name) {
            return Ok(0);
        }
        let checkpoints = self
            .shared
            .checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(checkpoints.get(name).copied().unwrap_or(0))
    }

    /// As [`EventStore::save_checkpoint`], kept in memory with the events.
    /// Time: O(1).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidCheckpoint`].
    fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        check_checkpoint(name, position)?;
        self.shared
            .checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), position);
        Ok(())
    }

    /// As [`EventStore::save_snapshot`]: kept in a map beside the events,
    /// for as long as the store. Time: O(log s) for s snapshots of the
    /// stream and kind, plus a clone of the state's text.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidStreamId`] as [`EventStore::save_snapshot`].
    fn save_snapshot(&self, snapshot: &StateSnapshot) -> Result<(), StoreError> {
        snapshot::check_names(snapshot)?;
        self.shared
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((snapshot.stream_id.clone(), snapshot.kind.clone()))
            .or_default()
            .insert(snapshot.version, snapshot.clone());
        Ok(())
    }

    /// As [`EventStore::latest_snapshot`]. Time: O(log s) plus the
    /// snapshots of other shapes skipped, plus a clone of the state's text.
    ///
    /// # Errors
    ///
    /// Never.
    fn latest_snapshot(
        &self,
        stream_id: &str,
        kind: &str,
        snapshot_version: u32,
        max_version: u64,
    ) -> Result<Option<StateSnapshot>, StoreError> {
        let snapshots = self
            .shared
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(snapshots
            .get(&(stream_id.to_string(), kind.to_string()))
            .and_then(|by_version| {
                by_version
                    .range(..=max_version)
                    .rev()
                    .map(|(_, s)| s)
                    .find(|s| s.snapshot_version == snapshot_version)
                    .cloned()
            }))
    }
}

/// Refuses a batch with an id already stored or given twice.
///
/// Time: O(b) hash look-ups for a batch of b, plus, to find an id given
/// twice, O(b²) comparisons for a batch of at most [`SMALL_BATCH`] (no
/// allocation) or O(b) hash insertions for a larger one.
fn check_unique_ids<D>(
    stored_ids: &HashSet<u128, KeyedHashing>,
    batch: &[Event<D>],
) -> Result<(), StoreError> {
    let duplicate = |event: &Event<D>| StoreError::DuplicateEvent {
        event_id: event.id(),
    };
    if batch.len() <= SMALL_BATCH {
        for (index, event) in batch.iter().enumerate() {
            if stored_ids.contains(&event.id().as_u128())
                || batch[..index].iter().any(|e| e.id() == event.id())
            {
                return Err(duplicate(event));
            }
        }
        return Ok(());
    }
    let mut in_batch = HashSet::with_capacity_and_hasher(batch.len(), *stored_ids.hasher());
    for event in batch {
        let id = event.id().as_u128();
        if stored_ids.contains(&id) || !in_batch.insert(id) {
            return Err(duplicate(event));
        }
    }
    Ok(())
}

/// The largest batch whose ids are checked against each other pairwise.
const SMALL_BATCH: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use imbl::vector;

    #[test]
    fn a_reader_snapshot_is_not_disturbed_by_later_writes() {
        let store = InMemoryEventStore::new();
        store
            .append("a", &vector![Event::new("X")], ExpectedVersion::NoStream)
            .unwrap();
        let before = store.snapshot();
        store
            .append("a", &vector![Event::new("Y")], ExpectedVersion::Exact(1))
            .unwrap();
        assert_eq!(before.log.len(), 1);
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn a_duplicate_event_id_is_refused_and_nothing_is_written() {
        let store = InMemoryEventStore::new();
        let event = Event::new("X");
        store
            .append("a", &vector![event.clone()], ExpectedVersion::Any)
            .unwrap();
        let err = store
            .append(
                "b",
                &vector![Event::new("Y"), event.clone()],
                ExpectedVersion::Any,
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::DuplicateEvent { event_id } if event_id == event.id()));
        assert_eq!(store.len(), 1);
        assert!(store.streams(0).unwrap().len() == 1);
    }

    #[test]
    fn an_id_given_twice_is_refused_in_a_small_and_a_large_batch() {
        for size in [2, SMALL_BATCH, SMALL_BATCH + 1, 100] {
            let store = InMemoryEventStore::new();
            let mut batch: Vector<Event> = (0..size).map(|_| Event::new("X")).collect();
            let twice = batch[0].clone();
            batch.set(size - 1, twice.clone());
            let err = store.append("a", &batch, ExpectedVersion::Any).unwrap_err();
            assert!(
                matches!(err, StoreError::DuplicateEvent { event_id } if event_id == twice.id()),
                "batch of {size}"
            );
            assert!(store.is_empty());
            batch.set(size - 1, Event::new("X"));
            assert_eq!(
                store
                    .append("a", &batch, ExpectedVersion::Any)
                    .unwrap()
                    .len(),
                size
            );
            let again: Vector<Event> = (0..size)
                .map(|i| {
                    if i == size - 1 {
                        twice.clone()
                    } else {
                        Event::new("Y")
                    }
                })
                .collect();
            assert!(matches!(
                store.append("b", &again, ExpectedVersion::Any),
                Err(StoreError::DuplicateEvent { event_id }) if event_id == twice.id()
            ));
            assert_eq!(store.len(), size);
        }
    }

    #[test]
    fn a_save_changes_the_store_in_place_only_when_no_reader_holds_it() {
        let store = InMemoryEventStore::new();
        store
            .append("a", &vector![Event::new("X")], ExpectedVersion::Any)
            .unwrap();
        let held = store.snapshot();
        store
            .append("a", &vector![Event::new("Y")], ExpectedVersion::Exact(1))
            .unwrap();
        // The reader's snapshot is as it was; the store's is another.
        assert_eq!((held.log.len(), held.streams["a"].positions.len()), (1, 1));
        let now = store.snapshot();
        assert!(!Arc::ptr_eq(&held, &now));
        assert_eq!((now.log.len(), now.streams["a"].positions.len()), (2, 2));
        drop((held, now));
        // With no reader left, the next save keeps the same snapshot.
        let before = Arc::as_ptr(&store.snapshot());
        store
            .append("b", &vector![Event::new("Z")], ExpectedVersion::Any)
            .unwrap();
        assert_eq!(Arc::as_ptr(&store.snapshot()), before);
        assert_eq!(store.events(None, 0).unwrap().len(), 3);
        assert_eq!(store.streams(0).unwrap().len(), 2);
    }

    #[test]
    fn id_hashing_depends_on_every_bit_and_its_keys() {
        let a = KeyedHashing::new();
        let b = KeyedHashing::new();
        let id = 0x0123_4567_89ab_cdef_0011_2233_4455_6677_u128;
        assert_ne!(a.hash_one(id), a.hash_one(id ^ 1));
        assert_ne!(a.hash_one(id), a.hash_one(id ^ (1 << 127)));
        assert_eq!(a.hash_one(id), a.hash_one(id));
        assert_ne!(a.hash_one(id), b.hash_one(id));
    }

    #[test]
    fn a_wrong_event_version_is_refused() {
        let store = InMemoryEventStore::new();
        let err = store
            .append(
                "a",
                &vector![Event::new("X").with_version(3)],
                ExpectedVersion::Any,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::EventVersion {
                expected: 1,
                found: 3,
                ..
            }
        ));
        assert!(store.is_empty());
    }

    #[test]
    fn the_store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<InMemoryEventStore>();
    }
}
