//! Moderation of ssh users end to end with OpenSSH's client (`ssh -T`, keys from
//! `ssh-keygen`): a key banned by nick is put out with the reason and refused again after a
//! restart while another key gets in; in a `registered` lockdown, keyed users chat on while a
//! guest is told why and cannot speak.

use crate::moderation::{config, operator};
use crate::ssh_claims::{Session, client_key, have_ssh};
use crate::support::{TestServer, data_dir};

const BANNED: &str = "you are banned from this server: griefing";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_key_banned_by_nick_is_put_out_and_refused_after_a_restart_another_key_gets_in() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let (key_a, fingerprint_a) = client_key(&dir, "key_a");
    let (key_b, _) = client_key(&dir, "key_b");
    let server = TestServer::start_with_ssh(config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut op = operator(server.raw).await;
    let mut alice = Session::start(&dir, Some(&key_a), ssh, "alice");
    alice.wait_for("alice>");
    // The nick of a keyed user online means their key, which a new nick does not escape.
    op.line("/ban alice griefing").await;
    op.expect(&format!(
        "banned {fingerprint_a} in the server permanently (1 online affected)"
    ))
    .await;
    let text = alice.ended();
    assert!(text.contains(BANNED), "{text}");
    drop(op);
    server.stop().await;

    let server = TestServer::start_with_ssh(config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    // Asking for another nick does not help: the key is banned.
    let text = Session::start(&dir, Some(&key_a), ssh, "someone").ended();
    assert!(text.contains(BANNED), "{text}");
    let mut bob = Session::start(&dir, Some(&key_b), ssh, "bob");
    let text = bob.wait_for("bob>");
    assert!(!text.contains("banned"), "{text}");
    let mut op = operator(server.raw).await;
    op.line("/bans").await;
    op.expect(&format!("ban {fingerprint_a}")).await;
    bob.quit();
    drop(op);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_registered_lockdown_keyed_ssh_users_chat_on_and_a_guest_cannot_speak() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let (key_a, _) = client_key(&dir, "key_a");
    let (key_b, _) = client_key(&dir, "key_b");
    let (key_new, _) = client_key(&dir, "key_new");
    let server = TestServer::start_with_ssh(config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut op = operator(server.raw).await;
    // Alice's and Bob's keys claim their nicks before the lockdown begins.
    let mut alice = Session::start(&dir, Some(&key_a), ssh, "alice");
    alice.wait_for("alice>");
    let mut bob = Session::start(&dir, Some(&key_b), ssh, "bob");
    bob.wait_for("bob>");
    op.line("/lockdown registered").await;
    op.expect("lockdown: registered").await;
    // A key made during the spam wave counts for nothing.
    let mut fresh = Session::start(&dir, Some(&key_new), ssh, "fresh");
    fresh.wait_for("only users registered before it began");
    fresh.line("/join #g");
    fresh.line("/b?");
    fresh.wait_for("Audible alerts");
    alice.line("/join #g");
    bob.line("/join #g");
    alice.wait_for("bob has joined");

    // The guest is told on arrival, then refused a channel and a direct message; `/b?`
    // answered says the lines before it were handled.
    let mut guest = Session::start(&dir, None, ssh, "guest");
    guest.wait_for("the server is in lockdown: only users registered before it began");
    guest.wait_for("guest>");
    guest.line("/join #g");
    guest.line("/msg alice guest-spam");
    guest.line("/b?");
    let text = guest.wait_for("Audible alerts");
    assert!(!text.contains("guest-spam"), "refused, not echoed: {text}");

    alice.line("hello-bob");
    bob.wait_for("hello-bob");
    bob.line("hi-alice");
    let text = alice.wait_for("hi-alice");
    assert!(!text.contains("guest-spam"), "{text}");
    assert!(!text.contains("guest has joined"), "{text}");
    assert!(!text.contains("fresh has joined"), "{text}");
    fresh.quit();
    guest.quit();
    alice.quit();
    bob.quit();
    drop(op);
    server.stop().await;
}
