//! What a store accepts: one rule, the same for every store, checked before
//! anything is written, so that **what a store accepted reads back equal**,
//! from every store.
//!
//! | what | must be | because |
//! |---|---|---|
//! | stream id | non-empty, no NUL, at most [`MAX_NAME_BYTES`] bytes of UTF-8 | PostgreSQL text cannot hold NUL, and its unique index takes keys of about 2.7 KB at most |
//! | event type | the same | the same |
//! | timestamp | from [`EARLIEST`] (the year 0000) to [`LATEST`] | RFC 3339, the stored form, writes no year before 0000 (jiff's timestamps end in 9999) |
//! | payload, written as JSON | arrays and maps nested at most [`MAX_PAYLOAD_DEPTH`] deep | `serde_json` refuses to read 128 levels or more |
//! | | finite numbers only | JSON has no NaN or infinity: `serde_json` writes one as `null`, which reads back as an error or as `None` |
//! | | writable by `serde_json` at all | map keys must be text, numbers, bools, chars or unit variants; the payload's `Serialize` must not fail |
//! | metadata ([`Metadata`](crate::Metadata)), written as JSON | as a payload | the same |
//! | payload version ([`Event::data_version`]) | at least 1 | versions count from 1 |
//! | checkpoint ([`check_checkpoint`]) | a name as a stream id; a position at most [`MAX_CHECKPOINT_POSITION`] | the same; an SQL `BIGINT` holds the position |
//!
//! [`prepare_batch`](super::prepare_batch), which every store calls before
//! it writes, applies the rule and refuses a batch that breaks it with
//! [`StoreError::InvalidStreamId`](super::StoreError::InvalidStreamId) or
//! [`StoreError::InvalidEvent`](super::StoreError::InvalidEvent) (naming the
//! event and what is wrong); nothing of that batch is written. An empty
//! stream id keeps its own error,
//! [`StoreError::EmptyStreamId`](super::StoreError::EmptyStreamId).
//!
//! A stream id that breaks the rule can never name a stored stream: reading
//! it gives no events, on every store.
//!
//! Costs: a name O(its length); a timestamp O(1); a payload O(its size), one
//! walk through its `Serialize` that writes nothing (see
//! [`check_payload`]).
//!
//! # Example
//!
//! ```
//! use dvent::store::admission::{self, EventProblem, NameProblem, PayloadProblem};
//! use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore, StoreError};
//!
//! assert_eq!(admission::check_name("todo-1"), Ok(()));
//! assert_eq!(admission::check_name("a\0b"), Err(NameProblem::Nul { at: 1 }));
//!
//! let store = InMemoryEventStore::<Vec<f64>>::default();
//! let event = Event::typed("Measured", vec![1.0, f64::NAN]);
//! let err = store.append("probe-1", &vector![event.clone()], ExpectedVersion::Any).unwrap_err();
//! let StoreError::InvalidEvent { event_id, problem } = err else { panic!("{err}") };
//! assert_eq!(event_id, event.id());
//! assert!(matches!(
//!     problem,
//!     EventProblem::Payload(PayloadProblem::NonFinite { ref path, .. }) if path == "/1"
//! ));
//! assert!(store.is_empty());
//! ```

mod checkpoint;
mod payload;

use jiff::Timestamp;
use serde::Serialize;

pub use checkpoint::{CheckpointProblem, MAX_CHECKPOINT_POSITION, check_checkpoint};
pub use payload::PayloadProblem;

use crate::event::Event;

/// The longest stream id or event type a store accepts, in bytes of UTF-8.
///
/// Every store takes this many: PostgreSQL, the tightest, indexes stream
/// ids up to about 2,700 bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// How deeply arrays and maps may nest in a payload written as JSON (a
/// number or text is depth 0, `{}` depth 1, `{"a":[1]}` depth 2).
///
/// `serde_json` reads at most 127 levels; the stored row adds none, and 100
/// leaves room for a reader that wraps the payload.
pub const MAX_PAYLOAD_DEPTH: usize = 100;

