//! Many writers on a few shared streams, through the repository, with
//! optimistic concurrency: each writer loads a counter, decides the next
//! count from its state, saves expecting the version it loaded, and on a
//! version conflict loads again and decides again.
//!
//! Afterwards every stream's versions are exactly 1..n, each event's count
//! is its version (no decision was made on a stale state), and every
//! acknowledged event is there exactly once. Run for each store: memory,
//! SQLite on a file (each thread with a connection of its own, and all
//! threads on one handle's clones, whose saves are committed in groups) and,
//! when `DVENT_POSTGRES_URL` is set, PostgreSQL with 8 threads in this process
//! and 2 more processes of 8 threads each (saves made at once in one process
//! are written in groups).

#[path = "support/stores.rs"]
mod stores;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dvent::{Aggregate, AggregateKind, Event, EventStore, Repository, StoreError};
use uuid::Uuid;

const THREADS: usize = 8;
const STREAMS: usize = 3;
const SAVES_PER_THREAD: usize = 25;
/// How long a writer takes to decide, between loading and saving.
const THINK: Duration = Duration::from_micros(300);
const DEADLINE: Duration = Duration::from_secs(120);

fn counter() -> AggregateKind {
    AggregateKind::new("Counter").on("Incremented", |state, event| {
        state.update("count", event.data()["count"].clone())
    })
}

#[derive(Default)]
struct Outcome {
    acknowledged: Vec<Uuid>,
    conflicts: u64,
    /// What a reader saw by reading "all events from position p" over and
    /// over while the writers ran, p being how many it had seen.
    tail: Vec<Uuid>,
    polls: u64,
}

impl Outcome {
    fn add(&mut self, other: Outcome) {
        self.acknowledged.extend(other.acknowledged);
        self.conflicts += other.conflicts;
    }
}

/// One writer: `saves` increments spread over `streams`, each retried on
/// conflict until it is saved.
fn write(store: Arc<dyn EventStore>, streams: &[Uuid], writer: usize, started: Instant) -> Outcome {
    let kind = counter();
    let repo = Repository::from_shared(store);
    let mut outcome = Outcome::default();
    for i in 0..SAVES_PER_THREAD {
        let id = streams[(writer + i) % streams.len()];
        loop {
            assert!(
                started.elapsed() < DEADLINE,
                "writers still busy after {DEADLINE:?}"
            );
            let loaded = repo
                .load(&kind, id)
                .expect("loading a counter")
                .unwrap_or_else(|| Aggregate::with_uuid(&kind, id));
            let count = loaded.state().get_u64("count").unwrap_or(0);
            let event = Event::new("Incremented")
                .with_entry("count", count + 1)
                .with_entry("writer", writer);
            let event_id = event.id();
            // Deciding takes a moment, in which other writers may save.
            std::thread::sleep(THINK);
            match repo.save(&loaded.apply(event)) {
                Ok(_) => {
                    outcome.acknowledged.push(event_id);
                    break;
                }
                Err(StoreError::VersionConflict { .. }) => outcome.conflicts += 1,
                Err(e) => panic!("writer {writer}: saving failed: {e}"),
            }
        }
    }
    outcome
}

/// Runs `threads` writers, each on the store `open` gives it, and a reader
/// that tails the store as they write.
fn run_threads(
    threads: usize,
    first_writer: usize,
    streams: &[Uuid],
    open: impl Fn() -> Arc<dyn EventStore> + Sync,
) -> Outcome {
    let started = Instant::now();
    let writing = AtomicBool::new(true);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let open = &open;
                scope.spawn(move || write(open(), streams, first_writer + t, started))
            })
            .collect();
        let tailer = scope.spawn(|| {
            let store = open();
            let (mut tail, mut polls) = (Vec::new(), 0);
            while writing.load(Ordering::Acquire) {
                tail.extend(read_all_after(&*store, tail.len()));
                polls += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            (tail, polls)
        });
        // Every writer joined before the reader is told to stop, and the
        // reader stopped before a writer's panic is passed on: a failing
        // writer fails the test instead of leaving the reader running.
        let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        writing.store(false, Ordering::Release);
        let mut outcome = Outcome::default();
        for result in joined {
            outcome.add(result.expect("a writer thread panicked"));
        }
        (outcome.tail, outcome.polls) = tailer.join().expect("the reader panicked");
        outcome
    })
}

