//! Snapshots and reading as of a version, on every store (memory, SQLite,
//! and PostgreSQL when `DVENT_POSTGRES_URL` is set): loading from a
//! snapshot gives the state and version that folding every event gives;
//! snapshots of another shape, unreadable ones and ones ahead of the stream
//! are ignored with a log; loading at version n is folding the first n
//! events; a snapshot that cannot be written never fails the save.

#[path = "support/stores.rs"]
mod stores;

#[path = "log_capture.rs"]
mod log_capture;

use std::sync::Arc;

use dvent::jiff::Timestamp;
use dvent::uuid::Uuid;
use dvent::{Aggregate, AggregateKind, Event, EventStore, Repository, Snapshot, SnapshotError};
use serde::{Deserialize, Serialize};
use stores::{StoreKind, open_store, store_kinds};

/// The state: enough fields that a wrong fold shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    count: u64,
    sum: u64,
    last: Option<u64>,
}

fn evolve(tally: Tally, event: &Event) -> Tally {
    let n = event.data().get_u64("n").unwrap_or(0);
    Tally {
        count: tally.count + 1,
        sum: tally.sum + n * event.version(),
        last: Some(n),
    }
}

/// The kind without snapshots: the reference.
fn plain() -> AggregateKind<Tally> {
    AggregateKind::evolving("Tally", Tally::default(), evolve)
}

/// The kind with a snapshot every `every` events, of shape 1.
fn snapshotting(every: u64) -> AggregateKind<Tally> {
    plain().with_snapshots(every, 1)
}

fn event(n: u64) -> Event {
    Event::new("Added").with_entry("n", n)
}

/// A small deterministic generator (xorshift), so that a failure repeats.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Saves `count` events to a new aggregate of `kind` in batches of 1 to
/// `max_batch`, and returns its id.
fn saved(repo: &Repository, kind: &AggregateKind<Tally>, count: u64, rng: &mut Rng) -> Uuid {
    let mut aggregate = Aggregate::new(kind);
    let mut written = 0;
    while written < count {
        let batch = (1 + rng.below(7)).min(count - written);
        let next = aggregate.apply_all((0..batch).map(|_| event(rng.below(1_000))));
        aggregate = repo.save(&next).expect("saved");
        written += batch;
    }
    aggregate.id()
}

fn each_store(test: impl Fn(StoreKind, Arc<dyn EventStore>)) {
    for kind in store_kinds().expect("the stores to test") {
        test(kind, open_store(kind));
    }
}

#[test]
fn loading_from_snapshots_equals_folding_every_event() {
    each_store(|store_kind, store| {
        let repo = Repository::from_shared(store);
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for case in 0..24 {
            let count = rng.below(240);
            let every = 1 + rng.below(40);
            let kind = snapshotting(every);
            let id = saved(&repo, &kind, count, &mut rng);
            let full = repo.load(&plain(), id).expect("read");
            let fast = repo.load(&kind, id).expect("read");
            let name = store_kind.name();
            let context = format!("{name}, case {case}: {count} events, every {every}");
            let (Some(full), Some(fast)) = (full, fast) else {
                assert_eq!(count, 0, "{context}");
                continue;
            };
            assert_eq!(full.version(), count, "{context}");
            assert_eq!(
                (fast.version(), fast.state()),
                (full.version(), full.state()),
                "{context}"
            );
            assert_eq!(full.base_version(), 0, "{context}");
            // A snapshot was taken at each save that crossed a multiple, so
            // the load starts at most one batch (≤ 7) past the last multiple.
            let last_multiple = count / every * every;
            assert!(
                fast.base_version() <= count && fast.base_version() + 7 > last_multiple,
                "{context}: base {}",
                fast.base_version()
            );
            let suffix: Vec<_> = full
                .events()
                .iter()
                .skip(fast.base_version() as usize)
                .cloned()
                .collect();
            assert_eq!(
                fast.events().iter().cloned().collect::<Vec<_>>(),
                suffix,
                "{context}: events() holds the events after the snapshot"
            );
            // As of a version: the fold of the first n events, with or
            // without snapshots.
            for _ in 0..3 {
                let n = 1 + rng.below(count);
                let expected = Aggregate::from_events(
                    &plain(),
                    id,
                    full.events().iter().take(n as usize).cloned(),
                );
                for k in [plain(), kind.clone()] {
                    let at = repo.load_at(&k, id, n).expect("read").expect("reached");
                    assert_eq!(
                        (at.version(), at.state()),
                        (n, expected.state()),
                        "{context}: at {n}"
                    );
                }
            }
            assert!(repo.load_at(&kind, id, count + 1).expect("read").is_none());
            assert!(repo.load_at(&kind, id, 0).expect("read").is_none());
        }
    });
}

