//! Repositories: load and save aggregates through an event store.

use std::fmt;
use std::sync::Arc;

mod error;
mod rebuild;

use crate::aggregate::Aggregate;
use crate::aggregate_id::AggregateId;
use crate::aggregate_kind::AggregateKind;
use crate::data::Data;
use crate::expected_version::ExpectedVersion;
use crate::store::{EventStore, StoreError};

pub use error::LoadError;
pub use rebuild::LOAD_PAGE;

/// Loads aggregates from, and saves them to, an [`EventStore`], so that
/// storage is interchangeable. A stream's id is its aggregate's id as text.
///
/// Cloning a repository is O(1) and shares the store.
///
/// [`Repository::execute`] runs a decision against an aggregate (load,
/// decide, apply, save), retrying on a version conflict up to
/// [`max_attempts`](Repository::max_attempts) times.
///
/// # Example
///
/// ```
/// use dvent::{Aggregate, AggregateKind, Event, InMemoryEventStore, Repository};
///
/// let kind = AggregateKind::new("Todo");
/// let repo = Repository::new(InMemoryEventStore::new());
/// let todo = Aggregate::new(&kind).apply(Event::new("TodoAdded"));
/// let saved = repo.save(&todo)?;
/// assert!(saved.uncommitted_events().is_empty());
///
/// let loaded = repo.load(&kind, todo.id())?.expect("saved above");
/// assert_eq!(loaded, saved);
/// assert!(repo.load(&kind, uuid::Uuid::new_v4())?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Repository<D = Data> {
    store: Arc<dyn EventStore<D>>,
    max_attempts: u32,
}

/// How many times [`Repository::execute`] tries a decision, unless
/// [`Repository::with_max_attempts`] says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

impl<D: Clone> Repository<D> {
    /// A repository over `store`.
    #[must_use]
    pub fn new(store: impl EventStore<D> + 'static) -> Self {
        Repository::from_shared(Arc::new(store))
    }

    /// A repository over a store already shared behind an [`Arc`].
    #[must_use]
    pub fn from_shared(store: Arc<dyn EventStore<D>>) -> Self {
        Repository {
            store,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Returns the repository with `attempts` as the most times
    /// [`Repository::execute`] loads, decides and saves before it gives up
    /// on version conflicts; 0 counts as 1 (one attempt, no retry). The
    /// default is [`DEFAULT_MAX_ATTEMPTS`]; a clone keeps the setting.
    ///
    /// With n writers each executing once on one aggregate, n attempts are
    /// always enough: every conflict means another writer's save succeeded.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The most times [`Repository::execute`] tries a decision (at least 1).
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The store it reads and writes.
    #[must_use]
    pub fn store(&self) -> &dyn EventStore<D> {
        &*self.store
    }

    /// Rebuilds the aggregate of `kind` whose id is `id` (a [`Uuid`] or its
    /// text, see [`AggregateId`]) from its stream, applying its events as
    /// committed, read [`LOAD_PAGE`] at a time
    /// ([`EventStore::read_stream_events`], each page kept as the
    /// aggregate's events, not copied again); `None` when the stream has no
    /// events.
    ///
    /// For a kind with snapshots
    /// ([`AggregateKind::with_snapshots`]), it starts from the latest
    /// snapshot of the kind's snapshot version and folds only the events
    /// after it: the aggregate's [`version`](Aggregate::version) and state
    /// are exact, and its [`events`](Aggregate::events) hold only the
    /// events after the snapshot (from
    /// [`base_version`](Aggregate::base_version)` + 1`). A snapshot that
    /// cannot be used (unreadable, or ahead of the stream) is ignored with
    /// a warning in the log, and the aggregate is folded from its first
    /// event.
    ///
    /// Time: O(k) for the k events folded (all of them, or those after the
    /// snapshot, plus one to check the stream reaches it), plus one
    /// snapshot look-up and the state's JSON reading, plus the apply
    /// functions' cost.
    ///
    /// # Errors
    ///
    /// [`LoadError::InvalidId`] when `id` is text that is not a UUID
    /// (nothing is read), [`LoadError::Store`] for the store's errors.
    ///
    /// [`Uuid`]: uuid::Uuid
    pub fn load<S: Clone>(
        &self,
        kind: &AggregateKind<S, D>,
        id: impl AggregateId,
    ) -> Result<Option<Aggregate<S, D>>, LoadError> {
        let id = id.to_uuid()?;
        self.rebuild(kind, id, rebuild::Until::End)
    }

    /// Saves the aggregate's uncommitted events, expecting its stream to be
    /// at the aggregate's committed version (no stream for version 0), and
    /// returns the aggregate with its events committed, as stored.
    ///
    /// An aggregate with no uncommitted events is returned as it is, and
    /// nothing is written.
    ///
    /// **Safe to retry after any error**, [`StoreError::OutcomeUnknown`]
    /// included: call it again with the same aggregate value. Its
    /// uncommitted events carry their ids, timestamps and versions (given
    /// by [`Aggregate::apply`]), so the retry sends the very same batch
    /// with the same expectation, and the store either finds it stored and
    /// returns it as stored (the idempotent append of
    /// [`EventStore::append`]: written once, published once) or writes
    /// it now; or it reports a real conflict. Time: one save.
    ///
    /// # Errors
    ///
    /// [`StoreError::VersionConflict`] when another writer saved to the
    /// stream since this aggregate was loaded (optimistic concurrency):
    /// nothing is saved; reload and decide again.
    /// [`StoreError::RetryMismatch`] when the aggregate's first uncommitted
    /// event is already stored but its batch is not as stored (an aggregate
    /// changed after a save, say). Other store errors as
    /// [`EventStore::append`].
    ///
    /// For a kind with snapshots, a save that crosses a multiple of the
    /// kind's interval then takes a snapshot of the saved state
    /// ([`AggregateKind::with_snapshots`]); a failure to take it is logged
    /// and never fails the save.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind, Event, EventStore, InMemoryEventStore, Repository};
    ///
    /// let kind = AggregateKind::new("Todo");
    /// let repo = Repository::new(InMemoryEventStore::new());
    /// let todo = Aggregate::new(&kind).apply(Event::new("TodoAdded"));
    /// let saved = repo.save(&todo)?;
    /// // Saved again (as after an error whose outcome was unknown): stored once.
    /// assert_eq!(repo.save(&todo)?, saved);
    /// assert_eq!(repo.store().events(None, 0)?.len(), 1);
    /// # Ok::<(), dvent::StoreError>(())
    /// ```
    pub fn save<S: Clone>(
        &self,
        aggregate: &Aggregate<S, D>,
    ) -> Result<Aggregate<S, D>, StoreError> {
        if aggregate.uncommitted_events().is_empty() {
            return Ok(aggregate.clone());
        }
        let stored = self.store.append(
            &aggregate.id().to_string(),
            aggregate.uncommitted_events(),
            ExpectedVersion::after(aggregate.version()),
        )?;
        let saved = aggregate.clone().committed_as(stored);
        crate::snapshot::after_save(self, aggregate.version(), &saved);
        Ok(saved)
    }
}

impl<D> Clone for Repository<D> {
    fn clone(&self) -> Self {
        Repository {
            store: Arc::clone(&self.store),
            max_attempts: self.max_attempts,
        }
    }
}

impl<D> fmt::Debug for Repository<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Repository { .. }")
    }
}