/// The ids of the events after the first `seen`, in the global order.
fn read_all_after(store: &dyn EventStore, seen: usize) -> Vec<Uuid> {
    let events = store.events(None, seen as u64).expect("reading all events");
    events.iter().map(Event::id).collect()
}

/// Checks the streams after the writers and prints the counts.
fn verify(name: &str, store: &dyn EventStore, streams: &[Uuid], outcome: &Outcome, took: Duration) {
    let mut seen = HashSet::new();
    for id in streams {
        let events = store.events(Some(&id.to_string()), 0).unwrap();
        for (event, expected) in events.iter().zip(1u64..) {
            assert_eq!(
                event.version(),
                expected,
                "{name}: stream {id} has a gap or a duplicate"
            );
            assert_eq!(
                event.data()["count"].as_u64(),
                Some(expected),
                "{name}: an increment was decided on a stale state"
            );
            assert!(
                seen.insert(event.id()),
                "{name}: event {} stored twice",
                event.id()
            );
        }
        assert_eq!(
            store
                .last_event(&id.to_string())
                .unwrap()
                .map(|e| e.version()),
            Some(events.len() as u64)
        );
    }
    let acknowledged: HashSet<Uuid> = outcome.acknowledged.iter().copied().collect();
    assert_eq!(
        acknowledged.len(),
        outcome.acknowledged.len(),
        "{name}: an id acknowledged twice"
    );
    assert_eq!(
        seen, acknowledged,
        "{name}: the stored events are not the acknowledged ones"
    );
    let all = store.events(None, 0).unwrap();
    assert_eq!(all.len(), acknowledged.len(), "{name}: reading all events");
    // The reader, caught up, saw exactly the global order: no event ever
    // appeared behind a position it had already read past.
    let mut tail = outcome.tail.clone();
    tail.extend(read_all_after(store, tail.len()));
    let order: Vec<Uuid> = all.iter().map(Event::id).collect();
    assert_eq!(
        tail, order,
        "{name}: a tailing reader missed or reordered events"
    );
    assert_eq!(store.streams(0).unwrap().len(), streams.len());
    stores::report(&format!(
        "{name}: {} events saved by {} writers on {} streams, versions exactly 1..n on each, \
         every acknowledged event present; {} version conflicts retried; a reader tailing \
         \"all events from position p\" ({} polls) missed none ({:.1} s)",
        all.len(),
        outcome.acknowledged.len() / SAVES_PER_THREAD,
        streams.len(),
        outcome.conflicts,
        outcome.polls,
        took.as_secs_f64()
    ));
}

fn new_streams() -> Vec<Uuid> {
    (0..STREAMS).map(|_| Uuid::new_v4()).collect()
}

