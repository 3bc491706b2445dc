//! The IRC listener's entry points: what changed in a user's windows since the session last
//! looked (`irc_sync`), the window an IRC command names, and the lookups of LIST, WHOIS and
//! channel modes. An IRC user is an ordinary user of the world; these only copy data out.

use super::*;

/// The most characters kept of an IRC client's user name and of its real name.
pub const MAX_IRC_IDENT: usize = 64;

/// Messages one window hands an IRC session per sync; the session asks again for the rest.
pub const IRC_SYNC_MESSAGES: usize = 256;

/// What an IRC session knows of one of its user's windows, so a sync copies out only what
/// changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IrcCursor {
    /// The next message the session has not sent.
    pub next_seq: u64,
    /// The channel's roster count when the session last copied the members.
    pub roster: u64,
    /// The topic the session last told the client.
    pub topic: String,
}

/// Whom an IRC window talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IrcTarget {
    /// A public channel, by name without `#`.
    Public(String),
    /// A direct-message window with this partner (the window's alias).
    Direct(String),
    /// The user's status window: command feedback.
    Status,
}

/// A member of a public channel as IRC shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcMember {
    pub id: UserId,
    pub nick: String,
    /// A channel operator (`@`).
    pub op: bool,
    /// Voiced (`+`).
    pub voice: bool,
    /// Away, with the reason (empty if none was given).
    pub away: Option<String>,
    /// The account they are logged in to.
    pub account: Option<String>,
    /// The real name an IRC client gave (the nick for users of other front-ends).
    pub realname: String,
}

/// A public channel's members as IRC shows them, at one roster count, sorted by id: built
/// once per count and shared by every IRC session in the channel, so a channel of n IRC
/// members costs one list, not n (each session used to keep a map of its own: 600 members
/// in one channel held about 140 KiB per session, 84 MiB in all).
#[derive(Debug, Clone, Default)]
pub struct IrcRoster(Arc<[IrcMember]>);

impl IrcRoster {
    /// The list from members in any order.
    pub fn new(mut members: Vec<IrcMember>) -> IrcRoster {
        members.sort_by_key(|member| member.id);
        IrcRoster(members.into())
    }

    /// The member with this id, if any.
    pub fn get(&self, id: UserId) -> Option<&IrcMember> {
        let index = self.0.binary_search_by_key(&id, |member| member.id).ok()?;
        self.0.get(index)
    }

    /// Whether a member has this id.
    pub fn contains(&self, id: UserId) -> bool {
        self.get(id).is_some()
    }

    /// The members, by id.
    pub fn iter(&self) -> std::slice::Iter<'_, IrcMember> {
        self.0.iter()
    }

    /// Whether both are the same shared list (not merely equal lists).
    pub fn shares(&self, other: &IrcRoster) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What changed in one window since the session's cursor.
#[derive(Debug, Clone)]
pub struct IrcWindow {
    pub channel: ChannelId,
    pub target: IrcTarget,
    /// Committed messages from the cursor on (at most [`IRC_SYNC_MESSAGES`]), ignores applied.
    pub messages: Vec<Arc<Message>>,
    /// Where the session's cursor goes next.
    pub next_seq: u64,
    /// More committed messages wait beyond `messages`.
    pub more: bool,
    /// The members, when the roster changed or the window is new to the session, with the
    /// new roster count.
    pub roster: Option<(u64, IrcRoster)>,
    /// The topic, when it changed or the window is new to the session.
    pub topic: Option<String>,
    /// What the window's message ids are made from ([`IrcHistorySource::key`]).
    pub history_key: String,
    /// With a new roster: the kicks since the cursor (kicked, kicker, reason), read from the
    /// channel's system lines whether committed or not, since the roster that shows the
    /// kicked member gone does not wait for the store either.
    pub kicks: Vec<(String, String, String)>,
    /// With a new roster: who left since the cursor and why (empty: no reason), from the
    /// same lines, for the reasons of PART and QUIT.
    pub parts: Vec<(String, String)>,
}

/// Where IRC's CHATHISTORY reads a target's history.
#[derive(Debug, Clone)]
pub enum IrcHistorySource {
    /// Stored under this name: a public channel, or a conversation between two identified
    /// users (`dm <principal> <principal>`).
    Stored(String),
    /// A conversation with a guest, kept in memory only: its committed chat lines (at most
    /// `--hist-mem`), and the key its message ids are made from.
    Memory(String, Vec<Arc<Message>>),
}

