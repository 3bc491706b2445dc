//! The chat history store: one SQLite file in WAL mode, written by one thread with group commit.
//!
//! The original r0c kept buffered text logs and flushed them every ten minutes, so a crash lost
//! up to ten minutes of chat, topics were never saved, and channel names became file paths.
//! Here every public message, direct message and topic goes into SQLite tables, keyed by
//! bound parameters only: no user input ever becomes a file path.
//!
//! # Why a writer thread, a bounded queue plus an overflow, and group commit
//!
//! The world calls [`Store::append_message`] while holding its own lock, so a write call must
//! never wait for the disk. All writes therefore go to one dedicated writer thread that owns
//! the write connection (SQLite allows one writer at a time anyway, and a plain OS thread may
//! block in `fsync` without stalling the async runtime).
//!
//! The hand-off is a bounded `sync_channel` fed with `try_send`, so memory use is normally
//! capped by the queue. When the queue is full we do not drop the write (that would lose chat
//! history silently) and we do not block (that would stall every user behind the world lock):
//! the op goes into an overflow `VecDeque` inside the handle instead. Every send into the
//! queue happens while holding the overflow mutex, and a new op goes to the overflow whenever
//! the overflow is not empty, so the overflow always holds the newest ops and the order of
//! writes is kept (two topic changes must not be swapped). The writer takes ops from the
//! overflow itself once it has emptied the queue, so an overflow never waits for the next
//! caller. The overflow is unbounded on purpose: it only grows while the disk is slower than
//! the chat, and losing messages is worse than the memory they take.
//!
//! The writer blocks for the first op, then takes everything else already queued (up to
//! `MAX_BATCH` ops) and writes it all in one transaction with one `fsync`. Under light load a
//! message is durable a few milliseconds after it was queued; under heavy load the batches
//! grow and throughput stays high, because the `fsync` per commit is what costs.
//! In WAL mode with `synchronous=NORMAL` (the default) a commit is in the WAL file before
//! anyone sees the message, so a `kill -9` loses nothing that was committed; `--fsync`
//! (`synchronous=FULL`) also survives a power cut, at an fsync per commit.
//!
//! After each commit the writer publishes the committed count ([`Store::commits`], a `watch`
//! whose `send_replace` never waits for a receiver), so whoever shows messages is woken when
//! there is something new to show instead of polling [`Store::is_committed`].
//!
//! Reads use read-only connections ([`reader`]); WAL lets them run while the writer writes.
//! They happen when a channel is opened (history load) and when someone scrolls or jumps (`/g`)
//! past the history in memory, each a short indexed query. They block, so the server runs them
//! on blocking threads (`crate::history`) over a small [`ReaderPool`] whose semaphore bounds
//! the reads in flight; the one connection behind a mutex ([`Store::client`] and the other
//! read methods of the handle) is for blocking callers: the wizard's `spawn_blocking`, tests and
//! tools.
//!
//! # When writes fail
//!
//! A batch whose commit fails (disk full, the file turned read-only, an I/O error) is kept and
//! tried again with backoff ([`RETRY_FIRST`] doubling to [`RETRY_MAX`]), as long as it takes:
//! its tickets never read as committed meanwhile, so nobody sees those messages until they are
//! on disk. The store's [`Health`] says so ([`Store::health`], and [`Store::health_changes`]
//! for whoever tells the users); the world refuses new messages while it is not
//! [`Health::Healthy`]. The writer also checks, before each batch and every
//! [`IDENTITY_CHECK`] when idle, that the database path still names the file it opened
//! (same device and inode): a deleted or replaced file or app dir is [`Health::Gone`], and
//! nothing is written into the unlinked file. Each change of health is logged once.
//!
//! The files are private: the database, its `-wal` and `-shm` files (SQLite gives them the
//! database's mode) and the lock file are created 0600, and looser ones are tightened.

pub mod backup;
mod cluster;
mod markers;
mod moderation;
mod offline;
mod reader;
mod search;
pub mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::{File, TryLockError};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

pub use markers::{MarkerWrite, StoredMarker};
pub use moderation::{
    AUDIT_KEPT, AUDIT_LOADED, MAX_USER_LIMIT, ModWrite, StoredAudit, StoredChannelMod,
    StoredModeration, StoredRole, StoredSanction,
};
pub use offline::{OfflineWrite, StoredOffline};
pub use reader::{POOL_READERS, Reader, ReaderPool};
pub use search::{SearchHit, SearchQuery, fts_expression};

/// The schema version this code writes, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 10;

/// How many ops the queue to the writer holds before callers spill into the overflow.
const QUEUE_CAPACITY: usize = 65536;

/// The most ops the writer puts into one transaction, so one commit stays short.
const MAX_BATCH: usize = 4096;

/// The pause before the first retry of a failed batch; it doubles with every failure.
const RETRY_FIRST: Duration = Duration::from_millis(100);

/// The longest pause between two tries of a failed batch.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How long the writer keeps trying a failing batch once the store is being closed, before it
/// gives up (the process is ending; what it drops was never shown to anyone).
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// How often an idle writer checks that the database path still names the file it opened.
const IDENTITY_CHECK: Duration = Duration::from_secs(10);

/// A ticket that never reads as committed: the op could not be queued (the store is closed or
/// its writer is gone), so whatever carries it is never shown.
pub const TICKET_NEVER: u64 = u64::MAX;

/// The ticket of something that is not stored by design (status-window lines): it reads as
/// committed at once.
pub const TICKET_NOT_STORED: u64 = 0;

/// The `max_page_count` SQLite uses when none is set: no limit in practice.
const UNLIMITED_PAGES: u64 = 4_294_967_294;