#[test]
fn execute_takes_snapshots_and_loads_from_them() {
    each_store(|store_kind, store| {
        let repo = Repository::from_shared(store);
        let kind = snapshotting(10);
        let id = Uuid::new_v4();
        for n in 0..35 {
            repo.execute(&kind, id, |_| Ok::<_, ()>([event(n)]))
                .unwrap_or_else(|e| panic!("{}: {e:?}", store_kind.name()));
        }
        let loaded = repo.load(&kind, id).expect("read").expect("saved");
        assert_eq!(
            (loaded.version(), loaded.base_version()),
            (35, 30),
            "{}",
            store_kind.name()
        );
        assert_eq!(loaded.events().len(), 5);
        assert_eq!(loaded.events()[0].version(), 31);
        let at = repo.load_at(&kind, id, 25).expect("read").expect("reached");
        assert_eq!((at.version(), at.base_version()), (25, 20));
    });
}

#[test]
fn a_snapshot_of_another_shape_is_ignored() {
    log_capture::install();
    each_store(|store_kind, store| {
        let repo = Repository::from_shared(store);
        let mut rng = Rng(7);
        let id = saved(&repo, &snapshotting(10), 25, &mut rng);
        // The state's type changed: now a plain count, shape 2.
        let reshaped =
            AggregateKind::evolving("Tally", 0_u64, |n, _e: &Event| n + 1).with_snapshots(10, 2);
        let loaded = repo.load(&reshaped, id).expect("read").expect("saved");
        assert_eq!(
            (loaded.version(), *loaded.state(), loaded.base_version()),
            (25, 25, 0),
            "{}",
            store_kind.name()
        );
        // Its own snapshots are taken from then on, and the old kind still
        // finds its own.
        let next = repo
            .save(&loaded.apply_all((0..5).map(|_| event(1))))
            .expect("saved");
        assert_eq!(next.version(), 30);
        let loaded = repo.load(&reshaped, id).expect("read").expect("saved");
        assert_eq!((*loaded.state(), loaded.base_version()), (30, 30));
        let old = repo
            .load(&snapshotting(10), id)
            .expect("read")
            .expect("saved");
        assert_eq!(
            (old.version(), old.state().count, old.base_version() >= 20),
            (30, 30, true)
        );
    });
}

#[test]
fn an_unreadable_snapshot_is_ignored_with_a_log() {
    log_capture::install();
    each_store(|store_kind, store| {
        let repo = Repository::from_shared(store.clone());
        let kind = snapshotting(10);
        let mut rng = Rng(11);
        let id = saved(&repo, &kind, 25, &mut rng);
        let reference = repo.load(&plain(), id).expect("read").expect("saved");
        for (version, state) in [(24, "{\"count\": 3"), (25, "\"a string, not a tally\"")] {
            store
                .save_snapshot(&Snapshot {
                    stream_id: id.to_string(),
                    kind: "Tally".into(),
                    version,
                    snapshot_version: 1,
                    state: state.into(),
                    taken_at: Timestamp::now(),
                })
                .expect("kept");
            let loaded = repo.load(&kind, id).expect("read").expect("saved");
            let name = store_kind.name();
            assert_eq!(
                (loaded.version(), loaded.state(), loaded.base_version()),
                (25, reference.state(), 0),
                "{name}"
            );
            assert!(
                log_capture::lines()
                    .iter()
                    .any(|l| l.contains(&id.to_string())
                        && l.contains(&format!("at version {version}"))
                        && l.contains("does not read back")),
                "{name}: {:?}",
                log_capture::lines()
            );
        }
        // Below it, the last good one is still used.
        let at = repo.load_at(&kind, id, 23).expect("read").expect("reached");
        assert_eq!(at.version(), 23);
        assert!(
            (20..=23).contains(&at.base_version()),
            "{}",
            at.base_version()
        );
    });
}

#[test]
fn a_snapshot_ahead_of_the_stream_is_ignored_with_a_log() {
    log_capture::install();
    each_store(|store_kind, store| {
        let repo = Repository::from_shared(store.clone());
        let kind = snapshotting(10);
        let id = saved(&repo, &kind, 12, &mut Rng(3));
        let reference = repo.load(&plain(), id).expect("read").expect("saved");
        store
            .save_snapshot(&Snapshot {
                stream_id: id.to_string(),
                kind: "Tally".into(),
                version: 500,
                snapshot_version: 1,
                state: serde_json::to_string(&Tally::default()).expect("json"),
                taken_at: Timestamp::now(),
            })
            .expect("kept");
        let loaded = repo.load(&kind, id).expect("read").expect("saved");
        assert_eq!(
            (loaded.version(), loaded.state(), loaded.base_version()),
            (12, reference.state(), 0),
            "{}",
            store_kind.name()
        );
        assert!(
            log_capture::lines()
                .iter()
                .any(|l| l.contains(&id.to_string()) && l.contains("does not reach"))
        );
    });
}

