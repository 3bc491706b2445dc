//! Cluster mode's stored direct conversations end to end: on one real nats-server with two
//! r0c nodes, accounts on different nodes write to each other; the conversation is stored by
//! both nodes with the same numbers and found by each partner's `/search`; a message to an
//! account online nowhere reaches it at login on the other node ("while you were away"),
//! is delivered once across the cluster, and its reader's marker reaches the other node.

use crate::accounts::joined_from;
use crate::away_search::search;
use crate::cluster::{Nats, node};
use crate::cluster_shared::eventually;
use crate::support::{TestClient, data_dir};

const PASSWORD: &str = "Hunter22-secret";
const CONVERSATION: &str = "dm account:ann account:ben";

/// A client from `source` on `server` that registers `nick` and joins `#p`.
async fn registered(server: std::net::SocketAddr, source: &str, nick: &str) -> TestClient {
    let mut client = joined_from(server, source).await;
    client.line(&format!("/nick {nick}")).await;
    client.expect(&format!("changed nick to {nick}")).await;
    client.line(&format!("/register {PASSWORD}")).await;
    client.expect("is your account now").await;
    client.line("/join #p").await;
    client.expect("#p(").await;
    client
}

/// A client from `source` on `server` logged in to `nick`.
async fn logged_in(server: std::net::SocketAddr, source: &str, nick: &str) -> TestClient {
    let mut client = joined_from(server, source).await;
    client.line(&format!("/login {nick} {PASSWORD}")).await;
    client.expect("you are logged in as").await;
    client
}

/// The conversation's stored messages on a node, as (number, text).
fn stored(store: &r0c::store::Store) -> Vec<(u64, String)> {
    store.flush();
    store
        .recent_messages(CONVERSATION, 100)
        .expect("history reads")
        .into_iter()
        .map(|m| (m.seq, m.text))
        .collect()
}

/// Ben's read marker of the conversation in a node's store (what he read up to).
fn bens_marker(store: &r0c::store::Store) -> Option<u64> {
    store.flush();
    store
        .read_markers()
        .expect("markers read")
        .into_iter()
        .find(|m| m.principal == "account:ben" && m.channel == CONVERSATION)
        .map(|m| m.read_upto)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_of_accounts_on_two_nodes_is_stored_searched_and_waits_on_both() {
    let nats = Nats::start();
    let (_keep_a, dir_a) = data_dir();
    let (_keep_b, dir_b) = data_dir();
    let node_a = node(&dir_a, &nats.url, "na").await;
    let node_b = node(&dir_b, &nats.url, "nb").await;
    let mut ann = registered(node_a.raw, "127.0.0.71", "ann").await;
    let mut ben = registered(node_b.raw, "127.0.0.72", "ben").await;
    let mut carl = TestClient::joined(node_b.raw).await;
    carl.line("/join #p").await;
    carl.expect("#p(").await;
    ann.expect("ben has joined").await;

    // Both online, on different nodes: shown to both once the stream has it, and stored by
    // both nodes with the same number.
    ann.line("/msg ben needle across two nodes").await;
    ann.expect("ann needle across two nodes").await;
    ben.expect("h:").await;
    ben.line("/a").await;
    ben.expect("ann needle across two nodes").await;
    ben.line("an answer from node b").await;
    ann.expect("ben an answer from node b").await;
    let on_a = eventually(
        "stored on node a",
        || stored(&node_a.store),
        |s| s.len() == 2,
    )
    .await;
    let on_b = eventually(
        "stored on node b",
        || stored(&node_b.store),
        |s| s.len() == 2,
    )
    .await;
    assert_eq!(on_a, on_b);
    assert_eq!(on_a[0].1, "needle across two nodes");

    // Each partner's /search finds it on their own node, labelled with the other's name.
    let found = search(&mut ben, "needle", "needle").await;
    assert!(found.contains("r1 @ann"), "{found}");
    let found = search(&mut ann, "needle", "needle").await;
    assert!(found.contains("r1 @ben"), "{found}");

    // Ben leaves: ann's next message waits for him, on every node.
    ben.line("/quit").await;
    ben.expect_closed().await;
    ann.line("/join #p").await;
    ann.expect("ben has left").await;
    ann.line("/msg ben waiting words for ben").await;
    ann.expect("ben is not online: delivered when ben is back")
        .await;
    eventually(
        "kept for ben on node b",
        || {
            node_b.store.flush();
            node_b.store.offline_messages().expect("offline reads")
        },
        |rows| rows.iter().any(|r| r.recipient == "account:ben"),
    )
    .await;

    // He logs in on node a (not where he was): it was kept for him there too.
    let mut ben = logged_in(node_a.raw, "127.0.0.73", "ben").await;
    ben.expect("[while you were away]").await;
    ben.expect("ann: 1 new message since").await;
    ben.line("/a").await;
    ben.expect("waiting words for ben").await;
    // A key pressed while the line is on screen: read (see `markers.rs`).
    ben.send(b"x\x7f").await;
    ben.line("/join #p").await;
    ben.expect("#p(").await;
    ben.line("read them all").await;
    ben.expect("ben read them all").await;
    ben.line("/quit").await;
    ben.expect_closed().await;
    // Stream order: once carl on node b sees ben's line, node b has applied the delivery and
    // the marker ben's node published before. (Not "ben has left": carl saw that line when
    // ben first quit, and it may still be on his screen.)
    carl.expect("ben read them all").await;
    node_b.store.flush();
    let left = node_b.store.offline_messages().expect("offline reads");
    assert!(
        !left.iter().any(|r| r.recipient == "account:ben"),
        "{left:?}"
    );
    let marker_a = bens_marker(&node_a.store);
    assert!(marker_a.is_some(), "ben read the conversation on node a");
    assert_eq!(bens_marker(&node_b.store), marker_a);

    // On node b, where it waited too, he is not told again.
    let mut ben = logged_in(node_b.raw, "127.0.0.74", "ben").await;
    ben.line("/msg ann back on node b").await;
    ann.expect("ben back on node b").await;
    assert!(
        !ben.text().contains("[while you were away]"),
        "{}",
        ben.text()
    );
    node_a.stop().await;
    node_b.stop().await;
}
