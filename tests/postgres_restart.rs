//! PostgreSQL stopped with `pg_ctl stop -m immediate` (as a crash would)
//! and restarted 10 times under 4 writers, each saving to its own stream
//! expecting the exact version it knows: every save is either acknowledged
//! and stored, or failed and absent, or reported as
//! [`StoreError::OutcomeUnknown`]; no batch is ever half there. Every save
//! whose outcome was unknown is retried with the same events and the same
//! expectation until the server answers, and succeeds, whether the first
//! save had committed or not: at the end each such batch is stored exactly
//! once, where the first save would have put it.
//!
//! It runs a throwaway cluster of its own (`scripts/postgres` on port 54339,
//! in a folder of its own; never the shared server other tests use), so it
//! needs PostgreSQL's programs on this machine (`/usr/lib/postgresql/*/bin`).
//! It runs when `DVENT_POSTGRES_URL` is set (the sign that PostgreSQL is
//! being tested), and is skipped with a plain message otherwise, except
//! under `CI=true`, where that is an error.

#![cfg(feature = "postgres")]

#[path = "support/stores.rs"]
mod stores;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use dvent::store::postgres::PostgresOptions;
use dvent::{Event, EventStore, ExpectedVersion, PostgresEventStore, StoreError};
use uuid::Uuid;

const PORT: u16 = 54339;
const WRITERS: usize = 4;
const RESTARTS: usize = 10;
const BATCH: usize = 3;

/// The folder with `pg_ctl`, the newest installed.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|dir| dir.join("pg_ctl").exists())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

/// A cluster of this test's own, stopped and deleted when dropped.
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    url: String,
}

