//! How the SQL stores turn events into row values and stored rows back into
//! events.
//!
//! Shared by [`SqliteEventStore`](crate::store::SqliteEventStore), the
//! PostgreSQL store and the fuzz target, so that every store writes the same
//! text and judges a damaged row alike. A row holds:
//!
//! | column | text | example |
//! |---|---|---|
//! | `event_id` | the UUID, hyphenated, lower case | `6c0a7c30-3d4e-4f4b-9a43-6a9b3e0f2b11` |
//! | `stream_id` | the stream id | `todo-1` |
//! | `version` | an integer from 1 | `3` |
//! | `type` | the event type | `TodoAdded` |
//! | `timestamp` | RFC 3339 in UTC with nanoseconds, so that it reads back exactly | `2026-01-01T09:30:00.123456789Z` |
//! | `data` | the payload as JSON | `{"status":"Queued"}` |
//! | `metadata` | the [`Metadata`] as JSON (`{}` when empty; empty text reads as `{}`) | `{"causation_id":"…"}` |
//! | `data_version` | the payload's schema version, an integer from 1 | `1` |
//!
//! A [`Decoder`] given [`Upcasters`] (the store's) brings a payload stored
//! at an older version up to its type's current one before decoding it
//! into the payload type (see [`upcast`](crate::upcast)); a failure is
//! [`StoreError::Upcast`].
//!
//! Decoding never panics: a row that cannot be decoded (text that is not
//! UTF-8, an invalid UUID, a version below 1, a bad timestamp, invalid JSON,
//! JSON of the wrong shape for the payload type) is a
//! [`StoreError::Corrupt`] naming the stream and the global position.
//!
//! # Example
//!
//! ```
//! use dvent::{Data, Event};
//! use dvent::store::codec::{self, StoredRow};
//!
//! let event = Event::new("TodoAdded").with_entry("status", "Queued").with_version(1);
//! let encoded = codec::encode(&event)?;
//! let row = StoredRow {
//!     position: 1,
//!     event_id: encoded.event_id.as_bytes(),
//!     stream_id: b"todo-1",
//!     version: encoded.version,
//!     event_type: encoded.event_type.as_bytes(),
//!     timestamp: encoded.timestamp.as_bytes(),
//!     data: encoded.data.as_bytes(),
//!     metadata: encoded.metadata.as_bytes(),
//!     data_version: encoded.data_version,
//! };
//! let back: Event<Data> = codec::decode(&row)?;
//! assert_eq!(back, event.with_stream_id("todo-1"));
//!
//! let damaged = StoredRow { data: b"{not json", ..row };
//! let err = codec::decode::<Data>(&damaged).unwrap_err();
//! assert!(err.to_string().contains("position 1 of stream \"todo-1\""));
//! # Ok::<(), dvent::StoreError>(())
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use super::Recorded;
use super::StoreError;
use crate::event::Event;
use crate::metadata::Metadata;
use crate::name::Name;
use crate::upcast::{self, UpcastError, Upcasters};

/// An event's values as they are written to a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedEvent {
    /// The event id, hyphenated and lower case.
    pub event_id: String,
    /// The event type.
    pub event_type: Name,
    /// The version, as the database's signed 64-bit integer.
    pub version: i64,
    /// The timestamp: RFC 3339, UTC, nanoseconds.
    pub timestamp: String,
    /// The payload as JSON.
    pub data: String,
    /// The metadata as JSON (`{}` when empty).
    pub metadata: String,
    /// The payload's schema version.
    pub data_version: i64,
}

/// Encodes an event's values for a row (the stream id is written as given
/// to the store).
///
/// # Errors
///
/// [`StoreError::Encode`] when the payload cannot be written as JSON (a map
/// with keys that are not text, say), when the timestamp's year is outside
/// 0000–9999 (RFC 3339 cannot write it), or when the version exceeds the
/// largest signed 64-bit integer.
pub fn encode<D: Serialize>(event: &Event<D>) -> Result<EncodedEvent, StoreError> {
    let version = sql_version(event.id(), event.version())?;
    let mut encoded = encode_unversioned(event)?;
    encoded.version = version;
    Ok(encoded)
}

/// A version as written to a row, or [`encode`]'s error for an event
/// (`event_id`) at that version.
pub(crate) fn sql_version(event_id: Uuid, version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::Encode {
        event_id,
        reason: format!("a version should be at most {}, found {version}", i64::MAX),
    })
}

