//! Catch-up subscriptions, the stores' commit hook and checkpoints, on
//! every store of the build (memory, SQLite, and PostgreSQL when
//! `DVENT_POSTGRES_URL` is set): catching up from 0 and from a position,
//! live events written by another thread while the subscriber waits,
//! durable subscriptions (at least once), checkpoints kept by name and
//! surviving a reopened file or a new connection.

#[path = "support/stores.rs"]
mod stores;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dvent::store::admission::{CheckpointProblem, NameProblem};
use dvent::{
    DurableSubscription, Event, EventStore, ExpectedVersion, Recorded, StoreError, Subscription,
    vector,
};
use stores::{StoreKind, open_store, report, store_kinds};

fn kinds() -> Vec<StoreKind> {
    store_kinds().unwrap_or_else(|message| panic!("{message}"))
}

/// Saves `count` events, one per batch, over three streams; returns them
/// as stored.
fn save(store: &dyn EventStore, first: usize, count: usize) -> Vec<Event> {
    (first..first + count)
        .flat_map(|i| {
            let event = Event::new(if i % 2 == 0 { "Even" } else { "Odd" }).with_entry("i", i);
            store
                .append(
                    &format!("s-{}", i % 3),
                    &vector![event],
                    ExpectedVersion::Any,
                )
                .expect("saving")
        })
        .collect()
}

/// What a subscription delivers without waiting.
fn drain<S: EventStore>(subscription: &mut Subscription<S>) -> Vec<Recorded> {
    std::iter::from_fn(|| subscription.next_timeout(Duration::ZERO).expect("reading")).collect()
}

#[test]
fn a_subscription_catches_up_from_zero_and_from_a_position() {
    for kind in kinds() {
        let store = open_store(kind);
        let saved = save(&*store, 0, 7);
        for page_size in [1, 3, 7, 100] {
            let mut all = Subscription::new(Arc::clone(&store), 0).with_page_size(page_size);
            let read = drain(&mut all);
            let positions: Vec<u64> = read.iter().map(|r| r.position).collect();
            assert_eq!(positions, (1..=7).collect::<Vec<_>>(), "{kind:?}");
            let events: Vec<Event> = read.into_iter().map(|r| r.event).collect();
            assert_eq!(events, saved, "{kind:?}");
            assert_eq!(all.position(), 7);

            let mut rest = store.subscribe(4).with_page_size(page_size);
            let read = drain(&mut rest);
            assert_eq!(
                read.iter().map(|r| r.position).collect::<Vec<_>>(),
                [5, 6, 7],
                "{kind:?}"
            );
            assert_eq!(read[0].event, saved[4], "{kind:?}");
        }
        // Filters leave events out but move the position on.
        let mut odd = store.subscribe(0).only_types(["Odd"]).only_streams(["s-0"]);
        let read = drain(&mut odd);
        assert_eq!(
            read.iter().map(|r| r.position).collect::<Vec<_>>(),
            [4],
            "{kind:?}"
        );
        assert_eq!(odd.position(), 7, "{kind:?}");
    }
}

#[test]
fn live_events_arrive_while_the_subscriber_waits() {
    const LIVE: usize = 12;
    for kind in kinds() {
        let store = open_store(kind);
        let before = save(&*store, 0, 3);
        let subscription = store.subscribe(0);
        let stop = subscription.stop_handle();
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for recorded in subscription {
                seen.push(recorded.expect("reading"));
                if seen.len() == 3 + LIVE {
                    break;
                }
            }
            seen
        });
        // The subscriber is waiting (caught up) while another thread saves.
        std::thread::sleep(Duration::from_millis(150));
        let writer_store = Arc::clone(&store);
        let started = Instant::now();
        let writer = std::thread::spawn(move || {
            let mut saved = Vec::new();
            for batch in 0..LIVE / 3 {
                saved.extend(save(&*writer_store, 3 + batch * 3, 3));
                std::thread::sleep(Duration::from_millis(20));
            }
            saved
        });
        let live = writer.join().expect("the writer");
        let watchdog = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(30));
            stop.stop();
        });
        let seen = reader.join().expect("the reader");
        let took = started.elapsed();
        assert_eq!(seen.len(), 3 + LIVE, "{kind:?}: stopped by the watchdog");
        let positions: Vec<u64> = seen.iter().map(|r| r.position).collect();
        assert_eq!(positions, (1..=15).collect::<Vec<_>>(), "{kind:?}");
        let events: Vec<Event> = seen.into_iter().map(|r| r.event).collect();
        let expected: Vec<Event> = before.into_iter().chain(live).collect();
        assert_eq!(events, expected, "{kind:?}");
        report(&format!(
            "{}: {LIVE} live events reached the subscriber {took:?} after the first save",
            kind.name()
        ));
        drop(watchdog);
    }
}

