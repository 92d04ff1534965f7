//! Stop handles: how one thread asks a long-running reader in another to
//! end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared flag that asks a [`Subscription`](crate::Subscription), a
/// projection's [`Follower`](crate::Follower) or a store's read-model loop
/// to stop.
///
/// Cloning it is O(1) and gives another handle on the same flag: keep one,
/// hand a clone to the reader (in another thread, say), and call
/// [`stop`](StopHandle::stop) on either. A stop cannot be undone. Readers
/// that wait for new events wait in slices of at most
/// [`STOP_LATENCY`](crate::subscription::STOP_LATENCY) (100 ms), so they
/// notice a stop within about that long.
///
/// # Example
///
/// ```
/// use dvent::StopHandle;
///
/// let stop = StopHandle::new();
/// let seen_by_reader = stop.clone();
/// assert!(!seen_by_reader.is_stopped());
/// stop.stop();
/// assert!(seen_by_reader.is_stopped());
/// ```
#[derive(Clone, Debug, Default)]
pub struct StopHandle {
    stopped: Arc<AtomicBool>,
}

impl StopHandle {
    /// A new flag, not yet stopped.
    #[must_use]
    pub fn new() -> Self {
        StopHandle::default()
    }

    /// Asks every reader holding a clone of this handle to stop. Time: O(1).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// Whether [`stop`](StopHandle::stop) was called on this handle or a
    /// clone. Time: O(1).
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}
