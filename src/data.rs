//! The dynamic payload and state: a persistent, ordered map of JSON values.
//!
//! [`Data`] is what an event or command carries, and what an aggregate's
//! state is, when no Rust type is declared for them. It is a persistent map:
//! cloning it is O(1), a changed copy leaves the original as it was, and its
//! keys iterate (and serialise) in sorted order, so equal maps always print
//! alike. A small map (at most [`SMALL`] keys, as an event's data usually
//! is) is one shared array of its entries sorted by key; a larger one an
//! [`imbl::OrdMap`], whose changed copy shares all but O(log n) of its nodes
//! with the original.
//!
//! Reading it never panics: a missing key indexes as [`Value::Null`] (as
//! [`serde_json::Value`] indexing does), and the typed getters
//! ([`Data::get_str`], [`Data::get_i64`], ...) return [`None`] for a key that
//! is missing or holds another kind of value. So an apply function folding an
//! old or malformed stored event sees `null`, not a panic.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Index;
use std::sync::Arc;

use imbl::OrdMap;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
pub use serde_json::Value;

/// What indexing gives for a missing key.
static NULL: Value = Value::Null;

/// The most keys a map keeps in its small form, one shared array of entries
/// sorted by key (about 56 bytes an entry plus the keys' and values' own
/// text, where an [`imbl::OrdMap`] leaf takes about 960 bytes for any number
/// up to 16); a map with more keys is an [`imbl::OrdMap`].
const SMALL: usize = 8;

/// One entry of a small map.
type Entry = (String, Value);

/// A persistent map from text keys to JSON values, sorted by key.
///
/// It serialises exactly as a JSON object (the same bytes as an
/// [`imbl::OrdMap`] of its entries), keys in sorted order.
///
/// A map of at most 8 keys is kept as one shared array of its entries,
/// sorted by key: changing a shared one copies its entries (at most 8,
/// values cloned, as an [`imbl::OrdMap`] copies the node it changes). A
/// larger map is an [`imbl::OrdMap`]. Which form a map has never shows:
/// equality, order, printing and serialisation are those of its entries.
///
/// | Operation | Time |
/// |---|---|
/// | [`clone`](Clone::clone) | O(1) |
/// | `data["key"]`, [`get`](Data::get), `get_*`, [`contains_key`](Data::contains_key) | O(log n) |
/// | [`update`](Data::update), [`insert`](Data::insert), [`without`](Data::without), [`get_mut`](Data::get_mut) | O(log n) (a small map: at most 8 entries copied when shared or resized) |
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
#[derive(Clone, Default)]
pub struct Data(Repr);

/// How a map is kept.
#[derive(Clone)]
enum Repr {
    /// At most [`SMALL`] entries, sorted by key, each key once; `None` when
    /// empty (no allocation).
    Small(Option<Arc<[Entry]>>),
    /// Any number of entries (a map that grew past [`SMALL`] keys, or an
    /// [`imbl::OrdMap`] given as it is).
    Large(OrdMap<String, Value>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Small(None)
    }
}

/// The entries of a small map.
fn entries(small: Option<&Arc<[Entry]>>) -> &[Entry] {
    small.map_or(&[], |entries| &entries[..])
}

/// Where `key` is among sorted entries: `Ok` its index, `Err` where it
/// would go.
fn search(entries: &[Entry], key: &str) -> Result<usize, usize> {
    entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
}

/// A map of `entries`, sorted by key with each key once: small when they
/// are few enough.
fn from_sorted(entries: Vec<Entry>) -> Data {
    if entries.is_empty() {
        Data(Repr::Small(None))
    } else if entries.len() <= SMALL {
        Data(Repr::Small(Some(Arc::from(entries))))
    } else {
        Data(Repr::Large(entries.into_iter().collect()))
    }
}

