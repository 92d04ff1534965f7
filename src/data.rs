//! The dynamic payload and state: a persistent, ordered map of JSON values.
//!
//! [`Data`] is what an event or command carries, and what an aggregate's
//! state is, when no Rust type is declared for them. It wraps an
//! [`imbl::OrdMap`]: cloning it is O(1), a changed copy shares all but
//! O(log n) of its nodes with the original, and its keys iterate (and
//! serialise) in sorted order, so equal maps always print alike.
//!
//! Reading it never panics: a missing key indexes as [`Value::Null`] (as
//! [`serde_json::Value`] indexing does), and the typed getters
//! ([`Data::get_str`], [`Data::get_i64`], ...) return [`None`] for a key that
//! is missing or holds another kind of value. So an apply function folding an
//! old or malformed stored event sees `null`, not a panic.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Index;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};
pub use serde_json::Value;

/// What indexing gives for a missing key.
static NULL: Value = Value::Null;

/// A persistent map from text keys to JSON values, sorted by key.
///
/// It serialises exactly as a JSON object (the same bytes as the
/// [`imbl::OrdMap`] it wraps), keys in sorted order.
///
/// | Operation | Time |
/// |---|---|
/// | [`clone`](Clone::clone) | O(1) |
/// | `data["key"]`, [`get`](Data::get), `get_*`, [`contains_key`](Data::contains_key) | O(log n) |
/// | [`update`](Data::update), [`insert`](Data::insert), [`without`](Data::without) | O(log n) |
/// | [`union`](Data::union) | O(m log(n + m)), m the smaller map's size |
/// | [`len`](Data::len), [`is_empty`](Data::is_empty) | O(1) |
/// | [`iter`](Data::iter), [`keys`](Data::keys), [`values`](Data::values) | O(n) for all, in key order |
///
/// # Example
///
/// ```
/// use dvent::Data;
///
/// let state = Data::new().update("status", "Queued").update("count", 2);
/// assert_eq!(state["status"], "Queued");
/// assert_eq!(state.get_i64("count"), Some(2));
/// // A missing key is null, never a panic:
/// assert!(state["missing"].is_null());
/// assert_eq!(state.get_str("missing"), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Data(OrdMap<String, Value>);

impl Data {
    /// An empty map.
    ///
    /// Time: O(1).
    #[must_use]
    pub fn new() -> Self {
        Data(OrdMap::new())
    }

    /// The value at `key`, or [`None`] when the key is missing.
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// The value at `key` to change in place, or [`None`] when the key is
    /// missing; a clone sharing the map keeps its value (the nodes on the
    /// key's path are copied first when shared).
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.get_mut(key)
    }

    /// The text at `key`; [`None`] when the key is missing or its value is
    /// not a string.
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The integer at `key`; [`None`] when the key is missing or its value
    /// is not a number that fits an `i64` (a fraction does not).
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }

    /// The unsigned integer at `key`; [`None`] when the key is missing or
    /// its value is not a number that fits a `u64` (a negative or a fraction
    /// does not).
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    /// The number at `key` as an `f64` (an integer converts, possibly
    /// rounded); [`None`] when the key is missing or its value is not a
    /// number.
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// The boolean at `key`; [`None`] when the key is missing or its value
    /// is not `true` or `false`.
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    /// Whether `key` is in the map (even with a `null` value).
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The map with `key` set to `value` (replacing any value it had).
    ///
    /// It takes the map by value, as the crate's other `with_*` methods do;
    /// a map that shares nodes with a clone copies only the O(log n) nodes
    /// on the key's path, so the clone is unchanged.
    ///
    /// Time: O(log n).
    ///
    /// ```
    /// let before = dvent::Data::new().update("n", 1);
    /// let after = before.clone().update("n", 2).update("status", "Queued");
    /// assert_eq!((before["n"].clone(), after["n"].clone()), (1.into(), 2.into()));
    /// ```
    #[must_use]
    pub fn update(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// Sets `key` to `value` in place, returning the value it replaced.
    ///
    /// Time: O(log n).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.0.insert(key.into(), value.into())
    }

    /// The map with `other`'s entries added; for a key in both maps, the
    /// value in `self` is kept (left-biased, as [`imbl::OrdMap::union`]).
    ///
    /// Time: O(m log(n + m)), m the size of the smaller map.
    ///
    /// ```
    /// let state = dvent::data([("status", "Queued")]);
    /// let both = state.union(dvent::data([("status", "Started"), ("by", "ann")]));
    /// assert_eq!(both, dvent::data([("status", "Queued"), ("by", "ann")]));
    /// ```
    #[must_use]
    pub fn union(self, other: Data) -> Self {
        Data(self.0.union(other.0))
    }

    /// A copy of the map without `key` (the same map when it is missing).
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn without(&self, key: &str) -> Self {
        Data(self.0.without(key))
    }

    /// The number of keys.
    ///
    /// Time: O(1).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map has no keys.
    ///
    /// Time: O(1).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys, in sorted order.
    ///
    /// Time: O(n) for all of them.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator + '_ {
        self.0.keys()
    }

    /// The values, in the order of their keys.
    ///
    /// Time: O(n) for all of them.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator + '_ {
        self.0.values()
    }

    /// The entries, in key order.
    ///
    /// Time: O(n) for all of them.
    pub fn iter(&self) -> DataIter<'_> {
        DataIter(self.0.iter())
    }
}

