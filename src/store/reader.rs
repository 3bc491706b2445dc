//! The store's read side: one read-only SQLite connection per [`Reader`], and the small pool
//! of them ([`ReaderPool`]) that history reads share.
//!
//! WAL lets readers run while the writer writes and while other readers read, so the pool
//! holds a few connections, each used by one thread at a time. Who takes a reader first takes
//! a permit of the pool's semaphore, so a reader is always free for a permit holder, and the
//! number of reads in flight is bounded by the pool, however many users scroll back at once.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{
    ACCOUNT_KEYS, ACCOUNTS, BUSY_TIMEOUT, CHAT_BEFORE, CHAT_FROM, CLAIMS, CLIENT, FIRST_SEQ_AT,
    LAST_CHAT_MICROS, LAST_SEQ, MESSAGES_BEFORE, MESSAGES_FROM, StoreError, StoredAccount,
    StoredAccountKey, StoredClaim, StoredMessage, TOPIC, limit_to_sql, lock, seq_from_sql,
    seq_to_sql, stored_message,
};

/// How many read connections history reads share: SQLite in WAL mode reads concurrently, and
/// each read is one short indexed query, so a few connections keep up with any number of users
/// while bounding the blocking threads they occupy.
pub const POOL_READERS: usize = 3;

/// One read-only connection to the history database.
pub struct Reader {
    conn: Connection,
}

impl Reader {
    /// Opens a read-only connection to the database at `path` (which the writer created).
    pub(super) fn open(path: &Path) -> Result<Reader, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        Ok(Reader { conn })
    }

    /// The connection, for the store's other read modules (`moderation.rs`).
    pub(super) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Every nick claim.
    pub fn claims(&self) -> Result<Vec<StoredClaim>, StoreError> {
        let mut statement = self.conn.prepare_cached(CLAIMS)?;
        let rows = statement.query_map([], |row| {
            Ok(StoredClaim {
                nick: row.get(0)?,
                fingerprint: row.get(1)?,
                claimed_at: row.get(2)?,
                last_seen: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every account.
    pub fn accounts(&self) -> Result<Vec<StoredAccount>, StoreError> {
        let mut statement = self.conn.prepare_cached(ACCOUNTS)?;
        let rows = statement.query_map([], |row| {
            Ok(StoredAccount {
                folded: row.get(0)?,
                name: row.get(1)?,
                phc: row.get(2)?,
                created_at: row.get(3)?,
                last_seen: row.get(4)?,
                prefs: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every ssh key attached to an account.
    pub fn account_keys(&self) -> Result<Vec<StoredAccountKey>, StoreError> {
        let mut statement = self.conn.prepare_cached(ACCOUNT_KEYS)?;
        let rows = statement.query_map([], |row| {
            Ok(StoredAccountKey {
                fingerprint: row.get(0)?,
                account: row.get(1)?,
                added_at: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The saved settings of the client at `address` on `listener`, if any.
    pub fn client(&self, listener: &str, address: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(CLIENT)?
            .query_row([listener, address], |row| row.get(0))
            .optional()?)
    }

    /// Runs `sql`, which lists a channel's messages numbered below `before` newest first, and
    /// returns the first `limit` of them oldest first.
    fn newest_below(
        &self,
        sql: &str,
        channel: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map(
            params![channel, seq_to_sql(before), limit_to_sql(limit)],
            stored_message,
        )?;
        let mut messages = rows.collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// Runs `sql`, which lists a channel's messages numbered from `from` up to `before` oldest
    /// first, and returns the first `limit` of them.
    fn oldest_from(
        &self,
        sql: &str,
        channel: &str,
        from: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map(
            params![
                channel,
                seq_to_sql(from),
                seq_to_sql(before),
                limit_to_sql(limit)
            ],
            stored_message,
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The newest `limit` messages of a channel numbered below `before`, oldest first.
    pub fn messages_before(
        &self,
        channel: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.newest_below(MESSAGES_BEFORE, channel, before, limit)
    }

    /// The oldest `limit` messages of a channel numbered from `from` up to (not including)
    /// `before`, oldest first.
    pub fn messages_from(
        &self,
        channel: &str,
        from: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.oldest_from(MESSAGES_FROM, channel, from, before, limit)
    }

    /// The number of the first message of a channel posted at or after `unix_micros`, among
    /// those numbered below `before`.
    pub fn first_seq_at(
        &self,
        channel: &str,
        unix_micros: i64,
        before: u64,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(FIRST_SEQ_AT)?
            .query_row(params![channel, unix_micros, seq_to_sql(before)], |row| {
                seq_from_sql(0, row.get(0)?)
            })
            .optional()?)
    }

    /// As [`Reader::messages_before`], without the system lines (IRC's CHATHISTORY).
    pub fn chat_before(
        &self,
        channel: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.newest_below(CHAT_BEFORE, channel, before, limit)
    }

    /// As [`Reader::messages_from`], without the system lines (IRC's CHATHISTORY).
    pub fn chat_from(
        &self,
        channel: &str,
        from: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.oldest_from(CHAT_FROM, channel, from, before, limit)
    }

    /// When the newest chat line (not a system line) of a channel was posted, if any.
    pub fn last_chat_micros(&self, channel: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(LAST_CHAT_MICROS)?
            .query_row([channel], |row| row.get::<_, Option<i64>>(0))?)
    }

    /// The highest stored sequence number of the channel.
    pub fn last_seq(&self, channel: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(LAST_SEQ)?
            .query_row([channel], |row| {
                row.get::<_, Option<i64>>(0)?
                    .map(|seq| seq_from_sql(0, seq))
                    .transpose()
            })?)
    }

    /// The stored topic of a channel, if one was ever set.
    pub fn topic(&self, channel: &str) -> Result<Option<String>, StoreError> {
        let topic: Option<Option<String>> = self
            .conn
            .prepare_cached(TOPIC)?
            .query_row([channel], |row| row.get(0))
            .optional()?;
        Ok(topic.flatten())
    }
}

/// A few [`Reader`]s and a semaphore with one permit per reader.
pub struct ReaderPool {
    /// The readers nobody uses right now.
    idle: Mutex<Vec<Reader>>,
    /// One permit per reader: whoever holds one finds a reader in `idle`.
    permits: Arc<tokio::sync::Semaphore>,
}

impl ReaderPool {
    /// Opens `count` readers of the database at `path`.
    pub(super) fn open(path: &Path, count: usize) -> Result<ReaderPool, StoreError> {
        let idle = (0..count)
            .map(|_| Reader::open(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ReaderPool {
            permits: Arc::new(tokio::sync::Semaphore::new(idle.len())),
            idle: Mutex::new(idle),
        })
    }

    /// The semaphore whose permits are the pool's readers; a permit is taken (awaited) on an
    /// async worker before the blocking read is started.
    pub fn permits(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.permits
    }

    /// Runs `read` with a reader of the pool; blocks, so it runs on a blocking thread, with a
    /// permit of [`ReaderPool::permits`] held. Without a free reader (a caller that holds no
    /// permit) a reader is opened for this read alone rather than failing.
    pub fn with_reader<T>(
        &self,
        path: &Path,
        read: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = lock(&self.idle).pop();
        let reader = match taken {
            Some(reader) => reader,
            None => Reader::open(path)?,
        };
        let result = read(&reader);
        let mut idle = lock(&self.idle);
        if idle.len() < POOL_READERS {
            idle.push(reader);
        }
        result
    }
}
