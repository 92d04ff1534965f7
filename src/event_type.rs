//! Typed payloads that name their own event type, so that a typed domain
//! never spells an event type as a string outside one `match`.

use crate::event::Event;

/// A payload that knows the type of the event it makes: for an enum of
/// events, one name per variant.
///
/// Implement it by hand with one exhaustive `match` (no wildcard arm): that
/// `match` is the only place a typed domain spells its event types, and
/// the compiler reports a new variant that has no name yet. Then
/// [`Event::of`] makes an event from the payload alone.
///
/// The names are what stores keep and what an apply map
/// ([`AggregateKind::on`](crate::AggregateKind::on)) matches on, so renaming
/// one changes how stored events read: keep them stable.
///
/// # Example
///
/// ```
/// use dvent::{Event, EventType};
///
/// #[derive(Clone, Debug, PartialEq)]
/// enum TodoEvent {
///     Added { description: String },
///     Removed,
/// }
///
/// impl EventType for TodoEvent {
///     fn event_type(&self) -> &'static str {
///         match self {
///             TodoEvent::Added { .. } => "TodoAdded",
///             TodoEvent::Removed => "TodoRemoved",
///         }
///     }
/// }
///
/// let event = Event::of(TodoEvent::Added { description: "Buy milk".into() });
/// assert_eq!(event.event_type(), "TodoAdded");
/// assert_eq!(Event::of(TodoEvent::Removed).event_type(), "TodoRemoved");
/// ```
pub trait EventType {
    /// The type of the event this payload makes, such as `TodoAdded`.
    ///
    /// It should depend on the payload's variant only, never on its field
    /// values, and cost O(1).
    fn event_type(&self) -> &'static str;

    /// The version of this payload's schema, from 1 (the default): raise it
    /// when the payload's shape changes, and register an upcaster from the
    /// previous version (see [`upcast`](crate::upcast)) so that stored
    /// events of the old shape read as the new one. [`Event::of`] stores it
    /// with the event. It should depend on the variant only, and cost O(1).
    fn data_version(&self) -> u32 {
        1
    }
}

impl<D: EventType> Event<D> {
    /// A new event whose type is the one `data` names
    /// ([`EventType::event_type`]) and whose payload schema version is the
    /// one it declares ([`EventType::data_version`]): random id, no stream,
    /// now, version 0.
    ///
    /// The same as [`Event::typed`]`(data.event_type(), data)` with that
    /// data version. Time: O(1) plus one allocation for the type name.
    #[must_use]
    pub fn of(data: D) -> Self {
        let data_version = data.data_version();
        Event::typed(data.event_type(), data).with_data_version(data_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    enum Light {
        On,
        Off,
    }

    impl EventType for Light {
        fn event_type(&self) -> &'static str {
            match self {
                Light::On => "SwitchedOn",
                Light::Off => "SwitchedOff",
            }
        }
    }

    #[test]
    fn an_event_of_a_payload_takes_the_type_it_names() {
        let on = Event::of(Light::On);
        assert_eq!(on.event_type(), "SwitchedOn");
        assert_eq!(on.data(), &Light::On);
        assert_eq!(on.version(), 0);
        assert_eq!(Event::of(Light::Off).event_type(), "SwitchedOff");
    }
}
