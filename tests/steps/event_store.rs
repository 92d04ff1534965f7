//! Steps about event stores. The event store feature runs once for every
//! store the build has.

use std::sync::Arc;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use dvent::{Event, ExpectedVersion, PublishError, StoreError};

use super::world::DventWorld;
use crate::log_capture;
use crate::support::stores::open_store_with_publisher;

/// `n` fresh events, numbered in their data so failures read well.
pub fn fresh_events(n: usize) -> dvent::Vector<Event> {
    (1..=n)
        .map(|i| Event::new("OrderLineAdded").with_entry("line", i as u64))
        .collect()
}

/// Reads "any version", "no stream", "an existing stream" or "version N".
fn expected_version(text: &str) -> ExpectedVersion {
    match text {
        "any version" => ExpectedVersion::Any,
        "no stream" => ExpectedVersion::NoStream,
        "an existing stream" => ExpectedVersion::StreamExists,
        _ => match text.strip_prefix("version ").map(str::parse) {
            Some(Ok(n)) => ExpectedVersion::Exact(n),
            _ => panic!("not an expected version: {text:?}"),
        },
    }
}

fn names(list: &str) -> Vec<String> {
    list.split(", ").map(str::to_string).collect()
}

fn ids(events: &[Event]) -> Vec<dvent::uuid::Uuid> {
    events.iter().map(Event::id).collect()
}

#[given("an empty event store")]
fn empty_store(world: &mut DventWorld) {
    assert!(world.store.events(None, 0).expect("read").is_empty());
    assert!(world.store.streams(0).expect("read").is_empty());
}

#[given("an empty event store with a publisher that records events")]
fn store_with_recording_publisher(world: &mut DventWorld) {
    let published = Arc::clone(&world.published);
    let store = open_store_with_publisher(world.store_kind, move |event: &Event| {
        published.lock().expect("not poisoned").push(event.clone());
        Ok(())
    });
    world.use_shared_store(world.store_kind, store);
}

#[given(regex = r"^an empty event store with a publisher that (returns errors|panics)$")]
fn store_with_failing_publisher(world: &mut DventWorld, behaviour: String) {
    let store = match behaviour.as_str() {
        "returns errors" => open_store_with_publisher(world.store_kind, |event: &Event| {
            Err(PublishError::from(format!(
                "message bus unavailable for {}",
                event.id()
            )))
        }),
        "panics" => open_store_with_publisher(world.store_kind, |event: &Event| {
            panic!("publisher crashed on {}", event.id())
        }),
        _ => panic!("unknown publisher behaviour: {behaviour}"),
    };
    world.use_shared_store(world.store_kind, store);
}

#[then("the store answers every operation on an empty store:")]
fn answers_every_operation(world: &mut DventWorld, step: &Step) {
    let table = step.table.as_ref().expect("a table of operations");
    for row in table.rows.iter().skip(1) {
        let (operation, answer) = (row[0].as_str(), row[1].as_str());
        match (operation, answer) {
            ("get events", "no events") => {
                assert!(world.store.events(Some("s"), 0).expect("read").is_empty());
                assert!(world.store.events(None, 0).expect("read").is_empty());
            }
            ("get last event", "nothing") => {
                assert!(world.store.last_event("s").expect("read").is_none());
            }
            ("get streams", "none") => {
                assert!(world.store.streams(0).expect("read").is_empty());
            }
            ("save events", "saved") => {
                let saved = world
                    .store
                    .append("s", &fresh_events(1), ExpectedVersion::NoStream)
                    .expect("save");
                assert_eq!(saved.len(), 1);
            }
            _ => panic!("unknown operation or answer: {operation} / {answer}"),
        }
    }
}

#[given(expr = "the stream {string} with {int} event(s)")]
fn stream_with(world: &mut DventWorld, stream_id: String, n: usize) {
    world.save(&stream_id, fresh_events(n), ExpectedVersion::NoStream);
    assert!(world.save_error.is_none(), "{:?}", world.save_error);
}

