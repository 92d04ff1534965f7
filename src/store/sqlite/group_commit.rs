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
//! group's order, and hands every caller its own result, waking each
//! caller once (its thread is parked meanwhile, and woken by nobody else:
//! no caller is woken to find nothing for it). Only then does it give up
//! the role, waking the first caller queued, if any, to commit the next
//! group: the saves queued during the commit, and those of the callers it
//! just woke that came back meanwhile, so that these do not commit one by
//! one (the first back alone, the others behind it). When the group wrote
//! events to publish, the role is given up before they are published
//! instead, so that the next group is committed meanwhile.
//!
//! What depends on a batch alone (its admission, each event's values as
//! written but for its version) is worked out by its caller before it
//! queues, on its own thread, while another group may be committing; the
//! leader runs only the statements, each prepared once per connection (no
//! statement is parsed again).
//!
//! # Guarantees
//!
//! - **Each save is judged alone, as if it were saved alone at its place in
//!   the group.** A save's expectation is checked, and a retry recognised,
//!   against what the saves before it in the group wrote (a second save to
//!   a stream expects the version the first made; a save repeating one
//!   earlier in the group is a retry of it). A save that fails (a version
//!   conflict, a duplicate id, a bad batch) rolls back its own savepoint
//!   only, and its caller gets its error; the others are unaffected. The
//!   errors are the ones, and in the order, a save alone gets: what the
//!   caller worked out beforehand is taken where it was needed.
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
//!   queued (often only its own save). Saves only gather while a group is
//!   being committed and its results handed out.
//!
//! # Costs
//!
//! - A save alone: as before, one transaction and one sync (no savepoint
//!   for a group of one), plus a few uncontended lock round trips on the
//!   queue; no thread is woken.
//! - A group of g saves of b events each: one transaction, one sync,
//!   2·g savepoint statements (no I/O), O(g·b log n) writes, g − 1 wake-ups
//!   (and one to hand the role over when saves are queued);
//!   each caller waits for the whole group's commit (and the publishing of
//!   the saves before its own), so latency grows with g while throughput
//!   grows too.
//! - Memory: the queued saves (their event vectors are shared, O(1) each,
//!   plus their encoded values).
//! - A slow publisher also holds back the publishing (not the commits) of
//!   the groups after it; the commits of the next group go on meanwhile.
//! - [`GroupCommitStats`]: a few counters, updated under the lock a group
//!   is taken with.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};

use imbl::Vector;
use rusqlite::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{backend, write_one};
use crate::event::Event;
use crate::expected_version::ExpectedVersion;
use crate::publisher::{Publisher, publish_all};
use crate::store::codec::{self, EncodedEvent};
use crate::store::{StoreError, admit};

/// One save: what [`EventStore::append`](crate::EventStore::append) was
/// given, the publisher of the handle it was given to, and what its caller
/// prepared before queueing it (see [`Prepared`]).
pub(super) struct Request<D> {
    pub(super) stream_id: String,
    pub(super) events: Vector<Event<D>>,
    pub(super) expected: ExpectedVersion,
    pub(super) publisher: Option<Publisher<D>>,
    pub(super) prepared: Prepared,
}

/// What a caller works out before queueing its save, on its own thread
/// (these depend on the batch alone, not on what is stored): taken by the
/// leader at the very point where it would have worked it out itself, so
/// each save fails exactly as it did.
pub(super) enum Prepared {
    /// The stream id or an event is refused (`admit`'s error).
    Refused(StoreError),
    /// The batch is admitted: each event's values as written, but for the
    /// version; or the index of the first event that cannot be written
    /// (the empty string's id has none) and why.
    Admitted(Result<Vec<EncodedEvent>, (usize, StoreError)>),
    /// Taken by the leader.
    Taken,
}

impl<D: Serialize + Clone> Request<D> {
    /// A save of `events` to `stream_id`, prepared on the caller's thread:
    /// the batch admitted (or refused), each event encoded.
    pub(super) fn new(
        stream_id: &str,
        events: &Vector<Event<D>>,
        expected: ExpectedVersion,
        publisher: Option<Publisher<D>>,
    ) -> Self {
        let prepared = match admit(stream_id, events) {
            Err(e) => Prepared::Refused(e),
            Ok(()) => Prepared::Admitted(
                events
                    .iter()
                    .enumerate()
                    .map(|(i, event)| codec::encode_unversioned(event).map_err(|e| (i, e)))
                    .collect(),
            ),
        };
        Request {
            stream_id: stream_id.to_string(),
            events: events.clone(),
            expected,
            publisher,
            prepared,
        }
    }
}

/// The events as stored, and whether this save wrote them.
type Outcome<D> = Result<(Vec<Event<D>>, bool), StoreError>;

