//! Direct conversations between identified users (an ssh key or an account): their history
//! kept in the store under one name per pair of principals and paged like a channel's, and
//! messages to such a user while they are away, kept until they come back.
//!
//! Guests keep r0c's conversations: nothing read back, nothing sent to someone offline. A
//! conversation between two principals is stored in the public history tables under
//! [`conversation_name`], a name no channel can have (it holds a space), so opening it reads
//! its history off the async workers like `/join` (`Load::Direct`), and scrolling back pages it
//! from the store like a channel. Messages sent while the partner is away are ordinary
//! messages of that history; the offline table only points at them until delivery, and the
//! world keeps those pointers in memory ([`Offline`]), capped, so checking the caps costs no I/O.

use super::*;
use crate::store::{OfflineWrite, StoredOffline};

/// Messages one sender may leave for one recipient before the recipient is back.
pub const MAX_OFFLINE_PER_PAIR: usize = 20;
/// Messages that may wait for one recipient, all senders together.
pub const MAX_OFFLINE_PER_RECIPIENT: usize = 200;
/// Messages that may wait on the whole server.
pub const MAX_OFFLINE_TOTAL: usize = 20_000;

/// The store name of the conversation between two principals: the same for both, and never
/// a channel's (channel names hold no whitespace).
pub fn conversation_name(a: &str, b: &str) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("dm {low} {high}")
}

/// Whether `name` is a stored conversation's (see [`conversation_name`]), not a channel's.
pub fn is_conversation_name(name: &str) -> bool {
    name.chars().any(char::is_whitespace)
}

/// The partner of `own` in stored conversation `name` (see [`conversation_name`]), or `None`
/// if `own` is not one of its two partners (or `name` is no conversation's).
pub fn partner_in<'a>(name: &'a str, own: &str) -> Option<&'a str> {
    let (first, second) = name.strip_prefix("dm ")?.split_once(' ')?;
    if first == own {
        Some(second)
    } else if second == own {
        Some(first)
    } else {
        None
    }
}

/// Messages waiting for one recipient from one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The conversation's store name.
    pub conversation: String,
    /// The sender's principal.
    pub sender: String,
    /// The sender's nick when they last sent one: the recipient's window is named so.
    pub sender_nick: String,
    /// How many wait.
    pub count: usize,
    /// The number of the first one: the recipient has read what is before it.
    pub first_seq: u64,
    /// When the first one was sent.
    pub first_micros: i64,
    /// The number the conversation's next message gets, kept up to date while it is closed,
    /// so it can be opened for the recipient with no read.
    pub next_seq: u64,
}

/// Why a message could not be left for someone away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineRefusal {
    /// The sender left as many as one sender may.
    Pair,
    /// The recipient has as many waiting as one recipient may.
    Recipient,
    /// The server holds as many as it may.
    Total,
}

impl OfflineRefusal {
    /// What the sender reads.
    pub fn text(&self, nick: &str) -> String {
        match self {
            OfflineRefusal::Pair => format!(
                "not sent: {nick} has {MAX_OFFLINE_PER_PAIR} messages from you waiting, the most one sender may leave; more when {nick} is back"
            ),
            OfflineRefusal::Recipient => format!(
                "not sent: {nick} has {MAX_OFFLINE_PER_RECIPIENT} messages waiting, the most anyone may have; try when {nick} is back"
            ),
            OfflineRefusal::Total => {
                "not sent: the server holds as many messages for absent users as it may; try later"
                    .to_string()
            }
        }
    }
}

/// Messages waiting for their recipients, by recipient principal, with an index by
/// conversation so that closing one looks only at its own (at most two recipients: its
/// partners) instead of at everything waiting on the server.
#[derive(Debug, Default)]
pub struct Offline {
    by_recipient: HashMap<String, Vec<Waiting>>,
    /// For each conversation with something waiting, the recipients it waits for.
    by_conversation: HashMap<String, Vec<String>>,
    total: usize,
}

