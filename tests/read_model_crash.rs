//! Issue 12's crash test: a process running a checkpointed read model is
//! killed with SIGKILL at random moments, 20 times, and restarted each
//! time; a last run then catches up. The read model kept in the store's own
//! database with `run_read_model` (its rows and its checkpoint committed in
//! one transaction) must end equal to a fresh rebuild (a `Projection`
//! catching up from position 0), with every position 1..=N applied exactly
//! once and its checkpoint at N; after every kill it must already equal
//! the rebuild at its checkpoint, each position up to it applied once and
//! none after. For contrast, a `DurableSubscription` whose handler writes
//! outside the checkpoint's transaction is killed the same way: there only
//! "at least once" holds, and the test counts the repeats.
//!
//! Per store (an SQLite file; a fresh PostgreSQL schema when
//! `DVENT_POSTGRES_URL` is set, which `CI=true` requires): a few thousand
//! Todo events over hundreds of streams (added, status changed, removed).
//! The rounds alternate: a catch-up round saves a backlog of events before
//! the child starts; a live round waits until the child has caught up, then
//! a writer in this process saves events (a few at a time, now and then a
//! burst) until the kill. Each model is two tables: `<model>_todos`, one
//! row per todo with a counter of the events applied to it, and
//! `<model>_applied`, one row per position with a counter of how many times
//! it was applied (an upsert that adds one, so that a second application is
//! counted, not refused nor silently idempotent).
//!
//! The handler sleeps a little per event so that a page (256 events) takes
//! over 100 ms and kills often land mid-page; it prints each position it
//! handled, which tells how many kills landed mid-page and how many events
//! were handled again after the rollback (at least once for that side
//! effect, exactly once in the read model).
//!
//! The child is this test binary itself, started with
//! `DVENT_READ_MODEL_CRASH_CHILD=<model>:<store>:<path or schema>`. The
//! delays are seeded; the seed is printed, and
//! `DVENT_READ_MODEL_CRASH_SEED` replays the same events and delays (where
//! the kills land still depends on timing). About 10 to 20 s in debug.

#![cfg(any(feature = "sqlite", feature = "postgres"))]

#[path = "support/stores.rs"]
mod stores;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dvent::store::Pages;
use dvent::{
    DurableSubscription, Event, EventStore, ExpectedVersion, Projection, Recorded, StopHandle,
};
use stores::report;

const CHILD: &str = "DVENT_READ_MODEL_CRASH_CHILD";
const FINISH: &str = "DVENT_READ_MODEL_CRASH_FINISH";
const SEED: &str = "DVENT_READ_MODEL_CRASH_SEED";

/// Kills of the exactly-once read model (issue 12).
const KILLS: usize = 20;
/// Kills of the at-least-once durable subscription.
const DURABLE_KILLS: usize = 20;
/// Events saved before the first round.
const INITIAL_EVENTS: usize = 2000;
/// At most so many more events saved before each later catch-up round.
const BACKLOG: u64 = 800;
/// At most so many events in a burst of the live writer.
const LIVE_BURST: u64 = 150;
/// The read model's handler's work per event (a sleep): a page of 256
/// takes over 100 ms.
const HANDLER_DELAY: Duration = Duration::from_micros(400);
/// The durable subscription's handler's work per event.
const DURABLE_HANDLER_DELAY: Duration = Duration::from_micros(100);
/// A kill lands this long (ms) after the child is ready: from ..
const MIN_DELAY_MS: u64 = 10;
/// .. to this.
const MAX_DELAY_MS: u64 = 400;
/// The durable subscription saves its checkpoint every so many events.
const DURABLE_COMMIT_EVERY: u64 = 25;
/// The final run must catch up within this long.
const FINISH_BUDGET: Duration = Duration::from_secs(60);

/// The exactly-once read model (its checkpoint's name and its tables'
/// prefix).
const EXACT: &str = "exact";
/// The at-least-once durable subscription (idem).
const DURABLE: &str = "durable";

const STATUSES: [&str; 3] = ["Queued", "Started", "Finished"];

