//! Cluster mode's channel moderation end to end (`--cluster`): founders claimed once in the
//! key-value bucket `r0c_founders`, operators made on one node moderating on another, modes,
//! invitations, kicks, channel bans, mutes and the lockdown crossing nodes, and ssh keys
//! attached to accounts (`r0c_keys`), on one real nats-server with JetStream on loopback and
//! r0c nodes with raw clients and OpenSSH.
//!
//! Nodes run with `--ara`, so loopback users are not server operators until they `/auth`.

use crate::cluster::{Nats, cluster_settings};
use crate::cluster_shared::{PASSWORD, eventually, member};
use crate::irc_listen::IrcClient;
use crate::ssh_claims::{Session, client_key, have_ssh};
use crate::support::{TestClient, TestServer, data_dir, test_config};

/// `count` nodes named n0, n1... on `nats` (with the IRC listener too) whose loopback users
/// are no operators until they `/auth`, with their data directories (kept while held).
async fn strict_nodes(nats: &Nats, count: usize) -> (Vec<tempfile::TempDir>, Vec<TestServer>) {
    let mut keep = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..count {
        let (dir_guard, dir) = data_dir();
        let mut config = test_config(&dir);
        config.admin_requires_auth = true;
        config.cluster = Some(cluster_settings(&nats.url, &format!("n{i}")));
        nodes.push(TestServer::start_with_irc(config).await);
        keep.push(dir_guard);
    }
    (keep, nodes)
}

/// A client on `server` with nick `nick`, registered as an account of that name.
async fn registered(server: std::net::SocketAddr, nick: &str) -> TestClient {
    let mut client = TestClient::joined(server).await;
    client.line(&format!("/nick {nick}")).await;
    client.expect(&format!("changed nick to {nick}")).await;
    client.line(&format!("/register {PASSWORD}")).await;
    client.expect("is your account now").await;
    client
}

/// The founder of channel `name` in a node's store.
fn stored_founder(store: &r0c::store::Store, name: &str) -> Option<String> {
    store.flush();
    let moderation = store.moderation().expect("moderation reads");
    moderation
        .channels
        .into_iter()
        .find(|c| c.name == name)
        .and_then(|c| c.founder)
}

