//! Catch-up subscriptions: every event after a position, in the one global
//! order, first from what is stored (page by page), then live as it is
//! committed.
//!
//! A [`Subscription`] talks to its store through the [`EventStore`] trait
//! only: [`read_all`](EventStore::read_all) for pages, and
//! [`wait_for_commit`](EventStore::wait_for_commit), the store's "notify
//! me of commits" hook, once it has read everything. It works alike on
//! every store, and sees the events every process commits (the SQL
//! stores).
//!
//! **No event is skipped, repeated or reordered.** Positions are 1, 2, 3, …
//! in commit order without gaps, in every store, and a subscription reads
//! the positions after the last one it read; it checks that each page
//! runs on from there, and fails ([`StoreError::Corrupt`]) rather than
//! skip should a store ever break that.
//!
//! **Bounded memory:** one page ([`DEFAULT_PAGE_SIZE`] events unless set
//! with [`Subscription::with_page_size`]).
//!
//! **Durable subscriptions** ([`DurableSubscription`]) start after a
//! checkpoint kept by name in the store, and save it when told
//! ([`commit`](DurableSubscription::commit)): at least once. An event
//! handled but not yet committed is delivered again after a restart. For
//! exactly once, keep the read model in the store's own database and let
//! the store commit it with its checkpoint (`SqliteEventStore::run_read_model`,
//! `PostgresEventStore::run_read_model`).
//!
//! Compared with a publisher ([`crate::Publisher`]), which a store calls
//! in the process that saved, after the commit, and never for events saved
//! by another process or while the process was down, a subscription reads
//! the store itself: it misses nothing.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use crate::data::Data;
use crate::event::Event;
use crate::stop::StopHandle;
use crate::store::commits::check_checkpoint;
use crate::store::{EventStore, Recorded, StoreError};

/// How many events a subscription reads per page unless told otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 256;

/// The longest a subscription waits on its store before it looks at its
/// [`StopHandle`] again: a stop is noticed within about this long.
pub const STOP_LATENCY: Duration = Duration::from_millis(100);

/// A catch-up subscription: a blocking iterator over every event of a
/// store after a position, in position order, that reads what is stored
/// and then waits for more, until it is stopped.
///
/// - **Holds its store by value**, so it can move to another thread: pass
///   a clone of a store handle (O(1) for the stores of Dvent), an
///   `Arc<dyn EventStore<D>>`, or use
///   [`EventStore::subscribe`].
/// - **Items:** each is a [`Recorded`] event (with its global position) or
///   the error of a read that failed. An error does not end the
///   subscription: the next call tries again from the same position (so a
///   `for` loop with `?` ends at the first error, and a retry loop
///   resumes without losing anything).
/// - **Ends** only when its [`StopHandle`] is stopped (within
///   [`STOP_LATENCY`] while it waits); until then `next` blocks while
///   there is no new event. For a call that returns after a while, use
///   [`next_timeout`](Subscription::next_timeout).
/// - **Filters** ([`only_streams`](Subscription::only_streams),
///   [`only_types`](Subscription::only_types)) leave out events without
///   changing what is read: a left-out event still moves
///   [`position`](Subscription::position) on.
///
/// Costs: one [`read_all`](EventStore::read_all) per page, holding one
/// page; while caught up, one [`wait_for_commit`](EventStore::wait_for_commit)
/// of at most [`STOP_LATENCY`] at a time (see the store's costs).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
///
/// let store = InMemoryEventStore::new();
/// store.append("todo-1", &vector![Event::new("TodoAdded")], ExpectedVersion::Any)?;
///
/// // What is stored, then what is saved while it waits:
/// let subscription = store.subscribe(0);
/// let reader = std::thread::spawn(move || {
///     subscription.take(2).map(|r| r.map(|r| r.position)).collect::<Result<Vec<_>, _>>()
/// });
/// store.append("todo-2", &vector![Event::new("TodoAdded")], ExpectedVersion::Any)?;
/// assert_eq!(reader.join().unwrap()?, [1, 2]);
///
/// // Stopped from another thread, a waiting subscription ends:
/// let subscription = store.subscribe(2);
/// let stop = subscription.stop_handle();
/// let reader = std::thread::spawn(move || subscription.count());
/// std::thread::sleep(Duration::from_millis(20));
/// stop.stop();
/// assert_eq!(reader.join().unwrap(), 0);
/// # Ok::<(), dvent::StoreError>(())
/// ```
pub struct Subscription<S, D = Data> {
    store: S,
    /// The position of the last event read (delivered or left out).
    after: u64,
    page: std::vec::IntoIter<Recorded<D>>,
    page_size: usize,
    streams: Option<HashSet<String>>,
    types: Option<HashSet<String>>,
    stop: StopHandle,
}

