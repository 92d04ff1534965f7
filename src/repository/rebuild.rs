//! Rebuilding an aggregate from its stream: from the latest usable
//! snapshot, then the events after it, read page by page; up to the end, a
//! version or a time.

use jiff::Timestamp;
use uuid::Uuid;

use super::{LoadError, Repository};
use crate::aggregate::Aggregate;
use crate::aggregate_id::AggregateId;
use crate::aggregate_kind::AggregateKind;
use crate::snapshot;
use crate::store::StoreError;

/// How many events a load reads per page
/// ([`read_stream_events`](crate::EventStore::read_stream_events)); each
/// page becomes part of the aggregate's events.
pub const LOAD_PAGE: usize = 1_024;

/// Where a rebuild stops.
#[derive(Clone, Copy, Debug)]
pub(super) enum Until {
    /// At the stream's last event.
    End,
    /// At this version (folding no event after it).
    Version(u64),
    /// Before the first event whose timestamp is after this one.
    Time(Timestamp),
}

/// What folding from a base gave.
enum Folded<S, D> {
    Done(Aggregate<S, D>),
    /// The snapshot's version is not in the stream (the stream is shorter):
    /// fold from the first event instead.
    SnapshotAhead,
}

impl<D: Clone> Repository<D> {
    /// Rebuilds the aggregate of `kind` with id `id` as it was at version
    /// `version` of its stream: its state after its first `version` events,
    /// from the latest usable snapshot at or below `version` when the kind
    /// takes snapshots (see [`Repository::load`] for what its
    /// [`events`](Aggregate::events) then hold). `None` when the stream
    /// has not reached `version` (no events at all included), and for
    /// version 0 (before its first event there is no aggregate).
    ///
    /// Time: one snapshot look-up (for a kind with snapshots), then the
    /// events from the snapshot (or the first) to `version`, read
    /// [`LOAD_PAGE`] at a time, plus the evolve functions.
    ///
    /// # Errors
    ///
    /// [`LoadError::InvalidId`] when `id` is text that is not a UUID,
    /// [`LoadError::Store`] for the store's errors.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind, Event, InMemoryEventStore, Repository};
    ///
    /// let counter = AggregateKind::evolving("Counter", 0_u64, |n, _event: &Event| n + 1);
    /// let repo = Repository::new(InMemoryEventStore::new());
    /// let saved = repo.save(&Aggregate::new(&counter).apply_all((0..5).map(|_| Event::new("Incremented"))))?;
    /// let then = repo.load_at(&counter, saved.id(), 3)?.expect("saved");
    /// assert_eq!((then.version(), *then.state()), (3, 3));
    /// assert!(repo.load_at(&counter, saved.id(), 6)?.is_none(), "there was no version 6");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_at<S: Clone>(
        &self,
        kind: &AggregateKind<S, D>,
        id: impl AggregateId,
        version: u64,
    ) -> Result<Option<Aggregate<S, D>>, LoadError> {
        let id = id.to_uuid()?;
        if version == 0 {
            return Ok(None);
        }
        Ok(self
            .rebuild(kind, id, Until::Version(version))?
            .filter(|aggregate| aggregate.version() == version))
    }

    /// Rebuilds the aggregate of `kind` with id `id` as it was at the time
    /// `at`: folding its events, in stream order, up to the first whose
    /// timestamp is after `at`; `None` when the stream has no events or its
    /// first is after `at`. Events carry the timestamps they were made with,
    /// so this is "as the writers' clocks said", and stops at the first
    /// later event even if an earlier one follows it.
    ///
    /// Time: the events from the first to the one after `at`, read
    /// [`LOAD_PAGE`] at a time, plus the evolve functions. Snapshots are not
    /// used (they are kept by version, not by the events' times).
    ///
    /// # Errors
    ///
    /// [`LoadError::InvalidId`] when `id` is text that is not a UUID,
    /// [`LoadError::Store`] for the store's errors.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind, Event, InMemoryEventStore, Repository};
    /// use dvent::jiff::Timestamp;
    ///
    /// let counter = AggregateKind::evolving("Counter", 0_u64, |n, _event: &Event| n + 1);
    /// let repo = Repository::new(InMemoryEventStore::new());
    /// let at = |s| Event::new("Incremented").with_timestamp(Timestamp::from_second(s).unwrap());
    /// let saved = repo.save(&Aggregate::new(&counter).apply_all([at(10), at(20), at(30)]))?;
    /// let then = repo.load_as_of(&counter, saved.id(), Timestamp::from_second(25)?)?.expect("saved");
    /// assert_eq!((then.version(), *then.state()), (2, 2));
    /// assert!(repo.load_as_of(&counter, saved.id(), Timestamp::from_second(5)?)?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_as_of<S: Clone>(
        &self,
        kind: &AggregateKind<S, D>,
        id: impl AggregateId,
        at: Timestamp,
    ) -> Result<Option<Aggregate<S, D>>, LoadError> {
        let id = id.to_uuid()?;
        self.rebuild(kind, id, Until::Time(at))
    }

    /// The aggregate rebuilt up to `until`, from the latest usable snapshot
    /// (none for `Until::Time`); `None` when no event was folded and no
    /// snapshot used.
    pub(super) fn rebuild<S: Clone>(
        &self,
        kind: &AggregateKind<S, D>,
        id: Uuid,
        until: Until,
    ) -> Result<Option<Aggregate<S, D>>, LoadError> {
        let stream_id = id.to_string();
        let max_version = match until {
            Until::End => u64::MAX,
            Until::Version(version) => version,
            Until::Time(_) => 0,
        };
        let base = snapshot::usable(self.store(), kind, &stream_id, max_version)?;
        let folded = match self.fold(kind, id, &stream_id, base, until)? {
            Folded::Done(aggregate) => aggregate,
            Folded::SnapshotAhead => {
                log::warn!(
                    target: "dvent::snapshot",
                    "ignoring the snapshot of {} {stream_id}: the stream does not reach its version; folding its events",
                    kind.name()
                );
                match self.fold(kind, id, &stream_id, None, until)? {
                    Folded::Done(aggregate) => aggregate,
                    Folded::SnapshotAhead => Aggregate::with_uuid(kind, id),
                }
            }
        };
        Ok((folded.version() > 0).then_some(folded))
    }

    /// Folds the events of `stream_id` after `base` (or from the first) up
    /// to `until`, page by page. With a base at version v, the first page
    /// starts at v itself, to check the stream holds it (that event is not
    /// folded again).
    fn fold<S: Clone>(
        &self,
        kind: &AggregateKind<S, D>,
        id: Uuid,
        stream_id: &str,
        base: Option<(u64, S)>,
        until: Until,
    ) -> Result<Folded<S, D>, StoreError> {
        let (mut aggregate, mut after, mut check) = match base {
            Some((version, state)) => (
                Aggregate::from_snapshot(kind, id, state, version),
                version - 1,
                Some(version),
            ),
            None => (Aggregate::with_uuid(kind, id), 0, None),
        };
        let last = match until {
            Until::Version(version) => version,
            Until::End | Until::Time(_) => u64::MAX,
        };
        loop {
            let limit = usize::try_from(last - after).map_or(LOAD_PAGE, |left| left.min(LOAD_PAGE));
            if limit == 0 {
                return Ok(Folded::Done(aggregate));
            }
            let mut page = self.store().read_stream_events(stream_id, after, limit)?;
            let full = page.len() == limit;
            if let Some(event) = page.last() {
                after = event.version();
            }
            if let Some(version) = check.take() {
                match page.pop_front() {
                    Some(event) if event.version() == version => {}
                    _ => return Ok(Folded::SnapshotAhead),
                }
            }
            let mut stopped = false;
            if let Until::Time(at) = until {
                if let Some(later) = page.iter().position(|event| event.timestamp() > at) {
                    stopped = true;
                    page.truncate(later);
                }
            }
            aggregate = aggregate.extend_committed(page);
            if stopped || !full {
                return Ok(Folded::Done(aggregate));
            }
        }
    }
}
