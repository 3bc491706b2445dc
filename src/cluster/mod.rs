//! Cluster mode (`--cluster`): this node as one of several on NATS JetStream.
//!
//! Three tasks, each reconnecting on its own: the publisher takes local users' chat lines,
//! joins and parts from the world's outbox and publishes each to the stream `R0C_EVENTS`,
//! awaiting JetStream's acknowledgement (with a `Nats-Msg-Id`, so a retry is stored once);
//! the applier reads the stream in order with an ordered consumer, from just after the last
//! sequence this node's store committed, and applies every event through the world, this
//! node's own too; presence puts this node's name and run in the key-value bucket `r0c_nodes`
//! every few seconds, with a time to live, and drops the remote members of nodes that stopped
//! doing so; `snapshot.rs` puts a snapshot of the database now and then, and loads one at start
//! when the stream was trimmed past this node. The world's side (what goes out, what an event
//! does) is `world/cluster.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, kv, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod claims;
pub mod snapshot;
pub use claims::{ACCOUNT_BUCKET, FOUNDER_BUCKET, KEY_BUCKET};

use crate::config::{ClusterRetention, ClusterSettings};
use crate::history::{self, Arrived, Read};
use crate::world::{ClusterEvent, ClusterStep, NodeRun, OUTBOX_CAPACITY, Outgoing, UserId, World};

/// The JetStream stream every node publishes to and applies from.
pub const STREAM: &str = "R0C_EVENTS";
/// Its subjects: `r0c.ev.<node>`.
pub const SUBJECTS: &str = "r0c.ev.>";
/// The key-value bucket of live nodes: key the node's name, value its run's id.
pub const PRESENCE_BUCKET: &str = "r0c_nodes";
/// The key-value bucket of nick claims: key the folded nick (hex), value "node run".
pub const NICK_BUCKET: &str = "r0c_nicks";
// The stream's default retention is the configuration's (`config::ClusterRetention`), which
// may not import the cluster.
pub use crate::config::{STREAM_MAX_AGE, STREAM_MAX_BYTES};
/// The window in which JetStream drops a second event with the same `Nats-Msg-Id`.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a node's presence entry lives without a new heartbeat: within this, plus one
/// heartbeat, a dead node's users leave every list.
pub const PRESENCE_TTL: Duration = Duration::from_secs(10);
/// How long the publisher waits for JetStream's acknowledgement of one try.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// Tries per event (the same `Nats-Msg-Id` each time) before its sender is told.
const PUBLISH_TRIES: u32 = 3;
/// Events sent and awaiting their acknowledgement at most; past it, the publisher waits for
/// the oldest (and the world's outbox fills behind it, then refuses lines).
const PUBLISH_WINDOW: usize = 256;
/// How long the applier waits for an event before it asks whether it is stuck.
const STALL_CHECK: Duration = Duration::from_secs(3);
/// The largest event a node applies: far above what any event it publishes can be (a chat
/// line's text is cut by the session's line and paste limits).
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// The pause before a task tries again after an error.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// One event as it is stored in the stream: who sent it and what it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub from: NodeRun,
    pub event: ClusterEvent,
}

/// Cluster mode, prepared at bind time: the world is attached, the tasks not started yet.
pub struct Cluster {
    settings: ClusterSettings,
    run: NodeRun,
    outbox: mpsc::Receiver<Outgoing>,
    /// Claims of unique names (`kv.rs`).
    claims: mpsc::Receiver<crate::world::ClaimRequest>,
}

impl Cluster {
    /// Attaches the world to a new outbox: from now on, local chat lines go to the cluster.
    pub fn prepare(settings: &ClusterSettings, world: &World) -> Cluster {
        let run = NodeRun {
            node: settings.node.clone(),
            boot: boot_id(),
        };
        let (sender, outbox) = mpsc::channel(OUTBOX_CAPACITY);
        world.attach_cluster(sender, STREAM, run.clone());
        let (claim_sender, claims) = mpsc::channel(crate::world::CLAIM_QUEUE);
        world.attach_cluster_claims(claim_sender);
        Cluster {
            settings: settings.clone(),
            run,
            outbox,
            claims,
        }
    }

