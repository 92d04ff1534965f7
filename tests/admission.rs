//! One rule for what may be stored, the same in every store: what a store
//! accepts reads back equal, and what would not (a payload nested too deep,
//! a number that is not finite, a stream id or event type with a NUL or too
//! long, a timestamp RFC 3339 cannot write) is refused with the same typed
//! error by every store, with nothing written.

#[path = "support/stores.rs"]
mod stores;
#[path = "support/typed_stores.rs"]
mod typed_stores;

use std::collections::BTreeMap;

use dvent::jiff::{SignedDuration, Timestamp};
use dvent::serde_json::Value;
use dvent::store::admission::{
    self, EARLIEST, EventProblem, LATEST, MAX_NAME_BYTES, MAX_PAYLOAD_DEPTH, NameProblem,
    PayloadProblem,
};
use dvent::{Data, Event, EventStore, ExpectedVersion, StoreError, vector};
use serde::{Deserialize, Serialize};
use typed_stores::typed_stores;

/// The store holds nothing at all.
fn assert_empty<D: std::fmt::Debug>(name: &str, store: &dyn EventStore<D>) {
    assert!(
        store.events(None, 0).unwrap().is_empty(),
        "{name}: nothing should be written"
    );
    assert!(
        store.streams(0).unwrap().is_empty(),
        "{name}: no stream should be created"
    );
}

/// Saves `events` to `stream`, which must be refused with `want`; checks
/// nothing was written.
fn assert_refused<D: std::fmt::Debug>(
    name: &str,
    store: &dyn EventStore<D>,
    stream: &str,
    events: &dvent::Vector<Event<D>>,
    want: impl Fn(&StoreError) -> bool,
) {
    let err = store
        .append(stream, events, ExpectedVersion::Any)
        .expect_err("the batch should be refused");
    assert!(want(&err), "{name}: unexpected error {err:?}");
    assert_empty(name, store);
}

/// Saves `events`, then reads them back: they must be equal to what the
/// save returned, by every read.
fn assert_reads_back<D: std::fmt::Debug + PartialEq>(
    name: &str,
    store: &dyn EventStore<D>,
    stream: &str,
    events: &dvent::Vector<Event<D>>,
) {
    let saved = store
        .append(stream, events, ExpectedVersion::Any)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let all = store.events(None, 0).unwrap();
    assert_eq!(all[all.len() - saved.len()..], saved[..], "{name}");
    assert_eq!(store.events(Some(stream), 0).unwrap(), saved, "{name}");
    assert_eq!(
        store.last_event(stream).unwrap().as_ref(),
        saved.last(),
        "{name}"
    );
}

/// A `Data` payload whose entry `v` is an array nested `depth - 1` deep
/// (so the whole payload is `depth` deep).
fn nested_data(depth: usize) -> Data {
    let inner = (1..depth).fold(Value::from(1), |inner, _| Value::Array(vec![inner]));
    dvent::data([("v", inner)])
}

