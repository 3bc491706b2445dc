//! Channels and membership: members added and removed, closing, topics and `/cls`.

use super::*;

/// A channel's nicks by most recent activity, newest first, with the list as the status bar
/// shows it. The list is joined once per change, not once per frame of every reader.
#[derive(Debug, Default)]
pub(super) struct Speakers {
    order: VecDeque<String>,
    joined: Arc<str>,
}

impl Speakers {
    pub(super) fn iter(&self) -> impl Iterator<Item = &String> {
        self.order.iter()
    }

    pub(super) fn joined(&self) -> Arc<str> {
        self.joined.clone()
    }

    /// `nick` was active: it moves to the front.
    pub(super) fn note(&mut self, nick: &str) {
        if self.order.front().is_some_and(|n| n == nick) {
            return;
        }
        self.order.retain(|n| n != nick);
        self.order.push_front(nick.to_string());
        self.order.truncate(RECENT_SPEAKERS_KEPT);
        self.rejoin();
    }

    pub(super) fn forget(&mut self, nick: &str) {
        let before = self.order.len();
        self.order.retain(|n| n != nick);
        if self.order.len() != before {
            self.rejoin();
        }
    }

    pub(super) fn rename(&mut self, old: &str, new: &str) {
        for speaker in self.order.iter_mut().filter(|s| **s == old) {
            *speaker = new.to_string();
        }
        self.rejoin();
    }

    pub(super) fn rejoin(&mut self) {
        let parts: Vec<&str> = self.order.iter().map(String::as_str).collect();
        self.joined = parts.join(", ").into();
    }
}

impl World {
    /// Makes `user` a member of `channel` in a new window named `alias` (the caller checked
    /// the limits): builds its [`Event::Join`] and applies it.
    pub(super) fn add_member(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        alias: String,
    ) {
        let join = Event::Join {
            user,
            channel,
            alias,
            unix_micros: now_micros(),
        };
        self.apply_locked(state, join);
    }