impl Offline {
    /// Builds the bookkeeping from the stored rows.
    pub fn load(rows: Vec<StoredOffline>) -> Offline {
        let mut offline = Offline::default();
        for row in rows {
            offline.note(
                &row.recipient,
                &row.conversation,
                &row.sender,
                &row.sender_nick,
                row.seq,
                row.unix_micros,
            );
            // This row's own entry: its `next_seq` was stored with it.
            if let Some(w) = offline
                .by_recipient
                .get_mut(&row.recipient)
                .and_then(|waiting| {
                    waiting
                        .iter_mut()
                        .find(|w| w.conversation == row.conversation)
                })
            {
                w.next_seq = w.next_seq.max(row.next_seq);
            }
        }
        offline
    }

    /// Whether one more message from `sender` may wait for `recipient`.
    pub fn check(&self, recipient: &str, sender: &str) -> Result<(), OfflineRefusal> {
        if self.total >= MAX_OFFLINE_TOTAL {
            return Err(OfflineRefusal::Total);
        }
        let waiting = self.by_recipient.get(recipient).map_or(&[][..], |w| &w[..]);
        if waiting.iter().map(|w| w.count).sum::<usize>() >= MAX_OFFLINE_PER_RECIPIENT {
            return Err(OfflineRefusal::Recipient);
        }
        let from_sender: usize = waiting
            .iter()
            .filter(|w| w.sender == sender)
            .map(|w| w.count)
            .sum();
        if from_sender >= MAX_OFFLINE_PER_PAIR {
            return Err(OfflineRefusal::Pair);
        }
        Ok(())
    }

    /// Notes a message numbered `seq` of `conversation` waiting for `recipient`.
    pub fn note(
        &mut self,
        recipient: &str,
        conversation: &str,
        sender: &str,
        sender_nick: &str,
        seq: u64,
        unix_micros: i64,
    ) {
        let recipients = self
            .by_conversation
            .entry(conversation.to_string())
            .or_default();
        if !recipients.iter().any(|r| r == recipient) {
            recipients.push(recipient.to_string());
        }
        let waiting = self.by_recipient.entry(recipient.to_string()).or_default();
        match waiting.iter_mut().find(|w| w.conversation == conversation) {
            Some(w) => {
                w.count = w.count.saturating_add(1);
                w.sender_nick = sender_nick.to_string();
                w.next_seq = w.next_seq.max(seq.saturating_add(1));
            }
            None => waiting.push(Waiting {
                conversation: conversation.to_string(),
                sender: sender.to_string(),
                sender_nick: sender_nick.to_string(),
                count: 1,
                first_seq: seq,
                first_micros: unix_micros,
                next_seq: seq.saturating_add(1),
            }),
        }
        self.total = self.total.saturating_add(1);
    }

    /// The conversation's next message is numbered `next_seq` (it was closed with that).
    /// Looks only at the conversation's own recipients (by the index).
    pub fn advance(&mut self, conversation: &str, next_seq: u64) {
        let Some(recipients) = self.by_conversation.get(conversation) else {
            return;
        };
        for recipient in recipients {
            for w in self
                .by_recipient
                .get_mut(recipient)
                .into_iter()
                .flatten()
                .filter(|w| w.conversation == conversation)
            {
                w.next_seq = w.next_seq.max(next_seq);
            }
        }
    }

    /// Whether anything waits in `conversation` (for either partner).
    pub fn waits_in(&self, conversation: &str) -> bool {
        self.by_conversation.contains_key(conversation)
    }

    /// Takes everything waiting for `recipient`.
    pub fn take(&mut self, recipient: &str) -> Vec<Waiting> {
        let waiting = self.by_recipient.remove(recipient).unwrap_or_default();
        for w in &waiting {
            if let Some(recipients) = self.by_conversation.get_mut(&w.conversation) {
                recipients.retain(|r| r != recipient);
                if recipients.is_empty() {
                    self.by_conversation.remove(&w.conversation);
                }
            }
        }
        let count: usize = waiting.iter().map(|w| w.count).sum();
        self.total = self.total.saturating_sub(count);
        waiting
    }
}

