//! The SQLite store's file: a file deleted, renamed or replaced under an
//! open store makes the next save fail (nothing is lost silently), and a
//! store opened read-only reads, refuses saves, and works on a read-only
//! file system (a read-only bind mount, when run as root; CI runs as root
//! and must take that path).

#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::process::Command;

use dvent::{Event, EventStore, ExpectedVersion, SqliteEventStore, StoreError, vector};

fn saved(store: &SqliteEventStore, stream: &str, n: usize) {
    let batch: Vec<Event> = (0..n).map(|_| Event::new("Noted")).collect();
    store
        .append(
            stream,
            &batch.iter().cloned().collect(),
            ExpectedVersion::Any,
        )
        .unwrap();
}

fn count(path: &Path) -> usize {
    SqliteEventStore::<dvent::Data>::open(path)
        .unwrap()
        .events(None, 0)
        .unwrap()
        .len()
}

fn assert_moved(err: StoreError, path: &Path) {
    match err {
        StoreError::FileMoved { path: reported } => assert_eq!(reported, path),
        other => panic!("expected FileMoved, got {other:?}"),
    }
}

#[test]
fn a_deleted_file_gives_an_error_on_save_and_on_every_later_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let store = SqliteEventStore::open(&path).unwrap();
    let clone = store.clone();
    saved(&store, "s", 2);
    std::fs::remove_file(&path).unwrap();
    let err = store
        .append("s", &vector![Event::new("Lost?")], ExpectedVersion::Any)
        .unwrap_err();
    assert_moved(err, &path);
    let err = clone
        .append("t", &vector![Event::new("Lost?")], ExpectedVersion::Any)
        .unwrap_err();
    assert!(
        err.to_string().contains("deleted, renamed or replaced"),
        "{err}"
    );
    // Reads still see the file the store has open.
    assert_eq!(store.events(None, 0).unwrap().len(), 2);
    drop((store, clone));
    // A new file at the path starts empty, not with the old file's log.
    assert_eq!(count(&path), 0);
}

#[test]
fn a_file_replaced_by_another_database_gives_an_error_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let other = dir.path().join("other.sqlite");
    let store = SqliteEventStore::open(&path).unwrap();
    saved(&store, "s", 1);
    {
        let replacement = SqliteEventStore::open(&other).unwrap();
        saved(&replacement, "r", 3);
    }
    std::fs::rename(&other, &path).unwrap();
    let err = store
        .append("s", &vector![Event::new("Lost?")], ExpectedVersion::Any)
        .unwrap_err();
    assert_moved(err, &path);
    drop(store);
    // The file now at the path is the replacement, untouched: the old
    // store's write-ahead log was emptied, so it is not read as this
    // file's.
    assert_eq!(count(&path), 3);
}

#[test]
fn a_file_renamed_away_gives_an_error_and_keeps_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let moved = dir.path().join("moved.sqlite");
    let store = SqliteEventStore::open(&path).unwrap();
    saved(&store, "s", 2);
    std::fs::rename(&path, &moved).unwrap();
    assert_moved(
        store
            .append("s", &vector![Event::new("X")], ExpectedVersion::Any)
            .unwrap_err(),
        &path,
    );
    drop(store);
    // What was committed went into the renamed file, whole, and nothing is
    // left to be read at the old path.
    assert_eq!(count(&moved), 2);
    assert_eq!(count(&path), 0);
}

#[test]
fn a_file_left_in_place_saves_as_usual() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let store = SqliteEventStore::open(&path).unwrap();
    saved(&store, "s", 2);
    saved(&store.clone(), "s", 1);
    drop(store);
    assert_eq!(count(&path), 3);
}

#[test]
fn a_read_only_store_reads_follows_a_writer_and_refuses_saves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let writer = SqliteEventStore::open(&path).unwrap();
    saved(&writer, "s", 2);
    let reader = SqliteEventStore::open_read_only(&path).unwrap();
    assert!(reader.is_read_only() && !writer.is_read_only());
    assert_eq!(reader.events(Some("s"), 0).unwrap().len(), 2);
    saved(&writer, "s", 1);
    assert_eq!(reader.read_all(0, 10).unwrap().len(), 3);

    for expected in [ExpectedVersion::Any, ExpectedVersion::Exact(3)] {
        let err = reader
            .append("s", &vector![Event::new("No")], expected)
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::ReadOnly { path: p } if p == &path),
            "{err:?}"
        );
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    assert!(matches!(
        reader
            .clone()
            .append("new", &vector![], ExpectedVersion::Any),
        Err(StoreError::ReadOnly { .. })
    ));
    drop((reader, writer));
    assert_eq!(count(&path), 3);
}

