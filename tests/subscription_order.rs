//! The read side's ordering test: 8 writer threads in each of 2 processes
//! save 20,000 events in all to one store (one SQLite file; one PostgreSQL
//! schema when `DVENT_POSTGRES_URL` is set) while a subscriber that started
//! at position 0, on a connection of its own, tails the log. It must see
//! exactly the positions 1..=20,000, once each, in order, and events equal
//! to what `read_all` returns afterwards; every writer's events in the
//! order it saved them.
//!
//! The second process is this test binary itself, started with
//! `DVENT_ORDER_CHILD` (`sqlite:<path>` or `postgres:<schema>`). The SQLite
//! writers use `Synchronous::Normal` (sync at checkpoints, not at every
//! commit: the test is about order, not power loss) and a 60 s busy
//! timeout, each thread with a connection of its own.

#[path = "support/stores.rs"]
mod stores;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dvent::{Event, EventStore, ExpectedVersion, Recorded, StopHandle, Subscription};
use stores::report;

const CHILD: &str = "DVENT_ORDER_CHILD";
const TOTAL: usize = 20_000;
const PROCESSES: usize = 2;
const THREADS: usize = 8;
const BATCH: usize = 5;
const PER_THREAD: usize = TOTAL / (PROCESSES * THREADS);
const STREAMS: usize = 4;
/// The subscriber gives up after this long (and the test fails).
const BUDGET: Duration = Duration::from_secs(150);

/// One writer thread: `PER_THREAD` events in batches of `BATCH`, each
/// carrying its process, thread and sequence number.
fn write(store: &dyn EventStore, process: usize, thread: usize) {
    for batch in 0..PER_THREAD / BATCH {
        let events: dvent::Vector<Event> = (0..BATCH)
            .map(|i| {
                Event::new("Written")
                    .with_entry("process", process)
                    .with_entry("thread", thread)
                    .with_entry("seq", batch * BATCH + i)
            })
            .collect();
        let stream = format!("stream-{}", (thread + batch) % STREAMS);
        store
            .append(&stream, &events, ExpectedVersion::Any)
            .unwrap_or_else(|e| panic!("writer {process}/{thread}: {e}"));
    }
}

/// Runs `THREADS` writers of `process`, each on the store `open` gives it.
fn write_all(process: usize, open: &(dyn Fn() -> Arc<dyn EventStore> + Sync)) {
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || write(&*open(), process, thread));
        }
    });
}

/// The child process: its writers, when started by the test below.
#[test]
fn order_child() {
    let Ok(target) = std::env::var(CHILD) else {
        return; // only in a child started by the tests below
    };
    let open = child_opener(&target);
    println!("\nREADY");
    write_all(1, &*open);
    println!("DONE");
}

fn child_opener(target: &str) -> Box<dyn Fn() -> Arc<dyn EventStore> + Sync> {
    if let Some(path) = target.strip_prefix("sqlite:") {
        #[cfg(feature = "sqlite")]
        {
            let path = path.to_string();
            return Box::new(move || sqlite_writer(std::path::Path::new(&path)));
        }
    }
    if let Some(schema) = target.strip_prefix("postgres:") {
        #[cfg(feature = "postgres")]
        {
            let store = pg::connect(schema, THREADS as u32);
            return Box::new(move || Arc::new(store.clone()) as Arc<dyn EventStore>);
        }
    }
    panic!(
        "{CHILD} should be sqlite:<path> or postgres:<schema>, found {target:?} (or this build lacks its store)"
    )
}

#[cfg(feature = "sqlite")]
fn sqlite_writer(path: &std::path::Path) -> Arc<dyn EventStore> {
    use dvent::store::sqlite::Synchronous;
    Arc::new(
        dvent::SqliteEventStore::open(path)
            .and_then(|s| s.with_synchronous(Synchronous::Normal))
            .and_then(|s| s.with_busy_timeout(Duration::from_secs(60)))
            .expect("a writer opens the file"),
    )
}