/// What `/msg` did: sent, or it needs the conversation's history read first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectStep {
    /// Sent (or answered in the conversation's window).
    Done,
    /// Read this ([`Load::Direct`]), then [`World::finish_direct`].
    Load(Load),
}

/// Where the partner of a conversation is.
enum Partner {
    /// Online, with this principal (`None`: a guest).
    Online(UserId, Option<String>),
    /// Away, known by this principal.
    Away(String),
}

impl State {
    /// Who `nick` is: a user online, or an identified user away (an account in force, else
    /// a nick claimed by an ssh key); `None` if neither.
    fn partner(&self, nick: &str, now: i64) -> Option<Partner> {
        if let Some(&id) = self.nicks.get(&nick.to_lowercase()) {
            return Some(Partner::Online(id, self.principal_of(id)));
        }
        if let Some(account) = self.accounts.get(nick, now) {
            return sanction::principal(Some(&account.name), None).map(Partner::Away);
        }
        let claim = self.claims.get(&claims::fold(nick))?;
        sanction::principal(None, Some(&claim.fingerprint)).map(Partner::Away)
    }

    /// The stored conversation `channel` is a window on (its history key), if it is one.
    pub(super) fn stored_conversation(&self, channel: ChannelId) -> Option<String> {
        self.channels.get(&channel)?.stored_as.clone()
    }
}

impl State {
    /// What `user` calls `partner` (a principal) of stored conversation `name`: the name of
    /// their window on it if one is open, else the account's name, or the nick the key
    /// claimed (its fingerprint's start if none).
    pub(super) fn principal_label(&self, user: UserId, name: &str, partner: &str) -> String {
        let window = self.users.get(&user).and_then(|u| {
            u.windows.iter().find(|w| {
                self.channels
                    .get(&w.channel)
                    .is_some_and(|c| c.stored_as.as_deref() == Some(name))
            })
        });
        if let Some(window) = window {
            return window.alias.clone();
        }
        if let Some(account) = partner.strip_prefix("account:") {
            return account.to_string();
        }
        let key = partner.strip_prefix("key:").unwrap_or(partner);
        self.claims
            .nick_of_key(key)
            .map_or_else(|| claims::fingerprint_prefix(key), str::to_string)
    }
}

impl World {
    /// Holds the messages waiting for absent users in memory (at startup).
    pub fn load_offline(&self, rows: Vec<StoredOffline>) {
        self.lock().offline = Offline::load(rows);
    }

    /// `/msg nick text` when both are identified (or the target is away): the conversation's
    /// store name and the partner's window name, or `None` to go on as r0c does.
    pub(super) fn stored_conversation(
        &self,
        state: &State,
        user: UserId,
        target: &str,
    ) -> Result<Option<(String, String)>, DirectError> {
        let partner = state.partner(target, now_micros());
        let own = state.principal_of(user);
        match (own, partner) {
            (_, None) => Err(DirectError::NotOnline(target.to_string())),
            (Some(own), Some(Partner::Online(id, Some(theirs)))) => {
                let nick = state
                    .users
                    .get(&id)
                    .map_or_else(|| target.to_string(), |u| u.nick.clone());
                Ok(Some((conversation_name(&own, &theirs), nick)))
            }
            (Some(own), Some(Partner::Away(theirs))) => {
                Ok(Some((conversation_name(&own, &theirs), target.to_string())))
            }
            (None, Some(Partner::Away(_))) => Err(DirectError::NotOnline(target.to_string())),
            (_, Some(Partner::Online(..))) => Ok(None),
        }
    }

