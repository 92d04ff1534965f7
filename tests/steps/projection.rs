//! Steps about projections: the Todo board folded from every stream,
//! caught up, rebuilt and followed live. The projection feature runs once
//! for every store the build has.

use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cucumber::{given, then, when};
use dvent::uuid::Uuid;
use dvent::{Data, EventStore, Follower, ProjectionRunner};

use super::board::{self, add_todo, change_todo, count_of, open_todos, remove_todo};
use super::subscription::join_within;
use super::world::DventWorld;

/// What the projection steps made and saw.
#[derive(Default)]
pub struct ProjectionSteps {
    /// The todos added, by description.
    pub todos: HashMap<String, Uuid>,
    /// The board's runner.
    pub runner: Option<ProjectionRunner<Data>>,
    /// The last catch-up's position and board.
    pub caught_up: Option<(u64, Data)>,
    /// How many events the last catch-up applied.
    pub applied: u64,
    /// How many events the last rebuild applied.
    pub rebuilt: u64,
    /// The runner's thread following the store.
    pub follower: Option<Follower>,
    /// Another thread saving while the board follows.
    pub writer: Option<JoinHandle<()>>,
}

fn names(list: &str) -> Vec<String> {
    list.split(", ").map(str::to_string).collect()
}

fn todo_id(world: &DventWorld, description: &str) -> Uuid {
    *world
        .projections
        .todos
        .get(description)
        .unwrap_or_else(|| panic!("no todo {description:?} was added"))
}

fn runner(world: &mut DventWorld) -> ProjectionRunner<Data> {
    world
        .projections
        .runner
        .get_or_insert_with(|| board::projection().runner())
        .clone()
}

/// The last global position of the store.
pub fn last_position(store: &dyn EventStore) -> u64 {
    store
        .wait_for_commit(0, Duration::ZERO)
        .expect("the store answers")
}

fn add(world: &mut DventWorld, list: &str, status: &str) {
    for description in names(list) {
        let id = add_todo(&world.repository, &description, status);
        world.projections.todos.insert(description, id);
    }
}

fn change(world: &mut DventWorld, description: &str, what: &str) {
    let id = todo_id(world, description);
    match what {
        "started" => change_todo(&world.repository, id, "Started"),
        "finished" => change_todo(&world.repository, id, "Finished"),
        "removed" => remove_todo(&world.repository, id),
        _ => panic!("not a change to a todo: {what}"),
    }
}

#[given(expr = "the todos {string} were added as {word}")]
fn todos_added(world: &mut DventWorld, list: String, status: String) {
    add(world, &list, &status);
}

#[given(regex = r#"^the todo "([^"]*)" was (started|finished|removed)$"#)]
fn todo_changed(world: &mut DventWorld, description: String, what: String) {
    change(world, &description, &what);
}

#[when(expr = "the todo {string} is added as {word}")]
fn todo_is_added(world: &mut DventWorld, description: String, status: String) {
    add(world, &description, &status);
}

#[when(regex = r#"^the todo "([^"]*)" is (started|finished|removed)$"#)]
fn todo_is_changed(world: &mut DventWorld, description: String, what: String) {
    change(world, &description, &what);
}

fn catch_up(world: &mut DventWorld) {
    let runner = runner(world);
    world.projections.applied = runner
        .catch_up(&*world.store)
        .expect("the board catches up");
    world.projections.caught_up = Some(runner.snapshot());
}

#[given("the board projection caught up with the store")]
fn board_caught_up(world: &mut DventWorld) {
    catch_up(world);
}

#[when("the board projection catches up with the store")]
fn board_catches_up(world: &mut DventWorld) {
    catch_up(world);
}

#[when("the board is rebuilt: reset to position 0 and replayed")]
fn board_rebuilt(world: &mut DventWorld) {
    let runner = runner(world);
    world.projections.rebuilt = runner.rebuild(&*world.store).expect("the board rebuilds");
}

