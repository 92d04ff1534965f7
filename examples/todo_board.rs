//! A Todo board, three ways, from the events of the typed Todo domain
//! (`todo/domain.rs`): `cargo run --example todo_board`, and with
//! PostgreSQL too: `DVENT_POSTGRES_URL=postgresql://... cargo run --example
//! todo_board --features postgres`.
//!
//! Every change goes through `Repository::execute`, to an SQLite file (and
//! the same commands to a fresh PostgreSQL schema, dropped at the end). The
//! board, each todo's status and description (removed todos left out), is
//! then read:
//!
//! 1. in memory: a `Projection`, caught up with the store, then following
//!    it live while more commands run;
//! 2. as a table in the SQLite file, kept by `run_read_model`: the table
//!    and the read model's checkpoint are committed together, so every
//!    event is in the table exactly once;
//! 3. the same table in the PostgreSQL schema.
//!
//! At the end the three must agree with each other and with a board rebuilt
//! from scratch: the example fails otherwise.

#[path = "todo/domain.rs"]
mod domain;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use domain::{Status, TodoCommand, TodoEvent, decide_all, todo_kind, upcasters};
use dvent::imbl::OrdMap;
use dvent::uuid::Uuid;
use dvent::{EventStore, Projection, Recorded, Repository, SqliteEventStore, StopHandle};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The name of the read model (its checkpoint in each store).
const READ_MODEL: &str = "todo-board";

/// How long the live readers may take to catch up before the example fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// A todo on the board.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Card {
    status: Status,
    description: String,
}

/// The board: the cards by todo id (the stream id). An `OrdMap` is
/// persistent: the runner's `state()` clones it in O(1).
type Board = OrdMap<String, Card>;

/// The board after one more event: the projection's pure function.
fn on_board(mut board: Board, recorded: &Recorded<TodoEvent>) -> Board {
    let id = recorded.event.stream_id();
    match recorded.event.data() {
        TodoEvent::Added {
            description,
            status,
            ..
        } => {
            let card = Card {
                status: *status,
                description: description.clone(),
            };
            board.insert(id.to_string(), card);
        }
        TodoEvent::Renamed { description } => {
            if let Some(card) = board.get_mut(id) {
                card.description = description.clone();
            }
        }
        TodoEvent::StatusChanged { status } => {
            if let Some(card) = board.get_mut(id) {
                card.status = *status;
            }
        }
        TodoEvent::Removed => {
            board.remove(id);
        }
    }
    board
}

/// A board as rows `id -> (status, description)`, to compare with a table.
type Rows = BTreeMap<String, (String, String)>;

fn rows_of(board: &Board) -> Rows {
    board
        .iter()
        .map(|(id, card)| {
            let row = (card.status.to_string(), card.description.clone());
            (id.clone(), row)
        })
        .collect()
}

/// How many todos have each status.
fn counts_of(rows: &Rows) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for (status, _) in rows.values() {
        *counts.entry(status.clone()).or_insert(0) += 1;
    }
    counts
}

/// "Finished 1, Queued 2, Started 2".
fn show_counts(counts: &BTreeMap<String, i64>) -> String {
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    counts.join(", ")
}

/// The todos not finished, with their descriptions, by description.
fn show_open(rows: &Rows) -> String {
    let mut open: Vec<String> = rows
        .values()
        .filter(|(status, _)| status != Status::Finished.as_str())
        .map(|(status, description)| format!("{description:?} {status}"))
        .collect();
    open.sort();
    open.join(", ")
}

/// A store whose own database keeps the board as a table, `todo_board`,
/// exactly once (its read model's checkpoint committed with it).
trait TableBoard: Send + Sync {
    fn label(&self) -> &'static str;
    fn store(&self) -> Arc<dyn EventStore<TodoEvent>>;
    /// Keeps the table up to date until `stop` (`run_read_model`).
    fn run(&self, stop: &StopHandle) -> Result<u64, Failure>;
    /// `SELECT id, status, description FROM todo_board`.
    fn rows(&self) -> Result<Rows, Failure>;
    /// `SELECT status, COUNT(*) FROM todo_board GROUP BY status`.
    fn counts(&self) -> Result<BTreeMap<String, i64>, Failure>;
}