impl IrcHistorySource {
    /// What message ids of this history are made from: the store name, or for a conversation
    /// kept in memory only, its channel number.
    pub fn key(&self) -> &str {
        match self {
            IrcHistorySource::Stored(name) | IrcHistorySource::Memory(name, _) => name,
        }
    }
}

/// The key of a window's message ids: its store name, or for a guest conversation (kept in
/// memory only, so its ids need only last as long as it does) its channel number.
fn history_key(id: ChannelId, channel: &Channel) -> String {
    match (&channel.kind, &channel.stored_as) {
        (ChannelKind::Public { name }, _) => name.clone(),
        (_, Some(stored)) => stored.clone(),
        _ => format!("memory {id}"),
    }
}

/// The committed chat lines (no system lines) of a channel kept in memory only.
fn memory_chat(store: &Store, channel: &Channel) -> Vec<Arc<Message>> {
    channel
        .messages
        .iter()
        .filter(|m| store.is_committed(m.ticket) && m.author != AUTHOR_SYSTEM)
        .cloned()
        .collect()
}

/// One sync of an IRC session: the user's nick and the windows that changed.
#[derive(Debug, Clone)]
pub struct IrcSync {
    pub nick: String,
    pub account: Option<String>,
    /// Every window of the user's (the unchanged ones with nothing in them).
    pub windows: Vec<IrcWindow>,
}

/// One line of LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcListEntry {
    pub name: String,
    pub members: usize,
    pub topic: String,
}

/// WHOIS of an online user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcWhois {
    pub nick: String,
    /// Away, with the reason (empty if none was given).
    pub away: Option<String>,
    pub account: Option<String>,
    pub admin: bool,
    /// Public channels they are in, with `@` or `+` for operators and voiced members.
    pub channels: Vec<String>,
    pub address: IpAddr,
    /// The user name and real name (the nick for users of other front-ends).
    pub username: String,
    pub realname: String,
    /// Cluster mode: the node of a user of another node (`None`: a user of this node).
    pub node: Option<String>,
}

/// A public channel as TOPIC, NAMES and MODE queries see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcChannelInfo {
    pub topic: String,
    /// Mode letters, e.g. `mt` (without `+`).
    pub modes: String,
    /// The user limit (`+l`), if any.
    pub limit: Option<u32>,
    pub member: bool,
}

/// Whether `text` matches the glob `mask` (`*` any run, `?` one character), both folded;
/// linear in their lengths times the number of `*`s, without recursion.
fn glob_matches(mask: &[char], text: &[char]) -> bool {
    let (mut m, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match mask.get(m) {
            Some('*') => {
                star = Some((m, t));
                m += 1;
            }
            Some(c) if *c == '?' || Some(c) == text.get(t) => {
                m += 1;
                t += 1;
            }
            _ => match star {
                Some((star_m, star_t)) => {
                    m = star_m + 1;
                    t = star_t + 1;
                    star = Some((star_m, star_t + 1));
                }
                None => return false,
            },
        }
    }
    mask.get(m..).unwrap_or_default().iter().all(|c| *c == '*')
}

/// A channel's topic as IRC shows it: the placeholder of a channel without one is empty.
fn irc_topic(name: &str, topic: &str) -> String {
    if topic == no_topic(name) {
        String::new()
    } else {
        topic.to_owned()
    }
}

impl State {
    /// A public channel's members as IRC shows them now (an empty list for other channels).
    fn irc_roster(&self, channel: &Channel) -> IrcRoster {
        let ChannelKind::Public { name } = &channel.kind else {
            return IrcRoster::default();
        };
        let members = channel
            .members
            .iter()
            .filter_map(|m| {
                self.users.get(m).map(|member| IrcMember {
                    id: *m,
                    nick: member.nick.clone(),
                    op: self.is_channel_op(*m, name),
                    voice: self.is_voiced(*m, name),
                    away: self.away_reason(*m).map(str::to_string),
                    account: member.account.clone(),
                    realname: match member.irc_ident.as_deref() {
                        Some((_, realname)) if !realname.is_empty() => realname.clone(),
                        _ => member.nick.clone(),
                    },
                })
            })
            // Cluster mode: the members on other nodes too.
            .chain(channel.remote.iter().filter_map(|(folded, member)| {
                let person = self.remote_nicks.get(folded)?;
                Some(IrcMember {
                    id: person.id,
                    nick: member.nick.clone(),
                    op: false,
                    voice: false,
                    away: person.away.clone(),
                    account: None,
                    realname: member.nick.clone(),
                })
            }))
            .collect();
        IrcRoster::new(members)
    }

