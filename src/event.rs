//! Domain events: facts that happened, named in the past tense (`TodoAdded`).

use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::data::{Data, Value};
use crate::metadata::{Cause, Metadata};
use crate::name::{self, Name};

/// Something that happened in the domain: an immutable value.
///
/// | value | meaning | when not given |
/// |---|---|---|
/// | [`event_type`](Event::event_type) | the kind of event | required |
/// | [`id`](Event::id) | unique id | a new time-ordered UUID (v7, see [`Event::typed`]) |
/// | [`stream_id`](Event::stream_id) | the stream it belongs to | empty; a store sets it |
/// | [`timestamp`](Event::timestamp) | when it happened, UTC | now |
/// | [`data`](Event::data) | the payload | empty [`Data`] map |
/// | [`version`](Event::version) | position in its stream, from 1 | 0, "not yet versioned" |
/// | [`metadata`](Event::metadata) | correlation and causation ids, user entries | empty [`Metadata`] |
/// | [`data_version`](Event::data_version) | the payload's schema version, from 1 (see [`upcast`](crate::upcast)) | 1, or what its [`EventType`](crate::EventType) says |
///
/// The payload type `D` defaults to the dynamic [`Data`] map; any other type
/// (a serde struct or enum) works too: [`Event::with_data`] switches the
/// payload and its type. A version is a `u64`, so it can never be negative.
///
/// Every `with_*` method takes the event by value and returns a new one;
/// nothing is changed in place. Clone is O(1) plus the payload's clone
/// (O(1) for [`Data`]).
///
/// # Example
///
/// ```
/// use dvent::Event;
///
/// let event = Event::new("TodoAdded")
///     .with_entry("description", "Buy milk")
///     .with_entry("status", "Queued");
/// assert_eq!(event.event_type(), "TodoAdded");
/// assert_eq!(event.data()["status"], "Queued");
/// assert_eq!(event.version(), 0);
/// assert_eq!(event.stream_id(), "");
///
/// // A typed payload:
/// #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
/// struct StatusChanged { status: String }
/// let typed = Event::new("TodoStatusChanged").with_data(StatusChanged { status: "Started".into() });
/// assert_eq!(typed.data().status, "Started");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event<D = Data> {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: Name,
    /// `None` for the empty stream id (an event not yet saved): so making an
    /// event touches no shared counter.
    #[serde(with = "stream_name")]
    stream_id: Option<Name>,
    timestamp: Timestamp,
    data: D,
    version: u64,
    /// `None` for empty metadata (most events), so an event is small; never
    /// `Some` of empty metadata (see [`shared_metadata`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "shared_metadata"
    )]
    metadata: Option<Arc<Metadata>>,
    #[serde(
        default = "first_data_version",
        skip_serializing_if = "is_first_data_version"
    )]
    data_version: u32,
}

/// A stream id as kept in an event: `None` for the empty one.
fn stream_name(stream_id: Name) -> Option<Name> {
    (!stream_id.is_empty()).then_some(stream_id)
}

/// Metadata as kept in an event: `None` when empty.
fn shared(metadata: Metadata) -> Option<Arc<Metadata>> {
    (!metadata.is_empty()).then(|| Arc::new(metadata))
}

/// The empty metadata, shared (what an event without metadata shows).
fn empty_metadata() -> &'static Metadata {
    static EMPTY: OnceLock<Metadata> = OnceLock::new();
    EMPTY.get_or_init(Metadata::new)
}

/// Serde for an event's stream id: a string, empty for `None`.
mod stream_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::name::Name;

    #[allow(clippy::ref_option)] // serde's serialize_with passes a reference
    pub(super) fn serialize<S: Serializer>(
        stream_id: &Option<Name>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(stream_id.as_deref().unwrap_or(""))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Name>, D::Error> {
        Name::deserialize(deserializer).map(super::stream_name)
    }
}

/// Serde for an event's metadata: the [`Metadata`] object (left out when
/// empty, so `None` is only ever skipped).
mod shared_metadata {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::metadata::Metadata;

    #[allow(clippy::ref_option)] // serde's serialize_with passes a reference
    pub(super) fn serialize<S: Serializer>(
        metadata: &Option<Arc<Metadata>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match metadata {
            Some(metadata) => metadata.serialize(serializer),
            None => Metadata::new().serialize(serializer),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Arc<Metadata>>, D::Error> {
        Metadata::deserialize(deserializer).map(super::shared)
    }
}

/// Prints every value, as a derived `Debug` would (an empty stream id as
/// `""`, empty metadata in full).
impl<D: fmt::Debug> fmt::Debug for Event<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("event_type", &self.event_type)
            .field("stream_id", &self.stream_id())
            .field("timestamp", &self.timestamp)
            .field("data", &self.data)
            .field("version", &self.version)
            .field("metadata", self.metadata())
            .field("data_version", &self.data_version)
            .finish()
    }
}

