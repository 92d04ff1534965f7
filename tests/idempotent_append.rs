//! Idempotent appends, on every store (memory, SQLite and, when
//! `DVENT_POSTGRES_URL` is set, PostgreSQL): saving again a batch that is
//! already stored, the same events at the same versions of the same stream,
//! succeeds and returns it as stored, writes nothing and publishes nothing;
//! a batch that overlaps stored events in part, or reuses a stored id with
//! another stream, version, type, timestamp, payload or expectation, is
//! refused and writes nothing. `Repository::save` called again
//! with the same aggregate stores its events once.

#[path = "support/stores.rs"]
mod stores;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use dvent::jiff::SignedDuration;
use dvent::store::RetryDifference;
use dvent::{
    Aggregate, AggregateKind, Event, EventStore, ExpectedVersion, Repository, StoreError,
    StreamInfo, Vector, vector,
};
use stores::StoreKind;
use uuid::Uuid;

/// Runs `test` once per store kind, on a fresh store each time.
fn on_every_store(test: impl Fn(StoreKind, Arc<dyn EventStore>)) {
    let kinds = stores::store_kinds().unwrap_or_else(|message| panic!("{message}"));
    for kind in kinds {
        test(kind, stores::open_store(kind));
    }
}

fn batch(n: usize) -> Vector<Event> {
    (0..n)
        .map(|i| Event::new(format!("Happened{i}")).with_entry("i", i as u64))
        .collect()
}

fn ids<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<Uuid> {
    events.into_iter().map(Event::id).collect()
}

/// Everything a store holds: every event in the global order, and the
/// streams.
fn contents(store: &dyn EventStore) -> (Vec<Event>, Vec<StreamInfo>) {
    (store.events(None, 0).unwrap(), store.streams(0).unwrap())
}

/// The difference a refused retry reports, checking it names `stream` and
/// `event`.
fn difference(kind: StoreKind, error: StoreError, stream: &str, event: Uuid) -> RetryDifference {
    match error {
        StoreError::RetryMismatch {
            stream_id,
            event_id,
            difference,
        } => {
            assert_eq!(
                (stream_id.as_str(), event_id),
                (stream, event),
                "{}",
                kind.name()
            );
            difference
        }
        other => panic!("{}: expected a retry mismatch, got {other:?}", kind.name()),
    }
}

#[test]
fn saving_the_same_batch_again_returns_it_as_stored_and_stores_it_once() {
    on_every_store(|kind, store| {
        let name = kind.name();
        // Unversioned events (numbered by the store), under every kind of
        // expectation, retried with the same expectation.
        let cases = [
            ("a", ExpectedVersion::NoStream, 0),
            ("a", ExpectedVersion::Exact(2), 2),
            ("a", ExpectedVersion::StreamExists, 4),
            ("a", ExpectedVersion::Any, 6),
            ("b", ExpectedVersion::Any, 0),
        ];
        for (stream, expected, before) in cases {
            let events = batch(2);
            let first = store.append(stream, &events, expected).unwrap();
            assert_eq!(
                first.iter().map(Event::version).collect::<Vec<_>>(),
                [before + 1, before + 2],
                "{name}"
            );
            let held = contents(&*store);
            for _ in 0..2 {
                let again = store.append(stream, &events, expected).unwrap();
                assert_eq!(again, first, "{name}: {expected:?}");
                assert_eq!(contents(&*store), held, "{name}: a retry wrote nothing");
            }
        }
        // Events that carry their versions, as an aggregate's do.
        let versioned: Vector<Event> = batch(3)
            .into_iter()
            .zip(9..)
            .map(|(e, v)| e.with_version(v))
            .collect();
        let first = store
            .append("a", &versioned, ExpectedVersion::Exact(8))
            .unwrap();
        let again = store
            .append("a", &versioned, ExpectedVersion::Exact(8))
            .unwrap();
        assert_eq!(again, first, "{name}");
        let stream = store.events(Some("a"), 0).unwrap();
        assert_eq!(
            stream.iter().map(Event::version).collect::<Vec<_>>(),
            (1..=11).collect::<Vec<_>>(),
            "{name}: every event once"
        );
        assert_eq!(store.events(None, 0).unwrap().len(), 13, "{name}");
    });
}