/// How long a connection waits for a lock held by another connection (e.g. the `sqlite3` CLI).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema version 1. Channels get a numeric id so messages do not repeat the name.
pub(crate) const SCHEMA_V1: &str = "
    CREATE TABLE channel (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        topic TEXT,
        topic_author TEXT,
        topic_micros INTEGER
    ) STRICT;
    CREATE TABLE message (
        channel_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        unix_micros INTEGER NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (channel_id, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX message_time ON message (channel_id, unix_micros);
    CREATE TABLE direct_message (
        id INTEGER PRIMARY KEY,
        nick_a TEXT NOT NULL,
        nick_b TEXT NOT NULL,
        unix_micros INTEGER NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL
    ) STRICT;
    PRAGMA user_version = 1;
";

/// Schema version 2: what the first-connect wizard found out about a client, per listener and
/// address, in r0c's one-line config format.
const SCHEMA_V2: &str = "
    CREATE TABLE client_config (
        listener TEXT NOT NULL,
        address TEXT NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (listener, address)
    ) STRICT, WITHOUT ROWID;
    PRAGMA user_version = 2;
";

/// Schema version 3: nicks that belong to an ssh key (the nick folded as the world compares
/// nicks), with when the key took it and when it was last seen.
const SCHEMA_V3: &str = "
    CREATE TABLE nick_claim (
        nick TEXT NOT NULL PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        claimed_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    PRAGMA user_version = 3;
";

/// Schema version 4: accounts (a nick registered with a password, as `/register` made it:
/// the folded nick, the nick as registered, the Argon2id PHC string, when it was registered
/// and last used, and the owner's saved toggles) and the ssh keys attached to them.
const SCHEMA_V4: &str = "
    CREATE TABLE account (
        folded TEXT NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        phc TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        prefs TEXT
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE account_key (
        fingerprint TEXT NOT NULL PRIMARY KEY,
        account TEXT NOT NULL,
        added_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX account_key_account ON account_key (account);
    PRAGMA user_version = 4;
";

/// Schema version 10: what kind of line a message is ([`MessageKind`]: 0 chat, 1 an IRC
/// NOTICE; older rows are chat), and a channel's user limit (IRC's `+l`; NULL: none).
const SCHEMA_V10: &str = "
    ALTER TABLE message ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE direct_message ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE mod_channel ADD COLUMN user_limit INTEGER;
    PRAGMA user_version = 10;
";

const PUT_ACCOUNT: &str = "INSERT INTO account (folded, name, phc, created_at, last_seen, prefs)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (folded) DO UPDATE SET name = excluded.name,
    phc = excluded.phc, created_at = excluded.created_at, last_seen = excluded.last_seen,
    prefs = excluded.prefs";
const DELETE_ACCOUNT: &str = "DELETE FROM account WHERE folded = ?1";
const DELETE_ACCOUNT_KEYS: &str = "DELETE FROM account_key WHERE account = ?1";
const PUT_ACCOUNT_KEY: &str = "INSERT INTO account_key (fingerprint, account, added_at)
    VALUES (?1, ?2, ?3) ON CONFLICT (fingerprint) DO UPDATE SET account = excluded.account,
    added_at = excluded.added_at";
const DELETE_ACCOUNT_KEY: &str = "DELETE FROM account_key WHERE fingerprint = ?1";
pub(crate) const ACCOUNTS: &str =
    "SELECT folded, name, phc, created_at, last_seen, prefs FROM account";
pub(crate) const ACCOUNT_KEYS: &str = "SELECT fingerprint, account, added_at FROM account_key";

const PUT_CLAIM: &str = "INSERT INTO nick_claim (nick, fingerprint, claimed_at, last_seen)
    VALUES (?1, ?2, ?3, ?4) ON CONFLICT (nick) DO UPDATE SET fingerprint = excluded.fingerprint,
    claimed_at = excluded.claimed_at, last_seen = excluded.last_seen";
const RELEASE_CLAIM: &str = "DELETE FROM nick_claim WHERE nick = ?1";
pub(crate) const CLAIMS: &str = "SELECT nick, fingerprint, claimed_at, last_seen FROM nick_claim";

const SAVE_CLIENT: &str =
    "INSERT INTO client_config (listener, address, config) VALUES (?1, ?2, ?3)
    ON CONFLICT (listener, address) DO UPDATE SET config = excluded.config";
const CLIENT: &str = "SELECT config FROM client_config WHERE listener = ?1 AND address = ?2";

pub(crate) const ENSURE_CHANNEL: &str =
    "INSERT INTO channel (name) VALUES (?1) ON CONFLICT (name) DO NOTHING";
const INSERT_MESSAGE: &str =
    "INSERT INTO message (channel_id, seq, unix_micros, author, text, kind)
    SELECT id, ?2, ?3, ?4, ?5, ?6 FROM channel WHERE name = ?1 ON CONFLICT DO NOTHING";
pub(crate) const INSERT_DIRECT: &str =
    "INSERT INTO direct_message (nick_a, nick_b, unix_micros, author, text, kind)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const SET_TOPIC: &str = "INSERT INTO channel (name, topic, topic_author, topic_micros)
    VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET
    topic = excluded.topic, topic_author = excluded.topic_author, topic_micros = excluded.topic_micros";
const MESSAGES_BEFORE: &str = "SELECT m.seq, m.unix_micros, m.author, m.text, m.kind
    FROM message m JOIN channel c ON c.id = m.channel_id
    WHERE c.name = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3";
const MESSAGES_FROM: &str = "SELECT m.seq, m.unix_micros, m.author, m.text, m.kind
    FROM message m JOIN channel c ON c.id = m.channel_id
    WHERE c.name = ?1 AND m.seq >= ?2 AND m.seq < ?3 ORDER BY m.seq LIMIT ?4";
const FIRST_SEQ_AT: &str = "SELECT m.seq FROM message m JOIN channel c ON c.id = m.channel_id
    WHERE c.name = ?1 AND m.unix_micros >= ?2 AND m.seq < ?3
    ORDER BY m.unix_micros, m.seq LIMIT 1";
const LAST_SEQ: &str = "SELECT max(m.seq) FROM message m JOIN channel c ON c.id = m.channel_id
    WHERE c.name = ?1";
const TOPIC: &str = "SELECT topic FROM channel WHERE name = ?1";
/// IRC's CHATHISTORY reads chat only: the system lines (`--`: joins, parts, nick and topic
/// changes) are left out in the query, so they do not use up a request's row count.
pub(crate) const CHAT_BEFORE: &str = "SELECT m.seq, m.unix_micros, m.author, m.text, m.kind
    FROM message m JOIN channel c ON c.id = m.channel_id
    WHERE c.name = ?1 AND m.seq < ?2 AND m.author <> '--' ORDER BY m.seq DESC LIMIT ?3";
pub(crate) const CHAT_FROM: &str = "SELECT m.seq, m.unix_micros, m.author, m.text, m.kind
    FROM message m JOIN channel c ON c.id = m.channel_id
    WHERE c.name = ?1 AND m.seq >= ?2 AND m.seq < ?3 AND m.author <> '--'
    ORDER BY m.seq LIMIT ?4";
pub(crate) const LAST_CHAT_MICROS: &str = "SELECT max(m.unix_micros) FROM message m
    JOIN channel c ON c.id = m.channel_id WHERE c.name = ?1 AND m.author <> '--'";

/// What can go wrong when opening or reading the store; writes never return errors: the
/// writer thread logs a failure once and shows it in [`Store::health`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be opened or created, is not a database, or its schema cannot be set up.
    #[error("cannot open history database {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// The file was written by a newer r0c; we refuse to touch it rather than corrupt it.
    #[error(
        "history database {path} has schema version {found}, this r0c knows up to {SCHEMA_VERSION}"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The `user_version` found in the file.
        found: i64,
    },
    /// The database opens but cannot be written (a read-only file, directory or file system).
    #[error("cannot write to history database {path}")]
    ReadOnly {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported for a test write.
        source: rusqlite::Error,
    },
    /// The database file, just opened, cannot be looked at (device and inode, which the
    /// writer compares to notice a deleted or replaced file).
    #[error("cannot stat history database {}", .path.display())]
    Stat {
        /// The database file.
        path: PathBuf,
        /// What the system reported.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the history writer thread")]
    Spawn(#[source] std::io::Error),
    /// A read query failed.
    #[error("history query failed")]
    Query(#[from] rusqlite::Error),
    /// The lock file next to the database cannot be opened or locked.
    #[error("cannot lock {}", .path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the system reported.
        source: std::io::Error,
    },
    /// `r0c import` is rewriting the history right now; a server started meanwhile would
    /// number new messages on top of numbers the import is changing.
    #[error("{} is locked by a running `r0c import`; start the server when it is done", .path.display())]
    Importing {
        /// The lock file.
        path: PathBuf,
    },
    /// An import needs the database to itself, and a server (or another import) has it open.
    #[error("a running r0c server (or another import) uses {}; stop it first", .path.display())]
    InUse {
        /// The lock file.
        path: PathBuf,
    },
}

/// What kind of line a message is, as stored in its `kind` column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MessageKind {
    /// A line of chat (or a system line: those are told apart by their author).
    #[default]
    Chat,
    /// An IRC NOTICE: shown like chat but marked, relayed to IRC as NOTICE, and never
    /// answered automatically.
    Notice,
}

impl MessageKind {
    /// The number stored in the `kind` column.
    pub fn to_sql(self) -> i64 {
        match self {
            MessageKind::Chat => 0,
            MessageKind::Notice => 1,
        }
    }

    /// The kind a stored number stands for; an unknown number (a newer r0c's) reads as chat.
    pub fn from_sql(number: i64) -> MessageKind {
        match number {
            1 => MessageKind::Notice,
            _ => MessageKind::Chat,
        }
    }
}

/// One public-channel message as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    /// The per-channel sequence number, unique within the channel.
    pub seq: u64,
    /// When it was posted, UTC, in microseconds since the Unix epoch.
    pub unix_micros: i64,
    /// The nick (or system author such as `--`) that posted it.
    pub author: String,
    /// The sanitized canonical text, stored exactly as given.
    pub text: String,
    /// Chat or notice.
    pub kind: MessageKind,
}

/// One nick that belongs to an ssh key, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredClaim {
    /// The nick, folded as the world compares nicks.
    pub nick: String,
    /// The key's fingerprint as OpenSSH prints it.
    pub fingerprint: String,
    /// When the key first took the nick, in microseconds since the Unix epoch.
    pub claimed_at: i64,
    /// When the key last connected or left, in microseconds since the Unix epoch.
    pub last_seen: i64,
}

/// An account as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    /// The nick, folded as the world compares nicks (the key).
    pub folded: String,
    /// The nick as it was registered.
    pub name: String,
    /// The Argon2id PHC string of the password (never the password).
    pub phc: String,
    /// When it was registered, in microseconds since the Unix epoch.
    pub created_at: i64,
    /// When its owner last logged in or left, in microseconds since the Unix epoch.
    pub last_seen: i64,
    /// The owner's toggles, in the world's short format; `None` until first saved.
    pub prefs: Option<String>,
}

/// An ssh key attached to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccountKey {
    /// The key's fingerprint as OpenSSH prints it.
    pub fingerprint: String,
    /// The account's folded name.
    pub account: String,
    /// When it was attached, in microseconds since the Unix epoch.
    pub added_at: i64,
}

