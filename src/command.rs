//! Domain commands: intents to change the domain, named in the present tense
//! (`AddTodo`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command_error::CommandError;
use crate::data::{Data, Value};
use crate::metadata::{Cause, Metadata};
use crate::name::Name;

/// An intent to change the domain: an immutable value.
///
/// | value | meaning | when not given |
/// |---|---|---|
/// | [`command_type`](Command::command_type) | the kind of command | required |
/// | [`id`](Command::id) | unique id | a random UUID (v4) |
/// | [`metadata`](Command::metadata) | correlation and causation ids, user entries | empty [`Metadata`] |
/// | [`timestamp`](Command::timestamp) | when it was expressed, UTC | now |
/// | [`data`](Command::data) | the payload | empty [`Data`] map |
///
/// Like [`Event`](crate::Event), the payload type defaults to [`Data`] and
/// can be any other type through [`Command::with_data`].
///
/// # Example
///
/// ```
/// use dvent::Command;
///
/// let command = Command::new("AddTodo")
///     .with_entry("description", "Buy milk")
///     .with_entry("status", "Queued");
/// assert_eq!(command.command_type(), "AddTodo");
/// assert_eq!(command.require_str("status")?, "Queued");
/// assert!(command.require_str("id").is_err());
/// # Ok::<(), dvent::CommandError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command<D = Data> {
    /// Commands written before they had ids read back with a new one.
    #[serde(default = "Uuid::new_v4")]
    id: Uuid,
    #[serde(rename = "type")]
    command_type: Name,
    timestamp: Timestamp,
    data: D,
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    metadata: Metadata,
}

impl Command<Data> {
    /// A new command of the given type, expressed now, with empty data.
    #[must_use]
    pub fn new(command_type: impl Into<Name>) -> Self {
        Command::typed(command_type, Data::new())
    }

    /// Returns the command with `key` set to `value` in its data map.
    ///
    /// Time: O(log n) in the number of keys.
    #[must_use]
    pub fn with_entry(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.data.insert(key, value);
        self
    }

    /// The value under `key` in the command's data.
    ///
    /// # Errors
    ///
    /// [`CommandError::MissingData`] when the key is absent.
    pub fn require(&self, key: &str) -> Result<&Value, CommandError> {
        self.data.get(key).ok_or_else(|| CommandError::MissingData {
            command_type: self.command_type.to_string(),
            key: key.to_string(),
        })
    }

    /// The text under `key` in the command's data.
    ///
    /// # Errors
    ///
    /// [`CommandError::MissingData`] when the key is absent,
    /// [`CommandError::InvalidData`] when its value is not a string.
    pub fn require_str(&self, key: &str) -> Result<&str, CommandError> {
        let value = self.require(key)?;
        value.as_str().ok_or_else(|| CommandError::InvalidData {
            command_type: self.command_type.to_string(),
            key: key.to_string(),
            expected: "a string".to_string(),
            found: value.to_string(),
        })
    }
}

impl<D> Command<D> {
    /// A new command of the given type with a payload of any type, expressed
    /// now, with a random id and no metadata.
    #[must_use]
    pub fn typed(command_type: impl Into<Name>, data: D) -> Self {
        Command {
            id: Uuid::new_v4(),
            command_type: command_type.into(),
            timestamp: Timestamp::now(),
            data,
            metadata: Metadata::new(),
        }
    }

    /// The command's unique id (a random UUID v4 unless given): what an
    /// event caused by it names as its causation id.
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The command's metadata.
    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Returns the command with another id.
    #[must_use]
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Returns the command with other metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Returns the command with `key` set to `value` in its metadata's
    /// entries (the user, the tenant). Time: O(log n) in the entries.
    #[must_use]
    pub fn with_metadata_entry(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata = self.metadata.with_entry(key, value);
        self
    }

    /// Returns the command as caused by `cause` (an event, say, in a process
    /// manager): the same rule as [`Event::caused_by`](crate::Event::caused_by).
    #[must_use]
    pub fn caused_by(mut self, cause: &impl Cause) -> Self {
        let own = std::mem::take(&mut self.metadata);
        let inherited = Metadata::caused_by(cause);
        let entries = own.entries().clone().union(inherited.entries().clone());
        self.metadata = inherited.with_entries(entries);
        self
    }

    /// The command's type, such as `AddTodo`.
    #[must_use]
    pub fn command_type(&self) -> &str {
        &self.command_type
    }

    /// When it was expressed, in UTC.
    #[must_use]
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The payload.
    #[must_use]
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Returns the command with another timestamp.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Returns the command with another payload, which may be of another type.
    #[must_use]
    pub fn with_data<E>(self, data: E) -> Command<E> {
        Command {
            id: self.id,
            command_type: self.command_type,
            timestamp: self.timestamp,
            data,
            metadata: self.metadata,
        }
    }
}

impl<D> Cause for Command<D> {
    fn cause_id(&self) -> Uuid {
        self.id
    }

    fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_command_has_all_three_values() {
        let before = Timestamp::now();
        let command = Command::new("AddTodo");
        assert_eq!(command.command_type(), "AddTodo");
        assert!(command.timestamp() >= before && command.timestamp() <= Timestamp::now());
        assert!(command.data().is_empty());
    }

    #[test]
    fn require_str_says_what_was_expected_and_found() {
        let command = Command::new("AddTodo").with_entry("status", 3);
        let err = command.require_str("status").unwrap_err();
        assert_eq!(
            err.to_string(),
            "command `AddTodo`: data `status` should be a string, found 3"
        );
    }
}
