//! Metadata and upcasting, alike on every store: metadata reads back equal
//! and is compared in retries; an event saved at payload version 1 reads as
//! version 3 through two upcasters in every read path; a missing upcaster
//! or a newer stored version is a typed error, never a skip.

#[path = "support/stores.rs"]
mod stores;

use dvent::serde_json::json;
use dvent::store::RetryDifference;
use dvent::upcast::UpcastError;
use dvent::{
    Command, Data, Event, EventStore, ExpectedVersion, InMemoryEventStore, Metadata, StoreError,
    Upcasters, uuid::Uuid, vector,
};

/// TodoAdded: v1 `{"text"}`, v2 `{"description"}`, v3 adds `status`.
fn upcasters() -> Upcasters {
    Upcasters::new()
        .on("TodoAdded", 1, |mut v| {
            if let Some(text) = v.as_object_mut().and_then(|o| o.remove("text")) {
                v["description"] = text;
            }
            v
        })
        .on("TodoAdded", 2, |mut v| {
            v["status"] = json!("Queued");
            v
        })
}

/// The checks every store passes; `store` is fresh and empty, `upcasting`
/// builds another handle on it with upcasters.
fn check<S>(name: &str, store: S, upcasting: impl Fn(S, Upcasters) -> S)
where
    S: EventStore + Clone,
{
    // Metadata round trip and a causation chain.
    let command = Command::new("AddTodo").with_metadata_entry("user", "ada");
    let added = Event::new("TodoAdded")
        .with_entry("text", "Buy milk")
        .caused_by(&command);
    let noticed = Event::new("TodoNoticed")
        .caused_by(&added)
        .with_metadata_entry("tenant", "acme");
    let saved = store
        .append(
            "todo-1",
            &vector![added.clone(), noticed.clone()],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    let read = store.events(Some("todo-1"), 0).unwrap();
    assert_eq!(read, saved, "{name}");
    assert_eq!(read[0].metadata(), added.metadata(), "{name}");
    assert_eq!(
        read[1].metadata().causation_id(),
        Some(added.id()),
        "{name}"
    );
    assert_eq!(
        read[1].metadata().correlation_id(),
        Some(command.id()),
        "{name}"
    );
    assert_eq!(read[1].metadata().entries()["user"], "ada", "{name}");
    assert_eq!(read[1].metadata().entries()["tenant"], "acme", "{name}");

    // A retry compares metadata.
    let again = store
        .append(
            "todo-1",
            &vector![added.clone(), noticed.clone()],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    assert_eq!(again, saved, "{name}");
    let other = noticed.clone().with_metadata(Metadata::new());
    let err = store
        .append(
            "todo-1",
            &vector![added.clone(), other],
            ExpectedVersion::NoStream,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::RetryMismatch {
                difference: RetryDifference::Metadata,
                ..
            }
        ),
        "{name}: {err}"
    );

    // Saved at versions 1, 2 and 3; read as 3 through the upcasters.
    let v2 = Event::new("TodoAdded")
        .with_entry("description", "Walk dog")
        .with_data_version(2);
    let v3 = Event::new("TodoAdded")
        .with_entry("description", "Read")
        .with_entry("status", "Started")
        .with_data_version(3);
    store
        .append("todo-2", &vector![v2, v3], ExpectedVersion::NoStream)
        .unwrap();
    let up = upcasting(store.clone(), upcasters());
    let want = [
        ("Buy milk", "Queued"),
        ("Walk dog", "Queued"),
        ("Read", "Started"),
    ];
    let added_of = |events: Vec<Event>| -> Vec<(String, String, u32)> {
        events
            .into_iter()
            .filter(|e| e.event_type() == "TodoAdded")
            .map(|e| {
                (
                    e.data().get_str("description").unwrap_or("?").to_string(),
                    e.data().get_str("status").unwrap_or("?").to_string(),
                    e.data_version(),
                )
            })
            .collect()
    };
    let expected: Vec<(String, String, u32)> = want
        .iter()
        .map(|(d, s)| (d.to_string(), s.to_string(), 3))
        .collect();
    assert_eq!(added_of(up.events(None, 0).unwrap()), expected, "{name}");
    let all: Vec<Event> = up
        .read_all(0, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert_eq!(added_of(all), expected, "{name}");
    let stream: Vec<Event> = up
        .read_stream("todo-1", 0, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert_eq!(added_of(stream), expected[..1], "{name}");
    let first = up.events(Some("todo-1"), 0).unwrap().remove(0);
    assert_eq!(first.id(), added.id(), "{name}");
    assert_eq!(first.metadata(), added.metadata(), "{name}");
    let mut subscription = up.subscribe(0);
    let next = subscription.next().unwrap().unwrap();
    assert_eq!(next.event.data()["description"], "Buy milk", "{name}");
    // History is not rewritten: the plain handle reads as stored.
    let plain = store.events(Some("todo-1"), 0).unwrap();
    assert_eq!(plain[0].data()["text"], "Buy milk", "{name}");
    assert_eq!(plain[0].data_version(), 1, "{name}");
    // A retry through the upcasting handle compares with what is stored,
    // not with what is read: the same batch is a retry.
    let again = up
        .append(
            "todo-1",
            &vector![added.clone(), noticed.clone()],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    assert_eq!(again, saved, "{name}");

    // A missing step is a typed error naming the type and the versions.
    let gap = upcasting(store.clone(), Upcasters::new().on("TodoAdded", 2, |v| v));
    let err = gap.events(Some("todo-1"), 0).unwrap_err();
    match &err {
        StoreError::Upcast {
            stream_id,
            position,
            event_id,
            source:
                UpcastError::MissingUpcaster {
                    event_type,
                    found: 1,
                    current: 3,
                    missing: 1,
                },
        } => {
            assert_eq!(
                (
                    stream_id.as_str(),
                    *position,
                    *event_id,
                    event_type.as_str()
                ),
                ("todo-1", 1, added.id(), "TodoAdded"),
                "{name}"
            );
        }
        other => panic!("{name}: expected a missing upcaster, got {other:?}"),
    }
    assert!(
        gap.last_event("todo-1").is_ok(),
        "{name}: TodoNoticed is fine"
    );
    assert!(gap.read_all(0, 10).is_err(), "{name}");
    assert!(gap.read_stream("todo-1", 0, 10).is_err(), "{name}");

    // A stored version newer than the current one is an error too.
    let newer = Event::new("TodoAdded").with_data_version(4);
    store
        .append("todo-3", &vector![newer.clone()], ExpectedVersion::NoStream)
        .unwrap();
    let err = up.last_event("todo-3").unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Upcast {
                source: UpcastError::NewerThanCurrent {
                    found: 4,
                    current: 3,
                    ..
                },
                event_id,
                ..
            } if *event_id == newer.id()
        ),
        "{name}: {err}"
    );
    assert!(err.to_string().contains("found version 4"), "{name}: {err}");

    // A payload version of 0 is refused on saving.
    let err = store
        .append(
            "todo-4",
            &vector![Event::new("A").with_data_version(0)],
            ExpectedVersion::Any,
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidEvent { .. }),
        "{name}: {err}"
    );
}

#[test]
fn memory() {
    check("memory", InMemoryEventStore::new(), |s, u| {
        s.with_upcasters(u)
    });
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite() {
    let store: dvent::SqliteEventStore = dvent::SqliteEventStore::open_in_memory().unwrap();
    check("sqlite", store, |s, u| s.with_upcasters(u));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres() {
    let Some(url) = stores::postgres_url().unwrap_or_else(|m| panic!("{m}")) else {
        return;
    };
    let schema = stores::postgres::fresh_schema();
    let store: dvent::PostgresEventStore =
        dvent::PostgresEventStore::connect_with_schema(&url, &schema).unwrap();
    let cleanup = store.clone();
    check("postgres", store, |s, u| s.with_upcasters(u));
    cleanup.drop_schema().unwrap();
}

/// A typed payload is decoded after upcasting: its struct has only the
/// version-3 shape, which a version-1 row does not have.
#[cfg(feature = "sqlite")]
#[test]
fn a_typed_payload_is_decoded_after_upcasting() {
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TodoAdded {
        description: String,
        status: String,
    }
    impl dvent::EventType for TodoAdded {
        fn event_type(&self) -> &'static str {
            "TodoAdded"
        }
        fn data_version(&self) -> u32 {
            3
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typed.sqlite");
    let old: dvent::SqliteEventStore<Data> = dvent::SqliteEventStore::open(&path).unwrap();
    old.append(
        "t",
        &vector![Event::new("TodoAdded").with_entry("text", "Buy milk")],
        ExpectedVersion::Any,
    )
    .unwrap();
    let typed: dvent::SqliteEventStore<TodoAdded> = dvent::SqliteEventStore::open(&path).unwrap();
    assert!(matches!(
        typed.events(None, 0),
        Err(StoreError::Corrupt { .. })
    ));
    let typed = typed.with_upcasters(upcasters());
    let current = Event::of(TodoAdded {
        description: "Walk dog".into(),
        status: "Started".into(),
    });
    assert_eq!(current.data_version(), 3);
    typed
        .append("t", &vector![current.clone()], ExpectedVersion::Exact(1))
        .unwrap();
    let read = typed.events(Some("t"), 0).unwrap();
    assert_eq!(
        read[0].data(),
        &TodoAdded {
            description: "Buy milk".into(),
            status: "Queued".into()
        }
    );
    assert_eq!(read[1], current.with_stream_id("t").with_version(2));
    let _: Uuid = read[0].id();
}
