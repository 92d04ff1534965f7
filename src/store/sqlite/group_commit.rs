//! Group commit: the saves that wait for the connection at the same moment
//! are committed together, in one transaction and one disk sync.
//!
//! SQLite has one writer, and with [`Synchronous::Full`](super::Synchronous)
//! every commit syncs the write-ahead log to disk; a save alone is one
//! transaction and one sync, so threads saving at once through one
//! connection go no faster than one thread. Here, a save joins a queue
//! shared by the handles on one connection (a handle and its clones). When
//! no save is being committed, the caller becomes the *leader*: it takes
//! every save queued at that moment (its own among them), and under the
//! connection's lock
//!
//! ```sql
//! BEGIN IMMEDIATE;
//! SAVEPOINT s; -- first save: its stream's version read, checked, written
//! RELEASE s;   -- or ROLLBACK TO s; RELEASE s; when it fails
//! SAVEPOINT s; -- second save, and so on, in the order they were queued
//! ...
//! COMMIT;      -- one sync for the whole group
//! ```
//!
//! Then it calls each save's publisher with the events it wrote, in the
//! group's order, and hands every caller its own result. The others wait
//! meanwhile (and their saves queue up for the next group).
//!
//! # Guarantees
//!
//! - **Each save is judged alone, as if it were saved alone at its place in
//!   the group.** A save's expectation is checked, and a retry recognised,
//!   against what the saves before it in the group wrote (a second save to
//!   a stream expects the version the first made; a save repeating one
//!   earlier in the group is a retry of it). A save that fails (a version
//!   conflict, a duplicate id, a bad batch) rolls back its own savepoint
//!   only, and its caller gets its error; the others are unaffected.
//! - **Durable when it returns.** A caller gets its result only after the
//!   `COMMIT` holding its save returned (synced to disk with
//!   [`Synchronous::Full`](super::Synchronous)), and after its publisher was
//!   called with the events it wrote.
//! - **Atomic batches, all or nothing for the group's writes.** Should the
//!   `BEGIN` or the `COMMIT` fail, or SQLite abandon the whole transaction
//!   (an I/O error, a full disk), nothing of the group is written, and every
//!   caller whose save would have succeeded gets the error
//!   ([`StoreError::Backend`]; saving again is safe, as after any error).
//!   Should the thread leading a group panic, its callers get
//!   [`StoreError::OutcomeUnknown`] (their batch is either wholly stored or
//!   wholly absent) instead of waiting forever.
//! - **Order.** Saves are committed in the order they were queued;
//!   publishers are called after the commit, batch by batch in commit order,
//!   across groups too (a group's publishing waits for the previous one's),
//!   outside the connection's lock, on the thread leading the group (which
//!   may be another caller's: a publisher must not rely on thread-locals of
//!   the saving thread). Subscriptions notice the commit as
//!   before (`PRAGMA data_version`, or the largest position in memory).
//! - **No waiting for company.** A save never waits for others to join: a
//!   caller that finds no commit going on commits at once, with whatever is
//!   queued (often only its own save). Saves only gather while a commit is
//!   going on.
//!
//! # Costs
//!
//! - A save alone: as before, one transaction and one sync (no savepoint
//!   for a group of one), plus two uncontended lock round trips on the
//!   queue.
//! - A group of g saves of b events each: one transaction, one sync,
//!   2·g savepoint statements (no I/O), O(g·b log n) writes; each caller
//!   waits for the whole group's commit (and the publishing of the saves
//!   before its own), so latency grows with g while throughput grows too.
//! - Memory: the queued saves (their event vectors are shared, O(1) each).
//! - A slow publisher now also holds back the publishing (not the commits)
//!   of the groups after it; the commits of the next group go on meanwhile.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use imbl::Vector;
use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{backend, write_one};
use crate::event::Event;
use crate::expected_version::ExpectedVersion;
use crate::publisher::{Publisher, publish_all};
use crate::store::StoreError;

/// One save: what [`EventStore::append`](crate::EventStore::append) was
/// given, and the publisher of the handle it was given to.
pub(super) struct Request<D> {
    pub(super) stream_id: String,
    pub(super) events: Vector<Event<D>>,
    pub(super) expected: ExpectedVersion,
    pub(super) publisher: Option<Publisher<D>>,
}

/// The events as stored, and whether this save wrote them.
type Outcome<D> = Result<(Vec<Event<D>>, bool), StoreError>;

/// A queued save and its ticket.
struct Pending<D> {
    ticket: u64,
    request: Request<D>,
}

