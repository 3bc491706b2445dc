//! Read markers of identified users (an ssh key or an account): how far each has read each
//! public channel and direct conversation, and which windows were open when they left; on
//! their return the public channels are rejoined with the unread part flagged as if they had
//! never left, a marker line in the pane, and one "while you were away" summary.
//!
//! The world keeps every marker in memory ([`Markers`], capped per principal, loaded at
//! startup), so restoring costs no I/O under the lock. Writes are coalesced: a marker that
//! moves is written at most once per [`MARKER_WRITE_INTERVAL_MICROS`], and every marker that
//! changed is written when its user disconnects. Rejoining a channel that is not in memory
//! reads its history off the async workers like `/join`: the world hands the loads to the
//! user's session through [`Rejoins`], and each arrives back in [`World::finish_rejoin`]; the
//! summary is posted once the last has.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::store::{MarkerWrite, StoredMarker};

/// Read markers kept per principal; the least recently moved is dropped beyond this.
pub const MAX_MARKERS_PER_PRINCIPAL: usize = 64;
/// A marker that moves is written at most this often (it is always written at disconnect).
pub const MARKER_WRITE_INTERVAL_MICROS: i64 = 30_000_000;
/// Unread messages counted per channel in the summary; more read as "999+".
pub const MAX_COUNTED: usize = 999;
/// Read markers kept on the server: past this, principals not seen yet get none (every new
/// ssh key is a principal, so their number is bounded only by this and by age).
pub const MAX_MARKERS_TOTAL: usize = 100_000;
/// A marker that has not moved for this long is dropped at startup.
pub const MARKER_KEEP_MICROS: i64 = 90 * 24 * 3600 * 1_000_000;

/// One principal's marker in memory, with when it was last written.
#[derive(Debug, Clone)]
struct Entry {
    row: StoredMarker,
    /// When it was last queued for the store (`None`: as loaded, or new).
    written_micros: Option<i64>,
    /// It changed since it was last queued.
    dirty: bool,
}

/// Every read marker, by principal.
#[derive(Debug, Default)]
pub struct Markers {
    by_principal: HashMap<String, Vec<Entry>>,
    /// Markers held, all principals together.
    total: usize,
}

impl Markers {
    /// Builds the bookkeeping from the stored rows as of `now` (a principal with too many
    /// keeps the newest; markers older than [`MARKER_KEEP_MICROS`], or past the total, are
    /// dropped from the store too).
    pub fn load(rows: Vec<StoredMarker>, now: i64) -> (Markers, Vec<MarkerWrite>) {
        let mut markers = Markers::default();
        let mut drops = Vec::new();
        for row in rows {
            if now.saturating_sub(row.unix_micros) > MARKER_KEEP_MICROS
                || !markers.may_add(&row.principal)
            {
                drops.push(MarkerWrite::Drop {
                    principal: row.principal,
                    channel: row.channel,
                });
                continue;
            }
            let principal = row.principal.clone();
            let entries = markers.by_principal.entry(principal).or_default();
            entries.push(Entry {
                row,
                written_micros: None,
                dirty: false,
            });
            let evicted = evict(entries);
            markers.total = (markers.total + 1).saturating_sub(evicted.len());
            drops.extend(evicted);
        }
        (markers, drops)
    }

    /// Whether `principal` may get one more marker: always within its own cap (its oldest
    /// makes room), a new one only while the server holds fewer than the total.
    fn may_add(&self, principal: &str) -> bool {
        let own = self.by_principal.get(principal).map_or(0, Vec::len);
        own >= MAX_MARKERS_PER_PRINCIPAL || self.total < MAX_MARKERS_TOTAL
    }

    /// The marker of `principal` in `channel`.
    pub fn get(&self, principal: &str, channel: &str) -> Option<&StoredMarker> {
        self.by_principal
            .get(principal)?
            .iter()
            .map(|e| &e.row)
            .find(|row| row.channel == channel)
    }

