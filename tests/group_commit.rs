//! The SQLite store's group commit under load: many threads saving at once
//! through clones of one handle (one connection, one queue), to streams of
//! their own and to shared ones, with right and wrong expectations, bad
//! batches and retries, released together by a barrier each round so that
//! their saves are committed in groups.
//!
//! Each caller's result is what its save would get alone at its place in
//! the commit order: its own stream's saves succeed or fail exactly as
//! predicted; of the threads racing to create a stream exactly one wins and
//! the others see its version; twin saves of one batch both succeed with
//! the same events (one writes, the other is a retry); a bad batch fails and
//! writes nothing. Afterwards everything reads back in order, and the
//! publisher saw every event once, in commit order, each before its save
//! returned.

#![cfg(feature = "sqlite")]

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};

use dvent::{Event, EventStore, ExpectedVersion, SqliteEventStore, StoreError, Vector};
use uuid::Uuid;

const THREADS: usize = 8;
const ROUNDS: usize = 30;

/// What one thread saw.
#[derive(Default)]
struct Seen {
    /// Its own stream's events, as its saves returned them.
    own: Vec<Event>,
    /// Its saves to the shared stream, as returned.
    shared: Vec<Vec<Event>>,
    /// Per round: whether it won the race to create the round's stream.
    races: Vec<(usize, Result<Vec<Event>, u64>)>,
    /// Per round (threads 0 and 1): the twin batch as returned.
    twins: Vec<(usize, Vec<Event>)>,
}

fn batch(events: &[Event]) -> Vector<Event> {
    events.iter().cloned().collect()
}

fn worker(
    store: SqliteEventStore,
    thread: usize,
    barrier: &Barrier,
    twins: &[Vec<Event>],
    published: &Mutex<Vec<Uuid>>,
) -> Seen {
    let own = format!("own-{thread}");
    let mut seen = Seen::default();
    let was_published = |events: &[Event]| {
        let published = published.lock().unwrap();
        let all: HashSet<&Uuid> = published.iter().collect();
        events.iter().all(|e| all.contains(&e.id()))
    };
    for (round, twin_batch) in twins.iter().enumerate() {
        barrier.wait();
        let version = seen.own.len() as u64;

        // A save expecting its own stream's version: succeeds.
        let events: Vec<Event> = (0..=(round + thread) % 2)
            .map(|i| Event::new("Own").with_entry("round", round as i64 * 10 + i as i64))
            .collect();
        let stored = store
            .append(&own, &batch(&events), ExpectedVersion::Exact(version))
            .expect("a save to its own stream");
        assert_eq!(
            stored.iter().map(Event::id).collect::<Vec<_>>(),
            events.iter().map(Event::id).collect::<Vec<_>>()
        );
        assert_eq!(stored[0].version(), version + 1);
        assert!(was_published(&stored), "published before it returned");
        seen.own.extend(stored);

        // The race to create the round's stream: one winner.
        let race = format!("race-{round}");
        let entrant = Event::new("Entered").with_entry("thread", thread as i64);
        match store.append(&race, &batch(&[entrant]), ExpectedVersion::NoStream) {
            Ok(stored) => seen.races.push((round, Ok(stored))),
            Err(StoreError::VersionConflict { found, .. }) => {
                seen.races.push((round, Err(found)));
            }
            Err(other) => panic!("racing: {other}"),
        }

        // Twins: threads 0 and 1 save the very same batch.
        if thread < 2 {
            let twin = format!("twin-{round}");
            let stored = store
                .append(&twin, &batch(twin_batch), ExpectedVersion::NoStream)
                .expect("a twin save (or its retry)");
            seen.twins.push((round, stored));
        }

        // The shared stream, expecting anything.
        let events: Vec<Event> = (0..=thread % 3)
            .map(|_| Event::new("Shared").with_entry("thread", thread as i64))
            .collect();
        let stored = store
            .append("shared", &batch(&events), ExpectedVersion::Any)
            .expect("a save to the shared stream");
        assert_eq!(stored.len(), events.len());
        assert!(was_published(&stored), "published before it returned");
        seen.shared.push(stored);

        let version = seen.own.len() as u64;
        if round % 3 == thread % 3 {
            // A wrong expectation: a conflict naming the stream's version.
            let err = store
                .append(
                    &own,
                    &batch(&[Event::new("Late")]),
                    ExpectedVersion::Exact(version + 7),
                )
                .unwrap_err();
            assert!(
                matches!(err, StoreError::VersionConflict { found, .. } if found == version),
                "{err}"
            );
        } else {
            // A bad batch: the same new event twice.
            let old = Event::new("New");
            let err = store
                .append(
                    &own,
                    &batch(&[old.clone(), old.clone()]),
                    ExpectedVersion::Exact(version),
                )
                .unwrap_err();
            assert!(
                matches!(err, StoreError::DuplicateEvent { event_id } if event_id == old.id()),
                "{err}"
            );
        }
    }
    seen
}

