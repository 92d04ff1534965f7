//! Steps about checkpoints and durable subscribers. The checkpoint feature
//! runs once for every store the build has.

use std::sync::Arc;
use std::time::Duration;

use cucumber::{then, when};
use dvent::{DurableSubscription, EventStore, StoreError};

use super::world::DventWorld;

/// What the checkpoint steps made and saw.
#[derive(Default)]
pub struct CheckpointSteps {
    /// The durable subscriber last started, and its name.
    pub durable: Option<DurableSubscription<Arc<dyn EventStore>>>,
    /// Every event a durable subscriber handled: its name and the position.
    pub handled: Vec<(String, u64)>,
    /// The error of the last checkpoint saved, if it failed.
    pub save_error: Option<StoreError>,
}

fn open(world: &DventWorld, name: &str) -> DurableSubscription<Arc<dyn EventStore>> {
    DurableSubscription::open(world.store.clone(), name).expect("the durable subscriber starts")
}

/// Handles `n` events with the durable subscriber kept in the world.
fn handle(world: &mut DventWorld, n: usize) {
    let durable = world
        .checkpoints
        .durable
        .as_mut()
        .expect("a durable subscriber started");
    let name = durable.name().to_string();
    for _ in 0..n {
        let recorded = durable
            .next_timeout(Duration::ZERO)
            .expect("the subscriber reads")
            .expect("an event is stored to handle");
        world
            .checkpoints
            .handled
            .push((name.clone(), recorded.position));
    }
}

/// Everything the durable subscriber kept in the world delivers without
/// waiting.
fn drain(world: &mut DventWorld) -> Vec<u64> {
    let durable = world
        .checkpoints
        .durable
        .as_mut()
        .expect("a durable subscriber started");
    std::iter::from_fn(|| {
        durable
            .next_timeout(Duration::ZERO)
            .expect("the subscriber reads")
    })
    .map(|r| r.position)
    .collect()
}

#[then(expr = "the checkpoint {string} is at position {int}")]
fn checkpoint_is(world: &mut DventWorld, name: String, position: u64) {
    assert_eq!(world.store.checkpoint(&name).expect("read"), position);
}

#[then(
    expr = "the durable subscriber {string} starts at position {int} and receives positions {int} to {int}"
)]
fn starts_and_receives(world: &mut DventWorld, name: String, start: u64, first: u64, last: u64) {
    world.checkpoints.durable = Some(open(world, &name));
    let durable = world.checkpoints.durable.as_ref().expect("started");
    assert_eq!((durable.position(), durable.committed()), (start, start));
    assert_eq!(drain(world), (first..=last).collect::<Vec<_>>());
}

#[when(expr = "the durable subscriber {string} handles {int} event(s) and saves its checkpoint")]
fn handles_and_saves(world: &mut DventWorld, name: String, n: usize) {
    world.checkpoints.durable = Some(open(world, &name));
    handle(world, n);
    let durable = world.checkpoints.durable.as_mut().expect("started");
    // The inherent method: `Iterator::position` would take a `&mut`.
    let last = DurableSubscription::position(durable);
    assert_eq!(durable.commit().expect("the checkpoint is saved"), last);
    assert_eq!(world.store.checkpoint(&name).expect("read"), last);
}

#[when(expr = "it handles {int} more event(s) without saving its checkpoint, then stops")]
fn handles_without_saving(world: &mut DventWorld, n: usize) {
    handle(world, n);
    let durable = world.checkpoints.durable.take().expect("started");
    assert!(durable.position() > durable.committed());
    drop(durable);
}

#[when(expr = "the durable subscriber {string} starts again")]
fn starts_again(world: &mut DventWorld, name: String) {
    let durable = open(world, &name);
    assert_eq!(
        durable.position(),
        world.store.checkpoint(&name).expect("read"),
        "it starts at its checkpoint"
    );
    world.checkpoints.durable = Some(durable);
}

#[then(expr = "it receives positions {int} to {int}: at least once, position {int} again")]
fn receives_again(world: &mut DventWorld, first: u64, last: u64, again: u64) {
    let name = world
        .checkpoints
        .durable
        .as_ref()
        .expect("started")
        .name()
        .to_string();
    assert!(
        world.checkpoints.handled.contains(&(name.clone(), again)),
        "{name:?} handled position {again} before it stopped: {:?}",
        world.checkpoints.handled
    );
    assert_eq!(drain(world), (first..=last).collect::<Vec<_>>());
}

#[when(expr = "I save the checkpoint {string} at position {int}")]
fn save_checkpoint(world: &mut DventWorld, name: String, position: u64) {
    world.checkpoints.save_error = world.store.save_checkpoint(&name, position).err();
}

#[then("the checkpoint is refused because its name could not name a stream")]
fn checkpoint_refused(world: &mut DventWorld) {
    match &world.checkpoints.save_error {
        Some(StoreError::InvalidCheckpoint { .. }) => {}
        other => panic!("expected an invalid checkpoint error, got {other:?}"),
    }
}

#[then(expr = "a durable subscriber named {string} cannot start")]
fn durable_cannot_start(world: &mut DventWorld, name: String) {
    match DurableSubscription::open(world.store.clone(), &name) {
        Err(StoreError::InvalidCheckpoint { .. }) => {}
        Err(other) => panic!("expected an invalid checkpoint error, got {other:?}"),
        Ok(durable) => panic!("{durable:?} should not start"),
    }
}
