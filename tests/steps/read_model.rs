//! Steps about read models kept in the store itself, exactly once: the
//! Todo board as a read model, on every store. [`ReadModels`] hides what
//! differs: the memory store keeps the model as a `Data` value beside its
//! checkpoint; SQLite and PostgreSQL keep it as rows of a table of the
//! user's, in the store's own database, written through the transaction
//! that moves the checkpoint.

use std::collections::HashMap;

use cucumber::{given, then, when};
use dvent::serde_json::Value;
use dvent::store::Recorded;
use dvent::{Data, EventStore, InMemoryEventStore, ReadModelError, ReadModelProgress};

use super::board::{self, Model, ModelError, count_of};
use super::world::DventWorld;
use crate::support::stores::StoreHandle;

/// A handler of the board's read model, as every store runs it.
pub type Handler<'a> = dyn FnMut(&mut dyn Model, &Recorded) -> Result<(), ModelError> + 'a;

/// The read models of the scenario's store, whatever its kind.
pub enum ReadModels {
    Memory(InMemoryEventStore),
    #[cfg(feature = "sqlite")]
    Sqlite(dvent::SqliteEventStore),
    #[cfg(feature = "postgres")]
    Postgres(Box<pg::PgReadModels>),
}

/// The user's table for the SQL stores: every read model's keys.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const ROWS: &str = "read_model_rows";

impl ReadModels {
    /// The read models of `store`; for the SQL stores, makes the table.
    pub fn open(store: &StoreHandle) -> Self {
        match store {
            StoreHandle::Memory(store) => ReadModels::Memory(store.clone()),
            #[cfg(feature = "sqlite")]
            StoreHandle::Sqlite(store) => {
                store
                    .with_connection(|c| {
                        c.execute_batch(&format!(
                            "CREATE TABLE {ROWS} (model TEXT NOT NULL, key TEXT NOT NULL, \
                             value TEXT NOT NULL, PRIMARY KEY (model, key))"
                        ))
                    })
                    .expect("the read model's table is made");
                ReadModels::Sqlite(store.clone())
            }
            #[cfg(feature = "postgres")]
            StoreHandle::Postgres(store) => {
                ReadModels::Postgres(Box::new(pg::PgReadModels::new(store)))
            }
        }
    }

    /// One step of the read model `name`: the store's `update_read_model`.
    pub fn step(
        &mut self,
        name: &str,
        limit: usize,
        handler: &mut Handler<'_>,
    ) -> Result<ReadModelProgress, ReadModelError<ModelError>> {
        match self {
            ReadModels::Memory(store) => {
                store.update_read_model(name, limit, |model: &mut Data, recorded| {
                    handler(model, recorded)
                })
            }
            #[cfg(feature = "sqlite")]
            ReadModels::Sqlite(store) => store.update_read_model(name, limit, |tx, recorded| {
                handler(&mut sqlite::SqliteModel { tx, model: name }, recorded)
            }),
            #[cfg(feature = "postgres")]
            ReadModels::Postgres(models) => models.step(name, limit, handler),
        }
    }