/// A queued save, its ticket and its caller (to wake when it is done).
struct Pending<D> {
    ticket: u64,
    request: Request<D>,
    caller: Thread,
}

struct State<D> {
    next_ticket: u64,
    /// The saves waiting for the next group, in arrival order.
    queue: Vec<Pending<D>>,
    /// An empty vector kept for the next queue (its capacity reused).
    spare: Vec<Pending<D>>,
    /// Whether a leader is committing a group (until its commit returned
    /// and it either took the next group or stepped down).
    leading: bool,
    /// Results not yet taken by their callers, by ticket.
    done: HashMap<u64, Outcome<D>>,
    stats: GroupCommitStats,
}

impl<D> State<D> {
    /// The queued saves, as the next group.
    fn take_group(&mut self) -> Vec<Pending<D>> {
        let spare = std::mem::take(&mut self.spare);
        let group = std::mem::replace(&mut self.queue, spare);
        self.stats.record(group.len());
        group
    }
}

/// How the saves through one connection were grouped so far (see
/// [`SqliteEventStore::group_commit_stats`](super::SqliteEventStore::group_commit_stats)):
/// a figure to watch under load. Kept at no extra cost, under the lock a
/// group is taken with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupCommitStats {
    /// Groups committed (each one transaction and one sync).
    pub groups: u64,
    /// The saves in them.
    pub saves: u64,
    /// The most saves in one group.
    pub largest: u64,
    /// `sizes[k]`: how many groups held from 2^k to 2^(k+1) − 1 saves
    /// (`sizes[0]`: saves committed alone; the last: 128 or more).
    pub sizes: [u64; 8],
}

impl GroupCommitStats {
    fn record(&mut self, size: usize) {
        let size = size as u64;
        if size == 0 {
            return;
        }
        self.groups += 1;
        self.saves += size;
        self.largest = self.largest.max(size);
        let bucket = (size.ilog2() as usize).min(self.sizes.len() - 1);
        self.sizes[bucket] += 1;
    }
}

/// The queue of saves on one connection, shared by the handles on it.
pub(super) struct GroupCommit<D> {
    state: Mutex<State<D>>,
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
                spare: Vec::new(),
                leading: false,
                done: HashMap::new(),
                stats: GroupCommitStats::default(),
            }),
            publishing: Mutex::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<D>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The groups so far.
    pub(super) fn stats(&self) -> GroupCommitStats {
        self.state().stats.clone()
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
        state.queue.push(Pending {
            ticket,
            request,
            caller: thread::current(),
        });
        loop {
            if let Some(outcome) = state.done.remove(&ticket) {
                return outcome;
            }
            // With no leader, a queued save (this one, or one whose caller
            // was woken to lead and has not run yet) is committed now.
            // Otherwise this save is in the queue or in a group being
            // committed, and its caller is woken when its result is posted
            // (or to lead).
            if !state.leading && !state.queue.is_empty() {
                state.leading = true;
                let group = state.take_group();
                drop(state);
                self.lead(connection, group);
                state = self.state();
                continue;
            }
            drop(state);
            thread::park();
            state = self.state();
        }
    }

    /// Commits `group`, publishes it and posts its results, then gives up
    /// the role, waking the first caller queued meanwhile to commit the
    /// next group. (When the group has events to publish, the role is given
    /// up before they are: the next group is committed meanwhile.)
    fn lead(&self, connection: &Mutex<Connection>, group: Vec<Pending<D>>) {
        let me = thread::current().id();
        let mut guard = Leading {
            owner: self,
            group,
            leading: true,
        };
        let outcomes = {
            let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            commit_group(&connection, &mut guard.group)
        };
        // Publishing in commit order: the turn is taken while leading (so
        // before the next group can be committed), and the next group's
        // leader takes it after this one.
        let turn = self
            .publishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let publishes = guard.group.iter().zip(&outcomes).any(|(pending, outcome)| {
            pending.request.publisher.is_some() && matches!(outcome, Ok((_, true)))
        });
        if publishes {
            guard.step_down(&mut self.state());
        }
        for (pending, outcome) in guard.group.iter().zip(&outcomes) {
            if let Ok((stored, true)) = outcome {
                publish_all(pending.request.publisher.as_ref(), stored);
            }
        }
        let mut group = std::mem::take(&mut guard.group);
        let mut state = self.state();
        for (pending, outcome) in group.iter().zip(outcomes) {
            state.done.insert(pending.ticket, outcome);
        }
        drop(state);
        // Each caller woken once, with its result waiting.
        for pending in group.drain(..) {
            if pending.caller.id() != me {
                pending.caller.unpark();
            }
        }
        drop(turn);
        // Given up only now, so that the saves queued while this group's
        // callers were handed their results (some by those callers, woken
        // first) join the next group instead of one of them committing
        // alone. No save waits for others to join: only for this group's
        // results to be handed out.
        let mut state = self.state();
        if guard.leading {
            guard.step_down(&mut state);
        }
        if state.spare.capacity() < group.capacity() {
            state.spare = group;
        }
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
    /// The group whose results are not posted yet.
    group: Vec<Pending<D>>,
    leading: bool,
}