    /// The reader moved on to `read_upto` in `channel` at `now`: kept in memory, and the
    /// writes due (the marker, if it was not written in the last interval; a marker dropped
    /// to stay within the cap).
    pub fn moved(
        &mut self,
        principal: &str,
        channel: &str,
        read_upto: u64,
        now: i64,
    ) -> Vec<MarkerWrite> {
        let known = self
            .by_principal
            .get(principal)
            .is_some_and(|entries| entries.iter().any(|e| e.row.channel == channel));
        if !known && !self.may_add(principal) {
            return Vec::new();
        }
        let entries = self.by_principal.entry(principal.to_string()).or_default();
        let index = match entries.iter().position(|e| e.row.channel == channel) {
            Some(index) => index,
            None => {
                self.total += 1;
                entries.push(Entry {
                    row: StoredMarker {
                        principal: principal.to_string(),
                        channel: channel.to_string(),
                        read_upto: 0,
                        read_micros: now,
                        open_at: None,
                        unix_micros: now,
                    },
                    written_micros: None,
                    dirty: true,
                });
                entries.len() - 1
            }
        };
        let mut writes = Vec::new();
        if let Some(entry) = entries.get_mut(index)
            && read_upto > entry.row.read_upto
        {
            entry.row.read_upto = read_upto;
            entry.row.read_micros = now;
            entry.row.unix_micros = now;
            entry.dirty = true;
            if entry
                .written_micros
                .is_none_or(|written| now.saturating_sub(written) >= MARKER_WRITE_INTERVAL_MICROS)
            {
                entry.written_micros = Some(now);
                entry.dirty = false;
                writes.push(MarkerWrite::Put(entry.row.clone()));
            }
        }
        let evicted = evict(entries);
        self.total = self.total.saturating_sub(evicted.len());
        writes.extend(evicted);
        writes
    }

    /// Another node says the reader read `channel` up to `read_upto` at `read_micros`
    /// (`cluster_direct.rs`): moved as by [`Markers::moved`], and written now whenever it
    /// moved (this node may never see the reader leave).
    pub fn synced(
        &mut self,
        principal: &str,
        channel: &str,
        read_upto: u64,
        read_micros: i64,
    ) -> Vec<MarkerWrite> {
        let mut writes = self.moved(principal, channel, read_upto, read_micros);
        let written = writes
            .iter()
            .any(|w| matches!(w, MarkerWrite::Put(row) if row.channel == channel));
        let entry = self
            .by_principal
            .get_mut(principal)
            .and_then(|entries| entries.iter_mut().find(|e| e.row.channel == channel));
        if let Some(entry) = entry
            && entry.dirty
            && !written
        {
            entry.dirty = false;
            entry.written_micros = Some(read_micros);
            writes.push(MarkerWrite::Put(entry.row.clone()));
        }
        writes
    }

    /// The reader left with `open` windows (store name and read position, in window order):
    /// their markers remember the position, the others are no longer open; returns every
    /// write for a marker that changed.
    pub fn left(&mut self, principal: &str, open: &[(String, u64)], now: i64) -> Vec<MarkerWrite> {
        for (position, (channel, read_upto)) in open.iter().enumerate() {
            let open_at = u32::try_from(position).ok();
            let may_add = self.may_add(principal);
            let known = self
                .by_principal
                .get(principal)
                .is_some_and(|entries| entries.iter().any(|e| &e.row.channel == channel));
            if !known && !may_add {
                continue;
            }
            let entries = self.by_principal.entry(principal.to_string()).or_default();
            match entries.iter_mut().find(|e| &e.row.channel == channel) {
                Some(entry) => {
                    if *read_upto > entry.row.read_upto {
                        entry.row.read_upto = *read_upto;
                        entry.row.read_micros = now;
                        entry.dirty = true;
                    }
                    if entry.row.open_at != open_at {
                        entry.row.open_at = open_at;
                        entry.dirty = true;
                    }
                    entry.row.unix_micros = now;
                }
                None if may_add => {
                    self.total += 1;
                    entries.push(Entry {
                        row: StoredMarker {
                            principal: principal.to_string(),
                            channel: channel.clone(),
                            read_upto: *read_upto,
                            read_micros: now,
                            open_at,
                            unix_micros: now,
                        },
                        written_micros: None,
                        dirty: true,
                    });
                }
                None => {}
            }
        }
        let Some(entries) = self.by_principal.get_mut(principal) else {
            return Vec::new();
        };
        let mut writes = Vec::new();
        for entry in entries.iter_mut() {
            if entry.row.open_at.is_some() && !open.iter().any(|(c, _)| *c == entry.row.channel) {
                entry.row.open_at = None;
                entry.dirty = true;
            }
            if entry.dirty {
                entry.dirty = false;
                entry.written_micros = Some(now);
                writes.push(MarkerWrite::Put(entry.row.clone()));
            }
        }
        let evicted = evict(entries);
        self.total = self.total.saturating_sub(evicted.len());
        writes.extend(evicted);
        writes
    }