    /// Something IRC shows in a public channel's member list changed (an operator or voice,
    /// an away state): its roster count moves and the IRC clients among its members (but
    /// `except`, who made the change) are woken to sync it. Costs the channel's members.
    pub(super) fn roster_changed(state: &mut State, channel: ChannelId, except: Option<UserId>) {
        let Some(c) = state.channels.get_mut(&channel) else {
            return;
        };
        if !matches!(c.kind, ChannelKind::Public { .. }) {
            return;
        }
        c.roster += 1;
        let members: Vec<UserId> = c
            .members
            .iter()
            .copied()
            .filter(|m| Some(*m) != except)
            .collect();
        for member in members {
            if let Some(u) = state.users.get_mut(&member)
                && u.irc_ident.is_some()
                && !std::mem::replace(&mut u.woken, true)
            {
                let wake = u.wake.clone();
                state.wakes.push(wake);
            }
        }
    }
}

impl World {
    /// What changed in `user`'s windows since `cursors` (by channel): new committed messages,
    /// the roster and topic where they changed. `None` once the user is gone. Clears the
    /// user's `woken` flag, as [`World::view`] does, so the next message wakes them again.
    /// The work is bounded by the user's window cap times [`IRC_SYNC_MESSAGES`] and, for a
    /// roster that changed, the channel's members.
    pub fn irc_sync(
        &self,
        user: UserId,
        cursors: &HashMap<ChannelId, IrcCursor>,
    ) -> Option<IrcSync> {
        let mut state = self.lock();
        let u = state.users.get_mut(&user)?;
        u.woken = false;
        // The member lists this sync hands out that were not built at their channel's
        // current roster count yet: built once here and kept in the channel for the other
        // members' sessions.
        let u = state.users.get(&user)?;
        let stale: Vec<ChannelId> = u
            .windows
            .iter()
            .map(|window| window.channel)
            .filter(|id| {
                state.channels.get(id).is_some_and(|channel| {
                    matches!(channel.kind, ChannelKind::Public { .. })
                        && channel.irc_roster.as_ref().map(|(count, _)| *count)
                            != Some(channel.roster)
                        && cursors.get(id).map(|cursor| cursor.roster) != Some(channel.roster)
                })
            })
            .collect();
        for id in stale {
            let Some(channel) = state.channels.get(&id) else {
                continue;
            };
            let built = (channel.roster, state.irc_roster(channel));
            if let Some(channel) = state.channels.get_mut(&id) {
                channel.irc_roster = Some(built);
            }
        }
        let u = state.users.get(&user)?;
        let mut windows = Vec::with_capacity(u.windows.len());
        for window in &u.windows {
            let Some(channel) = state.channels.get(&window.channel) else {
                continue;
            };
            let cursor = cursors.get(&window.channel);
            let shown = channel
                .messages
                .partition_point(|m| self.store.is_committed(m.ticket));
            let committed_next = channel
                .messages
                .get(shown)
                .map_or(channel.next_seq, |m| m.seq);
            // A window new to the session starts where the user's membership began (its
            // read mark, which an IRC session never moves), so the direct message that opened
            // it is not skipped.
            let from = cursor.map_or(window.read_upto, |c| c.next_seq);
            let start = channel
                .messages
                .partition_point(|m| m.seq < from)
                .min(shown);
            let end = shown.min(start.saturating_add(IRC_SYNC_MESSAGES));
            let mut messages: Vec<Arc<Message>> =
                channel.messages.range(start..end).cloned().collect();
            let next_seq = if end == shown {
                committed_next
            } else {
                channel.messages.get(end).map_or(committed_next, |m| m.seq)
            }
            .max(from);
            if !u.moderation.ignores.is_empty() {
                messages.retain(|m| !ignore::hides(&u.moderation.ignores, m));
            }
            let more = end < shown;
            let target = match &channel.kind {
                ChannelKind::Public { name } => IrcTarget::Public(name.clone()),
                ChannelKind::Direct => IrcTarget::Direct(window.alias.clone()),
                ChannelKind::Status => IrcTarget::Status,
            };
            let roster = match (&target, cursor) {
                (IrcTarget::Public(_), Some(c)) if c.roster == channel.roster => None,
                (IrcTarget::Public(_), _) => Some(match &channel.irc_roster {
                    Some((count, shared)) if *count == channel.roster => {
                        (channel.roster, shared.clone())
                    }
                    // Not reached: the loop above built every list a window needs.
                    _ => (channel.roster, state.irc_roster(channel)),
                }),
                _ => None,
            };
            let topic = match &target {
                IrcTarget::Public(name) => irc_topic(name, &channel.topic),
                _ => String::new(),
            };
            let topic = match (&target, cursor) {
                (IrcTarget::Public(_), Some(c)) if c.topic == topic => None,
                (IrcTarget::Public(_), _) => Some(topic),
                _ => None,
            };
            let (mut kicks, mut parts) = (Vec::new(), Vec::new());
            if let (Some(_), Some(_)) = (&roster, cursor) {
                for m in channel.messages.range(start..) {
                    if m.author != AUTHOR_SYSTEM {
                        continue;
                    }
                    if let Some((kicked, actor, reason)) = parse_kick_line(&m.text) {
                        kicks.push((kicked.to_owned(), actor.to_owned(), reason.to_owned()));
                    } else if let Some((nick, reason)) = parse_left_line(&m.text) {
                        parts.push((nick.to_owned(), reason.to_owned()));
                    }
                }
            }
            windows.push(IrcWindow {
                kicks,
                parts,
                history_key: history_key(window.channel, channel),
                channel: window.channel,
                target,
                messages,
                next_seq,
                more,
                roster,
                topic,
            });
        }
        Some(IrcSync {
            nick: u.nick.clone(),
            account: u.account.clone(),
            windows,
        })
    }

