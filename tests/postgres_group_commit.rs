//! The PostgreSQL store's group commit under load: eight threads saving at
//! once through clones of one handle (one queue), with right and wrong
//! expectations, races to create a stream, twin saves of one batch (a
//! retry) and bad batches, released together by a barrier each round so
//! that their saves are written in groups. Each caller gets what its save
//! would get alone (see `support/saving_at_once.rs`); afterwards a new
//! connection reads everything back in order, and the publisher saw every
//! event once, each before its save returned.
//!
//! Also: a save that is refused inside a group (a version conflict, a
//! duplicate id) is saved alone and gets its own error, and the store's
//! positions stay gap-free and in commit order.

#![cfg(feature = "postgres")]

#[path = "support/saving_at_once.rs"]
mod saving_at_once;
#[path = "support/stores.rs"]
mod stores;

use std::sync::{Arc, Mutex};

use dvent::store::postgres::PostgresOptions;
use dvent::{Event, EventStore, PostgresEventStore};

/// A store in a schema of its own, dropped at the end.
fn fresh(url: &str) -> (PostgresEventStore, String) {
    let schema = format!("group_{}", uuid::Uuid::new_v4().simple());
    let store = PostgresEventStore::connect_with(
        url,
        PostgresOptions::new()
            .with_schema(&schema)
            .with_max_connections(9),
    )
    .unwrap();
    (store, schema)
}

#[test]
fn many_threads_saving_at_once_each_get_what_they_would_alone() {
    let Some(url) = stores::postgres_url().unwrap_or_else(|message| panic!("{message}")) else {
        return;
    };
    let (store, schema) = fresh(&url);
    let published = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&published);
    let publishing = store.clone().with_publisher(move |e: &Event| {
        log.lock().unwrap().push(e.id());
        Ok(())
    });
    let (seen, twins) = saving_at_once::run(&publishing, &published);
    let reopened: PostgresEventStore =
        PostgresEventStore::connect_with(&url, PostgresOptions::new().with_schema(&schema))
            .unwrap();
    // Each caller publishes its own events once its save returned: every
    // event once, not in one commit order across callers.
    saving_at_once::check(&seen, &twins, &reopened, &published, false);
    // Positions: 1..n without gaps, in the order the log reads.
    let recorded = reopened.read_all(0, usize::MAX).unwrap();
    assert!(recorded.iter().zip(1..).all(|(r, p)| r.position == p));
    store.drop_schema().unwrap();
}
