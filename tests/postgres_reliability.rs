//! The PostgreSQL store under hostile settings: a database whose default
//! isolation is not read committed, servers and roles that do not exist, a
//! session that holds the append lock, `drop_schema` pointed at a schema the
//! store did not create.
//!
//! They run against the database at `DVENT_POSTGRES_URL` (each in a schema
//! of its own), and are skipped with a plain message without it, except
//! under `CI=true`, where that is an error.

#![cfg(feature = "postgres")]

#[path = "support/stores.rs"]
mod stores;

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use dvent::store::postgres::PostgresOptions;
use dvent::{Event, EventStore, ExpectedVersion, PostgresEventStore, StoreError, vector};
use postgres::error::SqlState;
use postgres::{Client, NoTls};

/// The test database's URL, or `None` (said plainly) when there is none.
fn url() -> Option<String> {
    stores::postgres_url().unwrap_or_else(|message| panic!("{message}"))
}

/// A store in a fresh schema, with `options`; the schema is dropped with
/// the guard.
struct Fresh {
    store: PostgresEventStore,
    schema: String,
}

impl Fresh {
    fn new(url: &str, options: PostgresOptions) -> Self {
        let schema = stores::postgres::fresh_schema();
        let store = PostgresEventStore::connect_with(url, options.with_schema(&schema))
            .unwrap_or_else(|e| panic!("a store in a fresh schema: {e}"));
        Fresh { store, schema }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Err(e) = self.store.drop_schema() {
            eprintln!("postgres: could not drop test schema {}: {e}", self.schema);
        }
    }
}

/// `url` with a server setting made the session's default at connection
/// time, exactly as `ALTER DATABASE … SET` or `ALTER ROLE … SET` would
/// (without changing the shared database for the other tests).
fn with_default(url: &str, setting: &str, value: &str) -> String {
    let option = format!("-c {setting}={}", value.replace(' ', "\\ "));
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let encoded: String = option
            .chars()
            .map(|c| match c {
                ' ' => "%20".to_string(),
                '=' => "%3D".to_string(),
                '\\' => "%5C".to_string(),
                c => c.to_string(),
            })
            .collect();
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}options={encoded}")
    } else {
        format!("{url} options='{}'", option.replace('\\', "\\\\"))
    }
}

/// `url` with its user or database changed (key=value form).
fn with_key(url: &str, key: &str, value: &str) -> String {
    let config: postgres::Config = url.parse().expect("DVENT_POSTGRES_URL parses");
    let mut parts = Vec::new();
    for host in config.get_hosts() {
        match host {
            postgres::config::Host::Tcp(h) => parts.push(format!("host={h}")),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => parts.push(format!("host={}", p.display())),
        }
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    let user = if key == "user" {
        Some(value)
    } else {
        config.get_user()
    };
    if let Some(user) = user {
        parts.push(format!("user={user}"));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!("password='{}'", String::from_utf8_lossy(password)));
    }
    let dbname = if key == "dbname" {
        Some(value)
    } else {
        config.get_dbname()
    };
    if let Some(dbname) = dbname {
        parts.push(format!("dbname={dbname}"));
    }
    parts.join(" ")
}

/// The server's SQLSTATE in a store error's source, if any.
fn sqlstate(error: &StoreError) -> Option<SqlState> {
    let source = std::error::Error::source(error)?;
    let client = source.downcast_ref::<postgres::Error>()?;
    client.code().cloned()
}

const WRITERS: usize = 8;
const SAVES: usize = 200;
const STREAMS: usize = 4;

