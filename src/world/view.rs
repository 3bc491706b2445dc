//! Snapshots for readers: what a user's window shows (`View`), `/names` and `/status`.

use super::*;

/// Counters for `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    pub users: usize,
    pub public_channels: usize,
    pub private_channels: usize,
    pub users_in_channels: usize,
    /// The most users online at once since the start.
    pub most_users: usize,
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
    /// On return, the first message unread when the user left and when they last read the
    /// window: the pane shows a marker line before it ("— new since 14:02 —").
    pub new_since: Option<(u64, i64)>,
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
    /// `/hide joins`: the folded join and part line shown before [`View::messages`], with
    /// the names of those that came since (they are folded into it, not among the
    /// messages), for the screen to repaint in place.
    pub refolded: Option<Arc<Message>>,
    /// The user's settings.
    pub prefs: Prefs,
    /// Whether the user is an administrator.
    pub admin: bool,
}

impl View {
    /// The marker line a pane shows before message `seq` ("— new since 14:02 —"), if it is
    /// the first one unread on the user's return: a line of the view, never stored. The time
    /// is when the user last read the window (with the date when that was not today).
    pub fn marker_line_before(&self, seq: u64) -> Option<String> {
        let (_, read_micros) = self.new_since.filter(|(first, _)| *first == seq)?;
        let read =
            jiff::Timestamp::from_microsecond(read_micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        let format = if read.strftime("%Y-%m-%d").to_string() == today {
            "%H:%M"
        } else {
            "%Y-%m-%d %H:%M"
        };
        Some(format!(
            "\u{2014} new since {} \u{2014}",
            read.strftime(format)
        ))
    }
}

impl World {
    /// Copies out what the user's active window shows: messages with `seq >= since`
    /// (at most `max_messages`, the newest), the bars' contents and pending notices (they
    /// stay pending until the connection marks them shown, [`Notices::shown`]). `since = None` asks for the newest
    /// `max_messages`.
    pub fn view(&self, user: UserId, since: Option<u64>, max_messages: usize) -> Option<View> {
        let mut state = self.lock();
        let user_state = state.users.get_mut(&user)?;
        let notices = user_state.notices.pending();
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
        let mut refolded = None;
        let mut messages: Vec<Arc<Message>> = {
            let from = since.map_or(0, |s| channel.messages.partition_point(|m| m.seq < s));
            let from = from.max(shown.saturating_sub(max_messages)).min(shown);
            if user_state.prefs.hide_joins {
                if since.is_some() && from < shown {
                    refolded = super::quiet::refolded_before(&channel.messages, from, shown);
                }
                super::quiet::folded_range(&channel.messages, from, shown)
            } else {
                channel.messages.range(from..shown).cloned().collect()
            }
        };
        // `/tz`: the day changes at the reader's midnight.
        if let Some(zone) = &user_state.prefs.zone {
            let from = messages.first().map_or(shown, |first| {
                channel.messages.partition_point(|m| m.seq < first.seq)
            });
            let before = super::days::message_before(&channel.messages, from);
            messages = super::days::local_days(messages, before, zone);
        }
        // `/ignore`: a user who ignores nobody pays one emptiness check.
        let ignores = &user_state.moderation.ignores;
        if !ignores.is_empty() {
            messages.retain(|m| !ignore::hides(ignores, m));
        }
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
            ChannelKind::Public { name } => {
                format!("{}{}", channel.topic, self.mode_marker(&state, name))
            }
            ChannelKind::Status => channel.topic.clone(),
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
            new_since: window.new_since,
            active_hilight: window.last_ping.is_some_and(|p| p >= window.read_upto),
            hilight_windows,
            activity_windows,
            nicklist,
            notices,
            redraw,
            refolded,
            prefs: user_state.prefs.clone(),
            admin: user_state.admin,
        })
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

    /// `/names`: the sorted nicks in the active channel, with its label.
    pub fn names(&self, user: UserId) -> Option<(String, Vec<String>)> {
        let state = self.lock();
        let u = state.users.get(&user)?;
        let window = u.windows.get(u.active)?;
        let channel = state.channels.get(&window.channel)?;
        // Away users are marked, so others know not to expect an answer soon.
        let mut nicks: Vec<String> = channel
            .members
            .iter()
            .filter_map(|m| {
                state.users.get(m).map(|u| match u.away {
                    Some(_) => format!("{} (away)", u.nick),
                    None => u.nick.clone(),
                })
            })
            .collect();
        nicks.extend(World::remote_nicks(&state, window.channel));
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
            most_users: state.most_users.max(state.users.len()),
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
            let mut users: Vec<&User> = state.users.values().map(|u| &**u).collect();
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
}

/// Window numbers as the status bar lists them after `h:` and `a:`: `1,3,4`.
pub fn window_list(windows: &[usize]) -> String {
    windows
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
