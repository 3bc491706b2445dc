//! Cluster mode's channel moderation (`--cluster`): founders, operator and voice roles,
//! channel modes, kicks, invitations and the server's lockdown, shared by every node.
//!
//! A founder is claimed in the key-value bucket `r0c_founders` first (create, so two nodes
//! never both found a channel), then published; the other changes are made on the node
//! where they are typed and published. Every node, the one they came from too, applies the
//! changes that set state (founders, roles, modes, lockdown) in stream order, so nodes that
//! changed the same channel at once end the same; kicks and invitations act once, on the node
//! of the user they name. Nothing read from the stream is trusted: names, principals, modes
//! and reasons are checked and cut to this node's limits, and what does not parse is logged
//! and skipped.
//!
//! A child of `moderation.rs`: it reads and writes the moderation state that module keeps.

use super::*;
use crate::world::cluster_shared::{CLAIM_TIMEOUT, capped, stream_nick};
use crate::world::sanction::parse_mode_changes;

/// The longest principal an event may carry (`key:SHA256:` and 43 characters, or an account).
const MAX_PRINCIPAL_CHARS: usize = 128;
/// The longest `/mode` changes an event may carry: every letter and a key and a limit fit.
const MAX_MODE_CHANGES_CHARS: usize = 96;
/// The longest kick reason an event may carry.
const MAX_KICK_REASON_CHARS: usize = 300;

