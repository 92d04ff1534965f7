//! The Todo workload, as the anchor programs in `../shared/anchors/` run it,
//! so that Dvent can be measured side by side with other libraries.
//!
//! ```text
//! cargo run --release --example workload -- [--store memory|sqlite|postgres] [--payload typed|data] [--threads T] N_EVENTS N_STREAMS EVENTS_PER_STREAM
//! ```
//!
//! Prints one line per phase, `phase<TAB>count<TAB>seconds<TAB>rate_per_second`:
//!
//! - `fold`: one aggregate, N_EVENTS status-change events applied one at a
//!   time (each a new event with a fresh id and timestamp, made as the fold
//!   takes it), in memory;
//! - `save`: N_STREAMS aggregates of EVENTS_PER_STREAM events each, each
//!   saved through the repository (one batch per aggregate, with its
//!   expected version checked);
//!
//! Both apply their events with [`Aggregate::apply_all`], which folds them
//! in place, as the anchors apply to a value nobody else holds. (Calling the
//! borrowing [`Aggregate::apply`] in a loop, `todo = todo.apply(e)`, keeps
//! the previous aggregate alive while the new one is made, so each event
//! copies the shared last chunk of the event list, up to 64 events: about
//! ten times slower, and not what the anchors do.)
//! - `load`: every one of those aggregates rebuilt from the store by id, its
//!   version checked.
//!
//! `--payload typed` (the default) uses a serde enum payload and a struct
//! state, as the cqrs-es anchor does; `--payload data` uses the dynamic
//! `Data` map, as the Python anchors do. `--store sqlite` uses a fresh file in
//! a temporary folder (WAL, `synchronous=FULL`: every save durable when it
//! returns); `--store postgres` uses `DVENT_POSTGRES_URL`, in a fresh schema
//! dropped at the end (build with `--features postgres`). `--threads T`
//! splits the save and load phases over T threads (default 1).
//! `--group-stats` (SQLite) also prints, after the save phase, how the
//! saves were grouped by the group commit:
//! `groups<TAB>groups<TAB>saves<TAB>mean<TAB>largest<TAB>1:n 2-3:n 4-7:n ...`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use dvent::jiff::Timestamp;
use dvent::uuid::Uuid;
use dvent::{
    Aggregate, AggregateKind, Data, Event, EventStore, InMemoryEventStore, Name, Repository,
};
use serde::{Deserialize, Serialize};

const STATUSES: [&str; 3] = ["Queued", "Started", "Finished"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Status {
    Queued,
    Started,
    Finished,
}

const TYPED_STATUSES: [Status; 3] = [Status::Queued, Status::Started, Status::Finished];

/// The typed payload: the one event of this workload.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum TodoEvent {
    StatusChanged { status: Status },
}

/// The typed state: a status and when it last changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Todo {
    status: Option<Status>,
    changed_ts: Option<Timestamp>,
}

struct Args {
    store: String,
    payload: String,
    n_events: usize,
    n_streams: usize,
    per_stream: usize,
    threads: usize,
    group_stats: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut store = "memory".to_string();
    let mut payload = "typed".to_string();
    let mut threads = 1;
    let mut group_stats = false;
    let mut numbers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => store = args.next().ok_or("--store needs a value")?,
            "--group-stats" => group_stats = true,
            "--payload" => payload = args.next().ok_or("--payload needs a value")?,
            "--threads" => {
                let value = args.next().ok_or("--threads needs a value")?;
                threads = value
                    .parse::<usize>()
                    .ok()
                    .filter(|&t| t > 0)
                    .ok_or_else(|| {
                        format!("--threads should be a positive integer, found {value:?}")
                    })?;
            }
            _ => numbers.push(
                arg.parse::<usize>()
                    .map_err(|_| format!("expected a non-negative integer, found {arg:?}"))?,
            ),
        }
    }
    let number = |i: usize, default: usize| numbers.get(i).copied().unwrap_or(default);
    Ok(Args {
        store,
        payload,
        n_events: number(0, 1_000_000),
        n_streams: number(1, 10_000),
        per_stream: number(2, 10),
        threads,
        group_stats,
    })
}

fn report(phase: &str, count: usize, seconds: f64) {
    let rate = count as f64 / seconds;
    println!("{phase}\t{count}\t{seconds:.3}\t{rate:.0}");
}

/// What the workload needs of a payload type.
trait Payload: Clone + Send + Sync + 'static {
    type State: Clone + Send + Sync + 'static;
    fn kind() -> AggregateKind<Self::State, Self>;
    fn status_changed(event_type: &Name, i: usize) -> Event<Self>;
    fn last_status_is(state: &Self::State, i: usize) -> bool;
}

impl Payload for TodoEvent {
    type State = Todo;