/// The principal's roles in channel `name` in a node's store.
fn stored_roles(store: &r0c::store::Store, name: &str, principal: &str) -> Vec<String> {
    store.flush();
    let moderation = store.moderation().expect("moderation reads");
    moderation
        .roles
        .into_iter()
        .filter(|r| r.channel == name && r.principal == principal)
        .map(|r| r.role)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_is_founded_once_and_its_operators_moderate_on_every_node() {
    let nats = Nats::start();
    let (_keep, nodes) = strict_nodes(&nats, 2).await;
    let mut alice = registered(nodes[0].raw, "alice").await;
    let mut bob = registered(nodes[1].raw, "bob").await;

    // Both create the channel at the same moment, each on their node: one founds it, and
    // both nodes (and the founder bucket) name the same founder.
    let (_, _) = tokio::join!(alice.line("/join #race"), bob.line("/join #race"));
    alice.expect("#race(").await;
    bob.expect("#race(").await;
    let founders: Vec<String> = {
        let mut founders = Vec::new();
        for node in &nodes {
            let founder = eventually(
                "every node knows the founder",
                || stored_founder(&node.store, "race"),
                Option::is_some,
            )
            .await;
            founders.push(founder.unwrap_or_default());
        }
        founders
    };
    assert_eq!(founders[0], founders[1], "one founder on every node");
    let founder = founders[0].clone();
    assert!(
        founder == "account:alice" || founder == "account:bob",
        "{founder}"
    );
    let client = async_nats::connect(&nats.url).await.expect("nats client");
    let js = async_nats::jetstream::new(client);
    let bucket = js
        .get_key_value(r0c::cluster::FOUNDER_BUCKET)
        .await
        .expect("the nodes made the founder bucket");
    let key: String = "race".bytes().map(|b| format!("{b:02x}")).collect();
    let claimed = bucket.get(&key).await.expect("bucket reads");
    assert_eq!(claimed.as_deref(), Some(founder.as_bytes()));

    // The founder appoints an operator on their node; the role reaches the other node.
    let (mut winner, winner_node, mut loser, loser_node, loser_nick) = if founder == "account:alice"
    {
        (alice, 0, bob, 1, "bob")
    } else {
        (bob, 1, alice, 0, "alice")
    };
    let mut olga = registered(nodes[winner_node].raw, "olga").await;
    olga.line("/join #race").await;
    winner.expect("olga has joined").await;
    loser.line("/op olga").await;
    loser
        .expect("only the founder of #race (or a server operator) appoints operators")
        .await;
    winner.line("/op olga").await;
    winner.expect("op: olga in #race").await;
    for node in &nodes {
        eventually(
            "every node stores the operator",
            || stored_roles(&node.store, "race", "account:olga"),
            |roles| roles == &["op".to_string()],
        )
        .await;
    }

    // Olga moves to the other node: an operator there too, and what she does there reaches
    // the founder's node.
    olga.line("/quit").await;
    olga.expect_closed().await;
    let mut olga = TestClient::joined(nodes[loser_node].raw).await;
    olga.line(&format!("/login olga {PASSWORD}")).await;
    olga.expect("you are logged in as").await;
    olga.line("/join #race").await;
    olga.expect("#race(").await;
    loser.line("/mode +t").await;
    loser.expect("you are not an operator of #race").await;
    olga.line("/mode +m").await;
    olga.expect("olga set mode +m").await;
    winner.expect("olga set mode +m").await;
    loser.line("quiet-please").await;
    loser.expect("#race is moderated (+m)").await;

    // The founder voices a registered user of the other node by account: they speak there.
    winner.line(&format!("/voice account:{loser_nick}")).await;
    winner
        .expect(&format!("voice: account:{loser_nick} in #race"))
        .await;
    winner.say("after-the-voice").await;
    loser.expect("after-the-voice").await;
    loser.say("voiced-now").await;
    winner.expect("voiced-now").await;

    // Her kick of a member of the other node puts them out there.
    olga.line(&format!("/kick {loser_nick} enough")).await;
    loser
        .expect("you were kicked from #race by olga: enough")
        .await;
    winner
        .expect(&format!("{loser_nick} was kicked by olga: enough"))
        .await;

    // A channel ban set on one node puts a member of the other node out of the channel.
    loser.line("/join #race").await;
    loser.expect(&format!("{loser_nick} has joined")).await;
    winner.expect(&format!("{loser_nick} has joined")).await;
    winner.line(&format!("/ban {loser_nick} 1h go")).await;
    winner.expect("online affected").await;
    loser.expect("you were banned from #race for").await;
    olga.expect(&format!("{loser_nick} was banned by")).await;
    loser.line("/join #race").await;
    loser.expect("you are banned from #race").await;
    drop((winner, loser, olga));
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_invitations_and_the_lockdown_set_on_one_node_hold_on_the_others() {
    let nats = Nats::start();
    let (_keep, nodes) = strict_nodes(&nats, 2).await;
    let mut oper = member(nodes[0].raw, "oper", "m").await;
    oper.line("/auth hunter2").await;
    oper.expect("please don't break anything").await;
    let mut bob = member(nodes[1].raw, "bob", "m").await;
    oper.expect("bob has joined").await;
    let mut ivy = IrcClient::registered(nodes[0].irc.expect("IRC"), "ivy").await;
    ivy.send("JOIN #m").await;
    ivy.expect(" 366 ivy #m ").await;
    let mut carl = TestClient::joined(nodes[1].raw).await;
    carl.line("/nick carl").await;
    carl.expect("changed nick to carl").await;

    // +m on node 0: bob, on node 1, may not speak.
    oper.line("/mode +m").await;
    bob.expect("oper set mode +m").await;
    bob.line("may I").await;
    bob.expect("#m is moderated (+m)").await;

    // +i: carl, on node 1, is refused until invited from node 0.
    oper.line("/mode -m+i").await;
    bob.expect("oper set mode -m +i").await;
    carl.line("/join #m").await;
    carl.expect("#m is invite-only (+i)").await;
    oper.line("/invite carl").await;
    oper.expect("the invitation to #m goes to the other nodes")
        .await;
    carl.expect("oper invites you to #m").await;
    carl.line("/join #m").await;
    oper.expect("carl has joined").await;

    // A kick on node 0 puts bob out of the channel on node 1; everyone sees it.
    oper.line("/kick bob go cool off").await;
    bob.expect("you were kicked from #m by oper: go cool off")
        .await;
    oper.expect("bob was kicked by oper: go cool off").await;
    carl.expect("bob was kicked by oper: go cool off").await;
    ivy.expect(" KICK #m bob :go cool off").await;

    // A mute takes effect once the stream has it: its author is told then, and so is its
    // target on the other node.
    oper.line("/mute carl 10m hush").await;
    oper.expect("muted carl in the server for 10m").await;
    carl.expect("you were muted in the server for 10m: hush")
        .await;
    carl.line("but").await;
    carl.expect("you are muted on this server: hush").await;
    oper.line("/unmute carl").await;
    oper.expect("unmute: carl in the server").await;

    // The lockdown set on node 0 keeps carl, a guest of node 1, quiet; lifted, he speaks.
    oper.line("/lockdown registered").await;
    oper.expect("lockdown: registered").await;
    // The stream is applied in order: once carl sees a line said after it, node 1 has it.
    oper.say("after-the-lockdown").await;
    carl.expect("after-the-lockdown").await;
    carl.line("let me talk").await;
    carl.expect("the server is in lockdown").await;
    oper.line("/lockdown off").await;
    oper.expect("lockdown: off").await;
    oper.say("after-the-lift").await;
    carl.expect("after-the-lift").await;
    carl.say("free-to-talk").await;
    oper.expect("free-to-talk").await;

    // With NATS gone, a ban is refused with the reason and in force nowhere, not even here.
    drop(nats);
    oper.line("/ban carl").await;
    oper.expect("not sent: the cluster cannot be reached").await;
    oper.line("/bans").await;
    oper.expect("no bans or mutes").await;
    drop((oper, bob, carl));
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_key_attached_on_one_node_logs_its_owner_in_on_another_and_has_one_account() {
    if !have_ssh() {
        return;
    }
    let nats = Nats::start();
    let mut keep = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..2 {
        let (dir_guard, dir) = data_dir();
        let mut config = test_config(&dir);
        config.cluster = Some(cluster_settings(&nats.url, &format!("n{i}")));
        nodes.push(TestServer::start_with_ssh(config).await);
        keep.push(dir_guard);
    }
    let (_keys_guard, keys) = data_dir();
    let (key, _) = client_key(&keys, "key");
    let (other_key, other_fingerprint) = client_key(&keys, "other");
    let ssh_a = nodes[0].ssh.expect("ssh listener");
    let ssh_b = nodes[1].ssh.expect("ssh listener");

    // Attached on node a ...
    let mut owner = Session::start(&keys, Some(&key), ssh_a, "paul");
    owner.wait_for("paul>");
    owner.line(&format!("/register {PASSWORD}"));
    owner.wait_for("is your account now");
    owner.line("/key add");
    owner.wait_for("logs you in to your account when");
    owner.quit();
    eventually(
        "node b keeps the key",
        || {
            nodes[1].store.flush();
            let (_, keys) = nodes[1].store.accounts().expect("accounts read");
            keys.iter().any(|k| k.account == "paul")
        },
        |attached| *attached,
    )
    .await;
    // ... it logs its owner in on node b.
    let mut back = Session::start(&keys, Some(&key), ssh_b, "someone");
    back.wait_for("(by your ssh key)");
    back.wait_for("paul>");
    back.quit();

    // A key another account holds in the cluster's key bucket is refused here.
    let client = async_nats::connect(&nats.url).await.expect("nats client");
    let js = async_nats::jetstream::new(client);
    let bucket = js
        .get_key_value(r0c::cluster::KEY_BUCKET)
        .await
        .expect("the nodes made the key bucket");
    let hex: String = other_fingerprint
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    bucket
        .create(&hex, "zed".into())
        .await
        .expect("claimed as another node would");
    let mut second = Session::start(&keys, Some(&other_key), ssh_b, "kim");
    second.wait_for("kim>");
    second.line(&format!("/register {PASSWORD}"));
    second.wait_for("is your account now");
    second.line("/key add");
    second.wait_for("this ssh key is attached to zed already");
    second.quit();
    for node in nodes {
        node.stop().await;
    }
}
