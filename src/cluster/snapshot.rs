//! Cluster mode's snapshots: the event stream keeps a bounded window (age and size), so a
//! node that was away longer, or a new node joining a cluster whose stream was trimmed,
//! starts from a snapshot.
//!
//! A snapshot is one node's whole database, taken with `r0c backup`'s online copy: one read
//! transaction, so it holds exactly the events up to its own stream cursor. At most one
//! node writes one per [`ClusterRetention::snapshot_every`]: the writer is whoever creates the
//! key of the lease bucket `r0c_snapshot_lease`, whose entries live that long. It goes into
//! the JetStream object store `r0c_snapshot` as the object `latest` (chunked; putting it
//! again drops the previous one's chunks), with the sequence it covers in its metadata.
//! A starting node whose cursor is behind the stream's first event loads it before its store
//! opens (`restore_if_behind`), then applies the stream from the snapshot's sequence + 1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store, stream};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::{Layout, STREAM, base_options, bucket_config};
use crate::config::ClusterSettings;
use crate::store::snapshot::{self as file, SnapshotFacts};
use crate::world::World;

/// The object store holding the newest snapshot.
pub const SNAPSHOT_BUCKET: &str = "r0c_snapshot";
/// The snapshot's name in it.
pub const SNAPSHOT_OBJECT: &str = "latest";
/// The key-value bucket whose one key says which node writes the snapshot this period.
pub const LEASE_BUCKET: &str = "r0c_snapshot_lease";
const LEASE_KEY: &str = "writer";
pub use crate::config::{SNAPSHOT_EVERY, SNAPSHOT_MAX_BYTES};
/// The shortest period allowed, whatever the settings say (tests use it).
const SNAPSHOT_EVERY_MIN: Duration = Duration::from_secs(1);
/// How long a starting node waits for NATS to tell whether it needs the snapshot: past it,
/// it starts without (and logs the gap if the stream turns out to be trimmed).
const RESTORE_CONNECT_WAIT: Duration = Duration::from_secs(10);
/// How long loading a snapshot may take in all.
const RESTORE_DOWNLOAD_WAIT: Duration = Duration::from_secs(600);
/// Metadata keys of the snapshot object.
const META_SEQ: &str = "seq";
const META_NODE: &str = "node";
const META_SCHEMA: &str = "schema";

/// What [`restore_if_behind`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// The node's own database goes on: it is not behind, or nothing could be learned.
    Kept,
    /// A snapshot replaced it; `kept` is where the old file went.
    Loaded {
        facts: SnapshotFacts,
        kept: Option<PathBuf>,
    },
}

/// Before the store opens: loads the newest snapshot in place of `database` if this node's
/// cursor is behind the stream's first event (it was away longer than the retention, or is
/// new to a cluster whose stream was trimmed). Never fails the start: a snapshot that cannot
/// be had or checked leaves the database as it was, and says why in the log.
pub async fn restore_if_behind(settings: &ClusterSettings, database: &Path) -> Restore {
    let attempt = tokio::time::timeout(
        RESTORE_DOWNLOAD_WAIT,
        try_restore(settings, database.to_owned()),
    );
    match attempt.await {
        Ok(Ok(restore)) => restore,
        Ok(Err(error)) => {
            tracing::warn!(%error, "cluster: no snapshot loaded; the node starts from its own database");
            Restore::Kept
        }
        Err(_) => {
            tracing::warn!(
                "cluster: loading the snapshot took over {RESTORE_DOWNLOAD_WAIT:?}; the node starts from its own database"
            );
            Restore::Kept
        }
    }
}

async fn try_restore(
    settings: &ClusterSettings,
    database: PathBuf,
) -> Result<Restore, async_nats::Error> {
    let options = base_options(settings)
        .await?
        .name(format!("r0c {} (snapshot)", settings.node))
        .connection_timeout(Duration::from_secs(3));
    let client = tokio::time::timeout(
        RESTORE_CONNECT_WAIT,
        options.connect(settings.servers.clone()),
    )
    .await
    .map_err(|_| "NATS did not answer")??;
    let js = jetstream::new(client.clone());
    let result = restore_with(&js, settings, database).await;
    let _ = client.drain().await;
    result
}