#[test]
fn a_snapshot_that_cannot_be_kept_never_fails_the_save() {
    log_capture::install();
    each_store(|store_kind, store| {
        let repo = Repository::from_shared(store);
        // A kind name no store may keep (a NUL): the snapshot is refused.
        let kind =
            AggregateKind::evolving("Bad\0Tally", Tally::default(), evolve).with_snapshots(2, 1);
        let saved = repo
            .save(&Aggregate::new(&kind).apply_all((0..3).map(event)))
            .expect("the save stands");
        assert_eq!(saved.version(), 3, "{}", store_kind.name());
        assert!(
            log_capture::lines()
                .iter()
                .any(|l| l.contains(&saved.id().to_string()) && l.contains("no snapshot"))
        );
        assert!(matches!(
            repo.save_snapshot(&saved),
            Err(SnapshotError::Store(_))
        ));
        let loaded = repo.load(&kind, saved.id()).expect("read").expect("saved");
        assert_eq!((loaded.version(), loaded.base_version()), (3, 0));
    });
}

#[test]
fn on_demand_snapshots_need_a_committed_state() {
    each_store(|_, store| {
        let repo = Repository::from_shared(store);
        let kind = snapshotting(0);
        assert!(matches!(
            repo.save_snapshot(&Aggregate::new(&kind)),
            Err(SnapshotError::NothingCommitted)
        ));
        let saved = repo
            .save(&Aggregate::new(&kind).apply_all((0..4).map(event)))
            .expect("saved");
        assert_eq!(
            repo.load(&kind, saved.id())
                .expect("read")
                .expect("saved")
                .base_version(),
            0
        );
        assert!(matches!(
            repo.save_snapshot(&saved.apply(event(9))),
            Err(SnapshotError::Uncommitted {
                version: 4,
                uncommitted_version: 5
            })
        ));
        assert!(matches!(
            repo.save_snapshot(&Aggregate::from_events(
                &plain(),
                saved.id(),
                saved.events().iter().cloned()
            )),
            Err(SnapshotError::NotEnabled { .. })
        ));
        repo.save_snapshot(&saved).expect("kept");
        let loaded = repo.load(&kind, saved.id()).expect("read").expect("saved");
        assert_eq!((loaded.base_version(), loaded.state()), (4, saved.state()));
    });
}

#[test]
fn loading_as_of_a_time_folds_the_events_up_to_it() {
    each_store(|_, store| {
        let repo = Repository::from_shared(store);
        let at = |s: i64| Timestamp::from_second(s).expect("in range");
        let events = (1..=6).map(|i| event(i).with_timestamp(at(i as i64 * 10)));
        let saved = repo
            .save(&Aggregate::new(&snapshotting(2)).apply_all(events))
            .expect("saved");
        let then = repo
            .load_as_of(&snapshotting(2), saved.id(), at(35))
            .expect("read")
            .expect("then");
        assert_eq!(
            (then.version(), then.state().count, then.state().last),
            (3, 3, Some(3))
        );
        assert!(
            repo.load_as_of(&plain(), saved.id(), at(9))
                .expect("read")
                .is_none()
        );
        let now = repo
            .load_as_of(&plain(), saved.id(), at(1_000))
            .expect("read")
            .expect("now");
        assert_eq!(now.version(), 6);
    });
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_keeps_snapshots_in_the_file_and_ignores_a_damaged_row() {
    log_capture::install();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("events.sqlite");
    let kind = snapshotting(10);
    let id = {
        let repo = Repository::new(dvent::SqliteEventStore::open(&path).expect("opens"));
        saved(&repo, &kind, 25, &mut Rng(5))
    };
    let repo = Repository::new(dvent::SqliteEventStore::open(&path).expect("reopens"));
    let loaded = repo.load(&kind, id).expect("read").expect("saved");
    assert!(loaded.base_version() >= 20);
    let version: i64 = rusqlite::Connection::open(&path)
        .and_then(|c| {
            c.execute("UPDATE dvent_snapshots SET taken_at = 'yesterday'", [])?;
            c.query_row("SELECT user_version FROM pragma_user_version", [], |r| {
                r.get(0)
            })
        })
        .expect("damaged");
    assert_eq!(version, 2, "snapshots need no schema version of their own");
    let loaded = repo.load(&kind, id).expect("read").expect("saved");
    assert_eq!(
        (
            loaded.version(),
            loaded.base_version(),
            loaded.state().count
        ),
        (25, 0, 25)
    );
    assert!(
        log_capture::lines()
            .iter()
            .any(|l| l.contains(&id.to_string()) && l.contains("ignoring the snapshots"))
    );
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_drop_schema_drops_the_snapshots_too() {
    let Some(url) = stores::postgres_url().expect("the URL, under CI") else {
        return;
    };
    let schema = stores::postgres::fresh_schema();
    let store = dvent::PostgresEventStore::connect_with_schema(&url, &schema).expect("connects");
    let repo = Repository::new(store.clone());
    saved(&repo, &snapshotting(5), 12, &mut Rng(9));
    store.drop_schema().expect("dropped");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("client");
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .and_then(|r| r.try_get(0))
        .expect("asked");
    assert_eq!(left, 0, "the schema and all its tables are gone");
}
