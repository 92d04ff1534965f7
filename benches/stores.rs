//! Saving and loading aggregates through a repository, per store.
//!
//! `cargo bench --bench stores`

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dvent::{Aggregate, AggregateKind, Event, EventStore, InMemoryEventStore, Repository};

fn todo_kind() -> AggregateKind {
    AggregateKind::new("Todo").on("TodoStatusChanged", |mut state, event: &Event| {
        state.insert("status", event.data()["status"].clone());
        state
    })
}

fn new_todo(kind: &AggregateKind, events: usize) -> Aggregate {
    (0..events).fold(Aggregate::new(kind), |a, i| {
        a.apply(Event::new("TodoStatusChanged").with_entry("status", ["Queued", "Started"][i % 2]))
    })
}

/// The stores this build can measure, each fresh.
fn stores() -> Vec<(&'static str, Arc<dyn EventStore>)> {
    vec![("memory", Arc::new(InMemoryEventStore::new()))]
}

fn save_and_load(c: &mut Criterion) {
    let kind = todo_kind();
    for (name, store) in stores() {
        let repository = Repository::from_shared(store);
        c.bench_function(&format!("{name}: save an aggregate of 10 events"), |b| {
            b.iter_batched(
                || new_todo(&kind, 10),
                |todo| repository.save(&todo).expect("saved"),
                BatchSize::SmallInput,
            )
        });
        let saved = repository.save(&new_todo(&kind, 10)).expect("saved");
        c.bench_function(&format!("{name}: load an aggregate of 10 events"), |b| {
            b.iter(|| {
                repository
                    .load(&kind, saved.id())
                    .expect("read")
                    .expect("found")
            })
        });
    }
}

criterion_group!(benches, save_and_load);
criterion_main!(benches);