#[given(expr = "the streams {string} with {int} event(s) each")]
fn streams_with(world: &mut DventWorld, list: String, n: usize) {
    for stream_id in names(&list) {
        stream_with(world, stream_id, n);
    }
}

#[when(expr = "I save {int} event(s) to the new stream {string}")]
fn save_new(world: &mut DventWorld, n: usize, stream_id: String) {
    world.save(&stream_id, fresh_events(n), ExpectedVersion::NoStream);
}

#[when(regex = r#"^I save (\d+) events? to the stream "([^"]*)" expecting (.+)$"#)]
fn save_expecting(world: &mut DventWorld, n: usize, stream_id: String, expected: String) {
    world.save(&stream_id, fresh_events(n), expected_version(&expected));
}

#[when(
    expr = "I save to the stream {string} a new event followed by the first event of {string} again"
)]
fn save_with_duplicate(world: &mut DventWorld, stream_id: String, other: String) {
    // The same event (same id), unversioned as a writer would send it.
    let first = world.saved_to(&other)[0].clone().with_version(0);
    let batch = dvent::vector![fresh_events(1).remove(0), first];
    world.save(&stream_id, batch, ExpectedVersion::Any);
}

#[when(expr = "I save to the new stream {string} an event that already has version {int}")]
fn save_with_version(world: &mut DventWorld, stream_id: String, version: u64) {
    let event = fresh_events(1).remove(0).with_version(version);
    world.save(&stream_id, dvent::vector![event], ExpectedVersion::NoStream);
}

#[when("I list the streams")]
fn list_streams(world: &mut DventWorld) {
    world.streams = world.store.streams(0).expect("list streams");
}

#[when(expr = "I list the streams from position {int}")]
fn list_streams_from(world: &mut DventWorld, start: u64) {
    world.streams = world.store.streams(start).expect("list streams");
}

#[when("I read all events")]
fn read_all(world: &mut DventWorld) {
    world.read = world.store.events(None, 0).expect("read all");
}

#[when(expr = "I read all events from position {int}")]
fn read_all_from(world: &mut DventWorld, start: u64) {
    world.read = world.store.events(None, start).expect("read all");
}

#[then("the save succeeds")]
fn save_succeeds(world: &mut DventWorld) {
    assert!(world.save_attempted);
    assert!(
        world.save_error.is_none(),
        "the save failed: {:?}",
        world.save_error
    );
}