impl<D> Leading<'_, D> {
    /// Gives up the leader's role: the next group may be committed, by the
    /// first caller queued (woken to lead) or by the next to arrive.
    fn step_down(&mut self, state: &mut State<D>) {
        state.leading = false;
        self.leading = false;
        if let Some(first) = state.queue.first() {
            first.caller.unpark();
        }
    }
}

impl<D> Drop for Leading<'_, D> {
    fn drop(&mut self) {
        if !self.leading && self.group.is_empty() {
            return;
        }
        let mut state = self.owner.state();
        if self.leading {
            self.step_down(&mut state);
        }
        for pending in &self.group {
            let message = "the thread committing this save's group panicked";
            state.done.insert(
                pending.ticket,
                Err(StoreError::OutcomeUnknown {
                    stream_id: pending.request.stream_id.clone(),
                    message: message.into(),
                    source: message.into(),
                }),
            );
        }
        drop(state);
        for pending in self.group.drain(..) {
            pending.caller.unpark();
        }
    }
}

/// Runs one statement without results (a transaction's or a savepoint's),
/// prepared once per connection.
fn run(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

/// Rolls back the transaction open on the connection, if one still is,
/// when dropped (on an error, or a panic).
struct Transaction<'c>(&'c Connection);

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            // Should the rollback fail, SQLite rolls back when the
            // connection next begins, or closes.
            let _ = run(self.0, "ROLLBACK");
        }
    }
}

/// Writes the group in one transaction, each save in a savepoint of its own
/// (none for a group of one), and commits: one outcome per save, in order.
fn commit_group<D>(connection: &Connection, group: &mut [Pending<D>]) -> Vec<Outcome<D>>
where
    D: Serialize + DeserializeOwned + Clone,
{
    if let Err(e) = run(connection, "BEGIN IMMEDIATE") {
        return fail_all(group.len(), &backend(e));
    }
    let transaction = Transaction(connection);
    if let [only] = group {
        let outcome = write_one(connection, &mut only.request);
        // Nothing written, or an error: the transaction is rolled back on
        // drop.
        if let Ok((_, true)) = outcome
            && let Err(e) = run(connection, "COMMIT")
        {
            return vec![Err(backend(e))];
        }
        drop(transaction);
        return vec![outcome];
    }
    let len = group.len();
    let mut outcomes: Vec<Outcome<D>> = Vec::with_capacity(len);
    for pending in group {
        if let Err(e) = run(connection, "SAVEPOINT dvent_save") {
            return abandon(outcomes, len, &backend(e));
        }
        let mut outcome = write_one(connection, &mut pending.request);
        let ended = if let Ok((_, true)) = outcome {
            run(connection, "RELEASE dvent_save")
        } else {
            // Nothing to keep: ROLLBACK TO, then RELEASE.
            run(connection, "ROLLBACK TO dvent_save")
                .and_then(|()| run(connection, "RELEASE dvent_save"))
        };
        if let Err(e) = ended {
            if outcome.is_ok() {
                outcome = Err(backend(e));
            }
            // The savepoint could not end as it should: what the
            // transaction holds is in doubt; none of it is committed.
            outcomes.push(outcome);
            return abandon(outcomes, len, &lost());
        }
        if connection.is_autocommit() {
            // SQLite rolled back the whole transaction (an I/O error, a
            // full disk): the saves before this one are not written either.
            outcomes.push(outcome);
            return abandon(outcomes, len, &lost());
        }
        outcomes.push(outcome);
    }
    if let Err(e) = run(connection, "COMMIT") {
        // Nothing of the group is written (the transaction is rolled back
        // on drop): each save that would have been gets the error (the
        // first of them the underlying error itself).
        let spare = copy(&backend_ref(&e));
        let mut error = Some(backend(e));
        for outcome in &mut outcomes {
            if outcome.is_ok() {
                *outcome = Err(error.take().unwrap_or_else(|| copy(&spare)));
            }
        }
    }
    drop(transaction);
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
                request: Request::new(s, e, *x, Some(Arc::clone(&publisher))),
                caller: thread::current(),
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
            request: Request::new(s, &vector![Event::new("B")], x, None),
            caller: thread::current(),
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