async fn restore_with(
    js: &jetstream::Context,
    settings: &ClusterSettings,
    database: PathBuf,
) -> Result<Restore, async_nats::Error> {
    let state = match tokio::time::timeout(RESTORE_CONNECT_WAIT, js.get_stream(STREAM)).await {
        Ok(Ok(mut stream)) => stream.info().await?.state.clone(),
        // No stream yet: the first node of a new cluster.
        Ok(Err(error))
            if matches!(
                error.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref inner)
                    if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            return Ok(Restore::Kept);
        }
        Ok(Err(error)) => return Err(error.into()),
        Err(_) => return Err("the event stream did not answer".into()),
    };
    let path = database.clone();
    let cursor = tokio::task::spawn_blocking(move || file::cursor_in_file(&path, STREAM)).await??;
    let needed = cursor.map_or(1, |seq| seq.saturating_add(1));
    if state.first_sequence <= needed {
        return Ok(Restore::Kept);
    }
    tracing::info!(
        needed,
        first = state.first_sequence,
        "cluster: the stream was trimmed past this node's position; loading the snapshot"
    );
    let bucket = js.get_object_store(SNAPSHOT_BUCKET).await?;
    let info = bucket.info(SNAPSHOT_OBJECT).await?;
    let limit = settings.retention.snapshot_max_bytes;
    let size = u64::try_from(info.size).unwrap_or(u64::MAX);
    if size > limit {
        return Err(format!("the snapshot is {size} bytes, over this node's {limit}").into());
    }
    if seq_of(&info).is_some_and(|seq| seq.saturating_add(1) < needed) {
        return Err("the snapshot is older than this node's own database".into());
    }
    let partial = beside(&database, ".snapshot.partial");
    let _ = tokio::fs::remove_file(&partial).await;
    let result = download(&bucket, &partial, limit).await;
    let result = match result {
        Ok(()) => {
            let (from, to) = (partial.clone(), database.clone());
            tokio::task::spawn_blocking(move || {
                let facts = file::check(&from, STREAM)?;
                if facts.seq.saturating_add(1) < needed {
                    return Err("the snapshot is older than this node's own database".into());
                }
                let kept = file::install(&from, &to)?;
                Ok::<_, async_nats::Error>(Restore::Loaded { facts, kept })
            })
            .await?
        }
        Err(error) => Err(error),
    };
    let _ = tokio::fs::remove_file(&partial).await;
    if let Ok(Restore::Loaded { facts, kept }) = &result {
        tracing::info!(
            seq = facts.seq,
            from_node = info.metadata.get(META_NODE).map(String::as_str).unwrap_or("?"),
            kept = ?kept,
            "cluster: snapshot loaded; the stream is applied from just after it"
        );
        if facts.seq.saturating_add(1) < state.first_sequence {
            tracing::warn!(
                missed_from = facts.seq.saturating_add(1),
                missed_to = state.first_sequence.saturating_sub(1),
                "cluster: the snapshot is older than the stream's first event; those events are lost here"
            );
        }
    }
    result
}

/// Copies the snapshot object into a new private file at `partial`, at most `limit` bytes
/// (its chunks' digest is checked by the object store's reader).
async fn download(
    bucket: &object_store::ObjectStore,
    partial: &Path,
    limit: u64,
) -> Result<(), async_nats::Error> {
    let object = bucket.get(SNAPSHOT_OBJECT).await?;
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(partial)
        .await?;
    let copied = tokio::io::copy(&mut object.take(limit.saturating_add(1)), &mut out).await?;
    if copied > limit {
        return Err(format!("the snapshot is over this node's {limit} bytes").into());
    }
    out.sync_all().await?;
    Ok(())
}

/// The stream sequence a snapshot's metadata says it covers (checked again in the file).
fn seq_of(info: &object_store::ObjectInfo) -> Option<u64> {
    info.metadata.get(META_SEQ)?.parse().ok()
}

/// `path` with `suffix` added to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Every `snapshot_every`, puts a snapshot of this node's database if this node holds the
/// lease for the period and its database covers more of the stream than the newest snapshot.
pub(crate) async fn snapshot_loop(
    js: jetstream::Context,
    world: Arc<World>,
    node: String,
    layout: Layout,
    shutdown: CancellationToken,
) {
    let every = layout.1.snapshot_every.max(SNAPSHOT_EVERY_MIN);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(error) = snapshot_round(&js, &world, &node, layout).await {
            tracing::warn!(%error, "cluster: no snapshot put this period");
        }
    }
}