#[test]
fn the_commit_hook_returns_at_once_times_out_and_wakes() {
    for kind in kinds() {
        let store = open_store(kind);
        assert_eq!(store.wait_for_commit(0, Duration::ZERO).unwrap(), 0);
        let started = Instant::now();
        assert_eq!(
            store
                .wait_for_commit(0, Duration::from_millis(120))
                .unwrap(),
            0
        );
        assert!(
            started.elapsed() >= Duration::from_millis(120),
            "{kind:?}: {:?}",
            started.elapsed()
        );
        save(&*store, 0, 2);
        // Already there: at once, whatever the timeout.
        let started = Instant::now();
        assert_eq!(
            store.wait_for_commit(1, Duration::from_secs(60)).unwrap(),
            2
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{kind:?}");

        let waiter = Arc::clone(&store);
        let woken = std::thread::spawn(move || {
            let started = Instant::now();
            let mut last = 2;
            while last <= 2 && started.elapsed() < Duration::from_secs(20) {
                last = waiter.wait_for_commit(2, Duration::from_secs(20)).unwrap();
            }
            (last, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(100));
        save(&*store, 2, 1);
        let saved = Instant::now();
        let (last, at) = woken.join().unwrap();
        assert_eq!(last, 3, "{kind:?}");
        report(&format!(
            "{}: a waiter woke {:?} after the save returned",
            kind.name(),
            at.saturating_duration_since(saved)
        ));
    }
}

#[test]
fn a_durable_subscription_delivers_again_what_was_not_committed() {
    for kind in kinds() {
        let store = open_store(kind);
        save(&*store, 0, 5);
        let mut first = DurableSubscription::open(Arc::clone(&store), "mailer").unwrap();
        assert_eq!(first.committed(), 0);
        for _ in 0..3 {
            first.next_timeout(Duration::ZERO).unwrap().unwrap();
        }
        assert_eq!(first.commit().unwrap(), 3);
        // Handled, not committed: the process stops here.
        assert_eq!(
            first
                .next_timeout(Duration::ZERO)
                .unwrap()
                .unwrap()
                .position,
            4
        );
        drop(first);

        let mut again = DurableSubscription::open(Arc::clone(&store), "mailer").unwrap();
        assert_eq!((again.committed(), again.position()), (3, 3), "{kind:?}");
        let rest: Vec<u64> = std::iter::from_fn(|| again.next_timeout(Duration::ZERO).unwrap())
            .map(|r| r.position)
            .collect();
        assert_eq!(rest, [4, 5], "{kind:?}");
        again.commit().unwrap();
        assert_eq!(store.checkpoint("mailer").unwrap(), 5);
        // Another name is another checkpoint.
        assert_eq!(store.checkpoint("auditor").unwrap(), 0);

        let err = DurableSubscription::open(Arc::clone(&store), "").unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidCheckpoint {
                    problem: CheckpointProblem::Name(NameProblem::Empty),
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn checkpoints_are_kept_by_name_by_the_rule_for_stream_ids() {
    for kind in kinds() {
        let store = open_store(kind);
        assert_eq!(store.checkpoint("projection-a").unwrap(), 0);
        store.save_checkpoint("projection-a", 5).unwrap();
        store.save_checkpoint("projection-b", 9).unwrap();
        store.save_checkpoint("projection-a", 2).unwrap();
        assert_eq!(store.checkpoint("projection-a").unwrap(), 2, "{kind:?}");
        assert_eq!(store.checkpoint("projection-b").unwrap(), 9, "{kind:?}");
        let largest = dvent::store::admission::MAX_CHECKPOINT_POSITION;
        store.save_checkpoint("far", largest).unwrap();
        assert_eq!(store.checkpoint("far").unwrap(), largest, "{kind:?}");

        for (name, position) in [
            ("", 1),
            ("a\0b", 1),
            (&*"n".repeat(1025), 1),
            ("fine", largest + 1),
        ] {
            let err = store.save_checkpoint(name, position).unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidCheckpoint { .. }),
                "{kind:?}: {err}"
            );
            // A name that could never be stored has no checkpoint.
            assert_eq!(store.checkpoint(name).unwrap(), 0, "{kind:?}");
        }
        assert_eq!(store.checkpoint("fine").unwrap(), 0);
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use dvent::SqliteEventStore;

    #[test]
    fn checkpoints_survive_reopening_the_file_and_read_only_refuses_to_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        {
            let store = SqliteEventStore::open(&path).unwrap();
            save(&store, 0, 4);
            store.save_checkpoint("report", 3).unwrap();
        }
        let store = SqliteEventStore::<dvent::Data>::open(&path).unwrap();
        assert_eq!(store.checkpoint("report").unwrap(), 3);
        let mut resumed = DurableSubscription::open(store.clone(), "report").unwrap();
        assert_eq!(
            resumed
                .next_timeout(Duration::ZERO)
                .unwrap()
                .unwrap()
                .position,
            4
        );
        drop(store);

        let reader = SqliteEventStore::<dvent::Data>::open_read_only(&path).unwrap();
        assert_eq!(reader.checkpoint("report").unwrap(), 3);
        let err = reader.save_checkpoint("report", 4).unwrap_err();
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
        assert_eq!(reader.checkpoint("report").unwrap(), 3);
        let mut durable = DurableSubscription::open(reader, "report").unwrap();
        durable.next_timeout(Duration::ZERO).unwrap().unwrap();
        assert!(matches!(
            durable.commit().unwrap_err(),
            StoreError::ReadOnly { .. }
        ));
    }

    /// A file made by the release before checkpoints (schema version 1
    /// without `dvent_checkpoints`) still opens: read-only it has no
    /// checkpoints; opened for writing it gets the table.
    #[test]
    fn a_file_without_the_checkpoints_table_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let store = SqliteEventStore::open(&path).unwrap();
            save(&store, 0, 2);
        }
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch("DROP TABLE dvent_checkpoints").unwrap();
        drop(raw);

        let reader = SqliteEventStore::<dvent::Data>::open_read_only(&path).unwrap();
        assert_eq!(reader.checkpoint("any").unwrap(), 0);
        assert_eq!(reader.wait_for_commit(0, Duration::ZERO).unwrap(), 2);
        drop(reader);
        let store = SqliteEventStore::<dvent::Data>::open(&path).unwrap();
        store.save_checkpoint("any", 2).unwrap();
        assert_eq!(store.checkpoint("any").unwrap(), 2);
        assert_eq!(store.events(None, 0).unwrap().len(), 2);
    }

    /// A subscription on one handle of a file receives, live, what another
    /// handle (another connection) saves while it waits.
    #[test]
    fn a_subscription_on_a_file_receives_another_connections_events_live() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        let subscriber = SqliteEventStore::<dvent::Data>::open(&path).unwrap();
        let subscription = subscriber.subscribe(0);
        let stop = subscription.stop_handle();
        let reader = std::thread::spawn(move || {
            subscription
                .take(6)
                .map(|r| r.map(|r| r.position))
                .collect::<Result<Vec<_>, _>>()
        });
        std::thread::sleep(Duration::from_millis(100));
        let writer = SqliteEventStore::open(&path).unwrap();
        for _ in 0..3 {
            save(&writer, 0, 2);
            std::thread::sleep(Duration::from_millis(20));
        }
        let watchdog = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(20));
            stop.stop();
        });
        assert_eq!(reader.join().unwrap().unwrap(), [1, 2, 3, 4, 5, 6]);
        drop(watchdog);
    }

    /// The watch sees commits made through another connection on the file
    /// (another handle here; another process in `subscription_order.rs`).
    #[test]
    fn a_wait_sees_a_commit_through_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        let waiter = SqliteEventStore::<dvent::Data>::open(&path).unwrap();
        let writer = SqliteEventStore::open(&path).unwrap();
        let reader = SqliteEventStore::<dvent::Data>::open_read_only(&path).unwrap();
        let thread = std::thread::spawn(move || {
            let (mut a, mut b) = (0, 0);
            let started = Instant::now();
            while (a == 0 || b == 0) && started.elapsed() < Duration::from_secs(20) {
                a = waiter
                    .wait_for_commit(0, Duration::from_millis(50))
                    .unwrap();
                b = reader
                    .wait_for_commit(0, Duration::from_millis(50))
                    .unwrap();
            }
            (a, b)
        });
        std::thread::sleep(Duration::from_millis(100));
        save(&writer, 0, 1);
        assert_eq!(thread.join().unwrap(), (1, 1));
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use ::postgres::fallible_iterator::FallibleIterator;
    use dvent::PostgresEventStore;
    use dvent::store::postgres::PostgresOptions;

    fn url() -> Option<String> {
        stores::postgres_url().unwrap_or_else(|message| panic!("{message}"))
    }

    fn connect(url: &str, schema: &str) -> PostgresEventStore {
        PostgresEventStore::connect_with(
            url,
            PostgresOptions::new()
                .with_schema(schema)
                .with_max_connections(2),
        )
        .unwrap()
    }

    #[test]
    fn checkpoints_survive_reconnecting_and_an_old_schema_gets_the_table() {
        let Some(url) = url() else { return };
        let schema = stores::postgres::fresh_schema();
        {
            let store = connect(&url, &schema);
            save(&store, 0, 3);
            store.save_checkpoint("report", 2).unwrap();
        }
        let store = connect(&url, &schema);
        assert_eq!(store.checkpoint("report").unwrap(), 2);

        // A schema made by the release before checkpoints.
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("DROP TABLE \"{schema}\".dvent_checkpoints"))
            .unwrap();
        let store = connect(&url, &schema);
        assert_eq!(store.checkpoint("report").unwrap(), 0);
        store.save_checkpoint("report", 3).unwrap();
        assert_eq!(store.events(None, 0).unwrap().len(), 3);
        store.drop_schema().unwrap();
        let gone: bool = client
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema],
            )
            .unwrap()
            .get(0);
        assert!(
            gone,
            "drop_schema drops the checkpoints' table with the rest"
        );
    }

    /// Every save notifies the store's channel at its commit, with the
    /// batch's last position: what a listener of another process gets.
    #[test]
    fn a_save_notifies_its_schema_channel_at_commit() {
        let Some(url) = url() else { return };
        let schema = stores::postgres::fresh_schema();
        let store = connect(&url, &schema);
        let mut listener = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        listener
            .batch_execute(&format!("LISTEN \"dvent_events.{schema}\""))
            .unwrap();
        save(&store, 0, 1);
        store
            .append(
                "x",
                &vector![Event::new("A"), Event::new("B")],
                ExpectedVersion::Any,
            )
            .unwrap();
        // A refused save notifies no one.
        store
            .append("x", &vector![Event::new("C")], ExpectedVersion::NoStream)
            .unwrap_err();
        let mut payloads = Vec::new();
        let mut notifications = listener.notifications();
        let mut waiting = notifications.timeout_iter(Duration::from_secs(5));
        while payloads.len() < 2 {
            let n = waiting.next().unwrap().expect("a notification within 5 s");
            assert_eq!(n.channel(), format!("dvent_events.{schema}"));
            payloads.push(n.payload().to_string());
        }
        drop(waiting);
        assert_eq!(payloads, ["1", "3"]);
        assert!(
            notifications
                .timeout_iter(Duration::from_millis(200))
                .next()
                .unwrap()
                .is_none()
        );
        store.drop_schema().unwrap();
    }
}
