//! The claim task: unique names across the cluster (accounts, channel founders) in
//! JetStream key-value buckets, claimed with create (or compare-and-set over a lapsed holder)
//! so two nodes never both get one. Each entry's key is the folded name in hex, its value the
//! holding node (for founders: the founder's principal).
//! The world asks through [`ClaimRequest`]s and awaits the answer off its lock.

use async_nats::jetstream::{self, kv, stream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::world::{ClaimAnswer, ClaimRequest, SharedBucket};

/// The key-value bucket of account names: key the folded name (hex), value the node that
/// registered it.
pub const ACCOUNT_BUCKET: &str = "r0c_accounts";
/// The key-value bucket of channel founders: key the channel's name (hex), value the
/// founder's principal (`account:NAME`, `key:SHA256:...`).
pub const FOUNDER_BUCKET: &str = "r0c_founders";
/// The key-value bucket of ssh keys attached to accounts: key the fingerprint (hex, as it
/// is: fingerprints are case-sensitive), value the folded account.
pub const KEY_BUCKET: &str = "r0c_keys";

/// Answers claims in the order they come, until the server shuts down. Claims that arrive
/// before the buckets exist wait for them (and their askers time out if that takes long).
pub(super) async fn serve(
    js: jetstream::Context,
    mut requests: mpsc::Receiver<ClaimRequest>,
    node: String,
    replicas: usize,
    shutdown: CancellationToken,
) {
    let (accounts, founders, keys) = loop {
        let made = async {
            let accounts = bucket(
                &js,
                ACCOUNT_BUCKET,
                "r0c accounts: folded name -> node",
                replicas,
            )
            .await?;
            let founders = bucket(
                &js,
                FOUNDER_BUCKET,
                "r0c channel founders: channel -> principal",
                replicas,
            )
            .await?;
            let keys = bucket(
                &js,
                KEY_BUCKET,
                "r0c ssh keys: fingerprint -> account",
                replicas,
            )
            .await?;
            Ok::<_, async_nats::Error>((accounts, founders, keys))
        };
        match made.await {
            Ok(buckets) => break buckets,
            Err(error) => {
                tracing::warn!(%error, "cluster: the claim buckets are not available yet");
                tokio::select! {
                    () = tokio::time::sleep(super::RETRY_PAUSE) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    };
    loop {
        let request = tokio::select! {
            request = requests.recv() => request,
            () = shutdown.cancelled() => None,
        };
        let Some(request) = request else {
            return;
        };
        let store = match request.bucket {
            SharedBucket::Accounts => &accounts,
            SharedBucket::Founders => &founders,
            SharedBucket::Keys => &keys,
        };
        let key = match request.bucket {
            SharedBucket::Keys => request.name.bytes().map(|b| format!("{b:02x}")).collect(),
            SharedBucket::Accounts | SharedBucket::Founders => super::nick_key(&request.name),
        };
        let holder = request.holder.as_deref().unwrap_or(&node);
        if request.release {
            super::release_nick(store, &key, holder).await;
            continue;
        }
        let answer = claim(store, &key, holder, request.take_over).await;
        if let Some(reply) = request.reply {
            let _ = reply.send(answer);
        }
    }
}

/// A bucket of claims, made if it does not exist yet (file storage: claims outlive restarts).
async fn bucket(
    js: &jetstream::Context,
    name: &str,
    description: &str,
    replicas: usize,
) -> Result<kv::Store, async_nats::Error> {
    let config = stream::Config {
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..super::bucket_config(name, description)
    };
    let mut made = js.get_or_create_stream(config).await?;
    super::await_leader(&mut made).await?;
    Ok(js.get_key_value(name).await?)
}

/// Claims `key` for `node`: created if nobody holds it; taken over (compare-and-set on the
/// entry's revision) if it was let go, if `node` holds it already, or with `take_over`.
async fn claim(store: &kv::Store, key: &str, node: &str, take_over: bool) -> ClaimAnswer {
    let value = node.to_string().into_bytes();
    match store.create(key, value.clone().into()).await {
        Ok(_) => return ClaimAnswer::Claimed,
        Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {}
        Err(error) => {
            tracing::warn!(%error, "cluster: a claim failed");
            return ClaimAnswer::Unreachable;
        }
    }
    let entry = match store.entry(key).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return ClaimAnswer::Unreachable,
        Err(error) => {
            tracing::warn!(%error, "cluster: a claim could not be read");
            return ClaimAnswer::Unreachable;
        }
    };
    let holder = String::from_utf8_lossy(&entry.value).into_owned();
    let free = entry.operation != kv::Operation::Put || holder == node;
    if !free && !take_over {
        return ClaimAnswer::Held(holder);
    }
    match store.update(key, value.into(), entry.revision).await {
        Ok(_) => ClaimAnswer::Claimed,
        // Someone else changed it first.
        Err(_) => ClaimAnswer::Held(holder),
    }
}
