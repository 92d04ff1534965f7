//! The dynamic payload and state: a persistent, ordered map of JSON values.
//!
//! [`Data`] is what an event or command carries, and what an aggregate's
//! state is, when no Rust type is declared for them. It is an
//! [`imbl::OrdMap`]: cloning it is O(1), a changed copy shares all but
//! O(log n) of its nodes with the original, and its keys iterate (and
//! serialise) in sorted order, so equal maps always print alike.

use imbl::OrdMap;
pub use serde_json::Value;

/// A persistent map from text keys to JSON values, sorted by key.
///
/// Time: clone O(1); `get`, `update`, `insert` O(log n).
pub type Data = OrdMap<String, Value>;

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
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}