/// [`encode`] but for the version (left 0, and not checked): what an event
/// writes whatever version it is given, so that it can be encoded before
/// its version is known. Its errors are [`encode`]'s, in the same order.
pub(crate) fn encode_unversioned<D: Serialize>(
    event: &Event<D>,
) -> Result<EncodedEvent, StoreError> {
    let fail = |reason: String| StoreError::Encode {
        event_id: event.id(),
        reason,
    };
    let timestamp = encode_timestamp(event.timestamp()).map_err(fail)?;
    let data = serde_json::to_string(event.data())
        .map_err(|e| fail(format!("the payload should be writable as JSON: {e}")))?;
    let metadata = serde_json::to_string(event.metadata())
        .map_err(|e| fail(format!("the metadata should be writable as JSON: {e}")))?;
    Ok(EncodedEvent {
        event_id: event.id().hyphenated().to_string(),
        event_type: event.event_type_name().clone(),
        version: 0,
        timestamp,
        data,
        metadata,
        data_version: i64::from(event.data_version()),
    })
}

/// Writes a timestamp as stored: RFC 3339 in UTC with nine fractional
/// digits (`2026-01-01T09:30:00.123456789Z`), so that it reads back exactly
/// and sorts as text in time order.
///
/// # Errors
///
/// A reason when the year is outside 0000–9999, which RFC 3339 cannot write.
pub fn encode_timestamp(timestamp: Timestamp) -> Result<String, String> {
    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, in Unix seconds.
    const FIRST: i64 = -62_167_219_200;
    const LAST: i64 = 253_402_300_799;
    if !(FIRST..=LAST).contains(&timestamp.as_second()) {
        return Err(format!(
            "a timestamp's year should be from 0000 to 9999 to be stored, found {timestamp}"
        ));
    }
    Ok(DateTimePrinter::new()
        .precision(Some(9))
        .timestamp_to_string(&timestamp))
}

/// Reads a stored timestamp (any RFC 3339 offset; converted to UTC).
///
/// # Errors
///
/// A reason, saying what was found, when the bytes are not an RFC 3339
/// timestamp.
pub fn decode_timestamp(text: &[u8]) -> Result<Timestamp, String> {
    let text = utf8("timestamp", text)?;
    text.parse::<Timestamp>().map_err(|e| {
        format!(
            "timestamp should be RFC 3339 text, found {} ({e})",
            preview(text.as_bytes())
        )
    })
}

/// One stored row, as raw as the database gives it: text columns as bytes
/// (not yet checked to be UTF-8), the version as a signed integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredRow<'a> {
    /// The global position (named in errors).
    pub position: i64,
    /// The event id's text.
    pub event_id: &'a [u8],
    /// The stream id's text.
    pub stream_id: &'a [u8],
    /// The version.
    pub version: i64,
    /// The event type's text.
    pub event_type: &'a [u8],
    /// The timestamp's text.
    pub timestamp: &'a [u8],
    /// The payload's JSON text.
    pub data: &'a [u8],
    /// The metadata's JSON text (empty text reads as no metadata).
    pub metadata: &'a [u8],
    /// The payload's schema version.
    pub data_version: i64,
}

/// Decodes one row into an event.
///
/// # Errors
///
/// [`StoreError::Corrupt`], naming the row's stream and position and what
/// was wrong, for any value that is not as [`encode`] writes it.
pub fn decode<D: DeserializeOwned>(row: &StoredRow<'_>) -> Result<Event<D>, StoreError> {
    Decoder::new().decode(row)
}

/// Decodes rows into events, sharing one allocation among the events of one
/// stream id or one event type (as events made in memory do).
#[derive(Debug, Default)]
pub struct Decoder {
    names: HashSet<Name>,
    upcasters: Option<Arc<Upcasters>>,
}

/// How many distinct names a [`Decoder`] keeps for sharing.
const SHARED_NAMES: usize = 4096;

impl Decoder {
    /// A decoder that has seen no names yet.
    #[must_use]
    pub fn new() -> Self {
        Decoder::default()
    }

    /// A decoder that upcasts payloads with `upcasters` (none: as stored).
    #[must_use]
    pub fn with_upcasters(upcasters: Option<Arc<Upcasters>>) -> Self {
        Decoder {
            names: HashSet::new(),
            upcasters,
        }
    }