    /// Connects (in the background, retrying) and starts the publisher, the applier and
    /// presence; they end with `shutdown`.
    pub fn spawn(self, world: Arc<World>, tracker: &TaskTracker, shutdown: &CancellationToken) {
        let Cluster {
            settings,
            run,
            outbox,
            claims,
        } = self;
        let shutdown = shutdown.clone();
        let tracker_inner = tracker.clone();
        tracker.spawn(async move {
            let client = tokio::select! {
                client = connect(&settings, world.clone()) => client,
                () = shutdown.cancelled() => return,
            };
            tracing::info!(node = run.node, servers = ?settings.servers, "cluster: connecting");
            let js = jetstream::new(client);
            let replicas = settings.servers.len().clamp(1, 3);
            let retention = settings.retention;
            let publisher = publish_loop(
                js.clone(),
                world.clone(),
                run.clone(),
                outbox,
                (replicas, retention),
                shutdown.clone(),
            );
            tracker_inner.spawn(until(publisher, shutdown.clone()));
            let applier = apply_loop(
                js.clone(),
                world.clone(),
                (replicas, retention),
                shutdown.clone(),
            );
            tracker_inner.spawn(until(applier, shutdown.clone()));
            let snapshots = snapshot::snapshot_loop(
                js.clone(),
                world.clone(),
                run.node.clone(),
                (replicas, retention),
                shutdown.clone(),
            );
            tracker_inner.spawn(until(snapshots, shutdown.clone()));
            let claimer = claims::serve(
                js.clone(),
                claims,
                run.node.clone(),
                replicas,
                shutdown.clone(),
            );
            tracker_inner.spawn(until(claimer, shutdown.clone()));
            let presence = presence_loop(js, world, run, replicas, shutdown.clone());
            tracker_inner.spawn(until(presence, shutdown));
        });
    }
}

/// Runs `task` until it ends or the server shuts down, whatever NATS request it waits on
/// (a request to a server that is gone waits out its timeout).
async fn until(task: impl std::future::Future<Output = ()>, shutdown: CancellationToken) {
    tokio::select! {
        () = task => {}
        () = shutdown.cancelled() => {}
    }
}

/// An id for this run of the node (16 hex digits): it only has to differ from the node's
/// earlier runs, so the time, the process id and the standard library's random hash keys do.
fn boot_id() -> String {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    crate::world::now_micros().hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The NATS client: it connects in the background, fails over between the servers given
/// and reconnects forever; the world is told when the connection goes up or down.
async fn connect(settings: &ClusterSettings, world: Arc<World>) -> async_nats::Client {
    loop {
        let mut options = match base_options(settings).await {
            Ok(options) => options,
            Err(error) => {
                tracing::error!(%error, "cluster: cannot read the credentials file");
                tokio::time::sleep(RETRY_PAUSE * 5).await;
                continue;
            }
        };
        let events_world = world.clone();
        options = options
            .name(format!("r0c {}", settings.node))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(3))
            .event_callback(move |event| {
                let world = events_world.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!("cluster: connected to NATS");
                            world.set_cluster_reachable(true);
                        }
                        async_nats::Event::Disconnected | async_nats::Event::Closed => {
                            tracing::warn!("cluster: NATS connection lost; chat lines are refused until it is back");
                            world.set_cluster_reachable(false);
                        }
                        other => tracing::info!(event = %other, "cluster: NATS event"),
                    }
                }
            });
        match options.connect(settings.servers.clone()).await {
            Ok(client) => return client,
            Err(error) => {
                tracing::error!(%error, "cluster: cannot set up the NATS connection");
                tokio::time::sleep(RETRY_PAUSE * 5).await;
            }
        }
    }
}

