//! Tests of the history store against real SQLite files in a temporary directory.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tempfile::TempDir;

use super::{
    Health, MAX_BATCH, Store, StoreError, StoredAccount, StoredAccountKey, StoredMessage,
    TICKET_NEVER, lock,
};

/// A fresh temporary directory and the database path inside it.
fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("r0c.db");
    (dir, path)
}

fn open(path: &Path) -> Store {
    Store::open(path).expect("store opens")
}

fn message(seq: u64, text: &str) -> StoredMessage {
    StoredMessage {
        seq,
        unix_micros: 1_700_000_000_000_000 + 1000 * i64::try_from(seq).expect("small seq"),
        author: "alice".to_owned(),
        text: text.to_owned(),
        kind: Default::default(),
    }
}

fn texts(messages: &[StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

/// The (seq, text) rows of a channel as a brand-new connection sees them, which is what a
/// restart after `kill -9` would see.
fn fresh_rows(conn: &Connection, channel: &str) -> Vec<(i64, String)> {
    let mut statement = conn
        .prepare(
            "SELECT m.seq, m.text FROM message m JOIN channel c ON c.id = m.channel_id
             WHERE c.name = ?1 ORDER BY m.seq",
        )
        .expect("query prepares");
    statement
        .query_map([channel], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query runs")
        .collect::<Result<_, _>>()
        .expect("rows read")
}

#[test]
fn store_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Store>();
}

#[test]
fn append_flush_read_back_in_order() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    for (seq, text) in ["one", "two", "three"].into_iter().enumerate() {
        store.append_message("lobby", message(seq as u64 + 1, text));
    }
    store.flush();
    let read = store.recent_messages("lobby", 10).expect("read");
    assert_eq!(
        read,
        vec![message(1, "one"), message(2, "two"), message(3, "three")]
    );
}

#[test]
fn limit_keeps_the_newest() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    for seq in 1..=10 {
        store.append_message("lobby", message(seq, &format!("m{seq}")));
    }
    store.flush();
    let read = store.recent_messages("lobby", 3).expect("read");
    assert_eq!(texts(&read), ["m8", "m9", "m10"]);
    assert_eq!(store.recent_messages("lobby", 0).expect("read"), []);
    assert_eq!(
        store
            .recent_messages("lobby", usize::MAX)
            .expect("read")
            .len(),
        10
    );
}

#[test]
fn channels_are_separate() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.append_message("a", message(1, "in a"));
    store.append_message("b", message(1, "in b"));
    store.append_message("a", message(2, "in a again"));
    store.flush();
    assert_eq!(
        texts(&store.recent_messages("a", 10).expect("read")),
        ["in a", "in a again"]
    );
    assert_eq!(
        texts(&store.recent_messages("b", 10).expect("read")),
        ["in b"]
    );
    assert_eq!(store.recent_messages("c", 10).expect("read"), []);
}

#[test]
fn topic_round_trip_and_overwrite() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    assert_eq!(store.topic("lobby").expect("read"), None);
    store.append_message("lobby", message(1, "hi"));
    store.flush();
    assert_eq!(
        store.topic("lobby").expect("read"),
        None,
        "a channel without a topic"
    );

    store.set_topic("lobby", "first", "alice", 1);
    store.set_topic("lobby", "second", "bob", 2);
    store.set_topic("fresh", "created by topic", "bob", 3);
    store.flush();
    assert_eq!(
        store.topic("lobby").expect("read").as_deref(),
        Some("second")
    );
    assert_eq!(
        store.topic("fresh").expect("read").as_deref(),
        Some("created by topic")
    );
    assert_eq!(
        texts(&store.recent_messages("lobby", 10).expect("read")),
        ["hi"]
    );

    let conn = Connection::open(&path).expect("fresh connection");
    let (author, micros): (String, i64) = conn
        .query_row(
            "SELECT topic_author, topic_micros FROM channel WHERE name = 'lobby'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("topic row");
    assert_eq!((author.as_str(), micros), ("bob", 2));
}

