//! Noticing commits: [`EventStore::wait_for_commit`](crate::EventStore::wait_for_commit)
//! for the PostgreSQL store, with `LISTEN`/`NOTIFY`.
//!
//! Every save sends `pg_notify(channel, last position)` inside its
//! transaction, so the server delivers it at the commit, and only then (a
//! rolled-back save notifies no one). The channel is named after the
//! store's schema ([`channel`]), so stores in other schemas of the database
//! do not wake each other (a longer name is cut to PostgreSQL's 63 bytes:
//! two schemas that share their first 50 bytes share a channel, which only
//! wakes a waiter for nothing).
//!
//! The first wait on a store starts one thread for it (and its clones)
//! that holds a connection of its own, outside the pool, `LISTEN`s on the
//! channel and, on each notification (or batch of them), reads the largest
//! position and wakes the waiters; it reads it every [`FALLBACK_POLL`] too,
//! should a notification be missed. It reconnects (with a growing pause, up
//! to 5 s) when its connection fails; meanwhile waiters poll the largest
//! position through the pool every [`FALLBACK_POLL`]. The thread ends within
//! [`FALLBACK_POLL`] of the last handle on the store being dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, Weak};
use std::time::{Duration, Instant};

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::{Client, Config, NoTls};

use super::{Connection, PostgresEventStore, describe, prepared, quote};
use crate::store::StoreError;
use crate::store::commits::CommitSignal;

/// How often the largest position is read when no notification came.
pub(super) const FALLBACK_POLL: Duration = Duration::from_millis(500);

/// The longest pause between two attempts to connect the listener.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(5);

/// The channel a store's saves notify: `dvent_events.` and the schema, cut
/// to 63 bytes (PostgreSQL's longest identifier) at a character boundary.
pub(super) fn channel(schema: &str) -> String {
    let mut channel = format!("dvent_events.{schema}");
    let mut end = channel.len().min(63);
    while !channel.is_char_boundary(end) {
        end -= 1;
    }
    channel.truncate(end);
    channel
}

/// The schema the store's tables are in when none was given: the
/// connection's current schema (the first of its `search_path` that
/// exists), where they were created.
pub(super) fn current_schema(client: &mut Client) -> Result<String, ::postgres::Error> {
    client
        .query_one("SELECT COALESCE(current_schema(), '')::text", &[])
        .and_then(|row| row.try_get(0))
}

/// What a store's handles share to notice commits.
pub(super) struct Watch {
    signal: CommitSignal,
    /// Whether the listener is connected and listening (then the signal is
    /// up to date, within a notification's delay).
    listening: AtomicBool,
    started: Once,
    config: Config,
    channel: String,
    /// Reads the largest position.
    last_position: String,
}

impl Watch {
    pub(super) fn new(config: Config, channel: String, last_position: String) -> Self {
        Watch {
            signal: CommitSignal::default(),
            listening: AtomicBool::new(false),
            started: Once::new(),
            config,
            channel,
            last_position,
        }
    }

    /// The SQL that reads the largest position.
    pub(super) fn last_position_sql(&self) -> &str {
        &self.last_position
    }

    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    /// Starts the listener thread, once.
    fn start(self: &Arc<Self>) {
        self.started.call_once(|| {
            let weak = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("dvent-postgres-listen".to_string())
                .spawn(move || listen(&weak));
            if let Err(e) = spawned {
                log::warn!(
                    target: "dvent::postgres",
                    "the listener thread could not start ({e}); waits poll every {FALLBACK_POLL:?}"
                );
            }
        });
    }
}

impl<D> PostgresEventStore<D> {
    /// As [`EventStore::wait_for_commit`](crate::EventStore::wait_for_commit)
    /// (see the module docs).
    pub(super) fn wait_commit(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        let watch = &self.shared.watch;
        watch.start();
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if !watch.listening.load(Ordering::Acquire) {
                let last = self.last_position()?;
                watch.signal.publish(last);
            }
            let left = deadline.map_or(FALLBACK_POLL, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let seen = watch.signal.wait_after(after, left.min(FALLBACK_POLL));
            if seen > after || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(seen);
            }
        }
    }

    /// The largest position, through the pool. Time: one index look-up.
    fn last_position(&self) -> Result<u64, StoreError> {
        let mut pooled = self.connection()?;
        let Connection {
            client, statements, ..
        } = &mut *pooled;
        let statement = prepared(client, statements, self.shared.watch.last_position_sql())
            .map_err(|e| super::pg_error(e, self.shared.limits))?;
        let last: i64 = client
            .query_one(&statement, &[])
            .and_then(|row| row.try_get(0))
            .map_err(|e| super::pg_error(e, self.shared.limits))?;
        Ok(u64::try_from(last).unwrap_or(0))
    }
}

/// The listener thread: connects, listens, and publishes the largest
/// position on each notification and every [`FALLBACK_POLL`]; reconnects
/// on failure; ends when the store is gone.
fn listen(weak: &Weak<Watch>) {
    let Some((config, channel, sql)) = weak
        .upgrade()
        .map(|w| (w.config.clone(), w.channel.clone(), w.last_position.clone()))
    else {
        return;
    };
    let mut pause = Duration::from_millis(100);
    loop {
        if weak.strong_count() == 0 {
            return;
        }
        let failure = match connect(&config, &channel) {
            Ok(mut client) => follow(&mut client, weak, &sql),
            Err(e) => Some(e),
        };
        let Some(watch) = weak.upgrade() else {
            return;
        };
        watch.listening.store(false, Ordering::Release);
        watch.signal.nudge();
        drop(watch);
        if let Some(e) = failure {
            log::warn!(
                target: "dvent::postgres",
                "listening for commits failed ({}); waits poll every {FALLBACK_POLL:?} until it is back",
                describe(&e)
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_RECONNECT_PAUSE);
    }
}

/// A connection listening on `channel`.
fn connect(config: &Config, channel: &str) -> Result<Client, ::postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {}", quote(channel)))?;
    Ok(client)
}

/// Publishes the largest position now and after each notification, or
/// every [`FALLBACK_POLL`], until the connection fails (its error) or the
/// store is gone (`None`).
fn follow(client: &mut Client, weak: &Weak<Watch>, sql: &str) -> Option<::postgres::Error> {
    let statement = match client.prepare(sql) {
        Ok(statement) => statement,
        Err(e) => return Some(e),
    };
    let mut first = true;
    loop {
        // Read after the notifications were taken: it covers them all.
        let last: i64 = match client.query_one(&statement, &[]).and_then(|r| r.try_get(0)) {
            Ok(last) => last,
            Err(e) => return Some(e),
        };
        let watch = weak.upgrade()?;
        watch.signal.publish(u64::try_from(last).unwrap_or(0));
        if first {
            // Listening since before that read: the signal is now kept up
            // to date.
            watch.listening.store(true, Ordering::Release);
            watch.signal.nudge();
            first = false;
        }
        drop(watch);
        match client.notifications().timeout_iter(FALLBACK_POLL).next() {
            Ok(_) => {}
            Err(e) => return Some(e),
        }
        // Take the rest of a burst at once: one read covers them.
        let mut pending = client.notifications();
        let mut burst = pending.iter();
        loop {
            match burst.next() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Some(e),
            }
        }
        if weak.strong_count() == 0 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_cut_to_63_bytes_at_a_character() {
        assert_eq!(channel("orders"), "dvent_events.orders");
        let long = channel(&"é".repeat(40));
        assert!(long.len() <= 63 && long.starts_with("dvent_events.é"));
        assert_eq!(channel(&"s".repeat(63)).len(), 63);
    }
}
