//! Cluster mode's shared state (`--cluster`): topics and `/cls` of public channels go
//! through the stream like chat lines, and are applied here, by every node, in stream order;
//! unique names (accounts) are claimed in the cluster's key-value buckets with create and
//! compare-and-set, through [`ClaimRequest`]s the cluster's claim task answers, and the
//! account records themselves travel in the stream into every node's store.
//!
//! A node does not trust another's sizes: every text read from the stream is sanitized and
//! cut to this node's limits before it is applied.

use super::*;

/// Claims waiting for the cluster's claim task at most; past it, the claim is refused.
pub const CLAIM_QUEUE: usize = 256;
/// How long a claim waits for the cluster's answer before it is refused.
const CLAIM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest mask a sanction event may carry.
const MAX_MASK_CHARS: usize = 128;
/// The longest reason a sanction event may carry.
const MAX_REASON_CHARS: usize = 300;
/// The longest PHC string an account event may carry (Argon2id's are about 100 bytes).
const MAX_PHC_BYTES: usize = 512;

/// A key-value bucket of names that must be unique across the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedBucket {
    /// Account names (`r0c_accounts`).
    Accounts,
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
        if let Some(claims) = self.cluster_claims.get() {
            let request = ClaimRequest {
                bucket,
                name: name.to_string(),
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

    /// Applies another node's event that concerns no channel (an account, a sanction).
    pub(super) fn apply_node_wide_event(&self, state: &mut State, event: ClusterEvent) {
        match event {
            ClusterEvent::Sanction { .. } => self.apply_sanction_event(state, event),
            ClusterEvent::Lift { kind, scope, masks } => {
                self.apply_lift_event(state, &kind, &scope, &masks)
            }
            _ => self.apply_account_event(state, event),
        }
    }

    /// Applies another node's [`ClusterEvent::Lift`]: the sanctions of that kind, scope and
    /// masks end here too (at most as many masks as a scope can hold are looked at).
    fn apply_lift_event(&self, state: &mut State, kind: &str, scope: &str, masks: &[String]) {
        let Some(kind) = sanction::Kind::parse(kind) else {
            tracing::warn!("cluster: a lift of an unknown kind was skipped");
            return;
        };
        let channel = Some(scope.to_owned()).filter(|s| !s.is_empty());
        let masks: Vec<String> = masks.iter().take(MAX_SERVER_SANCTIONS).cloned().collect();
        let mut removed = Vec::new();
        state.moderation.sanctions.retain(|s| {
            let hit = s.kind == kind && s.channel == channel && masks.contains(&s.mask.to_string());
            if hit {
                removed.push(s.mask.to_string());
            }
            !hit
        });
        self.forget_sanctions(kind, scope, &removed);
        self.refresh_door(state);
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

    /// Applies another node's [`ClusterEvent::Sanction`]: kept (and stored) here within this
    /// node's list limits, the door's list refreshed, and a server ban puts out the users
    /// of this node it hits. A channel ban or a mute is checked whenever its target speaks or
    /// joins here. A sanction that does not parse, or a full list, is logged and skipped.
    fn apply_sanction_event(&self, state: &mut State, event: ClusterEvent) {
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
        let server_ban = kind == sanction::Kind::Ban && channel.is_none();
        let sanction = sanction::Sanction {
            kind,
            channel,
            mask,
            reason: capped(&text::sanitize_message(&reason), MAX_REASON_CHARS),
            set_by: stream_nick(&set_by),
            set_at,
            expires,
        };
        if let Err(full) = self.put_sanction(state, sanction) {
            tracing::warn!(%full, "cluster: a sanction from another node was not kept here");
            return;
        }
        self.refresh_door(state);
        if server_ban {
            let users: Vec<UserId> = state.users.keys().copied().collect();
            for user in users {
                self.moderation_checks(state, user);
            }
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
}
