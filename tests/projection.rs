//! Projections on every store of the build: a rebuild gives what catching
//! up gave, which is the pure fold of what `read_all` returns; a runner
//! following a store live applies what another thread saves, in order; a
//! typed projection over a typed store.

#[path = "support/stores.rs"]
mod stores;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dvent::imbl::{OrdMap, Vector};
use dvent::{Event, EventStore, ExpectedVersion, InMemoryEventStore, Projection, Recorded, vector};
use stores::{StoreKind, open_store, report, store_kinds};

fn kinds() -> Vec<StoreKind> {
    store_kinds().unwrap_or_else(|message| panic!("{message}"))
}

/// Per stream, how many events and the last event type; and every
/// position applied, in order (to see that each is applied once).
#[derive(Clone, Debug, Default, PartialEq)]
struct Summary {
    streams: OrdMap<String, (u64, String)>,
    positions: Vector<u64>,
}

fn summary() -> Projection<Summary> {
    Projection::new("summary", Summary::default(), |mut s, r: &Recorded| {
        let entry = s
            .streams
            .get(r.event.stream_id())
            .map_or(0, |(count, _)| *count);
        s.streams.insert(
            r.event.stream_id().to_string(),
            (entry + 1, r.event.event_type().to_string()),
        );
        s.positions.push_back(r.position);
        s
    })
}

fn save(store: &dyn EventStore, from: usize, count: usize) {
    for i in from..from + count {
        let batch = dvent::vector![
            Event::new(format!("T{}", i % 4)),
            Event::new("Extra").with_entry("i", i),
        ];
        store
            .append(&format!("s-{}", i % 5), &batch, ExpectedVersion::Any)
            .expect("saving");
    }
}

/// The pure fold of everything `read_all` returns.
fn folded(projection: &Projection<Summary>, store: &dyn EventStore) -> Summary {
    let all: Vec<Recorded> = dvent::store::Pages::all(store, 0, 1000)
        .collect::<Result<_, _>>()
        .unwrap();
    projection.fold(&all)
}

#[test]
fn a_rebuild_gives_what_catching_up_gave() {
    for kind in kinds() {
        let store = open_store(kind);
        // More than a page (256) of events, so catching up reads pages.
        save(&*store, 0, 200);
        let projection = summary();
        let runner = projection.runner();
        assert_eq!(runner.catch_up(&*store).unwrap(), 400, "{kind:?}");
        assert_eq!(runner.position(), 400);
        let caught_up = runner.state();
        assert_eq!(caught_up, folded(&projection, &*store), "{kind:?}");
        assert_eq!(
            caught_up.positions.iter().copied().collect::<Vec<_>>(),
            (1..=400).collect::<Vec<_>>()
        );

        // Up to date: nothing more to apply; then only what is new.
        assert_eq!(runner.catch_up(&*store).unwrap(), 0);
        save(&*store, 200, 10);
        assert_eq!(runner.catch_up(&*store).unwrap(), 20);

        let rebuilt = projection.runner();
        rebuilt.catch_up(&*store).unwrap();
        assert_eq!(runner.rebuild(&*store).unwrap(), 420, "{kind:?}");
        assert_eq!(runner.snapshot(), rebuilt.snapshot(), "{kind:?}");
        assert_eq!(runner.state(), folded(&projection, &*store), "{kind:?}");

        runner.reset();
        assert_eq!(runner.snapshot(), (0, Summary::default()));
    }
}

#[test]
fn a_following_runner_applies_what_another_thread_saves() {
    for kind in kinds() {
        let store = open_store(kind);
        save(&*store, 0, 30);
        let projection = summary();
        let runner = projection.runner();
        let follower = runner.follow(Arc::clone(&store)).unwrap();
        assert!(runner.wait_for(60, Duration::from_secs(20)), "{kind:?}");
        assert!(follower.is_running());

        let writer_store = Arc::clone(&store);
        let started = Instant::now();
        let writer = std::thread::spawn(move || {
            for round in 0..10 {
                save(&*writer_store, 30 + round * 3, 3);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        writer.join().unwrap();
        assert!(runner.wait_for(120, Duration::from_secs(20)), "{kind:?}");
        report(&format!(
            "{}: the follower applied 60 live events {:?} after the first save",
            kind.name(),
            started.elapsed()
        ));
        let state = runner.state();
        assert_eq!(state, folded(&projection, &*store), "{kind:?}");
        assert_eq!(
            state.positions.iter().copied().collect::<Vec<_>>(),
            (1..=120).collect::<Vec<_>>(),
            "{kind:?}: each event once, in order"
        );

        // A rebuild while it follows: the same state again, then it goes on.
        assert_eq!(runner.rebuild(&*store).unwrap(), 120);
        save(&*store, 60, 1);
        assert!(runner.wait_for(122, Duration::from_secs(20)), "{kind:?}");
        assert_eq!(runner.state(), folded(&projection, &*store), "{kind:?}");

        let stop_at = Instant::now();
        follower.stop().unwrap();
        assert!(stop_at.elapsed() < Duration::from_secs(2), "{kind:?}");
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Money {
    Deposited(i64),
    Withdrawn(i64),
}

#[test]
fn a_typed_projection_folds_typed_events() {
    let balance = Projection::new("balance", 0_i64, |total, r: &Recorded<Money>| {
        match r.event.data() {
            Money::Deposited(n) => total + n,
            Money::Withdrawn(n) => total - n,
        }
    });
    let memory = InMemoryEventStore::<Money>::default();
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(unused_mut))]
    let mut stores: Vec<Arc<dyn EventStore<Money>>> = vec![Arc::new(memory)];
    #[cfg(feature = "sqlite")]
    stores.push(Arc::new(
        dvent::SqliteEventStore::<Money>::open_in_memory().unwrap(),
    ));
    for store in stores {
        for (stream, money) in [
            ("a", Money::Deposited(10)),
            ("b", Money::Deposited(5)),
            ("a", Money::Withdrawn(3)),
        ] {
            store
                .append(
                    stream,
                    &vector![Event::typed("Money", money)],
                    ExpectedVersion::Any,
                )
                .unwrap();
        }
        let runner = balance.runner();
        assert_eq!(runner.catch_up(&*store).unwrap(), 3);
        assert_eq!(runner.state(), 12);
    }
}
