//! A process appending batches to an SQLite file is killed with SIGKILL at
//! random moments, again and again; after each kill the file opens and
//! passes SQLite's integrity check, every batch is wholly there or wholly
//! absent (each event carries its batch's id and size and its index in the
//! batch), every batch the child saw saved is there, and every stream's
//! versions run 1..n.
//!
//! The child is this test binary itself, started with `DVENT_CRASH_FILE`.

#![cfg(feature = "sqlite")]

#[path = "support/stores.rs"]
mod stores;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dvent::store::sqlite::Synchronous;
use dvent::{Event, EventStore, ExpectedVersion, SqliteEventStore};
use uuid::Uuid;

const KILLS: usize = 24;
const CHILD_FILE: &str = "DVENT_CRASH_FILE";
const CHILD_SEED: &str = "DVENT_CRASH_SEED";
const STREAMS: u64 = 4;
const MAX_BATCH: u64 = 8;
/// The whole test stops by itself after this long.
const BUDGET: Duration = Duration::from_secs(60);

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

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(42)
}

/// The child: appends batches until it is killed, saying on standard output
/// which batch it is saving ("BEGIN id") and which were saved ("DONE id").
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_FILE) else {
        return; // only in a child started by the test below
    };
    let seed: u64 = std::env::var(CHILD_SEED).unwrap().parse().unwrap();
    let mut rng = Rng::new(seed);
    let synchronous = if seed % 2 == 0 {
        Synchronous::Full
    } else {
        Synchronous::Normal
    };
    let store = SqliteEventStore::open(&path)
        .and_then(|s| s.with_synchronous(synchronous))
        .expect("the child opens the file");
    println!("\nREADY");
    loop {
        let stream = format!("stream-{}", rng.below(STREAMS));
        let size = 1 + rng.below(MAX_BATCH);
        let batch = Uuid::new_v4();
        let events: Vec<Event> = (0..size)
            .map(|index| {
                Event::new("Marked")
                    .with_entry("batch", batch.to_string())
                    .with_entry("size", size)
                    .with_entry("index", index)
                    .with_entry("padding", "x".repeat(rng.below(2000) as usize))
            })
            .collect();
        let expected = if rng.below(2) == 0 {
            ExpectedVersion::Any
        } else {
            let last = store.last_event(&stream).expect("reading the last event");
            ExpectedVersion::after(last.map_or(0, |e| e.version()))
        };
        println!("BEGIN {batch}");
        store
            .append(&stream, &events.iter().cloned().collect(), expected)
            .expect("the only writer saves");
        println!("DONE {batch}");
    }
}

struct Round {
    saved: HashSet<Uuid>,
    in_flight: Option<Uuid>,
}

/// Starts a child on `path`, lets it write for a random while, kills it.
fn kill_a_child(path: &Path, seed: u64, rng: &mut Rng) -> Round {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_FILE, path)
        .env(CHILD_SEED, seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the child");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // Wait until it writes, then let it write for 5 to 250 ms.
    let ready = received
        .recv_timeout(Duration::from_secs(20))
        .into_iter()
        .chain(received.iter())
        .any(|line| line == "READY");
    assert!(ready, "the child did not start writing");
    std::thread::sleep(Duration::from_millis(5 + rng.below(245)));
    child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed: {status}");
    reader.join().unwrap();

    let mut saved = HashSet::new();
    let mut in_flight = None;
    for line in received.try_iter() {
        if let Some(id) = line.strip_prefix("BEGIN ") {
            in_flight = Some(id.parse().unwrap());
        } else if let Some(id) = line.strip_prefix("DONE ") {
            saved.insert(id.parse().unwrap());
            in_flight = None;
        }
    }
    Round { saved, in_flight }
}

/// Checks the file after a kill; returns the batches it holds and how many
/// events.
fn check_file(path: &Path) -> (HashSet<Uuid>, usize) {
    let connection = rusqlite::Connection::open(path).expect("the file opens");
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(connection);

    let store =
        SqliteEventStore::<dvent::Data>::open(path).expect("the store opens after the kill");
    let all = store.events(None, 0).expect("every event reads");
    // A batch is one transaction: its events are adjacent in the global
    // order, in index order, in one stream with consecutive versions.
    let mut batches = HashSet::new();
    let mut open: Option<(Uuid, u64, u64, &Event)> = None; // batch, size, next index, last
    for event in &all {
        let batch: Uuid = event.data()["batch"].as_str().unwrap().parse().unwrap();
        let size = event.data()["size"].as_u64().unwrap();
        let index = event.data()["index"].as_u64().unwrap();
        match open {
            None => {
                assert_eq!(index, 0, "batch {batch} starts at index {index}: torn");
                assert!(batches.insert(batch), "batch {batch} appears twice");
            }
            Some((current, _, next, last)) => {
                assert_eq!(batch, current, "batch {current} is cut short: torn");
                assert_eq!(index, next);
                assert_eq!(event.stream_id(), last.stream_id());
                assert_eq!(event.version(), last.version() + 1);
            }
        }
        open = (index + 1 < size).then_some((batch, size, index + 1, event));
    }
    assert!(open.is_none(), "the last batch is incomplete: torn");

    let mut total = 0;
    for info in store.streams(0).unwrap() {
        let events = store.events(Some(&info.stream_id), 0).unwrap();
        let versions: Vec<u64> = events.iter().map(Event::version).collect();
        assert_eq!(versions, (1..=events.len() as u64).collect::<Vec<_>>());
        total += events.len();
    }
    assert_eq!(total, all.len());
    (batches, all.len())
}

#[test]
fn sigkilled_writers_never_tear_or_lose_a_batch() {
    if std::env::var_os(CHILD_FILE).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.sqlite");
    let started = Instant::now();
    let mut rng = Rng::new(seed());
    let mut acknowledged = HashSet::new();
    let (mut in_flight_present, mut in_flight_absent, mut kills) = (0, 0, 0);
    let mut last = (HashSet::new(), 0);
    while kills < KILLS {
        assert!(
            started.elapsed() < BUDGET,
            "only {kills} kills in {BUDGET:?}"
        );
        let round = kill_a_child(&path, rng.below(u64::MAX), &mut rng);
        kills += 1;
        acknowledged.extend(round.saved);
        last = check_file(&path);
        let (present, _) = &last;
        let missing: Vec<_> = acknowledged.difference(present).collect();
        assert!(
            missing.is_empty(),
            "saved batches lost after kill {kills}: {missing:?}"
        );
        match round.in_flight {
            Some(batch) if present.contains(&batch) => in_flight_present += 1,
            Some(_) => in_flight_absent += 1,
            None => {}
        }
        // Nothing but what the children began is there.
        assert!(present.len() <= acknowledged.len() + in_flight_present);
    }
    let (batches, events) = last;
    stores::report(&format!(
        "crash: {kills} SIGKILLs; {} batches ({events} events) in the file, each whole; \
         {} saves acknowledged, none lost; the batch being saved at the kill: {in_flight_present} \
         times wholly there, {in_flight_absent} times wholly absent ({:.1} s)",
        batches.len(),
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    ));
}