/// The connection options every connection of this node shares: credentials and TLS.
async fn base_options(settings: &ClusterSettings) -> std::io::Result<async_nats::ConnectOptions> {
    let mut options = async_nats::ConnectOptions::new();
    if let Some(creds) = &settings.creds {
        options = options.credentials_file(creds).await.map_err(|error| {
            std::io::Error::new(error.kind(), format!("{}: {error}", creds.display()))
        })?;
    }
    if let Some(ca) = &settings.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    Ok(options)
}

/// How many copies the cluster's streams keep, and what the event stream retains.
pub(crate) type Layout = (usize, ClusterRetention);

/// The stream, created with the cluster's settings if it does not exist yet.
async fn events_stream(
    js: &jetstream::Context,
    (replicas, retention): Layout,
) -> Result<stream::Stream, async_nats::Error> {
    let config = stream::Config {
        name: STREAM.to_string(),
        subjects: vec![SUBJECTS.to_string()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        max_age: retention.stream_max_age,
        max_bytes: retention.stream_max_bytes,
        duplicate_window: DUPLICATE_WINDOW,
        num_replicas: replicas,
        description: Some("r0c chat-state events, applied by every node in order".into()),
        ..Default::default()
    };
    Ok(js.get_or_create_stream(config).await?)
}

/// Carries out what the world's outbox holds, in order: publishes events with up to
/// [`PUBLISH_WINDOW`] of them awaiting JetStream's acknowledgement at once (sent in order on
/// the one connection, so the stream stores them in order, and their acknowledgements awaited
/// in that order; a user whose line could not be stored after [`PUBLISH_TRIES`] is told), and
/// claims and lets go nicks in the nick bucket once every earlier event is acknowledged.
async fn publish_loop(
    js: jetstream::Context,
    world: Arc<World>,
    run: NodeRun,
    mut outbox: mpsc::Receiver<Outgoing>,
    layout: Layout,
    shutdown: CancellationToken,
) {
    // Publishing needs the stream and the nick bucket; early work waits for them.
    let (nicks, presence) = loop {
        match publish_setup(&js, layout).await {
            Ok(buckets) => break buckets,
            Err(error) => {
                tracing::warn!(%error, "cluster: the event stream is not available yet");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    };
    world.set_cluster_reachable(true);
    let mine = format!("{} {}", run.node, run.boot);
    let mut pipeline = Pipeline::new(js, world.clone(), run);
    loop {
        // Only waiting happens inside the select (each branch may be dropped unfinished);
        // what follows from it happens after.
        let next = tokio::select! {
            biased;
            // The oldest acknowledgement first: the window drains before it fills further.
            acked = pipeline.oldest_acked(), if !pipeline.is_empty() => Next::Settled(acked),
            outgoing = outbox.recv(), if pipeline.has_room() => Next::Work(outgoing),
            () = shutdown.cancelled() => Next::Work(None),
        };
        let outgoing = match next {
            Next::Settled(acked) => {
                pipeline.settle_oldest(acked).await;
                continue;
            }
            Next::Work(outgoing) => outgoing,
        };
        match outgoing {
            None => return,
            Some(Outgoing::Publish { user, event }) => pipeline.send(user, event).await,
            Some(Outgoing::ClaimNick { user, nick }) => {
                pipeline.settle_all().await;
                let key = nick_key(&nick);
                let claimed = claim_nick(&nicks, &key, &mine, &presence).await;
                if !world.finish_cluster_nick(user, &nick, claimed.clone()) && claimed.is_ok() {
                    release_nick(&nicks, &key, &mine).await;
                }
            }
            Some(Outgoing::ReleaseNick { nick }) => {
                pipeline.settle_all().await;
                release_nick(&nicks, &nick_key(&nick), &mine).await;
            }
            Some(Outgoing::CheckNick { user, nick, avoid }) => {
                let key = nick_key(&nick);
                let claimed = claim_nick(&nicks, &key, &mine, &presence).await;
                if !world.finish_entry_nick(user, &nick, claimed.clone(), avoid) && claimed.is_ok()
                {
                    release_nick(&nicks, &key, &mine).await;
                }
            }
        }
    }
}

/// What the publisher waited for.
enum Next {
    /// Whether the oldest event in flight was acknowledged (`false`: its try failed).
    Settled(bool),
    /// The outbox's next piece of work (`None`: the end).
    Work(Option<Outgoing>),
}

/// Events published and not yet acknowledged, at most [`PUBLISH_WINDOW`]: one ack round trip
/// per event would cap a node at a few thousand events a second on loopback, and far fewer
/// between machines.
struct Pipeline {
    js: jetstream::Context,
    world: Arc<World>,
    run: NodeRun,
    /// `r0c.ev.<node>`.
    subject: String,
    /// Events published by this run so far: the last part of each `Nats-Msg-Id`.
    count: u64,
    /// Oldest first, as they were sent.
    in_flight: std::collections::VecDeque<InFlight>,
}

/// The future of one JetStream acknowledgement.
type AckFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
            > + Send,
    >,
>;

/// One event sent and not yet acknowledged.
struct InFlight {
    /// Its `Nats-Msg-Id`, the same on every try, so JetStream stores it once.
    id: String,
    payload: Vec<u8>,
    /// Who is told if it cannot be stored.
    user: Option<UserId>,
    /// When it was first handed to NATS (for `/status`'s last ack time).
    started: Instant,
    /// When its current try's acknowledgement is given up on.
    deadline: tokio::time::Instant,
    /// Tries so far, the current one included.
    tries: u32,
    /// The current try's acknowledgement; `None`: the try could not be sent.
    ack: Option<AckFuture>,
}

impl Pipeline {
    fn new(js: jetstream::Context, world: Arc<World>, run: NodeRun) -> Pipeline {
        Pipeline {
            subject: format!("r0c.ev.{}", run.node),
            js,
            world,
            run,
            count: 0,
            in_flight: std::collections::VecDeque::with_capacity(PUBLISH_WINDOW),
        }
    }

    fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    fn has_room(&self) -> bool {
        self.in_flight.len() < PUBLISH_WINDOW
    }

    /// Sends `event` after every event before it, without waiting for its acknowledgement.
    async fn send(&mut self, user: Option<UserId>, event: ClusterEvent) {
        self.count = self.count.wrapping_add(1);
        let envelope = Envelope {
            from: self.run.clone(),
            event,
        };
        let Ok(payload) = serde_json::to_vec(&envelope) else {
            return;
        };
        // Every node skips an event this large unparsed: it is not sent, and its author told.
        if payload.len() > MAX_EVENT_BYTES {
            tracing::warn!(
                bytes = payload.len(),
                "cluster: an event too large was not published"
            );
            if let Some(user) = user {
                self.world.cluster_not_sent(user);
            }
            return;
        }
        let mut entry = InFlight {
            id: format!("{}.{}.{}", self.run.node, self.run.boot, self.count),
            payload,
            user,
            started: Instant::now(),
            deadline: tokio::time::Instant::now(),
            tries: 0,
            ack: None,
        };
        try_send(&self.js, &self.subject, &mut entry).await;
        self.in_flight.push_back(entry);
    }

    /// Waits for the oldest event's acknowledgement (or its try's deadline): whether it came.
    /// Only waits, so it may be dropped unfinished and called again.
    async fn oldest_acked(&mut self) -> bool {
        let Some(oldest) = self.in_flight.front_mut() else {
            return false;
        };
        let Some(ack) = oldest.ack.as_mut() else {
            // Not even sent: the next try comes after a short pause.
            tokio::time::sleep_until(oldest.deadline).await;
            return false;
        };
        match tokio::time::timeout_at(oldest.deadline, ack).await {
            Ok(Ok(_)) => true,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cluster: publish not acknowledged");
                false
            }
            Err(_) => {
                tracing::warn!("cluster: no acknowledgement in time");
                false
            }
        }
    }

    /// Acts on the oldest event's outcome: acknowledged, it is done; otherwise that event and
    /// every newer one are sent again, in order and each with its own message id: JetStream
    /// drops those it already stored, and the rest keep their order behind the oldest.
    async fn settle_oldest(&mut self, acked: bool) {
        if !acked {
            self.resend_all().await;
        } else if let Some(done) = self.in_flight.pop_front() {
            self.world.cluster_acked(done.started.elapsed());
        }
    }

    /// The oldest event failed its try: everything in flight goes out again in order; an
    /// event out of tries, or every event when the connection is down, is given up.
    async fn resend_all(&mut self) {
        let connected =
            self.js.client().connection_state() == async_nats::connection::State::Connected;
        let mut entries = std::mem::take(&mut self.in_flight);
        // The old acknowledgements are dropped first, so none of them is mistaken for a new one.
        for entry in &mut entries {
            entry.ack = None;
        }
        for mut entry in entries {
            if !connected || entry.tries >= PUBLISH_TRIES {
                if let Some(user) = entry.user {
                    self.world.cluster_not_sent(user);
                }
                continue;
            }
            try_send(&self.js, &self.subject, &mut entry).await;
            self.in_flight.push_back(entry);
        }
    }

    /// Waits until every event sent is acknowledged or given up.
    async fn settle_all(&mut self) {
        while !self.in_flight.is_empty() {
            let acked = self.oldest_acked().await;
            self.settle_oldest(acked).await;
        }
    }
}

/// The stream and the nick bucket, made if they do not exist yet.
async fn publish_setup(
    js: &jetstream::Context,
    layout: Layout,
) -> Result<(kv::Store, kv::Store), async_nats::Error> {
    let replicas = layout.0;
    events_stream(js, layout).await?;
    let presence = presence_bucket(js, replicas).await?;
    let config = bucket_config(NICK_BUCKET, "r0c nick claims: folded nick -> node and run");
    let config = stream::Config {
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..config
    };
    let nicks = js.get_or_create_stream(config).await?;
    // A stream just made on a NATS cluster takes a moment to elect its leader; until then
    // writes to it time out, so the publisher starts once all three have one.
    for mut stream in [
        events_stream(js, layout).await?,
        js.get_stream(format!("KV_{PRESENCE_BUCKET}")).await?,
        nicks,
    ] {
        await_leader(&mut stream).await?;
    }
    Ok((js.get_key_value(NICK_BUCKET).await?, presence))
}

/// Waits (a bounded while) until `stream` has a leader; a stream on a single server has.
pub(crate) async fn await_leader(stream: &mut stream::Stream) -> Result<(), async_nats::Error> {
    for _ in 0..100 {
        let info = stream.info().await?;
        if info.cluster.as_ref().is_none_or(|c| c.leader.is_some()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the stream has no leader".into())
}

/// The bucket of live nodes: entries live [`PRESENCE_TTL`] unless put again.
async fn presence_bucket(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<kv::Store, async_nats::Error> {
    let config = stream::Config {
        max_age: PRESENCE_TTL,
        duplicate_window: PRESENCE_TTL,
        storage: stream::StorageType::Memory,
        num_replicas: replicas,
        ..bucket_config(
            PRESENCE_BUCKET,
            "r0c nodes alive: node name -> id of its run",
        )
    };
    js.get_or_create_stream(config).await?;
    Ok(js.get_key_value(PRESENCE_BUCKET).await?)
}

/// A key-value bucket's stream as the key-value layout (ADR-8) has it: the bucket is made
/// this way rather than with `create_key_value`, which first asks for the account's info in
/// a form nats-server 2.9 does not answer.
pub(crate) fn bucket_config(bucket: &str, description: &str) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

/// Hands `entry` to NATS once more (the same message id). A free function: the pipeline
/// holds futures that are `Send` but not `Sync`, so it is not borrowed across this await.
async fn try_send(js: &jetstream::Context, subject: &str, entry: &mut InFlight) {
    entry.tries = entry.tries.saturating_add(1);
    entry.deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
    let message = jetstream::message::PublishMessage::build()
        .payload(entry.payload.clone().into())
        .message_id(&entry.id);
    entry.ack = match js.send_publish(subject.to_string(), message).await {
        Ok(ack) => Some(std::future::IntoFuture::into_future(ack)),
        Err(error) => {
            tracing::warn!(%error, "cluster: publish failed");
            entry.deadline = tokio::time::Instant::now() + RETRY_PAUSE / 4;
            None
        }
    };
}

/// A nick's key in the nick bucket: its folded form in hex (keys allow few characters).
fn nick_key(nick: &str) -> String {
    nick.to_lowercase()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Claims `key` for this run (`mine`): created if nobody holds it, taken over (compare-and-set
/// on the entry's revision) if its holder is this run or a node that is no longer alive.
/// `Err(Some(node))` names the live node that holds it; `Err(None)`: the bucket cannot be
/// reached.
async fn claim_nick(
    nicks: &kv::Store,
    key: &str,
    mine: &str,
    presence: &kv::Store,
) -> Result<(), Option<String>> {
    let unreachable = |error: &dyn std::fmt::Display| {
        tracing::warn!(%error, "cluster: nick claim failed");
        None
    };
    match nicks
        .create(key, mine.to_string().into_bytes().into())
        .await
    {
        Ok(_) => return Ok(()),
        Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {}
        Err(error) => return Err(unreachable(&error)),
    }
    let entry = nicks.entry(key).await.map_err(|e| unreachable(&e))?;
    let Some(entry) = entry else {
        return Err(None);
    };
    let holder = String::from_utf8_lossy(&entry.value).into_owned();
    let (node, boot) = holder.split_once(' ').unwrap_or((holder.as_str(), ""));
    // Asked of the presence bucket now, not of a copy that may predate the holder's start.
    let alive = match presence.get(node).await {
        Ok(run) => run.is_some_and(|run| run.as_ref() == boot.as_bytes()),
        Err(error) => return Err(unreachable(&error)),
    };
    let stale = entry.operation != kv::Operation::Put || holder == mine || !alive;
    if !stale {
        return Err(Some(node.to_string()));
    }
    match nicks
        .update(key, mine.to_string().into_bytes().into(), entry.revision)
        .await
    {
        Ok(_) => Ok(()),
        // Someone else took it over first.
        Err(_) => Err(Some(node.to_string())),
    }
}

/// Lets go of `key` if this run (or node: `mine`, as the entry holds it) holds it.
async fn release_nick(nicks: &kv::Store, key: &str, mine: &str) {
    let Ok(Some(entry)) = nicks.entry(key).await else {
        return;
    };
    if entry.operation == kv::Operation::Put
        && entry.value.as_ref() == mine.as_bytes()
        && let Err(error) = nicks
            .delete_expect_revision(key, Some(entry.revision))
            .await
    {
        tracing::warn!(%error, "cluster: a nick claim was not let go");
    }
}

/// Applies the stream in order from just after the last sequence this node's store committed.
/// A stream trimmed past that point (the node was away longer than the retention) is resumed
/// from its first event, and the gap is logged.
async fn apply_loop(
    js: jetstream::Context,
    world: Arc<World>,
    layout: Layout,
    shutdown: CancellationToken,
) {
    let store = world.store().clone();
    let reader = store.clone();
    let committed = tokio::task::spawn_blocking(move || reader.read_cluster_cursor(STREAM))
        .await
        .ok()
        .and_then(|read| {
            read.map_err(|error| tracing::error!(%error, "cluster: cannot read the stream cursor"))
                .ok()
        })
        .flatten();
    let mut position = Position {
        next: committed.map_or(1, |seq| seq.saturating_add(1)),
        replay_until: None,
        live_at_start: None,
    };
    tracing::info!(from = position.next, "cluster: applying the event stream");
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        match apply_from(&js, &world, &store, layout, &mut position, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, resume = position.next, "cluster: event stream interrupted");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Where the applier is in the stream.
struct Position {
    /// The next sequence to apply; it moves on as events are applied, so a reconnect resumes
    /// from memory, not from what the store has committed by then.
    next: u64,
    /// The stream's last sequence when this node started: events up to it are a replay.
    replay_until: Option<u64>,
    /// The nodes alive (name, run) when this node started: a replayed join of a run that was
    /// gone by then is skipped, instead of listing a user who left long ago.
    live_at_start: Option<HashMap<String, String>>,
}

async fn apply_from(
    js: &jetstream::Context,
    world: &Arc<World>,
    store: &Arc<crate::store::Store>,
    layout: Layout,
    position: &mut Position,
    shutdown: &CancellationToken,
) -> Result<(), async_nats::Error> {
    let mut stream = events_stream(js, layout).await?;
    let state = stream.info().await?.state.clone();
    let first = state.first_sequence;
    // What the stream held when this node started is a replay (see `World::apply_cluster`).
    let replay_until = *position.replay_until.get_or_insert(state.last_sequence);
    if position.live_at_start.is_none() {
        position.live_at_start = Some(live_nodes(js).await?);
    }
    let live_at_start = position.live_at_start.clone().unwrap_or_default();
    let next = &mut position.next;
    if first > *next && *next > 1 {
        tracing::warn!(
            missed_from = *next,
            missed_to = first.saturating_sub(1),
            "cluster: the stream was trimmed past this node's position and no snapshot covered it at start; those events are lost here"
        );
        *next = first;
    }
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: *next,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    loop {
        let message = tokio::select! {
            message = tokio::time::timeout(STALL_CHECK, messages.next()) => message,
            () = shutdown.cancelled() => return Ok(()),
        };
        // Quiet for a while: if the stream holds events this node has not applied, the
        // consumer is stuck (its server died, the stream's leader moved) and is made anew.
        let Ok(message) = message else {
            let last = stream.info().await?.state.last_sequence;
            if last >= *next {
                return Err(format!("no event for {STALL_CHECK:?} while {last} is stored").into());
            }
            continue;
        };
        let Some(message) = message else {
            return Err("the ordered consumer ended".into());
        };
        let message = message?;
        let (seq, pending) = {
            let info = message.info()?;
            (info.stream_sequence, info.pending)
        };
        world.cluster_lag(pending);
        if seq < *next {
            continue;
        }
        // A node does not trust another's sizes: an event larger than any this version
        // publishes is skipped, not parsed.
        let parsed = if message.payload.len() > MAX_EVENT_BYTES {
            Err(serde::de::Error::custom(format!(
                "{} bytes, more than {MAX_EVENT_BYTES}",
                message.payload.len()
            )))
        } else {
            serde_json::from_slice::<Envelope>(&message.payload)
        };
        match parsed {
            Ok(envelope) => {
                let replay = seq <= replay_until;
                let gone = live_at_start.get(&envelope.from.node) != Some(&envelope.from.boot);
                if replay && gone && matches!(envelope.event, ClusterEvent::Join { .. }) {
                    store.cluster_cursor(STREAM, seq);
                } else {
                    apply_one(world, store, envelope, seq, replay, shutdown).await;
                }
            }
            Err(error) => {
                tracing::warn!(%error, seq, "cluster: an event that does not parse was skipped");
                store.cluster_cursor(STREAM, seq);
            }
        }
        *next = seq.saturating_add(1);
    }
}

/// The nodes in the presence bucket now, by name with their run's id. The keys come from
/// the bucket stream's subjects (one request; the client's `keys()` runs a consumer that can
/// wait long on a bucket whose entries just expired), each value by a direct get.
async fn live_nodes(js: &jetstream::Context) -> Result<HashMap<String, String>, async_nats::Error> {
    let bucket = js.get_key_value(PRESENCE_BUCKET).await?;
    let stream = js.get_stream(format!("KV_{PRESENCE_BUCKET}")).await?;
    let prefix = format!("$KV.{PRESENCE_BUCKET}.");
    let mut subjects = stream.info_with_subjects(format!("{prefix}>")).await?;
    let mut live = HashMap::new();
    while let Some(subject) = subjects.next().await {
        let (subject, _) = subject?;
        let Some(key) = subject.strip_prefix(&prefix) else {
            continue;
        };
        if let Some(value) = bucket.get(key).await? {
            live.insert(
                key.to_string(),
                String::from_utf8_lossy(&value).into_owned(),
            );
        }
    }
    Ok(live)
}

/// Applies one event; a channel this node does not hold in memory is read from its store
/// first (off the async workers), then opened, and the event applied to it.
async fn apply_one(
    world: &Arc<World>,
    store: &Arc<crate::store::Store>,
    envelope: Envelope,
    seq: u64,
    replay: bool,
    shutdown: &CancellationToken,
) {
    loop {
        let load = match world.apply_cluster(&envelope.from, envelope.event.clone(), seq, replay) {
            ClusterStep::Done => return,
            ClusterStep::Open(load) => load,
        };
        let opened = match history::read(store.clone(), Read::Load(load)).await {
            Arrived::Join { name, loaded } => world.open_for_cluster(&name, loaded),
            Arrived::Direct {
                conversation,
                loaded,
                ..
            } => world.open_conversation_for_cluster(&conversation, loaded),
            _ => false,
        };
        if !opened {
            // The store cannot be read now: the stream waits here rather than skip an event.
            tokio::select! {
                () = tokio::time::sleep(RETRY_PAUSE) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}

/// Says every [`HEARTBEAT`] that this node is alive, and hands the world the nodes that are.
async fn presence_loop(
    js: jetstream::Context,
    world: Arc<World>,
    run: NodeRun,
    replicas: usize,
    shutdown: CancellationToken,
) {
    loop {
        match presence_rounds(&js, &world, &run, replicas, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, "cluster: presence interrupted");
                world.cluster_nodes(0);
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

async fn presence_rounds(
    js: &jetstream::Context,
    world: &Arc<World>,
    run: &NodeRun,
    replicas: usize,
    shutdown: &CancellationToken,
) -> Result<(), async_nats::Error> {
    let bucket = presence_bucket(js, replicas)
        .await
        .map_err(|e| format!("presence bucket: {e}"))?;
    loop {
        bucket
            .put(run.node.as_str(), run.boot.clone().into_bytes().into())
            .await
            .map_err(|e| format!("put: {e}"))?;
        let live = live_nodes(js).await?;
        world.cluster_nodes(live.len());
        world.cluster_presence(&live);
        tokio::select! {
            () = tokio::time::sleep(HEARTBEAT) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_plain_json_and_reads_back_the_same() {
        let envelope = Envelope {
            from: NodeRun {
                node: "n1".into(),
                boot: "00ff".into(),
            },
            event: ClusterEvent::Post {
                channel: "g".into(),
                nick: "alice".into(),
                text: "hi \u{1F600}".into(),
                action: false,
                notice: false,
                unix_micros: 5,
            },
        };
        let json = serde_json::to_string(&envelope).expect("serializes");
        assert_eq!(
            json,
            r#"{"from":{"node":"n1","boot":"00ff"},"event":{"type":"post","channel":"g","nick":"alice","text":"hi 😀","action":false,"unix_micros":5}}"#
        );
        let back: Envelope = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.event, envelope.event);
        assert_eq!(back.from, envelope.from);
        // Anything else is refused, not guessed at.
        assert!(serde_json::from_str::<Envelope>(r#"{"from":{},"event":{"type":"x"}}"#).is_err());
    }

    #[test]
    fn a_nick_key_is_the_folded_nick_in_hex_so_any_nick_is_a_valid_key() {
        assert_eq!(nick_key("Zed"), "7a6564");
        assert_eq!(nick_key("zed"), nick_key("ZED"));
        assert_eq!(nick_key("é"), "c3a9");
        assert!(nick_key("a.b*>").bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn run_ids_differ() {
        assert_ne!(boot_id(), boot_id());
        assert_eq!(boot_id().len(), 16);
    }
}
