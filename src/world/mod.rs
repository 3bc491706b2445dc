//! The chat world: users, channels, messages and membership, and the only place they change.
//!
//! Client tasks call the methods of [`World`]; each takes the one lock, changes what it must,
//! wakes the users whose screens are affected and returns. Nothing awaits while holding the lock.
//! Clients then pull what they display with [`World::view`] and render at their own pace.

mod history;
pub mod nick;
mod text_rules;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{Health, Store, StoredMessage, TICKET_NEVER, TICKET_NOT_STORED};
use crate::text;
pub use history::{GotoStep, JoinStep, Load, LoadedChannel, MemorySlice, Span};
pub use text_rules::{ChannelNameError, mentions, normalize_channel_name};

/// Identifies a connected user for the lifetime of their connection.
pub type UserId = u64;
/// Identifies a channel (public, direct or status) while it exists in memory.
pub type ChannelId = u64;

/// The pseudo-author of system lines (joins, parts, nick and topic changes).
pub const AUTHOR_SYSTEM: &str = "--";
/// The pseudo-author of `/me` lines and wipes.
pub const AUTHOR_ACTION: &str = "***";
/// The pseudo-author of informational command output.
pub const AUTHOR_INFO: &str = "-nfo-";
/// The pseudo-author of errors.
pub const AUTHOR_ERROR: &str = "-err-";
/// The pseudo-author of broadcasts and day changes.
pub const AUTHOR_BROADCAST: &str = "-!-";

/// The alias of every user's status window.
pub const STATUS_ALIAS: &str = "r0c-status";

/// How many nicks of users who left are remembered, and for how long, for the look-alike
/// check of new nicks.
const DEPARTED_KEPT: usize = 256;
const DEPARTED_REMEMBERED: std::time::Duration = std::time::Duration::from_secs(600);

/// The longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 512;

/// An `@all` or `@everyone` pings a user at most this often.
const AT_ALL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Notices kept for a client that shows none (its screen too small, say).
const MAX_NOTICES: usize = 16;

/// How many nicks a channel remembers for its activity-ordered nick list.
const RECENT_SPEAKERS_KEPT: usize = 32;

/// How many channels and conversations one user may have open by default
/// (`--max-chans-per-user`); IRC servers allow 20 to 120.
pub const DEFAULT_MAX_WINDOWS_PER_USER: usize = 64;
/// How many public and direct-message channels the server holds at once by default
/// (`--max-chans`).
pub const DEFAULT_MAX_CHANNELS: usize = 10_000;

/// A channel shows at most one nick-change line per user this often; changes in between are
/// folded into one "is now known as" line when the interval is over.
pub const NICK_LINE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// One chat line as stored and displayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Position in its channel; grows by one per message and never repeats within a channel.
    pub seq: u64,
    /// When it was posted, in microseconds since the Unix epoch (UTC).
    pub unix_micros: i64,
    /// A nick, or one of the `AUTHOR_*` pseudo-authors.
    pub author: String,
    /// Canonical text (see [`crate::text`]): printable characters and formatting tokens only.
    pub text: String,
    /// Where it came from, so the IRC bridge knows what to relay and where not to echo it.
    pub origin: Origin,
    /// The store's ticket for writing it ([`TICKET_NOT_STORED`]: not stored by design, or
    /// loaded from the store): clients show it once the store has committed it, so a crash
    /// loses nothing anyone has seen.
    pub ticket: u64,
    /// Its lines as rendered for VT100 readers, shared by readers laid out alike.
    pub lines: crate::term::style::LineCache,
    /// Worked out on first use: which nicks it may mention.
    pub mention_index: std::sync::OnceLock<text_rules::MentionIndex>,
}

impl Message {
    /// Whether the message mentions `nick` (or, with `at_all`, says `@all` or `@everyone`), as
    /// [`mentions`] on its text without formatting; cheap for all but the few it may mention.
    pub fn mentions(&self, nick: &str, at_all: bool) -> bool {
        let index = self
            .mention_index
            .get_or_init(|| text_rules::MentionIndex::of(&text::plain(&self.text)));
        (at_all && index.at_all())
            || (index.may_mention(nick, false) && mentions(&text::plain(&self.text), nick, false))
    }
}

/// Where a message came from. Only the IRC bridge looks at this; it is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// System lines, command output, broadcasts and history read back from the store: these
    /// never leave r0c.
    Internal,
    /// Typed by a local user (a message or a `/me`).
    Local,
    /// Arrived over IRC bridge link number `link` (an index into the configured `--ircb`s).
    Bridge(usize),
}

/// The prefix of every IRC nick shown in r0c. A local nick must start with a letter or digit,
/// so no local user can pass for someone on IRC, or the other way round.
pub const IRC_NICK_PREFIX: char = '~';

/// How an IRC nick is shown in r0c: sanitized, without blanks, at most
/// [`nick::MAX_NICK_CHARS`] characters, after [`IRC_NICK_PREFIX`]. `None` if nothing is left.
pub fn irc_author(irc_nick: &str) -> Option<String> {
    let clean: String = text::sanitize_plain(irc_nick)
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(nick::MAX_NICK_CHARS)
        .collect();
    (!clean.is_empty()).then(|| format!("{IRC_NICK_PREFIX}{clean}"))
}

/// What sort of conversation a channel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelKind {
    /// A named channel anyone can join; the name is stored without the `#`.
    Public { name: String },
    /// A private conversation between two users.
    Direct,
    /// One user's status window: command output, notices, the welcome text.
    Status,
}

/// Per-user settings that the world needs to know (mentions, mention log) or that a client
/// renders with; saved per client by a later issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefs {
    /// Bell level 0-3 (`/b0`..`/b3`).
    pub bell: u8,
    /// Whether `@all` and `@everyone` mention this user (`/ey`, `/en`).
    pub at_all: bool,
    /// Whether mentions are copied into the status window (`/hsy`, `/hsn`).
    pub hilight_log: bool,
    /// Whether nicks are shown in per-nick colours (`/cy`, `/cn`).
    pub colored_nicks: bool,
    /// Whether wrapped lines are indented under the text (`/my`, `/mn`).
    pub margins: bool,
}

/// One window of a user: which channel it shows and how far the user has read it.
#[derive(Debug, Clone)]
struct Window {
    /// The channel this window shows.
    channel: ChannelId,
    /// The name the user sees for it: the partner's nick in a DM, `r0c-status` for status.
    alias: String,
    /// Messages with a sequence number below this have been read.
    read_upto: u64,
    /// The newest message that mentioned the user, if any.
    last_ping: Option<u64>,
}

/// A connected user.
#[derive(Debug)]
struct User {
    nick: String,
    address: IpAddr,
    /// The connection's address and port, which log lines name as `peer`.
    peer: SocketAddr,
    admin: bool,
    /// Window 0 is always the status window; the rest in the order joined.
    windows: Vec<Window>,
    /// Index into `windows` of the window on screen.
    active: usize,
    /// The channel that was active before the current one, for alt-tab style returns.
    previous: Option<ChannelId>,
    prefs: Prefs,
    /// Wakes the user's connection task when something it displays changed.
    wake: Arc<Notify>,
    /// A new message woke the client and it has not fetched its view since: more messages
    /// need no wake-up of their own (one per message per member would be most of a post).
    woken: bool,
    /// One-line notices for the active window (command feedback), until a frame showed them
    /// (`World::notices_shown`); at most [`MAX_NOTICES`], the newest.
    notices: VecDeque<String>,
    /// Set when the whole screen should be drawn again (window switch, broadcast).
    needs_redraw: bool,
    /// The one-time explanation of notifications has been given.
    tip_given: bool,
    /// Per public channel, mentions older than this sequence number were already reported
    /// in the status window, so re-joining does not repeat them.
    mentions_reported: HashMap<String, u64>,
    /// When an `@all` last pinged this user: `@all` pings at most every [`AT_ALL_INTERVAL`].
    last_all_ping: Option<std::time::Instant>,
}

/// A channel in memory.
#[derive(Debug)]
struct Channel {
    kind: ChannelKind,
    topic: String,
    messages: VecDeque<Arc<Message>>,
    next_seq: u64,
    members: Vec<UserId>,
    /// Nicks by most recent activity (join, message, nick change), newest first.
    recent_speakers: Speakers,
    /// Bridged to IRC: the channel exists from startup and stays open when empty.
    bridged: bool,
    /// Woken when a new message here is committed: the IRC bridge links reading this channel.
    watchers: Vec<Arc<Notify>>,
    /// Members whose last nick-change line here is recent, so further changes are folded.
    nick_lines: HashMap<UserId, NickLine>,
}

/// When a member's last nick-change line was shown in a channel, and the nick before the
/// changes that were folded since.
#[derive(Debug)]
struct NickLine {
    /// Until then, nick changes of this member are not shown here one by one.
    quiet_until: std::time::Instant,
    /// The nick the folded changes started from; shown with the current nick when the quiet
    /// time is over.
    folded_from: Option<String>,
}

/// A channel's nicks by most recent activity, newest first, with the list as the status bar
/// shows it. The list is joined once per change, not once per frame of every reader.
#[derive(Debug, Default)]
struct Speakers {
    order: VecDeque<String>,
    joined: Arc<str>,
}

impl Speakers {
    fn iter(&self) -> impl Iterator<Item = &String> {
        self.order.iter()
    }

    fn joined(&self) -> Arc<str> {
        self.joined.clone()
    }

    /// `nick` was active: it moves to the front.
    fn note(&mut self, nick: &str) {
        if self.order.front().is_some_and(|n| n == nick) {
            return;
        }
        self.order.retain(|n| n != nick);
        self.order.push_front(nick.to_string());
        self.order.truncate(RECENT_SPEAKERS_KEPT);
        self.rejoin();
    }

    fn forget(&mut self, nick: &str) {
        let before = self.order.len();
        self.order.retain(|n| n != nick);
        if self.order.len() != before {
            self.rejoin();
        }
    }

    fn rename(&mut self, old: &str, new: &str) {
        for speaker in self.order.iter_mut().filter(|s| **s == old) {
            *speaker = new.to_string();
        }
        self.rejoin();
    }

    fn rejoin(&mut self) {
        let parts: Vec<&str> = self.order.iter().map(String::as_str).collect();
        self.joined = parts.join(", ").into();
    }
}

/// Counters for `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    pub users: usize,
    pub public_channels: usize,
    pub private_channels: usize,
    pub users_in_channels: usize,
}