#[test]
fn the_publisher_runs_once_for_a_batch_saved_twice() {
    let kinds = stores::store_kinds().unwrap_or_else(|message| panic!("{message}"));
    for kind in kinds {
        let published = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&published);
        let store = stores::open_store_with_publisher(kind, move |_: &Event| {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let events = batch(3);
        let first = store
            .append("s", &events, ExpectedVersion::NoStream)
            .unwrap();
        assert_eq!(published.load(Ordering::SeqCst), 3, "{}", kind.name());
        let again = store
            .append("s", &events, ExpectedVersion::NoStream)
            .unwrap();
        assert_eq!(again, first, "{}", kind.name());
        assert_eq!(
            published.load(Ordering::SeqCst),
            3,
            "{}: not published again",
            kind.name()
        );
    }
}

#[test]
fn a_retry_of_an_old_batch_succeeds_after_later_saves() {
    on_every_store(|kind, store| {
        let name = kind.name();
        let old = batch(2);
        let first = store.append("s", &old, ExpectedVersion::NoStream).unwrap();
        store
            .append("s", &batch(3), ExpectedVersion::Exact(2))
            .unwrap();
        store
            .append("other", &batch(1), ExpectedVersion::Any)
            .unwrap();
        let held = contents(&*store);
        for expected in [ExpectedVersion::NoStream, ExpectedVersion::Any] {
            let again = store.append("s", &old, expected).unwrap();
            assert_eq!(again, first, "{name}: {expected:?}");
        }
        // Its last event alone, as a retry of a one-event save would be:
        // stored at version 2, after version 1.
        let again = store
            .append("s", &old.skip(1), ExpectedVersion::Exact(1))
            .unwrap();
        assert_eq!(again, first[1..], "{name}");
        assert_eq!(contents(&*store), held, "{name}: nothing written");
    });
}

#[test]
fn a_batch_that_overlaps_stored_events_in_part_is_refused_and_writes_nothing() {
    on_every_store(|kind, store| {
        let name = kind.name();
        let stored = store
            .append("s", &batch(2), ExpectedVersion::NoStream)
            .unwrap();
        let held = contents(&*store);

        // The stored batch and one new event: the new one is not stored at
        // version 3.
        let extra = Event::new("New");
        let mut longer = stored.clone();
        longer.push(extra.clone());
        let error = store
            .append(
                "s",
                &longer.iter().cloned().collect(),
                ExpectedVersion::NoStream,
            )
            .unwrap_err();
        assert_eq!(
            difference(kind, error, "s", extra.id()),
            RetryDifference::NotStoredAt { version: 3 },
            "{name}"
        );

        // The stored events out of order.
        let swapped = vector![stored[1].clone(), stored[0].clone()];
        let error = store
            .append("s", &swapped, ExpectedVersion::Any)
            .unwrap_err();
        assert_eq!(
            difference(kind, error, "s", stored[0].id()),
            RetryDifference::NotStoredAt { version: 3 },
            "{name}"
        );

        // A new event first, then a stored one: never saved, so not a
        // retry; the stored id is a duplicate.
        let fresh_first = vector![Event::new("New"), stored[0].clone().with_version(0)];
        let error = store
            .append("s", &fresh_first, ExpectedVersion::Any)
            .unwrap_err();
        assert!(
            matches!(error, StoreError::DuplicateEvent { event_id } if event_id == stored[0].id()),
            "{name}: {error:?}"
        );

        // The first event given twice.
        let twice = vector![stored[0].clone(), stored[0].clone()];
        let error = store
            .append("s", &twice, ExpectedVersion::NoStream)
            .unwrap_err();
        assert_eq!(
            difference(kind, error, "s", stored[0].id()),
            RetryDifference::NotStoredAt { version: 2 },
            "{name}"
        );
        assert_eq!(contents(&*store), held, "{name}: nothing written");
    });
}

#[test]
fn a_stored_id_with_another_content_version_or_stream_is_refused() {
    on_every_store(|kind, store| {
        let name = kind.name();
        let original = Event::new("Added").with_entry("amount", 10).with_version(1);
        let stored = store
            .append("s", &vector![original.clone()], ExpectedVersion::NoStream)
            .unwrap();
        store
            .append("s", &batch(1), ExpectedVersion::Exact(1))
            .unwrap();
        store
            .append("other", &batch(1), ExpectedVersion::NoStream)
            .unwrap();
        let held = contents(&*store);
        let id = original.id();
        let refused = |stream: &str, event: Event, expected| {
            let error = store.append(stream, &vector![event], expected).unwrap_err();
            difference(kind, error, stream, id)
        };
        let cases = [
            (
                "s",
                original.clone().with_entry("amount", 11),
                RetryDifference::Payload,
            ),
            (
                "s",
                original.clone().with_type("Removed"),
                RetryDifference::EventType,
            ),
            (
                "s",
                original
                    .clone()
                    .with_timestamp(original.timestamp() + SignedDuration::from_nanos(1)),
                RetryDifference::Timestamp,
            ),
            (
                "s",
                original.clone().with_version(2),
                RetryDifference::Version {
                    stored: 1,
                    given: 2,
                },
            ),
            (
                "other",
                original.clone().with_version(0),
                RetryDifference::OtherStream,
            ),
            (
                "new-stream",
                original.clone().with_version(0),
                RetryDifference::OtherStream,
            ),
        ];
        for (stream, event, want) in cases {
            let expected = if stream == "s" {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Any
            };
            assert_eq!(refused(stream, event, expected), want, "{name}: {want:?}");
        }
        // The same event, but an expectation that could not have put it at
        // version 1: another save, not a retry.
        for expected in [ExpectedVersion::Exact(1), ExpectedVersion::StreamExists] {
            assert_eq!(
                refused("s", original.clone(), expected),
                RetryDifference::Expectation { expected, after: 0 },
                "{name}"
            );
        }
        // Refusals say what differs.
        let error = store
            .append(
                "s",
                &vector![original.clone().with_entry("amount", 11)],
                ExpectedVersion::NoStream,
            )
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&id.to_string()) && message.contains("another payload"),
            "{name}: {message}"
        );
        assert_eq!(contents(&*store), held, "{name}: nothing written");
        // And the exact retry still succeeds.
        assert_eq!(
            store
                .append("s", &vector![original], ExpectedVersion::NoStream)
                .unwrap(),
            stored,
            "{name}"
        );
    });
}