struct State<D> {
    next_ticket: u64,
    /// The saves waiting for the next group, in arrival order.
    queue: Vec<Pending<D>>,
    /// Whether a leader is committing a group (until its commit returned
    /// and its turn to publish began).
    leading: bool,
    /// Results not yet taken by their callers, by ticket.
    done: HashMap<u64, Outcome<D>>,
}

/// The queue of saves on one connection, shared by the handles on it.
pub(super) struct GroupCommit<D> {
    state: Mutex<State<D>>,
    /// Signalled when results are posted or the leader's role is free.
    changed: Condvar,
    /// Held by a group while it publishes: taken by its leader before it
    /// gives up the leader's role, so groups publish in commit order.
    publishing: Mutex<()>,
}

impl<D> GroupCommit<D> {
    pub(super) fn new() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                next_ticket: 0,
                queue: Vec::new(),
                leading: false,
                done: HashMap::new(),
            }),
            changed: Condvar::new(),
            publishing: Mutex::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<D>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<D> GroupCommit<D>
where
    D: Serialize + DeserializeOwned + Clone,
{
    /// Queues `request` and returns its result once the commit holding it
    /// returned and its publisher was called: committed by this caller as
    /// the leader of a group, or by another.
    pub(super) fn save(&self, connection: &Mutex<Connection>, request: Request<D>) -> Outcome<D> {
        let mut state = self.state();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push(Pending { ticket, request });
        loop {
            if let Some(outcome) = state.done.remove(&ticket) {
                return outcome;
            }
            if !state.leading {
                state.leading = true;
                let group = std::mem::take(&mut state.queue);
                drop(state);
                self.lead(connection, group);
                state = self.state();
                continue;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Commits `group`, publishes it and posts its results.
    fn lead(&self, connection: &Mutex<Connection>, group: Vec<Pending<D>>) {
        let mut guard = Leading {
            owner: self,
            tickets: group
                .iter()
                .map(|p| (p.ticket, p.request.stream_id.clone()))
                .collect(),
            leading: true,
        };
        let outcomes = if group.is_empty() {
            Vec::new()
        } else {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            commit_group(&mut connection, &group)
        };
        // Publishing in commit order: take the turn before the next leader
        // may commit (and then take it after this one).
        let turn = self
            .publishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guard.step_down();
        for (pending, outcome) in group.iter().zip(&outcomes) {
            if let Ok((stored, true)) = outcome {
                publish_all(pending.request.publisher.as_ref(), stored);
            }
        }
        let mut state = self.state();
        for (pending, outcome) in group.iter().zip(outcomes) {
            state.done.insert(pending.ticket, outcome);
        }
        guard.tickets.clear();
        drop(state);
        self.changed.notify_all();
        drop(turn);
    }
}

#[cfg(test)]
impl<D> GroupCommit<D>
where
    D: Serialize + DeserializeOwned + Clone,
{
    /// Leads `group` as a caller would, and takes its outcomes.
    fn lead_for_test(
        &self,
        connection: &Mutex<Connection>,
        group: Vec<Pending<D>>,
    ) -> Vec<Outcome<D>> {
        let tickets: Vec<u64> = group.iter().map(|p| p.ticket).collect();
        self.state().leading = true;
        self.lead(connection, group);
        let mut state = self.state();
        tickets
            .iter()
            .map(|t| state.done.remove(t).expect("posted"))
            .collect()
    }
}

/// The leader's duties should it panic: give up the role, and tell the
/// group's callers their outcome is unknown instead of leaving them waiting.
struct Leading<'a, D> {
    owner: &'a GroupCommit<D>,
    /// The tickets (and streams) whose results are not posted yet.
    tickets: Vec<(u64, String)>,
    leading: bool,
}

impl<D> Leading<'_, D> {
    /// Gives up the leader's role: the next group may be committed.
    fn step_down(&mut self) {
        self.owner.state().leading = false;
        self.leading = false;
        self.owner.changed.notify_all();
    }
}

impl<D> Drop for Leading<'_, D> {
    fn drop(&mut self) {
        if !self.leading && self.tickets.is_empty() {
            return;
        }
        let mut state = self.owner.state();
        state.leading &= !self.leading;
        for (ticket, stream_id) in self.tickets.drain(..) {
            let message = "the thread committing this save's group panicked";
            state.done.insert(
                ticket,
                Err(StoreError::OutcomeUnknown {
                    stream_id,
                    message: message.into(),
                    source: message.into(),
                }),
            );
        }
        drop(state);
        self.owner.changed.notify_all();
    }
}

