//! Upcasting: reading events stored with an older payload schema as the
//! current one, without rewriting history.
//!
//! Every event carries the version of its payload's schema
//! ([`Event::data_version`], 1 unless raised: by
//! [`Event::with_data_version`] for a [`Data`](crate::Data) event, by
//! [`EventType::data_version`](crate::EventType::data_version) for a typed
//! one), and every store keeps it beside the payload. When the shape of an
//! event type's payload changes, raise its version and register an
//! **upcaster**: a pure function from the stored JSON of version n to the
//! JSON of version n + 1. [`Upcasters`] holds them, chained, with the
//! current version of each event type.
//!
//! A store given upcasters (`with_upcasters`, the same on every store) runs
//! them on every read (`events`, `read_all`, `read_stream`, `last_event`,
//! and so subscriptions, projections and repositories), **before** the
//! payload is decoded into its type or a `Data` map: an event stored at
//! version 1 of a type whose current version is 3 goes through the
//! upcasters 1 → 2 and 2 → 3 and reads with `data_version() == 3`. What is
//! stored is never changed.
//!
//! | stored version | registry | read |
//! |---|---|---|
//! | any | knows no upcaster and no current version for the type | as stored |
//! | the current one | knows the type | as stored |
//! | older, with an upcaster for every step | knows the type | upcast to the current version |
//! | older, a step missing | knows the type | [`UpcastError::MissingUpcaster`] |
//! | newer than the current one | knows the type | [`UpcastError::NewerThanCurrent`] |
//!
//! A store reports these as [`StoreError::Upcast`](crate::StoreError::Upcast),
//! naming the stream, the position and the event: an event is never skipped.
//!
//! Costs: nothing for an event at its current version (its payload is
//! decoded directly, as without upcasters), and for one that is older, one
//! parse into a [`Value`], the upcasters' own work, and one decode from the
//! value. The in-memory store, which holds values, writes the payload as a
//! `Value` first.
//!
//! # Example
//!
//! ```
//! use dvent::serde_json::json;
//! use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore, Upcasters};
//!
//! // Version 1 of TodoAdded had `text`; version 2 renamed it `description`;
//! // version 3 added `status`.
//! let upcasters = Upcasters::new()
//!     .on("TodoAdded", 1, |mut v| {
//!         if let Some(text) = v.as_object_mut().and_then(|o| o.remove("text")) {
//!             v["description"] = text;
//!         }
//!         v
//!     })
//!     .on("TodoAdded", 2, |mut v| {
//!         v["status"] = json!("Queued");
//!         v
//!     });
//! assert_eq!(upcasters.current_version("TodoAdded"), Some(3));
//!
//! let store = InMemoryEventStore::new().with_upcasters(upcasters);
//! store.append("todo-1", &vector![Event::new("TodoAdded").with_entry("text", "Buy milk")], ExpectedVersion::Any)?;
//! let read = &store.events(Some("todo-1"), 0)?[0];
//! assert_eq!(read.data_version(), 3);
//! assert_eq!(read.data()["description"], "Buy milk");
//! assert_eq!(read.data()["status"], "Queued");
//! # Ok::<(), dvent::StoreError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::event::Event;

/// One upcaster: the stored JSON of version n in, the JSON of version n + 1
/// out. It should be pure (the same output for the same input, no I/O) and
/// never panic: reading indexes of a [`Value`] gives `null` when missing.
pub type Upcaster = dyn Fn(Value) -> Value + Send + Sync;

/// The upcasters of each event type, chained, with each type's current
/// payload version. Immutable: each `on` returns a new registry. Clone:
/// O(t) for t event types (the functions are shared).
///
/// See the [module docs](self) for what a store does with it.
#[derive(Clone, Default)]
pub struct Upcasters {
    types: HashMap<String, Chain>,
}

#[derive(Clone, Default)]
struct Chain {
    /// The current version of the type's payload.
    current: u32,
    /// The upcasters by the version they read.
    steps: BTreeMap<u32, Arc<Upcaster>>,
}

