//! The IRC bridge's entry points: bridged channels kept open, what to relay, lines from IRC.

use super::*;

/// How a line of chat goes over IRC: what the bridge heard, and how it relays a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// PRIVMSG.
    Chat,
    /// A `/me`: PRIVMSG with CTCP ACTION.
    Action,
    /// NOTICE.
    Notice,
}

/// The prefix of every IRC nick shown in r0c. A local nick must start with a letter or digit,
/// so no local user can pass for someone on IRC, or the other way round.
pub const IRC_NICK_PREFIX: char = '~';

/// How an IRC nick is shown in r0c: sanitized, without blanks, at most
/// [`nick::MAX_NICK_CHARS`] characters, after [`IRC_NICK_PREFIX`]. `None` if nothing is left.
pub fn irc_author(irc_nick: &str) -> Option<String> {
    let clean: String = text::sanitize_plain(irc_nick)
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(nick::MAX_NICK_CHARS)
        .collect();
    (!clean.is_empty()).then(|| format!("{IRC_NICK_PREFIX}{clean}"))
}

impl World {
    /// Opens public channel `name` for an IRC bridge link (with `loaded`, its history as read
    /// from the store, if it is not open yet: see [`World::is_open`]) and keeps it open for
    /// good, even when empty. `watcher` is woken whenever a new message in it is committed.
    /// Returns the sequence number the next message will get: where the link starts relaying.
    pub fn open_bridged(&self, name: &str, loaded: LoadedChannel, watcher: Arc<Notify>) -> u64 {
        let channel = {
            let mut state = self.lock();
            match state.public_by_name.get(name).copied() {
                Some(channel) => channel,
                None => self.create_public(&mut state, name, loaded),
            }
        };
        let mut state = self.lock();
        let Some(channel) = state.channels.get_mut(&channel) else {
            return 0;
        };
        channel.bridged = true;
        channel.watchers.push(watcher);
        channel.next_seq
    }

    /// Up to `count` messages of public channel `name` from sequence number `from` on (fewer
    /// if older ones were trimmed from memory), only those the store has committed (like
    /// [`World::view`], so IRC is never told what might be lost), and the number of the next
    /// message to relay after them, which is also where the link stops until more are
    /// committed; for the IRC bridge. The flag says a message waits for the store.
    pub fn bridge_messages(
        &self,
        name: &str,
        from: u64,
        count: usize,
    ) -> (Vec<Arc<Message>>, u64, bool) {
        let state = self.lock();
        let Some(channel) = state
            .public_by_name
            .get(name)
            .and_then(|id| state.channels.get(id))
        else {
            return (Vec::new(), from, false);
        };
        let shown = channel
            .messages
            .partition_point(|m| self.store.is_committed(m.ticket));
        let waiting = shown < channel.messages.len();
        let next_seq = channel
            .messages
            .get(shown)
            .map_or(channel.next_seq, |m| m.seq);
        let start = channel
            .messages
            .partition_point(|m| m.seq < from)
            .min(shown);
        let messages = channel
            .messages
            .range(start..shown)
            .take(count)
            .cloned()
            .collect();
        (messages, next_seq, waiting)
    }

    /// A message (or, with `action`, a `/me`) from IRC user `irc_nick` arriving over bridge
    /// link `link` into public channel `name`. The nick is shown with [`IRC_NICK_PREFIX`];
    /// nick and text pass the sanitizer like anything typed. Local users are pinged by
    /// mentions as usual.
    pub fn post_from_irc(&self, name: &str, irc_nick: &str, text: &str, said: Said, link: usize) {
        let Some(author) = irc_author(irc_nick) else {
            return;
        };
        if self.check_store().is_err() {
            // Nobody could see it before it is saved, and it cannot be saved now.
            tracing::debug!(
                chan = name,
                "message from IRC dropped: the store cannot write"
            );
            return;
        }
        let text = text::sanitize_message(text);
        let mut state = self.lock();
        let Some(channel) = state.public_by_name.get(name).copied() else {
            return;
        };
        if self.irc_author_silenced(&state, name, &author) {
            // Kicked or banned here: their lines are dropped on our side.
            return;
        }
        let kind = match said {
            Said::Notice => MessageKind::Notice,
            _ => MessageKind::Chat,
        };
        if said == Said::Action {
            let line = format!("\x02{author}\x02 {text}");
            let origin = Origin::Bridge(link);
            self.post_from(
                &mut state,
                channel,
                (AUTHOR_ACTION, &line, MessageKind::Chat),
                Ping::Mentioned,
                origin,
            );
        } else {
            let origin = Origin::Bridge(link);
            self.post_from(
                &mut state,
                channel,
                (&author, &text, kind),
                Ping::Mentioned,
                origin,
            );
        }
    }

    /// A system line about the IRC side of public channel `name` (joins, parts, the link
    /// going up or down). The text passes the sanitizer; it is never relayed.
    pub fn post_irc_notice(&self, name: &str, text: &str) {
        let text = text::sanitize_message(text);
        let mut state = self.lock();
        if let Some(channel) = state.public_by_name.get(name).copied() {
            self.post(&mut state, channel, AUTHOR_SYSTEM, &text, Ping::Nobody);
        }
    }
}
