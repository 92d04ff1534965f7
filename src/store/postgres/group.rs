//! Group commit: the saves a process makes at the same moment go to the
//! server together, in one statement, one transaction and one WAL flush.
//!
//! PostgreSQL gives positions in commit order only because every save holds
//! the store's append lock until it has committed (see the
//! [module docs](super)), so saves run one at a time and each waits for its
//! own flush of the write-ahead log. Here a save joins a queue shared by
//! the handles of one connected store (a handle and its clones). When no
//! group is being written, the caller becomes the *leader*: it takes every
//! save queued at that moment (its own among them, at most one per stream
//! and [`MAX_SAVES`] in all) and sends them as one call of the server-side
//! function `dvent_append_v1`, outside any explicit transaction:
//!
//! ```text
//! SELECT * FROM dvent_append_v1(streams, lo, hi, counts, event_ids, ...)
//!   -- takes the append lock, reads each stream's version and the largest
//!   -- position (each a statement of its own, so they see every save
//!   -- committed before the lock was granted), judges each save, writes
//!   -- the ones that pass, notifies the store's channel; then the implicit
//!   -- transaction commits: one round trip, one flush, for the group.
//! ```
//!
//! The others wait meanwhile, and their saves queue up for the next group.
//! A save alone is the same call with one save: one round trip instead of
//! the five of a save in a transaction of its own.
//!
//! # Guarantees
//!
//! - **The same order and the same promises as a save alone.** The function
//!   holds the same append lock as a save alone until its transaction
//!   commits, so positions stay gap-free and in commit order across groups,
//!   processes, and saves alone (a reader of "after position p" never
//!   passes an event that commits later).
//! - **Each save judged alone.** The function writes a save only when its
//!   stream is at a version the save accepts (its expectation, and any
//!   version its events name) and none of its event ids is stored. Any other
//!   save is written by nobody in the group, and its caller then saves it
//!   alone, in a transaction of its own, after the group committed: that
//!   gives exactly the error (a conflict naming the version found, a
//!   duplicate id) or the retry's answer a save alone gives.
//! - **Atomic, all or none for the group.** Should the server refuse the
//!   call (an `ERROR`: a time limit, a race on an id), nothing of the group
//!   is written, and each caller saves alone. Should the connection fail
//!   once the call was sent, every caller in the group gets
//!   [`StoreError::OutcomeUnknown`]: each batch is either wholly stored or
//!   wholly absent, and saving it again is safe.
//! - **Durable when it returns.** A caller gets its result only after the
//!   call returned, which is after the commit (with `synchronous_commit =
//!   on`, flushed).
//! - **No waiting for company.** A save never waits for others to join:
//!   saves gather only while a group is being written.
//!
//! # Costs
//!
//! One round trip and one flush per group; the function runs two short
//! statements (the lock; one read of the largest position and stream
//! number, each stream's version by its index, and which of the ids are
//! stored) and two inserts, whatever the group's size, each with a plan
//! made once per connection. A caller that is not leading sleeps on a
//! condition variable.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ::postgres::error::Severity;
use ::postgres::types::ToSql;

use super::{Connection, describe, prepared};
use crate::store::StoreError;

/// The most saves one group takes; the rest wait for the next.
const MAX_SAVES: usize = 64;

/// The longest a leader waits for company (see [`Queue::gather`]).
const MAX_GATHER: Duration = Duration::from_micros(500);

/// The most events one group takes (a save larger than this goes alone in
/// its group).
const MAX_EVENTS: usize = 10_000;

/// The function's name, its argument types and its body, for a schema
/// prefix `p` (empty or `"schema".`).
pub(super) struct GroupSql {
    /// The function's signature, qualified, for `to_regprocedure`.
    pub(super) signature: String,
    /// Creates the function, with `{settings}` where its settings go.
    create: String,
    /// Calls it.
    call: String,
}

impl GroupSql {
    /// Creates the function on a server of `server_version` (as
    /// `server_version_num`): from PostgreSQL 12 on, its statements' plans
    /// are made once per connection (`plan_cache_mode`), not at every call
    /// (they look rows up by index either way); that made single saves
    /// about 20% faster.
    pub(super) fn create(&self, server_version: i32) -> String {
        let settings = if server_version >= 120_000 {
            "SET plan_cache_mode = force_generic_plan "
        } else {
            ""
        };
        self.create.replace("{settings}", settings)
    }