impl<S, D> Subscription<S, D>
where
    S: EventStore<D>,
{
    /// A subscription to every event of `store` after the global position
    /// `after` (0: from the first). Reads nothing until the first call to
    /// `next`. Time: O(1).
    #[must_use]
    pub fn new(store: S, after: u64) -> Self {
        Subscription {
            store,
            after,
            page: Vec::new().into_iter(),
            page_size: DEFAULT_PAGE_SIZE,
            streams: None,
            types: None,
            stop: StopHandle::new(),
        }
    }

    /// Reads `size` events per page (0 is taken as 1): the most it holds.
    #[must_use]
    pub fn with_page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// Delivers only the events of these streams (each call replaces the
    /// set). The others are read and left out, and still move
    /// [`position`](Subscription::position) on.
    #[must_use]
    pub fn only_streams<I>(mut self, stream_ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.streams = Some(stream_ids.into_iter().map(Into::into).collect());
        self
    }

    /// Delivers only the events of these types (each call replaces the
    /// set). The others are read and left out, and still move
    /// [`position`](Subscription::position) on.
    #[must_use]
    pub fn only_types<I>(mut self, event_types: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.types = Some(event_types.into_iter().map(Into::into).collect());
        self
    }

    /// Stops when `stop` (or a clone of it) is stopped, instead of its own
    /// handle: one handle can stop several readers.
    #[must_use]
    pub fn with_stop(mut self, stop: StopHandle) -> Self {
        self.stop = stop;
        self
    }

    /// A handle that stops this subscription from another thread: once it
    /// is stopped, `next` returns `None` (within [`STOP_LATENCY`] when it is
    /// waiting). Time: O(1).
    #[must_use]
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Whether the subscription was stopped. Time: O(1).
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// The global position of the last event read: the last delivered, or
    /// a later one a filter left out; the starting position before any.
    /// Resuming after it (a new subscription, a checkpoint) goes on without
    /// a gap. Time: O(1).
    #[must_use]
    pub fn position(&self) -> u64 {
        self.after
    }

    /// The store it reads.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The next event, waiting at most about `timeout` for one to be
    /// committed: `Ok(None)` when none came in time or the subscription is
    /// stopped. Events already stored are returned without waiting (a zero
    /// timeout reads what is there), though with filters that leave out a
    /// long run of events it may read a page past the timeout. For a
    /// notebook cell: `sub.next_timeout(Duration::from_secs(1))?`.
    ///
    /// # Errors
    ///
    /// The store's errors (reading a page, or waiting); the subscription
    /// stays where it was and may be called again.
    /// [`StoreError::Corrupt`] when a page does not run on from the last
    /// position read (a store that broke its guarantee; never skipped).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Recorded<D>>, StoreError> {
        let deadline = Instant::now().checked_add(timeout);
        match deadline {
            Some(deadline) => self.next_until(Some(deadline)),
            None => self.next_until(None),
        }
    }

    /// Forgets the page it holds and goes on after `position` (a runner
    /// whose state was reset). Time: O(the page held).
    pub(crate) fn restart_at(&mut self, position: u64) {
        self.page = Vec::new().into_iter();
        self.after = position;
    }

    /// Whether a filter lets `event` through.
    fn wants(&self, event: &Event<D>) -> bool {
        self.streams
            .as_ref()
            .is_none_or(|s| s.contains(event.stream_id()))
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.contains(event.event_type()))
    }

    /// The next event, waiting until `deadline` (`None`: until stopped).
    fn next_until(&mut self, deadline: Option<Instant>) -> Result<Option<Recorded<D>>, StoreError> {
        let mut read_a_page = false;
        loop {
            if self.stop.is_stopped() {
                return Ok(None);
            }
            if let Some(recorded) = self.page.next() {
                self.after = recorded.position;
                if self.wants(&recorded.event) {
                    return Ok(Some(recorded));
                }
                continue;
            }
            if read_a_page && passed(deadline) {
                return Ok(None);
            }
            let page = self.store.read_all(self.after, self.page_size)?;
            read_a_page = true;
            if !page.is_empty() {
                check_runs_on(self.after, &page)?;
                self.page = page.into_iter();
                continue;
            }
            // Caught up: wait for a commit, a slice at a time, looking at
            // the stop handle between slices.
            loop {
                if self.stop.is_stopped() {
                    return Ok(None);
                }
                let slice = match deadline {
                    None => STOP_LATENCY,
                    Some(deadline) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Ok(None);
                        }
                        left.min(STOP_LATENCY)
                    }
                };
                if self.store.wait_for_commit(self.after, slice)? > self.after {
                    break;
                }
            }
        }
    }
}