/// The handle to the history database, shared as `Arc<Store>`.
///
/// Dropping the handle (the last `Arc`) does what [`Store::close`] does.
pub struct Store {
    /// The way into the writer thread, shared with it because the writer drains the overflow.
    queue: Arc<Mutex<Queue>>,
    /// A read-only connection for blocking callers (the wizard's settings, tests, tools).
    reader: Mutex<Reader>,
    /// The read-only connections history reads share (see [`crate::history`]).
    pool: ReaderPool,
    /// The database file, to open a reader beyond the pool's when one is missing.
    path: PathBuf,
    /// The writer thread, taken and joined by [`Store::close`].
    writer: Mutex<Option<JoinHandle<()>>>,
    /// What the handle and the writer share: commit count, health, the test knob.
    shared: Arc<Shared>,
    /// A shared lock on [`lock_path`], held while the store is open, so `r0c import` (which
    /// takes it exclusively) never renumbers history under a running server.
    _shared_lock: File,
}

/// Unit tests only: holds back every commit while it lives ([`Store::hold_commits`]).
#[cfg(test)]
pub(crate) struct CommitHold(Arc<Shared>);

#[cfg(test)]
impl Drop for CommitHold {
    fn drop(&mut self) {
        self.0.held.store(false, Ordering::Release);
    }
}

/// Whether the store can write right now, as its writer last found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Writes succeed.
    Healthy,
    /// Writes fail (disk full, read-only file, I/O error); the writer keeps the batch and
    /// tries again with backoff.
    Failing,
    /// The database file or app dir was deleted or replaced, or the writer stopped: nothing
    /// is written until the path names the opened file again.
    Gone,
}

impl Health {
    fn from_u8(value: u8) -> Health {
        match value {
            0 => Health::Healthy,
            1 => Health::Failing,
            _ => Health::Gone,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Failing => 1,
            Health::Gone => 2,
        }
    }
}

/// The state the handle and the writer thread share.
struct Shared {
    /// How many ops the writer has committed, in queue order: an op with a ticket up to this
    /// number is on disk. Clients show a message only once it is, so a crash never loses
    /// something that someone has seen. It never counts an op that was not committed.
    committed: AtomicU64,
    /// [`Health`] as a number, read without a lock on every post.
    health: AtomicU8,
    /// Told each change of health, for whoever tells the users.
    changes: tokio::sync::watch::Sender<Health>,
    /// Told the new [`Shared::committed`] after each commit, so readers are woken when what
    /// they would show is on disk instead of looking again and again. The writer only ever
    /// calls `send_replace`, which never waits for a receiver.
    commits: tokio::sync::watch::Sender<u64>,
    /// The `max_page_count` the writer is to apply ([`UNLIMITED_PAGES`] by default); tests
    /// lower it to fill the "disk".
    max_pages: AtomicU64,
    /// Unit tests only: while set, the writer holds every batch before writing it, so a test
    /// can look at the world between a post and its commit without racing the writer.
    #[cfg(test)]
    held: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn health(&self) -> Health {
        Health::from_u8(self.health.load(Ordering::Acquire))
    }

    /// Records a new health; returns whether it changed.
    fn set_health(&self, health: Health) -> bool {
        let old = self.health.swap(health.as_u8(), Ordering::AcqRel);
        if old == health.as_u8() {
            return false;
        }
        self.changes.send_replace(health);
        true
    }
}

/// The sending side of the writer queue and the ops that did not fit into it.
struct Queue {
    /// `None` once the store is closed, which also tells the writer to finish.
    sender: Option<SyncSender<Op>>,
    /// Ops that found the queue full, oldest first; always newer than everything in the queue.
    overflow: VecDeque<Op>,
    /// Ops queued so far: the ticket of the last one.
    enqueued: u64,
}