#[then(
    expr = "the save fails with a version conflict that expected {string} and found version {int}"
)]
fn save_conflict(world: &mut DventWorld, expected: String, found: u64) {
    let error = world.save_error();
    match error {
        StoreError::VersionConflict {
            expected: e,
            found: f,
            ..
        } => {
            assert_eq!((e.to_string(), *f), (expected.clone(), found));
            let message = error.to_string();
            assert!(
                message.contains(&format!("expected {expected}"))
                    && message.contains(&format!("found version {found}")),
                "the message should say what was expected and found: {message}"
            );
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
}

#[then("the save fails because that event id is already stored")]
fn save_duplicate(world: &mut DventWorld) {
    let duplicate = world.last_saved[1].id();
    match world.save_error() {
        StoreError::DuplicateEvent { event_id } => assert_eq!(*event_id, duplicate),
        other => panic!("expected a duplicate event error, got {other:?}"),
    }
}

#[then(expr = "the save fails because the event should have version {int} but has version {int}")]
fn save_wrong_version(world: &mut DventWorld, expected: u64, found: u64) {
    match world.save_error() {
        StoreError::EventVersion {
            expected: e,
            found: f,
            ..
        } => assert_eq!((*e, *f), (expected, found)),
        other => panic!("expected an event version error, got {other:?}"),
    }
}

#[then("the save fails because the stream id is empty")]
fn save_empty_stream_id(world: &mut DventWorld) {
    assert!(matches!(world.save_error(), StoreError::EmptyStreamId));
}

#[then(expr = "the stream {string} holds {int} event(s)")]
fn stream_holds(world: &mut DventWorld, stream_id: String, n: usize) {
    let events = world.store.events(Some(&stream_id), 0).expect("read");
    assert_eq!(events.len(), n, "{events:#?}");
}

#[then(expr = "the stream {string} holds those {int} events")]
fn stream_holds_those(world: &mut DventWorld, stream_id: String, n: usize) {
    let events = world.store.events(Some(&stream_id), 0).expect("read");
    assert_eq!(events.len(), n);
    assert_eq!(ids(&events), ids(&world.last_saved));
}

#[then(expr = "the stream {string} holds the events saved to it, in the order saved")]
fn stream_holds_saved(world: &mut DventWorld, stream_id: String) {
    let events = world.store.events(Some(&stream_id), 0).expect("read");
    assert_eq!(events, world.saved_to(&stream_id));
}

#[then(expr = "the last event of the stream {string} is nothing")]
fn last_event_is_nothing(world: &mut DventWorld, stream_id: String) {
    assert!(world.store.last_event(&stream_id).expect("read").is_none());
}

#[then(expr = "the last event of the stream {string} is the one saved last, at version {int}")]
fn last_event_is(world: &mut DventWorld, stream_id: String, version: u64) {
    let last = world
        .store
        .last_event(&stream_id)
        .expect("read")
        .expect("the stream has events");
    assert_eq!(last.id(), world.last_saved[0].id());
    assert_eq!(last.version(), version);
}

#[then(
    expr = "I get the streams {string} numbered from {int}, each with its first event's timestamp"
)]
fn streams_are(world: &mut DventWorld, list: String, first_number: u64) {
    let expected = names(&list);
    let got: Vec<&str> = world.streams.iter().map(|s| s.stream_id.as_str()).collect();
    assert_eq!(got, expected);
    for (info, number) in world.streams.iter().zip(first_number..) {
        assert_eq!(info.number, number);
        let first = &world.saved_to(&info.stream_id)[0];
        assert_eq!(info.timestamp, first.timestamp());
    }
}

#[then(expr = "I get all {int} events in the order they were saved")]
fn all_events_in_order(world: &mut DventWorld, n: usize) {
    assert_eq!(world.read.len(), n);
    assert_eq!(world.read, world.saved);
}

#[then(expr = "I get the last {int} of the events in the order they were saved")]
fn last_events_in_order(world: &mut DventWorld, n: usize) {
    let skip = world.saved.len() - n;
    assert_eq!(world.read, world.saved[skip..]);
}

#[then(expr = "the first event read belongs to the stream {string} and the last to {string}")]
fn first_and_last_streams(world: &mut DventWorld, first: String, last: String) {
    assert_eq!(world.read.first().expect("events").stream_id(), first);
    assert_eq!(world.read.last().expect("events").stream_id(), last);
}

#[then(
    expr = "every event of the stream {string} carries the stream id {string} and versions 1 to {int}"
)]
fn events_carry_stream(world: &mut DventWorld, stream_id: String, carried: String, n: u64) {
    let events = world.store.events(Some(&stream_id), 0).expect("read");
    assert!(events.iter().all(|e| e.stream_id() == carried));
    let versions: Vec<u64> = events.iter().map(Event::version).collect();
    assert_eq!(versions, (1..=n).collect::<Vec<_>>());
}

#[then(expr = "there is {int} stream in the store")]
fn stream_count(world: &mut DventWorld, n: usize) {
    assert_eq!(world.store.streams(0).expect("list").len(), n);
}

#[then(expr = "the publisher has seen those {int} events, with their stream id and versions")]
fn publisher_saw(world: &mut DventWorld, n: usize) {
    let seen = world.published.lock().expect("not poisoned").clone();
    assert_eq!(seen.len(), n);
    assert_eq!(seen, world.last_saved);
    assert!(
        seen.iter()
            .all(|e| !e.stream_id().is_empty() && e.version() > 0)
    );
}

#[then("the publisher's failure was logged for each of them")]
fn failure_logged(world: &mut DventWorld) {
    for event in &world.last_saved {
        let id = event.id().to_string();
        assert!(
            log_capture::lines()
                .iter()
                .any(|l| l.contains(&id) && l.contains("publisher failed")),
            "no log line about the publisher failing for {id}"
        );
    }
}
