//! Cluster mode (`--cluster`) end to end: real nats-server processes with JetStream on
//! loopback, r0c nodes on them (in this process, and the real binary where one is killed),
//! raw-port clients on each node.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use r0c::config::ClusterSettings;

use crate::process::{Process, free_ports};
use crate::support::{TestClient, TestServer, data_dir, lines_of, test_config};

/// A nats-server with JetStream, on 127.0.0.1 and a port it chose; killed when dropped.
struct Nats {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Nats {
    fn start() -> Nats {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new("nats-server")
            .args(["-js", "-sd"])
            .arg(dir.path())
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nats-server starts (Debian package nats-server)");
        let log = lines_of(child.stderr.take().expect("stderr"));
        let needle = "Listening for client connections on ";
        let line = crate::support::wait_for_line(&log, needle);
        let address = line
            .split(needle)
            .nth(1)
            .expect("the address follows")
            .trim()
            .to_string();
        // The rest of the log is drained, so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in log.iter() {});
        Nats {
            child,
            url: format!("nats://{address}"),
            _dir: dir,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn cluster_settings(url: &str, node: &str) -> ClusterSettings {
    ClusterSettings {
        servers: vec![url.to_string()],
        creds: None,
        tls_ca: None,
        node: node.to_string(),
    }
}

async fn node(dir: &Path, url: &str, name: &str) -> TestServer {
    let mut config = test_config(dir);
    config.cluster = Some(cluster_settings(url, name));
    TestServer::start_with(config).await
}

/// The chat lines of channel `name` in a node's history, as "author text", in stored order.
fn chat_lines(store: &r0c::store::Store, name: &str, authors: &[&str]) -> Vec<String> {
    store.flush();
    store
        .recent_messages(name, 10_000)
        .expect("history reads")
        .into_iter()
        .filter(|m| authors.contains(&m.author.as_str()))
        .map(|m| format!("{} {}", m.author, m.text))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_nats_server_chat_in_one_order() {
    let mut nats = Nats::start();
    let dirs: Vec<_> = (0..3).map(|_| data_dir()).collect();
    let mut nodes = Vec::new();
    for (i, (_, dir)) in dirs.iter().enumerate() {
        nodes.push(node(dir, &nats.url, &format!("n{i}")).await);
    }
    let mut alice = TestClient::joined(nodes[0].raw).await;
    let mut bob = TestClient::joined(nodes[1].raw).await;
    let mut carol = TestClient::joined(nodes[2].raw).await;
    for (client, nick) in [(&mut alice, "alice"), (&mut bob, "bob"), (&mut carol, "carol")] {
        client.line(&format!("/nick {nick}")).await;
        client.expect(&format!("changed nick to {nick}")).await;
    }
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    bob.line("/join #g").await;
    // Bob's join reached alice's node through the stream.
    alice.expect("bob has joined").await;
    carol.line("/join #g").await;
    alice.expect("carol has joined").await;
    bob.expect("carol has joined").await;

    // Everyone speaks at once; every node shows and stores one order.
    for round in 1..=5 {
        alice.line(&format!("from-alice-{round}")).await;
        bob.line(&format!("from-bob-{round}")).await;
        carol.line(&format!("from-carol-{round}")).await;
    }
    for client in [&mut alice, &mut bob, &mut carol] {
        for nick in ["alice", "bob", "carol"] {
            client.expect(&format!("from-{nick}-5")).await;
        }
    }
    let authors = ["alice", "bob", "carol"];
    // Lines typed faster than a read arrive as one paste, one message of several lines.
    let first = chat_lines(&nodes[0].store, "g", &authors);
    let all = first.join("\n");
    for nick in authors {
        for round in 1..=5 {
            assert!(all.contains(&format!("from-{nick}-{round}")), "{first:?}");
        }
    }
    for other in &nodes[1..] {
        assert_eq!(chat_lines(&other.store, "g", &authors), first);
    }

    // Members on other nodes are listed.
    alice.line("/names").await;
    alice.expect("3 users in #g").await;
    assert!(alice.text().contains("alice, bob, carol"), "{}", alice.text());

    // A node whose NATS server is gone refuses lines and says why; nothing is shown.
    nats.kill();
    bob.line("lost-line").await;
    bob.expect("not sent: the cluster cannot be reached").await;
    assert!(!bob.text().contains("bob lost-line"), "{}", bob.text());
    for node in nodes {
        node.stop().await;
    }
}
