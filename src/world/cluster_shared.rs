//! Cluster mode's shared state (`--cluster`): topics and `/cls` of public channels go
//! through the stream like chat lines, and are applied here, by every node, in stream order;
//! unique names (accounts, channel founders, ssh keys) are claimed in the cluster's key-value
//! buckets with create and compare-and-set, through [`ClaimRequest`]s the cluster's claim
//! task answers, and the account records and their keys themselves travel in the stream into
//! every node's store. Bans and mutes and their lifting are applied here too, by every node,
//! the author's included (channel moderation is `cluster_moderation.rs`'s).
//!
//! A node does not trust another's sizes: every text read from the stream is sanitized and
//! cut to this node's limits before it is applied.

use super::*;
use crate::world::sanction::format_duration;

/// Claims waiting for the cluster's claim task at most; past it, the claim is refused.
pub const CLAIM_QUEUE: usize = 256;
/// How long a claim waits for the cluster's answer before it is refused.
pub(super) const CLAIM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest mask a sanction event may carry.
const MAX_MASK_CHARS: usize = 128;
/// The longest reason a sanction event may carry.
const MAX_REASON_CHARS: usize = 300;
/// The longest PHC string an account event may carry (Argon2id's are about 100 bytes).
const MAX_PHC_BYTES: usize = 512;
/// The longest ssh key fingerprint an event may carry (`SHA256:` and 43 characters).
const MAX_FINGERPRINT_BYTES: usize = 64;

/// A key-value bucket of names that must be unique across the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedBucket {
    /// Account names (`r0c_accounts`).
    Accounts,
    /// Public channels' founders (`r0c_founders`): the value is the founder's principal.
    Founders,
    /// ssh keys attached to accounts (`r0c_keys`): the key is the fingerprint as it is (not
    /// folded), the value the folded account.
    Keys,
}

/// The cluster's answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAnswer {
    /// The name is this node's now (or was already; or this node runs alone).
    Claimed,
    /// Node `0` holds it.
    Held(String),
    /// The bucket cannot be reached now.
    Unreachable,
}

/// A claim (or, with `release`, a release) of `name` in `bucket`, for the claim task.
#[derive(Debug)]
pub struct ClaimRequest {
    pub bucket: SharedBucket,
    pub name: String,
    /// What the claim's value names (`None`: this node), so the same holder claiming again
    /// from any node gets it.
    pub holder: Option<String>,
    /// Let go of the name if this node holds it, instead of claiming it.
    pub release: bool,
    /// The holder's claim may be taken over (compare-and-set on its revision): this node
    /// knows the thing it names as lapsed.
    pub take_over: bool,
    /// Where the answer goes (`None` for a release: nobody waits).
    pub reply: Option<tokio::sync::oneshot::Sender<ClaimAnswer>>,
}