#[test]
fn opening_read_only_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sqlite");
    let err = SqliteEventStore::<dvent::Data>::open_read_only(&missing).unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.sqlite"), "{err}");
    assert!(!missing.exists());

    // An SQLite file without the schema is not taken for an empty store.
    let bare = dir.path().join("bare.sqlite");
    rusqlite::Connection::open(&bare)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let err = SqliteEventStore::<dvent::Data>::open_read_only(&bare).unwrap_err();
    assert!(err.to_string().contains("found none"), "{err}");
}

/// A read-only bind mount of a directory, unmounted when dropped (also
/// when the test fails).
struct ReadOnlyMount {
    target: PathBuf,
}

impl ReadOnlyMount {
    /// Mounts `source` read-only on `target`, or says why it could not.
    fn new(source: &Path, target: &Path) -> Result<Self, String> {
        let output = Command::new("mount")
            .args(["--bind", "-o", "ro"])
            .arg(source)
            .arg(target)
            .output()
            .map_err(|e| format!("mount could not run: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount --bind -o ro failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let mount = ReadOnlyMount {
            target: target.to_path_buf(),
        };
        // Older mount(8) ignore -o ro on a bind: make sure it is read-only.
        if std::fs::write(target.join("probe"), b"x").is_ok() {
            return Err("the bind mount is writable despite -o ro".to_string());
        }
        Ok(mount)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        match Command::new("umount").arg(&self.target).status() {
            Ok(status) if status.success() => {}
            other => eprintln!("could not unmount {}: {other:?}", self.target.display()),
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Reads the store at `path` on a read-only file system, or in a directory
/// the process may not write to, and checks nothing can be written.
fn check_read_only_store(path: &Path, events: usize) {
    let store = SqliteEventStore::open_read_only(path).unwrap();
    assert_eq!(store.events(None, 0).unwrap().len(), events);
    let pages: Vec<_> = store.iter_all(7).collect::<Result<_, _>>().unwrap();
    assert_eq!(pages.len(), events);
    assert!(matches!(
        store.append("s", &vector![Event::new("No")], ExpectedVersion::Any),
        Err(StoreError::ReadOnly { .. })
    ));
    // Opening it for writing is refused by the system, not silently ignored.
    if let Ok(writable) = SqliteEventStore::open(path) {
        assert!(
            writable
                .append("s", &vector![Event::new("No")], ExpectedVersion::Any)
                .is_err()
        );
    }
    assert_eq!(store.events(None, 0).unwrap().len(), events);
}

#[test]
fn open_read_only_reads_from_a_read_only_bind_mount() {
    let source = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    {
        let store = SqliteEventStore::open(source.path().join("events.sqlite")).unwrap();
        saved(&store, "s", 20);
        saved(&store, "t", 5);
    } // The last connection closes: the WAL is checkpointed and removed.
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let mounted = if is_root() {
        ReadOnlyMount::new(source.path(), target.path())
    } else {
        Err("not running as root".to_string())
    };
    match mounted {
        Ok(mount) => {
            check_read_only_store(&target.path().join("events.sqlite"), 25);
            drop(mount);
        }
        Err(why) if ci && is_root() => {
            panic!("as root under CI=true the read-only mount must work: {why}")
        }
        Err(why) => {
            // Without root (the test image runs the suite as an unprivileged
            // user): a directory and file the process may only read.
            eprintln!("read-only bind mount unavailable ({why}); using permissions instead");
            use std::os::unix::fs::PermissionsExt;
            let path = source.path().join("events.sqlite");
            let set = |p: &Path, mode: u32| {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
            };
            set(&path, 0o444);
            set(source.path(), 0o555);
            let outcome = std::panic::catch_unwind(|| check_read_only_store(&path, 25));
            set(source.path(), 0o755);
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        }
    }
}