    /// Carries the markers of principal `from` over to `into`: an ssh key attached to an
    /// account (`/key add`), whose reading becomes the account's. Where both have a marker
    /// for the same channel or conversation, the one read further wins (reading only moves
    /// forward), and it counts as open if either was; `from` keeps none. Returns the store
    /// writes, bounded by the cap per principal (at most 64 carried and 64 dropped).
    pub fn merge(&mut self, from: &str, into: &str) -> Vec<MarkerWrite> {
        let Some(moving) = self.by_principal.remove(from) else {
            return Vec::new();
        };
        self.total = self.total.saturating_sub(moving.len());
        let mut writes: Vec<MarkerWrite> = moving
            .iter()
            .map(|e| MarkerWrite::Drop {
                principal: from.to_string(),
                channel: e.row.channel.clone(),
            })
            .collect();
        if from == into {
            return writes;
        }
        let entries = self.by_principal.entry(into.to_string()).or_default();
        for entry in moving {
            let row = entry.row;
            match entries.iter_mut().find(|e| e.row.channel == row.channel) {
                Some(kept) => {
                    if row.read_upto > kept.row.read_upto {
                        kept.row.read_upto = row.read_upto;
                        kept.row.read_micros = row.read_micros;
                    }
                    kept.row.open_at = kept.row.open_at.or(row.open_at);
                    kept.row.unix_micros = kept.row.unix_micros.max(row.unix_micros);
                    kept.dirty = true;
                }
                None => {
                    entries.push(Entry {
                        row: StoredMarker {
                            principal: into.to_string(),
                            ..row
                        },
                        written_micros: None,
                        dirty: true,
                    });
                    self.total += 1;
                }
            }
        }
        let evicted = evict(entries);
        self.total = self.total.saturating_sub(evicted.len());
        for entry in entries.iter_mut().filter(|e| e.dirty) {
            entry.dirty = false;
            writes.push(MarkerWrite::Put(entry.row.clone()));
        }
        writes.extend(evicted);
        writes
    }

    /// The markers of the windows `principal` had open when they left, in window order.
    pub fn open(&self, principal: &str) -> Vec<StoredMarker> {
        let mut open: Vec<StoredMarker> = self
            .by_principal
            .get(principal)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e.row.open_at.is_some())
                    .map(|e| e.row.clone())
                    .collect()
            })
            .unwrap_or_default();
        open.sort_by_key(|row| row.open_at);
        open
    }
}

/// Drops the least recently moved markers beyond the cap; returns their deletions.
fn evict(entries: &mut Vec<Entry>) -> Vec<MarkerWrite> {
    let mut drops = Vec::new();
    while entries.len() > MAX_MARKERS_PER_PRINCIPAL {
        let Some(oldest) = entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.row.unix_micros)
            .map(|(index, _)| index)
        else {
            break;
        };
        let gone = entries.remove(oldest);
        drops.push(MarkerWrite::Drop {
            principal: gone.row.principal,
            channel: gone.row.channel,
        });
    }
    drops
}

/// Channel loads waiting for a user's session to carry them out: the public channels of a
/// return that are not in memory. Shared by the world and the session; the flag keeps the
/// session's check lock-free while nothing waits.
#[derive(Debug, Default)]
pub struct Rejoins {
    queue: Mutex<VecDeque<Load>>,
    waiting: AtomicBool,
}

impl Rejoins {
    fn push(&self, loads: Vec<Load>) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.extend(loads);
        self.waiting.store(!queue.is_empty(), Ordering::Release);
    }

    /// The next load to carry out, if any.
    pub fn take_next(&self) -> Option<Load> {
        if !self.waiting.load(Ordering::Acquire) {
            return None;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let next = queue.pop_front();
        self.waiting.store(!queue.is_empty(), Ordering::Release);
        next
    }
}

/// The summary of a return while channel loads are still under way.
#[derive(Debug, Default)]
pub(super) struct AwaySummary {
    /// The lines so far (conversations, channels in memory).
    lines: Vec<String>,
    /// Loads not arrived yet.
    pending: usize,
}

/// What a return does with one conversation the user had open.
enum Reopen {
    /// Done: this line goes in the summary.
    Line(String),
    /// Read this first ([`World::finish_reopen`]).
    Load(Load),
}

