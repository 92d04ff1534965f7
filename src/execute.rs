//! Decide, then evolve: a repository runs a pure decision against an
//! aggregate's current state and saves the events it returns, retrying on
//! version conflicts.

mod error;

use crate::aggregate::Aggregate;
use crate::aggregate_id::AggregateId;
use crate::aggregate_kind::AggregateKind;
use crate::event::Event;
use crate::repository::{LoadError, Repository};
use crate::store::StoreError;

pub use error::ExecuteError;

impl<D: Clone> Repository<D> {
    /// Loads the aggregate of `kind` with id `id` (a UUID or its text), runs `decide` on it,
    /// applies the events it returns and saves them; returns the saved
    /// aggregate, its new events committed as stored.
    ///
    /// An id with no stored events is a new aggregate: `decide` sees the
    /// kind's initial state at version 0, and the save expects no stream.
    /// A decision that returns no events saves nothing, and the aggregate
    /// comes back as loaded (for a new one: version 0, not stored).
    ///
    /// `decide` is the domain's decision: a **pure** function of the
    /// aggregate (and of whatever command it captured) to events, or to the
    /// domain's own error `E`. It is `Fn` because it may run several times:
    /// once per attempt, each time on a freshly loaded aggregate. It must
    /// not write anywhere or depend on anything but its inputs; its events
    /// get fresh ids on each attempt.
    ///
    /// **Retries.** On [`StoreError::VersionConflict`] (another writer saved
    /// to the stream since the load) it loads, decides and saves again, up
    /// to [`max_attempts`](Repository::max_attempts) attempts in all (set
    /// with [`Repository::with_max_attempts`]). On
    /// [`StoreError::OutcomeUnknown`] it saves the very same batch once
    /// more (the same events, ids, versions and expectation): stores treat
    /// that as a retry ([`Repository::save`]), so the batch is
    /// stored exactly once whether or not the first save wrote it. If that
    /// second save meets a version conflict, the first did not write, and
    /// the decision goes on to its next attempt; if it fails otherwise, its
    /// error is returned. No other error is retried.
    ///
    /// Time per attempt: one read of the stream (O(k) for k events, plus the
    /// evolve functions), the decision, and one save.
    ///
    /// # Errors
    ///
    /// - [`ExecuteError::InvalidId`]: `id` is text that is not a UUID;
    ///   nothing was read or decided.
    /// - [`ExecuteError::Domain`]: `decide` returned the domain's error,
    ///   given back untouched; nothing was saved.
    /// - [`ExecuteError::Conflict`]: every attempt met a version conflict;
    ///   nothing was saved.
    /// - [`ExecuteError::Store`]: loading or saving failed. Nothing was
    ///   saved, except for [`StoreError::OutcomeUnknown`] (returned when the
    ///   re-save of the same batch was unknown too): then the batch is
    ///   either wholly stored or wholly absent.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{AggregateKind, Event, EventType, ExecuteError, InMemoryEventStore, Repository};
    ///
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// enum CounterEvent { Incremented }
    /// impl EventType for CounterEvent {
    ///     fn event_type(&self) -> &'static str {
    ///         match self { CounterEvent::Incremented => "Incremented" }
    ///     }
    /// }
    /// #[derive(Debug, PartialEq)]
    /// struct TooMany;
    ///
    /// let counter = AggregateKind::evolving("Counter", 0_u32, |n, event: &Event<CounterEvent>| {
    ///     match event.data() { CounterEvent::Incremented => n + 1 }
    /// });
    /// let increment = |c: &dvent::Aggregate<u32, CounterEvent>| {
    ///     if *c.state() >= 2 { Err(TooMany) } else { Ok([Event::of(CounterEvent::Incremented)]) }
    /// };
    ///
    /// let repo = Repository::new(InMemoryEventStore::<CounterEvent>::default());
    /// let id = dvent::uuid::Uuid::new_v4();
    /// assert_eq!(repo.execute(&counter, id, increment)?.version(), 1);
    /// let saved = repo.execute(&counter, id, increment)?;
    /// assert_eq!((saved.version(), *saved.state()), (2, 2));
    /// let refused = repo.execute(&counter, id, increment).unwrap_err();
    /// assert_eq!(refused.domain(), Some(&TooMany));
    /// # Ok::<(), ExecuteError<TooMany>>(())
    /// ```
    pub fn execute<S, E, I, F>(
        &self,
        kind: &AggregateKind<S, D>,
        id: impl AggregateId,
        decide: F,
    ) -> Result<Aggregate<S, D>, ExecuteError<E>>
    where
        S: Clone,
        I: IntoIterator<Item = Event<D>>,
        F: Fn(&Aggregate<S, D>) -> Result<I, E>,
    {
        let id = id.to_uuid()?;
        let attempts = self.max_attempts().max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self
                .load(kind, id)
                .map_err(|error| match error {
                    LoadError::Store(error) => ExecuteError::Store(error),
                    LoadError::InvalidId(error) => ExecuteError::InvalidId(error),
                })?
                .unwrap_or_else(|| Aggregate::with_uuid(kind, id));
            let events = decide(&current).map_err(ExecuteError::Domain)?;
            let next = current.apply_all(events);
            let conflict = match self.save(&next) {
                Ok(saved) => return Ok(saved),
                Err(conflict @ StoreError::VersionConflict { .. }) => conflict,
                Err(StoreError::OutcomeUnknown { .. }) => match self.save(&next) {
                    Ok(saved) => return Ok(saved),
                    Err(conflict @ StoreError::VersionConflict { .. }) => conflict,
                    Err(other) => return Err(ExecuteError::Store(other)),
                },
                Err(other) => return Err(ExecuteError::Store(other)),
            };
            if attempt >= attempts {
                return Err(ExecuteError::Conflict {
                    attempts: attempt,
                    source: conflict,
                });
            }
            log::debug!(
                "execute on stream {id}: version conflict on attempt {attempt} of {attempts}, retrying"
            );
        }
    }
}
