//! Every durable store behaves exactly as the in-memory store: the same
//! random series of saves (good ones, conflicts, wrong event versions,
//! duplicate ids, empty batches, empty stream ids, and input the rule of
//! `dvent::store::admission` refuses: stream ids and event types with NUL or
//! too long, payloads nested too deep, timestamps before the year 0000,
//! numbers that are not finite) gives the same results and errors, and then
//! every read (of the stream ids that could never be stored too) gives the
//! same events and streams.

#[path = "support/stores.rs"]
mod stores;
#[path = "support/typed_stores.rs"]
mod typed_stores;

use dvent::jiff::{SignedDuration, Timestamp};
use dvent::serde_json::Value;
use dvent::store::admission::{EARLIEST, LATEST, MAX_NAME_BYTES, MAX_PAYLOAD_DEPTH};
use dvent::{Event, EventStore, ExpectedVersion, InMemoryEventStore};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::{Deserialize, Serialize};
use stores::StoreKind;

#[derive(Clone, Debug)]
struct Save {
    stream: usize,
    expected: ExpectedVersion,
    /// Per event: an earlier event to reuse the id of, the version given,
    /// and what is odd about it.
    events: Vec<(Option<usize>, u64, Oddity)>,
}

/// What is unusual about an event: mostly nothing; else something at or
/// just beyond a limit of the rule of what may be stored.
#[derive(Clone, Copy, Debug)]
enum Oddity {
    None,
    /// An entry nested this deep (the payload one level more).
    Nested(usize),
    /// The event type: empty, with NUL, or this many bytes long.
    EmptyType,
    NulInType,
    TypeBytes(usize),
    Timestamp(Timestamp),
}

/// The stream ids written to: three plain ones (most saves), then the
/// empty one, one with NUL, the longest that may be stored and one byte
/// longer.
fn streams() -> Vec<String> {
    let longest = "é".repeat(MAX_NAME_BYTES / 2);
    vec![
        "a".into(),
        "b".into(),
        "c".into(),
        String::new(),
        "x\0y".into(),
        format!("{longest}x"),
        longest,
    ]
}

fn oddity() -> impl Strategy<Value = Oddity> {
    let before = EARLIEST - SignedDuration::from_nanos(1);
    prop_oneof![
        40 => Just(Oddity::None),
        1 => (MAX_PAYLOAD_DEPTH - 2..MAX_PAYLOAD_DEPTH + 2).prop_map(Oddity::Nested),
        1 => Just(Oddity::Nested(127)),
        1 => Just(Oddity::EmptyType),
        1 => Just(Oddity::NulInType),
        1 => (MAX_NAME_BYTES..=MAX_NAME_BYTES + 1).prop_map(Oddity::TypeBytes),
        1 => prop::sample::select(vec![before, Timestamp::MIN, EARLIEST, LATEST])
            .prop_map(Oddity::Timestamp),
    ]
}

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
        oddity(),
    );
    (
        prop_oneof![30 => 0usize..3, 1 => 3usize..7],
        expected,
        prop::collection::vec(event, 0..4),
    )
        .prop_map(|(stream, expected, events)| Save {
            stream,
            expected,
            events,
        })
}

/// An array nested `depth` deep around a number.
fn nested(depth: usize) -> Value {
    (0..depth).fold(Value::from(1), |inner, _| Value::Array(vec![inner]))
}

