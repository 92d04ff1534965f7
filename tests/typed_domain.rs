//! The typed Todo domain of `examples/todo/domain.rs` (an event enum that
//! names its own variants, one evolve function, decisions that return the
//! domain's own error), included here by path: its decisions tested with
//! given/when/then, and run through `Repository::execute` on every store;
//! its upcaster (`TodoAdded` 1 → 2, adding `due`) on every store.
//!
//! No event-type string appears in the domain except inside its one
//! `event_type` match (and the upcaster, which names the stored type);
//! below they appear only to check or write what is stored.

#[path = "../examples/todo/domain.rs"]
mod domain;
#[path = "support/stores.rs"]
mod stores;
#[path = "support/typed_stores.rs"]
mod typed_stores;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use dvent::jiff::civil::date;
use dvent::serde_json::{Value, json};
use dvent::testing::{Mismatch, given};
use dvent::uuid::Uuid;
use dvent::{
    Event, EventStore, EventType, ExecuteError, ExpectedVersion, InMemoryEventStore, LoadError,
    Repository, StoreError, StreamInfo,
};

use domain::{
    Status, Todo, TodoAggregate, TodoCommand, TodoError, TodoEvent, decide, decide_all, todo_kind,
    upcasters,
};
use typed_stores::typed_stores;

// ---------------------------------------------------------------------------
// Shorthands
// ---------------------------------------------------------------------------

