//! `/away` and `/back` (a reason others read in `/names`, `/whois` and, once per sender and
//! away period, in answer to a DM), and what the world decides for `/search`: which of the
//! hits the store found the searcher may see, listed in their status window.

use std::collections::HashSet;

use super::{AUTHOR_INFO, ChannelKind, State, UserId, World};
use crate::store::SearchHit;
use crate::text;

/// The longest away reason kept, in characters (longer ones are cut).
pub const MAX_AWAY_CHARS: usize = 160;

/// The most senders one away period remembers having told; past it a sender may read the
/// reason again, which is harmless, and the set stays small.
const MAX_TOLD: usize = 1000;

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
        Self::away_changed(&mut state, user);
        reason
    }

    /// The user's away state changed: the IRC clients among the members of their public
    /// channels sync the member lists (`away-notify`). The work is bounded by the user's
    /// window cap times the channels' members, as a nick change's, and `/away` and `/back`
    /// draw on the command budget.
    fn away_changed(state: &mut State, user: UserId) {
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
            Self::away_changed(&mut state, user);
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

    /// `/search`: lists the first `max` of `hits` (newest first) that `user` may see in
    /// their status window; a hit in a channel the user may not join is left out.
    pub fn list_search_hits(&self, user: UserId, words: &[String], hits: &[SearchHit], max: usize) {
        // Access is decided under the lock, once per channel among the hits; the lines are
        // made after it is released.
        let mut allowed: std::collections::HashMap<&str, bool> = Default::default();
        {
            let state = self.lock();
            for hit in hits {
                allowed
                    .entry(hit.channel.as_str())
                    .or_insert_with(|| self.may_search(&state, user, &hit.channel));
            }
        }
        let mut lines = Vec::new();
        for hit in hits {
            if !allowed.get(hit.channel.as_str()).copied().unwrap_or(false) {
                continue;
            }
            if lines.len() == max {
                break;
            }
            let when = jiff::Timestamp::from_microsecond(hit.unix_micros)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                .strftime("%Y-%m-%d %H:%M:%S");
            let mut quoted = text::strip_formatting(&hit.text);
            if let Some((cut, _)) = quoted.char_indices().nth(120) {
                quoted.truncate(cut);
                quoted.push('…');
            }
            lines.push(format!(
                "#{} /g {when}  <{}> {quoted}",
                hit.channel,
                text::strip_formatting(&hit.author)
            ));
        }
        let asked = words.join(" ");
        let text = if lines.is_empty() {
            format!("[search] nothing found for \"{asked}\" that you may see")
        } else {
            format!(
                "[search] \"{asked}\": {} newest matches, times in UTC (in the channel, /g goes there)\n{}",
                lines.len(),
                lines.join("\n")
            )
        };
        self.tell(user, AUTHOR_INFO, &text);
    }

    /// Whether `user` may read the history of public channel `name` (never a stored
    /// conversation's): a member may, anyone
    /// else only if they could join it now (no ban, not invite-only for them, no key they have
    /// not given, not registered-only for a guest, no lockdown that keeps them out). A ban
    /// hides the channel even from a member.
    fn may_search(&self, state: &State, user: UserId, name: &str) -> bool {
        // Stored conversations share the history tables (and so the index) with channels;
        // no search ever shows one, not even to its partners.
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
