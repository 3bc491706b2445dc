//! Chat-state changes as values (post, join, part, nick, topic...), applied in one place.
//!
//! A method of [`World`] checks what the caller may do (limits, permissions, the store's
//! health; flood control is the session's) and then builds an [`Event`] and hands it to
//! [`World::apply_locked`], which makes the change: the state, the wake list and the store's
//! queue. An event is plain data, ids, names, text already sanitized and times in unix
//! microseconds, so that it can later be sent to other nodes and applied there the same way.

use super::*;

/// One change of the shared chat state, already allowed: applying it does not check limits
/// or permissions again.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A connection becomes user `user` with nick `nick` (free, chosen by the caller), gets
    /// a status window whose first lines are the join line and `welcome` (sanitized).
    Connect {
        user: UserId,
        nick: String,
        /// The fingerprint of the user's ssh key, if they authenticated with one.
        identity: Option<String>,
        peer: SocketAddr,
        admin: bool,
        prefs: Prefs,
        welcome: String,
        unix_micros: i64,
    },
    /// User `user` leaves: they part every channel (with `announce`, the others are told).
    Disconnect {
        user: UserId,
        announce: bool,
        /// Why, as an IRC client's QUIT gave it (empty: none); shown on the parting lines.
        reason: String,
        unix_micros: i64,
    },
    /// A line appended to a channel: chat, `/me`, a direct message, a line from IRC, a system
    /// or status line.
    Post(Post),
    /// `user` becomes a member of `channel` in a new window named `alias`; the join line is
    /// posted. Nothing happens if they are a member already.
    Join {
        user: UserId,
        channel: ChannelId,
        alias: String,
        unix_micros: i64,
    },
    /// `user` leaves `channel`; with `announce` the others are told (folded nick changes
    /// first). An empty channel is closed unless it is bridged.
    Part {
        user: UserId,
        channel: ChannelId,
        announce: bool,
        /// Why, as an IRC client's PART or QUIT gave it (empty: none), sanitized and cut to
        /// [`super::MAX_PART_REASON`] characters on the parting line.
        reason: String,
        unix_micros: i64,
    },
    /// `user` is now known as `nick`, which was checked (valid, free, no look-alike): one
    /// line per channel of theirs, with churn folded.
    NickChange {
        user: UserId,
        nick: String,
        unix_micros: i64,
    },
    /// `nick` sets the topic of public channel `channel` (already sanitized and short enough).
    Topic {
        channel: ChannelId,
        nick: String,
        topic: String,
        unix_micros: i64,
    },
    /// `/cls`: the in-memory history of `channel` is emptied (the store keeps it) by `nick`.
    Clear {
        channel: ChannelId,
        nick: String,
        unix_micros: i64,
    },
    /// `/bc` and the day change: `text` (sanitized) in every channel; `redraw` brings
    /// everyone's screen back to the bottom.
    Broadcast {
        text: String,
        redraw: bool,
        unix_micros: i64,
    },
}

/// A line for a channel, as [`Event::Post`] carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub channel: ChannelId,
    /// A nick, or one of the `AUTHOR_*` pseudo-authors.
    pub author: String,
    /// Canonical text (see [`crate::text`]).
    pub text: std::sync::Arc<str>,
    /// Where it came from, for the IRC bridge.
    pub origin: Origin,
    /// Chat or an IRC NOTICE.
    pub kind: MessageKind,
    /// Who it notifies.
    pub ping: Ping,
    /// The line is not shown before the write with this ticket is committed
    /// ([`TICKET_NOT_STORED`]: no such wait); only status lines quoting a message use it.
    pub after: u64,
    /// When it was posted, in microseconds since the Unix epoch (UTC).
    pub unix_micros: i64,
}

/// Who a new message notifies as a mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// Nobody (system lines).
    Nobody,
    /// Members whose nick (or `@all`) the text mentions.
    Mentioned,
    /// Every member but the author (direct messages).
    Everyone,
}

impl Post {
    /// A line of the server's own (a system line, command output) that pings nobody.
    pub fn line(channel: ChannelId, author: &str, text: &str, unix_micros: i64) -> Post {
        Post {
            channel,
            author: author.to_string(),
            text: text.into(),
            origin: Origin::Internal,
            kind: MessageKind::Chat,
            ping: Ping::Nobody,
            after: TICKET_NOT_STORED,
            unix_micros,
        }
    }
}

impl World {
    /// Applies `event` under the lock: the one place where chat state changes. What it wakes
    /// is woken when the lock is released.
    pub fn apply(&self, event: Event) {
        let mut state = self.lock();
        self.apply_locked(&mut state, event);
    }

    /// [`World::apply`] with the lock held by the caller, which has checked that the event
    /// is allowed. Lines that follow from an event (a join line, a mention quoted in a status
    /// window) are events of their own and come back through here.
    pub(super) fn apply_locked(&self, state: &mut State, event: Event) {
        match event {
            Event::Connect {
                user,
                nick,
                identity,
                peer,
                admin,
                prefs,
                welcome,
                unix_micros,
            } => self.apply_connect(
                state,
                user,
                nick,
                identity,
                peer,
                admin,
                prefs,
                &welcome,
                unix_micros,
            ),
            Event::Disconnect {
                user,
                announce,
                reason,
                unix_micros,
            } => self.apply_disconnect(state, user, announce, &reason, unix_micros),
            Event::Post(post) => self.apply_post(state, post),
            Event::Join {
                user,
                channel,
                alias,
                unix_micros,
            } => self.apply_join(state, user, channel, alias, unix_micros),
            Event::Part {
                user,
                channel,
                announce,
                reason,
                unix_micros,
            } => self.apply_part(state, user, channel, announce, &reason, unix_micros),
            Event::NickChange {
                user,
                nick,
                unix_micros,
            } => self.apply_nick_change(state, user, &nick, unix_micros),
            Event::Topic {
                channel,
                nick,
                topic,
                unix_micros,
            } => self.apply_topic(state, channel, &nick, topic, unix_micros),
            Event::Clear {
                channel,
                nick,
                unix_micros,
            } => self.apply_clear(state, channel, &nick, unix_micros),
            Event::Broadcast {
                text,
                redraw,
                unix_micros,
            } => self.apply_broadcast(state, &text, redraw, unix_micros),
        }
    }
}