/// One unit of work for the writer thread.
enum Op {
    /// A public-channel message; `seq` is already converted to SQLite's integer type.
    Message {
        channel: String,
        seq: i64,
        unix_micros: i64,
        author: String,
        text: String,
        kind: MessageKind,
        /// Cluster mode: the stream sequence of the event this message applies, recorded in
        /// the same transaction (`store/cluster.rs`).
        cursor: Option<(String, i64)>,
    },
    /// Cluster mode: an event that stored no message was applied up to this stream sequence.
    ClusterCursor(String, i64),
    /// A direct message; `nick_a <= nick_b`, so a pair has one spelling.
    Direct {
        nick_a: String,
        nick_b: String,
        unix_micros: i64,
        author: String,
        text: String,
        kind: MessageKind,
    },
    /// A new channel topic.
    Topic {
        channel: String,
        topic: String,
        author: String,
        unix_micros: i64,
    },
    /// What the wizard learned about a client.
    Client {
        listener: String,
        address: String,
        config: String,
    },
    /// A nick claimed by an ssh key, new or seen again.
    PutClaim(StoredClaim),
    /// A nick no key holds any more.
    ReleaseClaim(String),
    /// A ban, mute, channel mode, role, ignore, lockdown or audit row (`moderation.rs`).
    Moderation(ModWrite),
    /// An account, new or changed (password, last seen, saved toggles).
    PutAccount(StoredAccount),
    /// An account that lapsed, with its keys (by folded name).
    DeleteAccount(String),
    /// An ssh key attached to an account.
    PutAccountKey(StoredAccountKey),
    /// An ssh key detached (by fingerprint).
    DeleteAccountKey(String),
    /// A direct message waiting for its recipient, or its delivery (`offline.rs`).
    Offline(OfflineWrite),
    /// A read marker moved or was dropped (`markers.rs`).
    Marker(MarkerWrite),
    /// Answered once every op queued before it has been written.
    Flush(mpsc::Sender<()>),
    /// Writes nothing; wakes the writer (and takes a ticket, like every op).
    Nothing,
}

/// What a committed message survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A crash or `kill -9` of the server (`synchronous=NORMAL` in WAL mode: a commit is in
    /// the WAL file, in the OS's hands, before anyone sees it). A power cut may roll back the
    /// last commits, never corrupt the file.
    ProcessCrash,
    /// Also a power cut (`synchronous=FULL`: an fsync per commit, which a slow disk makes
    /// everyone wait for, since nobody sees a message before it is committed).
    PowerCut,
}