#[test]
fn last_seq_is_the_highest_stored() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    assert_eq!(store.last_seq("lobby").expect("read"), None);
    for seq in [3, 1, 7, 5] {
        store.append_message("lobby", message(seq, "x"));
    }
    store.flush();
    assert_eq!(store.last_seq("lobby").expect("read"), Some(7));
    assert_eq!(store.last_seq("other").expect("read"), None);
}

#[test]
fn reopen_after_close_keeps_everything() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.append_message("lobby", message(1, "before restart"));
    store.set_topic("lobby", "kept", "alice", 1);
    store.append_direct("bob", "alice", 5, "bob", "psst", Default::default());
    store.close();
    drop(store);

    let store = open(&path);
    assert_eq!(
        store.recent_messages("lobby", 10).expect("read"),
        [message(1, "before restart")]
    );
    assert_eq!(store.topic("lobby").expect("read").as_deref(), Some("kept"));
    assert_eq!(store.last_seq("lobby").expect("read"), Some(1));
    store.append_message("lobby", message(2, "after restart"));
    drop(store);

    let store = open(&path);
    assert_eq!(store.last_seq("lobby").expect("read"), Some(2));
}

#[test]
fn flushed_messages_are_visible_to_a_fresh_connection() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    for seq in 1..=1000 {
        store.append_message("lobby", message(seq, &format!("m{seq}")));
    }
    store.flush();
    // No close, no drop: the store is still running, as if the process were killed now.
    let conn = Connection::open(&path).expect("fresh connection");
    let rows = fresh_rows(&conn, "lobby");
    assert_eq!(rows.len(), 1000);
    assert!(
        rows.iter()
            .zip(1..)
            .all(|((seq, text), n)| *seq == n && *text == format!("m{n}"))
    );
}

