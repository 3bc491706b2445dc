//! Cluster mode's side in the world (`--cluster`): what local users say goes out as a
//! [`ClusterEvent`] through a bounded outbox, and the events read back from the cluster's
//! stream, in stream order, are applied here by every node, the one they came from too.
//!
//! A local user's line is therefore shown nowhere before the stream has stored it, and every
//! node numbers a channel's chat lines in the same (stream) order. Users on other nodes are
//! "remote members" of the channels they joined: nicks with the node they are on, listed by
//! `/names` and IRC NAMES and WHO, with no window and no wake-up; each has an id of this node's
//! (never a local user's) so IRC clients see their nick changes and quits as NICK and QUIT.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};

use serde::{Deserialize, Serialize};

use super::*;

/// What a user is told when their line could not be handed to the cluster.
pub const CLUSTER_UNREACHABLE: &str = "not sent: the cluster cannot be reached";

/// Events waiting for the publisher at most; past it, lines are refused, not queued.
pub const OUTBOX_CAPACITY: usize = 4096;

/// One chat-state change as it travels between nodes: plain data, public channels by name
/// (channel and user ids are each node's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClusterEvent {
    /// A chat line (`action`: a `/me`) by `nick` in public channel `channel`.
    Post {
        channel: String,
        nick: String,
        /// Canonical text (already sanitized by the node it was typed on, and again here).
        text: String,
        action: bool,
        /// An IRC NOTICE (absent in events of older nodes, and left out for chat, which
        /// older nodes read as before).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        notice: bool,
        unix_micros: i64,
    },
    /// `nick` joined public channel `channel` on the node that sent it.
    Join {
        channel: String,
        nick: String,
        unix_micros: i64,
    },
    /// `nick` left public channel `channel` (with `announce`, the others are told, with
    /// `reason`).
    Part {
        channel: String,
        nick: String,
        announce: bool,
        unix_micros: i64,
        /// Empty when none was given (and in events from nodes that did not send it).
        #[serde(default)]
        reason: String,
    },
    /// A direct message from `from` (on the node that sent it) to `to` (on another node).
    Direct {
        from: String,
        to: String,
        text: String,
        /// An IRC NOTICE (absent in events of older nodes, and left out for chat, which
        /// older nodes read as before).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        notice: bool,
        unix_micros: i64,
    },
    /// `old`, a user of the node that sent it, is now known as `new`.
    Nick {
        old: String,
        new: String,
        unix_micros: i64,
    },
    /// `nick` left the chat (disconnected) and with it the public channels `channels`
    /// (with `announce`, the others are told, with `reason`).
    Quit {
        nick: String,
        channels: Vec<String>,
        announce: bool,
        reason: String,
        unix_micros: i64,
    },
    /// `nick` set the topic of public channel `channel` (`cluster_shared.rs`).
    Topic {
        channel: String,
        nick: String,
        topic: String,
        unix_micros: i64,
    },
    /// `/cls` by an administrator: public channel `channel`'s history in memory is emptied
    /// on every node (the stores keep it).
    Clear {
        channel: String,
        nick: String,
        unix_micros: i64,
    },
    /// An account registered (or its password changed) on the node that sent it: every other
    /// node keeps it too, so its owner can log in anywhere (`cluster_shared.rs`). `phc` is
    /// the password's Argon2id hash, never the password.
    Account {
        name: String,
        phc: String,
        created_at: i64,
    },
    /// `nick`, a user of the node that sent it, is away (with the reason, empty if none) or
    /// back (`None`).
    Away { nick: String, away: Option<String> },
    /// A ban or mute (`kind`), server-wide (`scope` empty) or in public channel `scope`,
    /// set on the node that sent it: every other node enforces it too (`cluster_shared.rs`).
    Sanction {
        kind: String,
        scope: String,
        mask: String,
        reason: String,
        set_by: String,
        set_at: i64,
        expires: Option<i64>,
    },
    /// `/unban` or `/unmute` (`kind`) of `masks` in `scope` (empty: the server) on the node
    /// that sent it: every other node lifts them too.
    Lift {
        kind: String,
        scope: String,
        masks: Vec<String>,
        /// Who lifted them (absent in events of older nodes).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        by: String,
    },
    /// `principal` founded public channel `channel`: it won the claim in the key-value
    /// bucket `r0c_founders` first (`cluster_moderation.rs`).
    Founder { channel: String, principal: String },
    /// `role` (`op` or `voice`) of `principal` in public channel `channel` given (`on`) or
    /// taken away.
    Role {
        channel: String,
        principal: String,
        role: String,
        on: bool,
    },
    /// `nick` changed the modes of public channel `channel`: `changes` as `/mode` takes them
    /// (`+mk-t KEY`); `session` when set by a guest who created the channel (they end when
    /// it empties).
    Modes {
        channel: String,
        nick: String,
        changes: String,
        session: bool,
    },
    /// `nick` kicked `target` out of public channel `channel`.
    Kick {
        channel: String,
        nick: String,
        target: String,
        reason: String,
    },
    /// `nick` invited `target` (a user of another node) to public channel `channel`.
    Invite {
        channel: String,
        nick: String,
        target: String,
    },
    /// The server's lockdown: `mode` (`off`, `registered`, `invite`) in force since `since`
    /// (microseconds).
    Lockdown { mode: String, since: i64 },
    /// `principal` put on (`on`) or taken off the lockdown's allow list.
    Allow { principal: String, on: bool },
    /// The ssh key `fingerprint` attached to (`on`) or detached from account `account` on
    /// the node that sent it: it was claimed in the key-value bucket `r0c_keys` first, so a
    /// key belongs to one account in the cluster (`cluster_shared.rs`).
    AccountKey {
        account: String,
        fingerprint: String,
        added_at: i64,
        on: bool,
    },
    /// A message in the stored conversation of two identified users, principals `sender`
    /// (nick `from`, on the node that sent it) and `recipient` (nick `to`): every node
    /// stores it in that conversation's history, in stream order (`cluster_direct.rs`).
    /// With `offline`, the recipient was online nowhere: every node keeps it for them.
    StoredDirect {
        from: String,
        to: String,
        sender: String,
        recipient: String,
        text: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        notice: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        offline: bool,
        unix_micros: i64,
    },
    /// What waited for `recipient` (a principal) was delivered on the node that sent it:
    /// every node lets it go.
    OfflineDelivered { recipient: String },
    /// `principal` read stored conversation `conversation` up to message `read_upto` (at
    /// `read_micros`) on the node that sent it: every node moves its marker there.
    ReadMarker {
        principal: String,
        conversation: String,
        read_upto: u64,
        read_micros: i64,
    },
}