    /// `/msg` to an identified partner, second step: opens the conversation with what was
    /// read (`None`: it could not be read) unless someone opened it meanwhile, then sends.
    pub fn finish_direct(
        &self,
        user: UserId,
        conversation: &str,
        target: &str,
        (text, kind): (&str, MessageKind),
        loaded: Option<LoadedChannel>,
    ) -> Result<(), DirectError> {
        let mut state = self.lock();
        let channel = match state.direct_by_key.get(conversation).copied() {
            Some(channel) => channel,
            None => {
                let loaded = loaded.ok_or(DirectError::StoreUnavailable)?;
                state.may_open_channel(self.settings.max_channels)?;
                self.open_conversation(&mut state, conversation, loaded)
            }
        };
        self.send_in_conversation(&mut state, user, channel, target, (text, kind))
    }

    /// Creates the conversation `conversation` in memory with its history as read.
    pub(super) fn open_conversation(
        &self,
        state: &mut State,
        conversation: &str,
        loaded: LoadedChannel,
    ) -> ChannelId {
        let loaded = state.reopen.correct(conversation, loaded);
        let id = state.new_channel(ChannelKind::Direct, String::new(), loaded.next_seq);
        if let Some(channel) = state.channels.get_mut(&id) {
            channel.messages.extend(loaded.history);
            channel.stored_as = Some(conversation.to_string());
        }
        state.direct_by_key.insert(conversation.to_string(), id);
        id
    }

    /// Switches `user` to their window of `channel` (opened if need be, named `target`) and
    /// sends `text` there; an empty `text` only opens and switches (`/g rN` to a result in
    /// a conversation: `/msg` never sends an empty text, the parser asks for one).
    pub(super) fn send_in_conversation(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        target: &str,
        (text, kind): (&str, MessageKind),
    ) -> Result<(), DirectError> {
        let index = match state
            .users
            .get(&user)
            .and_then(|u| u.windows.iter().position(|w| w.channel == channel))
        {
            Some(index) => index,
            None => {
                if let Err(limit) = state.may_open_window(user, self.settings.max_windows_per_user)
                {
                    self.close_if_empty(state, channel);
                    return Err(limit.into());
                }
                self.add_member(state, user, channel, target.to_string());
                state.users.get(&user).map_or(0, |u| u.windows.len() - 1)
            }
        };
        state.switch_window(user, index);
        if text.is_empty() {
            return Ok(());
        }
        let Some((window, nick)) = state
            .users
            .get(&user)
            .and_then(|u| Some((u.windows.get(index)?.clone(), u.nick.clone())))
        else {
            return Ok(());
        };
        let text = text::sanitize_message(text);
        self.say_direct(
            state,
            user,
            window.channel,
            &window.alias,
            (&nick, &text, kind),
        )
        .map_err(|e| DirectError::Refused(e.to_string()))
    }

    /// A message in a stored conversation whose partner `alias` is away: kept for them if
    /// they are an identified user and the caps allow; the sender is told it waits, in a line
    /// shown once the message and its pointer are committed. Returns whether it was taken.
    pub(super) fn leave_for_absent(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        alias: &str,
        (nick, text, kind): (&str, &str, MessageKind),
    ) -> Result<bool, PostError> {
        let Some(conversation) = state.stored_conversation(channel) else {
            return Ok(false);
        };
        let now = now_micros();
        let (Some(sender), Some(Partner::Away(recipient))) =
            (state.principal_of(user), state.partner(alias, now))
        else {
            return Ok(false);
        };
        state
            .offline
            .check(&recipient, &sender)
            .map_err(|refusal| PostError::Refused(refusal.text(alias)))?;
        let Some(seq) = state.channels.get(&channel).map(|c| c.next_seq) else {
            return Ok(false);
        };
        self.post_from(
            state,
            channel,
            (nick, text, kind),
            Ping::Nobody,
            Origin::Internal,
        );
        state
            .offline
            .note(&recipient, &conversation, &sender, nick, seq, now);
        // Queued before the line below, whose ticket is therefore later: the sender reads it
        // only once the message and its pointer are committed.
        self.store.offline(OfflineWrite::Put(StoredOffline {
            recipient,
            conversation,
            seq,
            sender,
            sender_nick: nick.to_string(),
            unix_micros: now,
            next_seq: 0,
        }));
        self.post(
            state,
            channel,
            AUTHOR_INFO,
            &format!("{alias} is not online: delivered when {alias} is back"),
            Ping::Nobody,
        );
        Ok(true)
    }

