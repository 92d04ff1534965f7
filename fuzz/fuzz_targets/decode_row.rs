//! Decodes a stored row made of arbitrary bytes, as the SQL stores do when
//! they read: it must give an event or `StoreError::Corrupt` naming the
//! row's position, never panic; and an event it gives must encode and decode
//! back to itself.
//!
//! Input: one byte choosing the payload type, the position and the version
//! (8 bytes each, little-endian), then the text columns event_id, stream_id,
//! type, timestamp and data, separated by 0xFF (which UTF-8 never contains).

#![no_main]

use std::collections::BTreeMap;

use dvent::store::codec::{self, Decoder, StoredRow};
use dvent::{Data, Event, StoreError};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A typed payload with the shapes a domain uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Typed {
    description: String,
    count: u32,
    ratio: Option<f64>,
    tags: Vec<String>,
    status: Status,
    extra: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Status {
    Queued,
    Started { at: i64 },
    Finished(bool),
}

fuzz_target!(|bytes: &[u8]| {
    let Some((head, rest)) = bytes.split_first_chunk::<17>() else {
        return;
    };
    let position = i64::from_le_bytes(head[1..9].try_into().unwrap());
    let version = i64::from_le_bytes(head[9..17].try_into().unwrap());
    let mut fields = rest.split(|&b| b == 0xFF);
    let mut next = || fields.next().unwrap_or_default();
    let row = StoredRow {
        position,
        version,
        event_id: next(),
        stream_id: next(),
        event_type: next(),
        timestamp: next(),
        data: next(),
        metadata: next(),
        data_version: i64::from(head[0] / 3),
    };
    match head[0] % 3 {
        0 => check::<Data>(&row),
        1 => check::<Typed>(&row),
        _ => check::<serde_json::Value>(&row),
    }
});

fn check<D>(row: &StoredRow<'_>)
where
    D: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let event: Event<D> = match Decoder::new().decode(row) {
        Ok(event) => event,
        Err(StoreError::Corrupt { position, .. }) => {
            assert_eq!(position, row.position);
            return;
        }
        Err(other) => panic!("decoding gave an error other than Corrupt: {other}"),
    };
    assert!(event.version() >= 1);
    assert_eq!(i64::try_from(event.version()).ok(), Some(row.version));
    assert_eq!(event.stream_id().as_bytes(), row.stream_id);
    assert_eq!(event.event_type().as_bytes(), row.event_type);
    // What decodes must encode and decode back to itself (when its time,
    // converted to UTC, is still within RFC 3339's years).
    let Ok(encoded) = codec::encode(&event) else {
        return;
    };
    let again = StoredRow {
        position: row.position,
        event_id: encoded.event_id.as_bytes(),
        stream_id: row.stream_id,
        version: encoded.version,
        event_type: encoded.event_type.as_bytes(),
        timestamp: encoded.timestamp.as_bytes(),
        data: encoded.data.as_bytes(),
        metadata: encoded.metadata.as_bytes(),
        data_version: encoded.data_version,
    };
    let back: Event<D> = codec::decode(&again).expect("an encoded event decodes");
    assert_eq!(back, event);
}