/// Why a stored payload could not be brought to its type's current
/// version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpcastError {
    /// A step of the chain from the stored version to the current one has
    /// no upcaster.
    #[error(
        "event type {event_type:?}: a payload stored at version {found} should be upcast to the \
         current version {current}, but no upcaster from version {missing} to {} is registered",
        u64::from(*missing) + 1
    )]
    MissingUpcaster {
        /// The event type.
        event_type: String,
        /// The stored payload version.
        found: u32,
        /// The type's current version.
        current: u32,
        /// The first version with no upcaster on the way.
        missing: u32,
    },
    /// The stored payload is of a version newer than the type's current
    /// one (written by a newer release, say).
    #[error(
        "event type {event_type:?}: a stored payload should be at most the current version \
         {current}, found version {found}"
    )]
    NewerThanCurrent {
        /// The event type.
        event_type: String,
        /// The stored payload version.
        found: u32,
        /// The type's current version.
        current: u32,
    },
    /// The payload could not be turned into JSON to upcast, or the upcast
    /// JSON does not decode as the payload type.
    #[error(
        "event type {event_type:?}: the payload upcast from version {from} to {to} should be JSON \
         of the payload type, found {reason}"
    )]
    Payload {
        /// The event type.
        event_type: String,
        /// The stored payload version.
        from: u32,
        /// The version it was upcast to.
        to: u32,
        /// What went wrong.
        reason: String,
    },
}

impl Upcasters {
    /// An empty registry: every event reads as stored.
    #[must_use]
    pub fn new() -> Self {
        Upcasters::default()
    }

    /// Returns the registry with `upcaster` bringing a payload of
    /// `event_type` from version `from` to `from + 1` (replacing one given
    /// before for that step). The type's current version becomes at least
    /// `from + 1`. Time: O(log s) for the type's s steps.
    #[must_use]
    pub fn on<F>(mut self, event_type: impl Into<String>, from: u32, upcaster: F) -> Self
    where
        F: Fn(Value) -> Value + Send + Sync + 'static,
    {
        let chain = self.types.entry(event_type.into()).or_default();
        chain.current = chain.current.max(from.saturating_add(1));
        chain.steps.insert(from, Arc::new(upcaster));
        self
    }

    /// Returns the registry with `version` as the current version of
    /// `event_type`'s payload, whatever upcasters say (to declare a type at
    /// version 2 whose version-1 events were never stored, say, or to refuse
    /// a newer stored version of a type that has no upcaster yet).
    #[must_use]
    pub fn with_current_version(mut self, event_type: impl Into<String>, version: u32) -> Self {
        self.types.entry(event_type.into()).or_default().current = version;
        self
    }

    /// The current payload version of `event_type`, or `None` when the
    /// registry does not know the type (its events read as stored).
    #[must_use]
    pub fn current_version(&self, event_type: &str) -> Option<u32> {
        self.types.get(event_type).map(|chain| chain.current)
    }

    /// Whether the registry knows no event type.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// What reading a payload of `event_type` stored at `version` takes:
    /// `None` when it reads as stored, `Some(current)` when it is to be
    /// upcast to the current version. Time: O(s log s) for s steps.
    ///
    /// # Errors
    ///
    /// [`UpcastError::NewerThanCurrent`], [`UpcastError::MissingUpcaster`].
    pub fn plan(&self, event_type: &str, version: u32) -> Result<Option<u32>, UpcastError> {
        let Some(chain) = self.types.get(event_type) else {
            return Ok(None);
        };
        if version == chain.current {
            return Ok(None);
        }
        if version > chain.current {
            return Err(UpcastError::NewerThanCurrent {
                event_type: event_type.to_string(),
                found: version,
                current: chain.current,
            });
        }
        if let Some(missing) = (version..chain.current).find(|v| !chain.steps.contains_key(v)) {
            return Err(UpcastError::MissingUpcaster {
                event_type: event_type.to_string(),
                found: version,
                current: chain.current,
                missing,
            });
        }
        Ok(Some(chain.current))
    }

    /// Brings the JSON of a payload of `event_type` stored at `version` to
    /// the current version; returns it with the version it is now at.
    ///
    /// # Errors
    ///
    /// As [`plan`](Upcasters::plan); nothing is run then.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::serde_json::json;
    /// use dvent::{UpcastError, Upcasters};
    ///
    /// let upcasters = Upcasters::new().on("Paid", 1, |v| json!({ "cents": v["amount"] }));
    /// assert_eq!(upcasters.upcast("Paid", 1, json!({"amount": 5}))?, (json!({"cents": 5}), 2));
    /// assert_eq!(upcasters.upcast("Other", 7, json!(1))?, (json!(1), 7));
    /// assert!(matches!(
    ///     upcasters.upcast("Paid", 3, json!({})),
    ///     Err(UpcastError::NewerThanCurrent { found: 3, current: 2, .. })
    /// ));
    /// # Ok::<(), UpcastError>(())
    /// ```
    pub fn upcast(
        &self,
        event_type: &str,
        version: u32,
        data: Value,
    ) -> Result<(Value, u32), UpcastError> {
        let Some(current) = self.plan(event_type, version)? else {
            return Ok((data, version));
        };
        let Some(chain) = self.types.get(event_type) else {
            return Ok((data, version));
        };
        let data = chain
            .steps
            .range(version..current)
            .fold(data, |data, (_, step)| step(data));
        Ok((data, current))
    }

