//! Steps about upcasting: events stored at an older payload version read
//! as the current one through a store given upcasters, a handle on the
//! same store as the scenario's (the same memory, SQLite database or
//! PostgreSQL schema). The upcasting feature runs once for every store the
//! build has.

use std::sync::Arc;

use cucumber::{given, then, when};
use dvent::serde_json::{self, Value, json};
use dvent::{Event, EventStore, ExpectedVersion, StoreError, UpcastError, Upcasters, vector};

use super::world::DventWorld;

/// The stream the upcasting scenarios save to.
const STREAM: &str = "todo-1";

/// What the upcasting steps made.
#[derive(Default)]
pub struct UpcastingSteps {
    /// The upcasters the scenario gives its reading handle.
    pub upcasters: Option<Upcasters>,
    /// The event saved, as given.
    pub saved: Option<Event>,
}

impl UpcastingSteps {
    fn saved(&self) -> &Event {
        self.saved.as_ref().expect("an event was saved")
    }
}

/// Version 1 had `text`; version 2 calls it `description`.
fn rename_text(mut data: Value) -> Value {
    if let Some(text) = data.as_object_mut().and_then(|o| o.remove("text")) {
        data["description"] = text;
    }
    data
}

/// Version 3 adds `status`, `Queued` for what was stored before.
fn add_status(mut data: Value) -> Value {
    data["status"] = json!("Queued");
    data
}

/// A handle on the scenario's store that reads through its upcasters.
fn upcasting_store(world: &DventWorld) -> Arc<dyn EventStore> {
    let upcasters = world
        .upcasting
        .upcasters
        .clone()
        .expect("the scenario gave upcasters");
    world
        .store_handle
        .as_ref()
        .expect("the scenario's store has its concrete type")
        .upcasting(upcasters)
}

/// Asserts `read` is the saved event read as version 3 with the data both
/// upcasters made, and otherwise as stored.
fn assert_upcast(read: &Event, saved: &Event, event_type: &str, version: u32) {
    assert_eq!(read.event_type(), event_type);
    assert_eq!(read.data_version(), version);
    assert_eq!(
        serde_json::to_value(read.data()).expect("JSON"),
        json!({"description": "Buy milk", "status": "Queued"}),
        "renamed by the first upcaster, completed by the second"
    );
    assert_eq!(read.id(), saved.id());
    assert_eq!(read.stream_id(), STREAM);
    assert_eq!(read.version(), 1);
    assert_eq!(read.timestamp(), saved.timestamp());
    assert_eq!(read.metadata(), saved.metadata());
}

#[given(expr = "upcasters for {string} from version {int} to {int} and from {int} to {int}")]
fn two_upcasters(world: &mut DventWorld, event_type: String, a: u32, b: u32, c: u32, d: u32) {
    assert_eq!((a + 1, b, c + 1), (b, c, d), "one step after another");
    let upcasters = Upcasters::new().on(event_type.as_str(), a, rename_text).on(
        event_type.as_str(),
        c,
        add_status,
    );
    assert_eq!(upcasters.current_version(&event_type), Some(d));
    world.upcasting.upcasters = Some(upcasters);
}

#[given(
    expr = "the current version of {string} is {int} with an upcaster from {int} to {int} only"
)]
fn a_step_missing(world: &mut DventWorld, event_type: String, current: u32, from: u32, to: u32) {
    assert_eq!(
        (from + 1, to),
        (to, current),
        "the one step ends at the current version"
    );
    let upcasters = Upcasters::new()
        .on(event_type.as_str(), from, add_status)
        .with_current_version(event_type.as_str(), current);
    assert_eq!(upcasters.current_version(&event_type), Some(current));
    world.upcasting.upcasters = Some(upcasters);
}