/// What one rejoined channel held that the user had not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unread {
    /// Messages of others (not join, part and nick lines), at most [`MAX_COUNTED`] counted.
    messages: usize,
    /// Of those, the ones mentioning the user.
    mentions: usize,
    /// When the first unread one was posted.
    oldest_micros: Option<i64>,
    /// The history in memory starts after the marker: there may be more in the store.
    more: bool,
}

/// A count as the summary shows it.
fn count_text(count: usize, more: bool) -> String {
    if count >= MAX_COUNTED {
        format!("{MAX_COUNTED}+")
    } else if more {
        format!("{count}+")
    } else {
        count.to_string()
    }
}

/// The summary line of a channel with unread messages.
fn unread_line(name: &str, unread: Unread) -> Option<String> {
    let oldest = unread.oldest_micros?;
    if unread.messages == 0 {
        return None;
    }
    let when = jiff::Timestamp::from_microsecond(oldest).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let plural = if unread.messages == 1 && !unread.more {
        ""
    } else {
        "s"
    };
    let mentions = match unread.mentions {
        0 => String::new(),
        1 => ", 1 mention".to_string(),
        n => format!(", {} mentions", count_text(n, false)),
    };
    Some(format!(
        "  #{name}: {} new message{plural}{mentions} since {}",
        count_text(unread.messages, unread.more),
        when.strftime("%Y-%m-%d %H:%M")
    ))
}

/// The store name under which a window's read marker is kept: a public channel's name or a
/// stored conversation's; `None` for status windows and guests' conversations.
pub(super) fn marker_name(channel: &Channel) -> Option<String> {
    match &channel.kind {
        ChannelKind::Public { name } => Some(name.clone()),
        ChannelKind::Direct => channel.stored_as.clone(),
        ChannelKind::Status => None,
    }
}

impl World {
    /// Holds the read markers in memory (at startup).
    pub fn load_markers(&self, rows: Vec<StoredMarker>) {
        let (markers, drops) = Markers::load(rows, now_micros());
        self.lock().markers = markers;
        for write in drops {
            self.store.marker(write);
        }
    }

    /// The loads a user's session carries out for a return (see [`Rejoins`]).
    pub fn rejoins(&self, user: UserId) -> Option<Arc<Rejoins>> {
        self.lock().users.get(&user).map(|u| u.rejoins.clone())
    }

    /// The user read `channel` up to `read_upto`: their marker moves (written if due).
    pub(super) fn note_read(&self, state: &mut State, user: UserId, channel: ChannelId) {
        let Some(principal) = state.principal_of(user) else {
            return;
        };
        let Some(name) = state.channels.get(&channel).and_then(|c| marker_name(c)) else {
            return;
        };
        let Some(read_upto) = state
            .users
            .get(&user)
            .and_then(|u| u.windows.iter().find(|w| w.channel == channel))
            .map(|w| w.read_upto)
        else {
            return;
        };
        let writes = state
            .markers
            .moved(&principal, &name, read_upto, now_micros());
        self.cluster_markers(&writes);
        for write in writes {
            self.store.marker(write);
        }
    }

    /// The user is leaving: every marker of theirs that changed is written, with the windows
    /// they had open.
    pub(super) fn save_markers(&self, state: &mut State, user: UserId) {
        let Some(principal) = state.principal_of(user) else {
            return;
        };
        let Some(u) = state.users.get(&user) else {
            return;
        };
        let open: Vec<(String, u64)> = u
            .windows
            .iter()
            .filter_map(|w| {
                let name = state
                    .channels
                    .get(&w.channel)
                    .and_then(|c| marker_name(c))?;
                Some((name, w.read_upto))
            })
            .collect();
        let writes = state.markers.left(&principal, &open, now_micros());
        self.cluster_markers(&writes);
        for write in writes {
            self.store.marker(write);
        }
    }