fn add(description: &str) -> TodoCommand {
    TodoCommand::Add {
        description: description.into(),
        status: Status::Queued,
        due: None,
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
        status: Status::Queued,
        due: None,
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
        .then([added("Buy milk")])?;
    given(&todo_kind(), [])
        .when(when(add(" ")))
        .then_error(TodoError::EmptyDescription)
}

#[test]
fn a_todo_is_added_with_a_due_date_that_its_state_shows() -> Result<(), Mismatch> {
    let due = Some(date(2025, 7, 1));
    let with_due = TodoEvent::Added {
        description: "Pay rent".into(),
        status: Status::Queued,
        due,
    };
    given(&todo_kind(), [])
        .when(when(TodoCommand::Add {
            description: "Pay rent".into(),
            status: Status::Queued,
            due,
        }))
        .then([Event::of(with_due.clone())])?;
    let todo = dvent::Aggregate::new(&todo_kind()).apply(Event::of(with_due));
    assert_eq!(todo.state().due, due);
    assert_eq!(
        dvent::serde_json::to_value(todo.state()).unwrap()["due"],
        "2025-07-01"
    );
    Ok(())
}

#[test]
fn a_todo_is_added_once() -> Result<(), Mismatch> {
    let todo = given(&todo_kind(), [added("Buy milk")]);
    let id = todo.aggregate().id();
    todo.when(when(add("Buy bread")))
        .then_error(TodoError::AlreadyAdded(id))
}

#[test]
fn a_todo_not_added_cannot_be_renamed() -> Result<(), Mismatch> {
    let todo = given(&todo_kind(), []);
    let id = todo.aggregate().id();
    todo.when(when(rename("Buy bread")))
        .then_error(TodoError::NotFound(id))
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
fn renaming_to_the_description_a_todo_has_decides_nothing() -> Result<(), Mismatch> {
    given(&todo_kind(), [added("Buy milk"), renamed("Buy bread")])
        .when(when(rename("Buy bread")))
        .then([])?;
    given(&todo_kind(), [added("Buy milk"), renamed("Buy bread")])
        .when(when(rename("Buy milk")))
        .then([renamed("Buy milk")])
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
fn a_removed_todo_refuses_changes_and_is_removed_once() -> Result<(), Mismatch> {
    let history = [added("Buy milk"), Event::of(TodoEvent::Removed)];
    for command in [
        rename("x"),
        TodoCommand::ChangeStatus {
            status: Status::Finished,
        },
    ] {
        let todo = given(&todo_kind(), history.clone());
        let id = todo.aggregate().id();
        todo.when(when(command))
            .then_error(TodoError::Removed(id))?;
    }
    // Removing it again decides nothing, as the spec has it.
    given(&todo_kind(), history.clone())
        .when(when(TodoCommand::Remove))
        .then([])?;
    let todo = given(&todo_kind(), history);
    let id = todo.aggregate().id();
    todo.when(when(add("again")))
        .then_error(TodoError::AlreadyAdded(id))
}

#[test]
fn several_commands_decide_together_or_not_at_all() -> Result<(), Mismatch> {
    let started = TodoEvent::StatusChanged {
        status: Status::Started,
    };
    given(&todo_kind(), [added("Buy milk")])
        .when(|todo| {
            decide_all(
                todo,
                &[
                    rename("Buy bread"),
                    TodoCommand::ChangeStatus {
                        status: Status::Started,
                    },
                    TodoCommand::Remove,
                ],
            )
        })
        .then([
            renamed("Buy bread"),
            Event::of(started),
            Event::of(TodoEvent::Removed),
        ])?;
    // Each command is decided on the todo the previous ones made: after the
    // removal the rename is refused, and so is the whole decision.
    let todo = given(&todo_kind(), [added("Buy milk")]);
    let id = todo.aggregate().id();
    todo.when(|todo| decide_all(todo, &[TodoCommand::Remove, rename("Buy bread")]))
        .then_error(TodoError::Removed(id))
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
    let todo = given(&todo_kind(), []);
    let id = todo.aggregate().id();
    let refused = todo.when(when(TodoCommand::Remove)).then([]).unwrap_err();
    assert_eq!(
        refused.actual,
        format!("the error NotFound({id})"),
        "{refused}"
    );
}

// ---------------------------------------------------------------------------
// The names as stored
// ---------------------------------------------------------------------------

#[test]
fn typed_events_name_themselves_as_stored() {
    let store = InMemoryEventStore::<TodoEvent>::default();
    let events = dvent::vector![
        added("a"),
        renamed("b"),
        Event::of(TodoEvent::StatusChanged {
            status: Status::Started,
        }),
        Event::of(TodoEvent::Removed),
    ];
    store
        .append("t", &events, ExpectedVersion::NoStream)
        .unwrap();
    let names: Vec<String> = store
        .events(Some("t"), 0)
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
            matches!(err, ExecuteError::Domain(TodoError::AlreadyAdded(found)) if found == id),
            "{name}: {err:?}"
        );

        let removed = run(TodoCommand::Remove).unwrap();
        assert_eq!(removed.version(), 4, "{name}");
        // Each event's time, as stored, in the state it made.
        let at = |version: usize| Some(removed.events()[version - 1].timestamp());
        assert_eq!(
            removed.state(),
            &Todo {
                description: "Buy oat milk".into(),
                status: Status::Started,
                due: None,
                added_ts: at(1),
                renamed_ts: at(2),
                changed_ts: at(3),
                removed_ts: at(4),
            },
            "{name}"
        );
        let loaded = repo.load(&kind, id).unwrap().unwrap();
        assert_eq!(loaded, removed, "{name}");

        // An id never stored: the decision sees the initial state, version 0.
        let other = Uuid::new_v4();
        let err = repo
            .execute(&kind, other, |todo| {
                assert_eq!((todo.version(), todo.state()), (0, &Todo::default()));
                decide(todo, &TodoCommand::Remove)
            })
            .unwrap_err();
        assert_eq!(
            err.into_domain().unwrap(),
            TodoError::NotFound(other),
            "{name}"
        );
        assert!(repo.load(&kind, other).unwrap().is_none(), "{name}");
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
                repo.save(&other).unwrap();
            }
            decide(
                todo,
                &rename(&format!("after '{}'", todo.state().description)),
            )
        };

        let saved = repo.execute(&kind, id, racing).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{name}");
        assert_eq!(saved.version(), 3, "{name}");
        // The retry decided on the state the other writer left.
        assert_eq!(
            saved.state().description,
            "after 'by the other writer'",
            "{name}"
        );

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
            repo.load(&kind, id).unwrap().unwrap().version(),
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

        let stream = repo.store().events(Some(&id.to_string()), 0).unwrap();
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
        // The todo folded every one of them: it holds the last.
        let todo = repo.load(&kind, id).unwrap().unwrap();
        assert_eq!(todo.version() as usize, 1 + THREADS * EACH, "{name}");
        let last = stream.last().unwrap();
        assert_eq!(
            last.data(),
            renamed(&todo.state().description).data(),
            "{name}"
        );
        assert_eq!(todo.state().renamed_ts, Some(last.timestamp()), "{name}");
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
    fn append(
        &self,
        stream_id: &str,
        events: &dvent::Vector<Event<TodoEvent>>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Event<TodoEvent>>, StoreError> {
        match self.next.lock().unwrap().take() {
            None => self.inner.append(stream_id, events, expected),
            Some(write) => {
                if write {
                    self.inner.append(stream_id, events, expected)?;
                }
                Err(StoreError::OutcomeUnknown {
                    stream_id: stream_id.into(),
                    message: "the connection dropped".into(),
                    source: "test".into(),
                })
            }
        }
    }
    fn events(
        &self,
        stream_id: Option<&str>,
        start: u64,
    ) -> Result<Vec<Event<TodoEvent>>, StoreError> {
        self.inner.events(stream_id, start)
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
    fn last_event(&self, stream_id: &str) -> Result<Option<Event<TodoEvent>>, StoreError> {
        self.inner.last_event(stream_id)
    }
    fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
        self.inner.streams(start)
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
        let stored = flaky.inner.events(None, 0).unwrap();
        assert_eq!(stored.len(), 1, "written: {written}");
        assert_eq!(saved.events().iter().cloned().collect::<Vec<_>>(), stored);
    }
}

// ---------------------------------------------------------------------------
// The upcaster: a TodoAdded of version 1 (no `due`) reads as version 2
// ---------------------------------------------------------------------------

/// `TodoAdded` as an earlier release of the example stored it: payload
/// version 1, no `due`.
fn added_v1(description: &str) -> Value {
    json!({"Added": {"description": description, "status": "Queued"}})
}

/// What a version-1 `TodoAdded` reads as: version 2, with no due date.
fn added_v2(description: &str) -> TodoEvent {
    TodoEvent::Added {
        description: description.into(),
        status: Status::Queued,
        due: None,
    }
}

#[test]
fn the_upcasters_bring_each_event_type_to_the_version_its_events_record() {
    let upcasters = upcasters();
    for event in [
        added("a"),
        renamed("b"),
        Event::of(TodoEvent::StatusChanged {
            status: Status::Started,
        }),
        Event::of(TodoEvent::Removed),
    ] {
        let declared = event.data().data_version();
        assert_eq!(event.data_version(), declared, "{}", event.event_type());
        // A type the registry does not know is at version 1, as stored.
        assert_eq!(
            upcasters.current_version(event.event_type()).unwrap_or(1),
            declared,
            "{}",
            event.event_type()
        );
    }
    assert_eq!(added("a").data_version(), 2);

    // 1 -> 2 adds `"due": null`, keeps a `due` already there, and leaves
    // any other shape as it is (decoding it then fails): never a panic.
    let (up, version) = upcasters
        .upcast("TodoAdded", 1, added_v1("Buy milk"))
        .unwrap();
    assert_eq!(version, 2);
    assert_eq!(
        up,
        json!({"Added": {"description": "Buy milk", "status": "Queued", "due": null}})
    );
    let due = json!({"Added": {"description": "x", "status": "Queued", "due": "2025-07-01"}});
    assert_eq!(
        upcasters.upcast("TodoAdded", 1, due.clone()).unwrap().0,
        due
    );
    for odd in [
        json!("Removed"),
        json!(null),
        json!({"Added": 3}),
        json!([]),
    ] {
        assert_eq!(
            upcasters.upcast("TodoAdded", 1, odd.clone()).unwrap().0,
            odd
        );
    }

    // Without the upcaster, a version-1 payload does not decode: `due` is
    // required (null for none), not defaulted.
    let err = dvent::serde_json::from_value::<TodoEvent>(added_v1("Buy milk")).unwrap_err();
    assert!(err.to_string().contains("missing field `due`"), "{err}");
    assert_eq!(
        dvent::serde_json::from_value::<TodoEvent>(up).unwrap(),
        added_v2("Buy milk")
    );
}

/// A version-1 `TodoAdded` written by `old` (a `Value` handle) into a store
/// that `plain` and `upcasting` (typed handles, without and with the
/// domain's upcasters) read too: `plain` fails with
/// `StoreError::Corrupt`, `upcasting` reads version 2 on every read path,
/// and the todo goes on living.
fn check_v1_reads_as_v2(
    name: &str,
    old: &dyn EventStore<Value>,
    plain: Arc<dyn EventStore<TodoEvent>>,
    upcasting: Arc<dyn EventStore<TodoEvent>>,
) {
    let id = Uuid::new_v4();
    let stream = id.to_string();
    let stored = old
        .append(
            &stream,
            &dvent::vector![Event::typed("TodoAdded", added_v1("Buy milk"))],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    assert_eq!(stored[0].data_version(), 1, "{name}");

    // Without the upcasters: a typed error naming the row, not a panic.
    let err = plain.events(Some(&stream), 0).unwrap_err();
    match &err {
        StoreError::Corrupt {
            stream_id, reason, ..
        } => {
            assert_eq!(stream_id, &stream, "{name}");
            assert!(reason.contains("due"), "{name}: {err}");
        }
        other => panic!("{name}: expected Corrupt, got {other:?}"),
    }
    let kind = todo_kind();
    let err = Repository::from_shared(plain.clone())
        .load(&kind, id)
        .unwrap_err();
    assert!(
        matches!(err, LoadError::Store(StoreError::Corrupt { .. })),
        "{name}: {err:?}"
    );

    // With them: version 2, `due: None`, on every read path.
    let check = |event: &Event<TodoEvent>| {
        assert_eq!(event.data(), &added_v2("Buy milk"), "{name}");
        assert_eq!(event.data_version(), 2, "{name}");
        assert_eq!(event.id(), stored[0].id(), "{name}");
    };
    check(&upcasting.events(Some(&stream), 0).unwrap()[0]);
    check(&upcasting.read_all(0, 10).unwrap()[0].event);
    check(&upcasting.read_stream(&stream, 0, 10).unwrap()[0].event);
    check(&upcasting.last_event(&stream).unwrap().unwrap());

    let repo = Repository::from_shared(upcasting.clone());
    let todo = repo.load(&kind, id).unwrap().unwrap();
    assert_eq!(todo.version(), 1, "{name}");
    assert_eq!(todo.state().due, None, "{name}");
    assert_eq!(todo.state().description, "Buy milk", "{name}");
    // Commands go on from it; new events are stored at their own version.
    let started = repo
        .execute(&kind, id, |todo| {
            decide(
                todo,
                &TodoCommand::ChangeStatus {
                    status: Status::Started,
                },
            )
        })
        .unwrap();
    assert_eq!(started.version(), 2, "{name}");
    assert_eq!(started.state().status, Status::Started, "{name}");

    // History is not rewritten: the old handle reads what it wrote.
    let as_stored = old.events(Some(&stream), 0).unwrap();
    assert_eq!(as_stored[0].data(), &added_v1("Buy milk"), "{name}");
    assert_eq!(as_stored[0].data_version(), 1, "{name}");
}

#[test]
fn a_version_1_todo_added_reads_as_version_2_in_memory() {
    // The in-memory store holds payloads as values of its type: a version-1
    // TodoAdded, which no TodoEvent is, lives in a store of JSON values.
    let old = InMemoryEventStore::<Value>::default();
    old.append(
        "t",
        &dvent::vector![Event::typed("TodoAdded", added_v1("Buy milk"))],
        ExpectedVersion::NoStream,
    )
    .unwrap();
    let read = &old
        .clone()
        .with_upcasters(upcasters())
        .events(None, 0)
        .unwrap()[0];
    assert_eq!(read.data_version(), 2);
    assert_eq!(
        dvent::serde_json::from_value::<TodoEvent>(read.data().clone()).unwrap(),
        added_v2("Buy milk")
    );
    // Without the upcasters it reads as stored, and is no TodoEvent.
    let as_stored = old.events(None, 0).unwrap()[0].data().clone();
    assert!(dvent::serde_json::from_value::<TodoEvent>(as_stored).is_err());

    // A typed in-memory store reads an event saved at version 1 through the
    // upcasters too (its payload written as JSON, upcast, decoded again).
    let typed = InMemoryEventStore::<TodoEvent>::default().with_upcasters(upcasters());
    let id = Uuid::new_v4();
    let v1 = Event::typed("TodoAdded", added_v2("Buy milk")).with_data_version(1);
    typed
        .append(
            &id.to_string(),
            &dvent::vector![v1],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    let todo = Repository::new(typed)
        .load(&todo_kind(), id)
        .unwrap()
        .unwrap();
    assert_eq!(todo.events()[0].data_version(), 2);
    assert_eq!(todo.events()[0].data(), &added_v2("Buy milk"));
    assert_eq!(
        (todo.state().description.as_str(), todo.state().due),
        ("Buy milk", None)
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn a_version_1_todo_added_reads_as_version_2_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("todos.sqlite");
    let old = dvent::SqliteEventStore::<Value>::open(&path).unwrap();
    let plain = dvent::SqliteEventStore::<TodoEvent>::open(&path).unwrap();
    let upcasting = plain.clone().with_upcasters(upcasters());
    check_v1_reads_as_v2("sqlite", &old, Arc::new(plain), Arc::new(upcasting));
}

#[cfg(feature = "postgres")]
#[test]
fn a_version_1_todo_added_reads_as_version_2_in_postgres() {
    let Some(url) = stores::postgres_url().unwrap_or_else(|m| panic!("{m}")) else {
        return;
    };
    /// Drops the schema, even when a check fails.
    struct Schema(dvent::PostgresEventStore<Value>);
    impl Drop for Schema {
        fn drop(&mut self) {
            if let Err(e) = self.0.drop_schema() {
                eprintln!("postgres: could not drop test schema: {e}");
            }
        }
    }
    let schema = stores::postgres::fresh_schema();
    let old = Schema(dvent::PostgresEventStore::connect_with_schema(&url, &schema).unwrap());
    let plain = dvent::PostgresEventStore::<TodoEvent>::connect_with_schema(&url, &schema).unwrap();
    let upcasting = plain.clone().with_upcasters(upcasters());
    check_v1_reads_as_v2("postgres", &old.0, Arc::new(plain), Arc::new(upcasting));
}
