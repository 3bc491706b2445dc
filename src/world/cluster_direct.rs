//! Cluster mode's stored direct conversations (`--cluster`): a message between two identified
//! users goes through the stream as [`ClusterEvent::StoredDirect`] and every node stores it
//! in that conversation's history (`direct.rs`), in stream order, so each partner reads it,
//! searches it and finds it waiting on whichever node they log in on.
//!
//! Every node keeps the pointers of a message left for someone online nowhere; a node that
//! delivers them says so ([`ClusterEvent::OfflineDelivered`]) and every node lets them go.
//! Read markers of stored conversations move on every node ([`ClusterEvent::ReadMarker`]),
//! published when the reading node writes its own (at most once per
//! [`super::markers::MARKER_WRITE_INTERVAL_MICROS`], and when the reader leaves).

use super::cluster::kind_of;
use super::cluster_shared::stream_nick;
use super::direct::{conversation_name, is_conversation_name, partner_in};
use super::*;
use crate::store::{MarkerWrite, OfflineWrite, StoredOffline};

/// The longest principal (`account:NAME`, `key:FINGERPRINT`) taken from the stream.
const MAX_PRINCIPAL_CHARS: usize = 128;

/// Whether `principal`, read from the stream, is one this version makes: an account's or a
/// key's, short, with no whitespace (a conversation's name is split at spaces).
fn valid_principal(principal: &str) -> bool {
    (principal.starts_with("account:") || principal.starts_with("key:"))
        && principal.chars().count() <= MAX_PRINCIPAL_CHARS
        && !principal.chars().any(char::is_whitespace)
}

/// One [`ClusterEvent::StoredDirect`] taken apart.
struct Stored {
    from: String,
    to: String,
    sender: String,
    recipient: String,
    text: String,
    kind: MessageKind,
    offline: bool,
    unix_micros: i64,
}

impl World {
    /// Cluster mode: `user`'s message in stored conversation `channel` with `alias` is
    /// published (shown once the stream has it, by [`World::apply_direct_event`]). Returns
    /// whether it was; `false` when not in cluster mode or not a stored conversation. A
    /// message for someone online nowhere is refused here past the offline caps.
    pub(super) fn publish_stored_direct(
        &self,
        state: &mut State,
        user: UserId,
        channel: ChannelId,
        alias: &str,
        (nick, text, kind): (&str, &str, MessageKind),
    ) -> Result<bool, PostError> {
        if !self.in_cluster() {
            return Ok(false);
        }
        let Some(conversation) = state.stored_conversation(channel) else {
            return Ok(false);
        };
        let Some(sender) = state.principal_of(user) else {
            return Ok(false);
        };
        let Some(recipient) = partner_in(&conversation, &sender).map(str::to_string) else {
            return Ok(false);
        };
        let folded = alias.to_lowercase();
        let here = state
            .nicks
            .get(&folded)
            .is_some_and(|&id| state.principal_of(id).as_deref() == Some(recipient.as_str()));
        let remote = !here && state.remote_nicks.contains_key(&folded);
        let offline = !here && !remote;
        if offline {
            state
                .offline
                .check(&recipient, &sender)
                .map_err(|refusal| PostError::Refused(refusal.text(alias)))?;
        }
        let event = ClusterEvent::StoredDirect {
            from: nick.to_string(),
            to: alias.to_string(),
            sender,
            recipient,
            text: text.to_string(),
            notice: kind == MessageKind::Notice,
            offline,
            unix_micros: now_micros(),
        };
        if !self.cluster_publish(user, event)? {
            return Ok(false);
        }
        if kind == MessageKind::Chat {
            if remote {
                self.answer_for_remote_partner(state, user, channel, alias);
            } else if here {
                self.answer_for_away_partner(state, user, channel);
            }
        }
        Ok(true)
    }

