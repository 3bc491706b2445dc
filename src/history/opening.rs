//! Opening a channel that is not in memory reads its newest `--hist-rd` messages (65,535 by
//! default); when many users join it at once, they share one read.
//!
//! Without this, a hundred users joining a closed channel of a long history at the same moment
//! made a hundred reads of the same rows, each tens of milliseconds of a core, and everyone
//! else's frames waited for the cores. Now the first join of a channel reads it, and the joins
//! of that channel that arrive while the read is in flight wait for it (asynchronously, holding
//! no reader and no thread) and take a copy of what it found; the first of them to reach the
//! world opens the channel with it, and the others find the channel open
//! ([`World::finish_join`](crate::world::World::finish_join)). A copy shares the messages
//! (`Arc`s), so it costs a pointer per message, not the rows again. A join that arrives after
//! the read ended starts a read of its own, which finds what was written since.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use tokio::sync::OnceCell;

use super::{Arrived, Read, read_pooled};
use crate::store::Store;
use crate::world::{Load, LoadedChannel};

/// What one read of a channel found (`None`: it could not be opened now), shared by the joins
/// that waited for it.
type Flight = Arc<OnceCell<Option<Arc<LoadedChannel>>>>;

/// The reads of channels in flight, by the store they read (its address: a flight holds the
/// store, so the address cannot be reused while the entry exists) and the channel's name.
static IN_FLIGHT: LazyLock<Mutex<HashMap<(usize, String), Flight>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Reads channel `name` (its newest `limit` messages, numbering and topic), or waits for the
/// read of it already in flight and takes a copy of what that found.
pub(super) async fn open_shared(
    store: Arc<Store>,
    name: &str,
    limit: usize,
) -> Option<LoadedChannel> {
    let key = (Arc::as_ptr(&store) as usize, name.to_string());
    let flight: Flight = IN_FLIGHT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key.clone())
        .or_default()
        .clone();
    // If the join that reads goes away (its client left), a waiting one reads instead.
    let found = flight
        .get_or_init(|| async {
            let read = Read::Load(Load::Join {
                name: name.to_string(),
                after: 0,
                limit,
            });
            match read_pooled(store, read).await {
                Arrived::Join { loaded, .. } => loaded.map(Arc::new),
                _ => None,
            }
        })
        .await
        .clone();
    // Done: the next join of a closed channel reads it anew. Only this flight's entry goes
    // (a newer one may have taken its place).
    {
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
        if in_flight
            .get(&key)
            .is_some_and(|entry| Arc::ptr_eq(entry, &flight))
        {
            in_flight.remove(&key);
        }
    }
    found.map(|loaded| LoadedChannel {
        history: loaded.history.clone(),
        next_seq: loaded.next_seq,
        topic: loaded.topic.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MessageKind, POOL_READERS, StoredMessage};

    #[tokio::test(flavor = "current_thread")]
    async fn joins_of_a_channel_in_flight_share_one_read_and_a_later_one_reads_anew() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::open(&dir.path().join("r0c.db")).expect("store"));
        for seq in 0..50 {
            store.append_message(
                "big",
                StoredMessage {
                    seq,
                    unix_micros: 1_000 + seq as i64,
                    author: "alice".into(),
                    text: format!("m{seq}"),
                    kind: MessageKind::Chat,
                },
            );
        }
        store.flush();
        // Every reader is taken: the first join's read waits for one, and the other joins
        // arrive while it is in flight.
        let held = store
            .pool()
            .permits()
            .clone()
            .acquire_many_owned(POOL_READERS as u32)
            .await
            .expect("the pool's permits");
        let joins: Vec<_> = (0..10)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { open_shared(store, "big", 100).await })
            })
            .collect();
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        drop(held);
        let mut loaded = Vec::new();
        for join in joins {
            loaded.push(join.await.expect("join task").expect("opened"));
        }
        let first = &loaded[0];
        assert_eq!(first.history.len(), 50);
        assert_eq!(first.next_seq, 50);
        // One read: every join holds the very same messages.
        for other in &loaded[1..] {
            assert_eq!(other.history.len(), 50);
            assert!(Arc::ptr_eq(&other.history[0], &first.history[0]));
        }
        // The read is over: a later join (the channel closed again) reads what is stored now.
        store.append_message(
            "big",
            StoredMessage {
                seq: 50,
                unix_micros: 2_000,
                author: "bob".into(),
                text: "m50".into(),
                kind: MessageKind::Chat,
            },
        );
        store.flush();
        let later = open_shared(store.clone(), "big", 100)
            .await
            .expect("opened");
        assert_eq!(later.next_seq, 51);
        assert!(!Arc::ptr_eq(&later.history[1], &first.history[1]));
    }
}
