//! Read models kept in the memory store, exactly once: the memory store's
//! twin of the SQL stores' read models in their own database (see
//! [`read_model`](crate::store::read_model)).
//!
//! A read model here is a [`Data`] value kept in the store by name, next to
//! the checkpoint of the same name. A step copies the model (O(1): `Data`
//! is persistent), runs the user's handler on the copy for each event of
//! the next page after the checkpoint, and then replaces the model and the
//! checkpoint together, under the store's checkpoint lock. An error or a
//! panic in the handler drops the copy: the model and its checkpoint stay
//! as they were, as a rolled-back transaction leaves them in the SQL
//! stores.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use super::InMemoryEventStore;
use crate::data::Data;
use crate::stop::StopHandle;
use crate::store::commits::{check_checkpoint, may_name_a_checkpoint};
use crate::store::read_model::{
    DEFAULT_READ_MODEL_PAGE, ReadModelError, ReadModelProgress, run_until_stopped,
};
use crate::store::{EventStore, Recorded};
use crate::subscription::check_runs_on;

/// The read models of a memory store, by name, and the turn that steps
/// take.
#[derive(Debug, Default)]
pub(super) struct ReadModels {
    /// Held for a whole step, so that steps take turns (as the SQLite
    /// store's write transaction makes them): two runners of one read
    /// model never handle an event twice. It guards no data, so a handler
    /// that panicked while holding it left nothing half done.
    turn: Mutex<()>,
    /// The models by name. Locked after the store's checkpoints, never
    /// before.
    models: Mutex<HashMap<String, Data>>,
}

