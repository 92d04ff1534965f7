//! Aggregate kinds: a type name, an initial state, and an evolve function
//! or an apply map.

use std::fmt;
use std::sync::Arc;

use crate::data::Data;
use crate::event::Event;
use crate::name::Name;
use crate::snapshot::SnapshotPolicy;

/// A pure function from a state and an event to the next state.
///
/// It takes the state by value, so a function that changes one key of a
/// persistent map can update it in place when nothing else shares it, and
/// must return the state it wants the aggregate to have next.
pub type ApplyFn<S, D> = Arc<dyn Fn(S, &Event<D>) -> S + Send + Sync>;

/// A kind of aggregate: its type name, its initial state, and how events
/// change the state: one evolve function for every event
/// ([`AggregateKind::evolving`], the typed way), an apply map from event
/// type to [`ApplyFn`] ([`AggregateKind::on`], the sugar for [`Data`]
/// payloads), or both.
///
/// An event type with no function leaves the state as it is. When a kind
/// has both, an event goes through the evolve function first and then
/// through its type's function in the map, if any. Kinds are compared by
/// name. Cloning a kind is O(1): every aggregate of the kind shares it.
///
/// The state type `S` and the payload type `D` default to [`Data`]; use
/// [`AggregateKind::new`] for the dynamic kind and
/// [`AggregateKind::evolving`] or [`AggregateKind::with_initial_state`] for
/// a typed one.
///
/// # Example
///
/// ```
/// use dvent::{Aggregate, AggregateKind, Event};
///
/// let counter = AggregateKind::new("Counter").on("Incremented", |state, event| {
///     let by = event.data()["by"].as_i64().unwrap_or(1);
///     let total = state.get_i64("total").unwrap_or(0);
///     state.update("total", total + by)
/// });
/// let c = Aggregate::new(&counter)
///     .apply(Event::new("Incremented").with_entry("by", 2))
///     .apply(Event::new("Renamed")); // no function: state unchanged
/// assert_eq!(c.state()["total"], 2);
/// assert_eq!(c.uncommitted_version(), 2);
/// ```
pub struct AggregateKind<S = Data, D = Data> {
    inner: Arc<KindInner<S, D>>,
}

struct KindInner<S, D> {
    name: Name,
    initial_state: S,
    /// Called for every event, before the apply map.
    evolve: Option<ApplyFn<S, D>>,
    apply_map: Vec<(Name, ApplyFn<S, D>)>,
    /// How it takes snapshots, if it does.
    snapshots: Option<SnapshotPolicy<S>>,
}

impl AggregateKind<Data, Data> {
    /// A kind with the dynamic [`Data`] state (initially empty) and payload,
    /// and an empty apply map.
    #[must_use]
    pub fn new(name: impl Into<Name>) -> Self {
        AggregateKind::with_initial_state(name, Data::new())
    }
}

impl<S, D> AggregateKind<S, D> {
    /// A kind with a state of any type, starting from `initial_state`, and an
    /// empty apply map.
    #[must_use]
    pub fn with_initial_state(name: impl Into<Name>, initial_state: S) -> Self {
        AggregateKind {
            inner: Arc::new(KindInner {
                name: name.into(),
                initial_state,
                evolve: None,
                apply_map: Vec::new(),
                snapshots: None,
            }),
        }
    }

    /// A kind whose state starts from `initial_state` and goes through
    /// `evolve` for every event, with an empty apply map: the typed
    /// aggregate as one function.
    ///
    /// Write `evolve` as one `match` on the event's payload enum with an arm
    /// per variant and no wildcard arm (`_ =>`): the compiler then reports
    /// any event the function forgets (`E0004`, non-exhaustive patterns).
    /// A variant that should not change the state gets an arm that returns
    /// the state as it is. The function must be pure: it runs whenever an
    /// aggregate is loaded or an event applied, any number of times.
    ///
    /// Time per event: the function's own cost (no lookup).
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind, Event, EventType};
    ///
    /// #[derive(Clone, Debug)]
    /// enum CounterEvent { Incremented { by: i64 }, Reset }
    /// impl EventType for CounterEvent {
    ///     fn event_type(&self) -> &'static str {
    ///         match self {
    ///             CounterEvent::Incremented { .. } => "Incremented",
    ///             CounterEvent::Reset => "Reset",
    ///         }
    ///     }
    /// }
    ///
    /// let counter = AggregateKind::evolving("Counter", 0_i64, |total, event: &Event<CounterEvent>| {
    ///     match event.data() {
    ///         CounterEvent::Incremented { by } => total + by,
    ///         CounterEvent::Reset => 0,
    ///     }
    /// });
    /// let c = Aggregate::new(&counter)
    ///     .apply(Event::of(CounterEvent::Incremented { by: 2 }))
    ///     .apply(Event::of(CounterEvent::Incremented { by: 3 }));
    /// assert_eq!(*c.state(), 5);
    /// assert_eq!(*c.apply(Event::of(CounterEvent::Reset)).state(), 0);
    /// ```
    #[must_use]
    pub fn evolving<F>(name: impl Into<Name>, initial_state: S, evolve: F) -> Self
    where
        F: Fn(S, &Event<D>) -> S + Send + Sync + 'static,
    {
        AggregateKind {
            inner: Arc::new(KindInner {
                name: name.into(),
                initial_state,
                evolve: Some(Arc::new(evolve)),
                apply_map: Vec::new(),
                snapshots: None,
            }),
        }
    }

    /// The kind's type name, such as `Todo`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The state a new aggregate of this kind starts with.
    #[must_use]
    pub fn initial_state(&self) -> &S {
        &self.inner.initial_state
    }

    /// Whether the kind has an evolve function
    /// ([`AggregateKind::evolving`]), called for every event.
    #[must_use]
    pub fn has_evolve(&self) -> bool {
        self.inner.evolve.is_some()
    }

    /// How the kind takes snapshots (see
    /// [`AggregateKind::with_snapshots`]); `None` when it takes none.
    #[must_use]
    pub fn snapshot_policy(&self) -> Option<&SnapshotPolicy<S>> {
        self.inner.snapshots.as_ref()
    }

    /// The event types that have a function in the apply map, in the order
    /// they were added (the evolve function, which takes every type, is not
    /// listed).
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.inner.apply_map.iter().map(|(name, _)| &**name)
    }

    /// Applies the kind's functions for `event` to `state`: the evolve
    /// function if the kind has one, then the apply map's function for the
    /// event's type if it has one; with neither, returns `state` unchanged.
    ///
    /// Time: O(t) to find the function among t event types of the apply map
    /// (a kind has few; none for a kind with no map), plus the functions'
    /// own cost.
    #[must_use]
    pub fn apply_to(&self, state: S, event: &Event<D>) -> S {
        let state = match &self.inner.evolve {
            Some(evolve) => evolve(state, event),
            None => state,
        };
        if self.inner.apply_map.is_empty() {
            return state;
        }
        let event_type = event.event_type_name();
        let found = self
            .inner
            .apply_map
            .iter()
            .find(|(name, _)| Arc::ptr_eq(name, event_type) || **name == **event_type);
        match found {
            Some((_, apply)) => apply(state, event),
            None => state,
        }
    }
}