#[when(expr = "I save a {string} event of version {int}")]
fn save_of_version(world: &mut DventWorld, event_type: String, version: u32) {
    let event = Event::new(event_type.as_str())
        .with_entry("text", "Buy milk")
        .with_metadata_entry("user", "ada")
        .with_data_version(version);
    world.save(STREAM, vector![event.clone()], ExpectedVersion::NoStream);
    assert!(world.save_error.is_none(), "saved: {:?}", world.save_error);
    world.upcasting.saved = Some(event);
}

#[then(
    expr = "reading it gives a {string} event of version {int} with the data both upcasters made"
)]
fn reads_upcast(world: &mut DventWorld, event_type: String, version: u32) {
    let store = upcasting_store(world);
    let read = store.events(Some(STREAM), 0).expect("read the stream");
    assert_eq!(read.len(), 1);
    assert_upcast(&read[0], world.upcasting.saved(), &event_type, version);
}

#[then(expr = "reading every event, a stream and the last event all give version {int}")]
fn every_read_path_upcasts(world: &mut DventWorld, version: u32) {
    let store = upcasting_store(world);
    let saved = world.upcasting.saved();
    let event_type = saved.event_type();
    let every = store.events(None, 0).expect("read every event");
    let all: Vec<Event> = store
        .read_all(0, 10)
        .expect("read all")
        .into_iter()
        .map(|r| r.event)
        .collect();
    let stream: Vec<Event> = store
        .read_stream(STREAM, 0, 10)
        .expect("read the stream")
        .into_iter()
        .map(|r| r.event)
        .collect();
    let last = store
        .last_event(STREAM)
        .expect("read the last event")
        .expect("the stream has an event");
    for (path, events) in [
        ("events", every),
        ("read_all", all),
        ("read_stream", stream),
    ] {
        assert_eq!(events.len(), 1, "{path}");
        assert_upcast(&events[0], saved, event_type, version);
    }
    assert_upcast(&last, saved, event_type, version);
}

#[then(expr = "the stored event is still version {int}")]
fn stored_as_it_was(world: &mut DventWorld, version: u32) {
    // The scenario's own handle has no upcasters: it reads what is stored.
    let read = world
        .store
        .events(Some(STREAM), 0)
        .expect("read the stream");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].data_version(), version);
    assert_eq!(
        serde_json::to_value(read[0].data()).expect("JSON"),
        json!({"text": "Buy milk"})
    );
    assert_eq!(read[0].id(), world.upcasting.saved().id());
}

#[then(
    expr = "reading it fails with an upcast error naming {string}, version {int} and version {int}"
)]
fn fails_with_upcast_error(world: &mut DventWorld, name: String, found: u32, current: u32) {
    let store = upcasting_store(world);
    let saved_id = world.upcasting.saved().id();
    let check = |path: &str, err: StoreError| {
        let message = err.to_string();
        match err {
            StoreError::Upcast {
                stream_id,
                position,
                event_id,
                source:
                    UpcastError::MissingUpcaster {
                        event_type,
                        found: f,
                        current: c,
                        missing,
                    },
            } => {
                assert_eq!(
                    (stream_id.as_str(), position, event_id),
                    (STREAM, 1, saved_id),
                    "{path}"
                );
                assert_eq!((event_type.as_str(), f, c), (name.as_str(), found, current));
                assert_eq!(missing, found, "{path}: the first step has no upcaster");
            }
            other => panic!("{path}: expected a missing upcaster, got {other:?}"),
        }
        for text in [
            format!("{name:?}"),
            format!("version {found}"),
            format!("version {current}"),
        ] {
            assert!(message.contains(&text), "{path}: {message:?} names {text}");
        }
    };
    // Every read path reports it: the event is never skipped.
    check(
        "events",
        store.events(Some(STREAM), 0).expect_err("an upcast error"),
    );
    check(
        "read_all",
        store.read_all(0, 10).expect_err("an upcast error"),
    );
    check(
        "read_stream",
        store
            .read_stream(STREAM, 0, 10)
            .expect_err("an upcast error"),
    );
    check(
        "last_event",
        store.last_event(STREAM).expect_err("an upcast error"),
    );
}
