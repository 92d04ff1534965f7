//! The Todo domain, typed from end to end: an event enum that names its
//! own variants, one evolve function, decisions that return the domain's
//! own error, run through `Repository::execute` on every store and tested
//! with given/when/then.
//!
//! No event-type string appears in the domain below except inside the one
//! `event_type` match.

#[path = "support/stores.rs"]
mod stores;
#[path = "support/typed_stores.rs"]
mod typed_stores;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use dvent::testing::{Mismatch, given};
use dvent::uuid::Uuid;
use dvent::{
    Aggregate, AggregateKind, Event, EventStore, EventType, ExecuteError, ExpectedVersion,
    InMemoryEventStore, Repository, StoreError, StreamInfo,
};
use serde::{Deserialize, Serialize};

use typed_stores::typed_stores;

// ---------------------------------------------------------------------------
// The domain
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum TodoEvent {
    Added { description: String },
    Renamed { description: String },
    StatusChanged { status: Status },
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
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Status {
    #[default]
    Queued,
    Started,
    Finished,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Todo {
    added: bool,
    description: String,
    status: Status,
    removed: bool,
    renames: u32,
}

/// What a todo can refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TodoError {
    AlreadyAdded,
    NotAdded,
    Removed,
    EmptyDescription,
}

impl fmt::Display for TodoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TodoError::AlreadyAdded => "the todo is added already",
            TodoError::NotAdded => "the todo is not added yet",
            TodoError::Removed => "the todo is removed",
            TodoError::EmptyDescription => "a todo's description should be non-empty",
        })
    }
}

impl std::error::Error for TodoError {}

#[derive(Clone, Debug)]
enum TodoCommand {
    Add { description: String },
    Rename { description: String },
    ChangeStatus { status: Status },
    Remove,
}

type TodoAggregate = Aggregate<Todo, TodoEvent>;

/// The one evolve function: exhaustive, so a new event needs an arm here.
fn evolve(todo: Todo, event: &Event<TodoEvent>) -> Todo {
    match event.data() {
        TodoEvent::Added { description } => Todo {
            added: true,
            description: description.clone(),
            ..todo
        },
        TodoEvent::Renamed { description } => Todo {
            description: description.clone(),
            renames: todo.renames + 1,
            ..todo
        },
        TodoEvent::StatusChanged { status } => Todo {
            status: *status,
            ..todo
        },
        TodoEvent::Removed => Todo {
            removed: true,
            ..todo
        },
    }
}

fn todo_kind() -> AggregateKind<Todo, TodoEvent> {
    AggregateKind::evolving("Todo", Todo::default(), evolve)
}

/// The decision: pure, from the current todo and the command to events.
fn decide(todo: &TodoAggregate, command: &TodoCommand) -> Result<Vec<Event<TodoEvent>>, TodoError> {
    let state = todo.state();
    let existing = || {
        if !state.added {
            Err(TodoError::NotAdded)
        } else if state.removed {
            Err(TodoError::Removed)
        } else {
            Ok(())
        }
    };
    let event = match command {
        TodoCommand::Add { description } => {
            if state.added {
                return Err(TodoError::AlreadyAdded);
            }
            TodoEvent::Added {
                description: non_empty(description)?,
            }
        }
        TodoCommand::Rename { description } => {
            existing()?;
            TodoEvent::Renamed {
                description: non_empty(description)?,
            }
        }
        TodoCommand::ChangeStatus { status } => {
            existing()?;
            if state.status == *status {
                return Ok(Vec::new());
            }
            TodoEvent::StatusChanged { status: *status }
        }
        TodoCommand::Remove => {
            existing()?;
            TodoEvent::Removed
        }
    };
    Ok(vec![Event::of(event)])
}

fn non_empty(description: &str) -> Result<String, TodoError> {
    if description.trim().is_empty() {
        Err(TodoError::EmptyDescription)
    } else {
        Ok(description.to_string())
    }
}

// Shorthands for tests.

fn add(description: &str) -> TodoCommand {
    TodoCommand::Add {
        description: description.into(),
    }
}

fn rename(description: &str) -> TodoCommand {
    TodoCommand::Rename {
        description: description.into(),
    }
}

fn added(description: &str) -> Event<TodoEvent> {
    Event::of(TodoEvent::Added {
        description: description.into(),
    })
}

fn renamed(description: &str) -> Event<TodoEvent> {
    Event::of(TodoEvent::Renamed {
        description: description.into(),
    })
}

fn when(
    command: TodoCommand,
) -> impl FnOnce(&TodoAggregate) -> Result<Vec<Event<TodoEvent>>, TodoError> {
    move |todo| decide(todo, &command)
}

