//! Many threads saving at once through one store's handles, each save's
//! result checked against what it would get alone: shared by the group
//! commit tests of the SQLite and PostgreSQL stores.
//!
//! Each caller's result is what its save would get alone at its place in
//! the commit order: its own stream's saves succeed or fail exactly as
//! predicted; of the threads racing to create a stream exactly one wins and
//! the others see its version; twin saves of one batch both succeed with
//! the same events (one writes, the other is a retry); a bad batch fails and
//! writes nothing. Afterwards everything reads back in order, and the
//! publisher saw every event once, each before its save returned.

use std::collections::HashSet;
use std::sync::{Barrier, Mutex};

use dvent::{Event, EventStore, ExpectedVersion, StoreError, Vector};
use uuid::Uuid;

pub const THREADS: usize = 8;
pub const ROUNDS: usize = 30;

/// What one thread saw.
#[derive(Default)]
pub struct Seen {
    /// Its own stream's events, as its saves returned them.
    own: Vec<Event>,
    /// Its saves to the shared stream, as returned.
    shared: Vec<Vec<Event>>,
    /// Per round: whether it won the race to create the round's stream.
    races: Vec<(usize, Result<Vec<Event>, u64>)>,
    /// Per round (threads 0 and 1): the twin batch as returned.
    twins: Vec<(usize, Vec<Event>)>,
}

pub fn batch(events: &[Event]) -> Vector<Event> {
    events.iter().cloned().collect()
}

pub fn worker<S: EventStore>(
    store: S,
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

/// Runs [`THREADS`] workers on clones of `store`, released together by a
/// barrier each round; returns what each saw and the twin batches.
pub fn run<S: EventStore + Clone + Send>(
    store: &S,
    published: &Mutex<Vec<Uuid>>,
) -> (Vec<Seen>, Vec<Vec<Event>>) {
    let twins: Vec<Vec<Event>> = (0..ROUNDS)
        .map(|_| vec![Event::new("Twin"), Event::new("Twin")])
        .collect();
    let barrier = Barrier::new(THREADS);
    let seen = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (store, barrier, twins) = (store.clone(), &barrier, &twins);
                scope.spawn(move || worker(store, thread, barrier, twins, published))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    (seen, twins)
}

/// Checks what the workers saw against what `reopened` (a new handle on
/// the same store) holds, and the publisher's log: every event once, and in
/// commit order when `in_commit_order`.
pub fn check(
    seen: &[Seen],
    twins: &[Vec<Event>],
    reopened: &dyn EventStore,
    published: &Mutex<Vec<Uuid>>,
    in_commit_order: bool,
) {
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
    // publisher called with each (in commit order when `in_commit_order`).
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
    let published = published.lock().unwrap().clone();
    if in_commit_order {
        assert_eq!(published, ids);
    } else {
        let mut published = published;
        let mut ids = ids;
        published.sort();
        ids.sort();
        assert_eq!(published, ids);
    }
}
