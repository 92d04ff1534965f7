//! Steps about catch-up subscriptions. The subscription feature runs once
//! for every store the build has.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cucumber::{given, then, when};
use dvent::store::Recorded;
use dvent::{Event, EventStore, ExpectedVersion, StopHandle, StoreError, StreamInfo, Subscription};

use super::event_store::fresh_events;
use super::world::DventWorld;

/// The longest a live step waits for what another thread does: long
/// enough for a slow machine, short enough that a failure fails rather
/// than hangs.
pub const LIVE_WAIT: Duration = Duration::from_secs(5);

/// One page a subscription read: after which position, how many it asked
/// for, and the positions it got.
#[derive(Clone, Debug)]
pub struct PageRead {
    pub after: u64,
    pub limit: usize,
    pub positions: Vec<u64>,
}

/// The scenario's store, noting every page read from it (to see how a
/// subscription reads): every other operation is the store's own.
#[derive(Clone)]
pub struct PageLog {
    store: Arc<dyn EventStore>,
    reads: Arc<Mutex<Vec<PageRead>>>,
}

impl PageLog {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        PageLog {
            store,
            reads: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The pages read so far, in order.
    pub fn reads(&self) -> Vec<PageRead> {
        self.reads.lock().expect("not poisoned").clone()
    }
}

impl EventStore for PageLog {
    fn append(
        &self,
        stream_id: &str,
        events: &dvent::Vector<Event>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Event>, StoreError> {
        self.store.append(stream_id, events, expected)
    }

    fn events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event>, StoreError> {
        self.store.events(stream_id, start)
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        let page = self.store.read_all(after, limit)?;
        self.reads.lock().expect("not poisoned").push(PageRead {
            after,
            limit,
            positions: page.iter().map(|r| r.position).collect(),
        });
        Ok(page)
    }

    fn read_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded>, StoreError> {
        self.store.read_stream(stream_id, after, limit)
    }

    fn last_event(&self, stream_id: &str) -> Result<Option<Event>, StoreError> {
        self.store.last_event(stream_id)
    }

    fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
        self.store.streams(start)
    }

    fn wait_for_commit(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        self.store.wait_for_commit(after, timeout)
    }

    fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        self.store.checkpoint(name)
    }

    fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.store.save_checkpoint(name, position)
    }
}

/// What the subscription steps made and saw.
#[derive(Default)]
pub struct SubscriptionSteps {
    /// The subscription under test, on the scenario's store.
    pub subscription: Option<Subscription<PageLog>>,
    /// What it delivered, in order.
    pub delivered: Vec<Recorded>,
    /// Another thread saving, and what it saved.
    pub writer: Option<JoinHandle<Vec<Event>>>,
    /// A subscriber waiting in another thread: the thread (giving how many
    /// events it delivered), its stop handle, and when it was stopped.
    pub waiting: Option<(JoinHandle<usize>, Instant)>,
}

fn names(list: &str) -> Vec<String> {
    list.split(", ").map(str::to_string).collect()
}

fn positions(recorded: &[Recorded]) -> Vec<u64> {
    recorded.iter().map(|r| r.position).collect()
}

/// Everything the subscription delivers without waiting.
fn drain(subscription: &mut Subscription<PageLog>) -> Vec<Recorded> {
    std::iter::from_fn(|| {
        subscription
            .next_timeout(Duration::ZERO)
            .expect("the subscription reads")
    })
    .collect()
}

fn subscription(world: &mut DventWorld) -> &mut Subscription<PageLog> {
    world
        .subscriptions
        .subscription
        .as_mut()
        .expect("a step subscribed")
}

fn subscribe(world: &mut DventWorld, after: u64) -> Subscription<PageLog> {
    Subscription::new(PageLog::new(world.store.clone()), after)
}

#[when(expr = "I subscribe from position {int}, reading pages of {int} events")]
fn subscribe_with_pages(world: &mut DventWorld, after: u64, page: usize) {
    let mut subscription = subscribe(world, after).with_page_size(page);
    world.subscriptions.delivered = drain(&mut subscription);
    world.subscriptions.subscription = Some(subscription);
}

#[when(expr = "I subscribe from position {int} to the streams {string} only")]
fn subscribe_to_streams(world: &mut DventWorld, after: u64, list: String) {
    let mut subscription = subscribe(world, after).only_streams(names(&list));
    world.subscriptions.delivered = drain(&mut subscription);
    world.subscriptions.subscription = Some(subscription);
}

#[given(expr = "a subscriber that caught up from position {int}")]
fn caught_up_subscriber(world: &mut DventWorld, after: u64) {
    let mut subscription = subscribe(world, after);
    let delivered = drain(&mut subscription);
    let stored = world.store.events(None, after).expect("read all");
    assert_eq!(
        delivered
            .iter()
            .map(|r| r.event.clone())
            .collect::<Vec<_>>(),
        stored,
        "catching up delivers what is stored"
    );
    assert_eq!(subscription.position(), after + stored.len() as u64);
    world.subscriptions.delivered = delivered;
    world.subscriptions.subscription = Some(subscription);
}