struct SqliteBoard(SqliteEventStore<TodoEvent>);

impl SqliteBoard {
    fn open(path: &std::path::Path) -> Result<Self, Failure> {
        let store = SqliteEventStore::open(path)?.with_upcasters(upcasters());
        store.with_connection(|c| {
            c.execute_batch(
                "CREATE TABLE todo_board (id TEXT PRIMARY KEY, status TEXT NOT NULL, description TEXT NOT NULL)",
            )
        })?;
        Ok(SqliteBoard(store))
    }
}

impl TableBoard for SqliteBoard {
    fn label(&self) -> &'static str {
        "SQLite"
    }

    fn store(&self) -> Arc<dyn EventStore<TodoEvent>> {
        Arc::new(self.0.clone())
    }

    fn run(&self, stop: &StopHandle) -> Result<u64, Failure> {
        // The handler writes through the read model's transaction.
        let handled = self.0.run_read_model(READ_MODEL, stop, |tx, recorded| {
            let id = recorded.event.stream_id();
            match recorded.event.data() {
                TodoEvent::Added {
                    description,
                    status,
                    ..
                } => tx.execute(
                    "INSERT INTO todo_board (id, status, description) VALUES (?1, ?2, ?3)",
                    (id, status.as_str(), description),
                ),
                TodoEvent::Renamed { description } => tx.execute(
                    "UPDATE todo_board SET description = ?2 WHERE id = ?1",
                    (id, description),
                ),
                TodoEvent::StatusChanged { status } => tx.execute(
                    "UPDATE todo_board SET status = ?2 WHERE id = ?1",
                    (id, status.as_str()),
                ),
                TodoEvent::Removed => tx.execute("DELETE FROM todo_board WHERE id = ?1", [id]),
            }
            .map(|_| ())
        })?;
        Ok(handled)
    }

    fn rows(&self) -> Result<Rows, Failure> {
        let rows = self.0.with_connection(|c| {
            c.prepare("SELECT id, status, description FROM todo_board")?
                .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
                .collect::<rusqlite::Result<Rows>>()
        })?;
        Ok(rows)
    }

    fn counts(&self) -> Result<BTreeMap<String, i64>, Failure> {
        let counts = self.0.with_connection(|c| {
            c.prepare("SELECT status, COUNT(*) FROM todo_board GROUP BY status")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()
        })?;
        Ok(counts)
    }
}

#[cfg(feature = "postgres")]
mod postgres_board {
    use super::*;
    use dvent::PostgresEventStore;
    use dvent::store::postgres::PostgresOptions;
    use postgres::{Client, NoTls};

    /// The board in a fresh schema of its own, dropped when it is dropped.
    pub struct PostgresBoard {
        store: PostgresEventStore<TodoEvent>,
        url: String,
        schema: String,
    }

    impl PostgresBoard {
        /// `None` when `DVENT_POSTGRES_URL` is not set.
        pub fn open() -> Result<Option<Self>, Failure> {
            let Ok(url) = std::env::var("DVENT_POSTGRES_URL") else {
                println!("(DVENT_POSTGRES_URL is not set: SQLite only)");
                return Ok(None);
            };
            let schema = format!("dvent_todo_board_{}", std::process::id());
            let options = PostgresOptions::new().with_schema(schema.clone());
            let store =
                PostgresEventStore::connect_with(&url, options)?.with_upcasters(upcasters());
            let board = PostgresBoard { store, url, schema };
            board.client()?.batch_execute(&format!(
                "CREATE TABLE {}.todo_board (id TEXT PRIMARY KEY, status TEXT NOT NULL, description TEXT NOT NULL)",
                board.schema
            ))?;
            Ok(Some(board))
        }

        fn client(&self) -> Result<Client, postgres::Error> {
            Client::connect(&self.url, NoTls)
        }
    }

    impl TableBoard for PostgresBoard {
        fn label(&self) -> &'static str {
            "PostgreSQL"
        }