    /// The read model `name` and its checkpoint.
    pub fn model(&mut self, name: &str) -> (u64, Data) {
        match self {
            ReadModels::Memory(store) => store.read_model(name),
            #[cfg(feature = "sqlite")]
            ReadModels::Sqlite(store) => (
                store.checkpoint(name).expect("read"),
                sqlite::rows(store, name),
            ),
            #[cfg(feature = "postgres")]
            ReadModels::Postgres(models) => models.model(name),
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    //! The board's read model in a table of the SQLite store's database.

    use rusqlite::{OptionalExtension, Transaction};

    use super::{Data, Model, ModelError, ROWS, Value};

    /// A read model's keys, in the step's transaction.
    pub struct SqliteModel<'a, 'b> {
        pub tx: &'a Transaction<'b>,
        pub model: &'a str,
    }

    fn failed(e: impl std::fmt::Display) -> ModelError {
        ModelError::Database(e.to_string())
    }

    impl Model for SqliteModel<'_, '_> {
        fn get(&mut self, key: &str) -> Result<Option<Value>, ModelError> {
            let text: Option<String> = self
                .tx
                .query_row(
                    &format!("SELECT value FROM {ROWS} WHERE model = ?1 AND key = ?2"),
                    [self.model, key],
                    |row| row.get(0),
                )
                .optional()
                .map_err(failed)?;
            text.map(|t| dvent::serde_json::from_str(&t).map_err(failed))
                .transpose()
        }

        fn set(&mut self, key: &str, value: Value) -> Result<(), ModelError> {
            self.tx
                .execute(
                    &format!(
                        "INSERT INTO {ROWS} (model, key, value) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (model, key) DO UPDATE SET value = excluded.value"
                    ),
                    rusqlite::params![self.model, key, value.to_string()],
                )
                .map(|_| ())
                .map_err(failed)
        }

        fn remove(&mut self, key: &str) -> Result<(), ModelError> {
            self.tx
                .execute(
                    &format!("DELETE FROM {ROWS} WHERE model = ?1 AND key = ?2"),
                    [self.model, key],
                )
                .map(|_| ())
                .map_err(failed)
        }
    }

    /// Every key of the read model `name`.
    pub fn rows(store: &dvent::SqliteEventStore, name: &str) -> Data {
        store.with_connection(|c| {
            let mut statement = c
                .prepare(&format!("SELECT key, value FROM {ROWS} WHERE model = ?1"))
                .expect("the rows are read");
            statement
                .query_map([name], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .expect("the rows are read")
                .map(|row| {
                    let (key, value) = row.expect("a row");
                    (
                        key,
                        dvent::serde_json::from_str::<Value>(&value).expect("JSON"),
                    )
                })
                .collect()
        })
    }
}

#[cfg(feature = "postgres")]
mod pg {
    //! The board's read model in a table of the PostgreSQL store's schema.

    use std::sync::Arc;

    use ::postgres::{Client, NoTls, Transaction};
    use dvent::store::Recorded;
    use dvent::{EventStore, ReadModelError, ReadModelProgress};

    use super::{Data, Handler, Model, ModelError, ROWS, Value};
    use crate::support::stores::postgres::TestStore;
    use crate::support::stores::postgres_url;

    /// The read models of a PostgreSQL test store: a table in its schema,
    /// made by a client of the test's own and dropped with it (before the
    /// store drops its schema, which it holds).
    pub struct PgReadModels {
        store: Arc<TestStore>,
        client: Client,
        table: String,
    }

    impl PgReadModels {
        pub fn new(store: &Arc<TestStore>) -> Self {
            let url = postgres_url()
                .ok()
                .flatten()
                .expect("DVENT_POSTGRES_URL is set when the postgres kind runs");
            let schema = store.store().schema().expect("a schema of its own");
            let table = format!("\"{schema}\".{ROWS}");
            let mut client = Client::connect(&url, NoTls).expect("a client connects");
            client
                .batch_execute(&format!(
                    "CREATE TABLE {table} (model TEXT NOT NULL, key TEXT NOT NULL, \
                     value TEXT NOT NULL, PRIMARY KEY (model, key))"
                ))
                .expect("the read model's table is made");
            PgReadModels {
                store: Arc::clone(store),
                client,
                table,
            }
        }

        pub fn step(
            &mut self,
            name: &str,
            limit: usize,
            handler: &mut Handler<'_>,
        ) -> Result<ReadModelProgress, ReadModelError<ModelError>> {
            let table = &self.table;
            self.store
                .store()
                .update_read_model(name, limit, |tx, recorded: &Recorded| {
                    handler(
                        &mut PgModel {
                            tx,
                            table,
                            model: name,
                        },
                        recorded,
                    )
                })
        }

        pub fn model(&mut self, name: &str) -> (u64, Data) {
            let rows = self
                .client
                .query(
                    &format!("SELECT key, value FROM {} WHERE model = $1", self.table),
                    &[&name],
                )
                .expect("the rows are read");
            let model = rows
                .iter()
                .map(|row| {
                    let value: String = row.get(1);
                    (
                        row.get::<_, String>(0),
                        dvent::serde_json::from_str::<Value>(&value).expect("JSON"),
                    )
                })
                .collect();
            (self.store.checkpoint(name).expect("read"), model)
        }
    }

    impl Drop for PgReadModels {
        fn drop(&mut self) {
            if let Err(e) = self
                .client
                .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table))
            {
                eprintln!("postgres: could not drop the read model's table: {e}");
            }
        }
    }

    /// A read model's keys, in the step's transaction.
    struct PgModel<'a, 'b> {
        tx: &'a mut Transaction<'b>,
        table: &'a str,
        model: &'a str,
    }

    fn failed(e: impl std::fmt::Display) -> ModelError {
        ModelError::Database(e.to_string())
    }

    impl Model for PgModel<'_, '_> {
        fn get(&mut self, key: &str) -> Result<Option<Value>, ModelError> {
            let row = self
                .tx
                .query_opt(
                    &format!(
                        "SELECT value FROM {} WHERE model = $1 AND key = $2",
                        self.table
                    ),
                    &[&self.model, &key],
                )
                .map_err(failed)?;
            row.map(|row| dvent::serde_json::from_str(&row.get::<_, String>(0)).map_err(failed))
                .transpose()
        }

        fn set(&mut self, key: &str, value: Value) -> Result<(), ModelError> {
            self.tx
                .execute(
                    &format!(
                        "INSERT INTO {} (model, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (model, key) DO UPDATE SET value = excluded.value",
                        self.table
                    ),
                    &[&self.model, &key, &value.to_string()],
                )
                .map(|_| ())
                .map_err(failed)
        }

        fn remove(&mut self, key: &str) -> Result<(), ModelError> {
            self.tx
                .execute(
                    &format!("DELETE FROM {} WHERE model = $1 AND key = $2", self.table),
                    &[&self.model, &key],
                )
                .map(|_| ())
                .map_err(failed)
        }
    }
}

/// What the read model steps made and saw.
#[derive(Default)]
pub struct ReadModelSteps {
    /// The store's read models, opened by the first step that needs them.
    pub models: Option<ReadModels>,
    /// Every call of a handler: the read model's name and the position.
    pub calls: Vec<(String, u64)>,
    /// The read model and its checkpoint just before the crash.
    pub before_crash: Option<(u64, Data)>,
    /// How the crashed step ended: the handler's error at a position, or a
    /// panic's message.
    pub crash: Option<Result<ReadModelError<ModelError>, String>>,
}

/// The key that counts how many times the event at `position` was applied.
fn applied_key(position: u64) -> String {
    format!("applied/{position:06}")
}

/// The board's handler: the board's fold, and a count of how many times
/// each event was applied (to see that none is applied twice).
fn board_handler(model: &mut dyn Model, recorded: &Recorded) -> Result<(), ModelError> {
    board::apply(model, recorded)?;
    let key = applied_key(recorded.position);
    let times = model.get(&key)?.and_then(|v| v.as_u64()).unwrap_or(0);
    model.set(&key, Value::from(times + 1))
}

fn models(world: &mut DventWorld) -> &mut ReadModels {
    let store = world
        .store_handle
        .as_ref()
        .expect("the scenario's store has its concrete handle");
    world
        .read_models
        .models
        .get_or_insert_with(|| ReadModels::open(store))
}

/// Runs one step of `name` with the board's handler, noting each call;
/// `crash` says on which event of the page to crash, and how.
fn step(
    world: &mut DventWorld,
    name: &str,
    limit: usize,
    crash: Option<(usize, &str)>,
) -> Result<ReadModelProgress, ReadModelError<ModelError>> {
    let mut calls = Vec::new();
    let mut handled = 0;
    let outcome = {
        let mut handler = |model: &mut dyn Model, recorded: &Recorded| {
            calls.push((name.to_string(), recorded.position));
            handled += 1;
            match crash {
                Some((nth, "with an error")) if handled == nth => {
                    return Err(ModelError::Crashed(recorded.position));
                }
                Some((nth, "with a panic")) if handled == nth => {
                    panic!(
                        "the handler crashed (simulated) on the event at {}",
                        recorded.position
                    );
                }
                Some((_, "with an error" | "with a panic")) | None => {}
                Some((_, how)) => panic!("not a way to crash: {how}"),
            }
            board_handler(model, recorded)
        };
        // A panic is passed on once the calls are noted.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            models(world).step(name, limit, &mut handler)
        }))
    };
    world.read_models.calls.extend(calls);
    outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Steps `name` until it is up to date, `limit` events a step; returns how
