//! The Todo workload, as the anchor programs in `../shared/anchors/` run it,
//! so that Dvent can be measured side by side with other libraries.
//!
//! ```text
//! cargo run --release --example workload -- [--store memory|sqlite|postgres] [--payload typed|data] N_EVENTS N_STREAMS EVENTS_PER_STREAM
//! ```
//!
//! Prints one line per phase, `phase<TAB>count<TAB>seconds<TAB>rate_per_second`:
//!
//! - `fold`: one aggregate, N_EVENTS status-change events applied one at a
//!   time (each a new event with a fresh id and timestamp), in memory;
//! - `save`: N_STREAMS aggregates of EVENTS_PER_STREAM events each, each
//!   saved through the repository (one batch per aggregate, with its
//!   expected version checked);
//! - `load`: every one of those aggregates rebuilt from the store by id, its
//!   version checked.
//!
//! `--payload typed` (the default) uses a serde enum payload and a struct
//! state, as the cqrs-es anchor does; `--payload data` uses the dynamic
//! `Data` map, as the Python anchors do. `--store sqlite` uses a fresh file in
//! a temporary folder; `--store postgres` uses `DVENT_POSTGRES_URL`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use dvent::jiff::Timestamp;
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
}

fn parse_args() -> Result<Args, String> {
    let mut store = "memory".to_string();
    let mut payload = "typed".to_string();
    let mut numbers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => store = args.next().ok_or("--store needs a value")?,
            "--payload" => payload = args.next().ok_or("--payload needs a value")?,
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
        state.get("status").and_then(|s| s.as_str()) == Some(STATUSES[i % 3])
            && state.contains_key("changed_ts")
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

fn run<P: Payload>(args: &Args, store: Arc<dyn EventStore<P>>) -> Result<(), String> {
    let kind = P::kind();
    let event_type: Name = Name::from("TodoStatusChanged");

    // 1. fold: one aggregate, n_events applied one at a time.
    let t = Instant::now();
    let mut todo = Aggregate::new(&kind);
    for i in 0..args.n_events {
        todo = todo.apply(P::status_changed(&event_type, i));
    }
    let seconds = t.elapsed().as_secs_f64();
    let todo = std::hint::black_box(todo);
    if todo.uncommitted_version() != args.n_events as u64
        || (args.n_events > 0 && !P::last_status_is(todo.state(), args.n_events - 1))
    {
        return Err("the fold gave the wrong version or state".into());
    }
    drop(todo);
    report("fold", args.n_events, seconds);

    // 2. save: n_streams aggregates of per_stream events, one save each.
    let repository = Repository::from_shared(store);
    let mut ids = Vec::with_capacity(args.n_streams);
    let t = Instant::now();
    for _ in 0..args.n_streams {
        let mut todo = Aggregate::new(&kind);
        for i in 0..args.per_stream {
            todo = todo.apply(P::status_changed(&event_type, i));
        }
        let saved = repository
            .save_aggregate(&todo)
            .map_err(|e| e.to_string())?;
        ids.push(saved.id());
    }
    let total = args.n_streams * args.per_stream;
    report("save", total, t.elapsed().as_secs_f64());

    // 3. load: rebuild every aggregate by id and check its version.
    let t = Instant::now();
    for id in &ids {
        let todo = repository
            .get_aggregate(&kind, *id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("aggregate {id} was not found"))?;
        if todo.version() != args.per_stream as u64 {
            return Err(format!("aggregate {id} is at version {}", todo.version()));
        }
    }
    report("load", total, t.elapsed().as_secs_f64());
    Ok(())
}

fn open<P: Payload + Serialize + serde::de::DeserializeOwned>(
    args: &Args,
) -> Result<Arc<dyn EventStore<P>>, String> {
    match args.store.as_str() {
        "memory" => Ok(Arc::new(InMemoryEventStore::<P>::default())),
        other => Err(format!(
            "--store should be memory, sqlite or postgres (with its cargo feature), found {other:?}"
        )),
    }
}

fn main() -> ExitCode {
    let outcome = parse_args().and_then(|args| match args.payload.as_str() {
        "typed" => open::<TodoEvent>(&args).and_then(|store| run(&args, store)),
        "data" => open::<Data>(&args).and_then(|store| run(&args, store)),
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