/// A small, seeded pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The seed: `DVENT_READ_MODEL_CRASH_SEED`, or the clock.
fn seed() -> u64 {
    match std::env::var(SEED) {
        Ok(seed) => seed.parse().expect("DVENT_READ_MODEL_CRASH_SEED is a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(42),
    }
}

// ---------------------------------------------------------------------------
// The Todo events, and the read model as a pure fold (the fresh rebuild).
// ---------------------------------------------------------------------------

/// Makes valid Todo histories: a todo is added before its status changes
/// and is removed at most once, with nothing after.
struct Todos {
    rng: Rng,
    next_id: u64,
    /// The todos not removed: stream id and status.
    open: Vec<(String, usize)>,
}

impl Todos {
    fn new(seed: u64) -> Self {
        Todos {
            rng: Rng::new(seed),
            next_id: 0,
            open: Vec::new(),
        }
    }

    fn other_status(&mut self, status: usize) -> usize {
        (status + 1 + self.rng.below(2) as usize) % STATUSES.len()
    }

    /// The next batch: its stream and 1 to 3 events.
    fn next_batch(&mut self) -> (String, dvent::Vector<Event>) {
        if self.open.len() < 30 || self.rng.below(4) == 0 {
            self.next_id += 1;
            let stream = format!("todo-{}", self.next_id);
            let mut status = self.rng.below(3) as usize;
            let mut events = dvent::vector![
                Event::new("TodoAdded")
                    .with_entry("description", format!("todo number {}", self.next_id))
                    .with_entry("status", STATUSES[status])
            ];
            for _ in 0..self.rng.below(2) {
                status = self.other_status(status);
                events.push_back(
                    Event::new("TodoStatusChanged").with_entry("status", STATUSES[status]),
                );
            }
            self.open.push((stream.clone(), status));
            return (stream, events);
        }
        let index = self.rng.below(self.open.len() as u64) as usize;
        if self.rng.below(6) == 0 {
            let (stream, _) = self.open.swap_remove(index);
            return (stream, dvent::vector![Event::new("TodoRemoved")]);
        }
        let mut events = dvent::Vector::new();
        for _ in 0..1 + self.rng.below(3) {
            let status = self.other_status(self.open[index].1);
            self.open[index].1 = status;
            events
                .push_back(Event::new("TodoStatusChanged").with_entry("status", STATUSES[status]));
        }
        (self.open[index].0.clone(), events)
    }

    /// Saves batches until at least `count` events are saved; returns how
    /// many were.
    fn save(&mut self, store: &dyn EventStore, count: usize) -> usize {
        let mut saved = 0;
        while saved < count {
            let (stream, events) = self.next_batch();
            store
                .append(&stream, &events, ExpectedVersion::Any)
                .unwrap_or_else(|e| panic!("saving to {stream}: {e}"));
            saved += events.len();
        }
        saved
    }
}

/// A todo as a read model holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    description: String,
    status: String,
    removed: i64,
    /// How many events were applied to it.
    events: i64,
    last_position: i64,
}

type Model = BTreeMap<String, Row>;

/// The read model as a pure fold: what the SQL below must amount to.
fn rebuild_projection() -> Projection<Model> {
    Projection::new(
        "todos-rebuild",
        Model::new(),
        |mut todos, recorded: &Recorded| {
            let id = recorded.event.stream_id();
            let position = recorded.position as i64;
            let data = recorded.event.data();
            match recorded.event.event_type() {
                "TodoAdded" => {
                    let events = todos.get(id).map_or(0, |row| row.events) + 1;
                    todos.insert(
                        id.to_string(),
                        Row {
                            description: data.get_str("description").unwrap().to_string(),
                            status: data.get_str("status").unwrap().to_string(),
                            removed: 0,
                            events,
                            last_position: position,
                        },
                    );
                }
                "TodoStatusChanged" => {
                    if let Some(row) = todos.get_mut(id) {
                        row.status = data.get_str("status").unwrap().to_string();
                        row.events += 1;
                        row.last_position = position;
                    }
                }
                "TodoRemoved" => {
                    if let Some(row) = todos.get_mut(id) {
                        row.removed = 1;
                        row.events += 1;
                        row.last_position = position;
                    }
                }
                other => panic!("an unexpected event type {other}"),
            }
            todos
        },
    )
}

// ---------------------------------------------------------------------------
// The read model in SQL, the same statements for SQLite and PostgreSQL.
// ---------------------------------------------------------------------------

/// A statement's parameter.
enum Param {
    Int(i64),
    Text(String),
}

/// A model's statements, its tables named `{prefix}{model}_todos` and
/// `{prefix}{model}_applied` (the prefix: `"schema".` or nothing).
struct Sql {
    create: String,
    applied: String,
    added: String,
    status: String,
    removed: String,
    todos: String,
    positions: String,
}