impl<D: Clone + Serialize + Send + Sync> InMemoryEventStore<D> {
    /// One step of the read model `name`: copies the model (an empty
    /// [`Data`] the first time) and reads at most `limit` events after its
    /// checkpoint (0 is taken as 1), calls `handler` with the copy and each
    /// event in order, then replaces the model with the copy and stores the
    /// checkpoint at the last event, both at once under the store's
    /// checkpoint lock. **The read model and its checkpoint move
    /// together**: an error or a panic in the handler drops the copy and
    /// leaves both as they were, and the next step handles the page again;
    /// exactly once for what the handler does to the model, at least once
    /// for anything else it does (see
    /// [`read_model`](crate::store::read_model)). When no event follows
    /// the checkpoint, nothing is changed.
    ///
    /// The checkpoint is the store's checkpoint of that name
    /// ([`checkpoint`](EventStore::checkpoint)): do not give it to anything
    /// else (a [`DurableSubscription`](crate::DurableSubscription), say).
    /// The model lasts as long as the store, as the events do.
    ///
    /// Steps take turns, all read models alike (one lock, held for the
    /// whole step, as SQLite's write lock is): two runners of one read
    /// model never handle an event twice. Saves and reads do not wait for
    /// a step. The handler may read from and save to the store, but must
    /// not run a read model's step itself (it would wait for its own turn
    /// for ever).
    ///
    /// Costs: the copy is O(1), each change to it O(log n) for a model of
    /// n keys (persistent, sharing nodes with the model it came from); one
    /// page read as [`read_all`](EventStore::read_all); the swap is O(1)
    /// under the checkpoint lock. Memory: one page, and the nodes the page
    /// changed.
    ///
    /// # Errors
    ///
    /// [`ReadModelError::Handler`] with the handler's error (and the
    /// event's position) when it fails: the model and the checkpoint are as
    /// they were. [`ReadModelError::Store`] with
    /// [`StoreError::InvalidCheckpoint`](crate::StoreError::InvalidCheckpoint)
    /// for a name that breaks the rule for stream ids.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
    ///
    /// let store = InMemoryEventStore::new();
    /// store.append("s", &vector![Event::new("A"), Event::new("B"), Event::new("A")], ExpectedVersion::Any)?;
    ///
    /// let count = |model: &mut dvent::Data, recorded: &dvent::Recorded| {
    ///     let key = recorded.event.event_type();
    ///     let n = model.get_u64(key).unwrap_or(0);
    ///     model.insert(key, n + 1);
    ///     Ok::<(), std::convert::Infallible>(())
    /// };
    /// let progress = store.update_read_model("counts", 100, count)?;
    /// assert_eq!((progress.handled, progress.position), (3, 3));
    /// let (position, counts) = store.read_model("counts");
    /// assert_eq!((position, counts.get_u64("A")), (3, Some(2)));
    ///
    /// // A handler that fails midway changes nothing:
    /// store.append("s", &vector![Event::new("B"), Event::new("C")], ExpectedVersion::Any)?;
    /// let failed = store.update_read_model("counts", 100, |model, recorded| {
    ///     model.insert("seen", recorded.position);
    ///     if recorded.event.event_type() == "C" { Err("refused") } else { Ok(()) }
    /// });
    /// assert!(failed.is_err());
    /// assert_eq!(store.read_model("counts"), (3, counts));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_read_model<E, F>(
        &self,
        name: &str,
        limit: usize,
        mut handler: F,
    ) -> Result<ReadModelProgress, ReadModelError<E>>
    where
        F: FnMut(&mut Data, &Recorded<D>) -> Result<(), E>,
    {
        check_checkpoint(name, 0)?;
        let read_models = &self.shared.read_models;
        let _turn = read_models
            .turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (after, mut model) = self.read_model(name);
        let page = self.read_all(after, limit.max(1))?;
        check_runs_on(after, &page)?;
        let Some(last) = page.last().map(|r| r.position) else {
            return Ok(ReadModelProgress {
                handled: 0,
                position: after,
            });
        };
        for recorded in &page {
            handler(&mut model, recorded).map_err(|source| ReadModelError::Handler {
                name: name.to_string(),
                position: recorded.position,
                source,
            })?;
        }
        let previous = {
            let mut checkpoints = self.checkpoints();
            let mut models = read_models.lock();
            checkpoints.insert(name.to_string(), last);
            models.insert(name.to_string(), model)
        };
        // The old model is dropped outside the locks.
        drop(previous);
        Ok(ReadModelProgress {
            handled: page.len(),
            position: last,
        })
    }

    /// Keeps the read model `name` up to date until `stop` is stopped:
    /// [`update_read_model`](Self::update_read_model) page after page
    /// ([`DEFAULT_READ_MODEL_PAGE`] events each) until it is up to date,
    /// then waits for new events
    /// ([`wait_for_commit`](EventStore::wait_for_commit)) and handles them
    /// as they come. Returns how many events it handled. Run it in a thread
    /// of its own; a stop is noticed within about
    /// [`STOP_LATENCY`](crate::subscription::STOP_LATENCY) while it waits.
    /// Exactly once for the model, at least once for anything else the
    /// handler does.
    ///
    /// # Errors
    ///
    /// As [`update_read_model`](Self::update_read_model); the loop ends at
    /// the first error (what was done before stays). Run it again to go on.
    pub fn run_read_model<E, F>(
        &self,
        name: &str,
        stop: &StopHandle,
        mut handler: F,
    ) -> Result<u64, ReadModelError<E>>
    where
        F: FnMut(&mut Data, &Recorded<D>) -> Result<(), E>,
    {
        run_until_stopped(
            stop,
            |after, timeout| self.wait_for_commit(after, timeout),
            || self.update_read_model(name, DEFAULT_READ_MODEL_PAGE, &mut handler),
        )
    }

    /// The read model `name` and its checkpoint, taken together: the
    /// position of the last event it handled (0: none) and the model after
    /// it (an empty [`Data`] before the first step, and for a name that
    /// breaks the rule for stream ids). Time: O(1), under the checkpoint
    /// lock.
    #[must_use]
    pub fn read_model(&self, name: &str) -> (u64, Data) {
        if !may_name_a_checkpoint(name) {
            return (0, Data::new());
        }
        let checkpoints = self.checkpoints();
        let models = self.shared.read_models.lock();
        (
            checkpoints.get(name).copied().unwrap_or(0),
            models.get(name).cloned().unwrap_or_default(),
        )
    }

    fn checkpoints(&self) -> MutexGuard<'_, std::collections::HashMap<String, u64>> {
        // Only ever changed by one insert at a time: consistent after a
        // panic elsewhere.
        self.shared
            .checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl ReadModels {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Data>> {
        // Only ever changed by one insert at a time: consistent after a
        // panic elsewhere.
        self.models.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{Event, ExpectedVersion, StoreError};
    use imbl::vector;

    fn store_of(count: usize) -> InMemoryEventStore {
        let store = InMemoryEventStore::new();
        for i in 0..count {
            store
                .append(
                    &format!("s-{}", i % 3),
                    &vector![Event::new("A")],
                    ExpectedVersion::Any,
                )
                .unwrap();
        }
        store
    }

    /// Counts how many times each position was applied, under
    /// `applied/<position>`.
    fn count(model: &mut Data, recorded: &Recorded) -> Result<(), String> {
        let key = format!("applied/{:04}", recorded.position);
        let times = model.get_u64(&key).unwrap_or(0);
        model.insert(key, times + 1);
        Ok(())
    }

    fn applied_once(model: &Data, last: u64) -> bool {
        model.len() as u64 == last && model.values().all(|v| v.as_u64() == Some(1))
    }

    #[test]
    fn a_failure_or_a_panic_midway_changes_neither_model_nor_checkpoint() {
        let store = store_of(10);
        let progress = store.update_read_model("seen", 4, count).unwrap();
        assert_eq!((progress.handled, progress.position), (4, 4));
        let before = store.read_model("seen");

        let err = store
            .update_read_model("seen", 100, |model, recorded| {
                count(model, recorded)?;
                if recorded.position == 7 {
                    return Err("refused".to_string());
                }
                Ok(())
            })
            .unwrap_err();
        assert!(
            matches!(err, ReadModelError::Handler { ref name, position: 7, .. } if name == "seen"),
            "{err}"
        );
        assert_eq!(store.read_model("seen"), before);
        assert_eq!(store.checkpoint("seen").unwrap(), 4);

        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.update_read_model("seen", 100, |model, recorded: &Recorded| {
                count(model, recorded)?;
                assert!(recorded.position < 6, "the handler crashed");
                Ok::<(), String>(())
            })
        }));
        assert!(outcome.is_err());
        assert_eq!(store.read_model("seen"), before);

        let progress = store.update_read_model("seen", 100, count).unwrap();
        assert_eq!((progress.handled, progress.position), (6, 10));
        let (position, model) = store.read_model("seen");
        assert_eq!(position, 10);
        assert!(applied_once(&model, 10), "{model:?}");
        let progress = store.update_read_model("seen", 100, count).unwrap();
        assert_eq!((progress.handled, progress.position), (0, 10));
    }

    #[test]
    fn an_invalid_name_is_refused_and_has_no_model() {
        let store = store_of(1);
        let err = store.update_read_model("", 1, count).unwrap_err();
        assert!(
            matches!(
                err,
                ReadModelError::Store(StoreError::InvalidCheckpoint { .. })
            ),
            "{err}"
        );
        assert_eq!(store.read_model(""), (0, Data::new()));
        assert_eq!(store.read_model("a\0b"), (0, Data::new()));
    }

    #[test]
    fn two_loops_of_one_read_model_follow_live_and_never_handle_an_event_twice() {
        let store = store_of(20);
        let stop = StopHandle::new();
        let runners: Vec<_> = (0..2)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || store.run_read_model("seen", &stop, count))
            })
            .collect();
        for _ in 0..80 {
            store
                .append("live", &vector![Event::new("B")], ExpectedVersion::Any)
                .unwrap();
        }
        let started = Instant::now();
        while store.checkpoint("seen").unwrap() < 100 {
            assert!(started.elapsed() < Duration::from_secs(30), "too slow");
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.stop();
        let handled: u64 = runners
            .into_iter()
            .map(|r| r.join().unwrap().unwrap())
            .sum();
        assert_eq!(handled, 100);
        let (position, model) = store.read_model("seen");
        assert_eq!(position, 100);
        assert!(applied_once(&model, 100), "{model:?}");
    }
}
