//! Metadata: what an event or a command carries beside its payload, to
//! trace where it came from (a correlation id and a causation id) and who
//! or what it is about (a small map of user entries: the user, the tenant).

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::data::{Data, Value};

/// The metadata of an event or a command: an immutable value.
///
/// | value | meaning | when not given |
/// |---|---|---|
/// | [`correlation_id`](Metadata::correlation_id) | the id shared by everything one request set off | none |
/// | [`causation_id`](Metadata::causation_id) | the id of the command or event that caused this one | none |
/// | [`entries`](Metadata::entries) | user entries (`user`, `tenant`, …) as a [`Data`] map | empty |
///
/// The two ids are usually set with `caused_by` ([`Event::caused_by`](crate::Event::caused_by),
/// [`Command::caused_by`](crate::Command::caused_by)), which follows the
/// usual rule: the correlation id is the cause's correlation id, or the
/// cause's own id when it has none; the causation id is the cause's id.
///
/// Stores keep metadata beside the payload (a JSON column in the SQL
/// stores), check it by the same rule as payloads
/// ([`admission`](crate::store::admission)) and compare it when judging a
/// retry. As JSON it is an object with only what is present
/// (`{"correlation_id":…,"causation_id":…,"entries":{…}}`; `{}` when empty).
///
/// Clone: O(1) (the entries are a persistent map).
///
/// # Example
///
/// ```
/// use dvent::{Command, Event, Metadata};
///
/// let command = Command::new("AddTodo").with_metadata_entry("user", "ada");
/// let added = Event::new("TodoAdded").caused_by(&command);
/// assert_eq!(added.metadata().causation_id(), Some(command.id()));
/// assert_eq!(added.metadata().correlation_id(), Some(command.id()));
/// assert_eq!(added.metadata().entries()["user"], "ada");
///
/// let followed = Event::new("TodoStarted").caused_by(&added);
/// assert_eq!(followed.metadata().causation_id(), Some(added.id()));
/// assert_eq!(followed.metadata().correlation_id(), Some(command.id()));
///
/// assert!(Metadata::new().is_empty());
/// assert_eq!(serde_json::to_string(&Metadata::new())?, "{}");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Data::is_empty")]
    entries: Data,
}

impl Metadata {
    /// Empty metadata: no ids, no entries. Time: O(1).
    #[must_use]
    pub fn new() -> Self {
        Metadata::default()
    }

    /// The correlation id, if any.
    #[must_use]
    pub fn correlation_id(&self) -> Option<Uuid> {
        self.correlation_id
    }

    /// The causation id (the id of the cause), if any.
    #[must_use]
    pub fn causation_id(&self) -> Option<Uuid> {
        self.causation_id
    }

    /// The user entries.
    #[must_use]
    pub fn entries(&self) -> &Data {
        &self.entries
    }

    /// Whether there are no ids and no entries. Time: O(1).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.correlation_id.is_none() && self.causation_id.is_none() && self.entries.is_empty()
    }

    /// Returns the metadata with another correlation id (`None` removes it).
    #[must_use]
    pub fn with_correlation_id(mut self, id: impl Into<Option<Uuid>>) -> Self {
        self.correlation_id = id.into();
        self
    }

    /// Returns the metadata with another causation id (`None` removes it).
    #[must_use]
    pub fn with_causation_id(mut self, id: impl Into<Option<Uuid>>) -> Self {
        self.causation_id = id.into();
        self
    }

    /// Returns the metadata with `key` set to `value` in its entries.
    /// Time: O(log n) in the number of entries.
    #[must_use]
    pub fn with_entry(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.entries.insert(key, value);
        self
    }

    /// Returns the metadata with these entries in place of its own.
    #[must_use]
    pub fn with_entries(mut self, entries: Data) -> Self {
        self.entries = entries;
        self
    }

    /// The metadata of something caused by `cause`: the cause's entries, its
    /// correlation id (or, when it has none, its id) as the correlation id,
    /// and its id as the causation id. Time: O(1).
    #[must_use]
    pub fn caused_by(cause: &impl Cause) -> Self {
        let parent = cause.metadata();
        Metadata {
            correlation_id: Some(parent.correlation_id.unwrap_or_else(|| cause.cause_id())),
            causation_id: Some(cause.cause_id()),
            entries: parent.entries.clone(),
        }
    }
}

impl Hash for Metadata {
    /// Hashes the ids and the entries as JSON text (JSON values have no
    /// `Hash`; equal entries write equal text). Time: O(size of the entries).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.correlation_id.hash(state);
        self.causation_id.hash(state);
        serde_json::to_string(&self.entries)
            .unwrap_or_default()
            .hash(state);
    }
}

/// Something that can cause an event or a command: an [`Event`](crate::Event)
/// or a [`Command`](crate::Command), which both have an id and metadata.
/// `caused_by` takes any `Cause`.
pub trait Cause {
    /// The id the caused value names as its causation id.
    fn cause_id(&self) -> Uuid;

    /// The cause's metadata (its correlation id and entries pass on).
    fn metadata(&self) -> &Metadata;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Event};

    #[test]
    fn caused_by_starts_a_correlation_at_the_first_cause_and_keeps_it() {
        let command = Command::new("Add");
        let first = Event::new("Added").caused_by(&command);
        let second = Event::new("Noticed").caused_by(&first);
        let third = Command::new("Notify").caused_by(&second);
        assert_eq!(first.metadata().correlation_id(), Some(command.id()));
        assert_eq!(second.metadata().correlation_id(), Some(command.id()));
        assert_eq!(third.metadata().correlation_id(), Some(command.id()));
        assert_eq!(third.metadata().causation_id(), Some(second.id()));
    }

    #[test]
    fn a_cause_with_a_correlation_id_passes_it_on_with_its_entries() {
        let correlation = Uuid::new_v4();
        let command = Command::new("Add").with_metadata(
            Metadata::new()
                .with_correlation_id(correlation)
                .with_entry("tenant", "acme"),
        );
        let event = Event::new("Added").caused_by(&command);
        assert_eq!(event.metadata().correlation_id(), Some(correlation));
        assert_eq!(event.metadata().causation_id(), Some(command.id()));
        assert_eq!(event.metadata().entries()["tenant"], "acme");
    }

    #[test]
    fn json_holds_only_what_is_present_and_reads_back() {
        let id = Uuid::from_u128(7);
        let metadata = Metadata::new()
            .with_causation_id(id)
            .with_entry("user", "ada");
        let json = serde_json::to_string(&metadata).unwrap();
        assert_eq!(
            json,
            r#"{"causation_id":"00000000-0000-0000-0000-000000000007","entries":{"user":"ada"}}"#
        );
        assert_eq!(serde_json::from_str::<Metadata>(&json).unwrap(), metadata);
        assert!(serde_json::from_str::<Metadata>(r#"{"other":1}"#).is_err());
    }
}