// ---------------------------------------------------------------------------
// Given, when, then
// ---------------------------------------------------------------------------

#[test]
fn a_new_todo_is_added() -> Result<(), Mismatch> {
    given(&todo_kind(), [])
        .when(when(add("Buy milk")))
        .then([added("Buy milk")])
}

#[test]
fn a_todo_is_added_once() -> Result<(), Mismatch> {
    given(&todo_kind(), [added("Buy milk")])
        .when(when(add("Buy bread")))
        .then_error(TodoError::AlreadyAdded)
}

#[test]
fn a_todo_not_added_cannot_be_renamed() -> Result<(), Mismatch> {
    given(&todo_kind(), [])
        .when(when(rename("Buy bread")))
        .then_error(TodoError::NotAdded)
}

#[test]
fn a_todo_is_renamed_to_a_non_empty_description() -> Result<(), Mismatch> {
    given(&todo_kind(), [added("Buy milk")])
        .when(when(rename("Buy bread")))
        .then([renamed("Buy bread")])?;
    given(&todo_kind(), [added("Buy milk")])
        .when(when(rename("  ")))
        .then_error(TodoError::EmptyDescription)
}

#[test]
fn changing_to_the_status_a_todo_has_decides_nothing() -> Result<(), Mismatch> {
    let started = Event::of(TodoEvent::StatusChanged {
        status: Status::Started,
    });
    given(&todo_kind(), [added("Buy milk"), started.clone()])
        .when(when(TodoCommand::ChangeStatus {
            status: Status::Started,
        }))
        .then([])?;
    given(&todo_kind(), [added("Buy milk"), started])
        .when(when(TodoCommand::ChangeStatus {
            status: Status::Finished,
        }))
        .then([Event::of(TodoEvent::StatusChanged {
            status: Status::Finished,
        })])
}

#[test]
fn a_removed_todo_refuses_everything_but_add() -> Result<(), Mismatch> {
    let history = [added("Buy milk"), Event::of(TodoEvent::Removed)];
    for command in [
        rename("x"),
        TodoCommand::Remove,
        TodoCommand::ChangeStatus {
            status: Status::Finished,
        },
    ] {
        given(&todo_kind(), history.clone())
            .when(when(command))
            .then_error(TodoError::Removed)?;
    }
    given(&todo_kind(), history)
        .when(when(add("again")))
        .then_error(TodoError::AlreadyAdded)
}

#[test]
fn a_failed_check_reads_as_a_sentence() {
    let failed = given(&todo_kind(), [added("Buy milk")])
        .when(when(rename("Buy bread")))
        .then([renamed("Buy milk")])
        .unwrap_err();
    assert_eq!(
        failed.to_string(),
        "given 1 events, when the decision ran, expected the events [TodoRenamed Renamed { \
         description: \"Buy milk\" }], but it returned the events [TodoRenamed Renamed { \
         description: \"Buy bread\" }]"
    );
    let refused = given(&todo_kind(), [])
        .when(when(TodoCommand::Remove))
        .then([])
        .unwrap_err();
    assert!(refused.actual.contains("the error NotAdded"), "{refused}");
}

// ---------------------------------------------------------------------------
// The names as stored
// ---------------------------------------------------------------------------

#[test]
fn typed_events_name_themselves_as_stored() {
    let store = InMemoryEventStore::<TodoEvent>::default();
    let events = [
        added("a"),
        renamed("b"),
        Event::of(TodoEvent::StatusChanged {
            status: Status::Started,
        }),
        Event::of(TodoEvent::Removed),
    ];
    store
        .save_events("t", &events, ExpectedVersion::NoStream)
        .unwrap();
    let names: Vec<String> = store
        .get_events(Some("t"), 0)
        .unwrap()
        .iter()
        .map(|e| e.event_type().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "TodoAdded",
            "TodoRenamed",
            "TodoStatusChanged",
            "TodoRemoved"
        ]
    );
}

// ---------------------------------------------------------------------------
// Execute, on every store
// ---------------------------------------------------------------------------