impl Cluster {
    fn start(bin: PathBuf) -> Self {
        let dir = std::env::temp_dir().join(format!("dvent-pg-restart-{}", std::process::id()));
        let output = Command::new("scripts/postgres")
            .arg("start")
            .env("DVENT_PG_PORT", PORT.to_string())
            .env("DVENT_PG_DIR", &dir)
            .output()
            .expect("scripts/postgres runs");
        assert!(
            output.status.success(),
            "scripts/postgres start failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let url = stdout
            .trim()
            .strip_prefix("export DVENT_POSTGRES_URL=")
            .unwrap_or_else(|| panic!("an export line, found {stdout:?}"))
            .to_string();
        Cluster { dir, bin, url }
    }

    /// Runs `pg_ctl` as the server's user (root may not run PostgreSQL).
    fn pg_ctl(&self, args: &[&str]) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.dir.join("data");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        command.arg("-D").arg(&data).args(args);
        let output = command.output().expect("pg_ctl runs");
        assert!(
            output.status.success(),
            "pg_ctl {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn crash(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }

    fn restart(&self) {
        let log = self.dir.join("server.log");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {PORT} -k {} -c max_connections=300",
            self.dir.display()
        );
        self.pg_ctl(&[
            "-l",
            &log.display().to_string(),
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "start",
        ]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("scripts/postgres")
            .arg("stop")
            .env("DVENT_PG_PORT", PORT.to_string())
            .env("DVENT_PG_DIR", &self.dir)
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Said {
    Acknowledged,
    Failed,
    Unknown,
}

/// How long a writer keeps retrying a save whose outcome was unknown.
const RETRY_FOR: Duration = Duration::from_secs(90);

/// Saves `batch` again, with the same expectation, until the store answers
/// with anything but a failure of the connection: the outcome of the retry
/// (`Ok` once stored, by this retry or by the save whose outcome was
/// unknown) and how many tries it took.
fn retry(
    store: &PostgresEventStore,
    stream: &str,
    batch: &dvent::Vector<Event>,
    expected: ExpectedVersion,
) -> (Result<Vec<Event>, String>, usize) {
    let deadline = Instant::now() + RETRY_FOR;
    let mut tries = 0;
    loop {
        tries += 1;
        match store.append(stream, batch, expected) {
            Ok(stored) => return (Ok(stored), tries),
            Err(StoreError::OutcomeUnknown { .. } | StoreError::Backend { .. })
                if Instant::now() < deadline =>
            {
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return (Err(e.to_string()), tries),
        }
    }
}

#[test]
fn saves_across_crashes_are_acknowledged_and_stored_failed_and_absent_or_unknown() {
    let Some(_) = stores::postgres_url().unwrap_or_else(|message| panic!("{message}")) else {
        return;
    };
    let Some(bin) = bin_dir().filter(|_| Path::new("scripts/postgres").exists()) else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "postgres restart: no PostgreSQL programs under /usr/lib/postgresql, and CI=true needs them"
        );
        stores::report("postgres restart: no PostgreSQL programs here, skipping");
        return;
    };
    let cluster = Cluster::start(bin);
    let options = PostgresOptions::new()
        .with_schema("restart")
        .with_max_connections(WRITERS as u32)
        .with_connection_timeout(Duration::from_secs(2));
    // The publisher runs only for a save that wrote its batch: a retry that
    // finds the batch stored (its first save had committed) publishes
    // nothing, one that writes it publishes it.
    let published: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let seen = Arc::clone(&published);
    let store = Arc::new(
        PostgresEventStore::connect_with(&cluster.url, options)
            .unwrap()
            .with_publisher(move |e: &Event| {
                seen.lock().unwrap().insert(e.id());
                Ok(())
            }),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut said: Vec<(Vec<Uuid>, Said, String)> = Vec::new();
                // Each writer alone writes its stream, so it knows its
                // version and saves expecting exactly it.
                let mut version = 0;
                while !stop.load(Ordering::Relaxed) {
                    let batch: dvent::Vector<Event> =
                        (0..BATCH).map(|_| Event::new("Saved")).collect();
                    let ids = batch.iter().map(Event::id).collect();
                    let stream = format!("w{w}");
                    let expected = ExpectedVersion::after(version);
                    match store.append(&stream, &batch, expected) {
                        Ok(_) => {
                            said.push((ids, Said::Acknowledged, String::new()));
                            version += BATCH as u64;
                        }
                        Err(e @ StoreError::OutcomeUnknown { .. }) => {
                            // Retried with the same events and expectation:
                            // stored once whether the first save committed
                            // or not.
                            let (outcome, tries) = retry(&store, &stream, &batch, expected);
                            let versions = outcome.as_ref().map(|stored| {
                                stored.iter().map(Event::version).collect::<Vec<_>>()
                            });
                            let want: Vec<u64> = (version + 1..=version + BATCH as u64).collect();
                            assert_eq!(
                                versions,
                                Ok(want),
                                "retrying a save whose outcome was unknown ({e}) {tries} times"
                            );
                            said.push((ids, Said::Unknown, e.to_string()));
                            version += BATCH as u64;
                        }
                        Err(e) => {
                            said.push((ids, Said::Failed, e.to_string()));
                            thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
                said
            })
        })
        .collect();

    let started = Instant::now();
    for _ in 0..RESTARTS {
        thread::sleep(Duration::from_millis(400));
        cluster.crash();
        thread::sleep(Duration::from_millis(100));
        cluster.restart();
    }
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let said: Vec<_> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("a writer thread"))
        .collect();

    let stored: HashSet<Uuid> = store
        .events(None, 0)
        .unwrap()
        .iter()
        .map(Event::id)
        .collect();
    let mut counts: HashMap<(Said, bool), usize> = HashMap::new();
    let (mut unknown_committed, mut unknown_absent) = (0, 0);
    for (ids, what, message) in &said {
        let present = ids.iter().filter(|id| stored.contains(id)).count();
        assert!(
            present == 0 || present == ids.len(),
            "a batch is half there ({present} of {}): {what:?} {message}",
            ids.len()
        );
        let present = present > 0;
        *counts.entry((*what, present)).or_default() += 1;
        match what {
            Said::Acknowledged => assert!(present, "an acknowledged save is missing"),
            Said::Failed => assert!(!present, "a save that failed is stored: {message}"),
            Said::Unknown => {
                assert!(
                    present,
                    "a save retried after an unknown outcome is missing"
                );
                if published.lock().unwrap().contains(&ids[0]) {
                    unknown_absent += 1;
                } else {
                    unknown_committed += 1;
                }
            }
        }
    }
    let count = |what, present| counts.get(&(what, present)).copied().unwrap_or(0);
    stores::report(&format!(
        "postgres restart: {RESTARTS} crashes in {:?}; {} saves acknowledged (all stored), \
         {} failed (all absent), {} unknown and retried with the same events, each stored \
         once ({unknown_committed} had committed and were found stored, {unknown_absent} \
         had not and were written by the retry)",
        started.elapsed(),
        count(Said::Acknowledged, true),
        count(Said::Failed, false),
        count(Said::Unknown, true),
    ));
    // Each stored batch exactly once: the store holds the acknowledged and
    // the retried batches and nothing else.
    assert_eq!(
        stored.len(),
        BATCH * (count(Said::Acknowledged, true) + count(Said::Unknown, true))
    );
    assert!(count(Said::Acknowledged, true) > 0);
    // A save is one round trip (group commit): a crash while it is on its
    // way makes its outcome unknown, and only a save that could not be sent
    // fails outright, so how many of each there are is up to the timing.
    assert!(
        count(Said::Failed, false) + count(Said::Unknown, true) > 0,
        "the crashes interrupted some saves"
    );
    // Every acknowledged or stored batch is whole: each stream is 1..n.
    for w in 0..WRITERS {
        let versions: Vec<u64> = store
            .events(Some(&format!("w{w}")), 0)
            .unwrap()
            .iter()
            .map(Event::version)
            .collect();
        assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
    }
}