/// Starts the child on `target` and waits until it is ready to write.
fn start_child(target: &str) -> (Child, std::thread::JoinHandle<Vec<String>>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["order_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, target)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("starting the child process");
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "READY" {
                let _ = ready_tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the child is ready within 30 s");
    (child, lines)
}

/// The whole test on one store: `target` for the child, `open` for this
/// process's writers, `reader` for the subscriber.
fn run(
    name: &str,
    target: &str,
    open: &(dyn Fn() -> Arc<dyn EventStore> + Sync),
    reader: Arc<dyn EventStore>,
) {
    let started = Instant::now();
    let stop = StopHandle::new();
    let subscription = Subscription::new(Arc::clone(&reader), 0).with_stop(stop.clone());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    let subscriber = std::thread::spawn(move || {
        let mut seen: Vec<Recorded> = Vec::with_capacity(TOTAL);
        for recorded in subscription {
            seen.push(recorded.expect("the subscriber reads"));
            counted.store(seen.len(), Ordering::Relaxed);
            if seen.len() == TOTAL {
                break;
            }
        }
        seen
    });
    let watchdog = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let begun = Instant::now();
            while begun.elapsed() < BUDGET && !stop.is_stopped() {
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.stop();
        })
    };

    let (mut child, child_lines) = start_child(target);
    write_all(0, open);
    let wrote_here = started.elapsed();
    let status = child.wait().expect("waiting for the child");
    let lines = child_lines.join().unwrap();
    assert!(
        status.success(),
        "{name}: the child failed ({status}): {lines:?}"
    );
    assert!(lines.iter().any(|l| l == "DONE"), "{name}: {lines:?}");
    let wrote = started.elapsed();
    let seen_while_writing = count.load(Ordering::Relaxed);

    let seen = subscriber.join().expect("the subscriber");
    let tailed = started.elapsed();
    stop.stop();
    watchdog.join().unwrap();
    assert_eq!(seen.len(), TOTAL, "{name}: the subscriber ran out of time");

    // Exactly 1..=N, once each, in order.
    for (index, recorded) in seen.iter().enumerate() {
        assert_eq!(recorded.position, index as u64 + 1, "{name}");
    }
    // The same events as read_all gives afterwards, and nothing more.
    let stored: Vec<Recorded> = dvent::store::Pages::all(&*reader, 0, 1000)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), TOTAL, "{name}");
    assert!(
        seen == stored,
        "{name}: the subscriber saw other events than read_all gives"
    );
    // Every writer's events, each once, in the order it saved them.
    let mut next: HashMap<(u64, u64), u64> = HashMap::new();
    for recorded in &seen {
        let data = recorded.event.data();
        let key = (
            data.get_u64("process").unwrap(),
            data.get_u64("thread").unwrap(),
        );
        let expected = next.entry(key).or_insert(0);
        assert_eq!(
            data.get_u64("seq"),
            Some(*expected),
            "{name}: writer {key:?}"
        );
        *expected += 1;
    }
    assert_eq!(next.len(), PROCESSES * THREADS, "{name}");
    assert!(next.values().all(|&n| n == PER_THREAD as u64), "{name}");
    report(&format!(
        "{name}: {TOTAL} events by {PROCESSES} processes x {THREADS} threads in batches of {BATCH}: \
         this process's writers done in {wrote_here:?}, both in {wrote:?} (the subscriber had \
         {seen_while_writing} by then); it saw 1..={TOTAL} in order after {tailed:?}"
    ));
}

#[cfg(feature = "sqlite")]
#[test]
fn a_subscriber_sees_every_position_once_in_order_sqlite_two_processes() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let reader: Arc<dyn EventStore> = Arc::new(dvent::SqliteEventStore::open(&path).unwrap());
    let target = format!("sqlite:{}", path.display());
    run("sqlite", &target, &|| sqlite_writer(&path), reader);
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use dvent::PostgresEventStore;
    use dvent::store::postgres::PostgresOptions;

    pub fn connect(schema: &str, connections: u32) -> PostgresEventStore {
        let url = std::env::var(stores::POSTGRES_URL_VAR).expect("the URL is set");
        PostgresEventStore::connect_with(
            &url,
            PostgresOptions::new()
                .with_schema(schema)
                .with_max_connections(connections),
        )
        .expect("connecting to DVENT_POSTGRES_URL")
    }

    #[test]
    fn a_subscriber_sees_every_position_once_in_order_postgres_two_processes() {
        if std::env::var(CHILD).is_ok() {
            return;
        }
        let Some(_) = stores::postgres_url().unwrap_or_else(|message| panic!("{message}")) else {
            return;
        };
        let schema = stores::postgres::fresh_schema();
        let writers = connect(&schema, THREADS as u32);
        let reader = connect(&schema, 1);
        let target = format!("postgres:{schema}");
        let open = || Arc::new(writers.clone()) as Arc<dyn EventStore>;
        run("postgres", &target, &open, Arc::new(reader));
        writers.drop_schema().unwrap();
    }
}