    pub(super) fn new(p: &str) -> Self {
        let args = "text[], bigint[], bigint[], integer[], text[], text[], text[], text[], text[], bigint[], text";
        GroupSql {
            signature: format!("{p}dvent_append_v1({args})"),
            create: format!(
                "CREATE FUNCTION {p}dvent_append_v1(
                    streams text[], lo bigint[], hi bigint[], counts integer[],
                    event_ids text[], types text[], timestamps text[], data text[],
                    metadata text[], data_versions bigint[], channel text,
                    OUT bases bigint[], OUT firsts bigint[])
                LANGUAGE plpgsql {{settings}}AS $dvent$
                DECLARE
                    saves integer := cardinality(streams);
                    n integer := cardinality(event_ids);
                    found bigint[];
                    stored text[];
                    last_position bigint;
                    next_number bigint;
                    positions bigint[] := array_fill(NULL::bigint, ARRAY[n]);
                    versions bigint[] := array_fill(NULL::bigint, ARRAY[n]);
                    owners text[] := array_fill(NULL::text, ARRAY[n]);
                    numbers bigint[] := '{{}}';
                    written text[] := '{{}}';
                    first_times text[] := '{{}}';
                    last_versions bigint[] := '{{}}';
                    first integer := 1;
                    cur bigint;
                BEGIN
                    -- The append lock, held to the commit; every statement
                    -- after it sees the saves committed before it was granted.
                    PERFORM 1 FROM {p}dvent_store WHERE id = 1 FOR UPDATE;
                    -- One statement; one index look-up per stream (a join
                    -- could be planned as a scan of the whole table).
                    SELECT (SELECT COALESCE(MAX(position), 0) FROM {p}events),
                           (SELECT COALESCE(MAX(number) + 1, 0) FROM {p}streams),
                           ARRAY(SELECT (SELECT s.version FROM {p}streams s
                                         WHERE s.stream_id = u.stream_id)
                                 FROM unnest(streams) WITH ORDINALITY AS u(stream_id, i)
                                 ORDER BY u.i),
                           ARRAY(SELECT e.event_id::text FROM {p}events e
                                 WHERE e.event_id = ANY(event_ids::uuid[]))
                      INTO last_position, next_number, found, stored;
                    bases := array_fill(NULL::bigint, ARRAY[saves]);
                    firsts := bases;
                    FOR s IN 1..saves LOOP
                        cur := COALESCE(found[s], 0);
                        IF cur BETWEEN lo[s] AND hi[s]
                           AND (cardinality(stored) = 0
                                OR NOT (event_ids[first:first + counts[s] - 1] && stored)) THEN
                            bases[s] := cur;
                            firsts[s] := last_position + 1;
                            FOR k IN 1..counts[s] LOOP
                                last_position := last_position + 1;
                                positions[first + k - 1] := last_position;
                                versions[first + k - 1] := cur + k;
                                owners[first + k - 1] := streams[s];
                            END LOOP;
                            written := written || streams[s];
                            IF found[s] IS NULL THEN
                                numbers := numbers || next_number;
                                next_number := next_number + 1;
                            ELSE
                                -- Never inserted: the stream's row is there.
                                numbers := numbers || (-1)::bigint;
                            END IF;
                            first_times := first_times || timestamps[first];
                            last_versions := last_versions || (cur + counts[s]);
                        END IF;
                        first := first + counts[s];
                    END LOOP;
                    IF cardinality(written) > 0 THEN
                        INSERT INTO {p}streams (number, stream_id, timestamp, version)
                        SELECT * FROM unnest(numbers, written, first_times, last_versions)
                        ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version;
                        INSERT INTO {p}events (position, event_id, stream_id, version, type, timestamp,
                                               data, metadata, data_version)
                        SELECT b.position, b.event_id::uuid, b.stream_id, b.version, b.type, b.timestamp,
                               b.data::json, b.metadata::json, b.data_version::integer
                        FROM unnest(positions, event_ids, owners, versions, types, timestamps, data,
                                    metadata, data_versions)
                            AS b(position, event_id, stream_id, version, type, timestamp, data,
                                 metadata, data_version)
                        WHERE b.position IS NOT NULL;
                        PERFORM pg_notify(channel, last_position::text);
                    END IF;
                END
                $dvent$"
            ),
            call: format!(
                "SELECT bases, firsts FROM {p}dvent_append_v1($1::text[], $2::bigint[], $3::bigint[], \
                 $4::integer[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
                 $10::bigint[], $11::text)"
            ),
        }
    }
}

/// One save, encoded, as the function takes it.
pub(super) struct Request {
    /// The stream.
    pub(super) stream_id: String,
    /// The versions of the stream the save accepts: `lo..=hi`.
    pub(super) lo: i64,
    pub(super) hi: i64,
    /// Per event: id (hyphenated), type, timestamp, payload, metadata,
    /// payload version.
    pub(super) event_ids: Vec<String>,
    pub(super) types: Vec<String>,
    pub(super) timestamps: Vec<String>,
    pub(super) data: Vec<String>,
    pub(super) metadata: Vec<String>,
    pub(super) data_versions: Vec<i64>,
}