        fn store(&self) -> Arc<dyn EventStore<TodoEvent>> {
            Arc::new(self.store.clone())
        }

        fn run(&self, stop: &StopHandle) -> Result<u64, Failure> {
            let table = format!("{}.todo_board", self.schema);
            let handled = self
                .store
                .run_read_model(READ_MODEL, stop, |tx, recorded| {
                    let id = recorded.event.stream_id();
                    match recorded.event.data() {
                        TodoEvent::Added {
                            description,
                            status,
                            ..
                        } => tx.execute(
                            &format!(
                                "INSERT INTO {table} (id, status, description) VALUES ($1, $2, $3)"
                            ),
                            &[&id, &status.as_str(), description],
                        ),
                        TodoEvent::Renamed { description } => tx.execute(
                            &format!("UPDATE {table} SET description = $2 WHERE id = $1"),
                            &[&id, description],
                        ),
                        TodoEvent::StatusChanged { status } => tx.execute(
                            &format!("UPDATE {table} SET status = $2 WHERE id = $1"),
                            &[&id, &status.as_str()],
                        ),
                        TodoEvent::Removed => {
                            tx.execute(&format!("DELETE FROM {table} WHERE id = $1"), &[&id])
                        }
                    }
                    .map(|_| ())
                })?;
            Ok(handled)
        }

        fn rows(&self) -> Result<Rows, Failure> {
            let sql = format!(
                "SELECT id, status, description FROM {}.todo_board",
                self.schema
            );
            let rows = self.client()?.query(&sql, &[])?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2))))
                .collect())
        }

        fn counts(&self) -> Result<BTreeMap<String, i64>, Failure> {
            let sql = format!(
                "SELECT status, COUNT(*) FROM {}.todo_board GROUP BY status",
                self.schema
            );
            let rows = self.client()?.query(&sql, &[])?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        }
    }

    impl Drop for PostgresBoard {
        fn drop(&mut self) {
            // Our table first: drop_schema keeps a schema with other objects.
            let sql = format!("DROP TABLE IF EXISTS {}.todo_board", self.schema);
            let dropped = self
                .client()
                .and_then(|mut c| c.batch_execute(&sql))
                .map_err(Failure::from)
                .and_then(|()| self.store.drop_schema().map_err(Failure::from));
            if let Err(e) = dropped {
                eprintln!("todo_board: could not drop schema {}: {e}", self.schema);
            }
        }
    }
}

/// The same command, through `Repository::execute`, on every store (they
/// stay event for event alike).
fn execute(
    repositories: &[Repository<TodoEvent>],
    id: Uuid,
    commands: &[TodoCommand],
) -> Result<(), Failure> {
    let kind = todo_kind();
    for repository in repositories {
        repository.execute(&kind, id, |todo| decide_all(todo, commands))?;
    }
    Ok(())
}

fn status(status: Status) -> TodoCommand {
    TodoCommand::ChangeStatus { status }
}

fn rename(description: &str) -> TodoCommand {
    TodoCommand::Rename {
        description: description.to_string(),
    }
}

