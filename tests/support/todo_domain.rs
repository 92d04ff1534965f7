//! The Todo domain of the original dvent notebook, on the dynamic `Data`
//! payload: events, commands, the aggregate kind, pure deciders and a
//! command handler.
//!
//! The Gherkin features' Todo domain (`tests/features.rs` includes it by
//! path), kept in the dynamic form the spec describes; the example
//! (`examples/todo/`) is the same domain on the typed path.

use dvent::uuid::Uuid;
use dvent::{Aggregate, AggregateKind, Command, CommandError, CommandHandler, Event, Repository};

/// The statuses a todo can have.
pub const STATUSES: [&str; 3] = ["Queued", "Started", "Finished"];

/// The Todo aggregate kind: what each event does to the state.
pub fn todo_kind() -> AggregateKind {
    AggregateKind::new("Todo")
        .on("TodoAdded", |state, event| {
            state
                .update("description", event.data()["description"].clone())
                .update("status", event.data()["status"].clone())
                .update("added_ts", timestamp_of(event))
        })
        .on("TodoStatusChanged", |state, event| {
            state
                .update("status", event.data()["status"].clone())
                .update("changed_ts", timestamp_of(event))
        })
        .on("TodoRemoved", |state, event| {
            state.update("removed_ts", timestamp_of(event))
        })
}

fn timestamp_of(event: &Event) -> String {
    event.timestamp().to_string()
}

/// Checks that `status` is one of [`STATUSES`].
pub fn valid_status(status: &str) -> Result<&str, CommandError> {
    if STATUSES.contains(&status) {
        Ok(status)
    } else {
        Err(CommandError::Rejected(format!(
            "a todo's status should be one of {}, found {status:?}",
            STATUSES.join(", ")
        )))
    }
}

/// Decides the event that adds a todo.
pub fn add(description: &str, status: &str) -> Result<Event, CommandError> {
    let status = valid_status(status)?;
    Ok(Event::new("TodoAdded")
        .with_entry("description", description)
        .with_entry("status", status))
}

/// Decides the event that changes a todo's status: none when it already has
/// that status.
pub fn change_status(todo: &Aggregate, status: &str) -> Result<Option<Event>, CommandError> {
    let status = valid_status(status)?;
    if todo.state().get_str("status") == Some(status) {
        return Ok(None);
    }
    Ok(Some(
        Event::new("TodoStatusChanged")
            .with_entry("id", todo.id().to_string())
            .with_entry("status", status),
    ))
}

/// Decides the event that removes a todo: none when it is removed already.
pub fn remove(todo: &Aggregate) -> Option<Event> {
    if todo.state().contains_key("removed_ts") {
        return None;
    }
    Some(Event::new("TodoRemoved").with_entry("id", todo.id().to_string()))
}

/// What the command functions need.
#[derive(Clone, Debug)]
pub struct TodoContext {
    /// Where todos are loaded from and saved to.
    pub repository: Repository,
    /// The Todo aggregate kind.
    pub kind: AggregateKind,
}

/// The command handler: `AddTodo`, `ChangeTodoStatus` and `RemoveTodo`, each
/// returning the saved todo.
pub fn handler(context: TodoContext) -> CommandHandler<TodoContext, Aggregate> {
    CommandHandler::new(context)
        .on("AddTodo", |ctx: &TodoContext, cmd: &Command| {
            let event = add(cmd.require_str("description")?, cmd.require_str("status")?)?;
            let todo = Aggregate::new(&ctx.kind).apply(event);
            Ok(ctx.repository.save(&todo)?)
        })
        .on("ChangeTodoStatus", |ctx: &TodoContext, cmd: &Command| {
            let todo = load(ctx, cmd)?;
            let decided = change_status(&todo, cmd.require_str("status")?)?;
            let todo = todo.apply_all(decided);
            Ok(ctx.repository.save(&todo)?)
        })
        .on("RemoveTodo", |ctx: &TodoContext, cmd: &Command| {
            let todo = load(ctx, cmd)?;
            let decided = remove(&todo);
            let todo = todo.apply_all(decided);
            Ok(ctx.repository.save(&todo)?)
        })
}

fn load(ctx: &TodoContext, cmd: &Command) -> Result<Aggregate, CommandError> {
    let text = cmd.require_str("id")?;
    let id = Uuid::parse_str(text).map_err(|e| CommandError::InvalidData {
        command_type: cmd.command_type().to_string(),
        key: "id".to_string(),
        expected: "a UUID".to_string(),
        found: format!("{text:?} ({e})"),
    })?;
    ctx.repository
        .load(&ctx.kind, id)?
        .ok_or_else(|| CommandError::Rejected(format!("no todo has id {id}")))
}