/// Writes the group in one transaction, each save in a savepoint of its own
/// (none for a group of one), and commits: one outcome per save, in order.
fn commit_group<D>(connection: &mut Connection, group: &[Pending<D>]) -> Vec<Outcome<D>>
where
    D: Serialize + DeserializeOwned + Clone,
{
    let mut tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(group.len(), &backend(e)),
    };
    if let [only] = group {
        let request = &only.request;
        let outcome = write_one(&tx, &request.stream_id, &request.events, request.expected);
        // Nothing written, or an error: the transaction is rolled back on
        // drop.
        if let Ok((_, true)) = outcome
            && let Err(e) = tx.commit()
        {
            return vec![Err(backend(e))];
        }
        return vec![outcome];
    }
    let mut outcomes: Vec<Outcome<D>> = Vec::with_capacity(group.len());
    for pending in group {
        let request = &pending.request;
        let savepoint = match tx.savepoint() {
            Ok(savepoint) => savepoint,
            Err(e) => return abandon(outcomes, group.len(), &backend(e)),
        };
        let mut outcome = write_one(
            &savepoint,
            &request.stream_id,
            &request.events,
            request.expected,
        );
        let ended = if let Ok((_, true)) = outcome {
            savepoint.commit()
        } else {
            // Nothing to keep: ROLLBACK TO, then RELEASE.
            savepoint.finish()
        };
        if let Err(e) = ended {
            if outcome.is_ok() {
                outcome = Err(backend(e));
            }
            // The savepoint could not end as it should: what the
            // transaction holds is in doubt; none of it is committed.
            outcomes.push(outcome);
            return abandon(outcomes, group.len(), &lost());
        }
        if tx.is_autocommit() {
            // SQLite rolled back the whole transaction (an I/O error, a
            // full disk): the saves before this one are not written either.
            outcomes.push(outcome);
            return abandon(outcomes, group.len(), &lost());
        }
        outcomes.push(outcome);
    }
    if let Err(e) = tx.commit() {
        // Nothing of the group is written: each save that would have been
        // gets the error (the first of them the underlying error itself).
        let spare = copy(&backend_ref(&e));
        let mut error = Some(backend(e));
        for outcome in &mut outcomes {
            if outcome.is_ok() {
                *outcome = Err(error.take().unwrap_or_else(|| copy(&spare)));
            }
        }
    }
    outcomes
}

/// The outcomes of a group whose transaction is rolled back after the saves
/// in `outcomes` were tried: each success among them, and each save not
/// tried yet (up to `len`), gets `error`; each failure keeps its own.
fn abandon<D>(mut outcomes: Vec<Outcome<D>>, len: usize, error: &StoreError) -> Vec<Outcome<D>> {
    for outcome in &mut outcomes {
        if outcome.is_ok() {
            *outcome = Err(copy(error));
        }
    }
    outcomes.resize_with(len, || Err(copy(error)));
    outcomes
}

fn fail_all<D>(len: usize, error: &StoreError) -> Vec<Outcome<D>> {
    abandon(Vec::new(), len, error)
}

fn lost() -> StoreError {
    StoreError::Backend {
        message: "SQLite: the transaction of a group of saves was rolled back; nothing of this \
                  save was written"
            .into(),
        source: None,
    }
}

/// A copy of a backend error for another caller of the group: its message
/// (the underlying error cannot be cloned).
fn copy(error: &StoreError) -> StoreError {
    let message = match error {
        StoreError::Backend { message, .. } => message.clone(),
        other => other.to_string(),
    };
    StoreError::Backend {
        message,
        source: None,
    }
}

