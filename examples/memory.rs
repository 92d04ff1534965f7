//! How many bytes the in-memory store takes to hold small events, against
//! the bytes of their JSON encoding.
//!
//! ```text
//! cargo run --release --example memory -- [N_EVENTS] [EVENTS_PER_STREAM]
//! ```
//!
//! A counting allocator measures what the store holds after N_EVENTS small
//! Todo status-change events (default 1,000,000, in streams of 10) are saved,
//! once with a typed payload and once with the dynamic `Data` map, and prints
//! `payload<TAB>events<TAB>store_bytes<TAB>json_bytes<TAB>ratio`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use dvent::{Data, Event, EventStore, ExpectedVersion, InMemoryEventStore, Name};
use serde::Serialize;

/// The system allocator, counting the bytes live at any time.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed straight to the system allocator; only a
// counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
enum TodoEvent {
    StatusChanged { status: Status },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
enum Status {
    Queued,
    Started,
    Finished,
}

/// Saves `n` events made by `make` in streams of `per_stream`, and returns
/// (bytes the store holds, bytes of the stored events' JSON).
fn measure<D: Clone + Send + Sync + Serialize>(
    n: usize,
    per_stream: usize,
    make: impl Fn(&Name, usize) -> Event<D>,
) -> (isize, usize) {
    let event_type = Name::from("TodoStatusChanged");
    let before = LIVE.load(Ordering::Relaxed);
    let store = InMemoryEventStore::<D>::default();
    let streams = n.div_ceil(per_stream.max(1));
    for s in 0..streams {
        let stream_id = dvent::uuid::Uuid::new_v4().to_string();
        let count = per_stream.min(n - s * per_stream);
        let batch: Vec<Event<D>> = (0..count).map(|i| make(&event_type, i)).collect();
        store
            .append(
                &stream_id,
                &batch.iter().cloned().collect(),
                ExpectedVersion::NoStream,
            )
            .expect("saved");
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    let json: usize = store
        .events(None, 0)
        .expect("read")
        .iter()
        .map(|e| serde_json::to_vec(e).expect("encodes").len())
        .sum();
    drop(store);
    (held, json)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n = args.next().and_then(Result::ok).unwrap_or(1_000_000);
    let per_stream = args.next().and_then(Result::ok).unwrap_or(10);
    let statuses = [Status::Queued, Status::Started, Status::Finished];
    let names = ["Queued", "Started", "Finished"];

    let report = |payload: &str, (held, json): (isize, usize)| {
        let ratio = held as f64 / json as f64;
        println!("{payload}\t{n}\t{held}\t{json}\t{ratio:.2}");
    };
    report(
        "typed",
        measure(n, per_stream, |t, i| {
            Event::typed(
                t.clone(),
                TodoEvent::StatusChanged {
                    status: statuses[i % 3],
                },
            )
        }),
    );
    report(
        "data",
        measure::<Data>(n, per_stream, |t, i| {
            Event::new(t.clone()).with_entry("status", names[i % 3])
        }),
    );
}