impl Sql {
    /// The statements with PostgreSQL's placeholders (`$1`); SQLite takes
    /// them as named parameters, numbered in the order they first appear,
    /// hence [`Sql::numbered`] there.
    fn new(prefix: &str, model: &str) -> Self {
        let todos = format!("{prefix}{model}_todos");
        let applied = format!("{prefix}{model}_applied");
        Sql {
            create: format!(
                "CREATE TABLE {todos} (
                     id TEXT PRIMARY KEY,
                     description TEXT NOT NULL,
                     status TEXT NOT NULL,
                     removed BIGINT NOT NULL,
                     events BIGINT NOT NULL,
                     last_position BIGINT NOT NULL
                 );
                 CREATE TABLE {applied} (
                     position BIGINT PRIMARY KEY,
                     times BIGINT NOT NULL
                 );"
            ),
            applied: format!(
                "INSERT INTO {applied} AS a (position, times) VALUES ($1, 1)
                 ON CONFLICT (position) DO UPDATE SET times = a.times + 1"
            ),
            added: format!(
                "INSERT INTO {todos} AS t (id, description, status, removed, events, last_position)
                 VALUES ($1, $2, $3, 0, 1, $4)
                 ON CONFLICT (id) DO UPDATE SET description = $2, status = $3, removed = 0,
                     events = t.events + 1, last_position = $4"
            ),
            status: format!(
                "UPDATE {todos} SET status = $2, events = events + 1, last_position = $3 WHERE id = $1"
            ),
            removed: format!(
                "UPDATE {todos} SET removed = 1, events = events + 1, last_position = $2 WHERE id = $1"
            ),
            todos: format!(
                "SELECT id, description, status, removed, events, last_position FROM {todos} ORDER BY id"
            ),
            positions: format!("SELECT position, times FROM {applied} ORDER BY position"),
        }
    }

    /// The statements with numbered placeholders (`?1`), for SQLite.
    #[cfg(feature = "sqlite")]
    fn numbered(self) -> Self {
        let number = |s: String| s.replace('$', "?");
        Sql {
            applied: number(self.applied),
            added: number(self.added),
            status: number(self.status),
            removed: number(self.removed),
            ..self
        }
    }

    /// What applying `recorded` writes.
    fn statements(&self, recorded: &Recorded) -> Vec<(&str, Vec<Param>)> {
        let id = Param::Text(recorded.event.stream_id().to_string());
        let position = recorded.position as i64;
        let data = recorded.event.data();
        let text = |key: &str| Param::Text(data.get_str(key).unwrap().to_string());
        let change = match recorded.event.event_type() {
            "TodoAdded" => (
                self.added.as_str(),
                vec![
                    id,
                    text("description"),
                    text("status"),
                    Param::Int(position),
                ],
            ),
            "TodoStatusChanged" => (
                self.status.as_str(),
                vec![id, text("status"), Param::Int(position)],
            ),
            "TodoRemoved" => (self.removed.as_str(), vec![id, Param::Int(position)]),
            other => panic!("an unexpected event type {other}"),
        };
        vec![(self.applied.as_str(), vec![Param::Int(position)]), change]
    }
}

/// A model as stored, read in one snapshot.
#[derive(Debug)]
struct Snapshot {
    checkpoint: u64,
    /// (position, times applied), by position.
    applied: Vec<(i64, i64)>,
    todos: Model,
}

/// The handler's work besides its writes: a little time, and the position
/// on standard output (a side effect outside the transaction).
fn handled(position: u64, delay: Duration) {
    std::thread::sleep(delay);
    println!("H {position}");
}

// ---------------------------------------------------------------------------
// The child process.
// ---------------------------------------------------------------------------

/// The child: runs one model on one store until killed, or with
/// `DVENT_READ_MODEL_CRASH_FINISH=N` until its checkpoint reaches N.
#[test]
fn read_model_crash_child() {
    let Ok(role) = std::env::var(CHILD) else {
        return; // only in a child started by the tests below
    };
    let finish: Option<u64> = std::env::var(FINISH).ok().map(|n| n.parse().unwrap());
    let mut parts = role.splitn(3, ':');
    let (model, kind, target) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    match kind {
        #[cfg(feature = "sqlite")]
        "sqlite" => sqlite::child(model, target, finish),
        #[cfg(feature = "postgres")]
        "postgres" => pg::child(model, target, finish),
        _ => panic!("{CHILD}: no store {kind:?} in this build"),
    }
    println!("DONE");
}

/// Runs the exactly-once read model with `run`: until an error (a kill,
/// really), or until `checkpoint` reaches `finish`.
fn drive_exact(
    finish: Option<u64>,
    checkpoint: impl Fn() -> u64,
    run: impl FnOnce(&StopHandle) -> Result<u64, String> + Send,
) {
    let stop = StopHandle::new();
    println!("\nREADY");
    std::thread::scope(|scope| {
        let runner = scope.spawn(|| run(&stop));
        if let Some(last) = finish {
            while checkpoint() < last && !runner.is_finished() {
                std::thread::sleep(Duration::from_millis(20));
            }
            stop.stop();
        }
        match runner.join().unwrap() {
            Ok(_) if finish.is_some() => {}
            Ok(handled) => panic!("the read model stopped by itself after {handled} events"),
            Err(e) => panic!("the read model failed: {e}"),
        }
    });
}