/// The payload schema version of an event that names none.
fn first_data_version() -> u32 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_first_data_version(version: &u32) -> bool {
    *version == 1
}

impl Event<Data> {
    /// A new event of the given type: random id, no stream, now, empty data,
    /// version 0.
    ///
    /// Time: O(1) (one allocation for the type name unless it is a shared
    /// [`Name`](crate::Name) already).
    #[must_use]
    pub fn new(event_type: impl Into<Name>) -> Self {
        Event::typed(event_type, Data::new())
    }

    /// Returns the event with `key` set to `value` in its data map.
    ///
    /// Time: O(log n) in the number of keys.
    #[must_use]
    pub fn with_entry(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.data.insert(key, value);
        self
    }
}

impl<D> Event<D> {
    /// A new event of the given type with a payload of any type: a new id,
    /// no stream, now, version 0.
    ///
    /// The id is a UUID version 7 made from the same clock read as the
    /// timestamp (its first 48 bits are the timestamp's milliseconds, the
    /// other 74 a counter started at random each millisecond, per thread:
    /// RFC 9562's method 1): unique as a random id is, and ordered by time
    /// to the millisecond (and within one thread's millisecond, by the
    /// order made), so stores insert new ids near each other in their
    /// indexes rather than all over them. Within a thread and a
    /// millisecond, an id tells the next (it is one more): ids identify,
    /// they are not secrets. One clock read per event, one random draw per
    /// thread and millisecond.
    #[must_use]
    pub fn typed(event_type: impl Into<Name>, data: D) -> Self {
        let now = Timestamp::now();
        Event {
            id: time_ordered_id(now),
            event_type: event_type.into(),
            stream_id: None,
            timestamp: now,
            data,
            version: 0,
            metadata: None,
            data_version: 1,
        }
    }

    /// An event from stored parts, as a store reads it back (no random id,
    /// no clock).
    #[allow(clippy::too_many_arguments)] // one per stored column
    pub(crate) fn from_stored(
        id: Uuid,
        event_type: Name,
        stream_id: Name,
        timestamp: Timestamp,
        data: D,
        version: u64,
        metadata: Metadata,
        data_version: u32,
    ) -> Self {
        Event {
            id,
            event_type,
            stream_id: stream_name(stream_id),
            timestamp,
            data,
            version,
            metadata: shared(metadata),
            data_version,
        }
    }

    /// The event's unique id.
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The event's type, such as `TodoAdded`.
    #[must_use]
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The event's type as a shared [`Name`](crate::Name) (O(1) to clone).
    #[must_use]
    pub fn event_type_name(&self) -> &Name {
        &self.event_type
    }

    /// The stream the event was saved to; empty until a store saves it.
    #[must_use]
    pub fn stream_id(&self) -> &str {
        self.stream_id.as_deref().unwrap_or("")
    }

    /// The stream id as a shared [`Name`](crate::Name) (O(1) to clone).
    #[must_use]
    pub fn stream_id_name(&self) -> &Name {
        self.stream_id.as_ref().unwrap_or_else(|| name::empty_ref())
    }

