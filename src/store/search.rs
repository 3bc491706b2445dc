//! Full-text search of the public history (`/search`): schema version 7's FTS5 index over
//! `message`, kept in step by triggers, and the query a reader runs against it.
//!
//! The index is contentless (`content=''`): it stores only the words, not a second copy of
//! every message, and its rowid names the message it came from (`channel_id << 40 | seq`,
//! [`fts_rowid`]), so a hit is one primary-key lookup in `message`. `message` has no rowid of
//! its own (it is `WITHOUT ROWID`), which rules out an external-content table. A deleted or
//! changed message is taken out with FTS5's `'delete'` command and its old text (rather than
//! `contentless_delete`, which SQLite before 3.43 cannot open, so an older `sqlite3` shell can
//! still work on the file).

use rusqlite::{OptionalExtension, params};

use super::{Reader, StoreError, limit_to_sql, seq_from_sql};

/// Schema version 7: the FTS5 index of public messages, filled from what is stored (which
/// takes a while on a big database), and the triggers that keep it in step with `message`
/// from then on (the writer thread's inserts and the importer's renumbering alike); and an
/// index of all messages by time, which a search for a common word walks newest first.
pub(super) const SCHEMA_V7: &str = "
    CREATE VIRTUAL TABLE message_fts USING fts5(
        text, content = '', tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO message_fts (rowid, text)
        SELECT (channel_id << 40) | seq, text FROM message WHERE seq < 1099511627776;
    CREATE TRIGGER message_fts_insert AFTER INSERT ON message WHEN new.seq < 1099511627776
    BEGIN
        INSERT INTO message_fts (rowid, text) VALUES ((new.channel_id << 40) | new.seq, new.text);
    END;
    CREATE TRIGGER message_fts_delete AFTER DELETE ON message WHEN old.seq < 1099511627776
    BEGIN
        INSERT INTO message_fts (message_fts, rowid, text)
            VALUES ('delete', (old.channel_id << 40) | old.seq, old.text);
    END;
    CREATE TRIGGER message_fts_update AFTER UPDATE OF text ON message
        WHEN old.seq < 1099511627776
    BEGIN
        INSERT INTO message_fts (message_fts, rowid, text)
            VALUES ('delete', (old.channel_id << 40) | old.seq, old.text);
        INSERT INTO message_fts (rowid, text) VALUES ((new.channel_id << 40) | new.seq, new.text);
    END;
    CREATE INDEX message_when ON message (unix_micros);
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

/// A query with fewer matches is answered from the index's list of them: a lookup per match.
/// One with more is a common word, for which walking the history newest first finds the
/// newest matches sooner ([`WALK_LIMIT`]).
const SELECTIVE: usize = 2000;

/// The most index entries a search reads. Up to this many, the walk checks each message
/// against the set of them; a word with more is so common that the walk meets a match every
/// few messages, and checks each against the index instead.
#[cfg(not(test))]
const MATCH_SET: usize = 200_000;
/// Smaller in unit tests, so a test reaches both ways of checking with a few rows.
#[cfg(test)]
const MATCH_SET: usize = 5_000;

/// The most messages a search for a common word walks before it answers with what it found.
const WALK_LIMIT: i64 = 200_000;

/// The index entries matching `?1` in the rowid range `?2..?3`, newest first.
const MATCHING_ROWIDS: &str = "SELECT rowid FROM message_fts
    WHERE message_fts MATCH ?1 AND rowid >= ?2 AND rowid < ?3 ORDER BY rowid DESC LIMIT ?4";

/// Stored conversations (`dm A B`, names no channel can have) share the history tables and
/// so the index. The queries keep only those of which the searcher's principal (`?6`, NULL
/// for a guest) is one of the two partners, so nobody else's take a candidate's place; the
/// world checks the same again when it decides what the searcher may see. The comparison is
/// exact (`substr`, not `LIKE`, whose `_` and `%` an account name could hold), and since no
/// principal holds a space, "`A` is `?6`" and "`B` is `?6`" are the only ways to match.
///
/// One message found by the index, with the filters. `?3`..`?5` are NULL when not given.
const MESSAGE_IF: &str = "SELECT c.name, m.seq, m.unix_micros, m.author, m.text
    FROM message m JOIN channel c ON c.id = m.channel_id
    WHERE m.channel_id = ?1 AND m.seq = ?2
      AND (c.name NOT LIKE 'dm %' OR (?6 IS NOT NULL
          AND (substr(c.name, 4, length(?6) + 1) = ?6 || ' '
               OR substr(c.name, -(length(?6) + 1)) = ' ' || ?6)))
      AND (?3 IS NULL OR m.author = ?3 COLLATE NOCASE)
      AND (?4 IS NULL OR m.unix_micros < ?4)
      AND (?5 IS NULL OR m.unix_micros >= ?5)";

/// The whole history newest first (by `message_when`), with the filters (`?1` is unused, so
/// both walks take the same parameters; `?6` is the searcher's principal, as in
/// [`MESSAGE_IF`]). The time bounds are always given (the widest when not asked for), so the
/// index is read as a range.
const WALK_ALL: &str = "SELECT c.name, m.channel_id, m.seq, m.unix_micros, m.author, m.text
    FROM message m INDEXED BY message_when JOIN channel c ON c.id = m.channel_id
    WHERE ?1 IS NULL
      AND (c.name NOT LIKE 'dm %' OR (?6 IS NOT NULL
          AND (substr(c.name, 4, length(?6) + 1) = ?6 || ' '
               OR substr(c.name, -(length(?6) + 1)) = ' ' || ?6)))
      AND (?2 IS NULL OR m.author = ?2 COLLATE NOCASE)
      AND m.unix_micros < ?3 AND m.unix_micros >= ?4
    ORDER BY m.unix_micros DESC LIMIT ?5";

/// Channel `?1`'s history newest first (by `message_time`), with the filters (`in:` names
/// only public channels; the conversation rule is there all the same).
const WALK_CHANNEL: &str = "SELECT c.name, m.channel_id, m.seq, m.unix_micros, m.author, m.text
    FROM message m INDEXED BY message_time JOIN channel c ON c.id = m.channel_id
    WHERE m.channel_id = ?1
      AND (c.name NOT LIKE 'dm %' OR (?6 IS NOT NULL
          AND (substr(c.name, 4, length(?6) + 1) = ?6 || ' '
               OR substr(c.name, -(length(?6) + 1)) = ' ' || ?6)))
      AND (?2 IS NULL OR m.author = ?2 COLLATE NOCASE)
      AND m.unix_micros < ?3 AND m.unix_micros >= ?4
    ORDER BY m.unix_micros DESC LIMIT ?5";

/// Whether the index matches `?1` for the message of rowid `?2` (a seek in its lists).
const MATCHES_ROWID: &str =
    "SELECT EXISTS (SELECT 1 FROM message_fts WHERE message_fts MATCH ?1 AND rowid = ?2)";

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
    /// The searcher's principal (`None` for a guest): their own stored conversations are
    /// searched with the public history, nobody else's.
    pub principal: Option<String>,
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

    /// The newest messages matching `query`, newest first, at most `query.limit`. A word in
    /// fewer than [`SELECTIVE`] messages is answered from the index's list of them; a
    /// common one by walking the history newest first (by the time index) and checking each
    /// message against that list (up to [`MATCH_SET`] entries) or the index, at most
    /// [`WALK_LIMIT`] messages, so no search reads every match of a word in half the history.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let conn = self.connection();
        let channel: Option<i64> = match &query.channel {
            Some(name) => {
                let id = conn
                    .prepare_cached(CHANNEL_ID)?
                    .query_row([name], |row| row.get(0))
                    .optional()?;
                match id {
                    Some(id) => Some(id),
                    None => return Ok(Vec::new()),
                }
            }
            None => None,
        };
        let (low, high) = match channel {
            Some(id) => match (
                fts_rowid(id, 0),
                id.checked_add(1).and_then(|n| fts_rowid(n, 0)),
            ) {
                (Some(low), Some(high)) => (low, high),
                _ => return Ok(Vec::new()),
            },
            None => (i64::MIN, i64::MAX),
        };
        let rowids = conn
            .prepare_cached(MATCHING_ROWIDS)?
            .query_map(
                params![query.expression, low, high, limit_to_sql(MATCH_SET)],
                |row| row.get::<_, i64>(0),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        if rowids.len() < SELECTIVE {
            let mut statement = conn.prepare_cached(MESSAGE_IF)?;
            let mut hits = Vec::new();
            for rowid in rowids {
                let (channel_id, seq) = (rowid >> SEQ_BITS, rowid & ((1 << SEQ_BITS) - 1));
                let hit = statement
                    .query_row(
                        params![
                            channel_id,
                            seq,
                            query.author,
                            query.before,
                            query.after,
                            query.principal
                        ],
                        hit_from_row,
                    )
                    .optional()?;
                hits.extend(hit);
            }
            hits.sort_by_key(|hit| std::cmp::Reverse((hit.unix_micros, hit.seq)));
            hits.truncate(query.limit);
            return Ok(hits);
        }
        let mut walk = conn.prepare_cached(if channel.is_some() {
            WALK_CHANNEL
        } else {
            WALK_ALL
        })?;
        let mut check = conn.prepare_cached(MATCHES_ROWID)?;
        let set: Option<std::collections::HashSet<i64>> =
            (rowids.len() < MATCH_SET).then(|| rowids.into_iter().collect());
        let mut rows = walk.query(params![
            channel,
            query.author,
            query.before.unwrap_or(i64::MAX),
            query.after.unwrap_or(i64::MIN),
            WALK_LIMIT,
            query.principal
        ])?;
        let mut hits = Vec::new();
        while hits.len() < query.limit
            && let Some(row) = rows.next()?
        {
            let seq = seq_from_sql(2, row.get(2)?)?;
            let Some(rowid) = fts_rowid(row.get(1)?, seq) else {
                continue;
            };
            let matches = match &set {
                Some(set) => set.contains(&rowid),
                None => check.query_row(params![query.expression, rowid], |r| r.get(0))?,
            };
            if matches {
                hits.push(SearchHit {
                    channel: row.get(0)?,
                    seq,
                    unix_micros: row.get(3)?,
                    author: row.get(4)?,
                    text: row.get(5)?,
                });
            }
        }
        Ok(hits)
    }
}

