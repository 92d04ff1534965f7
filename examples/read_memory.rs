//! How much memory reading a whole SQLite store takes: page by page
//! ([`EventStore::read_all`] through [`Pages`]) against all at once
//! ([`EventStore::events`]).
//!
//! ```text
//! cargo run --release --example read_memory -- [N_EVENTS] [PAGE_SIZE]
//! ```
//!
//! A child process (this program again) writes N_EVENTS small events
//! (default 1,000,000, in batches of 1,000 to streams of 100) to a new
//! SQLite file in a temporary directory; this process, fresh, then reads
//! them all, `PAGE_SIZE` (default 1,000) at a time, and prints its resident
//! memory before the read (the baseline) and at its peak during the read
//! (Linux's `VmHWM`, reset through `/proc/self/clear_refs` just before),
//! and the difference; then the same for one `events(None, 0)`.
//! Linux only (it reads `/proc/self/status`).

use std::process::{Command, ExitCode};

use dvent::store::Pages;
use dvent::store::sqlite::Synchronous;
use dvent::{Event, EventStore, ExpectedVersion, SqliteEventStore};

const BATCH: usize = 1_000;
const STREAM_LENGTH: usize = 100;

type Failure = Box<dyn std::error::Error>;

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> Result<u64, Failure> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .ok_or_else(|| format!("/proc/self/status should have {field}, found none"))?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| format!("{field} should have a value, found {line:?}"))?;
    Ok(kib.parse()?)
}

/// Resets the peak resident size (`VmHWM`) to the current one.
fn reset_peak() -> Result<(), Failure> {
    std::fs::write("/proc/self/clear_refs", "5")?;
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Writes `n` events to the file at `path` (run in a child process, so that
/// the reading process's memory starts fresh).
fn write(path: &str, n: usize) -> Result<(), Failure> {
    let store = SqliteEventStore::open(path)?.with_synchronous(Synchronous::Normal)?;
    let mut written = 0;
    let mut stream = 0;
    while written < n {
        let size = BATCH.min(n - written);
        let mut batch = Vec::with_capacity(size);
        for i in 0..size {
            batch.push(
                Event::new("StatusChanged")
                    .with_entry("status", if i % 2 == 0 { "Started" } else { "Done" }),
            );
        }
        // Streams of STREAM_LENGTH events, BATCH / STREAM_LENGTH per batch.
        for chunk in batch.chunks(STREAM_LENGTH) {
            store.append(
                &format!("todo-{stream}"),
                &chunk.iter().cloned().collect(),
                ExpectedVersion::NoStream,
            )?;
            stream += 1;
        }
        written += size;
    }
    Ok(())
}

/// Runs `read` between a reset of the peak and a look at it; prints and
/// returns (baseline, peak) in KiB.
fn measured(what: &str, read: impl FnOnce() -> Result<usize, Failure>) -> Result<u64, Failure> {
    reset_peak()?;
    let baseline = status_kib("VmRSS:")?;
    let started = std::time::Instant::now();
    let count = read()?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:")?;
    let above = peak.saturating_sub(baseline);
    println!(
        "{what}\t{count} events\t{seconds:.2} s\tbaseline {:.1} MiB\tpeak {:.1} MiB\tabove baseline {:.1} MiB",
        mib(baseline),
        mib(peak),
        mib(above)
    );
    Ok(above)
}

fn run() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--write") {
        let path = args.get(2).ok_or("--write needs a path")?;
        let n = args.get(3).ok_or("--write needs a count")?.parse()?;
        return write(path, n);
    }
    let n: usize = args.get(1).map_or(Ok(1_000_000), |a| a.parse())?;
    let page_size: usize = args.get(2).map_or(Ok(1_000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("events.sqlite");
    let path_text = path.to_str().ok_or("the temporary path should be UTF-8")?;

    let started = std::time::Instant::now();
    let status = Command::new(std::env::current_exe()?)
        .args(["--write", path_text, &n.to_string()])
        .status()?;
    if !status.success() {
        return Err(format!("the writer should succeed, found {status}").into());
    }
    let file_mib = std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0);
    println!(
        "wrote\t{n} events\t{:.2} s\tfile {file_mib:.1} MiB",
        started.elapsed().as_secs_f64()
    );

    let store = SqliteEventStore::<dvent::Data>::open(&path)?;
    let paged = measured(&format!("paged ({page_size} a page)"), || {
        let mut count = 0;
        let mut last = 0;
        for recorded in Pages::all(&store, 0, page_size) {
            let recorded = recorded?;
            if recorded.position != last + 1 {
                return Err(format!(
                    "positions should run on, found {} after {last}",
                    recorded.position
                )
                .into());
            }
            last = recorded.position;
            count += 1;
        }
        Ok(count)
    })?;
    let whole = measured("events(None, 0)", || Ok(store.events(None, 0)?.len()))?;
    println!(
        "paged read: {:.1} MiB above baseline; get_events: {:.1} MiB",
        mib(paged),
        mib(whole)
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("read_memory: {e}");
            ExitCode::FAILURE
        }
    }
}
