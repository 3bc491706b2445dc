//! Nick changes: one line per channel, churn folded, and the look-alike check.

use super::*;

impl World {
    /// `/nick`: changes the user's nick; everyone in their channels is told.
    pub fn change_nick(&self, user: UserId, new_nick: &str) -> Result<(), NickError> {
        let mut state = self.lock();
        // Cluster mode: once this node allows it, the cluster's nick bucket must too; the
        // change is made when it answers (`World::finish_cluster_nick`).
        if self.in_cluster() {
            let case_only = state
                .users
                .get(&user)
                .is_some_and(|u| u.nick.eq_ignore_ascii_case(new_nick));
            if !case_only {
                self.nick_change_check(&mut state, user, new_nick)?;
                return self.cluster_claim_nick(user, new_nick);
            }
        }
        let taken = self.change_nick_locked(&mut state, user, new_nick)?;
        drop(state);
        if taken.refused_full {
            self.tell(
                user,
                AUTHOR_INFO,
                &format!(
                    "\x02{new_nick}\x02 is yours while you are online, but not kept for your ssh key: the server holds the most nick claims it keeps ({MAX_CLAIMS_TOTAL})"
                ),
            );
        }
        if let Some(released) = taken.released {
            self.tell(
                user,
                AUTHOR_INFO,
                &format!(
                    "\x02{new_nick}\x02 now belongs to your ssh key; {released} no longer does (a key holds at most {MAX_CLAIMS_PER_KEY} nicks, and the one used longest ago is let go)"
                ),
            );
        }
        Ok(())
    }

    /// Gives `user` the first of `nick2`..`nick9` they may take (else an automatic nick)
    /// and tells them `why` (on entry, when the nick they asked for is someone else's).
    pub fn take_suffixed_nick(&self, user: UserId, nick: &str, why: &str) {
        let mut state = self.lock();
        self.rename_with_suffix(&mut state, user, nick, why);
    }

    /// [`World::change_nick`] with the lock held; returns what became of the nick's claim
    /// (the nick the user's key let go to make room, or the claim refused at the cap).
    /// In cluster mode the new nick is claimed in the cluster afterwards: if another node
    /// holds it, the user gets another nick then ([`World::finish_entry_nick`]).
    pub(super) fn change_nick_locked(
        &self,
        state: &mut State,
        user: UserId,
        new_nick: &str,
    ) -> Result<claims::Taken, NickError> {
        let old = state.users.get(&user).map(|u| u.nick.clone());
        let taken = self.change_nick_here(state, user, new_nick)?;
        if let Some(old) = old
            && !old.eq_ignore_ascii_case(new_nick)
        {
            self.cluster_release_nick(&old);
            self.cluster_check_nick(user, new_nick, Vec::new());
        }
        Ok(taken)
    }

    /// The nick change on this node alone: in cluster mode, the caller claimed the nick in
    /// the cluster already (or has it claimed next).
    pub(super) fn change_nick_here(
        &self,
        state: &mut State,
        user: UserId,
        new_nick: &str,
    ) -> Result<claims::Taken, NickError> {
        let Some((old, peer)) = state.users.get(&user).map(|u| (u.nick.clone(), u.peer)) else {
            return Ok(claims::Taken::default());
        };
        self.nick_change_check(state, user, new_nick)?;
        let identity = state.users.get(&user).and_then(|u| u.identity.clone());
        let now = now_micros();
        let event = Event::NickChange {
            user,
            nick: new_nick.to_string(),
            unix_micros: now,
        };
        self.apply_locked(state, event);
        tracing::info!(%peer, nick = new_nick, old, "nick change");
        // A nick asked for by a user with a key becomes that key's; one without a key frees
        // an expired claim.
        let mut taken = state.claims.take(new_nick, identity.as_deref(), now);
        self.write_claims(std::mem::take(&mut taken.writes));
        Ok(taken)
    }

    /// An automatic nick for `user` (made from their address, as on entry) that nobody here
    /// has, that is not registered, and that `also_taken` does not refuse.
    pub(super) fn automatic_nick(
        &self,
        state: &State,
        user: UserId,
        also_taken: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let address = state
            .users
            .get(&user)
            .map(|u| canonical_address(u.address))
            .unwrap_or_default();
        let now = now_micros();
        nick::auto_nick(&self.settings.nick_salt, &address, |n| {
            state.nicks.contains_key(&claims::fold(n))
                || state.accounts.reserved(n, None, now).is_some()
                || also_taken(n)
        })
    }

