//! Properties of folding events, for any sequence of events.

use dvent::{Aggregate, AggregateKind, Event};
use proptest::prelude::*;

fn kind() -> AggregateKind {
    AggregateKind::<dvent::Data>::with_initial_state("Counter", dvent::data([("total", 0)])).on(
        "Added",
        |state, event| {
            let total = state.get_i64("total").unwrap_or(0);
            let n = event.data()["n"].as_i64().unwrap_or(0);
            state.update("total", total + n)
        },
    )
}

fn event(kind_index: u8, n: i64) -> Event {
    let event_type = if kind_index % 3 == 0 {
        "Renamed"
    } else {
        "Added"
    };
    Event::new(event_type).with_entry("n", n)
}

proptest! {
    /// Folding any sequence of n events gives versions 1..n, sums what the
    /// kind's function sums, and leaves the aggregate it started from (and
    /// any kept copy along the way) unchanged.
    #[test]
    fn folding_numbers_events_and_leaves_the_original(
        steps in proptest::collection::vec((any::<u8>(), -1000i64..1000), 0..200),
        commit_at in any::<prop::sample::Index>(),
    ) {
        let kind = kind();
        let start = Aggregate::new(&kind);
        let before = start.clone();
        let events: Vec<Event> = steps.iter().map(|&(k, n)| event(k, n)).collect();
        let split = if events.is_empty() { 0 } else { commit_at.index(events.len()) };

        let middle = start.clone().apply_all(events[..split].iter().cloned()).mark_committed();
        let kept = middle.clone();
        let end = middle.apply_all(events[split..].iter().cloned());

        let versions: Vec<u64> = end.events().iter().chain(end.uncommitted_events()).map(Event::version).collect();
        prop_assert_eq!(versions, (1..=events.len() as u64).collect::<Vec<_>>());
        prop_assert_eq!(end.version(), split as u64);
        prop_assert_eq!(end.uncommitted_version(), events.len() as u64);
        let expected: i64 = steps.iter().filter(|(k, _)| k % 3 != 0).map(|&(_, n)| n).sum();
        prop_assert_eq!(end.state()["total"].as_i64(), Some(expected));

        prop_assert_eq!(&start, &before);
        prop_assert_eq!(kept.uncommitted_events().len(), 0);
        prop_assert_eq!(kept.version(), split as u64);
    }
}
