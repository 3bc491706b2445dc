//! `r0c backup PATH`: a consistent copy of the database, taken with SQLite's online backup
//! while a server may be running, and written into place atomically.
//!
//! The source is opened read-only and copied in one step of the backup API, which holds one
//! read transaction for the whole copy: in WAL mode that is a snapshot of the last commit,
//! and the server's writer goes on committing meanwhile (a copy made in several steps would
//! start over each time the server commits, which under a busy chat may be forever). The
//! copy goes to a temporary file beside `PATH` (mode 0600: it holds direct messages), is
//! checked with `PRAGMA integrity_check`, switched to a rollback journal (one file, which
//! opening does not add to; the server switches a restored copy back to WAL), flushed to
//! disk, and renamed over `PATH`; a backup that fails leaves `PATH` as it was.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{LockKind, take_lock};

/// How long the copy waits in all for a lock SQLite reports busy before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a busy step is tried again within [`BUSY_TIMEOUT`].
const BUSY_RETRIES: u32 = 100;

/// Why a backup failed; the path it names says where.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("there is no database at {} (give the server's app directory with --dir)", .0.display())]
    NoDatabase(PathBuf),
    #[error("cannot read the database {}: {source}", .path.display())]
    Source {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot write the copy {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the copy {}: {source}", .path.display())]
    Copy {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the database stayed locked for {BUSY_TIMEOUT:?}; try again")]
    Busy,
    #[error("the copy failed its integrity check: {0}")]
    Integrity(String),
    #[error(transparent)]
    Lock(#[from] super::StoreError),
}

/// What a finished backup copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Where the copy is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Copies the database at `database` to `to` (see the module's description).
pub fn backup(database: &Path, to: &Path) -> Result<BackupReport, BackupError> {
    if !database.is_file() {
        return Err(BackupError::NoDatabase(database.to_owned()));
    }
    // Shared, as a server takes it: only an import, which holds it alone, keeps us out.
    let _lock = take_lock(database, LockKind::Shared)?;
    let temporary = temporary_path(to);
    let result = copy_into(database, &temporary).and_then(|()| publish(&temporary, to));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// `.<name>.partial` beside `to`, on the same file system, so the rename is atomic.
fn temporary_path(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map_or_else(|| "r0c-backup.db".into(), |name| name.to_string_lossy());
    to.with_file_name(format!(".{name}.partial"))
}

/// The online backup of `database` into a new file at `temporary`, then its integrity check.
fn copy_into(database: &Path, temporary: &Path) -> Result<(), BackupError> {
    let write_error = |source| BackupError::Write {
        path: temporary.to_owned(),
        source,
    };
    // A fresh private file (SQLite takes an empty file as an empty database).
    let _ = std::fs::remove_file(temporary);
    File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temporary)
        .map_err(write_error)?;
    let source_error = |source| BackupError::Source {
        path: database.to_owned(),
        source,
    };
    let copy_error = |source| BackupError::Copy {
        path: temporary.to_owned(),
        source,
    };
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(source_error)?;
    source.busy_timeout(BUSY_TIMEOUT).map_err(source_error)?;
    let mut destination = Connection::open(temporary).map_err(copy_error)?;
    {
        let backup = Backup::new(&source, &mut destination).map_err(copy_error)?;
        let mut retries = 0;
        loop {
            // -1: every page in one step, under one read transaction (a snapshot).
            match backup.step(-1).map_err(copy_error)? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    retries += 1;
                    if retries > BUSY_RETRIES {
                        return Err(BackupError::Busy);
                    }
                    std::thread::sleep(BUSY_TIMEOUT / BUSY_RETRIES);
                }
                // The enum is non-exhaustive; anything new is treated as "not yet".
                _ => std::thread::sleep(BUSY_TIMEOUT / BUSY_RETRIES),
            }
        }
    }
    drop(source);
    let verdict: String = destination
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(copy_error)?;
    if verdict != "ok" {
        return Err(BackupError::Integrity(verdict));
    }
    // The copy is one self-contained file: the backup copied the source's WAL mode into its
    // header, so opening the copy would make -wal and -shm files beside it; a rollback
    // journal makes none (a server that opens the restored file switches it back to WAL).
    destination
        .query_row("PRAGMA journal_mode=DELETE", [], |row| {
            row.get::<_, String>(0)
        })
        .map_err(copy_error)?;
    destination
        .close()
        .map_err(|(_, source)| copy_error(source))?;
    for suffix in ["-wal", "-shm"] {
        let mut side = temporary.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    Ok(())
}

/// Flushes the copy, renames it to `to` and flushes the directory, so `to` is the old file or
/// the whole new one, even after a power cut.
fn publish(temporary: &Path, to: &Path) -> Result<BackupReport, BackupError> {
    let write_error = |source| BackupError::Write {
        path: to.to_owned(),
        source,
    };
    let file = File::open(temporary).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    let bytes = file.metadata().map_err(write_error)?.len();
    drop(file);
    std::fs::rename(temporary, to).map_err(write_error)?;
    let directory = match to.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    if let Ok(directory) = File::open(&directory) {
        let _ = directory.sync_all();
    }
    Ok(BackupReport {
        path: to.to_owned(),
        bytes,
    })
}