    /// Makes the window an IRC command names the active one: `#name` a public channel the
    /// user is in, anything else a direct-message partner's window. Returns whether there is
    /// such a window.
    pub fn irc_focus(&self, user: UserId, target: &str) -> bool {
        let mut state = self.lock();
        let index = {
            let Some(u) = state.users.get(&user) else {
                return false;
            };
            let public = target.strip_prefix('#').map(str::to_lowercase);
            u.windows.iter().position(|w| {
                match (state.channels.get(&w.channel).map(|c| &c.kind), &public) {
                    (Some(ChannelKind::Public { name }), Some(wanted)) => name == wanted,
                    (Some(ChannelKind::Direct), None) => w.alias.eq_ignore_ascii_case(target),
                    _ => false,
                }
            })
        };
        match index {
            Some(index) => state.switch_window(user, index),
            None => false,
        }
    }

    /// The public channels in memory for LIST, at most `limit`, by name.
    pub fn irc_list(&self, user: UserId, limit: usize) -> Vec<IrcListEntry> {
        let state = self.lock();
        let mut names: Vec<(&String, ChannelId)> = state
            .public_by_name
            .iter()
            .map(|(name, id)| (name, *id))
            .collect();
        names.sort_unstable();
        names
            .into_iter()
            .filter_map(|(name, id)| {
                let channel = state.channels.get(&id)?;
                if !channel.members.contains(&user) && state.is_secret(name) {
                    return None;
                }
                Some(IrcListEntry {
                    name: name.clone(),
                    members: channel.members.len(),
                    topic: irc_topic(name, &channel.topic),
                })
            })
            .take(limit)
            .collect()
    }

    /// WHOWAS: the user and real names of users called `nick` who left, newest first, at
    /// most `count` of them (the record holds the last [`super::DEPARTED_KEPT`] departures).
    pub fn irc_whowas(&self, nick: &str, count: usize) -> Vec<(String, String, String)> {
        let state = self.lock();
        state
            .departed
            .iter()
            .rev()
            .filter(|d| d.nick.eq_ignore_ascii_case(nick))
            .take(count)
            .map(|d| (d.nick.clone(), d.username.clone(), d.realname.clone()))
            .collect()
    }