/// 8 threads × 200 saves on 4 streams, each expecting the version it last
/// saw: every failure is a version conflict, and every stream is 1..n.
fn only_conflicts_under(isolation: &str) {
    let Some(url) = url() else { return };
    let url = with_default(&url, "default_transaction_isolation", isolation);
    // The setting took: the database's default is as said.
    let mut client = Client::connect(&url, NoTls).expect("a client with the setting");
    let shown: String = client
        .query_one("SHOW default_transaction_isolation", &[])
        .and_then(|row| row.try_get(0))
        .unwrap();
    assert_eq!(shown, isolation);

    let fresh = Fresh::new(
        &url,
        PostgresOptions::new().with_max_connections(WRITERS as u32),
    );
    let store = Arc::new(fresh.store.clone());
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let mut saved = Vec::new();
                let mut conflicts = 0u64;
                let mut others = Vec::new();
                for i in 0..SAVES {
                    let stream = format!("s{}", (w + i) % STREAMS);
                    let version = match store.last_event(&stream) {
                        Ok(last) => last.map_or(0, |e| e.version()),
                        Err(e) => {
                            others.push(format!("read: {e}"));
                            continue;
                        }
                    };
                    let event = Event::new("Saved");
                    let id = event.id();
                    match store.append(&stream, &vector![event], ExpectedVersion::Exact(version)) {
                        Ok(_) => saved.push(id),
                        Err(StoreError::VersionConflict { .. }) => conflicts += 1,
                        Err(e) => others.push(format!("{e:?}")),
                    }
                }
                (saved, conflicts, others)
            })
        })
        .collect();
    let mut saved = HashSet::new();
    let mut conflicts = 0;
    let mut others = Vec::new();
    for writer in writers {
        let (s, c, o) = writer.join().expect("a writer thread");
        saved.extend(s);
        conflicts += c;
        others.extend(o);
    }
    stores::report(&format!(
        "postgres, default isolation {isolation}: {} saves acknowledged, {conflicts} version conflicts, \
         {} other errors in {:?}",
        saved.len(),
        others.len(),
        started.elapsed()
    ));
    assert!(
        others.is_empty(),
        "{} errors other than VersionConflict, the first: {}",
        others.len(),
        others[0]
    );
    assert_eq!(saved.len() as u64 + conflicts, (WRITERS * SAVES) as u64);

    let all = store.events(None, 0).unwrap();
    assert_eq!(all.len(), saved.len());
    assert_eq!(
        all.iter().map(Event::id).collect::<HashSet<_>>(),
        saved,
        "exactly the acknowledged events are stored"
    );
    for s in 0..STREAMS {
        let versions: Vec<u64> = store
            .events(Some(&format!("s{s}")), 0)
            .unwrap()
            .iter()
            .map(Event::version)
            .collect();
        assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
    }
}

#[test]
fn a_repeatable_read_database_gives_only_version_conflicts() {
    only_conflicts_under("repeatable read");
}

#[test]
fn a_serializable_database_gives_only_version_conflicts() {
    only_conflicts_under("serializable");
}

#[test]
fn a_read_only_default_does_not_stop_saves() {
    let Some(url) = url() else { return };
    let url = with_default(&url, "default_transaction_read_only", "on");
    // Setting up creates tables: give it a writable connection first.
    let fresh = Fresh::new(&stores_url(), PostgresOptions::new());
    let store =
        PostgresEventStore::connect_with(&url, PostgresOptions::new().with_schema(&fresh.schema))
            .unwrap();
    store
        .append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
        .unwrap();
    assert_eq!(store.events(Some("s"), 0).unwrap().len(), 1);
}

fn stores_url() -> String {
    url().expect("the URL is set")
}