impl Store {
    /// Opens (or creates) the database at `path` and starts the writer thread.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, Durability::ProcessCrash, QUEUE_CAPACITY)
    }

    /// [`Store::open`] with a chosen durability.
    pub fn open_durable(path: &Path, durability: Durability) -> Result<Store, StoreError> {
        Store::open_with(path, durability, QUEUE_CAPACITY)
    }

    /// [`Store::open`] with a chosen queue capacity, so tests can force the overflow path.
    #[cfg(test)]
    fn open_with_capacity(path: &Path, capacity: usize) -> Result<Store, StoreError> {
        Store::open_with(path, Durability::ProcessCrash, capacity)
    }

    fn open_with(
        path: &Path,
        durability: Durability,
        capacity: usize,
    ) -> Result<Store, StoreError> {
        let shared_lock = take_lock(path, LockKind::Shared)?;
        let conn = open_writer(path, durability)?;
        // The file exists now (open_writer created it): this is the one the writer writes.
        let identity = file_identity(path).map_err(|source| StoreError::Stat {
            path: path.to_owned(),
            source,
        })?;
        let reader = Reader::open(path)?;
        let pool = ReaderPool::open(path, POOL_READERS)?;

        let (sender, receiver) = mpsc::sync_channel(capacity);
        let queue = Arc::new(Mutex::new(Queue {
            sender: Some(sender),
            overflow: VecDeque::new(),
            enqueued: 0,
        }));
        let shared = Arc::new(Shared {
            committed: AtomicU64::new(0),
            health: AtomicU8::new(Health::Healthy.as_u8()),
            changes: tokio::sync::watch::Sender::new(Health::Healthy),
            commits: tokio::sync::watch::Sender::new(0),
            max_pages: AtomicU64::new(UNLIMITED_PAGES),
            #[cfg(test)]
            held: std::sync::atomic::AtomicBool::new(false),
        });
        let writer = Writer {
            conn,
            receiver,
            queue: Arc::clone(&queue),
            shared: Arc::clone(&shared),
            path: path.to_owned(),
            identity,
            max_pages: UNLIMITED_PAGES,
        };
        let handle = thread::Builder::new()
            .name("r0c-store".into())
            .spawn(move || writer.run())
            .map_err(StoreError::Spawn)?;
        tracing::info!(path = %path.display(), "history database opened");
        Ok(Store {
            queue,
            reader: Mutex::new(reader),
            pool,
            path: path.to_owned(),
            writer: Mutex::new(Some(handle)),
            shared,
            _shared_lock: shared_lock,
        })
    }

    /// Queues a public-channel message; never blocks. Returns its ticket (see
    /// [`Store::is_committed`]).
    pub fn append_message(&self, channel: &str, message: StoredMessage) -> u64 {
        self.append_message_at(channel, message, None)
    }

    /// [`Store::append_message`] for an event of the cluster's stream: the message and the
    /// stream's cursor (`stream`, `seq`) are committed in one transaction, so a restarted
    /// node applies the stream from exactly after it.
    pub fn append_message_at(
        &self,
        channel: &str,
        message: StoredMessage,
        cursor: Option<(&str, u64)>,
    ) -> u64 {
        let cursor = match cursor.map(|(stream, seq)| (stream, i64::try_from(seq))) {
            None => None,
            Some((stream, Ok(seq))) => Some((stream.to_owned(), seq)),
            Some((_, Err(_))) => {
                tracing::error!("stream sequence too large, message not stored");
                return TICKET_NEVER;
            }
        };
        let Ok(seq) = i64::try_from(message.seq) else {
            tracing::error!(
                channel,
                seq = message.seq,
                "sequence number too large, message not stored"
            );
            return TICKET_NEVER;
        };
        self.enqueue(Op::Message {
            channel: channel.to_owned(),
            seq,
            unix_micros: message.unix_micros,
            author: message.author,
            text: message.text,
            kind: message.kind,
            cursor,
        })
    }

    /// Cluster mode: queues the stream's cursor for an applied event that stored no message;
    /// never blocks.
    pub fn cluster_cursor(&self, stream: &str, seq: u64) -> u64 {
        let Ok(seq) = i64::try_from(seq) else {
            return TICKET_NEVER;
        };
        self.enqueue(Op::ClusterCursor(stream.to_owned(), seq))
    }

    /// The database file (cluster mode backs it up into a snapshot).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Cluster mode: the last sequence of `stream` this node applied (from its own file).
    pub fn read_cluster_cursor(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        Ok(cluster::read(lock(&self.reader).connection(), stream)?)
    }

    /// Queues a direct message between two nicks; never blocks.
    ///
    /// The pair is stored sorted, so both directions of a conversation share one spelling.
    /// Direct messages are never loaded back: a nick is no proof of identity.
    pub fn append_direct(
        &self,
        nick_a: &str,
        nick_b: &str,
        unix_micros: i64,
        author: &str,
        text: &str,
        kind: MessageKind,
    ) -> u64 {
        let (nick_a, nick_b) = if nick_a <= nick_b {
            (nick_a, nick_b)
        } else {
            (nick_b, nick_a)
        };
        self.enqueue(Op::Direct {
            nick_a: nick_a.to_owned(),
            nick_b: nick_b.to_owned(),
            unix_micros,
            author: author.to_owned(),
            text: text.to_owned(),
            kind,
        })
    }

    /// The ticket of the newest write handed to the store so far.
    pub fn last_ticket(&self) -> u64 {
        lock(&self.queue).enqueued
    }

    /// Writes handed to the store and not yet committed.
    pub fn pending_writes(&self) -> u64 {
        let enqueued = lock(&self.queue).enqueued;
        enqueued.saturating_sub(self.shared.committed.load(Ordering::Acquire))
    }

    /// Whether the write with this ticket is committed ([`TICKET_NOT_STORED`] always is,
    /// [`TICKET_NEVER`] never is).
    pub fn is_committed(&self, ticket: u64) -> bool {
        ticket <= self.shared.committed.load(Ordering::Acquire)
    }

    /// Whether the store can write right now; the world refuses new messages unless it is
    /// [`Health::Healthy`].
    pub fn health(&self) -> Health {
        self.shared.health()
    }

    /// A receiver that sees every change of [`Store::health`].
    pub fn health_changes(&self) -> tokio::sync::watch::Receiver<Health> {
        self.shared.changes.subscribe()
    }

    /// A receiver of the committed count: every ticket up to its value is committed (see
    /// [`Store::is_committed`]). It changes only after a commit, never before, so whoever
    /// waits on it is woken when something new can be shown.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.commits.subscribe()
    }

    /// Tests only: limits the database to `pages` pages (SQLite's `max_page_count` on the
    /// write connection, applied before the next write), which fills the "disk"; `None`
    /// lifts the limit. SQLite never lowers it below the pages already in use.
    #[doc(hidden)]
    pub fn limit_pages_for_tests(&self, pages: Option<u64>) {
        self.shared
            .max_pages
            // SQLite reads 0 as "leave it as it is".
            .store(
                pages.map_or(UNLIMITED_PAGES, |pages| pages.max(1)),
                Ordering::Release,
            );
        // Wakes an idle writer, so a lifted limit lets a waiting batch through at its next try.
        self.enqueue(Op::Nothing);
    }

    /// Unit tests only: nothing is committed until the returned guard is dropped (see
    /// `Shared::held`). A guard, so a failing test lets the writer go and its store can close.
    #[cfg(test)]
    pub(crate) fn hold_commits(&self) -> CommitHold {
        self.shared.held.store(true, Ordering::Release);
        CommitHold(Arc::clone(&self.shared))
    }

    /// Queues the new topic of a channel, who set it and when; never blocks.
    pub fn set_topic(&self, channel: &str, topic: &str, author: &str, unix_micros: i64) {
        self.enqueue(Op::Topic {
            channel: channel.to_owned(),
            topic: topic.to_owned(),
            author: author.to_owned(),
            unix_micros,
        });
    }

    /// Queues the saved settings of the client at `address` on `listener`; never blocks.
    pub fn save_client(&self, listener: &str, address: &str, config: &str) {
        self.enqueue(Op::Client {
            listener: listener.to_owned(),
            address: address.to_owned(),
            config: config.to_owned(),
        });
    }

    /// Queues a nick claim (new, taken over, or its key seen again); never blocks.
    pub fn put_claim(&self, claim: StoredClaim) {
        self.enqueue(Op::PutClaim(claim));
    }

    /// Queues the release of the claim on a (folded) nick; never blocks.
    pub fn release_claim(&self, nick: &str) {
        self.enqueue(Op::ReleaseClaim(nick.to_owned()));
    }

    /// Queues a moderation write; never blocks. Returns its ticket, so a reply can wait
    /// for the commit.
    pub fn moderate(&self, write: ModWrite) -> u64 {
        self.enqueue(Op::Moderation(write))
    }

    /// Queues an offline-message write; never blocks. Returns its ticket, so the sender is
    /// told only once it is committed.
    pub fn offline(&self, write: OfflineWrite) -> u64 {
        self.enqueue(Op::Offline(write))
    }

    /// Every message waiting for its recipient, for the world to hold in memory from startup.
    pub fn offline_messages(&self) -> Result<Vec<StoredOffline>, StoreError> {
        Ok(offline::read_all(lock(&self.reader).connection())?)
    }

    /// Queues a read-marker write; never blocks.
    pub fn marker(&self, write: MarkerWrite) -> u64 {
        self.enqueue(Op::Marker(write))
    }

    /// Every read marker, for the world to hold in memory from startup.
    pub fn read_markers(&self) -> Result<Vec<StoredMarker>, StoreError> {
        Ok(markers::read_all(lock(&self.reader).connection())?)
    }

    /// Everything moderation keeps, for the world to hold in memory from startup.
    pub fn moderation(&self) -> Result<StoredModeration, StoreError> {
        Ok(moderation::read_all(lock(&self.reader).connection())?)
    }

    /// Queues an account, new or changed; never blocks. Returns the write's ticket, so the
    /// owner is told only once it is committed.
    pub fn put_account(&self, account: StoredAccount) -> u64 {
        self.enqueue(Op::PutAccount(account))
    }

    /// Queues the removal of an account (by folded name) and its keys; never blocks.
    pub fn delete_account(&self, folded: &str) -> u64 {
        self.enqueue(Op::DeleteAccount(folded.to_owned()))
    }

    /// Queues an ssh key attached to an account; never blocks. Returns the ticket.
    pub fn put_account_key(&self, key: StoredAccountKey) -> u64 {
        self.enqueue(Op::PutAccountKey(key))
    }

    /// Queues an ssh key detached from its account; never blocks. Returns the ticket.
    pub fn delete_account_key(&self, fingerprint: &str) -> u64 {
        self.enqueue(Op::DeleteAccountKey(fingerprint.to_owned()))
    }

    /// Every account and every attached key, for the world to keep in memory from startup.
    pub fn accounts(&self) -> Result<(Vec<StoredAccount>, Vec<StoredAccountKey>), StoreError> {
        let reader = lock(&self.reader);
        Ok((reader.accounts()?, reader.account_keys()?))
    }

    /// Every nick claim, for the world to keep in memory from startup.
    pub fn claims(&self) -> Result<Vec<StoredClaim>, StoreError> {
        lock(&self.reader).claims()
    }

    /// The saved settings of the client at `address` on `listener`, if any.
    pub fn client(&self, listener: &str, address: &str) -> Result<Option<String>, StoreError> {
        lock(&self.reader).client(listener, address)
    }

    /// The newest `limit` messages of a channel, oldest first (from the database, i.e. what is
    /// committed).
    pub fn recent_messages(
        &self,
        channel: &str,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.messages_before(channel, u64::MAX, limit)
    }

    /// The newest `limit` messages of a channel numbered below `before`, oldest first.
    pub fn messages_before(
        &self,
        channel: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        lock(&self.reader).messages_before(channel, before, limit)
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
        lock(&self.reader).messages_from(channel, from, before, limit)
    }

    /// The number of the first message of a channel posted at or after `unix_micros`, among
    /// those numbered below `before` (`/g` to a moment older than the history in memory).
    pub fn first_seq_at(
        &self,
        channel: &str,
        unix_micros: i64,
        before: u64,
    ) -> Result<Option<u64>, StoreError> {
        lock(&self.reader).first_seq_at(channel, unix_micros, before)
    }

    /// The highest stored sequence number of the channel, so numbering continues across restarts.
    pub fn last_seq(&self, channel: &str) -> Result<Option<u64>, StoreError> {
        lock(&self.reader).last_seq(channel)
    }

    /// The stored topic of a channel, if one was ever set.
    pub fn topic(&self, channel: &str) -> Result<Option<String>, StoreError> {
        lock(&self.reader).topic(channel)
    }

    /// The pool of read connections history reads share.
    pub fn pool(&self) -> &ReaderPool {
        &self.pool
    }

    /// Runs `read` with a reader of the pool. Blocks: call it on a blocking thread, holding a
    /// permit of the pool's semaphore (`crate::history` does both).
    pub fn read_pooled<T>(
        &self,
        read: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.pool.with_reader(&self.path, read)
    }

    /// Blocks until everything queued before this call has been committed; while writes
    /// fail, that is until they work again. Returns at once after [`Store::close`].
    pub fn flush(&self) {
        let (ack, done) = mpsc::channel();
        self.enqueue(Op::Flush(ack));
        // An error only means the writer is gone, so nothing is left to wait for.
        let _ = done.recv();
    }

    /// [`Store::flush`] for at most `limit`; returns whether everything queued before the
    /// call is committed.
    pub fn flush_within(&self, limit: Duration) -> bool {
        let (ack, done) = mpsc::channel();
        if self.enqueue(Op::Flush(ack)) == TICKET_NEVER {
            return false;
        }
        done.recv_timeout(limit).is_ok()
    }

    /// Commits everything queued and stops the writer thread; blocks until that is done.
    /// While writes fail, the writer keeps trying for [`CLOSE_PATIENCE`], then gives up
    /// and logs how many writes were lost (none of them was shown to anyone).
    ///
    /// Later writes are logged and dropped; reads keep working. Calling it again does nothing,
    /// and dropping the store calls it.
    pub fn close(&self) {
        // The guard must be gone before joining: the writer locks the queue while it drains.
        drop(lock(&self.queue).sender.take());
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("history writer thread panicked");
        }
    }

    /// Hands an op to the writer without ever waiting for it (see the module docs) and returns
    /// its ticket: its number in queue order, or [`TICKET_NEVER`] when it could not be queued.
    fn enqueue(&self, op: Op) -> u64 {
        let mut queue = lock(&self.queue);
        let Queue {
            sender,
            overflow,
            enqueued,
        } = &mut *queue;
        let Some(sender) = sender else {
            if !matches!(op, Op::Flush(_) | Op::Nothing) {
                tracing::warn!("history store is closed, a write was dropped");
            }
            return TICKET_NEVER;
        };
        if !overflow.is_empty() {
            overflow.push_back(op);
            *enqueued += 1;
            return *enqueued;
        }
        match sender.try_send(op) {
            Ok(()) => {}
            Err(TrySendError::Full(op)) => {
                tracing::debug!("history queue full, buffering writes in memory");
                overflow.push_back(op);
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("history writer is gone, a write was dropped");
                self.shared.set_health(Health::Gone);
                return TICKET_NEVER;
            }
        }
        *enqueued += 1;
        *enqueued
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// Opens (or creates) the database for writing: schema brought up to date, WAL mode, the
/// chosen durability, and a test write, so a file that cannot be written is an error here and
/// not a silent start. Used by the store's writer and by `r0c import`.
pub(crate) fn open_writer(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    make_private(path);
    // Without SQLITE_OPEN_URI, so a path is always a path and never a `file:` URI.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    let read_only = |source| StoreError::ReadOnly {
        path: path.to_owned(),
        source,
    };
    // SQLite falls back to reading when it may not write; that would be a server that stores
    // nothing.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(open_error)? {
        return Err(read_only(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            Some("the file (or its directory) is read-only".into()),
        )));
    }
    // Checked first, so a file from a newer r0c is left exactly as it was.
    let found = migrate(&mut conn).map_err(|error| match error {
        rusqlite::Error::SqliteFailure(code, _) if code.code == rusqlite::ErrorCode::ReadOnly => {
            read_only(error)
        }
        error => open_error(error),
    })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
        });
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "history database is not in WAL mode");
    }
    conn.execute_batch(match durability {
        Durability::ProcessCrash => "PRAGMA synchronous = NORMAL",
        Durability::PowerCut => "PRAGMA synchronous = FULL",
    })
    .map_err(open_error)?;
    // A real write (the schema version, rewritten unchanged): the only sure test that the
    // file, its WAL and the file system take writes.
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ))
    .map_err(|error| {
        let _ = conn.execute_batch("ROLLBACK");
        read_only(error)
    })?;
    make_private(path);
    Ok(conn)
}

