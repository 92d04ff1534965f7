//! What the read side costs, measured: live latency from commit to delivery
//! on each store, and catch-up throughput and memory on an SQLite file.
//!
//! ```text
//! cargo run --release --example read_side [--features postgres] -- \
//!     [--only latency|catch-up] [--samples N] [--interval-ms M] \
//!     [--events N] [--page N] [--cache-mib N] [--file PATH]
//! ```
//!
//! **Live latency**, per store (memory, an SQLite file, and PostgreSQL in a
//! fresh schema, dropped at the end, when built with `--features postgres`
//! and `DVENT_POSTGRES_URL` is set): a subscriber starts at the store's end
//! and waits; this thread then saves N single events (`--samples`, default
//! 1,000), one every M ms (`--interval-ms`, default 5), noting the instant
//! each `append` returned; the subscriber notes the instant it received
//! each. Printed: the median, p99 and maximum of the differences, in ms.
//! Caveat: the instant `append` returned stands for the commit, which
//! happened a little earlier (so the figures are a little low), and a
//! subscriber woken before `append` returned counts as 0 ms. The SQLite
//! store keeps its default `Synchronous::Full` (a disk sync per save); the
//! subscriber and the writer use clones of one handle.
//!
//! **Catch-up** (SQLite): a child process (this program again) writes N
//! events (`--events`, default 1,000,000; streams of 1,000 events, one
//! append each, `Synchronous::Normal`; not measured) to a new file, or
//! reuses `--file` when it exists. Then three readers, each in a fresh
//! process, read them all from position 0, `--page` events a page (default
//! 256, `DEFAULT_PAGE_SIZE`): a subscription with the dynamic `Data`
//! payload, one with a typed struct, and, as the floor under both, the same
//! paged query straight through rusqlite with nothing decoded. Printed:
//! events/s, and the peak resident memory above the baseline before the
//! read (Linux's `VmHWM`, reset through `/proc/self/clear_refs`, as
//! `read_memory` does; Linux only). The store sets SQLite's page cache to
//! 64 MiB, which a long read fills: `--cache-mib` sets another size.

use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use dvent::store::sqlite::Synchronous;
use dvent::subscription::DEFAULT_PAGE_SIZE;
use dvent::{Data, Event, EventStore, ExpectedVersion, InMemoryEventStore, SqliteEventStore};
use serde::Deserialize;

type Failure = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    samples: usize,
    interval: Duration,
    events: usize,
    page: usize,
    only: Option<String>,
    file: Option<std::path::PathBuf>,
    cache_mib: Option<i64>,
    reader: Option<String>,
    write: Option<std::path::PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, Failure> {
    let mut parsed = Args {
        samples: 1_000,
        interval: Duration::from_millis(5),
        events: 1_000_000,
        page: DEFAULT_PAGE_SIZE,
        only: None,
        file: None,
        cache_mib: None,
        reader: None,
        write: None,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--samples" => parsed.samples = value()?.parse()?,
            "--interval-ms" => parsed.interval = Duration::from_millis(value()?.parse()?),
            "--events" => parsed.events = value()?.parse()?,
            "--page" => parsed.page = value()?.parse::<usize>()?.max(1),
            "--only" => parsed.only = Some(value()?),
            "--file" => parsed.file = Some(value()?.into()),
            "--cache-mib" => parsed.cache_mib = Some(value()?.parse()?),
            // What the program passes to its children.
            "--reader" => parsed.reader = Some(value()?),
            "--write" => parsed.write = Some(value()?.into()),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(parsed)
}

/// The `q` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Live latency on `store`: saves `samples` events one at a time, and
/// prints how long each took to reach a subscriber waiting at the end.
fn latency<S>(label: &str, store: S, args: &Args) -> Result<(), Failure>
where
    S: EventStore<Data> + Clone + Send + 'static,
{
    let n = args.samples;
    // The last position stored: a wait that does not wait.
    let end = store.wait_for_commit(0, Duration::ZERO)?;
    let mut subscription = store.subscribe(end);
    let (ready, is_ready) = mpsc::channel();
    let reader = thread::spawn(move || -> Result<Vec<Instant>, Failure> {
        // Caught up (nothing after the end), so the next call waits live.
        if subscription.next_timeout(Duration::ZERO)?.is_some() {
            return Err("nothing should follow the end yet".into());
        }
        ready.send(())?;
        let mut received = Vec::with_capacity(n);
        for (recorded, expected) in subscription.by_ref().take(n).zip(end + 1..) {
            let position = recorded?.position;
            received.push(Instant::now());
            if position != expected {
                return Err(format!("expected position {expected}, found {position}").into());
            }
        }
        Ok(received)
    });
    is_ready.recv()?;
    thread::sleep(Duration::from_millis(20));
    let mut appended = Vec::with_capacity(n);
    for i in 0..n {
        let event = Event::new("Pinged").with_entry("n", i as i64);
        store.append(
            &format!("ping-{}", i % 16),
            &dvent::vector![event],
            ExpectedVersion::Any,
        )?;
        appended.push(Instant::now());
        thread::sleep(args.interval);
    }
    let received = reader.join().expect("the subscriber panicked")?;
    let mut ms: Vec<f64> = appended
        .iter()
        .zip(&received)
        .map(|(a, r)| r.saturating_duration_since(*a).as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "latency\t{label}\t{n} samples, one every {} ms\tmedian {:.3} ms\tp99 {:.3} ms\tmax {:.3} ms",
        args.interval.as_millis(),
        quantile(&ms, 0.5),
        quantile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0),
    );
    Ok(())
}