    /// Applies a stored direct message, a delivery of what waited, or a read marker from the
    /// stream, numbered `stream_seq` (`own`: this node sent it).
    pub(super) fn apply_direct_event(
        &self,
        state: &mut State,
        own: bool,
        event: ClusterEvent,
        stream_seq: u64,
    ) -> ClusterStep {
        let Some(link) = self.cluster.get() else {
            return ClusterStep::Done;
        };
        // The first message stored takes the cursor, so both are committed together.
        state.cluster_cursor = Some(stream_seq);
        match event {
            ClusterEvent::StoredDirect {
                from,
                to,
                sender,
                recipient,
                text,
                notice,
                offline,
                unix_micros,
            } => {
                let stored = Stored {
                    from: stream_nick(&from),
                    to: stream_nick(&to),
                    sender,
                    recipient,
                    text: text::sanitize_lines(&text),
                    kind: kind_of(notice),
                    offline,
                    unix_micros,
                };
                if let ClusterStep::Open(load) =
                    self.apply_stored_direct(state, own, stored, stream_seq)
                {
                    state.cluster_cursor = None;
                    return ClusterStep::Open(load);
                }
            }
            ClusterEvent::OfflineDelivered { recipient }
                if !own
                    && valid_principal(&recipient)
                    && !state.offline.take(&recipient).is_empty() =>
            {
                self.store.offline(OfflineWrite::Delivered(recipient));
            }
            ClusterEvent::ReadMarker {
                principal,
                conversation,
                read_upto,
                read_micros,
            } => {
                let ours = partner_in(&conversation, &principal).is_some();
                // Another node's clock is not trusted past this one's: a marker from the
                // future would never age out.
                let read_micros = read_micros.min(now_micros());
                if !own && valid_principal(&principal) && ours {
                    for write in
                        state
                            .markers
                            .synced(&principal, &conversation, read_upto, read_micros)
                    {
                        self.store.marker(write);
                    }
                }
            }
            _ => {}
        }
        // An event that stored no message still moves the cursor.
        if state.cluster_cursor.take().is_some() {
            self.store.cluster_cursor(&link.stream, stream_seq);
        }
        ClusterStep::Done
    }

    /// A stored direct message from the stream: into the conversation's history here (read
    /// and opened first if not in memory), shown in the windows of its partners on this node
    /// (the recipient's opened if need be), and kept for a recipient online nowhere.
    fn apply_stored_direct(
        &self,
        state: &mut State,
        own: bool,
        message: Stored,
        stream_seq: u64,
    ) -> ClusterStep {
        if !valid_principal(&message.sender) || !valid_principal(&message.recipient) {
            tracing::warn!(
                stream_seq,
                "cluster: a direct message with a bad principal skipped"
            );
            return ClusterStep::Done;
        }
        let conversation = conversation_name(&message.sender, &message.recipient);
        let Some(channel) = state.direct_by_key.get(&conversation).copied() else {
            if state.may_open_channel(self.settings.max_channels).is_ok() {
                return ClusterStep::Open(Load::Direct {
                    conversation,
                    target: String::new(),
                    text: String::new(),
                    kind: MessageKind::Chat,
                    after: state.last_close_ticket,
                    limit: self.settings.hist_rd,
                });
            }
            tracing::warn!(
                stream_seq,
                "cluster: a direct message dropped: --max-channels reached on this node"
            );
            return ClusterStep::Done;
        };
        let local = |state: &State, nick: &str, principal: &str| {
            state
                .nicks
                .get(&nick.to_lowercase())
                .copied()
                .filter(|&id| state.principal_of(id).as_deref() == Some(principal))
        };
        let recipient_here = local(state, &message.to, &message.recipient);
        let sender_here = local(state, &message.from, &message.sender);
        if let Some(id) = recipient_here {
            let member = state
                .channels
                .get(&channel)
                .is_some_and(|c| c.members.contains(&id));
            if !member {
                if state
                    .may_open_window(id, self.settings.max_windows_per_user)
                    .is_ok()
                {
                    self.add_member(state, id, channel, message.from.clone());
                } else {
                    tracing::warn!("cluster: a direct message passed a window limit");
                }
            }
            if let Some(person) = state.remote_nicks.get_mut(&message.from.to_lowercase()) {
                person.note_direct(id, channel);
            }
        }
        let seq = state.channels.get(&channel).map_or(0, |c| c.next_seq);
        let post = Post {
            channel,
            author: message.from.clone(),
            text: message.text.as_str().into(),
            origin: Origin::Internal,
            kind: message.kind,
            ping: Ping::Everyone,
            after: TICKET_NOT_STORED,
            unix_micros: message.unix_micros,
        };
        self.apply_locked(state, Event::Post(post));
        if message.offline {
            self.keep_for_absent(state, &message, &conversation, seq, recipient_here);
            if own && let Some(id) = sender_here {
                let to = &message.to;
                let text = format!("{to} is not online: delivered when {to} is back");
                self.tell_locked(state, id, AUTHOR_INFO, &text);
            }
        }
        self.close_if_empty(state, channel);
        ClusterStep::Done
    }

    /// A message numbered `seq` of `conversation` for a recipient who was online nowhere when
    /// it was sent: its pointer is kept here (within the caps), unless the recipient came
    /// back on this node meanwhile and saw it (then every node lets theirs go).
    fn keep_for_absent(
        &self,
        state: &mut State,
        message: &Stored,
        conversation: &str,
        seq: u64,
        recipient_here: Option<UserId>,
    ) {
        if recipient_here.is_some() {
            self.cluster_note(ClusterEvent::OfflineDelivered {
                recipient: message.recipient.clone(),
            });
            return;
        }
        if state
            .offline
            .check(&message.recipient, &message.sender)
            .is_err()
        {
            tracing::warn!("cluster: a message for someone away passed the offline caps here");
            return;
        }
        state.offline.note(
            &message.recipient,
            conversation,
            &message.sender,
            &message.from,
            seq,
            message.unix_micros,
        );
        self.store.offline(OfflineWrite::Put(StoredOffline {
            recipient: message.recipient.clone(),
            conversation: conversation.to_string(),
            seq,
            sender: message.sender.clone(),
            sender_nick: message.from.clone(),
            unix_micros: message.unix_micros,
            next_seq: 0,
        }));
    }

