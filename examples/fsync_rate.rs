//! This disk's raw fsync rate: how many times a second a small write can be
//! made durable, the ceiling for single-event durable saves.
//!
//! ```text
//! cargo run --release --example fsync_rate -- [COUNT] [DIR]
//! ```
//!
//! Two ways, COUNT times each (default 1000), in DIR (a fresh temporary
//! folder by default), each printed as `name<TAB>count<TAB>seconds<TAB>rate_per_second`:
//!
//! - `fsync_append`: append 4 KiB to a file and `fsync` it (`sync_all`): the
//!   file grows, so its metadata is synced too;
//! - `fdatasync_overwrite`: overwrite 4 KiB in place in a preallocated file and
//!   `fdatasync` it (`sync_data`), as a database's write-ahead log does once it
//!   has grown. The faster of the two is the disk's raw rate.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

const BLOCK: [u8; 4096] = [0x5a; 4096];

fn report(name: &str, count: usize, seconds: f64) {
    let rate = count as f64 / seconds;
    println!("{name}\t{count}\t{seconds:.3}\t{rate:.0}");
}

fn append_and_fsync(path: &Path, count: usize) -> std::io::Result<f64> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let t = Instant::now();
    for _ in 0..count {
        file.write_all(&BLOCK)?;
        file.sync_all()?;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn overwrite_and_fdatasync(path: &Path, count: usize) -> std::io::Result<f64> {
    let blocks = 64;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)?;
    for _ in 0..blocks {
        file.write_all(&BLOCK)?;
    }
    file.sync_all()?;
    let t = Instant::now();
    for i in 0..count {
        file.seek(SeekFrom::Start(((i % blocks) * BLOCK.len()) as u64))?;
        file.write_all(&BLOCK)?;
        file.sync_data()?;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = match args.next() {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("dvent-fsync-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("fsync-rate.bin");
    report("fsync_append", count, append_and_fsync(&path, count)?);
    std::fs::remove_file(&path)?;
    report(
        "fdatasync_overwrite",
        count,
        overwrite_and_fdatasync(&path, count)?,
    );
    std::fs::remove_file(&path)?;
    let _ = std::fs::remove_dir(&dir);
    Ok(())
}
