//! Publishers: functions a store calls with each event after saving it, in
//! the saving process only (see [`Publisher`]; subscriptions are the durable
//! way).

use std::error::Error;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::event::Event;

/// The error type a publisher may return.
pub type PublishError = Box<dyn Error + Send + Sync>;

/// A function a store calls with each saved event, after the write.
///
/// A publisher is **in-process and after the commit**: the store handle
/// that saved a batch calls it, in the saving thread, once the batch is
/// committed. It is at most once and not durable: it delivers nothing for
/// events saved by another process (another application instance on the
/// same PostgreSQL database, another program on the same SQLite file) or
/// through another handle without this publisher, nothing for events saved
/// while this process was down, and nothing again for an event whose call
/// failed or whose process stopped right after the commit. Use it for
/// notifications that may be missed (a cache to invalidate, a view to
/// refresh).
///
/// To act on every event, whoever saved it and whenever, read the store
/// instead: a [`Subscription`](crate::Subscription) (catch-up from a
/// position, then live), a
/// [`DurableSubscription`](crate::DurableSubscription) (at least once,
/// resuming after a checkpoint kept in the store), a
/// [`ProjectionRunner`](crate::ProjectionRunner), or a read model in the
/// store's own database (the SQL stores' `run_read_model`, exactly once).
///
/// A publisher that returns an error or panics is logged (target
/// `dvent::publisher`, level error) and never undoes or loses the write.
pub type Publisher<D> = Arc<dyn Fn(&Event<D>) -> Result<(), PublishError> + Send + Sync>;

/// Calls `publisher` with each event in order; logs each failure or panic and
/// carries on. Returns how many calls failed.
pub(crate) fn publish_all<D>(publisher: Option<&Publisher<D>>, events: &[Event<D>]) -> usize {
    let Some(publisher) = publisher else {
        return 0;
    };
    let mut failures = 0;
    for event in events {
        let outcome = catch_unwind(AssertUnwindSafe(|| publisher(event)));
        let problem = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(panic) => panic_message(&*panic),
        };
        failures += 1;
        log::error!(
            target: "dvent::publisher",
            "publisher failed for event {} (stream {}, version {}); the event stays saved: {problem}",
            event.id(),
            event.stream_id(),
            event.version()
        );
    }
    failures
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}