    /// When it happened, in UTC.
    #[must_use]
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The payload.
    #[must_use]
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The event's position in its stream, counted from 1; 0 means "not yet
    /// versioned".
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The event's metadata: correlation and causation ids, user entries.
    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        self.metadata.as_deref().unwrap_or_else(|| empty_metadata())
    }

    /// The version of the payload's schema, from 1: what a store keeps
    /// beside the payload, so that [upcasters](crate::upcast) can bring an
    /// old payload up to date when it is read.
    #[must_use]
    pub fn data_version(&self) -> u32 {
        self.data_version
    }

    /// Returns the event with other metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = shared(metadata);
        self
    }

    /// The metadata, taken out of the event (cloned only when shared).
    fn take_metadata(&mut self) -> Metadata {
        self.metadata
            .take()
            .map(Arc::unwrap_or_clone)
            .unwrap_or_default()
    }

    /// Returns the event with `key` set to `value` in its metadata's
    /// entries. Time: O(log n) in the number of entries.
    #[must_use]
    pub fn with_metadata_entry(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata = shared(self.take_metadata().with_entry(key, value));
        self
    }

    /// Returns the event as caused by `cause` (a [`Command`](crate::Command)
    /// or another event): its correlation id becomes the cause's
    /// correlation id, or the cause's id when it has none; its causation id
    /// the cause's id; the cause's metadata entries are added to its own
    /// (its own win). Time: O(m log(n + m)) in the entries.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{Command, Event};
    ///
    /// let command = Command::new("AddTodo").with_metadata_entry("user", "ada");
    /// let event = Event::new("TodoAdded").caused_by(&command);
    /// assert_eq!(event.metadata().causation_id(), Some(command.id()));
    /// assert_eq!(event.metadata().entries()["user"], "ada");
    /// ```
    #[must_use]
    pub fn caused_by(mut self, cause: &impl Cause) -> Self {
        let own = self.take_metadata();
        let inherited = Metadata::caused_by(cause);
        let entries = own.entries().clone().union(inherited.entries().clone());
        self.metadata = shared(inherited.with_entries(entries));
        self
    }

    /// Returns the event with another payload schema version (see
    /// [`upcast`](crate::upcast)). A store refuses 0.
    #[must_use]
    pub fn with_data_version(mut self, data_version: u32) -> Self {
        self.data_version = data_version;
        self
    }

    /// Returns the event with another id.
    #[must_use]
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Returns the event with another type.
    #[must_use]
    pub fn with_type(mut self, event_type: impl Into<Name>) -> Self {
        self.event_type = event_type.into();
        self
    }

    /// Returns the event in another stream.
    #[must_use]
    pub fn with_stream_id(mut self, stream_id: impl Into<Name>) -> Self {
        self.stream_id = stream_name(stream_id.into());
        self
    }

    /// Returns the event with another timestamp.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Returns the event with another version.
    #[must_use]
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    /// Returns the event with another payload, which may be of another type.
    #[must_use]
    pub fn with_data<E>(self, data: E) -> Event<E> {
        Event {
            id: self.id,
            event_type: self.event_type,
            stream_id: self.stream_id,
            timestamp: self.timestamp,
            data,
            version: self.version,
            metadata: self.metadata,
            data_version: self.data_version,
        }
    }
}

impl<D> Cause for Event<D> {
    fn cause_id(&self) -> Uuid {
        self.id
    }

    fn metadata(&self) -> &Metadata {
        Event::metadata(self)
    }
}

/// The random bits of a version 7 UUID (`rand_a`, 12, then `rand_b`, 62).
const RANDOM_BITS: u32 = 74;