    /// On return (connect with a key, or login): opens a window for each conversation with
    /// messages waiting for the user, unread from the first of them, and returns their lines
    /// of the "while you were away" summary (`markers.rs` posts it). Conversations not in
    /// memory open with no read: their next number is kept with what waits, and their
    /// history is paged from the store when scrolled.
    pub(super) fn deliver_offline(&self, state: &mut State, user: UserId) -> Vec<String> {
        let mut summary = Vec::new();
        let Some(principal) = state.principal_of(user) else {
            return summary;
        };
        let waiting = state.offline.take(&principal);
        if waiting.is_empty() {
            return summary;
        }
        self.store
            .offline(OfflineWrite::Delivered(principal.clone()));
        // Cluster mode: every node lets go of what it kept for them.
        self.cluster_note(ClusterEvent::OfflineDelivered {
            recipient: principal.clone(),
        });
        for w in waiting {
            let read_micros = state
                .markers
                .get(&principal, &w.conversation)
                .map_or(w.first_micros, |m| m.read_micros);
            let channel = match state.direct_by_key.get(&w.conversation).copied() {
                Some(channel) => channel,
                None => {
                    if state.may_open_channel(self.settings.max_channels).is_err() {
                        summary.push(format!(
                            "  {} messages from {}: the server is full, /msg {} later",
                            w.count, w.sender_nick, w.sender_nick
                        ));
                        continue;
                    }
                    let loaded = LoadedChannel {
                        next_seq: w.next_seq,
                        ..Default::default()
                    };
                    self.open_conversation(state, &w.conversation, loaded)
                }
            };
            let member = state
                .users
                .get(&user)
                .is_some_and(|u| u.windows.iter().any(|win| win.channel == channel));
            if !member {
                if state
                    .may_open_window(user, self.settings.max_windows_per_user)
                    .is_err()
                {
                    summary.push(format!(
                        "  {} messages from {}: too many windows open, /msg {} to read them",
                        w.count, w.sender_nick, w.sender_nick
                    ));
                    self.close_if_empty(state, channel);
                    continue;
                }
                self.add_member(state, user, channel, w.sender_nick.clone());
            }
            if let Some(window) = state
                .users
                .get_mut(&user)
                .and_then(|u| u.windows.iter_mut().find(|win| win.channel == channel))
            {
                window.read_upto = window.read_upto.min(w.first_seq);
                // The marker line goes before the first message left for the user, with when
                // they last read the conversation (if they ever did, else when it was sent).
                window.new_since = Some((w.first_seq, read_micros));
            }
            let when = jiff::Timestamp::from_microsecond(w.first_micros)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            summary.push(format!(
                "  {}: {} new message{} since {}",
                w.sender_nick,
                w.count,
                if w.count == 1 { "" } else { "s" },
                when.strftime("%Y-%m-%d %H:%M")
            ));
        }
        summary
    }

