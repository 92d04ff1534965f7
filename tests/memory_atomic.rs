//! The in-memory store adds a batch whole or not at all, even when cloning a
//! payload panics part way through the batch: the store is left exactly as
//! it was, and later saves carry on as if the failed one never happened.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dvent::{Event, EventStore, ExpectedVersion, InMemoryEventStore, StreamInfo, vector};
use serde::{Serialize, Serializer};

const ON_PURPOSE: &str = "a payload's clone panicked (on purpose)";

/// A payload whose clone panics once a shared fuse burns down: the
/// `fuse`-th clone from now panics (0: never).
#[derive(Debug)]
struct Fragile {
    n: u32,
    fuse: Arc<AtomicUsize>,
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        let left = self.fuse.load(Ordering::SeqCst);
        if left == 1 {
            self.fuse.store(0, Ordering::SeqCst);
            std::panic::panic_any(ON_PURPOSE);
        }
        if left > 1 {
            self.fuse.store(left - 1, Ordering::SeqCst);
        }
        Fragile {
            n: self.n,
            fuse: Arc::clone(&self.fuse),
        }
    }
}

impl Serialize for Fragile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.n.serialize(serializer)
    }
}

/// Everything a reader can see of the store: every event (id, stream,
/// version), the streams, and each stream's versions.
type Contents = (Vec<(u128, String, u64)>, Vec<StreamInfo>, Vec<Vec<u64>>);

fn contents(store: &InMemoryEventStore<Fragile>) -> Contents {
    let all = store
        .events(None, 0)
        .unwrap()
        .iter()
        .map(|e| (e.id().as_u128(), e.stream_id().to_string(), e.version()))
        .collect();
    let versions = ["a", "b"]
        .iter()
        .map(|s| {
            let events = store.events(Some(s), 0).unwrap();
            events.iter().map(Event::version).collect()
        })
        .collect();
    (all, store.streams(0).unwrap(), versions)
}

/// Saves a batch of three to `stream` again and again, the clone that
/// panics being the first, then the second, and so on, until the save makes
/// fewer clones than that and succeeds. Every panicked save must leave the
/// store as it was; the save that succeeds (same event ids) must add the
/// whole batch, as versions `first..first + 3`. Returns how many saves
/// panicked.
fn save_through_panics(
    store: &InMemoryEventStore<Fragile>,
    fuse: &Arc<AtomicUsize>,
    stream: &str,
    expected: ExpectedVersion,
    first: u64,
) -> usize {
    let batch: Vec<Event<Fragile>> = (1..=3)
        .map(|n| {
            Event::typed(
                "Y",
                Fragile {
                    n,
                    fuse: Arc::clone(fuse),
                },
            )
        })
        .collect();
    let before = contents(store);
    for nth in 1.. {
        fuse.store(nth, Ordering::SeqCst);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            store.append(stream, &batch.iter().cloned().collect(), expected)
        }));
        let unburnt = fuse.swap(0, Ordering::SeqCst) != 0;
        match outcome {
            Err(_) => {
                assert_eq!(
                    contents(store),
                    before,
                    "{stream}: after a panic at clone {nth}"
                );
            }
            Ok(saved) => {
                assert!(unburnt, "a save that returned had a clone panic");
                let saved = saved.expect("the same batch saves after the panicked attempts");
                let versions: Vec<u64> = saved.iter().map(Event::version).collect();
                assert_eq!(versions, (first..first + 3).collect::<Vec<_>>());
                let ids: Vec<_> = saved.iter().map(Event::id).collect();
                assert_eq!(ids, batch.iter().map(Event::id).collect::<Vec<_>>());
                assert_eq!(store.len(), before.0.len() + 3);
                assert_eq!(
                    store.events(Some(stream), 0).unwrap().len() as u64,
                    first + 2
                );
                return nth - 1;
            }
        }
    }
    unreachable!("a save makes finitely many clones")
}

#[test]
fn a_panicking_clone_leaves_the_memory_store_unchanged() {
    // The clones' panics are expected: keep their messages (only theirs)
    // out of the output.
    let hook = Arc::new(panic::take_hook());
    let others = Arc::clone(&hook);
    panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&ON_PURPOSE) {
            others(info);
        }
    }));

    let fuse = Arc::new(AtomicUsize::new(0));
    let store = InMemoryEventStore::<Fragile>::default();
    let one = Fragile {
        n: 0,
        fuse: Arc::clone(&fuse),
    };
    store
        .append(
            "a",
            &vector![Event::typed("X", one.clone())],
            ExpectedVersion::NoStream,
        )
        .unwrap();

    // To a stream that exists, and to a new one (which also adds a stream).
    let to_existing = save_through_panics(&store, &fuse, "a", ExpectedVersion::Exact(1), 2);
    let to_new = save_through_panics(&store, &fuse, "b", ExpectedVersion::NoStream, 1);
    // Later saves number on from the batches: no version is given twice.
    let next = store
        .append(
            "a",
            &vector![Event::typed("Z", one)],
            ExpectedVersion::Exact(4),
        )
        .unwrap();
    let _ = panic::take_hook();

    assert_eq!(next[0].version(), 5);
    let versions: Vec<u64> = store
        .events(Some("a"), 0)
        .unwrap()
        .iter()
        .map(Event::version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    // Each event is cloned at least twice in a save (checked, then added to
    // the log): the panics fell both before and while the log was extended.
    assert!(to_existing >= 6 && to_new >= 6, "{to_existing}, {to_new}");
}