/// Fixed settings of the world, from the command line.
#[derive(Debug, Clone)]
pub struct WorldSettings {
    /// Salt of the automatic nicks (`--nsalt`).
    pub nick_salt: String,
    /// Messages loaded from the store when a channel is created (`--hist-rd`).
    pub hist_rd: usize,
    /// Messages kept in memory per channel (`--hist-mem`).
    pub hist_mem: usize,
    /// Messages dropped at once when `hist_mem` is exceeded (`--hist-tsz`).
    pub hist_tsz: usize,
    /// The admin password for `/auth`.
    pub password: String,
    /// Whether localhost must `/auth` too (`--ara`).
    pub admin_requires_auth: bool,
    /// Default of `@all` mentions for new users is off (`--no-all`).
    pub no_all: bool,
    /// Channels and direct-message windows one user may have open, the status window not
    /// counted (`--max-chans-per-user`).
    pub max_windows_per_user: usize,
    /// Public and direct-message channels open at once on the server (`--max-chans`).
    pub max_channels: usize,
}

/// What a user sees of one window at one moment, copied out under the lock.
#[derive(Debug, Clone)]
pub struct View {
    /// The user's nick.
    pub nick: String,
    /// Index of the active window (0 = status).
    pub window_index: usize,
    /// Identity of the active channel, so a client notices a window switch.
    pub channel: ChannelId,
    /// What sort of channel is active.
    pub kind: ChannelKind,
    /// `#name`, the DM partner's nick, or `r0c-status`.
    pub label: String,
    /// Member count, for public channels.
    pub member_count: Option<usize>,
    /// The topic bar text.
    pub topic: String,
    /// Messages of the active window newer than what the caller had, oldest first.
    pub messages: Vec<Arc<Message>>,
    /// Sequence number of the first message not shown yet: the next one to be posted, or
    /// the first one the store has not committed.
    pub next_seq: u64,
    /// Some messages wait for the store to commit them; the user is woken when they are.
    pub waiting_for_store: bool,
    /// Messages of the active window from this sequence number on are unread.
    pub read_upto: u64,
    /// Windows (by index) with unread mentions, other than the active one.
    pub hilight_windows: Vec<usize>,
    /// The active window has an unread mention (shown in `h:` while scrolled up in it).
    pub active_hilight: bool,
    /// Windows (by index) with unread messages, other than the active one.
    pub activity_windows: Vec<usize>,
    /// Activity-ordered nicks of a public channel, joined with ", ".
    pub nicklist: Arc<str>,
    /// Command feedback to show once.
    pub notices: Vec<String>,
    /// The whole screen must be drawn again.
    pub redraw: bool,
    /// The user's settings.
    pub prefs: Prefs,
    /// Whether the user is an administrator.
    pub admin: bool,
}

/// A map keyed by the ids the world hands out itself (users, channels).
type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Hashes ids the world counts up itself: one multiply spreads them well enough, and no peer
/// chooses them, so SipHash's protection is not needed here. A post looks up every member of
/// its channel, which made SipHash the biggest cost of a busy channel's fan-out.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // The golden-ratio multiplier: odd, so distinct low bits stay distinct.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The state behind the lock.
#[derive(Debug, Default)]
struct State {
    users: IdMap<User>,
    nicks: HashMap<String, UserId>,
    channels: IdMap<Channel>,
    public_by_name: HashMap<String, ChannelId>,
    /// Skeletons ([`nick::skeleton`]) of the nicks online, so checking a new nick for
    /// look-alikes is a lookup, not a pass over every user.
    skeletons: HashMap<String, Vec<String>>,
    /// Nicks of users who left, their skeletons, and when: a look-alike of a recent nick is
    /// refused.
    departed: VecDeque<(String, String, std::time::Instant)>,
    /// Public and direct-message channels in memory (status windows not counted), for
    /// `max_channels`.
    chat_channels: usize,
    /// The store's newest ticket when a public channel last closed: opening a channel waits
    /// for the store only while that is not committed, so a new channel costs no wait.
    last_close_ticket: u64,
    /// Folded nick changes, by when their summary line is due: (due, channel, user).
    nick_folds_due:
        std::collections::BinaryHeap<std::cmp::Reverse<(std::time::Instant, ChannelId, UserId)>>,
    /// Failed `/auth` attempts per address: how many, since when.
    failed_auth: HashMap<crate::front::admission::AddressKey, (u32, std::time::Instant)>,
    next_user: UserId,
    next_channel: ChannelId,
    /// Messages the store has not committed yet, as (ticket, channel), in ticket order (every
    /// stored message is queued under the lock): their channels' members are woken once
    /// the store commits them ([`World::wake_committed`]), not when they are posted, because
    /// nobody may see them before.
    uncommitted: VecDeque<(u64, ChannelId)>,
    /// Tasks to wake once the lock is released ([`Locked`]): a task woken while the lock is
    /// still held would only wait for it.
    wakes: Vec<Arc<Notify>>,
}

/// The world's lock, held. When dropped it releases the lock first and then wakes the tasks
/// the critical section collected in [`State::wakes`], so no woken client queues up behind
/// the lock of the task that woke it.
struct Locked<'a> {
    /// Always `Some` until `drop` takes it to release the lock before the wake-ups.
    guard: Option<MutexGuard<'a, State>>,
}

impl Deref for Locked<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        self.guard
            .as_deref()
            .expect("the lock is held until the guard is dropped")
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard
            .as_deref_mut()
            .expect("the lock is held until the guard is dropped")
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        if guard.wakes.is_empty() {
            return;
        }
        let wakes = std::mem::take(&mut guard.wakes);
        drop(guard);
        for wake in wakes {
            wake.notify_one();
        }
    }
}

/// The shared chat world; cheap to clone through an `Arc`.
pub struct World {
    /// A std mutex, not a tokio one: every critical section is short, in-memory work that never
    /// awaits, and clients never hold it while writing to their sockets.
    state: Mutex<State>,
    store: Arc<Store>,
    settings: WorldSettings,
    /// Cancelled by `/sd`: the server then shuts down cleanly.
    shutdown: CancellationToken,
    /// Connections still in the first-connect wizard (they are not users yet).
    in_wizard: std::sync::atomic::AtomicIsize,
    /// Running totals for `--bench`.
    activity: ActivityCounters,
    /// Users past the wizard, readable without the lock (clients space their frames by it).
    users_online: std::sync::atomic::AtomicUsize,
    /// `/bc` and `/sd` announcements for connections still in the wizard, which have no
    /// window to show them in: they get the text raw, as in r0c.
    wizard_broadcasts: tokio::sync::broadcast::Sender<Arc<str>>,
}

/// Running totals of joins, parts and posted messages since start, for `--bench`. Atomics,
/// so the periodic report reads them without taking the world's lock.
#[derive(Debug, Default)]
struct ActivityCounters {
    joins: AtomicU64,
    parts: AtomicU64,
    messages: AtomicU64,
}

/// A snapshot of [`World::activity`]: totals since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Channel memberships created: status windows, public channels and direct messages.
    pub joins: u64,
    /// Channel memberships ended, by `/part` or by disconnecting.
    pub parts: u64,
    /// Messages posted anywhere, system lines and status-window notices included.
    pub messages: u64,
}

/// Why a `/nick` was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NickError {
    #[error("that nick is taken")]
    Taken,
    /// Not a valid nick: callers check with [`nick::check_nick`] first; this keeps anything
    /// else (control characters, formatting tokens) out of the world regardless.
    #[error("that is not a valid nick")]
    Invalid,
    /// Too easily mistaken for someone online or recently active (`I` for `l`, `0` for
    /// `o`, `rn` for `m`...).
    #[error("that nick looks too much like {0}")]
    LooksLike(String),
}

/// What became of an `/auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Ok,
    Wrong,
    /// Too many failures from this address; try again in this many minutes.
    TooMany {
        minutes: u64,
    },
}

/// Failed `/auth` attempts allowed per address within [`FAILED_AUTH_WINDOW`].
pub const MAX_FAILED_AUTH: u32 = 5;
/// The window over which failed `/auth` attempts are counted.
pub const FAILED_AUTH_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// Why a `/msg` could not be delivered.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectError {
    #[error("\"{0}\" is not online")]
    NotOnline(String),
    /// A new conversation would pass a window or channel limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The store cannot write right now (see [`PostError::StoreUnavailable`]).
    #[error("{}", PostError::StoreUnavailable)]
    StoreUnavailable,
}

/// Why a window could not be opened: one of the limits that keep what one user can make the
/// server hold bounded. Each says which limit it is, so the user knows what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "you have {max} channels and conversations open, the most one user may have here; /part one first"
    )]
    Windows { max: usize },
    #[error("{nick} has {max} channels and conversations open and cannot take another one")]
    PartnerWindows { nick: String, max: usize },
    #[error(
        "the server has {max} channels open, the most it allows; join an existing one or try later"
    )]
    Channels { max: usize },
}

/// Why a `/join` did not join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// Opening a channel that is not in memory waits for earlier writes to be committed,
    /// which cannot happen while the store cannot write.
    #[error("cannot open #{0}: the server cannot save messages right now")]
    StoreUnavailable(String),
}

/// Why a message (or a topic) was not posted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The store cannot write right now (disk full, read-only, the database deleted): a
    /// message would be shown to nobody until it could be saved, so it is refused instead.
    #[error("not sent: the server cannot save messages right now")]
    StoreUnavailable,
    /// Not possible here, for the reason given (a status window, a topic too long...).
    #[error("{0}")]
    Refused(String),
}

impl From<&str> for PostError {
    fn from(text: &str) -> PostError {
        PostError::Refused(text.to_string())
    }
}

impl From<String> for PostError {
    fn from(text: String) -> PostError {
        PostError::Refused(text)
    }
}

/// The line every connected user gets when the store stops being able to write.
pub const STORE_FAILING_NOTICE: &str =
    "the server cannot save messages right now; new messages are refused until it can";
/// The line every connected user gets when the store can write again.
pub const STORE_RECOVERED_NOTICE: &str = "the server can save messages again";

/// Announcements kept for a wizard connection that has not read them yet; one that falls
/// further behind skips the oldest.
const WIZARD_BROADCASTS_KEPT: usize = 8;

impl World {
    /// Creates an empty world that persists public history into `store`.
    pub fn new(settings: WorldSettings, store: Arc<Store>, shutdown: CancellationToken) -> World {
        World {
            state: Mutex::new(State::default()),
            store,
            settings,
            shutdown,
            in_wizard: std::sync::atomic::AtomicIsize::new(0),
            activity: ActivityCounters::default(),
            users_online: Default::default(),
            wizard_broadcasts: tokio::sync::broadcast::channel(WIZARD_BROADCASTS_KEPT).0,
        }
    }

    /// Announcements (`/bc`, `/sd`) for a connection in the wizard, from now on: each is
    /// the plain text of the broadcast.
    pub fn wizard_broadcasts(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.wizard_broadcasts.subscribe()
    }

