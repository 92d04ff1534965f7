//! Store schema version 2: a version-1 store, made by the previous release,
//! is migrated on opening in one transaction, keeping every event as it
//! was; a migration that fails leaves it at version 1 as it was.
//!
//! SQLite: `tests/fixtures/v1.sqlite` was written by dvent 0.2 (commit
//! c76227e) and `tests/fixtures/v1.json` is how that release read it back.
//! PostgreSQL: a schema made with the version-1 DDL of that release (its one
//! copy is in `tests/support/v1.rs`, which the migration feature uses too)
//! holding the same events, in the database at `DVENT_POSTGRES_URL`.

#[path = "support/stores.rs"]
mod stores;

#[path = "support/v1.rs"]
mod v1;

use dvent::{Data, Event, EventStore, ExpectedVersion, Metadata, StoreError, vector};
use v1::assert_as_dumped;

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::Path;

    use dvent::SqliteEventStore;
    use rusqlite::Connection;

    use super::*;
    use crate::v1::sqlite::{copy_of_fixture, user_version};

    fn columns(path: &Path) -> Vec<String> {
        let connection = Connection::open(path).unwrap();
        let mut statement = connection
            .prepare("SELECT name FROM pragma_table_info('events')")
            .unwrap();
        statement
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Every row of `events` and `streams`, as text, to compare a file
    /// before and after.
    fn rows(path: &Path) -> Vec<String> {
        let connection = Connection::open(path).unwrap();
        let mut all = Vec::new();
        for sql in [
            "SELECT position, event_id, stream_id, version, type, timestamp, data FROM events ORDER BY position",
            "SELECT number, stream_id, timestamp, version, '', '', '' FROM streams ORDER BY number",
        ] {
            let mut statement = connection.prepare(sql).unwrap();
            let mut query = statement.query([]).unwrap();
            while let Some(row) = query.next().unwrap() {
                let cells: Vec<String> = (0..7)
                    .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                    .collect();
                all.push(cells.join("|"));
            }
        }
        all
    }

    #[test]
    fn the_fixture_is_a_version_1_store() {
        let (_dir, path) = copy_of_fixture();
        assert_eq!(user_version(&path), 1);
        assert!(!columns(&path).contains(&"metadata".to_string()));
    }

    #[test]
    fn opening_a_version_1_file_migrates_it_and_keeps_every_event() {
        let (_dir, path) = copy_of_fixture();
        let before = rows(&path);
        let store: SqliteEventStore = SqliteEventStore::open(&path).unwrap();
        assert_eq!(user_version(&path), 2);
        let columns = columns(&path);
        assert!(columns.ends_with(&["data_version".to_string(), "metadata".to_string()]));
        assert_eq!(rows(&path), before, "no stored value changed");
        assert_as_dumped(&store.read_all(0, 100).unwrap());
        let streams: Vec<String> = store
            .streams(0)
            .unwrap()
            .into_iter()
            .map(|s| s.stream_id)
            .collect();
        assert_eq!(streams, ["todo-1", "thermometer/7", "ledger:ä"]);

        // The migrated file takes new events, with metadata, and keeps them.
        let event = Event::new("TodoRemoved")
            .with_metadata(Metadata::new().with_entry("user", "ada"))
            .with_data_version(2);
        store
            .append("todo-1", &vector![event.clone()], ExpectedVersion::Exact(3))
            .unwrap();
        drop(store);
        let reopened: SqliteEventStore = SqliteEventStore::open(&path).unwrap();
        let last = reopened.last_event("todo-1").unwrap().unwrap();
        assert_eq!(last, event.with_stream_id("todo-1").with_version(4));
        assert_eq!(reopened.read_all(0, 100).unwrap().len(), 7);
    }

    #[test]
    fn a_version_1_file_opened_read_only_is_read_and_not_migrated() {
        let (_dir, path) = copy_of_fixture();
        let store: SqliteEventStore = SqliteEventStore::open_read_only(&path).unwrap();
        assert_as_dumped(&store.read_all(0, 100).unwrap());
        assert_eq!(store.events(Some("todo-1"), 0).unwrap().len(), 3);
        assert_eq!(
            store.last_event("ledger:ä").unwrap().unwrap().event_type(),
            "Closed"
        );
        drop(store);
        assert_eq!(user_version(&path), 1);
        assert!(!columns(&path).contains(&"data_version".to_string()));
    }

    #[test]
    fn a_migration_that_fails_midway_leaves_the_version_1_file_as_it_was() {
        let (_dir, path) = copy_of_fixture();
        // Injected failure: the second statement of the migration (adding
        // `metadata`) finds the column there and fails, after the first
        // (adding `data_version`) succeeded in the same transaction.
        Connection::open(&path)
            .unwrap()
            .execute_batch("ALTER TABLE events ADD COLUMN metadata TEXT")
            .unwrap();
        let before = rows(&path);
        let columns_before = columns(&path);
        let err = SqliteEventStore::<Data>::open(&path).unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend { message, .. }
                if message.contains("migrating the schema from version 1 to 2; nothing was changed")),
            "{err}"
        );
        assert_eq!(user_version(&path), 1);
        assert_eq!(
            columns(&path),
            columns_before,
            "data_version was rolled back"
        );
        assert_eq!(rows(&path), before);
    }

    #[test]
    fn a_newer_schema_than_2_is_still_refused() {
        let (_dir, path) = copy_of_fixture();
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 3)
            .unwrap();
        let err = SqliteEventStore::<Data>::open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::UnsupportedSchema {
                    found: 3,
                    supported: 2
                }
            ),
            "{err}"
        );
        assert_eq!(user_version(&path), 3);
    }
}

