//! Steps about repositories. The repository feature runs once for every
//! store the build has.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use dvent::uuid::Uuid;
use dvent::{Aggregate, Event, StoreError};

use super::world::DventWorld;

#[given("a repository over an empty event store")]
fn repository_over_empty_store(world: &mut DventWorld) {
    assert!(world.store.streams(0).expect("list").is_empty());
}

#[then("the repository answers both operations for an aggregate it has never seen:")]
fn answers_both(world: &mut DventWorld, step: &Step) {
    let table = step.table.as_ref().expect("a table of operations");
    let unseen = Aggregate::new(&world.kind);
    for row in table.rows.iter().skip(1) {
        match (row[0].as_str(), row[1].as_str()) {
            ("get aggregate", "nothing") => {
                let got = world.repository.load(&world.kind, unseen.id());
                assert!(got.expect("read").is_none());
            }
            ("save aggregate", "the aggregate unchanged") => {
                let saved = world.repository.save(&unseen).expect("save");
                assert_eq!(saved, unseen);
            }
            (operation, answer) => panic!("unknown operation or answer: {operation} / {answer}"),
        }
    }
}

fn saved_aggregate(world: &mut DventWorld, n: usize) {
    let events =
        (1..=n).map(|i| Event::new("TodoAdded").with_entry("description", format!("step {i}")));
    let aggregate = Aggregate::new(&world.kind).apply_all(events);
    let saved = world.repository.save(&aggregate).expect("save");
    world.kept = Some(saved.clone());
    world.aggregate = Some(saved);
}

#[given(expr = "a saved aggregate with {int} event(s)")]
fn given_saved_aggregate(world: &mut DventWorld, n: usize) {
    saved_aggregate(world, n);
}

#[given("two copies of the aggregate loaded from the repository")]
fn two_copies(world: &mut DventWorld) {
    let id = world.aggregate().id();
    world.copies = (0..2)
        .map(|_| {
            world
                .repository
                .load(&world.kind, id)
                .expect("read")
                .expect("it was saved")
        })
        .collect();
}

#[when("I save the aggregate through the repository")]
fn save(world: &mut DventWorld) {
    let saved = world.repository.save(world.aggregate()).expect("save");
    world.aggregate = Some(saved);
}

#[when("I load the aggregate from the repository")]
fn load_aggregate(world: &mut DventWorld) {
    let id = world.aggregate().id();
    let loaded = world.repository.load(&world.kind, id).expect("read");
    world.aggregate = Some(loaded.expect("the aggregate was saved"));
}

#[when(regex = r"^I apply a .TodoAdded. event to the (first|second) copy and save it$")]
fn apply_to_copy_and_save(world: &mut DventWorld, which: String) {
    let index = usize::from(which == "second");
    let copy = world.copies[index].clone();
    let event = Event::new("TodoAdded").with_entry("description", format!("from the {which} copy"));
    world.event = Some(event.clone());
    let changed = copy.apply(event);
    match world.repository.save(&changed) {
        Ok(saved) => {
            world.copies[index] = saved;
            world.save_error = None;
        }
        Err(e) => world.save_error = Some(e),
    }
    world.save_attempted = true;
}

#[when("I load an aggregate with an id that was never saved")]
fn load_unknown(world: &mut DventWorld) {
    let loaded = world.repository.load(&world.kind, Uuid::new_v4());
    world.loaded = Some(loaded.expect("read"));
}

/// The scenario's aggregate, read back from the repository by its id.
fn reload(world: &DventWorld) -> Aggregate {
    world
        .repository
        .load(&world.kind, world.aggregate().id())
        .expect("read")
        .expect("it was saved")
}

#[then(expr = "reading the aggregate back by id gives version {int} with {string} set to {string}")]
fn read_back(world: &mut DventWorld, version: u64, key: String, value: String) {
    let loaded = reload(world);
    assert_eq!(loaded.version(), version);
    assert_eq!(loaded.state().get(&key), Some(&value.into()));
    assert_eq!(
        &loaded,
        world.aggregate(),
        "the loaded aggregate equals the saved one"
    );
}

#[then(
    expr = "the second save fails with a version conflict that expected {string} and found version {int}"
)]
fn second_save_conflicts(world: &mut DventWorld, expected: String, found: u64) {
    match world.save_error() {
        StoreError::VersionConflict {
            expected: e,
            found: f,
            ..
        } => assert_eq!((e.to_string(), *f), (expected, found)),
        other => panic!("expected a version conflict, got {other:?}"),
    }
}

#[then(
    expr = "reading the aggregate back by id gives version {int} with the first copy's event last"
)]
fn read_back_first_copy_wins(world: &mut DventWorld, version: u64) {
    let loaded = reload(world);
    assert_eq!(loaded.version(), version);
    let last = loaded.events().last().expect("events");
    assert_eq!(last.data()["description"], "from the first copy");
    assert_eq!(loaded, world.copies[0]);
}

#[then("the loaded aggregate equals the saved one")]
fn loaded_equals_saved(world: &mut DventWorld) {
    assert_eq!(world.aggregate.as_ref(), world.kept.as_ref());
}

#[then("the repository gives nothing")]
fn gives_nothing(world: &mut DventWorld) {
    assert!(matches!(world.loaded, Some(None)));
}