/// Cuts `text` to at most `max` characters.
pub(super) fn capped(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A nick read from the stream: sanitized, and cut to the nick limit.
pub(super) fn stream_nick(nick: &str) -> String {
    capped(&text::sanitize_message(nick), nick::MAX_NICK_CHARS)
}

impl World {
    /// Cluster mode: claims of unique names go to `claims` (read by the claim task) from now
    /// on. Only the first call counts.
    pub fn attach_cluster_claims(&self, claims: tokio::sync::mpsc::Sender<ClaimRequest>) {
        let _ = self.cluster_claims.set(claims);
    }

    /// Claims `name` in `bucket` across the cluster and waits for the answer (never under
    /// the lock); [`ClaimAnswer::Claimed`] at once when not in cluster mode.
    pub async fn cluster_claim(
        &self,
        bucket: SharedBucket,
        name: &str,
        take_over: bool,
    ) -> ClaimAnswer {
        self.cluster_claim_as(bucket, name, None, take_over).await
    }

    /// [`World::cluster_claim`] with the claim's value `holder` (`None`: this node).
    pub async fn cluster_claim_as(
        &self,
        bucket: SharedBucket,
        name: &str,
        holder: Option<&str>,
        take_over: bool,
    ) -> ClaimAnswer {
        let Some(claims) = self.cluster_claims.get() else {
            return ClaimAnswer::Claimed;
        };
        // With the connection down a claim would only wait out its timeouts: refused at once.
        if !self.cluster_reachable() {
            return ClaimAnswer::Unreachable;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = ClaimRequest {
            bucket,
            name: name.to_string(),
            holder: holder.map(str::to_owned),
            release: false,
            take_over,
            reply: Some(reply),
        };
        if claims.try_send(request).is_err() {
            return ClaimAnswer::Unreachable;
        }
        match tokio::time::timeout(CLAIM_TIMEOUT, answer).await {
            Ok(Ok(answer)) => answer,
            _ => ClaimAnswer::Unreachable,
        }
    }

    /// Lets go of this node's claim of `name` in `bucket` (as far as the queue takes it).
    pub fn cluster_release(&self, bucket: SharedBucket, name: &str) {
        self.cluster_release_as(bucket, name, None);
    }

    /// [`World::cluster_release`] of a claim whose value is `holder` (`None`: this node).
    pub fn cluster_release_as(&self, bucket: SharedBucket, name: &str, holder: Option<&str>) {
        if let Some(claims) = self.cluster_claims.get() {
            let request = ClaimRequest {
                bucket,
                name: name.to_string(),
                holder: holder.map(str::to_owned),
                release: true,
                take_over: false,
                reply: None,
            };
            if claims.try_send(request).is_err() {
                tracing::warn!("cluster claim queue full or closed, a claim was not let go");
            }
        }
    }

    /// Cluster mode: tells the other nodes of an account made or changed here.
    pub(super) fn cluster_account(&self, account: &Account) {
        self.cluster_note(ClusterEvent::Account {
            name: account.name.clone(),
            phc: account.phc.clone(),
            created_at: account.created_at,
        });
    }

    /// Applies an event that concerns no channel: another node's account, or a sanction or
    /// its lifting from any node (`own`: this one, whose author is told once it is stored).
    pub(super) fn apply_node_wide_event(&self, state: &mut State, own: bool, event: ClusterEvent) {
        match event {
            ClusterEvent::Sanction { .. } => self.apply_sanction_event(state, own, event),
            ClusterEvent::Lift { ref by, .. } => {
                let author = own.then(|| state.user_named(by)).flatten();
                self.apply_lift(state, author, event);
            }
            ClusterEvent::AccountKey {
                account,
                fingerprint,
                added_at,
                on,
            } => self.apply_account_key_event(state, &account, &fingerprint, added_at, on),
            _ => self.apply_account_event(state, event),
        }
    }

    /// Applies another node's [`ClusterEvent::AccountKey`]: the key is attached to (or
    /// detached from) the account here too, and stored, so its owner logs in by it on any
    /// node. An event for an account this node does not know, a bad name or fingerprint, or
    /// a full key list is logged and skipped.
    fn apply_account_key_event(
        &self,
        state: &mut State,
        account: &str,
        fingerprint: &str,
        added_at: i64,
        on: bool,
    ) {
        let valid = matches!(nick::check_nick(account), nick::NickCheck::Valid(_))
            && fingerprint.starts_with("SHA256:")
            && fingerprint.len() <= MAX_FINGERPRINT_BYTES;
        let folded = claims::fold(account);
        if !valid || state.accounts.known(&folded).is_none() {
            tracing::warn!("cluster: a key event for a bad or unknown account was skipped");
            return;
        }
        let write = if on {
            state.accounts.add_key(&folded, fingerprint, added_at)
        } else {
            state
                .accounts
                .delete_key(&folded, fingerprint)
                .map(|(_, write)| write)
        };
        match write {
            Ok(write) => {
                self.write_account(write);
            }
            Err(problem) => {
                tracing::warn!(%problem, "cluster: a key event was not applied here");
            }
        }
    }

    /// A sanction set here, as the other nodes get it.
    pub(super) fn sanction_event(&self, sanction: &sanction::Sanction) -> ClusterEvent {
        let crate::store::StoredSanction {
            kind,
            scope,
            mask,
            reason,
            set_by,
            set_at,
            expires,
        } = moderation::stored_sanction(sanction);
        ClusterEvent::Sanction {
            kind,
            scope,
            mask,
            reason,
            set_by,
            set_at,
            expires,
        }
    }

    /// Applies a [`ClusterEvent::Sanction`] (`own`: set on this node): kept (and stored)
    /// here within this node's list limits, the door's list refreshed, and it acts on the
    /// users of this node it names as on one node: a server ban puts them out, a channel
    /// ban out of the channel, a mute keeps them quiet; each is told. Its author, on this
    /// node, is told once it is stored. A sanction that does not parse, or a full list, is
    /// logged and skipped (its author told).
    fn apply_sanction_event(&self, state: &mut State, own: bool, event: ClusterEvent) {
        let ClusterEvent::Sanction {
            kind,
            scope,
            mask,
            reason,
            set_by,
            set_at,
            expires,
        } = event
        else {
            return;
        };
        let (Some(kind), Ok(mask)) = (
            sanction::Kind::parse(&kind),
            sanction::Mask::parse(&capped(&mask, MAX_MASK_CHARS)),
        ) else {
            tracing::warn!("cluster: a sanction that does not parse was skipped");
            return;
        };
        let channel = match normalize_channel_name(&scope) {
            _ if scope.is_empty() => None,
            Ok(name) => Some(name),
            Err(_) => {
                tracing::warn!("cluster: a sanction for a bad channel name was skipped");
                return;
            }
        };
        let sanction = sanction::Sanction {
            kind,
            channel,
            mask,
            reason: capped(&text::sanitize_message(&reason), MAX_REASON_CHARS),
            set_by: stream_nick(&set_by),
            set_at,
            expires,
        };
        let author = own.then(|| state.user_named(&sanction.set_by)).flatten();
        let ticket = match self.put_sanction(state, sanction.clone()) {
            Ok(ticket) => ticket,
            Err(full) => {
                tracing::warn!(%full, "cluster: a sanction was not kept here");
                if let Some(author) = author {
                    self.tell_locked(state, author, AUTHOR_ERROR, &full);
                }
                return;
            }
        };
        let length = sanction.expires.map_or_else(
            || "permanently".to_owned(),
            |end| format!("for {}", format_duration(end.saturating_sub(set_at))),
        );
        let hits = self.enforce_sanction(state, &sanction, (author, None), &length);
        match author {
            Some(author) => self.sanction_done(state, author, &sanction, &length, (hits, ticket)),
            None => self.refresh_door(state),
        }
    }

    /// Applies another node's [`ClusterEvent::Account`]: the account is kept (and stored)
    /// here too, or its password hash replaced when this node has it already. An event
    /// whose name is not a valid nick or whose hash is too long is skipped.
    fn apply_account_event(&self, state: &mut State, event: ClusterEvent) {
        let ClusterEvent::Account {
            name,
            phc,
            created_at,
        } = event
        else {
            return;
        };
        let valid = matches!(nick::check_nick(&name), nick::NickCheck::Valid(_));
        if !valid || phc.len() > MAX_PHC_BYTES {
            tracing::warn!("cluster: an account event with a bad name or hash was skipped");
            return;
        }
        let folded = claims::fold(&name);
        let same = state
            .accounts
            .known(&folded)
            .is_some_and(|known| known.created_at == created_at);
        let writes = if same {
            state.accounts.set_phc(&folded, phc).into_iter().collect()
        } else {
            if state.accounts.len() >= MAX_ACCOUNTS && state.accounts.known(&folded).is_none() {
                tracing::warn!("cluster: an account was not kept here: --max accounts reached");
                return;
            }
            let now = now_micros();
            state.accounts.create(Account {
                folded,
                name,
                phc,
                created_at,
                last_seen: now,
                prefs: None,
            })
        };
        for write in writes {
            self.write_account(write);
        }
    }

    /// Applies a shared channel event (a topic, a `/cls`) to `channel`, which is open here.
    pub(super) fn apply_shared_event(
        &self,
        state: &mut State,
        channel: ChannelId,
        event: ClusterEvent,
    ) {
        match event {
            ClusterEvent::Topic {
                nick,
                topic,
                unix_micros,
                ..
            } => {
                let topic = capped(&text::sanitize_message(&topic), MAX_TOPIC_CHARS);
                let event = Event::Topic {
                    channel,
                    nick: stream_nick(&nick),
                    topic,
                    unix_micros,
                };
                self.apply_locked(state, event);
            }
            ClusterEvent::Clear {
                nick, unix_micros, ..
            } => {
                let event = Event::Clear {
                    channel,
                    nick: stream_nick(&nick),
                    unix_micros,
                };
                self.apply_locked(state, event);
            }
            // Chat lines, joins, parts and direct messages are `cluster.rs`'s.
            ClusterEvent::Post { .. }
            | ClusterEvent::Join { .. }
            | ClusterEvent::Part { .. }
            | ClusterEvent::Direct { .. } => {}
            // Applied before a channel is looked for.
            ClusterEvent::Account { .. }
            | ClusterEvent::Nick { .. }
            | ClusterEvent::Quit { .. }
            | ClusterEvent::Away { .. }
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
            | ClusterEvent::ReadMarker { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cluster::tests::run;
    use super::super::tests::world;
    use super::*;

    /// A world on node "here" with public channel `g` open, and its store.
    fn clustered(dir: &std::path::Path) -> (World, Arc<Store>) {
        let (world, store) = world(dir, 100, 1000, 100);
        let (outbox, _receiver) = tokio::sync::mpsc::channel(4);
        world.attach_cluster(outbox, "S", run("here"));
        world.open_for_cluster("g", Some(LoadedChannel::default()));
        (world, store)
    }

    #[test]
    fn a_topic_from_the_stream_is_stored_and_cut_to_this_nodes_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (world, store) = clustered(dir.path());
        let topic = ClusterEvent::Topic {
            channel: "g".into(),
            nick: "x".repeat(500),
            topic: "t".repeat(MAX_TOPIC_CHARS * 4),
            unix_micros: 1,
        };
        assert_eq!(
            world.apply_cluster(&run("there"), topic, 3, false),
            ClusterStep::Done
        );
        store.flush();
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(3));
        let state = world.lock();
        let id = state.public_by_name.get("g").copied().expect("open");
        let channel = state.channels.get(&id).expect("channel");
        assert_eq!(channel.topic.chars().count(), MAX_TOPIC_CHARS);
    }

    #[test]
    fn another_nodes_account_is_kept_here_its_new_password_replaces_the_old_and_bad_ones_are_skipped()
     {
        let dir = tempfile::tempdir().expect("temp dir");
        let (world, store) = clustered(dir.path());
        let account = |name: &str, phc: &str| ClusterEvent::Account {
            name: name.into(),
            phc: phc.into(),
            created_at: 5,
        };
        world.apply_cluster(&run("there"), account("Zed", "$argon2id$one"), 1, false);
        world.apply_cluster(&run("there"), account("zed", "$argon2id$two"), 2, false);
        // Not a nick, and a hash far too long: skipped, though the cursor moves on.
        world.apply_cluster(&run("there"), account("a b", "$argon2id$x"), 3, false);
        world.apply_cluster(&run("there"), account("long", &"h".repeat(4096)), 4, false);
        // This node's own account events are its own writes already.
        world.apply_cluster(&run("here"), account("mine", "$argon2id$m"), 5, false);
        store.flush();
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(5));
        let (stored, _) = store.accounts().expect("accounts read");
        let names: Vec<_> = stored
            .iter()
            .map(|a| (a.name.as_str(), a.phc.as_str()))
            .collect();
        assert_eq!(names, [("Zed", "$argon2id$two")]);
    }

    #[test]
    fn another_nodes_key_is_attached_here_only_to_a_known_account_with_a_real_fingerprint() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (world, store) = clustered(dir.path());
        let there = run("there");
        let account = ClusterEvent::Account {
            name: "zed".into(),
            phc: "$argon2id$one".into(),
            created_at: 5,
        };
        world.apply_cluster(&there, account, 1, false);
        let key = |account: &str, fingerprint: &str, on: bool| ClusterEvent::AccountKey {
            account: account.into(),
            fingerprint: fingerprint.into(),
            added_at: 7,
            on,
        };
        let good = format!("SHA256:{}", "a".repeat(43));
        world.apply_cluster(&there, key("zed", "MD5:aa", true), 2, false);
        world.apply_cluster(&there, key("zed", &"SHA256:x".repeat(40), true), 3, false);
        world.apply_cluster(&there, key("nobody", &good, true), 4, false);
        world.apply_cluster(&there, key("zed", &good, true), 5, false);
        store.flush();
        let (_, keys) = store.accounts().expect("accounts read");
        let attached: Vec<_> = keys
            .iter()
            .map(|k| (k.account.as_str(), k.fingerprint.as_str()))
            .collect();
        assert_eq!(attached, [("zed", good.as_str())]);
        world.apply_cluster(&there, key("zed", &good, false), 6, false);
        store.flush();
        let (_, keys) = store.accounts().expect("accounts read");
        assert!(keys.is_empty());
    }
}