#[test]
fn deep_payloads_are_refused_by_every_store_and_nothing_is_written() {
    for (name, store) in typed_stores::<Data>() {
        for depth in [MAX_PAYLOAD_DEPTH + 1, 127, 128, 200] {
            let good = Event::new("Fine").with_entry("n", 1);
            let deep = Event::new("Deep").with_data(nested_data(depth));
            assert_refused(name, &*store, "s", &vector![good, deep.clone()], |e| {
                matches!(e, StoreError::InvalidEvent {
                    event_id,
                    problem: EventProblem::Payload(PayloadProblem::TooDeep { limit, path }),
                } if *event_id == deep.id()
                    && *limit == MAX_PAYLOAD_DEPTH
                    && *path == format!("/v{}", "/0".repeat(MAX_PAYLOAD_DEPTH - 1)))
            });
        }
        // At the limit: stored, and read back equal.
        let deepest = Event::new("Deep").with_data(nested_data(MAX_PAYLOAD_DEPTH));
        assert_reads_back(name, &*store, "s", &vector![deepest]);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Reading {
    value: f64,
    maybe: Option<f64>,
    series: Vec<f32>,
}

fn reading() -> Reading {
    Reading {
        value: 1.5,
        maybe: Some(-0.25),
        series: vec![1.0, f32::MAX],
    }
}

#[test]
fn non_finite_numbers_are_refused_by_every_store_and_nothing_is_written() {
    type Bad = (fn(&mut Reading, f64), &'static str);
    let places: [Bad; 3] = [
        (|r, x| r.value = x, "/value"),
        (|r, x| r.maybe = Some(x), "/maybe"),
        (|r, x| r.series.push(x as f32), "/series/2"),
    ];
    for (name, store) in typed_stores::<Reading>() {
        for (set, place) in places {
            for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut payload = reading();
                set(&mut payload, x);
                let fine = Event::typed("Read", reading());
                let bad = Event::typed("Read", payload);
                assert_refused(name, &*store, "probe", &vector![fine, bad.clone()], |e| {
                    matches!(e, StoreError::InvalidEvent {
                        event_id,
                        problem: EventProblem::Payload(PayloadProblem::NonFinite { found, path }),
                    } if *event_id == bad.id()
                        && (found.to_bits() == x.to_bits() || (x.is_nan() && found.is_nan()))
                        && path == place)
                });
            }
        }
        let extremes = Reading {
            value: f64::MIN_POSITIVE,
            maybe: None,
            series: vec![f32::MIN, -0.0],
        };
        assert_reads_back(
            name,
            &*store,
            "probe",
            &vector![
                Event::typed("Read", reading()),
                Event::typed("Read", extremes),
            ],
        );
    }
}

#[test]
fn a_map_key_json_cannot_write_is_refused_by_every_store() {
    for (name, store) in typed_stores::<BTreeMap<(u8, u8), u8>>() {
        let bad = Event::typed("Pairs", BTreeMap::from([((1, 2), 3)]));
        assert_refused(name, &*store, "s", &vector![bad], |e| {
            matches!(
                e,
                StoreError::InvalidEvent {
                    problem: EventProblem::Payload(PayloadProblem::Unwritable { .. }),
                    ..
                }
            )
        });
    }
}

#[test]
fn stream_ids_and_event_types_are_checked_alike_by_every_store() {
    let longest = "é".repeat(MAX_NAME_BYTES / 2);
    let too_long = format!("{longest}x");
    for (name, store) in typed_stores::<Data>() {
        assert_refused(name, &*store, "x\0y", &vector![Event::new("A")], |e| {
            matches!(e, StoreError::InvalidStreamId { stream_id, problem: NameProblem::Nul { at: 1 } }
                if stream_id == "x\0y")
        });
        assert_refused(name, &*store, &too_long, &vector![Event::new("A")], |e| {
            matches!(e, StoreError::InvalidStreamId {
                stream_id,
                problem: NameProblem::TooLong { limit: MAX_NAME_BYTES, found },
            } if *found == MAX_NAME_BYTES + 1 && stream_id == &format!("{}…", "é".repeat(64)))
        });
        // An empty batch too: the stream id is checked before anything else.
        assert_refused(name, &*store, "x\0y", &vector![], |e| {
            matches!(e, StoreError::InvalidStreamId { .. })
        });
        assert_refused(name, &*store, "", &vector![], |e| {
            matches!(e, StoreError::EmptyStreamId)
        });
        for (event_type, problem) in [
            ("", NameProblem::Empty),
            ("A\0", NameProblem::Nul { at: 1 }),
            (
                too_long.as_str(),
                NameProblem::TooLong {
                    limit: MAX_NAME_BYTES,
                    found: MAX_NAME_BYTES + 1,
                },
            ),
        ] {
            let bad = Event::new(event_type);
            assert_refused(
                name,
                &*store,
                "s",
                &vector![Event::new("A"), bad.clone()],
                |e| {
                    matches!(e, StoreError::InvalidEvent { event_id, problem: EventProblem::EventType(p) }
                    if *event_id == bad.id() && *p == problem)
                },
            );
        }
        // The longest of both is stored and reads back equal.
        assert_reads_back(
            name,
            &*store,
            &longest,
            &vector![Event::new(longest.as_str())],
        );
        assert_eq!(store.streams(0).unwrap()[0].stream_id, longest, "{name}");
    }
}

#[test]
fn timestamps_rfc3339_cannot_write_are_refused_by_every_store() {
    let before = EARLIEST - SignedDuration::from_nanos(1);
    for (name, store) in typed_stores::<Data>() {
        for outside in [before, Timestamp::MIN] {
            let bad = Event::new("A").with_timestamp(outside);
            assert_refused(name, &*store, "s", &vector![bad.clone()], |e| {
                matches!(e, StoreError::InvalidEvent {
                    event_id,
                    problem: EventProblem::Timestamp { found },
                } if *event_id == bad.id() && *found == outside)
            });
        }
        let first = Event::new("A").with_timestamp(EARLIEST);
        let last = Event::new("B").with_timestamp(LATEST);
        assert_reads_back(name, &*store, "s", &vector![first, last]);
        assert_eq!(store.streams(0).unwrap()[0].timestamp, EARLIEST, "{name}");
    }
}

#[test]
fn an_id_that_could_never_be_stored_reads_as_no_stream_on_every_store() {
    let too_long = "x".repeat(MAX_NAME_BYTES + 1);
    for (name, store) in typed_stores::<Data>() {
        store
            .append("x", &vector![Event::new("A")], ExpectedVersion::Any)
            .unwrap();
        for id in ["x\0y", "x\0", "", too_long.as_str()] {
            assert!(!admission::may_name_a_stream(id));
            let events = store.events(Some(id), 0);
            assert!(
                matches!(&events, Ok(events) if events.is_empty()),
                "{name}: reading {id:.8?} gave {events:?}"
            );
            let last = store.last_event(id);
            assert!(
                matches!(last, Ok(None)),
                "{name}: the last event of {id:.8?} gave {last:?}"
            );
        }
    }
}

#[test]
fn the_errors_read_the_same_from_every_store() {
    let bad = Event::new("A").with_data(nested_data(MAX_PAYLOAD_DEPTH + 1));
    let messages: Vec<(&str, String)> = typed_stores::<Data>()
        .into_iter()
        .map(|(name, store)| {
            let err = store
                .append("s", &vector![bad.clone()], ExpectedVersion::Any)
                .unwrap_err();
            (name, err.to_string())
        })
        .collect();
    let first = &messages[0].1;
    assert!(
        first.starts_with(&format!(
            "event {} cannot be stored: its payload should nest arrays and maps at most 100 deep",
            bad.id()
        )),
        "{first}"
    );
    for (name, message) in &messages {
        assert_eq!(message, first, "{name}");
    }
}