/// Creates the database file 0600 if it does not exist yet (SQLite then gives its `-wal` and
/// `-shm` files the same mode), and tightens the files of an existing database that others
/// could read, saying so in the log. Problems are only logged: a file we cannot chmod is
/// still a working database.
fn make_private(database: &Path) {
    match File::options()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(database)
    {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        // SQLite says it better when it tries to open the file itself.
        Err(_) => return,
    }
    let mut names = vec![database.as_os_str().to_owned()];
    for suffix in ["-wal", "-shm", ".lock"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        names.push(name);
    }
    for name in names {
        tighten(Path::new(&name));
    }
}

/// Takes away whatever group and others may do with `path` (a database file: 0644 becomes
/// 0600; the app dir: 0755 becomes 0700), leaving the owner's bits alone; logs what it did,
/// once per file and start. A symlink is left as it is. Used for the app dir too.
pub fn tighten(path: &Path) {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return;
    };
    if metadata.file_type().is_symlink() {
        return;
    }
    let old = metadata.permissions().mode() & 0o7777;
    if old & 0o077 == 0 {
        return;
    }
    let new = old & !0o077;
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(new)) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            "permissions tightened from {old:04o} to {new:04o}: it holds chat history and direct messages"
        ),
        Err(error) => tracing::warn!(
            path = %path.display(),
            %error,
            "others may read this ({old:04o}), and its permissions cannot be tightened"
        ),
    }
}