/// The earliest timestamp a store accepts: `0000-01-01T00:00:00Z`.
pub const EARLIEST: Timestamp = Timestamp::constant(-62_167_219_200, 0);

/// The latest timestamp a store accepts: jiff's latest,
/// [`Timestamp::MAX`] (`9999-12-30T22:00:00.999999999Z`), already within
/// the years RFC 3339 can write.
pub const LATEST: Timestamp = Timestamp::MAX;

/// Why a stream id or an event type may not be stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// It is empty.
    #[error("should be non-empty text, found \"\"")]
    Empty,
    /// It contains the NUL character.
    #[error("should contain no NUL character, found one at byte {at}")]
    Nul {
        /// The byte offset of the first NUL.
        at: usize,
    },
    /// It is longer than [`MAX_NAME_BYTES`].
    #[error("should be at most {limit} bytes of UTF-8, found {found} bytes")]
    TooLong {
        /// The limit, [`MAX_NAME_BYTES`].
        limit: usize,
        /// Its length in bytes.
        found: usize,
    },
}

/// Why an event may not be stored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EventProblem {
    /// Its type breaks the rule for names.
    #[error("its type {0}")]
    EventType(NameProblem),
    /// Its timestamp is outside what RFC 3339 can write.
    #[error(
        "its timestamp should be from {EARLIEST} to {LATEST} (the years RFC 3339 can write), found {found}"
    )]
    Timestamp {
        /// The timestamp.
        found: Timestamp,
    },
    /// Its payload would not read back as written.
    #[error("its payload {0}")]
    Payload(PayloadProblem),
    /// Its metadata would not read back as written (its entries break the
    /// rule for payloads).
    #[error("its metadata {0}")]
    Metadata(PayloadProblem),
    /// Its payload version is 0.
    #[error("its payload version should be at least 1, found {found}")]
    DataVersion {
        /// The version it carried.
        found: u32,
    },
}

/// Checks a stream id or an event type: non-empty, no NUL, at most
/// [`MAX_NAME_BYTES`] bytes.
///
/// Time: O(its length).
///
/// # Errors
///
/// The [`NameProblem`] found first, in that order.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if let Some(at) = name.bytes().position(|b| b == 0) {
        return Err(NameProblem::Nul { at });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameProblem::TooLong {
            limit: MAX_NAME_BYTES,
            found: name.len(),
        });
    }
    Ok(())
}

/// Whether a stream id could name a stored stream (it passes
/// [`check_name`]). A store answers a read of any other id with no events.
///
/// Time: O(its length).
#[must_use]
pub fn may_name_a_stream(stream_id: &str) -> bool {
    check_name(stream_id).is_ok()
}

/// Checks a timestamp: from [`EARLIEST`] to [`LATEST`].
///
/// Time: O(1).
///
/// # Errors
///
/// [`EventProblem::Timestamp`] outside that range.
pub fn check_timestamp(timestamp: Timestamp) -> Result<(), EventProblem> {
    if (EARLIEST..=LATEST).contains(&timestamp) {
        Ok(())
    } else {
        Err(EventProblem::Timestamp { found: timestamp })
    }
}

/// Checks a payload: written as JSON, it nests arrays and maps at most
/// [`MAX_PAYLOAD_DEPTH`] deep, holds only finite numbers, and can be
/// written at all.
///
/// The check walks the payload through its `Serialize`, as `serde_json`
/// would write it, but writes nothing: O(size of the payload), allocating
/// only one small buffer per map (for the place named in a refusal). It
/// stops at the first problem, so it recurses at most
/// `MAX_PAYLOAD_DEPTH + 1` levels however deep the payload.
///
/// # Errors
///
/// The first [`PayloadProblem`] met, with its place in the payload.
pub fn check_payload<D: Serialize + ?Sized>(data: &D) -> Result<(), PayloadProblem> {
    payload::check(data, MAX_PAYLOAD_DEPTH)
}

