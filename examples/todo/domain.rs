//! The Todo domain of the original dvent notebook, typed from end to end:
//! the model for a domain on dvent.
//!
//! - Events are one enum, [`TodoEvent`], that names its own event types
//!   ([`EventType`]): its `match` is the only place the example spells them
//!   (but for [`upcasters`], which names the stored type it upcasts).
//! - The state is a plain struct, [`Todo`], folded by one [`evolve`]
//!   function: an exhaustive `match` with no wildcard arm, so the compiler
//!   reports an event that it forgets.
//! - Commands are one enum, [`TodoCommand`]; [`decide`] is a pure function
//!   from the current todo and a command to events, or to a [`TodoError`].
//! - `Repository::execute` loads a todo, runs a decision on it and saves
//!   the events it returns (retrying on a version conflict): no command
//!   handler, no hand-written load and save.
//! - Its schema changes are upcast: `TodoAdded` is at payload version 2
//!   (it gained `due`), declared by [`EventType::data_version`], and
//!   [`upcasters`] reads a version-1 `TodoAdded`, stored before, as
//!   version 2. Every store of [`TodoEvent`] is given them
//!   (`with_upcasters(upcasters())`).
//!
//! `tests/typed_domain.rs` includes this file by path and tests it: its
//! decisions with given/when/then, `execute` on every store, the upcaster
//! on every store.

use std::fmt;
use std::str::FromStr;

use dvent::jiff::Timestamp;
use dvent::jiff::civil::Date;
use dvent::serde_json::Value;
use dvent::uuid::Uuid;
use dvent::{Aggregate, AggregateKind, Event, EventType, Upcasters};
use serde::{Deserialize, Serialize};

/// What happens to a todo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TodoEvent {
    /// A todo was added, with a due date or none.
    ///
    /// Payload version 2; version 1 had no `due`. `due` is required in
    /// the JSON (`null` for none: `deserialize_with` stops serde reading a
    /// missing `Option` as `None`), so a version-1 payload decodes only
    /// through [`upcasters`], never by accident.
    Added {
        description: String,
        status: Status,
        #[serde(deserialize_with = "Option::deserialize")]
        due: Option<Date>,
    },
    /// A todo's description changed.
    Renamed { description: String },
    /// A todo's status changed.
    StatusChanged { status: Status },
    /// A todo was removed.
    Removed,
}

impl EventType for TodoEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TodoEvent::Added { .. } => "TodoAdded",
            TodoEvent::Renamed { .. } => "TodoRenamed",
            TodoEvent::StatusChanged { .. } => "TodoStatusChanged",
            TodoEvent::Removed => "TodoRemoved",
        }
    }

    /// The version of each payload's schema, recorded by `Event::of`: 2
    /// for `Added` (it gained `due`), 1 for the others. Raise one with an
    /// upcaster in [`upcasters`] for the step.
    fn data_version(&self) -> u32 {
        match self {
            TodoEvent::Added { .. } => 2,
            TodoEvent::Renamed { .. } | TodoEvent::StatusChanged { .. } | TodoEvent::Removed => 1,
        }
    }
}

/// The upcasters of the Todo domain's stored history, for every store of
/// [`TodoEvent`] (`with_upcasters(upcasters())`): `TodoAdded` 1 → 2 adds
/// `"due": null`.
///
/// They work on the payload as stored: [`TodoEvent`]'s JSON, the variant's
/// name around its fields (`{"Added": {"description": .., "status": ..}}`).
pub fn upcasters() -> Upcasters {
    Upcasters::new().on("TodoAdded", 1, added_without_due)
}

/// `TodoAdded` 1 → 2: a todo added before due dates has none. A payload of
/// another shape, or one that has `due` already, is left as it is (never a
/// panic): decoding it then says what is wrong.
fn added_without_due(mut json: Value) -> Value {
    if let Some(added) = json.get_mut("Added").and_then(Value::as_object_mut) {
        added.entry("due").or_insert(Value::Null);
    }
    json
}

/// The statuses a todo can have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[default]
    Queued,
    Started,
    Finished,
}

impl Status {
    /// Every status, in order.
    pub const ALL: [Status; 3] = [Status::Queued, Status::Started, Status::Finished];

    /// The status's name, such as `Queued`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "Queued",
            Status::Started => "Started",
            Status::Finished => "Finished",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text from outside (a form, a request) becomes a [`Status`] here, and only
/// here: an unknown status is refused before any command is made.
impl FromStr for Status {
    type Err = TodoError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| TodoError::UnknownStatus(text.to_string()))
    }
}

/// A todo's state: what its events made of it. Printed as JSON, without the
/// timestamps it does not have yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Todo {
    pub description: String,
    pub status: Status,
    /// When it is due, if ever: `null` when not.
    pub due: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_ts: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_ts: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_ts: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_ts: Option<Timestamp>,
}