/// Waits until the read model's checkpoint in `store` reaches `position`.
fn wait_checkpoint(store: &dyn EventStore<TodoEvent>, position: u64) -> Result<(), Failure> {
    let deadline = Instant::now() + PATIENCE;
    while store.checkpoint(READ_MODEL)? < position {
        if Instant::now() > deadline {
            return Err(format!("the read model should reach position {position} in time").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn main() -> Result<(), Failure> {
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteBoard::open(&dir.path().join("todos.sqlite"))?;
    let events = sqlite.0.clone();
    #[cfg_attr(not(feature = "postgres"), allow(unused_mut))]
    let mut tables: Vec<Arc<dyn TableBoard>> = vec![Arc::new(sqlite)];
    #[cfg(feature = "postgres")]
    if let Some(postgres) = postgres_board::PostgresBoard::open()? {
        tables.push(Arc::new(postgres));
    }
    let repositories: Vec<_> = tables
        .iter()
        .map(|t| Repository::from_shared(t.store()))
        .collect();

    println!(
        "1. Six todos through Repository::execute; three started, one finished, one renamed, one removed"
    );
    let ids: Vec<Uuid> = (0..8).map(|_| Uuid::new_v4()).collect();
    let add = |n: usize| TodoCommand::Add {
        description: format!("Todo number {n}"),
        status: Status::Queued,
        due: None,
    };
    for (n, id) in ids[..6].iter().enumerate() {
        execute(&repositories, *id, &[add(n + 1)])?;
    }
    for id in &ids[3..6] {
        execute(&repositories, *id, &[status(Status::Started)])?;
    }
    execute(&repositories, ids[5], &[status(Status::Finished)])?;
    execute(&repositories, ids[1], &[rename("Todo number 2, renamed")])?;
    execute(&repositories, ids[0], &[TodoCommand::Remove])?;

    println!("2. The in-memory board, caught up with the SQLite store");
    let board = Projection::new("todo-board", Board::new(), on_board);
    let runner = board.runner();
    let applied = runner.catch_up(&events)?;
    let caught_up = rows_of(&runner.state());
    println!(
        "   {applied} events: {}",
        show_counts(&counts_of(&caught_up))
    );
    println!("   open: {}", show_open(&caught_up));

    println!("3. Following live (the board, and the tables' read models) while more commands run");
    let follower = runner.follow(events.clone())?;
    let stop = StopHandle::new();
    let read_models: Vec<JoinHandle<Result<u64, Failure>>> = tables
        .iter()
        .map(|table| {
            let (table, stop) = (Arc::clone(table), stop.clone());
            std::thread::spawn(move || table.run(&stop))
        })
        .collect();
    let live = [
        ("add 7", vec![(ids[6], vec![add(7)])]),
        // Two commands, one decision: saved together.
        (
            "add 8, start it",
            vec![(ids[7], vec![add(8), status(Status::Started)])],
        ),
        ("start 2", vec![(ids[1], vec![status(Status::Started)])]),
        (
            "finish 4 and 5",
            vec![
                (ids[3], vec![status(Status::Finished)]),
                (ids[4], vec![status(Status::Finished)]),
            ],
        ),
        (
            "rename 7",
            vec![(ids[6], vec![rename("Todo number 7, renamed")])],
        ),
        ("remove 3", vec![(ids[2], vec![TodoCommand::Remove])]),
    ];
    for (what, steps) in &live {
        for (id, commands) in steps {
            execute(&repositories, *id, commands)?;
        }
        // The last position stored (a wait that does not wait).
        let head = events.wait_for_commit(0, Duration::ZERO)?;
        assert!(runner.wait_for(head, PATIENCE), "the board should follow");
        let counts = counts_of(&rows_of(&runner.state()));
        println!("   {what:<16} position {head:>2}: {}", show_counts(&counts));
    }
    let head = events.wait_for_commit(0, Duration::ZERO)?;
    for table in &tables {
        wait_checkpoint(&*table.store(), head)?;
    }
    stop.stop();
    for read_model in read_models {
        read_model.join().expect("a read model thread panicked")?;
    }
    follower.stop()?;
    let live_board = rows_of(&runner.state());

    println!("4. The tables, queried with SQL");
    for table in &tables {
        let (rows, counts) = (table.rows()?, table.counts()?);
        println!("   {:<10} {}", table.label(), show_counts(&counts));
        println!("   {:<10} open: {}", "", show_open(&rows));
        assert_eq!(
            rows,
            live_board,
            "the {} table and the board",
            table.label()
        );
        assert_eq!(counts, counts_of(&live_board), "{} counts", table.label());
    }

    println!("5. Rebuilt from scratch, from each store: the same board");
    for table in &tables {
        let rebuilt = board.runner();
        rebuilt.rebuild(&*table.store())?;
        let rebuilt = rows_of(&rebuilt.state());
        assert_eq!(rebuilt, live_board, "{} rebuilt", table.label());
    }
    assert_eq!(
        show_open(&live_board),
        r#""Todo number 2, renamed" Started, "Todo number 7, renamed" Queued, "Todo number 8" Started"#
    );
    println!("   the board, the tables and the rebuilds agree");
    Ok(())
}