    /// On return (connect with a key, or login): delivers the messages left for the user
    /// (`direct.rs`), rejoins the public channels they had open with their read markers, and
    /// sums it all up in the status window, once every channel not in memory has been read.
    pub(super) fn welcome_back(&self, state: &mut State, user: UserId) {
        let Some(principal) = state.principal_of(user) else {
            return;
        };
        let mut lines = self.deliver_offline(state, user);
        let mut loads = Vec::new();
        let room = self.settings.max_windows_per_user.saturating_sub(1);
        for (index, marker) in state.markers.open(&principal).into_iter().enumerate() {
            if direct::is_conversation_name(&marker.channel) {
                if index >= room {
                    continue;
                }
                match self.reopen_step(state, user, &principal, &marker) {
                    Some(Reopen::Line(line)) => lines.push(line),
                    Some(Reopen::Load(load)) => loads.push(load),
                    None => {}
                }
                continue;
            }
            if normalize_channel_name(&marker.channel).as_deref() != Ok(marker.channel.as_str()) {
                continue;
            }
            if index >= room {
                lines.push(format!(
                    "  #{}: not rejoined, more windows than one may have open; /join it",
                    marker.channel
                ));
                continue;
            }
            match state.public_by_name.get(&marker.channel).copied() {
                Some(channel) => lines.extend(self.rejoin(state, user, channel, &marker)),
                None if self.store.health() == Health::Healthy => loads.push(Load::Join {
                    name: marker.channel.clone(),
                    after: state.last_close_ticket,
                    limit: self.settings.hist_rd,
                }),
                None => lines.push(format!(
                    "  #{}: not rejoined, the history cannot be read now; /join it later",
                    marker.channel
                )),
            }
        }
        if loads.is_empty() {
            self.post_summary(state, user, lines);
            return;
        }
        let Some(u) = state.users.get_mut(&user) else {
            return;
        };
        u.away_summary = Some(AwaySummary {
            lines,
            pending: loads.len(),
        });
        u.rejoins.push(loads);
        let wake = u.wake.clone();
        state.wakes.push(wake);
    }

    /// A stored conversation the user had open when they left, on their return: reopened
    /// at once if it is in memory (when something is unread), else the load that reads it
    /// first; nothing if it is open already (messages left for the user opened it) or the
    /// user is no partner of it.
    fn reopen_step(
        &self,
        state: &mut State,
        user: UserId,
        principal: &str,
        marker: &StoredMarker,
    ) -> Option<Reopen> {
        let name = &marker.channel;
        let partner = direct::partner_in(name, principal)?;
        let alias = state.principal_label(user, name, partner);
        match state.direct_by_key.get(name).copied() {
            Some(channel) => self
                .reopen_conversation(state, user, channel, marker, &alias)
                .map(Reopen::Line),
            None if self.store.health() == Health::Healthy => Some(Reopen::Load(Load::Direct {
                conversation: name.clone(),
                target: alias,
                text: String::new(),
                kind: MessageKind::Chat,
                after: state.last_close_ticket,
                limit: self.settings.hist_rd,
            })),
            None => Some(Reopen::Line(format!(
                "  {alias}: not reopened, the history cannot be read now; /msg {alias} later"
            ))),
        }
    }

    /// A conversation of a return, read off the async workers (`None`: it could not be):
    /// opened unless someone opened it meanwhile, its window reopened if anything in it is
    /// unread, and the summary posted if it was the last.
    pub fn finish_reopen(
        &self,
        user: UserId,
        conversation: &str,
        alias: &str,
        loaded: Option<LoadedChannel>,
    ) {
        let mut state = self.lock();
        let channel = match state.direct_by_key.get(conversation).copied() {
            Some(channel) => Some(channel),
            None => match loaded {
                Some(loaded) if state.may_open_channel(self.settings.max_channels).is_ok() => {
                    Some(self.open_conversation(&mut state, conversation, loaded))
                }
                _ => None,
            },
        };
        let marker = state
            .principal_of(user)
            .and_then(|p| state.markers.get(&p, conversation).cloned());
        let line = match (channel, marker) {
            (Some(channel), Some(marker)) => {
                self.reopen_conversation(&mut state, user, channel, &marker, alias)
            }
            (None, _) => Some(format!("  {alias}: not reopened; /msg {alias} to read it")),
            (Some(channel), None) => {
                self.close_if_empty(&mut state, channel);
                None
            }
        };
        self.summary_step(&mut state, user, line);
    }

