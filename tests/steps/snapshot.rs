//! Steps about snapshots and reading an aggregate as of a version, with a
//! counter whose state shows a wrong fold (how many events, and a sum
//! weighted by each event's version). The snapshot feature runs once for
//! every store the build has.

use cucumber::{given, then, when};
use dvent::uuid::Uuid;
use dvent::{Aggregate, AggregateKind, Event, EventStore};
use serde::{Deserialize, Serialize};

use super::world::DventWorld;

/// The counter's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    /// How many events were folded.
    count: u64,
    /// The sum of each event's `by` times its version.
    total: u64,
}

fn counted(counter: Counter, event: &Event) -> Counter {
    Counter {
        count: counter.count + 1,
        total: counter.total + event.data().get_u64("by").unwrap_or(0) * event.version(),
    }
}

/// The counter kind without snapshots: the reference fold.
fn counter() -> AggregateKind<Counter> {
    AggregateKind::evolving("Counter", Counter::default(), counted)
}

/// What the snapshot steps made and loaded.
#[derive(Default)]
pub struct SnapshotSteps {
    /// The counter kind the scenario loads with.
    pub kind: Option<AggregateKind<Counter>>,
    /// How often it takes snapshots.
    pub every: u64,
    /// The counter's id.
    pub id: Option<Uuid>,
    /// The counter last loaded.
    pub loaded: Option<Aggregate<Counter>>,
}

impl SnapshotSteps {
    fn kind(&self) -> &AggregateKind<Counter> {
        self.kind.as_ref().expect("a counter kind was made")
    }

    fn id(&self) -> Uuid {
        self.id.expect("a counter was saved")
    }

    fn loaded(&self) -> &Aggregate<Counter> {
        self.loaded.as_ref().expect("the counter was loaded")
    }
}

/// The counter folded from its first `n` stored events, without snapshots.
fn folded(world: &DventWorld, n: usize) -> Aggregate<Counter> {
    let id = world.snapshots.id();
    let events = world
        .store
        .events(Some(&id.to_string()), 0)
        .expect("read the stream");
    assert!(events.len() >= n, "the stream has {n} events");
    Aggregate::from_events(&counter(), id, events.into_iter().take(n))
}

/// Loads the counter with the scenario's kind.
fn load(world: &mut DventWorld) -> &Aggregate<Counter> {
    let loaded = world
        .repository
        .load(world.snapshots.kind(), world.snapshots.id())
        .expect("load")
        .expect("the counter is stored");
    world.snapshots.loaded.insert(loaded)
}

#[given(expr = "a counter aggregate with {int} events, snapshotted every {int} events")]
fn counter_with_snapshots(world: &mut DventWorld, events: u64, every: u64) {
    let kind = counter().with_snapshots(every, 1);
    // One save per event: a save that reaches a multiple of `every` takes
    // a snapshot.
    let mut aggregate = Aggregate::new(&kind);
    for by in 1..=events {
        let next = aggregate.apply(Event::new("Incremented").with_entry("by", by));
        aggregate = world.repository.save(&next).expect("saved");
    }
    assert_eq!(aggregate.version(), events);
    let id = aggregate.id();
    let latest = world
        .store
        .latest_snapshot(&id.to_string(), "Counter", 1, u64::MAX)
        .expect("read the latest snapshot")
        .expect("the saves took snapshots");
    assert_eq!(latest.version, events / every * every);
    world.snapshots = SnapshotSteps {
        kind: Some(kind),
        every,
        id: Some(id),
        loaded: None,
    };
}

#[when("the kind's snapshot version changes")]
fn snapshot_version_changes(world: &mut DventWorld) {
    let every = world.snapshots.every;
    let old = world
        .snapshots
        .kind()
        .snapshot_policy()
        .expect("snapshots")
        .version();
    world.snapshots.kind = Some(counter().with_snapshots(every, old + 1));
}

#[then(expr = "loading it uses the snapshot at version {int}")]
fn loads_from_snapshot(world: &mut DventWorld, version: u64) {
    let loaded = load(world);
    assert_eq!(loaded.base_version(), version, "started from the snapshot");
    let after: Vec<u64> = loaded.events().iter().map(Event::version).collect();
    assert_eq!(
        after,
        (version + 1..=loaded.version()).collect::<Vec<_>>(),
        "folded only the events after the snapshot"
    );
}

#[then(expr = "loading it folds all {int} events, ignoring the snapshots")]
fn loads_ignoring_snapshots(world: &mut DventWorld, events: usize) {
    let id = world.snapshots.id().to_string();
    let kept = world
        .store
        .latest_snapshot(&id, "Counter", 1, u64::MAX)
        .expect("read the latest snapshot");
    assert!(kept.is_some(), "the older snapshots are still there");
    let loaded = load(world);
    assert_eq!(loaded.base_version(), 0, "no snapshot used");
    assert_eq!(loaded.events().len(), events, "every event folded");
}

#[then(expr = "it equals the counter folded from all {int} events, at version {int}")]
fn equals_full_fold(world: &mut DventWorld, events: usize, version: u64) {
    let reference = folded(world, events);
    let loaded = world.snapshots.loaded();
    assert_eq!(loaded.id(), reference.id());
    assert_eq!((loaded.version(), reference.version()), (version, version));
    assert_eq!(loaded.state(), reference.state());
    assert_eq!(loaded.state().count, events as u64);
    assert_eq!(loaded.uncommitted_version(), version);
}

#[then(expr = "loading it at version {int} equals the counter folded from its first {int} events")]
fn load_at_version(world: &mut DventWorld, version: u64, events: usize) {
    let loaded = world
        .repository
        .load_at(world.snapshots.kind(), world.snapshots.id(), version)
        .expect("load")
        .expect("the counter reached that version");
    let reference = folded(world, events);
    assert_eq!((loaded.version(), reference.version()), (version, version));
    assert_eq!(loaded.state(), reference.state());
    assert_eq!(loaded.state().count, events as u64);
    world.snapshots.loaded = Some(loaded);
}

#[then(expr = "it started from the snapshot at version {int}")]
fn started_from(world: &mut DventWorld, version: u64) {
    let loaded = world.snapshots.loaded();
    assert_eq!(loaded.base_version(), version);
    assert_eq!(loaded.events().len() as u64, loaded.version() - version);
}
