//! Shared, cheap-to-clone names: event types, command types, stream ids.

use std::sync::{Arc, OnceLock};

/// A shared, immutable string. Cloning it is O(1) (a reference count), so
/// many events of one type or one stream share one allocation.
pub type Name = Arc<str>;

/// The empty name, allocated once and shared, by reference (no reference
/// count is touched): the stream id of an event not yet saved.
pub(crate) fn empty_ref() -> &'static Name {
    static EMPTY: OnceLock<Name> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from(""))
}