/// A [`MESSAGE_IF`] row.
fn hit_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SearchHit> {
    Ok(SearchHit {
        channel: row.get(0)?,
        seq: seq_from_sql(1, row.get(1)?)?,
        unix_micros: row.get(2)?,
        author: row.get(3)?,
        text: row.get(4)?,
    })
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
            kind: Default::default(),
        }
    }

    fn query(expression: &str) -> SearchQuery {
        SearchQuery {
            expression: expression.to_owned(),
            channel: None,
            author: None,
            before: None,
            after: None,
            principal: None,
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
    fn a_stored_conversation_is_found_by_its_two_partners_and_nobody_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("r0c.db")).expect("opens");
        // Enough older matches of "secret" that a search for it alone walks the history.
        let filler = SELECTIVE as u64 + 5;
        for seq in 0..filler {
            store.append_message("fill", message(seq, "f", "secret filler"));
        }
        let (public, private) = (filler + 10, filler + 20);
        let conversation = "dm account:a_b account:bob";
        store.append_message("pub", message(public, "al", "secret word in public"));
        store.append_message(
            conversation,
            message(private, "bob", "secret word between two"),
        );
        store.flush();
        let as_who = |principal: Option<&str>, words: &[&str]| {
            let mut q = query(&fts_expression(words.iter().copied()));
            q.principal = principal.map(str::to_string);
            q.limit = 2;
            found(&store, &q)
        };
        // Both ways of answering: the index's list ("secret word"), the walk ("secret").
        let partners = [(conversation.to_string(), private), ("pub".into(), public)];
        for words in [&["secret", "word"][..], &["secret"]] {
            assert_eq!(as_who(Some("account:bob"), words), partners);
            assert_eq!(as_who(Some("account:a_b"), words), partners);
        }
        // `_` is no wildcard, a prefix is no partner, and a guest has no conversations.
        for other in [
            Some("account:axb"),
            Some("account:bo"),
            Some("account:a"),
            Some("b"),
            Some(""),
            None,
        ] {
            assert_eq!(
                as_who(other, &["secret", "word"]),
                [("pub".to_string(), public)],
                "{other:?}"
            );
            assert_eq!(
                as_who(other, &["secret"]),
                [("pub".to_string(), public), ("fill".into(), filler - 1)],
                "{other:?}"
            );
        }
    }

    #[test]
    fn a_common_word_is_found_newest_first_across_channels_by_walking_the_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("r0c.db")).expect("opens");
        // More matches than the index's list is read for, in two channels whose times
        // interleave: channel "z" (the higher id) is older than the newest of "a".
        store.append_message("a", message(1, "al", "common first"));
        store.append_message("z", message(2, "zed", "common zed"));
        for seq in 3..(SELECTIVE as u64 + 10) {
            store.append_message("z", message(seq, "zed", "common filler"));
        }
        let newest = SELECTIVE as u64 + 20;
        store.append_message("a", message(newest, "al", "common newest"));
        store.flush();
        let mut common = query(&fts_expression(["common"]));
        common.limit = 3;
        let hits = found(&store, &common);
        assert_eq!(hits[0], ("a".into(), newest));
        assert_eq!(hits.len(), 3);
        assert!(
            hits[1..].iter().all(|(channel, _)| channel == "z"),
            "{hits:?}"
        );
        common.author = Some("AL".into());
        assert_eq!(
            found(&store, &common),
            [("a".into(), newest), ("a".into(), 1)]
        );
        common.author = None;
        common.channel = Some("a".into());
        assert_eq!(
            found(&store, &common),
            [("a".into(), newest), ("a".into(), 1)]
        );
        common.channel = Some("z".into());
        common.before = Some(1_700_000_003_000_000);
        assert_eq!(found(&store, &common), [("z".into(), 2)]);
    }

    #[test]
    fn a_word_in_more_messages_than_the_match_set_is_checked_against_the_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r0c.db");
        let store = Store::open(&path).expect("opens");
        let mut conn = Connection::open(&path).expect("open");
        let tx = conn.transaction().expect("transaction");
        tx.execute("INSERT INTO channel (id, name) VALUES (1, 'big')", [])
            .expect("channel");
        let rows = MATCH_SET as i64 + 10;
        for seq in 0..rows {
            let text = if seq % 2 == 0 {
                "everywhere half"
            } else {
                "everywhere"
            };
            tx.execute(
                "INSERT INTO message (channel_id, seq, unix_micros, author, text)
                 VALUES (1, ?1, ?2, 'x', ?3)",
                rusqlite::params![seq, 1_000_000 * seq, text],
            )
            .expect("row");
        }
        tx.commit().expect("commit");
        let mut everywhere = query(&fts_expression(["everywhere", "half"]));
        everywhere.limit = 2;
        let newest = u64::try_from(rows).unwrap_or(0);
        assert_eq!(
            found(&store, &everywhere),
            [("big".into(), newest - 2), ("big".into(), newest - 4)]
        );
        let mut all = query(&fts_expression(["everywhere"]));
        all.limit = 2;
        assert_eq!(
            found(&store, &all),
            [("big".into(), newest - 1), ("big".into(), newest - 2)]
        );
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
                 PRAGMA user_version = 4;",
            )
            .expect("a version-4 style row");
            // Version 5's tables, which the later steps alter.
            conn.execute_batch(crate::store::moderation::SCHEMA_V5)
                .expect("v5");
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