/// What became of a save in its group.
pub(super) enum Outcome {
    /// Written: the stream's version before it.
    Written { base: u64 },
    /// Not written by the group (refused by the function, or the group's
    /// call was refused): to be saved alone.
    Alone,
    /// The group's outcome is not known, or it could not be sent.
    Failed(StoreError),
}

struct Slot {
    request: Request,
    outcome: Option<Outcome>,
}

#[derive(Default)]
struct State {
    /// Saves waiting for a group, in arrival order.
    queue: VecDeque<Arc<Mutex<Slot>>>,
    /// A group is being written (or gathered).
    leading: bool,
    /// The leader is waiting for company (see [`Queue::gather`]).
    gathering: bool,
    /// The last group's size and how long it took to write.
    last_size: usize,
    last_time: Duration,
}

/// The queue of one connected store's saves.
#[derive(Default)]
pub(super) struct Queue {
    state: Mutex<State>,
    done: Condvar,
    /// Wakes a gathering leader when a save is queued.
    arrived: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Saves `request` with whatever else is queued; `connect` gives the
    /// leader a connection. Blocks until the save's group is written.
    pub(super) fn save(
        &self,
        request: Request,
        sql: &GroupSql,
        channel: &str,
        connect: impl Fn() -> Result<r2d2::PooledConnection<super::Manager>, StoreError>,
    ) -> Outcome {
        let slot = Arc::new(Mutex::new(Slot {
            request,
            outcome: None,
        }));
        let mut state = self.lock();
        state.queue.push_back(slot.clone());
        if state.gathering {
            self.arrived.notify_one();
        }
        loop {
            if let Some(outcome) = take_outcome(&slot) {
                return outcome;
            }
            if state.leading {
                state = self
                    .done
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            state.leading = true;
            state = self.gather(state);
            let group = take_group(&mut state.queue);
            drop(state);
            // Should this thread panic while writing, the others must not
            // wait forever: the guard hands them an unknown outcome.
            let mut guard = Leading {
                queue: self,
                group,
                finished: false,
            };
            let started = Instant::now();
            let outcomes = write_group(&guard.group, sql, channel, &connect);
            let took = started.elapsed();
            for (slot, outcome) in guard.group.iter().zip(outcomes) {
                lock_slot(slot).outcome = Some(outcome);
            }
            guard.finished = true;
            let size = guard.group.len();
            drop(guard);
            state = self.lock();
            state.last_size = size;
            state.last_time = took;
        }
    }
}

impl Queue {
    /// The leader's short wait for company: when fewer saves are queued
    /// than the last group held, the savers of that group are most likely
    /// about to save again (their callers were only just answered), so the
    /// leader waits until as many are queued, or for at most a quarter of
    /// the time the last group took to write (and never more than
    /// [`MAX_GATHER`]). A save alone (a last group of one) never waits.
    fn gather<'a>(&self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let want = state.last_size.min(MAX_SAVES);
        if state.queue.len() >= want {
            return state;
        }
        let deadline = Instant::now() + (state.last_time / 4).min(MAX_GATHER);
        state.gathering = true;
        while state.queue.len() < want {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .arrived
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        state.gathering = false;
        state
    }
}

/// The leader's duty to wake the others when its group is done (or it
/// panicked).
struct Leading<'a> {
    queue: &'a Queue,
    group: Vec<Arc<Mutex<Slot>>>,
    finished: bool,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if !self.finished {
            for slot in &self.group {
                let mut slot = lock_slot(slot);
                if slot.outcome.is_none() {
                    slot.outcome = Some(Outcome::Failed(unknown(
                        &slot.request.stream_id,
                        "the thread writing its group panicked".to_string(),
                        None,
                    )));
                }
            }
        }
        self.queue.lock().leading = false;
        self.queue.done.notify_all();
    }
}

