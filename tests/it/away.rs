//! Direct conversations between identified users end to end, through raw-port clients logged
//! in to accounts and a real SQLite file: a message to someone away waits for them across a
//! restart and is delivered at login with a "while you were away" summary, and the
//! conversation reopens with its history for both partners.

use std::net::SocketAddr;

use crate::accounts::joined_from;

use crate::support::{TestClient, TestServer, data_dir};

const PASSWORD: &str = "Hunter22-secret";

/// A client from `source` that registers `nick`.
async fn registered(server: SocketAddr, source: &str, nick: &str) -> TestClient {
    let mut client = joined_from(server, source).await;
    client.line(&format!("/nick {nick}")).await;
    client.line(&format!("/register {PASSWORD}")).await;
    client.expect("is your account now").await;
    client
}

/// A client from `source` that logs in to `nick`.
async fn logged_in(server: SocketAddr, source: &str, nick: &str) -> TestClient {
    let mut client = joined_from(server, source).await;
    client.line(&format!("/login {nick} {PASSWORD}")).await;
    client.expect("you are logged in as").await;
    client
}

/// Waits until `needle` is on the client's screen (not merely in what it typed).
async fn on_screen(client: &mut TestClient, needle: &str) {
    client
        .wait_until(&format!("{needle:?} on screen"), |c| {
            c.screen().contains(needle)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_someone_away_waits_for_them_across_a_restart_with_its_history() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = registered(server.raw, "127.0.0.1", "alice").await;
    let mut bob = registered(server.raw, "127.0.0.2", "bob").await;
    alice.line("/msg bob hello bob, first words").await;
    bob.expect("someone sent you a private message").await;
    bob.line("/a").await;
    on_screen(&mut bob, "hello bob, first words").await;
    drop(bob);
    on_screen(&mut alice, "bob has left").await;
    alice.line("/msg bob are you there?").await;
    alice
        .expect("bob is not online: delivered when bob is back")
        .await;
    // A guest is not an identified sender: someone away stays out of reach for them.
    let mut guest = joined_from(server.raw, "127.0.0.5").await;
    guest.line("/msg bob from a guest").await;
    guest.expect("\"bob\" is not online").await;
    drop(guest);
    drop(alice);
    server.stop().await;

    let server = TestServer::start(&dir).await;
    let mut bob = logged_in(server.raw, "127.0.0.3", "bob").await;
    bob.expect("[while you were away]").await;
    bob.expect("alice: 1 new message since").await;
    bob.wait_until("the conversation flagged unread", |c| {
        c.screen().contains("a:") || c.screen().contains("h:")
    })
    .await;
    bob.line("/a").await;
    on_screen(&mut bob, "are you there?").await;
    // Its history, read back from the store as the window is drawn.
    on_screen(&mut bob, "hello bob, first words").await;

    // The other partner reopens the same conversation and finds its history too.
    let mut alice = logged_in(server.raw, "127.0.0.4", "alice").await;
    alice.line("/msg bob back again").await;
    on_screen(&mut alice, "back again").await;
    on_screen(&mut alice, "hello bob, first words").await;
    on_screen(&mut alice, "are you there?").await;
    on_screen(&mut bob, "back again").await;
    // A key pressed while the line is on screen: read, so the conversation is not reopened
    // as unread at the next login (see `markers.rs`).
    bob.send(b"x\x7f").await;
    // Delivered once: a second login gets no summary.
    drop(bob);
    let mut bob = logged_in(server.raw, "127.0.0.2", "bob").await;
    bob.line("/msg alice still here").await;
    on_screen(&mut alice, "still here").await;
    assert!(
        !bob.text().contains("[while you were away]"),
        "{}",
        bob.text()
    );
    server.stop().await;
}