    /// Applies [`Event::Join`]: the membership, the user's new window and the join line.
    pub(super) fn apply_join(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        alias: String,
        unix_micros: i64,
    ) {
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
        target.roster += 1;
        self.activity.joins.fetch_add(1, Ordering::Relaxed);
        let read_upto = target.next_seq;
        if let Some(member) = state.users.get_mut(&user) {
            // Room for this one window only: grown by doubling, a user in one channel would
            // keep room for four windows (80 bytes each) for as long as they stay.
            member.windows.reserve_exact(1);
            member.windows.push(Window {
                channel,
                alias,
                read_upto,
                last_ping: None,
                new_since: None,
            });
        }
        let mut public = false;
        // Cluster mode: a stored conversation holds its partners' messages only, so every
        // node numbers it alike (`cluster_direct.rs`); a window opening on it is not a line.
        let stored = state
            .channels
            .get(&channel)
            .is_some_and(|c| c.stored_as.is_some());
        if let Some(ChannelKind::Public { name }) = state.channels.get(&channel).map(|c| &c.kind) {
            public = true;
            self.cluster_note(ClusterEvent::Join {
                channel: name.clone(),
                nick: nick.clone(),
                unix_micros,
            });
        }
        // Cluster mode: a public channel's join line is shown when it comes back from the
        // stream, in its order there, as on every other node.
        if !(self.in_cluster() && (public || stored)) {
            let line = Post::line(channel, AUTHOR_SYSTEM, &join_text(&nick), unix_micros);
            self.apply_locked(state, Event::Post(line));
        }
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

    /// [`World::part`] with the reason an IRC client's PART gave, shown on the line that
    /// says the user left.
    pub fn part_with_reason(&self, user: UserId, reason: &str) -> Result<(), String> {
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
        let part = Event::Part {
            user,
            channel,
            announce: true,
            reason: reason.to_owned(),
            unix_micros: now_micros(),
        };
        self.apply_locked(&mut state, part);
        Ok(())
    }

    /// Takes `user` out of `channel` (with `announce`, the others are told): builds its
    /// [`Event::Part`] and applies it.
    pub(super) fn leave_channel(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        announce: bool,
    ) {
        let part = Event::Part {
            user,
            channel,
            announce,
            reason: String::new(),
            unix_micros: now_micros(),
        };
        self.apply_locked(state, part);
    }

    /// Applies [`Event::Part`]: the window and the membership go, the others are told, and
    /// an empty channel is closed.
    pub(super) fn apply_part(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        announce: bool,
        reason: &str,
        unix_micros: i64,
    ) {
        let Some((nick, peer)) = state.users.get(&user).map(|u| (u.nick.clone(), u.peer)) else {
            return;
        };
        let Some((kind, stored)) = state
            .channels
            .get(&channel)
            .map(|c| (c.kind.clone(), c.stored_as.is_some()))
        else {
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
        if let ChannelKind::Public { name } = &kind {
            state.moderation.end_session_op(user, name);
        }
        if target.members.len() < members_before {
            target.roster += 1;
            self.activity.parts.fetch_add(1, Ordering::Relaxed);
            if let ChannelKind::Public { name } = &kind
                && state.cluster_quitting != Some(user)
            {
                self.cluster_note(ClusterEvent::Part {
                    channel: name.clone(),
                    nick: nick.clone(),
                    announce,
                    unix_micros,
                    reason: reason.to_owned(),
                });
            }
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
            && !(self.in_cluster() && stored)
        {
            let text = known_as_text(&from, &nick);
            let line = Post::line(channel, AUTHOR_SYSTEM, &text, unix_micros);
            self.apply_locked(state, Event::Post(line));
        }
        // Cluster mode: a public channel's line comes back from the stream (the part's or
        // the quit's), in its order there; a stored conversation gets none (see
        // `apply_join`).
        let from_stream =
            self.in_cluster() && (stored || matches!(kind, ChannelKind::Public { .. }));
        if kind != ChannelKind::Status && announce && !from_stream {
            let mut left = left_line(&nick, reason);
            if kind == ChannelKind::Direct {
                left.push_str("; reinvite by typing another msg here");
            }
            let line = Post::line(channel, AUTHOR_SYSTEM, &left, unix_micros);
            self.apply_locked(state, Event::Post(line));
        }
        self.close_if_empty(state, channel);
    }

    /// An empty channel of any kind is gone (a public one is re-created from the store),
    /// unless it is bridged to IRC.
    pub(super) fn close_if_empty(&self, state: &mut State, channel: ChannelId) {
        let empty = state
            .channels
            .get(&channel)
            .is_some_and(|c| c.members.is_empty() && c.remote.is_empty() && !c.bridged);
        if !empty {
            return;
        }
        let Some(closed) = state.channels.remove(&channel) else {
            return;
        };
        let stored_name = match (&closed.stored_as, &closed.kind) {
            (Some(conversation), _) => Some(conversation.as_str()),
            (None, ChannelKind::Public { name }) => Some(name.as_str()),
            _ => None,
        };
        if let Some(stored_name) = stored_name {
            let store = &self.store;
            state
                .reopen
                .expire(|ticket| store.is_committed(ticket), now_micros());
            state.reopen.closed(
                stored_name,
                closed.next_seq,
                store.last_ticket(),
                &closed.messages,
                self.settings.hist_rd,
                &closed.topic,
            );
        }
        if let Some(conversation) = closed.stored_as {
            state.direct_by_key.remove(&conversation);
            // Opened again, it numbers its messages after these; what waits for an absent
            // partner knows the number, so their window opens with no read.
            state.last_close_ticket = self.store.last_ticket();
            if state.offline.waits_in(&conversation) {
                state.offline.advance(&conversation, closed.next_seq);
            }
        }
        match Some(closed.kind) {
            Some(ChannelKind::Public { name }) => {
                state.chat_channels = state.chat_channels.saturating_sub(1);
                state.public_by_name.remove(&name);
                // A channel opened again must number its messages after what it said last.
                state.last_close_ticket = self.store.last_ticket();
                self.forget_session_modes(state, &name);
                tracing::info!(chan = name, "channel closed");
            }
            Some(ChannelKind::Direct) => {
                state.chat_channels = state.chat_channels.saturating_sub(1);
            }
            Some(ChannelKind::Status) | None => {}
        }
    }

    /// Wakes every member of a channel to redraw (its nick list changed), without a message.
    pub(super) fn wake_members(state: &mut State, channel_id: ChannelId) {
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
        let Some(channel) = state.channels.get(&channel_id) else {
            return Ok(());
        };
        let ChannelKind::Public { name } = channel.kind.clone() else {
            return Err("cannot change the topic of private channels".into());
        };
        if let Some(refusal) = self.topic_refusal(&state, user, &name) {
            return Err(refusal.into());
        }
        let topic = text::sanitize_message(typed);
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(format!("topics can be at most {MAX_TOPIC_CHARS} characters long").into());
        }
        self.check_store()?;
        // Cluster mode: every node applies it from the stream, this one too, once stored there.
        let shared = ClusterEvent::Topic {
            channel: name,
            nick: nick.clone(),
            topic: topic.clone(),
            unix_micros: now_micros(),
        };
        if self.cluster_publish(user, shared)? {
            return Ok(());
        }
        let event = Event::Topic {
            channel: channel_id,
            nick,
            topic,
            unix_micros: now_micros(),
        };
        self.apply_locked(&mut state, event);
        Ok(())
    }

    /// Applies [`Event::Topic`]: the topic (stored), its line, and a redraw for the members.
    pub(super) fn apply_topic(
        &self,
        state: &mut State,
        channel_id: ChannelId,
        nick: &str,
        topic: String,
        unix_micros: i64,
    ) {
        let Some(channel) = state.channels.get_mut(&channel_id) else {
            return;
        };
        let ChannelKind::Public { name } = channel.kind.clone() else {
            return;
        };
        let old = std::mem::replace(&mut channel.topic, topic.clone());
        self.store.set_topic(&name, &topic, nick, unix_micros);
        let line = format!(
            "\x0b6{nick} has changed the topic from [\x0f{old}\x0b6] -to-> [\x0f{topic}\x0b6]"
        );
        let line = Post::line(channel_id, AUTHOR_SYSTEM, &line, unix_micros);
        self.apply_locked(state, Event::Post(line));
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
        let Some(channel) = state.channels.get(&channel_id) else {
            return Ok(());
        };
        let public = match &channel.kind {
            ChannelKind::Public { name } => Some(name.clone()),
            _ => None,
        };
        if let Some(name) = public {
            if !admin {
                return Err("private channels only".into());
            }
            // Cluster mode: the channel is wiped on every node, from the stream.
            let shared = ClusterEvent::Clear {
                channel: name,
                nick: nick.clone(),
                unix_micros: now_micros(),
            };
            if self
                .cluster_publish(user, shared)
                .map_err(|e| e.to_string())?
            {
                return Ok(());
            }
        }
        let event = Event::Clear {
            channel: channel_id,
            nick,
            unix_micros: now_micros(),
        };
        self.apply_locked(&mut state, event);
        Ok(())
    }

    /// Applies [`Event::Clear`]: the channel's messages in memory go, its members redraw,
    /// and a public channel says who wiped it.
    pub(super) fn apply_clear(
        &self,
        state: &mut State,
        channel_id: ChannelId,
        nick: &str,
        unix_micros: i64,
    ) {
        let Some(channel) = state.channels.get_mut(&channel_id) else {
            return;
        };
        let public = matches!(channel.kind, ChannelKind::Public { .. });
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
        let line = Post::line(channel_id, AUTHOR_ACTION, &text, unix_micros);
        self.apply_locked(state, Event::Post(line));
    }
}

impl State {
    pub(super) fn new_channel(
        &mut self,
        kind: ChannelKind,
        topic: String,
        next_seq: u64,
    ) -> ChannelId {
        let id = self.next_channel;
        self.next_channel += 1;
        if kind != ChannelKind::Status {
            self.chat_channels += 1;
        }
        self.channels.insert(
            id,
            Box::new(Channel {
                kind,
                topic,
                messages: VecDeque::new(),
                next_seq,
                members: Vec::new(),
                recent_speakers: Speakers::default(),
                bridged: false,
                watchers: Vec::new(),
                nick_lines: HashMap::new(),
                stored_as: None,
                roster: 0,
                irc_roster: None,
                remote: Default::default(),
            }),
        );
        id
    }

    /// Whether one more public or direct-message channel may be opened on the server.
    pub(super) fn may_open_channel(&self, max: usize) -> Result<(), LimitError> {
        if self.chat_channels >= max {
            return Err(LimitError::Channels { max });
        }
        Ok(())
    }

    pub(super) fn note_speaker(&mut self, channel: ChannelId, nick: &str) {
        if let Some(channel) = self.channels.get_mut(&channel) {
            channel.recent_speakers.note(nick);
        }
    }
}

pub(super) fn join_text(nick: &str) -> String {
    format!("\x0ba{nick}\x02 has joined")
}

/// The most characters of a PART or QUIT reason kept on the parting line.
pub const MAX_PART_REASON: usize = 160;

/// The line saying `nick` left a channel, with the reason an IRC client gave, if any;
/// [`parse_left_line`] reads it back.
pub fn left_line(nick: &str, reason: &str) -> String {
    let mut reason = text::strip_formatting(&text::sanitize_message(reason));
    if let Some((cut, _)) = reason.char_indices().nth(MAX_PART_REASON) {
        reason.truncate(cut);
    }
    let reason = reason.trim();
    if reason.is_empty() {
        format!("\x0bb{nick}\x02 has left")
    } else {
        format!("\x0bb{nick}\x02 has left: {reason}")
    }
}

/// Who left and why (empty: no reason) from a public channel's line made by [`left_line`]
/// (the IRC listener shows the reason on PART and QUIT).
pub fn parse_left_line(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("\x0bb")?;
    let (nick, rest) = rest.split_once("\x02 has left")?;
    let reason = match rest {
        "" => "",
        other => other.strip_prefix(": ")?,
    };
    (!nick.contains(' ')).then_some((nick, reason))
}