fn latencies(args: &Args) -> Result<(), Failure> {
    latency("memory", InMemoryEventStore::new(), args)?;
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteEventStore::open(dir.path().join("latency.sqlite"))?;
    latency("sqlite-file", sqlite, args)?;
    #[cfg(feature = "postgres")]
    match std::env::var("DVENT_POSTGRES_URL") {
        Ok(url) => {
            use dvent::store::postgres::PostgresOptions;
            let schema = format!("dvent_read_side_{}", std::process::id());
            let options = PostgresOptions::new().with_schema(schema);
            let postgres = dvent::PostgresEventStore::connect_with(&url, options)?;
            let measured = latency("postgres", postgres.clone(), args);
            postgres.drop_schema()?;
            measured?;
        }
        Err(_) => println!("latency\tpostgres\tskipped: DVENT_POSTGRES_URL is not set"),
    }
    Ok(())
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> Result<u64, Failure> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .ok_or_else(|| format!("/proc/self/status should have {field}, found none"))?;
    let kib = line.split_whitespace().nth(1).unwrap_or_default();
    Ok(kib.parse()?)
}

/// Writes `n` events to a new file at `path` (in a child process, so that
/// the reading process starts fresh).
fn write(path: &std::path::Path, n: usize) -> Result<(), Failure> {
    const BATCH: usize = 1_000;
    const STREAM_LENGTH: usize = 1_000;
    let store = SqliteEventStore::open(path)?.with_synchronous(Synchronous::Normal)?;
    let statuses = ["Queued", "Started", "Finished"];
    let mut stream = 0;
    for start in (0..n).step_by(BATCH) {
        let batch: Vec<Event> = (start..n.min(start + BATCH))
            .map(|i| Event::new("TodoStatusChanged").with_entry("status", statuses[i % 3]))
            .collect();
        for chunk in batch.chunks(STREAM_LENGTH) {
            let chunk: dvent::Vector<Event> = chunk.iter().cloned().collect();
            store.append(&format!("todo-{stream}"), &chunk, ExpectedVersion::NoStream)?;
            stream += 1;
        }
    }
    Ok(())
}

/// The typed payload of the catch-up's events.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
struct StatusChanged {
    status: String,
}

/// Runs `read` (which returns how many events it read) and prints its
/// events/s and its peak resident memory above the baseline before it.
fn measured(
    label: &str,
    args: &Args,
    read: impl FnOnce() -> Result<u64, Failure>,
) -> Result<(), Failure> {
    // Resets the peak resident size (VmHWM) to the current one.
    std::fs::write("/proc/self/clear_refs", "5")?;
    let baseline = status_kib("VmRSS:")?;
    let started = Instant::now();
    let count = read()?;
    let seconds = started.elapsed().as_secs_f64();
    let above = status_kib("VmHWM:")?.saturating_sub(baseline);
    println!(
        "catch-up\t{label}\t{count} events, {} a page\t{seconds:.2} s\t{:.0} events/s\tpeak {:.1} MiB above baseline ({:.1} MiB)",
        args.page,
        count as f64 / seconds,
        above as f64 / 1024.0,
        baseline as f64 / 1024.0,
    );
    Ok(())
}