    /// Opens stored conversation `conversation` with what was read for
    /// [`ClusterStep::Open`] (`None`: it could not be read now); someone may have opened it
    /// meanwhile.
    pub fn open_conversation_for_cluster(
        &self,
        conversation: &str,
        loaded: Option<LoadedChannel>,
    ) -> bool {
        let mut state = self.lock();
        if state.direct_by_key.contains_key(conversation) {
            return true;
        }
        let Some(loaded) = loaded else {
            return false;
        };
        if state.may_open_channel(self.settings.max_channels).is_err() {
            return false;
        }
        self.open_conversation(&mut state, conversation, loaded);
        true
    }

    /// Cluster mode: the marker writes of this node's reader, for stored conversations, go
    /// to the other nodes too.
    pub(super) fn cluster_markers(&self, writes: &[MarkerWrite]) {
        if !self.in_cluster() {
            return;
        }
        for write in writes {
            if let MarkerWrite::Put(row) = write
                && is_conversation_name(&row.channel)
            {
                self.cluster_note(ClusterEvent::ReadMarker {
                    principal: row.principal.clone(),
                    conversation: row.channel.clone(),
                    read_upto: row.read_upto,
                    read_micros: row.read_micros,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cluster::tests::run;
    use super::super::tests::world;
    use super::*;

    const CONVERSATION: &str = "dm account:ann account:ben";

    fn message(sender: &str, offline: bool) -> ClusterEvent {
        ClusterEvent::StoredDirect {
            from: "ann".into(),
            to: "ben".into(),
            sender: sender.into(),
            recipient: "account:ben".into(),
            text: "hi ben".into(),
            notice: false,
            offline,
            unix_micros: 1,
        }
    }

    #[test]
    fn a_stored_direct_message_waits_here_until_another_node_delivers_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (world, store) = world(dir.path(), 100, 1000, 100);
        let (outbox, _receiver) = tokio::sync::mpsc::channel(4);
        world.attach_cluster(outbox, "S", run("here"));
        // Not in memory: read first, nothing applied yet.
        let ClusterStep::Open(Load::Direct { conversation, .. }) =
            world.apply_cluster(&run("there"), message("account:ann", true), 5, false)
        else {
            panic!("the conversation must be read first");
        };
        assert_eq!(conversation, CONVERSATION);
        assert!(world.open_conversation_for_cluster(CONVERSATION, Some(LoadedChannel::default())));
        let step = world.apply_cluster(&run("there"), message("account:ann", true), 5, false);
        assert_eq!(step, ClusterStep::Done);
        store.flush();
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(5));
        let stored = store.recent_messages(CONVERSATION, 10).expect("read");
        assert_eq!(stored.len(), 1);
        assert_eq!((stored[0].seq, stored[0].text.as_str()), (0, "hi ben"));
        let waiting = store.offline_messages().expect("read");
        assert!(waiting.iter().any(|w| w.recipient == "account:ben"));

        // A principal no node makes is skipped; the cursor still moves.
        let step = world.apply_cluster(&run("there"), message("account:a b", true), 6, false);
        assert_eq!(step, ClusterStep::Done);
        store.flush();
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(6));
        assert_eq!(
            store.recent_messages(CONVERSATION, 10).expect("read").len(),
            1
        );

        // Delivered on another node: let go here too.
        let delivered = ClusterEvent::OfflineDelivered {
            recipient: "account:ben".into(),
        };
        world.apply_cluster(&run("there"), delivered, 7, false);
        store.flush();
        assert!(store.offline_messages().expect("read").is_empty());

        // A partner's marker moves here; a stranger's is not taken.
        for (principal, seq) in [("account:ben", 8), ("account:eve", 9)] {
            let marker = ClusterEvent::ReadMarker {
                principal: principal.into(),
                conversation: CONVERSATION.into(),
                read_upto: 1,
                read_micros: now_micros(),
            };
            world.apply_cluster(&run("there"), marker, seq, false);
        }
        store.flush();
        let markers = store.read_markers().expect("read");
        assert_eq!(markers.len(), 1, "{markers:?}");
        assert_eq!(
            (markers[0].principal.as_str(), markers[0].read_upto),
            ("account:ben", 1)
        );
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(9));
    }
}