    /// An event with a typed payload, upcast when its version is older than
    /// its type's current one: the payload is written as JSON, upcast and
    /// decoded again (what the in-memory store does, holding values). An
    /// event that reads as stored is returned as it is.
    ///
    /// # Errors
    ///
    /// As [`plan`](Upcasters::plan), and [`UpcastError::Payload`] when the
    /// payload cannot be written as JSON or the upcast JSON does not decode.
    pub fn upcast_event<D>(&self, event: Event<D>) -> Result<Event<D>, UpcastError>
    where
        D: Serialize + DeserializeOwned,
    {
        let from = event.data_version();
        let Some(to) = self.plan(event.event_type(), from)? else {
            return Ok(event);
        };
        let failed = |reason: String| UpcastError::Payload {
            event_type: event.event_type().to_string(),
            from,
            to,
            reason,
        };
        let json = serde_json::to_value(event.data()).map_err(|e| failed(e.to_string()))?;
        let (json, to) = self.upcast(event.event_type(), from, json)?;
        let data = decode(json).map_err(failed)?;
        Ok(event.with_data(data).with_data_version(to))
    }
}

/// Decodes upcast JSON as the payload type, or says why not.
pub(crate) fn decode<D: DeserializeOwned>(json: Value) -> Result<D, String> {
    serde_json::from_value(json)
        .map_err(|e| format!("JSON not of type {} ({e})", std::any::type_name::<D>()))
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut types: Vec<_> = self
            .types
            .iter()
            .map(|(name, chain)| (name, chain.current, chain.steps.keys().collect::<Vec<_>>()))
            .collect();
        types.sort();
        f.debug_struct("Upcasters").field("types", &types).finish()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    fn chain() -> Upcasters {
        Upcasters::new()
            .on("A", 2, |mut v| {
                v["three"] = json!(true);
                v
            })
            .on("A", 1, |mut v| {
                v["two"] = json!(true);
                v
            })
    }

    #[test]
    fn steps_run_in_version_order_up_to_the_current_version() {
        let (json, version) = chain().upcast("A", 1, json!({})).unwrap();
        assert_eq!(version, 3);
        assert_eq!(json, json!({"two": true, "three": true}));
        assert_eq!(
            chain().upcast("A", 2, json!({})).unwrap(),
            (json!({"three": true}), 3)
        );
        assert_eq!(chain().plan("A", 3).unwrap(), None);
    }

    #[test]
    fn a_missing_step_or_a_newer_version_is_an_error_naming_the_versions() {
        let gap = Upcasters::new().on("A", 2, |v| v);
        let err = gap.upcast("A", 1, json!({})).unwrap_err();
        assert_eq!(
            err,
            UpcastError::MissingUpcaster {
                event_type: "A".into(),
                found: 1,
                current: 3,
                missing: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "event type \"A\": a payload stored at version 1 should be upcast to the current \
             version 3, but no upcaster from version 1 to 2 is registered"
        );
        let err = chain().plan("A", 4).unwrap_err();
        assert!(err.to_string().contains("found version 4"), "{err}");
        let declared = Upcasters::new().with_current_version("B", 2);
        assert!(matches!(
            declared.plan("B", 1),
            Err(UpcastError::MissingUpcaster { missing: 1, .. })
        ));
        assert!(declared.plan("B", 3).is_err());
    }

    #[test]
    fn an_unknown_type_reads_as_stored() {
        assert_eq!(chain().plan("Other", 9).unwrap(), None);
        assert!(Upcasters::new().is_empty());
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct V3 {
        name: String,
        #[serde(default)]
        two: bool,
        #[serde(default)]
        three: bool,
    }

    #[test]
    fn a_typed_event_is_upcast_through_json() {
        let event = Event::typed(
            "A",
            V3 {
                name: "x".into(),
                two: false,
                three: false,
            },
        );
        let up = chain().upcast_event(event.clone()).unwrap();
        assert_eq!(up.data_version(), 3);
        assert!(up.data().two && up.data().three);
        assert_eq!(up.id(), event.id());
        let current = event.with_data_version(3);
        assert_eq!(chain().upcast_event(current.clone()).unwrap(), current);
        let bad = Upcasters::new().on("A", 1, |_| json!([]));
        let err = bad.upcast_event(Event::typed("A", current.data().clone()));
        assert!(matches!(
            err,
            Err(UpcastError::Payload { from: 1, to: 2, .. })
        ));
    }
}
