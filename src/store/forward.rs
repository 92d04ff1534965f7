//! A shared store is a store: `Arc<S>` (and `Arc<dyn EventStore<D>>`)
//! forwards every operation to the store inside, so that what takes a store
//! by value ([`Subscription`](crate::Subscription), a projection's
//! [`follow`](crate::ProjectionRunner::follow)) takes a shared one too.

use std::sync::Arc;
use std::time::Duration;

use imbl::Vector;

use super::{EventStore, Recorded, StoreError, StreamInfo};
use crate::event::Event;
use crate::expected_version::ExpectedVersion;
use crate::snapshot::Snapshot;

/// Every operation is the inner store's, with its costs and guarantees;
/// the forwarding adds O(1).
impl<D, S> EventStore<D> for Arc<S>
where
    S: EventStore<D> + ?Sized,
{
    fn append(
        &self,
        stream_id: &str,
        events: &Vector<Event<D>>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Event<D>>, StoreError> {
        (**self).append(stream_id, events, expected)
    }

    fn events(&self, stream_id: Option<&str>, start: u64) -> Result<Vec<Event<D>>, StoreError> {
        (**self).events(stream_id, start)
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded<D>>, StoreError> {
        (**self).read_all(after, limit)
    }

    fn read_stream(
        &self,
        stream_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Recorded<D>>, StoreError> {
        (**self).read_stream(stream_id, after, limit)
    }

    fn last_event(&self, stream_id: &str) -> Result<Option<Event<D>>, StoreError> {
        (**self).last_event(stream_id)
    }

    fn streams(&self, start: u64) -> Result<Vec<StreamInfo>, StoreError> {
        (**self).streams(start)
    }

    fn wait_for_commit(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        (**self).wait_for_commit(after, timeout)
    }

    fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        (**self).checkpoint(name)
    }

    fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        (**self).save_checkpoint(name, position)
    }

    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        (**self).save_snapshot(snapshot)
    }

    fn latest_snapshot(
        &self,
        stream_id: &str,
        kind: &str,
        snapshot_version: u32,
        max_version: u64,
    ) -> Result<Option<Snapshot>, StoreError> {
        (**self).latest_snapshot(stream_id, kind, snapshot_version, max_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryEventStore;
    use imbl::vector;

    #[test]
    fn a_shared_trait_object_is_a_store() {
        let shared: Arc<dyn EventStore> = Arc::new(InMemoryEventStore::new());
        let subscription = shared.subscribe(0);
        shared
            .append("s", &vector![Event::new("A")], ExpectedVersion::Any)
            .unwrap();
        shared.save_checkpoint("c", 1).unwrap();
        assert_eq!(shared.checkpoint("c").unwrap(), 1);
        assert_eq!(shared.wait_for_commit(0, Duration::ZERO).unwrap(), 1);
        let positions: Vec<u64> = subscription.take(1).map(|r| r.unwrap().position).collect();
        assert_eq!(positions, [1]);
    }
}