/// Whether `deadline` has passed (never, for `None`).
fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Checks that `page` holds the positions right after `after`, in order.
pub(crate) fn check_runs_on<D>(after: u64, page: &[Recorded<D>]) -> Result<(), StoreError> {
    for (recorded, expected) in page.iter().zip(after.saturating_add(1)..) {
        if recorded.position != expected {
            return Err(StoreError::Corrupt {
                stream_id: recorded.event.stream_id().to_string(),
                position: i64::try_from(recorded.position).unwrap_or(i64::MAX),
                reason: format!(
                    "global positions should run on without a gap: expected position {expected}, found {}",
                    recorded.position
                ),
            });
        }
    }
    Ok(())
}

impl<S, D> Iterator for Subscription<S, D>
where
    S: EventStore<D>,
{
    type Item = Result<Recorded<D>, StoreError>;

    /// The next event after [`position`](Subscription::position), waiting
    /// for one to be committed; `None` once stopped.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None).transpose()
    }
}

impl<S, D> fmt::Debug for Subscription<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("position", &self.after)
            .field("buffered", &self.page.len())
            .field("page_size", &self.page_size)
            .field("streams", &self.streams)
            .field("types", &self.types)
            .field("stopped", &self.stop.is_stopped())
            .finish_non_exhaustive()
    }
}

/// A [`Subscription`] that starts after a checkpoint kept by name in the
/// store, and saves it there when told: **at least once**.
///
/// Handle each event, then [`commit`](DurableSubscription::commit) (after
/// every event, or every so many: a commit is one checkpoint write). After
/// a restart, [`open`](DurableSubscription::open) with the same name goes
/// on after the last commit: an event handled but not yet committed is
/// delivered again, so handling must be idempotent (or keep the read model
/// in the store's database with its checkpoint, exactly once:
/// `SqliteEventStore::run_read_model`, `PostgresEventStore::run_read_model`).
/// Committing before handling would be at most once instead.
///
/// Several processes may share a name only if one at a time runs: the
/// checkpoint is the last commit, whoever made it.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use dvent::{vector, DurableSubscription, Event, EventStore, ExpectedVersion, InMemoryEventStore};
///
/// let store = InMemoryEventStore::new();
/// store.append("s", &vector![Event::new("A"), Event::new("B")], ExpectedVersion::Any)?;
///
/// let mut mailer = DurableSubscription::open(store.clone(), "mailer")?;
/// let first = mailer.next_timeout(Duration::ZERO)?.expect("A is stored");
/// // ... handle it, then:
/// mailer.commit()?;
/// let _second = mailer.next_timeout(Duration::ZERO)?; // handled, but not committed
/// drop(mailer); // a restart
///
/// let mut mailer = DurableSubscription::open(store.clone(), "mailer")?;
/// assert_eq!(mailer.position(), first.position);
/// let again = mailer.next_timeout(Duration::ZERO)?.expect("B again");
/// assert_eq!(again.event.event_type(), "B");
/// # Ok::<(), dvent::StoreError>(())
/// ```
pub struct DurableSubscription<S, D = Data> {
    inner: Subscription<S, D>,
    name: String,
    committed: u64,
}

impl<S, D> DurableSubscription<S, D>
where
    S: EventStore<D>,
{
    /// A subscription to every event of `store` after the checkpoint
    /// `name` (from the first when there is none yet). Time: one
    /// checkpoint read.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidCheckpoint`] for a name that breaks the rule
    /// for stream ids, and the store's errors reading the checkpoint.
    pub fn open(store: S, name: &str) -> Result<Self, StoreError> {
        check_checkpoint(name, 0)?;
        let committed = store.checkpoint(name)?;
        Ok(DurableSubscription {
            inner: Subscription::new(store, committed),
            name: name.to_string(),
            committed,
        })
    }

    /// Saves [`position`](DurableSubscription::position) as the checkpoint
    /// (when it moved since the last commit) and returns it. Call it after
    /// handling what was delivered. Time: one checkpoint write, or nothing.
    ///
    /// # Errors
    ///
    /// The store's errors ([`StoreError::ReadOnly`] on a read-only SQLite
    /// store, say); the checkpoint is then as it was.
    pub fn commit(&mut self) -> Result<u64, StoreError> {
        let position = self.inner.position();
        if position != self.committed {
            self.inner.store().save_checkpoint(&self.name, position)?;
            self.committed = position;
        }
        Ok(position)
    }

    /// The checkpoint's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The position last committed (or read when opened). Time: O(1).
    #[must_use]
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// As [`Subscription::position`].
    #[must_use]
    pub fn position(&self) -> u64 {
        self.inner.position()
    }

    /// As [`Subscription::next_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Subscription::next_timeout`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Recorded<D>>, StoreError> {
        self.inner.next_timeout(timeout)
    }

    /// As [`Subscription::with_page_size`].
    #[must_use]
    pub fn with_page_size(mut self, size: usize) -> Self {
        self.inner = self.inner.with_page_size(size);
        self
    }

    /// As [`Subscription::only_streams`]: left-out events are committed
    /// with the next commit.
    #[must_use]
    pub fn only_streams<I>(mut self, stream_ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.inner = self.inner.only_streams(stream_ids);
        self
    }

    /// As [`Subscription::only_types`]: left-out events are committed with
    /// the next commit.
    #[must_use]
    pub fn only_types<I>(mut self, event_types: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.inner = self.inner.only_types(event_types);
        self
    }

    /// As [`Subscription::with_stop`].
    #[must_use]
    pub fn with_stop(mut self, stop: StopHandle) -> Self {
        self.inner = self.inner.with_stop(stop);
        self
    }

    /// As [`Subscription::stop_handle`].
    #[must_use]
    pub fn stop_handle(&self) -> StopHandle {
        self.inner.stop_handle()
    }
}

