//! Steps about event metadata: correlation and causation ids and user
//! entries, kept by the store as they were. The metadata feature runs once
//! for every store the build has.

use cucumber::{given, then, when};
use dvent::uuid::Uuid;
use dvent::{Command, Event, EventStore, ExpectedVersion, Metadata, vector};

use super::world::DventWorld;

/// The stream the metadata scenarios save to.
const STREAM: &str = "todo-1";

/// What the metadata steps made.
#[derive(Default)]
pub struct MetadataSteps {
    /// The correlation id given to the command.
    pub correlation_id: Option<Uuid>,
    /// The event caused by the command.
    pub first: Option<Event>,
    /// The event caused by the first.
    pub second: Option<Event>,
}

impl MetadataSteps {
    fn first(&self) -> &Event {
        self.first
            .as_ref()
            .expect("an event was made as caused by the command")
    }

    fn second(&self) -> &Event {
        self.second
            .as_ref()
            .expect("a second event was made as caused by the first")
    }

    fn correlation_id(&self) -> Uuid {
        self.correlation_id
            .expect("the command has a correlation id")
    }
}

/// The events of `STREAM` read back in each way the store offers (its
/// events, the global order, the last event), each checked against `saved`.
fn read_back_every_way(store: &dyn EventStore, saved: &[Event]) -> Vec<Event> {
    let read = store.events(Some(STREAM), 0).expect("read the stream");
    assert_eq!(read.len(), saved.len(), "every saved event reads back");
    for (read, saved) in read.iter().zip(saved) {
        assert_eq!(read.id(), saved.id());
        assert_eq!(
            read.metadata(),
            saved.metadata(),
            "metadata as it was saved"
        );
    }
    let all: Vec<Event> = store
        .read_all(0, 100)
        .expect("read all")
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert_eq!(
        all, read,
        "the global order gives the same events and metadata"
    );
    let last = store
        .last_event(STREAM)
        .expect("read the last event")
        .expect("the stream has events");
    assert_eq!(
        Some(&last),
        read.last(),
        "the last event has the same metadata"
    );
    read
}

#[when(
    expr = "I save an event with a correlation id, a causation id and the entries {string} {string} and {string} {string}"
)]
fn save_with_metadata(world: &mut DventWorld, k1: String, v1: String, k2: String, v2: String) {
    let metadata = Metadata::new()
        .with_correlation_id(Uuid::new_v4())
        .with_causation_id(Uuid::new_v4())
        .with_entry(k1, v1)
        .with_entry(k2, v2);
    let event = Event::new("TodoAdded")
        .with_entry("description", "Buy milk")
        .with_metadata(metadata);
    world.save(STREAM, vector![event.clone()], ExpectedVersion::NoStream);
    assert!(world.save_error.is_none(), "saved: {:?}", world.save_error);
    world.event = Some(event);
}

#[then("reading it back gives the same correlation id, causation id and entries")]
fn reads_back_the_same(world: &mut DventWorld) {
    let saved = world.event.clone().expect("an event was saved");
    let read = read_back_every_way(world.store.as_ref(), std::slice::from_ref(&saved));
    let (read, saved) = (read[0].metadata(), saved.metadata());
    assert!(read.correlation_id().is_some());
    assert_eq!(read.correlation_id(), saved.correlation_id());
    assert!(read.causation_id().is_some());
    assert_eq!(read.causation_id(), saved.causation_id());
    assert_eq!(read.entries().len(), 2);
    assert_eq!(read.entries()["user"], "ada");
    assert_eq!(read.entries()["tenant"], "acme");
}

#[given(expr = "a command {string} with a correlation id")]
fn command_with_correlation(world: &mut DventWorld, command_type: String) {
    let correlation_id = Uuid::new_v4();
    world.command = Some(
        Command::new(command_type.as_str())
            .with_metadata(Metadata::new().with_correlation_id(correlation_id)),
    );
    world.metadata.correlation_id = Some(correlation_id);
}

#[when("an event is made as caused by the command")]
fn event_caused_by_command(world: &mut DventWorld) {
    let command = world.command.as_ref().expect("a command was made");
    world.metadata.first = Some(
        Event::new("TodoAdded")
            .with_entry("description", "Buy milk")
            .caused_by(command),
    );
}

#[when("a second event is made as caused by that event")]
fn event_caused_by_event(world: &mut DventWorld) {
    let first = world.metadata.first();
    world.metadata.second = Some(Event::new("TodoStarted").caused_by(first));
}

#[then("the first event's causation id is the command's id")]
fn first_names_the_command(world: &mut DventWorld) {
    let command = world.command.as_ref().expect("a command was made");
    assert_eq!(
        world.metadata.first().metadata().causation_id(),
        Some(command.id())
    );
}

#[then("the second event's causation id is the first event's id")]
fn second_names_the_first(world: &mut DventWorld) {
    assert_eq!(
        world.metadata.second().metadata().causation_id(),
        Some(world.metadata.first().id())
    );
}

#[then("both carry the command's correlation id")]
fn both_carry_the_correlation(world: &mut DventWorld) {
    let command = world.command.as_ref().expect("a command was made");
    let correlation_id = world.metadata.correlation_id();
    assert_eq!(command.metadata().correlation_id(), Some(correlation_id));
    assert_ne!(
        correlation_id,
        command.id(),
        "the command's own correlation id, not its id"
    );
    for event in [world.metadata.first(), world.metadata.second()] {
        assert_eq!(event.metadata().correlation_id(), Some(correlation_id));
    }
}

#[then("after saving and reading them back the chain is the same")]
fn chain_survives_the_store(world: &mut DventWorld) {
    let events = vector![
        world.metadata.first().clone(),
        world.metadata.second().clone()
    ];
    world.save(STREAM, events.clone(), ExpectedVersion::NoStream);
    assert!(world.save_error.is_none(), "saved: {:?}", world.save_error);
    let saved: Vec<Event> = events.into_iter().collect();
    let read = read_back_every_way(world.store.as_ref(), &saved);
    let command = world.command.as_ref().expect("a command was made");
    let correlation_id = world.metadata.correlation_id();
    assert_eq!(read[0].metadata().causation_id(), Some(command.id()));
    assert_eq!(read[1].metadata().causation_id(), Some(read[0].id()));
    for event in &read {
        assert_eq!(event.metadata().correlation_id(), Some(correlation_id));
    }
}
