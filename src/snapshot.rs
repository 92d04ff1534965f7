//! Snapshots: an aggregate's state at a version, kept beside its events so
//! that loading it folds only the events after the snapshot.
//!
//! A kind opts in with [`AggregateKind::with_snapshots`], which needs a
//! state that serde can write and read (`S: Serialize + DeserializeOwned`)
//! and declares how often to take one and the state's shape (the snapshot
//! version). Then every [`Repository::load`] and [`Repository::execute`]
//! starts from the latest snapshot of that shape, and
//! [`Repository::save`] takes one when a save crosses a multiple of the
//! interval. Nothing else changes: a kind without snapshots, or a store
//! without any, loads as before, from the first event.
//!
//! The policy belongs to the kind rather than to the repository because the
//! kind owns the state's type and shape: the snapshot version changes when
//! the state's type does, in the same place, and one repository serves
//! kinds that snapshot and kinds that do not, with no per-call argument.
//!
//! Snapshots are a cache of what the events say, never a second truth:
//! writing one never fails a save (a failure is logged), and one that
//! cannot be used (another shape, unreadable JSON, a version the stream
//! does not reach) is ignored with a log, and the aggregate is folded from
//! its events.

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aggregate::Aggregate;
use crate::aggregate_kind::AggregateKind;
use crate::repository::Repository;
use crate::store::{EventStore, StoreError};

/// An aggregate's state at a version of its stream, as a store keeps it
/// (see [`EventStore::save_snapshot`]): the state as JSON text, never
/// mixed with the events (the SQL stores: table `dvent_snapshots`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream, which is the aggregate's id as text.
    pub stream_id: String,
    /// The name of the aggregate's kind (two kinds folding one stream keep
    /// their snapshots apart).
    pub kind: String,
    /// The stream's version the state is at (the last event folded).
    pub version: u64,
    /// The shape of the state, as the kind declared it when taking it.
    pub snapshot_version: u32,
    /// The state, as JSON text.
    pub state: String,
    /// When it was taken.
    pub taken_at: Timestamp,
}

/// How a kind takes snapshots: every how many events, the state's shape,
/// and how to write and read the state (set by
/// [`AggregateKind::with_snapshots`], read with
/// [`AggregateKind::snapshot_policy`]). Cloning is O(1).
pub struct SnapshotPolicy<S> {
    every: u64,
    version: u32,
    encode: Encode<S>,
    decode: Decode<S>,
}

/// Writes a state as JSON text.
type Encode<S> = Arc<dyn Fn(&S) -> serde_json::Result<String> + Send + Sync>;

/// Reads a state from JSON text.
type Decode<S> = Arc<dyn Fn(&str) -> serde_json::Result<S> + Send + Sync>;

impl<S> SnapshotPolicy<S> {
    /// How many events between automatic snapshots; 0: only on demand
    /// ([`Repository::save_snapshot`]).
    #[must_use]
    pub fn every(&self) -> u64 {
        self.every
    }

    /// The shape of the state the kind declares: a snapshot of another
    /// shape is ignored.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether a save from version `from` to version `to` takes a snapshot:
    /// it crossed (or reached) a multiple of [`every`](Self::every).
    #[must_use]
    pub fn is_due(&self, from: u64, to: u64) -> bool {
        self.every > 0 && to / self.every > from / self.every
    }

    /// The state as JSON text.
    pub(crate) fn encode(&self, state: &S) -> serde_json::Result<String> {
        (self.encode)(state)
    }

    /// The state from JSON text.
    pub(crate) fn decode(&self, json: &str) -> serde_json::Result<S> {
        (self.decode)(json)
    }
}

impl<S> Clone for SnapshotPolicy<S> {
    fn clone(&self) -> Self {
        SnapshotPolicy {
            every: self.every,
            version: self.version,
            encode: Arc::clone(&self.encode),
            decode: Arc::clone(&self.decode),
        }
    }
}

impl<S> fmt::Debug for SnapshotPolicy<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotPolicy")
            .field("every", &self.every)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<S, D> AggregateKind<S, D>
