//! Steps about aggregates and aggregate kinds.

use cucumber::{given, then, when};
use dvent::uuid::Uuid;
use dvent::{Aggregate, AggregateError, AggregateKind, Data, Event};

use super::world::DventWorld;

#[given(expr = "a {string} aggregate kind whose {string} events set the description")]
fn kind_setting_description(world: &mut DventWorld, name: String, event_type: String) {
    world.kind = AggregateKind::new(name)
        .on(event_type, |state, event| {
            match event.data().get("description") {
                Some(description) => state.update("description", description.clone()),
                None => state,
            }
        })
        .on("StateSet", set_state_entry);
}

/// Setting one key of the state is an event too (the spec's `set_state`):
/// `StateSet` carries the key and the value, and this function sets it.
pub fn set_state_entry(state: Data, event: &Event) -> Data {
    let key = event.data().get_str("key").unwrap_or_default().to_string();
    state.update(key, event.data()["value"].clone())
}

#[given("a new aggregate")]
#[when("I generate a new aggregate")]
fn new_aggregate(world: &mut DventWorld) {
    world.aggregate = Some(Aggregate::new(&world.kind));
}

#[given(expr = "an aggregate with {int} committed {string} events")]
fn aggregate_with_committed(world: &mut DventWorld, n: usize, event_type: String) {
    let events = (0..n).map(|_| Event::new(event_type.as_str()));
    world.aggregate = Some(
        Aggregate::new(&world.kind)
            .apply_all(events)
            .mark_committed(),
    );
}

#[given(expr = "I apply a {string} event whose {string} is {string}")]
#[when(expr = "I apply a {string} event whose {string} is {string}")]
fn apply_with_value(world: &mut DventWorld, event_type: String, key: String, value: String) {
    let aggregate = world.take_aggregate();
    world.aggregate = Some(aggregate.apply(Event::new(event_type).with_entry(key, value)));
}

#[when(expr = "I apply a {string} event")]
fn apply_one(world: &mut DventWorld, event_type: String) {
    let event = Event::new(event_type);
    world.event = Some(event.clone());
    let aggregate = world.take_aggregate();
    world.aggregate = Some(aggregate.apply(event));
}

#[when(expr = "I apply {int} {string} events")]
fn apply_many(world: &mut DventWorld, n: usize, event_type: String) {
    let events = (0..n).map(|_| Event::new(event_type.as_str()));
    let aggregate = world.take_aggregate();
    world.aggregate = Some(aggregate.apply_all(events));
}

#[when("I mark the aggregate's events committed")]
fn mark_committed(world: &mut DventWorld) {
    let aggregate = world.take_aggregate();
    world.aggregate = Some(aggregate.mark_committed());
}

#[when("I keep a copy of the aggregate")]
fn keep_copy(world: &mut DventWorld) {
    world.kept = Some(world.aggregate().clone());
}

#[when(expr = "I set the state's {string} to {string}")]
fn set_state(world: &mut DventWorld, key: String, value: String) {
    // State changes come from events: setting a key records a `StateSet`
    // event, so a saved and reloaded aggregate has the same state.
    let set = Event::new("StateSet")
        .with_entry("key", key)
        .with_entry("value", value);
    world.aggregate = Some(world.aggregate().apply(set));
}

#[then("saving and reloading the aggregate gives the same state and version")]
fn save_and_reload(world: &mut DventWorld) {
    let saved = world.repository.save(world.aggregate()).expect("save");
    let loaded = world
        .repository
        .load(&world.kind, saved.id())
        .expect("load")
        .expect("the aggregate was saved");
    assert_eq!(loaded.state(), saved.state());
    assert_eq!(loaded.version(), saved.version());
    assert_eq!(loaded, saved);
}

#[given(expr = "{int} {string} events with versions 1 to {int}, the last with {string} {string}")]
fn given_events(
    world: &mut DventWorld,
    n: u64,
    event_type: String,
    last: u64,
    key: String,
    value: String,
) {
    assert_eq!(n, last, "the scenario numbers its events from 1");
    world.given_events = (1..=n)
        .map(|v| {
            let event = Event::new(event_type.as_str()).with_version(v);
            if v == n {
                event.with_entry(key.as_str(), value.as_str())
            } else {
                event.with_entry(key.as_str(), format!("step {v}"))
            }
        })
        .collect();
}

#[when("I rebuild an aggregate from a given id and those events")]
fn rebuild(world: &mut DventWorld) {
    let id = Uuid::new_v4();
    world.given_id = Some(id);
    let events = world.given_events.clone();
    world.aggregate = Some(Aggregate::from_events(&world.kind, id, events));
}

