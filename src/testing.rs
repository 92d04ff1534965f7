//! Given, when, then: tests of a domain's decisions without a store.
//!
//! [`given`] some events (the aggregate's history), [`when`](Given::when) a
//! decision runs on the aggregate they make, [`then`](Then::then) these
//! events, or [`then_error`](Then::then_error) this domain error. Events are
//! compared by type and payload only: ids, timestamps, streams and versions
//! are the store's business, not the decision's.
//!
//! A check returns a [`Mismatch`] whose `Display` and `Debug` both read as a
//! sentence with the expected and the actual outcome, so a test can end in
//! `?` (returning `Result<(), Mismatch>`) or `.unwrap()`.
//!
//! # Example
//!
//! ```
//! use dvent::testing::{Mismatch, given};
//! use dvent::{AggregateKind, Event, EventType};
//!
//! #[derive(Clone, Debug, PartialEq)]
//! enum LightEvent { SwitchedOn, SwitchedOff }
//! impl EventType for LightEvent {
//!     fn event_type(&self) -> &'static str {
//!         match self {
//!             LightEvent::SwitchedOn => "SwitchedOn",
//!             LightEvent::SwitchedOff => "SwitchedOff",
//!         }
//!     }
//! }
//! #[derive(Debug, PartialEq)]
//! struct AlreadyOn;
//!
//! let light = AggregateKind::evolving("Light", false, |_, event: &Event<LightEvent>| {
//!     match event.data() {
//!         LightEvent::SwitchedOn => true,
//!         LightEvent::SwitchedOff => false,
//!     }
//! });
//! let switch_on = |l: &dvent::Aggregate<bool, LightEvent>| {
//!     if *l.state() { Err(AlreadyOn) } else { Ok(vec![Event::of(LightEvent::SwitchedOn)]) }
//! };
//!
//! given(&light, [])
//!     .when(switch_on)
//!     .then([Event::of(LightEvent::SwitchedOn)])?;
//! given(&light, [Event::of(LightEvent::SwitchedOn)])
//!     .when(switch_on)
//!     .then_error(AlreadyOn)?;
//!
//! // A failing check says what differs.
//! let failed = given(&light, []).when(switch_on).then([]).unwrap_err();
//! assert!(failed.to_string().contains("expected no events"), "{failed}");
//! # Ok::<(), Mismatch>(())
//! ```

use std::fmt;

use crate::aggregate::Aggregate;
use crate::aggregate_kind::AggregateKind;
use crate::event::Event;

/// An aggregate of `kind` (with a random id) whose history is `events`,
/// applied as committed: the "given" of a test.
///
/// Time: O(n) for n events, plus the kind's functions.
#[must_use]
pub fn given<S: Clone, D: Clone>(
    kind: &AggregateKind<S, D>,
    events: impl IntoIterator<Item = Event<D>>,
) -> Given<S, D> {
    Given {
        aggregate: Aggregate::from_events(kind, uuid::Uuid::new_v4(), events),
    }
}

/// The aggregate a test starts from; made by [`given`].
pub struct Given<S, D> {
    aggregate: Aggregate<S, D>,
}

impl<S: fmt::Debug, D: fmt::Debug + Clone> fmt::Debug for Given<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Given")
            .field("aggregate", &self.aggregate)
            .finish()
    }
}

impl<S, D> Given<S, D> {
    /// The aggregate the given events made.
    #[must_use]
    pub fn aggregate(&self) -> &Aggregate<S, D> {
        &self.aggregate
    }

    /// Runs `decide` once on the aggregate and keeps what it returned.
    pub fn when<E, I, F>(self, decide: F) -> Then<D, E>
    where
        I: IntoIterator<Item = Event<D>>,
        F: FnOnce(&Aggregate<S, D>) -> Result<I, E>,
    {
        let given = self.aggregate.events().len();
        let outcome = decide(&self.aggregate).map(|events| events.into_iter().collect());
        Then { given, outcome }
    }
}

/// What a decision returned; checked by [`Then::then`] or
/// [`Then::then_error`].
#[derive(Debug)]
#[must_use = "a Then checks nothing until then or then_error is called"]
pub struct Then<D, E> {
    given: usize,
    outcome: Result<Vec<Event<D>>, E>,
}