where
    S: Clone + Serialize + DeserializeOwned + 'static,
{
    /// Returns the kind with snapshots: a [`Repository`] saving one of its
    /// aggregates takes a snapshot of the state whenever the save crosses
    /// a multiple of `every` events (0: never by itself, only with
    /// [`Repository::save_snapshot`]), and loading starts from the latest
    /// snapshot whose shape is `snapshot_version`.
    ///
    /// Raise `snapshot_version` whenever the state's type changes so that
    /// an older snapshot would not read back as the same state: snapshots
    /// of another version are then ignored, and the aggregate is folded
    /// from its events (and snapshotted anew at the next multiple).
    ///
    /// Cost: a snapshot writes the state as JSON (O(size of the state)) and
    /// one row; with snapshots every N events, loading a stream of k events
    /// folds at most N − 1 + (events saved in the last batch) events after
    /// one index look-up, instead of k.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{AggregateKind, Event, InMemoryEventStore, Repository};
    ///
    /// let counter = AggregateKind::evolving("Counter", 0_u64, |n, _event: &Event| n + 1)
    ///     .with_snapshots(100, 1);
    /// let repo = Repository::new(InMemoryEventStore::new());
    /// let id = dvent::uuid::Uuid::new_v4();
    /// for _ in 0..250 {
    ///     repo.execute(&counter, id, |_| Ok::<_, ()>([Event::new("Incremented")]))
    ///         .map_err(|e| format!("{e:?}"))?;
    /// }
    /// let loaded = repo.load(&counter, id)?.expect("saved");
    /// assert_eq!((loaded.version(), *loaded.state()), (250, 250));
    /// // Loaded from the snapshot at version 200: only the 50 events after it.
    /// assert_eq!((loaded.base_version(), loaded.events().len()), (200, 50));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_snapshots(self, every: u64, snapshot_version: u32) -> Self {
        self.with_snapshot_policy(SnapshotPolicy {
            every,
            version: snapshot_version,
            encode: Arc::new(|state: &S| serde_json::to_string(state)),
            decode: Arc::new(|json: &str| serde_json::from_str(json)),
        })
    }
}

/// Why [`Repository::save_snapshot`] took no snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The aggregate's kind has no snapshots
    /// ([`AggregateKind::with_snapshots`]).
    #[error("kind {kind:?} takes no snapshots: give it with_snapshots")]
    NotEnabled {
        /// The kind's name.
        kind: String,
    },
    /// The aggregate has no committed event: there is nothing to keep.
    #[error("the aggregate has no committed event to snapshot")]
    NothingCommitted,
    /// The aggregate has uncommitted events, so its state is not the state
    /// at its committed version: save it first.
    #[error(
        "the aggregate has uncommitted events (versions {version} to {uncommitted_version}): save it first"
    )]
    Uncommitted {
        /// Its committed version.
        version: u64,
        /// The version of its last uncommitted event.
        uncommitted_version: u64,
    },
    /// The state could not be written as JSON.
    #[error("the state cannot be written as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The store could not keep it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<D: Clone> Repository<D> {
    /// Takes a snapshot of `aggregate`'s state at its committed version now
    /// (whatever the kind's interval), replacing any the store keeps for
    /// that kind, stream and version. Time: the state's JSON writing and
    /// one store write.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::NotEnabled`] for a kind without snapshots,
    /// [`SnapshotError::NothingCommitted`] and
    /// [`SnapshotError::Uncommitted`] when its state is not that of a
    /// stored version, [`SnapshotError::Encode`] when serde fails, and
    /// [`SnapshotError::Store`] for the store's errors (as
    /// [`EventStore::save_snapshot`]). Nothing was written.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind, Event, InMemoryEventStore, Repository};
    ///
    /// let counter = AggregateKind::evolving("Counter", 0_u64, |n, _event: &Event| n + 1)
    ///     .with_snapshots(0, 1);
    /// let repo = Repository::new(InMemoryEventStore::new());
    /// let saved = repo.save(&Aggregate::new(&counter).apply_all((0..3).map(|_| Event::new("Incremented"))))?;
    /// repo.save_snapshot(&saved)?;
    /// let loaded = repo.load(&counter, saved.id())?.expect("saved");
    /// assert_eq!((loaded.base_version(), *loaded.state()), (3, 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save_snapshot<S: Clone>(
        &self,
        aggregate: &Aggregate<S, D>,
    ) -> Result<(), SnapshotError> {
        let kind = aggregate.kind();
        let Some(policy) = kind.snapshot_policy() else {
            return Err(SnapshotError::NotEnabled {
                kind: kind.name().to_string(),
            });
        };
        if aggregate.version() == 0 {
            return Err(SnapshotError::NothingCommitted);
        }
        if aggregate.uncommitted_version() != aggregate.version() {
            return Err(SnapshotError::Uncommitted {
                version: aggregate.version(),
                uncommitted_version: aggregate.uncommitted_version(),
            });
        }
        let state = policy
            .encode(aggregate.state())
            .map_err(SnapshotError::Encode)?;
        self.store().save_snapshot(&Snapshot {
            stream_id: aggregate.id().to_string(),
            kind: kind.name().to_string(),
            version: aggregate.version(),
            snapshot_version: policy.version(),
            state,
            taken_at: Timestamp::now(),
        })?;
        Ok(())
    }
}