/// A float from all over the range, as payloads may carry.
fn any_float(seed: u32) -> f64 {
    let x = f64::from_bits(u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    if x.is_finite() { x } else { 0.1 }
}

fn outcome(result: Result<Vec<Event>, dvent::StoreError>) -> Result<Vec<Event>, String> {
    result.map_err(|e| e.to_string())
}

/// How many saves the rule of what may be stored refused (counted to show
/// the generator reaches it).
static REFUSED_BY_RULE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs `saves` on a memory store and on `other`, comparing every result.
fn same_as_memory(kind: StoreKind, saves: &[Save]) -> Result<(), TestCaseError> {
    let memory = InMemoryEventStore::new();
    let other = stores::open_store(kind);
    let streams = streams();
    let mut made: Vec<Event> = Vec::new();
    let mut tick = 0u32;
    for save in saves {
        let events: Vec<Event> = save
            .events
            .iter()
            .map(|&(reuse, version, oddity)| {
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
                event = match oddity {
                    Oddity::None => event,
                    Oddity::Nested(depth) => event.with_entry("nested", nested(depth)),
                    Oddity::EmptyType => event.with_type(""),
                    Oddity::NulInType => event.with_type("T\0"),
                    Oddity::TypeBytes(n) => event.with_type("t".repeat(n)),
                    Oddity::Timestamp(t) => event.with_timestamp(t),
                };
                if let Some(earlier) = reuse.and_then(|i| made.get(i % made.len().max(1))) {
                    event = event.with_id(earlier.id());
                }
                made.push(event.clone());
                event
            })
            .collect();
        let stream = streams[save.stream].as_str();
        let want = outcome(memory.append(stream, &events.iter().cloned().collect(), save.expected));
        if want
            .as_ref()
            .is_err_and(|message| message.contains("cannot be stored"))
        {
            REFUSED_BY_RULE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let got = outcome(other.append(stream, &events.iter().cloned().collect(), save.expected));
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
            other.events(None, start).unwrap(),
            memory.events(None, start).unwrap()
        );
        prop_assert_eq!(
            other.streams(start).unwrap(),
            memory.streams(start).unwrap()
        );
        for stream in &streams {
            prop_assert_eq!(
                other.events(Some(stream), start).unwrap(),
                memory.events(Some(stream), start).unwrap()
            );
        }
    }
    for stream in &streams {
        prop_assert_eq!(
            other.last_event(stream).unwrap(),
            memory.last_event(stream).unwrap()
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
        let refused = REFUSED_BY_RULE.swap(0, std::sync::atomic::Ordering::Relaxed);
        assert!(
            refused > 0,
            "the generator should reach the rule of what may be stored"
        );
        stores::report(&format!(
            "{}: {cases} random series of saves gave the same results as memory, {refused} saves refused by the rule of what may be stored ({:.1} s)",
            kind.name(),
            started.elapsed().as_secs_f64()
        ));
    }
}

/// A typed payload whose numbers may be NaN or infinite, as a typed payload
/// can (a `Data` payload cannot).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Measured {
    value: f64,
    maybe: Option<f32>,
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => any::<f64>().prop_filter("finite", |x| x.is_finite()),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

fn measured() -> impl Strategy<Value = Measured> {
    (number(), prop::option::of(number())).prop_map(|(value, maybe)| Measured {
        value,
        maybe: maybe.map(|x| x as f32),
    })
}

#[test]
fn every_store_agrees_on_numbers_that_are_not_finite() {
    let cases = 24;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let batches = prop::collection::vec(prop::collection::vec(measured(), 0..4), 1..8);
    runner
        .run(&batches, |batches| {
            let stores = typed_stores::typed_stores::<Measured>();
            let (memory_name, memory) = &stores[0];
            prop_assert_eq!(*memory_name, "memory");
            for payloads in &batches {
                let events: Vec<Event<Measured>> = payloads
                    .iter()
                    .map(|p| Event::typed("Measured", p.clone()))
                    .collect();
                let want = memory
                    .append("m", &events.iter().cloned().collect(), ExpectedVersion::Any)
                    .map_err(|e| e.to_string());
                let finite = payloads
                    .iter()
                    .all(|p| p.value.is_finite() && p.maybe.is_none_or(|x| x.is_finite()));
                prop_assert_eq!(want.is_ok(), finite, "{:?}", want);
                for (name, other) in &stores[1..] {
                    let got = other
                        .append("m", &events.iter().cloned().collect(), ExpectedVersion::Any)
                        .map_err(|e| e.to_string());
                    prop_assert_eq!(&got, &want, "{}", name);
                }
            }
            let want = memory.events(None, 0).unwrap();
            for (name, other) in &stores[1..] {
                prop_assert_eq!(&other.events(None, 0).unwrap(), &want, "{}", name);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    stores::report(&format!(
        "{cases} random series of typed payloads (NaN and infinities among them) gave the same results on every store"
    ));
}
