//! Steps about the Todo example domain.

use cucumber::{given, then, when};
use dvent::uuid::Uuid;
use dvent::{Aggregate, Command, CommandError, Repository};

use super::world::DventWorld;
use crate::todo_domain::{self, TodoContext, handler, todo_kind};

#[given("a Todo command handler over an empty event store")]
fn todo_handler(world: &mut DventWorld) {
    let context = TodoContext {
        repository: Repository::from_shared(world.store.clone()),
        kind: todo_kind(),
    };
    world.todos = Some(handler(context.clone()));
    world.todo_context = Some(context);
}

fn run(world: &mut DventWorld, command: Command) -> Result<Aggregate, CommandError> {
    let todos = world.todos.as_ref().expect("a Todo handler was made");
    let result = todos.handle(&command);
    if let Ok(todo) = &result {
        world.todo_results.insert(todo.id(), todo.clone());
        world.todo = Some(todo.clone());
    }
    result
}

fn add(world: &mut DventWorld, description: &str, status: &str) -> Result<Uuid, CommandError> {
    let command = Command::new("AddTodo")
        .with_entry("description", description)
        .with_entry("status", status);
    let todo = run(world, command)?;
    world.todo_ids.push(todo.id());
    Ok(todo.id())
}

fn change(world: &mut DventWorld, id: Uuid, status: &str) {
    let command = Command::new("ChangeTodoStatus")
        .with_entry("id", id.to_string())
        .with_entry("status", status);
    run(world, command).expect("the status changes");
}

fn remove(world: &mut DventWorld, id: Uuid) {
    let command = Command::new("RemoveTodo").with_entry("id", id.to_string());
    run(world, command).expect("the todo is removed");
}

fn todo(world: &DventWorld) -> &Aggregate {
    world.todo.as_ref().expect("a todo was handled")
}

fn reloaded(world: &DventWorld, id: Uuid) -> Aggregate {
    let context = world
        .todo_context
        .as_ref()
        .expect("a Todo handler was made");
    context
        .repository
        .load(&context.kind, id)
        .expect("read")
        .expect("the todo was saved")
}

#[given(expr = "the todo {string} with status {string}")]
fn given_todo(world: &mut DventWorld, description: String, status: String) {
    add(world, &description, &status).expect("the todo is added");
}

#[when(expr = "I add the todo {string} with status {string}")]
fn add_todo(world: &mut DventWorld, description: String, status: String) {
    world.todo_error = add(world, &description, &status).err();
}

#[when(expr = "I change the todo's status to {string}")]
fn change_status(world: &mut DventWorld, status: String) {
    let id = todo(world).id();
    change(world, id, &status);
}

#[when("I remove the todo")]
fn remove_todo(world: &mut DventWorld) {
    let id = todo(world).id();
    remove(world, id);
}

#[then(expr = "the todo is at version {int}")]
fn todo_version(world: &mut DventWorld, version: u64) {
    assert_eq!(todo(world).version(), version);
    assert!(todo(world).uncommitted_events().is_empty());
    assert_eq!(reloaded(world, todo(world).id()).version(), version);
}

#[then(expr = "the todo's state has {string} {string}, {string} {string} and an {string}")]
fn todo_state_added(
    world: &mut DventWorld,
    k1: String,
    v1: String,
    k2: String,
    v2: String,
    ts: String,
) {
    let state = todo(world).state();
    assert_eq!(state[&k1], v1.as_str());
    assert_eq!(state[&k2], v2.as_str());
    let added = state[&ts].as_str().expect("a timestamp");
    assert_eq!(added, timestamp_text(todo(world), 0));
}

/// The timestamp of the todo's event at `index`, as the state records it.
fn timestamp_text(todo: &Aggregate, index: usize) -> String {
    todo.events()[index].timestamp().to_string()
}

#[then(expr = "the todo's state has {string} {string} and a {string}")]
fn todo_state_changed(world: &mut DventWorld, key: String, value: String, ts: String) {
    let todo = todo(world);
    assert_eq!(todo.state()[&key], value.as_str());
    let last = todo.events().len() - 1;
    assert_eq!(
        todo.state()[&ts].as_str(),
        Some(timestamp_text(todo, last).as_str())
    );
}

#[then(expr = "the todo's state has no {string}")]
fn todo_state_lacks(world: &mut DventWorld, key: String) {
    assert!(!todo(world).state().contains_key(&key));
}

