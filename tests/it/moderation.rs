//! Moderation end to end with real sockets and a real SQLite file: an operator kicks, mutes
//! and bans by nick and by CIDR (clients bound to 127.0.0.2), a banned address is refused at
//! the door with the reason, also after a restart; channel modes each refuse and allow;
//! `/ignore` hides one user from one person only; lockdown keeps guests quiet while accounts
//! chat on, and a ban by nick of a logged-in user bans the account, also after a restart.
//!
//! Servers run with `--ara`, so loopback users are not operators until they `/auth`.

use std::net::SocketAddr;

use tokio::io::AsyncReadExt;

use crate::limits::connect_from;
use crate::support::{PATIENCE, TestClient, TestServer, data_dir, test_config};

pub(crate) fn config(dir: &std::path::Path) -> r0c::config::Config {
    let mut config = test_config(dir);
    config.admin_requires_auth = true;
    config
}

/// A joined raw-port client from `source`, renamed to `nick`.
pub(crate) async fn user_from(source: [u8; 4], server: SocketAddr, nick: &str) -> TestClient {
    let mut client = TestClient::from_stream(connect_from(source, server).await);
    client.wizard().await;
    client.expect("> ").await;
    client.report_size(250, 50).await;
    client.line(&format!("/nick {nick}")).await;
    client.expect(&format!("{nick}>")).await;
    client
}

/// An operator: a loopback user who gave the admin password.
pub(crate) async fn operator(server: SocketAddr) -> TestClient {
    let mut op = user_from([127, 0, 0, 1], server, "oper").await;
    op.line("/auth hunter2").await;
    op.expect("please don't break anything").await;
    op
}

