//! Posting: chat lines, `/me`, direct messages, broadcasts and mentions; readers woken on commit.

use super::*;

impl World {
    /// Sends a line of chat from the user into their active window.
    pub fn say(&self, user: UserId, typed: &str) -> Result<(), PostError> {
        self.say_kind(user, typed, MessageKind::Chat)
    }

    /// Sends a line of chat or a notice (an IRC client's NOTICE) into the active window.
    pub fn say_kind(&self, user: UserId, typed: &str, kind: MessageKind) -> Result<(), PostError> {
        let message_kind = kind;
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
            let public = match &kind {
                ChannelKind::Public { name } => Some(name.as_str()),
                _ => None,
            };
            if let Some(refusal) = self.speak_refusal(&state, user, public) {
                return Err(PostError::Refused(refusal));
            }
        }
        match kind {
            ChannelKind::Status => {
                Err("this buffer does not accept messages, only commands".into())
            }
            ChannelKind::Public { name } => {
                let event = ClusterEvent::Post {
                    channel: name,
                    nick: nick.clone(),
                    text: text.clone(),
                    action: false,
                    notice: message_kind == MessageKind::Notice,
                    unix_micros: now_micros(),
                };
                if self.cluster_publish(user, event)? {
                    return Ok(());
                }
                self.post_from(
                    &mut state,
                    window.channel,
                    (&nick, &text, message_kind),
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
                (&nick, &text, message_kind),
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
        let public = match &kind {
            Some(ChannelKind::Public { name }) => Some(name.as_str()),
            _ => None,
        };
        if let Some(refusal) = self.speak_refusal(&state, user, public) {
            return Err(PostError::Refused(refusal));
        }
        if let Some(ChannelKind::Public { name }) = &kind {
            let event = ClusterEvent::Post {
                channel: name.clone(),
                nick: nick.clone(),
                text: text::sanitize_message(typed),
                action: true,
                notice: false,
                unix_micros: now_micros(),
            };
            if self.cluster_publish(user, event)? {
                return Ok(());
            }
        }
        let text = format!("\x02{nick}\x02 {}", text::sanitize_message(typed));
        self.post_from(
            &mut state,
            window.channel,
            (AUTHOR_ACTION, &text, MessageKind::Chat),
            Ping::Mentioned,
            Origin::Local,
        );
        Ok(())
    }

    pub(super) fn say_direct(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        alias: &str,
        (nick, text, kind): (&str, &str, MessageKind),
    ) -> Result<(), PostError> {
        // Cluster mode: a stored conversation's messages go through the stream.
        if self.publish_stored_direct(state, user, channel, alias, (nick, text, kind))? {
            return Ok(());
        }
        let members = state
            .channels
            .get(&channel)
            .map(|c| c.members.clone())
            .unwrap_or_default();
        if members.len() < 2 && !alias.eq_ignore_ascii_case(nick) {
            // The partner left or was never pulled in: invite whoever holds that nick now.
            let local = state.nicks.contains_key(&alias.to_lowercase());
            if !local && state.remote_nicks.contains_key(&alias.to_lowercase()) {
                // On another node: the line goes through the cluster, and is shown once the
                // stream has stored it.
                let event = ClusterEvent::Direct {
                    from: nick.to_string(),
                    to: alias.to_string(),
                    text: text.to_string(),
                    notice: kind == MessageKind::Notice,
                    unix_micros: now_micros(),
                };
                if self.cluster_publish(user, event)? {
                    if kind == MessageKind::Chat {
                        self.answer_for_remote_partner(state, user, channel, alias);
                    }
                    return Ok(());
                }
            }
            let Some(&partner) = state.nicks.get(&alias.to_lowercase()) else {
                // An identified partner who is away gets it when they are back.
                if self.leave_for_absent(state, user, channel, alias, (nick, text, kind))? {
                    return Ok(());
                }
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
        self.post_from(
            state,
            channel,
            (nick, text, kind),
            Ping::Everyone,
            Origin::Internal,
        );
        // Nothing answers a notice automatically, so two automatic answerers cannot loop.
        if kind == MessageKind::Chat {
            self.answer_for_away_partner(state, user, channel);
        }
        Ok(())
    }

    /// `/msg nick text`: opens (or reuses) a DM window with `target`, posts the text and
    /// switches the sender to it. Between identified users (or to one who is away) the
    /// conversation is stored and its history may need reading first: then the step says
    /// what to read, and [`World::finish_direct`] sends.
    pub fn direct_message(
        &self,
        user: UserId,
        target: &str,
        typed: &str,
    ) -> Result<DirectStep, DirectError> {
        self.direct_message_kind(user, target, typed, MessageKind::Chat)
    }

    /// [`World::direct_message`] for a line of chat or a notice (an IRC client's NOTICE).
    pub fn direct_message_kind(
        &self,
        user: UserId,
        target: &str,
        typed: &str,
        kind: MessageKind,
    ) -> Result<DirectStep, DirectError> {
        let mut state = self.lock();
        // Cluster mode: with a user of another node, an identified sender has a stored
        // conversation if the nick is an account's or a key's (it goes through the stream,
        // `cluster_direct.rs`); otherwise the line goes through the cluster as a guest's
        // (`say_direct`).
        let folded = target.to_lowercase();
        let remote = !state.nicks.contains_key(&folded) && state.remote_nicks.contains_key(&folded);
        let stored = if remote {
            self.stored_conversation(&state, user, target)
                .ok()
                .flatten()
        } else {
            self.stored_conversation(&state, user, target)?
        };
        if self.check_store().is_err() {
            return Err(DirectError::StoreUnavailable);
        }
        if let Some(refusal) = self.speak_refusal(&state, user, None) {
            return Err(DirectError::Refused(refusal));
        }
        if let Some((conversation, target)) = stored {
            if let Some(channel) = state.direct_by_key.get(&conversation).copied() {
                self.send_in_conversation(&mut state, user, channel, &target, (typed, kind))?;
                return Ok(DirectStep::Done);
            }
            state.may_open_window(user, self.settings.max_windows_per_user)?;
            state.may_open_channel(self.settings.max_channels)?;
            return Ok(DirectStep::Load(Load::Direct {
                conversation,
                target,
                text: typed.to_string(),
                kind,
                after: state.last_close_ticket,
                limit: self.settings.hist_rd,
            }));
        }
        let Some(sender) = state.users.get(&user) else {
            return Ok(DirectStep::Done);
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
            return Ok(DirectStep::Done);
        };
        let text = text::sanitize_message(typed);
        let _ = self.say_direct(
            &mut state,
            user,
            window.channel,
            &window.alias,
            (&nick, &text, kind),
        );
        tracing::info!(%peer, nick, to = target, "direct message");
        Ok(DirectStep::Done)
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
        let event = Event::Broadcast {
            text: text.clone(),
            redraw,
            unix_micros: now_micros(),
        };
        self.apply_locked(&mut state, event);
        drop(state);
        // Only announcements scroll everyone back (the day change does not); r0c shows just
        // those to the wizard. No receiver (nobody in the wizard) is not an error.
        if redraw {
            let _ = self
                .wizard_broadcasts
                .send(Arc::from(text::strip_formatting(&text)));
        }
    }

    /// Applies [`Event::Broadcast`]: the line in every channel, in the order they were
    /// opened, and everyone woken (with `redraw`, to draw the whole screen again).
    pub(super) fn apply_broadcast(
        &self,
        state: &mut State,
        text: &str,
        redraw: bool,
        unix_micros: i64,
    ) {
        let mut ids: Vec<ChannelId> = state.channels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let line = Post::line(id, AUTHOR_BROADCAST, text, unix_micros);
            self.apply_locked(state, Event::Post(line));
        }
        let State { users, wakes, .. } = state;
        for u in users.values_mut() {
            u.needs_redraw |= redraw;
            wakes.push(u.wake.clone());
        }
    }

    /// Appends a message that stays inside r0c (see [`World::post_from`]).
    pub(super) fn post(
        &self,
        state: &mut State,
        channel_id: ChannelId,
        author: &str,
        text: &str,
        ping: Ping,
    ) {
        self.post_from(
            state,
            channel_id,
            (author, text, MessageKind::Chat),
            ping,
            Origin::Internal,
        );
    }

    /// Appends a message to a channel, posted now: builds its [`Event::Post`] and applies it.
    pub(super) fn post_from(
        &self,
        state: &mut State,
        channel_id: ChannelId,
        (author, text, kind): (&str, &str, MessageKind),
        ping: Ping,
        origin: Origin,
    ) {
        let post = Post {
            channel: channel_id,
            author: author.to_string(),
            text: text.into(),
            origin,
            kind,
            ping,
            after: TICKET_NOT_STORED,
            unix_micros: now_micros(),
        };
        self.apply_locked(state, Event::Post(post));
    }

    /// Applies [`Event::Post`]: numbering, trimming, persistence, mentions, wake-ups.
    ///
    /// A message the store has yet to commit wakes nobody now: it is noted in
    /// [`State::uncommitted`], and its channel's members and watchers are woken when the store
    /// commits it ([`World::wake_committed`]), since a reader woken earlier would find nothing
    /// it may show. Only lines that are not stored (status windows) wake them at once.
    ///
    /// A line that must not be shown before the write with ticket `after` is committed is a
    /// status-window line that quotes a message (`/hilog`). Status lines are not stored, so
    /// they take the ticket of what they wait for; each also takes at least the ticket of the
    /// line before it, so a status window's tickets grow like a stored channel's and
    /// `World::view` can cut it at the first one not committed.
    pub(super) fn apply_post(&self, state: &mut State, post: Post) {
        let Post {
            channel: channel_id,
            author: author_owned,
            text: text_owned,
            origin,
            kind: message_kind,
            ping,
            after,
            unix_micros,
        } = post;
        let (author, text) = (author_owned.as_str(), &*text_owned);
        // Only a public channel's or a stored conversation's message carries the stream's
        // cursor (`cluster.rs`, `cluster_direct.rs`).
        let streamed = state
            .channels
            .get(&channel_id)
            .is_some_and(|c| matches!(c.kind, ChannelKind::Public { .. }) || c.stored_as.is_some());
        let cursor = if streamed {
            self.take_cluster_cursor(state)
        } else {
            None
        };
        let Some(channel) = state.channels.get(&channel_id) else {
            return;
        };
        let seq = channel.next_seq;
        let kind = channel.kind.clone();
        // Queued for the store first: the ticket says when it is on disk, and clients show
        // it only then.
        let ticket = match &kind {
            ChannelKind::Public { name } => self.store.append_message_at(
                name,
                StoredMessage {
                    seq,
                    unix_micros,
                    author: author.to_string(),
                    text: text.to_string(),
                    kind: message_kind,
                },
                cursor.as_ref().map(|(stream, seq)| (stream.as_str(), *seq)),
            ),
            ChannelKind::Direct if channel.stored_as.is_some() => {
                let name = channel.stored_as.as_deref().unwrap_or_default();
                self.store.append_message_at(
                    name,
                    StoredMessage {
                        seq,
                        unix_micros,
                        author: author.to_string(),
                        text: text.to_string(),
                        kind: message_kind,
                    },
                    cursor.as_ref().map(|(stream, seq)| (stream.as_str(), *seq)),
                )
            }
            ChannelKind::Direct => {
                let nicks: Vec<String> = channel
                    .members
                    .iter()
                    .filter_map(|m| state.users.get(m).map(|u| u.nick.clone()))
                    .collect();
                match nicks.as_slice() {
                    [a, b] => {
                        self.store
                            .append_direct(a, b, unix_micros, author, text, message_kind)
                    }
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
            author: author_owned,
            text: text_owned,
            origin,
            kind: message_kind,
            ticket,
            lines: Default::default(),
            mention_index: Default::default(),
            local_day: None,
        });
        let (author, text) = (message.author.as_str(), &*message.text);
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
                    u.mentions_reported.insert(name, message.seq + 1);
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
                let quote = Post {
                    after: ticket,
                    ..Post::line(status, AUTHOR_INFO, &line, unix_micros)
                };
                self.apply_locked(state, Event::Post(quote));
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
    pub(super) fn explain_notifications(
        &self,
        state: &mut State,
        user: UserId,
        kind: &ChannelKind,
    ) {
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
    pub(super) fn report_old_mentions(
        &self,
        state: &mut State,
        user: UserId,
        channel_id: ChannelId,
    ) {
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
        let reported = u.mentions_reported.get(name).unwrap_or(0);
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
            u.mentions_reported.insert(&name, next);
        }
        for line in found {
            self.post(state, status, AUTHOR_INFO, &line, Ping::Nobody);
        }
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
pub(super) fn age(seconds: i64) -> String {
    let (count, unit) = match seconds.max(0) {
        s if s < 300 => (s, "second"),
        s if s < 7200 => (s / 60, "minute"),
        s if s < 172_800 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}
