//! Projections: a pure fold over every stream's events, in the one global
//! order, into a state for reading (the read side's twin of
//! [`AggregateKind::evolving`](crate::AggregateKind::evolving)), and a
//! runner that catches up with a store and follows it live.
//!
//! A [`Projection`] is a name, an initial state and one function
//! `Fn(S, &Recorded<D>) -> S`; it does no I/O. A [`ProjectionRunner`]
//! holds its current state and position, shared by its clones:
//! [`catch_up`](ProjectionRunner::catch_up) reads the store page by page to
//! its end, [`follow`](ProjectionRunner::follow) does so in a thread of its
//! own and then applies each new event as it is committed (through a
//! [`Subscription`]), and [`state`](ProjectionRunner::state) gives a clone
//! of the state at any time (O(1) for a persistent type such as
//! [`Data`], an `imbl` collection or a number).
//!
//! A runner keeps its state in memory only, with no checkpoint: it starts
//! from the initial state at position 0 and replays the store (it rebuilds
//! on every start). For a read model that survives a restart without
//! replaying, keep it in the store's database, where the store commits it
//! with its checkpoint (`SqliteEventStore::run_read_model`,
//! `PostgresEventStore::run_read_model`), or use a
//! [`DurableSubscription`](crate::DurableSubscription).
//!
//! Every event is applied once, in position order, whoever applies it
//! (`catch_up` and a follower may run at once): an event is applied only
//! when its position follows the state's.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::data::Data;
use crate::name::Name;
use crate::stop::StopHandle;
use crate::store::{EventStore, Recorded, StoreError};
use crate::subscription::{DEFAULT_PAGE_SIZE, Subscription, check_runs_on};

/// A projection: a name, an initial state, and a pure function that gives
/// the state after one more event. Cloning it is O(1) (shared).
///
/// The payload type `D` defaults to [`Data`]; a typed store gives typed
/// events.
///
/// # Example
///
/// ```
/// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore, Projection};
///
/// let open_todos = Projection::new("open-todos", 0_i64, |open, recorded| {
///     match recorded.event.event_type() {
///         "TodoAdded" => open + 1,
///         "TodoDone" => open - 1,
///         _ => open,
///     }
/// });
///
/// let store = InMemoryEventStore::new();
/// store.append("todo-1", &vector![Event::new("TodoAdded"), Event::new("TodoDone")], ExpectedVersion::Any)?;
/// store.append("todo-2", &vector![Event::new("TodoAdded")], ExpectedVersion::Any)?;
///
/// let runner = open_todos.runner();
/// assert_eq!(runner.catch_up(&store)?, 3);
/// assert_eq!((runner.state(), runner.position()), (1, 3));
/// # Ok::<(), dvent::StoreError>(())
/// ```
pub struct Projection<S, D = Data> {
    inner: Arc<Inner<S, D>>,
}

/// The function that gives a projection's next state.
type EvolveFn<S, D> = dyn Fn(S, &Recorded<D>) -> S + Send + Sync;

struct Inner<S, D> {
    name: Name,
    initial: S,
    evolve: Box<EvolveFn<S, D>>,
}