impl<D: PartialEq + fmt::Debug, E: fmt::Debug> Then<D, E> {
    /// Checks that the decision returned exactly `expected`, in order,
    /// compared by event type and payload.
    ///
    /// # Errors
    ///
    /// A [`Mismatch`] naming both outcomes when the decision returned other
    /// events, or refused.
    pub fn then(self, expected: impl IntoIterator<Item = Event<D>>) -> Result<(), Mismatch> {
        let expected: Vec<Event<D>> = expected.into_iter().collect();
        match &self.outcome {
            Ok(actual) if same_events(actual, &expected) => Ok(()),
            _ => Err(self.mismatch(events_text(&expected))),
        }
    }

    /// Checks that the decision refused with `expected`.
    ///
    /// # Errors
    ///
    /// A [`Mismatch`] naming both outcomes when the decision returned
    /// events, or another error.
    pub fn then_error(self, expected: E) -> Result<(), Mismatch>
    where
        E: PartialEq,
    {
        match &self.outcome {
            Err(actual) if *actual == expected => Ok(()),
            _ => Err(self.mismatch(format!("the error {expected:?}"))),
        }
    }

    /// The events the decision returned, or its error.
    ///
    /// # Errors
    ///
    /// The decision's error, when it refused.
    pub fn into_outcome(self) -> Result<Vec<Event<D>>, E> {
        self.outcome
    }

    fn mismatch(&self, expected: String) -> Mismatch {
        let actual = match &self.outcome {
            Ok(events) => events_text(events),
            Err(error) => format!("the error {error:?}"),
        };
        Mismatch {
            given: self.given,
            expected,
            actual,
        }
    }
}

fn same_events<D: PartialEq>(actual: &[Event<D>], expected: &[Event<D>]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| a.event_type() == e.event_type() && a.data() == e.data())
}

fn events_text<D: fmt::Debug>(events: &[Event<D>]) -> String {
    if events.is_empty() {
        return "no events".to_string();
    }
    let listed: Vec<String> = events
        .iter()
        .map(|e| format!("{} {:?}", e.event_type(), e.data()))
        .collect();
    format!("the events [{}]", listed.join(", "))
}

/// A given/when/then check that failed: what was expected and what the
/// decision returned, as text (events as `type payload`).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "given {given} events, when the decision ran, expected {expected}, but it returned {actual}"
)]
pub struct Mismatch {
    /// How many events the aggregate was given.
    pub given: usize,
    /// The expected outcome, in words.
    pub expected: String,
    /// The actual outcome, in words.
    pub actual: String,
}

/// The same sentence as `Display`, so that `unwrap()` and a test returning
/// `Result<(), Mismatch>` print it readably.
impl fmt::Debug for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Data;

    fn kind() -> AggregateKind {
        AggregateKind::new("Todo")
    }

    #[test]
    fn events_are_compared_by_type_and_payload_only() {
        let decided = Event::new("TodoAdded").with_entry("n", 1).with_version(3);
        let result = given(&kind(), [])
            .when(|_| Ok::<_, ()>([decided]))
            .then([Event::new("TodoAdded").with_entry("n", 1)]);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn a_mismatch_names_both_outcomes() {
        let err = given(&kind(), [Event::new("TodoAdded")])
            .when(|_| Err::<Vec<Event<Data>>, _>("removed"))
            .then([Event::new("TodoRemoved")])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "given 1 events, when the decision ran, expected the events [TodoRemoved {}], but it \
             returned the error \"removed\""
        );
        assert_eq!(format!("{err:?}"), err.to_string());
    }

    #[test]
    fn then_error_fails_on_events_or_another_error() {
        let then = || given(&kind(), []).when(|_| Ok::<_, &str>([Event::new("A")]));
        assert!(then().then_error("x").is_err());
        let refused = given(&kind(), []).when(|_| Err::<[Event; 0], _>("y"));
        assert!(
            refused
                .then_error("x")
                .unwrap_err()
                .actual
                .contains("\"y\"")
        );
    }
}
