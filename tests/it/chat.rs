//! Chat end to end over the raw port: channels, history, private messages, nicks, topics.

use crate::support::{TestClient, TestServer, data_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_clients_get_r0c_auto_nicks_in_order() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let first = TestClient::joined(server.raw).await;
    assert!(first.screen().contains("kywmyv> "), "{}", first.screen());
    let second = TestClient::joined(server.raw).await;
    assert!(second.screen().contains("yyryyd> "), "{}", second.screen());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_chat_and_a_late_joiner_sees_the_history() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = TestClient::joined(server.raw).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    bob.line("/nick bob").await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    bob.line("/join #g").await;
    alice.expect("bob has joined").await;
    bob.expect("#g(2)").await;
    alice.line("hello from alice").await;
    bob.expect("alice hello from alice").await;
    bob.line("hi alice").await;
    alice.expect("bob hi alice").await;

    let mut carol = TestClient::joined(server.raw).await;
    carol.line("/join #G").await;
    carol.expect("alice hello from alice").await;
    carol.expect("bob hi alice").await;
    carol.expect("#g(3)").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_reach_only_the_partner() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = TestClient::joined(server.raw).await;
    let mut bob = TestClient::joined(server.raw).await;
    let mut eve = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    bob.line("/nick Bob").await;
    bob.expect("changed nick to Bob").await;
    // No bell rings in the first 100 ms after your own Enter.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    alice.line("/msg bob psst, secret").await;
    alice.expect("alice psst, secret").await;
    alice.expect("1: Bob").await;
    // The recipient is not pulled away from the window they are in; the DM flags window 1.
    bob.expect("h:1").await;
    assert!(
        bob.bytes().contains(&0x07),
        "a direct message rings the bell"
    );
    bob.line("/1").await;
    bob.expect("alice psst, secret").await;
    bob.expect("1: alice").await;
    bob.line("got it").await;
    alice.expect("Bob got it").await;
    alice.line("/msg nobody hello").await;
    alice.expect("\"nobody\" is not online").await;
    eve.line("/status").await;
    eve.expect("3 users + 0 in wizard, 2 in chans, 0 public + 1 private chans")
        .await;
    assert!(!eve.text().contains("secret"), "eve must not see the DM");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nick_change_is_seen_by_both_and_rules_apply() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = TestClient::joined(server.raw).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    bob.line("/join #g").await;
    alice.expect("yyryyd has joined").await;
    alice.line("/nick alice").await;
    alice.expect("kywmyv changed nick to alice").await;
    bob.expect("kywmyv changed nick to alice").await;
    bob.line("/nick ALICE").await;
    bob.expect("that nick is taken").await;
    // Another change so soon is not shown in the channel one by one: its nick list has it
    // at once, and one line sums the churn up later.
    alice.line("/nick Alice").await;
    alice.expect("you are now known as Alice").await;
    bob.expect("Alice").await;
    alice.line("/nick _x y").await;
    alice.expect("you are now known as xy").await;
    alice
        .expect("nicks must begin with an alphanumeric character")
        .await;
    alice.line(&format!("/nick {}", "n".repeat(33))).await;
    alice.expect("too long").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_and_history_survive_a_restart() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/join #news").await;
    alice.line("/topic all the news").await;
    alice
        .expect("kywmyv has changed the topic from [#news - no topic has been set]")
        .await;
    alice.expect("-to-> [all the news]").await;
    alice.line("before the restart").await;
    alice.expect("kywmyv before the restart").await;
    server.stop().await;

    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #news").await;
    bob.expect("kywmyv before the restart").await;
    bob.expect("channel created at").await;
    bob.line("/names").await;
    bob.expect("1 users in #news: kywmyv").await;
    bob.line("/topic").await;
    bob.expect("usage: /topic").await;
    server.stop().await;
    let reopened = r0c::store::Store::open(&dir.join("r0c.db")).expect("store opens");
    assert_eq!(
        reopened.topic("news").expect("topic query").as_deref(),
        Some("all the news")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answer_where_the_user_is() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    alice.line("/frobnicate").await;
    alice.expect("-err- invalid command:  /frobnicate").await;
    alice.line("//not a command").await;
    alice.expect("kywmyv /not a command").await;
    alice.line("/part").await;
    alice.expect("0: r0c-status").await;
    alice.line("/part").await;
    alice.expect("cannot part the status channel").await;
    alice.line("plain text").await;
    alice
        .expect("this buffer does not accept messages, only commands")
        .await;
    alice.line("/7").await;
    alice.expect("you only have 1 channels my dude").await;
    alice.line("/help commands").await;
    alice.expect("/join").await;
    alice.line("/help nonsense").await;
    alice.expect("that help page does not exist").await;
    alice.line("/b3").await;
    alice.expect("enabled for every message").await;
    alice.line("/join #has space").await;
    alice.expect("cannot contain spaces").await;
    alice.line("/quit").await;
    alice.expect_closed().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_need_auth_from_afar_and_localhost_is_admin() {
    let (_keep, dir) = data_dir();
    let mut config = crate::support::test_config(&dir);
    config.admin_requires_auth = true;
    config.password = "s3cret".into();
    let server = TestServer::start_with(config).await;
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    alice.line("/fill 3 spam").await;
    alice.expect("don't move, the police are on the way").await;
    alice.line("/auth wrong").await;
    alice.expect("wrong password").await;
    alice.line("/auth s3cret").await;
    alice.expect("please don't break anything").await;
    alice.line("/fill 3 spam").await;
    alice.expect("kywmyv spam 2").await;
    alice.line("/me waves").await;
    alice.expect("*** kywmyv waves").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_ring_the_bell_and_flag_the_window() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = TestClient::joined(server.raw).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    bob.line("/join #g").await;
    alice.expect("yyryyd has joined").await;
    alice.line("/0").await;
    alice.expect("0: r0c-status").await;
    // No bell rings in the first 100 ms after your own Enter.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    bob.line("hey kywmyv, look").await;
    alice
        .expect("you were mentioned in #g: yyryyd hey kywmyv, look")
        .await;
    alice.expect("h:1").await;
    assert!(
        alice.bytes().contains(&0x07),
        "a mention in another window rings the bell"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motd_broadcast_wipe_and_shutdown_by_an_admin() {
    let (_keep, dir) = data_dir();
    let motd = dir.join("motd.txt");
    std::fs::write(&motd, "be excellent to each other\r\n\x1b[31mno escapes\n").expect("motd");
    let mut config = crate::support::test_config(&dir);
    config.motd = Some(motd);
    config.admin_requires_auth = true;
    config.password = "pw".into();
    let server = TestServer::start_with(config).await;
    let mut admin = TestClient::joined(server.raw).await;
    admin.line("/auth pw").await;
    assert!(
        admin.screen().contains("be excellent to each other"),
        "the MOTD ends the welcome text"
    );
    assert!(
        admin.screen().contains("[31mno escapes"),
        "the MOTD's ESC is removed, the rest kept"
    );
    let raw = admin.text();
    let at = raw.find("no escapes").expect("the MOTD line is sent");
    assert!(
        !raw[..at].ends_with("\x1b[31m"),
        "escape codes from the MOTD never reach a client"
    );
    let mut bob = TestClient::joined(server.raw).await;
    admin.line("/join #g").await;
    bob.line("/join #g").await;
    admin.expect("yyryyd has joined").await;
    admin.line("/bc maintenance at noon").await;
    bob.expect("-!- maintenance at noon").await;
    admin.line("/cls").await;
    bob.expect("*** channel wiped by kywmyv").await;
    bob.line("/cls").await;
    bob.expect("private channels only").await;
    admin.line("/sd").await;
    bob.expect("server shutdown requested by kywmyv").await;
    bob.expect_closed().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_address_confirms_its_saved_settings_across_restarts() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.line("/cy").await;
    alice.expect("Colored nicknames enabled").await;
    alice.line("/quit").await;
    alice.expect_closed().await;
    server.stop().await;

    let server = TestServer::start(&dir).await;
    let mut back = TestClient::connect(server.raw).await;
    back.expect("verify that your config is still OK:").await;
    back.expect("encoding:  utf-8 + 0a").await;
    for key in ["y", "\n", "\n"] {
        back.send(key.as_bytes()).await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    back.expect("alice> ").await;
    back.line("/cfg").await;
    back.expect("cnicks=True").await;

    let mut fresh = TestClient::connect(server.raw).await;
    fresh.expect("verify that your config is still OK:").await;
    fresh.send(b"n\n\n").await;
    fresh.expect("type the text below").await;

    let mut wrong = TestClient::connect(server.raw).await;
    wrong.expect("verify that your config is still OK:").await;
    for key in ["y", "\r\n", "\r\n"] {
        wrong.send(key.as_bytes()).await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    wrong
        .expect("sorry, your config is definitely incorrect:")
        .await;
    wrong.expect("-- retkey changed").await;
    wrong.expect("type the text below").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_proxy_never_reuse_saved_settings() {
    let (_keep, dir) = data_dir();
    let mut config = crate::support::test_config(&dir);
    config.proxies = vec!["127.0.0.1".parse().expect("address")];
    let server = TestServer::start_with(config).await;
    let _first = TestClient::joined(server.raw).await;
    // Many people share a relay's address: each of them gets the whole wizard.
    let mut second = TestClient::connect(server.raw).await;
    second.expect("type the text below").await;
    assert!(!second.text().contains("verify that your config"));
    server.stop().await;
}