/// many events it handled.
fn run_to_the_end(world: &mut DventWorld, name: &str, limit: usize) -> u64 {
    let last = super::projection::last_position(&*world.store);
    let mut handled = 0;
    for _ in 0..=last {
        let progress = step(world, name, limit, None).expect("the step commits");
        if progress.handled == 0 {
            assert_eq!(progress.position, last, "up to date");
            return handled;
        }
        assert!(progress.handled <= limit.max(1));
        handled += progress.handled as u64;
    }
    panic!("the read model {name:?} did not come up to date in {last} steps");
}

fn model(world: &mut DventWorld, name: &str) -> (u64, Data) {
    models(world).model(name)
}

#[given(
    expr = "the read model {string}, kept in the store with its checkpoint, has handled the events up to position {int}"
)]
fn handled_up_to(world: &mut DventWorld, name: String, position: u64) {
    let n = usize::try_from(position).expect("small");
    let progress = step(world, &name, n, None).expect("the step commits");
    assert_eq!((progress.handled, progress.position), (n, position));
    let (at, model) = model(world, &name);
    assert_eq!(at, position);
    assert!(!model.is_empty(), "the step changed the model");
}

#[when(
    regex = r#"^the read model "([^"]*)" crashes (with an error|with a panic) on the (\d+)(?:st|nd|rd|th) event of its next page of (\d+), after handling the ones before it and before the commit$"#
)]
fn crashes(world: &mut DventWorld, name: String, how: String, nth: usize, limit: usize) {
    world.read_models.before_crash = Some(model(world, &name));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        step(world, &name, limit, Some((nth, how.as_str())))
    }));
    world.read_models.crash = Some(match outcome {
        Ok(Ok(progress)) => panic!("the step should have crashed, but committed {progress:?}"),
        Ok(Err(error)) => Ok(error),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "a panic".to_string())),
    });
}