async fn snapshot_round(
    js: &jetstream::Context,
    world: &Arc<World>,
    node: &str,
    layout: Layout,
) -> Result<(), async_nats::Error> {
    let store = world.store().clone();
    let reader = store.clone();
    let cursor = tokio::task::spawn_blocking(move || reader.read_cluster_cursor(STREAM)).await??;
    let Some(cursor) = cursor else {
        return Ok(());
    };
    let bucket = snapshot_bucket(js, layout).await?;
    let current = bucket.info(SNAPSHOT_OBJECT).await.ok();
    if current
        .as_ref()
        .and_then(seq_of)
        .is_some_and(|covered| covered >= cursor)
    {
        return Ok(());
    }
    let lease = lease_bucket(js, layout).await?;
    match lease
        .create(LEASE_KEY, node.to_string().into_bytes().into())
        .await
    {
        Ok(_) => {}
        Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => return Ok(()),
        Err(error) => return Err(error.into()),
    }
    let limit = layout.1.snapshot_max_bytes;
    let database = store.path().to_owned();
    let partial = beside(&database, ".snapshot-out.partial");
    let copy = partial.clone();
    let made = tokio::task::spawn_blocking(move || {
        let report = crate::store::backup::backup(&database, &copy)?;
        let facts = file::check(&copy, STREAM)?;
        Ok::<_, async_nats::Error>((facts, report.bytes))
    })
    .await?;
    let result = match made {
        Ok((facts, bytes)) if bytes <= limit => {
            put(js, &bucket, current.as_ref(), &partial, facts, node, limit).await
        }
        Ok((_, bytes)) => Err(format!("the database is {bytes} bytes, over {limit}").into()),
        Err(error) => Err(error),
    };
    let _ = tokio::fs::remove_file(&partial).await;
    result
}

/// Puts the checked copy at `partial` as the snapshot, after purging the chunks of any put
/// that never finished (a writer that died, or outlived its lease), so the bucket's size cap
/// holds the snapshot being replaced and the new one.
async fn put(
    js: &jetstream::Context,
    bucket: &object_store::ObjectStore,
    current: Option<&object_store::ObjectInfo>,
    partial: &Path,
    facts: SnapshotFacts,
    node: &str,
    limit: u64,
) -> Result<(), async_nats::Error> {
    let stream = js.get_stream(format!("OBJ_{SNAPSHOT_BUCKET}")).await?;
    let prefix = format!("$O.{SNAPSHOT_BUCKET}.C.");
    let mut subjects = stream.info_with_subjects(format!("{prefix}>")).await?;
    let mut orphans = Vec::new();
    while let Some(subject) = subjects.next().await {
        let (subject, _) = subject?;
        let nuid = subject.strip_prefix(&prefix).unwrap_or_default();
        if current.is_none_or(|info| info.nuid != nuid) {
            orphans.push(subject);
        }
    }
    for subject in orphans {
        stream.purge().filter(subject).await?;
    }
    let metadata = HashMap::from([
        (META_SEQ.to_string(), facts.seq.to_string()),
        (META_SCHEMA.to_string(), facts.schema.to_string()),
        (META_NODE.to_string(), node.to_string()),
    ]);
    let meta = object_store::ObjectMetadata {
        name: SNAPSHOT_OBJECT.to_string(),
        description: Some("r0c database covering the event stream up to metadata seq".into()),
        metadata,
        ..Default::default()
    };
    let mut data = tokio::fs::File::open(partial).await?.take(limit);
    let info = bucket.put(meta, &mut data).await?;
    tracing::info!(seq = facts.seq, bytes = info.size, "cluster: snapshot put");
    Ok(())
}

/// The snapshot object store, made if it does not exist yet: room for the snapshot being
/// replaced and the new one, and no more.
async fn snapshot_bucket(
    js: &jetstream::Context,
    (replicas, retention): Layout,
) -> Result<object_store::ObjectStore, async_nats::Error> {
    if let Ok(bucket) = js.get_object_store(SNAPSHOT_BUCKET).await {
        return Ok(bucket);
    }
    let room = retention
        .snapshot_max_bytes
        .saturating_mul(2)
        .saturating_add(1 << 20);
    let config = object_store::Config {
        bucket: SNAPSHOT_BUCKET.to_string(),
        description: Some("r0c: the newest snapshot of a node's database".into()),
        max_bytes: i64::try_from(room).unwrap_or(i64::MAX),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    };
    Ok(js.create_object_store(config).await?)
}

/// The lease bucket: its one entry lives one snapshot period.
async fn lease_bucket(
    js: &jetstream::Context,
    (replicas, retention): Layout,
) -> Result<kv::Store, async_nats::Error> {
    let period = retention.snapshot_every.max(SNAPSHOT_EVERY_MIN);
    let config = stream::Config {
        max_age: period,
        duplicate_window: period,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..bucket_config(
            LEASE_BUCKET,
            "r0c: which node writes this period's snapshot",
        )
    };
    js.get_or_create_stream(config).await?;
    Ok(js.get_key_value(LEASE_BUCKET).await?)
}