#[when(
    expr = "another thread saves {int} events to the new stream {string} while the subscriber waits"
)]
fn another_thread_saves(world: &mut DventWorld, n: usize, stream_id: String) {
    let store = world.store.clone();
    world.subscriptions.writer = Some(std::thread::spawn(move || {
        let mut saved = Vec::with_capacity(n);
        for (version, event) in fresh_events(n).into_iter().enumerate() {
            // Each save comes while the subscriber is waiting for it.
            std::thread::sleep(Duration::from_millis(50));
            let expected = match version {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v as u64),
            };
            saved.extend(
                store
                    .append(&stream_id, &dvent::vector![event], expected)
                    .expect("the other thread saves"),
            );
        }
        saved
    }));
}

/// Waits for `thread` to finish, at most `timeout`; fails if it does not.
pub fn join_within<T>(thread: JoinHandle<T>, timeout: Duration, what: &str) -> T {
    let started = Instant::now();
    while !thread.is_finished() {
        assert!(
            started.elapsed() < timeout,
            "{what} did not finish within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    match thread.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[then(expr = "the subscriber receives positions {int} to {int} within {int} seconds")]
fn receives_live(world: &mut DventWorld, first: u64, last: u64, seconds: u64) {
    let timeout = Duration::from_secs(seconds);
    let started = Instant::now();
    let expected: Vec<u64> = (first..=last).collect();
    let mut received = Vec::new();
    while received.len() < expected.len() {
        let left = timeout.saturating_sub(started.elapsed());
        assert!(
            !left.is_zero(),
            "within {timeout:?} the subscriber received only {:?}",
            positions(&received)
        );
        if let Some(recorded) = subscription(world)
            .next_timeout(left)
            .expect("the subscription reads")
        {
            received.push(recorded);
        }
    }
    assert_eq!(positions(&received), expected);
    let writer = world.subscriptions.writer.take().expect("a thread saves");
    let saved = join_within(writer, LIVE_WAIT, "the other thread");
    assert_eq!(
        received.iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
        saved,
        "the subscriber received the events the other thread saved"
    );
}

#[then(expr = "the subscription delivers positions {int} to {int}, in order, once each")]
fn delivers_positions(world: &mut DventWorld, first: u64, last: u64) {
    assert_eq!(
        positions(&world.subscriptions.delivered),
        (first..=last).collect::<Vec<_>>()
    );
    assert_eq!(Subscription::position(subscription(world)), last);
}

#[then("the events delivered are the ones reading everything gives, in the same order")]
fn delivered_as_read(world: &mut DventWorld) {
    let all = world.store.events(None, 0).expect("read all");
    let delivered: Vec<Event> = world
        .subscriptions
        .delivered
        .iter()
        .map(|r| r.event.clone())
        .collect();
    assert_eq!(delivered, all);
    assert_eq!(delivered, world.saved);
}

#[then(
    expr = "it read the store in pages of at most {int} events, each starting after the last event read"
)]
fn read_in_pages(world: &mut DventWorld, size: usize) {
    let reads = subscription(world).store().reads();
    assert!(reads.len() > 1, "it read more than one page: {reads:?}");
    let mut after = reads[0].after;
    for read in &reads {
        assert_eq!(read.limit, size, "it asked for a page of {size}: {read:?}");
        assert!(read.positions.len() <= size, "{read:?}");
        assert_eq!(read.after, after, "each page runs on: {reads:?}");
        after = read.positions.last().copied().unwrap_or(after);
    }
}

#[then(
    regex = r#"^the subscription delivers the events of "([^"]*)" then "([^"]*)", at positions ([\d, ]+)$"#
)]
fn delivers_streams(world: &mut DventWorld, first: String, second: String, list: String) {
    let expected: Vec<u64> = list
        .split(", ")
        .map(|p| p.parse().expect("a position"))
        .collect();
    let delivered = &world.subscriptions.delivered;
    assert_eq!(positions(delivered), expected);
    let mut events = world.saved_to(&first);
    events.extend(world.saved_to(&second));
    assert_eq!(
        delivered
            .iter()
            .map(|r| r.event.clone())
            .collect::<Vec<_>>(),
        events
    );
}

#[then(expr = "the subscription's position is {int}")]
fn subscription_position(world: &mut DventWorld, position: u64) {
    assert_eq!(Subscription::position(subscription(world)), position);
}

#[when("I stop the subscriber while it waits")]
fn stop_while_waiting(world: &mut DventWorld) {
    let subscription = world
        .subscriptions
        .subscription
        .take()
        .expect("a subscriber caught up");
    let stop: StopHandle = subscription.stop_handle();
    let reader = std::thread::spawn(move || subscription.count());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !reader.is_finished(),
        "the subscriber should be waiting for events"
    );
    stop.stop();
    world.subscriptions.waiting = Some((reader, Instant::now()));
}

#[then(expr = "the subscriber ends within {int} second(s), having delivered nothing more")]
fn subscriber_ends(world: &mut DventWorld, seconds: u64) {
    let (reader, stopped) = world
        .subscriptions
        .waiting
        .take()
        .expect("a subscriber was stopped");
    let timeout = Duration::from_secs(seconds);
    while !reader.is_finished() {
        assert!(
            stopped.elapsed() < timeout,
            "the subscriber did not end within {timeout:?} of the stop"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(reader.join().expect("the subscriber ends"), 0);
}
