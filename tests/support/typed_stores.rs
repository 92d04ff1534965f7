//! Every store of the build, with a payload type of the test's choosing
//! (the stores of `stores.rs` hold `Data`). A PostgreSQL store gets a
//! throwaway schema, dropped with the store.

#![allow(dead_code)] // each test binary uses a part

use std::sync::Arc;

use dvent::{EventStore, InMemoryEventStore};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::stores::{self, StoreKind};

/// A fresh, empty store of every kind of this build, with payloads of `D`,
/// each with its kind's name.
pub fn typed_stores<D>() -> Vec<(&'static str, Arc<dyn EventStore<D>>)>
where
    D: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let kinds = stores::store_kinds().unwrap_or_else(|message| panic!("{message}"));
    kinds
        .into_iter()
        .map(|kind| {
            let store: Arc<dyn EventStore<D>> = match kind {
                StoreKind::Memory => Arc::new(InMemoryEventStore::<D>::default()),
                #[cfg(feature = "sqlite")]
                StoreKind::Sqlite => Arc::new(
                    dvent::SqliteEventStore::<D>::open_in_memory()
                        .expect("an in-memory SQLite store opens"),
                ),
                #[cfg(feature = "postgres")]
                StoreKind::Postgres => Arc::new(pg::Typed::<D>::new()),
            };
            (kind.name(), store)
        })
        .collect()
}

#[cfg(feature = "postgres")]
mod pg {
    //! A typed PostgreSQL store in a throwaway schema.

    use dvent::store::postgres::PostgresOptions;
    use dvent::{Event, EventStore, ExpectedVersion, PostgresEventStore, StoreError, StreamInfo};
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    pub struct Typed<D>(PostgresEventStore<D>);

    impl<D> Typed<D> {
        pub fn new() -> Self {
            let url = std::env::var(crate::stores::POSTGRES_URL_VAR).expect("the URL is set");
            let options = PostgresOptions::new()
                .with_schema(crate::stores::postgres::fresh_schema())
                .with_max_connections(2);
            Typed(
                PostgresEventStore::connect_with(&url, options)
                    .unwrap_or_else(|e| panic!("postgres store at DVENT_POSTGRES_URL: {e}")),
            )
        }
    }

    impl<D> Drop for Typed<D> {
        fn drop(&mut self) {
            if let Err(e) = self.0.drop_schema() {
                eprintln!("postgres: could not drop test schema: {e}");
            }
        }
    }

    impl<D> EventStore<D> for Typed<D>
    where
        D: Serialize + DeserializeOwned + Clone + Send + Sync,
    {
        fn append(
            &self,
            stream_id: &str,
            events: &dvent::Vector<Event<D>>,
            expected: ExpectedVersion,
        ) -> Result<Vec<Event<D>>, StoreError> {
            self.0.append(stream_id, events, expected)
        }
        fn events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event<D>>, StoreError> {
            self.0.events(stream_id, start)
        }
        fn read_all(
            &self,
            after: u64,
            limit: usize,
        ) -> Result<Vec<dvent::store::Recorded<D>>, StoreError> {
            self.0.read_all(after, limit)
        }
        fn read_stream(
            &self,
            stream_id: &str,
            after: u64,
            limit: usize,
        ) -> Result<Vec<dvent::store::Recorded<D>>, StoreError> {
            self.0.read_stream(stream_id, after, limit)
        }
        fn last_event(&self, stream_id: &str) -> Result<Option<Event<D>>, StoreError> {
            self.0.last_event(stream_id)
        }
        fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
            self.0.streams(start)
        }

        fn wait_for_commit(
            &self,
            after: u64,
            timeout: std::time::Duration,
        ) -> Result<u64, StoreError> {
            self.0.wait_for_commit(after, timeout)
        }

        fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
            self.0.checkpoint(name)
        }

        fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
            self.0.save_checkpoint(name, position)
        }
    }
}
