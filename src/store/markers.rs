//! The store's read-marker table (schema version 8): for each identified user (principal)
//! and each channel or direct conversation (by store name), how far they have read it and
//! whether its window was open when they left, so a return restores both. Written through the
//! writer thread at a bounded rate (the world coalesces), read once at startup
//! ([`StoredMarker`]).

use rusqlite::{Connection, Transaction, params};

/// Schema version 8: read markers. `principal` is `account:NAME` or `key:SHA256:...`,
/// `channel` a public channel's name or a direct conversation's store name, `read_upto` the
/// number of the first message not read, `open_at` the window's position when the user left
/// (-1: not open), `unix_micros` when the marker last moved (the oldest are dropped first).
pub(super) const SCHEMA_V8: &str = "
    CREATE TABLE read_marker (
        principal TEXT NOT NULL,
        channel TEXT NOT NULL,
        read_upto INTEGER NOT NULL,
        read_micros INTEGER NOT NULL,
        open_at INTEGER NOT NULL,
        unix_micros INTEGER NOT NULL,
        PRIMARY KEY (principal, channel)
    ) STRICT, WITHOUT ROWID;
    PRAGMA user_version = 8;
";

const PUT_MARKER: &str = "INSERT OR REPLACE INTO read_marker
    (principal, channel, read_upto, read_micros, open_at, unix_micros)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const DROP_MARKER: &str = "DELETE FROM read_marker WHERE principal = ?1 AND channel = ?2";
const ALL_MARKERS: &str = "SELECT principal, channel, read_upto, read_micros, open_at,
    unix_micros FROM read_marker ORDER BY principal, unix_micros";

/// One read marker, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMarker {
    /// The reader's principal.
    pub principal: String,
    /// The channel's name or the conversation's store name.
    pub channel: String,
    /// Messages numbered below this were read.
    pub read_upto: u64,
    /// When the reader last read in it (the time the marker line names), in microseconds.
    pub read_micros: i64,
    /// The window's position when the reader left; `None`: it was not open.
    pub open_at: Option<u32>,
    /// When the marker last moved, in microseconds since the Unix epoch.
    pub unix_micros: i64,
}

/// A write to the read-marker table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerWrite {
    /// A marker, new or moved.
    Put(StoredMarker),
    /// The marker of (principal, channel) was dropped (the principal has too many).
    Drop { principal: String, channel: String },
}

/// Carries out one write inside the writer's transaction.
pub(super) fn write(tx: &Transaction<'_>, write: &MarkerWrite) -> rusqlite::Result<()> {
    match write {
        MarkerWrite::Put(row) => {
            let open_at = row.open_at.map_or(-1, i64::from);
            tx.prepare_cached(PUT_MARKER)?.execute(params![
                row.principal,
                row.channel,
                super::seq_to_sql(row.read_upto),
                row.read_micros,
                open_at,
                row.unix_micros
            ])?;
        }
        MarkerWrite::Drop { principal, channel } => {
            tx.prepare_cached(DROP_MARKER)?
                .execute(params![principal, channel])?;
        }
    }
    Ok(())
}

/// Every marker, oldest first per principal, for the world to keep in memory from startup
/// (capped per principal by the world, and principals are the accounts and keys it holds).
pub(super) fn read_all(conn: &Connection) -> rusqlite::Result<Vec<StoredMarker>> {
    let mut statement = conn.prepare_cached(ALL_MARKERS)?;
    let rows = statement.query_map([], |row| {
        let open_at: i64 = row.get(4)?;
        Ok(StoredMarker {
            principal: row.get(0)?,
            channel: row.get(1)?,
            read_upto: super::seq_from_sql(2, row.get(2)?)?,
            read_micros: row.get(3)?,
            open_at: u32::try_from(open_at).ok(),
            unix_micros: row.get(5)?,
        })
    })?;
    rows.collect()
}