/// Runs the at-least-once durable subscription on `store`, `apply` writing
/// each event outside the checkpoint's transaction, the checkpoint saved
/// every [`DURABLE_COMMIT_EVERY`] events and whenever it is caught up.
fn drive_durable<S: EventStore>(store: S, finish: Option<u64>, mut apply: impl FnMut(&Recorded)) {
    let mut subscription = DurableSubscription::open(store, DURABLE)
        .expect("opening the durable subscription")
        .with_page_size(64);
    println!("\nREADY");
    let mut uncommitted = 0;
    loop {
        match subscription
            .next_timeout(Duration::from_millis(50))
            .expect("reading")
        {
            Some(recorded) => {
                apply(&recorded);
                handled(recorded.position, DURABLE_HANDLER_DELAY);
                uncommitted += 1;
                if uncommitted == DURABLE_COMMIT_EVERY {
                    subscription.commit().expect("committing");
                    uncommitted = 0;
                }
            }
            None => {
                subscription.commit().expect("committing");
                uncommitted = 0;
                if finish.is_some_and(|last| subscription.committed() >= last) {
                    return;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The parent: kills, restarts, checks.
// ---------------------------------------------------------------------------

/// A store under test, seen from the parent.
trait Target: Sync {
    fn name(&self) -> &'static str;
    /// The child's role for `model` (`<model>:<store>:<path or schema>`).
    fn role(&self, model: &str) -> String;
    /// A handle for the writer and the checks.
    fn store(&self) -> Arc<dyn EventStore>;
    /// Creates both models' tables.
    fn create_tables(&self);
    /// `model`'s checkpoint, applied positions and todos, in one snapshot.
    fn snapshot(&self, model: &str) -> Snapshot;
}

/// A running child.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stdout: JoinHandle<()>,
    stderr: JoinHandle<String>,
}

impl Running {
    /// Starts a child for `role` and waits until it is ready.
    fn start(role: &str, finish: Option<u64>) -> Running {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "read_model_crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, role)
            .env_remove(FINISH)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(last) = finish {
            command.env(FINISH, last.to_string());
        }
        let mut child = command.spawn().expect("starting the child");
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let running = Running {
            child,
            lines,
            stdout,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match running
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line == "READY" => return running,
                Ok(_) => {}
                Err(_) => running.failed("did not get ready"),
            }
        }
    }

    /// Fails the test with the child's output.
    fn failed(mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait();
        let _ = self.stdout.join();
        let stderr = self.stderr.join().unwrap_or_default();
        panic!("the child {what} ({status:?}); its standard error:\n{stderr}");
    }

    /// The positions the child printed as handled, once it has ended.
    fn handled(self) -> Vec<u64> {
        self.stdout.join().unwrap();
        let _ = self.stderr.join();
        self.lines
            .try_iter()
            .filter_map(|line| line.strip_prefix("H ").map(|p| p.parse().unwrap()))
            .collect()
    }

    /// Kills the child with SIGKILL (it must still be running); returns the
    /// positions it handled.
    fn kill(mut self) -> Vec<u64> {
        if let Ok(Some(_)) = self.child.try_wait() {
            self.failed("ended before it was killed");
        }
        self.child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "the child was killed: {status}");
        self.handled()
    }

    /// Waits for the child to end by itself, successfully; returns the
    /// positions it handled.
    fn finish(mut self) -> Vec<u64> {
        let deadline = Instant::now() + FINISH_BUDGET;
        loop {
            match self.child.try_wait().unwrap() {
                Some(status) if status.success() => return self.handled(),
                Some(_) => self.failed("failed"),
                None if Instant::now() > deadline => self.failed("did not catch up in time"),
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// Reads the events after the ones in `events` into it.
fn read_new(store: &dyn EventStore, events: &mut Vec<Recorded>) {
    let after = events.len() as u64;
    for recorded in Pages::all(store, after, 1000) {
        let recorded = recorded.expect("reading the events");
        assert_eq!(recorded.position, events.len() as u64 + 1);
        events.push(recorded);
    }
}

/// A writer saving batches every few milliseconds until stopped.
fn start_writer(
    store: Arc<dyn EventStore>,
    todos: Arc<Mutex<Todos>>,
    stop: StopHandle,
    seed: u64,
) -> JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut rng = Rng::new(seed);
        let mut saved = 0;
        while !stop.is_stopped() {
            // Mostly a few events, now and then a burst: live pages of a
            // few events and of a hundred.
            let burst = if rng.below(4) == 0 { LIVE_BURST } else { 1 };
            saved += todos
                .lock()
                .unwrap()
                .save(&*store, 1 + rng.below(burst) as usize);
            std::thread::sleep(Duration::from_millis(2 + rng.below(30)));
        }
        saved
    })
}

/// What the rounds of one model saw.
#[derive(Default)]
struct Rounds {
    kills: usize,
    /// Kills after which the child had handled events past its checkpoint.
    mid_page: usize,
    /// Of those, in the live rounds.
    mid_page_live: usize,
    /// Events saved before the catch-up rounds.
    backlog: usize,
    /// Events handled (printed) more than once over all the runs.
    handled_again: usize,
    /// Events the writer saved during the rounds.
    written_live: usize,
    live_rounds: usize,
    delays: Vec<u64>,
    /// The checkpoint after each kill.
    checkpoints: Vec<u64>,
}

/// Counts the positions handled more than once in `handled`.
fn handled_again(handled: &[u64]) -> usize {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for position in handled {
        *counts.entry(*position).or_default() += 1;
    }
    counts.values().map(|n| n - 1).sum()
}

/// The whole test on one store.
fn run(target: &dyn Target) {
    let started = Instant::now();
    let name = target.name();
    let seed = seed();
    report(&format!(
        "{name}: read model crash test, seed {seed} (replay with {SEED}={seed})"
    ));
    let mut rng = Rng::new(seed);
    let store = target.store();
    target.create_tables();
    let todos = Arc::new(Mutex::new(Todos::new(rng.below(u64::MAX))));
    todos.lock().unwrap().save(&*store, INITIAL_EVENTS);
    let rebuild = rebuild_projection();
    let mut events = Vec::new();
    read_new(&*store, &mut events);

    // Exactly once: SIGKILLed at random moments, restarted each time.
    // Every other round catches up with a backlog (saved before the child
    // starts); in the others the child first catches up, then works live
    // while a writer saves, until it is killed.
    let mut exact = Rounds::default();
    let mut handled = Vec::new();
    for round in 0..KILLS {
        let live = round % 2 == 1;
        if !live && round > 0 {
            exact.backlog += todos
                .lock()
                .unwrap()
                .save(&*store, 1 + rng.below(BACKLOG) as usize);
        }
        read_new(&*store, &mut events);
        let delay = MIN_DELAY_MS + rng.below(MAX_DELAY_MS - MIN_DELAY_MS);
        let child = Running::start(&target.role(EXACT), None);
        let stop = StopHandle::new();
        let writer = live.then(|| {
            let caught_up = Instant::now();
            while store.checkpoint(EXACT).unwrap() < events.len() as u64 {
                assert!(
                    caught_up.elapsed() < FINISH_BUDGET,
                    "{name}, seed {seed}: the read model did not catch up in round {}",
                    round + 1
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            start_writer(
                Arc::clone(&store),
                Arc::clone(&todos),
                stop.clone(),
                rng.below(u64::MAX),
            )
        });
        std::thread::sleep(Duration::from_millis(delay));
        let this_run = child.kill();
        stop.stop();
        if let Some(writer) = writer {
            exact.written_live += writer.join().unwrap();
            exact.live_rounds += 1;
        }
        exact.kills += 1;
        exact.delays.push(delay);

        // The read model and its checkpoint moved together: the model is
        // the rebuild at the checkpoint, each position up to it applied
        // once.
        read_new(&*store, &mut events);
        let snapshot = target.snapshot(EXACT);
        let at = snapshot.checkpoint;
        exact.checkpoints.push(at);
        let context = format!("{name}, seed {seed}, after kill {} ({delay} ms)", round + 1);
        check_exactly_once(&snapshot, at, &context);
        same_todos(
            &snapshot.todos,
            &rebuild.fold(&events[..at as usize]),
            &format!("{context}: the read model and the rebuild at its checkpoint {at}"),
        );
        if this_run.iter().any(|&p| p > at) {
            exact.mid_page += 1;
            exact.mid_page_live += usize::from(live);
        }
        handled.extend(this_run);
    }

    // The last run catches up, then stops by itself.
    read_new(&*store, &mut events);
    let last = events.len() as u64;
    handled.extend(Running::start(&target.role(EXACT), Some(last)).finish());
    exact.handled_again = handled_again(&handled);
    let context = format!("{name}, seed {seed}, after the last run");
    let snapshot = target.snapshot(EXACT);
    check_exactly_once(&snapshot, last, &context);
    assert_eq!(store.checkpoint(EXACT).unwrap(), last, "{context}");
    let runner = rebuild.runner();
    assert_eq!(runner.catch_up(&*store).unwrap(), last, "{context}");
    let fresh = runner.state();
    same_todos(
        &snapshot.todos,
        &fresh,
        &format!("{context}: the read model and a fresh rebuild"),
    );
    let duplicates: i64 = snapshot.applied.iter().map(|(_, times)| times - 1).sum();
    let streams = fresh.len();
    let exact_time = started.elapsed();

    // At least once, for contrast: the durable subscription's handler
    // writes outside the checkpoint's transaction.
    let mut durable = Rounds::default();
    for round in 0..DURABLE_KILLS {
        let delay = MIN_DELAY_MS + rng.below(MAX_DELAY_MS - MIN_DELAY_MS);
        let child = Running::start(&target.role(DURABLE), None);
        std::thread::sleep(Duration::from_millis(delay));
        let this_run = child.kill();
        durable.kills += 1;
        let snapshot = target.snapshot(DURABLE);
        let at = snapshot.checkpoint;
        durable.checkpoints.push(at);
        let context = format!(
            "{name}, seed {seed}, after durable kill {} ({delay} ms)",
            round + 1
        );
        check_at_least_once(&snapshot, at, &context);
        if this_run.iter().any(|&p| p > at) {
            durable.mid_page += 1;
        }
    }
    Running::start(&target.role(DURABLE), Some(last)).finish();
    let context = format!("{name}, seed {seed}, after the durable subscription's last run");
    let snapshot = target.snapshot(DURABLE);
    assert_eq!(snapshot.checkpoint, last, "{context}");
    check_at_least_once(&snapshot, last, &context);
    assert!(
        snapshot.applied.iter().all(|&(p, _)| p as u64 <= last),
        "{context}"
    );
    let repeats: i64 = snapshot.applied.iter().map(|(_, times)| times - 1).sum();
    let repeated = snapshot.applied.iter().filter(|(_, t)| *t > 1).count();
    // Its todos are the rebuild's but for the counters, which count the
    // repeats too.
    assert_eq!(
        snapshot.todos.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "{context}"
    );
    let mut drift = 0;
    for (id, row) in &snapshot.todos {
        let rebuilt = &fresh[id];
        assert_eq!(
            Row {
                events: rebuilt.events,
                ..row.clone()
            },
            *rebuilt,
            "{context}: todo {id}"
        );
        assert!(row.events >= rebuilt.events, "{context}: todo {id}");
        drift += row.events - rebuilt.events;
    }
    assert_eq!(
        drift, repeats,
        "{context}: the counters drift by the repeats"
    );

    report(&format!(
        "{name}: exactly once (run_read_model): {} SIGKILLs ({} mid-page, {} of them live; \
         delays {}..{} ms), restarted each time; {last} events over {streams} streams \
         ({INITIAL_EVENTS} at first, {} before catch-up rounds, {} saved live in {} rounds); \
         read model = fresh rebuild, positions 1..={last} applied once each, checkpoint {last}; \
         {} events handled again after a rollback, duplicates found: {duplicates} ({:.1} s); \
         checkpoint at each kill: {:?}",
        exact.kills,
        exact.mid_page,
        exact.mid_page_live,
        exact.delays.iter().min().unwrap(),
        exact.delays.iter().max().unwrap(),
        exact.backlog,
        exact.written_live,
        exact.live_rounds,
        exact.handled_again,
        exact_time.as_secs_f64(),
        exact.checkpoints,
    ));
    report(&format!(
        "{name}: at least once (DurableSubscription, checkpoint every {DURABLE_COMMIT_EVERY}): \
         {} SIGKILLs ({} between a write and its checkpoint); every position 1..={last} applied, \
         {repeated} of them more than once ({repeats} repeats, the todos' counters off by as many) \
         ({:.1} s in all); checkpoint at each kill: {:?}",
        durable.kills,
        durable.mid_page,
        started.elapsed().as_secs_f64(),
        durable.checkpoints,
    ));
}

/// Fails, naming the first todos that differ, unless `stored == rebuilt`.
fn same_todos(stored: &Model, rebuilt: &Model, context: &str) {
    if stored == rebuilt {
        return;
    }
    let ids: std::collections::BTreeSet<&String> = stored.keys().chain(rebuilt.keys()).collect();
    let differ: Vec<_> = ids
        .into_iter()
        .filter(|id| stored.get(*id) != rebuilt.get(*id))
        .take(3)
        .map(|id| {
            format!(
                "{id}: stored {:?}, rebuilt {:?}",
                stored.get(id),
                rebuilt.get(id)
            )
        })
        .collect();
    panic!(
        "{context} differ ({} and {} todos): {}",
        stored.len(),
        rebuilt.len(),
        differ.join("; ")
    );
}

/// Positions 1..=`last` applied once each, nothing after, and the
/// checkpoint at `last`.
fn check_exactly_once(snapshot: &Snapshot, last: u64, context: &str) {
    assert_eq!(snapshot.checkpoint, last, "{context}");
    let twice: Vec<_> = snapshot.applied.iter().filter(|(_, t)| *t != 1).collect();
    assert!(
        twice.is_empty(),
        "{context}: positions applied more than once (position, times): {twice:?}"
    );
    let positions: Vec<u64> = snapshot.applied.iter().map(|&(p, _)| p as u64).collect();
    if positions != (1..=last).collect::<Vec<_>>() {
        let gaps = (1..=last)
            .filter(|p| positions.binary_search(p).is_err())
            .take(10)
            .collect::<Vec<_>>();
        let beyond = positions.iter().filter(|&&p| p > last).count();
        panic!(
            "{context}: the positions applied are not 1..={last}: missing {gaps:?}.., \
             {beyond} past the checkpoint"
        );
    }
}

/// Positions 1..=`at` applied at least once.
fn check_at_least_once(snapshot: &Snapshot, at: u64, context: &str) {
    let positions: Vec<u64> = snapshot.applied.iter().map(|&(p, _)| p as u64).collect();
    let missing = (1..=at)
        .filter(|p| positions.binary_search(p).is_err())
        .take(10)
        .collect::<Vec<_>>();
    assert!(
        missing.is_empty(),
        "{context}: positions up to the checkpoint {at} never applied: {missing:?}.."
    );
}

// ---------------------------------------------------------------------------
// SQLite: a file in a temporary directory.
// ---------------------------------------------------------------------------

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use dvent::SqliteEventStore;
    use rusqlite::types::Value;
    use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
    use std::path::{Path, PathBuf};

    const BUSY: Duration = Duration::from_secs(60);

    fn values(params: Vec<Param>) -> Vec<Value> {
        params
            .into_iter()
            .map(|p| match p {
                Param::Int(i) => Value::Integer(i),
                Param::Text(s) => Value::Text(s),
            })
            .collect()
    }

    fn open(path: &Path) -> SqliteEventStore {
        SqliteEventStore::open(path)
            .and_then(|s| s.with_busy_timeout(BUSY))
            .expect("opening the file")
    }

    pub fn child(model: &str, path: &str, finish: Option<u64>) {
        let path = Path::new(path);
        let store = open(path);
        let sql = Sql::new("", model).numbered();
        match model {
            EXACT => {
                let reader = open(path);
                drive_exact(
                    finish,
                    || reader.checkpoint(EXACT).unwrap(),
                    |stop| {
                        store
                            .run_read_model(EXACT, stop, |tx, recorded| {
                                for (statement, params) in sql.statements(recorded) {
                                    tx.execute(
                                        statement,
                                        rusqlite::params_from_iter(values(params)),
                                    )?;
                                }
                                handled(recorded.position, HANDLER_DELAY);
                                Ok::<(), rusqlite::Error>(())
                            })
                            .map_err(|e| e.to_string())
                    },
                );
            }
            DURABLE => {
                // Its own connection, its own transactions; not synced at
                // each commit (a killed process loses nothing committed).
                let mut side = Connection::open(path).unwrap();
                side.busy_timeout(BUSY).unwrap();
                side.pragma_update(None, "synchronous", "NORMAL").unwrap();
                drive_durable(store, finish, |recorded| {
                    let tx = side
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .unwrap();
                    for (statement, params) in sql.statements(recorded) {
                        tx.execute(statement, rusqlite::params_from_iter(values(params)))
                            .unwrap();
                    }
                    tx.commit().unwrap();
                });
            }
            _ => panic!("no model {model:?}"),
        }
    }

    struct File {
        _dir: tempfile::TempDir,
        path: PathBuf,
        store: Arc<dyn EventStore>,
    }

    impl Target for File {
        fn name(&self) -> &'static str {
            "sqlite"
        }

        fn role(&self, model: &str) -> String {
            format!("{model}:sqlite:{}", self.path.display())
        }

        fn store(&self) -> Arc<dyn EventStore> {
            Arc::clone(&self.store)
        }

        fn create_tables(&self) {
            let connection = Connection::open(&self.path).unwrap();
            for model in [EXACT, DURABLE] {
                connection
                    .execute_batch(&Sql::new("", model).create)
                    .unwrap();
            }
        }

        fn snapshot(&self, model: &str) -> Snapshot {
            let mut connection =
                Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
            connection.busy_timeout(BUSY).unwrap();
            let sql = Sql::new("", model);
            let tx = connection.transaction().unwrap();
            let checkpoint: Option<i64> = tx
                .query_row(
                    "SELECT position FROM dvent_checkpoints WHERE name = ?1",
                    [model],
                    |row| row.get(0),
                )
                .optional()
                .unwrap();
            let applied = tx
                .prepare(&sql.positions)
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let todos = tx
                .prepare(&sql.todos)
                .unwrap()
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        Row {
                            description: row.get(1)?,
                            status: row.get(2)?,
                            removed: row.get(3)?,
                            events: row.get(4)?,
                            last_position: row.get(5)?,
                        },
                    ))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            Snapshot {
                checkpoint: checkpoint.unwrap_or(0) as u64,
                applied,
                todos,
            }
        }
    }

    #[test]
    fn sigkilled_read_model_in_an_sqlite_file_ends_equal_to_a_rebuild() {
        if std::env::var_os(CHILD).is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        let store = Arc::new(open(&path));
        run(&File {
            _dir: dir,
            path,
            store,
        });
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL: a fresh schema, dropped at the end.
// ---------------------------------------------------------------------------

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use ::postgres::types::{ToSql, Type};
    use ::postgres::{Client, IsolationLevel, NoTls};
    use dvent::PostgresEventStore;
    use dvent::store::postgres::PostgresOptions;

    fn url() -> String {
        std::env::var(stores::POSTGRES_URL_VAR).expect("the URL is set")
    }

    fn connect(schema: &str, connections: u32) -> PostgresEventStore {
        PostgresEventStore::connect_with(
            &url(),
            PostgresOptions::new()
                .with_schema(schema)
                .with_max_connections(connections),
        )
        .expect("connecting to DVENT_POSTGRES_URL")
    }

    /// The parameters with their types: `execute_typed` saves the round
    /// trip that prepares the statement.
    fn typed(params: &[Param]) -> Vec<(&(dyn ToSql + Sync), Type)> {
        params
            .iter()
            .map(|p| match p {
                Param::Int(i) => (i as &(dyn ToSql + Sync), Type::INT8),
                Param::Text(s) => (s as &(dyn ToSql + Sync), Type::TEXT),
            })
            .collect()
    }

    fn prefix(schema: &str) -> String {
        format!("\"{schema}\".")
    }

    pub fn child(model: &str, schema: &str, finish: Option<u64>) {
        let store = connect(schema, 2);
        let sql = Sql::new(&prefix(schema), model);
        match model {
            EXACT => drive_exact(
                finish,
                || store.checkpoint(EXACT).unwrap(),
                |stop| {
                    store
                        .run_read_model(EXACT, stop, |tx, recorded| {
                            for (statement, params) in sql.statements(recorded) {
                                tx.execute_typed(statement, &typed(&params))?;
                            }
                            handled(recorded.position, HANDLER_DELAY);
                            Ok::<(), ::postgres::Error>(())
                        })
                        .map_err(|e| e.to_string())
                },
            ),
            DURABLE => {
                // Its own connection, its own transactions; not flushed at
                // each commit (a killed client loses nothing committed).
                let mut side = Client::connect(&url(), NoTls).unwrap();
                side.batch_execute("SET synchronous_commit = off").unwrap();
                drive_durable(store, finish, |recorded| {
                    let mut tx = side.transaction().unwrap();
                    for (statement, params) in sql.statements(recorded) {
                        tx.execute_typed(statement, &typed(&params)).unwrap();
                    }
                    tx.commit().unwrap();
                });
            }
            _ => panic!("no model {model:?}"),
        }
    }

    struct Schema {
        schema: String,
        store: PostgresEventStore,
        client: Mutex<Client>,
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            // The read models' tables first: drop_schema keeps a schema
            // with other objects in it.
            let tables = [EXACT, DURABLE]
                .iter()
                .flat_map(|model| {
                    ["todos", "applied"].map(|t| format!("\"{}\".{model}_{t}", self.schema))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let dropped = match self.client.get_mut() {
                Ok(client) => client.batch_execute(&format!("DROP TABLE IF EXISTS {tables}")),
                Err(poisoned) => poisoned
                    .into_inner()
                    .batch_execute(&format!("DROP TABLE IF EXISTS {tables}")),
            };
            if let Err(e) = dropped {
                eprintln!("postgres: could not drop the read models' tables: {e}");
            }
            if let Err(e) = self.store.drop_schema() {
                eprintln!("postgres: could not drop the test schema: {e}");
            }
        }
    }

    impl Target for Schema {
        fn name(&self) -> &'static str {
            "postgres"
        }

        fn role(&self, model: &str) -> String {
            format!("{model}:postgres:{}", self.schema)
        }

        fn store(&self) -> Arc<dyn EventStore> {
            Arc::new(self.store.clone())
        }

        fn create_tables(&self) {
            let mut client = self.client.lock().unwrap();
            for model in [EXACT, DURABLE] {
                client
                    .batch_execute(&Sql::new(&prefix(&self.schema), model).create)
                    .unwrap();
            }
        }

        fn snapshot(&self, model: &str) -> Snapshot {
            let mut client = self.client.lock().unwrap();
            let sql = Sql::new(&prefix(&self.schema), model);
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .unwrap();
            let checkpoint: Option<i64> = tx
                .query_opt(
                    &format!(
                        "SELECT position FROM \"{}\".dvent_checkpoints WHERE name = $1",
                        self.schema
                    ),
                    &[&model],
                )
                .unwrap()
                .map(|row| row.get(0));
            let applied = tx
                .query(&sql.positions, &[])
                .unwrap()
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
            let todos = tx
                .query(&sql.todos, &[])
                .unwrap()
                .iter()
                .map(|row| {
                    (
                        row.get(0),
                        Row {
                            description: row.get(1),
                            status: row.get(2),
                            removed: row.get(3),
                            events: row.get(4),
                            last_position: row.get(5),
                        },
                    )
                })
                .collect();
            tx.commit().unwrap();
            Snapshot {
                checkpoint: checkpoint.unwrap_or(0) as u64,
                applied,
                todos,
            }
        }
    }

    #[test]
    fn sigkilled_read_model_in_a_postgres_schema_ends_equal_to_a_rebuild() {
        if std::env::var_os(CHILD).is_some() {
            return;
        }
        let Some(url) = stores::postgres_url().unwrap_or_else(|message| panic!("{message}")) else {
            return;
        };
        let schema = stores::postgres::fresh_schema();
        let store = connect(&schema, 4);
        let client = Client::connect(&url, NoTls).expect("connecting to DVENT_POSTGRES_URL");
        run(&Schema {
            schema,
            store,
            client: Mutex::new(client),
        });
    }
}
