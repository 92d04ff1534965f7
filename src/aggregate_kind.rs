//! Aggregate kinds: a type name, an initial state and an apply map.

use std::fmt;
use std::sync::Arc;

use crate::data::Data;
use crate::event::Event;
use crate::name::Name;

/// A pure function from a state and an event to the next state.
///
/// It takes the state by value, so a function that changes one key of a
/// persistent map can update it in place when nothing else shares it, and
/// must return the state it wants the aggregate to have next.
pub type ApplyFn<S, D> = Arc<dyn Fn(S, &Event<D>) -> S + Send + Sync>;

/// A kind of aggregate: its type name, its initial state and its apply map
/// (event type to [`ApplyFn`]).
///
/// An event type with no function leaves the state as it is. Kinds are
/// compared by name. Cloning a kind is O(1): every aggregate of the kind
/// shares it.
///
/// The state type `S` and the payload type `D` default to [`Data`]; use
/// [`AggregateKind::new`] for the dynamic kind and
/// [`AggregateKind::with_initial_state`] for a typed one.
///
/// # Example
///
/// ```
/// use dvent::{Aggregate, AggregateKind, Event};
///
/// let counter = AggregateKind::new("Counter").on("Incremented", |state, event| {
///     let by = event.data()["by"].as_i64().unwrap_or(1);
///     let total = state.get("total").and_then(|v| v.as_i64()).unwrap_or(0);
///     state.update("total".into(), (total + by).into())
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
    apply_map: Vec<(Name, ApplyFn<S, D>)>,
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
                apply_map: Vec::new(),
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

    /// The event types that have a function, in the order they were added.
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.inner.apply_map.iter().map(|(name, _)| &**name)
    }

    /// Applies the function for `event`'s type to `state`, or returns `state`
    /// unchanged when the type has none.
    ///
    /// Time: O(t) to find the function among t event types (a kind has few),
    /// plus the function's own cost.
    #[must_use]
    pub fn apply_to(&self, state: S, event: &Event<D>) -> S {
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
                apply_map: shared.apply_map.clone(),
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
            .field("event_types", &self.event_types().collect::<Vec<_>>())
            .finish()
    }
}