/// `data["key"]`: the value at the key, or [`Value::Null`] when it is
/// missing (never a panic, as with [`serde_json::Value`]).
///
/// Time: O(log n).
impl<Q: Borrow<str> + ?Sized> Index<&Q> for Data {
    type Output = Value;

    fn index(&self, key: &Q) -> &Value {
        self.0.get(key.borrow()).unwrap_or(&NULL)
    }
}

/// An iterator over a [`Data`] map's entries, in key order ([`Data::iter`]).
#[derive(Clone)]
pub struct DataIter<'a>(imbl::ordmap::Iter<'a, String, Value, imbl::shared_ptr::DefaultSharedPtr>);

impl<'a> Iterator for DataIter<'a> {
    type Item = (&'a String, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for DataIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for DataIter<'_> {}

impl<'a> IntoIterator for &'a Data {
    type Item = (&'a String, &'a Value);
    type IntoIter = DataIter<'a>;

    fn into_iter(self) -> DataIter<'a> {
        self.iter()
    }
}

/// Collects key-value pairs; a key given twice keeps its last value.
///
/// Time: O(n log n) for n pairs.
impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Data {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Data(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Wraps the map as it is. Time: O(1).
impl From<OrdMap<String, Value>> for Data {
    fn from(map: OrdMap<String, Value>) -> Self {
        Data(map)
    }
}

/// Prints like a map: `{"description": String("Buy milk"), ...}`.
impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

/// Builds a [`Data`] map from key-value pairs.
///
/// Values are anything that converts into a JSON [`Value`] (`&str`,
/// `String`, numbers, `bool`, or a [`serde_json::json!`] value). A key given
/// twice keeps its last value.
///
/// Time: O(n log n) for n pairs.
///
/// # Example
///
/// ```
/// let d = dvent::data([("description", "Buy milk"), ("status", "Queued")]);
/// assert_eq!(d["status"], "Queued");
/// assert_eq!(d.keys().collect::<Vec<_>>(), ["description", "status"]);
/// ```
#[must_use]
pub fn data<K, V, I>(pairs: I) -> Data
where
    K: Into<String>,
    V: Into<Value>,
    I: IntoIterator<Item = (K, V)>,
{
    pairs.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_keys_read_as_null_or_none_and_never_panic() {
        let d = data([("s", json!("text")), ("n", json!(-3)), ("b", json!(true))]);
        assert_eq!(d["missing"], Value::Null);
        assert!(Data::new()["missing"].is_null());
        assert_eq!(d[&String::from("missing")], Value::Null);
        assert_eq!(d.get("missing"), None);
        assert_eq!(d.get_str("missing"), None);
        assert_eq!(d.get_i64("missing"), None);
        assert_eq!(d.get_u64("missing"), None);
        assert_eq!(d.get_f64("missing"), None);
        assert_eq!(d.get_bool("missing"), None);
        assert!(!d.contains_key("missing"));
        // Present, but another kind of value: None too.
        assert_eq!(d.get_i64("s"), None);
        assert_eq!(d.get_u64("n"), None);
        assert_eq!(d.get_str("b"), None);
        // Present and of that kind:
        assert_eq!(d.get_str("s"), Some("text"));
        assert_eq!(d.get_i64("n"), Some(-3));
        assert_eq!(d.get_f64("n"), Some(-3.0));
        assert_eq!(d.get_bool("b"), Some(true));
    }

    #[test]
    fn update_and_insert_take_str_keys_and_plain_values() {
        let d = Data::new().update("k", 1).update(String::from("t"), "x");
        assert_eq!(d.get_u64("k"), Some(1));
        assert_eq!(d["t"], "x");
        let mut e = d.clone();
        assert_eq!(e.insert("k", 2.5), Some(json!(1)));
        assert_eq!(e.insert("new", false), None);
        // The original is untouched (persistent).
        assert_eq!(d, data([("k", json!(1)), ("t", json!("x"))]));
        assert_eq!(e.without("new").without("absent").len(), 2);
        assert_eq!(
            d.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["k", "t"]
        );
    }

    #[test]
    fn union_keeps_the_left_value() {
        let both = data([("a", 1), ("b", 2)]).union(data([("b", 3), ("c", 4)]));
        assert_eq!(both, data([("a", 1), ("b", 2), ("c", 4)]));
    }

    #[test]
    fn serialises_exactly_as_the_ordmap_did() {
        let pairs = [
            ("z", json!(1.5)),
            ("a", json!({"nested": [1, "two", null]})),
            ("m", json!("é \"quoted\"")),
        ];
        let map: OrdMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        let d = data(pairs);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(
            serde_json::to_string_pretty(&d).unwrap(),
            serde_json::to_string_pretty(&map).unwrap()
        );
        assert_eq!(Data::from(map.clone()), d);
        let back: Data = serde_json::from_str(&serde_json::to_string(&map).unwrap()).unwrap();
        assert_eq!(back, d);
        assert_eq!(format!("{d:?}"), format!("{map:?}"));
    }
}