#[test]
fn unflushed_message_is_durable_within_200_ms() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    let conn = Connection::open(&path).expect("fresh connection");
    let deadline = Instant::now() + Duration::from_millis(200);
    store.append_message("lobby", message(1, "seen by others"));
    while fresh_rows(&conn, "lobby").is_empty() {
        assert!(
            Instant::now() < deadline,
            "message not committed within 200 ms"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn full_queue_spills_into_overflow_without_losing_or_reordering() {
    let (_dir, path) = temp_db();
    let store = Store::open_with_capacity(&path, 4).expect("store opens");
    // Another connection holds the write lock, so the writer is stuck in its busy wait and
    // the queue of 4 is certainly full while we append.
    let blocker = Connection::open(&path).expect("blocker connection");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("write lock taken");
    for seq in 1..=10_000 {
        store.append_message("lobby", message(seq, &format!("m{seq}")));
        if seq % 100 == 0 {
            store.set_topic("lobby", &format!("topic {seq}"), "alice", 0);
        }
    }
    let buffered = lock(&store.queue).overflow.len();
    assert!(
        buffered >= 10_100 - MAX_BATCH - 4,
        "only {buffered} ops in the overflow"
    );
    blocker
        .execute_batch("COMMIT")
        .expect("write lock released");

    store.flush();
    let read = store.recent_messages("lobby", 20_000).expect("read");
    assert_eq!(read.len(), 10_000);
    assert!(
        read.iter()
            .zip(1..)
            .all(|(m, n)| m.seq == n && m.text == format!("m{n}"))
    );
    assert_eq!(
        store.topic("lobby").expect("read").as_deref(),
        Some("topic 10000")
    );
    assert!(lock(&store.queue).overflow.is_empty());
}

#[test]
fn newer_schema_version_is_refused() {
    let (_dir, path) = temp_db();
    Connection::open(&path)
        .expect("create")
        .execute_batch("PRAGMA user_version = 99")
        .expect("set");
    let result = Store::open(&path);
    assert!(
        matches!(result, Err(StoreError::NewerSchema { found: 99, .. })),
        "{:?}",
        result.err()
    );
}

#[test]
fn unusable_paths_are_typed_errors() {
    let (dir, _) = temp_db();
    let missing = Store::open(&dir.path().join("no such dir").join("r0c.db"));
    // The lock file next to the database is the first thing created there.
    assert!(
        matches!(missing, Err(StoreError::Lock { .. })),
        "{:?}",
        missing.err()
    );

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).expect("write garbage");
    let not_a_db = Store::open(&garbage);
    assert!(
        matches!(not_a_db, Err(StoreError::Open { .. })),
        "{:?}",
        not_a_db.err()
    );
}

#[test]
fn hostile_names_are_just_data() {
    let (dir, path) = temp_db();
    let store = open(&path);
    let names = [
        "it's \"quoted\"",
        "../../etc/passwd",
        "..",
        "/",
        "",
        "日本語 🦀",
        "x'); DROP TABLE message; --",
        "C:\\con",
    ];
    for (seq, name) in names.iter().enumerate() {
        store.append_message(name, message(seq as u64, name));
        store.set_topic(name, name, name, 0);
    }
    store.flush();
    for (seq, name) in names.iter().enumerate() {
        assert_eq!(
            store.recent_messages(name, 10).expect("read"),
            [message(seq as u64, name)]
        );
        assert_eq!(store.topic(name).expect("read").as_deref(), Some(*name));
    }
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    assert_eq!(files, ["r0c.db", "r0c.db-shm", "r0c.db-wal", "r0c.db.lock"]);
}

#[test]
fn direct_messages_are_stored_with_the_pair_sorted() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.append_direct("bob", "alice", 10, "bob", "hi alice", Default::default());
    store.append_direct("alice", "bob", 20, "alice", "hi bob", Default::default());
    store.flush();
    let conn = Connection::open(&path).expect("fresh connection");
    let mut statement = conn
        .prepare("SELECT nick_a, nick_b, unix_micros, author, text FROM direct_message ORDER BY id")
        .expect("query prepares");
    let rows: Vec<(String, String, i64, String, String)> = statement
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .expect("query runs")
        .collect::<Result<_, _>>()
        .expect("rows read");
    let pair = |micros: i64, author: &str, text: &str| {
        (
            "alice".to_owned(),
            "bob".to_owned(),
            micros,
            author.to_owned(),
            text.to_owned(),
        )
    };
    assert_eq!(
        rows,
        [pair(10, "bob", "hi alice"), pair(20, "alice", "hi bob")]
    );
}

#[test]
fn duplicate_seq_keeps_the_first_and_the_rest_of_the_batch() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.append_message("lobby", message(1, "first"));
    store.append_message("lobby", message(1, "duplicate"));
    store.append_message("lobby", message(2, "second"));
    store.flush();
    assert_eq!(
        texts(&store.recent_messages("lobby", 10).expect("read")),
        ["first", "second"]
    );
}

#[test]
fn writes_after_close_are_dropped_and_reads_still_work() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.append_message("lobby", message(1, "kept"));
    store.close();
    store.append_message("lobby", message(2, "dropped"));
    store.set_topic("lobby", "dropped", "alice", 0);
    store.flush();
    store.close();
    assert_eq!(
        texts(&store.recent_messages("lobby", 10).expect("read")),
        ["kept"]
    );
    assert_eq!(store.topic("lobby").expect("read"), None);
}

#[test]
fn client_configs_are_kept_per_listener_and_address() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).expect("open");
    store.save_client("netcat", "127.0.0.1", "first");
    store.save_client("netcat", "127.0.0.1", "second");
    store.save_client("telnet", "127.0.0.1", "other listener");
    store.close();
    let store = Store::open(&path).expect("reopen");
    assert_eq!(
        store
            .client("netcat", "127.0.0.1")
            .expect("read")
            .as_deref(),
        Some("second")
    );
    assert_eq!(
        store
            .client("telnet", "127.0.0.1")
            .expect("read")
            .as_deref(),
        Some("other listener")
    );
    assert_eq!(store.client("netcat", "::1").expect("read"), None);
}