#[test]
fn execute_runs_the_life_of_a_todo_on_every_store() {
    let kind = todo_kind();
    for (name, store) in typed_stores::<TodoEvent>() {
        let repo = Repository::from_shared(store);
        let id = Uuid::new_v4();
        let run = |command: TodoCommand| repo.execute(&kind, id, |todo| decide(todo, &command));

        let todo = run(add("Buy milk")).unwrap();
        assert_eq!(todo.version(), 1, "{name}");
        assert!(todo.uncommitted_events().is_empty(), "{name}");
        assert_eq!(todo.events()[0].stream_id(), id.to_string(), "{name}");

        run(rename("Buy oat milk")).unwrap();
        run(TodoCommand::ChangeStatus {
            status: Status::Started,
        })
        .unwrap();
        // A decision with no events saves nothing.
        let same = run(TodoCommand::ChangeStatus {
            status: Status::Started,
        })
        .unwrap();
        assert_eq!(same.version(), 3, "{name}");

        // The domain's error comes back as it was returned.
        let err = run(add("again")).unwrap_err();
        assert!(
            matches!(err, ExecuteError::Domain(TodoError::AlreadyAdded)),
            "{name}: {err:?}"
        );

        let removed = run(TodoCommand::Remove).unwrap();
        assert_eq!(removed.version(), 4, "{name}");
        assert_eq!(
            removed.state(),
            &Todo {
                added: true,
                description: "Buy oat milk".into(),
                status: Status::Started,
                removed: true,
                renames: 1,
            },
            "{name}"
        );
        let loaded = repo.get_aggregate(&kind, id).unwrap().unwrap();
        assert_eq!(loaded, removed, "{name}");

        // An id never stored: the decision sees the initial state, version 0.
        let other = Uuid::new_v4();
        let err = repo
            .execute(&kind, other, |todo| {
                assert_eq!((todo.version(), todo.state()), (0, &Todo::default()));
                decide(todo, &TodoCommand::Remove)
            })
            .unwrap_err();
        assert_eq!(err.into_domain().unwrap(), TodoError::NotAdded, "{name}");
        assert!(
            repo.get_aggregate(&kind, other).unwrap().is_none(),
            "{name}"
        );
    }
}

#[test]
fn a_conflict_is_retried_on_the_newer_state_up_to_the_limit() {
    let kind = todo_kind();
    for (name, store) in typed_stores::<TodoEvent>() {
        let repo = Repository::from_shared(store);
        let id = Uuid::new_v4();
        repo.execute(&kind, id, |todo| decide(todo, &add("Buy milk")))
            .unwrap();

        // Another writer saves between the first load and its save.
        let calls = AtomicUsize::new(0);
        let racing = |todo: &TodoAggregate| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                let other = todo.clone().apply(renamed("by the other writer"));
                repo.save_aggregate(&other).unwrap();
            }
            decide(
                todo,
                &rename(&format!("after {} renames", todo.state().renames)),
            )
        };

        let saved = repo.execute(&kind, id, racing).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{name}");
        assert_eq!(saved.version(), 3, "{name}");
        // The retry decided on the state the other writer left.
        assert_eq!(saved.state().description, "after 1 renames", "{name}");

        // With one attempt, the same race is a conflict error.
        calls.store(0, Ordering::SeqCst);
        let err = repo
            .clone()
            .with_max_attempts(1)
            .execute(&kind, id, racing)
            .unwrap_err();
        assert!(
            matches!(
                err,
                ExecuteError::Conflict {
                    attempts: 1,
                    source: StoreError::VersionConflict { .. }
                }
            ),
            "{name}: {err:?}"
        );
        assert_eq!(
            repo.get_aggregate(&kind, id).unwrap().unwrap().version(),
            4,
            "{name}"
        );
    }
}