/// The kind of a line an event carries: a notice or chat.
pub(super) fn kind_of(notice: bool) -> MessageKind {
    if notice {
        MessageKind::Notice
    } else {
        MessageKind::Chat
    }
}

/// Who published an event: the node's name and the id of that run of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRun {
    /// `--node`.
    pub node: String,
    /// Random per start, so a restarted node's earlier users are told apart from its new ones.
    pub boot: String,
}

/// Work for the cluster's publisher, in the order the world queued it.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// Publish `event`; if it cannot be stored, tell `user` (the author of a chat line;
    /// `None` for joins and parts: nobody to tell).
    Publish {
        user: Option<UserId>,
        event: ClusterEvent,
    },
    /// Claim `nick` for `user` in the cluster's nick bucket (compare-and-set), then answer
    /// with [`World::finish_cluster_nick`].
    ClaimNick { user: UserId, nick: String },
    /// This node no longer uses `nick`: its claim is let go.
    ReleaseNick { nick: String },
    /// `user` already has `nick` on this node (given on entry, or by a rename that did not
    /// ask first): claim it in the nick bucket, then answer with
    /// [`World::finish_entry_nick`]. `avoid`: the nicks other nodes refused this user
    /// already, at most [`MAX_ENTRY_NICK_TRIES`].
    CheckNick {
        user: UserId,
        nick: String,
        avoid: Vec<String>,
    },
}

/// How many nicks a user is given one after another on entry when other nodes hold them,
/// before the last one is kept unclaimed (each try is one round trip to the nick bucket).
pub const MAX_ENTRY_NICK_TRIES: usize = 4;

/// The world's handle on the cluster, set once at startup when `--cluster` is given.
#[derive(Debug)]
pub(super) struct ClusterLink {
    outbox: tokio::sync::mpsc::Sender<Outgoing>,
    /// Whether the NATS connection is up, as its event callback last said.
    reachable: AtomicBool,
    /// The JetStream stream's name, for the store's cursor.
    pub(super) stream: String,
    /// This node's name and run.
    run: NodeRun,
    /// What `/status` and `/metrics` show, kept without the world's lock.
    stats: ClusterStats,
}

/// Cluster figures for operators, updated by the cluster's tasks.
#[derive(Debug, Default)]
struct ClusterStats {
    /// Nodes alive, as presence last counted (this one included).
    nodes: AtomicU64,
    /// Events in the stream this node has yet to apply.
    lag: AtomicU64,
    /// The last publish's time until acknowledged (retries included), in microseconds.
    last_ack_micros: AtomicU64,
    /// Events this node published and JetStream acknowledged.
    published: AtomicU64,
}

/// A copy of the cluster figures (`/status`, `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterReport {
    pub node: String,
    pub reachable: bool,
    pub nodes: u64,
    pub lag: u64,
    pub last_ack_micros: u64,
    pub published: u64,
}

/// A user of another node listed in some channel here: one id for all those channels, so IRC
/// clients see one NICK or QUIT, and `/msg` finds them.
#[derive(Debug, Clone)]
pub(super) struct RemotePerson {
    /// An id of this node's, handed out like a local user's, never a local user's.
    pub(super) id: UserId,
    /// The channels here that list them (at most their node's window cap).
    pub(super) channels: Vec<ChannelId>,
    /// Away, with the reason (empty if none was given).
    pub(super) away: Option<String>,
    /// The local users told that they are away since they went away (at most
    /// [`super::away::MAX_TOLD`]), so each is told once, as for a local partner.
    pub(super) told: std::collections::HashSet<UserId>,
    /// Direct-message windows of local users with them (user, channel), at most
    /// [`MAX_REMOTE_DIRECTS`]: their title follows the person's nick changes.
    pub(super) directs: Vec<(UserId, ChannelId)>,
}

/// How many direct-message windows with one user of another node follow their nick changes.
pub(super) const MAX_REMOTE_DIRECTS: usize = 64;

impl RemotePerson {
    /// Remembers that `user`'s window `channel` is a direct conversation with this person.
    pub(super) fn note_direct(&mut self, user: UserId, channel: ChannelId) {
        if !self.directs.contains(&(user, channel)) && self.directs.len() < MAX_REMOTE_DIRECTS {
            self.directs.push((user, channel));
        }
    }
}

/// How many users of other nodes who left every channel here are remembered (IRC tells QUIT
/// from PART by it).
pub(super) const REMOTE_GONE_KEPT: usize = 1024;

/// How a user of another node leaves a channel here.
#[derive(Debug, Clone, Copy)]
pub(super) struct Leaving<'a> {
    /// The others are told (a line).
    pub(super) announce: bool,
    /// Shown on that line (empty: none).
    pub(super) reason: &'a str,
    /// They left the chat (a quit, or their node is gone), not just the channel.
    pub(super) quit: bool,
}

/// A user of another node who joined a public channel.
#[derive(Debug, Clone)]
pub(super) struct RemoteMember {
    /// The nick as they spell it.
    pub(super) nick: String,
    /// The node (and its run) they are connected to.
    pub(super) run: NodeRun,
}