/// Checks what an event carries: its type ([`check_name`]), its timestamp
/// ([`check_timestamp`]), its payload ([`check_payload`]), its metadata (by
/// the same rule as a payload) and its payload version (at least 1). Its
/// stream id and version are the store's to give.
///
/// Time: O(size of the payload and metadata + length of the type).
///
/// # Errors
///
/// The first [`EventProblem`] found, in that order.
pub fn check_event<D: Serialize>(event: &Event<D>) -> Result<(), EventProblem> {
    check_name(event.event_type()).map_err(EventProblem::EventType)?;
    check_timestamp(event.timestamp())?;
    check_payload(event.data()).map_err(EventProblem::Payload)?;
    check_payload(event.metadata()).map_err(EventProblem::Metadata)?;
    if event.data_version() == 0 {
        return Err(EventProblem::DataVersion { found: 0 });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    fn nested(depth: usize) -> serde_json::Value {
        (0..depth).fold(serde_json::Value::from(1), |inner, _| {
            serde_json::Value::Array(vec![inner])
        })
    }

    #[test]
    fn names_are_checked_in_order() {
        assert_eq!(check_name(""), Err(NameProblem::Empty));
        assert_eq!(check_name("ab\0"), Err(NameProblem::Nul { at: 2 }));
        let long = "é".repeat(MAX_NAME_BYTES / 2 + 1);
        assert_eq!(
            check_name(&long),
            Err(NameProblem::TooLong {
                limit: MAX_NAME_BYTES,
                found: MAX_NAME_BYTES + 2
            })
        );
        assert_eq!(check_name(&"é".repeat(MAX_NAME_BYTES / 2)), Ok(()));
        assert!(!may_name_a_stream("x\0y"));
        assert!(may_name_a_stream("x"));
    }

    #[test]
    fn timestamps_are_limited_to_rfc3339_years() {
        assert_eq!(EARLIEST.to_string(), "0000-01-01T00:00:00Z");
        assert_eq!(LATEST.to_string(), "9999-12-30T22:00:00.999999999Z");
        assert_eq!(check_timestamp(EARLIEST), Ok(()));
        assert_eq!(check_timestamp(LATEST), Ok(()));
        let nanosecond = jiff::SignedDuration::from_nanos(1);
        for outside in [EARLIEST - nanosecond, Timestamp::MIN] {
            assert_eq!(
                check_timestamp(outside),
                Err(EventProblem::Timestamp { found: outside })
            );
        }
    }

    #[test]
    fn depth_is_counted_as_json_nests() {
        assert_eq!(check_payload(&nested(MAX_PAYLOAD_DEPTH)), Ok(()));
        let err = check_payload(&nested(MAX_PAYLOAD_DEPTH + 1)).unwrap_err();
        let PayloadProblem::TooDeep { limit, path } = err else {
            panic!("{err:?}")
        };
        assert_eq!(limit, MAX_PAYLOAD_DEPTH);
        assert_eq!(path, "/0".repeat(MAX_PAYLOAD_DEPTH));
        // Far too deep for a recursive walk to finish: stopped at the limit.
        assert!(matches!(
            check_payload(&Endless),
            Err(PayloadProblem::TooDeep { .. })
        ));
    }

    /// An array holding itself, without end.
    struct Endless;

    impl Serialize for Endless {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let mut seq = serializer.serialize_seq(Some(1))?;
            seq.serialize_element(&Endless)?;
            seq.end()
        }
    }

    #[test]
    fn the_depth_limit_reads_back() {
        let text = serde_json::to_string(&nested(MAX_PAYLOAD_DEPTH)).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
        let text = serde_json::to_string(&nested(128)).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(Vec<u8>),
        Tuple(u8, f32),
        Struct { x: f64 },
    }

    #[test]
    fn variants_count_as_serde_json_writes_them() {
        // {"Tuple":[1,NaN]}: found under the variant, at index 1.
        let err = check_payload(&Shape::Tuple(1, f32::NAN)).unwrap_err();
        assert!(
            matches!(&err, PayloadProblem::NonFinite { found, path } if found.is_nan() && path == "/Tuple/1"),
            "{err:?}"
        );
        let err = check_payload(&vec![Shape::Struct { x: f64::INFINITY }]).unwrap_err();
        assert_eq!(
            err,
            PayloadProblem::NonFinite {
                found: f64::INFINITY,
                path: "/0/Struct/x".into()
            }
        );
        assert_eq!(check_payload(&Shape::Unit), Ok(()));
        assert_eq!(check_payload(&Shape::Newtype(vec![1])), Ok(()));
        // Each shape as deep as it is written: the payload `nested(99)` under
        // a struct variant is 101 levels.
        #[derive(Serialize)]
        enum Wrap {
            S { v: serde_json::Value },
        }
        let ok = Wrap::S { v: nested(98) };
        assert_eq!(check_payload(&ok), Ok(()));
        let text = serde_json::to_string(&ok).unwrap();
        assert_eq!(text.matches('[').count() + text.matches('{').count(), 100);
        let too_deep = Wrap::S { v: nested(99) };
        assert!(matches!(
            check_payload(&too_deep),
            Err(PayloadProblem::TooDeep { .. })
        ));
    }

    #[test]
    fn an_option_nan_is_refused() {
        let err = check_payload(&Some(f64::NAN)).unwrap_err();
        assert!(matches!(err, PayloadProblem::NonFinite { ref path, .. } if path.is_empty()));
        assert!(err.to_string().contains("at the top level"), "{err}");
        assert_eq!(check_payload(&Some(f64::MAX)), Ok(()));
    }

    #[test]
    fn keys_are_taken_as_serde_json_takes_them() {
        let mut good = BTreeMap::new();
        good.insert(3u8, "x");
        assert_eq!(check_payload(&good), Ok(()));
        let mut bad = BTreeMap::new();
        bad.insert((1u8, 2u8), "x");
        let err = check_payload(&bad).unwrap_err();
        assert!(serde_json::to_string(&bad).is_err());
        assert!(
            matches!(&err, PayloadProblem::Unwritable { reason, .. } if reason.contains("a tuple")),
            "{err:?}"
        );
        // The place names the key, escaped as JSON Pointer.
        let mut outer = BTreeMap::new();
        outer.insert("a/b~c", vec![f64::NEG_INFINITY]);
        let err = check_payload(&outer).unwrap_err();
        assert!(
            matches!(&err, PayloadProblem::NonFinite { path, .. } if path == "/a~1b~0c/0"),
            "{err:?}"
        );
    }

    #[test]
    fn a_failing_serialize_is_unwritable() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let err = check_payload(&vec![Fails]).unwrap_err();
        assert!(
            matches!(&err, PayloadProblem::Unwritable { reason, path } if reason.contains("no") && path == "/0"),
            "{err:?}"
        );
    }

    #[test]
    fn metadata_and_the_payload_version_are_checked() {
        let deep = Event::new("A").with_metadata_entry("trace", nested(MAX_PAYLOAD_DEPTH));
        let err = check_event(&deep).unwrap_err();
        assert!(
            matches!(&err, EventProblem::Metadata(PayloadProblem::TooDeep { path, .. }) if path.starts_with("/entries/trace")),
            "{err:?}"
        );
        assert!(
            err.to_string().starts_with("its metadata should nest"),
            "{err}"
        );
        let ok = Event::new("A").with_metadata_entry("trace", nested(MAX_PAYLOAD_DEPTH - 2));
        assert_eq!(check_event(&ok), Ok(()));
        let zero = Event::new("A").with_data_version(0);
        assert_eq!(
            check_event(&zero),
            Err(EventProblem::DataVersion { found: 0 })
        );
        assert_eq!(
            EventProblem::DataVersion { found: 0 }.to_string(),
            "its payload version should be at least 1, found 0"
        );
    }

    #[test]
    fn messages_say_what_was_expected_and_found() {
        let event = Event::new("").with_entry("x", 1);
        let err = check_event(&event).unwrap_err();
        assert_eq!(
            err.to_string(),
            "its type should be non-empty text, found \"\""
        );
        let err = check_event(&Event::new("A").with_timestamp(Timestamp::MIN)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("its timestamp should be from 0000-01-01T00:00:00Z"),
            "{err}"
        );
    }
}
