//! Reading a `Data` never panics: a missing key reads as null through
//! indexing and as `None` through the typed getters, so an apply function
//! that reads a key an old or malformed stored event lacks still loads.

use dvent::{
    Aggregate, AggregateKind, Data, Event, EventStore, ExpectedVersion, InMemoryEventStore,
    Repository, Value, vector,
};

/// Sets `n` from the event's `missing`, which no event here has.
fn kind() -> AggregateKind {
    AggregateKind::new("X").on("E", |s, e| s.update("n", e.data()["missing"].clone()))
}

#[test]
fn missing_keys_read_as_null_through_indexing_and_none_through_getters() {
    for d in [Data::new(), dvent::data([("present", 1)])] {
        assert_eq!(d["missing"], Value::Null);
        assert_eq!(d["missing"]["deeper"], Value::Null);
        assert_eq!(d.get("missing"), None);
        assert_eq!(d.get_str("missing"), None);
        assert_eq!(d.get_i64("missing"), None);
        assert_eq!(d.get_u64("missing"), None);
        assert_eq!(d.get_f64("missing"), None);
        assert_eq!(d.get_bool("missing"), None);
    }
    let event = Event::new("E");
    assert!(event.data()["status"].is_null());
}

#[test]
fn update_takes_str_keys_and_plain_values() {
    let d = Data::new()
        .update("k", 1)
        .update("s", "text")
        .update("b", true);
    assert_eq!(d.get_i64("k"), Some(1));
    assert_eq!(d.get_str("s"), Some("text"));
    assert_eq!(d.get_bool("b"), Some(true));
}

fn assert_loads_with_null(repo: &Repository) {
    let kind = kind();
    let draft = Aggregate::new(&kind).apply(Event::new("E").with_entry("other", 1));
    assert_eq!(draft.state()["n"], Value::Null);
    let saved = repo.save(&draft).unwrap();
    let loaded = repo.load(&kind, saved.id()).unwrap().unwrap();
    assert_eq!(loaded, saved);
    assert!(loaded.state().contains_key("n"));
    assert_eq!(loaded.state()["n"], Value::Null);
}

#[test]
fn an_apply_function_reading_a_missing_key_loads_from_memory() {
    assert_loads_with_null(&Repository::new(InMemoryEventStore::new()));
}

#[cfg(feature = "sqlite")]
#[test]
fn an_apply_function_reading_a_missing_key_loads_from_sqlite() {
    assert_loads_with_null(&Repository::new(
        dvent::SqliteEventStore::open_in_memory().unwrap(),
    ));
}

/// Events stored before the kind read their key (an empty payload, or one
/// with only other keys) fold without a panic.
#[test]
fn events_stored_without_the_key_fold_to_null() {
    let store = InMemoryEventStore::new();
    let id = dvent::uuid::Uuid::new_v4();
    store
        .append(
            &id.to_string(),
            &vector![Event::new("E"), Event::new("E").with_entry("legacy", "x")],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    let loaded = Repository::new(store)
        .load(&kind(), id)
        .unwrap()
        .expect("the events were saved");
    assert_eq!(loaded.version(), 2);
    assert_eq!(loaded.state(), &dvent::data([("n", Value::Null)]));
}
