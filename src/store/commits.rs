//! What the stores share for the read side: a signal that the last global
//! position moved on (the memory store's commits, the PostgreSQL
//! listener's notifications), and the checkpoint rule as a store error.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{StoreError, admission, shortened};

/// The last global position known to be committed, and a condition
/// variable that wakes the threads waiting for it to pass a position.
#[derive(Debug, Default)]
pub(crate) struct CommitSignal {
    known: Mutex<Known>,
    moved: Condvar,
}

#[derive(Debug, Default)]
struct Known {
    /// The last position known to be committed.
    last: u64,
    /// How many times the waiters were nudged.
    nudges: u64,
}

impl CommitSignal {
    /// Records that every position up to `last` is committed (a smaller
    /// value than the one known changes nothing) and wakes the waiters.
    /// Time: O(1) plus the wake-ups.
    pub(crate) fn publish(&self, last: u64) {
        let mut known = self.lock();
        if last > known.last {
            known.last = last;
            self.moved.notify_all();
        }
    }

    /// Wakes the waiters without a new position (so that they look again
    /// at whatever else they watch). Time: O(the wake-ups).
    #[cfg(feature = "postgres")]
    pub(crate) fn nudge(&self) {
        let mut known = self.lock();
        known.nudges = known.nudges.wrapping_add(1);
        self.moved.notify_all();
    }

    /// The last position known. Time: O(1).
    #[cfg(test)]
    pub(crate) fn last(&self) -> u64 {
        self.lock().last
    }

    /// Waits until the last position known is greater than `after`, or
    /// `timeout` elapses, or [`nudge`](CommitSignal::nudge) is called;
    /// returns the last position known then. A timeout too large to add to
    /// the clock waits without limit.
    pub(crate) fn wait_after(&self, after: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now().checked_add(timeout);
        let mut known = self.lock();
        let nudges = known.nudges;
        // Spurious wake-ups of the condition variable are waited out.
        while known.last <= after && known.nudges == nudges {
            let wait = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if wait.is_zero() {
                break;
            }
            known = self
                .moved
                .wait_timeout(known, wait)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        known.last
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A checkpoint checked by the rule of
/// [`admission::check_checkpoint`], as a store error.
pub(crate) fn check_checkpoint(name: &str, position: u64) -> Result<(), StoreError> {
    admission::check_checkpoint(name, position).map_err(|problem| StoreError::InvalidCheckpoint {
        name: shortened(name),
        problem,
    })
}

/// Whether a checkpoint named `name` could be stored: a read of any other
/// name gives 0, as a read of a stream id that could never be stored gives
/// no events.
pub(crate) fn may_name_a_checkpoint(name: &str) -> bool {
    admission::check_name(name).is_ok()
}

/// Sleeps for `step`, or until `deadline` when that is sooner; returns
/// whether the deadline has passed (`None`: never).
#[cfg(feature = "sqlite")]
pub(crate) fn sleep_until(deadline: Option<Instant>, step: Duration) -> bool {
    let now = Instant::now();
    let pause = deadline.map_or(step, |d| d.saturating_duration_since(now).min(step));
    if !pause.is_zero() {
        std::thread::sleep(pause);
    }
    deadline.is_some_and(|d| Instant::now() >= d)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_waiter_wakes_when_the_position_passes_and_not_before() {
        let signal = Arc::new(CommitSignal::default());
        assert_eq!(signal.wait_after(0, Duration::from_millis(5)), 0);
        let publisher = Arc::clone(&signal);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            publisher.publish(3);
        });
        let started = Instant::now();
        let mut seen = 0;
        while seen <= 2 && started.elapsed() < Duration::from_secs(5) {
            seen = signal.wait_after(2, Duration::from_secs(5));
        }
        assert_eq!(seen, 3);
        thread.join().unwrap();
        signal.publish(1);
        assert_eq!(signal.last(), 3, "the position never goes back");
        assert_eq!(signal.wait_after(2, Duration::MAX), 3);
    }

    #[test]
    fn a_checkpoint_breaking_the_rule_is_an_error_naming_it() {
        assert!(check_checkpoint("ok", 7).is_ok());
        let err = check_checkpoint(&"n".repeat(2000), 1).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidCheckpoint { ref name, .. } if name.ends_with('…')),
            "{err}"
        );
        assert!(!may_name_a_checkpoint("a\0b"));
    }
}
