//! Read models kept in the store's own database, exactly once (SQLite, and
//! PostgreSQL when `DVENT_POSTGRES_URL` is set): a handler's failure (an
//! error or a panic) midway through a page rolls back the read model and
//! its checkpoint together; the loop follows other connections' commits
//! until stopped; two runners of one read model never handle an event
//! twice.

#[path = "support/stores.rs"]
mod stores;

use std::time::{Duration, Instant};

use dvent::{Event, EventStore, ExpectedVersion, ReadModelError, Recorded, StopHandle, vector};

/// A handler's error: the database's, or a refusal of the test's.
#[derive(Debug)]
enum ModelError {
    Database(Box<dyn std::error::Error + Send + Sync>),
    Refused(u64),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Database(e) => write!(f, "database: {e}"),
            ModelError::Refused(position) => write!(f, "refused the event at {position}"),
        }
    }
}

impl std::error::Error for ModelError {}

fn save(store: &dyn EventStore, count: usize) {
    for i in 0..count {
        store
            .append(
                &format!("s-{}", i % 3),
                &vector![Event::new(format!("T{}", i % 2))],
                ExpectedVersion::Any,
            )
            .expect("saving");
    }
}

/// Waits until `done` holds, at most 30 s.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The handler's error kept as the source of the read model's error.
fn refused_at(err: &ReadModelError<ModelError>) -> Option<u64> {
    let source = std::error::Error::source(err)?;
    match source.downcast_ref::<ModelError>()? {
        ModelError::Refused(position) => Some(*position),
        ModelError::Database(_) => None,
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use dvent::SqliteEventStore;
    use rusqlite::Transaction;

    const TABLE: &str = "CREATE TABLE seen (position INTEGER PRIMARY KEY, type TEXT NOT NULL)";

    /// Records each event in `seen`; refuses the one at `refuse` (after
    /// writing the ones before it in the same transaction).
    fn handler(
        refuse: Option<u64>,
    ) -> impl FnMut(&Transaction<'_>, &Recorded) -> Result<(), ModelError> {
        move |tx, recorded| {
            if Some(recorded.position) == refuse {
                return Err(ModelError::Refused(recorded.position));
            }
            tx.execute(
                "INSERT INTO seen (position, type) VALUES (?1, ?2)",
                rusqlite::params![recorded.position as i64, recorded.event.event_type()],
            )
            .map(|_| ())
            .map_err(|e| ModelError::Database(Box::new(e)))
        }
    }

    fn seen(store: &SqliteEventStore) -> Vec<i64> {
        store.with_connection(|c| {
            let mut statement = c
                .prepare("SELECT position FROM seen ORDER BY position")
                .unwrap();
            statement
                .query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        })
    }

    #[test]
    fn a_failing_handler_rolls_back_the_read_model_with_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        let store = SqliteEventStore::open(&path).unwrap();
        store.with_connection(|c| c.execute_batch(TABLE)).unwrap();
        save(&store, 10);

        let progress = store.update_read_model("seen", 4, handler(None)).unwrap();
        assert_eq!((progress.handled, progress.position), (4, 4));
        assert_eq!(seen(&store), [1, 2, 3, 4]);

        // Positions 5 and 6 are written, then 7 is refused: all undone.
        let err = store
            .update_read_model("seen", 100, handler(Some(7)))
            .unwrap_err();
        assert!(
            matches!(err, ReadModelError::Handler { ref name, position: 7, .. } if name == "seen"),
            "{err}"
        );
        assert_eq!(
            refused_at(&err),
            Some(7),
            "the handler's error is the source"
        );
        assert_eq!(seen(&store), [1, 2, 3, 4]);
        assert_eq!(store.checkpoint("seen").unwrap(), 4);

        // A panic (a crash of the handler) midway: the same.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.update_read_model("seen", 100, |tx: &Transaction<'_>, r: &Recorded| {
                handler(None)(tx, r)?;
                assert!(r.position < 6, "the handler crashed");
                Ok::<(), ModelError>(())
            })
        }));
        assert!(outcome.is_err());
        assert_eq!(seen(&store), [1, 2, 3, 4]);
        assert_eq!(store.checkpoint("seen").unwrap(), 4);

        // Reopened (a restart), it goes on from its checkpoint, exactly once.
        drop(store);
        let store = SqliteEventStore::open(&path).unwrap();
        assert_eq!(store.checkpoint("seen").unwrap(), 4);
        let progress = store.update_read_model("seen", 100, handler(None)).unwrap();
        assert_eq!((progress.handled, progress.position), (6, 10));
        assert_eq!(seen(&store), (1..=10).collect::<Vec<_>>());
        let progress = store.update_read_model("seen", 100, handler(None)).unwrap();
        assert_eq!((progress.handled, progress.position), (0, 10));

        let reader = SqliteEventStore::open_read_only(&path).unwrap();
        let err = reader
            .update_read_model("seen", 1, handler(None))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ReadModelError::Store(dvent::StoreError::ReadOnly { .. })
            ),
            "{err}"
        );
        let err = store.update_read_model("", 1, handler(None)).unwrap_err();
        assert!(
            matches!(
                err,
                ReadModelError::Store(dvent::StoreError::InvalidCheckpoint { .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn the_loop_follows_another_connection_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        let store = SqliteEventStore::open(&path).unwrap();
        store.with_connection(|c| c.execute_batch(TABLE)).unwrap();
        save(&store, 5);
        let stop = StopHandle::new();
        let runner = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || store.run_read_model("seen", &stop, handler(None)))
        };
        let writer = SqliteEventStore::open(&path).unwrap();
        save(&writer, 45);
        assert!(eventually(|| store.checkpoint("seen").unwrap() == 50));
        let stopped = Instant::now();
        stop.stop();
        assert_eq!(runner.join().unwrap().unwrap(), 50);
        assert!(stopped.elapsed() < Duration::from_secs(2));
        assert_eq!(seen(&store), (1..=50).collect::<Vec<_>>());
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use ::postgres::Transaction;
    use dvent::PostgresEventStore;
    use dvent::store::postgres::PostgresOptions;

    struct Db {
        store: PostgresEventStore,
        client: ::postgres::Client,
        schema: String,
    }

    impl Db {
        fn new() -> Option<Db> {
            let url = stores::postgres_url().unwrap_or_else(|message| panic!("{message}"))?;
            let schema = stores::postgres::fresh_schema();
            let store = PostgresEventStore::connect_with(
                &url,
                PostgresOptions::new()
                    .with_schema(&schema)
                    .with_max_connections(3),
            )
            .unwrap();
            let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
            client
                .batch_execute(&format!(
                    "CREATE TABLE \"{schema}\".seen (position BIGINT PRIMARY KEY, type TEXT NOT NULL)"
                ))
                .unwrap();
            Some(Db {
                store,
                client,
                schema,
            })
        }

        fn seen(&mut self) -> Vec<i64> {
            self.client
                .query(
                    &format!(
                        "SELECT position FROM \"{}\".seen ORDER BY position",
                        self.schema
                    ),
                    &[],
                )
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect()
        }

        fn other_store(&self) -> PostgresEventStore {
            let url = stores::postgres_url().unwrap().unwrap();
            PostgresEventStore::connect_with_schema(&url, &self.schema).unwrap()
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ = self
                .client
                .batch_execute(&format!("DROP TABLE IF EXISTS \"{}\".seen", self.schema));
            let _ = self.store.drop_schema();
        }
    }

    fn handler(
        schema: &str,
        refuse: Option<u64>,
    ) -> impl FnMut(&mut Transaction<'_>, &Recorded) -> Result<(), ModelError> + Send + use<> {
        let insert = format!("INSERT INTO \"{schema}\".seen (position, type) VALUES ($1, $2)");
        move |tx, recorded| {
            if Some(recorded.position) == refuse {
                return Err(ModelError::Refused(recorded.position));
            }
            tx.execute(
                &insert,
                &[&(recorded.position as i64), &recorded.event.event_type()],
            )
            .map(|_| ())
            .map_err(|e| ModelError::Database(Box::new(e)))
        }
    }

    #[test]
    fn a_failing_handler_rolls_back_the_read_model_with_its_checkpoint() {
        let Some(mut db) = Db::new() else { return };
        save(&db.store, 10);
        let progress = db
            .store
            .update_read_model("seen", 4, handler(&db.schema, None))
            .unwrap();
        assert_eq!((progress.handled, progress.position), (4, 4));

        let err = db
            .store
            .update_read_model("seen", 100, handler(&db.schema, Some(7)))
            .unwrap_err();
        assert!(
            matches!(err, ReadModelError::Handler { position: 7, .. }),
            "{err}"
        );
        assert_eq!(refused_at(&err), Some(7));
        assert_eq!(db.seen(), [1, 2, 3, 4]);
        assert_eq!(db.store.checkpoint("seen").unwrap(), 4);

        // A new connection (a restart) goes on from the checkpoint.
        let again = db.other_store();
        let progress = again
            .update_read_model("seen", 100, handler(&db.schema, None))
            .unwrap();
        assert_eq!((progress.handled, progress.position), (6, 10));
        assert_eq!(db.seen(), (1..=10).collect::<Vec<_>>());
        assert_eq!(
            again
                .update_read_model("seen", 100, handler(&db.schema, None))
                .unwrap()
                .handled,
            0
        );
    }

    /// Two runners of one read model, each on a connection pool of its
    /// own, while a third store saves: each event is handled once (the
    /// primary key of `seen` would refuse a second time).
    #[test]
    fn two_loops_of_one_read_model_follow_live_and_never_handle_an_event_twice() {
        let Some(mut db) = Db::new() else { return };
        save(&db.store, 20);
        let stop = StopHandle::new();
        let runners: Vec<_> = (0..2)
            .map(|_| {
                let store = db.other_store();
                let stop = stop.clone();
                let handler = handler(&db.schema, None);
                std::thread::spawn(move || store.run_read_model("seen", &stop, handler))
            })
            .collect();
        let writer = db.other_store();
        save(&writer, 80);
        assert!(eventually(|| db.store.checkpoint("seen").unwrap() == 100));
        stop.stop();
        let handled: u64 = runners
            .into_iter()
            .map(|r| r.join().unwrap().unwrap())
            .sum();
        assert_eq!(handled, 100);
        assert_eq!(db.seen(), (1..=100).collect::<Vec<_>>());
    }
}