    /// Joins, parts and messages since start (what `--bench` prints).
    pub fn activity(&self) -> Activity {
        Activity {
            joins: self.activity.joins.load(Ordering::Relaxed),
            parts: self.activity.parts.load(Ordering::Relaxed),
            messages: self.activity.messages.load(Ordering::Relaxed),
        }
    }

    /// The history store (also where client settings are saved).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Whether new messages can be accepted: only while the store can write them.
    fn check_store(&self) -> Result<(), PostError> {
        match self.store.health() {
            Health::Healthy => Ok(()),
            Health::Failing | Health::Gone => Err(PostError::StoreUnavailable),
        }
    }

    /// The store's health changed: one line to every connected user, where they are.
    pub fn store_health_changed(&self, health: Health) {
        let text = match health {
            Health::Healthy => format!("{AUTHOR_INFO} {STORE_RECOVERED_NOTICE}"),
            Health::Failing | Health::Gone => format!("{AUTHOR_ERROR} {STORE_FAILING_NOTICE}"),
        };
        let mut state = self.lock();
        let State { users, wakes, .. } = &mut *state;
        for u in users.values_mut() {
            u.notice(text.clone());
            wakes.push(u.wake.clone());
        }
    }

    /// Asks the server to shut down after `delay` (used by `/sd`, so the announcement is seen).
    pub fn request_shutdown(&self, delay: std::time::Duration) {
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            shutdown.cancel();
        });
    }

    fn lock(&self) -> Locked<'_> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        let guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Locked { guard: Some(guard) }
    }

    /// Registers a new connection from `address`: an automatic nick and a status window whose
    /// first lines are the join line and `welcome`. Returns the user and their wake-up handle.
    pub fn connect(&self, address: IpAddr, welcome: String) -> (UserId, Arc<Notify>) {
        self.connect_with(SocketAddr::new(address, 0), welcome, None, None)
    }

    /// [`World::connect`] for a returning client: it gets `keep` back if nobody holds it now,
    /// and never gets `avoid` (it asked for a fresh start).
    pub fn connect_with(
        &self,
        peer: SocketAddr,
        welcome: String,
        keep: Option<&str>,
        avoid: Option<&str>,
    ) -> (UserId, Arc<Notify>) {
        let address = peer.ip();
        let mut state = self.lock();
        let address_text = canonical_address(address);
        let taken = |state: &State, nick: &str| {
            state.nicks.contains_key(&nick.to_lowercase())
                || avoid.is_some_and(|a| a.eq_ignore_ascii_case(nick))
        };
        let kept = keep
            .filter(|nick| matches!(nick::check_nick(nick), nick::NickCheck::Valid(_)))
            .filter(|nick| !taken(&state, nick))
            .map(str::to_string);
        let nick = kept
            .or_else(|| {
                nick::auto_nick(&self.settings.nick_salt, &address_text, |n| {
                    taken(&state, n)
                })
            })
            .unwrap_or_else(|| format!("user{}", state.next_user));
        let id = state.next_user;
        state.next_user += 1;
        let wake = Arc::new(Notify::new());
        let admin = address.is_loopback() && !self.settings.admin_requires_auth;
        let prefs = Prefs {
            bell: 1,
            at_all: !self.settings.no_all,
            hilight_log: true,
            colored_nicks: false,
            margins: true,
        };
        state.nicks.insert(nick.to_lowercase(), id);
        state.add_skeleton(&nick);
        let status = state.new_channel(
            ChannelKind::Status,
            "r0c readme (and status info)".into(),
            0,
        );
        self.users_online.fetch_add(1, Ordering::Relaxed);
        state.users.insert(
            id,
            User {
                nick: nick.clone(),
                address,
                peer,
                admin,
                windows: vec![Window {
                    channel: status,
                    alias: STATUS_ALIAS.into(),
                    read_upto: 0,
                    last_ping: None,
                }],
                active: 0,
                previous: None,
                prefs,
                wake: wake.clone(),
                notices: VecDeque::new(),
                needs_redraw: true,
                woken: false,
                tip_given: false,
                mentions_reported: HashMap::new(),
                last_all_ping: None,
            },
        );
        if let Some(channel) = state.channels.get_mut(&status) {
            channel.members.push(id);
            self.activity.joins.fetch_add(1, Ordering::Relaxed);
        }
        self.post(
            &mut state,
            status,
            AUTHOR_SYSTEM,
            &join_text(&nick),
            Ping::Nobody,
        );
        self.post(
            &mut state,
            status,
            AUTHOR_INFO,
            &text::sanitize_lines(&welcome),
            Ping::Nobody,
        );
        tracing::info!(%peer, nick, "client joined");
        (id, wake)
    }

    /// Users connected and past the wizard.
    pub fn users_online(&self) -> usize {
        self.users_online.load(Ordering::Relaxed)
    }

    /// Removes a user: they part every channel. With `announce` the others are told (a normal
    /// disconnect); without, they leave quietly (server shutdown, so history stays clean).
    pub fn disconnect(&self, user: UserId, announce: bool) {
        let mut state = self.lock();
        let Some(windows) = state.users.get(&user).map(|u| u.windows.clone()) else {
            return;
        };
        for window in windows.iter().rev() {
            self.leave_channel(&mut state, user, window.channel, announce);
        }
        if let Some(gone) = state.users.remove(&user) {
            self.users_online.fetch_sub(1, Ordering::Relaxed);
            state.nicks.remove(&gone.nick.to_lowercase());
            state.remove_skeleton(&gone.nick);
            state.departed.push_back((
                gone.nick.clone(),
                nick::skeleton(&gone.nick),
                std::time::Instant::now(),
            ));
            if state.departed.len() > DEPARTED_KEPT {
                state.departed.pop_front();
            }
            tracing::info!(peer = %gone.peer, nick = gone.nick, "client left");
        }
    }

    /// The user's nick.
    pub fn nick(&self, user: UserId) -> Option<String> {
        self.lock().users.get(&user).map(|u| u.nick.clone())
    }

    /// A frame showed the first `count` notices of the user's last view: they are done.
    /// Notices queued since that view stay for the next frame.
    pub fn notices_shown(&self, user: UserId, count: usize) {
        if count == 0 {
            return;
        }
        if let Some(u) = self.lock().users.get_mut(&user) {
            let done = count.min(u.notices.len());
            u.notices.drain(..done);
        }
    }

    /// The address and port the user connected from, for log lines.
    pub fn peer(&self, user: UserId) -> Option<SocketAddr> {
        self.lock().users.get(&user).map(|u| u.peer)
    }

    /// Copies out what the user's active window shows: messages with `seq >= since`
    /// (at most `max_messages`, the newest), the bars' contents and pending notices (they
    /// stay pending until [`World::notices_shown`]). `since = None` asks for the newest
    /// `max_messages`.
    pub fn view(&self, user: UserId, since: Option<u64>, max_messages: usize) -> Option<View> {
        let mut state = self.lock();
        let user_state = state.users.get_mut(&user)?;
        let notices: Vec<String> = user_state.notices.iter().cloned().collect();
        let redraw = std::mem::take(&mut user_state.needs_redraw);
        user_state.woken = false;
        let user_state = state.users.get(&user)?;
        let window = user_state.windows.get(user_state.active)?;
        let channel = state.channels.get(&window.channel)?;
        // Messages are ordered by sequence number: find the range by bisection, not by a scan,
        // because this runs for every frame of every client.
        // Only what the store has committed is shown (tickets grow with sequence numbers):
        // the rest follows within milliseconds, with `waiting_for_store` set meanwhile, when
        // the commit wakes the user (`World::wake_committed`).
        let shown = channel
            .messages
            .partition_point(|m| self.store.is_committed(m.ticket));
        let waiting_for_store = shown < channel.messages.len();
        let next_seq = channel
            .messages
            .get(shown)
            .map_or(channel.next_seq, |m| m.seq);
        let messages: Vec<Arc<Message>> = {
            let from = since.map_or(0, |s| channel.messages.partition_point(|m| m.seq < s));
            let from = from.max(shown.saturating_sub(max_messages)).min(shown);
            channel.messages.range(from..shown).cloned().collect()
        };
        let mut hilight_windows = Vec::new();
        let mut activity_windows = Vec::new();
        for (index, other) in user_state.windows.iter().enumerate() {
            if index == user_state.active {
                continue;
            }
            let Some(other_channel) = state.channels.get(&other.channel) else {
                continue;
            };
            if other.last_ping.is_some_and(|p| p >= other.read_upto) {
                hilight_windows.push(index);
            }
            if other_channel.next_seq > other.read_upto {
                activity_windows.push(index);
            }
        }
        let (label, member_count, nicklist) = match &channel.kind {
            ChannelKind::Public { name } => (
                format!("#{name}"),
                Some(channel.members.len()),
                channel.recent_speakers.joined(),
            ),
            ChannelKind::Direct | ChannelKind::Status => {
                (window.alias.clone(), None, Arc::default())
            }
        };
        let topic = match &channel.kind {
            ChannelKind::Direct => {
                let mut title = format!("DM with {}", window.alias);
                if window.alias.eq_ignore_ascii_case(&user_state.nick) {
                    title.push_str(" (You) (why)");
                } else if channel.members.len() < 2 {
                    title.push_str(" (disconnected)");
                }
                title
            }
            _ => channel.topic.clone(),
        };
        Some(View {
            nick: user_state.nick.clone(),
            window_index: user_state.active,
            channel: window.channel,
            kind: channel.kind.clone(),
            label,
            member_count,
            topic,
            messages,
            next_seq,
            waiting_for_store,
            read_upto: window.read_upto,
            active_hilight: window.last_ping.is_some_and(|p| p >= window.read_upto),
            hilight_windows,
            activity_windows,
            nicklist,
            notices,
            redraw,
            prefs: user_state.prefs.clone(),
            admin: user_state.admin,
        })
    }

    /// Marks the user's active window as read up to (not including) `upto`.
    pub fn mark_read(&self, user: UserId, channel: ChannelId, upto: u64) {
        let mut state = self.lock();
        if let Some(window) = state
            .users
            .get_mut(&user)
            .and_then(|u| u.windows.iter_mut().find(|w| w.channel == channel))
        {
            window.read_upto = window.read_upto.max(upto);
        }
    }

    /// Sends a line of chat from the user into their active window.
    pub fn say(&self, user: UserId, typed: &str) -> Result<(), PostError> {
        let mut state = self.lock();
        let Some(author) = state.users.get(&user) else {
            return Ok(());
        };
        let nick = author.nick.clone();
        let Some(window) = author.windows.get(author.active).cloned() else {
            return Ok(());
        };
        let Some(kind) = state.channels.get(&window.channel).map(|c| c.kind.clone()) else {
            return Ok(());
        };
        // A paste arrives as several lines in one message; each line is sanitized.
        let text = text::sanitize_lines(typed.trim_matches('\n'));
        if kind != ChannelKind::Status {
            self.check_store()?;
        }
        match kind {
            ChannelKind::Status => {
                Err("this buffer does not accept messages, only commands".into())
            }
            ChannelKind::Public { .. } => {
                self.post_from(
                    &mut state,
                    window.channel,
                    &nick,
                    &text,
                    Ping::Mentioned,
                    Origin::Local,
                );
                Ok(())
            }
            ChannelKind::Direct => self.say_direct(
                &mut state,
                user,
                window.channel,
                &window.alias,
                &nick,
                &text,
            ),
        }
    }

    /// `/me`: an action line in the active window.
    pub fn action(&self, user: UserId, typed: &str) -> Result<(), PostError> {
        let mut state = self.lock();
        let Some(author) = state.users.get(&user) else {
            return Ok(());
        };
        let nick = author.nick.clone();
        let Some(window) = author.windows.get(author.active).cloned() else {
            return Ok(());
        };
        let kind = state.channels.get(&window.channel).map(|c| c.kind.clone());
        if kind == Some(ChannelKind::Status) {
            return Err("this buffer does not accept messages, only commands".into());
        }
        self.check_store()?;
        let text = format!("\x02{nick}\x02 {}", text::sanitize_message(typed));
        self.post_from(
            &mut state,
            window.channel,
            AUTHOR_ACTION,
            &text,
            Ping::Mentioned,
            Origin::Local,
        );
        Ok(())
    }

    fn say_direct(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        alias: &str,
        nick: &str,
        text: &str,
    ) -> Result<(), PostError> {
        let members = state
            .channels
            .get(&channel)
            .map(|c| c.members.clone())
            .unwrap_or_default();
        if members.len() < 2 && !alias.eq_ignore_ascii_case(nick) {
            // The partner left or was never pulled in: invite whoever holds that nick now.
            let Some(&partner) = state.nicks.get(&alias.to_lowercase()) else {
                self.post(
                    state,
                    channel,
                    AUTHOR_ERROR,
                    &format!("failed to locate user \"{alias}\""),
                    Ping::Nobody,
                );
                return Ok(());
            };
            if partner != user {
                if let Err(LimitError::Windows { max }) =
                    state.may_open_window(partner, self.settings.max_windows_per_user)
                {
                    return Err(PostError::Refused(
                        LimitError::PartnerWindows {
                            nick: alias.to_string(),
                            max,
                        }
                        .to_string(),
                    ));
                }
                self.add_member(state, partner, channel, nick.to_string());
            }
        }
        self.post(state, channel, nick, text, Ping::Everyone);
        Ok(())
    }

    /// `/msg nick text`: opens (or reuses) a DM window with `target`, posts the text and
    /// switches the sender to it.
    pub fn direct_message(
        &self,
        user: UserId,
        target: &str,
        typed: &str,
    ) -> Result<(), DirectError> {
        let mut state = self.lock();
        if !state.nicks.contains_key(&target.to_lowercase()) {
            return Err(DirectError::NotOnline(target.to_string()));
        }
        if self.check_store().is_err() {
            return Err(DirectError::StoreUnavailable);
        }
        let Some(sender) = state.users.get(&user) else {
            return Ok(());
        };
        let (nick, peer) = (sender.nick.clone(), sender.peer);
        // The window is named after the partner's nick as they spell it.
        let target = state
            .nicks
            .get(&target.to_lowercase())
            .and_then(|id| state.users.get(id))
            .map_or_else(|| target.to_string(), |u| u.nick.clone());
        let target = target.as_str();
        let existing = sender.windows.iter().position(|w| {
            w.alias.eq_ignore_ascii_case(target)
                && state
                    .channels
                    .get(&w.channel)
                    .is_some_and(|c| c.kind == ChannelKind::Direct)
        });
        let index = match existing {
            Some(index) => index,
            None => {
                state.may_open_window(user, self.settings.max_windows_per_user)?;
                if let Some(&partner) = state.nicks.get(&target.to_lowercase())
                    && partner != user
                    && let Err(LimitError::Windows { max }) =
                        state.may_open_window(partner, self.settings.max_windows_per_user)
                {
                    return Err(LimitError::PartnerWindows {
                        nick: target.to_string(),
                        max,
                    }
                    .into());
                }
                state.may_open_channel(self.settings.max_channels)?;
                let channel = state.new_channel(ChannelKind::Direct, String::new(), 0);
                self.add_member(&mut state, user, channel, target.to_string());
                state.users.get(&user).map_or(0, |u| u.windows.len() - 1)
            }
        };
        state.switch_window(user, index);
        let Some(window) = state
            .users
            .get(&user)
            .and_then(|u| u.windows.get(index))
            .cloned()
        else {
            return Ok(());
        };
        let text = text::sanitize_message(typed);
        let _ = self.say_direct(
            &mut state,
            user,
            window.channel,
            &window.alias,
            &nick,
            &text,
        );
        tracing::info!(%peer, nick, to = target, "direct message");
        Ok(())
    }

    /// Switches to a public channel, joining it first if the user is not a member.
    fn enter_public(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        name: &str,
    ) -> Result<bool, LimitError> {
        if let Some(index) = state
            .users
            .get(&user)
            .and_then(|u| u.windows.iter().position(|w| w.channel == channel))
        {
            state.switch_window(user, index);
            return Ok(false);
        }
        let Some((nick, peer)) = state.users.get(&user).map(|u| (u.nick.clone(), u.peer)) else {
            return Ok(false);
        };
        if let Err(limit) = state.may_open_window(user, self.settings.max_windows_per_user) {
            self.close_if_empty(state, channel);
            return Err(limit);
        }
        self.add_member(state, user, channel, format!("#{name}"));
        self.report_old_mentions(state, user, channel);
        let index = state.users.get(&user).map_or(0, |u| u.windows.len() - 1);
        state.switch_window(user, index);
        tracing::info!(%peer, nick, chan = name, "join");
        Ok(true)
    }

    fn create_public(&self, state: &mut State, name: &str, loaded: LoadedChannel) -> ChannelId {
        let topic = loaded
            .topic
            .unwrap_or_else(|| format!("#{name} - no topic has been set"));
        let id = state.new_channel(
            ChannelKind::Public {
                name: name.to_string(),
            },
            topic,
            loaded.next_seq,
        );
        if let Some(channel) = state.channels.get_mut(&id) {
            // Converted (and sanitized) by the history reader, off the lock.
            channel.messages.extend(loaded.history);
            tracing::info!(
                chan = name,
                loaded = channel.messages.len(),
                "channel created"
            );
        }
        state.public_by_name.insert(name.to_string(), id);
        let created = format!(
            "\x0b6channel created at \x02{}",
            format_created(now_micros())
        );
        self.post(state, id, AUTHOR_SYSTEM, &created, Ping::Nobody);
        id
    }

    fn add_member(&self, state: &mut State, user: UserId, channel: ChannelId, alias: String) {
        let Some(nick) = state.users.get(&user).map(|u| u.nick.clone()) else {
            return;
        };
        let Some(target) = state.channels.get_mut(&channel) else {
            return;
        };
        if target.members.contains(&user) {
            return;
        }
        target.members.push(user);
        self.activity.joins.fetch_add(1, Ordering::Relaxed);
        let read_upto = target.next_seq;
        if let Some(member) = state.users.get_mut(&user) {
            member.windows.push(Window {
                channel,
                alias,
                read_upto,
                last_ping: None,
            });
        }
        self.post(
            state,
            channel,
            AUTHOR_SYSTEM,
            &join_text(&nick),
            Ping::Nobody,
        );
        state.note_speaker(channel, &nick);
    }

    /// `/part`: leaves the active window's channel. The status window cannot be left.
    pub fn part(&self, user: UserId) -> Result<(), String> {
        let mut state = self.lock();
        let Some(u) = state.users.get(&user) else {
            return Ok(());
        };
        if u.active == 0 {
            return Err("cannot part the status channel".into());
        }
        let Some(channel) = u.windows.get(u.active).map(|w| w.channel) else {
            return Ok(());
        };
        self.leave_channel(&mut state, user, channel, true);
        Ok(())
    }

    fn leave_channel(&self, state: &mut State, user: UserId, channel: ChannelId, announce: bool) {
        let Some((nick, peer)) = state.users.get(&user).map(|u| (u.nick.clone(), u.peer)) else {
            return;
        };
        let Some(kind) = state.channels.get(&channel).map(|c| c.kind.clone()) else {
            return;
        };
        if let Some(u) = state.users.get_mut(&user)
            && let Some(index) = u.windows.iter().position(|w| w.channel == channel)
        {
            u.windows.remove(index);
            // The window that takes the parted one's place becomes active (or the one before
            // it, if the parted window was the last).
            if u.active > index {
                u.active -= 1;
            }
            u.active = u.active.min(u.windows.len().saturating_sub(1));
            u.needs_redraw = true;
            let wake = u.wake.clone();
            state.wakes.push(wake);
        }
        let Some(target) = state.channels.get_mut(&channel) else {
            return;
        };
        let members_before = target.members.len();
        target.members.retain(|&m| m != user);
        if target.members.len() < members_before {
            self.activity.parts.fetch_add(1, Ordering::Relaxed);
            // The status window is left only by disconnecting, which has its own line.
            match &kind {
                ChannelKind::Public { name } => tracing::info!(%peer, nick, chan = name, "part"),
                ChannelKind::Direct => tracing::info!(%peer, nick, chan = "(direct)", "part"),
                ChannelKind::Status => {}
            }
        }
        target.recent_speakers.forget(&nick);
        // Nick changes folded here are summed up before the user's leaving is shown, so the
        // others see who it was.
        let folded = target
            .nick_lines
            .remove(&user)
            .and_then(|line| line.folded_from)
            .filter(|from| *from != nick);
        if let Some(from) = folded
            && announce
        {
            self.post(
                state,
                channel,
                AUTHOR_SYSTEM,
                &known_as_text(&from, &nick),
                Ping::Nobody,
            );
        }
        if kind != ChannelKind::Status && announce {
            let mut left = format!("\x0bb{nick}\x02 has left");
            if kind == ChannelKind::Direct {
                left.push_str("; reinvite by typing another msg here");
            }
            self.post(state, channel, AUTHOR_SYSTEM, &left, Ping::Nobody);
        }
        self.close_if_empty(state, channel);
    }

    /// An empty channel of any kind is gone (a public one is re-created from the store),
    /// unless it is bridged to IRC.
    fn close_if_empty(&self, state: &mut State, channel: ChannelId) {
        let empty = state
            .channels
            .get(&channel)
            .is_some_and(|c| c.members.is_empty() && !c.bridged);
        if !empty {
            return;
        }
        match state.channels.remove(&channel).map(|c| c.kind) {
            Some(ChannelKind::Public { name }) => {
                state.chat_channels = state.chat_channels.saturating_sub(1);
                state.public_by_name.remove(&name);
                // A channel opened again must number its messages after what it said last.
                state.last_close_ticket = self.store.last_ticket();
                tracing::info!(chan = name, "channel closed");
            }
            Some(ChannelKind::Direct) => {
                state.chat_channels = state.chat_channels.saturating_sub(1);
            }
            Some(ChannelKind::Status) | None => {}
        }
    }

    /// `/nick`: changes the user's nick; everyone in their channels is told.
    pub fn change_nick(&self, user: UserId, new_nick: &str) -> Result<(), NickError> {
        let mut state = self.lock();
        let Some((old, peer)) = state.users.get(&user).map(|u| (u.nick.clone(), u.peer)) else {
            return Ok(());
        };
        if nick::check_nick(new_nick) != nick::NickCheck::Valid(new_nick.to_string()) {
            return Err(NickError::Invalid);
        }
        if let Some(&holder) = state.nicks.get(&new_nick.to_lowercase()) {
            // Changing only the letter case of your own nick is fine (r0c refused it).
            if holder != user || old == new_nick {
                return Err(NickError::Taken);
            }
        }
        if let Some(look_alike) = state.look_alike(new_nick, &old) {
            return Err(NickError::LooksLike(look_alike));
        }
        state.nicks.remove(&old.to_lowercase());
        state.nicks.insert(new_nick.to_lowercase(), user);
        state.remove_skeleton(&old);
        state.add_skeleton(new_nick);
        let mut active = None;
        let windows = state.users.get_mut(&user).map(|u| {
            u.nick = new_nick.to_string();
            active = u.windows.get(u.active).map(|w| w.channel);
            u.windows.iter().map(|w| w.channel).collect::<Vec<_>>()
        });
        // One line per channel of the user's (at most `max_windows_per_user`), and only the DM
        // partner's window is renamed: the work is bounded by the user's own window cap, not
        // by the members of every channel they are in.
        let text = format!("\x0be{old}\x02 changed nick to \x02{new_nick}");
        let now = std::time::Instant::now();
        for channel_id in windows.unwrap_or_default() {
            let Some(channel) = state.channels.get_mut(&channel_id) else {
                continue;
            };
            channel.recent_speakers.rename(&old, new_nick);
            let kind = channel.kind.clone();
            // In a DM, the partner's window is named after this user's nick.
            let partners: Vec<UserId> = match kind {
                ChannelKind::Direct => channel
                    .members
                    .iter()
                    .copied()
                    .filter(|&m| m != user)
                    .collect(),
                _ => Vec::new(),
            };
            let mut fold_due = None;
            let shown = match channel.nick_lines.get_mut(&user) {
                // The user's own status window always says it; nobody else sees it.
                _ if kind == ChannelKind::Status => true,
                Some(line) if now < line.quiet_until => {
                    if line.folded_from.is_none() {
                        line.folded_from = Some(old.clone());
                        fold_due = Some(line.quiet_until);
                    }
                    false
                }
                _ => {
                    channel.nick_lines.insert(
                        user,
                        NickLine {
                            quiet_until: now + NICK_LINE_INTERVAL,
                            folded_from: None,
                        },
                    );
                    true
                }
            };
            if let Some(due) = fold_due {
                state
                    .nick_folds_due
                    .push(std::cmp::Reverse((due, channel_id, user)));
            }
            for partner in partners {
                if let Some(window) = state.users.get_mut(&partner).and_then(|p| {
                    p.windows
                        .iter_mut()
                        .find(|w| w.channel == channel_id && w.alias == old)
                }) {
                    window.alias = new_nick.to_string();
                }
            }
            if shown {
                self.post(&mut state, channel_id, AUTHOR_SYSTEM, &text, Ping::Nobody);
            } else {
                // The status bar's nick list still shows the new nick at once.
                Self::wake_members(&mut state, channel_id);
                if active == Some(channel_id)
                    && let Some(u) = state.users.get_mut(&user)
                {
                    u.notice(format!(
                        "{AUTHOR_INFO} you are now known as {new_nick}; this channel shows one nick change per {} seconds and will show it then",
                        NICK_LINE_INTERVAL.as_secs()
                    ));
                }
            }
        }
        tracing::info!(%peer, nick = new_nick, old, "nick change");
        Ok(())
    }

    /// Posts the "is now known as" lines of nick changes folded by [`NICK_LINE_INTERVAL`]
    /// whose quiet time is over. Called about once a second; the work is what is due.
    pub fn flush_nick_folds(&self, now: std::time::Instant) {
        let mut state = self.lock();
        while let Some(&std::cmp::Reverse((due, channel_id, user))) = state.nick_folds_due.peek() {
            if due > now {
                break;
            }
            state.nick_folds_due.pop();
            let Some(nick) = state.users.get(&user).map(|u| u.nick.clone()) else {
                continue;
            };
            let Some(line) = state
                .channels
                .get_mut(&channel_id)
                .and_then(|c| c.nick_lines.get_mut(&user))
            else {
                continue;
            };
            let Some(from) = line.folded_from.take() else {
                continue;
            };
            line.quiet_until = now + NICK_LINE_INTERVAL;
            // Back to where the churn started: nothing to tell.
            if from != nick {
                self.post(
                    &mut state,
                    channel_id,
                    AUTHOR_SYSTEM,
                    &known_as_text(&from, &nick),
                    Ping::Nobody,
                );
            }
        }
    }

    /// Wakes every member of a channel to redraw (its nick list changed), without a message.
    fn wake_members(state: &mut State, channel_id: ChannelId) {
        let State {
            channels,
            users,
            wakes,
            ..
        } = state;
        let members = channels
            .get(&channel_id)
            .map_or(&[][..], |c| &c.members[..]);
        for member in members {
            if let Some(u) = users.get(member) {
                wakes.push(u.wake.clone());
            }
        }
    }

    /// `/topic`: sets the topic of the active public channel.
    pub fn set_topic(&self, user: UserId, typed: &str) -> Result<(), PostError> {
        let mut state = self.lock();
        let Some(u) = state.users.get(&user) else {
            return Ok(());
        };
        let nick = u.nick.clone();
        let Some(channel_id) = u.windows.get(u.active).map(|w| w.channel) else {
            return Ok(());
        };
        let Some(channel) = state.channels.get_mut(&channel_id) else {
            return Ok(());
        };
        let ChannelKind::Public { name } = channel.kind.clone() else {
            return Err("cannot change the topic of private channels".into());
        };
        let topic = text::sanitize_message(typed);
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(format!("topics can be at most {MAX_TOPIC_CHARS} characters long").into());
        }
        self.check_store()?;
        let old = std::mem::replace(&mut channel.topic, topic.clone());
        self.store.set_topic(&name, &topic, &nick, now_micros());
        let line = format!(
            "\x0b6{nick} has changed the topic from [\x0f{old}\x0b6] -to-> [\x0f{topic}\x0b6]"
        );
        self.post(&mut state, channel_id, AUTHOR_SYSTEM, &line, Ping::Nobody);
        let members = state
            .channels
            .get(&channel_id)
            .map(|c| c.members.clone())
            .unwrap_or_default();
        for member in members {
            if let Some(m) = state.users.get_mut(&member) {
                m.needs_redraw = true;
            }
        }
        Ok(())
    }

    /// Switches the user to window `index`; false if there is no such window.
    pub fn switch_window(&self, user: UserId, index: usize) -> bool {
        self.lock().switch_window(user, index)
    }

    /// Moves to the previous (`-1`) or next (`+1`) window, wrapping around.
    pub fn cycle_window(&self, user: UserId, step: isize) {
        let mut state = self.lock();
        let Some(u) = state.users.get(&user) else {
            return;
        };
        let count = u.windows.len() as isize;
        let index = (u.active as isize + step).rem_euclid(count.max(1)) as usize;
        state.switch_window(user, index);
    }

    /// CTRL-E and `/a`: switches to the window that most needs attention: one with an unread
    /// mention, else the one whose unread messages have waited longest; with nothing unread,
    /// back to the previously active window. Returns false when there is nowhere to go.
    pub fn jump_to_activity(&self, user: UserId) -> bool {
        let mut state = self.lock();
        let Some(u) = state.users.get(&user) else {
            return false;
        };
        let mut best: Option<(bool, i64, usize)> = None;
        for (index, window) in u.windows.iter().enumerate() {
            if index == u.active {
                continue;
            }
            let Some(channel) = state.channels.get(&window.channel) else {
                continue;
            };
            if channel.next_seq <= window.read_upto {
                continue;
            }
            let hilight = window.last_ping.is_some_and(|p| p >= window.read_upto);
            let first_unread = channel
                .messages
                .get(
                    channel
                        .messages
                        .partition_point(|m| m.seq < window.read_upto),
                )
                .map_or(i64::MAX, |m| m.unix_micros);
            // Mentions first; among equals, the longest-waiting unread message.
            let key = (!hilight, first_unread, index);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        let target = match best {
            Some((_, _, index)) => Some(index),
            None => u
                .previous
                .and_then(|channel| u.windows.iter().position(|w| w.channel == channel)),
        };
        match target {
            Some(index) => state.switch_window(user, index),
            None => false,
        }
    }

    /// How many windows the user has.
    pub fn window_count(&self, user: UserId) -> usize {
        self.lock().users.get(&user).map_or(0, |u| u.windows.len())
    }

    /// Posts command output into the user's status window, and a one-line notice in the window
    /// they are looking at so feedback never goes unseen.
    pub fn tell(&self, user: UserId, author: &str, text: &str) {
        let mut state = self.lock();
        let Some(u) = state.users.get_mut(&user) else {
            return;
        };
        let Some(status) = u.status_window() else {
            return;
        };
        if u.active != 0 {
            // Short feedback is shown whole on one line; long output only announced.
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let shown = if lines.len() <= 3 {
                lines.join(" ")
            } else {
                format!(
                    "{}  (more in window 0: /0)",
                    lines.first().copied().unwrap_or_default()
                )
            };
            u.notice(format!(
                "{author} {}",
                text::strip_formatting(&text::sanitize_message(&shown))
            ));
            let wake = u.wake.clone();
            state.wakes.push(wake);
        }
        let sanitized = text::sanitize_lines(text);
        self.post(&mut state, status, author, &sanitized, Ping::Nobody);
    }

    /// `/auth`: makes the user an admin if the password is right. Failed attempts are
    /// logged with the address; after [`MAX_FAILED_AUTH`] of them from one address within
    /// [`FAILED_AUTH_WINDOW`], further attempts from there are refused unchecked until the
    /// window has passed, so the password cannot be guessed at speed.
    pub fn authenticate(&self, user: UserId, attempt: &str) -> AuthOutcome {
        let mut state = self.lock();
        let Some((address, peer, nick)) = state
            .users
            .get(&user)
            .map(|u| (u.address, u.peer, u.nick.clone()))
        else {
            return AuthOutcome::Wrong;
        };
        let key = crate::front::admission::AddressKey::of(address);
        let now = std::time::Instant::now();
        if let Some((count, since)) = state.failed_auth.get(&key).copied() {
            let elapsed = now.duration_since(since);
            if elapsed >= FAILED_AUTH_WINDOW {
                state.failed_auth.remove(&key);
            } else if count >= MAX_FAILED_AUTH {
                tracing::warn!(%peer, nick, "auth attempt refused: too many failures");
                let left = FAILED_AUTH_WINDOW - elapsed;
                return AuthOutcome::TooMany {
                    minutes: left.as_secs().div_ceil(60),
                };
            }
        }
        let ok = constant_time_eq(attempt.as_bytes(), self.settings.password.as_bytes());
        if ok {
            if let Some(u) = state.users.get_mut(&user) {
                u.admin = true;
            }
            tracing::info!(%peer, nick, "auth ok");
            return AuthOutcome::Ok;
        }
        let entry = state.failed_auth.entry(key).or_insert((0, now));
        entry.0 += 1;
        tracing::warn!(%peer, nick, failures = entry.0, "auth failed");
        AuthOutcome::Wrong
    }

    /// Whether the user may run admin commands.
    pub fn is_admin(&self, user: UserId) -> bool {
        self.lock().users.get(&user).is_some_and(|u| u.admin)
    }

    /// Nicks of the active channel by most recent activity, without the user's own: the
    /// candidates of tab completion.
    pub fn completion_candidates(&self, user: UserId) -> Vec<String> {
        let state = self.lock();
        let Some(u) = state.users.get(&user) else {
            return Vec::new();
        };
        let Some(channel) = u
            .windows
            .get(u.active)
            .and_then(|w| state.channels.get(&w.channel))
        else {
            return Vec::new();
        };
        channel
            .recent_speakers
            .iter()
            .filter(|n| **n != u.nick)
            .cloned()
            .collect()
    }

    /// How many messages the active window holds and when the oldest was posted.
    pub fn window_span(&self, user: UserId) -> Option<(usize, i64)> {
        let state = self.lock();
        let u = state.users.get(&user)?;
        let channel = state.channels.get(&u.windows.get(u.active)?.channel)?;
        Some((
            channel.messages.len(),
            channel.messages.front().map_or(0, |m| m.unix_micros),
        ))
    }

    /// Counts connections entering (`+1`) or leaving (`-1`) the first-connect wizard.
    pub fn wizard_count(&self, delta: isize) {
        self.in_wizard
            .fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many connections are in the first-connect wizard.
    pub fn in_wizard(&self) -> usize {
        self.in_wizard
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(0) as usize
    }

    /// The user's settings.
    pub fn prefs(&self, user: UserId) -> Option<Prefs> {
        self.lock().users.get(&user).map(|u| u.prefs.clone())
    }

    /// Changes the user's settings with `change`.
    pub fn update_prefs(&self, user: UserId, change: impl FnOnce(&mut Prefs)) {
        let mut state = self.lock();
        if let Some(u) = state.users.get_mut(&user) {
            change(&mut u.prefs);
            u.needs_redraw = true;
        }
    }

    /// `/names`: the sorted nicks in the active channel, with its label.
    pub fn names(&self, user: UserId) -> Option<(String, Vec<String>)> {
        let state = self.lock();
        let u = state.users.get(&user)?;
        let window = u.windows.get(u.active)?;
        let channel = state.channels.get(&window.channel)?;
        let mut nicks: Vec<String> = channel
            .members
            .iter()
            .filter_map(|m| state.users.get(m).map(|u| u.nick.clone()))
            .collect();
        nicks.sort_by_key(|n| n.to_lowercase());
        let label = match &channel.kind {
            ChannelKind::Public { name } => format!("#{name}"),
            _ => window.alias.clone(),
        };
        Some((label, nicks))
    }

    /// `/status`: the counters, plus for admins every user and channel, else the user's channels.
    pub fn census(&self, user: UserId) -> (Census, Vec<String>) {
        let state = self.lock();
        // Counted from what the state keeps anyway, plus one pass over the users without
        // allocating: anyone may ask, so the cost must not grow with channels times members.
        let public = state.public_by_name.len();
        let private = state.chat_channels.saturating_sub(public);
        let users_in_channels = state.users.values().filter(|u| u.windows.len() > 1).count();
        let census = Census {
            users: state.users.len(),
            public_channels: public,
            private_channels: private,
            users_in_channels,
        };
        let mut details = Vec::new();
        let Some(me) = state.users.get(&user) else {
            return (census, details);
        };
        let nicks_of = |channel: &Channel| {
            let mut nicks: Vec<String> = channel
                .members
                .iter()
                .filter_map(|m| state.users.get(m).map(|u| u.nick.clone()))
                .collect();
            nicks.sort_by_key(|n| n.to_lowercase());
            nicks.join(", ")
        };
        if me.admin {
            details.push("----- users -----".into());
            let mut users: Vec<&User> = state.users.values().collect();
            users.sort_by_key(|u| u.nick.to_lowercase());
            for u in users {
                details.push(format!(
                    "{:<15} ok  {}",
                    canonical_address(u.address),
                    u.nick
                ));
            }
            details.push("----- chans -----".into());
            let mut names: Vec<(&String, &ChannelId)> = state.public_by_name.iter().collect();
            names.sort();
            for (name, id) in names {
                if let Some(channel) = state.channels.get(id) {
                    details.push(format!("#{name}: {}", nicks_of(channel)));
                }
            }
            details.push("-----------------".into());
        } else {
            for (index, window) in me.windows.iter().enumerate() {
                if let Some(channel) = state.channels.get(&window.channel)
                    && let ChannelKind::Public { name } = &channel.kind
                {
                    details.push(format!(
                        "{} users in /{index} #{name}:  {}",
                        channel.members.len(),
                        nicks_of(channel)
                    ));
                }
            }
        }
        (census, details)
    }

    /// `/cls`: empties the active window's in-memory history (the store keeps it).
    pub fn clear_window(&self, user: UserId) -> Result<(), String> {
        let mut state = self.lock();
        let Some(u) = state.users.get(&user) else {
            return Ok(());
        };
        let (nick, admin) = (u.nick.clone(), u.admin);
        let Some(channel_id) = u.windows.get(u.active).map(|w| w.channel) else {
            return Ok(());
        };
        let Some(channel) = state.channels.get_mut(&channel_id) else {
            return Ok(());
        };
        let public = matches!(channel.kind, ChannelKind::Public { .. });
        if public && !admin {
            return Err("private channels only".into());
        }
        channel.messages.clear();
        let members = channel.members.clone();
        for member in members {
            if let Some(m) = state.users.get_mut(&member) {
                m.needs_redraw = true;
            }
        }
        let text = if public {
            format!("\x0b3channel wiped by \x02{nick}")
        } else {
            String::new()
        };
        self.post(&mut state, channel_id, AUTHOR_ACTION, &text, Ping::Nobody);
        Ok(())
    }

    /// `/fill`: posts `count` numbered copies of `text` as the user into the active window.
    pub fn fill(&self, user: UserId, count: usize, typed: &str) -> Result<(), PostError> {
        for index in 0..count {
            self.say(user, &format!("{typed} {index}"))?;
        }
        Ok(())
    }

    /// `/bc` and the day change: a line into every channel; `redraw` brings everyone's screen
    /// back to the bottom with a full redraw.
    pub fn broadcast(&self, text: &str, redraw: bool) {
        let mut state = self.lock();
        let text = text::sanitize_message(text);
        let mut ids: Vec<ChannelId> = state.channels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.post(&mut state, id, AUTHOR_BROADCAST, &text, Ping::Nobody);
        }
        let State { users, wakes, .. } = &mut *state;
        for u in users.values_mut() {
            u.needs_redraw |= redraw;
            wakes.push(u.wake.clone());
        }
        drop(state);
        // Only announcements scroll everyone back (the day change does not); r0c shows just
        // those to the wizard. No receiver (nobody in the wizard) is not an error.
        if redraw {
            let _ = self
                .wizard_broadcasts
                .send(Arc::from(text::strip_formatting(&text)));
        }
    }

    /// Counts for the periodic day-change check: whether any user is connected.
    pub fn has_users(&self) -> bool {
        !self.lock().users.is_empty()
    }

    /// Opens public channel `name` for an IRC bridge link (with `loaded`, its history as read
    /// from the store, if it is not open yet: see [`World::is_open`]) and keeps it open for
    /// good, even when empty. `watcher` is woken whenever a new message in it is committed.
    /// Returns the sequence number the next message will get: where the link starts relaying.
    pub fn open_bridged(&self, name: &str, loaded: LoadedChannel, watcher: Arc<Notify>) -> u64 {
        let channel = {
            let mut state = self.lock();
            match state.public_by_name.get(name).copied() {
                Some(channel) => channel,
                None => self.create_public(&mut state, name, loaded),
            }
        };
        let mut state = self.lock();
        let Some(channel) = state.channels.get_mut(&channel) else {
            return 0;
        };
        channel.bridged = true;
        channel.watchers.push(watcher);
        channel.next_seq
    }

    /// Up to `count` messages of public channel `name` from sequence number `from` on (fewer
    /// if older ones were trimmed from memory), only those the store has committed (like
    /// [`World::view`], so IRC is never told what might be lost), and the number of the next
    /// message to relay after them, which is also where the link stops until more are
    /// committed; for the IRC bridge. The flag says a message waits for the store.
    pub fn bridge_messages(
        &self,
        name: &str,
        from: u64,
        count: usize,
    ) -> (Vec<Arc<Message>>, u64, bool) {
        let state = self.lock();
        let Some(channel) = state
            .public_by_name
            .get(name)
            .and_then(|id| state.channels.get(id))
        else {
            return (Vec::new(), from, false);
        };
        let shown = channel
            .messages
            .partition_point(|m| self.store.is_committed(m.ticket));
        let waiting = shown < channel.messages.len();
        let next_seq = channel
            .messages
            .get(shown)
            .map_or(channel.next_seq, |m| m.seq);
        let start = channel
            .messages
            .partition_point(|m| m.seq < from)
            .min(shown);
        let messages = channel
            .messages
            .range(start..shown)
            .take(count)
            .cloned()
            .collect();
        (messages, next_seq, waiting)
    }

    /// A message (or, with `action`, a `/me`) from IRC user `irc_nick` arriving over bridge
    /// link `link` into public channel `name`. The nick is shown with [`IRC_NICK_PREFIX`];
    /// nick and text pass the sanitizer like anything typed. Local users are pinged by
    /// mentions as usual.
    pub fn post_from_irc(&self, name: &str, irc_nick: &str, text: &str, action: bool, link: usize) {
        let Some(author) = irc_author(irc_nick) else {
            return;
        };
        if self.check_store().is_err() {
            // Nobody could see it before it is saved, and it cannot be saved now.
            tracing::debug!(
                chan = name,
                "message from IRC dropped: the store cannot write"
            );
            return;
        }
        let text = text::sanitize_message(text);
        let mut state = self.lock();
        let Some(channel) = state.public_by_name.get(name).copied() else {
            return;
        };
        if action {
            let line = format!("\x02{author}\x02 {text}");
            let origin = Origin::Bridge(link);
            self.post_from(
                &mut state,
                channel,
                AUTHOR_ACTION,
                &line,
                Ping::Mentioned,
                origin,
            );
        } else {
            let origin = Origin::Bridge(link);
            self.post_from(&mut state, channel, &author, &text, Ping::Mentioned, origin);
        }
    }

    /// A system line about the IRC side of public channel `name` (joins, parts, the link
    /// going up or down). The text passes the sanitizer; it is never relayed.
    pub fn post_irc_notice(&self, name: &str, text: &str) {
        let text = text::sanitize_message(text);
        let mut state = self.lock();
        if let Some(channel) = state.public_by_name.get(name).copied() {
            self.post(&mut state, channel, AUTHOR_SYSTEM, &text, Ping::Nobody);
        }
    }

    /// Appends a message that stays inside r0c (see [`World::post_from`]).
    fn post(&self, state: &mut State, channel_id: ChannelId, author: &str, text: &str, ping: Ping) {
        self.post_from(state, channel_id, author, text, ping, Origin::Internal);
    }

    /// Appends a message to a channel: numbering, trimming, persistence, mentions, wake-ups.
    ///
    /// A message the store has yet to commit wakes nobody now: it is noted in
    /// [`State::uncommitted`], and its channel's members and watchers are woken when the store
    /// commits it ([`World::wake_committed`]), since a reader woken earlier would find nothing
    /// it may show. Only lines that are not stored (status windows) wake them at once.
    fn post_from(
        &self,
        state: &mut State,
        channel_id: ChannelId,
        author: &str,
        text: &str,
        ping: Ping,
        origin: Origin,
    ) {
        self.post_after(
            state,
            channel_id,
            author,
            text,
            ping,
            origin,
            TICKET_NOT_STORED,
        );
    }

    /// [`World::post_from`] for a line that must not be shown before the write with ticket
    /// `after` is committed: a status-window line that quotes a message (`/hilog`). Status
    /// lines are not stored, so they take the ticket of what they wait for; each also takes
    /// at least the ticket of the line before it, so a status window's tickets grow like a
    /// stored channel's and `World::view` can cut it at the first one not committed.
    #[allow(clippy::too_many_arguments)]
    fn post_after(
        &self,
        state: &mut State,
        channel_id: ChannelId,
        author: &str,
        text: &str,
        ping: Ping,
        origin: Origin,
        after: u64,
    ) {
        let Some(channel) = state.channels.get(&channel_id) else {
            return;
        };
        let seq = channel.next_seq;
        let unix_micros = now_micros();
        let kind = channel.kind.clone();
        // Queued for the store first: the ticket says when it is on disk, and clients show
        // it only then.
        let ticket = match &kind {
            ChannelKind::Public { name } => self.store.append_message(
                name,
                StoredMessage {
                    seq,
                    unix_micros,
                    author: author.to_string(),
                    text: text.to_string(),
                },
            ),
            ChannelKind::Direct => {
                let nicks: Vec<String> = channel
                    .members
                    .iter()
                    .filter_map(|m| state.users.get(m).map(|u| u.nick.clone()))
                    .collect();
                match nicks.as_slice() {
                    [a, b] => self.store.append_direct(a, b, unix_micros, author, text),
                    _ => TICKET_NOT_STORED,
                }
            }
            ChannelKind::Status => channel
                .messages
                .back()
                .map_or(TICKET_NOT_STORED, |m| m.ticket)
                .max(after),
        };
        let message = Arc::new(Message {
            seq,
            unix_micros,
            author: author.to_string(),
            text: text.to_string(),
            origin,
            ticket,
            lines: Default::default(),
            mention_index: Default::default(),
        });
        let shown_now = self.store.is_committed(ticket);
        let State {
            channels,
            wakes,
            uncommitted,
            ..
        } = &mut *state;
        let Some(channel) = channels.get_mut(&channel_id) else {
            return;
        };
        if shown_now {
            wakes.extend(channel.watchers.iter().cloned());
        } else if ticket != TICKET_NEVER
            && uncommitted
                .back()
                .is_none_or(|&(newest, _)| newest <= ticket)
        {
            // Tickets are handed out under this lock, so the list stays in ticket order. A
            // message that could not be queued is never shown, so nobody waits for it. An
            // older ticket is one a status line took over from the line before it, whose
            // entry (same ticket, same channel) is still in the list and wakes for both.
            uncommitted.push_back((ticket, channel_id));
        }
        channel.next_seq += 1;
        channel.messages.push_back(message.clone());
        self.activity.messages.fetch_add(1, Ordering::Relaxed);
        if channel.messages.len() > self.settings.hist_mem {
            let drop = self.settings.hist_tsz.clamp(1, channel.messages.len());
            channel.messages.drain(..drop);
        }
        if !author.starts_with('-') && author != AUTHOR_ACTION {
            state.note_speaker(channel_id, author);
        }
        let plain = text::plain(text);
        let mut mention_log = Vec::new();
        let mut tips = Vec::new();
        let mut mentioned = Vec::new();
        let mut says_at_all = false;
        if ping == Ping::Mentioned {
            let index = text_rules::MentionIndex::of_with(&plain, |span| {
                if let Some(user) = state.nicks.get(span) {
                    mentioned.push(*user);
                }
            });
            says_at_all = index.at_all();
            // Its readers check it for their nicks in every frame that shows it.
            let _ = message.mention_index.set(index);
        }
        // A message nobody is pinged by and nobody may see yet needs no pass over the members:
        // the commit wakes them.
        let may_ping = match ping {
            Ping::Nobody => false,
            Ping::Everyone => true,
            Ping::Mentioned => !mentioned.is_empty() || says_at_all,
        };
        if !shown_now && !may_ping {
            return;
        }
        // The members are read in place while their users change: three fields of the state.
        let State {
            channels,
            users,
            wakes,
            ..
        } = &mut *state;
        let members = channels
            .get(&channel_id)
            .map_or(&[][..], |c| &c.members[..]);
        for member in members {
            let Some(u) = users.get_mut(member) else {
                continue;
            };
            let pinged = match ping {
                Ping::Nobody => false,
                Ping::Everyone => true,
                Ping::Mentioned if mentioned.contains(member) => true,
                // An `@all` pings each user at most every AT_ALL_INTERVAL, so nobody can ring
                // everyone's bell over and over.
                Ping::Mentioned if says_at_all && u.prefs.at_all => {
                    let now = std::time::Instant::now();
                    let due = u
                        .last_all_ping
                        .is_none_or(|t| now.duration_since(t) >= AT_ALL_INTERVAL);
                    if due && u.nick != author {
                        u.last_all_ping = Some(now);
                    }
                    due
                }
                Ping::Mentioned => false,
            } && u.nick != author;
            if pinged {
                if let Some(window) = u.windows.iter_mut().find(|w| w.channel == channel_id) {
                    window.last_ping = Some(message.seq);
                }
                let elsewhere = u
                    .windows
                    .get(u.active)
                    .is_some_and(|w| w.channel != channel_id);
                if elsewhere
                    && kind != ChannelKind::Status
                    && !std::mem::replace(&mut u.tip_given, true)
                {
                    tips.push((*member, kind.clone()));
                }
                if let ChannelKind::Public { name } = &kind {
                    u.mentions_reported.insert(name.clone(), message.seq + 1);
                }
                if let (ChannelKind::Public { name }, true, Some(status)) =
                    (&kind, u.prefs.hilight_log, u.status_window())
                {
                    mention_log.push((
                        status,
                        format!("you were mentioned in \x02#{name}:\x0f {author} {text}"),
                    ));
                }
            }
            if shown_now && !std::mem::replace(&mut u.woken, true) {
                wakes.push(u.wake.clone());
            }
        }
        // The line quotes the message, so it waits for the same commit; a message that could
        // not be queued is never shown, and neither is its quote.
        if ticket != TICKET_NEVER {
            for (status, line) in mention_log {
                self.post_after(
                    state,
                    status,
                    AUTHOR_INFO,
                    &line,
                    Ping::Nobody,
                    Origin::Internal,
                    ticket,
                );
            }
        }
        for (member, kind) in tips {
            self.explain_notifications(state, member, &kind);
        }
    }

    /// The store has committed every write up to ticket `committed`: wakes the members and
    /// watchers of each channel with a message among them, once per channel, and each member
    /// at most once until it fetches its view again (`User::woken`). Called by
    /// [`wake_after_commits`]; calling it again with the same or an older count does nothing.
    pub fn wake_committed(&self, committed: u64) {
        let mut state = self.lock();
        let State {
            uncommitted,
            channels,
            users,
            wakes,
            ..
        } = &mut *state;
        let mut channel_ids = Vec::new();
        while let Some(&(ticket, channel_id)) = uncommitted.front() {
            if ticket > committed {
                break;
            }
            uncommitted.pop_front();
            channel_ids.push(channel_id);
        }
        // A batch often holds many messages of a few channels: each is woken once.
        channel_ids.sort_unstable();
        channel_ids.dedup();
        for channel_id in channel_ids {
            // A channel closed since its message was posted has nobody left to wake.
            let Some(channel) = channels.get(&channel_id) else {
                continue;
            };
            wakes.extend(channel.watchers.iter().cloned());
            for member in &channel.members {
                if let Some(u) = users.get_mut(member)
                    && !std::mem::replace(&mut u.woken, true)
                {
                    wakes.push(u.wake.clone());
                }
            }
        }
    }

    /// The first mention elsewhere: explain how to get there, in the status window, with a
    /// one-line notice where the user is. Unlike r0c, the user is not pulled out of their window.
    fn explain_notifications(&self, state: &mut State, user: UserId, kind: &ChannelKind) {
        let what = match kind {
            ChannelKind::Public { name } => format!("someone mentioned your nick in #{name}."),
            _ => "someone sent you a private message.".to_string(),
        };
        let Some(u) = state.users.get_mut(&user) else {
            return;
        };
        u.notice(format!(
            "{AUTHOR_INFO} {what} CTRL-E or /a jumps there; /b0 silences the bell"
        ));
        let Some(status) = u.status_window() else {
            return;
        };
        let text = format!(
            "[about notifications]\n{what}\n  to jump through unread channels\n  (or return to the previous one),\n  press CTRL-E or use the command /a\n\n  to disable audible alerts,\n  use the command /b0"
        );
        self.post(state, status, AUTHOR_INFO, &text, Ping::Nobody);
    }

    /// After joining a public channel: lists mentions of the user in its history that were not
    /// reported yet (at most 50 among the newest 9000 messages), oldest first.
    fn report_old_mentions(&self, state: &mut State, user: UserId, channel_id: ChannelId) {
        let Some(u) = state.users.get(&user) else {
            return;
        };
        let Some(channel) = state.channels.get(&channel_id) else {
            return;
        };
        let ChannelKind::Public { name } = &channel.kind else {
            return;
        };
        if !u.prefs.hilight_log {
            return;
        }
        let reported = u.mentions_reported.get(name).copied().unwrap_or(0);
        let now = now_micros();
        let mut found: Vec<String> = channel
            .messages
            .iter()
            .rev()
            .take(9000)
            .take_while(|m| m.seq >= reported)
            .filter(|m| m.author != u.nick && !m.author.starts_with('-'))
            .filter(|m| m.mentions(&u.nick, u.prefs.at_all))
            .take(50)
            .map(|m| {
                let when = jiff::Timestamp::from_microsecond(m.unix_micros)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                format!(
                    "{} ago ({}) you were mentioned in \x02#{name}:\x0f {} {}",
                    age((now - m.unix_micros) / 1_000_000),
                    when.strftime("%Y-%m-%d %H:%M"),
                    m.author,
                    m.text
                )
            })
            .collect();
        found.reverse();
        let Some(status) = u.status_window() else {
            return;
        };
        let next = channel.next_seq;
        let name = name.clone();
        if let Some(u) = state.users.get_mut(&user) {
            u.mentions_reported.insert(name, next);
        }
        for line in found {
            self.post(state, status, AUTHOR_INFO, &line, Ping::Nobody);
        }
    }
}