/// The device and inode of `path`: what the writer compares to notice a replaced file.
fn file_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

/// The lock file of the database at `database`: its name with `.lock` appended.
///
/// SQLite's own locks last one transaction; this one lasts as long as a process uses the
/// file, which is what tells a server and an import apart.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Who holds the lock file: servers share it, an import holds it alone.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockKind {
    Shared,
    Exclusive,
}

/// Opens (creating it if needed) and locks the lock file of `database`, without waiting.
///
/// An exclusive lock that cannot be had means a server (or another import) has the database
/// open; a shared one that cannot be had means an import is running.
pub(crate) fn take_lock(database: &Path, kind: LockKind) -> Result<File, StoreError> {
    let path = lock_path(database);
    let lock_error = |source| StoreError::Lock {
        path: path.clone(),
        source,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(lock_error)?;
    let locked = match kind {
        LockKind::Shared => file.try_lock_shared(),
        LockKind::Exclusive => file.try_lock(),
    };
    match locked {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) if kind == LockKind::Shared => {
            Err(StoreError::Importing { path })
        }
        Err(TryLockError::WouldBlock) => Err(StoreError::InUse { path }),
        Err(TryLockError::Error(error)) => Err(lock_error(error)),
    }
}

/// Brings the schema up to [`SCHEMA_VERSION`]; returns the version found, untouched if newer.
fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    // IMMEDIATE, so two processes opening a fresh file cannot both create the tables.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found == 0 {
        tx.execute_batch(SCHEMA_V1)?;
    }
    if found < 2 {
        tx.execute_batch(SCHEMA_V2)?;
    }
    if found < 3 {
        tx.execute_batch(SCHEMA_V3)?;
    }
    if found < 4 {
        tx.execute_batch(SCHEMA_V4)?;
    }
    if found < 5 {
        tx.execute_batch(moderation::SCHEMA_V5)?;
    }
    if found < 6 {
        tx.execute_batch(offline::SCHEMA_V6)?;
    }
    if found < 7 {
        tx.execute_batch(search::SCHEMA_V7)?;
    }
    if found < 8 {
        tx.execute_batch(markers::SCHEMA_V8)?;
    }
    if found < 9 {
        tx.execute_batch(cluster::SCHEMA_V9)?;
    }
    if found < 10 {
        tx.execute_batch(SCHEMA_V10)?;
    }
    tx.commit()?;
    Ok(found)
}

/// One message row of `MESSAGES_BEFORE` or `MESSAGES_FROM`.
pub(crate) fn stored_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        seq: seq_from_sql(0, row.get(0)?)?,
        unix_micros: row.get(1)?,
        author: row.get(2)?,
        text: row.get(3)?,
        kind: MessageKind::from_sql(row.get(4)?),
    })
}

/// A sequence number as a query bound; numbers past SQLite's range bound nothing.
pub(crate) fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A row count as a `LIMIT`.
fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Converts a stored sequence number back; it is never negative unless someone edited the file.
fn seq_from_sql(column: usize, seq: i64) -> rusqlite::Result<u64> {
    u64::try_from(seq).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(column, seq))
}

/// Locks a mutex, recovering from poisoning: every critical section here leaves the data
/// consistent, so a panic elsewhere is no reason to stop storing history.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer thread's state: the only write connection and the receiving end of the queue.
struct Writer {
    /// The write connection, used by this thread only.
    conn: Connection,
    /// The receiving end of the bounded queue.
    receiver: Receiver<Op>,
    /// Shared with the handle, to take ops from the overflow once the queue is empty.
    queue: Arc<Mutex<Queue>>,
    /// Commit count and health, shared with the handle.
    shared: Arc<Shared>,
    /// The database file.
    path: PathBuf,
    /// Device and inode of the file the connection opened.
    identity: (u64, u64),
    /// The `max_page_count` last applied to the connection.
    max_pages: u64,
}

/// Marks the store [`Health::Gone`] when the writer thread ends, however it ends (a panic
/// included), so nothing waits for commits that will never come.
struct GoneOnExit(Arc<Shared>);

impl Drop for GoneOnExit {
    fn drop(&mut self) {
        self.0.set_health(Health::Gone);
    }
}