    /// Whether `user` may take `new_nick` now, on this node: valid, not refused by
    /// moderation, not registered or claimed by someone else, free, and no look-alike.
    pub(super) fn nick_change_check(
        &self,
        state: &mut State,
        user: UserId,
        new_nick: &str,
    ) -> Result<(), NickError> {
        let Some(old) = state.users.get(&user).map(|u| u.nick.clone()) else {
            return Ok(());
        };
        if nick::check_nick(new_nick) != nick::NickCheck::Valid(new_nick.to_string()) {
            return Err(NickError::Invalid);
        }
        if let Some(refusal) = self.nick_refusal(state, user, new_nick) {
            return Err(NickError::Refused(refusal));
        }
        let identity = state.users.get(&user).and_then(|u| u.identity.clone());
        let account = state
            .users
            .get(&user)
            .and_then(|u| u.account.as_deref().map(claims::fold));
        let now = now_micros();
        match state.accounts.reserved(new_nick, account.as_deref(), now) {
            Some(Reserved::Registered(name)) => return Err(NickError::Registered(name)),
            Some(Reserved::LooksLike(name)) => return Err(NickError::LooksLikeRegistered(name)),
            None => {}
        }
        if let Some(&holder) = state.nicks.get(&new_nick.to_lowercase()) {
            // Changing only the letter case of your own nick is fine (r0c refused it).
            if holder != user || old == new_nick {
                return Err(NickError::Taken);
            }
        }
        if state.claims.check(new_nick, identity.as_deref(), now) == ClaimCheck::Other {
            return Err(NickError::Claimed(new_nick.to_string()));
        }
        if let Some(look_alike) = state.claims.look_alike(new_nick, identity.as_deref(), now) {
            return Err(NickError::LooksLike(look_alike));
        }
        if let Some(look_alike) = state.look_alike(new_nick, &old) {
            return Err(NickError::LooksLike(look_alike));
        }
        Ok(())
    }

    /// Hands claim changes to the store's writer queue (never blocks, no I/O here).
    pub(super) fn write_claims(&self, writes: Vec<ClaimWrite>) {
        for write in writes {
            match write {
                ClaimWrite::Put(claim) => self.store.put_claim(claim),
                ClaimWrite::Release(nick) => self.store.release_claim(&nick),
            }
        }
    }

    /// Applies [`Event::NickChange`]: the nick indexes, the user, the DM partners' window
    /// names and one line per channel of the user's, churn folded per channel.
    pub(super) fn apply_nick_change(
        &self,
        state: &mut State,
        user: UserId,
        new_nick: &str,
        unix_micros: i64,
    ) {
        let Some(old) = state.users.get(&user).map(|u| u.nick.clone()) else {
            return;
        };
        // Cluster mode: the other nodes show it too.
        self.cluster_note(ClusterEvent::Nick {
            old: old.clone(),
            new: new_nick.to_string(),
            unix_micros,
        });
        state.nicks.remove(&old.to_lowercase());
        state.nicks.insert(new_nick.to_lowercase(), user);
        state.remove_skeleton(&old);
        state.add_skeleton(new_nick);
        // Ignores follow the person, not the nick.
        self.ignores_on_rename(state, user, new_nick);
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
            channel.roster += 1;
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
            // Cluster mode: a stored conversation holds its partners' messages only, so
            // every node numbers it alike (`cluster_direct.rs`).
            let quiet = self.in_cluster() && channel.stored_as.is_some();
            let mut fold_due = None;
            let shown = match channel.nick_lines.get_mut(&user) {
                _ if quiet => false,
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
                let line = Post::line(channel_id, AUTHOR_SYSTEM, &text, unix_micros);
                self.apply_locked(state, Event::Post(line));
            } else if quiet {
                Self::wake_members(state, channel_id);
            } else {
                // The status bar's nick list still shows the new nick at once.
                Self::wake_members(state, channel_id);
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
}

impl State {
    /// A nick online or recently gone (other than `own`) that `nick` could be mistaken for.
    /// A lookup in the skeleton index plus a pass over the few recent departures.
    pub(super) fn look_alike(&self, nick: &str, own: &str) -> Option<String> {
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
            .filter(|d| d.skeleton == wanted && d.when.elapsed() < DEPARTED_REMEMBERED)
            .map(|d| d.nick.as_str());
        online.chain(departed).find(other).map(str::to_string)
    }

    pub(super) fn add_skeleton(&mut self, nick: &str) {
        self.skeletons
            .entry(nick::skeleton(nick))
            .or_default()
            .push(nick.to_string());
    }

    pub(super) fn remove_skeleton(&mut self, nick: &str) {
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
}

/// The join line of r0c: the nick in bold green.
/// The line that sums up nick changes folded by [`NICK_LINE_INTERVAL`].
pub(super) fn known_as_text(from: &str, nick: &str) -> String {
    format!("\x0be{from}\x02 is now known as \x02{nick}")
}
