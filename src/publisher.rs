//! Publishers: functions a store calls with each event after saving it.

use std::error::Error;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::event::Event;

/// The error type a publisher may return.
pub type PublishError = Box<dyn Error + Send + Sync>;

/// A function a store calls with each saved event, after the write.
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
