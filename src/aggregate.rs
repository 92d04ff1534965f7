//! Aggregates: entities with an identity, a kind and an ordered series of
//! events, whose state is folded from those events.

use std::fmt;
use std::hash::{Hash, Hasher};

use imbl::Vector;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::aggregate_id::{AggregateError, AggregateId};
use crate::aggregate_kind::AggregateKind;
use crate::data::Data;
use crate::event::Event;

/// An entity with identity, a kind and an ordered, consistent series of
/// events. It collects the events it produces but does not persist them (a
/// [`Repository`](crate::Repository) does).
///
/// An aggregate is an immutable value: [`apply`](Aggregate::apply) and
/// [`apply_all`](Aggregate::apply_all) borrow it and return a new aggregate,
/// and the other changing methods take it by value and return a new one.
/// Cloning is cheap (the events are persistent [`imbl::Vector`]s and the kind
/// is shared), and a clone is never affected by what is done to another:
/// keep a clone to keep a version.
///
/// Versions are kept as the events are applied, never recomputed from the
/// event lists, so applying one event is O(1) amortised plus the apply
/// function's cost, and folding n events is O(n).
///
/// Two aggregates are equal when their ids, kind names, events and states
/// are.
///
/// # Example
///
/// ```
/// use dvent::{Aggregate, AggregateKind, Event};
///
/// let todo = AggregateKind::new("Todo").on("TodoAdded", |state, event| {
///     state.update("description", event.data()["description"].clone())
/// });
/// let a = Aggregate::new(&todo).apply(Event::new("TodoAdded").with_entry("description", "Buy milk"));
/// assert_eq!((a.version(), a.uncommitted_version()), (0, 1));
/// let a = a.mark_committed();
/// assert_eq!((a.version(), a.uncommitted_version()), (1, 1));
/// assert_eq!(a.state()["description"], "Buy milk");
/// ```
pub struct Aggregate<S = Data, D = Data> {
    id: Uuid,
    kind: AggregateKind<S, D>,
    events: Vector<Event<D>>,
    uncommitted_events: Vector<Event<D>>,
    state: S,
    /// The version of the last committed event (kept so that reading it is
    /// O(1) without walking the vector's tree).
    version: u64,
    /// The version of the last event, committed or not.
    uncommitted_version: u64,
    /// The version the state was rebuilt from before `events` (a snapshot's;
    /// 0 otherwise).
    base: u64,
}

impl<S: Clone, D: Clone> Aggregate<S, D> {
    /// A new aggregate of `kind` with a new id, no events and the kind's
    /// initial state.
    ///
    /// The id is a UUID version 7: the time it was made, in milliseconds,
    /// then random bits (ids made by one process increase). It is as unique
    /// as a random one, and ordered by time, so the stores insert new
    /// streams next to each other in their indexes instead of all over them
    /// (8 threads saving new aggregates to SQLite went 1.5x faster). It
    /// shows when the aggregate was made: for an id that tells nothing, give
    /// a random one, `Aggregate::with_uuid(&kind, Uuid::new_v4())`.
    #[must_use]
    pub fn new(kind: &AggregateKind<S, D>) -> Self {
        Aggregate::with_uuid(kind, Uuid::now_v7())
    }

    /// A new aggregate of `kind` with the given id.
    ///
    /// # Errors
    ///
    /// [`AggregateError::InvalidId`] when `id` is not a UUID.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind};
    /// let kind = AggregateKind::new("Todo");
    /// let a = Aggregate::with_id(&kind, "67e55044-10b1-426f-9247-bb680e5fe0c8")?;
    /// assert_eq!(a.id().to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
    /// assert!(Aggregate::with_id(&kind, "todo-1").is_err());
    /// # Ok::<(), dvent::AggregateError>(())
    /// ```
    pub fn with_id(
        kind: &AggregateKind<S, D>,
        id: impl AggregateId,
    ) -> Result<Self, AggregateError> {
        Ok(Aggregate::with_uuid(kind, id.to_uuid()?))
    }