#[test]
fn a_version_1_database_gains_the_client_table() {
    let (_dir, path) = temp_db();
    {
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(super::SCHEMA_V1).expect("version 1");
    }
    let store = Store::open(&path).expect("upgrades");
    store.save_client("telnet", "10.0.0.1", "x");
    store.flush();
    assert_eq!(
        store.client("telnet", "10.0.0.1").expect("read").as_deref(),
        Some("x")
    );
}

#[test]
fn ranges_and_moments_are_found_by_index() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    for seq in 0..50 {
        store.append_message("lobby", message(seq, &format!("m{seq}")));
    }
    store.append_message("other", message(3, "elsewhere"));
    store.flush();
    let seqs = |messages: Vec<StoredMessage>| messages.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.messages_before("lobby", 10, 3).expect("read")),
        [7, 8, 9]
    );
    assert_eq!(
        seqs(store.messages_from("lobby", 10, 12, 5).expect("read")),
        [10, 11]
    );
    assert_eq!(
        seqs(store.messages_from("lobby", 48, u64::MAX, 5).expect("read")),
        [48, 49]
    );
    // message(seq) is posted at a base time plus seq milliseconds.
    let at = |seq: i64| 1_700_000_000_000_000 + 1000 * seq;
    assert_eq!(
        store.first_seq_at("lobby", at(20) - 1, 40).expect("read"),
        Some(20)
    );
    assert_eq!(store.first_seq_at("lobby", at(45), 40).expect("read"), None);
    assert_eq!(store.first_seq_at("nowhere", 0, 40).expect("read"), None);
}

/// Polls `condition` until it holds; fails after a deadline generous for a loaded machine.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "never: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_full_disk_keeps_the_batch_uncommitted_until_space_returns_and_loses_nothing() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.append_message("g", message(0, "before"));
    store.flush();
    // The "disk" is full: no page beyond those in use.
    store.limit_pages_for_tests(Some(0));
    let padding = "x".repeat(2000);
    let mut tickets = Vec::new();
    let mut seq = 1;
    while store.health() == Health::Healthy {
        assert!(seq < 10_000, "the page limit never made a write fail");
        tickets.push((seq, store.append_message("g", message(seq, &padding))));
        seq += 1;
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(store.health(), Health::Failing);
    // Whatever failed is not counted as committed, now or after more retries.
    let (_, last) = *tickets.last().expect("some writes");
    assert!(!store.is_committed(last));
    thread::sleep(Duration::from_millis(300));
    assert!(!store.is_committed(last));
    assert_eq!(store.health(), Health::Failing);
    let stored = Connection::open(&path).expect("second connection");
    assert!(fresh_rows(&stored, "g").len() < tickets.len() + 1);

    store.limit_pages_for_tests(None);
    wait_until("the failed batch is committed", || store.is_committed(last));
    wait_until("the store is healthy again", || {
        store.health() == Health::Healthy
    });
    let rows = fresh_rows(&stored, "g");
    assert_eq!(rows.len(), tickets.len() + 1, "every write is stored");
    for (seq, _) in &tickets {
        assert!(
            rows.iter().any(|(s, _)| *s == *seq as i64),
            "seq {seq} lost"
        );
    }
}

#[test]
fn a_closed_store_hands_out_tickets_that_never_read_as_committed() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.close();
    let ticket = store.append_message("g", message(0, "too late"));
    assert_eq!(ticket, TICKET_NEVER);
    assert!(!store.is_committed(ticket));
    assert_eq!(store.health(), Health::Gone);
    assert!(!store.flush_within(Duration::from_millis(10)));
}

#[test]
fn a_deleted_database_is_noticed_and_nothing_is_written_into_the_unlinked_file() {
    let (dir, path) = temp_db();
    let store = open(&path);
    store.append_message("g", message(0, "before"));
    store.flush();
    let moved = dir.path().join("moved.db");
    std::fs::rename(&path, &moved).expect("move the database away");
    let ticket = store.append_message("g", message(1, "after"));
    wait_until("the store notices", || store.health() == Health::Gone);
    assert!(!store.is_committed(ticket));
    assert!(!path.exists(), "nothing was created in its place");

    // Put back, it is the same file again: writes resume and nothing was lost.
    std::fs::rename(&moved, &path).expect("move it back");
    wait_until("the write goes through", || store.is_committed(ticket));
    assert_eq!(store.health(), Health::Healthy);
    let back = Connection::open(&path).expect("reopen");
    assert_eq!(
        fresh_rows(&back, "g"),
        [(0, "before".to_owned()), (1, "after".to_owned())]
    );
}

