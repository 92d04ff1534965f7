//! `Data` keeps a small map (at most 8 keys) as one sorted array and a
//! larger one as an `imbl::OrdMap`: whatever the form, it behaves as the
//! `imbl::OrdMap` of its entries (the model here), for any operations.

use dvent::{Data, Value};
use imbl::OrdMap;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, i64),
    Update(u8, i64),
    Without(u8),
    GetMut(u8, i64),
    Union(Vec<(u8, i64)>),
    UnionInto(Vec<(u8, i64)>),
    /// Keep a clone (which must not change) and go on with the original.
    Keep,
}

fn key(k: u8) -> String {
    // Up to 20 distinct keys, so maps cross the small limit both ways.
    format!("k{:02}", k % 20)
}

fn op() -> impl Strategy<Value = Op> {
    let pairs = proptest::collection::vec((any::<u8>(), any::<i64>()), 0..12);
    prop_oneof![
        4 => (any::<u8>(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (any::<u8>(), any::<i64>()).prop_map(|(k, v)| Op::Update(k, v)),
        2 => any::<u8>().prop_map(Op::Without),
        1 => (any::<u8>(), any::<i64>()).prop_map(|(k, v)| Op::GetMut(k, v)),
        1 => pairs.clone().prop_map(Op::Union),
        1 => pairs.prop_map(Op::UnionInto),
        1 => Just(Op::Keep),
    ]
}

fn model_of(pairs: &[(u8, i64)]) -> OrdMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (key(*k), Value::from(*v)))
        .collect()
}

fn data_of(pairs: &[(u8, i64)]) -> Data {
    pairs.iter().map(|(k, v)| (key(*k), *v)).collect()
}

/// Every read of `data` agrees with `model`.
fn check(data: &Data, model: &OrdMap<String, Value>) {
    assert_eq!(data.len(), model.len());
    assert_eq!(data.is_empty(), model.is_empty());
    let entries: Vec<_> = data.iter().collect();
    let expected: Vec<_> = model.iter().collect();
    assert_eq!(entries, expected);
    let backwards: Vec<_> = data.iter().rev().collect();
    assert_eq!(
        backwards,
        expected.iter().rev().copied().collect::<Vec<_>>()
    );
    assert_eq!(data.keys().len(), model.len());
    assert!(data.keys().eq(model.keys()));
    assert!(data.values().eq(model.values()));
    for k in 0..20 {
        let key = key(k);
        assert_eq!(data.get(&key), model.get(&key));
        assert_eq!(data.contains_key(&key), model.contains_key(&key));
        assert_eq!(data[&key], model.get(&key).cloned().unwrap_or(Value::Null));
    }
    // Equal to the same entries in the other form, and to the model's JSON.
    assert_eq!(*data, Data::from(model.clone()));
    assert_eq!(Data::from(model.clone()), *data);
    assert_eq!(
        serde_json::to_string(data).unwrap(),
        serde_json::to_string(model).unwrap()
    );
    let back: Data = serde_json::from_str(&serde_json::to_string(data).unwrap()).unwrap();
    assert_eq!(back, *data);
    assert_eq!(format!("{data:?}"), format!("{model:?}"));
}

proptest! {
    #[test]
    fn any_operations_agree_with_the_ordmap(
        start in proptest::collection::vec((any::<u8>(), any::<i64>()), 0..14),
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let mut data = data_of(&start);
        let mut model = model_of(&start);
        check(&data, &model);
        let mut kept = Vec::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    let replaced = data.insert(key(k), v);
                    prop_assert_eq!(replaced, model.insert(key(k), v.into()));
                }
                Op::Update(k, v) => {
                    data = data.update(key(k), v);
                    model.insert(key(k), v.into());
                }
                Op::Without(k) => {
                    data = data.without(&key(k));
                    model = model.without(&key(k));
                }
                Op::GetMut(k, v) => {
                    let found = data.get_mut(&key(k)).map(|slot| *slot = v.into()).is_some();
                    prop_assert_eq!(found, model.get_mut(&key(k)).map(|slot| *slot = v.into()).is_some());
                }
                Op::Union(pairs) => {
                    data = data.union(data_of(&pairs));
                    model = model.union(model_of(&pairs));
                }
                Op::UnionInto(pairs) => {
                    data = data_of(&pairs).union(data);
                    model = model_of(&pairs).union(model);
                }
                Op::Keep => kept.push((data.clone(), model.clone())),
            }
            check(&data, &model);
        }
        // Nothing done to the map changed a clone kept along the way.
        for (data, model) in &kept {
            check(data, model);
        }
    }
}

#[test]
fn a_map_grows_past_the_small_form_and_shrinks_back_in_order() {
    let mut data = Data::new();
    for k in (0..20).rev() {
        data.insert(key(k), k);
        assert_eq!(data.len(), 20 - usize::from(k));
        assert!(data.keys().is_sorted());
    }
    let small_again = (0..17).fold(data.clone(), |d, k| d.without(&key(k)));
    assert_eq!(
        small_again.keys().map(String::as_str).collect::<Vec<_>>(),
        ["k17", "k18", "k19"]
    );
    assert_eq!(
        small_again,
        dvent::data([("k17", 17), ("k18", 18), ("k19", 19)])
    );
    assert_eq!(data.len(), 20);
}

#[test]
fn a_key_given_twice_keeps_its_last_value_in_either_form() {
    let few = dvent::data([("b", 1), ("a", 2), ("b", 3)]);
    assert_eq!(few, dvent::data([("a", 2), ("b", 3)]));
    let many: Data = (0..12).map(|i| (key(i % 10), i)).collect::<Data>();
    assert_eq!(many.len(), 10);
    assert_eq!(many.get_i64("k01"), Some(11));
    let json: Data = serde_json::from_str(r#"{"b":1,"a":2,"b":3}"#).unwrap();
    assert_eq!(json, few);
    assert!(serde_json::from_str::<Data>("[1]").is_err());
}

#[test]
fn get_mut_on_a_shared_small_map_leaves_the_clone() {
    let original = dvent::data([("status", "Queued")]);
    let mut changed = original.clone();
    *changed.get_mut("status").unwrap() = "Started".into();
    assert_eq!(original["status"], "Queued");
    assert_eq!(changed["status"], "Started");
    assert!(changed.get_mut("missing").is_none());
    assert!(Data::new().get_mut("status").is_none());
}
