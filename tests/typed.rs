//! Typed payloads and typed state: serde enums and structs in place of the
//! dynamic `Data` map, through every part of the model.

use dvent::{
    Aggregate, AggregateKind, Command, CommandError, CommandHandler, Event, EventStore,
    ExpectedVersion, InMemoryEventStore, Repository, vector,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum TodoEvent {
    Added { description: String },
    StatusChanged { status: Status },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Status {
    #[default]
    Queued,
    Started,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Todo {
    description: String,
    status: Status,
    changes: u32,
}

fn todo_kind() -> AggregateKind<Todo, TodoEvent> {
    fn apply(state: Todo, event: &Event<TodoEvent>) -> Todo {
        match event.data() {
            TodoEvent::Added { description } => Todo {
                description: description.clone(),
                ..state
            },
            TodoEvent::StatusChanged { status } => Todo {
                status: *status,
                changes: state.changes + 1,
                ..state
            },
        }
    }
    AggregateKind::with_initial_state("Todo", Todo::default())
        .on("TodoAdded", apply)
        .on("TodoStatusChanged", apply)
}

fn added(description: &str) -> Event<TodoEvent> {
    Event::typed(
        "TodoAdded",
        TodoEvent::Added {
            description: description.into(),
        },
    )
}

fn started() -> Event<TodoEvent> {
    Event::new("TodoStatusChanged").with_data(TodoEvent::StatusChanged {
        status: Status::Started,
    })
}

#[test]
fn a_typed_aggregate_folds_typed_events_into_typed_state() {
    let todo = Aggregate::new(&todo_kind())
        .apply(added("Buy milk"))
        .apply(started());
    assert_eq!(
        todo.state(),
        &Todo {
            description: "Buy milk".into(),
            status: Status::Started,
            changes: 1
        }
    );
    assert_eq!(todo.uncommitted_version(), 2);
}

#[test]
fn typed_aggregates_save_and_load_through_a_repository() {
    let store: InMemoryEventStore<TodoEvent> = InMemoryEventStore::default();
    let repo = Repository::new(store.clone());
    let kind = todo_kind();
    let todo = Aggregate::new(&kind).apply(added("Buy milk"));
    let saved = repo.save(&todo).unwrap();
    let loaded = repo.load(&kind, todo.id()).unwrap().unwrap();
    assert_eq!(loaded, saved);
    assert_eq!(
        store
            .last_event(&todo.id().to_string())
            .unwrap()
            .unwrap()
            .version(),
        1
    );

    // A second writer on a stale copy conflicts.
    repo.save(&loaded.clone().apply(started())).unwrap();
    let err = repo.save(&loaded.apply(started())).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected version 1, found version 2"),
        "{err}"
    );
}

#[test]
fn typed_events_serialise_with_their_payload() {
    let event = started().with_stream_id("s").with_version(1);
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["data"]["StatusChanged"]["status"], "Started");
    let back: Event<TodoEvent> = serde_json::from_value(json).unwrap();
    assert_eq!(back, event);
}

#[test]
fn typed_commands_are_routed_by_type() {
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct Rename {
        to: String,
    }
    let handler = CommandHandler::typed(()).on("Rename", |_: &(), c: &Command<Rename>| {
        Ok::<_, CommandError>(c.data().to.clone())
    });
    let command = Command::typed("Rename", Rename { to: "Milk".into() });
    assert_eq!(handler.handle(&command).unwrap(), "Milk");
    let other = Command::typed("Delete", Rename { to: String::new() });
    assert!(matches!(
        handler.handle(&other),
        Err(CommandError::Unhandled { .. })
    ));
}

#[test]
fn a_typed_store_checks_expected_versions() {
    let store = InMemoryEventStore::<TodoEvent>::default();
    store
        .append("t", &vector![added("a")], ExpectedVersion::NoStream)
        .unwrap();
    assert!(
        store
            .append("t", &vector![added("b")], ExpectedVersion::NoStream)
            .is_err()
    );
    assert_eq!(store.events(Some("t"), 0).unwrap().len(), 1);
}
