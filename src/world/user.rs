//! Users and their windows: connecting and leaving, switching windows, prefs and feedback.

use super::*;

/// One-line notices for the window a connection shows (command feedback, the first mention's
/// tip, the store's health), which that connection alone shows, until a frame showed them.
/// The connection holds them, like its wake-up handle: the world puts notices in under its
/// lock, and the connection marks them shown under this small lock of its own, never the
/// world's. The order is always the world's lock first (this one is a leaf).
#[derive(Debug, Default)]
pub struct Notices {
    queue: Mutex<VecDeque<String>>,
}

impl Notices {
    fn queue(&self) -> MutexGuard<'_, VecDeque<String>> {
        // A panic while holding it leaves a plain queue behind; keep serving.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a notice; at most [`MAX_NOTICES`] are kept, the newest.
    fn push(&self, text: String) {
        let mut queue = self.queue();
        queue.push_back(text);
        while queue.len() > MAX_NOTICES {
            queue.pop_front();
        }
    }

    /// The notices not shown yet, oldest first.
    pub fn pending(&self) -> Vec<String> {
        self.queue().iter().cloned().collect()
    }

    /// A frame showed the first `count` notices of the last [`Notices::pending`] (what the
    /// view had): they are done. Notices queued since stay for the next frame.
    pub fn shown(&self, count: usize) {
        if count == 0 {
            return;
        }
        let mut queue = self.queue();
        let done = count.min(queue.len());
        queue.drain(..done);
    }
}

impl World {
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

    /// Registers a new connection from `address`: an automatic nick and a status window whose
    /// first lines are the join line and `welcome`. Returns the user and their wake-up handle.
    pub fn connect(&self, address: IpAddr, welcome: String) -> (UserId, Arc<Notify>) {
        self.connect_with(SocketAddr::new(address, 0), welcome, None, None, None)
    }

    /// [`World::connect`] for a returning client: it gets `keep` back if nobody holds it now,
    /// and never gets `avoid` (it asked for a fresh start). `identity` is the fingerprint of
    /// the ssh key the client authenticated with: nicks claimed by other keys are not given
    /// to it, and its own claims count as seen now.
    pub fn connect_with(
        &self,
        peer: SocketAddr,
        welcome: String,
        keep: Option<&str>,
        avoid: Option<&str>,
        identity: Option<&str>,
    ) -> (UserId, Arc<Notify>) {
        let address = peer.ip();
        let mut state = self.lock();
        let address_text = canonical_address(address);
        let now = now_micros();
        let taken = |state: &State, nick: &str| {
            state.nicks.contains_key(&nick.to_lowercase())
                || state.remote_nicks.contains_key(&nick.to_lowercase())
                || avoid.is_some_and(|a| a.eq_ignore_ascii_case(nick))
                || state.claims.check(nick, identity, now) == ClaimCheck::Other
                || state.accounts.reserved(nick, None, now).is_some()
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
        let admin = address.is_loopback() && !self.settings.admin_requires_auth;
        let prefs = Prefs {
            bell: 1,
            at_all: !self.settings.no_all,
            hilight_log: true,
            colored_nicks: false,
            margins: true,
            hide_joins: false,
            zone: None,
        };
        let event = Event::Connect {
            user: id,
            nick: nick.clone(),
            identity: identity.map(str::to_owned),
            peer,
            admin,
            prefs,
            welcome: text::sanitize_lines(&welcome),
            unix_micros: now_micros(),
        };
        self.apply_locked(&mut state, event);
        // Cluster mode: the nick is claimed across the nodes next; one another node holds
        // makes way for another (`World::finish_entry_nick`).
        self.cluster_check_nick(id, &nick, Vec::new());
        if let Some(fingerprint) = identity {
            let writes = state.claims.seen(fingerprint, now);
            self.write_claims(writes);
        }
        self.moderation_on_connect(&mut state, id);
        // Direct messages left for the key while its owner was away, and the channels it
        // had open.
        self.welcome_back(&mut state, id);
        let wake = state
            .users
            .get(&id)
            .map_or_else(|| Arc::new(Notify::new()), |u| u.wake.clone());
        tracing::info!(%peer, nick, "client joined");
        (id, wake)
    }

    /// Applies [`Event::Connect`]: the user, their nick and their status window with its
    /// first lines, the join line and the welcome text.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_connect(
        &self,
        state: &mut State,
        id: UserId,
        nick: String,
        identity: Option<String>,
        peer: SocketAddr,
        admin: bool,
        prefs: Prefs,
        welcome: &str,
        unix_micros: i64,
    ) {
        // Ids are handed out in order; one that arrives from elsewhere moves the count past it.
        state.next_user = state.next_user.max(id.saturating_add(1));
        state.nicks.insert(nick.to_lowercase(), id);
        state.add_skeleton(&nick);
        let status = state.new_channel(
            ChannelKind::Status,
            "r0c readme (and status info)".into(),
            0,
        );
        self.users_online.fetch_add(1, Ordering::Relaxed);
        let join_line = join_text(&nick);
        state.most_users = state.most_users.max(state.users.len().saturating_add(1));
        state.users.insert(
            id,
            Box::new(User {
                nick,
                identity,
                account: None,
                moderation: Default::default(),
                address: peer.ip(),
                peer,
                admin,
                windows: vec![Window {
                    channel: status,
                    alias: STATUS_ALIAS.into(),
                    read_upto: 0,
                    last_ping: None,
                    new_since: None,
                }],
                active: 0,
                previous: None,
                prefs,
                wake: Arc::new(Notify::new()),
                notices: Arc::default(),
                needs_redraw: true,
                woken: false,
                tip_given: false,
                mentions_reported: MentionsReported::default(),
                last_all_ping: None,
                rejoins: Arc::default(),
                away_summary: None,
                away: None,
                irc_ident: None,
            }),
        );
        if let Some(channel) = state.channels.get_mut(&status) {
            channel.members.push(id);
            self.activity.joins.fetch_add(1, Ordering::Relaxed);
        }
        let line = Post::line(status, AUTHOR_SYSTEM, &join_line, unix_micros);
        self.apply_locked(state, Event::Post(line));
        let line = Post {
            text: state.shared_welcome(welcome),
            ..Post::line(status, AUTHOR_INFO, "", unix_micros)
        };
        self.apply_locked(state, Event::Post(line));
    }

