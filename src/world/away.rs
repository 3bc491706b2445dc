//! `/away` and `/back` (a reason others read in `/names`, `/whois` and, once per sender and
//! away period, in answer to a DM), and what the world decides for `/search`: which of the
//! hits the store found the searcher may see, listed in their status window.

use std::collections::{HashMap, HashSet};

use super::{
    AUTHOR_INFO, ChannelId, ChannelKind, JoinStep, Load, MessageKind, State, UserId, World,
};
use crate::store::SearchHit;
use crate::term::zone::{Zone, shown_micros};
use crate::text;

/// Where `/g rN` goes, first step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundStep {
    /// The user's active window is now on this channel.
    Here(ChannelId),
    /// Read this first (`/join`'s or `/msg`'s load), then the window is the active one.
    Load(Load),
}

/// What `/g rN` answers when the user has no window to show (they are leaving).
fn gone() -> String {
    "no window to show the result in".to_string()
}

/// One listed `/search` result, as `/g rN` finds it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The history's store name: a public channel's (without `#`) or a conversation's.
    pub channel: String,
    /// The message's number there.
    pub seq: u64,
    /// The words searched for, hilighted when the message is shown.
    pub words: Vec<String>,
}

/// The longest away reason kept, in characters (longer ones are cut).
pub const MAX_AWAY_CHARS: usize = 160;

/// The most senders one away period remembers having told; past it a sender may read the
/// reason again, which is harmless, and the set stays small.
pub(super) const MAX_TOLD: usize = 1000;

/// A user's away state: the reason and who was told it since the user went away.
#[derive(Debug, Default)]
pub(super) struct Away {
    reason: String,
    told: HashSet<UserId>,
}

impl World {
    /// `/away [reason]`: marks the user away (a new period: everyone may be told again);
    /// returns the reason as kept.
    pub fn set_away(&self, user: UserId, reason: &str) -> String {
        let mut reason = text::strip_formatting(&text::sanitize_message(reason));
        if let Some((cut, _)) = reason.char_indices().nth(MAX_AWAY_CHARS) {
            reason.truncate(cut);
        }
        let reason = reason.trim().to_string();
        let mut state = self.lock();
        if let Some(u) = state.users.get_mut(&user) {
            u.away = Some(Away {
                reason: reason.clone(),
                told: HashSet::new(),
            });
        }
        Self::member_changed(&mut state, user);
        self.cluster_away(&state, user);
        reason
    }

    /// The user's away state or account changed: the IRC clients among the members of their
    /// public channels sync the member lists (`away-notify`, `account-notify`). The work is bounded by the user's
    /// window cap times the channels' members, as a nick change's, and `/away` and `/back`
    /// draw on the command budget.
    pub(super) fn member_changed(state: &mut State, user: UserId) {
        let channels: Vec<super::ChannelId> = state
            .users
            .get(&user)
            .map(|u| u.windows.iter().map(|w| w.channel).collect())
            .unwrap_or_default();
        for id in channels {
            State::roster_changed(state, id, Some(user));
        }
    }

    /// `/back`: whether the user was away.
    pub fn set_back(&self, user: UserId) -> bool {
        let mut state = self.lock();
        let was = state
            .users
            .get_mut(&user)
            .and_then(|u| u.away.take())
            .is_some();
        if was {
            Self::member_changed(&mut state, user);
            self.cluster_away(&state, user);
        }
        was
    }

    /// The away reason of the user online as `nick` (empty if none was given), if they are
    /// away.
    pub fn away_reason_of(&self, nick: &str) -> Option<String> {
        let state = self.lock();
        let id = *state.nicks.get(&nick.to_lowercase())?;
        state.away_reason(id).map(str::to_string)
    }

    /// The user's away reason (empty if none was given), if they are away.
    pub fn away_reason(&self, user: UserId) -> Option<String> {
        let state = self.lock();
        state.away_reason(user).map(str::to_string)
    }

