//! Steps about migrating a store made by the previous release (store
//! schema version 1) to this one's (version 2). The migration feature runs
//! once for every durable store the build has (SQLite, PostgreSQL): the
//! memory store keeps no schema to migrate.

use std::sync::Arc;

use cucumber::{given, then, when};
use dvent::{Event, EventStore, ExpectedVersion, Metadata, vector};

use super::world::DventWorld;
use crate::support::stores::StoreKind;
use crate::support::v1;

/// The version-1 store a scenario made.
#[derive(Default)]
pub struct MigrationSteps {
    /// A copy of the SQLite file 0.2 wrote, in a directory of its own.
    #[cfg(feature = "sqlite")]
    pub file: Option<(tempfile::TempDir, std::path::PathBuf)>,
    /// A PostgreSQL schema made with 0.2's DDL, dropped with it.
    #[cfg(feature = "postgres")]
    pub schema: Option<v1::postgres::V1Schema>,
}

/// The memory store has no stored schema: the feature is not for it.
fn not_durable() -> ! {
    panic!("the memory store has no stored schema: the migration feature runs on durable stores")
}

#[given("a store made by version 1, at schema version 1")]
fn version_1_store(world: &mut DventWorld) {
    match world.store_kind {
        #[cfg(feature = "sqlite")]
        StoreKind::Sqlite => {
            let (dir, path) = v1::sqlite::copy_of_fixture();
            assert_eq!(v1::sqlite::user_version(&path), 1);
            world.migration.file = Some((dir, path));
        }
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => {
            let url = std::env::var(crate::support::stores::POSTGRES_URL_VAR)
                .expect("DVENT_POSTGRES_URL is set when the postgres kind runs");
            let mut schema = v1::postgres::V1Schema::new(url, "");
            assert_eq!(schema.version(), 1);
            assert!(!schema.columns().contains(&"metadata".to_string()));
            world.migration.schema = Some(schema);
        }
        StoreKind::Memory => not_durable(),
    }
}

#[when("this version opens it")]
fn open_it(world: &mut DventWorld) {
    let store: Arc<dyn EventStore> = match world.store_kind {
        #[cfg(feature = "sqlite")]
        StoreKind::Sqlite => {
            let (_, path) = world.migration.file.as_ref().expect("a version-1 file");
            Arc::new(
                dvent::SqliteEventStore::<dvent::Data>::open(path)
                    .expect("the version-1 file opens"),
            )
        }
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => {
            let schema = world.migration.schema.as_ref().expect("a version-1 schema");
            Arc::new(
                dvent::PostgresEventStore::<dvent::Data>::connect_with_schema(
                    &schema.url,
                    &schema.schema,
                )
                .expect("the version-1 schema opens"),
            )
        }
        StoreKind::Memory => not_durable(),
    };
    world.use_shared_store(world.store_kind, store);
}

#[then(
    "every event reads back with its original id, stream, version, position, timestamp and data"
)]
fn reads_as_dumped(world: &mut DventWorld) {
    let read = world.store.read_all(0, 100).expect("read all");
    v1::assert_as_dumped(&read);
    let events = world.store.events(None, 0).expect("read every event");
    let recorded: Vec<Event> = read.into_iter().map(|r| r.event).collect();
    assert_eq!(events, recorded);
    let streams: Vec<String> = world
        .store
        .streams(0)
        .expect("list the streams")
        .into_iter()
        .map(|s| s.stream_id)
        .collect();
    assert_eq!(streams, ["todo-1", "thermometer/7", "ledger:ä"]);
}

#[then(expr = "the store is now at schema version {int}")]
fn at_schema_version(world: &mut DventWorld, version: i64) {
    match world.store_kind {
        #[cfg(feature = "sqlite")]
        StoreKind::Sqlite => {
            let (_, path) = world.migration.file.as_ref().expect("a version-1 file");
            assert_eq!(v1::sqlite::user_version(path), version);
        }
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => {
            let schema = world.migration.schema.as_mut().expect("a version-1 schema");
            assert_eq!(i64::from(schema.version()), version);
            assert!(
                schema
                    .columns()
                    .ends_with(&["data_version".to_string(), "metadata".to_string()])
            );
        }
        StoreKind::Memory => not_durable(),
    }
}

#[then("it takes a new event with metadata and reads it back")]
fn takes_a_new_event(world: &mut DventWorld) {
    let before = world.store.read_all(0, 100).expect("read all").len();
    let event = Event::new("TodoRemoved")
        .with_metadata(Metadata::new().with_entry("user", "ada"))
        .with_data_version(2);
    let version = world
        .store
        .last_event("todo-1")
        .expect("read the last event")
        .expect("todo-1 has events")
        .version();
    world.save(
        "todo-1",
        vector![event.clone()],
        ExpectedVersion::Exact(version),
    );
    assert!(world.save_error.is_none(), "saved: {:?}", world.save_error);
    let last = world
        .store
        .last_event("todo-1")
        .expect("read the last event")
        .expect("todo-1 has events");
    assert_eq!(
        last,
        event.with_stream_id("todo-1").with_version(version + 1)
    );
    assert_eq!(
        world.store.read_all(0, 100).expect("read all").len(),
        before + 1
    );
}