    /// A new aggregate of `kind` with the given UUID.
    #[must_use]
    pub fn with_uuid(kind: &AggregateKind<S, D>, id: Uuid) -> Self {
        Aggregate {
            id,
            kind: kind.clone(),
            events: Vector::new(),
            uncommitted_events: Vector::new(),
            state: kind.initial_state().clone(),
            version: 0,
            uncommitted_version: 0,
            base: 0,
        }
    }

    /// An aggregate of `kind` whose state at `version` is `state` (as a
    /// snapshot kept it), with no events: fold the events after `version`
    /// onto it.
    pub(crate) fn from_snapshot(
        kind: &AggregateKind<S, D>,
        id: Uuid,
        state: S,
        version: u64,
    ) -> Self {
        Aggregate {
            id,
            kind: kind.clone(),
            events: Vector::new(),
            uncommitted_events: Vector::new(),
            state,
            version,
            uncommitted_version: version,
            base: version,
        }
    }

    /// An aggregate of `kind` with the given id, rebuilt from `events`
    /// applied as committed (how a repository loads one).
    ///
    /// Time: O(n) for n events, plus the apply functions' cost.
    #[must_use]
    pub fn from_events(
        kind: &AggregateKind<S, D>,
        id: Uuid,
        events: impl IntoIterator<Item = Event<D>>,
    ) -> Self {
        Aggregate::with_uuid(kind, id).apply_all_committed(events)
    }

    /// Returns a new aggregate with `event` applied and added to the
    /// uncommitted events; `self` is left as it was (so a notebook cell can
    /// apply to a value another cell made, and keep both).
    ///
    /// The kind's function for the event's type computes the new state (no
    /// function: the state stays). An event whose version is 0 is given
    /// version [`uncommitted_version`](Aggregate::uncommitted_version)` + 1`.
    ///
    /// Time: O(1) to share the original's events and state, then O(1)
    /// amortised plus the apply function's cost on the copy. The new
    /// aggregate's first change to each shared part copies that part's
    /// touched node: the last chunk of the event vector, and for a
    /// persistent state the path to the changed key (a plain `S` is cloned
    /// whole). To apply many events, use [`apply_all`](Aggregate::apply_all),
    /// which shares once and then changes in place.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind, Event};
    ///
    /// let kind = AggregateKind::new("Todo");
    /// let new = Aggregate::new(&kind);
    /// let added = new.apply(Event::new("TodoAdded"));
    /// assert_eq!((new.uncommitted_version(), added.uncommitted_version()), (0, 1));
    /// ```
    #[must_use]
    #[inline]
    pub fn apply(&self, event: Event<D>) -> Self {
        self.clone().apply_as(event, false)
    }

    /// Returns a new aggregate with every event applied in order, as
    /// uncommitted; `self` is left as it was.
    ///
    /// Time: O(1) to share the original, then O(n) for n events plus the
    /// apply functions' cost: the events after the first are applied in
    /// place, as a fold.
    #[must_use]
    pub fn apply_all(&self, events: impl IntoIterator<Item = Event<D>>) -> Self {
        self.clone().apply_all_as(events, false)
    }

    /// Folds `events` into this aggregate as committed (as read back from a
    /// store), in place.
    pub(crate) fn apply_all_committed(self, events: impl IntoIterator<Item = Event<D>>) -> Self {
        self.apply_all_as(events, true)
    }

    /// Folds `events` into this aggregate as committed (as read back from a
    /// store, each with its version), keeping the vector itself as the
    /// committed events: the state is folded over references, and nothing
    /// is pushed (O(1) when the aggregate had no committed events, else an
    /// O(log n) concatenation). Events without a version are given theirs
    /// as [`apply_all_committed`](Aggregate::apply_all_committed) does.
    ///
    /// Time: O(k) for k events, plus the apply functions' cost.
    pub(crate) fn extend_committed(mut self, events: Vector<Event<D>>) -> Self {
        if events.iter().any(|event| event.version() == 0) {
            return self.apply_all_committed(events);
        }
        let mut state = self.state;
        for event in &events {
            state = self.kind.apply_to(state, event);
        }
        self.state = state;
        if let Some(last) = events.last() {
            self.version = last.version();
            if self.uncommitted_events.is_empty() {
                self.uncommitted_version = self.version;
            }
        }
        if self.events.is_empty() {
            self.events = events;
        } else {
            self.events.append(events);
        }
        self
    }

