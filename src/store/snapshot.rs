//! Cluster mode's snapshots, the file side: reading a database file's stream cursor before the
//! store opens it, checking a downloaded snapshot, and putting it in the database's place.
//!
//! A snapshot is a whole database taken with `r0c backup`'s online copy on a node that applies
//! the cluster's stream: one read transaction, so the copy holds exactly the events up to its
//! own `cluster_cursor` row, which is the stream sequence it covers. A node that installs one
//! therefore resumes the stream right after that sequence, as if it had applied those events.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{LockKind, SCHEMA_VERSION, take_lock};

/// Why a snapshot could not be read or installed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read the database {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the snapshot failed its integrity check: {0}")]
    Integrity(String),
    #[error("the snapshot has schema version {found}, this r0c knows up to {SCHEMA_VERSION}")]
    NewerSchema { found: i64 },
    #[error("the snapshot does not say which part of the stream it covers")]
    NoCursor,
    #[error("cannot put the snapshot in place of {}: {source}", .path.display())]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] super::StoreError),
}

/// What a checked snapshot file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotFacts {
    /// The last stream sequence whose effect it holds.
    pub seq: u64,
    /// Its schema version (the store brings it up to date when it opens it).
    pub schema: i64,
}

/// The cursor of `stream` in the database at `path`, read before the store opens it: `None`
/// when there is no file yet or it never applied a stream.
pub fn cursor_in_file(path: &Path, stream: &str) -> Result<Option<u64>, SnapshotError> {
    if !path.is_file() {
        return Ok(None);
    }
    let read_error = |source| SnapshotError::Read {
        path: path.to_owned(),
        source,
    };
    // Read-write without create: a write-ahead log a crash left behind is taken in first.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(read_error)?;
    cursor_of(&conn, stream).map_err(read_error)
}

fn cursor_of(conn: &Connection, stream: &str) -> rusqlite::Result<Option<u64>> {
    let has_table: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'cluster_cursor'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(None);
    }
    super::cluster::read(conn, stream)
}

/// Checks a snapshot file from another node (its sizes and contents are not trusted): SQLite's
/// integrity check, a schema this r0c can open, and the cursor of `stream` it covers.
pub fn check(path: &Path, stream: &str) -> Result<SnapshotFacts, SnapshotError> {
    let read_error = |source| SnapshotError::Read {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(read_error)?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(read_error)?;
    if verdict != "ok" {
        return Err(SnapshotError::Integrity(verdict));
    }
    let schema: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(read_error)?;
    if schema > SCHEMA_VERSION {
        return Err(SnapshotError::NewerSchema { found: schema });
    }
    let seq = cursor_of(&conn, stream)
        .map_err(read_error)?
        .ok_or(SnapshotError::NoCursor)?;
    Ok(SnapshotFacts { seq, schema })
}

/// Where [`install`] keeps the database a snapshot replaced (with its `-wal` and `-shm`).
pub fn set_aside_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".before-snapshot");
    PathBuf::from(name)
}

/// Puts the checked snapshot at `snapshot` in the place of `database`, which no process may
/// have open (the lock is taken alone, as `r0c import` does). The database it replaces is
/// renamed to [`set_aside_path`], never deleted: what only this node held (its users' direct
/// messages, their client settings) stays on disk. Returns that path when there was one.
pub fn install(snapshot: &Path, database: &Path) -> Result<Option<PathBuf>, SnapshotError> {
    let _lock = take_lock(database, LockKind::Exclusive)?;
    let install_error = |source| SnapshotError::Install {
        path: database.to_owned(),
        source,
    };
    let aside = set_aside_path(database);
    let kept = if database.is_file() {
        for suffix in ["", "-wal", "-shm"] {
            let from = with_suffix(database, suffix);
            let to = with_suffix(&aside, suffix);
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                // A database closed cleanly has no -wal or -shm; an older set-aside one's go.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_file(&to);
                }
                Err(error) => return Err(install_error(error)),
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::File::open(snapshot)
        .and_then(|file| file.sync_all())
        .map_err(install_error)?;
    std::fs::rename(snapshot, database).map_err(install_error)?;
    if let Some(directory) = database.parent()
        && let Ok(directory) = std::fs::File::open(directory)
    {
        let _ = directory.sync_all();
    }
    Ok(kept)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_of_a_store_is_a_snapshot_covering_its_cursor_and_replaces_a_database() {
        let dir = tempfile::tempdir().expect("temp dir");
        let source = dir.path().join("source.db");
        {
            let store = super::super::Store::open(&source).expect("store");
            store.cluster_cursor("S", 41);
            store.flush();
        }
        assert_eq!(cursor_in_file(&source, "S").expect("reads"), Some(41));
        assert_eq!(cursor_in_file(&source, "T").expect("reads"), None);
        assert_eq!(
            cursor_in_file(&dir.path().join("absent.db"), "S").expect("reads"),
            None
        );

        let copy = dir.path().join("copy.db");
        super::super::backup::backup(&source, &copy).expect("backup");
        let facts = check(&copy, "S").expect("a good snapshot");
        assert_eq!(facts.seq, 41);
        assert_eq!(facts.schema, SCHEMA_VERSION);
        assert!(matches!(check(&copy, "T"), Err(SnapshotError::NoCursor)));

        // Garbage is refused, not installed.
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"not a database at all, not even close....").expect("write");
        assert!(check(&garbage, "S").is_err());

        // The database it replaces is kept beside it.
        let database = dir.path().join("r0c.db");
        std::fs::write(&database, b"old").expect("write");
        let kept = install(&copy, &database).expect("installs");
        assert_eq!(kept.as_deref(), Some(set_aside_path(&database).as_path()));
        assert_eq!(
            std::fs::read(set_aside_path(&database)).expect("kept"),
            b"old"
        );
        assert_eq!(cursor_in_file(&database, "S").expect("reads"), Some(41));
    }
}
