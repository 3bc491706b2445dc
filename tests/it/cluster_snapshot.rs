//! Cluster mode's snapshot of a trimmed stream, end to end: a real nats-server with a stream
//! kept small through the cluster settings, a node that puts snapshots into the JetStream
//! object store, and a new node and a late node that load one before serving and then apply
//! the stream after it.

use std::time::Duration;

use r0c::config::{ClusterRetention, ClusterSettings};

use crate::cluster::{Nats, chat_lines, cluster_settings};
use crate::support::{TestClient, TestServer, data_dir, test_config};

const PASSWORD: &str = "Hunter22-secret";

/// A stream that keeps a few kilobytes (a few dozen events) and a snapshot every second.
fn small(url: &str, node: &str) -> ClusterSettings {
    ClusterSettings {
        retention: ClusterRetention {
            stream_max_age: Duration::from_secs(3600),
            stream_max_bytes: 6 * 1024,
            snapshot_every: Duration::from_secs(1),
            snapshot_max_bytes: 64 << 20,
        },
        ..cluster_settings(url, node)
    }
}

async fn small_node(dir: &std::path::Path, url: &str, node: &str) -> TestServer {
    let mut config = test_config(dir);
    config.cluster = Some(small(url, node));
    config.flood.enabled = false;
    TestServer::start_with(config).await
}

/// Waits (generously) until `done` holds for what `read` gives, and returns it.
async fn eventually<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    mut read: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {value:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The event stream's first and last sequence, and the sequence the snapshot covers.
async fn positions(js: &async_nats::jetstream::Context) -> (u64, u64, Option<u64>) {
    let mut stream = js
        .get_stream("R0C_EVENTS")
        .await
        .expect("the stream exists");
    let state = stream.info().await.expect("stream info").state.clone();
    let covered = match js
        .get_object_store(r0c::cluster::snapshot::SNAPSHOT_BUCKET)
        .await
    {
        Ok(bucket) => bucket
            .info(r0c::cluster::snapshot::SNAPSHOT_OBJECT)
            .await
            .ok()
            .and_then(|info| info.metadata.get("seq")?.parse().ok()),
        Err(_) => None,
    };
    (state.first_sequence, state.last_sequence, covered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_and_late_nodes_load_the_snapshot_of_a_trimmed_stream_then_apply_the_rest() {
    let nats = Nats::start();
    let client = async_nats::connect(&nats.url).await.expect("nats client");
    let js = async_nats::jetstream::new(client);
    let (_keep_a, dir_a) = data_dir();
    let (_keep_late, dir_late) = data_dir();
    let node_a = small_node(&dir_a, &nats.url, "na").await;
    // The late node sees the start, then is away while the stream is trimmed.
    let late = small_node(&dir_late, &nats.url, "nl").await;

    let mut alice = TestClient::joined(node_a.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line(&format!("/register {PASSWORD}")).await;
    alice.expect("is your account now").await;
    alice.line("/join #g").await;
    alice.expect("#g(").await;
    alice.line("/topic kept-by-the-snapshot").await;
    alice.expect("kept-by-the-snapshot").await;
    alice.line("line-000 early").await;
    alice.expect("line-000 early").await;
    eventually(
        "the late node has the first line",
        || async { chat_lines(&late.store, "g", &["alice"]) },
        |lines| lines.iter().any(|l| l == "alice line-000 early"),
    )
    .await;
    late.stop().await;

    // Each line awaited, so node a applies every event before the stream drops it.
    for i in 1..=60 {
        let line = format!("line-{i:03} {}", "x".repeat(100));
        alice.line(&line).await;
        alice.expect(&line).await;
    }
    // The stream no longer holds the start, and a snapshot covers everything sent so far.
    let (first, last, _) = positions(&js).await;
    assert!(
        first > 5,
        "the stream is trimmed: first {first}, last {last}"
    );
    eventually(
        "a snapshot covers every line sent",
        || positions(&js),
        |(_, _, covered)| covered.is_some_and(|seq| seq >= last),
    )
    .await;
    // A line only the stream holds, after the snapshot.
    alice.line("line-after the snapshot").await;
    alice.expect("line-after the snapshot").await;

    // A new node, empty, and the late node restarted: both load the snapshot before serving
    // and apply the stream after it, so they hold the trimmed start, the topic, the account,
    // and the newer line.
    let (_keep_b, dir_b) = data_dir();
    let node_b = small_node(&dir_b, &nats.url, "nb").await;
    let late = small_node(&dir_late, &nats.url, "nl").await;
    for node in [&node_b, &late] {
        let lines = eventually(
            "the node holds the snapshot's history and the stream's newer line",
            || async { chat_lines(&node.store, "g", &["alice"]) },
            |lines| lines.iter().any(|l| l == "alice line-after the snapshot"),
        )
        .await;
        assert_eq!(
            lines.first().map(String::as_str),
            Some("alice line-000 early")
        );
        assert_eq!(lines.len(), 62, "{lines:?}");
        node.store.flush();
        assert_eq!(
            node.store.topic("g").expect("topic reads").as_deref(),
            Some("kept-by-the-snapshot")
        );
        let (accounts, _) = node.store.accounts().expect("accounts read");
        assert!(accounts.iter().any(|a| a.name == "alice"));
    }
    // The late node's own file was set aside, not deleted.
    assert!(r0c::store::snapshot::set_aside_path(&dir_late.join("r0c.db")).is_file());

    // A user of the new node sees the history a user of node a sees, and chats on.
    let mut bob = TestClient::joined(node_b.raw).await;
    bob.line("/nick bob").await;
    bob.expect("changed nick to bob").await;
    bob.line("/join #g").await;
    bob.expect("kept-by-the-snapshot").await;
    bob.expect("line-after the snapshot").await;
    bob.line("hello from the new node").await;
    alice.expect("hello from the new node").await;
}