/// Reads every event of the file at `path` with a subscription from
/// position 0, as payload `D`.
fn catch_up<D>(label: &str, path: &std::path::Path, args: &Args) -> Result<(), Failure>
where
    D: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync,
{
    let store = SqliteEventStore::<D>::open(path)?;
    if let Some(mib) = args.cache_mib {
        store.with_connection(|c| c.pragma_update(None, "cache_size", -1024 * mib))?;
    }
    let end = store.wait_for_commit(0, Duration::ZERO)?;
    let mut subscription = store.subscribe(0).with_page_size(args.page);
    measured(label, args, || {
        // As many as are stored: the iterator would then wait for more.
        for (recorded, expected) in subscription.by_ref().take(end as usize).zip(1..) {
            let position = recorded?.position;
            if position != expected {
                return Err(format!("expected position {expected}, found {position}").into());
            }
        }
        Ok(subscription.position())
    })?;
    if subscription.next_timeout(Duration::ZERO)?.is_some() || subscription.position() != end {
        return Err(format!("the subscription should end at {end}").into());
    }
    Ok(())
}

/// The floor under a catch-up: the same paged query straight through
/// rusqlite, each row's columns read as bytes, nothing decoded.
fn raw_rows(path: &std::path::Path, args: &Args) -> Result<(), Failure> {
    use rusqlite::types::ValueRef;
    let connection = rusqlite::Connection::open(path)?;
    let cache_mib = args.cache_mib.unwrap_or(64); // the store's own setting
    connection.pragma_update(None, "cache_size", -1024 * cache_mib)?;
    let mut page = connection.prepare(
        "SELECT position, event_id, stream_id, version, type, timestamp, data \
         FROM events WHERE position > ?1 ORDER BY position LIMIT ?2",
    )?;
    measured("sqlite-file, raw rows", args, || {
        let (mut after, mut bytes) = (0_i64, 0_usize);
        loop {
            let mut rows = page.query((after, args.page as i64))?;
            let mut read = 0;
            while let Some(row) = rows.next()? {
                after = row.get(0)?;
                for i in 1..7 {
                    bytes += match row.get_ref(i)? {
                        ValueRef::Text(t) => t.len(),
                        _ => 8,
                    };
                }
                read += 1;
            }
            if read < args.page {
                std::hint::black_box(bytes);
                return Ok(after as u64);
            }
        }
    })
}

fn catch_ups(args: &Args) -> Result<(), Failure> {
    if let (Some(reader), Some(path)) = (&args.reader, &args.file) {
        // A child: one reader, in a process of its own.
        return match reader.as_str() {
            "data" => catch_up::<Data>("sqlite-file, Data", path, args),
            "typed" => catch_up::<StatusChanged>("sqlite-file, typed", path, args),
            "raw" => raw_rows(path, args),
            other => Err(format!("unknown reader {other:?}").into()),
        };
    }
    let dir = tempfile::tempdir()?;
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| dir.path().join("catch-up.sqlite"));
    let path_text = path.to_str().ok_or("the path should be UTF-8")?;
    let child = |extra: &[&str]| -> Result<(), Failure> {
        let status = Command::new(std::env::current_exe()?)
            .args(std::env::args().skip(1))
            .args(extra)
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("a child should succeed, found {status}").into())
        }
    };
    if !path.exists() {
        let started = Instant::now();
        child(&["--write", path_text])?;
        println!(
            "wrote\t{} events\t{:.1} s\tfile {:.0} MiB",
            args.events,
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0)
        );
    }
    // Each reader in a fresh process, so that its memory starts clean.
    for reader in ["data", "typed", "raw"] {
        child(&["--reader", reader, "--file", path_text])?;
    }
    Ok(())
}

fn run() -> Result<(), Failure> {
    let args = parse_args(std::env::args().skip(1))?;
    if let Some(path) = &args.write {
        return write(path, args.events);
    }
    let only = args.only.as_deref();
    if only.is_none_or(|o| o == "latency") && args.reader.is_none() {
        latencies(&args)?;
    }
    if only.is_none_or(|o| o == "catch-up") {
        catch_ups(&args)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("read_side: {e}");
            ExitCode::FAILURE
        }
    }
}
