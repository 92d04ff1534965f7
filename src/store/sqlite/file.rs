//! The database file: opening it read-only, and noticing a file that was
//! deleted or replaced under an open store.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{DEFAULT_BUSY_TIMEOUT, SqliteEventStore, backend, check_schema_version, read_v1};
use crate::store::StoreError;

impl<D> SqliteEventStore<D> {
    /// Opens the store in the file at `path` for reading only: nothing is
    /// created or changed, and a save is refused with
    /// [`StoreError::ReadOnly`]. It works on a read-only file system, and
    /// on a file the process may only read.
    ///
    /// The file is read through SQLite's read-only mode, which sees what
    /// other handles commit. Where that mode cannot run because SQLite's
    /// `-shm` file neither exists nor can be created (a read-only file
    /// system, or a directory the process may not write to), and no `-wal`
    /// file is there (the last writer closed cleanly), the file is opened
    /// as immutable: it is then taken to be unchanging, which on a
    /// read-only file system it is.
    ///
    /// Costs: as [`open`](SqliteEventStore::open), without any write.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the file does not exist, cannot be read,
    /// is not an SQLite database, or holds no event store yet (a file that
    /// was never opened by [`open`](SqliteEventStore::open));
    /// [`StoreError::UnsupportedSchema`] for a file of another schema
    /// version.
    ///
    /// # Example
    ///
    /// ```
    /// use dvent::{vector, Event, EventStore, ExpectedVersion, SqliteEventStore, StoreError};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("events.sqlite");
    /// SqliteEventStore::open(&path)?.append("s", &vector![Event::new("A")], ExpectedVersion::Any)?;
    ///
    /// let reader = SqliteEventStore::open_read_only(&path)?;
    /// assert_eq!(reader.events(None, 0)?.len(), 1);
    /// let refused = reader.append("s", &vector![Event::new("B")], ExpectedVersion::Any);
    /// assert!(matches!(refused, Err(StoreError::ReadOnly { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let connection = connect_read_only(path).map_err(|e| match e {
            StoreError::Backend { message, source } => StoreError::Backend {
                message: format!("{message} ({}, opened read-only)", path.display()),
                source,
            },
            other => other,
        })?;
        let mut store = SqliteEventStore::make(connection, Some(std::sync::Arc::from(path)));
        store.read_only = true;
        Ok(store)
    }

    /// Whether this store was opened read-only
    /// ([`open_read_only`](SqliteEventStore::open_read_only)). Time: O(1).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Refuses a save on a read-only store, or on a file that was deleted,
    /// renamed or replaced since the store opened it: the path no longer
    /// names the file the connection has open (the test SQLite's own
    /// `SQLITE_FCNTL_HAS_MOVED` makes, done here without unsafe code).
    /// Time: O(1), one `stat` of the path; on a moved file, also a
    /// checkpoint (see [`release_write_ahead_log`]).
    pub(super) fn check_writable(&self) -> Result<(), StoreError> {
        let Some(path) = self.path.as_deref() else {
            return Ok(());
        };
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        if let Some(file) = &self.file
            && file.has_moved()
        {
            let connection = self.lock();
            release_write_ahead_log(&connection, path);
            return Err(StoreError::FileMoved {
                path: path.to_path_buf(),
            });
        }
        Ok(())
    }
}

/// The identity of the database file a store opened: its absolute path and,
/// on Unix, its device and inode numbers, taken right after SQLite opened
/// it.
#[derive(Debug)]
pub(super) struct FileId {
    /// The path, absolute and with symbolic links resolved, as SQLite
    /// resolves it.
    path: PathBuf,
    /// Device and inode (Unix); elsewhere `None`, and only a file that is
    /// gone counts as moved.
    node: Option<(u64, u64)>,
}

impl FileId {
    /// The identity of the file at `path` now; `None` when it cannot be
    /// read (then no check is made). Time: two `stat`s.
    pub(super) fn of(path: &Path) -> Option<FileId> {
        let path = std::fs::canonicalize(path).ok()?;
        let node = node(&std::fs::metadata(&path).ok()?);
        Some(FileId { path, node })
    }

    /// Whether the path no longer names this file: deleted, renamed away,
    /// or replaced by another file. Time: one `stat`.
    fn has_moved(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(now) => node(&now) != self.node,
            Err(_) => true,
        }
    }
}

#[cfg(unix)]
fn node(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn node(_metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Moves what this connection's write-ahead log holds into the file it has
/// open, and empties the log, which still goes by the old name: otherwise
/// SQLite, which does not checkpoint a moved file on close, leaves it
/// beside whatever file is at the path now, and the next connection there
/// would read its pages as that file's. Best effort: a failure is logged.
fn release_write_ahead_log(connection: &Connection, path: &Path) {
    let outcome = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    });
    match outcome {
        Ok(0) => {}
        Ok(_) => log::warn!(
            "SQLite: the write-ahead log of the moved file {} is in use by another connection and \
             was not emptied",
            path.display()
        ),
        Err(e) => log::warn!(
            "SQLite: the write-ahead log of the moved file {} could not be emptied: {e}",
            path.display()
        ),
    }
}

/// A read-only connection to the file at `path`, with its schema checked.
fn connect_read_only(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let first = Connection::open_with_flags(path, flags)
        .map_err(backend)
        .and_then(set_up_read_only);
    match first {
        Err(StoreError::Backend { .. }) if needs_immutable(path) => {
            let uri = immutable_uri(path)?;
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
                .map_err(backend)
                .and_then(set_up_read_only)
        }
        other => other,
    }
}

/// Whether reading `path` needs SQLite's immutable mode: the file exists,
/// its `-shm` file neither exists nor can be made, and there is no `-wal`
/// file whose commits it would miss.
fn needs_immutable(path: &Path) -> bool {
    let beside = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    path.is_file() && !beside("-shm").exists() && !beside("-wal").exists()
}

/// `file:<path>?immutable=1`, the path percent-encoded as SQLite's URIs
/// want it.
fn immutable_uri(path: &Path) -> Result<String, StoreError> {
    let text = path.to_str().ok_or_else(|| StoreError::Backend {
        message: format!(
            "SQLite: a read-only file system needs the path as UTF-8 text, found {}",
            path.display()
        ),
        source: None,
    })?;
    let mut uri = String::from("file:");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    Ok(uri)
}

/// Configures a read-only connection and checks its schema, writing
/// nothing.
fn set_up_read_only(connection: Connection) -> Result<Connection, StoreError> {
    connection
        .busy_timeout(DEFAULT_BUSY_TIMEOUT)
        .map_err(backend)?;
    let version = check_schema_version(&connection)?;
    if version == 1 {
        // Read as version 2, without writing to the file.
        read_v1(&connection)?;
    }
    if version == 0 {
        return Err(StoreError::Backend {
            message:
                "SQLite: the file should hold an event store (schema version 1 or 2), found none \
                      (open it once with SqliteEventStore::open to create it)"
                    .to_string(),
            source: None,
        });
    }
    connection
        .pragma_update(None, "cache_size", -65_536)
        .map_err(backend)?;
    Ok(connection)
}
