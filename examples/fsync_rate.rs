//! This disk's raw fsync rate: how many times a second a small write can be
//! made durable, the ceiling for single-event durable saves.
//!
//! ```text
//! cargo run --release --example fsync_rate -- [COUNT] [DIR]
//! ```
//!
//! Appends 4 KiB to a file in DIR (a fresh temporary folder by default) and
//! calls `fsync` (`File::sync_all`) after each, COUNT times (default 1000),
//! and prints `fsync<TAB>count<TAB>seconds<TAB>rate_per_second`.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = match args.next() {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("dvent-fsync-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("fsync-rate.bin");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let block = [0x5au8; 4096];
    let t = Instant::now();
    for _ in 0..count {
        file.write_all(&block)?;
        file.sync_all()?;
    }
    let seconds = t.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    let _ = std::fs::remove_dir(&dir);
    println!(
        "fsync\t{count}\t{seconds:.3}\t{:.0}",
        count as f64 / seconds
    );
    Ok(())
}