/// What one can ask of a todo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TodoCommand {
    /// Add a new todo, with a description that is not empty and a due date
    /// or none.
    Add {
        description: String,
        status: Status,
        due: Option<Date>,
    },
    /// Give a todo another description, not empty; nothing happens when it
    /// has that description.
    Rename { description: String },
    /// Change a todo's status; nothing happens when it has that status.
    ChangeStatus { status: Status },
    /// Remove a todo; nothing happens when it is removed already.
    Remove,
}

/// What a todo refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TodoError {
    /// A status that is none of [`Status::ALL`].
    #[error("a todo's status should be one of Queued, Started, Finished, found {0:?}")]
    UnknownStatus(String),
    /// `Add` on an id that already has a todo.
    #[error("a todo with id {0} exists already")]
    AlreadyAdded(Uuid),
    /// Any other command on an id that has no todo.
    #[error("no todo has id {0}")]
    NotFound(Uuid),
    /// `Rename` or `ChangeStatus` on a removed todo.
    #[error("the todo with id {0} is removed")]
    Removed(Uuid),
    /// `Add` or `Rename` with a description that is empty (or only spaces).
    #[error("a todo's description should not be empty")]
    EmptyDescription,
}

/// A todo as dvent holds it: its id, version, events and [`Todo`] state.
pub type TodoAggregate = Aggregate<Todo, TodoEvent>;

/// The one evolve function: the next state from a state and an event.
pub fn evolve(todo: Todo, event: &Event<TodoEvent>) -> Todo {
    let at = Some(event.timestamp());
    match event.data() {
        TodoEvent::Added {
            description,
            status,
            due,
        } => Todo {
            description: description.clone(),
            status: *status,
            due: *due,
            added_ts: at,
            ..todo
        },
        TodoEvent::Renamed { description } => Todo {
            description: description.clone(),
            renamed_ts: at,
            ..todo
        },
        TodoEvent::StatusChanged { status } => Todo {
            status: *status,
            changed_ts: at,
            ..todo
        },
        TodoEvent::Removed => Todo {
            removed_ts: at,
            ..todo
        },
    }
}

/// The Todo aggregate kind: an empty todo, folded by [`evolve`].
pub fn todo_kind() -> AggregateKind<Todo, TodoEvent> {
    AggregateKind::evolving("Todo", Todo::default(), evolve)
}

/// The decision: pure, from the current todo and a command to the events
/// that should happen (none, when the command changes nothing).
pub fn decide(
    todo: &TodoAggregate,
    command: &TodoCommand,
) -> Result<Vec<Event<TodoEvent>>, TodoError> {
    let state = todo.state();
    let exists = state.added_ts.is_some();
    // Renaming and changing the status need a todo that is not removed.
    let changeable = || {
        if !exists {
            Err(TodoError::NotFound(todo.id()))
        } else if state.removed_ts.is_some() {
            Err(TodoError::Removed(todo.id()))
        } else {
            Ok(())
        }
    };
    let event = match command {
        TodoCommand::Add {
            description,
            status,
            due,
        } => {
            if exists {
                return Err(TodoError::AlreadyAdded(todo.id()));
            }
            TodoEvent::Added {
                description: non_empty(description)?,
                status: *status,
                due: *due,
            }
        }
        TodoCommand::Rename { description } => {
            changeable()?;
            let description = non_empty(description)?;
            if state.description == description {
                return Ok(Vec::new());
            }
            TodoEvent::Renamed { description }
        }
        TodoCommand::ChangeStatus { status } => {
            changeable()?;
            if state.status == *status {
                return Ok(Vec::new());
            }
            TodoEvent::StatusChanged { status: *status }
        }
        TodoCommand::Remove => {
            if !exists {
                return Err(TodoError::NotFound(todo.id()));
            }
            if state.removed_ts.is_some() {
                return Ok(Vec::new());
            }
            TodoEvent::Removed
        }
    };
    Ok(vec![Event::of(event)])
}

/// The description as given, unless it is empty (or only spaces).
fn non_empty(description: &str) -> Result<String, TodoError> {
    if description.trim().is_empty() {
        Err(TodoError::EmptyDescription)
    } else {
        Ok(description.to_string())
    }
}

/// Several commands as one decision: each decided on the todo the previous
/// ones made, all their events saved together (or none, if one is refused).
pub fn decide_all(
    todo: &TodoAggregate,
    commands: &[TodoCommand],
) -> Result<Vec<Event<TodoEvent>>, TodoError> {
    let mut current = todo.clone();
    let mut decided = Vec::new();
    for command in commands {
        let events = decide(&current, command)?;
        current = current.apply_all(events.iter().cloned());
        decided.extend(events);
    }
    Ok(decided)
}