/// The whole answer of a connection refused at the door (the server closes it).
async fn refusal_from(source: [u8; 4], server: SocketAddr) -> String {
    let mut stream = connect_from(source, server).await;
    let mut text = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut text))
        .await
        .expect("the refused connection is closed in time")
        .expect("read");
    String::from_utf8_lossy(&text).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_kicks_mutes_and_bans_by_nick_and_cidr_and_the_ban_survives_a_restart() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut op = operator(server.raw).await;
    let mut victim = user_from([127, 0, 0, 2], server.raw, "victim").await;
    op.line("/join #g").await;
    victim.line("/join #g").await;
    op.expect("victim has joined").await;

    // Not an operator: refused with the reason.
    victim.line("/kick oper").await;
    victim.expect("you are not an operator of #g").await;

    op.line("/kick victim go cool off").await;
    victim
        .expect("you were kicked from #g by oper: go cool off")
        .await;
    op.expect("victim was kicked by oper: go cool off").await;

    // The victim is back in #g before the mute (the op's screen still shows the first join
    // line, so the victim's own stream says when): told in the status window while the
    // victim switches windows, the notice could be drawn over before it is seen.
    victim.line("/join #g").await;
    victim.expect("victim has joined").await;
    op.line("/mute victim 10m noise").await;
    victim
        .expect("you were muted in the server for 10m: noise")
        .await;
    victim.line("can I talk").await;
    victim.expect("you are muted on this server: noise").await;
    victim.line("/nick other").await;
    victim
        .expect("you are muted and cannot change your nick")
        .await;
    op.line("/unmute victim").await;
    op.expect("unmute: victim").await;
    victim.say("free again").await;
    op.expect("free again").await;

    // Bad input gets one clear line each.
    op.line("/ban 10.0.0.1/8").await;
    op.expect("the block is 10.0.0.0/8").await;
    op.line("/ban victim 5x").await;
    op.expect("'5x' is not a duration").await;
    op.line("/kick nobody").await;
    op.expect("nobody is not online").await;

    // A ban of the address block puts the user out with the reason, and closes the door.
    op.line("/ban 127.0.0.2/32 go away").await;
    victim
        .expect("you are banned from this server: go away")
        .await;
    victim.expect_closed().await;
    op.expect("banned 127.0.0.2/32 in the server permanently (1 online affected)")
        .await;
    let refused = refusal_from([127, 0, 0, 2], server.raw).await;
    assert!(
        refused.contains("you are banned from this server: go away"),
        "{refused:?}"
    );
    let refused = refusal_from([127, 0, 0, 2], server.telnet).await;
    assert!(refused.contains("banned"), "{refused:?}");
    drop(op);
    server.stop().await;

    // After a restart with the same database: still refused, and listed; the log has it all.
    let server = TestServer::start_with(config(&dir)).await;
    let refused = refusal_from([127, 0, 0, 2], server.raw).await;
    assert!(refused.contains("go away"), "{refused:?}");
    let mut op = operator(server.raw).await;
    op.line("/bans").await;
    op.expect("ban 127.0.0.2/32 (server, by oper, permanent): go away")
        .await;
    op.line("/modlog 10").await;
    op.expect("kick victim (#g): go cool off").await;
    op.line("/unban 127.0.0.2/32").await;
    op.expect("unban: 127.0.0.2/32").await;
    let mut back = user_from([127, 0, 0, 2], server.raw, "victim").await;
    back.line("/join #g").await;
    back.say("hello again").await;
    drop((op, back));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_by_nick_puts_a_guest_out_and_keeps_the_nick_banned() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut op = operator(server.raw).await;
    let mut troll = user_from([127, 0, 0, 3], server.raw, "troll").await;
    op.line("/ban troll 1h trolling").await;
    troll
        .expect("you are banned from this server: trolling")
        .await;
    troll.expect_closed().await;
    let mut other = user_from([127, 0, 0, 4], server.raw, "someone").await;
    other.line("/nick troll").await;
    other.expect("troll is banned on this server").await;
    op.line("/bans").await;
    op.expect("ban troll (server, by oper, 59m left): trolling")
        .await;
    drop((op, other));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_modes_each_refuse_and_allow() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut op = operator(server.raw).await;
    let mut bob = user_from([127, 0, 0, 5], server.raw, "bob").await;
    let mut carol = user_from([127, 0, 0, 6], server.raw, "carol").await;
    op.line("/join #m").await;
    op.expect("#m").await;

    // A guest cannot set modes.
    bob.line("/join #m").await;
    bob.line("/mode +i").await;
    bob.expect("you are not an operator of #m").await;
    bob.line("/part").await;

    // +i: refused until invited.
    op.line("/mode +i").await;
    op.expect("oper set mode +i").await;
    op.expect("[+i]").await;
    bob.line("/join #m").await;
    bob.expect("#m is invite-only (+i)").await;
    op.line("/invite bob").await;
    bob.expect("oper invites you to #m").await;
    bob.line("/join #m").await;
    op.expect("bob has joined").await;

    // +m: only voiced users speak.
    op.line("/mode -i+m").await;
    op.expect("oper set mode -i +m").await;
    bob.line("may I").await;
    bob.expect("#m is moderated (+m)").await;
    op.line("/voice bob").await;
    op.expect("voice: bob in #m").await;
    bob.say("thanks for the voice").await;
    op.expect("thanks for the voice").await;

    // +t: only operators change the topic.
    op.line("/mode -m+t").await;
    op.expect("oper set mode -m +t").await;
    bob.line("/topic mine now").await;
    bob.expect("the topic of #m is locked (+t)").await;
    op.line("/topic set by the op").await;
    bob.expect("set by the op").await;

    // +k: a key to join.
    op.line("/mode +k sesame").await;
    op.expect("oper set mode +k").await;
    carol.line("/join #m").await;
    carol.expect("#m needs a key (+k)").await;
    carol.line("/join #m wrong").await;
    carol.expect("#m needs a key (+k)").await;
    carol.line("/join #m sesame").await;
    op.expect("carol has joined").await;
    carol.line("/part").await;

    // +r: guests are kept out.
    op.line("/mode -k+r").await;
    op.expect("oper set mode -k +r").await;
    carol.line("/join #m").await;
    carol.expect("#m is for registered users only (+r)").await;
    op.line("/mode").await;
    op.expect("#m modes: [+rt]").await;
    drop((op, bob, carol));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_hides_one_user_from_one_person_only() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut alice = user_from([127, 0, 0, 7], server.raw, "alice").await;
    let mut bob = user_from([127, 0, 0, 8], server.raw, "bob").await;
    let mut carol = user_from([127, 0, 0, 9], server.raw, "carol").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.line("/join #g").await;
    }
    alice.expect("carol has joined").await;
    alice.line("/ignore bob").await;
    alice.expect("ignoring bob until you disconnect").await;
    alice.line("/ignores").await;
    alice.expect("you ignore (1 of 64): bob").await;
    bob.say("bob-says-hidden").await;
    bob.line("/me waves-hidden").await;
    carol.expect("bob-says-hidden").await;
    carol.expect("waves-hidden").await;
    carol.say("carol-after").await;
    alice.expect("carol-after").await;
    let seen = alice.text();
    assert!(!seen.contains("bob-says-hidden"), "{seen}");
    assert!(!seen.contains("waves-hidden"), "{seen}");
    // Bob is not told, and sees his own line.
    bob.expect("carol-after").await;
    assert!(!bob.text().contains("ignor"), "{}", bob.text());
    alice.line("/unignore bob").await;
    bob.say("bob-visible-again").await;
    alice.expect("bob-visible-again").await;
    drop((alice, bob, carol));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockdown_keeps_guests_quiet_and_is_kept_across_a_restart() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut op = operator(server.raw).await;
    let mut guest = user_from([127, 0, 0, 10], server.raw, "guest").await;
    guest.line("/lockdown registered").await;
    guest.expect("you are not a server operator").await;
    op.line("/lockdown registered").await;
    op.expect("lockdown: registered").await;
    op.line("/join #g").await;
    guest.line("/join #g").await;
    guest
        .expect("the server is in lockdown: only users registered before it began")
        .await;
    op.say("operators still speak").await;
    op.expect("oper> ").await;
    drop((op, guest));
    server.stop().await;

    let server = TestServer::start_with(config(&dir)).await;
    let mut late = user_from([127, 0, 0, 11], server.raw, "late").await;
    late.expect("the server is in lockdown").await;
    let mut op = operator(server.raw).await;
    op.line("/lockdown off").await;
    op.expect("lockdown: off").await;
    late.line("/join #g").await;
    late.say("free to talk").await;
    late.expect("free to talk").await;
    drop((op, late));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_chat_on_in_lockdown_and_a_ban_by_nick_follows_the_account_across_a_restart() {
    const PASSWORD: &str = "correct-horse-7";
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut op = operator(server.raw).await;
    let mut alice = user_from([127, 0, 0, 12], server.raw, "alice").await;
    alice.line(&format!("/register {PASSWORD}")).await;
    alice.expect("is your account now").await;
    let mut guest = user_from([127, 0, 0, 13], server.raw, "guest").await;
    op.line("/lockdown registered").await;
    op.expect("lockdown: registered").await;
    for client in [&mut op, &mut alice] {
        client.line("/join #g").await;
    }
    op.expect("alice has joined").await;
    guest.line("/join #g").await;
    guest
        .expect("the server is in lockdown: only users registered before it began")
        .await;
    // An account made during the lockdown counts for nothing until it ends.
    guest.line("/register spam-wave-1").await;
    guest.expect("is your account now").await;
    guest.line("/join #g").await;
    guest.line("/b?").await;
    guest.expect("Audible alerts").await;
    alice.say("accounts still speak").await;
    op.expect("alice accounts still speak").await;
    assert!(!op.text().contains("guest has joined"), "{}", op.text());

    // A nick of someone logged in to an account bans the account, not the nick.
    op.line("/ban alice spam").await;
    alice.expect("you are banned from this server: spam").await;
    alice.expect_closed().await;
    op.line("/bans").await;
    op.expect("account:alice").await;
    drop((op, alice, guest));
    server.stop().await;

    // After a restart, from another address, logging in to the account puts her out again.
    let server = TestServer::start_with(config(&dir)).await;
    let mut again = user_from([127, 0, 0, 14], server.raw, "someone").await;
    again.line(&format!("/login alice {PASSWORD}")).await;
    again.expect("you are banned from this server: spam").await;
    again.expect_closed().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_user_who_renames_stays_hidden_from_the_ignorer_only() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut alice = user_from([127, 0, 0, 12], server.raw, "alice").await;
    let mut bob = user_from([127, 0, 0, 13], server.raw, "bob").await;
    let mut carol = user_from([127, 0, 0, 14], server.raw, "carol").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.line("/join #g").await;
    }
    alice.expect("carol has joined").await;
    bob.say("said-as-bob").await;
    alice.expect("said-as-bob").await;
    alice.line("/ignore bob").await;
    alice.expect("ignoring bob until you disconnect").await;
    bob.line("/nick robert").await;
    bob.expect("robert>").await;
    bob.say("said-as-robert").await;
    bob.line("/me waves-as-robert").await;
    carol.expect("said-as-robert").await;
    carol.expect("waves-as-robert").await;
    carol.say("carol-after").await;
    alice.expect("carol-after").await;
    // The nick change line is the server's, not bob's: alice learns where he went.
    alice.expect("changed nick to robert").await;
    let screen = alice.screen();
    for hidden in ["said-as-bob", "said-as-robert", "waves-as-robert"] {
        assert!(!screen.contains(hidden), "{hidden}: {screen}");
    }
    alice.line("/ignores").await;
    alice.expect("you ignore (1 of 64): robert (was bob)").await;
    // Unignoring by the new nick shows him again, old lines too.
    alice.line("/unignore robert").await;
    alice.expect("no longer ignoring robert").await;
    alice.expect("said-as-robert").await;
    drop((alice, bob, carol));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_ignores_follow_it_to_a_login_from_elsewhere() {
    const PASSWORD: &str = "ignore-list-9";
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut alice = user_from([127, 0, 0, 15], server.raw, "alice").await;
    alice.line(&format!("/register {PASSWORD}")).await;
    alice.expect("is your account now").await;
    alice.line("/ignore bob").await;
    alice.expect("ignoring bob").await;
    drop(alice);
    let mut bob = user_from([127, 0, 0, 16], server.raw, "bob").await;
    let mut carol = user_from([127, 0, 0, 17], server.raw, "carol").await;
    let mut again = user_from([127, 0, 0, 18], server.raw, "someone").await;
    again.line(&format!("/login alice {PASSWORD}")).await;
    again.expect("you are logged in as").await;
    for client in [&mut again, &mut bob, &mut carol] {
        client.line("/join #g").await;
    }
    again.expect("carol has joined").await;
    bob.say("bob-hidden-after-login").await;
    carol.expect("bob-hidden-after-login").await;
    carol.say("carol-after-bob").await;
    again.expect("carol-after-bob").await;
    let seen = again.text();
    assert!(!seen.contains("bob-hidden-after-login"), "{seen}");
    again.line("/ignores").await;
    again.expect("you ignore (1 of 64): bob").await;
    drop((again, bob, carol));
    server.stop().await;
}