    fn kind() -> AggregateKind<Todo, TodoEvent> {
        AggregateKind::with_initial_state("Todo", Todo::default()).on(
            "TodoStatusChanged",
            |_state: Todo, event: &Event<TodoEvent>| match event.data() {
                TodoEvent::StatusChanged { status } => Todo {
                    status: Some(*status),
                    changed_ts: Some(event.timestamp()),
                },
            },
        )
    }

    fn status_changed(event_type: &Name, i: usize) -> Event<TodoEvent> {
        let status = TYPED_STATUSES[i % 3];
        Event::typed(event_type.clone(), TodoEvent::StatusChanged { status })
    }

    fn last_status_is(state: &Todo, i: usize) -> bool {
        state.status == Some(TYPED_STATUSES[i % 3]) && state.changed_ts.is_some()
    }
}

impl Payload for Data {
    type State = Data;

    fn kind() -> AggregateKind {
        AggregateKind::new("Todo").on("TodoStatusChanged", |mut state: Data, event: &Event| {
            // The timestamp as Unix nanoseconds: a JSON number, as cheap to
            // set as the Python anchor's datetime object.
            let nanos = event.timestamp().as_nanosecond() as i64;
            set(&mut state, "status", event.data()["status"].clone());
            set(&mut state, "changed_ts", nanos.into());
            state
        })
    }

    fn status_changed(event_type: &Name, i: usize) -> Event {
        Event::new(event_type.clone()).with_entry("status", STATUSES[i % 3])
    }

    fn last_status_is(state: &Data, i: usize) -> bool {
        state.get_str("status") == Some(STATUSES[i % 3]) && state.contains_key("changed_ts")
    }
}

/// Sets `key` in a state nobody else shares: in place when the key is there
/// already (no key allocated), inserted otherwise.
fn set(state: &mut Data, key: &str, value: dvent::Value) {
    match state.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            state.insert(key.to_string(), value);
        }
    }
}

/// Prints figures a store keeps about itself (the SQLite group commit's).
type Figures = Option<Box<dyn Fn() -> String>>;