#[test]
fn database_files_are_private_and_looser_ones_are_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .expect("file exists")
            .permissions()
            .mode()
            & 0o777
    };
    let (dir, path) = temp_db();
    let store = open(&path);
    store.append_message("g", message(0, "hi"));
    store.flush();
    for name in ["r0c.db", "r0c.db-wal", "r0c.db-shm", "r0c.db.lock"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    store.close();
    drop(store);

    for name in ["r0c.db", "r0c.db-wal", "r0c.db-shm", "r0c.db.lock"] {
        let file = dir.path().join(name);
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
                .expect("loosen");
        }
    }
    let store = open(&path);
    store.append_message("g", message(1, "again"));
    store.flush();
    for name in ["r0c.db", "r0c.db-wal", "r0c.db-shm", "r0c.db.lock"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
}

#[test]
fn the_commit_watch_advances_after_a_commit_and_never_before() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    let mut commits = store.commits();
    assert_eq!(*commits.borrow_and_update(), 0);
    let first = store.append_message("g", message(0, "first"));
    store.flush();
    assert!(commits.has_changed().expect("the writer is alive"));
    assert!(*commits.borrow_and_update() >= first);
    let stored = Connection::open(&path).expect("second connection");

    // The "disk" is full: the watch must not move past what a fresh connection can read.
    store.limit_pages_for_tests(Some(0));
    let padding = "x".repeat(2000);
    let mut tickets = Vec::new();
    let mut seq = 1;
    while store.health() == Health::Healthy {
        assert!(seq < 10_000, "the page limit never made a write fail");
        tickets.push((seq, store.append_message("g", message(seq, &padding))));
        seq += 1;
        thread::sleep(Duration::from_millis(1));
    }
    let told = *commits.borrow_and_update();
    let (_, last) = *tickets.last().expect("some writes");
    assert!(told < last, "a failing write was told as committed");
    let rows = fresh_rows(&stored, "g");
    for (seq, ticket) in &tickets {
        if *ticket <= told {
            assert!(
                rows.iter().any(|(s, _)| *s == *seq as i64),
                "seq {seq} was told as committed before it was"
            );
        }
    }
    thread::sleep(Duration::from_millis(300));
    assert!(
        !commits.has_changed().expect("the writer is alive"),
        "nothing is committed while the disk is full"
    );

    // Space returns: the watch reaches the last ticket, and everything it covers is stored.
    store.limit_pages_for_tests(None);
    wait_until("the watch reaches the last write", || {
        *commits.borrow() >= last
    });
    assert!(store.is_committed(last));
    assert_eq!(fresh_rows(&stored, "g").len(), tickets.len() + 1);
}

#[test]
fn accounts_and_their_keys_survive_a_reopen_and_are_deleted_together() {
    let (_dir, path) = temp_db();
    let account = StoredAccount {
        folded: "paul".into(),
        name: "Paul".into(),
        phc: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        created_at: 1,
        last_seen: 2,
        prefs: Some("1 1 1 0 1".into()),
    };
    let key = StoredAccountKey {
        fingerprint: "SHA256:abc".into(),
        account: "paul".into(),
        added_at: 3,
    };
    {
        let store = Store::open(&path).expect("open");
        let ticket = store.put_account(account.clone());
        store.put_account_key(key.clone());
        store.flush();
        assert!(store.is_committed(ticket));
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.accounts().expect("read"), (vec![account], vec![key]));
    store.delete_account("paul");
    store.flush();
    assert_eq!(store.accounts().expect("read"), (vec![], vec![]));
}