#[then(expr = "the board is at position {int}, having applied {int} event(s)")]
fn board_at(world: &mut DventWorld, position: u64, applied: u64) {
    assert_eq!(runner(world).position(), position);
    assert_eq!(world.projections.applied, applied);
    assert_eq!(last_position(&*world.store), position, "the store's last");
}

#[then(expr = "the board counts {int} Queued, {int} Started and {int} Finished todo(s)")]
fn board_counts(world: &mut DventWorld, queued: i64, started: i64, finished: i64) {
    let board = runner(world).state();
    let counts = ["Queued", "Started", "Finished"].map(|s| count_of(&board, s));
    assert_eq!(counts, [queued, started, finished], "{board:?}");
}

#[then(expr = "the open todos on the board are {string}")]
fn board_open(world: &mut DventWorld, list: String) {
    assert_eq!(open_todos(&runner(world).state()), names(&list));
}

#[then("the board is the pure fold of every event the store holds, in order")]
fn board_is_fold(world: &mut DventWorld) {
    let all: Vec<_> = dvent::store::Pages::all(&*world.store, 0, 3)
        .collect::<Result<_, _>>()
        .expect("read all");
    assert_eq!(runner(world).state(), board::projection().fold(&all));
}

#[then(expr = "the rebuild replayed all {int} events, and the board is as the catch-up left it")]
fn rebuilt_as_caught_up(world: &mut DventWorld, n: u64) {
    assert_eq!(world.projections.rebuilt, n);
    let caught_up = world
        .projections
        .caught_up
        .clone()
        .expect("the board caught up before");
    assert_eq!(runner(world).snapshot(), caught_up);
}

#[then("a new runner of the board that catches up gives that same board")]
fn new_runner_same(world: &mut DventWorld) {
    let fresh = board::projection().runner();
    fresh.catch_up(&*world.store).expect("catches up");
    assert_eq!(fresh.snapshot(), runner(world).snapshot());
}

#[given(expr = "the board projection follows the store live, caught up to position {int}")]
fn board_follows(world: &mut DventWorld, position: u64) {
    let runner = runner(world);
    let follower = runner
        .follow(world.store.clone())
        .expect("the follower starts");
    assert!(
        runner.wait_for(position, super::subscription::LIVE_WAIT),
        "the follower caught up to {position}"
    );
    assert_eq!(runner.position(), last_position(&*world.store));
    world.projections.follower = Some(follower);
}

#[when(
    expr = "another thread adds the todo {string} as {word} and finishes {string}, while the board follows"
)]
fn another_thread_changes(
    world: &mut DventWorld,
    description: String,
    status: String,
    done: String,
) {
    let repository = world.repository.clone();
    let done = todo_id(world, &done);
    world.projections.writer = Some(std::thread::spawn(move || {
        // Saved while the follower is waiting for events.
        std::thread::sleep(Duration::from_millis(50));
        add_todo(&repository, &description, &status);
        std::thread::sleep(Duration::from_millis(50));
        change_todo(&repository, done, "Finished");
    }));
}

#[then(expr = "within {int} seconds the board reaches position {int}")]
fn board_reaches(world: &mut DventWorld, seconds: u64, position: u64) {
    let started = Instant::now();
    let runner = runner(world);
    assert!(
        runner.wait_for(position, Duration::from_secs(seconds)),
        "the board is at {} after {:?}",
        runner.position(),
        started.elapsed()
    );
    let writer = world.projections.writer.take().expect("a thread saves");
    join_within(writer, super::subscription::LIVE_WAIT, "the other thread");
    assert_eq!(runner.position(), last_position(&*world.store));
}

#[then("the follower is still following, and stops without an error")]
fn follower_stops(world: &mut DventWorld) {
    let follower = world
        .projections
        .follower
        .take()
        .expect("the board follows");
    assert!(follower.is_running());
    follower.stop().expect("the follower ends cleanly");
}