    /// Users connected and past the wizard.
    pub fn users_online(&self) -> usize {
        self.users_online.load(Ordering::Relaxed)
    }

    /// Removes a user: they part every channel. With `announce` the others are told (a normal
    /// disconnect); without, they leave quietly (server shutdown, so history stays clean).
    pub fn disconnect(&self, user: UserId, announce: bool) {
        self.disconnect_with_reason(user, announce, "");
    }

    /// [`World::disconnect`] with the reason an IRC client's QUIT gave, shown on the lines
    /// that say the user left.
    pub fn disconnect_with_reason(&self, user: UserId, announce: bool, reason: &str) {
        let mut state = self.lock();
        if let Some(fingerprint) = state.users.get(&user).and_then(|u| u.identity.clone()) {
            let writes = state.claims.seen(&fingerprint, now_micros());
            self.write_claims(writes);
        }
        if let Some(account) = state.users.get(&user).and_then(|u| u.account.clone()) {
            self.account_left(&mut state, user, &claims::fold(&account));
        }
        self.save_markers(&mut state, user);
        let event = Event::Disconnect {
            user,
            announce,
            reason: reason.to_owned(),
            unix_micros: now_micros(),
        };
        self.apply_locked(&mut state, event);
    }

    /// Applies [`Event::Disconnect`]: the user parts every channel, last window first, and
    /// their nick is free again (remembered a while for the look-alike check).
    pub(super) fn apply_disconnect(
        &self,
        state: &mut State,
        user: UserId,
        announce: bool,
        reason: &str,
        unix_micros: i64,
    ) {
        let Some((nick, windows)) = state
            .users
            .get(&user)
            .map(|u| (u.nick.clone(), u.windows.clone()))
        else {
            return;
        };
        if self.in_cluster() {
            let channels = windows
                .iter()
                .filter_map(|w| match state.channels.get(&w.channel).map(|c| &c.kind) {
                    Some(ChannelKind::Public { name }) => Some(name.clone()),
                    _ => None,
                })
                .collect();
            self.cluster_note(ClusterEvent::Quit {
                nick,
                channels,
                announce,
                reason: reason.to_owned(),
                unix_micros,
            });
            state.cluster_quitting = Some(user);
        }
        for window in windows.iter().rev() {
            let part = Event::Part {
                user,
                channel: window.channel,
                announce,
                reason: reason.to_owned(),
                unix_micros,
            };
            self.apply_locked(state, part);
        }
        state.cluster_quitting = None;
        self.moderation_on_disconnect(state, user);
        if let Some(gone) = state.users.remove(&user) {
            self.cluster_release_nick(&gone.nick);
            self.users_online.fetch_sub(1, Ordering::Relaxed);
            state.nicks.remove(&gone.nick.to_lowercase());
            state.remove_skeleton(&gone.nick);
            let (username, realname) = match gone.irc_ident.as_deref() {
                Some((username, realname)) if !username.is_empty() => {
                    (username.clone(), realname.clone())
                }
                _ => (gone.nick.clone(), gone.nick.clone()),
            };
            state.departed.push_back(super::Departed {
                skeleton: nick::skeleton(&gone.nick),
                nick: gone.nick.clone(),
                when: std::time::Instant::now(),
                username,
                realname,
            });
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

    /// The user's notices, which their connection keeps: it marks what a frame showed
    /// ([`Notices::shown`]) there, without the world's lock.
    pub fn notices(&self, user: UserId) -> Option<Arc<Notices>> {
        self.lock().users.get(&user).map(|u| u.notices.clone())
    }

    /// The address and port the user connected from, for log lines.
    pub fn peer(&self, user: UserId) -> Option<SocketAddr> {
        self.lock().users.get(&user).map(|u| u.peer)
    }

    /// Marks the user's active window as read up to (not including) `upto`.
    pub fn mark_read(&self, user: UserId, channel: ChannelId, upto: u64) {
        let mut state = self.lock();
        if let Some(window) = state
            .users
            .get_mut(&user)
            .and_then(|u| u.windows.iter_mut().find(|w| w.channel == channel))
            && upto > window.read_upto
        {
            window.read_upto = upto;
            self.note_read(&mut state, user, channel);
        }
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
        self.tell_locked(&mut state, user, author, text);
    }

    /// [`World::tell`] with the lock held.
    pub(super) fn tell_locked(&self, state: &mut State, user: UserId, author: &str, text: &str) {
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
        self.post(state, status, author, &sanitized, Ping::Nobody);
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
        self.save_account_prefs(&mut state, user);
    }
}

/// How many different welcome texts [`State::shared_welcome`] keeps: one per charset kind
/// (box drawing or not) times the MOTDs of the last few edits of the MOTD file.
pub(super) const WELCOME_TEXTS_KEPT: usize = 4;

impl State {
    /// The shared copy of `welcome` for one more status window: a text kept already, or this
    /// one, kept in place of the oldest. Costs one comparison with each kept text.
    fn shared_welcome(&mut self, welcome: &str) -> Arc<str> {
        if let Some(kept) = self.welcome_texts.iter().find(|kept| ***kept == *welcome) {
            return kept.clone();
        }
        let text: Arc<str> = welcome.into();
        if self.welcome_texts.len() >= WELCOME_TEXTS_KEPT {
            self.welcome_texts.pop_front();
        }
        self.welcome_texts.push_back(text.clone());
        text
    }

    /// Whether `user` may open one more channel or conversation window.
    pub(super) fn may_open_window(&self, user: UserId, max: usize) -> Result<(), LimitError> {
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

    pub(super) fn switch_window(&mut self, user: UserId, index: usize) -> bool {
        let Some(u) = self.users.get_mut(&user) else {
            return false;
        };
        if index >= u.windows.len() {
            return false;
        }
        if index != u.active {
            if let Some(left) = u.windows.get_mut(u.active) {
                // The marker line of a return is read once the user leaves its window.
                if left.new_since.take().is_some() {
                    u.needs_redraw = true;
                }
            }
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

impl User {
    /// Queues a notice for the active window; the oldest go when a client shows none.
    pub(super) fn notice(&self, text: String) {
        self.notices.push(text);
    }

    /// The user's status window (window 0), which exists from connect to disconnect.
    pub(super) fn status_window(&self) -> Option<ChannelId> {
        self.windows.first().map(|w| w.channel)
    }
}