impl<S, D> Projection<S, D> {
    /// A projection named `name` (for logs and threads), starting from
    /// `initial`, whose state after an event is `evolve(state, &event)`.
    /// `evolve` should be pure: it is run again on a rebuild.
    #[must_use]
    pub fn new<F>(name: impl Into<Name>, initial: S, evolve: F) -> Self
    where
        F: Fn(S, &Recorded<D>) -> S + Send + Sync + 'static,
    {
        Projection {
            inner: Arc::new(Inner {
                name: name.into(),
                initial,
                evolve: Box::new(evolve),
            }),
        }
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The state before any event.
    #[must_use]
    pub fn initial(&self) -> &S {
        &self.inner.initial
    }

    /// The state after `recorded`, from `state`: the projection's function.
    #[must_use]
    pub fn evolve(&self, state: S, recorded: &Recorded<D>) -> S {
        (self.inner.evolve)(state, recorded)
    }

    /// The state after `events`, in the order given, from the initial
    /// state: the pure fold, with no store. Time: one `evolve` an event.
    #[must_use]
    pub fn fold<'a, I>(&self, events: I) -> S
    where
        I: IntoIterator<Item = &'a Recorded<D>>,
        D: 'a,
        S: Clone,
    {
        events
            .into_iter()
            .fold(self.inner.initial.clone(), |state, recorded| {
                self.evolve(state, recorded)
            })
    }

    /// A runner at the initial state and position 0.
    #[must_use]
    pub fn runner(&self) -> ProjectionRunner<S, D>
    where
        S: Clone,
    {
        ProjectionRunner::new(self.clone())
    }
}

impl<S, D> Clone for Projection<S, D> {
    /// Another handle on the same projection. Time: O(1).
    fn clone(&self) -> Self {
        Projection {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: fmt::Debug, D> fmt::Debug for Projection<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Projection")
            .field("name", &self.inner.name)
            .field("initial", &self.inner.initial)
            .finish_non_exhaustive()
    }
}

/// A projection's current state and position, shared by the runner's
/// clones (and its follower thread): catch up with a store, follow it
/// live, rebuild, and read the state at any time.
///
/// Cloning a runner is O(1) and shares the state. Every read of the state
/// ([`state`](ProjectionRunner::state)) is a clone of it under a short
/// lock: O(1) for persistent types.
///
/// Applying a page holds the lock while `evolve` runs over it (one clone
/// of the state per page, so a panic in `evolve` leaves the state as it
/// was).
pub struct ProjectionRunner<S, D = Data> {
    projection: Projection<S, D>,
    current: Arc<Current<S>>,
}

struct Current<S> {
    at: Mutex<At<S>>,
    moved: Condvar,
}

struct At<S> {
    state: S,
    position: u64,
}

impl<S: Clone, D> ProjectionRunner<S, D> {
    /// A runner of `projection` at its initial state and position 0.
    #[must_use]
    pub fn new(projection: Projection<S, D>) -> Self {
        let state = projection.initial().clone();
        ProjectionRunner {
            projection,
            current: Arc::new(Current {
                at: Mutex::new(At { state, position: 0 }),
                moved: Condvar::new(),
            }),
        }
    }

    /// The projection it runs.
    #[must_use]
    pub fn projection(&self) -> &Projection<S, D> {
        &self.projection
    }

    /// A clone of the current state. Time: one clone, under a short lock.
    #[must_use]
    pub fn state(&self) -> S {
        self.lock().state.clone()
    }

    /// The global position of the last event applied (0: none). Time: O(1).
    #[must_use]
    pub fn position(&self) -> u64 {
        self.lock().position
    }

    /// The position and a clone of the state, taken together.
    #[must_use]
    pub fn snapshot(&self) -> (u64, S) {
        let at = self.lock();
        (at.position, at.state.clone())
    }

    /// Applies every event of `store` after [`position`](Self::position),
    /// page by page (holding one page), until a page comes back short: the
    /// end of what was stored. Returns how many events it applied (an event
    /// a follower applied first is not counted). Time: one
    /// [`read_all`](EventStore::read_all) and one `evolve` an event, per
    /// page of 256.
    ///
    /// # Errors
    ///
    /// The store's errors; what was applied before stays applied.
    pub fn catch_up<St>(&self, store: &St) -> Result<u64, StoreError>
    where
        St: EventStore<D> + ?Sized,
    {
        let mut applied = 0;
        loop {
            let after = self.position();
            let page = store.read_all(after, DEFAULT_PAGE_SIZE)?;
            check_runs_on(after, &page)?;
            let full = page.len() == DEFAULT_PAGE_SIZE;
            match self.apply(&page) {
                Some(count) => applied += count as u64,
                // The state was reset meanwhile: read again from where it is.
                None => continue,
            }
            if !full {
                return Ok(applied);
            }
        }
    }

    /// Goes back to the initial state at position 0. A follower replays
    /// from there when the next event is committed;
    /// [`rebuild`](Self::rebuild) replays at once. Time: one clone of the
    /// initial state.
    pub fn reset(&self) {
        let mut at = self.lock();
        at.state = self.projection.initial().clone();
        at.position = 0;
        self.current.moved.notify_all();
    }

    /// [`reset`](Self::reset), then [`catch_up`](Self::catch_up): replays
    /// the whole store from position 0. After a change to the projection's
    /// function, run a new projection's runner instead (a runner keeps its
    /// function). Returns how many events it applied.
    ///
    /// # Errors
    ///
    /// As [`catch_up`](Self::catch_up).
    pub fn rebuild<St>(&self, store: &St) -> Result<u64, StoreError>
    where
        St: EventStore<D> + ?Sized,
    {
        self.reset();
        self.catch_up(store)
    }