#[test]
fn many_threads_saving_at_once_each_get_what_they_would_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let published = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&published);
    let store = SqliteEventStore::open(&path)
        .unwrap()
        .with_publisher(move |e: &Event| {
            log.lock().unwrap().push(e.id());
            Ok(())
        });
    let twins: Vec<Vec<Event>> = (0..ROUNDS)
        .map(|_| vec![Event::new("Twin"), Event::new("Twin")])
        .collect();
    let barrier = Barrier::new(THREADS);
    let seen: Vec<Seen> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (store, barrier, twins, published) =
                    (store.clone(), &barrier, &twins, &*published);
                scope.spawn(move || worker(store, thread, barrier, twins, published))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let reopened = SqliteEventStore::open(&path).unwrap();
    // Each thread's own stream: exactly what its saves returned, in order.
    for (thread, seen) in seen.iter().enumerate() {
        let own = reopened.events(Some(&format!("own-{thread}")), 0).unwrap();
        assert_eq!(own, seen.own, "own-{thread}");
        assert!(own.iter().zip(1..).all(|(e, v)| e.version() == v));
    }
    // The shared stream: versions 1..n, each save's events contiguous and
    // as returned.
    let shared = reopened.events(Some("shared"), 0).unwrap();
    assert!(shared.iter().zip(1..).all(|(e, v)| e.version() == v));
    let mut saved = 0;
    for stored in seen.iter().flat_map(|s| &s.shared) {
        let from = usize::try_from(stored[0].version()).unwrap() - 1;
        assert_eq!(&shared[from..from + stored.len()], &stored[..]);
        saved += stored.len();
    }
    assert_eq!(shared.len(), saved);
    // Each race: one winner, whose event is the stream; the others saw it.
    for (round, twin_batch) in twins.iter().enumerate() {
        let stream = reopened.events(Some(&format!("race-{round}")), 0).unwrap();
        let results: Vec<&Result<Vec<Event>, u64>> = seen
            .iter()
            .flat_map(|s| &s.races)
            .filter(|(r, _)| *r == round)
            .map(|(_, result)| result)
            .collect();
        let winners: Vec<&Vec<Event>> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners, [&stream], "race-{round}");
        assert_eq!(
            results.len() - 1,
            results.iter().filter(|r| **r == &Err(1)).count()
        );
        // Twins: both succeeded with the same events, stored once.
        let twin = reopened.events(Some(&format!("twin-{round}")), 0).unwrap();
        for (_, stored) in seen
            .iter()
            .flat_map(|s| &s.twins)
            .filter(|(r, _)| *r == round)
        {
            assert_eq!(stored, &twin, "twin-{round}");
        }
        assert_eq!(
            twin.iter().map(Event::id).collect::<Vec<_>>(),
            twin_batch.iter().map(Event::id).collect::<Vec<_>>()
        );
    }
    // The log: every event once, each stream in version order, and the
    // publisher called with each, in commit order.
    let all = reopened.events(None, 0).unwrap();
    let ids: Vec<Uuid> = all.iter().map(Event::id).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    let expected_total = seen.iter().map(|s| s.own.len()).sum::<usize>() + saved + ROUNDS * (1 + 2);
    assert_eq!(all.len(), expected_total);
    let mut last_version = std::collections::HashMap::new();
    for event in &all {
        let last = last_version.insert(event.stream_id().to_string(), event.version());
        assert_eq!(
            last.unwrap_or(0) + 1,
            event.version(),
            "{}",
            event.stream_id()
        );
    }
    assert_eq!(*published.lock().unwrap(), ids);
}

/// A thread saving alone is never made to wait for company, and every
/// save, grouped or not, is in the file when it returns (read through a
/// connection of its own).
#[test]
fn a_save_is_in_the_file_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let store: SqliteEventStore = SqliteEventStore::open(&path).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (store, path) = (store.clone(), &path);
            scope.spawn(move || {
                let other: SqliteEventStore = SqliteEventStore::open_read_only(path).unwrap();
                let stream = format!("s-{thread}");
                for version in 0..50 {
                    let event = Event::new("E");
                    store
                        .append(
                            &stream,
                            &batch(std::slice::from_ref(&event)),
                            ExpectedVersion::Exact(version),
                        )
                        .unwrap();
                    let last = other.last_event(&stream).unwrap().expect("in the file");
                    assert_eq!(last.id(), event.id());
                }
            });
        }
    });
    // The figures count every save once, in groups that add up.
    let stats = store.group_commit_stats();
    assert_eq!(stats.saves, 4 * 50);
    assert!(stats.groups >= stats.saves.div_ceil(4), "{stats:?}");
    assert_eq!(stats.sizes.iter().sum::<u64>(), stats.groups, "{stats:?}");
    assert!((1..=4).contains(&stats.largest), "{stats:?}");
}

/// Saves one at a time are committed alone, each its own group.
#[test]
fn saves_one_at_a_time_are_groups_of_one() {
    let store: SqliteEventStore = SqliteEventStore::open_in_memory().unwrap();
    let clone = store.clone();
    for version in 0..3 {
        clone
            .append(
                "s",
                &batch(&[Event::new("E")]),
                ExpectedVersion::Exact(version),
            )
            .unwrap();
    }
    // A refused save is counted too: it went through the queue.
    store
        .append("", &batch(&[Event::new("E")]), ExpectedVersion::Any)
        .unwrap_err();
    let stats = store.group_commit_stats();
    assert_eq!(
        (stats.groups, stats.saves, stats.largest, stats.sizes[0]),
        (4, 4, 1, 4)
    );
}
