//! The chat world: users, channels, messages and membership, and the only place they change.
//!
//! Client tasks call the methods of [`World`]; each takes the one lock, checks what the caller
//! may do, applies the change as an [`Event`] (`event.rs`, the one place chat state changes),
//! wakes the users whose screens are affected and returns. Nothing awaits while holding the lock.
//! Clients then pull what they display with [`World::view`] and render at their own pace.
//! The `impl World` blocks live in one file per concern (users, channels, posting, nick
//! changes, views, auth, the bridge's entry points); `World` stays their one owner.

mod accounts;
mod auth;
mod away;
mod bridge;
mod channel;
mod claims;
mod cluster;
mod cluster_direct;
mod cluster_shared;
mod days;
mod direct;
mod error;
mod event;
mod history;
mod ignore;
mod irc;
mod markers;
mod moderation;
// The nick rules live with the other text rules, below the world; re-exported under their old path.
pub use crate::text::nick;
mod post;
mod quiet;
mod rename;
mod reopen;
pub mod sanction;
mod text_rules;
mod user;
mod view;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use crate::store::MessageKind;
use crate::store::{Health, Store, StoredMessage, TICKET_NEVER, TICKET_NOT_STORED};
use crate::text;
pub use accounts::{
    Account, AccountError, AccountKey, AccountWrite, Accounts, FailureLimiter,
    LOGIN_FAILURE_WINDOW, MAX_ACCOUNTS, MAX_KEYS_PER_ACCOUNT, MAX_LOGIN_FAILURES,
    MAX_REGISTRATIONS_PER_ADDRESS_PER_DAY, PasswordCheck, Reserved, SkeletonIndex, prefs_from_text,
    prefs_to_text,
};
pub use auth::{AuthOutcome, FAILED_AUTH_WINDOW, MAX_FAILED_AUTH};
pub use away::{Found, FoundStep, MAX_AWAY_CHARS};
pub use bridge::{IRC_NICK_PREFIX, Said as BridgeSaid, irc_author};
pub use channel::{MAX_PART_REASON, left_line, parse_left_line};
pub use claims::{
    Claim, ClaimCheck, ClaimWrite, Claims, DEFAULT_CLAIM_DAYS, MAX_CLAIMS_PER_KEY,
    MAX_CLAIMS_TOTAL, fingerprint_prefix,
};
pub use cluster::{
    CLUSTER_UNREACHABLE, ClusterEvent, ClusterReport, ClusterStep, NodeRun, OUTBOX_CAPACITY,
    Outgoing,
};
pub use cluster_shared::{CLAIM_QUEUE, ClaimAnswer, ClaimRequest, SharedBucket};
pub use days::{day_change_text, local_days};
pub use direct::{
    DirectStep, MAX_OFFLINE_PER_PAIR, MAX_OFFLINE_PER_RECIPIENT, MAX_OFFLINE_TOTAL,
    conversation_name,
};
pub use error::{
    DirectError, JoinError, JoinRefusal, LimitError, LockdownRefusal, ModError, NickError,
    PostError,
};
pub use event::{Event, Ping, Post};
pub use history::{GotoStep, JoinStep, Load, LoadedChannel, MemorySlice, Span};
pub use irc::{
    IrcChannelInfo, IrcCursor, IrcHistorySource, IrcListEntry, IrcMember, IrcRoster, IrcSync,
    IrcTarget, IrcWhois, IrcWindow,
};
pub use markers::{MARKER_WRITE_INTERVAL_MICROS, MAX_COUNTED, MAX_MARKERS_PER_PRINCIPAL, Rejoins};
pub use moderation::{
    Door, LOBBY_CHANNEL, MAX_CHANNEL_ROLES, MAX_CHANNEL_SANCTIONS, MAX_IGNORES, MAX_MODLOG_LINES,
    MAX_SERVER_SANCTIONS, ModResult, parse_invite_line, parse_kick_line, parse_kicked_line,
    parse_mode_line,
};
pub use post::wake_after_commits;
pub use quiet::{extra_prefs_from, extra_prefs_to_text, fold_joins};
pub use text_rules::{ChannelNameError, mentions, normalize_channel_name};
pub use user::Notices;
pub use view::{Census, View, window_list};

