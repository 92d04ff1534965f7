//! The event stores the Gherkin features and reliability tests run against.
//!
//! Every store the build has is listed by [`store_kinds`]; the features about
//! the event store and the repository run once per kind, each scenario on a
//! fresh, isolated store from [`open_store`]:
//!
//! - memory: always;
//! - sqlite (cargo feature `sqlite`): a new in-memory database per store;
//! - postgres (cargo feature `postgres`): a new schema per store in the
//!   database at `DVENT_POSTGRES_URL`, dropped when the store is dropped.
//!   Without the URL the kind is skipped with a plain message, except under
//!   `CI=true`, where that is an error.

#![allow(dead_code)] // each test binary uses a part

use std::sync::Arc;

use dvent::{Event, EventStore, InMemoryEventStore, PublishError, Upcasters};

/// A kind of event store under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// [`InMemoryEventStore`].
    Memory,
    /// [`dvent::SqliteEventStore`], in memory.
    #[cfg(feature = "sqlite")]
    Sqlite,
    /// [`dvent::PostgresEventStore`], in a schema of its own.
    #[cfg(feature = "postgres")]
    Postgres,
}

impl StoreKind {
    /// The name printed in reports (`memory`, `sqlite`, `postgres`).
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            #[cfg(feature = "sqlite")]
            StoreKind::Sqlite => "sqlite",
            #[cfg(feature = "postgres")]
            StoreKind::Postgres => "postgres",
        }
    }

    /// Whether the store keeps its events in a schema of its own, which a
    /// newer release migrates (SQLite, PostgreSQL); the memory store keeps
    /// nothing between runs.
    pub fn is_durable(self) -> bool {
        !matches!(self, StoreKind::Memory)
    }
}

/// Prints a line on standard output even while the test harness captures
/// the output of passing tests, so that counts and skips are always shown.
pub fn report(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The variable that gives the PostgreSQL database to test against.
pub const POSTGRES_URL_VAR: &str = "DVENT_POSTGRES_URL";

/// The store kinds to run, in order.
///
/// # Errors
///
/// A message when a store that must run cannot (for example PostgreSQL
/// under `CI=true` without `DVENT_POSTGRES_URL`).
pub fn store_kinds() -> Result<Vec<StoreKind>, String> {
    #[allow(unused_mut)]
    let mut kinds = vec![StoreKind::Memory];
    #[cfg(feature = "sqlite")]
    kinds.push(StoreKind::Sqlite);
    #[cfg(feature = "postgres")]
    if postgres_url()?.is_some() {
        kinds.push(StoreKind::Postgres);
    }
    Ok(kinds)
}

/// The PostgreSQL URL to test against: `Some` when set; `None`, with a plain
/// message, when it is not; an error when it is not but must be (`CI=true`).
///
/// # Errors
///
/// The message, under `CI=true` without the URL.
pub fn postgres_url() -> Result<Option<String>, String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(Some(url)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => Err(format!(
            "postgres: {POSTGRES_URL_VAR} is not set, and under CI=true the postgres store must run \
             (start a server with `scripts/postgres start`)"
        )),
        _ => {
            report(&format!(
                "postgres: {POSTGRES_URL_VAR} is not set, skipping the postgres store"
            ));
            Ok(None)
        }
    }
}

/// A fresh, empty store of `kind`, isolated from every other one.
pub fn open_store(kind: StoreKind) -> Arc<dyn EventStore> {
    StoreHandle::open(kind).shared()
}

/// A fresh, empty store of `kind` with its concrete type kept, for what
/// only the concrete store offers (its read models). Cloning it gives
/// another handle on the same store.
#[derive(Clone, Debug)]
pub enum StoreHandle {
    /// An [`InMemoryEventStore`].
    Memory(InMemoryEventStore),
    /// A [`dvent::SqliteEventStore`], in memory.
    #[cfg(feature = "sqlite")]
    Sqlite(dvent::SqliteEventStore),
    /// A [`dvent::PostgresEventStore`] in a schema of its own, dropped with
    /// the last handle.
    #[cfg(feature = "postgres")]
    Postgres(Arc<postgres::TestStore>),
}

impl StoreHandle {
    /// A fresh, empty store of `kind`, isolated from every other one.
    pub fn open(kind: StoreKind) -> Self {
        match kind {
            StoreKind::Memory => StoreHandle::Memory(InMemoryEventStore::new()),
            #[cfg(feature = "sqlite")]
            StoreKind::Sqlite => StoreHandle::Sqlite(
                dvent::SqliteEventStore::open_in_memory().expect("an in-memory SQLite store opens"),
            ),
            #[cfg(feature = "postgres")]
            StoreKind::Postgres => {
                StoreHandle::Postgres(Arc::new(postgres::TestStore::new(|store| store)))
            }
        }
    }

    /// The same store, behind the trait.
    pub fn shared(&self) -> Arc<dyn EventStore> {
        match self {
            StoreHandle::Memory(store) => Arc::new(store.clone()),
            #[cfg(feature = "sqlite")]
            StoreHandle::Sqlite(store) => Arc::new(store.clone()),
            #[cfg(feature = "postgres")]
            StoreHandle::Postgres(store) => store.clone(),
        }
    }

