//! The world's side of history beyond memory, in two steps: the world says what must be read
//! (a channel to open, a moment to search for), the caller reads it off the async workers
//! (`crate::history`), and the world takes what was read. The world itself never reads the
//! store and never waits for it; it also hands out snapshots of the messages it holds, so a
//! renderer never calls back into it.

use std::sync::Arc;

use crate::store::Health;

use super::{
    Around, ChannelId, ChannelKind, Goto, JoinError, Message, MessageKind, SCROLLTEST_CHANNEL,
    UserId, World, scrolltest_filler,
};

/// A public channel as read from the store before it is opened.
#[derive(Debug, Default)]
pub struct LoadedChannel {
    /// The newest `--hist-rd` messages, oldest first, already converted (off the lock).
    pub history: Vec<Arc<Message>>,
    /// The number the channel's next message gets.
    pub next_seq: u64,
    /// The stored topic, if one was ever set (sanitized).
    pub topic: Option<String>,
}

/// What the world needs read from the store before it can go on; carried out by
/// `crate::history` off the async workers, then handed back to the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    /// Open public channel `name`: first wait until the write with ticket `after` is committed
    /// (the channel was closed since the store last caught up, so numbering continues after
    /// what was said before), then read its newest `limit` messages, its numbering and topic.
    Join {
        name: String,
        after: u64,
        limit: usize,
    },
    /// `/msg` to an identified user, whose conversation is not in memory: wait for the write
    /// with ticket `after` (it may have been closed just now), read its newest `limit`
    /// messages and numbering, then send `text` to `target` ([`World::finish_direct`]).
    Direct {
        conversation: String,
        target: String,
        text: String,
        /// Chat or a notice.
        kind: MessageKind,
        after: u64,
        limit: usize,
    },
    /// `/g` to a moment before everything in memory: the first message of `name` posted at or
    /// after `micros` among those numbered below `before`, or `before` itself.
    Goto {
        name: String,
        micros: i64,
        before: u64,
    },
}

/// The first step of `/join`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinStep {
    /// Done: whether the user became a member (`false`: they only switched to their window).
    Done(bool),
    /// The channel is not in memory: read it ([`Load::Join`]), then [`World::finish_join`].
    Load(Load),
}

/// Where `/g` lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GotoStep {
    /// On this sequence number.
    Land(u64),
    /// Before everything in memory: search the store ([`Load::Goto`]).
    Load(Load),
}

/// Every message of a channel numbered `lo..hi`, oldest first: a part of the history known to
/// be complete, from memory ([`MemorySlice`]) or from the store (a page a session read).
#[derive(Debug, Clone, Default)]
pub struct Span {
    /// The first sequence number covered.
    pub lo: u64,
    /// The first sequence number past the span.
    pub hi: u64,
    /// The messages numbered `lo..hi` (numbers may be missing: those messages do not exist).
    pub messages: Vec<Arc<Message>>,
}

/// Messages of one window that the world holds in memory, copied out for a renderer.
#[derive(Debug, Clone, Default)]
pub struct MemorySlice {
    /// The parts asked for, each complete, in sequence order and not overlapping.
    pub spans: Vec<Span>,
    /// The number of the oldest message in memory: older ones are in the store (of a public
    /// channel) or gone.
    pub oldest: u64,
    /// The public channel's name, whose older messages the store holds.
    pub stored: Option<String>,
}

impl World {
    /// `/join`, first step: joins or switches to a public channel that is in memory, or says
    /// what to read to open it (checked against the limits first, so a refused join costs no
    /// I/O). The second step is [`World::finish_join`].
    pub fn begin_join(&self, user: UserId, name: &str) -> Result<JoinStep, JoinError> {
        let mut state = self.lock();
        let member = state.public_by_name.get(name).is_some_and(|channel| {
            state
                .users
                .get(&user)
                .is_some_and(|u| u.windows.iter().any(|w| w.channel == *channel))
        });
        if !member && let Some(refusal) = self.join_refusal(&state, user, name) {
            return Err(refusal.into());
        }
        if let Some(channel) = state.public_by_name.get(name).copied() {
            return Ok(JoinStep::Done(
                self.enter_public(&mut state, user, channel, name)?,
            ));
        }
        state.may_open_window(user, self.settings.max_windows_per_user)?;
        state.may_open_channel(self.settings.max_channels)?;
        if self.store.health() != Health::Healthy {
            return Err(JoinError::StoreUnavailable(name.to_string()));
        }
        Ok(JoinStep::Load(Load::Join {
            name: name.to_string(),
            after: state.last_close_ticket,
            limit: self.settings.hist_rd,
        }))
    }

    /// `/join`, second step: opens the channel with what was read (`None`: it could not be
    /// read because the store cannot write now) and joins it. Someone may have opened it in the
    /// meantime; then their copy is the one.
    pub fn finish_join(
        &self,
        user: UserId,
        name: &str,
        loaded: Option<LoadedChannel>,
    ) -> Result<bool, JoinError> {
        let mut state = self.lock();
        let channel = match state.public_by_name.get(name).copied() {
            Some(channel) => channel,
            None => {
                let Some(mut loaded) = loaded else {
                    return Err(JoinError::StoreUnavailable(name.to_string()));
                };
                if name == SCROLLTEST_CHANNEL {
                    scrolltest_filler(&mut loaded);
                }
                if let Some(refusal) = self.join_refusal(&state, user, name) {
                    return Err(refusal.into());
                }
                state.may_open_channel(self.settings.max_channels)?;
                let brand_new = loaded.next_seq == 0 && loaded.history.is_empty();
                let id = self.create_public(&mut state, name, loaded);
                // Opened now: its creator founds it, if registered and nobody founded it; a
                // guest who creates a brand new channel is its operator while in it.
                self.found_channel(&mut state, user, name);
                if brand_new {
                    self.grant_creator_op(&mut state, user, name);
                }
                id
            }
        };
        Ok(self.enter_public(&mut state, user, channel, name)?)
    }