use channel::{Speakers, join_text};
use rename::known_as_text;

/// The topic of a channel nobody gave one.
pub(crate) fn no_topic(name: &str) -> String {
    format!("#{name} - no topic has been set")
}

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
pub const DEPARTED_KEPT: usize = 256;
const DEPARTED_REMEMBERED: std::time::Duration = std::time::Duration::from_secs(600);

/// The longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 512;

/// An `@all` or `@everyone` pings a user at most this often.
const AT_ALL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Notices kept for a client that shows none (its screen too small, say).
const MAX_NOTICES: usize = 16;

/// How many nicks a channel remembers for its activity-ordered nick list.
const RECENT_SPEAKERS_KEPT: usize = 32;

// The defaults of `--max-chans-per-user` and `--max-chans` are the config's; re-exported here.
pub use crate::config::{DEFAULT_MAX_CHANNELS, DEFAULT_MAX_WINDOWS_PER_USER};

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
    /// Shared, so a text many windows show (the welcome text of every status window) is in
    /// memory once.
    pub text: Arc<str>,
    /// Where it came from, so the IRC bridge knows what to relay and where not to echo it.
    pub origin: Origin,
    /// Chat or an IRC NOTICE (shown as `-nick-`, relayed to IRC as NOTICE).
    pub kind: MessageKind,
    /// The store's ticket for writing it ([`TICKET_NOT_STORED`]: not stored by design, or
    /// loaded from the store): clients show it once the store has committed it, so a crash
    /// loses nothing anyone has seen.
    pub ticket: u64,
    /// Its lines as rendered for VT100 readers, shared by readers laid out alike.
    pub lines: crate::term::style::LineCache,
    /// Worked out on first use: which nicks it may mention.
    pub mention_index: std::sync::OnceLock<text_rules::MentionIndex>,
    /// Set only on a copy made for a reader in another zone than UTC (`/tz`): the message is
    /// the first of this day in the reader's zone, so a day-change line goes before it
    /// (`world/days.rs`). Never stored.
    pub local_day: Option<jiff::civil::Date>,
}

impl Message {
    /// The author as terminals show it: a notice's as `-nick-`, as irssi shows notices, so
    /// that it reads apart from chat on any terminal.
    pub fn shown_author(&self) -> std::borrow::Cow<'_, str> {
        match self.kind {
            MessageKind::Chat => std::borrow::Cow::Borrowed(&self.author),
            MessageKind::Notice => std::borrow::Cow::Owned(format!("-{}-", self.author)),
        }
    }

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
    /// Whether join, part and quit lines are folded, one line per channel and minute
    /// (`/hide joins`, `/show joins`).
    pub hide_joins: bool,
    /// The time zone timestamps are shown in (`/tz`); `None` is UTC.
    pub zone: Option<crate::term::zone::Zone>,
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
    /// On return, the first unread message and when the user last read here: the pane shows
    /// a marker line before it until the user leaves the window (`markers.rs`).
    new_since: Option<(u64, i64)>,
}

/// A connected user.
#[derive(Debug)]
struct User {
    nick: String,
    /// The fingerprint of the ssh key the user authenticated with; `None` without one.
    identity: Option<String>,
    /// The display name of the account the user is logged in to; `None` otherwise. Moderation
    /// reads it as the user's principal (`account:NAME`).
    account: Option<String>,
    /// Ignores, the ejection handle and a channel key offered with `/join`.
    moderation: moderation::UserModeration,
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
    /// One-line notices for the active window (command feedback), until a frame showed them;
    /// the connection holds them too and marks them shown ([`Notices`]).
    notices: Arc<Notices>,
    /// Set when the whole screen should be drawn again (window switch, broadcast).
    needs_redraw: bool,
    /// The one-time explanation of notifications has been given.
    tip_given: bool,
    /// Per public channel, mentions older than this sequence number were already reported
    /// in the status window, so re-joining does not repeat them.
    mentions_reported: MentionsReported,
    /// When an `@all` last pinged this user: `@all` pings at most every [`AT_ALL_INTERVAL`].
    last_all_ping: Option<std::time::Instant>,
    /// Channel loads of a return for the session to carry out (`markers.rs`).
    rejoins: Arc<markers::Rejoins>,
    /// The "while you were away" summary while those loads are under way.
    away_summary: Option<markers::AwaySummary>,
    /// `/away`: the reason, and who was told it since.
    away: Option<away::Away>,
    /// The user name and real name an IRC client gave with USER (`None` for others), which
    /// WHO and WHOIS show.
    irc_ident: Option<Box<(String, String)>>,
}