#[test]
fn memory_writers_never_lose_or_tear_a_write() {
    let store: Arc<dyn EventStore> = stores::open_store(stores::StoreKind::Memory);
    let streams = new_streams();
    let started = Instant::now();
    let outcome = run_threads(THREADS, 0, &streams, || store.clone());
    verify("memory", &*store, &streams, &outcome, started.elapsed());
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_writers_on_one_file_never_lose_or_tear_a_write() {
    use dvent::SqliteEventStore;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let streams = new_streams();
    let started = Instant::now();
    // Each writer opens its own handle: its own connection to the file.
    let outcome = run_threads(THREADS, 0, &streams, || {
        Arc::new(
            SqliteEventStore::open(&path)
                .and_then(|s| s.with_busy_timeout(Duration::from_secs(30)))
                .expect("opening the file"),
        )
    });
    let store = SqliteEventStore::open(&path).unwrap();
    verify(
        "sqlite (file, 8 connections)",
        &store,
        &streams,
        &outcome,
        started.elapsed(),
    );
}

/// SQLite, the writers sharing one handle's clones: one connection, their
/// saves committed in groups (see the store's group commit).
#[test]
fn sqlite_writers_on_one_handle_never_lose_or_tear_a_write() {
    use dvent::SqliteEventStore;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let streams = new_streams();
    let started = Instant::now();
    let shared: SqliteEventStore = SqliteEventStore::open(&path).expect("opening the file");
    let outcome = run_threads(THREADS, 0, &streams, || Arc::new(shared.clone()));
    let store = SqliteEventStore::open(&path).unwrap();
    verify(
        "sqlite (file, 1 connection shared)",
        &store,
        &streams,
        &outcome,
        started.elapsed(),
    );
}

/// PostgreSQL: writers in this process and in child processes (this test
/// binary started again with `DVENT_CONCURRENCY_SCHEMA` set).
#[cfg(feature = "postgres")]
mod postgres {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;

    /// Set in a child process: the PostgreSQL schema to write to.
    const WORKER_SCHEMA: &str = "DVENT_CONCURRENCY_SCHEMA";
    const WORKER_STREAMS: &str = "DVENT_CONCURRENCY_STREAMS";
    const WORKER_THREADS: usize = THREADS;

    #[test]
    fn postgres_writers_in_several_processes_never_lose_or_tear_a_write() {
        if std::env::var_os(WORKER_SCHEMA).is_some() {
            return; // a child runs the worker test only
        }
        let Some(_url) = stores::postgres_url().unwrap_or_else(|message| panic!("{message}"))
        else {
            return;
        };
        let test_store = stores::postgres::TestStore::new(|s| s);
        let schema = test_store
            .store()
            .schema()
            .expect("a test schema")
            .to_string();
        let streams = new_streams();
        let stream_list = streams
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let started = Instant::now();

        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..2)
            .map(|p| {
                Command::new(&exe)
                    .args([
                        "postgres::postgres_worker_process",
                        "--exact",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(WORKER_SCHEMA, &schema)
                    .env(WORKER_STREAMS, &stream_list)
                    .env(
                        "DVENT_CONCURRENCY_FIRST_WRITER",
                        (100 * (p + 1)).to_string(),
                    )
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("starting a worker process")
            })
            .collect();

        let store: Arc<dyn EventStore> = Arc::new(test_store.store().clone());
        let mut outcome = run_threads(THREADS, 0, &streams, || store.clone());
        for mut child in children {
            let stdout = child.stdout.take().unwrap();
            let mut acked = 0;
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if let Some(id) = line.strip_prefix("ACK ") {
                    outcome.acknowledged.push(id.parse().unwrap());
                    acked += 1;
                } else if let Some(n) = line.strip_prefix("CONFLICTS ") {
                    outcome.conflicts += n.parse::<u64>().unwrap();
                }
            }
            let status = child.wait().unwrap();
            assert!(status.success(), "a worker process failed: {status}");
            assert_eq!(
                acked,
                WORKER_THREADS * SAVES_PER_THREAD,
                "a worker's acknowledgements"
            );
        }
        verify(
            "postgres (8 threads here + 2 processes of 8)",
            &*store,
            &streams,
            &outcome,
            started.elapsed(),
        );
    }

    /// The child side of the PostgreSQL test: writes and prints what was
    /// acknowledged. Does nothing unless started by that test.
    #[test]
    fn postgres_worker_process() {
        let Ok(schema) = std::env::var(WORKER_SCHEMA) else {
            return;
        };
        let url =
            std::env::var(stores::POSTGRES_URL_VAR).expect("the parent passes its environment");
        let streams: Vec<Uuid> = std::env::var(WORKER_STREAMS)
            .unwrap()
            .split(',')
            .map(|s| s.parse().unwrap())
            .collect();
        let first_writer: usize = std::env::var("DVENT_CONCURRENCY_FIRST_WRITER")
            .unwrap()
            .parse()
            .unwrap();
        let store: Arc<dyn EventStore> =
            Arc::new(dvent::PostgresEventStore::connect_with_schema(&url, &schema).unwrap());
        let outcome = run_threads(WORKER_THREADS, first_writer, &streams, || store.clone());
        // A new line first: the test harness has just printed the test's name.
        let mut out = String::from("\n");
        for id in &outcome.acknowledged {
            out.push_str(&format!("ACK {id}\n"));
        }
        out.push_str(&format!("CONFLICTS {}\n", outcome.conflicts));
        print!("{out}");
    }
}