    /// Another handle on the same store (the same shared memory, the same
    /// SQLite database, the same PostgreSQL schema) that reads through
    /// `upcasters`. This handle is left as it was: it reads as stored.
    pub fn upcasting(&self, upcasters: Upcasters) -> Arc<dyn EventStore> {
        match self {
            StoreHandle::Memory(store) => Arc::new(store.clone().with_upcasters(upcasters)),
            #[cfg(feature = "sqlite")]
            StoreHandle::Sqlite(store) => Arc::new(store.clone().with_upcasters(upcasters)),
            #[cfg(feature = "postgres")]
            StoreHandle::Postgres(store) => {
                Arc::new(store.store().clone().with_upcasters(upcasters))
            }
        }
    }
}

/// A fresh, empty store of `kind` that calls `publisher` with each saved
/// event.
pub fn open_store_with_publisher<F>(kind: StoreKind, publisher: F) -> Arc<dyn EventStore>
where
    F: Fn(&Event) -> Result<(), PublishError> + Send + Sync + 'static,
{
    match kind {
        StoreKind::Memory => Arc::new(InMemoryEventStore::new().with_publisher(publisher)),
        #[cfg(feature = "sqlite")]
        StoreKind::Sqlite => Arc::new(
            dvent::SqliteEventStore::open_in_memory()
                .expect("an in-memory SQLite store opens")
                .with_publisher(publisher),
        ),
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => Arc::new(postgres::TestStore::new(move |store| {
            store.with_publisher(publisher)
        })),
    }
}

#[cfg(feature = "postgres")]
pub mod postgres {
    //! PostgreSQL stores in throwaway schemas.

    use std::sync::atomic::{AtomicU64, Ordering};

    use dvent::{Event, EventStore, ExpectedVersion, PostgresEventStore, StoreError, StreamInfo};

    /// A unique schema name: the process id, a counter and the time.
    pub fn fresh_schema() -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!(
            "dvent_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A store in a fresh schema that is dropped with the store.
    #[derive(Debug)]
    pub struct TestStore {
        store: PostgresEventStore,
    }

    impl TestStore {
        /// Connects to a fresh schema at `DVENT_POSTGRES_URL` and lets
        /// `configure` adjust the store (to add a publisher, say).
        pub fn new(configure: impl FnOnce(PostgresEventStore) -> PostgresEventStore) -> Self {
            let url = std::env::var(super::POSTGRES_URL_VAR)
                .expect("DVENT_POSTGRES_URL is set when the postgres kind runs");
            let options = dvent::store::postgres::PostgresOptions::new()
                .with_schema(fresh_schema())
                .with_max_connections(4);
            let store = PostgresEventStore::connect_with(&url, options)
                .unwrap_or_else(|e| panic!("postgres store at DVENT_POSTGRES_URL: {e}"));
            TestStore {
                store: configure(store),
            }
        }

        /// The store inside.
        pub fn store(&self) -> &PostgresEventStore {
            &self.store
        }
    }

    impl Drop for TestStore {
        fn drop(&mut self) {
            if let Err(e) = self.store.drop_schema() {
                eprintln!("postgres: could not drop test schema: {e}");
            }
        }
    }

    impl EventStore for TestStore {
        fn append(
            &self,
            stream_id: &str,
            events: &dvent::Vector<Event>,
            expected: ExpectedVersion,
        ) -> Result<Vec<Event>, StoreError> {
            self.store.append(stream_id, events, expected)
        }

        fn events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event>, StoreError> {
            self.store.events(stream_id, start)
        }

        fn read_all(
            &self,
            after: u64,
            limit: usize,
        ) -> Result<Vec<dvent::store::Recorded>, StoreError> {
            self.store.read_all(after, limit)
        }

        fn read_stream(
            &self,
            stream_id: &str,
            after: u64,
            limit: usize,
        ) -> Result<Vec<dvent::store::Recorded>, StoreError> {
            self.store.read_stream(stream_id, after, limit)
        }

        fn last_event(&self, stream_id: &str) -> Result<Option<Event>, StoreError> {
            self.store.last_event(stream_id)
        }

        fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
            self.store.streams(start)
        }

        fn wait_for_commit(
            &self,
            after: u64,
            timeout: std::time::Duration,
        ) -> Result<u64, StoreError> {
            self.store.wait_for_commit(after, timeout)
        }

        fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
            self.store.checkpoint(name)
        }

        fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
            self.store.save_checkpoint(name, position)
        }

        fn save_snapshot(&self, snapshot: &dvent::Snapshot) -> Result<(), StoreError> {
            self.store.save_snapshot(snapshot)
        }

        fn latest_snapshot(
            &self,
            stream_id: &str,
            kind: &str,
            snapshot_version: u32,
            max_version: u64,
        ) -> Result<Option<dvent::Snapshot>, StoreError> {
            self.store
                .latest_snapshot(stream_id, kind, snapshot_version, max_version)
        }
    }
}