/// Per public channel a user was in, the sequence number below which the user's mentions
/// there were reported. A list searched in order: a user is in few channels, and a hash map's
/// smallest table is several times the size of one entry, which every user would hold. At
/// most [`MAX_MENTION_MARKS`] channels, the oldest let go first: a user who joins and leaves
/// channel after channel would otherwise make every mention of them a longer search under the
/// world's lock (a channel let go only reports its old mentions again on a rejoin).
#[derive(Debug, Default)]
struct MentionsReported(Vec<(Box<str>, u64)>);

/// The most channels whose reported mentions a user keeps ([`MentionsReported`]).
const MAX_MENTION_MARKS: usize = 256;

impl MentionsReported {
    /// Mentions in `channel` below this were reported.
    fn get(&self, channel: &str) -> Option<u64> {
        self.0
            .iter()
            .find(|(name, _)| &**name == channel)
            .map(|&(_, seq)| seq)
    }

    /// Mentions in `channel` below `seq` are reported now.
    fn insert(&mut self, channel: &str, seq: u64) {
        if let Some(entry) = self.0.iter_mut().find(|(name, _)| &**name == channel) {
            entry.1 = seq;
        } else {
            if self.0.len() >= MAX_MENTION_MARKS {
                self.0.remove(0);
            }
            self.0.reserve_exact(1);
            self.0.push((channel.into(), seq));
        }
    }
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
    /// A direct conversation between two identified users: the store name of its history
    /// (`direct.rs`); `None` for every other channel.
    stored_as: Option<String>,
    /// Counts changes of the members or their nicks, so an IRC session copies the member list
    /// out again only when it changed ([`World::irc_sync`]).
    roster: u64,
    /// The member list IRC sessions were last handed and the roster count it was built at,
    /// shared by them all ([`World::irc_sync`]).
    irc_roster: Option<(u64, IrcRoster)>,
    /// Cluster mode: members connected to other nodes, by folded nick (`cluster.rs`).
    remote: std::collections::BTreeMap<String, cluster::RemoteMember>,
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
    /// Accounts whose login makes the user an administrator (`--oper`).
    pub opers: Vec<String>,
    /// Default of `@all` mentions for new users is off (`--no-all`).
    pub no_all: bool,
    /// Channels and direct-message windows one user may have open, the status window not
    /// counted (`--max-chans-per-user`).
    pub max_windows_per_user: usize,
    /// Public and direct-message channels open at once on the server (`--max-chans`).
    pub max_channels: usize,
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
/// A user who left, as the look-alike check and WHOWAS remember them.
#[derive(Debug)]
struct Departed {
    nick: String,
    skeleton: String,
    when: std::time::Instant,
    /// The user name and real name given over IRC, or the nick for other front-ends.
    username: String,
    realname: String,
}

#[derive(Debug, Default)]
struct State {
    users: IdMap<Box<User>>,
    nicks: HashMap<String, UserId>,
    channels: IdMap<Box<Channel>>,
    public_by_name: HashMap<String, ChannelId>,
    /// Skeletons ([`nick::skeleton`]) of the nicks online, so checking a new nick for
    /// look-alikes is a lookup, not a pass over every user.
    skeletons: HashMap<String, Vec<String>>,
    /// Nicks of users who left, their skeletons, and when: a look-alike of a recent nick is
    /// refused.
    /// Also WHOWAS's record (with the user and real name IRC clients gave), newest last.
    departed: VecDeque<Departed>,
    /// The most users online at once since the start, for LUSERS.
    most_users: usize,
    /// The welcome texts status windows show lately (one per charset kind and MOTD, so a few):
    /// every user's status window shares one copy instead of holding its own.
    welcome_texts: VecDeque<Arc<str>>,
    /// Public and direct-message channels in memory (status windows not counted), for
    /// `max_channels`.
    chat_channels: usize,
    /// The store's newest ticket when a public channel last closed: opening a channel waits
    /// for the store only while that is not committed, so a new channel costs no wait.
    last_close_ticket: u64,
    /// What stored channels and conversations held when they last closed, until the store
    /// has it: a read older than the close must not reopen them (`reopen.rs`).
    reopen: reopen::Reopen,
    /// Folded nick changes, by when their summary line is due: (due, channel, user).
    nick_folds_due:
        std::collections::BinaryHeap<std::cmp::Reverse<(std::time::Instant, ChannelId, UserId)>>,
    /// Nicks that belong to ssh keys: checked under the lock with no I/O, written through
    /// the store's queue.
    claims: Claims,
    /// Bans, mutes, channel roles and modes, ignores, lockdown and the audit log.
    moderation: moderation::Moderation,
    /// Direct conversations between identified users in memory, by store name.
    direct_by_key: HashMap<String, ChannelId>,
    /// Messages waiting for identified users who are away (`direct.rs`).
    offline: direct::Offline,
    /// Read markers of identified users (`markers.rs`).
    markers: markers::Markers,
    /// Registered nicks (accounts): checked under the lock with no I/O, written through the
    /// store's queue.
    accounts: Accounts,
    /// Failed `/auth` attempts per address: how many, since when.
    failed_auth: HashMap<crate::address::AddressKey, (u32, std::time::Instant)>,
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
    /// Cluster mode: the stream sequence of the event being applied, taken by the public
    /// message it stores so both are committed together (`cluster.rs`).
    cluster_cursor: Option<u64>,
    /// Cluster mode: users of other nodes listed in some channel here, by folded nick, with
    /// the channels that list them (`/msg` finds them here).
    remote_nicks: HashMap<String, cluster::RemotePerson>,
    /// Cluster mode: the ids of users of other nodes who left every channel here lately,
    /// and whether they quit (IRC tells QUIT from PART by it); at most
    /// [`cluster::REMOTE_GONE_KEPT`].
    remote_gone: VecDeque<(UserId, bool)>,
    /// Cluster mode: the user whose disconnect is being applied; their parts are not
    /// published one by one, their one `ClusterEvent::Quit` says it all.
    cluster_quitting: Option<UserId>,
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
    /// Banned addresses, for the listeners to check without the lock.
    door: Door,
    /// Runs password hashes and checks off the async workers, a few at once.
    hasher: crate::password::Hasher,
    /// Cluster mode (`--cluster`): the publisher's outbox and this node's name; unset alone.
    cluster: std::sync::OnceLock<cluster::ClusterLink>,
    /// Cluster mode: where claims of unique names go (`cluster_shared.rs`); unset alone.
    cluster_claims: std::sync::OnceLock<tokio::sync::mpsc::Sender<ClaimRequest>>,
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
            door: Door::default(),
            hasher: crate::password::Hasher::default(),
            cluster: std::sync::OnceLock::new(),
            cluster_claims: std::sync::OnceLock::new(),
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

    // Opening a public channel once its history was read (`history.rs` has the steps).
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
        let loaded = state.reopen.correct(name, loaded);
        let topic = loaded.topic.unwrap_or_else(|| no_topic(name));
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

    /// Counts for the periodic day-change check: whether any user is connected.
    pub fn has_users(&self) -> bool {
        !self.lock().users.is_empty()
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
                kind: MessageKind::Chat,
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
        text: text::sanitize_lines(&m.text).into(),
        origin: Origin::Internal,
        kind: m.kind,
        ticket: TICKET_NOT_STORED,
        lines: Default::default(),
        mention_index: Default::default(),
        local_day: None,
    })
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

#[cfg(test)]
mod tests;