/// `/mode` changes as text that [`parse_mode_changes`] reads back: the letters, then the key
/// and the limit in their order (`+k-m+l KEY 5`).
pub(super) fn changes_text(changes: &[ModeChange]) -> String {
    let mut letters = String::new();
    let mut arguments = Vec::new();
    for change in changes {
        match change {
            ModeChange::Flag { letter, on } => {
                letters.push(if *on { '+' } else { '-' });
                letters.push(*letter);
            }
            ModeChange::Key(Some(key)) => {
                letters.push_str("+k");
                arguments.push(key.clone());
            }
            ModeChange::Key(None) => letters.push_str("-k"),
            ModeChange::Limit(Some(limit)) => {
                letters.push_str("+l");
                arguments.push(limit.to_string());
            }
            ModeChange::Limit(None) => letters.push_str("-l"),
        }
    }
    std::iter::once(letters)
        .chain(arguments)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `/mode` changes look like in the channel's line (`+m -t +k +l 5`; a key is not shown).
pub(super) fn changes_summary(changes: &[ModeChange]) -> String {
    changes
        .iter()
        .map(|change| match change {
            ModeChange::Flag { letter, on } => format!("{}{letter}", if *on { '+' } else { '-' }),
            ModeChange::Key(Some(_)) => "+k".into(),
            ModeChange::Key(None) => "-k".into(),
            ModeChange::Limit(Some(limit)) => format!("+l {limit}"),
            ModeChange::Limit(None) => "-l".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Applies `/mode` changes to a channel's moderation state.
pub(super) fn apply_changes(entry: &mut ChannelMod, changes: &[ModeChange]) {
    for change in changes {
        match change {
            ModeChange::Flag { letter, on } => {
                entry.modes.set(*letter, *on);
            }
            ModeChange::Key(key) => entry.key = key.clone(),
            ModeChange::Limit(limit) => entry.limit = *limit,
        }
    }
}

/// A public channel's name read from the stream, if it is one.
fn stream_channel(name: &str) -> Option<String> {
    let name = normalize_channel_name(name).ok();
    if name.is_none() {
        tracing::warn!("cluster: a moderation event for a bad channel name was skipped");
    }
    name
}

/// A principal read from the stream (`account:NAME`, `key:SHA256:...`), if it is one.
fn stream_principal(principal: &str) -> Option<String> {
    let valid = principal.chars().count() <= MAX_PRINCIPAL_CHARS
        && matches!(
            principal_mask(principal),
            Some(Mask::Account(_) | Mask::Key(_))
        );
    if !valid {
        tracing::warn!("cluster: a moderation event for a bad principal was skipped");
    }
    valid.then(|| principal.to_owned())
}

impl World {
    /// Cluster mode: `principal` created public channel `name`, which nobody here knows a
    /// founder of. The channel's claim in `r0c_founders` is asked for off the lock; if it
    /// is won (or `principal` holds it already), the founder is published and set on every
    /// node, this one too, when the stream has it. A claim another principal holds, or that
    /// cannot be made now, founds nothing (logged).
    pub(super) fn cluster_found(&self, name: &str, principal: &str) {
        let Some(outbox) = self.cluster_outbox() else {
            return;
        };
        let founder = Outgoing::Publish {
            user: None,
            event: ClusterEvent::Founder {
                channel: name.to_owned(),
                principal: principal.to_owned(),
            },
        };
        let Some(claims) = self.cluster_claims.get() else {
            // No claim task (the world alone, in unit tests): the founder is published as is.
            if outbox.try_send(founder).is_err() {
                tracing::warn!("cluster outbox full or closed, a founder was not published");
            }
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = ClaimRequest {
            bucket: SharedBucket::Founders,
            name: name.to_owned(),
            holder: Some(principal.to_owned()),
            release: false,
            take_over: false,
            reply: Some(reply),
        };
        if claims.try_send(request).is_err() {
            tracing::warn!(
                chan = name,
                "cluster claim queue full, a channel was not founded"
            );
            return;
        }
        let name = name.to_owned();
        runtime.spawn(async move {
            match tokio::time::timeout(CLAIM_TIMEOUT, answer).await {
                Ok(Ok(ClaimAnswer::Claimed)) => {
                    if outbox.try_send(founder).is_err() {
                        tracing::warn!(
                            chan = name,
                            "cluster outbox full, a founder was not published"
                        );
                    }
                }
                Ok(Ok(ClaimAnswer::Held(holder))) => {
                    tracing::info!(
                        chan = name,
                        holder,
                        "cluster: the channel has a founder already"
                    );
                }
                _ => tracing::warn!(chan = name, "cluster: a channel's founder claim failed"),
            }
        });
    }

    /// The nick of `actor`, whose action is for another node: refused if the cluster cannot
    /// be reached now (it would never get there).
    fn cluster_actor(&self, state: &State, actor: UserId) -> Result<String, String> {
        if !self.cluster_reachable() {
            return Err(CLUSTER_UNREACHABLE.to_owned());
        }
        Ok(state
            .users
            .get(&actor)
            .map(|u| u.nick.clone())
            .unwrap_or_default())
    }

    /// Cluster mode: `/kick` of `nick`, who is not a user of this node: if they are a member
    /// of `channel` on another node, the line is shown here and the kick published, and their
    /// node puts them out.
    pub(super) fn kick_remote(
        &self,
        state: &mut State,
        actor: UserId,
        (channel, name): (ChannelId, &str),
        nick: &str,
        reason: &str,
    ) -> ModResult {
        let member = state
            .channels
            .get(&channel)
            .and_then(|c| c.remote.get(&nick.to_lowercase()))
            .map(|m| m.nick.clone());
        let Some(shown) = member.filter(|_| self.in_cluster()) else {
            return Err(ModError::NotOnline(nick.to_owned()));
        };
        let actor_nick = self.cluster_actor(state, actor)?;
        self.cluster_note(ClusterEvent::Kick {
            channel: name.to_owned(),
            nick: actor_nick.clone(),
            target: shown.clone(),
            reason: reason.to_owned(),
        });
        let line = kick_line(&shown, &actor_nick, reason);
        self.post(state, channel, AUTHOR_SYSTEM, &line, Ping::Nobody);
        self.kicked_remote(state, channel, &shown);
        self.audit(
            state,
            actor,
            "kick",
            &shown,
            &Scope::Channel(name.to_owned()),
            reason,
        );
        Ok(format!("{shown} was kicked from #{name}"))
    }

    /// `/op account:NAME` (or `key:SHA256:...`, and `/deop`, `/voice`, `/devoice` alike) for a
    /// registered user who is not on this node: the role is set by principal, stored and,
    /// in cluster mode, published, so it holds on the node they are on.
    pub(super) fn set_role_by_principal(
        &self,
        state: &mut State,
        user: UserId,
        (channel, name): (ChannelId, &str),
        typed: &str,
        (role, on, word): (Role, bool, &str),
    ) -> ModResult {
        let principal = match principal_mask(typed) {
            Some(Mask::Account(account)) => format!("account:{}", account.to_lowercase()),
            Some(Mask::Key(key)) => format!("key:{key}"),
            _ => {
                return Err(ModError::NotOnlineHere(typed.to_owned()));
            }
        };
        self.check_store().map_err(|e| e.to_string())?;
        let ticket = self.put_role(state, name, principal.clone(), (role, on), &principal)?;
        self.cluster_note(ClusterEvent::Role {
            channel: name.to_owned(),
            principal: principal.clone(),
            role: role.as_str().to_owned(),
            on,
        });
        self.audit(
            state,
            user,
            word,
            &principal,
            &Scope::Channel(name.to_owned()),
            "",
        );
        State::roster_changed(state, channel, None);
        self.confirm(
            state,
            user,
            &format!("{word}: {principal} in #{name}"),
            ticket,
        );
        Ok(String::new())
    }

    /// A member of another node was kicked out of `channel`: they leave its lists here at
    /// once, with the kick line just posted (so IRC clients see KICK, not a part), before
    /// their node's part arrives (which then finds nothing to do).
    fn kicked_remote(&self, state: &mut State, channel: ChannelId, nick: &str) {
        let leaving = cluster::Leaving {
            announce: false,
            reason: "",
            quit: false,
        };
        self.remote_leaves(state, channel, nick, &leaving, now_micros());
    }

    /// Cluster mode: `/invite` of `nick`, who is not a user of this node: published, and
    /// their node lets them in and tells them, if they are online there.
    pub(super) fn invite_remote(
        &self,
        state: &mut State,
        actor: UserId,
        name: &str,
        nick: &str,
    ) -> ModResult {
        if !self.in_cluster() || !matches!(nick::check_nick(nick), nick::NickCheck::Valid(_)) {
            return Err(ModError::NotOnline(nick.to_owned()));
        }
        let actor_nick = self.cluster_actor(state, actor)?;
        self.cluster_note(ClusterEvent::Invite {
            channel: name.to_owned(),
            nick: actor_nick,
            target: nick.to_owned(),
        });
        self.audit(
            state,
            actor,
            "invite",
            nick,
            &Scope::Channel(name.to_owned()),
            "",
        );
        Ok(format!(
            "{nick} is not on this node: the invitation to #{name} goes to the other nodes"
        ))
    }

    /// Applies a moderation event of the stream (`own`: it came from this node).
    pub(in crate::world) fn apply_moderation_event(
        &self,
        state: &mut State,
        own: bool,
        event: ClusterEvent,
    ) {
        match event {
            ClusterEvent::Founder { channel, principal } => {
                let (Some(name), Some(principal)) =
                    (stream_channel(&channel), stream_principal(&principal))
                else {
                    return;
                };
                let entry = state.moderation.channels.entry(name.clone()).or_default();
                if entry.founder.as_deref() == Some(principal.as_str()) {
                    return;
                }
                entry.founder = Some(principal);
                self.store_channel(state, &name);
                self.roster_changed_named(state, &name);
            }
            ClusterEvent::Role {
                channel,
                principal,
                role,
                on,
            } => self.apply_role_event(state, &channel, &principal, &role, on),
            ClusterEvent::Modes {
                channel,
                nick,
                changes,
                session,
            } => self.apply_modes_event(state, own, &channel, &nick, &changes, session),
            ClusterEvent::Kick {
                channel,
                nick,
                target,
                reason,
            } if !own => self.apply_kick_event(state, &channel, &nick, &target, &reason),
            ClusterEvent::Invite {
                channel,
                nick,
                target,
            } if !own => self.apply_invite_event(state, &channel, &nick, &target),
            ClusterEvent::Lockdown { mode, since } => {
                let Ok(mode) = mode.parse::<Lockdown>() else {
                    tracing::warn!("cluster: a lockdown of an unknown mode was skipped");
                    return;
                };
                state.moderation.lockdown = mode;
                state.moderation.lockdown_since = since;
                self.store
                    .moderate(ModWrite::SetLockdown(format!("{}@{since}", mode.as_str())));
            }
            ClusterEvent::Allow { principal, on } => {
                let Some(principal) = stream_principal(&principal) else {
                    return;
                };
                let allowed = &mut state.moderation.allowed;
                if on {
                    if allowed.len() >= MAX_ALLOWED && !allowed.contains(&principal) {
                        tracing::warn!("cluster: the allow list is full here; an entry skipped");
                        return;
                    }
                    allowed.insert(principal.clone());
                    self.store.moderate(ModWrite::PutRole(StoredRole {
                        channel: String::new(),
                        principal,
                        role: "allow".to_owned(),
                    }));
                } else if allowed.remove(&principal) {
                    self.store.moderate(ModWrite::RemoveRole {
                        channel: String::new(),
                        principal,
                    });
                }
            }
            _ => {}
        }
    }

    /// IRC clients in public channel `name` (if open here) sync its member list.
    fn roster_changed_named(&self, state: &mut State, name: &str) {
        if let Some(&channel) = state.public_by_name.get(name) {
            State::roster_changed(state, channel, None);
        }
    }

    /// [`ClusterEvent::Role`]: kept within [`MAX_CHANNEL_ROLES`] and stored.
    fn apply_role_event(
        &self,
        state: &mut State,
        channel: &str,
        principal: &str,
        role: &str,
        on: bool,
    ) {
        let role = match role {
            "op" => Role::Op,
            "voice" => Role::Voice,
            _ => {
                tracing::warn!("cluster: a role event of an unknown role was skipped");
                return;
            }
        };
        let (Some(name), Some(principal)) = (stream_channel(channel), stream_principal(principal))
        else {
            return;
        };
        let entry = state.moderation.channels.entry(name.clone()).or_default();
        if on {
            if entry.roles.get(&principal) == Some(&role) {
                return;
            }
            if entry.roles.len() >= MAX_CHANNEL_ROLES && !entry.roles.contains_key(&principal) {
                tracing::warn!(chan = name, "cluster: a channel's roles are full here");
                return;
            }
            entry.roles.insert(principal.clone(), role);
            self.store.moderate(ModWrite::PutRole(StoredRole {
                channel: name.clone(),
                principal,
                role: role.as_str().to_owned(),
            }));
        } else {
            if entry.roles.get(&principal) != Some(&role) {
                return;
            }
            entry.roles.remove(&principal);
            self.store.moderate(ModWrite::RemoveRole {
                channel: name.clone(),
                principal,
            });
        }
        self.roster_changed_named(state, &name);
    }

    /// [`ClusterEvent::Modes`]: the changes made and stored; another node's are shown in
    /// the channel (its node showed them already). Modes a guest set as the channel's
    /// creator hold only where the channel is open (in use).
    fn apply_modes_event(
        &self,
        state: &mut State,
        own: bool,
        channel: &str,
        nick: &str,
        changes: &str,
        session: bool,
    ) {
        let Some(name) = stream_channel(channel) else {
            return;
        };
        let parsed = (changes.chars().count() <= MAX_MODE_CHANGES_CHARS)
            .then(|| parse_mode_changes(changes).ok())
            .flatten();
        let Some(changes) = parsed else {
            tracing::warn!("cluster: mode changes that do not parse were skipped");
            return;
        };
        let open = state.public_by_name.get(&name).copied();
        if session && open.is_none() {
            return;
        }
        let entry = state.moderation.channels.entry(name.clone()).or_default();
        if session && entry.founder.is_none() {
            entry.session_modes = true;
        }
        apply_changes(entry, &changes);
        self.store_channel(state, &name);
        let Some(channel) = open else {
            return;
        };
        if !own {
            let line = mode_line(&stream_nick(nick), &changes_summary(&changes));
            self.post(state, channel, AUTHOR_SYSTEM, &line, Ping::Nobody);
        }
        self.redraw_members(state, channel);
    }

    /// [`ClusterEvent::Kick`] from another node: the line in the channel here, and the
    /// member put out if they are a user of this node.
    fn apply_kick_event(
        &self,
        state: &mut State,
        channel: &str,
        nick: &str,
        target: &str,
        reason: &str,
    ) {
        let Some(name) = stream_channel(channel) else {
            return;
        };
        let Some(&channel) = state.public_by_name.get(&name) else {
            return;
        };
        let actor = stream_nick(nick);
        let reason = capped(&text::sanitize_message(reason), MAX_KICK_REASON_CHARS);
        let folded = stream_nick(target).to_lowercase();
        let local = state.user_named(&folded).filter(|user| {
            state
                .channels
                .get(&channel)
                .is_some_and(|c| c.members.contains(user))
        });
        let listed = state
            .channels
            .get(&channel)
            .and_then(|c| c.remote.get(&folded))
            .map(|m| m.nick.clone());
        let shown = match local {
            Some(user) => state.users.get(&user).map(|u| u.nick.clone()),
            None => listed,
        };
        let Some(shown) = shown else {
            return;
        };
        let line = kick_line(&shown, &actor, &reason);
        self.post(state, channel, AUTHOR_SYSTEM, &line, Ping::Nobody);
        if local.is_none() {
            self.kicked_remote(state, channel, &shown);
        }
        if let Some(user) = local {
            self.leave_channel(state, user, channel, false);
            self.tell_locked(
                state,
                user,
                AUTHOR_ERROR,
                &kicked_line(&name, &actor, &reason),
            );
        }
    }

    /// [`ClusterEvent::Invite`] from another node: the invited user of this node may join
    /// (past `+i` and `+l`) until they leave the server, and is told.
    fn apply_invite_event(&self, state: &mut State, channel: &str, nick: &str, target: &str) {
        let Some(name) = stream_channel(channel) else {
            return;
        };
        let Some(user) = state.user_named(&stream_nick(target)) else {
            return;
        };
        let entry = state.moderation.channels.entry(name.clone()).or_default();
        if entry.invited.len() >= MAX_INVITED {
            entry.invited.clear();
        }
        entry.invited.insert(user);
        if let Some(u) = state.users.get_mut(&user) {
            u.moderation.guest_marks.insert(name.clone());
        }
        let line = invite_line(&stream_nick(nick), &name);
        self.tell_locked(state, user, AUTHOR_INFO, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::cluster::tests::run;
    use super::super::super::tests::world;
    use super::*;

    #[test]
    fn mode_changes_travel_as_text_that_reads_back_the_same() {
        for typed in ["+m", "-m+it", "+k-s sesame", "+l-k+r 25", "+kl key 3", "-l"] {
            let changes = parse_mode_changes(typed).expect("typed changes parse");
            let text = changes_text(&changes);
            assert_eq!(parse_mode_changes(&text), Ok(changes), "{typed} -> {text}");
        }
    }

    #[test]
    fn moderation_events_from_the_stream_are_checked_and_bad_ones_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (world, store) = world(dir.path(), 100, 1000, 100);
        let (outbox, _receiver) = tokio::sync::mpsc::channel(4);
        world.attach_cluster(outbox, "S", run("here"));
        let there = run("there");
        let founder = |principal: &str| ClusterEvent::Founder {
            channel: "g".into(),
            principal: principal.into(),
        };
        // Not a principal, a nick mask, one far too long: no founder, the cursor moves on.
        world.apply_cluster(&there, founder("alice"), 1, false);
        world.apply_cluster(&there, founder("account:"), 2, false);
        let long = format!("account:{}", "a".repeat(4 * MAX_PRINCIPAL_CHARS));
        world.apply_cluster(&there, founder(&long), 3, false);
        let modes = |changes: &str| ClusterEvent::Modes {
            channel: "g".into(),
            nick: "op".into(),
            changes: changes.into(),
            session: false,
        };
        world.apply_cluster(&there, modes("+q"), 4, false);
        world.apply_cluster(&there, modes(&format!("+k {}", "k".repeat(200))), 5, false);
        world.apply_cluster(
            &there,
            ClusterEvent::Role {
                channel: "no such channel!".into(),
                principal: "account:bob".into(),
                role: "op".into(),
                on: true,
            },
            6,
            false,
        );
        world.apply_cluster(
            &there,
            ClusterEvent::Lockdown {
                mode: "everyone-out".into(),
                since: 1,
            },
            7,
            false,
        );
        {
            let state = world.lock();
            let entry = state.moderation.channels.get("g");
            assert!(entry.is_none_or(|c| c.founder.is_none() && c.key.is_none()));
            assert_eq!(state.moderation.lockdown, Lockdown::Off);
        }
        // Good ones are kept and stored; a role list stops at its cap.
        world.apply_cluster(&there, founder("account:zed"), 8, false);
        world.apply_cluster(&there, modes("+mk sesame"), 9, false);
        for n in 0..=MAX_CHANNEL_ROLES {
            let role = ClusterEvent::Role {
                channel: "g".into(),
                principal: format!("account:user{n}"),
                role: "voice".into(),
                on: true,
            };
            world.apply_cluster(&there, role, 10 + n as u64, false);
        }
        store.flush();
        let stored = store.moderation().expect("moderation reads");
        let channel = stored
            .channels
            .iter()
            .find(|c| c.name == "g")
            .expect("channel stored");
        assert_eq!(channel.founder.as_deref(), Some("account:zed"));
        assert_eq!(channel.modes, "m");
        assert_eq!(channel.key.as_deref(), Some("sesame"));
        assert_eq!(stored.roles.len(), MAX_CHANNEL_ROLES);
        assert_eq!(
            store.read_cluster_cursor("S").expect("read"),
            Some(10 + MAX_CHANNEL_ROLES as u64)
        );
    }
}