fn run<P: Payload>(
    args: &Args,
    store: Arc<dyn EventStore<P>>,
    figures: &Figures,
) -> Result<(), String> {
    let kind = P::kind();
    let event_type: Name = Name::from("TodoStatusChanged");

    // 1. fold: one aggregate, n_events applied one at a time.
    let t = Instant::now();
    let todo = Aggregate::new(&kind)
        .apply_all((0..args.n_events).map(|i| P::status_changed(&event_type, i)));
    let seconds = t.elapsed().as_secs_f64();
    let todo = std::hint::black_box(todo);
    if todo.uncommitted_version() != args.n_events as u64
        || (args.n_events > 0 && !P::last_status_is(todo.state(), args.n_events - 1))
    {
        return Err("the fold gave the wrong version or state".into());
    }
    drop(todo);
    report("fold", args.n_events, seconds);

    // 2. save: n_streams aggregates of per_stream events, one save each,
    //    split over the threads.
    let repository = Repository::from_shared(store);
    let shares = split(args.n_streams, args.threads);
    let t = Instant::now();
    let saved: Result<Vec<Vec<Uuid>>, String> = std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .iter()
            .map(|&share| {
                let (repository, kind, event_type) = (&repository, &kind, &event_type);
                scope.spawn(move || {
                    let mut ids = Vec::with_capacity(share);
                    for _ in 0..share {
                        let todo = Aggregate::new(kind).apply_all(
                            (0..args.per_stream).map(|i| P::status_changed(event_type, i)),
                        );
                        let saved = repository.save(&todo).map_err(|e| e.to_string())?;
                        ids.push(saved.id());
                    }
                    Ok(ids)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"))
            .collect()
    });
    let saved = saved?;
    let total = args.n_streams * args.per_stream;
    report("save", total, t.elapsed().as_secs_f64());
    if let Some(figures) = figures {
        println!("{}", figures());
    }

    // 3. load: rebuild every aggregate by id and check its version.
    let t = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = saved
            .iter()
            .map(|ids| {
                let (repository, kind) = (&repository, &kind);
                scope.spawn(move || -> Result<(), String> {
                    for id in ids {
                        let todo = repository
                            .load(kind, *id)
                            .map_err(|e| e.to_string())?
                            .ok_or_else(|| format!("aggregate {id} was not found"))?;
                        if todo.version() != args.per_stream as u64 {
                            return Err(format!("aggregate {id} is at version {}", todo.version()));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a worker panicked"))
    })?;
    report("load", total, t.elapsed().as_secs_f64());
    Ok(())
}

/// `n` split into `parts` shares as even as can be.
fn split(n: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| n / parts + usize::from(i < n % parts))
        .collect()
}

/// Where a store's files live; removed when dropped.
struct Scratch(Option<std::path::PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A store, where its files are, and its figures.
type Opened<P> = (Arc<dyn EventStore<P>>, Scratch, Figures);

/// The SQLite group commit's figures, as one line.
#[cfg(feature = "sqlite")]
fn group_figures(stats: &dvent::store::sqlite::GroupCommitStats) -> String {
    let mean = stats.saves as f64 / stats.groups.max(1) as f64;
    let sizes: Vec<String> = stats
        .sizes
        .iter()
        .enumerate()
        .map(|(k, n)| match k {
            0 => format!("1:{n}"),
            7 => format!("128+:{n}"),
            _ => format!("{}-{}:{n}", 1u64 << k, (1u64 << (k + 1)) - 1),
        })
        .collect();
    format!(
        "groups\t{}\t{}\t{mean:.2}\t{}\t{}",
        stats.groups,
        stats.saves,
        stats.largest,
        sizes.join(" ")
    )
}

fn open<P: Payload + Serialize + serde::de::DeserializeOwned>(
    args: &Args,
) -> Result<Opened<P>, String> {
    match args.store.as_str() {
        "memory" => Ok((
            Arc::new(InMemoryEventStore::<P>::default()),
            Scratch(None),
            None,
        )),
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let dir = std::env::temp_dir().join(format!("dvent-workload-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let store = dvent::SqliteEventStore::<P>::open(dir.join("events.sqlite"))
                .map_err(|e| e.to_string())?;
            let figures: Figures = if args.group_stats {
                let store = store.clone();
                Some(Box::new(move || group_figures(&store.group_commit_stats())))
            } else {
                None
            };
            Ok((Arc::new(store), Scratch(Some(dir)), figures))
        }
        #[cfg(feature = "postgres")]
        "postgres" => {
            let url = std::env::var("DVENT_POSTGRES_URL")
                .map_err(|_| "--store postgres needs DVENT_POSTGRES_URL".to_string())?;
            let schema = format!("dvent_workload_{}", std::process::id());
            let options = dvent::store::postgres::PostgresOptions::new()
                .with_schema(schema)
                .with_max_connections(args.threads as u32 + 1);
            let store = dvent::PostgresEventStore::<P>::connect_with(&url, options)
                .map_err(|e| e.to_string())?;
            Ok((Arc::new(DropSchema(store)), Scratch(None), None))
        }
        other => Err(format!(
            "--store should be memory, sqlite or postgres (with its cargo feature), found {other:?}"
        )),
    }
}

/// A PostgreSQL store whose schema is dropped when the workload ends.
#[cfg(feature = "postgres")]
struct DropSchema<P>(dvent::PostgresEventStore<P>);

#[cfg(feature = "postgres")]
impl<P> Drop for DropSchema<P> {
    fn drop(&mut self) {
        if let Err(e) = self.0.drop_schema() {
            eprintln!("workload: could not drop the schema: {e}");
        }
    }
}

#[cfg(feature = "postgres")]
impl<P> EventStore<P> for DropSchema<P>
where
    P: Serialize + serde::de::DeserializeOwned + Clone + Send + Sync,
{
    fn append(
        &self,
        stream_id: &str,
        events: &dvent::Vector<Event<P>>,
        expected: dvent::ExpectedVersion,
    ) -> Result<Vec<Event<P>>, dvent::StoreError> {
        self.0.append(stream_id, events, expected)
    }

    fn events(
        &self,
        stream_id: Option<&str>,
        start: u64,
    ) -> Result<Vec<Event<P>>, dvent::StoreError> {
        self.0.events(stream_id, start)
    }

    fn read_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<dvent::store::Recorded<P>>, dvent::StoreError> {
        self.0.read_all(after, limit)
    }

    fn read_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<dvent::store::Recorded<P>>, dvent::StoreError> {
        self.0.read_stream(stream_id, after, limit)
    }

    fn last_event(&self, stream_id: &str) -> Result<Option<Event<P>>, dvent::StoreError> {
        self.0.last_event(stream_id)
    }

    fn streams(&self, start: u64) -> Result<Vec<dvent::StreamInfo>, dvent::StoreError> {
        self.0.streams(start)
    }

    fn wait_for_commit(
        &self,
        after: u64,
        timeout: std::time::Duration,
    ) -> Result<u64, dvent::StoreError> {
        self.0.wait_for_commit(after, timeout)
    }

    fn checkpoint(&self, name: &str) -> Result<u64, dvent::StoreError> {
        self.0.checkpoint(name)
    }

    fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), dvent::StoreError> {
        self.0.save_checkpoint(name, position)
    }
}

fn main() -> ExitCode {
    let outcome = parse_args().and_then(|args| match args.payload.as_str() {
        "typed" => open::<TodoEvent>(&args)
            .and_then(|(store, _scratch, figures)| run(&args, store, &figures)),
        "data" => {
            open::<Data>(&args).and_then(|(store, _scratch, figures)| run(&args, store, &figures))
        }
        other => Err(format!(
            "--payload should be typed or data, found {other:?}"
        )),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("workload: {message}");
            ExitCode::FAILURE
        }
    }
}