    /// The user online with `nick`, if any, with no secret (`+s`) channel among theirs.
    pub fn irc_whois(&self, nick: &str) -> Option<IrcWhois> {
        self.whois_seen_by(nick, None)
    }

    /// WHOIS by `asker`: the user online with `nick`, listing a secret (`+s`) channel only
    /// when `asker` is in it too.
    pub fn irc_whois_for(&self, nick: &str, asker: UserId) -> Option<IrcWhois> {
        self.whois_seen_by(nick, Some(asker))
    }

    fn whois_seen_by(&self, nick: &str, asker: Option<UserId>) -> Option<IrcWhois> {
        let state = self.lock();
        let Some(&id) = state.nicks.get(&nick.to_lowercase()) else {
            return Self::remote_whois(&state, nick, asker);
        };
        let u = state.users.get(&id)?;
        let channels = u
            .windows
            .iter()
            .filter_map(|w| state.channels.get(&w.channel))
            .filter_map(|channel| match &channel.kind {
                ChannelKind::Public { name }
                    if state.is_secret(name)
                        && !asker.is_some_and(|a| channel.members.contains(&a)) =>
                {
                    None
                }
                ChannelKind::Public { name } => {
                    let prefix = if state.is_channel_op(id, name) {
                        "@"
                    } else if state.is_voiced(id, name) {
                        "+"
                    } else {
                        ""
                    };
                    Some(format!("{prefix}#{name}"))
                }
                _ => None,
            })
            .collect();
        let (username, realname) = match u.irc_ident.as_deref() {
            Some((username, realname)) if !username.is_empty() => {
                (username.clone(), realname.clone())
            }
            _ => (u.nick.clone(), u.nick.clone()),
        };
        Some(IrcWhois {
            away: state.away_reason(id).map(str::to_string),
            username,
            realname,
            nick: u.nick.clone(),
            account: u.account.clone(),
            admin: u.admin,
            channels,
            address: u.address,
            node: None,
        })
    }

    /// WHOIS of a user of another node (cluster mode) listed in some channel here: what this
    /// node knows of them, which is their nick, node, away state and those channels (a
    /// secret one only for a member); bounded by the channels that list them.
    pub(super) fn remote_whois(
        state: &State,
        nick: &str,
        asker: Option<UserId>,
    ) -> Option<IrcWhois> {
        let folded = nick.to_lowercase();
        let person = state.remote_nicks.get(&folded)?;
        let mut shown = None;
        let mut channels = Vec::new();
        for channel in person.channels.iter().filter_map(|c| state.channels.get(c)) {
            let Some(member) = channel.remote.get(&folded) else {
                continue;
            };
            shown.get_or_insert_with(|| (member.nick.clone(), member.run.node.clone()));
            if let ChannelKind::Public { name } = &channel.kind
                && (!state.is_secret(name) || asker.is_some_and(|a| channel.members.contains(&a)))
            {
                channels.push(format!("#{name}"));
            }
        }
        let (nick, node) = shown?;
        Some(IrcWhois {
            away: person.away.clone(),
            username: nick.clone(),
            realname: nick.clone(),
            nick,
            account: None,
            admin: false,
            channels,
            address: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            node: Some(node),
        })
    }

    /// The topic and modes of public channel `name` (without `#`), if it is open, and
    /// whether `user` is in it.
    pub fn irc_channel(&self, user: UserId, name: &str) -> Option<IrcChannelInfo> {
        let state = self.lock();
        let id = *state.public_by_name.get(name)?;
        let channel = state.channels.get(&id)?;
        let marker = self.mode_marker(&state, name);
        let modes = marker
            .trim()
            .trim_start_matches("[+")
            .trim_end_matches(']')
            .to_string();
        Some(IrcChannelInfo {
            topic: irc_topic(name, &channel.topic),
            modes,
            limit: World::user_limit(&state, name),
            member: channel.members.contains(&user),
        })
    }