#[test]
fn eight_threads_execute_on_one_todo_and_every_decision_is_applied_once() {
    const THREADS: usize = 8;
    const EACH: usize = 5;
    let kind = todo_kind();
    for (name, store) in typed_stores::<TodoEvent>() {
        // n decisions on one stream always succeed within n attempts.
        let repo = Repository::from_shared(store).with_max_attempts((THREADS * EACH) as u32);
        let id = Uuid::new_v4();
        repo.execute(&kind, id, |todo| decide(todo, &add("shared")))
            .unwrap();

        let calls = Arc::new(AtomicUsize::new(0));
        // Every thread's first decision waits until all eight have loaded
        // the same version, so that seven of them must conflict and retry.
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (repo, kind, calls, barrier) =
                    (repo.clone(), kind.clone(), calls.clone(), barrier.clone());
                thread::spawn(move || {
                    for j in 0..EACH {
                        let description = format!("t{t}-{j}");
                        let waited = Mutex::new(j != 0);
                        let saved = repo
                            .execute(&kind, id, |todo| {
                                calls.fetch_add(1, Ordering::SeqCst);
                                let mut waited = waited.lock().unwrap();
                                if !*waited {
                                    *waited = true;
                                    barrier.wait();
                                }
                                decide(todo, &rename(&description))
                            })
                            .unwrap_or_else(|e| panic!("t{t}-{j}: {e}"));
                        assert_eq!(saved.state().description, description);
                        assert_eq!(
                            saved.events().last().unwrap().data(),
                            renamed(&description).data()
                        );
                        // The domain's error, untouched, never retried.
                        let before = calls.load(Ordering::SeqCst);
                        let err = repo
                            .execute(&kind, id, |todo| {
                                calls.fetch_add(1, Ordering::SeqCst);
                                decide(todo, &rename(""))
                            })
                            .unwrap_err();
                        assert!(
                            matches!(err, ExecuteError::Domain(TodoError::EmptyDescription)),
                            "{err:?}"
                        );
                        assert!(calls.load(Ordering::SeqCst) > before);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("a thread panicked");
        }

        let stream = repo.store().get_events(Some(&id.to_string()), 0).unwrap();
        assert_eq!(stream.len(), 1 + THREADS * EACH, "{name}");
        let versions: Vec<u64> = stream.iter().map(Event::version).collect();
        assert_eq!(
            versions,
            (1..=(1 + THREADS * EACH) as u64).collect::<Vec<_>>(),
            "{name}"
        );
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for event in &stream[1..] {
            match event.data() {
                TodoEvent::Renamed { description } => {
                    *counts.entry(description.clone()).or_default() += 1
                }
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
        assert_eq!(counts.len(), THREADS * EACH, "{name}: {counts:?}");
        assert!(counts.values().all(|&n| n == 1), "{name}: {counts:?}");
        let todo = repo.get_aggregate(&kind, id).unwrap().unwrap();
        assert_eq!(todo.state().renames as usize, THREADS * EACH, "{name}");
        // Seven first decisions conflicted and ran again; plus one refused
        // decision per rename.
        let decisions = 2 * THREADS * EACH;
        assert!(
            calls.load(Ordering::SeqCst) >= decisions + THREADS - 1,
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------
// An outcome unknown: the same batch is saved once more
// ---------------------------------------------------------------------------

/// A store whose next save reports `OutcomeUnknown`, after writing the
/// batch or not.
struct Flaky {
    inner: InMemoryEventStore<TodoEvent>,
    next: Mutex<Option<bool>>,
}

impl EventStore<TodoEvent> for Flaky {
    fn save_events(
        &self,
        stream_id: &str,
        events: &[Event<TodoEvent>],
        expected: ExpectedVersion,
    ) -> Result<Vec<Event<TodoEvent>>, StoreError> {
        match self.next.lock().unwrap().take() {
            None => self.inner.save_events(stream_id, events, expected),
            Some(write) => {
                if write {
                    self.inner.save_events(stream_id, events, expected)?;
                }
                Err(StoreError::OutcomeUnknown {
                    stream_id: stream_id.into(),
                    message: "the connection dropped".into(),
                    source: "test".into(),
                })
            }
        }
    }
    fn get_events(
        &self,
        stream_id: Option<&str>,
        start: u64,
    ) -> Result<Vec<Event<TodoEvent>>, StoreError> {
        self.inner.get_events(stream_id, start)
    }
    fn read_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<dvent::store::Recorded<TodoEvent>>, StoreError> {
        self.inner.read_all(after, limit)
    }
    fn read_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<dvent::store::Recorded<TodoEvent>>, StoreError> {
        self.inner.read_stream(stream_id, after, limit)
    }
    fn get_last_event(&self, stream_id: &str) -> Result<Option<Event<TodoEvent>>, StoreError> {
        self.inner.get_last_event(stream_id)
    }
    fn get_streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
        self.inner.get_streams(start)
    }

    fn wait_for_commit(&self, after: u64, timeout: std::time::Duration) -> Result<u64, StoreError> {
        self.inner.wait_for_commit(after, timeout)
    }

    fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        self.inner.checkpoint(name)
    }

    fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.inner.save_checkpoint(name, position)
    }
}

#[test]
fn an_unknown_outcome_is_resolved_by_saving_the_same_batch_again() {
    for written in [true, false] {
        let flaky = Arc::new(Flaky {
            inner: InMemoryEventStore::default(),
            next: Mutex::new(Some(written)),
        });
        let repo = Repository::from_shared(flaky.clone());
        let calls = AtomicUsize::new(0);
        let saved = repo
            .execute(&todo_kind(), Uuid::new_v4(), |todo| {
                calls.fetch_add(1, Ordering::SeqCst);
                decide(todo, &add("Buy milk"))
            })
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "written: {written}");
        let stored = flaky.inner.get_events(None, 0).unwrap();
        assert_eq!(stored.len(), 1, "written: {written}");
        assert_eq!(saved.events().iter().cloned().collect::<Vec<_>>(), stored);
    }
}