    /// After `sender` wrote in DM channel `channel`: tells the sender the partner's away
    /// reason, once per away period.
    pub(super) fn answer_for_away_partner(
        &self,
        state: &mut State,
        sender: UserId,
        channel: super::ChannelId,
    ) {
        let Some(partner) = state
            .channels
            .get(&channel)
            .and_then(|c| c.members.iter().copied().find(|m| *m != sender))
        else {
            return;
        };
        // An IRC client answers its user with RPL_AWAY (301) itself, at every message.
        if state
            .users
            .get(&sender)
            .is_some_and(|u| u.irc_ident.is_some())
        {
            return;
        }
        let Some(p) = state.users.get_mut(&partner) else {
            return;
        };
        let nick = p.nick.clone();
        let Some(away) = p.away.as_mut() else {
            return;
        };
        if away.told.contains(&sender) {
            return;
        }
        if away.told.len() < MAX_TOLD {
            away.told.insert(sender);
        }
        let text = if away.reason.is_empty() {
            format!("{nick} is away")
        } else {
            format!("{nick} is away: {}", away.reason)
        };
        self.tell_locked(state, sender, AUTHOR_INFO, &text);
    }

    /// What a search of `user`'s needs besides the query: their zone (dates typed and times
    /// shown) and their principal (whose stored conversations they may search).
    pub fn search_context(&self, user: UserId) -> (Option<Zone>, Option<String>) {
        let state = self.lock();
        let zone = state.users.get(&user).and_then(|u| u.prefs.zone.clone());
        (zone, state.principal_of(user))
    }

    /// `/search`: lists the first `max` of `hits` (newest first) that `user` may see in
    /// their status window, numbered for `/g rN`, and returns them in that order; a hit in a
    /// channel the user may not join, or in a conversation they are not a partner of, is
    /// left out.
    pub fn list_search_hits(
        &self,
        user: UserId,
        words: &[String],
        hits: &[SearchHit],
        max: usize,
    ) -> Vec<Found> {
        // Access and labels are decided under the lock, once per channel among the hits; the
        // lines are made after it is released.
        let mut labels: HashMap<&str, Option<String>> = HashMap::new();
        let zone = {
            let state = self.lock();
            for hit in hits {
                labels
                    .entry(hit.channel.as_str())
                    .or_insert_with(|| self.search_label(&state, user, &hit.channel));
            }
            state.users.get(&user).and_then(|u| u.prefs.zone.clone())
        };
        let mut lines = Vec::new();
        let mut found = Vec::new();
        for hit in hits {
            let Some(Some(label)) = labels.get(hit.channel.as_str()) else {
                continue;
            };
            if found.len() == max {
                break;
            }
            let when =
                jiff::Timestamp::from_microsecond(shown_micros(zone.as_ref(), hit.unix_micros))
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                    .strftime("%Y-%m-%d %H:%M:%S");
            let mut quoted = text::strip_formatting(&hit.text);
            if let Some((cut, _)) = quoted.char_indices().nth(120) {
                quoted.truncate(cut);
                quoted.push('…');
            }
            found.push(Found {
                channel: hit.channel.clone(),
                seq: hit.seq,
                words: words.to_vec(),
            });
            lines.push(format!(
                "r{} {label} {when}  <{}> {quoted}",
                found.len(),
                text::strip_formatting(&hit.author)
            ));
        }
        let asked = words.join(" ");
        let text = if lines.is_empty() {
            format!("[search] nothing found for \"{asked}\" that you may see")
        } else {
            format!(
                "[search] \"{asked}\": {} newest matches, times in {}; /g r1 goes to the first\n{}",
                lines.len(),
                zone.as_ref().map_or("UTC", Zone::name),
                lines.join("\n")
            )
        };
        self.tell(user, AUTHOR_INFO, &text);
        found
    }