    /// Sets up a new user for an IRC client: no copies of mentions in the status window and no
    /// tip about CTRL-E (an IRC client shows mentions and windows in its own way), and the
    /// user and real names it gave (sanitized, at most [`MAX_IRC_IDENT`] characters each).
    pub fn irc_user_setup(&self, user: UserId, username: &str, realname: &str) {
        let clean = |text: &str| -> String {
            text::sanitize_plain(text)
                .chars()
                .filter(|c| !c.is_whitespace() || *c == ' ')
                .take(MAX_IRC_IDENT)
                .collect()
        };
        let username: String = clean(username).replace(' ', "");
        let ident = (username, clean(realname));
        let mut state = self.lock();
        if let Some(u) = state.users.get_mut(&user) {
            u.prefs.hilight_log = false;
            u.tip_given = true;
            u.irc_ident = Some(Box::new(ident));
        }
    }

    /// Where CHATHISTORY reads `target`'s history for `user`: a public channel `#name` the
    /// user is in now, or the user's own conversation with nick `target` (an open window, or
    /// a stored conversation between the two identified users, the partner online or not).
    /// `None` for anything else: nobody reads a channel they are not in, nor anyone else's
    /// conversations.
    pub fn irc_history_source(&self, user: UserId, target: &str) -> Option<IrcHistorySource> {
        let state = self.lock();
        let u = state.users.get(&user)?;
        let public = target.strip_prefix('#').map(str::to_lowercase);
        for window in &u.windows {
            let Some(channel) = state.channels.get(&window.channel) else {
                continue;
            };
            match (&channel.kind, &public) {
                (ChannelKind::Public { name }, Some(wanted)) if name == wanted => {
                    return Some(IrcHistorySource::Stored(name.clone()));
                }
                (ChannelKind::Direct, None) if window.alias.eq_ignore_ascii_case(target) => {
                    return Some(match &channel.stored_as {
                        Some(stored) => IrcHistorySource::Stored(stored.clone()),
                        None => IrcHistorySource::Memory(
                            history_key(window.channel, channel),
                            memory_chat(&self.store, channel),
                        ),
                    });
                }
                _ => {}
            }
        }
        if public.is_some() {
            return None;
        }
        match self.stored_conversation(&state, user, target) {
            Ok(Some((conversation, _))) => Some(IrcHistorySource::Stored(conversation)),
            _ => None,
        }
    }

    /// CHATHISTORY TARGETS: every conversation and public channel window of `user`'s, by the
    /// name IRC knows it under, with where its history is read.
    pub fn irc_history_targets(&self, user: UserId) -> Vec<(String, IrcHistorySource)> {
        let state = self.lock();
        let Some(u) = state.users.get(&user) else {
            return Vec::new();
        };
        u.windows
            .iter()
            .filter_map(|window| {
                let channel = state.channels.get(&window.channel)?;
                match (&channel.kind, &channel.stored_as) {
                    (ChannelKind::Public { name }, _) => {
                        Some((format!("#{name}"), IrcHistorySource::Stored(name.clone())))
                    }
                    (ChannelKind::Direct, Some(stored)) => Some((
                        window.alias.clone(),
                        IrcHistorySource::Stored(stored.clone()),
                    )),
                    (ChannelKind::Direct, None) => Some((
                        window.alias.clone(),
                        IrcHistorySource::Memory(
                            history_key(window.channel, channel),
                            memory_chat(&self.store, channel),
                        ),
                    )),
                    (ChannelKind::Status, _) => None,
                }
            })
            .collect()
    }

    /// draft/read-marker's MARKREAD set: `user` has read `target` (`#channel` or a partner's
    /// nick, a window of theirs) up to the moment `micros`: the window's read mark moves to
    /// the first message after it (never back), as scrolling to it would, and with it an
    /// identified user's stored marker (issue 20's).
    pub fn irc_mark_read(&self, user: UserId, target: &str, micros: i64) {
        let Some((channel, upto)) = ({
            let state = self.lock();
            self.irc_window_of(&state, user, target).and_then(|id| {
                let c = state.channels.get(&id)?;
                let after = c.messages.partition_point(|m| m.unix_micros <= micros);
                Some((id, c.messages.get(after).map_or(c.next_seq, |m| m.seq)))
            })
        }) else {
            return;
        };
        self.mark_read(user, channel, upto);
    }