/// The entries of a small map taken out: moved when nobody else holds
/// them, else cloned.
fn take_entries(small: Option<Arc<[Entry]>>) -> Vec<Entry> {
    match small {
        None => Vec::new(),
        Some(mut shared) => match Arc::get_mut(&mut shared) {
            Some(own) => own.iter_mut().map(std::mem::take).collect(),
            None => shared.to_vec(),
        },
    }
}

impl Data {
    /// An empty map.
    ///
    /// Time: O(1), with no allocation.
    #[must_use]
    pub fn new() -> Self {
        Data(Repr::Small(None))
    }

    /// The value at `key`, or [`None`] when the key is missing.
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.0 {
            Repr::Small(small) => {
                let entries = entries(small.as_ref());
                search(entries, key).ok().map(|i| &entries[i].1)
            }
            Repr::Large(map) => map.get(key),
        }
    }

    /// The value at `key` to change in place, or [`None`] when the key is
    /// missing; a clone sharing the map keeps its value (a small map's
    /// entries, or the nodes on the key's path, are copied first when
    /// shared).
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match &mut self.0 {
            Repr::Small(small) => {
                let shared = small.as_mut()?;
                let index = search(shared, key).ok()?;
                Some(&mut Arc::make_mut(shared)[index].1)
            }
            Repr::Large(map) => map.get_mut(key),
        }
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
        self.get(key).is_some()
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
        self.insert(key, value);
        self
    }

    /// Sets `key` to `value` in place, returning the value it replaced.
    ///
    /// Time: O(log n).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        let small = match &mut self.0 {
            Repr::Large(map) => return map.insert(key, value),
            Repr::Small(small) => small,
        };
        let at = match search(entries(small.as_ref()), &key) {
            Ok(index) => {
                let shared = small.as_mut().expect("a key was found");
                let slot = &mut Arc::make_mut(shared)[index].1;
                return Some(std::mem::replace(slot, value));
            }
            Err(at) => at,
        };
        let mut grown = take_entries(small.take());
        if grown.len() < SMALL {
            grown.insert(at, (key, value));
            *small = Some(Arc::from(grown));
        } else {
            let mut map: OrdMap<String, Value> = grown.into_iter().collect();
            map.insert(key, value);
            self.0 = Repr::Large(map);
        }
        None
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
        match (self.0, other.0) {
            (Repr::Small(left), Repr::Small(right)) => {
                let (left, right) = (take_entries(left), take_entries(right));
                let mut merged = Vec::with_capacity(left.len() + right.len());
                let mut right = right.into_iter().peekable();
                for (key, value) in left {
                    while let Some(next) = right.next_if(|(k, _)| *k < key) {
                        merged.push(next);
                    }
                    // For a key in both, the left value is kept.
                    right.next_if(|(k, _)| *k == key);
                    merged.push((key, value));
                }
                merged.extend(right);
                from_sorted(merged)
            }
            (left, right) => Data(Repr::Large(into_map(left).union(into_map(right)))),
        }
    }

    /// A copy of the map without `key` (the same map when it is missing).
    ///
    /// Time: O(log n).
    #[must_use]
    pub fn without(&self, key: &str) -> Self {
        match &self.0 {
            Repr::Small(small) => {
                let entries = entries(small.as_ref());
                match search(entries, key) {
                    Ok(index) => from_sorted(
                        entries[..index]
                            .iter()
                            .chain(&entries[index + 1..])
                            .cloned()
                            .collect(),
                    ),
                    Err(_) => self.clone(),
                }
            }
            Repr::Large(map) => Data(Repr::Large(map.without(key))),
        }
    }

    /// The number of keys.
    ///
    /// Time: O(1).
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(small) => entries(small.as_ref()).len(),
            Repr::Large(map) => map.len(),
        }
    }

    /// Whether the map has no keys.
    ///
    /// Time: O(1).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys, in sorted order.
    ///
    /// Time: O(n) for all of them.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator + '_ {
        self.iter().map(|(key, _)| key)
    }

    /// The values, in the order of their keys.
    ///
    /// Time: O(n) for all of them.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator + '_ {
        self.iter().map(|(_, value)| value)
    }

    /// The entries, in key order.
    ///
    /// Time: O(n) for all of them.
    pub fn iter(&self) -> DataIter<'_> {
        DataIter(match &self.0 {
            Repr::Small(small) => Iter::Small(entries(small.as_ref()).iter()),
            Repr::Large(map) => Iter::Large(map.iter()),
        })
    }
}