/// [`backend`]'s error for `error`, without the underlying error.
fn backend_ref(error: &rusqlite::Error) -> StoreError {
    StoreError::Backend {
        message: format!("SQLite: {error}"),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use imbl::vector;

    use super::*;
    use crate::{EventStore, SqliteEventStore};

    /// A group with successes, conflicts, a bad batch, a retry and saves
    /// that depend on earlier ones in the group: each outcome is exactly the
    /// one the same save gets alone, one after the other, and the store
    /// holds the same events in the same order.
    #[test]
    fn a_group_gives_each_save_what_it_gets_alone() {
        let a = Event::new("A");
        let b = Event::new("B");
        let c = Event::new("C");
        let saves: Vec<(&str, Vector<Event>, ExpectedVersion)> = vec![
            (
                "s",
                vector![a.clone(), b.clone()],
                ExpectedVersion::NoStream,
            ),
            // Sees the first save: a conflict at version 2.
            ("s", vector![Event::new("X")], ExpectedVersion::NoStream),
            // Expects the version the first save made.
            ("s", vector![c.clone()], ExpectedVersion::Exact(2)),
            // A bad batch: the same new event twice.
            (
                "t",
                vector![b.clone().with_entry("n", 1)],
                ExpectedVersion::Any,
            ),
            (
                "t",
                vector![Event::new("D"), a.clone()],
                ExpectedVersion::Any,
            ),
            // A retry of the first save, and one that differs.
            (
                "s",
                vector![a.clone(), b.clone()],
                ExpectedVersion::NoStream,
            ),
            (
                "s",
                vector![a.clone(), c.clone()],
                ExpectedVersion::NoStream,
            ),
            // No stream id; an empty batch.
            ("", vector![Event::new("E")], ExpectedVersion::Any),
            ("u", vector![], ExpectedVersion::Exact(0)),
            ("u", vector![Event::new("F")], ExpectedVersion::StreamExists),
            ("t", vector![Event::new("G")], ExpectedVersion::NoStream),
            ("s", vector![Event::new("H")], ExpectedVersion::Exact(3)),
        ];

        let alone = SqliteEventStore::<crate::Data>::open_in_memory().unwrap();
        let expected: Vec<String> = saves
            .iter()
            .map(|(s, e, x)| format!("{:?}", alone.append(s, e, *x).map_err(|e| e.to_string())))
            .collect();

        let published = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&published);
        let publisher: Publisher<crate::Data> = Arc::new(move |e: &Event| {
            log.lock().unwrap().push(e.id());
            Ok(())
        });
        let grouped = SqliteEventStore::<crate::Data>::open_in_memory().unwrap();
        let group: Vec<Pending<crate::Data>> = saves
            .iter()
            .zip(0..)
            .map(|((s, e, x), ticket)| Pending {
                ticket,
                request: Request {
                    stream_id: (*s).to_string(),
                    events: e.clone(),
                    expected: *x,
                    publisher: Some(Arc::clone(&publisher)),
                },
            })
            .collect();
        let outcomes = grouped.group.lead_for_test(&grouped.connection, group);
        let found: Vec<String> = outcomes
            .into_iter()
            .map(|o| format!("{:?}", o.map(|(s, _)| s).map_err(|e| e.to_string())))
            .collect();
        assert_eq!(found, expected);
        let all = alone.events(None, 0).unwrap();
        assert_eq!(grouped.events(None, 0).unwrap(), all);
        assert_eq!(
            *published.lock().unwrap(),
            all.iter().map(Event::id).collect::<Vec<_>>()
        );
        assert_eq!(grouped.streams(0).unwrap(), alone.streams(0).unwrap());
    }

    /// A failing commit fails every save of the group that would have
    /// written, and writes nothing; the saves that failed keep their error.
    #[test]
    fn a_failed_commit_fails_the_group_and_writes_nothing() {
        let store = SqliteEventStore::<crate::Data>::open_in_memory().unwrap();
        store
            .append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
            .unwrap();
        // A deferred foreign key broken by the second save makes the COMMIT
        // fail after every savepoint was released.
        store
            .lock()
            .execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE guard (stream_id TEXT REFERENCES streams(stream_id)
                     DEFERRABLE INITIALLY DEFERRED);
                 CREATE TRIGGER break_commit AFTER INSERT ON events WHEN NEW.stream_id = 'bad'
                 BEGIN INSERT INTO guard VALUES ('nowhere'); END;",
            )
            .unwrap();
        let group = [
            ("t", ExpectedVersion::NoStream),
            ("s", ExpectedVersion::NoStream),
            ("bad", ExpectedVersion::Any),
        ]
        .into_iter()
        .zip(0..)
        .map(|((s, x), ticket)| Pending {
            ticket,
            request: Request {
                stream_id: s.to_string(),
                events: vector![Event::new("B")],
                expected: x,
                publisher: None,
            },
        })
        .collect();
        let outcomes = store.group.lead_for_test(&store.connection, group);
        assert!(
            matches!(&outcomes[0], Err(StoreError::Backend { message, source: Some(_) }) if message.contains("FOREIGN KEY")),
            "{:?}",
            outcomes[0]
        );
        assert!(matches!(
            &outcomes[1],
            Err(StoreError::VersionConflict { found: 1, .. })
        ));
        assert!(
            matches!(&outcomes[2], Err(StoreError::Backend { message, source: None }) if message.contains("FOREIGN KEY")),
            "{:?}",
            outcomes[2]
        );
        assert_eq!(store.events(None, 0).unwrap().len(), 1);
        assert!(store.lock().is_autocommit());
    }
}
