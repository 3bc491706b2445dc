//! Read markers end to end, through real clients and a real SQLite file: an identified user
//! who leaves and comes back (after a restart, over another listener) finds the public
//! channels they had open rejoined, the unread part flagged and marked with a "new since"
//! line, and a "while you were away" summary whose counts match what was posted.

use crate::accounts::joined_from;
use crate::ssh_claims::{Session, client_key, have_ssh};
use crate::support::{TestClient, TestServer, data_dir, test_config};

const PASSWORD: &str = "Hunter22-secret";

/// Waits until `needle` is on the client's screen (not merely in what it typed).
async fn on_screen(client: &mut TestClient, needle: &str) {
    client
        .wait_until(&format!("{needle:?} on screen"), |c| {
            c.screen().contains(needle)
        })
        .await;
}

/// The first screen row holding `needle`.
fn row_of(client: &TestClient, needle: &str) -> Option<usize> {
    client
        .screen()
        .lines()
        .position(|line| line.contains(needle))
}

/// A client on the telnet port, through the wizard, with a wide terminal.
async fn telnet_client(server: &TestServer) -> TestClient {
    let mut client = TestClient::configured(server.telnet, true).await;
    client.expect("> ").await;
    client.report_size(250, 50).await;
    client
}

/// Over the raw port, alice registers, opens `channels` (the last is #lobby), says a line
/// there and reads it, and leaves while bob, a guest, stays in #lobby; bob is returned,
/// having seen her leave.
async fn alice_reads_and_leaves(server: &TestServer, channels: &[&str]) -> TestClient {
    let mut alice = joined_from(server.raw, "127.0.0.1").await;
    alice.line("/nick alice").await;
    alice.line(&format!("/register {PASSWORD}")).await;
    alice.expect("is your account now").await;
    for channel in channels {
        alice.line(&format!("/join {channel}")).await;
        on_screen(&mut alice, channel).await;
    }
    alice.line("before i go").await;
    on_screen(&mut alice, "before i go").await;
    // A key pressed while the line is on screen: it is read.
    alice.send(b"x\x7f").await;
    let mut bob = joined_from(server.raw, "127.0.0.2").await;
    bob.line("/nick bob").await;
    bob.line("/join #lobby").await;
    on_screen(&mut alice, "bob has joined").await;
    drop(alice);
    on_screen(&mut bob, "alice has left").await;
    bob
}

