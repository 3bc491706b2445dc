//! Cluster mode's shared state end to end (`--cluster`): topics, `/cls`, accounts and
//! moderation published to the stream (or claimed in key-value buckets) on one real
//! nats-server with JetStream on loopback, with r0c nodes in this process and raw clients.

use std::time::Duration;

use crate::cluster::{Nats, node};
use crate::support::{TestClient, data_dir};

/// Waits (generously) until `done` holds for the value `read` gives, and returns it.
async fn eventually<T: std::fmt::Debug>(
    what: &str,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let value = read();
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {value:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A raw client on `server` with nick `nick`, in channel `channel`.
async fn member(server: std::net::SocketAddr, nick: &str, channel: &str) -> TestClient {
    let mut client = TestClient::joined(server).await;
    client.line(&format!("/nick {nick}")).await;
    client.expect(&format!("changed nick to {nick}")).await;
    client.line(&format!("/join #{channel}")).await;
    client.expect(&format!("#{channel}(")).await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_and_a_wipe_reach_every_node_and_every_store() {
    let nats = Nats::start();
    let dirs: Vec<_> = (0..3).map(|_| data_dir()).collect();
    let mut nodes = Vec::new();
    for (i, (_, dir)) in dirs.iter().enumerate() {
        nodes.push(node(dir, &nats.url, &format!("n{i}")).await);
    }
    let mut alice = member(nodes[0].raw, "alice", "t").await;
    let mut bob = member(nodes[1].raw, "bob", "t").await;
    alice.expect("bob has joined").await;

    // Set on node 0: shown on both nodes once the stream has it, and stored on all three,
    // node 2 too, where nobody is in the channel.
    alice.line("/topic shared-topic-1").await;
    alice.expect("shared-topic-1").await;
    bob.expect("alice has changed the topic").await;
    bob.expect("shared-topic-1").await;
    for node in &nodes {
        let stored = eventually(
            "the topic is stored on every node",
            || node.store.topic("t").expect("topic reads"),
            |topic| topic.as_deref() == Some("shared-topic-1"),
        )
        .await;
        assert_eq!(stored.as_deref(), Some("shared-topic-1"));
    }

    // An administrator's /cls on node 1 wipes the channel on node 0 too.
    bob.line("/cls").await;
    alice.expect("channel wiped by bob").await;

    // With NATS gone, a topic is refused and not shown.
    drop(nats);
    alice.line("/topic lost-topic").await;
    alice
        .expect("not sent: the cluster cannot be reached")
        .await;
    assert!(
        !alice.text().contains("-to-> [lost-topic"),
        "{}",
        alice.text()
    );
    for node in nodes {
        node.stop().await;
    }
}