/// After a save from version `from` to `saved`'s: takes a snapshot when the
/// kind's policy says one is due. Never fails: a failure is logged.
pub(crate) fn after_save<S: Clone, D: Clone>(
    repository: &Repository<D>,
    from: u64,
    saved: &Aggregate<S, D>,
) {
    let due = saved
        .kind()
        .snapshot_policy()
        .is_some_and(|policy| policy.is_due(from, saved.version()));
    if !due {
        return;
    }
    if let Err(error) = repository.save_snapshot(saved) {
        log::warn!(
            target: "dvent::snapshot",
            "no snapshot of {} {} at version {}: {error} (the save stands; loading folds more events)",
            saved.aggregate_type(),
            saved.id(),
            saved.version()
        );
    }
}

/// The latest usable snapshot of stream `stream_id` for `kind` at or below
/// `max_version`, decoded: `None` when there is none, when the kind takes
/// none, or when the one found cannot be used (logged). Store errors other
/// than a corrupt row are returned.
pub(crate) fn usable<S, D>(
    store: &dyn EventStore<D>,
    kind: &AggregateKind<S, D>,
    stream_id: &str,
    max_version: u64,
) -> Result<Option<(u64, S)>, StoreError> {
    let Some(policy) = kind.snapshot_policy() else {
        return Ok(None);
    };
    if max_version == 0 {
        return Ok(None);
    }
    let found = match store.latest_snapshot(stream_id, kind.name(), policy.version(), max_version) {
        Ok(found) => found,
        Err(error @ StoreError::Corrupt { .. }) => {
            log::warn!(
                target: "dvent::snapshot",
                "ignoring the snapshots of {} {stream_id}: {error}; folding its events",
                kind.name()
            );
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let Some(snapshot) = found else {
        return Ok(None);
    };
    if snapshot.version == 0
        || snapshot.version > max_version
        || snapshot.snapshot_version != policy.version()
    {
        log::warn!(
            target: "dvent::snapshot",
            "ignoring the snapshot of {} {stream_id} at version {} (shape {}): not what was asked for",
            kind.name(),
            snapshot.version,
            snapshot.snapshot_version
        );
        return Ok(None);
    }
    match policy.decode(&snapshot.state) {
        Ok(state) => Ok(Some((snapshot.version, state))),
        Err(error) => {
            log::warn!(
                target: "dvent::snapshot",
                "ignoring the snapshot of {} {stream_id} at version {}: its state does not read back ({error}); folding its events",
                kind.name(),
                snapshot.version
            );
            Ok(None)
        }
    }
}

/// Checks a snapshot's stream id and kind name by the rule for stream ids
/// ([`admission::check_name`](crate::store::admission::check_name)), as every
/// store does before keeping it.
pub(crate) fn check_names(snapshot: &Snapshot) -> Result<(), StoreError> {
    for name in [&snapshot.stream_id, &snapshot.kind] {
        crate::store::admission::check_name(name).map_err(|problem| {
            StoreError::InvalidStreamId {
                stream_id: name.chars().take(64).collect(),
                problem,
            }
        })?;
    }
    Ok(())
}

/// Whether a snapshot of `stream_id` for `kind` could be kept: a read of
/// any other finds none.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn may_be_kept(stream_id: &str, kind: &str) -> bool {
    crate::store::admission::check_name(stream_id).is_ok()
        && crate::store::admission::check_name(kind).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_is_due_when_it_crosses_or_reaches_a_multiple() {
        let kind =
            AggregateKind::evolving("C", 0_u64, |n, _e: &crate::Event| n + 1).with_snapshots(10, 1);
        let policy = kind.snapshot_policy().expect("set");
        assert!(!policy.is_due(0, 9));
        assert!(policy.is_due(9, 10));
        assert!(policy.is_due(5, 25));
        assert!(!policy.is_due(10, 19));
        let never =
            AggregateKind::evolving("C", 0_u64, |n, _e: &crate::Event| n + 1).with_snapshots(0, 1);
        assert!(!never.snapshot_policy().expect("set").is_due(0, 1_000));
    }
}
