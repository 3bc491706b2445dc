//! Cluster mode's one table: how far this node applied the cluster's event stream.
//!
//! A node applies the stream in order and records the last stream sequence it applied, in the
//! same transaction as the message that event stored (`Op::Message`'s cursor), so a node
//! killed at any moment resumes exactly after the last event whose effect is on disk: nothing
//! is applied twice and nothing is skipped.

use rusqlite::{Connection, OptionalExtension};

/// Schema version 9: `cluster_cursor`, one row per stream (the cluster has one).
pub(crate) const SCHEMA_V9: &str = "
    CREATE TABLE IF NOT EXISTS cluster_cursor (
        stream TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    );
    PRAGMA user_version = 9;
";

/// Moves a stream's cursor forward (never back: a replayed older event leaves it).
pub(super) const PUT_CURSOR: &str = "
    INSERT INTO cluster_cursor (stream, seq) VALUES (?1, ?2)
    ON CONFLICT(stream) DO UPDATE SET seq = max(seq, excluded.seq)
";

const CURSOR: &str = "SELECT seq FROM cluster_cursor WHERE stream = ?1";

/// The last sequence of `stream` this node applied, if it ever applied one.
pub(super) fn read(conn: &Connection, stream: &str) -> rusqlite::Result<Option<u64>> {
    let seq: Option<i64> = conn
        .prepare_cached(CURSOR)?
        .query_row([stream], |row| row.get(0))
        .optional()?;
    Ok(seq.and_then(|seq| u64::try_from(seq).ok()))
}
