//! Cluster mode's presence details end to end: on one real nats-server with two r0c nodes,
//! a user of the other node who is away is marked by `/names` and answers a direct message
//! with their reason once, `/whois` and IRC's WHOIS tell their node and reason, and a
//! direct-message window follows their nick change.

use crate::cluster::{Nats, irc_node, node};
use crate::irc_listen::IrcClient;
use crate::support::{TestClient, data_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_and_nick_changes_of_a_user_of_another_node_reach_names_and_direct_messages() {
    let nats = Nats::start();
    let (_keep_a, dir_a) = data_dir();
    let (_keep_b, dir_b) = data_dir();
    let node_a = irc_node(&dir_a, &nats.url, "na").await;
    let node_b = node(&dir_b, &nats.url, "nb").await;
    let mut alice = TestClient::joined(node_a.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #p").await;
    alice.expect("#p(").await;
    let mut bob = TestClient::joined(node_b.raw).await;
    bob.line("/nick bob").await;
    bob.expect("changed nick to bob").await;
    bob.line("/join #p").await;
    bob.expect("#p(").await;
    alice.expect("bob has joined").await;

    // Bob's away state travels in stream order, before his next line: once node a shows the
    // line, it knows he is away.
    bob.line("/away lunch").await;
    bob.expect("you are marked as away: lunch").await;
    bob.line("brb-line").await;
    alice.expect("bob brb-line").await;
    alice.line("/names").await;
    alice.expect("2 users in #p: alice, bob (away)").await;
    alice.line("/0").await;
    alice.expect("r0c-status").await;
    alice.line("/whois bob").await;
    alice.expect("is online on node nb").await;
    alice.expect("away: lunch").await;
    let mut carol = IrcClient::registered(node_a.irc.expect("IRC"), "carol").await;
    carol.send("JOIN #p").await;
    carol.expect(" 366 carol #p ").await;
    carol.send("WHOIS bob").await;
    carol.expect(" 311 carol bob ").await;
    carol.expect(" 319 carol bob :#p").await;
    let server = carol.expect(" 312 carol bob ").await;
    assert!(server.ends_with(":r0c chat, node nb"), "{server}");
    carol.expect(" 301 carol bob :lunch").await;
    carol.expect(" 318 carol bob ").await;

    // A direct message to him is answered with his reason, once.
    alice.line("/msg bob are-you-there").await;
    alice.expect("alice are-you-there").await;
    alice.line("again-1").await;
    alice.expect("alice again-1").await;
    assert_eq!(
        alice.text().matches("bob is away: lunch").count(),
        1,
        "told once: {}",
        alice.text()
    );
    bob.expect("someone sent you a private message").await;
    bob.line("/a").await;
    bob.expect("alice again-1").await;

    // He changes his nick: alice's window with him follows it, so her next line reaches him.
    bob.line("/nick bobby").await;
    bob.expect("changed nick to bobby").await;
    alice.expect("bob changed nick to bobby").await;
    alice.line("after-rename").await;
    alice.expect("alice after-rename").await;
    bob.expect("alice after-rename").await;
    node_a.stop().await;
    node_b.stop().await;
}