/// Where `/g` jumps to in the active window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goto {
    /// The message at this position among those in memory (0 = oldest).
    Index(usize),
    /// This far into the messages in memory, in percent.
    Percent(f64),
    /// The first message at or after this moment (microseconds since the epoch, UTC), in
    /// memory or, when that is older than everything in memory, in the store.
    Time(i64),
}

/// Which side of a sequence number [`World::messages`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Around {
    /// The newest messages before this sequence number.
    Before(u64),
    /// The oldest messages from this sequence number on.
    From(u64),
}

/// Who a new message notifies as a mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ping {
    /// Nobody (system lines).
    Nobody,
    /// Members whose nick (or `@all`) the text mentions.
    Mentioned,
    /// Every member but the author (direct messages).
    Everyone,
}

impl User {
    /// Queues a notice for the active window; the oldest go when a client shows none.
    fn notice(&mut self, text: String) {
        self.notices.push_back(text);
        while self.notices.len() > MAX_NOTICES {
            self.notices.pop_front();
        }
    }

    /// The user's status window (window 0), which exists from connect to disconnect.
    fn status_window(&self) -> Option<ChannelId> {
        self.windows.first().map(|w| w.channel)
    }
}

impl State {
    fn new_channel(&mut self, kind: ChannelKind, topic: String, next_seq: u64) -> ChannelId {
        let id = self.next_channel;
        self.next_channel += 1;
        if kind != ChannelKind::Status {
            self.chat_channels += 1;
        }
        self.channels.insert(
            id,
            Channel {
                kind,
                topic,
                messages: VecDeque::new(),
                next_seq,
                members: Vec::new(),
                recent_speakers: Speakers::default(),
                bridged: false,
                watchers: Vec::new(),
                nick_lines: HashMap::new(),
            },
        );
        id
    }