/// What applying an event of the stream needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterStep {
    /// Applied (or nothing to do).
    Done,
    /// The channel is not in memory here: read it ([`Load::Join`]), open it with
    /// [`World::open_for_cluster`], and apply the event again.
    Open(Load),
}

impl World {
    /// Cluster mode: from now on, local users' chat lines in public channels go to `outbox`
    /// (read by the publisher) instead of straight into the channel. Only the first call counts.
    pub fn attach_cluster(
        &self,
        outbox: tokio::sync::mpsc::Sender<Outgoing>,
        stream: &str,
        run: NodeRun,
    ) {
        let _ = self.cluster.set(ClusterLink {
            outbox,
            reachable: AtomicBool::new(false),
            stream: stream.to_string(),
            run,
            stats: ClusterStats::default(),
        });
    }

    /// The cluster figures, or `None` when not in cluster mode.
    pub fn cluster_report(&self) -> Option<ClusterReport> {
        let link = self.cluster.get()?;
        Some(ClusterReport {
            node: link.run.node.clone(),
            reachable: link.reachable.load(Ordering::Acquire),
            nodes: link.stats.nodes.load(Ordering::Relaxed),
            lag: link.stats.lag.load(Ordering::Relaxed),
            last_ack_micros: link.stats.last_ack_micros.load(Ordering::Relaxed),
            published: link.stats.published.load(Ordering::Relaxed),
        })
    }