    /// Folds `events` in, in place: the state is moved out once and each
    /// event moves only the state and the event itself.
    fn apply_all_as(mut self, events: impl IntoIterator<Item = Event<D>>, committed: bool) -> Self {
        let mut state = self.state;
        for event in events {
            let event = if event.version() == 0 {
                event.with_version(self.uncommitted_version + 1)
            } else {
                event
            };
            state = self.kind.apply_to(state, &event);
            let event_version = event.version();
            if committed {
                self.events.push_back(event);
                self.version = event_version;
                if self.uncommitted_events.is_empty() {
                    self.uncommitted_version = event_version;
                }
            } else {
                self.uncommitted_events.push_back(event);
                self.uncommitted_version = event_version;
            }
        }
        self.state = state;
        self
    }

    #[inline]
    fn apply_as(self, event: Event<D>, committed: bool) -> Self {
        self.apply_all_as(std::iter::once(event), committed)
    }

    /// Returns the aggregate with all uncommitted events moved to the end of
    /// the committed events, leaving none uncommitted.
    ///
    /// Time: O(log n) (persistent vectors are concatenated, not copied).
    #[must_use]
    pub fn mark_committed(mut self) -> Self {
        let uncommitted = std::mem::take(&mut self.uncommitted_events);
        self.events.append(uncommitted);
        self.version = self.uncommitted_version;
        self
    }

    /// Returns the aggregate with its uncommitted events replaced by
    /// `stored`, committed: the events as a store saved them (with their
    /// stream id).
    pub(crate) fn committed_as(mut self, stored: Vec<Event<D>>) -> Self {
        self.uncommitted_events = Vector::new();
        self.events.extend(stored);
        self.version = self.events.last().map_or(self.version, Event::version);
        self.uncommitted_version = self.version;
        self
    }
}

impl<S, D> Aggregate<S, D> {
    /// The aggregate's id.
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The name of the aggregate's kind, such as `Todo`.
    #[must_use]
    pub fn aggregate_type(&self) -> &str {
        self.kind.name()
    }

    /// The aggregate's kind.
    #[must_use]
    pub fn kind(&self) -> &AggregateKind<S, D> {
        &self.kind
    }

    /// The committed events, in order: all of them, or for an aggregate
    /// loaded from a snapshot (see
    /// [`AggregateKind::with_snapshots`](crate::AggregateKind::with_snapshots))
    /// only those after it, from version
    /// [`base_version`](Aggregate::base_version)` + 1`; its
    /// [`version`](Aggregate::version) and state are exact all the same.
    #[must_use]
    pub fn events(&self) -> &Vector<Event<D>> {
        &self.events
    }

    /// The version the aggregate's state was rebuilt from before its
    /// [`events`](Aggregate::events): the snapshot's when it was loaded from
    /// one, else 0. So `events()[i]` is version `base_version() + i + 1`.
    ///
    /// Time: O(1).
    #[must_use]
    pub fn base_version(&self) -> u64 {
        self.base
    }

    /// The events applied but not yet committed, in order.
    #[must_use]
    pub fn uncommitted_events(&self) -> &Vector<Event<D>> {
        &self.uncommitted_events
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The version of the last committed event; 0 when there is none.
    ///
    /// Time: O(1).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The version of the last event, committed or not; 0 when there is
    /// none.
    ///
    /// Time: O(1).
    #[must_use]
    pub fn uncommitted_version(&self) -> u64 {
        self.uncommitted_version
    }
}

impl<S: Clone, D: Clone> Clone for Aggregate<S, D> {
    fn clone(&self) -> Self {
        Aggregate {
            id: self.id,
            kind: self.kind.clone(),
            events: self.events.clone(),
            uncommitted_events: self.uncommitted_events.clone(),
            state: self.state.clone(),
            version: self.version,
            uncommitted_version: self.uncommitted_version,
            base: self.base,
        }
    }
}

impl<S: PartialEq, D: PartialEq + Clone> PartialEq for Aggregate<S, D> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.kind == other.kind
            && self.state == other.state
            && self.events == other.events
            && self.uncommitted_events == other.uncommitted_events
    }
}