#[cfg(feature = "postgres")]
mod postgres_store {
    use dvent::PostgresEventStore;

    use super::*;
    use crate::v1::postgres::V1Schema;

    fn url() -> Option<String> {
        stores::postgres_url().unwrap_or_else(|message| panic!("{message}"))
    }

    #[test]
    fn connecting_to_a_version_1_schema_migrates_it_and_keeps_every_event() {
        let Some(url) = url() else { return };
        let mut db = V1Schema::new(url, "");
        assert_eq!(db.version(), 1);
        let before = db.rows();
        let store: PostgresEventStore =
            PostgresEventStore::connect_with_schema(&db.url, &db.schema).unwrap();
        assert_eq!(db.version(), 2);
        assert!(
            db.columns()
                .ends_with(&["data_version".to_string(), "metadata".to_string()])
        );
        assert_eq!(db.rows(), before);
        assert_as_dumped(&store.read_all(0, 100).unwrap());
        let event = Event::new("TodoRemoved").with_metadata_entry("tenant", "acme");
        store
            .append("todo-1", &vector![event.clone()], ExpectedVersion::Exact(3))
            .unwrap();
        // A second connection finds version 2 and migrates nothing.
        let again: PostgresEventStore =
            PostgresEventStore::connect_with_schema(&db.url, &db.schema).unwrap();
        assert_eq!(
            again.last_event("todo-1").unwrap().unwrap(),
            event.with_stream_id("todo-1").with_version(4)
        );
    }

    #[test]
    fn a_migration_that_fails_midway_leaves_the_version_1_schema_as_it_was() {
        let Some(url) = url() else { return };
        // Injected failure: `metadata` is there already, so the migration's
        // second statement fails after its first added `data_version`.
        let mut db = V1Schema::new(url, "ALTER TABLE {p}events ADD COLUMN metadata TEXT;");
        let before = db.rows();
        let columns = db.columns();
        let err = PostgresEventStore::<Data>::connect_with_schema(&db.url, &db.schema).unwrap_err();
        assert!(
            err.to_string()
                .contains("migrating the schema from version 1 to 2; nothing was changed"),
            "{err}"
        );
        assert_eq!(db.version(), 1);
        assert_eq!(db.columns(), columns, "data_version was rolled back");
        assert_eq!(db.rows(), before);
    }
}