    /// The publisher's news: an event was acknowledged after `took`.
    pub fn cluster_acked(&self, took: std::time::Duration) {
        if let Some(link) = self.cluster.get() {
            let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            link.stats.last_ack_micros.store(micros, Ordering::Relaxed);
            link.stats.published.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The applier's news: `pending` events of the stream are still to apply.
    pub fn cluster_lag(&self, pending: u64) {
        if let Some(link) = self.cluster.get() {
            link.stats.lag.store(pending, Ordering::Relaxed);
        }
    }

    /// Presence's news: `nodes` are alive.
    pub fn cluster_nodes(&self, nodes: usize) {
        if let Some(link) = self.cluster.get() {
            link.stats.nodes.store(nodes as u64, Ordering::Relaxed);
        }
    }

    /// Whether this node runs in cluster mode.
    pub fn in_cluster(&self) -> bool {
        self.cluster.get().is_some()
    }

    /// The NATS connection went up (`true`) or down; while down, chat lines are refused.
    pub fn set_cluster_reachable(&self, reachable: bool) {
        if let Some(link) = self.cluster.get() {
            link.reachable.store(reachable, Ordering::Release);
        }
    }

    /// Whether the NATS connection is up (`false` when not in cluster mode).
    pub(super) fn cluster_reachable(&self) -> bool {
        self.cluster
            .get()
            .is_some_and(|link| link.reachable.load(Ordering::Acquire))
    }

    /// Hands a local user's chat line to the publisher: `Ok(false)` when not in cluster mode
    /// (the caller posts it as always), `Ok(true)` when queued. Never waits: a full outbox or
    /// a connection that is down refuses the line, so nothing is queued silently.
    pub(super) fn cluster_publish(
        &self,
        user: UserId,
        event: ClusterEvent,
    ) -> Result<bool, PostError> {
        let Some(link) = self.cluster.get() else {
            return Ok(false);
        };
        if !link.reachable.load(Ordering::Acquire) {
            return Err(PostError::ClusterUnavailable);
        }
        let outgoing = Outgoing::Publish {
            user: Some(user),
            event,
        };
        match link.outbox.try_send(outgoing) {
            Ok(()) => Ok(true),
            Err(_) => Err(PostError::ClusterUnavailable),
        }
    }

    /// Tells the other nodes of a local user's join, part, nick change or quit, as far as the
    /// outbox takes it (this node's state changes at once; the others learn it from the
    /// stream).
    pub(super) fn cluster_note(&self, event: ClusterEvent) {
        if let Some(link) = self.cluster.get()
            && link
                .outbox
                .try_send(Outgoing::Publish { user: None, event })
                .is_err()
        {
            tracing::warn!(
                "cluster outbox full or closed, a membership or nick change was not published"
            );
        }
    }

    /// Cluster mode: the publisher's outbox (`None` alone), for work that reaches it later.
    pub(super) fn cluster_outbox(&self) -> Option<tokio::sync::mpsc::Sender<Outgoing>> {
        self.cluster.get().map(|link| link.outbox.clone())
    }

    /// Cluster mode: asks the cluster for `nick` on `user`'s behalf (the local checks passed);
    /// the change is made when the claim is answered.
    pub(super) fn cluster_claim_nick(&self, user: UserId, nick: &str) -> Result<(), NickError> {
        let Some(link) = self.cluster.get() else {
            return Ok(());
        };
        if !link.reachable.load(Ordering::Acquire) {
            return Err(NickError::ClusterUnavailable);
        }
        let claim = Outgoing::ClaimNick {
            user,
            nick: nick.to_string(),
        };
        link.outbox
            .try_send(claim)
            .map_err(|_| NickError::ClusterUnavailable)
    }

    /// Cluster mode: `nick` is no longer used here (a nick change or a disconnect).
    pub(super) fn cluster_release_nick(&self, nick: &str) {
        if let Some(link) = self.cluster.get() {
            let release = Outgoing::ReleaseNick {
                nick: nick.to_string(),
            };
            if link.outbox.try_send(release).is_err() {
                tracing::warn!("cluster outbox full or closed, a nick claim was not let go");
            }
        }
    }

    /// The cluster's answer to a nick claim: `Ok` (the nick is this node's now) makes the
    /// change, after checking again here; `Err` names the node that holds it. Returns whether
    /// the user now has the nick (else the caller lets the claim go).
    pub fn finish_cluster_nick(
        &self,
        user: UserId,
        nick: &str,
        claimed: Result<(), Option<String>>,
    ) -> bool {
        let mut state = self.lock();
        let old = state.users.get(&user).map(|u| u.nick.clone());
        let refusal = match claimed {
            Err(Some(holder)) => format!("[invalid argument]\n  {nick} is in use on node {holder}"),
            Err(None) => format!("[error]\n  {}", NickError::ClusterUnavailable),
            Ok(()) => match old {
                None => return false,
                Some(old) => match self.change_nick_here(&mut state, user, nick) {
                    Ok(_) => {
                        self.cluster_release_nick(&old);
                        return true;
                    }
                    Err(problem) => format!("[invalid argument]\n  {problem}"),
                },
            },
        };
        self.tell_locked(&mut state, user, AUTHOR_ERROR, &refusal);
        false
    }

    /// Cluster mode: `user` was given `nick` here without asking the cluster (on entry, or
    /// by a rename such as a numbered variant): the publisher claims it afterwards.
    pub(super) fn cluster_check_nick(&self, user: UserId, nick: &str, avoid: Vec<String>) {
        if let Some(link) = self.cluster.get() {
            let check = Outgoing::CheckNick {
                user,
                nick: nick.to_string(),
                avoid,
            };
            if link.outbox.try_send(check).is_err() {
                tracing::warn!("cluster outbox full or closed, a nick was not claimed");
            }
        }
    }

    /// The cluster's answer to [`Outgoing::CheckNick`]. Returns whether `user` keeps the
    /// claim (else the caller lets it go). If a live node holds the nick, the user gets
    /// another free nick as on entry (an automatic one), is told, and that one is claimed in
    /// turn; after [`MAX_ENTRY_NICK_TRIES`] nicks the last is kept unclaimed (logged).
    pub fn finish_entry_nick(
        &self,
        user: UserId,
        nick: &str,
        claimed: Result<(), Option<String>>,
        mut avoid: Vec<String>,
    ) -> bool {
        let mut state = self.lock();
        let holds = state
            .users
            .get(&user)
            .is_some_and(|u| u.nick.eq_ignore_ascii_case(nick));
        let holder = match claimed {
            Ok(()) => return holds,
            // The user has another nick by now, which was claimed in its turn.
            Err(_) if !holds => return false,
            Err(None) => {
                tracing::warn!("cluster: a nick given on entry could not be claimed");
                let text = format!(
                    "{nick} could not be claimed across the cluster (it cannot be reached); a user of another node may have it too"
                );
                self.tell_locked(&mut state, user, AUTHOR_ERROR, &text);
                return false;
            }
            Err(Some(holder)) => holder,
        };
        avoid.push(nick.to_lowercase());
        if avoid.len() > MAX_ENTRY_NICK_TRIES {
            tracing::warn!("cluster: no free nick found for a user on entry; kept unclaimed");
            return false;
        }
        // A candidate this node refuses (a look-alike, say) is passed over too; the tries are
        // bounded by the automatic nicks' candidates.
        let mut refused: Vec<String> = Vec::new();
        loop {
            let candidate = self.automatic_nick(&state, user, |n| {
                let folded = n.to_lowercase();
                state.remote_nicks.contains_key(&folded)
                    || avoid.contains(&folded)
                    || refused.contains(&folded)
            });
            let Some(candidate) = candidate else {
                tracing::warn!("cluster: no automatic nick left for a user on entry");
                return false;
            };
            if self.change_nick_here(&mut state, user, &candidate).is_ok() {
                let text = format!("{nick} is in use on node {holder}; you are now {candidate}");
                self.tell_locked(&mut state, user, AUTHOR_INFO, &text);
                self.cluster_check_nick(user, &candidate, avoid);
                return false;
            }
            refused.push(candidate.to_lowercase());
        }
    }

    /// The publisher could not get the stream to store `user`'s line: they are told.
    pub fn cluster_not_sent(&self, user: UserId) {
        let mut state = self.lock();
        self.tell_locked(&mut state, user, AUTHOR_ERROR, CLUSTER_UNREACHABLE);
    }

    /// Applies one event of the stream, numbered `stream_seq`, sent by `from` (`own`: this
    /// node's name). Its effect and the stream cursor are committed together by the store.
    /// A `replay` is an event the stream held before this node started: direct messages
    /// among them are not delivered (their users are gone; guests' conversations are not
    /// stored), the rest is applied as always.
    pub fn apply_cluster(
        &self,
        from: &NodeRun,
        event: ClusterEvent,
        stream_seq: u64,
        replay: bool,
    ) -> ClusterStep {
        let mut state = self.lock();
        let Some(link) = self.cluster.get() else {
            return ClusterStep::Done;
        };
        let own = from.node == link.run.node;
        let channel_name = match &event {
            ClusterEvent::Post { channel, .. }
            | ClusterEvent::Join { channel, .. }
            | ClusterEvent::Part { channel, .. }
            | ClusterEvent::Topic { channel, .. }
            | ClusterEvent::Clear { channel, .. } => channel.clone(),
            ClusterEvent::Direct {
                from: sender,
                to,
                text,
                notice,
                unix_micros,
            } => {
                if !replay {
                    let kind = kind_of(*notice);
                    self.deliver_direct(&mut state, own, (sender, to), (text, kind), *unix_micros);
                }
                self.store.cluster_cursor(&link.stream, stream_seq);
                return ClusterStep::Done;
            }
            ClusterEvent::Nick { .. } | ClusterEvent::Quit { .. } | ClusterEvent::Away { .. } => {
                if own
                    && let ClusterEvent::Quit {
                        nick,
                        channels,
                        announce: true,
                        reason,
                        unix_micros,
                    } = &event
                {
                    // Its lines wait until every channel it names is in memory here.
                    if let Some(load) = self.closed_channel(&state, channels) {
                        return ClusterStep::Open(load);
                    }
                    state.cluster_cursor = Some(stream_seq);
                    self.own_quit_lines(&mut state, nick, channels, reason, *unix_micros);
                }
                // The first line it stores carries the cursor, as a post's does.
                state.cluster_cursor = state.cluster_cursor.or(Some(stream_seq));
                if !own {
                    self.apply_remote_person(&mut state, &event);
                }
                if state.cluster_cursor.take().is_some() {
                    self.store.cluster_cursor(&link.stream, stream_seq);
                }
                return ClusterStep::Done;
            }
            ClusterEvent::StoredDirect { .. }
            | ClusterEvent::OfflineDelivered { .. }
            | ClusterEvent::ReadMarker { .. } => {
                return self.apply_direct_event(&mut state, own, event, stream_seq);
            }
            ClusterEvent::Account { .. }
            | ClusterEvent::AccountKey { .. }
            | ClusterEvent::Sanction { .. }
            | ClusterEvent::Lift { .. } => {
                // Bans, mutes and their lifting take effect once stored, on their node too;
                // an account or its key is its node's own write already.
                let written = matches!(
                    event,
                    ClusterEvent::Account { .. } | ClusterEvent::AccountKey { .. }
                );
                if !own || !written {
                    self.apply_node_wide_event(&mut state, own, event);
                }
                self.store.cluster_cursor(&link.stream, stream_seq);
                return ClusterStep::Done;
            }
            ClusterEvent::Founder { .. }
            | ClusterEvent::Role { .. }
            | ClusterEvent::Modes { .. }
            | ClusterEvent::Kick { .. }
            | ClusterEvent::Invite { .. }
            | ClusterEvent::Lockdown { .. }
            | ClusterEvent::Allow { .. } => {
                // The first line it stores carries the cursor, as a post's does.
                state.cluster_cursor = Some(stream_seq);
                // An invitation from before this node started was for users gone since.
                if !(replay && matches!(event, ClusterEvent::Invite { .. })) {
                    self.apply_moderation_event(&mut state, own, event);
                }
                if state.cluster_cursor.take().is_some() {
                    self.store.cluster_cursor(&link.stream, stream_seq);
                }
                return ClusterStep::Done;
            }
        };
        let Ok(name) = normalize_channel_name(&channel_name) else {
            tracing::warn!(
                stream_seq,
                "cluster event for an invalid channel name ignored"
            );
            self.store.cluster_cursor(&link.stream, stream_seq);
            return ClusterStep::Done;
        };
        let needs_channel = match &event {
            // A topic is stored with its channel, which is opened for it like for a line.
            ClusterEvent::Post { .. } | ClusterEvent::Topic { .. } => true,
            // A local user's join and part lines are shown when the stream has them, like
            // chat lines, even if the channel closed here meanwhile.
            ClusterEvent::Join { .. } => true,
            ClusterEvent::Part { announce, .. } => own && *announce,
            ClusterEvent::Direct { .. }
            | ClusterEvent::Nick { .. }
            | ClusterEvent::Quit { .. }
            | ClusterEvent::Away { .. }
            | ClusterEvent::Clear { .. }
            | ClusterEvent::Account { .. }
            | ClusterEvent::Sanction { .. }
            | ClusterEvent::Lift { .. }
            | ClusterEvent::Founder { .. }
            | ClusterEvent::Role { .. }
            | ClusterEvent::Modes { .. }
            | ClusterEvent::Kick { .. }
            | ClusterEvent::Invite { .. }
            | ClusterEvent::Lockdown { .. }
            | ClusterEvent::Allow { .. }
            | ClusterEvent::AccountKey { .. }
            | ClusterEvent::StoredDirect { .. }
            | ClusterEvent::OfflineDelivered { .. }
            | ClusterEvent::ReadMarker { .. } => false,
        };
        let channel = state.public_by_name.get(&name).copied();
        let channel = match channel {
            Some(channel) => Some(channel),
            None if needs_channel => {
                if state.may_open_channel(self.settings.max_channels).is_ok() {
                    return ClusterStep::Open(Load::Join {
                        name,
                        after: state.last_close_ticket,
                        limit: self.settings.hist_rd,
                    });
                }
                tracing::warn!(
                    chan = name,
                    stream_seq,
                    "cluster event dropped: --max-channels reached on this node"
                );
                None
            }
            None => None,
        };
        state.cluster_cursor = Some(stream_seq);
        if let Some(channel) = channel {
            self.apply_cluster_event(&mut state, from, own, channel, event);
        }
        // An event that stored no message still moves the cursor.
        if state.cluster_cursor.take().is_some() {
            self.store.cluster_cursor(&link.stream, stream_seq);
        }
        ClusterStep::Done
    }

    fn apply_cluster_event(
        &self,
        state: &mut State,
        from: &NodeRun,
        own: bool,
        channel: ChannelId,
        event: ClusterEvent,
    ) {
        match event {
            ClusterEvent::Post {
                nick,
                text,
                action,
                notice,
                unix_micros,
                ..
            } => {
                let text = text::sanitize_lines(&text);
                let nick = text::sanitize_message(&nick);
                let (author, text) = if action {
                    (AUTHOR_ACTION.to_string(), format!("\x02{nick}\x02 {text}"))
                } else {
                    (nick.clone(), text)
                };
                let post = Post {
                    channel,
                    author,
                    text: text.into(),
                    // Only the node a line was typed on relays it to its IRC bridge.
                    origin: if own { Origin::Local } else { Origin::Internal },
                    kind: kind_of(notice),
                    ping: Ping::Mentioned,
                    after: TICKET_NOT_STORED,
                    unix_micros,
                };
                self.apply_locked(state, Event::Post(post));
                state.note_speaker(channel, &nick);
            }
            ClusterEvent::Join {
                nick, unix_micros, ..
            } => {
                let nick = text::sanitize_message(&nick);
                if own {
                    let line = Post::line(channel, AUTHOR_SYSTEM, &join_text(&nick), unix_micros);
                    self.apply_locked(state, Event::Post(line));
                    self.close_if_empty(state, channel);
                    return;
                }
                let Some(target) = state.channels.get_mut(&channel) else {
                    return;
                };
                let member = RemoteMember {
                    nick: nick.clone(),
                    run: from.clone(),
                };
                if target.remote.insert(nick.to_lowercase(), member).is_some() {
                    return;
                }
                target.roster += 1;
                let next_id = state.next_user;
                let person = state
                    .remote_nicks
                    .entry(nick.to_lowercase())
                    .or_insert_with(|| RemotePerson {
                        id: next_id,
                        channels: Vec::new(),
                        away: None,
                        told: std::collections::HashSet::new(),
                        directs: Vec::new(),
                    });
                person.channels.push(channel);
                if person.id == next_id {
                    state.next_user = next_id.saturating_add(1);
                }
                let line = Post::line(channel, AUTHOR_SYSTEM, &join_text(&nick), unix_micros);
                self.apply_locked(state, Event::Post(line));
            }
            ClusterEvent::Part {
                nick,
                announce,
                unix_micros,
                reason,
                ..
            } => {
                if own {
                    if announce {
                        let left = left_line(&text::sanitize_message(&nick), &reason);
                        let line = Post::line(channel, AUTHOR_SYSTEM, &left, unix_micros);
                        self.apply_locked(state, Event::Post(line));
                    }
                    self.close_if_empty(state, channel);
                    return;
                }
                let leaving = Leaving {
                    announce,
                    reason: &reason,
                    quit: false,
                };
                self.remote_leaves(state, channel, &nick, &leaving, unix_micros);
            }
            // Handled before a channel is looked for.
            ClusterEvent::Direct { .. }
            | ClusterEvent::Nick { .. }
            | ClusterEvent::Quit { .. }
            | ClusterEvent::Away { .. } => {}
            shared => self.apply_shared_event(state, channel, shared),
        }
    }

    /// A direct message between nodes, from the stream: into the window of the local user it
    /// concerns (the sender's copy on the node it came from, the recipient's on theirs),
    /// opened if need be. A recipient at the window cap does not get it (logged).
    fn deliver_direct(
        &self,
        state: &mut State,
        own: bool,
        (sender, to): (&str, &str),
        (text, kind): (&str, MessageKind),
        unix_micros: i64,
    ) {
        let (local, partner, ping) = if own {
            (sender, to, Ping::Nobody)
        } else {
            (to, sender, Ping::Everyone)
        };
        let Some(&user) = state.nicks.get(&local.to_lowercase()) else {
            return;
        };
        let partner = text::sanitize_message(partner);
        let existing = state.users.get(&user).and_then(|u| {
            u.windows.iter().find_map(|w| {
                let direct = state
                    .channels
                    .get(&w.channel)
                    .is_some_and(|c| c.kind == ChannelKind::Direct);
                (direct && w.alias.eq_ignore_ascii_case(&partner)).then_some(w.channel)
            })
        });
        let channel = match existing {
            Some(channel) => channel,
            None => {
                let allowed = state
                    .may_open_window(user, self.settings.max_windows_per_user)
                    .is_ok()
                    && state.may_open_channel(self.settings.max_channels).is_ok();
                if !allowed {
                    tracing::warn!(
                        nick = local,
                        "cluster: a direct message passed a window limit"
                    );
                    return;
                }
                let channel = state.new_channel(ChannelKind::Direct, String::new(), 0);
                self.add_member(state, user, channel, partner.clone());
                channel
            }
        };
        if let Some(person) = state.remote_nicks.get_mut(&partner.to_lowercase()) {
            person.note_direct(user, channel);
        }
        let post = Post {
            channel,
            author: text::sanitize_message(sender),
            text: text::sanitize_lines(text).into(),
            origin: Origin::Internal,
            kind,
            ping,
            after: TICKET_NOT_STORED,
            unix_micros,
        };
        self.apply_locked(state, Event::Post(post));
    }

    /// A user of another node leaves `channel` here (see [`Leaving`]); once in no channel
    /// here they are forgotten, and remembered as gone for IRC.
    pub(super) fn remote_leaves(
        &self,
        state: &mut State,
        channel: ChannelId,
        nick: &str,
        leaving: &Leaving<'_>,
        unix_micros: i64,
    ) {
        let Leaving {
            announce,
            reason,
            quit,
        } = *leaving;
        let Some(target) = state.channels.get_mut(&channel) else {
            return;
        };
        let Some(gone) = target.remote.remove(&nick.to_lowercase()) else {
            return;
        };
        target.roster += 1;
        target.recent_speakers.forget(&gone.nick);
        let folded = nick.to_lowercase();
        if let Some(person) = state.remote_nicks.get_mut(&folded) {
            person.channels.retain(|&c| c != channel);
            if person.channels.is_empty() {
                let id = person.id;
                state.remote_nicks.remove(&folded);
                state.remote_gone.push_back((id, quit));
                if state.remote_gone.len() > REMOTE_GONE_KEPT {
                    state.remote_gone.pop_front();
                }
            }
        }
        if announce {
            let left = left_line(&gone.nick, reason);
            let line = Post::line(channel, AUTHOR_SYSTEM, &left, unix_micros);
            self.apply_locked(state, Event::Post(line));
        }
        self.close_if_empty(state, channel);
    }

    /// Cluster mode: `user`'s away state changed; the other nodes are told.
    pub(super) fn cluster_away(&self, state: &State, user: UserId) {
        if !self.in_cluster() {
            return;
        }
        let Some(u) = state.users.get(&user) else {
            return;
        };
        self.cluster_note(ClusterEvent::Away {
            nick: u.nick.clone(),
            away: state.away_reason(user).map(str::to_string),
        });
    }

    /// The first of public channels `names` that is not in memory here, to read and open
    /// (`None`: all are, or cannot be opened: those are skipped, logged).
    fn closed_channel(&self, state: &State, names: &[String]) -> Option<Load> {
        let name = names
            .iter()
            .filter_map(|n| normalize_channel_name(n).ok())
            .find(|n| !state.public_by_name.contains_key(n))?;
        if state.may_open_channel(self.settings.max_channels).is_err() {
            tracing::warn!(
                chan = name,
                "cluster: a quit line dropped: --max-channels reached"
            );
            return None;
        }
        Some(Load::Join {
            name,
            after: state.last_close_ticket,
            limit: self.settings.hist_rd,
        })
    }

    /// A local user's quit, back from the stream: the line that they left, in each public
    /// channel they were in, in the stream's order.
    fn own_quit_lines(
        &self,
        state: &mut State,
        nick: &str,
        channels: &[String],
        reason: &str,
        unix_micros: i64,
    ) {
        let left = left_line(&text::sanitize_message(nick), reason);
        for name in channels {
            let Some(channel) = normalize_channel_name(name)
                .ok()
                .and_then(|n| state.public_by_name.get(&n).copied())
            else {
                continue;
            };
            let line = Post::line(channel, AUTHOR_SYSTEM, &left, unix_micros);
            self.apply_locked(state, Event::Post(line));
            self.close_if_empty(state, channel);
        }
    }

    /// A nick change or quit of a user of another node.
    fn apply_remote_person(&self, state: &mut State, event: &ClusterEvent) {
        match event {
            ClusterEvent::Nick {
                old,
                new,
                unix_micros,
            } => self.remote_nick_change(state, old, new, *unix_micros),
            ClusterEvent::Quit {
                nick,
                announce,
                reason,
                unix_micros,
                ..
            } => self.remote_quit(state, nick, *announce, reason, *unix_micros),
            ClusterEvent::Away { nick, away } => {
                let Some(person) = state.remote_nicks.get_mut(&nick.to_lowercase()) else {
                    return;
                };
                // Another node's reason is cut to this node's limit, as a local one is.
                person.told.clear();
                person.away = away.as_deref().map(|reason| {
                    text::sanitize_message(reason)
                        .chars()
                        .take(super::MAX_AWAY_CHARS)
                        .collect()
                });
                let channels = person.channels.clone();
                // IRC clients among the members sync the member list (away-notify, WHO).
                for channel in channels {
                    State::roster_changed(state, channel, None);
                }
            }
            _ => {}
        }
    }

    /// A user of another node is now known as `new`: renamed in every channel here that
    /// lists them, with the line local users' nick changes show. The work is bounded by the
    /// channels that list them.
    fn remote_nick_change(&self, state: &mut State, old: &str, new: &str, unix_micros: i64) {
        let old_folded = old.to_lowercase();
        let Some(person) = state.remote_nicks.remove(&old_folded) else {
            return;
        };
        let new = text::sanitize_message(new);
        let new_folded = new.to_lowercase();
        let channels = person.channels.clone();
        let directs = person.directs.clone();
        state.remote_nicks.insert(new_folded.clone(), person);
        let text = format!("\x0be{old}\x02 changed nick to \x02{new}");
        // Direct-message windows with them take the new nick as their title, and say so;
        // windows closed since are forgotten.
        let mut open = Vec::with_capacity(directs.len());
        for (user, channel) in directs {
            let renamed = state.users.get_mut(&user).and_then(|u| {
                u.windows
                    .iter_mut()
                    .find(|w| w.channel == channel && w.alias.eq_ignore_ascii_case(old))
            });
            if let Some(window) = renamed {
                window.alias = new.clone();
                open.push((user, channel));
                // A stored conversation holds its partners' messages only, numbered alike on
                // every node (`cluster_direct.rs`).
                let stored = state
                    .channels
                    .get(&channel)
                    .is_some_and(|c| c.stored_as.is_some());
                if !stored {
                    let line = Post::line(channel, AUTHOR_SYSTEM, &text, unix_micros);
                    self.apply_locked(state, Event::Post(line));
                }
            }
        }
        if let Some(person) = state.remote_nicks.get_mut(&new_folded) {
            person.directs = open;
        }
        for channel in channels {
            let Some(target) = state.channels.get_mut(&channel) else {
                continue;
            };
            if let Some(mut member) = target.remote.remove(&old_folded) {
                member.nick = new.clone();
                target.remote.insert(new_folded.clone(), member);
            }
            target.recent_speakers.rename(old, &new);
            target.roster += 1;
            let line = Post::line(channel, AUTHOR_SYSTEM, &text, unix_micros);
            self.apply_locked(state, Event::Post(line));
        }
    }

    /// A user of another node left the chat: they leave every channel here that lists them.
    fn remote_quit(
        &self,
        state: &mut State,
        nick: &str,
        announce: bool,
        reason: &str,
        unix_micros: i64,
    ) {
        let channels = state
            .remote_nicks
            .get(&nick.to_lowercase())
            .map(|p| p.channels.clone())
            .unwrap_or_default();
        let leaving = Leaving {
            announce,
            reason,
            quit: true,
        };
        for channel in channels {
            self.remote_leaves(state, channel, nick, &leaving, unix_micros);
        }
    }

    /// For IRC: whether the member `id`, last seen as `nick`, left the chat rather than only
    /// a channel (a local user who is gone; a user of another node who quit or whose node
    /// did).
    pub fn irc_has_quit(&self, id: UserId, nick: &str) -> bool {
        let state = self.lock();
        if state.users.contains_key(&id) {
            return false;
        }
        if state
            .remote_nicks
            .get(&nick.to_lowercase())
            .is_some_and(|p| p.id == id)
        {
            return false;
        }
        state
            .remote_gone
            .iter()
            .rev()
            .find(|(gone, _)| *gone == id)
            .is_none_or(|(_, quit)| *quit)
    }

    /// Opens public channel `name` with what was read for [`ClusterStep::Open`] (`None`: it
    /// could not be read now); someone may have opened it meanwhile.
    pub fn open_for_cluster(&self, name: &str, loaded: Option<LoadedChannel>) -> bool {
        let mut state = self.lock();
        if state.public_by_name.contains_key(name) {
            return true;
        }
        let Some(loaded) = loaded else {
            return false;
        };
        if state.may_open_channel(self.settings.max_channels).is_err() {
            return false;
        }
        self.create_public(&mut state, name, loaded);
        true
    }

    /// The nodes alive now, by name with their run's id (from the presence bucket): remote
    /// members on any other node, or on an earlier run of a live one, leave every list.
    pub fn cluster_presence(&self, live: &HashMap<String, String>) {
        let mut state = self.lock();
        let now = now_micros();
        let mut gone = Vec::new();
        for (&id, channel) in &state.channels {
            for member in channel.remote.values() {
                if live.get(&member.run.node) != Some(&member.run.boot) {
                    gone.push((id, member.nick.clone()));
                }
            }
        }
        let leaving = Leaving {
            announce: true,
            reason: "",
            quit: true,
        };
        for (channel, nick) in gone {
            self.remote_leaves(&mut state, channel, &nick, &leaving, now);
        }
    }

    /// The stream's cursor to attach to the public message being stored, if an event of the
    /// stream is being applied.
    pub(super) fn take_cluster_cursor(&self, state: &mut State) -> Option<(String, u64)> {
        let link = self.cluster.get()?;
        state
            .cluster_cursor
            .take()
            .map(|seq| (link.stream.clone(), seq))
    }

    /// Cluster mode: the public channels' members on other nodes, for `/names`.
    pub(super) fn remote_nicks(state: &State, channel: ChannelId) -> Vec<String> {
        state
            .channels
            .get(&channel)
            .map(|c| {
                c.remote
                    .iter()
                    .map(|(folded, m)| {
                        let away = state
                            .remote_nicks
                            .get(folded)
                            .is_some_and(|p| p.away.is_some());
                        if away {
                            format!("{} (away)", m.nick)
                        } else {
                            m.nick.clone()
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A local user wrote to `partner`, a user of another node: like a local partner's, an
    /// away partner's reason is told once (an IRC client says it itself, at every message).
    pub(super) fn answer_for_remote_partner(
        &self,
        state: &mut State,
        sender: UserId,
        channel: ChannelId,
        partner: &str,
    ) {
        let irc = state
            .users
            .get(&sender)
            .is_some_and(|u| u.irc_ident.is_some());
        let Some(person) = state.remote_nicks.get_mut(&partner.to_lowercase()) else {
            return;
        };
        person.note_direct(sender, channel);
        let Some(reason) = person.away.clone() else {
            return;
        };
        if irc || person.told.contains(&sender) {
            return;
        }
        if person.told.len() < super::away::MAX_TOLD {
            person.told.insert(sender);
        }
        let text = if reason.is_empty() {
            format!("{partner} is away")
        } else {
            format!("{partner} is away: {reason}")
        };
        self.tell_locked(state, sender, AUTHOR_INFO, &text);
    }

    /// How many users of other nodes are members of some channel here (for `/status`).
    pub fn remote_member_count(&self) -> usize {
        let state = self.lock();
        state.channels.values().map(|c| c.remote.len()).sum()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::world;
    use super::*;

    pub(in crate::world) fn run(node: &str) -> NodeRun {
        NodeRun {
            node: node.into(),
            boot: "1".into(),
        }
    }

    #[test]
    fn a_stream_event_opens_its_channel_then_stores_the_line_with_the_cursor() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (world, store) = world(dir.path(), 100, 1000, 100);
        let (outbox, _receiver) = tokio::sync::mpsc::channel(4);
        world.attach_cluster(outbox, "S", run("here"));
        let post = ClusterEvent::Post {
            channel: "g".into(),
            nick: "alice".into(),
            text: "hello".into(),
            action: false,
            notice: false,
            unix_micros: 1,
        };
        // Not in memory: the applier is asked to read it first, and nothing is applied yet.
        let ClusterStep::Open(Load::Join { name, .. }) =
            world.apply_cluster(&run("there"), post.clone(), 7, false)
        else {
            panic!("the channel must be read first");
        };
        assert_eq!(name, "g");
        assert!(world.open_for_cluster("g", Some(LoadedChannel::default())));
        assert_eq!(
            world.apply_cluster(&run("there"), post, 7, false),
            ClusterStep::Done
        );
        store.flush();
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(7));
        let stored = store.recent_messages("g", 10).expect("read");
        assert!(
            stored
                .iter()
                .any(|m| m.author == "alice" && m.text == "hello")
        );

        // An event that stores nothing moves the cursor too; an older one never moves it back.
        let join = ClusterEvent::Join {
            channel: "g".into(),
            nick: "bob".into(),
            unix_micros: 2,
        };
        world.apply_cluster(&run("here"), join, 9, false);
        store.flush();
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(9));
        store.cluster_cursor("S", 8);
        store.flush();
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(9));
    }

    #[test]
    fn remote_members_come_and_go_with_their_node() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (world, _store) = world(dir.path(), 100, 1000, 100);
        let (outbox, _receiver) = tokio::sync::mpsc::channel(4);
        world.attach_cluster(outbox, "S", run("here"));
        world.open_for_cluster("g", Some(LoadedChannel::default()));
        let join = ClusterEvent::Join {
            channel: "g".into(),
            nick: "Bob".into(),
            unix_micros: 1,
        };
        world.apply_cluster(&run("there"), join, 1, false);
        assert_eq!(world.remote_member_count(), 1);
        assert!(world.lock().remote_nicks.contains_key("bob"));
        // Node "there" restarted (another run): its earlier users leave every list.
        let live = HashMap::from([("there".to_string(), "2".to_string())]);
        world.cluster_presence(&live);
        assert_eq!(world.remote_member_count(), 0);
        assert!(world.lock().remote_nicks.is_empty());
    }
}