impl<S: Eq, D: Eq + Clone> Eq for Aggregate<S, D> {}

impl<S: Hash, D: Hash + Clone> Hash for Aggregate<S, D> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
        self.kind.name().hash(state);
        self.state.hash(state);
        self.events.hash(state);
        self.uncommitted_events.hash(state);
    }
}

impl<S: fmt::Debug, D: fmt::Debug + Clone> fmt::Debug for Aggregate<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregate")
            .field("id", &self.id)
            .field("type", &self.aggregate_type())
            .field("version", &self.version())
            .field("uncommitted_version", &self.uncommitted_version())
            .field("state", &self.state)
            .field("events", &self.events)
            .field("uncommitted_events", &self.uncommitted_events)
            .finish()
    }
}

/// Serialises as `{id, type, version, uncommitted_version, state, events,
/// uncommitted_events}` (for display and export; an aggregate is rebuilt from
/// its events, not deserialised).
impl<S: Serialize, D: Serialize + Clone> Serialize for Aggregate<S, D> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut s = serializer.serialize_struct("Aggregate", 7)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("type", self.aggregate_type())?;
        s.serialize_field("version", &self.version())?;
        s.serialize_field("uncommitted_version", &self.uncommitted_version())?;
        s.serialize_field("state", &self.state)?;
        s.serialize_field("events", &self.events)?;
        s.serialize_field("uncommitted_events", &self.uncommitted_events)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> AggregateKind {
        AggregateKind::new("Counter").on("Incremented", |state, _event| {
            let n = state.get_u64("n").unwrap_or(0);
            state.update("n", n + 1)
        })
    }

    #[test]
    fn a_new_aggregate_has_its_values() {
        let a = Aggregate::new(&counter());
        assert_eq!(a.id().get_version_num(), 7, "time-ordered");
        assert_eq!(a.aggregate_type(), "Counter");
        assert!(a.events().is_empty() && a.uncommitted_events().is_empty());
        assert!(a.state().is_empty());
        assert_eq!((a.version(), a.uncommitted_version()), (0, 0));
    }

    #[test]
    fn an_invalid_id_is_a_typed_error_naming_the_text() {
        let err = Aggregate::with_id(&counter(), "not-a-uuid").unwrap_err();
        assert!(matches!(&err, AggregateError::InvalidId { given, .. } if given == "not-a-uuid"));
        assert!(
            err.to_string()
                .starts_with("aggregate id should be a UUID, found \"not-a-uuid\"")
        );
    }

    #[test]
    fn applying_leaves_a_kept_clone_unchanged() {
        let a = Aggregate::new(&counter()).apply(Event::new("Incremented"));
        let kept = a.clone();
        let b = a.apply(Event::new("Incremented")).mark_committed();
        assert_eq!(kept.uncommitted_version(), 1);
        assert_eq!(kept.state()["n"], 1);
        assert_eq!(b.version(), 2);
        assert_eq!(b.state()["n"], 2);
    }

    #[test]
    fn an_event_with_a_version_keeps_it() {
        let a = Aggregate::from_events(
            &counter(),
            Uuid::new_v4(),
            [Event::new("Incremented").with_version(7)],
        );
        assert_eq!(a.version(), 7);
        let a = a.apply(Event::new("Incremented"));
        assert_eq!(a.uncommitted_version(), 8);
    }

    #[test]
    fn from_events_applies_them_as_committed() {
        let events = (0..3).map(|_| Event::new("Incremented"));
        let a = Aggregate::from_events(&counter(), Uuid::new_v4(), events);
        assert_eq!(a.version(), 3);
        assert!(a.uncommitted_events().is_empty());
        assert_eq!(a.state()["n"], 3);
    }
}
