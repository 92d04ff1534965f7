//! A store made by the previous release (dvent 0.2, commit c76227e), at
//! store schema version 1, for the migration tests and the migration
//! feature: the events it holds (`tests/fixtures/v1.json`, how that release
//! read them back), the SQLite file it wrote (`tests/fixtures/v1.sqlite`)
//! and, for PostgreSQL, its version-1 DDL, the one copy of it.

#![allow(dead_code)] // each test binary uses a part

use dvent::jiff::Timestamp;
use dvent::serde_json::{self, Value};
use dvent::uuid::Uuid;
use dvent::{Data, Recorded};

/// One event as the old release read it (the JSON dump).
#[derive(Debug, serde::Deserialize)]
pub struct Expected {
    pub position: u64,
    pub id: Uuid,
    pub stream_id: String,
    pub version: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: Timestamp,
    pub data: Value,
}

/// The events of the version-1 store, in the global order.
pub fn expected() -> Vec<Expected> {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/v1.json"
    ));
    serde_json::from_str(text).expect("the dump is valid")
}

/// Asserts every event read back equals the dump: id, stream, version,
/// position, type, timestamp, payload; no metadata, payload version 1.
pub fn assert_as_dumped(read: &[Recorded<Data>]) {
    let expected = expected();
    assert_eq!(read.len(), expected.len(), "as many events as the dump");
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

/// The SQLite file written by the old release.
#[cfg(feature = "sqlite")]
pub mod sqlite {
    use std::path::{Path, PathBuf};

    use rusqlite::Connection;

    /// The fixture: never opened in place.
    pub const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1.sqlite");

    /// A copy of the fixture in a new temporary directory (removed with it).
    pub fn copy_of_fixture() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        std::fs::copy(FIXTURE, &path).unwrap();
        (dir, path)
    }

    /// The file's schema version (`PRAGMA user_version`).
    pub fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }
}

/// A PostgreSQL schema made with the old release's DDL.
#[cfg(feature = "postgres")]
pub mod postgres {
    use ::postgres::{Client, NoTls};
    use dvent::serde_json;

    use super::expected;

    /// The version-1 DDL of dvent 0.2 (c76227e, `src/store/postgres.rs`),
    /// with the schema prefix `{p}`.
    pub const V1_DDL: &str = "
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

    /// A schema made by the old release's DDL holding the fixture's events,
    /// dropped with the value.
    pub struct V1Schema {
        pub client: Client,
        pub url: String,
        pub schema: String,
    }

    impl V1Schema {
        /// Makes the schema in the database at `url`, then runs `inject`
        /// (SQL with the schema prefix `{p}`, to break it, say).
        pub fn new(url: String, inject: &str) -> Self {
            let schema = super::super::stores::postgres::fresh_schema();
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

        /// The schema's store schema version.
        pub fn version(&mut self) -> i32 {
            self.client
                .query_one(
                    &format!("SELECT schema_version FROM \"{}\".dvent_store", self.schema),
                    &[],
                )
                .unwrap()
                .get(0)
        }

        /// The columns of `events`, in order.
        pub fn columns(&mut self) -> Vec<String> {
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

        /// Every row of `events`, as text, to compare before and after.
        pub fn rows(&mut self) -> Vec<String> {
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

    impl std::fmt::Debug for V1Schema {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("V1Schema")
                .field("schema", &self.schema)
                .finish_non_exhaustive()
        }
    }
}