    /// Reopens `user`'s window on conversation `channel` (named `alias`) if a message of
    /// their partner's is unread by `marker`: flagged like any window with news (every
    /// message in a conversation is meant for the reader), the marker line before the first
    /// unread one; the user stays where they are. Otherwise the conversation is let go.
    /// Returns the summary line, if anything is unread.
    fn reopen_conversation(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        marker: &StoredMarker,
        alias: &str,
    ) -> Option<String> {
        let (nick, member) = state.users.get(&user).map(|u| {
            (
                u.nick.clone(),
                u.windows.iter().any(|w| w.channel == channel),
            )
        })?;
        if member {
            return None;
        }
        let (unread, newest) = state.channels.get(&channel).map(|c| {
            let from = c.messages.partition_point(|m| m.seq < marker.read_upto);
            let mut unread = Unread {
                messages: 0,
                mentions: 0,
                oldest_micros: None,
                more: c.messages.front().is_some_and(|m| m.seq > marker.read_upto),
            };
            let mut first = None;
            let mut newest = None;
            // Pseudo-authors (joins, notices) and the user's own lines are no news.
            for m in c.messages.range(from..) {
                if m.author.starts_with('-') || m.author == nick {
                    continue;
                }
                first.get_or_insert(m.seq);
                newest = Some(m.seq);
                unread.oldest_micros.get_or_insert(m.unix_micros);
                unread.messages = unread.messages.saturating_add(1).min(MAX_COUNTED);
            }
            (unread, newest.zip(first))
        })?;
        let Some((newest, first)) = newest else {
            self.close_if_empty(state, channel);
            return None;
        };
        if state
            .may_open_window(user, self.settings.max_windows_per_user)
            .is_err()
        {
            self.close_if_empty(state, channel);
            return Some(format!(
                "  {alias}: not reopened, too many windows open; /msg {alias} to read it"
            ));
        }
        self.add_member(state, user, channel, alias.to_string());
        if let Some(window) = state
            .users
            .get_mut(&user)
            .and_then(|u| u.windows.iter_mut().find(|w| w.channel == channel))
        {
            window.read_upto = marker.read_upto.min(first);
            window.last_ping = Some(newest);
            window.new_since = Some((first, marker.read_micros));
        }
        let when = jiff::Timestamp::from_microsecond(unread.oldest_micros.unwrap_or_default())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        Some(format!(
            "  {alias}: {} new message{} since {}",
            count_text(unread.messages, unread.more),
            if unread.messages == 1 && !unread.more {
                ""
            } else {
                "s"
            },
            when.strftime("%Y-%m-%d %H:%M")
        ))
    }

    /// One load of a return has arrived with its summary `line`: the summary is posted once
    /// the last has.
    fn summary_step(&self, state: &mut State, user: UserId, line: Option<String>) {
        let Some(u) = state.users.get_mut(&user) else {
            return;
        };
        let Some(summary) = u.away_summary.as_mut() else {
            return;
        };
        summary.lines.extend(line);
        summary.pending = summary.pending.saturating_sub(1);
        if summary.pending == 0 {
            let lines = u.away_summary.take().map(|s| s.lines).unwrap_or_default();
            self.post_summary(state, user, lines);
        }
    }

    /// A channel of a return, read off the async workers (`None`: it could not be): opened
    /// unless someone opened it meanwhile, rejoined with the user's marker, and the summary
    /// posted if it was the last.
    pub fn finish_rejoin(&self, user: UserId, name: &str, loaded: Option<LoadedChannel>) {
        let mut state = self.lock();
        let channel = match state.public_by_name.get(name).copied() {
            Some(channel) => Some(channel),
            None => match loaded {
                Some(loaded) if state.may_open_channel(self.settings.max_channels).is_ok() => {
                    let id = self.create_public(&mut state, name, loaded);
                    self.found_channel(&mut state, user, name);
                    Some(id)
                }
                _ => None,
            },
        };
        let marker = state
            .principal_of(user)
            .and_then(|p| state.markers.get(&p, name).cloned());
        let line = match (channel, marker) {
            (Some(channel), Some(marker)) => self.rejoin(&mut state, user, channel, &marker),
            (None, _) => Some(format!("  #{name}: not rejoined; /join it later")),
            (Some(channel), None) => {
                self.close_if_empty(&mut state, channel);
                None
            }
        };
        self.summary_step(&mut state, user, line);
    }