/// A map's entries as an [`imbl::OrdMap`] (O(1) for a large map).
fn into_map(repr: Repr) -> OrdMap<String, Value> {
    match repr {
        Repr::Small(small) => take_entries(small).into_iter().collect(),
        Repr::Large(map) => map,
    }
}

/// `data["key"]`: the value at the key, or [`Value::Null`] when it is
/// missing (never a panic, as with [`serde_json::Value`]).
///
/// Time: O(log n).
impl<Q: Borrow<str> + ?Sized> Index<&Q> for Data {
    type Output = Value;

    fn index(&self, key: &Q) -> &Value {
        self.get(key.borrow()).unwrap_or(&NULL)
    }
}

/// An iterator over a [`Data`] map's entries, in key order ([`Data::iter`]).
#[derive(Clone)]
pub struct DataIter<'a>(Iter<'a>);

/// The iterator of one form of map.
#[derive(Clone)]
enum Iter<'a> {
    Small(std::slice::Iter<'a, Entry>),
    Large(imbl::ordmap::Iter<'a, String, Value, imbl::shared_ptr::DefaultSharedPtr>),
}

impl<'a> Iterator for DataIter<'a> {
    type Item = (&'a String, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Iter::Small(entries) => entries.next().map(|(k, v)| (k, v)),
            Iter::Large(map) => map.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            Iter::Small(entries) => entries.size_hint(),
            Iter::Large(map) => map.size_hint(),
        }
    }
}

impl DoubleEndedIterator for DataIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Iter::Small(entries) => entries.next_back().map(|(k, v)| (k, v)),
            Iter::Large(map) => map.next_back(),
        }
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
        from_pairs(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// A map of `pairs` in any order; a key given twice keeps its last value.
/// Time: O(n log n).
fn from_pairs(mut pairs: Vec<Entry>) -> Data {
    // A stable sort keeps a key's pairs in the order given: the last wins.
    pairs.sort_by(|(a, _), (b, _)| a.cmp(b));
    let mut sorted: Vec<Entry> = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        match sorted.last_mut() {
            Some(last) if last.0 == key => last.1 = value,
            _ => sorted.push((key, value)),
        }
    }
    from_sorted(sorted)
}

/// Wraps the map as it is. Time: O(1).
impl From<OrdMap<String, Value>> for Data {
    fn from(map: OrdMap<String, Value>) -> Self {
        Data(Repr::Large(map))
    }
}

/// Equal when they hold the same entries, whatever their forms.
/// Time: O(n) (O(1) for two clones of one small map).
impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Small(Some(a)), Repr::Small(Some(b))) => Arc::ptr_eq(a, b) || a == b,
            (Repr::Large(a), Repr::Large(b)) => a == b,
            _ => self.len() == other.len() && self.iter().eq(other.iter()),
        }
    }
}

impl Eq for Data {}

/// Prints like a map: `{"description": String("Buy milk"), ...}`.
impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A map, keys in sorted order (as an [`imbl::OrdMap`] serialises).
impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A map in any key order; a key given twice keeps its last value.
impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor;

        impl<'de> Visitor<'de> for DataVisitor {
            type Value = Data;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Data, A::Error> {
                let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = access.next_entry::<String, Value>()? {
                    pairs.push(pair);
                }
                Ok(from_pairs(pairs))
            }
        }

        deserializer.deserialize_map(DataVisitor)
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
