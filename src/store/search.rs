//! Full-text search of the public history (`/search`): schema version 7's FTS5 index over
//! `message`, kept in step by triggers, and the query a reader runs against it.
//!
//! The index is contentless (`content=''`): it stores only the words, not a second copy of
//! every message, and its rowid names the message it came from (`channel_id << 40 | seq`,
//! [`fts_rowid`]), so a hit is one primary-key lookup in `message`. `message` has no rowid of
//! its own (it is `WITHOUT ROWID`), which rules out an external-content table.

use rusqlite::{OptionalExtension, params};

use super::{Reader, StoreError, limit_to_sql, seq_from_sql};

/// Schema version 7: the FTS5 index of public messages, filled from what is stored (which
/// takes a while on a big database: about 1 s per 100,000 messages), and the triggers that
/// keep it in step with `message` from then on (the writer thread's inserts and the
/// importer's renumbering alike).
pub(super) const SCHEMA_V7: &str = "
    CREATE VIRTUAL TABLE message_fts USING fts5(
        text, content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO message_fts (rowid, text)
        SELECT (channel_id << 40) | seq, text FROM message WHERE seq < 1099511627776;
    CREATE TRIGGER message_fts_insert AFTER INSERT ON message WHEN new.seq < 1099511627776
    BEGIN
        INSERT INTO message_fts (rowid, text) VALUES ((new.channel_id << 40) | new.seq, new.text);
    END;
    CREATE TRIGGER message_fts_delete AFTER DELETE ON message
    BEGIN
        DELETE FROM message_fts WHERE rowid = (old.channel_id << 40) | old.seq;
    END;
    CREATE TRIGGER message_fts_update AFTER UPDATE OF text ON message
    BEGIN
        DELETE FROM message_fts WHERE rowid = (old.channel_id << 40) | old.seq;
        INSERT INTO message_fts (rowid, text)
            SELECT (new.channel_id << 40) | new.seq, new.text WHERE new.seq < 1099511627776;
    END;
    PRAGMA user_version = 7;
";

/// Bits of an index rowid that hold the message's sequence number.
const SEQ_BITS: u32 = 40;

/// The index rowid of message `seq` of channel `channel_id` (as the triggers compute it).
pub fn fts_rowid(channel_id: i64, seq: u64) -> Option<i64> {
    let seq = i64::try_from(seq).ok().filter(|s| *s < (1 << SEQ_BITS))?;
    channel_id
        .checked_mul(1 << SEQ_BITS)
        .filter(|high| *high >= 0)
        .map(|high| high | seq)
}

const CHANNEL_ID: &str = "SELECT id FROM channel WHERE name = ?1";

/// Newest first; the rowid range narrows the index to one channel (`in:`), and the rest
/// filters what the index found. `?2`..`?7` are NULL when the filter is not given.
const SEARCH: &str = "SELECT c.name, m.seq, m.unix_micros, m.author, m.text
    FROM message_fts f
    JOIN message m ON m.channel_id = (f.rowid >> 40) AND m.seq = (f.rowid & 1099511627775)
    JOIN channel c ON c.id = m.channel_id
    WHERE message_fts MATCH ?1
      AND f.rowid >= ?2 AND f.rowid < ?3
      AND (?4 IS NULL OR m.author = ?4 COLLATE NOCASE)
      AND (?5 IS NULL OR m.unix_micros < ?5)
      AND (?6 IS NULL OR m.unix_micros >= ?6)
    ORDER BY m.unix_micros DESC, m.seq DESC
    LIMIT ?7";

/// What to look for: an FTS5 expression made only of quoted words ([`fts_expression`]) and
/// the filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The FTS5 match expression.
    pub expression: String,
    /// `in:#chan`: the channel's name without `#`.
    pub channel: Option<String>,
    /// `from:nick`: the author as stored (compared without case).
    pub author: Option<String>,
    /// `before:`: only messages older than this (unix microseconds).
    pub before: Option<i64>,
    /// `after:`: only messages from this moment on (unix microseconds).
    pub after: Option<i64>,
    /// The most rows returned.
    pub limit: usize,
}

/// One message the index found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The channel's name, without `#`.
    pub channel: String,
    pub seq: u64,
    pub unix_micros: i64,
    pub author: String,
    pub text: String,
}