/// bob says `lines`, one at a time, so that none is taken for a paste of one message.
async fn say_each(bob: &mut TestClient, lines: &[&str]) {
    for line in lines {
        bob.line(line).await;
        on_screen(bob, line).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_markers_survive_a_restart_and_a_login_over_another_listener() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut bob = alice_reads_and_leaves(&server, &["#quiet", "#lobby"]).await;
    say_each(&mut bob, &["news one", "alice: news two", "news three"]).await;
    drop(bob);
    server.stop().await;

    // Another day, another listener: the telnet port, and a login.
    let server = TestServer::start(&dir).await;
    let mut alice = telnet_client(&server).await;
    alice.line(&format!("/login alice {PASSWORD}")).await;
    alice.expect("you are logged in as").await;
    alice.expect("[while you were away]").await;
    alice
        .expect("#lobby: 3 new messages, 1 mention since")
        .await;
    // Nothing new in #quiet: rejoined, not summed up.
    alice.expect("CTRL-E or /a goes through them").await;
    assert!(!alice.text().contains("#quiet: "), "{}", alice.text());
    alice
        .wait_until("the mention flagged in the status bar", |c| {
            c.screen().contains("h:")
        })
        .await;
    alice.line("/a").await;
    on_screen(&mut alice, "news three").await;
    on_screen(&mut alice, "new since").await;
    let before = row_of(&alice, "before i go");
    let marker = row_of(&alice, "new since");
    let first_new = row_of(&alice, "news one");
    assert!(
        before < marker && marker < first_new && before.is_some(),
        "read, marker and unread out of order:\n{}",
        alice.screen()
    );
    // The other channel she had open is hers again.
    let mut bob = joined_from(server.raw, "127.0.0.2").await;
    bob.line("/join #quiet").await;
    bob.line("/names").await;
    bob.expect("users in #quiet:").await;
    bob.wait_until("alice among #quiet's users", |c| {
        c.text()
            .lines()
            .any(|l| l.contains("users in #quiet:") && l.contains("alice"))
    })
    .await;
    server.stop().await;
}

/// The position of the last `needle` in `text`.
fn last(text: &str, needle: &str) -> Option<usize> {
    text.rfind(needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_markers_follow_an_account_from_raw_to_its_ssh_key_across_a_restart() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let (key, _) = client_key(&dir, "key");
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut bob = alice_reads_and_leaves(&server, &["#lobby"]).await;
    say_each(&mut bob, &["while on raw"]).await;

    // Over ssh: a login restores the channel, and the key is attached to the account.
    let mut owner = Session::start(&dir, Some(&key), ssh, "someone");
    owner.wait_for("someone>");
    owner.line(&format!("/login alice {PASSWORD}"));
    owner.wait_for("#lobby: 1 new message since");
    owner.line("/key add");
    owner.wait_for("logs you in to your account when");
    owner.line("/a");
    owner.wait_for("new since");
    let text = owner.wait_for("while on raw");
    let marker = last(&text, "new since");
    assert!(
        last(&text, "before i go").is_some()
            && last(&text, "before i go") < marker
            && marker < last(&text, "while on raw"),
        "read, marker and unread out of order:\n{text}"
    );
    // Read now, and saved as she leaves.
    owner.quit();
    bob.wait_until("alice gone again", |c| {
        c.screen().matches("alice has left").count() >= 2
    })
    .await;
    say_each(&mut bob, &["after ssh one", "alice: after ssh two"]).await;
    drop(bob);
    server.stop().await;

    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut back = Session::start(&dir, Some(&key), ssh, "someone");
    back.wait_for("(by your ssh key)");
    let text = back.wait_for("#lobby: 2 new messages, 1 mention since");
    assert!(!text.contains("1 new message since"), "{text}");
    back.quit();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_left_unread_reopens_with_its_history_and_marker_after_a_restart() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = joined_from(server.raw, "127.0.0.1").await;
    alice.line("/nick alice").await;
    alice.line(&format!("/register {PASSWORD}")).await;
    alice.expect("is your account now").await;
    let mut bob = joined_from(server.raw, "127.0.0.2").await;
    bob.line("/nick bob").await;
    bob.line(&format!("/register {PASSWORD}")).await;
    bob.expect("is your account now").await;
    // A conversation alice reads, then two lines she is online for but never looks at.
    bob.line("/msg alice first, read").await;
    alice.expect("someone sent you a private message").await;
    alice.line("/a").await;
    on_screen(&mut alice, "first, read").await;
    alice.line("/0").await;
    alice.expect("r0c-status").await;
    bob.line("second, unread").await;
    on_screen(&mut bob, "second, unread").await;
    bob.line("third, unread").await;
    on_screen(&mut bob, "third, unread").await;
    alice
        .wait_until("the conversation flagged", |c| c.screen().contains("h:"))
        .await;
    drop(alice);
    on_screen(&mut bob, "alice has left").await;
    drop(bob);
    server.stop().await;

    // No message waits for her (she was online for them): her read marker alone reopens it.
    let server = TestServer::start(&dir).await;
    let mut alice = telnet_client(&server).await;
    alice.line(&format!("/login alice {PASSWORD}")).await;
    alice.expect("you are logged in as").await;
    alice.expect("[while you were away]").await;
    alice.expect("bob: 2 new messages since").await;
    alice
        .wait_until("the conversation flagged in the status bar", |c| {
            c.screen().contains("h:")
        })
        .await;
    alice.line("/a").await;
    on_screen(&mut alice, "third, unread").await;
    on_screen(&mut alice, "new since").await;
    on_screen(&mut alice, "first, read").await;
    let read = row_of(&alice, "first, read");
    let marker = row_of(&alice, "new since");
    let unread = row_of(&alice, "second, unread");
    assert!(
        read.is_some() && read < marker && marker < unread,
        "read, marker and unread out of order:\n{}",
        alice.screen()
    );
    // Read now: the next return has nothing to say about it.
    drop(alice);
    let mut again = telnet_client(&server).await;
    again.line(&format!("/login alice {PASSWORD}")).await;
    again.expect("you are logged in as").await;
    again.line("/0").await;
    again.line("/names").await;
    again.expect("users in").await;
    assert!(
        !again.text().contains("new messages since"),
        "{}",
        again.text()
    );
    server.stop().await;
}