    /// How many messages opening a channel reads (`--hist-rd`).
    pub fn history_limit(&self) -> usize {
        self.settings.hist_rd
    }

    /// Whether public channel `name` is in memory (then opening it reads nothing).
    pub fn is_open(&self, name: &str) -> bool {
        self.lock().public_by_name.contains_key(name)
    }

    /// Where `/g` lands in the active window, or `None` if it is empty: a sequence number, or
    /// for a moment before everything in memory of a public channel, the search to make.
    pub fn goto_seq(&self, user: UserId, target: Goto) -> Option<GotoStep> {
        let state = self.lock();
        let u = state.users.get(&user)?;
        let channel = state.channels.get(&u.windows.get(u.active)?.channel)?;
        let count = channel.messages.len();
        let index = match target {
            Goto::Index(index) => index,
            Goto::Percent(percent) => ((percent.clamp(0.0, 100.0) / 100.0) * count as f64) as usize,
            Goto::Time(micros) => channel.messages.partition_point(|m| m.unix_micros < micros),
        };
        let landed = channel
            .messages
            .get(index.min(count.checked_sub(1)?))
            .map(|m| m.seq)?;
        Some(match (target, &channel.kind) {
            // The moment is before everything in memory, so the store may hold older messages
            // from then.
            (Goto::Time(micros), ChannelKind::Public { name }) if index == 0 && landed > 0 => {
                GotoStep::Load(Load::Goto {
                    name: name.clone(),
                    micros,
                    before: landed,
                })
            }
            (Goto::Time(micros), ChannelKind::Direct)
                if index == 0 && landed > 0 && channel.stored_as.is_some() =>
            {
                GotoStep::Load(Load::Goto {
                    name: channel.stored_as.clone().unwrap_or_default(),
                    micros,
                    before: landed,
                })
            }
            _ => GotoStep::Land(landed),
        })
    }

    /// Copies out the messages in memory of `channel` (which the user must be in) that the
    /// reads `wants` would return (the newest `count` before a number, or the oldest `count`
    /// from one), only those the store has committed (like [`World::view`]); overlapping
    /// reads are copied once. A renderer is given this instead of calling the world.
    pub fn memory_messages(
        &self,
        user: UserId,
        channel: ChannelId,
        wants: &[(Around, usize)],
    ) -> Option<MemorySlice> {
        let state = self.lock();
        let member = state
            .users
            .get(&user)
            .is_some_and(|u| u.windows.iter().any(|w| w.channel == channel));
        // A user who is gone is no member either: nothing to read.
        let ignores = state.users.get(&user).map(|u| &u.moderation.ignores)?;
        let hide_joins = state.users.get(&user).is_some_and(|u| u.prefs.hide_joins);
        let zone = state.users.get(&user).and_then(|u| u.prefs.zone.as_ref());
        let channel = state.channels.get(&channel).filter(|_| member)?;
        let messages = &channel.messages;
        let shown = messages.partition_point(|m| self.store.is_committed(m.ticket));
        let mut ranges: Vec<(usize, usize)> = wants
            .iter()
            .map(|&(around, count)| match around {
                Around::Before(seq) => {
                    let end = messages.partition_point(|m| m.seq < seq).min(shown);
                    (end.saturating_sub(count), end)
                }
                Around::From(seq) => {
                    let start = messages.partition_point(|m| m.seq < seq).min(shown);
                    (start, start.saturating_add(count).min(shown))
                }
            })
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let oldest = messages.front().map_or(channel.next_seq, |m| m.seq);
        let shown_seq = messages.get(shown).map_or(channel.next_seq, |m| m.seq);
        let spans = merged
            .into_iter()
            .map(|(start, end)| Span {
                // Indexes `start..end` hold every message numbered from just after the one
                // before `start` up to the one at `end`.
                lo: match start.checked_sub(1).and_then(|i| messages.get(i)) {
                    Some(before) => before.seq + 1,
                    None => oldest,
                },
                hi: messages
                    .get(end)
                    .filter(|_| end < shown)
                    .map_or(shown_seq, |m| m.seq),
                messages: {
                    let mut copied = if hide_joins {
                        super::quiet::folded_range(messages, start, end)
                    } else {
                        messages.range(start..end).cloned().collect()
                    };
                    if let Some(zone) = zone {
                        let before = super::days::message_before(messages, start);
                        copied = super::days::local_days(copied, before, zone);
                    }
                    copied
                        .into_iter()
                        .filter(|m| ignores.is_empty() || !super::ignore::hides(ignores, m))
                        .collect()
                },
            })
            .collect();
        let stored = match &channel.kind {
            ChannelKind::Public { name } if oldest > 0 => Some(name.clone()),
            ChannelKind::Direct if oldest > 0 => channel.stored_as.clone(),
            _ => None,
        };
        Some(MemorySlice {
            spans,
            oldest,
            stored,
        })
    }
}