impl Writer {
    /// Writes batches until the store is closed and everything queued is written.
    fn run(mut self) {
        let _gone_on_exit = GoneOnExit(Arc::clone(&self.shared));
        let mut batch = Vec::new();
        let mut overflow_left = false;
        loop {
            // While the overflow holds ops, the queue may stay empty, so do not wait on it.
            let closed = !overflow_left
                && match self.receiver.recv_timeout(IDENTITY_CHECK) {
                    Ok(op) => {
                        batch.push(op);
                        false
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        // Idle: a deleted database is noticed even when nobody writes.
                        if self.file_is_gone() {
                            self.mark_gone();
                        } else if self.shared.health() == Health::Gone {
                            self.recovered();
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => true,
                };
            overflow_left = self.gather(&mut batch);
            if batch.is_empty() {
                if closed {
                    return;
                }
                continue;
            }
            if !self.commit(&mut batch) {
                self.give_up(batch.len());
                return;
            }
        }
    }

    /// Moves waiting ops into `batch`, up to [`MAX_BATCH`]; returns whether the overflow still
    /// holds ops.
    fn gather(&self, batch: &mut Vec<Op>) -> bool {
        self.drain_queue(batch);
        let mut queue = lock(&self.queue);
        // Callers only send while holding this lock, so once the queue is empty here, the
        // overflow holds exactly the ops that are newer than everything taken so far.
        self.drain_queue(batch);
        if batch.len() < MAX_BATCH {
            let take = queue.overflow.len().min(MAX_BATCH - batch.len());
            batch.extend(queue.overflow.drain(..take));
        }
        !queue.overflow.is_empty()
    }

    /// Moves ops from the queue into `batch` until it is empty or the batch is full.
    fn drain_queue(&self, batch: &mut Vec<Op>) {
        while batch.len() < MAX_BATCH {
            match self.receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => return,
            }
        }
    }

    /// Writes the batch in one transaction, then counts it committed and answers its flushes.
    ///
    /// A failure (disk full, a read-only file, a lock held too long by another process) keeps
    /// the batch: it is tried again with backoff until it is written, the health saying
    /// meanwhile that writes fail. Returns false only if the store is being closed and the
    /// batch still failed after [`CLOSE_PATIENCE`].
    fn commit(&mut self, batch: &mut Vec<Op>) -> bool {
        #[cfg(test)]
        while self.shared.held.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(1));
        }
        let mut delay = RETRY_FIRST;
        let mut closing_since: Option<Instant> = None;
        loop {
            let started = Instant::now();
            self.apply_page_limit();
            if self.file_is_gone() {
                self.mark_gone();
            } else {
                match write_batch(&mut self.conn, batch) {
                    Ok(()) => {
                        crate::metrics::store_commit(started.elapsed().as_secs_f64());
                        break;
                    }
                    Err(error) => {
                        if self.shared.set_health(Health::Failing) {
                            tracing::error!(
                                %error,
                                path = %self.path.display(),
                                "history writes fail; new messages are refused until they work again"
                            );
                        }
                    }
                }
            }
            if self.closing() {
                let since = *closing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= CLOSE_PATIENCE {
                    return false;
                }
            }
            self.pause(delay);
            delay = (delay * 2).min(RETRY_MAX);
        }
        // Ops arrive in queue order, so the batch's tickets follow the ones committed before.
        let committed = self
            .shared
            .committed
            .fetch_add(batch.len() as u64, Ordering::AcqRel)
            + batch.len() as u64;
        // Told after the count is up, so whoever is woken finds the batch committed; this
        // never waits for the receivers.
        self.shared.commits.send_replace(committed);
        if self.shared.health() != Health::Healthy {
            self.recovered();
        }
        for op in batch.drain(..) {
            if let Op::Flush(ack) = op {
                // The flushing caller may have gone; nobody else needs the answer.
                let _ = ack.send(());
            }
        }
        true
    }

    /// The database path names another file or none: says so once.
    fn mark_gone(&self) {
        if self.shared.set_health(Health::Gone) {
            tracing::error!(
                path = %self.path.display(),
                "the history database was deleted or replaced; new messages are refused and nothing is written until it is back"
            );
        }
    }

    /// Writes work (again): says so once.
    fn recovered(&self) {
        if self.shared.set_health(Health::Healthy) {
            tracing::warn!(path = %self.path.display(), "history writes work again");
        }
    }

    /// Whether [`Store::close`] was called.
    fn closing(&self) -> bool {
        lock(&self.queue).sender.is_none()
    }

    /// Waits `delay` before the next try, or less if a test changed the page limit.
    fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay;
        loop {
            let now = Instant::now();
            if now >= until || self.shared.max_pages.load(Ordering::Acquire) != self.max_pages {
                return;
            }
            thread::sleep((until - now).min(RETRY_FIRST));
        }
    }

    /// Applies a page limit set by [`Store::limit_pages_for_tests`].
    fn apply_page_limit(&mut self) {
        let wanted = self.shared.max_pages.load(Ordering::Acquire);
        if wanted == self.max_pages {
            return;
        }
        match self
            .conn
            .query_row(&format!("PRAGMA max_page_count = {wanted}"), [], |row| {
                row.get::<_, i64>(0)
            }) {
            Ok(_) => self.max_pages = wanted,
            Err(error) => tracing::warn!(%error, "cannot set max_page_count"),
        }
    }

    /// Whether the database path no longer names the file the connection writes (deleted,
    /// replaced, or its directory gone).
    fn file_is_gone(&self) -> bool {
        file_identity(&self.path).map_or(true, |identity| identity != self.identity)
    }

    /// The store is closing and writes still fail: the rest is lost, and said so.
    fn give_up(&mut self, in_batch: usize) {
        let mut lost = in_batch;
        while self.receiver.try_recv().is_ok() {
            lost += 1;
        }
        let overflow = std::mem::take(&mut lock(&self.queue).overflow);
        lost += overflow.len();
        tracing::error!(
            lost,
            path = %self.path.display(),
            "history writes still fail at shutdown; writes not saved (none of them was shown)"
        );
    }
}

/// Writes all ops of a batch in one transaction.
fn write_batch(conn: &mut Connection, batch: &[Op]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for op in batch {
        match op {
            Op::Message {
                channel,
                seq,
                unix_micros,
                author,
                text,
                kind,
                cursor,
            } => {
                if let Some((stream, applied)) = cursor {
                    tx.prepare_cached(cluster::PUT_CURSOR)?
                        .execute(params![stream, applied])?;
                }
                tx.prepare_cached(ENSURE_CHANNEL)?.execute([channel])?;
                let inserted = tx.prepare_cached(INSERT_MESSAGE)?.execute(params![
                    channel,
                    seq,
                    unix_micros,
                    author,
                    text,
                    kind.to_sql()
                ])?;
                // A plain INSERT would fail the whole batch, losing the other messages in it.
                if inserted == 0 {
                    tracing::warn!(
                        channel,
                        seq,
                        "sequence number already stored, message dropped"
                    );
                }
            }
            Op::Direct {
                nick_a,
                nick_b,
                unix_micros,
                author,
                text,
                kind,
            } => {
                tx.prepare_cached(INSERT_DIRECT)?.execute(params![
                    nick_a,
                    nick_b,
                    unix_micros,
                    author,
                    text,
                    kind.to_sql()
                ])?;
            }
            Op::ClusterCursor(stream, applied) => {
                tx.prepare_cached(cluster::PUT_CURSOR)?
                    .execute(params![stream, applied])?;
            }
            Op::Topic {
                channel,
                topic,
                author,
                unix_micros,
            } => {
                tx.prepare_cached(SET_TOPIC)?.execute(params![
                    channel,
                    topic,
                    author,
                    unix_micros
                ])?;
            }
            Op::Client {
                listener,
                address,
                config,
            } => {
                tx.prepare_cached(SAVE_CLIENT)?
                    .execute(params![listener, address, config])?;
            }
            Op::PutClaim(claim) => {
                tx.prepare_cached(PUT_CLAIM)?.execute(params![
                    claim.nick,
                    claim.fingerprint,
                    claim.claimed_at,
                    claim.last_seen
                ])?;
            }
            Op::ReleaseClaim(nick) => {
                tx.prepare_cached(RELEASE_CLAIM)?.execute([nick])?;
            }
            Op::Moderation(write) => moderation::write(&tx, write)?,
            Op::Offline(write) => offline::write(&tx, write)?,
            Op::Marker(write) => markers::write(&tx, write)?,
            Op::PutAccount(account) => {
                tx.prepare_cached(PUT_ACCOUNT)?.execute(params![
                    account.folded,
                    account.name,
                    account.phc,
                    account.created_at,
                    account.last_seen,
                    account.prefs
                ])?;
            }
            Op::DeleteAccount(folded) => {
                tx.prepare_cached(DELETE_ACCOUNT_KEYS)?.execute([&folded])?;
                tx.prepare_cached(DELETE_ACCOUNT)?.execute([folded])?;
            }
            Op::PutAccountKey(key) => {
                tx.prepare_cached(PUT_ACCOUNT_KEY)?.execute(params![
                    key.fingerprint,
                    key.account,
                    key.added_at
                ])?;
            }
            Op::DeleteAccountKey(fingerprint) => {
                tx.prepare_cached(DELETE_ACCOUNT_KEY)?
                    .execute([fingerprint])?;
            }
            Op::Flush(_) | Op::Nothing => {}
        }
    }
    tx.commit()
}