    /// A nick online or recently gone (other than `own`) that `nick` could be mistaken for.
    /// A lookup in the skeleton index plus a pass over the few recent departures.
    fn look_alike(&self, nick: &str, own: &str) -> Option<String> {
        let wanted = nick::skeleton(nick);
        let other = |candidate: &&str| {
            !candidate.eq_ignore_ascii_case(own) && !candidate.eq_ignore_ascii_case(nick)
        };
        let online = self
            .skeletons
            .get(&wanted)
            .into_iter()
            .flatten()
            .map(String::as_str);
        let departed = self
            .departed
            .iter()
            .filter(|(_, skeleton, when)| {
                *skeleton == wanted && when.elapsed() < DEPARTED_REMEMBERED
            })
            .map(|(nick, _, _)| nick.as_str());
        online.chain(departed).find(other).map(str::to_string)
    }

    fn add_skeleton(&mut self, nick: &str) {
        self.skeletons
            .entry(nick::skeleton(nick))
            .or_default()
            .push(nick.to_string());
    }

    fn remove_skeleton(&mut self, nick: &str) {
        let skeleton = nick::skeleton(nick);
        if let Some(nicks) = self.skeletons.get_mut(&skeleton) {
            if let Some(index) = nicks.iter().position(|n| n == nick) {
                nicks.swap_remove(index);
            }
            if nicks.is_empty() {
                self.skeletons.remove(&skeleton);
            }
        }
    }

