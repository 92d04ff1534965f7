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

#[path = "support/saving_at_once.rs"]
mod saving_at_once;

use std::sync::{Arc, Mutex};

use dvent::{Event, EventStore, ExpectedVersion, SqliteEventStore};
use saving_at_once::batch;

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
    let (seen, twins) = saving_at_once::run(&store, &published);
    let reopened: SqliteEventStore = SqliteEventStore::open(&path).unwrap();
    // The leader publishes each group's events after its commit, group by
    // group: in commit order.
    saving_at_once::check(&seen, &twins, &reopened, &published, true);
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