#[then(
    regex = r#"^the step failed (with an error|with a panic) on the event at position (\d+), and the read model "([^"]*)" and its checkpoint are as they were before it, at position (\d+)$"#
)]
fn crash_changed_nothing(
    world: &mut DventWorld,
    how: String,
    position: u64,
    name: String,
    before: u64,
) {
    match (
        how.as_str(),
        world.read_models.crash.as_ref().expect("a step crashed"),
    ) {
        ("with an error", Ok(error)) => {
            assert!(
                matches!(error, ReadModelError::Handler { name: n, position: p, source: ModelError::Crashed(c) }
                    if *n == name && *p == position && *c == position),
                "{error:?}"
            );
        }
        ("with a panic", Err(message)) => {
            assert!(
                message.contains(&format!("on the event at {position}")),
                "{message}"
            );
        }
        (how, outcome) => panic!("expected a failure {how}, got {outcome:?}"),
    }
    let handled_before_crash = world
        .read_models
        .calls
        .iter()
        .filter(|(n, p)| *n == name && *p > before && *p < position)
        .count();
    assert!(
        handled_before_crash > 0,
        "the handler handled events before it crashed"
    );
    let now = model(world, &name);
    assert_eq!(Some(&now), world.read_models.before_crash.as_ref());
    assert_eq!(now.0, before);
    assert_eq!(world.store.checkpoint(&name).expect("read"), before);
}

#[when(
    expr = "the read model {string} runs again, as after a restart, {int} events a step until it is up to date"
)]
fn runs_again(world: &mut DventWorld, name: String, limit: usize) {
    let from = model(world, &name).0;
    let handled = run_to_the_end(world, &name, limit);
    let last = super::projection::last_position(&*world.store);
    assert_eq!(handled, last - from, "it goes on after its checkpoint");
}

#[then(expr = "the read model {string} is at position {int}, the last event's")]
fn model_at(world: &mut DventWorld, name: String, position: u64) {
    assert_eq!(model(world, &name).0, position);
    assert_eq!(super::projection::last_position(&*world.store), position);
}

#[then(
    expr = "the read model {string} equals a fresh rebuild: the read model {string} made from position 0 in one go"
)]
fn equals_rebuild(world: &mut DventWorld, name: String, fresh: String) {
    let last = super::projection::last_position(&*world.store);
    assert_eq!(model(world, &fresh), (0, Data::new()), "a fresh name");
    let progress =
        step(world, &fresh, usize::try_from(last).expect("small"), None).expect("the step commits");
    assert_eq!((progress.handled as u64, progress.position), (last, last));
    assert_eq!(model(world, &name), model(world, &fresh));
}

#[then(
    regex = r#"^every event was applied to the read model "([^"]*)" exactly once, though its handler was called twice with positions (\d+) to (\d+)$"#
)]
fn applied_once(world: &mut DventWorld, name: String, first: u64, last: u64) {
    let (position, model) = model(world, &name);
    let applied: Vec<(String, Value)> = model
        .iter()
        .filter(|(key, _)| key.starts_with("applied/"))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let expected: Vec<(String, Value)> = (1..=position)
        .map(|p| (applied_key(p), Value::from(1)))
        .collect();
    assert_eq!(applied, expected);

    let mut calls: HashMap<u64, usize> = HashMap::new();
    for (_, p) in world.read_models.calls.iter().filter(|(n, _)| *n == name) {
        *calls.entry(*p).or_default() += 1;
    }
    for p in 1..=position {
        let twice = (first..=last).contains(&p);
        assert_eq!(
            calls.get(&p),
            Some(&if twice { 2 } else { 1 }),
            "calls at {p}: {calls:?}"
        );
    }
}

#[then(
    expr = "apart from its count of events applied, the read model {string} is the board the projection folds"
)]
fn model_is_board(world: &mut DventWorld, name: String) {
    let (_, model) = model(world, &name);
    let board: Data = model
        .iter()
        .filter(|(key, _)| !key.starts_with("applied/"))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let all: Vec<_> = dvent::store::Pages::all(&*world.store, 0, 100)
        .collect::<Result<_, _>>()
        .expect("read all");
    assert_eq!(board, board::projection().fold(&all));
}

#[then(
    expr = "the read model {string} counts {int} Queued, {int} Started and {int} Finished todo(s)"
)]
fn model_counts(world: &mut DventWorld, name: String, queued: i64, started: i64, finished: i64) {
    let (_, model) = model(world, &name);
    let counts = ["Queued", "Started", "Finished"].map(|s| count_of(&model, s));
    assert_eq!(counts, [queued, started, finished], "{model:?}");
}
