//! The store's offline-message table (schema version 6): which stored direct messages wait
//! for a recipient who was away. The messages themselves are rows of the direct conversation's
//! history (the `message` table, under the conversation's store name); this table only points
//! at them, per recipient, until they are delivered. Written through the writer thread,
//! read once at startup ([`StoredOffline`]).

use rusqlite::{Connection, Transaction, params};

/// Schema version 6: offline messages. `recipient` and `sender` are principals
/// (`account:NAME` or `key:SHA256:...`), `conversation` the store name of their direct
/// conversation's history, `seq` the message's number there.
pub(super) const SCHEMA_V6: &str = "
    CREATE TABLE offline_message (
        recipient TEXT NOT NULL,
        conversation TEXT NOT NULL,
        seq INTEGER NOT NULL,
        sender TEXT NOT NULL,
        sender_nick TEXT NOT NULL,
        unix_micros INTEGER NOT NULL,
        PRIMARY KEY (recipient, conversation, seq)
    ) STRICT, WITHOUT ROWID;
    PRAGMA user_version = 6;
";

const PUT_OFFLINE: &str = "INSERT INTO offline_message
    (recipient, conversation, seq, sender, sender_nick, unix_micros)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING";
const DELIVERED: &str = "DELETE FROM offline_message WHERE recipient = ?1";
/// Every waiting message with the number its conversation's next message gets.
const ALL_OFFLINE: &str = "SELECT o.recipient, o.conversation, o.seq, o.sender, o.sender_nick,
    o.unix_micros, (SELECT max(m.seq) FROM message m JOIN channel c ON c.id = m.channel_id
        WHERE c.name = o.conversation)
    FROM offline_message o ORDER BY o.recipient, o.conversation, o.seq";

/// One message waiting for its recipient, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffline {
    /// The recipient's principal.
    pub recipient: String,
    /// The store name of the conversation's history.
    pub conversation: String,
    /// The message's number in the conversation.
    pub seq: u64,
    /// The sender's principal.
    pub sender: String,
    /// The sender's nick when they sent it (the name of the recipient's window).
    pub sender_nick: String,
    /// When it was sent, in microseconds since the Unix epoch.
    pub unix_micros: i64,
    /// The number the conversation's next message gets (read with it at startup; 0 in
    /// writes).
    pub next_seq: u64,
}

/// A write to the offline table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineWrite {
    /// A message now waits for its recipient.
    Put(StoredOffline),
    /// Everything waiting for this recipient was delivered.
    Delivered(String),
}

/// Carries out one write inside the writer's transaction.
pub(super) fn write(tx: &Transaction<'_>, write: &OfflineWrite) -> rusqlite::Result<()> {
    match write {
        OfflineWrite::Put(row) => {
            tx.prepare_cached(PUT_OFFLINE)?.execute(params![
                row.recipient,
                row.conversation,
                super::seq_to_sql(row.seq),
                row.sender,
                row.sender_nick,
                row.unix_micros
            ])?;
        }
        OfflineWrite::Delivered(recipient) => {
            tx.prepare_cached(DELIVERED)?.execute([recipient])?;
        }
    }
    Ok(())
}

/// Every waiting message, for the world to keep in memory from startup (the table is capped
/// by the world's limits, so this is bounded).
pub(super) fn read_all(conn: &Connection) -> rusqlite::Result<Vec<StoredOffline>> {
    let mut statement = conn.prepare_cached(ALL_OFFLINE)?;
    let rows = statement.query_map([], |row| {
        let seq: i64 = row.get(2)?;
        let last: Option<i64> = row.get(6)?;
        let seq = super::seq_from_sql(2, seq)?;
        let last = last.map_or(Ok(seq), |last| super::seq_from_sql(6, last))?;
        Ok(StoredOffline {
            recipient: row.get(0)?,
            conversation: row.get(1)?,
            seq,
            sender: row.get(3)?,
            sender_nick: row.get(4)?,
            unix_micros: row.get(5)?,
            next_seq: last.max(seq).saturating_add(1),
        })
    })?;
    rows.collect()
}