    /// `/g rN`, first step: switches `user` to their window on history `name` (a public
    /// channel or one of their stored conversations), joining or opening it if need be, and
    /// returns the window's channel; or says what to read first. Access is checked again
    /// (the result may be old: a ban or a key since), with the answers of `/join`.
    pub fn open_found(&self, user: UserId, name: &str) -> Result<FoundStep, String> {
        if !super::direct::is_conversation_name(name) {
            return match self.begin_join(user, name) {
                Ok(JoinStep::Done(_)) => self
                    .active_channel(user)
                    .map(FoundStep::Here)
                    .ok_or_else(gone),
                Ok(JoinStep::Load(load)) => Ok(FoundStep::Load(load)),
                Err(refusal) => Err(refusal.to_string()),
            };
        }
        let mut state = self.lock();
        let partner = state
            .principal_of(user)
            .and_then(|own| super::direct::partner_in(name, &own).map(str::to_string))
            .ok_or_else(|| "that result is not in one of your conversations".to_string())?;
        let alias = state.principal_label(user, name, &partner);
        let open = state.users.get(&user).and_then(|u| {
            u.windows.iter().position(|w| {
                state
                    .channels
                    .get(&w.channel)
                    .is_some_and(|c| c.stored_as.as_deref() == Some(name))
            })
        });
        if let Some(index) = open {
            state.switch_window(user, index);
            return self
                .active_channel_locked(&state, user)
                .map(FoundStep::Here)
                .ok_or_else(gone);
        }
        if let Some(channel) = state.direct_by_key.get(name).copied() {
            // In memory (the partner has it open): a window on it, nothing sent.
            self.send_in_conversation(&mut state, user, channel, &alias, ("", MessageKind::Chat))
                .map_err(|e| e.to_string())?;
            return self
                .active_channel_locked(&state, user)
                .map(FoundStep::Here)
                .ok_or_else(gone);
        }
        state
            .may_open_window(user, self.settings.max_windows_per_user)
            .map_err(|e| e.to_string())?;
        state
            .may_open_channel(self.settings.max_channels)
            .map_err(|e| e.to_string())?;
        Ok(FoundStep::Load(Load::Direct {
            conversation: name.to_string(),
            target: alias,
            text: String::new(),
            kind: MessageKind::Chat,
            after: state.last_close_ticket,
            limit: self.settings.hist_rd,
        }))
    }

    /// The channel of `user`'s active window.
    pub fn active_channel(&self, user: UserId) -> Option<ChannelId> {
        let state = self.lock();
        self.active_channel_locked(&state, user)
    }

    /// Whether `channel`, one of `user`'s windows, shows history `name` (a public channel's
    /// store name or a conversation's).
    pub fn window_is_history(&self, user: UserId, channel: ChannelId, name: &str) -> bool {
        let state = self.lock();
        let member = state
            .users
            .get(&user)
            .is_some_and(|u| u.windows.iter().any(|w| w.channel == channel));
        member
            && state.channels.get(&channel).is_some_and(|c| {
                c.stored_as.as_deref() == Some(name)
                    || matches!(&c.kind, ChannelKind::Public { name: n } if n == name)
            })
    }

    fn active_channel_locked(&self, state: &State, user: UserId) -> Option<ChannelId> {
        let u = state.users.get(&user)?;
        u.windows.get(u.active).map(|w| w.channel)
    }

    /// How a search result in history `name` is labelled for `user` (`#chan`, or `@partner`
    /// for one of their stored conversations), or `None` if they may not see it.
    fn search_label(&self, state: &State, user: UserId, name: &str) -> Option<String> {
        if super::direct::is_conversation_name(name) {
            let own = state.principal_of(user)?;
            let partner = super::direct::partner_in(name, &own)?;
            return Some(format!("@{}", state.principal_label(user, name, partner)));
        }
        self.may_search(state, user, name)
            .then(|| format!("#{name}"))
    }

    /// Whether `user` may read the history of public channel `name` (never a stored
    /// conversation's: see [`World::search_label`]): a member may, anyone else only if they
    /// could join it now (no ban, not invite-only for them, no key they have not given, not
    /// registered-only for a guest, no lockdown that keeps them out). A ban hides the
    /// channel even from a member.
    fn may_search(&self, state: &State, user: UserId, name: &str) -> bool {
        if super::direct::is_conversation_name(name) || state.banned_from(user, name) {
            return false;
        }
        self.is_member(state, user, name) || self.join_refusal(state, user, name).is_none()
    }

    /// Whether `user` has a window on public channel `name`.
    fn is_member(&self, state: &State, user: UserId, name: &str) -> bool {
        let Some(u) = state.users.get(&user) else {
            return false;
        };
        u.windows.iter().any(|w| {
            state
                .channels
                .get(&w.channel)
                .is_some_and(|c| matches!(&c.kind, ChannelKind::Public { name: n } if n == name))
        })
    }
}

impl State {
    /// The user's away reason, if they are away.
    pub(super) fn away_reason(&self, user: UserId) -> Option<&str> {
        self.users
            .get(&user)
            .and_then(|u| u.away.as_ref())
            .map(|a| a.reason.as_str())
    }
}