/// Makes an FTS5 expression of plain words: each is quoted (a `"` inside doubled), so no word
/// the user types can be an FTS5 operator, column filter or prefix query; words must all match.
pub fn fts_expression<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words
        .into_iter()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Reader {
    /// Whether any public message is stored (for tools such as the search benchmark).
    pub fn has_messages(&self) -> Result<bool, StoreError> {
        Ok(self
            .connection()
            .query_row("SELECT EXISTS (SELECT 1 FROM message)", [], |row| {
                row.get(0)
            })?)
    }

    /// The newest messages matching `query`, newest first, at most `query.limit`.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let conn = self.connection();
        let (low, high) = match &query.channel {
            Some(name) => {
                let id: Option<i64> = conn
                    .prepare_cached(CHANNEL_ID)?
                    .query_row([name], |row| row.get(0))
                    .optional()?;
                let Some(id) = id else {
                    return Ok(Vec::new());
                };
                match (
                    fts_rowid(id, 0),
                    id.checked_add(1).and_then(|n| fts_rowid(n, 0)),
                ) {
                    (Some(low), Some(high)) => (low, high),
                    _ => return Ok(Vec::new()),
                }
            }
            None => (i64::MIN, i64::MAX),
        };
        let mut statement = conn.prepare_cached(SEARCH)?;
        let rows = statement.query_map(
            params![
                query.expression,
                low,
                high,
                query.author,
                query.before,
                query.after,
                limit_to_sql(query.limit)
            ],
            |row| {
                Ok(SearchHit {
                    channel: row.get(0)?,
                    seq: seq_from_sql(1, row.get(1)?)?,
                    unix_micros: row.get(2)?,
                    author: row.get(3)?,
                    text: row.get(4)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_so_operators_are_plain_words() {
        assert_eq!(fts_expression(["hello", "world"]), "\"hello\" \"world\"");
        assert_eq!(
            fts_expression(["NEAR(a", "b)", "x*", "text:y", "OR", "\"q"]),
            "\"NEAR(a\" \"b)\" \"x*\" \"text:y\" \"OR\" \"\"\"q\""
        );
    }

    #[test]
    fn rowids_keep_channel_and_seq_apart() {
        assert_eq!(fts_rowid(1, 5), Some((1 << 40) | 5));
        assert_eq!(fts_rowid(2, 0), Some(2 << 40));
        assert_eq!(fts_rowid(1, 1 << 40), None);
        assert_eq!(fts_rowid(i64::MAX, 0), None);
        assert_eq!(fts_rowid(-1, 0), None);
    }
}

#[cfg(test)]
mod store_tests {
    use rusqlite::Connection;

    use super::*;
    use crate::store::{Store, StoredMessage};

    fn message(seq: u64, author: &str, text: &str) -> StoredMessage {
        StoredMessage {
            seq,
            unix_micros: 1_700_000_000_000_000 + 1_000_000 * i64::try_from(seq).unwrap_or(0),
            author: author.to_owned(),
            text: text.to_owned(),
        }
    }

    fn query(expression: &str) -> SearchQuery {
        SearchQuery {
            expression: expression.to_owned(),
            channel: None,
            author: None,
            before: None,
            after: None,
            limit: 10,
        }
    }

    fn found(store: &Store, query: &SearchQuery) -> Vec<(String, u64)> {
        store
            .read_pooled(|reader| reader.search(query))
            .expect("search runs")
            .into_iter()
            .map(|hit| (hit.channel, hit.seq))
            .collect()
    }

    #[test]
    fn written_messages_are_found_newest_first_with_their_filters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("r0c.db")).expect("opens");
        store.append_message("a", message(1, "alice", "the Deploy is friday"));
        store.append_message("b", message(2, "bob", "deploy again, déjà vu"));
        store.append_message("a", message(2, "bob", "nothing here"));
        store.append_message("a", message(3, "Bob", "deploy at noon"));
        store.flush();
        let everything = found(&store, &query(&fts_expression(["deploy"])));
        assert_eq!(
            everything,
            [("a".into(), 3), ("b".into(), 2), ("a".into(), 1)]
        );
        let mut in_a = query(&fts_expression(["deploy"]));
        in_a.channel = Some("a".into());
        in_a.author = Some("bob".into());
        assert_eq!(found(&store, &in_a), [("a".into(), 3)]);
        in_a.channel = Some("nosuch".into());
        assert_eq!(found(&store, &in_a), []);
        let mut dated = query(&fts_expression(["deploy"]));
        dated.before = Some(1_700_000_003_000_000);
        dated.after = Some(1_700_000_001_000_000);
        assert_eq!(found(&store, &dated), [("b".into(), 2), ("a".into(), 1)]);
        // Diacritics and case are folded; an operator typed by a user is a word.
        assert_eq!(
            found(&store, &query(&fts_expression(["deja"]))),
            [("b".into(), 2)]
        );
        assert_eq!(found(&store, &query(&fts_expression(["OR"]))), []);
    }

    #[test]
    fn a_version_5_database_is_indexed_by_the_upgrade_and_deletes_leave_the_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r0c.db");
        {
            let conn = Connection::open(&path).expect("create");
            conn.execute_batch(crate::store::SCHEMA_V1).expect("v1");
            conn.execute_batch(
                "INSERT INTO channel (id, name) VALUES (7, 'old');
                 INSERT INTO message VALUES (7, 1, 1700000000000000, 'al', 'stored before search');
                 PRAGMA user_version = 5;",
            )
            .expect("a version-5 style row");
        }
        let store = Store::open(&path).expect("upgrades");
        assert_eq!(
            found(&store, &query(&fts_expression(["before", "search"]))),
            [("old".into(), 1)]
        );
        store.flush();
        drop(store);
        let conn = Connection::open(&path).expect("open");
        conn.execute("DELETE FROM message WHERE channel_id = 7", [])
            .expect("delete");
        let left: i64 = conn
            .query_row(
                "SELECT count(*) FROM message_fts WHERE message_fts MATCH '\"stored\"'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(left, 0);
    }
}
