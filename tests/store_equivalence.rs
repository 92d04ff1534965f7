//! Every durable store behaves exactly as the in-memory store: the same
//! random series of saves (good ones, conflicts, wrong event versions,
//! duplicate ids, empty batches, empty stream ids) gives the same results
//! and errors, and then every read gives the same events and streams.

#[path = "support/stores.rs"]
mod stores;

use dvent::jiff::Timestamp;
use dvent::{Event, EventStore, ExpectedVersion, InMemoryEventStore};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stores::StoreKind;

#[derive(Clone, Debug)]
struct Save {
    stream: usize,
    expected: ExpectedVersion,
    /// Per event: an earlier event to reuse the id of, and the version given.
    events: Vec<(Option<usize>, u64)>,
}

const STREAMS: [&str; 4] = ["a", "b", "c", ""];

fn save() -> impl Strategy<Value = Save> {
    let expected = prop_oneof![
        3 => Just(ExpectedVersion::Any),
        1 => Just(ExpectedVersion::NoStream),
        1 => Just(ExpectedVersion::StreamExists),
        3 => (0u64..6).prop_map(ExpectedVersion::Exact),
    ];
    let event = (
        prop::option::weighted(0.08, 0usize..64),
        prop_oneof![6 => Just(0u64), 1 => 1u64..6],
    );
    (
        prop_oneof![10 => 0usize..3, 1 => Just(3)],
        expected,
        prop::collection::vec(event, 0..4),
    )
        .prop_map(|(stream, expected, events)| Save {
            stream,
            expected,
            events,
        })
}

/// A float from all over the range, as payloads may carry.
fn any_float(seed: u32) -> f64 {
    let x = f64::from_bits(u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    if x.is_finite() { x } else { 0.1 }
}

fn outcome(result: Result<Vec<Event>, dvent::StoreError>) -> Result<Vec<Event>, String> {
    result.map_err(|e| e.to_string())
}

/// Runs `saves` on a memory store and on `other`, comparing every result.
fn same_as_memory(kind: StoreKind, saves: &[Save]) -> Result<(), TestCaseError> {
    let memory = InMemoryEventStore::new();
    let other = stores::open_store(kind);
    let mut made: Vec<Event> = Vec::new();
    let mut tick = 0u32;
    for save in saves {
        let events: Vec<Event> = save
            .events
            .iter()
            .map(|&(reuse, version)| {
                tick += 1;
                let mut event = Event::new(format!("T{}", tick % 3))
                    .with_entry("tick", tick)
                    .with_entry("text", "é\u{0}\"x")
                    .with_entry("float", any_float(tick))
                    .with_timestamp(
                        Timestamp::new(1_700_000_000 + i64::from(tick), (tick * 7919) as i32)
                            .unwrap(),
                    )
                    .with_version(version);
                if let Some(earlier) = reuse.and_then(|i| made.get(i % made.len().max(1))) {
                    event = event.with_id(earlier.id());
                }
                made.push(event.clone());
                event
            })
            .collect();
        let stream = STREAMS[save.stream];
        let want = outcome(memory.save_events(stream, &events, save.expected));
        let got = outcome(other.save_events(stream, &events, save.expected));
        prop_assert_eq!(
            got,
            want,
            "saving {:?} to {:?} expecting {:?}",
            events,
            stream,
            save.expected
        );
    }
    let total = memory.len() as u64;
    for start in 0..=total + 1 {
        prop_assert_eq!(
            other.get_events(None, start).unwrap(),
            memory.get_events(None, start).unwrap()
        );
        prop_assert_eq!(
            other.get_streams(start).unwrap(),
            memory.get_streams(start).unwrap()
        );
        for stream in STREAMS {
            prop_assert_eq!(
                other.get_events(Some(stream), start).unwrap(),
                memory.get_events(Some(stream), start).unwrap()
            );
        }
    }
    for stream in STREAMS {
        prop_assert_eq!(
            other.get_last_event(stream).unwrap(),
            memory.get_last_event(stream).unwrap()
        );
    }
    Ok(())
}

#[test]
fn every_store_behaves_as_the_memory_store() {
    let kinds = stores::store_kinds().unwrap_or_else(|message| panic!("{message}"));
    for kind in kinds.into_iter().filter(|&k| k != StoreKind::Memory) {
        let cases = if kind.name() == "postgres" { 40 } else { 150 };
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let started = std::time::Instant::now();
        runner
            .run(&prop::collection::vec(save(), 1..14), |saves| {
                same_as_memory(kind, &saves)
            })
            .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        stores::report(&format!(
            "{}: {cases} random series of saves gave the same results as memory ({:.1} s)",
            kind.name(),
            started.elapsed().as_secs_f64()
        ));
    }
}