#[then(expr = "the todo's state has a {string}")]
fn todo_state_has(world: &mut DventWorld, key: String) {
    let todo = todo(world);
    let last = todo.events().len() - 1;
    assert_eq!(
        todo.state()[&key].as_str(),
        Some(timestamp_text(todo, last).as_str())
    );
}

#[then("the command succeeds")]
fn command_succeeds(world: &mut DventWorld) {
    assert!(world.todo_error.is_none(), "{:?}", world.todo_error);
    assert_eq!(todo(world).version(), 1);
}

#[then(expr = "the command is rejected, naming {string} and {string}")]
fn command_rejected(world: &mut DventWorld, allowed: String, given: String) {
    let error = world.todo_error.as_ref().expect("the command was rejected");
    assert!(matches!(error, CommandError::Rejected(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&allowed) && message.contains(&format!("{given:?}")),
        "{message}"
    );
    assert!(
        world.store.streams(0).expect("list").is_empty(),
        "nothing was saved"
    );
}

#[when(expr = "I add {int} todos with status {string}")]
fn add_many(world: &mut DventWorld, n: usize, status: String) {
    for i in 1..=n {
        add(world, &format!("Todo number {i}"), &status).expect("the todo is added");
    }
}

#[then(expr = "each of the {int} todos is at version {int}")]
fn each_at_version(world: &mut DventWorld, n: usize, version: u64) {
    assert_eq!(world.todo_ids.len(), n);
    for id in &world.todo_ids {
        assert_eq!(world.todo_results[id].version(), version);
    }
}

#[when(expr = "I change the status of the last {int} todos to {string}")]
fn change_last(world: &mut DventWorld, n: usize, status: String) {
    let ids: Vec<Uuid> = world.todo_ids.iter().rev().take(n).copied().collect();
    for id in ids {
        change(world, id, &status);
    }
}

#[then(expr = "each of the last {int} todos is at version {int} with a {string}")]
fn last_at_version(world: &mut DventWorld, n: usize, version: u64, key: String) {
    for id in world.todo_ids.iter().rev().take(n) {
        let todo = &world.todo_results[id];
        assert_eq!(todo.version(), version);
        assert!(todo.state().contains_key(&key));
    }
}

#[then(expr = "all {int} todos read back from the repository with their states")]
fn all_read_back(world: &mut DventWorld, n: usize) {
    assert_eq!(world.todo_ids.len(), n);
    for id in &world.todo_ids {
        assert_eq!(&reloaded(world, *id), &world.todo_results[id]);
    }
}

#[when("I remove the first todo")]
fn remove_first(world: &mut DventWorld) {
    let id = world.todo_ids[0];
    remove(world, id);
}

#[then(expr = "the first todo is at version {int} with a {string}")]
fn first_at_version(world: &mut DventWorld, version: u64, key: String) {
    let todo = reloaded(world, world.todo_ids[0]);
    assert_eq!(todo.version(), version);
    assert!(todo.state().contains_key(&key));
}

#[when(
    expr = "I load the last todo, change it to {string}, {string} and {string}, remove it and save it in one go"
)]
fn change_and_remove_last(world: &mut DventWorld, s1: String, s2: String, s3: String) {
    let id = *world.todo_ids.last().expect("todos were added");
    let mut todo = reloaded(world, id);
    assert_eq!(todo.state()["status"], "Started");
    for status in [s1, s2, s3] {
        let decided = todo_domain::change_status(&todo, &status).expect("a valid status");
        todo = todo.apply_all(decided);
    }
    let decided = todo_domain::remove(&todo);
    let todo = todo.apply_all(decided);
    let context = world
        .todo_context
        .as_ref()
        .expect("a Todo handler was made");
    let saved = context.repository.save(&todo).expect("saved");
    world.todo = Some(saved);
}

#[then(expr = "the last todo is at version {int} with status {string} and a {string}")]
fn last_todo(world: &mut DventWorld, version: u64, status: String, key: String) {
    let todo = reloaded(world, *world.todo_ids.last().expect("todos"));
    assert_eq!(todo.version(), version);
    assert_eq!(todo.state()["status"], status.as_str());
    assert!(todo.state().contains_key(&key));
    assert_eq!(Some(&todo), world.todo.as_ref());
}

#[then(expr = "its events are {string}")]
fn its_events(world: &mut DventWorld, types: String) {
    let todo = todo(world);
    let got: Vec<&str> = todo.events().iter().map(|e| e.event_type()).collect();
    assert_eq!(got.join(", "), types);
    let versions: Vec<u64> = todo.events().iter().map(|e| e.version()).collect();
    assert_eq!(versions, (1..=got.len() as u64).collect::<Vec<_>>());
}
