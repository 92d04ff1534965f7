//! Bounded reads: events page by page, each with its global position.
//!
//! [`EventStore::read_all`] and [`EventStore::read_stream`] read at most
//! `limit` events after a cursor, so a reader holds at most one page in
//! memory and a store's lock (SQLite's connection, the in-memory store's
//! read lock) only for one page. [`Pages`] walks a whole read page by page
//! as an iterator.
//!
//! The cursor of [`read_all`](EventStore::read_all) is a global position
//! (every store numbers its events 1, 2, 3, … in the order they were
//! committed, without gaps); the cursor of
//! [`read_stream`](EventStore::read_stream) is a version in the stream. A
//! page's last event gives the next cursor
//! ([`Recorded::position`], or its event's version); a page shorter than
//! `limit` was the end of what was stored when it was read.
//!
//! Pages read one after another concatenate to the same events as one
//! [`events`](EventStore::events) (which holds them all at once),
//! plus whatever was saved in between: events are only ever appended, so
//! a later page never repeats or skips one.

use crate::data::Data;
use crate::event::Event;

use super::{EventStore, StoreError};

/// An event as stored, with its global position in the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded<D = Data> {
    /// Its place in the global order: 1 for the first event ever stored,
    /// then 2, 3, … in commit order, without gaps.
    pub position: u64,
    /// The event, with its stream id and version.
    pub event: Event<D>,
}

/// What a [`Pages`] iterator reads.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    /// Every stream, by global position.
    All,
    /// One stream, by version.
    Stream(String),
}

/// An iterator over the events of a store or of one stream, reading
/// `page_size` at a time: it holds at most one page, and a store's lock for
/// at most one page's read, so a save on a clone of the store proceeds
/// between pages.
///
/// Each item is a [`Recorded`] event, or the error of the read that failed;
/// after an error the iterator ends. It ends when a page comes back shorter
/// than `page_size` (at the end of what was stored when it was read), so
/// events saved while it runs are included up to its last page.
///
/// Memory: O(page_size) events. Time: one read per page (see the store's
/// costs for [`read_all`](EventStore::read_all)).
///
/// # Example
///
/// ```
/// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
/// use dvent::store::Pages;
///
/// let store = InMemoryEventStore::new();
/// for stream in ["a", "b", "a"] {
///     store.append(stream, &vector![Event::new("Noted")], ExpectedVersion::Any)?;
/// }
/// let positions = store
///     .iter_all(2)
///     .map(|recorded| recorded.map(|r| r.position))
///     .collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(positions, [1, 2, 3]);
///
/// // A stream, resuming after its version 1:
/// let versions = Pages::stream(&store, "a", 1, 10)
///     .map(|recorded| recorded.map(|r| r.event.version()))
///     .collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(versions, [2]);
/// # Ok::<(), dvent::StoreError>(())
/// ```
pub struct Pages<'a, S: ?Sized, D = Data> {
    store: &'a S,
    source: Source,
    /// The cursor: a position (all) or a version (stream).
    after: u64,
    page_size: usize,
    page: std::vec::IntoIter<Recorded<D>>,
    /// No page is to be read any more: the last was short, or failed.
    done: bool,
}

impl<'a, S, D> Pages<'a, S, D>
where
    S: EventStore<D> + ?Sized,
{
    /// Every event of `store` after the global position `after` (0: from
    /// the first), `page_size` at a time (0 is taken as 1). Reads nothing
    /// until the first call to `next`.
    #[must_use]
    pub fn all(store: &'a S, after: u64, page_size: usize) -> Self {
        Pages::new(store, Source::All, after, page_size)
    }

    /// The events of `stream_id` after its version `after` (0: from the
    /// first), `page_size` at a time (0 is taken as 1). Reads nothing until
    /// the first call to `next`.
    #[must_use]
    pub fn stream(store: &'a S, stream_id: &str, after: u64, page_size: usize) -> Self {
        Pages::new(
            store,
            Source::Stream(stream_id.to_string()),
            after,
            page_size,
        )
    }

    fn new(store: &'a S, source: Source, after: u64, page_size: usize) -> Self {
        Pages {
            store,
            source,
            after,
            page_size: page_size.max(1),
            page: Vec::new().into_iter(),
            done: false,
        }
    }

    /// The cursor the next page would be read after: the position (for
    /// [`all`](Pages::all)) or version (for [`stream`](Pages::stream)) of
    /// the last event read so far, or the starting cursor. Time: O(1).
    #[must_use]
    pub fn cursor(&self) -> u64 {
        self.after
    }

    /// Reads the next page into `self.page`.
    fn fetch(&mut self) -> Result<(), StoreError> {
        let page = match &self.source {
            Source::All => self.store.read_all(self.after, self.page_size)?,
            Source::Stream(id) => self.store.read_stream(id, self.after, self.page_size)?,
        };
        if page.len() < self.page_size {
            self.done = true;
        }
        self.page = page.into_iter();
        Ok(())
    }
}

impl<S, D> Iterator for Pages<'_, S, D>
where
    S: EventStore<D> + ?Sized,
{
    type Item = Result<Recorded<D>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.len() == 0 {
            if self.done {
                return None;
            }
            if let Err(error) = self.fetch() {
                self.done = true;
                return Some(Err(error));
            }
        }
        let recorded = self.page.next()?;
        self.after = match self.source {
            Source::All => recorded.position,
            Source::Stream(_) => recorded.event.version(),
        };
        Some(Ok(recorded))
    }
}

impl<S: ?Sized, D> std::fmt::Debug for Pages<'_, S, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("source", &self.source)
            .field("after", &self.after)
            .field("page_size", &self.page_size)
            .field("buffered", &self.page.len())
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpectedVersion, InMemoryEventStore};
    use imbl::vector;

    fn store_of(streams: &[&str]) -> InMemoryEventStore {
        let store = InMemoryEventStore::new();
        for stream in streams {
            store
                .append(stream, &vector![Event::new("E")], ExpectedVersion::Any)
                .unwrap();
        }
        store
    }

    #[test]
    fn pages_walk_everything_once_in_order_whatever_the_page_size() {
        let store = store_of(&["a", "b", "a", "c", "a"]);
        let all = store.events(None, 0).unwrap();
        for size in [0, 1, 2, 4, 5, 6, 100] {
            let read: Vec<Recorded> = store.iter_all(size).collect::<Result<_, _>>().unwrap();
            let positions: Vec<u64> = read.iter().map(|r| r.position).collect();
            assert_eq!(positions, [1, 2, 3, 4, 5], "page size {size}");
            let events: Vec<Event> = read.into_iter().map(|r| r.event).collect();
            assert_eq!(events, all, "page size {size}");
        }
        let stream: Vec<u64> = Pages::stream(&store, "a", 0, 2)
            .map(|r| r.unwrap().position)
            .collect();
        assert_eq!(stream, [1, 3, 5]);
    }

    #[test]
    fn the_cursor_follows_the_last_event_read() {
        let store = store_of(&["a", "b", "a"]);
        let mut pages = Pages::stream(&store, "a", 0, 1);
        assert_eq!(pages.cursor(), 0);
        pages.next().unwrap().unwrap();
        assert_eq!(pages.cursor(), 1);
        let mut all = Pages::all(&store, 1, 10);
        assert_eq!(all.next().unwrap().unwrap().position, 2);
        assert_eq!(all.cursor(), 2);
    }

    #[test]
    fn an_iterator_on_a_trait_object_reads_too() {
        let store = store_of(&["a", "b"]);
        let dynamic: &dyn EventStore = &store;
        assert_eq!(Pages::all(dynamic, 0, 1).count(), 2);
    }
}