    /// Decodes one row into an event.
    ///
    /// # Errors
    ///
    /// As [`decode`].
    pub fn decode<D: DeserializeOwned>(
        &mut self,
        row: &StoredRow<'_>,
    ) -> Result<Event<D>, StoreError> {
        let fail = |reason: String| corrupt(row.stream_id, row.position, reason);
        let stream_id = utf8("stream_id", row.stream_id).map_err(fail)?;
        if stream_id.is_empty() {
            return Err(fail(
                "stream_id should be non-empty text, found \"\"".to_string(),
            ));
        }
        let id = Uuid::try_parse_ascii(row.event_id).map_err(|e| {
            fail(format!(
                "event_id should be a UUID, found {} ({e})",
                preview(row.event_id)
            ))
        })?;
        let version = u64::try_from(row.version)
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| {
                fail(format!(
                    "version should be a whole number from 1, found {}",
                    row.version
                ))
            })?;
        let event_type = utf8("type", row.event_type).map_err(fail)?;
        let timestamp = decode_timestamp(row.timestamp).map_err(fail)?;
        let data_version = u32::try_from(row.data_version)
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| {
                fail(format!(
                    "data_version should be a whole number from 1 to {}, found {}",
                    u32::MAX,
                    row.data_version
                ))
            })?;
        let metadata = if row.metadata.is_empty() {
            Metadata::new()
        } else {
            serde_json::from_slice::<Metadata>(row.metadata).map_err(|e| {
                fail(format!(
                    "metadata should be JSON of dvent's Metadata, found {} ({e})",
                    preview(row.metadata)
                ))
            })?
        };
        let upcast_failed = |source: UpcastError| StoreError::Upcast {
            stream_id: String::from_utf8_lossy(row.stream_id).into_owned(),
            position: row.position,
            event_id: id,
            source,
        };
        let plan = match &self.upcasters {
            Some(upcasters) => upcasters
                .plan(event_type, data_version)
                .map_err(upcast_failed)?
                .map(|_| upcasters),
            None => None,
        };
        let not_json = |e: serde_json::Error| {
            fail(format!(
                "data should be JSON of the payload type ({}), found {} ({e})",
                std::any::type_name::<D>(),
                preview(row.data)
            ))
        };
        let (data, data_version) = match plan {
            None => (
                serde_json::from_slice::<D>(row.data).map_err(not_json)?,
                data_version,
            ),
            Some(upcasters) => {
                let json = serde_json::from_slice(row.data).map_err(not_json)?;
                let (json, to) = upcasters
                    .upcast(event_type, data_version, json)
                    .map_err(upcast_failed)?;
                let data = upcast::decode::<D>(json).map_err(|reason| {
                    upcast_failed(UpcastError::Payload {
                        event_type: event_type.to_string(),
                        from: data_version,
                        to,
                        reason,
                    })
                })?;
                (data, to)
            }
        };
        let stream_id = self.name(stream_id);
        let event_type = self.name(event_type);
        Ok(Event::from_stored(
            id,
            event_type,
            stream_id,
            timestamp,
            data,
            version,
            metadata,
            data_version,
        ))
    }

    fn name(&mut self, text: &str) -> Name {
        if let Some(name) = self.names.get(text) {
            return name.clone();
        }
        let name: Name = Arc::from(text);
        if self.names.len() < SHARED_NAMES {
            self.names.insert(name.clone());
        }
        name
    }
}

/// A count or position as an SQL `BIGINT`: saturated at `i64::MAX` (no
/// store holds that many events). Shared by the SQL stores.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn sql_int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// The global position of `event` as a stored row gave it, checked to be at
/// least 1 ([`StoreError::Corrupt`] otherwise). Shared by the SQL stores.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn recorded<D>(event: Event<D>, position: i64) -> Result<Recorded<D>, StoreError> {
    match u64::try_from(position) {
        Ok(stored) if stored >= 1 => Ok(Recorded {
            position: stored,
            event,
        }),
        _ => Err(corrupt(
            event.stream_id().as_bytes(),
            position,
            format!("position should be at least 1, found {position}"),
        )),
    }
}

/// A stream's version as its `streams` row holds it (`None`: no row, 0),
/// or [`StoreError::Corrupt`] for a negative one. Shared by the SQL stores.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn stream_version(stream_id: &str, stored: Option<i64>) -> Result<u64, StoreError> {
    match stored {
        None => Ok(0),
        Some(v) => u64::try_from(v).map_err(|_| {
            corrupt(
                stream_id.as_bytes(),
                0,
                format!("streams.version should be a whole number, found {v}"),
            )
        }),
    }
}

/// A [`StoreError::Corrupt`] for the row at `position` of the stream whose
/// stored id is `stream_id` (shown lossily when it is not UTF-8).
#[must_use]
pub fn corrupt(stream_id: &[u8], position: i64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        stream_id: String::from_utf8_lossy(stream_id).into_owned(),
        position,
        reason: reason.into(),
    }
}

