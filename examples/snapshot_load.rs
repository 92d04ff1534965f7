//! Loading one aggregate of many events from SQLite, with and without
//! snapshots: the figures of issue 13 (a snapshot load at least 100 times
//! faster than folding every event).
//!
//! ```text
//! cargo run --release --example snapshot_load -- [EVENTS] [EVERY] [DIR]
//! ```
//!
//! Saves EVENTS events (default 1,000,000) to one stream of a fresh SQLite
//! file in DIR (a temporary folder by default), in batches of 10,000 with
//! `Synchronous::Normal`, keeping a snapshot every EVERY events (default
//! 1,000) as `Repository::save` would; then loads the aggregate a few times
//! with a kind without snapshots and many times with the same kind with
//! snapshots, checks both give the same state and version, and prints the
//! medians and their ratio. Only the loads are timed.

use std::time::{Duration, Instant};

use dvent::jiff::Timestamp;
use dvent::store::sqlite::Synchronous;
use dvent::{
    AggregateKind, Event, EventStore, ExpectedVersion, Repository, Snapshot, SqliteEventStore,
    Vector,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    count: u64,
    sum: u64,
}

fn evolve(tally: Tally, event: &Event) -> Tally {
    Tally {
        count: tally.count + 1,
        sum: tally.sum + event.data().get_u64("n").unwrap_or(0),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let every: u64 = args.next().map_or(Ok(1_000), |a| a.parse())?;
    let temporary = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temporary.path().to_path_buf(), Into::into);
    let path = dir.join("snapshot_load.sqlite");
    let _ = std::fs::remove_file(&path);

    let plain = AggregateKind::evolving("Tally", Tally::default(), evolve);
    let snapshotting = plain.clone().with_snapshots(every, 1);

    let store: SqliteEventStore =
        SqliteEventStore::open(&path)?.with_synchronous(Synchronous::Normal)?;
    let id = dvent::uuid::Uuid::new_v4();
    let stream = id.to_string();
    let started = Instant::now();
    let mut state = Tally::default();
    let mut written = 0;
    while written < events {
        let size = 10_000.min(events - written);
        let batch: Vector<Event> = (written..written + size)
            .map(|i| {
                Event::new("Added")
                    .with_entry("n", i % 1_000)
                    .with_version(i + 1)
            })
            .collect();
        for event in &batch {
            state = evolve(state, event);
            if every > 0 && event.version() % every == 0 {
                store.save_snapshot(&Snapshot {
                    stream_id: stream.clone(),
                    kind: "Tally".into(),
                    version: event.version(),
                    snapshot_version: 1,
                    state: serde_json::to_string(&state)?,
                    taken_at: Timestamp::now(),
                })?;
            }
        }
        store.append(&stream, &batch, ExpectedVersion::Exact(written))?;
        written += size;
    }
    println!(
        "setup\t{events} events, a snapshot every {every}, in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        path.display()
    );

    let repo = Repository::new(store);
    let time = |kind: &AggregateKind<Tally>,
                runs: usize|
     -> Result<(Duration, Tally, u64), Box<dyn std::error::Error>> {
        let mut times = Vec::with_capacity(runs);
        let mut last = None;
        for _ in 0..runs {
            let started = Instant::now();
            let loaded = repo.load(kind, id)?.ok_or("the aggregate is saved")?;
            times.push(started.elapsed());
            last = Some((loaded.state().clone(), loaded.version()));
        }
        let (state, version) = last.ok_or("at least one run")?;
        Ok((median(times), state, version))
    };
    let (full, full_state, full_version) = time(&plain, 5)?;
    let (fast, fast_state, fast_version) = time(&snapshotting, 101)?;
    assert_eq!((full_state, full_version), (fast_state, fast_version));
    assert_eq!(full_version, events);
    println!(
        "load without snapshots\tmedian of 5\t{:.3} ms",
        full.as_secs_f64() * 1e3
    );
    println!(
        "load with snapshots\tmedian of 101\t{:.3} ms",
        fast.as_secs_f64() * 1e3
    );
    println!("ratio\t{:.0}x", full.as_secs_f64() / fast.as_secs_f64());
    Ok(())
}