impl<S: Clone, D> AggregateKind<S, D> {
    /// Returns the kind with `apply` as the function for `event_type`,
    /// replacing any function that type had.
    ///
    /// On a kind with an evolve function ([`AggregateKind::evolving`]),
    /// `apply` runs after it, on the state it returned.
    #[must_use]
    pub fn on<F>(self, event_type: impl Into<Name>, apply: F) -> Self
    where
        F: Fn(S, &Event<D>) -> S + Send + Sync + 'static,
    {
        let event_type = event_type.into();
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => KindInner {
                name: shared.name.clone(),
                initial_state: shared.initial_state.clone(),
                evolve: shared.evolve.clone(),
                apply_map: shared.apply_map.clone(),
                snapshots: shared.snapshots.clone(),
            },
        };
        let mut apply_map = inner.apply_map;
        apply_map.retain(|(name, _)| *name != event_type);
        apply_map.push((event_type, Arc::new(apply)));
        AggregateKind {
            inner: Arc::new(KindInner { apply_map, ..inner }),
        }
    }
}

impl<S: Clone, D> AggregateKind<S, D> {
    /// Returns the kind with `policy` as its snapshot policy.
    pub(crate) fn with_snapshot_policy(self, policy: SnapshotPolicy<S>) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => KindInner {
                name: shared.name.clone(),
                initial_state: shared.initial_state.clone(),
                evolve: shared.evolve.clone(),
                apply_map: shared.apply_map.clone(),
                snapshots: None,
            },
        };
        AggregateKind {
            inner: Arc::new(KindInner {
                snapshots: Some(policy),
                ..inner
            }),
        }
    }
}

impl<S, D> Clone for AggregateKind<S, D> {
    fn clone(&self) -> Self {
        AggregateKind {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, D> PartialEq for AggregateKind<S, D> {
    fn eq(&self, other: &Self) -> bool {
        self.inner.name == other.inner.name
    }
}

impl<S, D> Eq for AggregateKind<S, D> {}

impl<S, D> fmt::Debug for AggregateKind<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AggregateKind")
            .field("name", &self.name())
            .field("evolve", &self.has_evolve())
            .field("event_types", &self.event_types().collect::<Vec<_>>())
            .field("snapshots", &self.inner.snapshots)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting() -> AggregateKind<Vec<String>, Data> {
        AggregateKind::evolving("Log", Vec::new(), |mut log: Vec<String>, event| {
            log.push(format!("evolve {}", event.event_type()));
            log
        })
    }

    #[test]
    fn an_evolve_function_sees_every_event() {
        let kind = counting();
        assert!(kind.has_evolve());
        assert_eq!(kind.event_types().count(), 0);
        let state = kind.apply_to(Vec::new(), &Event::new("A"));
        let state = kind.apply_to(state, &Event::new("B"));
        assert_eq!(state, ["evolve A", "evolve B"]);
    }

    #[test]
    fn with_both_the_evolve_function_runs_first_then_the_map() {
        let kind = counting().on("A", |mut log: Vec<String>, _| {
            log.push("on A".into());
            log
        });
        let state = kind.apply_to(Vec::new(), &Event::new("A"));
        let state = kind.apply_to(state, &Event::new("B"));
        assert_eq!(state, ["evolve A", "on A", "evolve B"]);
        assert_eq!(kind.event_types().collect::<Vec<_>>(), ["A"]);
    }

    #[test]
    fn a_kind_with_an_apply_map_only_has_no_evolve_function() {
        let kind = AggregateKind::new("Todo").on("A", |state, _| state);
        assert!(!kind.has_evolve());
        assert!(format!("{kind:?}").contains("evolve: false"));
    }
}