    /// Whether `user` may open one more channel or conversation window.
    fn may_open_window(&self, user: UserId, max: usize) -> Result<(), LimitError> {
        // Window 0, the status window, does not count.
        let open = self
            .users
            .get(&user)
            .map_or(0, |u| u.windows.len().saturating_sub(1));
        if open >= max {
            return Err(LimitError::Windows { max });
        }
        Ok(())
    }

    /// Whether one more public or direct-message channel may be opened on the server.
    fn may_open_channel(&self, max: usize) -> Result<(), LimitError> {
        if self.chat_channels >= max {
            return Err(LimitError::Channels { max });
        }
        Ok(())
    }

    fn note_speaker(&mut self, channel: ChannelId, nick: &str) {
        if let Some(channel) = self.channels.get_mut(&channel) {
            channel.recent_speakers.note(nick);
        }
    }

    fn switch_window(&mut self, user: UserId, index: usize) -> bool {
        let Some(u) = self.users.get_mut(&user) else {
            return false;
        };
        if index >= u.windows.len() {
            return false;
        }
        if index != u.active {
            let leaving = u.windows[u.active].channel;
            u.previous = Some(leaving);
            u.active = index;
        }
        let channel = u.windows[index].channel;
        let next_seq = self.channels.get(&channel).map_or(0, |c| c.next_seq);
        u.windows[index].read_upto = next_seq;
        u.needs_redraw = true;
        let wake = u.wake.clone();
        self.wakes.push(wake);
        true
    }
}