    /// A line in the user's status window (not a notice: it stays to be read).
    pub(super) fn tell_status(&self, state: &mut State, user: UserId, text: &str) {
        if let Some(status) = state.users.get(&user).and_then(|u| u.status_window()) {
            self.post(state, status, AUTHOR_INFO, text, Ping::Nobody);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_has_one_name_for_both_partners_and_no_channel_has_it() {
        let name = conversation_name("key:SHA256:b", "account:alice");
        assert_eq!(name, conversation_name("account:alice", "key:SHA256:b"));
        assert!(crate::world::normalize_channel_name(&name).is_err());
    }

    #[test]
    fn only_the_two_partners_have_a_partner_in_a_conversation() {
        let name = conversation_name("account:a_b", "key:SHA256:xyz");
        assert_eq!(partner_in(&name, "account:a_b"), Some("key:SHA256:xyz"));
        assert_eq!(partner_in(&name, "key:SHA256:xyz"), Some("account:a_b"));
        for other in ["account:a", "account:axb", "key:SHA256:xy", "", "dm"] {
            assert_eq!(partner_in(&name, other), None, "{other}");
        }
        assert_eq!(partner_in("general", "general"), None);
    }

    #[test]
    fn offline_caps_per_pair_per_recipient_and_delivery_frees_them() {
        let mut offline = Offline::default();
        for seq in 0..MAX_OFFLINE_PER_PAIR as u64 {
            assert_eq!(offline.check("account:bob", "account:al"), Ok(()));
            offline.note("account:bob", "dm a b", "account:al", "al", seq, 1);
        }
        assert_eq!(
            offline.check("account:bob", "account:al"),
            Err(OfflineRefusal::Pair)
        );
        // Another sender may still leave some, up to the recipient's cap.
        let mut sent = MAX_OFFLINE_PER_PAIR;
        let mut sender = 0;
        while sent < MAX_OFFLINE_PER_RECIPIENT {
            let who = format!("key:{sender}");
            for seq in 0..MAX_OFFLINE_PER_PAIR as u64 {
                offline.note("account:bob", &who, &who, "x", seq, 1);
                sent += 1;
            }
            sender += 1;
        }
        assert_eq!(
            offline.check("account:bob", "key:new"),
            Err(OfflineRefusal::Recipient)
        );
        let taken = offline.take("account:bob");
        assert_eq!(taken.iter().map(|w| w.count).sum::<usize>(), sent);
        assert_eq!(offline.total, 0);
        assert_eq!(offline.check("account:bob", "account:al"), Ok(()));
    }

    #[test]
    fn the_index_by_conversation_follows_what_waits() {
        let mut offline = Offline::default();
        offline.note("account:bob", "dm a b", "account:al", "al", 1, 1);
        offline.note("account:al", "dm a b", "account:bob", "bob", 2, 2);
        offline.note("account:bob", "dm c d", "account:cy", "cy", 5, 3);
        assert!(offline.waits_in("dm a b") && offline.waits_in("dm c d"));
        assert!(!offline.waits_in("dm x y"));
        offline.advance("dm a b", 9);
        offline.advance("dm x y", 99);
        let bobs = offline.take("account:bob");
        let next: Vec<(&str, u64)> = bobs
            .iter()
            .map(|w| (w.conversation.as_str(), w.next_seq))
            .collect();
        assert_eq!(next, [("dm a b", 9), ("dm c d", 6)]);
        // Al's message still waits in "dm a b"; nothing waits in "dm c d" any more.
        assert!(offline.waits_in("dm a b"));
        assert!(!offline.waits_in("dm c d"));
        assert_eq!(offline.take("account:al")[0].next_seq, 9);
        assert!(!offline.waits_in("dm a b"));
        assert!(offline.by_conversation.is_empty() && offline.by_recipient.is_empty());
    }

    #[test]
    fn waiting_messages_keep_the_first_number_and_the_next_one() {
        let mut offline = Offline::default();
        offline.note("r", "dm a b", "s", "al", 7, 100);
        offline.note("r", "dm a b", "s", "al2", 9, 200);
        offline.advance("dm a b", 12);
        let taken = offline.take("r");
        assert_eq!(taken.len(), 1);
        assert_eq!(
            (taken[0].first_seq, taken[0].count, taken[0].next_seq),
            (7, 2, 12)
        );
        assert_eq!(taken[0].sender_nick, "al2");
    }
}