#[when(expr = "I generate an aggregate with the id {string}")]
fn generate_with_id(world: &mut DventWorld, id: String) {
    match Aggregate::with_id(&world.kind, &id) {
        Ok(aggregate) => world.aggregate = Some(aggregate),
        Err(e) => world.aggregate_error = Some(e),
    }
}

#[then("the aggregate's id is a new UUID, unique, ordered by the time it was made")]
fn id_is_new(world: &mut DventWorld) {
    let id = world.aggregate().id();
    // A UUID version 7: the time it was made in milliseconds, then random
    // bits (the spec's random id, ordered by time for the stores' indexes).
    assert_eq!(
        id.get_version_num(),
        7,
        "a time-ordered UUID is version 7, got {id}"
    );
    let (seconds, _) = id
        .get_timestamp()
        .expect("a version 7 UUID has a time")
        .to_unix();
    let now = jiff::Timestamp::now().as_second();
    let made = i64::try_from(seconds).expect("after 1970");
    assert!(
        (now - 60..=now).contains(&made),
        "the id's time ({made} s) is when it was made (now {now} s)"
    );
    let later = Aggregate::new(&world.kind).id();
    assert!(later > id, "a later id sorts after: {later} after {id}");
}

#[then(expr = "the aggregate's id is {string}")]
fn id_is(world: &mut DventWorld, id: String) {
    assert_eq!(world.aggregate().id().to_string(), id);
}

#[then("the aggregate has that id")]
fn has_that_id(world: &mut DventWorld) {
    assert_eq!(Some(world.aggregate().id()), world.given_id);
}

#[then(expr = "the aggregate's type is {string}")]
fn type_is(world: &mut DventWorld, name: String) {
    assert_eq!(world.aggregate().aggregate_type(), name);
}

#[then(expr = "the aggregate has {int} committed and {int} uncommitted events")]
fn event_counts(world: &mut DventWorld, committed: usize, uncommitted: usize) {
    let a = world.aggregate();
    assert_eq!(
        (a.events().len(), a.uncommitted_events().len()),
        (committed, uncommitted)
    );
}

#[then(expr = "the kept copy has {int} committed and {int} uncommitted events")]
fn kept_counts(world: &mut DventWorld, committed: usize, uncommitted: usize) {
    let a = world.kept.as_ref().expect("a copy was kept");
    assert_eq!(
        (a.events().len(), a.uncommitted_events().len()),
        (committed, uncommitted)
    );
}

#[then("the aggregate's state is empty")]
fn state_is_empty(world: &mut DventWorld) {
    assert!(world.aggregate().state().is_empty());
}

#[then("the kept copy's state is empty")]
fn kept_state_is_empty(world: &mut DventWorld) {
    assert!(
        world
            .kept
            .as_ref()
            .expect("a copy was kept")
            .state()
            .is_empty()
    );
}

#[then(expr = "the aggregate's version is {int} and its uncommitted version is {int}")]
fn versions(world: &mut DventWorld, version: u64, uncommitted: u64) {
    let a = world.aggregate();
    assert_eq!(
        (a.version(), a.uncommitted_version()),
        (version, uncommitted)
    );
}

#[then("its last uncommitted event is the one applied")]
fn last_uncommitted_is_applied(world: &mut DventWorld) {
    let applied = world.event.as_ref().expect("an event was applied");
    let last = world
        .aggregate()
        .uncommitted_events()
        .last()
        .expect("one event");
    assert_eq!(last.id(), applied.id());
}

#[then(expr = "the aggregate's state has {string} set to {string}")]
fn state_has(world: &mut DventWorld, key: String, value: String) {
    assert_eq!(world.aggregate().state().get(&key), Some(&value.into()));
}

#[then(expr = "the uncommitted events have versions 1 to {int}")]
fn uncommitted_versions(world: &mut DventWorld, n: u64) {
    let versions: Vec<u64> = world
        .aggregate()
        .uncommitted_events()
        .iter()
        .map(Event::version)
        .collect();
    assert_eq!(versions, (1..=n).collect::<Vec<_>>());
}

#[then(expr = "it fails with an invalid id error that names {string}")]
fn invalid_id(world: &mut DventWorld, given: String) {
    let error = world
        .aggregate_error
        .as_ref()
        .expect("making the aggregate failed");
    assert!(matches!(error, AggregateError::InvalidId { given: g, .. } if *g == given));
    assert!(error.to_string().contains(&format!("{given:?}")), "{error}");
}