impl<S, D> Iterator for DurableSubscription<S, D>
where
    S: EventStore<D>,
{
    type Item = Result<Recorded<D>, StoreError>;

    /// As [`Subscription`]'s: nothing is committed by reading.
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl<S, D> fmt::Debug for DurableSubscription<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableSubscription")
            .field("name", &self.name)
            .field("committed", &self.committed)
            .field("inner", &self.inner)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpectedVersion, InMemoryEventStore};
    use imbl::vector;

    fn store_of(types: &[&str]) -> InMemoryEventStore {
        let store = InMemoryEventStore::new();
        for (i, t) in types.iter().enumerate() {
            let stream = if i % 2 == 0 { "even" } else { "odd" };
            store
                .append(stream, &vector![Event::new(*t)], ExpectedVersion::Any)
                .unwrap();
        }
        store
    }

    fn drain(subscription: &mut Subscription<InMemoryEventStore>) -> Vec<u64> {
        std::iter::from_fn(|| subscription.next_timeout(Duration::ZERO).unwrap())
            .map(|r| r.position)
            .collect()
    }

    #[test]
    fn filters_leave_events_out_and_still_move_the_position_on() {
        let store = store_of(&["A", "B", "A", "C", "A"]);
        let mut by_type = store.subscribe(0).only_types(["A"]).with_page_size(2);
        assert_eq!(drain(&mut by_type), [1, 3, 5]);
        let mut by_stream = store.subscribe(0).only_streams(["odd"]);
        assert_eq!(drain(&mut by_stream), [2, 4]);
        assert_eq!(by_stream.position(), 5);
        let mut both = store.subscribe(1).only_streams(["even"]).only_types(["A"]);
        assert_eq!(drain(&mut both), [3, 5]);
    }

    #[test]
    fn a_stopped_subscription_ends_at_once_and_keeps_its_position() {
        let store = store_of(&["A", "B"]);
        let mut subscription = store.subscribe(0);
        assert_eq!(subscription.next().unwrap().unwrap().position, 1);
        subscription.stop_handle().stop();
        assert!(subscription.next().is_none());
        assert_eq!(subscription.position(), 1);
        assert!(subscription.is_stopped());
    }

    #[test]
    fn a_wait_ends_within_the_stop_latency() {
        let store = InMemoryEventStore::new();
        let subscription = store.subscribe(0);
        let stop = subscription.stop_handle();
        let reader = std::thread::spawn(move || subscription.count());
        std::thread::sleep(Duration::from_millis(30));
        let stopped = Instant::now();
        stop.stop();
        assert_eq!(reader.join().unwrap(), 0);
        // About STOP_LATENCY; more only on a very busy machine.
        assert!(
            stopped.elapsed() < STOP_LATENCY * 5,
            "{:?}",
            stopped.elapsed()
        );
    }

    #[test]
    fn a_page_with_a_gap_is_refused_not_skipped() {
        let page = vec![Recorded {
            position: 3,
            event: Event::new("A"),
        }];
        assert!(check_runs_on(2, &page).is_ok());
        let err = check_runs_on(1, &page).unwrap_err();
        assert!(
            err.to_string().contains("expected position 2, found 3"),
            "{err}"
        );
    }

    #[test]
    fn a_timeout_returns_none_when_nothing_comes() {
        let store = store_of(&["A"]);
        let mut subscription = store.subscribe(1);
        let started = Instant::now();
        assert!(
            subscription
                .next_timeout(Duration::from_millis(30))
                .unwrap()
                .is_none()
        );
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
