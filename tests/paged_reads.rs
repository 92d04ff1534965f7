//! Bounded reads on every store (memory, SQLite, and PostgreSQL when
//! `DVENT_POSTGRES_URL` is set): pages read one after another give exactly
//! what `events` gives, with positions 1, 2, 3, …; reading past the end
//! gives empty pages; and a save on a clone of the store proceeds between
//! two pages of one read.

#[path = "support/stores.rs"]
mod stores;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use dvent::store::{Pages, Recorded};
use dvent::{Event, EventStore, ExpectedVersion, vector};
use stores::{StoreKind, open_store, store_kinds};

/// Streams "a", "b", "c" saved in interleaved batches of 1 to 4 events:
/// 20 events in all.
fn filled(kind: StoreKind) -> Arc<dyn EventStore> {
    let store = open_store(kind);
    let plan = [
        ("a", 3),
        ("b", 1),
        ("a", 4),
        ("c", 2),
        ("b", 3),
        ("a", 1),
        ("c", 4),
        ("b", 2),
    ];
    for (stream, size) in plan {
        let batch: Vec<Event> = (0..size)
            .map(|i| Event::new("Noted").with_entry("i", i))
            .collect();
        store
            .append(
                stream,
                &batch.iter().cloned().collect(),
                ExpectedVersion::Any,
            )
            .unwrap();
    }
    store
}

/// Reads everything with `read_all`, `limit` at a time, from the start.
fn all_by_pages(store: &dyn EventStore, limit: usize) -> (Vec<Recorded>, usize) {
    let mut read = Vec::new();
    let mut pages = 0;
    loop {
        let after = read.last().map_or(0, |r: &Recorded| r.position);
        let page = store.read_all(after, limit).unwrap();
        pages += 1;
        assert!(page.len() <= limit);
        let short = page.len() < limit;
        read.extend(page);
        if short {
            return (read, pages);
        }
    }
}

fn each_kind(test: impl Fn(StoreKind)) {
    for kind in store_kinds().unwrap() {
        stores::report(&format!("paged reads: {}", kind.name()));
        test(kind);
    }
}

#[test]
fn pages_of_everything_concatenate_to_get_events() {
    each_kind(|kind| {
        let store = filled(kind);
        let all = store.events(None, 0).unwrap();
        assert_eq!(all.len(), 20);
        for limit in [1, 3, 7, 20, 21, 1_000] {
            let (read, pages) = all_by_pages(&*store, limit);
            let positions: Vec<u64> = read.iter().map(|r| r.position).collect();
            assert_eq!(
                positions,
                (1..=20).collect::<Vec<u64>>(),
                "{kind:?} limit {limit}"
            );
            let events: Vec<Event> = read.into_iter().map(|r| r.event).collect();
            assert_eq!(events, all, "{kind:?} limit {limit}");
            assert_eq!(pages, 20 / limit + 1, "{kind:?} limit {limit}");
            // The iterator gives the same.
            let iterated: Vec<Event> = Pages::all(&*store, 0, limit)
                .map(|r| r.unwrap().event)
                .collect();
            assert_eq!(iterated, all, "{kind:?} limit {limit}");
        }
        // From the middle: as get_events skipping as many.
        let rest: Vec<Event> = store
            .read_all(12, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.event)
            .collect();
        assert_eq!(rest, store.events(None, 12).unwrap());
    });
}

#[test]
fn pages_of_a_stream_concatenate_to_get_events_with_global_positions() {
    each_kind(|kind| {
        let store = filled(kind);
        let all = store.read_all(0, 100).unwrap();
        for stream in ["a", "b", "c"] {
            let expected = store.events(Some(stream), 0).unwrap();
            for limit in [1, 2, 5, 100] {
                let mut read: Vec<Recorded> = Vec::new();
                loop {
                    let after = read.last().map_or(0, |r| r.event.version());
                    let page = store.read_stream(stream, after, limit).unwrap();
                    let short = page.len() < limit;
                    read.extend(page);
                    if short {
                        break;
                    }
                }
                // Each event's position is the one it has in the whole log.
                for recorded in &read {
                    let global = &all[recorded.position as usize - 1];
                    assert_eq!(global, recorded, "{kind:?} {stream} limit {limit}");
                }
                let events: Vec<Event> = read.into_iter().map(|r| r.event).collect();
                assert_eq!(events, expected, "{kind:?} {stream} limit {limit}");
                let iterated: Vec<Event> = Pages::stream(&*store, stream, 0, limit)
                    .map(|r| r.unwrap().event)
                    .collect();
                assert_eq!(iterated, expected, "{kind:?} {stream} limit {limit}");
            }
            let tail = store.read_stream(stream, 2, 100).unwrap();
            let skipped = store.events(Some(stream), 2).unwrap();
            assert_eq!(
                tail.into_iter().map(|r| r.event).collect::<Vec<_>>(),
                skipped
            );
        }
    });
}

#[test]
fn reading_at_or_past_the_end_gives_empty_pages() {
    each_kind(|kind| {
        let empty = open_store(kind);
        assert!(empty.read_all(0, 10).unwrap().is_empty());
        assert!(empty.read_stream("a", 0, 10).unwrap().is_empty());
        assert_eq!(Pages::all(&*empty, 0, 10).count(), 0);

        let store = filled(kind);
        for after in [20, 21, u64::MAX] {
            assert!(store.read_all(after, 10).unwrap().is_empty(), "{kind:?}");
        }
        assert!(store.read_stream("a", 8, 10).unwrap().is_empty());
        assert!(store.read_stream("a", u64::MAX, 10).unwrap().is_empty());
        assert!(store.read_stream("nothing", 0, 10).unwrap().is_empty());
        assert!(store.read_stream("", 0, 10).unwrap().is_empty());
        assert!(store.read_stream("a\0b", 0, 10).unwrap().is_empty());
        // A limit of 0 reads nothing.
        assert!(store.read_all(0, 0).unwrap().is_empty());
        assert!(store.read_stream("a", 0, 0).unwrap().is_empty());
        // The last page is exactly full: the next one is empty.
        assert_eq!(store.read_all(15, 5).unwrap().len(), 5);
        assert!(store.read_all(20, 5).unwrap().is_empty());
    });
}

#[test]
fn a_save_on_a_clone_proceeds_between_pages() {
    each_kind(|kind| {
        let store = filled(kind);
        let mut pages = Pages::all(&*store, 0, 4);
        let first: Vec<u64> = pages
            .by_ref()
            .take(6)
            .map(|r| r.unwrap().position)
            .collect();
        assert_eq!(first, [1, 2, 3, 4, 5, 6]);

        // In the middle of the read, another thread saves on a clone; it
        // must not wait for the read to finish.
        let (done, finished) = mpsc::channel();
        let writer = Arc::clone(&store);
        let handle = std::thread::spawn(move || {
            let outcome =
                writer.append("d", &vector![Event::new("Late")], ExpectedVersion::NoStream);
            done.send(outcome.map(|saved| saved.len())).unwrap();
        });
        let saved = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("a save on a clone should not wait for a read in progress");
        assert_eq!(saved.unwrap(), 1, "{kind:?}");
        handle.join().unwrap();

        // The read goes on where it was, and meets the new event at the end.
        let rest: Vec<Recorded> = pages.map(|r| r.unwrap()).collect();
        assert_eq!(rest.first().map(|r| r.position), Some(7));
        let last = rest.last().unwrap();
        assert_eq!((last.position, last.event.stream_id()), (21, "d"));
        assert_eq!(rest.len(), 15);
    });
}