    /// Rejoins `channel` for `user` with their marker: unread from it (the window flagged
    /// like any with news), the marker line before the first unread message; the user stays
    /// in the status window. Returns the summary line, if anything is unread or it failed.
    fn rejoin(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        marker: &StoredMarker,
    ) -> Option<String> {
        let name = &marker.channel;
        let member = state
            .users
            .get(&user)
            .map(|u| u.windows.iter().any(|w| w.channel == channel));
        if member != Some(false) {
            // Gone, or in it already (a second login): nothing to restore.
            self.close_if_empty(state, channel);
            return None;
        }
        if let Some(refusal) = self.join_refusal(state, user, name) {
            self.close_if_empty(state, channel);
            return Some(format!("  #{name}: not rejoined: {refusal}"));
        }
        let joined_at = state.channels.get(&channel)?.next_seq;
        let (nick, at_all, active) = state
            .users
            .get(&user)
            .map(|u| (u.nick.clone(), u.prefs.at_all, u.active))?;
        match self.enter_public(state, user, channel, name) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(limit) => return Some(format!("  #{name}: not rejoined: {limit}")),
        }
        // `enter_public` switched to the channel: the user stays where they were.
        state.switch_window(user, active);
        let unread = state.channels.get(&channel).map(|c| {
            let from = c.messages.partition_point(|m| m.seq < marker.read_upto);
            let mut unread = Unread {
                messages: 0,
                mentions: 0,
                oldest_micros: None,
                more: c.messages.front().is_some_and(|m| m.seq > marker.read_upto),
            };
            let mut newest_mention = None;
            for m in c.messages.range(from..).take_while(|m| m.seq < joined_at) {
                // Joins, parts and the user's own lines are no news.
                if m.author == AUTHOR_SYSTEM || m.author == nick || unread.messages >= MAX_COUNTED {
                    continue;
                }
                unread.messages += 1;
                unread.oldest_micros.get_or_insert(m.unix_micros);
                if m.author != nick && m.mentions(&nick, at_all) {
                    unread.mentions += 1;
                    newest_mention = Some(m.seq);
                }
            }
            let first_unread = c.messages.get(from).map(|m| (m.seq, m.unix_micros));
            (unread, newest_mention, first_unread)
        });
        let (unread, newest_mention, first_unread) = unread?;
        // Only messages of others flag the window: the user's own part line (and those of
        // others coming and going) alone would flag every channel of every return.
        let has_news = unread.messages > 0 && first_unread.is_some_and(|(seq, _)| seq < joined_at);
        if let Some(window) = state
            .users
            .get_mut(&user)
            .and_then(|u| u.windows.iter_mut().find(|w| w.channel == channel))
            && has_news
        {
            window.read_upto = marker.read_upto.min(joined_at);
            window.last_ping = newest_mention;
            window.new_since = first_unread.map(|(seq, _)| (seq, marker.read_micros));
        }
        unread_line(name, unread)
    }

    /// Posts the "while you were away" summary, if there is anything to say.
    fn post_summary(&self, state: &mut State, user: UserId, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let mut summary = vec!["[while you were away]".to_string()];
        summary.extend(lines);
        summary.push("  CTRL-E or /a goes through them".to_string());
        self.tell_status(state, user, &summary.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moving_marker_is_written_once_per_interval_and_at_leaving() {
        let mut markers = Markers::default();
        let first = markers.moved("account:al", "chat", 5, 1_000);
        assert_eq!(first.len(), 1);
        // Within the interval: kept in memory only.
        assert!(markers.moved("account:al", "chat", 9, 2_000).is_empty());
        assert_eq!(
            markers.get("account:al", "chat").map(|m| m.read_upto),
            Some(9)
        );
        // Going back is no move.
        assert!(
            markers
                .moved(
                    "account:al",
                    "chat",
                    3,
                    1_000 + MARKER_WRITE_INTERVAL_MICROS
                )
                .is_empty()
        );
        let later = markers.moved(
            "account:al",
            "chat",
            12,
            1_000 + MARKER_WRITE_INTERVAL_MICROS,
        );
        assert_eq!(later.len(), 1);
        // Leaving writes the moves not written yet, with the windows open.
        let left = markers.left("account:al", &[("chat".into(), 14)], 4_000_000_000);
        assert_eq!(left.len(), 1);
        assert_eq!(
            markers.get("account:al", "chat").map(|m| m.read_upto),
            Some(14)
        );
        let left = markers.left("account:al", &[("other".into(), 4)], 5_000_000_000);
        // The new window's marker, and the old one no longer open.
        assert_eq!(left.len(), 2);
        assert_eq!(
            markers
                .open("account:al")
                .iter()
                .map(|m| m.channel.as_str())
                .collect::<Vec<_>>(),
            ["other"]
        );
        // Nothing changed: nothing written.
        assert!(
            markers
                .left("account:al", &[("other".into(), 4)], 6_000_000_000)
                .is_empty()
        );
    }

    #[test]
    fn a_keys_markers_become_the_accounts_and_the_one_read_further_wins() {
        let mut markers = Markers::default();
        markers.moved("key:SHA256:k", "lobby", 9, 1);
        markers.moved("key:SHA256:k", "quiet", 3, 1);
        markers.left("key:SHA256:k", &[("quiet".into(), 3)], 2);
        markers.moved("account:al", "lobby", 5, 3);
        markers.moved("account:al", "news", 7, 3);
        let writes = markers.merge("key:SHA256:k", "account:al");
        let read =
            |principal: &str, channel: &str| markers.get(principal, channel).map(|m| m.read_upto);
        assert_eq!(read("account:al", "lobby"), Some(9));
        assert_eq!(read("account:al", "quiet"), Some(3));
        assert_eq!(read("account:al", "news"), Some(7));
        assert_eq!(read("key:SHA256:k", "lobby"), None);
        assert_eq!(markers.total, 3);
        // The key's two rows go, the account's two changed or new ones are written.
        let drops = writes
            .iter()
            .filter(
                |w| matches!(w, MarkerWrite::Drop { principal, .. } if principal == "key:SHA256:k"),
            )
            .count();
        let puts: Vec<&str> = writes
            .iter()
            .filter_map(|w| match w {
                MarkerWrite::Put(row) if row.principal == "account:al" => {
                    Some(row.channel.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!((drops, puts.len()), (2, 2), "{writes:?}");
        // The window that was open under the key is open for the account.
        let open: Vec<String> = markers
            .open("account:al")
            .into_iter()
            .map(|m| m.channel)
            .collect();
        assert_eq!(open, ["quiet"]);
        // Nothing to carry: nothing written.
        assert!(markers.merge("key:SHA256:none", "account:al").is_empty());
    }

    #[test]
    fn a_principal_keeps_the_newest_markers_up_to_the_cap() {
        let mut markers = Markers::default();
        let mut drops = 0;
        for i in 0..(MAX_MARKERS_PER_PRINCIPAL + 3) {
            let writes = markers.moved("key:x", &format!("c{i}"), 1, i as i64 + 1);
            drops += writes
                .iter()
                .filter(|w| matches!(w, MarkerWrite::Drop { .. }))
                .count();
        }
        assert_eq!(drops, 3);
        assert!(markers.get("key:x", "c0").is_none());
        assert!(markers.get("key:x", "c3").is_some());
    }

    #[test]
    fn old_markers_and_those_past_the_total_are_dropped_at_startup() {
        let row = |principal: &str, channel: &str, unix_micros: i64| StoredMarker {
            principal: principal.into(),
            channel: channel.into(),
            read_upto: 1,
            read_micros: unix_micros,
            open_at: None,
            unix_micros,
        };
        let now = 2 * MARKER_KEEP_MICROS;
        let (markers, drops) = Markers::load(
            vec![row("key:a", "old", 1), row("key:a", "new", now - 1)],
            now,
        );
        assert_eq!(
            drops,
            vec![MarkerWrite::Drop {
                principal: "key:a".into(),
                channel: "old".into()
            }]
        );
        assert!(markers.get("key:a", "new").is_some());
        assert_eq!(markers.total, 1);
    }

    #[test]
    fn past_the_total_a_new_principal_gets_no_marker_and_a_known_one_keeps_moving() {
        let mut markers = Markers {
            total: MAX_MARKERS_TOTAL - 1,
            ..Markers::default()
        };
        assert_eq!(markers.moved("key:a", "chat", 1, 1).len(), 1);
        assert_eq!(markers.total, MAX_MARKERS_TOTAL);
        assert!(markers.moved("key:b", "chat", 1, 1).is_empty());
        assert!(markers.get("key:b", "chat").is_none());
        assert!(markers.left("key:b", &[("chat".into(), 3)], 2).is_empty());
        assert_eq!(
            markers
                .moved("key:a", "chat", 2, 1 + MARKER_WRITE_INTERVAL_MICROS)
                .len(),
            1
        );
    }

    #[test]
    fn counts_beyond_the_cap_or_the_memory_say_so() {
        assert_eq!(count_text(MAX_COUNTED, false), "999+");
        assert_eq!(count_text(4, true), "4+");
        assert_eq!(count_text(4, false), "4");
        let line = unread_line(
            "chat",
            Unread {
                messages: 2,
                mentions: 1,
                oldest_micros: Some(0),
                more: false,
            },
        );
        assert_eq!(
            line.as_deref(),
            Some("  #chat: 2 new messages, 1 mention since 1970-01-01 00:00")
        );
    }
}