fn lock_slot(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn take_outcome(slot: &Mutex<Slot>) -> Option<Outcome> {
    lock_slot(slot).outcome.take()
}

/// The next group: queued saves in order, at most one per stream (a later
/// save to the same stream waits for the next group, so that each save is
/// judged against the stream as the one before it left it), within the
/// limits.
fn take_group(queue: &mut VecDeque<Arc<Mutex<Slot>>>) -> Vec<Arc<Mutex<Slot>>> {
    let mut group = Vec::new();
    let mut streams = HashSet::new();
    let mut events = 0;
    let mut i = 0;
    while i < queue.len() && group.len() < MAX_SAVES {
        let (stream, count) = {
            let slot = lock_slot(&queue[i]);
            (slot.request.stream_id.clone(), slot.request.event_ids.len())
        };
        if streams.contains(&stream) || (!group.is_empty() && events + count > MAX_EVENTS) {
            i += 1;
            continue;
        }
        streams.insert(stream);
        events += count;
        group.extend(queue.remove(i));
    }
    group
}

/// An unknown outcome for a save of `stream_id`.
fn unknown(stream_id: &str, message: String, source: Option<::postgres::Error>) -> StoreError {
    StoreError::OutcomeUnknown {
        stream_id: stream_id.to_string(),
        source: match source {
            Some(error) => Box::new(error),
            None => Box::new(std::io::Error::other(message.clone())),
        },
        message,
    }
}

/// Sends the group as one call; one outcome per save, in order.
fn write_group(
    group: &[Arc<Mutex<Slot>>],
    sql: &GroupSql,
    channel: &str,
    connect: &impl Fn() -> Result<r2d2::PooledConnection<super::Manager>, StoreError>,
) -> Vec<Outcome> {
    let mut streams = Vec::with_capacity(group.len());
    let (mut lo, mut hi, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ids, mut types, mut times, mut data, mut metadata, mut data_versions) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let slots: Vec<MutexGuard<'_, Slot>> = group.iter().map(|s| lock_slot(s)).collect();
    for slot in &slots {
        let r = &slot.request;
        streams.push(r.stream_id.as_str());
        lo.push(r.lo);
        hi.push(r.hi);
        counts.push(i32::try_from(r.event_ids.len()).unwrap_or(i32::MAX));
        ids.extend(r.event_ids.iter().map(String::as_str));
        types.extend(r.types.iter().map(String::as_str));
        times.extend(r.timestamps.iter().map(String::as_str));
        data.extend(r.data.iter().map(String::as_str));
        metadata.extend(r.metadata.iter().map(String::as_str));
        data_versions.extend(r.data_versions.iter().copied());
    }
    let each = |f: &dyn Fn(&str) -> Outcome| -> Vec<Outcome> {
        slots.iter().map(|s| f(&s.request.stream_id)).collect()
    };
    // Nothing sent, nothing written: each caller gets the error.
    let not_sent = |message: String| -> Vec<Outcome> {
        each(&|_| {
            Outcome::Failed(StoreError::Backend {
                message: message.clone(),
                source: None,
            })
        })
    };
    let mut pooled = match connect() {
        Ok(pooled) => pooled,
        Err(error) => return not_sent(error.to_string()),
    };
    let Connection {
        client,
        statements,
        broken,
    } = &mut *pooled;
    if client.is_closed() {
        *broken = true;
        return not_sent("PostgreSQL: the connection should be open, found it closed".to_string());
    }
    let params: [&(dyn ToSql + Sync); 11] = [
        &streams,
        &lo,
        &hi,
        &counts,
        &ids,
        &types,
        &times,
        &data,
        &metadata,
        &data_versions,
        &channel,
    ];
    let call = match prepared(client, statements, &sql.call) {
        Ok(call) => call,
        // The call itself was not sent.
        Err(e) => {
            if e.as_db_error().is_none() {
                *broken = true;
            }
            return not_sent(describe(&e));
        }
    };
    let result = client.query_one(&call, &params).and_then(|row| {
        let bases: Vec<Option<i64>> = row.try_get(0)?;
        Ok(bases)
    });
    match result {
        Ok(bases) => bases
            .into_iter()
            .map(|base| match base.and_then(|b| u64::try_from(b).ok()) {
                Some(base) => Outcome::Written { base },
                None => Outcome::Alone,
            })
            .chain(std::iter::repeat_with(|| Outcome::Alone))
            .take(slots.len())
            .collect(),
        // The server refused it: its implicit transaction was rolled back,
        // nothing of the group is written.
        Err(e)
            if e.as_db_error()
                .is_some_and(|db| db.parsed_severity() == Some(Severity::Error)) =>
        {
            log::debug!(
                target: "dvent::postgres",
                "a group of {} saves was refused, each is saved alone: {}",
                slots.len(),
                describe(&e)
            );
            each(&|_| Outcome::Alone)
        }
        // The connection failed, or the server ended the session: the
        // commit may have happened.
        Err(e) => {
            *broken = true;
            let message = describe(&e);
            slots
                .iter()
                .map(|s| Outcome::Failed(unknown(&s.request.stream_id, message.clone(), None)))
                .collect()
        }
    }
}
