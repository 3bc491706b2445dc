//! Flood control with the defaults of a public server: a paste is one message, a sustained
//! flood is slowed, then warned, then muted; the others keep chatting.

use std::time::Duration;

use r0c::session::flood::FloodLimits;

use crate::support::{TestClient, TestServer, data_dir, test_config};

async fn server_with_flood_control() -> (tempfile::TempDir, TestServer) {
    let (keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.flood = FloodLimits::default();
    (keep, TestServer::start_with(config).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_block_of_50_lines_arrives_as_one_message_without_penalty() {
    let (_keep, server) = server_with_flood_control().await;
    let mut paster = TestClient::joined(server.raw).await;
    paster.line("/join #g").await;
    paster.expect("has joined").await;
    let mut reader = TestClient::joined(server.raw).await;
    reader.line("/join #g").await;
    reader.expect("has joined").await;

    let paste: String = (0..50).map(|n| format!("pasted line {n:02}\n")).collect();
    paster.send(paste.as_bytes()).await;
    reader.expect("pasted line 49").await;
    // One message: the author's nick is on its first line only, the rest are continuation
    // lines under it.
    let screen = reader.screen();
    for n in 1..50 {
        let line = format!("pasted line {n:02}");
        let row = screen
            .lines()
            .find(|row| row.contains(&line))
            .unwrap_or_default();
        assert!(n < 10 || !row.is_empty(), "{line} is on screen:\n{screen}");
        assert!(!row.contains("kywmyv"), "{row:?} continues the message");
    }
    // No penalty: the next lines go through at once, and nobody was warned.
    for n in 0..3 {
        paster.say(&format!("right after {n}")).await;
        reader.expect(&format!("right after {n}")).await;
    }
    assert!(!paster.text().contains("too fast"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_lines_a_second_are_slowed_then_warned_then_muted() {
    let (_keep, server) = server_with_flood_control().await;
    let mut flooder = TestClient::joined(server.raw).await;
    flooder.line("/join #g").await;
    flooder.expect("has joined").await;
    let mut reader = TestClient::joined(server.raw).await;
    reader.line("/join #g").await;
    reader.expect("has joined").await;

    for n in 0..20 {
        flooder.line(&format!("flood {n:02}")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    flooder.expect("your messages are delayed").await;
    flooder.expect("that message was dropped").await;
    flooder.expect("you are muted for 60 more seconds").await;
    reader.expect("flood 07").await;
    reader.read_for(Duration::from_secs(2)).await;
    let seen = reader.screen();
    assert!(
        !seen.contains("flood 19"),
        "muted lines never arrive:\n{seen}"
    );
    // Commands still work while muted, and others chat on.
    flooder.line("/topic still allowed").await;
    reader.expect("still allowed").await;
    reader.say("the others carry on").await;
    flooder.expect("the others carry on").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pastes_twice_a_second_are_stopped_after_the_first() {
    let (_keep, server) = server_with_flood_control().await;
    let mut paster = TestClient::joined(server.raw).await;
    paster.line("/join #g").await;
    paster.expect("has joined").await;
    let mut reader = TestClient::joined(server.raw).await;
    reader.line("/join #g").await;
    reader.expect("has joined").await;

    for paste in 0..12 {
        let text: String = (0..50).map(|n| format!("p{paste:02} l{n:02}\n")).collect();
        paster.send(text.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    paster.expect("you are muted").await;
    reader.expect("p00 l49").await;
    reader.read_for(Duration::from_secs(3)).await;
    let seen = reader.text();
    let pastes_shown = (0..12)
        .filter(|paste| seen.contains(&format!("p{paste:02} l49")))
        .count();
    // The first paste, and at most one more that the line budget had room for when the
    // first went; then held, warned, muted (the others were 600 lines).
    assert!(
        pastes_shown <= 2,
        "{pastes_shown} pastes of 12 were shown:\n{}",
        reader.screen()
    );
    reader.say("the room is still usable").await;
    paster.expect("the room is still usable").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_cap_and_the_command_budget_hold_an_attacker_and_others_chat_on() {
    let (keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.flood = FloodLimits::default();
    config.max_windows_per_user = 5;
    let server = TestServer::start_with(config).await;
    let mut reader = TestClient::joined(server.raw).await;
    reader.line("/join #c0").await;
    reader.expect("has joined").await;
    let mut attacker = TestClient::joined(server.raw).await;
    for n in 0..8 {
        attacker.line(&format!("/join #c{n}")).await;
    }
    attacker
        .expect("you have 5 channels and conversations open")
        .await;
    attacker.expect("/part one first").await;
    // Nick churn at full speed: the first change is shown, the budget soon says stop, and
    // the channel sees one nick line, not one per change.
    for n in 0..40 {
        attacker.line(&format!("/nick churn{n:02}")).await;
    }
    attacker.expect("[slow down]").await;
    attacker.expect("try again in").await;
    reader.expect("changed nick to churn00").await;
    reader.say("still here").await;
    reader.expect("still here").await;
    reader.read_for(Duration::from_secs(1)).await;
    let changes = reader.text().matches("changed nick to").count();
    assert_eq!(changes, 1, "{}", reader.screen());
    server.stop().await;
    drop(keep);
}