    /// draft/read-marker's MARKREAD get: when the last message `user` has read in `target`
    /// was posted, if the user is identified, has a stored marker there and that message is
    /// in memory.
    pub fn irc_read_mark(&self, user: UserId, target: &str) -> Option<i64> {
        let state = self.lock();
        let principal = state.principal_of(user)?;
        let id = self.irc_window_of(&state, user, target)?;
        let c = state.channels.get(&id)?;
        let name = markers::marker_name(c)?;
        let read_upto = state.markers.get(&principal, &name)?.read_upto;
        let last = read_upto.checked_sub(1)?;
        let index = c.messages.partition_point(|m| m.seq < last);
        c.messages
            .get(index)
            .filter(|m| m.seq == last)
            .map(|m| m.unix_micros)
    }

    /// The window of `user`'s that an IRC target names: `#name` a public channel, anything
    /// else a conversation's partner.
    fn irc_window_of(&self, state: &State, user: UserId, target: &str) -> Option<ChannelId> {
        let u = state.users.get(&user)?;
        let public = target.strip_prefix('#').map(str::to_lowercase);
        u.windows
            .iter()
            .find(
                |w| match (state.channels.get(&w.channel).map(|c| &c.kind), &public) {
                    (Some(ChannelKind::Public { name }), Some(wanted)) => name == wanted,
                    (Some(ChannelKind::Direct), None) => w.alias.eq_ignore_ascii_case(target),
                    _ => false,
                },
            )
            .map(|w| w.channel)
    }

    /// WHO with a mask: the nicks online that match `mask` (`*` any run, `?` one character,
    /// case-insensitive), at most `limit`, by name. One pass over the nicks under the lock:
    /// WHO draws on the command budget.
    pub fn irc_nicks_matching(&self, mask: &str, limit: usize) -> Vec<String> {
        let mask: Vec<char> = mask.to_lowercase().chars().collect();
        let state = self.lock();
        let mut found: Vec<String> = state
            .nicks
            .iter()
            .filter(|(folded, _)| glob_matches(&mask, &folded.chars().collect::<Vec<_>>()))
            .filter_map(|(_, id)| state.users.get(id).map(|u| u.nick.clone()))
            .collect();
        found.sort_by_key(|n| n.to_lowercase());
        found.truncate(limit);
        found
    }

    /// Leaves out of `messages` those `user` ignores, as a sync does.
    pub fn irc_hide_ignored(&self, user: UserId, messages: &mut Vec<Arc<Message>>) {
        let state = self.lock();
        if let Some(u) = state.users.get(&user)
            && !u.moderation.ignores.is_empty()
        {
            messages.retain(|m| !ignore::hides(&u.moderation.ignores, m));
        }
    }

    /// Why `user` may not speak in public channel `channel` (`None`: to a person) now, if
    /// so: the same checks as a line of chat (lockdown, mutes, bans, `+r`, `+m`), for what
    /// reaches others without being a line of chat (an IRC TAGMSG).
    pub fn irc_speak_refusal(&self, user: UserId, channel: Option<&str>) -> Option<String> {
        let state = self.lock();
        self.speak_refusal(&state, user, channel)
    }

    /// Whether `user` ignores the author `nick` (`/ignore`), as a sync would hide their lines.
    pub fn irc_ignores(&self, user: UserId, nick: &str) -> bool {
        let state = self.lock();
        state.users.get(&user).is_some_and(|u| {
            !u.moderation.ignores.is_empty()
                && u.moderation.ignores.hides_author(&nick.to_lowercase())
        })
    }

    /// How many channel and DM windows one user may have open (`--max-chans-per-user`).
    pub fn max_windows_per_user(&self) -> usize {
        self.settings.max_windows_per_user
    }

    /// Whether `nick` is online.
    pub fn is_online(&self, nick: &str) -> bool {
        self.lock().nicks.contains_key(&nick.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    fn matches(mask: &str, text: &str) -> bool {
        let mask: Vec<char> = mask.chars().collect();
        let text: Vec<char> = text.chars().collect();
        glob_matches(&mask, &text)
    }

    #[test]
    fn who_masks_match_as_globs() {
        assert!(matches("coolni*", "coolnick"));
        assert!(matches("*", "anyone"));
        assert!(matches("c?olnick", "coolnick"));
        assert!(matches("*nick", "coolnick"));
        assert!(matches("c*l*k", "coolnick"));
        assert!(!matches("coolni", "coolnick"));
        assert!(!matches("x*", "coolnick"));
        assert!(!matches("", "coolnick"));
        assert!(matches("**", ""));
    }
}