/// Wakes readers when what they would show is committed: waits on the store's commit count
/// ([`Store::commits`]) and hands each new count to [`World::wake_committed`], until
/// `shutdown`. Posts wake nobody for a message the store has yet to commit, so the server runs
/// this task for as long as it serves; a commit that lands while the world is busy is folded
/// into the next count, never lost (a `watch` keeps the newest value).
pub async fn wake_after_commits(world: Arc<World>, shutdown: CancellationToken) {
    let mut commits = world.store.commits();
    loop {
        // First with the count as it is now: posts made before this task started (bridged
        // channels open before the server runs) may be committed already.
        let committed = *commits.borrow_and_update();
        world.wake_committed(committed);
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = commits.changed() => if changed.is_err() { return },
        }
    }
}

/// An age in r0c's units: seconds below 5 minutes, minutes below 2 hours, hours below 2 days.
fn age(seconds: i64) -> String {
    let (count, unit) = match seconds.max(0) {
        s if s < 300 => (s, "second"),
        s if s < 7200 => (s / 60, "minute"),
        s if s < 172_800 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

/// Window numbers as the status bar lists them after `h:` and `a:`: `1,3,4`.
pub fn window_list(windows: &[usize]) -> String {
    windows
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// r0c's `#scrolltest`: opened with long generated lines instead of its history, to try
/// scrolling and word wrap on.
const SCROLLTEST_CHANNEL: &str = "scrolltest";

/// Replaces the history of `#scrolltest` with r0c's filler: ten lines of ten words, word `j`
/// of line `i` being the digits `ij` twenty times, then one line of six words of 38 `a`s. The
/// filler is numbered before the stored messages to come, and never stored.
fn scrolltest_filler(loaded: &mut LoadedChannel) {
    let now = now_micros();
    let mut lines: Vec<String> = (0..10)
        .map(|i| {
            (0..10)
                .map(|j| format!("{i}{j}").repeat(20) + " ")
                .collect::<String>()
        })
        .collect();
    lines.push(format!("{} ", "a".repeat(38)).repeat(6));
    loaded.history = lines
        .into_iter()
        .zip(loaded.next_seq..)
        .map(|(text, seq)| {
            message_from_store(StoredMessage {
                seq,
                unix_micros: now,
                author: AUTHOR_SYSTEM.to_owned(),
                text,
            })
        })
        .collect();
    loaded.next_seq += loaded.history.len() as u64;
}

/// A message read back from the store, as the world and its readers hold it: sanitized again
/// (the file may have been edited), with its line caches empty.
pub fn message_from_store(m: StoredMessage) -> Arc<Message> {
    Arc::new(Message {
        seq: m.seq,
        unix_micros: m.unix_micros,
        author: text::sanitize_plain(&m.author),
        text: text::sanitize_lines(&m.text),
        origin: Origin::Internal,
        ticket: TICKET_NOT_STORED,
        lines: Default::default(),
        mention_index: Default::default(),
    })
}

/// The join line of r0c: the nick in bold green.
/// The line that sums up nick changes folded by [`NICK_LINE_INTERVAL`].
fn known_as_text(from: &str, nick: &str) -> String {
    format!("\x0be{from}\x02 is now known as \x02{nick}")
}

fn join_text(nick: &str) -> String {
    format!("\x0ba{nick}\x02 has joined")
}

/// An address as r0c prints and hashes it: IPv4-mapped IPv6 addresses in their IPv4 form.
pub fn canonical_address(address: IpAddr) -> String {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// `YYYY-MM-DD, HH:MM:SSZ` in UTC, as the "channel created" line shows it.
fn format_created(unix_micros: i64) -> String {
    let time =
        jiff::Timestamp::from_microsecond(unix_micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    time.strftime("%Y-%m-%d, %H:%M:%SZ").to_string()
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