#[test]
fn an_unknown_database_says_so_with_the_servers_message() {
    let Some(url) = url() else { return };
    let err = PostgresEventStore::<dvent::Data>::connect(&with_key(
        &url,
        "dbname",
        "dvent_no_such_database",
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("database \"dvent_no_such_database\" does not exist"),
        "{text}"
    );
    assert!(text.contains("3D000"), "the SQLSTATE: {text}");
    assert!(
        matches!(
            err,
            StoreError::Backend {
                source: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sqlstate(&err), Some(SqlState::INVALID_CATALOG_NAME));
}

#[test]
fn an_unknown_role_says_so_with_the_servers_message() {
    let Some(url) = url() else { return };
    let err =
        PostgresEventStore::<dvent::Data>::connect(&with_key(&url, "user", "dvent_no_such_role"))
            .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("role \"dvent_no_such_role\" does not exist"),
        "{text}"
    );
    assert!(text.contains("28000"), "the SQLSTATE: {text}");
}

#[test]
fn an_unreachable_server_keeps_the_cause() {
    let err = PostgresEventStore::<dvent::Data>::connect(
        "host=127.0.0.1 port=1 user=nobody connect_timeout=3",
    )
    .unwrap_err();
    let text = err.to_string();
    // The operating system's reason, not only "error connecting".
    assert!(text.contains("error connecting to server: "), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    let source = std::error::Error::source(&err).expect("the client's error is kept");
    assert!(source.downcast_ref::<postgres::Error>().is_some());
}

#[test]
fn a_server_error_keeps_its_detail_and_hint() {
    let Some(url) = url() else { return };
    let fresh = Fresh::new(&url, PostgresOptions::new());
    let mut client = Client::connect(&url, NoTls).unwrap();
    // A constraint the store does not know, with a detail in its error.
    client
        .batch_execute(&format!(
            "ALTER TABLE \"{}\".events ADD CONSTRAINT short_type CHECK (length(type) < 5)",
            fresh.schema
        ))
        .unwrap();
    let err = fresh
        .store
        .append(
            "s",
            &vector![Event::new("TooLong")],
            ExpectedVersion::NoStream,
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("23514"), "{text}");
    assert!(text.contains("short_type"), "{text}");
    assert!(text.contains("detail: Failing row contains"), "{text}");
    assert_eq!(sqlstate(&err), Some(SqlState::CHECK_VIOLATION));
    assert!(fresh.store.events(None, 0).unwrap().is_empty());
}

/// Another session holds the append lock (a transaction left open).
fn hold_the_lock(url: &str, schema: &str) -> Client {
    let mut client = Client::connect(url, NoTls).unwrap();
    client
        .batch_execute(&format!(
            "BEGIN; SELECT id FROM \"{schema}\".dvent_store FOR UPDATE"
        ))
        .unwrap();
    client
}

#[test]
fn a_held_lock_gives_a_timeout_in_the_configured_time() {
    let Some(url) = url() else { return };
    let limit = Duration::from_millis(600);
    let fresh = Fresh::new(&url, PostgresOptions::new().with_lock_timeout(limit));
    let mut holder = hold_the_lock(&url, &fresh.schema);

    let started = Instant::now();
    let err = fresh
        .store
        .append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
        .unwrap_err();
    let waited = started.elapsed();
    match &err {
        StoreError::Timeout {
            what,
            limit: reported,
            message,
            ..
        } => {
            assert_eq!(*reported, limit);
            assert!(what.contains("lock"), "{what}");
            assert!(message.contains("55P03"), "{message}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(
        waited >= limit - Duration::from_millis(50) && waited < limit + Duration::from_secs(2),
        "waited {waited:?} for a limit of {limit:?}"
    );
    assert!(err.to_string().contains("600ms"), "{err}");

    // Nothing was written, the store's connection is fine, and once the
    // lock is released the save goes through.
    holder.batch_execute("ROLLBACK").unwrap();
    assert!(fresh.store.events(None, 0).unwrap().is_empty());
    fresh
        .store
        .append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
        .unwrap();
}

#[test]
fn the_statement_timeout_bounds_a_statement() {
    let Some(url) = url() else { return };
    let limit = Duration::from_millis(400);
    // No lock timeout: only the statement's limit stops the wait.
    let options = PostgresOptions::new()
        .with_lock_timeout(Duration::ZERO)
        .with_statement_timeout(limit);
    let fresh = Fresh::new(&url, options);
    let mut holder = hold_the_lock(&url, &fresh.schema);
    let started = Instant::now();
    let err = fresh
        .store
        .append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
        .unwrap_err();
    let waited = started.elapsed();
    match &err {
        StoreError::Timeout {
            what,
            limit: reported,
            message,
            ..
        } => {
            assert_eq!(*reported, limit);
            assert!(what.contains("statement"), "{what}");
            assert!(message.contains("57014"), "{message}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(waited < limit + Duration::from_secs(2), "waited {waited:?}");
    holder.batch_execute("ROLLBACK").unwrap();

    // Reads run under it too: a read blocked by a table lock times out.
    holder
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{}\".events IN ACCESS EXCLUSIVE MODE",
            fresh.schema
        ))
        .unwrap();
    let err = fresh.store.events(None, 0).unwrap_err();
    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    holder.batch_execute("ROLLBACK").unwrap();
    assert!(fresh.store.events(None, 0).unwrap().is_empty());
}

#[test]
fn a_database_wide_lock_timeout_of_zero_does_not_remove_the_limit() {
    let Some(url) = url() else { return };
    let url = with_default(&url, "lock_timeout", "0");
    let fresh = Fresh::new(
        &url,
        PostgresOptions::new().with_lock_timeout(Duration::from_millis(300)),
    );
    let mut holder = hold_the_lock(&url, &fresh.schema);
    let started = Instant::now();
    let err = fresh
        .store
        .append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
        .unwrap_err();
    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    holder.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn drop_schema_refuses_public_and_keeps_everything_in_it() {
    let Some(url) = url() else { return };
    let mut client = Client::connect(&url, NoTls).unwrap();
    let unrelated = format!("dvent_unrelated_{}", std::process::id());
    client
        .batch_execute(&format!(
            "CREATE TABLE public.{unrelated} (x int); INSERT INTO public.{unrelated} VALUES (7)"
        ))
        .unwrap();
    let store = PostgresEventStore::<dvent::Data>::connect_with_schema(&url, "public").unwrap();
    let err = store.drop_schema().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(text.contains("\"public\""), "{text}");
    assert!(text.contains("nothing was dropped"), "{text}");
    let kept: i32 = client
        .query_one(&format!("SELECT x FROM public.{unrelated}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, 7);
    // The store's own tables are still there too.
    store.events(None, 0).unwrap();
    client
        .batch_execute(&format!("DROP TABLE public.{unrelated}"))
        .unwrap();
}

#[test]
fn drop_schema_refuses_a_schema_made_beforehand() {
    let Some(url) = url() else { return };
    let schema = stores::postgres::fresh_schema();
    let mut client = Client::connect(&url, NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
        .unwrap();
    let store = PostgresEventStore::connect_with_schema(&url, &schema).unwrap();
    store
        .append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
        .unwrap();
    assert!(store.drop_schema().is_err());
    assert_eq!(store.events(None, 0).unwrap().len(), 1);
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
}

#[test]
fn drop_schema_drops_its_own_schema_and_keeps_what_others_put_in_it() {
    let Some(url) = url() else { return };
    let mut client = Client::connect(&url, NoTls).unwrap();
    let exists = |client: &mut Client, schema: &str| -> bool {
        client
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .unwrap()
            .is_some()
    };

    // Only the store's: all gone.
    let fresh = Fresh::new(&url, PostgresOptions::new());
    fresh
        .store
        .append("s", &vector![Event::new("A")], ExpectedVersion::NoStream)
        .unwrap();
    fresh.store.drop_schema().unwrap();
    assert!(!exists(&mut client, &fresh.schema));
    // Dropping again is not an error.
    fresh.store.drop_schema().unwrap();

    // Someone else's table in it: the store's tables go, the rest stays.
    let fresh = Fresh::new(&url, PostgresOptions::new());
    let schema = fresh.schema.clone();
    client
        .batch_execute(&format!(
            "CREATE TABLE \"{schema}\".mine (x int); INSERT INTO \"{schema}\".mine VALUES (1)"
        ))
        .unwrap();
    fresh.store.drop_schema().unwrap();
    assert!(exists(&mut client, &schema));
    let kept: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".mine"), &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
    let dvent_tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename <> 'mine'",
            &[&schema],
        )
        .unwrap()
        .get(0);
    assert_eq!(dvent_tables, 0);
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
}

#[test]
fn a_nul_in_a_stream_id_is_refused_before_the_server_sees_it() {
    let Some(url) = url() else { return };
    let fresh = Fresh::new(&url, PostgresOptions::new());
    let err = fresh
        .store
        .append("a\0b", &vector![Event::new("A")], ExpectedVersion::NoStream)
        .unwrap_err();
    assert!(
        !matches!(
            err,
            StoreError::Backend {
                source: Some(_),
                ..
            }
        ),
        "a typed refusal, not the server's: {err:?}"
    );
    assert!(fresh.store.events(Some("a\0b"), 0).unwrap().is_empty());
    assert!(fresh.store.last_event("a\0b").unwrap().is_none());
    assert!(fresh.store.events(None, 0).unwrap().is_empty());
}

#[test]
fn a_save_that_waited_for_the_lock_sees_what_committed_meanwhile_whatever_the_default_isolation() {
    let Some(url) = url() else { return };
    for isolation in ["repeatable read", "serializable"] {
        let url = with_default(&url, "default_transaction_isolation", isolation);
        let fresh = Fresh::new(&url, PostgresOptions::new());
        let schema = fresh.schema.clone();
        let mut holder = hold_the_lock(&url, &schema);
        let store = fresh.store.clone();
        let saver = thread::spawn(move || {
            store.append("mine", &vector![Event::new("A")], ExpectedVersion::NoStream)
        });
        // Let the save start and wait for the lock, then commit another
        // writer's event (position 1) as the store would.
        thread::sleep(Duration::from_millis(300));
        holder
            .batch_execute(&format!(
                "INSERT INTO \"{schema}\".streams VALUES (0, 'theirs', '2024-01-01T00:00:00Z', 1);
                 INSERT INTO \"{schema}\".events VALUES (1, '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b',
                     'theirs', 1, 'T', '2024-01-01T00:00:00Z', '{{}}');
                 COMMIT"
            ))
            .unwrap();
        // A snapshot taken before the wait would miss position 1 and fail;
        // read committed sees it, and the save takes position 2.
        let saved = saver
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{isolation}: {e:?}"));
        assert_eq!(saved.len(), 1);
        let all = fresh.store.events(None, 0).unwrap();
        let streams: Vec<&str> = all.iter().map(|e| e.stream_id()).collect();
        assert_eq!(streams, ["theirs", "mine"], "{isolation}");
    }
}
