//! Steps about domain events.

use cucumber::{given, then, when};
use dvent::Event;

use super::is_now;
use super::world::DventWorld;

#[when(expr = "I generate an event of type {string}")]
fn generate_event(world: &mut DventWorld, event_type: String) {
    world.event = Some(Event::new(event_type));
}

#[given(expr = "an event of type {string} whose {string} is {string}")]
fn event_with_value(world: &mut DventWorld, event_type: String, key: String, value: String) {
    world.event = Some(Event::new(event_type).with_entry(key, value));
}

#[when(expr = "I derive an event whose {string} is {string}")]
fn derive_event(world: &mut DventWorld, key: String, value: String) {
    let original = world.event.clone().expect("an event was given");
    world.derived = Some(original.with_entry(key, value));
}

fn event(world: &DventWorld) -> &Event {
    world.event.as_ref().expect("an event was generated")
}

#[then(expr = "the event's type is {string}")]
fn event_type_is(world: &mut DventWorld, expected: String) {
    assert_eq!(event(world).event_type(), expected);
}

#[then("the event's id is a new UUID, unique, ordered by the time it was made")]
fn event_id_is_new(world: &mut DventWorld) {
    let event = event(world);
    let id = event.id();
    // A UUID version 7: the event's timestamp in milliseconds, then random
    // bits (the spec's random id, ordered by time for the stores' indexes).
    assert_eq!(
        id.get_version_num(),
        7,
        "a time-ordered UUID is version 7, got {id}"
    );
    let (seconds, nanos) = id
        .get_timestamp()
        .expect("a version 7 UUID has a time")
        .to_unix();
    assert_eq!(
        i64::try_from(seconds).expect("after 1970") * 1_000 + i64::from(nanos / 1_000_000),
        event.timestamp().as_millisecond(),
        "the id's time is the event's timestamp"
    );
    let later = Event::new("Other");
    assert_ne!(id, later.id());
    assert!(
        later.id() >= id
            || later.timestamp().as_millisecond() == event.timestamp().as_millisecond()
    );
}

#[then("the event has no stream id yet")]
fn event_has_no_stream(world: &mut DventWorld) {
    assert_eq!(event(world).stream_id(), "");
}

#[then("the event's timestamp is the current time in UTC")]
fn event_timestamp_is_now(world: &mut DventWorld) {
    assert!(is_now(event(world).timestamp()));
}

#[then("the event's data is empty")]
fn event_data_is_empty(world: &mut DventWorld) {
    assert!(event(world).data().is_empty());
}

#[then(expr = "the event's version is {int}")]
fn event_version_is(world: &mut DventWorld, version: u64) {
    assert_eq!(event(world).version(), version);
}

#[then(expr = "the derived event's {string} is {string}")]
fn derived_value(world: &mut DventWorld, key: String, value: String) {
    let derived = world.derived.as_ref().expect("an event was derived");
    assert_eq!(derived.data()[&key], value.as_str());
}

#[then(expr = "the original event's {string} is still {string}")]
fn original_value(world: &mut DventWorld, key: String, value: String) {
    assert_eq!(event(world).data()[&key], value.as_str());
}

#[then("both events have the same id")]
fn same_id(world: &mut DventWorld) {
    let derived = world.derived.as_ref().expect("an event was derived");
    assert_eq!(derived.id(), event(world).id());
}