    /// Waits until the runner has applied the event at `position` (or a
    /// later one), at most `timeout`; returns whether it has. For tests and
    /// notebooks, with a [`follow`](Self::follow)ing runner.
    #[must_use]
    pub fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut at = self.lock();
        while at.position < position {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            at = self
                .current
                .moved
                .wait_timeout(at, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }

    /// Applies the events of `page` after the state's position and returns
    /// how many it applied (0 when the state is past them all); `None` when
    /// they do not run on from the state's position (the runner was reset
    /// meanwhile).
    fn apply(&self, page: &[Recorded<D>]) -> Option<usize> {
        let mut at = self.lock();
        let fresh: &[Recorded<D>] = {
            let skip = page.partition_point(|r| r.position <= at.position);
            &page[skip..]
        };
        let Some(first) = fresh.first() else {
            return Some(0);
        };
        if first.position != at.position + 1 {
            return None;
        }
        // Folded on a clone, then swapped in: a panic in `evolve` leaves
        // the state as it was.
        let mut state = at.state.clone();
        for recorded in fresh {
            state = self.projection.evolve(state, recorded);
        }
        at.state = state;
        at.position = fresh.last().map_or(at.position, |r| r.position);
        self.current.moved.notify_all();
        Some(fresh.len())
    }

    fn lock(&self) -> MutexGuard<'_, At<S>> {
        // The state is only ever replaced whole (see `apply`), so a panic
        // while the lock was held left it consistent.
        self.current
            .at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S, D> ProjectionRunner<S, D>
where
    S: Clone + Send + Sync + 'static,
    D: Send + 'static,
{
    /// Catches up with `store` and then follows it live, in a thread of its
    /// own, until the returned [`Follower`] is stopped or dropped: each
    /// event committed to the store (by any process, for the SQL stores) is
    /// applied soon after, in order. Read the state meanwhile with
    /// [`state`](Self::state) on this runner or a clone.
    ///
    /// The store is taken by value: pass a clone of a handle (O(1) for the
    /// stores of Dvent) or an `Arc<dyn EventStore<D>>`. Costs: those of a
    /// [`Subscription`].
    ///
    /// # Errors
    ///
    /// When the operating system cannot start a thread. The store's errors
    /// end the thread; [`Follower::stop`] returns them.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore, Projection};
    ///
    /// let count = Projection::new("count", 0_u64, |n, _| n + 1);
    /// let store = InMemoryEventStore::new();
    /// store.append("a", &vector![Event::new("A")], ExpectedVersion::Any)?;
    ///
    /// let runner = count.runner();
    /// let follower = runner.follow(store.clone())?;
    /// store.append("b", &vector![Event::new("B")], ExpectedVersion::Any)?;
    /// assert!(runner.wait_for(2, Duration::from_secs(5)));
    /// assert_eq!(runner.state(), 2);
    /// follower.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn follow<St>(&self, store: St) -> std::io::Result<Follower>
    where
        St: EventStore<D> + 'static,
    {
        let stop = StopHandle::new();
        let runner = self.clone();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("dvent-projection-{}", self.projection.name()).replace('\0', "?"))
            .spawn(move || runner.run(store, thread_stop))?;
        Ok(Follower {
            stop,
            thread: Some(thread),
        })
    }

    /// The follower's loop: a subscription from the state's position, its
    /// events applied a batch at a time (what is there, up to a page).
    fn run<St>(&self, store: St, stop: StopHandle) -> Result<(), StoreError>
    where
        St: EventStore<D>,
    {
        let mut subscription = Subscription::new(store, self.position()).with_stop(stop);
        let mut batch = Vec::with_capacity(DEFAULT_PAGE_SIZE);
        loop {
            match subscription.next() {
                None => return Ok(()),
                Some(recorded) => batch.push(recorded?),
            }
            while batch.len() < DEFAULT_PAGE_SIZE {
                match subscription.next_timeout(Duration::ZERO)? {
                    Some(recorded) => batch.push(recorded),
                    None => break,
                }
            }
            if self.apply(&batch).is_none() {
                subscription.restart_at(self.position());
            }
            batch.clear();
        }
    }
}

impl<S, D> Clone for ProjectionRunner<S, D> {
    /// Another handle on the same state. Time: O(1).
    fn clone(&self) -> Self {
        ProjectionRunner {
            projection: self.projection.clone(),
            current: Arc::clone(&self.current),
        }
    }
}

impl<S: fmt::Debug, D> fmt::Debug for ProjectionRunner<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self
            .current
            .at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ProjectionRunner")
            .field("name", &self.projection.name())
            .field("position", &at.position)
            .field("state", &at.state)
            .finish()
    }
}

/// A runner's thread following its store: see
/// [`ProjectionRunner::follow`]. Dropping it stops the thread and waits for
/// it (within about [`STOP_LATENCY`](crate::subscription::STOP_LATENCY)
/// while it waits for events).
#[must_use = "dropping a Follower stops it"]
#[derive(Debug)]
pub struct Follower {
    stop: StopHandle,
    thread: Option<JoinHandle<Result<(), StoreError>>>,
}

impl Follower {
    /// Whether the thread is still following (it ends when stopped, or on
    /// the store's first error).
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// A handle that stops the thread without waiting for it.
    #[must_use]
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the thread and waits for it to end (within about
    /// [`STOP_LATENCY`](crate::subscription::STOP_LATENCY) while it waits
    /// for events).
    ///
    /// # Errors
    ///
    /// The store's error that ended the thread, if one did. A panic in the
    /// projection's function is passed on to the caller.
    pub fn stop(mut self) -> Result<(), StoreError> {
        self.stop.stop();
        match self.thread.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(error))) => Err(error),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take()
            && let Ok(Err(error)) = thread.join()
        {
            log::warn!(target: "dvent::projection", "a projection's follower ended on an error: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, ExpectedVersion, InMemoryEventStore};
    use imbl::vector;

    fn types() -> Projection<imbl::Vector<String>> {
        Projection::new("types", imbl::Vector::new(), |mut seen, r: &Recorded| {
            seen.push_back(r.event.event_type().to_string());
            seen
        })
    }

    #[test]
    fn a_page_that_does_not_follow_the_state_is_not_applied() {
        let runner = types().runner();
        let at = |position, t: &str| Recorded {
            position,
            event: Event::new(t),
        };
        assert_eq!(runner.apply(&[at(2, "B")]), None);
        assert_eq!(runner.apply(&[at(1, "A"), at(2, "B")]), Some(2));
        // Already applied: skipped; the rest applied once.
        assert_eq!(runner.apply(&[at(2, "B"), at(3, "C")]), Some(1));
        assert_eq!(runner.apply(&[at(3, "C")]), Some(0));
        assert_eq!(runner.apply(&[]), Some(0));
        assert_eq!(runner.apply(&[at(5, "E")]), None);
        assert_eq!(
            runner.state().into_iter().collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
    }

    #[test]
    fn a_panic_in_evolve_leaves_the_state_as_it_was() {
        let store = InMemoryEventStore::new();
        store
            .append(
                "s",
                &vector![Event::new("A"), Event::new("Boom")],
                ExpectedVersion::Any,
            )
            .unwrap();
        let fragile = Projection::new("fragile", 0_u32, |n, r: &Recorded| {
            assert_ne!(r.event.event_type(), "Boom", "evolve panicked");
            n + 1
        });
        let runner = fragile.runner();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.catch_up(&store)));
        assert!(outcome.is_err());
        assert_eq!(runner.snapshot(), (0, 0));
    }

    #[test]
    fn a_reset_while_following_replays_from_the_start() {
        let store = InMemoryEventStore::new();
        store
            .append(
                "s",
                &vector![Event::new("A"), Event::new("B")],
                ExpectedVersion::Any,
            )
            .unwrap();
        let runner = types().runner();
        let follower = runner.follow(store.clone()).unwrap();
        assert!(runner.wait_for(2, Duration::from_secs(5)));
        runner.reset();
        store
            .append("s", &vector![Event::new("C")], ExpectedVersion::Any)
            .unwrap();
        assert!(runner.wait_for(3, Duration::from_secs(5)));
        assert_eq!(
            runner.state().into_iter().collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
        follower.stop().unwrap();
    }
}