/// The bytes as text, or a reason naming the column.
fn utf8<'a>(column: &str, bytes: &'a [u8]) -> Result<&'a str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "{column} should be UTF-8 text, found {} ({e})",
            preview(bytes)
        )
    })
}

/// At most 60 characters of the bytes, quoted, for an error message.
fn preview(bytes: &[u8]) -> String {
    const SHOWN: usize = 60;
    let text = String::from_utf8_lossy(bytes);
    let mut shown: String = text.chars().take(SHOWN).collect();
    if text.chars().nth(SHOWN).is_some() {
        shown.push('…');
    }
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Data;
    use serde::Deserialize;

    const ID: &[u8] = b"6c0a7c30-3d4e-4f4b-9a43-6a9b3e0f2b11";

    fn row(data: &'static [u8]) -> StoredRow<'static> {
        StoredRow {
            position: 7,
            event_id: ID,
            stream_id: b"todo-1",
            version: 2,
            event_type: b"TodoAdded",
            timestamp: b"2026-01-01T09:30:00.123456789Z",
            data,
            metadata: b"{}",
            data_version: 1,
        }
    }

    fn reason(err: StoreError) -> String {
        match err {
            StoreError::Corrupt {
                stream_id,
                position,
                reason,
            } => {
                assert_eq!((stream_id.as_str(), position), ("todo-1", 7));
                reason
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Added {
        description: String,
        count: u8,
    }

    #[test]
    fn a_good_row_decodes() {
        let event: Event = decode(&row(br#"{"status":"Queued"}"#)).unwrap();
        assert_eq!(event.stream_id(), "todo-1");
        assert_eq!(event.version(), 2);
        assert_eq!(event.event_type(), "TodoAdded");
        assert_eq!(event.data()["status"], "Queued");
        assert_eq!(event.timestamp().subsec_nanosecond(), 123_456_789);
    }

    #[test]
    fn encode_then_decode_is_exact_to_the_nanosecond() {
        let ts = Timestamp::new(1_700_000_000, 987_654_321).unwrap();
        let event = Event::new("A")
            .with_entry("n", 1.5)
            .with_timestamp(ts)
            .with_version(3);
        let enc = encode(&event).unwrap();
        let row = StoredRow {
            position: 1,
            event_id: enc.event_id.as_bytes(),
            stream_id: b"s",
            version: enc.version,
            event_type: enc.event_type.as_bytes(),
            timestamp: enc.timestamp.as_bytes(),
            data: enc.data.as_bytes(),
            metadata: enc.metadata.as_bytes(),
            data_version: enc.data_version,
        };
        assert_eq!(decode::<Data>(&row).unwrap(), event.with_stream_id("s"));
    }

    proptest::proptest! {
        /// A number in a payload reads back as the very same number.
        #[test]
        fn floats_read_back_exactly(bits in proptest::prelude::any::<u64>()) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite());
            let event = Event::new("A").with_entry("x", x).with_version(1);
            let enc = encode(&event).unwrap();
            let row = StoredRow {
                position: 1,
                event_id: enc.event_id.as_bytes(),
                stream_id: b"s",
                version: 1,
                event_type: b"A",
                timestamp: enc.timestamp.as_bytes(),
                data: enc.data.as_bytes(),
                metadata: enc.metadata.as_bytes(),
                data_version: enc.data_version,
            };
            let back: Event = decode(&row).unwrap();
            proptest::prop_assert_eq!(back.data()["x"].as_f64(), Some(x), "{}", enc.data);
        }
    }

    #[test]
    fn a_long_decimal_reads_back_stably() {
        // Found by the fuzz target: without serde_json's correctly rounded
        // parsing, this number and its own JSON read back as two floats.
        let digits = format!("{}1", "8".repeat(109));
        let first: Data = serde_json::from_str(&format!("{{\"k\":{digits}}}")).unwrap();
        let again: Data = serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
        assert_eq!(first, again);
    }

    #[test]
    fn invalid_json_is_corrupt() {
        let r = reason(decode::<Data>(&row(b"{\"status\":")).unwrap_err());
        assert!(r.starts_with("data should be JSON"), "{r}");
    }

    #[test]
    fn json_of_the_wrong_type_is_corrupt() {
        let r = reason(decode::<Added>(&row(br#"{"description":"x","count":300}"#)).unwrap_err());
        assert!(r.contains("Added"), "{r}");
        // Data wants an object:
        reason(decode::<Data>(&row(b"[1,2]")).unwrap_err());
        let ok: Event<Added> = decode(&row(br#"{"description":"x","count":3}"#)).unwrap();
        assert_eq!(ok.data().count, 3);
    }

    #[test]
    fn a_negative_or_zero_version_is_corrupt() {
        for version in [-1, 0, i64::MIN] {
            let bad = StoredRow {
                version,
                ..row(b"{}")
            };
            let r = reason(decode::<Data>(&bad).unwrap_err());
            assert!(r.contains(&format!("found {version}")), "{r}");
        }
        let max = StoredRow {
            version: i64::MAX,
            ..row(b"{}")
        };
        assert_eq!(decode::<Data>(&max).unwrap().version(), i64::MAX as u64);
    }

    #[test]
    fn an_invalid_uuid_is_corrupt() {
        let bad = StoredRow {
            event_id: b"not-a-uuid",
            ..row(b"{}")
        };
        assert!(reason(decode::<Data>(&bad).unwrap_err()).contains("\"not-a-uuid\""));
    }

    #[test]
    fn a_bad_timestamp_or_non_utf8_text_is_corrupt() {
        let bad = StoredRow {
            timestamp: b"yesterday",
            ..row(b"{}")
        };
        assert!(reason(decode::<Data>(&bad).unwrap_err()).contains("RFC 3339"));
        let bad = StoredRow {
            event_type: b"\xff\xfe",
            ..row(b"{}")
        };
        assert!(reason(decode::<Data>(&bad).unwrap_err()).contains("UTF-8"));
    }

    #[test]
    fn a_timestamp_outside_rfc3339_years_is_an_encode_error() {
        let ts = Timestamp::new(-62_167_219_201, 0).unwrap();
        let err = encode(&Event::new("A").with_timestamp(ts)).unwrap_err();
        assert!(matches!(err, StoreError::Encode { .. }), "{err}");
    }

    #[test]
    fn metadata_and_the_payload_version_round_trip() {
        let event = Event::new("A")
            .with_metadata_entry("user", "ada")
            .with_metadata(
                Metadata::new()
                    .with_correlation_id(Uuid::from_u128(1))
                    .with_entry("user", "ada"),
            )
            .with_data_version(4)
            .with_version(1);
        let enc = encode(&event).unwrap();
        assert_eq!(enc.data_version, 4);
        let stored = StoredRow {
            metadata: enc.metadata.as_bytes(),
            data_version: enc.data_version,
            ..row(b"{}")
        };
        let back: Event = decode(&stored).unwrap();
        assert_eq!(back.metadata(), event.metadata());
        assert_eq!(back.data_version(), 4);
        let empty: Event = decode(&StoredRow {
            metadata: b"",
            ..row(b"{}")
        })
        .unwrap();
        assert!(empty.metadata().is_empty());
    }

    #[test]
    fn bad_metadata_or_payload_version_is_corrupt() {
        let r = reason(
            decode::<Data>(&StoredRow {
                metadata: b"[1]",
                ..row(b"{}")
            })
            .unwrap_err(),
        );
        assert!(r.starts_with("metadata should be JSON"), "{r}");
        for bad in [0, -1, i64::from(u32::MAX) + 1] {
            let r = reason(
                decode::<Data>(&StoredRow {
                    data_version: bad,
                    ..row(b"{}")
                })
                .unwrap_err(),
            );
            assert!(r.contains(&format!("found {bad}")), "{r}");
        }
    }

    #[test]
    fn a_decoder_with_upcasters_upcasts_before_decoding() {
        let upcasters = Upcasters::new().on(
            "TodoAdded",
            1,
            |v| serde_json::json!({"description": v["text"], "count": 1}),
        );
        let mut decoder = Decoder::with_upcasters(Some(Arc::new(upcasters)));
        let event: Event<Added> = decoder.decode(&row(br#"{"text":"milk"}"#)).unwrap();
        assert_eq!(event.data().description, "milk");
        assert_eq!(event.data_version(), 2);
        let newer = StoredRow {
            data_version: 3,
            ..row(b"{}")
        };
        let err = decoder.decode::<Data>(&newer).unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::Upcast {
                    position: 7,
                    source: UpcastError::NewerThanCurrent {
                        found: 3,
                        current: 2,
                        ..
                    },
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_decoder_shares_names_between_events() {
        let mut decoder = Decoder::new();
        let a: Event = decoder.decode(&row(b"{}")).unwrap();
        let b: Event = decoder
            .decode(&StoredRow {
                event_id: b"6c0a7c30-3d4e-4f4b-9a43-6a9b3e0f2b12",
                ..row(b"{}")
            })
            .unwrap();
        assert!(Arc::ptr_eq(a.stream_id_name(), b.stream_id_name()));
        assert!(Arc::ptr_eq(a.event_type_name(), b.event_type_name()));
    }
}