/// A UUID version 7 for the instant `now`: its milliseconds since the Unix
/// epoch (48 bits), then 74 bits that are random for the first id a thread
/// makes in a millisecond and count up by one for each next id it makes in
/// that millisecond: the "fixed-length dedicated counter" of RFC 9562,
/// section 6.2, method 1, over all 74 bits, seeded at random (from the
/// same generator as [`Uuid::new_v4`]) at each new millisecond, with its
/// top bit clear so that it cannot overflow.
///
/// So ids are unique (two threads, or two processes, in one millisecond
/// start at independent random points 2^73 apart on average), one thread's
/// ids are strictly increasing within a millisecond, and ids sort by
/// millisecond; one random draw a millisecond per thread instead of one an
/// id. The price: within a thread and a millisecond, an id tells the next
/// one (it is one more). Event ids are identifiers, not secrets.
///
/// An instant before the epoch, which no clock gives, counts as the epoch.
/// Time: O(1); a thread-local read and write.
fn time_ordered_id(now: Timestamp) -> Uuid {
    thread_local! {
        /// The millisecond and counter of this thread's last id.
        static LAST: Cell<(u64, u128)> = const { Cell::new((u64::MAX, 0)) };
    }
    let millis = u64::try_from(now.as_millisecond()).unwrap_or(0) & ((1 << 48) - 1);
    let counter = LAST.with(|last| {
        let (at, counter) = last.get();
        let next = if at == millis {
            counter + 1
        } else {
            random_counter()
        };
        last.set((millis, next));
        next
    });
    let rand_a = (counter >> 62) & 0xFFF;
    let rand_b = counter & ((1 << 62) - 1);
    Uuid::from_u128(
        (u128::from(millis) << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b,
    )
}

/// A random start for a millisecond's counter: the 74 random bits of a
/// version 4 UUID (its 12 after the version nibble and its 62 after the
/// variant), with the top one cleared.
fn random_counter() -> u128 {
    let random = Uuid::new_v4().as_u128();
    let bits = (((random >> 64) & 0xFFF) << 62) | (random & ((1 << 62) - 1));
    bits & ((1 << (RANDOM_BITS - 1)) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_event_has_all_six_values_with_their_defaults() {
        let before = Timestamp::now();
        let event = Event::new("TodoAdded");
        assert_eq!(event.event_type(), "TodoAdded");
        assert_eq!(event.id().get_version_num(), 7);
        // The id holds the timestamp's milliseconds.
        let (seconds, nanos) = event
            .id()
            .get_timestamp()
            .expect("a v7 id has a time")
            .to_unix();
        assert_eq!(
            seconds as i64 * 1_000 + i64::from(nanos / 1_000_000),
            event.timestamp().as_millisecond()
        );
        assert_eq!(event.stream_id(), "");
        assert!(event.timestamp() >= before && event.timestamp() <= Timestamp::now());
        assert!(event.data().is_empty());
        assert_eq!(event.version(), 0);
    }

    #[test]
    fn with_methods_return_a_new_value_and_leave_the_original() {
        let original = Event::new("TodoAdded").with_entry("status", "Queued");
        let changed = original
            .clone()
            .with_entry("status", "Started")
            .with_version(3);
        assert_eq!(original.data()["status"], "Queued");
        assert_eq!(original.version(), 0);
        assert_eq!(changed.data()["status"], "Started");
        assert_eq!(changed.version(), 3);
        assert_eq!(changed.id(), original.id());
    }

    #[test]
    fn a_time_ordered_id_is_a_v7_uuid_of_the_instant() {
        let at = Timestamp::from_millisecond(1_767_225_600_123).unwrap();
        let id = time_ordered_id(at);
        assert_eq!(id.get_version(), Some(uuid::Version::SortRand));
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let (seconds, nanos) = id.get_timestamp().expect("a v7 id has a time").to_unix();
        assert_eq!((seconds, nanos), (1_767_225_600, 123_000_000));
        // Ids of one millisecond differ in their random bits, and ids of a
        // later millisecond sort after.
        assert_ne!(time_ordered_id(at), id);
        let later = Timestamp::from_millisecond(1_767_225_600_124).unwrap();
        assert!(time_ordered_id(later) > id);
        let before_epoch = Timestamp::from_second(-5).unwrap();
        assert_eq!(
            time_ordered_id(before_epoch)
                .get_timestamp()
                .unwrap()
                .to_unix(),
            (0, 0)
        );
    }

    #[test]
    fn ids_of_one_thread_count_up_within_a_millisecond_and_start_at_random_in_the_next() {
        let at = Timestamp::from_millisecond(1_767_225_600_123).unwrap();
        let ids: Vec<Uuid> = (0..1_000).map(|_| time_ordered_id(at)).collect();
        assert!(ids.windows(2).all(|w| w[1].as_u128() == w[0].as_u128() + 1));
        assert!(ids.iter().all(|id| id.get_version_num() == 7
            && id.get_variant() == uuid::Variant::RFC4122
            && id.get_timestamp().unwrap().to_unix() == (1_767_225_600, 123_000_000)));
        // The counter's top bit is clear, so it has room to count.
        assert_eq!((ids[0].as_u128() >> 75) & 1, 0);
        // Another millisecond, even an earlier one, draws again.
        let earlier = Timestamp::from_millisecond(1_767_225_600_122).unwrap();
        let other = time_ordered_id(earlier);
        assert!(other < ids[0]);
        let again = time_ordered_id(at);
        assert_ne!(
            again.as_u128(),
            ids[999].as_u128() + 1,
            "a fresh random start"
        );
        // Threads count from their own random starts.
        let theirs = std::thread::spawn(move || time_ordered_id(at))
            .join()
            .unwrap();
        assert!(!ids.contains(&theirs) && theirs != again);
    }

    #[test]
    fn an_empty_stream_id_or_metadata_is_the_same_however_it_is_given() {
        let event = Event::new("A");
        let given = event
            .clone()
            .with_stream_id("")
            .with_metadata(Metadata::new());
        assert_eq!(given, event);
        assert_eq!(given.stream_id_name().as_ref(), "");
        assert!(given.metadata().is_empty());
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains(r#""stream_id":"""#) && !json.contains("metadata"));
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        let with_empty: Event =
            serde_json::from_str(&json.replace(r#""version""#, r#""metadata":{},"version""#))
                .unwrap();
        assert_eq!(with_empty, event);
        let saved = event
            .clone()
            .with_stream_id("s-1")
            .with_metadata_entry("user", "ada");
        let back: Event = serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        assert_eq!(back, saved);
        assert_eq!(back.metadata().entries()["user"], "ada");
        assert!(format!("{event:?}").contains(r#"stream_id: "", "#));
    }

    #[test]
    fn two_new_events_differ_by_id() {
        assert_ne!(Event::new("A").id(), Event::new("A").id());
    }

    #[test]
    fn an_event_survives_a_json_round_trip() {
        let event = Event::new("TodoAdded")
            .with_entry("n", 3)
            .with_stream_id("s-1")
            .with_version(2);
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains("\"type\":\"TodoAdded\""));
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn a_negative_version_in_json_is_rejected() {
        let json = r#"{"id":"6c0a7c30-3d4e-4f4b-9a43-6a9b3e0f2b11","type":"A","stream_id":"","timestamp":"2026-01-01T00:00:00Z","data":{},"version":-1}"#;
        assert!(serde_json::from_str::<Event>(json).is_err());
    }
}
