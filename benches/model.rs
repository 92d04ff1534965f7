//! The pure core: applying and folding events, encoding and decoding them.
//!
//! `cargo bench --bench model`

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use dvent::{Aggregate, AggregateKind, Event, Name};

fn todo_kind() -> AggregateKind {
    AggregateKind::new("Todo").on("TodoStatusChanged", |mut state, event: &Event| {
        state.insert("status", event.data()["status"].clone());
        state
    })
}

fn status_changed(event_type: &Name, i: usize) -> Event {
    const STATUSES: [&str; 3] = ["Queued", "Started", "Finished"];
    Event::new(event_type.clone()).with_entry("status", STATUSES[i % 3])
}

/// Applying one event to an aggregate that already has n (uncommitted)
/// events: the cost must not grow with n.
fn apply_one(c: &mut Criterion) {
    let kind = todo_kind();
    let event_type = Name::from("TodoStatusChanged");
    let mut group = c.benchmark_group("apply one event");
    for n in [1_000usize, 100_000, 1_000_000] {
        let aggregate = (0..n).fold(Aggregate::new(&kind), |a, i| {
            a.apply(status_changed(&event_type, i))
        });
        let event = status_changed(&event_type, n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || (aggregate.clone(), event.clone()),
                |(aggregate, event)| aggregate.apply(event),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Folding 10,000 events into a new aggregate.
fn fold(c: &mut Criterion) {
    let kind = todo_kind();
    let event_type = Name::from("TodoStatusChanged");
    let events: Vec<Event> = (0..10_000)
        .map(|i| status_changed(&event_type, i))
        .collect();
    c.bench_function("fold 10k events", |b| {
        b.iter_batched(
            || events.clone(),
            |events| Aggregate::new(&kind).apply_all(events),
            BatchSize::LargeInput,
        )
    });
}

/// 10,000 events applied one `apply` at a time (each borrows the aggregate
/// and returns a new one, so each first shares, then copies what it
/// changes), beside the same events folded by `apply_all` (shares once,
/// then changes in place): the price of a borrowing `apply`.
fn apply_one_by_one(c: &mut Criterion) {
    let kind = todo_kind();
    let event_type = Name::from("TodoStatusChanged");
    let events: Vec<Event> = (0..10_000)
        .map(|i| status_changed(&event_type, i))
        .collect();
    c.bench_function("apply 10k events one by one", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                events
                    .into_iter()
                    .fold(Aggregate::new(&kind), |aggregate, event| {
                        aggregate.apply(event)
                    })
            },
            BatchSize::LargeInput,
        )
    });
}

/// Encoding an event to JSON and decoding it back.
fn codec(c: &mut Criterion) {
    let event = Event::new("TodoAdded")
        .with_entry("description", "Buy milk")
        .with_entry("status", "Queued")
        .with_stream_id("67e55044-10b1-426f-9247-bb680e5fe0c8")
        .with_version(1);
    let json = serde_json::to_string(&event).expect("encodes");
    c.bench_function("encode an event (JSON)", |b| {
        b.iter(|| serde_json::to_string(black_box(&event)).expect("encodes"))
    });
    c.bench_function("decode an event (JSON)", |b| {
        b.iter(|| serde_json::from_str::<Event>(black_box(&json)).expect("decodes"))
    });
}

criterion_group!(benches, apply_one, fold, apply_one_by_one, codec);
criterion_main!(benches);
