//! The Todo board, the read side's example: todos by status and the open
//! ones, folded from the Todo domain's events of every stream. One fold
//! serves the projection (its state is a `Data` map) and the read models
//! kept in each store (`read_model.rs`), through [`Model`]: a map of keys
//! to JSON values, read and written one key at a time.
//!
//! The keys: `todo/<stream id>` holds a todo's description and status (a
//! removed todo has none), `count/<status>` how many todos have it.

use dvent::serde_json::{Value, json};
use dvent::store::Recorded;
use dvent::uuid::Uuid;
use dvent::{Aggregate, Data, Repository};

use crate::todo_domain::{self, todo_kind};

/// Why a read model's handler failed.
#[derive(Debug)]
pub enum ModelError {
    /// The database refused a read or a write.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    Database(String),
    /// A crash the scenario asked for, on the event at this position.
    Crashed(u64),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Database(message) => write!(f, "the database failed: {message}"),
            ModelError::Crashed(position) => write!(f, "crashed on the event at {position}"),
        }
    }
}

impl std::error::Error for ModelError {}

/// A read model as a handler sees it: keys to JSON values.
pub trait Model {
    fn get(&mut self, key: &str) -> Result<Option<Value>, ModelError>;
    fn set(&mut self, key: &str, value: Value) -> Result<(), ModelError>;
    fn remove(&mut self, key: &str) -> Result<(), ModelError>;
}

/// The projection's state, and the memory store's read model.
impl Model for Data {
    fn get(&mut self, key: &str) -> Result<Option<Value>, ModelError> {
        Ok(Data::get(self, key).cloned())
    }

    fn set(&mut self, key: &str, value: Value) -> Result<(), ModelError> {
        self.insert(key, value);
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<(), ModelError> {
        *self = self.without(key);
        Ok(())
    }
}

/// Adds `delta` to the count of `status`.
fn count(model: &mut dyn Model, status: &str, delta: i64) -> Result<(), ModelError> {
    let key = format!("count/{status}");
    let n = model.get(&key)?.and_then(|v| v.as_i64()).unwrap_or(0);
    model.set(&key, json!(n + delta))
}

/// The board after one more event.
pub fn apply(model: &mut dyn Model, recorded: &Recorded) -> Result<(), ModelError> {
    let event = &recorded.event;
    let key = format!("todo/{}", event.stream_id());
    let status = event.data().get_str("status").unwrap_or_default();
    match event.event_type() {
        "TodoAdded" => {
            let todo = json!({ "description": event.data()["description"], "status": status });
            model.set(&key, todo)?;
            count(model, status, 1)
        }
        "TodoStatusChanged" => {
            let Some(mut todo) = model.get(&key)? else {
                return Ok(());
            };
            let old = todo["status"].as_str().unwrap_or_default().to_string();
            count(model, &old, -1)?;
            count(model, status, 1)?;
            todo["status"] = json!(status);
            model.set(&key, todo)
        }
        "TodoRemoved" => {
            let Some(todo) = model.get(&key)? else {
                return Ok(());
            };
            count(model, todo["status"].as_str().unwrap_or_default(), -1)?;
            model.remove(&key)
        }
        _ => Ok(()),
    }
}

/// The board as a projection of every stream.
pub fn projection() -> dvent::Projection<Data> {
    dvent::Projection::new("board", Data::new(), |mut board: Data, recorded| {
        apply(&mut board, recorded).expect("a Data board never fails");
        board
    })
}

/// How many todos have `status` on `board`.
pub fn count_of(board: &Data, status: &str) -> i64 {
    board.get_i64(&format!("count/{status}")).unwrap_or(0)
}

/// The descriptions of the todos on `board` not yet finished, sorted.
pub fn open_todos(board: &Data) -> Vec<String> {
    let mut open: Vec<String> = board
        .iter()
        .filter(|(key, _)| key.starts_with("todo/"))
        .filter(|(_, todo)| todo["status"] != "Finished")
        .map(|(_, todo)| todo["description"].as_str().unwrap_or_default().to_string())
        .collect();
    open.sort();
    open
}

/// Adds a todo through the domain and the repository; returns its id.
pub fn add_todo(repository: &Repository, description: &str, status: &str) -> Uuid {
    let event = todo_domain::add(description, status).expect("a valid todo");
    let todo = Aggregate::new(&todo_kind()).apply(event);
    repository.save(&todo).expect("the todo is saved").id()
}

/// Changes a todo's status through the domain and the repository.
pub fn change_todo(repository: &Repository, id: Uuid, status: &str) {
    let todo = load(repository, id);
    let decided = todo_domain::change_status(&todo, status).expect("a valid status");
    assert!(decided.is_some(), "the todo already has status {status}");
    repository
        .save(&todo.apply_all(decided))
        .expect("the change is saved");
}

/// Removes a todo through the domain and the repository.
pub fn remove_todo(repository: &Repository, id: Uuid) {
    let todo = load(repository, id);
    let decided = todo_domain::remove(&todo);
    assert!(decided.is_some(), "the todo is removed already");
    repository
        .save(&todo.apply_all(decided))
        .expect("the removal is saved");
}

fn load(repository: &Repository, id: Uuid) -> Aggregate {
    repository
        .load(&todo_kind(), id)
        .expect("read")
        .expect("the todo was added")
}
