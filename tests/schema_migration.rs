//! Store schema version 2: a version-1 store, made by the previous release,
//! is migrated on opening in one transaction, keeping every event as it
//! was; a migration that fails leaves it at version 1 as it was.
//!
//! SQLite: `tests/fixtures/v1.sqlite` was written by dvent 0.2 (commit
//! c76227e) and `tests/fixtures/v1.json` is how that release read it back.
//! PostgreSQL: a schema made with the version-1 DDL of that release (copied
//! below) and a few rows, in the database at `DVENT_POSTGRES_URL`.

#[path = "support/stores.rs"]
mod stores;

use dvent::jiff::Timestamp;
use dvent::serde_json::{self, Value};
use dvent::{Data, Event, EventStore, ExpectedVersion, Metadata, StoreError, uuid::Uuid, vector};

/// One event as the old release read it (the JSON dump).
#[derive(Debug, serde::Deserialize)]
struct Expected {
    position: u64,
    id: Uuid,
    stream_id: String,
    version: u64,
    #[serde(rename = "type")]
    event_type: String,
    timestamp: Timestamp,
    data: Value,
}

fn expected() -> Vec<Expected> {
    let text = include_str!("fixtures/v1.json");
    serde_json::from_str(text).expect("the dump is valid")
}

/// Every event read back equals the dump: id, stream, version, position,
/// type, timestamp, payload; no metadata, payload version 1.
fn assert_as_dumped(read: &[dvent::Recorded<Data>]) {
    let expected = expected();
    assert_eq!(read.len(), expected.len());
    for (recorded, want) in read.iter().zip(&expected) {
        let event = &recorded.event;
        assert_eq!(recorded.position, want.position);
        assert_eq!(event.id(), want.id);
        assert_eq!(event.stream_id(), want.stream_id);
        assert_eq!(event.version(), want.version);
        assert_eq!(event.event_type(), want.event_type);
        assert_eq!(event.timestamp(), want.timestamp);
        assert_eq!(serde_json::to_value(event.data()).unwrap(), want.data);
        assert!(event.metadata().is_empty());
        assert_eq!(event.data_version(), 1);
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::{Path, PathBuf};

    use dvent::SqliteEventStore;
    use rusqlite::Connection;

    use super::*;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1.sqlite");

    fn copy_of_fixture() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        std::fs::copy(FIXTURE, &path).unwrap();
        (dir, path)
    }

    fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

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
    use postgres::{Client, NoTls};

    use super::*;

    /// The version-1 DDL of dvent 0.2 (c76227e, `src/store/postgres.rs`),
    /// with the schema prefix `{p}`.
    const V1_DDL: &str = "
        CREATE TABLE {p}dvent_store (
            id             INTEGER PRIMARY KEY CHECK (id = 1),
            schema_version INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS {p}events (
            position  BIGINT PRIMARY KEY,
            event_id  UUID   NOT NULL UNIQUE,
            stream_id TEXT   NOT NULL,
            version   BIGINT NOT NULL,
            type      TEXT   NOT NULL,
            timestamp TEXT   NOT NULL,
            data      JSON   NOT NULL,
            UNIQUE (stream_id, version)
        );
        CREATE TABLE IF NOT EXISTS {p}streams (
            number    BIGINT PRIMARY KEY,
            stream_id TEXT   NOT NULL UNIQUE,
            timestamp TEXT   NOT NULL,
            version   BIGINT NOT NULL
        );
        INSERT INTO {p}dvent_store (id, schema_version) VALUES (1, 1);";

    /// Rows as the old release wrote them: the fixture's events.
    fn insert_fixture_rows(client: &mut Client, p: &str) {
        let mut streams: Vec<(String, String, u64)> = Vec::new();
        for e in expected() {
            let timestamp = dvent::store::codec::encode_timestamp(e.timestamp).unwrap();
            client
                .execute(
                    &format!(
                        "INSERT INTO {p}events (position, event_id, stream_id, version, type, timestamp, data) \
                         VALUES ($1, $2::text::uuid, $3, $4, $5, $6, $7::text::json)"
                    ),
                    &[
                        &(e.position as i64),
                        &e.id.to_string(),
                        &e.stream_id,
                        &(e.version as i64),
                        &e.event_type,
                        &timestamp,
                        &serde_json::to_string(&e.data).unwrap(),
                    ],
                )
                .unwrap();
            match streams.iter_mut().find(|s| s.0 == e.stream_id) {
                Some(stream) => stream.2 = e.version,
                None => streams.push((e.stream_id.clone(), timestamp, e.version)),
            }
        }
        for (number, (stream_id, timestamp, version)) in streams.iter().enumerate() {
            client
                .execute(
                    &format!("INSERT INTO {p}streams (number, stream_id, timestamp, version) VALUES ($1, $2, $3, $4)"),
                    &[&(number as i64), stream_id, timestamp, &(*version as i64)],
                )
                .unwrap();
        }
    }

    /// A schema made by the old release's DDL, dropped at the end.
    struct V1Schema {
        client: Client,
        url: String,
        schema: String,
    }

    impl V1Schema {
        fn new(url: String, inject: &str) -> Self {
            let schema = stores::postgres::fresh_schema();
            let mut client = Client::connect(&url, NoTls).unwrap();
            let p = format!("\"{schema}\".");
            client
                .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
                .unwrap();
            client.batch_execute(&V1_DDL.replace("{p}", &p)).unwrap();
            insert_fixture_rows(&mut client, &p);
            client.batch_execute(&inject.replace("{p}", &p)).unwrap();
            V1Schema {
                client,
                url,
                schema,
            }
        }

        fn version(&mut self) -> i32 {
            self.client
                .query_one(
                    &format!("SELECT schema_version FROM \"{}\".dvent_store", self.schema),
                    &[],
                )
                .unwrap()
                .get(0)
        }

        fn columns(&mut self) -> Vec<String> {
            self.client
                .query(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name = 'events' ORDER BY ordinal_position",
                    &[&self.schema],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        }

        fn rows(&mut self) -> Vec<String> {
            self.client
                .query(
                    &format!(
                        "SELECT concat_ws('|', position, event_id, stream_id, version, type, timestamp, data::text) \
                         FROM \"{}\".events ORDER BY position",
                        self.schema
                    ),
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        }
    }

    impl Drop for V1Schema {
        fn drop(&mut self) {
            let _ = self.client.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ));
        }
    }

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
