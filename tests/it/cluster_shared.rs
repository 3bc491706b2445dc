//! Cluster mode's shared state end to end (`--cluster`): topics, `/cls`, accounts and
//! moderation published to the stream (or claimed in key-value buckets) on one real
//! nats-server with JetStream on loopback, with r0c nodes in this process and raw clients.

use std::time::Duration;

use crate::cluster::{Nats, node};
use crate::support::{TestClient, TestServer, data_dir};

/// Waits (generously) until `done` holds for the value `read` gives, and returns it.
pub(crate) async fn eventually<T: std::fmt::Debug>(
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

/// `count` nodes named n0, n1... on `nats`, with their data directories (kept while held).
async fn nodes(nats: &Nats, count: usize) -> (Vec<tempfile::TempDir>, Vec<TestServer>) {
    let mut keep = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..count {
        let (dir_guard, dir) = data_dir();
        nodes.push(node(&dir, &nats.url, &format!("n{i}")).await);
        keep.push(dir_guard);
    }
    (keep, nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_and_a_wipe_reach_every_node_and_every_store() {
    let nats = Nats::start();
    let (_keep, nodes) = nodes(&nats, 3).await;
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

const PASSWORD: &str = "Hunter22-secret";

/// The account names a node's store holds.
fn stored_accounts(store: &r0c::store::Store) -> Vec<String> {
    store.flush();
    let (accounts, _) = store.accounts().expect("accounts read");
    accounts.into_iter().map(|a| a.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_registered_once_in_the_cluster_and_logs_in_on_any_node() {
    let nats = Nats::start();
    let (_keep, mut nodes) = nodes(&nats, 2).await;
    let (node_b, node_a) = (nodes.remove(1), nodes.remove(0));

    // Registered on node a: the record reaches node b's store through the stream.
    let mut x = TestClient::joined(node_a.raw).await;
    x.line("/nick zed").await;
    x.expect("changed nick to zed").await;
    x.line(&format!("/register {PASSWORD}")).await;
    x.expect("is your account now").await;
    eventually(
        "node b keeps the account",
        || stored_accounts(&node_b.store),
        |names| names.iter().any(|n| n == "zed"),
    )
    .await;
    // Node b keeps its guests off the nick, and its owner logs in there.
    let mut guest = TestClient::joined(node_b.raw).await;
    guest.line("/nick zed").await;
    guest.expect("zed is a registered nick").await;
    x.line("/quit").await;
    x.expect_closed().await;
    guest.line(&format!("/login zed {PASSWORD}")).await;
    guest.expect("you are logged in as").await;
    assert!(!guest.text().contains(PASSWORD), "{}", guest.text());

    // A name another node claimed in the account bucket (its record not arrived here yet)
    // is refused, and nothing is registered here.
    let client = async_nats::connect(&nats.url).await.expect("nats client");
    let js = async_nats::jetstream::new(client);
    let bucket = js
        .get_key_value(r0c::cluster::ACCOUNT_BUCKET)
        .await
        .expect("the nodes made the account bucket");
    let kim = "kim"
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    bucket
        .create(&kim, "n9".into())
        .await
        .expect("claimed as node n9 would");
    let mut y = TestClient::joined(node_a.raw).await;
    y.line("/nick kim").await;
    y.expect("changed nick to kim").await;
    y.line(&format!("/register {PASSWORD}")).await;
    y.expect("kim is registered already (on node n9)").await;
    assert!(!stored_accounts(&node_a.store).contains(&"kim".to_string()));

    // Without NATS, registering is refused with the reason, not done on one node alone.
    drop(nats);
    y.line("/nick kay").await;
    y.expect_either("changed nick to kay", "cannot be reached")
        .await;
    let mut z = TestClient::joined(node_b.raw).await;
    z.line(&format!("/register {PASSWORD}")).await;
    z.expect("accounts cannot be registered now: the cluster cannot be reached")
        .await;
    node_a.stop().await;
    node_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ban_and_mute_set_or_lifted_on_one_node_hold_on_the_others() {
    let nats = Nats::start();
    let (_keep, nodes) = nodes(&nats, 2).await;
    // Loopback users are server operators in the tests' configuration.
    let mut op = member(nodes[0].raw, "oper", "m").await;
    let mut carl = member(nodes[1].raw, "carl", "m").await;
    let mut bob = member(nodes[1].raw, "bob", "m").await;
    op.expect("bob has joined").await;

    // Muted by a server operator on node 0: carl cannot speak on node 1.
    op.line("/mute carl 1h noise").await;
    op.expect("muted carl in").await;
    // The stream is applied in order: once carl sees a line the operator said after the
    // mute, node 1 has the mute.
    op.line("after-the-mute").await;
    carl.expect("after-the-mute").await;
    carl.line("still-talking").await;
    carl.expect("you are muted").await;
    // Lifted on node 0: carl speaks again on node 1.
    op.line("/unmute carl").await;
    op.expect("unmute: carl").await;
    op.line("after-the-unmute").await;
    carl.expect("after-the-unmute").await;
    carl.line("talking-again").await;
    op.expect("talking-again").await;

    // Banned from the server on node 0: put out of node 1.
    op.line("/ban bob spam").await;
    op.expect("banned bob in").await;
    bob.expect("you are banned from this server: spam").await;
    bob.expect_closed().await;
    for node in nodes {
        node.stop().await;
    }
}