#[test]
fn retries_racing_each_other_store_the_batch_once() {
    on_every_store(|kind, store| {
        const THREADS: usize = 6;
        let events = batch(4);
        let barrier = Arc::new(Barrier::new(THREADS));
        let results: Vec<_> = (0..THREADS)
            .map(|_| {
                let store = Arc::clone(&store);
                let events = events.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    store.append("race", &events, ExpectedVersion::NoStream)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("a writer thread"))
            .collect();
        let stored = store.events(Some("race"), 0).unwrap();
        assert_eq!(ids(&stored), ids(&events), "{}: stored once", kind.name());
        for result in results {
            assert_eq!(result.unwrap(), stored, "{}", kind.name());
        }
    });
}

fn counter() -> AggregateKind {
    AggregateKind::new("Counter").on("Incremented", |state, event| {
        state.update("count", event.data()["count"].clone())
    })
}

fn increment(counter: Aggregate, by: i64) -> Aggregate {
    let count = counter.state().get_i64("count").unwrap_or(0);
    counter.apply(Event::new("Incremented").with_entry("count", count + by))
}

#[test]
fn saving_the_same_aggregate_twice_stores_its_events_once() {
    on_every_store(|kind, store| {
        let name = kind.name();
        let repo = Repository::from_shared(Arc::clone(&store));
        let kind_of = counter();
        // A new aggregate (expecting no stream), saved twice.
        let new = increment(increment(Aggregate::new(&kind_of), 1), 1);
        let saved = repo.save(&new).unwrap();
        assert_eq!(repo.save(&new).unwrap(), saved, "{name}");
        // A loaded one, changed and saved twice (expecting version 2).
        let loaded = repo.load(&kind_of, new.id()).unwrap().unwrap();
        assert_eq!(loaded, saved, "{name}");
        let changed = increment(loaded.clone(), 5);
        let saved_again = repo.save(&changed).unwrap();
        assert_eq!(repo.save(&changed).unwrap(), saved_again, "{name}");
        assert_eq!(saved_again.version(), 3, "{name}");
        let stream = store.events(Some(&new.id().to_string()), 0).unwrap();
        assert_eq!(
            stream.iter().map(Event::version).collect::<Vec<_>>(),
            [1, 2, 3],
            "{name}: each event once"
        );
        // Another decision on the same loaded version is a real conflict,
        // and writes nothing.
        let rival = increment(loaded, 7);
        assert!(
            matches!(
                repo.save(&rival),
                Err(StoreError::VersionConflict { found: 3, .. })
            ),
            "{name}"
        );
        // A retry of the old save still succeeds after that, and after a
        // later save.
        let later = increment(saved_again.clone(), 1);
        repo.save(&later).unwrap();
        assert_eq!(repo.save(&changed).unwrap(), saved_again, "{name}");
        assert_eq!(
            store.events(Some(&new.id().to_string()), 0).unwrap().len(),
            4,
            "{name}"
        );
        let loaded = repo.load(&kind_of, new.id()).unwrap().unwrap();
        assert_eq!(loaded.state()["count"], 8, "{name}");
    });
}

/// One step of a random series: a new batch, or a batch made from an
/// earlier one (retried as it was, or changed).
#[derive(Clone, Debug)]
enum Step {
    New {
        stream: usize,
        size: usize,
        expected: ExpectedVersion,
        versioned: bool,
    },
    Again {
        earlier: usize,
        change: Change,
        other_stream: bool,
        expected: Option<ExpectedVersion>,
    },
}

#[derive(Clone, Copy, Debug)]
enum Change {
    None,
    Payload,
    EventType,
    Timestamp,
    Version,
    DropFirst,
    DropLast,
    AddEvent,
    Reverse,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let expected = prop_oneof![
        Just(ExpectedVersion::Any),
        Just(ExpectedVersion::NoStream),
        Just(ExpectedVersion::StreamExists),
        (0u64..8).prop_map(ExpectedVersion::Exact),
    ];
    let change = prop_oneof![
        6 => Just(Change::None),
        1 => Just(Change::Payload),
        1 => Just(Change::EventType),
        1 => Just(Change::Timestamp),
        1 => Just(Change::Version),
        1 => Just(Change::DropFirst),
        1 => Just(Change::DropLast),
        1 => Just(Change::AddEvent),
        1 => Just(Change::Reverse),
    ];
    prop_oneof![
        (0usize..3, 0usize..4, expected.clone(), any::<bool>()).prop_map(
            |(stream, size, expected, versioned)| Step::New {
                stream,
                size,
                expected,
                versioned,
            }
        ),
        (
            0usize..16,
            change,
            prop::bool::weighted(0.15),
            prop::option::weighted(0.2, expected),
        )
            .prop_map(|(earlier, change, other_stream, expected)| Step::Again {
                earlier,
                change,
                other_stream,
                expected,
            }),
    ]
}

/// Runs `steps` on a memory store and on `other`, comparing every outcome
/// (errors by their text) and then the contents.
/// `retries` counts the changed or retried batches found already stored,
/// `mismatches` those refused as not a retry.
fn same_judgements(
    other: &dyn EventStore,
    steps: &[Step],
    retries: &AtomicUsize,
    mismatches: &AtomicUsize,
) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::prop_assert_eq;
    let memory = dvent::InMemoryEventStore::new();
    let streams = ["a", "b", "c"];
    // Every batch tried: its stream, events and expectation.
    let mut tried: Vec<(usize, Vector<Event>, ExpectedVersion)> = Vec::new();
    for step in steps {
        let (stream, events, expected) = match step {
            Step::New {
                stream,
                size,
                expected,
                versioned,
            } => {
                let current = memory.events(Some(streams[*stream]), 0).unwrap().len() as u64;
                let events: Vector<Event> = batch(*size)
                    .into_iter()
                    .zip(current + 1..)
                    .map(|(e, v)| if *versioned { e.with_version(v) } else { e })
                    .collect();
                (*stream, events, *expected)
            }
            Step::Again {
                earlier,
                change,
                other_stream,
                expected,
            } => {
                let Some((stream, events, was)) = tried.get(earlier % tried.len().max(1)).cloned()
                else {
                    continue;
                };
                let mut events = events;
                let first = events.front().cloned();
                match (change, first) {
                    (Change::None, _) | (_, None) => {}
                    (Change::Payload, Some(e)) => {
                        events.set(0, e.with_entry("changed", true));
                    }
                    (Change::EventType, Some(e)) => {
                        events.set(0, e.with_type("Changed"));
                    }
                    (Change::Timestamp, Some(e)) => {
                        let later = e.timestamp() + SignedDuration::from_secs(1);
                        events.set(0, e.with_timestamp(later));
                    }
                    (Change::Version, Some(e)) => {
                        let v = e.version();
                        events.set(0, e.with_version(v + 1));
                    }
                    (Change::DropFirst, Some(_)) => {
                        events.remove(0);
                    }
                    (Change::DropLast, Some(_)) => {
                        events.pop_back();
                    }
                    (Change::AddEvent, Some(_)) => events.push_back(Event::new("Extra")),
                    (Change::Reverse, Some(_)) => events = events.into_iter().rev().collect(),
                }
                let stream = if *other_stream {
                    (stream + 1) % 3
                } else {
                    stream
                };
                (stream, events, expected.unwrap_or(was))
            }
        };
        let held = memory.len();
        let want = memory
            .append(streams[stream], &events, expected)
            .map_err(|e| e.to_string());
        if matches!(step, Step::Again { .. }) {
            match &want {
                Ok(saved) if !saved.is_empty() && memory.len() == held => {
                    retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(message) if message.contains("is not a retry") => {
                    mismatches.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        let got = other
            .append(streams[stream], &events, expected)
            .map_err(|e| e.to_string());
        prop_assert_eq!(
            &got,
            &want,
            "saving {:?} to {} expecting {:?}",
            events,
            streams[stream],
            expected
        );
        tried.push((stream, events, expected));
    }
    prop_assert_eq!(
        other.events(None, 0).unwrap(),
        memory.events(None, 0).unwrap()
    );
    prop_assert_eq!(other.streams(0).unwrap(), memory.streams(0).unwrap());
    Ok(())
}

#[test]
fn every_store_judges_retries_as_the_memory_store_does() {
    use proptest::test_runner::{Config, TestRunner};
    let kinds = stores::store_kinds().unwrap_or_else(|message| panic!("{message}"));
    for kind in kinds.into_iter().filter(|&k| k != StoreKind::Memory) {
        let cases = if kind.name() == "postgres" { 30 } else { 120 };
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let (retries, mismatches) = (AtomicUsize::new(0), AtomicUsize::new(0));
        runner
            .run(&proptest::collection::vec(step(), 1..24), |steps| {
                same_judgements(&*stores::open_store(kind), &steps, &retries, &mismatches)
            })
            .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        let (retries, mismatches) = (retries.into_inner(), mismatches.into_inner());
        assert!(
            retries > 0 && mismatches > 0,
            "{retries} retries, {mismatches} mismatches"
        );
        stores::report(&format!(
            "{}: {cases} random series of saves, retries and changed retries judged as memory \
             judges them ({retries} retries found stored, {mismatches} refused as not a retry)",
            kind.name(),
        ));
    }
}
